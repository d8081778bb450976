"""API views of reports: the cost ledger's rows and TCO breakdowns (what the TCO page shows)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Capability
from fleet.api.views import TenantReadOnlyViewSet
from fleet.tenancy import access_for
from reports.api.serializers import BreakdownQuerySerializer, BreakdownSerializer, CostEntrySerializer
from reports.filters import CostEntryFilterSet
from reports.models import CostEntry
from reports.selectors import cost_entry_list, tco_breakdown


class CostEntryViewSet(TenantReadOnlyViewSet):
    """The cost ledger: one row per cost, asset and month, naming its source. Roles that see no prices see no rows;
    the provider's cost to serve is seen by provider admins and account managers only."""

    queryset = CostEntry.objects.none()
    selector = staticmethod(cost_entry_list)
    serializer_class = CostEntrySerializer
    filterset_class = CostEntryFilterSet
    ordering_fields = ["month", "amount", "category"]
    ordering = ["-month", "category", "id"]


class TcoBreakdownView(APIView):
    """The TCO (or, for provider admins and account managers, the cost to serve) over a range of months, grouped by
    category, asset, model, site, customer or month; for assets and models the cost per page or operating hour.
    Needs the reports capability (customer admins, account managers, provider admins)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "group_by", OpenApiTypes.STR, enum=["category", "asset", "model", "site", "customer", "month"]
            ),
            OpenApiParameter("from", OpenApiTypes.STR, required=True, description="First month (YYYY-MM)."),
            OpenApiParameter("to", OpenApiTypes.STR, required=True, description="Last month (YYYY-MM)."),
            OpenApiParameter("view", OpenApiTypes.STR, enum=["customer", "provider"]),
            OpenApiParameter("customer", OpenApiTypes.INT),
            OpenApiParameter("site", OpenApiTypes.INT),
            OpenApiParameter("category", OpenApiTypes.STR),
        ],
        responses={200: BreakdownSerializer},
    )
    def get(self, request):
        access = access_for(request.user)
        if access is None or not access.can(Capability.DOWNLOAD_REPORTS):
            raise PermissionDenied
        query = BreakdownQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        breakdown = tco_breakdown(  # a ValidationError is the API's 400 (fleet.api.exceptions)
            user=request.user,
            group_by=data["group_by"],
            first=data["from"],
            last=data["to"],
            view=data["view"],
            customer_id=data.get("customer"),
            site_id=data.get("site"),
            category=data.get("category"),
        )
        payload = {
            "group_by": breakdown.group_by,
            "view": breakdown.view,
            "first": breakdown.first,
            "last": breakdown.last,
            "rows": breakdown.rows,
            "totals": [{"currency": currency, "amount": amount} for currency, amount in breakdown.totals().items()],
        }
        return Response(BreakdownSerializer(payload).data)
