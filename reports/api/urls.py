"""API routes of reports."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from reports.api.views import CostEntryViewSet, ProposalViewSet, TcoBreakdownView

router = SimpleRouter()
router.register("cost-entries", CostEntryViewSet, basename="costentry")
router.register("proposals", ProposalViewSet, basename="proposal")
urlpatterns = [path("tco/", TcoBreakdownView.as_view(), name="tco-breakdown"), *router.urls]
