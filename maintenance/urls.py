"""Portal URLs of maintenance."""

from maintenance.views import (
    approvals,
    inspections,
    plans,
    replacements,
    sla,
    supplies,
    technician,
    work,
    work_orders,
)

app_name = "maintenance"
urlpatterns = [
    *work_orders.urlpatterns,
    *sla.urlpatterns,
    *work.urlpatterns,
    *technician.urlpatterns,
    *approvals.urlpatterns,
    *plans.urlpatterns,
    *inspections.urlpatterns,
    *supplies.urlpatterns,
    *replacements.urlpatterns,
]
