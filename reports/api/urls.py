"""API routes of reports."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from reports.api.views import CostEntryViewSet, CostRatesViewSet, ManualCostViewSet, ProposalViewSet, TcoBreakdownView

router = SimpleRouter()
router.register("cost-entries", CostEntryViewSet, basename="costentry")
router.register("proposals", ProposalViewSet, basename="proposal")
router.register("cost-rates", CostRatesViewSet, basename="costrates")
router.register("manual-costs", ManualCostViewSet, basename="manualcost")
urlpatterns = [path("tco/", TcoBreakdownView.as_view(), name="tco-breakdown"), *router.urls]
