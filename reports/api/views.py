"""API views of reports: the cost ledger's rows and TCO breakdowns (what the TCO page shows)."""

import datetime
from collections.abc import Callable

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Capability
from fleet.api.views import TenantReadOnlyViewSet, TenantViewSetMixin
from fleet.tenancy import access_for
from maintenance.api.work import FirstRendererNegotiation
from reports import kpis, nps, service, services
from reports.api.serializers import (
    AcquisitionSpendSerializer,
    BreakdownQuerySerializer,
    BreakdownSerializer,
    CostEntrySerializer,
    CostRatesSerializer,
    KpiSnapshotSerializer,
    ManualCostSerializer,
    MonthRangeQuerySerializer,
    MrrSerializer,
    NpsResponseSerializer,
    NpsSummarySerializer,
    ProposalRequestSerializer,
    ProposalSerializer,
    ServiceKpiSerializer,
)
from reports.filters import (
    AcquisitionSpendFilterSet,
    CostEntryFilterSet,
    CostRatesFilterSet,
    KpiSnapshotFilterSet,
    ManualCostFilterSet,
    ProposalFilterSet,
)
from reports.models import AcquisitionSpend, CostEntry, CostRates, KpiSnapshot, ManualCost, NpsResponse, Proposal
from reports.proposals import proposal_regenerate, proposal_request
from reports.selectors import (
    acquisition_spend_list,
    cost_entry_list,
    cost_rates_list,
    kpi_snapshot_list,
    manual_cost_list,
    nps_answers,
    proposal_list,
    tco_breakdown,
)
from reports.views import proposal_pdf_response


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


class ProposalViewSet(TenantViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Improvement proposals of the customers the user manages (provider admins, account managers): request one
    (rendered in the background: ``status`` goes queued, rendering, ready or failed), download it, regenerate it."""

    queryset = Proposal.objects.none()
    selector = staticmethod(proposal_list)
    serializer_class = ProposalSerializer
    filterset_class = ProposalFilterSet
    ordering_fields = ["created_at", "status"]
    ordering = ["-created_at", "-id"]
    write_capabilities = {"create": Capability.MANAGE_PROPOSALS, "regenerate": Capability.MANAGE_PROPOSALS}

    @extend_schema(request=ProposalRequestSerializer, responses={201: ProposalSerializer})
    def create(self, request, *args, **kwargs):
        serializer = ProposalRequestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        proposal = proposal_request(
            customer=data["customer"],
            by=request.user,
            language=data["language"],
            first=data["first_month"],
            last=data["last_month"],
        )
        return Response(ProposalSerializer(proposal).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ProposalSerializer})
    @action(detail=True, methods=["post"])
    def regenerate(self, request, pk=None):
        """Render a ready or failed proposal again from today's ledger."""
        proposal = proposal_regenerate(proposal=self.get_object(), by=request.user)
        return Response(ProposalSerializer(proposal).data)

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The proposal's PDF.")}
    )
    @action(detail=True, methods=["get"], filter_backends=[], content_negotiation_class=FirstRendererNegotiation)
    def pdf(self, request, pk=None):
        """The ready proposal's PDF, as an attachment; 404 while it is not ready."""
        return proposal_pdf_response(self.get_object())


class ServiceWritesMixin(mixins.CreateModelMixin, mixins.DestroyModelMixin):
    """Creates and deletes through the app's services, which check who may and answer a ValidationError (a 400 with
    field messages): ``create_service(by=user, **validated)`` returns the row, ``delete_service(row, by=user)``."""

    create_service: Callable
    delete_service: Callable

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = self.create_service(by=request.user, **serializer.validated_data)
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        self.delete_service(instance, by=self.request.user)


class CostRatesViewSet(ServiceWritesMixin, TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The energy prices and downtime costs the ledger prices at (the provider's default, a customer's, a site's).
    Provider admins and account managers write them; posting a scope's rates replaces that scope's."""

    queryset = CostRates.objects.none()
    selector = staticmethod(cost_rates_list)
    serializer_class = CostRatesSerializer
    filterset_class = CostRatesFilterSet
    ordering_fields = ["customer__name", "updated_at"]
    ordering = ["customer__name", "id"]
    write_capabilities = {"create": Capability.MANAGE_CONTRACTS, "destroy": Capability.MANAGE_CONTRACTS}
    create_service = staticmethod(services.cost_rates_save)
    delete_service = staticmethod(lambda instance, by: services.cost_rates_delete(rates=instance, by=by))


class ManualCostViewSet(ServiceWritesMixin, TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Costs entered by hand (the ledger's other costs); provider admins and account managers enter and delete them."""

    queryset = ManualCost.objects.none()
    selector = staticmethod(manual_cost_list)
    serializer_class = ManualCostSerializer
    filterset_class = ManualCostFilterSet
    ordering_fields = ["month", "amount"]
    ordering = ["-month", "-id"]
    write_capabilities = {"create": Capability.MANAGE_CONTRACTS, "destroy": Capability.MANAGE_CONTRACTS}
    create_service = staticmethod(services.manual_cost_create)
    delete_service = staticmethod(lambda instance, by: services.manual_cost_delete(cost=instance, by=by))


class AcquisitionSpendViewSet(ServiceWritesMixin, TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The provider's acquisition spend per month (the numerator of CAC): read by its staff who follow KPIs,
    recorded and deleted by its administrators."""

    queryset = AcquisitionSpend.objects.none()
    selector = staticmethod(acquisition_spend_list)
    serializer_class = AcquisitionSpendSerializer
    filterset_class = AcquisitionSpendFilterSet
    ordering_fields = ["month", "amount"]
    ordering = ["-month", "-id"]
    write_capabilities = {
        "create": Capability.RECORD_ACQUISITION_SPEND,
        "destroy": Capability.RECORD_ACQUISITION_SPEND,
    }
    create_service = staticmethod(services.acquisition_spend_create)
    delete_service = staticmethod(lambda instance, by: services.acquisition_spend_delete(spend=instance, by=by))


class KpiSnapshotViewSet(TenantReadOnlyViewSet):
    """Each closed month's KPIs for the whole provider, as reported (taken by Celery beat; ``reports.snapshots``);
    for its staff who follow KPIs across every customer."""

    queryset = KpiSnapshot.objects.none()
    selector = staticmethod(kpi_snapshot_list)
    serializer_class = KpiSnapshotSerializer
    filterset_class = KpiSnapshotFilterSet
    ordering_fields = ["month"]
    ordering = ["-month"]


class NpsResponseViewSet(TenantViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Survey answers ("How likely are you to recommend us?", 0-10): a customer's administrators answer for their
    organisation, at most once every 90 days; the provider's staff who follow KPIs read their customers'."""

    queryset = NpsResponse.objects.none()
    selector = staticmethod(nps_answers)
    serializer_class = NpsResponseSerializer
    ordering_fields = ["answered_at", "score"]
    ordering = ["-answered_at", "-id"]
    write_capabilities = {"create": Capability.ANSWER_NPS}

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = nps.nps_answer(by=request.user, **serializer.validated_data)
        return Response(NpsResponseSerializer(answer).data, status=status.HTTP_201_CREATED)


MONTH_RANGE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.STR, required=True, description="First month (YYYY-MM)."),
    OpenApiParameter("to", OpenApiTypes.STR, required=True, description="Last month (YYYY-MM)."),
]
CUSTOMER_PARAMETER = OpenApiParameter("customer", OpenApiTypes.INT)


class MonthRangeView(APIView):
    """A report over ``from``..``to`` (YYYY-MM) for the roles with ``capability``: 403 for the others, 400 with field
    messages for a bad range."""

    capability: Capability

    def month_range(self, request) -> tuple[datetime.date, datetime.date, int | None]:
        """(first, last, customer or None) of the query, once the caller may see the report."""
        access = access_for(request.user)
        if access is None or not access.can(self.capability):
            raise PermissionDenied
        query = MonthRangeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return query.validated_data["from"], query.validated_data["to"], query.validated_data.get("customer")


class NpsSummaryView(MonthRangeView):
    """NPS per month over ``from``..``to`` (YYYY-MM), the range's total and each customer's; for the provider's staff
    who follow KPIs (provider admins, account managers for their customers)."""

    capability = Capability.VIEW_KPIS

    @extend_schema(parameters=[*MONTH_RANGE_PARAMETERS, CUSTOMER_PARAMETER], responses={200: NpsSummarySerializer})
    def get(self, request):
        first, last, customer_id = self.month_range(request)
        months, total = nps.nps_by_month(user=request.user, first=first, last=last, customer_id=customer_id)
        customers = nps.nps_by_customer(user=request.user, first=first, last=last)
        return Response(NpsSummarySerializer({"months": months, "total": total, "customers": customers}).data)


class MrrView(MonthRangeView):
    """MRR per month and currency over ``from``..``to`` (YYYY-MM) with its movements (new, expansion, contraction,
    churn), customer counts, churn rate, ARPU, gross margin, LTV, usage revenue, acquisition spend and CAC, and each
    customer's movement; for the provider's staff who follow KPIs."""

    capability = Capability.VIEW_KPIS

    @extend_schema(parameters=MONTH_RANGE_PARAMETERS, responses={200: MrrSerializer})
    def get(self, request):
        first, last, _customer_id = self.month_range(request)
        months, movements = kpis.mrr_months(user=request.user, first=first, last=last)
        return Response(MrrSerializer({"months": months, "movements": movements}).data)


class ServiceKpiView(MonthRangeView):
    """Service KPIs over ``from``..``to`` (YYYY-MM): per month, in total, per customer and per contract (SLA and
    outcome achievement); with ``customer``, that customer only and its assets. Customers' users get their own
    organisation's. Definitions in ``reports.service``."""

    capability = Capability.VIEW_SERVICE_KPIS

    @extend_schema(parameters=[*MONTH_RANGE_PARAMETERS, CUSTOMER_PARAMETER], responses={200: ServiceKpiSerializer})
    def get(self, request):
        first, last, customer_id = self.month_range(request)
        customer_id = service.report_customer(request.user, customer_id)
        scope = {"user": request.user, "first": first, "last": last, "customer_id": customer_id}
        report = service.service_report(**scope)
        data = {
            "months": [
                {"month": month, "figures": figures}
                for month, figures in zip(report.months, report.by_month, strict=True)
            ],
            "total": report.total,
            "customers": report.customers,
            "contracts": service.contract_service(**scope),
            "assets": service.asset_service(**scope) if customer_id is not None else None,
        }
        return Response(ServiceKpiSerializer(data).data)
