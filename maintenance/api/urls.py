"""API routes of maintenance."""

from rest_framework.routers import SimpleRouter

from maintenance.api import approvals, inspections, plans, replacements, sla, supplies, technician, work
from maintenance.api.views import WorkOrderViewSet

router = SimpleRouter()
router.register("work-orders", WorkOrderViewSet, basename="workorder")
# The area modules come first: their paths under work-orders/ must win over the router's detail route.
urlpatterns = [
    *sla.urlpatterns,
    *work.urlpatterns,
    *technician.urlpatterns,
    *approvals.urlpatterns,
    *plans.urlpatterns,
    *inspections.urlpatterns,
    *supplies.urlpatterns,
    *replacements.urlpatterns,
    *router.urls,
]
