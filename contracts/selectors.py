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

import django_filters
from django.db.models import (
    Case,
    Count,
    DecimalField,
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
from django.db.models.functions import Coalesce, Round
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from accounts.roles import Capability
from assets.choices import ASSET_IN_SERVICE_STATES
from assets.models import Asset
from contracts.choices import ComponentKind, ContractStatus
from contracts.models import (
    AuditEntry,
    Contract,
    ContractAmendment,
    ContractAsset,
    PriceComponent,
    PriceTier,
)
from fleet.filters import SearchFilterSet
from fleet.money import MINOR_UNITS, MONEY_MAX_DIGITS
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
