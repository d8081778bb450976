"""API of contracts: reads through the scoped selectors, writes through ``contracts.services``.

Who may use it: contracts are prices, so only roles that see prices read them (provider admins; account managers
for the customers assigned to them; customer admins for their own organisation), on the rows ``visible_to`` them.
Other roles get an empty list and 404 on a contract. Every write needs ``Capability.MANAGE_CONTRACTS``
(provider admins, account managers): a write on a contract the user cannot see is a 404, a write by a role
without the capability a 403.

- ``GET /contracts/`` (filters ``status``, ``customer``, ``q``: number or title), ``POST`` (create);
- ``GET /contracts/{id}/`` with components and their tiers, coverage and amendments; ``PATCH`` (terms);
- ``GET /contracts/{id}/audit/``: the audit trail, newest first, paginated;
- ``POST /contracts/{id}/activate/``, ``suspend/``, ``end/`` (``end_date``): status moves;
- ``POST /contracts/{id}/components/``: a price component with its tiers;
- ``POST /contracts/{id}/coverage/``: cover an asset; ``POST /contracts/{id}/coverage/{coverage_id}/end/``: stop;
- ``POST /contracts/{id}/amend/``: an amendment (components ended and added, assets in and out).
"""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.models import Organisation
from accounts.roles import Capability
from contracts import services
from contracts.api.serializers import (
    AmendmentInputSerializer,
    AmendmentSerializer,
    AuditEntrySerializer,
    BillingRunCreateSerializer,
    BillingRunDetailSerializer,
    BillingRunSerializer,
    ComponentInputSerializer,
    ContractCreateSerializer,
    ContractDetailSerializer,
    ContractEndSerializer,
    ContractSerializer,
    ContractUpdateSerializer,
    CoverageEndSerializer,
    CoverageInputSerializer,
    CoverageSerializer,
    CreditNoteInputSerializer,
    InvoiceDetailSerializer,
    InvoiceSerializer,
    PriceComponentSerializer,
)
from contracts.billing import billing_run_finalise_drafts, billing_run_start, credit_note_create, finalise_invoice
from contracts.choices import ContractStatus
from contracts.models import BillingRun, Contract, ContractAsset, Invoice, PriceComponent
from contracts.selectors import (
    BillingRunFilterSet,
    ContractFilterSet,
    InvoiceFilterSet,
    audit_list,
    billing_customer_ids,
    billing_run_list,
    contract_api_detail,
    contract_list,
    invoice_detail,
    invoice_list,
    may_draft_invoices,
)
from contracts.views import invoice_document_response
from fleet.api.views import TenantViewSetMixin
from fleet.tenancy import access_for
from maintenance.api.work import FirstRendererNegotiation

WRITE_ACTIONS = (
    "create",
    "partial_update",
    "activate",
    "suspend",
    "end",
    "components",
    "coverage",
    "coverage_end",
    "amend",
)


# The status moves without input still answer 400 when the contract's status does not allow the move.
NOT_THIS_MOVE = OpenApiResponse(OpenApiTypes.OBJECT, description="The contract cannot make this move from its status.")


class ContractViewSet(TenantViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Contracts of the customers the user sees, for roles that see prices; managers write them."""

    queryset = Contract.objects.none()
    selector = staticmethod(contract_list)
    serializer_class = ContractSerializer
    filterset_class = ContractFilterSet
    ordering_fields = ["number", "title", "status", "start_date", "end_date", "customer__name", "created_at"]
    ordering = ["-start_date", "-id"]
    write_capabilities = dict.fromkeys(WRITE_ACTIONS, Capability.MANAGE_CONTRACTS)

    def get_queryset(self):
        if self.action == "retrieve" and not getattr(self, "swagger_fake_view", False):
            return contract_api_detail(user=self.request.user)
        return super().get_queryset()

    def get_serializer_class(self):
        if self.action == "create":
            return ContractCreateSerializer
        if self.action == "partial_update":
            return ContractUpdateSerializer
        if self.action == "retrieve":
            return ContractDetailSerializer
        return ContractSerializer

    def _read(self, contract: Contract, code: int = status.HTTP_200_OK) -> Response:
        fresh = contract_api_detail(user=self.request.user).get(pk=contract.pk)
        return Response(ContractDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=ContractCreateSerializer, responses={201: ContractDetailSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contract = services.contract_create(by=request.user, **serializer.validated_data)
        return self._read(contract, status.HTTP_201_CREATED)

    @extend_schema(request=ContractUpdateSerializer, responses={200: ContractDetailSerializer})
    def partial_update(self, request, *args, **kwargs):
        contract = self.get_object()
        serializer = self.get_serializer(contract, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.contract_update(contract=contract, by=request.user, **serializer.validated_data)
        return self._read(contract)

    # --- Status -------------------------------------------------------------------------------------------------

    def _move(self, to: str, **kwargs) -> Response:
        contract = self.get_object()
        services.contract_transition(contract=contract, to=to, by=self.request.user, **kwargs)
        return self._read(contract)

    @extend_schema(request=None, responses={200: ContractDetailSerializer, 400: NOT_THIS_MOVE})
    @action(detail=True, methods=["post"], filter_backends=[])
    def activate(self, request, pk=None):
        """Draft or suspended -> active."""
        return self._move(ContractStatus.ACTIVE)

    @extend_schema(request=None, responses={200: ContractDetailSerializer, 400: NOT_THIS_MOVE})
    @action(detail=True, methods=["post"], filter_backends=[])
    def suspend(self, request, pk=None):
        """Active -> suspended."""
        return self._move(ContractStatus.SUSPENDED)

    @extend_schema(request=ContractEndSerializer, responses={200: ContractDetailSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def end(self, request, pk=None):
        """Active or suspended -> ended on ``end_date`` (default: today)."""
        contract = self.get_object()
        serializer = ContractEndSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.contract_transition(
            contract=contract, to=ContractStatus.ENDED, by=request.user, **serializer.validated_data
        )
        return self._read(contract)

    # --- Components, coverage, amendments, audit -----------------------------------------------------------------

    @extend_schema(request=ComponentInputSerializer, responses={201: PriceComponentSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def components(self, request, pk=None):
        """Add a price component (with its tiers) to the contract."""
        contract = self.get_object()
        serializer = ComponentInputSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        component = services.component_add(contract=contract, by=request.user, **serializer.validated_data)
        fresh = PriceComponent.objects.select_related("contract", "amendment").prefetch_related("tiers")
        return Response(PriceComponentSerializer(fresh.get(pk=component.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CoverageInputSerializer, responses={201: CoverageSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def coverage(self, request, pk=None):
        """Cover an asset of the contract's customer."""
        contract = self.get_object()
        serializer = CoverageInputSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        link = services.coverage_add(contract=contract, by=request.user, **serializer.validated_data)
        return Response(_coverage_read(link.pk), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=CoverageEndSerializer,
        responses={200: CoverageSerializer},
        parameters=[OpenApiParameter("coverage_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        url_path=r"coverage/(?P<coverage_id>[^/]+)/end",
        url_name="coverage-end",
    )
    def coverage_end(self, request, pk=None, coverage_id=None):
        """Stop covering an asset after ``end_date``; ``coverage_id`` is a coverage of this contract."""
        contract = self.get_object()
        if not (coverage_id.isascii() and coverage_id.isdigit()):
            raise Http404
        coverage = ContractAsset.objects.filter(contract=contract, pk=int(coverage_id)).first()
        if coverage is None:
            raise Http404
        serializer = CoverageEndSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.coverage_end(coverage=coverage, by=request.user, **serializer.validated_data)
        return Response(_coverage_read(coverage.pk))

    @extend_schema(request=AmendmentInputSerializer, responses={201: AmendmentSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def amend(self, request, pk=None):
        """Amend the contract from ``effective_date``, in one transaction."""
        contract = self.get_object()
        context = {**self.get_serializer_context(), "contract": contract}
        serializer = AmendmentInputSerializer(data=request.data, context=context)
        serializer.is_valid(raise_exception=True)
        amendment = services.contract_amend(contract=contract, by=request.user, **serializer.validated_data)
        return Response(AmendmentSerializer(amendment).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: AuditEntrySerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])
    def audit(self, request, pk=None):
        """The contract's audit trail, newest first."""
        contract = self.get_object()
        page = self.paginate_queryset(audit_list(user=request.user).filter(contract=contract))
        return self.get_paginated_response(AuditEntrySerializer(page, many=True).data)


def _coverage_read(pk: int) -> dict:
    return CoverageSerializer(ContractAsset.objects.select_related("asset").get(pk=pk)).data


# --- Billing ------------------------------------------------------------------------------------------------------
#
# Invoices are prices: roles that see prices read the invoices ``visible_to`` them (customer admins: their own
# finalised invoices and credit notes only); other roles get an empty list and 404. Billing runs: provider staff
# with DRAFT_INVOICES (an account manager: the runs of their customers). Writes need DRAFT_INVOICES.
#
# - ``GET /invoices/`` (filters ``period``, ``status``, ``kind``, ``customer``, ``currency``, ``payment_status``,
#   ``run``, ``q``: number or customer name), ``GET /invoices/{id}/`` with lines, assets, taxes, events, payments;
# - ``GET /invoices/{id}/pdf/``, ``xml/``: the documents of a finalised invoice (a draft has none: 404);
# - ``POST /invoices/{id}/finalise/``: number and issue a draft (a finalised one is returned unchanged);
# - ``POST /invoices/{id}/credit-notes/``: a draft credit note ``{"lines": [{"line": id, "amount": "1000"}],
#   "reason": "..."}``;
# - ``GET /billing-runs/``, ``GET /billing-runs/{id}/`` (with the failed customers), ``POST /billing-runs/``
#   ``{"period": "2026-11", "finalize": false}``, ``POST /billing-runs/{id}/finalise/``.

RUN_NOT_IN_REVIEW_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT, description="The run has no drafts in review.")
BINARY_FILE = {
    "pdf": ("application/pdf", "The invoice's PDF (PDF/A-3 with the e-invoice attached)."),
    "xml": ("application/xml", "The e-invoice (Factur-X CII XML, EN 16931)."),
}


class InvoiceViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Invoices and credit notes the caller sees, with their documents; staff who draft invoices finalise them
    and correct them with credit notes."""

    queryset = Invoice.objects.none()
    selector = staticmethod(invoice_list)
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilterSet
    ordering_fields = ["period_start", "number", "customer__name", "total", "issue_date", "due_date", "drafted_at"]
    ordering = ["-period_start", "-id"]
    write_capabilities = {"finalise": Capability.DRAFT_INVOICES, "credit_notes": Capability.DRAFT_INVOICES}

    def get_queryset(self):
        if self.action != "list" and not getattr(self, "swagger_fake_view", False):
            return invoice_detail(user=self.request.user)
        return super().get_queryset()

    def get_serializer_class(self):
        return InvoiceSerializer if self.action == "list" else InvoiceDetailSerializer

    def _read(self, invoice: Invoice, code: int = status.HTTP_200_OK) -> Response:
        fresh = invoice_detail(user=self.request.user).get(pk=invoice.pk)
        return Response(InvoiceDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    def _document(self, document: str):
        return invoice_document_response(self.get_object(), document)

    @extend_schema(
        responses={
            (200, BINARY_FILE["pdf"][0]): OpenApiResponse(OpenApiTypes.BINARY, description=BINARY_FILE["pdf"][1])
        }
    )
    @action(detail=True, methods=["get"], filter_backends=[], content_negotiation_class=FirstRendererNegotiation)
    def pdf(self, request, pk=None):
        """The finalised invoice's PDF, as an attachment named after its number; 404 for a draft."""
        return self._document("pdf")

    @extend_schema(
        responses={
            (200, BINARY_FILE["xml"][0]): OpenApiResponse(OpenApiTypes.BINARY, description=BINARY_FILE["xml"][1])
        }
    )
    @action(detail=True, methods=["get"], filter_backends=[], content_negotiation_class=FirstRendererNegotiation)
    def xml(self, request, pk=None):
        """The finalised invoice's e-invoice XML, as an attachment named after its number; 404 for a draft."""
        return self._document("xml")

    @extend_schema(request=None, responses={200: InvoiceDetailSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def finalise(self, request, pk=None):
        """Number, date and freeze a draft, and e-mail it to the customer; a finalised one is returned as it is."""
        invoice = self.get_object()
        finalise_invoice(invoice_id=invoice.pk, by=request.user)
        return self._read(invoice)

    @extend_schema(request=CreditNoteInputSerializer, responses={201: InvoiceDetailSerializer})
    @action(detail=True, methods=["post"], filter_backends=[], url_path="credit-notes", url_name="credit-notes")
    def credit_notes(self, request, pk=None):
        """A draft credit note of part of a finalised invoice; finalise it like an invoice."""
        invoice = self.get_object()
        serializer = CreditNoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        note = credit_note_create(invoice=invoice, lines=data["lines"], reason=data["reason"], by=request.user)
        return self._read(note, status.HTTP_201_CREATED)


class BillingRunViewSet(TenantViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The provider's billing runs with their progress; staff who draft invoices start and finalise them."""

    queryset = BillingRun.objects.none()
    selector = staticmethod(billing_run_list)
    serializer_class = BillingRunSerializer
    filterset_class = BillingRunFilterSet
    ordering_fields = ["year", "month", "started_at", "status"]
    ordering = ["-year", "-month", "-id"]
    write_capabilities = {"create": Capability.DRAFT_INVOICES, "finalise": Capability.DRAFT_INVOICES}

    def get_serializer_class(self):
        if self.action == "create":
            return BillingRunCreateSerializer
        return BillingRunSerializer if self.action == "list" else BillingRunDetailSerializer

    def _read(self, run: BillingRun, code: int = status.HTTP_200_OK) -> Response:
        fresh = billing_run_list(user=self.request.user).get(pk=run.pk)
        return Response(BillingRunDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=BillingRunCreateSerializer, responses={201: BillingRunDetailSerializer})
    def create(self, request, *args, **kwargs):
        """Start (or start again) the provider's run of an ended month; customers are drafted in the background."""
        if not may_draft_invoices(request.user):
            raise PermissionDenied
        serializer = BillingRunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        (year, month), finalize = serializer.validated_data["period"], serializer.validated_data["finalize"]
        provider = Organisation.objects.get(pk=access_for(request.user).provider_id)
        run = billing_run_start(
            provider=provider,
            year=year,
            month=month,
            by=request.user,
            finalize=finalize,
            customer_ids=billing_customer_ids(user=request.user),
        )
        return self._read(run, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: BillingRunDetailSerializer, 400: RUN_NOT_IN_REVIEW_RESPONSE})
    @action(detail=True, methods=["post"], filter_backends=[])
    def finalise(self, request, pk=None):
        """Finalise the run's drafts in review: all of them (in the background) for staff who bill every
        customer, an account manager's customers' drafts otherwise."""
        run = self.get_object()
        billing_run_finalise_drafts(run=run, by=request.user, customer_ids=billing_customer_ids(user=request.user))
        return self._read(run)
