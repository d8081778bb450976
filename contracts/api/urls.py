"""API routes of contracts."""

from rest_framework.routers import SimpleRouter

from contracts.api.views import ContractViewSet

router = SimpleRouter()
router.register("contracts", ContractViewSet, basename="contract")
urlpatterns = router.urls
