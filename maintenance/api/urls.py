"""API routes of maintenance."""

from rest_framework.routers import SimpleRouter

from maintenance.api.views import WorkOrderViewSet

router = SimpleRouter()
router.register("work-orders", WorkOrderViewSet, basename="workorder")
urlpatterns = router.urls
