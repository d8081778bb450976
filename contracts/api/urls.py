"""API routes of contracts."""

from rest_framework.routers import SimpleRouter

from contracts.api.views import BillingRunViewSet, ContractViewSet, InvoiceViewSet

router = SimpleRouter()
router.register("contracts", ContractViewSet, basename="contract")
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("billing-runs", BillingRunViewSet, basename="billingrun")
urlpatterns = router.urls
