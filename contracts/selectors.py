"""Reads of contracts, shared by the portal and the API: who sees them, and the querysets their pages list.

**Who sees contracts.** Contracts are prices: a user sees them only when their role sees prices
(``access_for(user).sees_prices``: provider admins, account managers for the customers assigned to them, customer
admins for their own organisation) and the row is ``visible_to(user)``. Every other role (service desk,
technicians, customer viewers and operators) gets empty querysets here, so that a detail page answers 404 and a
list shows nothing. **Who writes them**: provider staff with ``Capability.MANAGE_CONTRACTS`` (provider admins,
and account managers for their customers); customers never write contracts.

"Now" below is ``timezone.localdate()`` unless a ``day`` is given.
"""

import datetime
from decimal import Decimal

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat, LPad, Round
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from accounts.models import Organisation, User
from accounts.roles import Capability, Scope
from assets.choices import ASSET_IN_SERVICE_STATES
from assets.models import Asset
from contracts.billing import parse_period
from contracts.choices import (
    BillingRunStatus,
    ComponentKind,
    ContractStatus,
    InvoiceKind,
    InvoiceStatus,
    PaymentStatus,
    RunItemStatus,
)
from contracts.models import (
    AuditEntry,
    BillingRun,
    BillingRunItem,
    Contract,
    ContractAmendment,
    ContractAsset,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    InvoiceLineAsset,
    InvoiceTax,
    Payment,
    PriceComponent,
    PriceTier,
)
from contracts.receivables import ageing, with_outstanding
from fleet.filters import SearchFilterSet
from fleet.money import MINOR_UNITS, MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, Currency
from fleet.tenancy import access_for, visible
from maintenance.models import ServiceLevel

# The monthly fixed fees of the list are rounded to the currency's minor unit; the annotation carries this many
# decimal places at most.
FEES_DECIMAL_PLACES = max(MINOR_UNITS.values())
FEES_FIELD = DecimalField(max_digits=MONEY_MAX_DIGITS + 4, decimal_places=FEES_DECIMAL_PLACES)


# --- Access -------------------------------------------------------------------------------------------------------


def sees_contracts(user: User) -> bool:
    """True when the user's role sees prices (and so contracts); False for anonymous users and non-members."""
    access = access_for(user)
    return access is not None and access.sees_prices


def may_manage_contracts(user: User) -> bool:
    """True for provider staff with ``MANAGE_CONTRACTS`` (which rows they may change: ``contract_list``)."""
    access = access_for(user)
    return access is not None and access.is_provider_staff and access.can(Capability.MANAGE_CONTRACTS)


def _priced(queryset: QuerySet, user: User) -> QuerySet:
    """``queryset`` limited to the user's tenancy, or no rows for roles that do not see prices."""
    if not sees_contracts(user):
        return queryset.none()
    return queryset.visible_to(user)


# --- Contracts ----------------------------------------------------------------------------------------------------


def _count_per_contract(queryset: QuerySet) -> Subquery:
    return Subquery(
        queryset.filter(contract=OuterRef("pk")).order_by().values("contract").annotate(n=Count("pk")).values("n"),
        output_field=IntegerField(),
    )


def _amount_per_contract(queryset: QuerySet) -> Subquery:
    return Subquery(
        queryset.filter(contract=OuterRef("pk"))
        .order_by()
        .values("contract")
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=PriceComponent._meta.get_field("amount"),
    )


def _rounded_to_currency(expression) -> Case:
    """``expression`` rounded (half away from zero) to the minor unit of the row's currency."""
    return Case(
        *(
            When(currency=currency, then=Round(expression, precision=places, output_field=FEES_FIELD))
            for currency, places in MINOR_UNITS.items()
        ),
        default=ExpressionWrapper(expression, output_field=FEES_FIELD),
        output_field=FEES_FIELD,
    )


def contract_list(*, user: User, day: datetime.date | None = None) -> QuerySet[Contract]:
    """The contracts the user sees (none for roles that do not see prices), with their customer, and annotated:

    - ``covered_assets``: the assets the contract covers on ``day`` (0 once the contract has ended before it);
    - ``monthly_fixed_fees``: on ``day``, the sum of its fixed monthly fees plus its per-asset fees times
      ``covered_assets``, rounded to the currency's minor unit (0 once ended before ``day``). Metered, outcome,
      saving-share and one-off charges are not in it.

    One query, whatever the number of contracts (the annotations are correlated subqueries).
    """
    day = day or timezone.localdate()
    covered = Coalesce(_count_per_contract(ContractAsset.objects.on(day)), Value(0))
    components = PriceComponent.objects.valid_on(day)
    fixed = Coalesce(
        _amount_per_contract(components.filter(kind=ComponentKind.FIXED_FEE)), Value(0), output_field=FEES_FIELD
    )
    per_asset = Coalesce(
        _amount_per_contract(components.filter(kind=ComponentKind.ASSET_FEE)), Value(0), output_field=FEES_FIELD
    )
    ended_before = Q(end_date__lt=day)
    return (
        _priced(Contract.objects.all(), user)
        .select_related("customer")
        .annotate(
            covered_assets=Case(When(ended_before, then=Value(0)), default=covered, output_field=IntegerField()),
        )
        .annotate(
            monthly_fixed_fees=Case(
                When(ended_before, then=Value(0, output_field=FEES_FIELD)),
                default=_rounded_to_currency(
                    ExpressionWrapper(fixed + per_asset * F("covered_assets"), output_field=FEES_FIELD)
                ),
                output_field=FEES_FIELD,
            )
        )
    )


def contract_detail(*, user: User) -> QuerySet[Contract]:
    """The contracts the user sees, for one contract's page: with the customer, provider and service level."""
    return _priced(Contract.objects.all(), user).select_related("customer", "provider", "service_level")


def contract_api_detail(*, user) -> QuerySet[Contract]:
    """``contract_list`` (scoped, annotated) with the service level, the components and their tiers, the coverage
    and the amendments that the detail response nests."""
    return (
        contract_list(user=user)
        .select_related("service_level")
        .prefetch_related(
            Prefetch(
                "components",
                queryset=PriceComponent.objects.select_related("amendment").prefetch_related(
                    Prefetch("tiers", queryset=PriceTier.objects.order_by("from_units"))
                ),
            ),
            Prefetch("coverage", queryset=ContractAsset.objects.select_related("asset")),
            Prefetch("amendments", queryset=ContractAmendment.objects.select_related("created_by")),
        )
    )


def contract_customers(*, user: User) -> QuerySet[Organisation]:
    """The customers the user may open a contract for: those they see, when they manage contracts; else none."""
    if not may_manage_contracts(user):
        return Organisation.objects.none()
    return Organisation.objects.customers().visible_to(user).filter(is_active=True).order_by("name", "pk")


_visible_customers = visible(Organisation.objects.customers())


class ContractFilterSet(SearchFilterSet):
    """The contracts list, shared by the page and the API: status, customer (provider staff), search."""

    search_fields = ("number", "title")
    provider_only_filters = ("customer",)
    status = django_filters.ChoiceFilter(choices=ContractStatus.choices, label=_("Status"))
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))

    class Meta:
        model = Contract
        fields = ["status", "customer"]


# --- What hangs off a contract ------------------------------------------------------------------------------------


def component_list(*, user: User) -> QuerySet[PriceComponent]:
    """Price components of the contracts the user sees, with their tiers (ordered by ``from_units``) and the
    amendment that introduced them."""
    return (
        _priced(PriceComponent.objects.all(), user)
        .select_related("contract", "amendment")
        .prefetch_related(Prefetch("tiers", queryset=PriceTier.objects.order_by("from_units")))
    )


def coverage_list(*, user: User) -> QuerySet[ContractAsset]:
    """Coverages of the contracts the user sees, with the asset, its model and site."""
    return _priced(ContractAsset.objects.all(), user).select_related(
        "contract", "asset", "asset__asset_model", "asset__site"
    )


def amendment_list(*, user: User) -> QuerySet[ContractAmendment]:
    """Amendments of the contracts the user sees, with who made them and the components they introduced."""
    return (
        _priced(ContractAmendment.objects.all(), user)
        .select_related("contract", "created_by")
        .prefetch_related(Prefetch("components", queryset=PriceComponent.objects.order_by("valid_from", "pk")))
    )


def audit_list(*, user: User) -> QuerySet[AuditEntry]:
    """Audit entries of the contracts the user sees, newest first, with who made the change and the object type."""
    return _priced(AuditEntry.objects.all(), user).select_related("by", "content_type").order_by("-at", "-pk")


def coverable_assets(*, user: User, contract: Contract) -> QuerySet[Asset]:
    """In-service assets of the contract's customer that the user sees (by serial number), for new coverage."""
    return (
        Asset.objects.visible_to(user)
        .filter(customer_id=contract.customer_id, status__in=ASSET_IN_SERVICE_STATES)
        .select_related("asset_model", "site")
        .order_by("serial_number", "pk")
    )


def contract_service_levels(*, user: User, customer_id: int | None = None) -> QuerySet[ServiceLevel]:
    """Service levels the user sees that a contract of customer ``customer_id`` may name: the provider's defaults
    and that customer's own. Without ``customer_id``: every service level the user sees (the caller checks that a
    customer's own service level goes with that customer's contract)."""
    levels = ServiceLevel.objects.visible_to(user)
    if customer_id is not None:
        levels = levels.filter(Q(customer__isnull=True) | Q(customer_id=customer_id))
    return levels.order_by("name", "pk")


# --- Billing ------------------------------------------------------------------------------------------------------
#
# **Who sees invoices.** Invoices are prices, seen by the roles that see prices, on the rows ``visible_to`` them:
# provider admins every invoice of their provider; account managers their customers' invoices, drafts included;
# customer admins only their own organisation's finalised invoices and credit notes (a draft is not a document
# yet). Every other role gets no rows. **Billing runs** belong to the provider: its staff with
# ``Capability.DRAFT_INVOICES`` see them. An account manager sees a run in which one of their customers takes part
# (or which they started) and, within it, only their customers' items, invoices and drafts. **Who writes**: provider
# staff with ``DRAFT_INVOICES``, on the invoices they see; what concerns every customer at once (finalising a run
# as it is drafted or as a whole, importing a bank statement) needs the whole provider in view (``Scope.PROVIDER``).

# Rules that the pages and the API both apply before they call ``contracts.billing``, which does not check them.
ONLY_DRAFT_CREDIT_NOTES = _(
    "Only a draft credit note can be discarded; the draft of a period's invoice is replaced by running the period "
    "again."
)
NOT_CREDITABLE = _("Only a finalised invoice can be corrected by a credit note.")
NOTHING_LEFT_TO_CREDIT = _("Every line of this invoice has been credited in full.")
NOT_A_RECEIVABLE = _("Payments are recorded against finalised invoices only.")
DUE_FIELD = DecimalField(max_digits=MONEY_MAX_DIGITS + 4, decimal_places=MONEY_DECIMAL_PLACES)


def sees_invoices(user: User) -> bool:
    """True when the user's role sees prices, and so invoices (which of them: ``invoice_list``)."""
    return sees_contracts(user)


def may_draft_invoices(user: User) -> bool:
    """True for provider staff with ``DRAFT_INVOICES`` (provider admins; account managers for their customers)."""
    access = access_for(user)
    return access is not None and access.is_provider_staff and access.can(Capability.DRAFT_INVOICES)


def bills_every_customer(user: User) -> bool:
    """True for staff with ``DRAFT_INVOICES`` over the whole provider (provider admins): they may finalise a whole
    run, start one that finalises as it drafts, and import bank statements, which touch every customer."""
    access = access_for(user)
    return may_draft_invoices(user) and access.policy.scope == Scope.PROVIDER


def billing_customer_ids(*, user: User) -> list[int] | None:
    """The customers whose drafts the user may finalise: None (all of the provider's) for staff who bill every
    customer, else the customers the user sees."""
    if bills_every_customer(user):
        return None
    return list(Organisation.objects.customers().visible_to(user).values_list("pk", flat=True))


def invoice_queryset(*, user: User) -> QuerySet[Invoice]:
    """The invoices and credit notes the user sees (see the section notes), without joins or annotations."""
    access = access_for(user)
    if access is None or not access.sees_prices:
        return Invoice.objects.none()
    invoices = Invoice.objects.visible_to(user)
    if not access.is_provider_staff:
        invoices = invoices.filter(status=InvoiceStatus.FINALISED)
    return invoices


def _with_payment_columns(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """``payment_status`` (the receivable's; None for drafts and credit notes) and ``due_amount`` (a finalised
    invoice's total less its finalised credit notes and payments; None for drafts and credit notes), by
    correlated subqueries (``contracts.receivables.with_outstanding``): no query per row."""
    return with_outstanding(queryset.annotate(payment_status=F("receivable__status"))).annotate(
        due_amount=Case(
            When(
                kind=InvoiceKind.INVOICE,
                status=InvoiceStatus.FINALISED,
                then=ExpressionWrapper(F("outstanding"), output_field=DUE_FIELD),
            ),
            default=Value(None, output_field=DUE_FIELD),
            output_field=DUE_FIELD,
        )
    )


def _period_label() -> Concat:
    """A row's ``year`` and ``month`` as "2025-11"."""
    return Concat(
        Cast("year", CharField()),
        Value("-"),
        LPad(Cast("month", CharField()), 2, Value("0")),
        output_field=CharField(),
    )


def invoice_list(*, user: User) -> QuerySet[Invoice]:
    """The invoices and credit notes the user sees, with the customer, and annotated for the list's columns:
    ``number_or_draft`` (the number, or "Draft" in the active language), ``period_label`` ("2025-11"),
    ``payment_status`` and ``due_amount`` (``_with_payment_columns``). One query, whatever the number of rows."""
    return _with_payment_columns(
        invoice_queryset(user=user)
        .select_related("customer")
        .annotate(
            number_or_draft=Case(
                When(number="", then=Value(str(pgettext("invoice status", "Draft")))),
                default=F("number"),
                output_field=CharField(),
            ),
            period_label=_period_label(),
        )
    )


def invoice_detail(*, user: User) -> QuerySet[Invoice]:
    """The invoices the user sees, for one invoice's page and the API's detail: the parties, the receivable, the
    corrected invoice and the run joined; the lines (site, contract, component, work order) with their per-asset
    rows (asset, model, manufacturer, site), the taxes, the events (who), the credit notes the user sees and the
    payments prefetched; ``payment_status`` and ``due_amount`` annotated. Seven queries, whatever the number of
    lines, assets, events or payments."""
    return (
        _with_payment_columns(invoice_queryset(user=user))
        .select_related("customer", "provider", "receivable", "corrects", "run", "finalised_by")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=InvoiceLine.objects.select_related("site", "contract", "component", "work_order").order_by(
                    "position"
                ),
            ),
            Prefetch(
                "lines__assets",
                queryset=InvoiceLineAsset.objects.select_related(
                    "asset__asset_model__manufacturer", "asset__site"
                ).order_by("asset__serial_number", "meter", "pk"),
            ),
            Prefetch("taxes", queryset=InvoiceTax.objects.order_by("-rate", "tax_category")),
            Prefetch("events", queryset=InvoiceEvent.objects.select_related("by").order_by("-at", "-pk")),
            Prefetch("credit_notes", queryset=invoice_queryset(user=user).order_by("drafted_at", "pk")),
            Prefetch("payments", queryset=Payment.objects.select_related("created_by").order_by("-paid_on", "-pk")),
        )
    )


def invoice_line_list(*, user: User) -> QuerySet[InvoiceLine]:
    """Lines of the invoices the user sees, with their invoice, site and contract (the lines' CSV)."""
    return InvoiceLine.objects.filter(invoice__in=invoice_queryset(user=user)).select_related(
        "invoice", "site", "contract"
    )


def invoice_credit_left(invoice: Invoice) -> dict[int, Decimal]:
    """For each line of ``invoice``: its amount less what its credit notes (drafts included) credit of it. One
    query besides the lines themselves (read from ``invoice.lines``, prefetched or not)."""
    credited: dict[int, Decimal] = {}
    for detail, amount in InvoiceLine.objects.filter(
        invoice__corrects=invoice, invoice__kind=InvoiceKind.CREDIT_NOTE
    ).values_list("detail", "amount"):
        line_id = (detail or {}).get("credits_line")
        credited[line_id] = credited.get(line_id, Decimal(0)) + amount
    return {line.pk: line.amount - credited.get(line.pk, Decimal(0)) for line in invoice.lines.all()}


def _visible_billing_runs(user: User) -> QuerySet[BillingRun]:
    """The runs the user sees (see the section notes), without annotations."""
    if not may_draft_invoices(user):
        return BillingRun.objects.none()
    runs = BillingRun.objects.visible_to(user)
    if access_for(user).policy.scope != Scope.PROVIDER:
        runs = runs.filter(
            Q(Exists(BillingRunItem.objects.visible_to(user).filter(run=OuterRef("pk")))) | Q(started_by_id=user.pk)
        )
    return runs


def _count(queryset: QuerySet, **outer: str) -> Coalesce:
    """The number of rows of ``queryset`` matching the outer row on ``outer`` (field -> outer field), or 0."""
    rows = queryset.filter(**{name: OuterRef(value) for name, value in outer.items()}).order_by()
    counted = rows.values(next(iter(outer))).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def billing_run_list(*, user: User) -> QuerySet[BillingRun]:
    """The billing runs the user sees, with who started them, and annotated with the items the user sees
    (``items_total``, ``items_done``, ``items_failed``, ``items_pending``), ``invoices_count`` (the run's invoices
    the user sees), ``drafts_count`` (the period's draft invoices the user sees, which finalising the run
    finalises) and ``period_label`` ("2025-11"). One query, whatever the number of runs."""
    items = BillingRunItem.objects.visible_to(user)
    invoices = invoice_queryset(user=user)
    return (
        _visible_billing_runs(user)
        .select_related("started_by")
        .annotate(
            items_total=_count(items, run="pk"),
            items_done=_count(items.filter(status=RunItemStatus.DONE), run="pk"),
            items_failed=_count(items.filter(status=RunItemStatus.FAILED), run="pk"),
            items_pending=_count(items.filter(status=RunItemStatus.PENDING), run="pk"),
            invoices_count=_count(invoices, run="pk"),
            drafts_count=_count(
                invoices.filter(kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT),
                provider="provider",
                year="year",
                month="month",
            ),
            period_label=_period_label(),
        )
    )


def billing_run_detail(*, user: User) -> QuerySet[BillingRun]:
    """The runs the user sees, for one run's page: ``billing_run_list`` with the provider joined."""
    return billing_run_list(user=user).select_related("provider")


def billing_run_items(*, user: User, run: BillingRun) -> QuerySet[BillingRunItem]:
    """The items of ``run`` that the user sees (an account manager: their customers'), by customer name."""
    return BillingRunItem.objects.visible_to(user).filter(run=run).select_related("customer").order_by("customer__name")


def _billing_runs_for(request) -> QuerySet[BillingRun]:
    return _visible_billing_runs(getattr(request, "user", request)).order_by("-year", "-month")


def _validate_period(value: str) -> None:
    try:
        parse_period(value)
    except ValidationError as error:
        raise ValidationError(error.message_dict["period"]) from None


class InvoiceFilterSet(SearchFilterSet):
    """The invoices list, shared by the page and the API: period (YYYY-MM), status, kind, customer, currency,
    payment status, billing run, and ``q`` on the number and the customer's name."""

    search_fields = ("number", "customer__name")
    provider_only_filters = ("customer", "status", "run")
    period = django_filters.CharFilter(
        method="filter_period", label=_("Period (YYYY-MM)"), max_length=7, validators=[_validate_period]
    )
    status = django_filters.ChoiceFilter(choices=InvoiceStatus.choices, label=_("Status"))
    kind = django_filters.ChoiceFilter(choices=InvoiceKind.choices, label=_("Kind"))
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    currency = django_filters.ChoiceFilter(choices=Currency.choices, label=_("Currency"))
    payment_status = django_filters.ChoiceFilter(
        field_name="receivable__status", choices=PaymentStatus.choices, label=_("Payment")
    )
    run = django_filters.ModelChoiceFilter(queryset=_billing_runs_for, label=_("Billing run"))

    class Meta:
        model = Invoice
        fields = ["period", "status", "kind", "customer", "currency", "payment_status", "run"]

    def filter_period(self, queryset, name, value):
        year, month = parse_period(value)
        return queryset.filter(year=year, month=month)


class BillingRunFilterSet(SearchFilterSet):
    """The billing runs list, shared by the page and the API: status and year."""

    status = django_filters.ChoiceFilter(choices=BillingRunStatus.choices, label=_("Status"))
    year = django_filters.NumberFilter(label=_("Year"), min_value=2000, max_value=2999, decimal_places=0)

    class Meta:
        model = BillingRun
        fields = ["status", "year"]


def receivables_ageing(*, user: User, today: datetime.date) -> list:
    """What the customers the user sees owe, per customer and currency, by days past due on ``today``
    (``contracts.receivables.ageing`` over the invoices the user sees). One query."""
    return ageing(invoice_queryset(user=user), today=today)
