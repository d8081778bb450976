"""API routes of reports."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from reports.api.views import (
    AcquisitionSpendViewSet,
    CostEntryViewSet,
    CostRatesViewSet,
    KpiSnapshotViewSet,
    ManualCostViewSet,
    MrrView,
    NpsResponseViewSet,
    NpsSummaryView,
    ProposalViewSet,
    ServiceKpiView,
    TcoBreakdownView,
)

router = SimpleRouter()
router.register("cost-entries", CostEntryViewSet, basename="costentry")
router.register("proposals", ProposalViewSet, basename="proposal")
router.register("cost-rates", CostRatesViewSet, basename="costrates")
router.register("manual-costs", ManualCostViewSet, basename="manualcost")
router.register("nps-responses", NpsResponseViewSet, basename="npsresponse")
router.register("acquisition-spend", AcquisitionSpendViewSet, basename="acquisitionspend")
router.register("kpi-snapshots", KpiSnapshotViewSet, basename="kpisnapshot")
urlpatterns = [
    path("tco/", TcoBreakdownView.as_view(), name="tco-breakdown"),
    path("nps/", NpsSummaryView.as_view(), name="nps-summary"),
    path("kpis/mrr/", MrrView.as_view(), name="kpis-mrr"),
    path("kpis/service/", ServiceKpiView.as_view(), name="kpis-service"),
    *router.urls,
]
