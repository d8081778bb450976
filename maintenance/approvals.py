"""Approvals: a work order's estimate against the customer's not-to-exceed amount, and repair-versus-replace.

**Settings.** ``MaintenanceSettings`` rows hold the amounts: the provider's row the defaults, a customer's row its
own. A customer's empty amount inherits the provider's, as long as both rows state the same currency (an amount is
never carried into another currency). A customer without any limit needs no approvals.

**Estimates.** Dispatching provider staff enter an estimate (and, for expensive repairs, a replacement quote)
while the order has not started (new, assigned, en route or on hold). The estimate decides the approval:

- above the not-to-exceed amount: ``pending``; the order cannot go en route, in progress or completed
  (``services.APPROVAL_GATED_STATES``) and the customer's admins get one e-mail for this estimate;
- at or under the limit (equal is within): ``not_required`` - also when an earlier estimate was pending: nobody
  approved the smaller amount, it simply needs no approval;
- an already approved order keeps its approval when the revised estimate is not higher than the approved one;
  a higher one asks again.

Timeline notes name no amounts: technicians and the service desk read the timeline and see no prices. The desk
may enter estimates (write-only: its pages show the approval state, never an amount).

**Decisions.** Only the customer's own admins (``APPROVE_WORK``, customer side) decide, and only while the
estimate is pending: approve, reject, or - when the estimate is above ``replace_review_above`` - replace. A
rejected estimate keeps the order from starting until the desk revises the estimate, holds or cancels it; a
"replace" decision records the customer's wish, and the desk converts the repair into a removal and an
installation (``work_order_convert_to_replacement``).

**Repair or replace.** ``repair_or_replace`` gathers the asset's age, acquisition cost, expected life, the repair
cost of its other work orders per year (parts ``quantity * unit_cost`` and labour ``hours * rate``; labour without
a rate at the customer's labour rate), this estimate and the replacement quote, and recommends by
``RECOMMENDATION_RULE``. It works for many work orders in a fixed number of queries.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.db.models import Case, DecimalField, ExpressionWrapper, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import ExtractYear
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from accounts.models import Membership, Organisation, User
from accounts.roles import Capability
from fleet.filters import SearchFilterSet
from fleet.money import Currency, minor_units, money_format, money_round
from fleet.tenancy import Access, access_for, organisations_visible_to, visible
from maintenance import services
from maintenance.choices import ApprovalStatus, WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.models import MaintenanceSettings, WorkOrder, WorkOrderEvent, WorkOrderLabour, WorkOrderPart

NOT_ALLOWED_TO_MANAGE_SETTINGS = _("You may not change the maintenance settings of this organisation.")
NEGATIVE_AMOUNT = _("Enter an amount of zero or more.")
TOO_MANY_DECIMALS = _("Amounts in %(currency)s have at most %(places)s decimal places.")
REPLACE_BELOW_LIMIT = _("The repair-or-replace review must not start below the not-to-exceed amount.")
NOT_ALLOWED_TO_ESTIMATE = _("You may not enter estimates for this work order.")
ESTIMATE_NOT_OPEN = _("Estimates are entered before the work starts: put the work order on hold first.")
NOT_ALLOWED_TO_DECIDE = _("Only the customer's administrators decide on estimates.")
NOT_PENDING = _("This estimate does not wait for a decision.")
DECISION_INVALID = _("Choose approve, replace or reject.")
REPLACE_NOT_OFFERED = _("Replacing is offered only for estimates above the repair-or-replace review amount.")
NOT_MARKED_FOR_REPLACEMENT = _("The customer has not asked to replace the asset instead of repairing it.")
REPLACEMENT_NEEDS_ASSET = _("Only a work order on an asset can be converted into a replacement.")

# Statuses in which an estimate may be entered or revised: the work has not started.
ESTIMATE_STATES = (WorkOrderStatus.NEW, WorkOrderStatus.ASSIGNED, WorkOrderStatus.EN_ROUTE, WorkOrderStatus.ON_HOLD)
DECISIONS = (ApprovalStatus.APPROVED, ApprovalStatus.REPLACE, ApprovalStatus.REJECTED)
DECIDED_STATES = DECISIONS
SETTINGS_AMOUNTS = ("not_to_exceed", "replace_review_above", "labour_rate")

# Repair or replace: replace when estimate + last 12 months' repairs exceed this share of the replacement quote.
REPLACE_SHARE = Decimal("0.5")
RECENT_DAYS = 365
RECOMMENDATION_RULE = _(
    "Replace when this estimate plus the repair costs of the last 12 months exceed %(percent)s%% of the "
    "replacement quote, or when the asset is past its expected life; otherwise repair."
)
RECOMMEND_REPAIR = "repair"
RECOMMEND_REPLACE = "replace"
RECOMMEND_NONE = ""


# --- Settings ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedSettings:
    """An organisation's maintenance settings after inheritance (its own row over its provider's defaults)."""

    currency: str
    not_to_exceed: Decimal | None
    replace_review_above: Decimal | None
    labour_rate: Decimal | None
    inherited: frozenset[str] = frozenset()  # the amounts taken from the provider's defaults


def _resolve(own: MaintenanceSettings | None, defaults: MaintenanceSettings | None) -> ResolvedSettings:
    currency = own.currency if own is not None else (defaults.currency if defaults is not None else Currency.JPY)
    values: dict[str, Decimal | None] = {}
    inherited = set()
    for name in SETTINGS_AMOUNTS:
        value = getattr(own, name) if own is not None else None
        if value is None and defaults is not None and defaults.currency == currency:
            value = getattr(defaults, name)
            if value is not None:
                inherited.add(name)
        values[name] = value
    return ResolvedSettings(currency=currency, inherited=frozenset(inherited), **values)


def maintenance_settings_for_many(organisations: Iterable[Organisation]) -> dict[int, ResolvedSettings]:
    """Resolved settings of each organisation by id (a provider resolves to its defaults), in one query."""
    organisations = list(organisations)
    ids = {organisation.pk for organisation in organisations}
    ids |= {organisation.provider_id for organisation in organisations if organisation.provider_id}
    rows = {row.organisation_id: row for row in MaintenanceSettings.objects.filter(organisation_id__in=ids)}
    resolved = {}
    for organisation in organisations:
        if organisation.provider_id is None:  # the provider itself: its defaults
            resolved[organisation.pk] = _resolve(rows.get(organisation.pk), None)
        else:
            resolved[organisation.pk] = _resolve(rows.get(organisation.pk), rows.get(organisation.provider_id))
    return resolved


def maintenance_settings_for(*, customer: Organisation) -> ResolvedSettings:
    """The customer's not-to-exceed amount, review threshold, labour rate and currency (one query)."""
    return maintenance_settings_for_many([customer])[customer.pk]


def maintenance_settings_organisations(*, user: User) -> QuerySet[Organisation]:
    """The organisations whose maintenance settings ``user`` may read: prices, so only price-seeing roles.

    Provider staff read their provider's defaults and the customers they see; a customer's admin their own."""
    access = access_for(user)
    if access is None or not access.sees_prices:
        return Organisation.objects.none()
    return organisations_visible_to(Organisation.objects.all(), user).select_related("maintenance_settings")


def may_manage_settings(*, user: User, organisation: Organisation) -> bool:
    """Provider admins set their defaults and every customer's; account managers the customers they manage."""
    access = access_for(user)
    if access is None or not access.is_provider_staff:
        return False
    if organisation.pk == access.provider_id:
        return access.can(Capability.MANAGE_CUSTOMERS)
    if organisation.provider_id != access.provider_id:
        return False
    if not (access.can(Capability.MANAGE_CUSTOMERS) or access.can(Capability.MANAGE_CONTRACTS)):
        return False
    return organisations_visible_to(Organisation.objects.filter(pk=organisation.pk), user).exists()


def _check_amount(errors: dict, name: str, value: Decimal | None, currency: str) -> None:
    if value is None:
        return
    if value < 0:
        errors[name] = NEGATIVE_AMOUNT
    elif value != money_round(value, currency):
        errors[name] = ValidationError(
            TOO_MANY_DECIMALS, params={"currency": currency, "places": minor_units(currency)}
        )


@transaction.atomic
def maintenance_settings_update(
    *,
    organisation: Organisation,
    by: User,
    currency: str = Currency.JPY,
    not_to_exceed: Decimal | None = None,
    replace_review_above: Decimal | None = None,
    labour_rate: Decimal | None = None,
) -> MaintenanceSettings:
    """Set an organisation's own amounts (empty ones inherit the provider's defaults, for a customer)."""
    if not may_manage_settings(user=by, organisation=organisation):
        raise ValidationError(NOT_ALLOWED_TO_MANAGE_SETTINGS)
    if currency not in Currency.values:
        raise ValidationError({"currency": _("Choose a currency.")})
    errors: dict = {}
    amounts = {
        "not_to_exceed": not_to_exceed,
        "replace_review_above": replace_review_above,
        "labour_rate": labour_rate,
    }
    for name, value in amounts.items():
        _check_amount(errors, name, value, currency)
    if errors:
        raise ValidationError(errors)
    defaults = None
    if organisation.provider_id is not None:
        defaults = MaintenanceSettings.objects.filter(organisation_id=organisation.provider_id).first()
    effective = _resolve(MaintenanceSettings(organisation=organisation, currency=currency, **amounts), defaults)
    if (
        effective.not_to_exceed is not None
        and effective.replace_review_above is not None
        and effective.replace_review_above < effective.not_to_exceed
    ):
        raise ValidationError({"replace_review_above": REPLACE_BELOW_LIMIT})
    row, _created = MaintenanceSettings.objects.update_or_create(
        organisation=organisation, defaults={"currency": currency, **amounts}
    )
    return row


# --- Estimates and decisions -------------------------------------------------------------------------------------


def _may_dispatch(access: Access | None, provider_id: int) -> bool:
    return (
        access is not None
        and access.is_provider_staff
        and access.provider_id == provider_id
        and access.can(Capability.DISPATCH_WORK)
    )


def may_estimate(*, user: User, work_order: WorkOrder) -> bool:
    """Whether ``user`` may enter an estimate on the order now (dispatching staff, work not started)."""
    return _may_dispatch(access_for(user), work_order.provider_id) and work_order.status in ESTIMATE_STATES


def may_decide(*, user: User, work_order: WorkOrder) -> bool:
    """Whether ``user`` may decide on the order's estimate now (the customer's own admin, estimate pending)."""
    access = access_for(user)
    return (
        access is not None
        and not access.is_provider_staff
        and access.can(Capability.APPROVE_WORK)
        and access.organisation_id == work_order.customer_id
        and work_order.approval_status == ApprovalStatus.PENDING
    )


def replace_offered(*, work_order: WorkOrder, resolved: ResolvedSettings) -> bool:
    """Replacing is offered when the estimate is above the customer's repair-or-replace review amount."""
    return (
        work_order.estimate_amount is not None
        and resolved.replace_review_above is not None
        and resolved.currency == work_order.currency
        and work_order.estimate_amount > resolved.replace_review_above
    )


def _lock(work_order: WorkOrder) -> WorkOrder:
    """Re-read what an estimate or decision depends on under a row lock."""
    fields = ("status", "approval_status", "estimate_amount", "currency")
    current = WorkOrder.objects.select_for_update().values(*fields).get(pk=work_order.pk)
    for name in fields:
        setattr(work_order, name, current[name])
    return work_order


def _note(*, work_order: WorkOrder, by: User | None, text: str, note: str = "") -> WorkOrderEvent:
    """A timeline entry that changes no status: what happened (never an amount), then the user's note."""
    return WorkOrderEvent.objects.create(
        work_order=work_order,
        at=timezone.now(),
        by=by,
        from_status=work_order.status,
        to_status=work_order.status,
        note=" ".join(part for part in (str(text), note.strip()) if part),
    )


@transaction.atomic
def work_order_estimate(
    *,
    work_order: WorkOrder,
    amount: Decimal,
    replacement_quote: Decimal | None = None,
    by: User,
    note: str = "",
    notify: bool = True,
) -> WorkOrder:
    """Record the estimate (in the customer's currency) and decide whether it waits for the customer's approval.

    ``notify=False`` (demo data, imports) sends no e-mail."""
    if not _may_dispatch(access_for(by), work_order.provider_id):
        raise ValidationError(NOT_ALLOWED_TO_ESTIMATE)
    _lock(work_order)
    if work_order.status not in ESTIMATE_STATES:
        raise ValidationError(ESTIMATE_NOT_OPEN)
    resolved = maintenance_settings_for(customer=work_order.customer)
    currency = resolved.currency
    errors: dict = {}
    _check_amount(errors, "amount", amount, currency)
    _check_amount(errors, "replacement_quote", replacement_quote, currency)
    if errors:
        raise ValidationError(errors)

    previous_status, previous_amount = work_order.approval_status, work_order.estimate_amount
    same_currency = work_order.currency == currency
    limit = resolved.not_to_exceed
    if (
        previous_status == ApprovalStatus.APPROVED
        and same_currency
        and previous_amount is not None
        and amount <= previous_amount
    ):
        status, text = ApprovalStatus.APPROVED, _("Revised estimate within the approved amount.")
    elif limit is not None and amount > limit:
        status, text = ApprovalStatus.PENDING, _("Estimate above the not-to-exceed amount: waits for approval.")
    else:
        status, text = ApprovalStatus.NOT_REQUIRED, _("Estimate within the not-to-exceed amount: no approval needed.")

    fields = ["estimate_amount", "replacement_quote", "currency", "approval_status", "updated_at"]
    work_order.estimate_amount = amount
    work_order.replacement_quote = replacement_quote
    work_order.currency = currency
    work_order.approval_status = status
    if status != ApprovalStatus.APPROVED:  # a new request, or none: no decision stands
        work_order.approval_decided_by = None
        work_order.approval_decided_at = None
        work_order.approval_note = ""
        fields += ["approval_decided_by", "approval_decided_at", "approval_note"]
    work_order.save(update_fields=fields)
    _note(work_order=work_order, by=by, text=text, note=note)

    newly_pending = status == ApprovalStatus.PENDING and (
        previous_status != ApprovalStatus.PENDING or previous_amount != amount or not same_currency
    )
    if newly_pending and notify:
        work_order_id = work_order.pk
        transaction.on_commit(lambda: approval_request_notify(work_order_id=work_order_id))
    return work_order


DECISION_TEXTS = {
    ApprovalStatus.APPROVED: _("Estimate approved."),
    ApprovalStatus.REPLACE: _("The customer asks to replace the asset instead of repairing it."),
    ApprovalStatus.REJECTED: _("Estimate rejected."),
}


@transaction.atomic
def work_order_approval_decide(*, work_order: WorkOrder, decision: str, by: User, note: str = "") -> WorkOrder:
    """The customer's admin approves, rejects, or (above the review amount) asks to replace instead."""
    access = access_for(by)
    if (
        access is None
        or access.is_provider_staff
        or not access.can(Capability.APPROVE_WORK)
        or access.organisation_id != work_order.customer_id
    ):
        raise ValidationError(NOT_ALLOWED_TO_DECIDE)
    if decision not in DECISIONS:
        raise ValidationError({"decision": DECISION_INVALID})
    _lock(work_order)
    if work_order.approval_status != ApprovalStatus.PENDING:
        raise ValidationError(NOT_PENDING)
    if decision == ApprovalStatus.REPLACE and not replace_offered(
        work_order=work_order, resolved=maintenance_settings_for(customer=work_order.customer)
    ):
        raise ValidationError({"decision": REPLACE_NOT_OFFERED})
    work_order.approval_status = decision
    work_order.approval_decided_by = by
    work_order.approval_decided_at = timezone.now()
    work_order.approval_note = note.strip()[:500]
    work_order.save(
        update_fields=[
            "approval_status",
            "approval_decided_by",
            "approval_decided_at",
            "approval_note",
            "updated_at",
        ]
    )
    _note(work_order=work_order, by=by, text=DECISION_TEXTS[decision], note=note)
    return work_order


@transaction.atomic
def work_order_convert_to_replacement(*, work_order: WorkOrder, by: User, note: str = "") -> list[WorkOrder]:
    """The desk acts on a "replace" decision: cancel the repair, open a removal and an installation on the site."""
    if not _may_dispatch(access_for(by), work_order.provider_id):
        raise ValidationError(NOT_ALLOWED_TO_ESTIMATE)
    _lock(work_order)
    if work_order.approval_status != ApprovalStatus.REPLACE:
        raise ValidationError(NOT_MARKED_FOR_REPLACEMENT)
    if work_order.asset_id is None:
        raise ValidationError(REPLACEMENT_NEEDS_ASSET)
    services.work_order_transition(
        work_order=work_order,
        to_status=WorkOrderStatus.CANCELLED,
        by=by,
        note=str(_("Replaced instead of repaired.")) + (f" {note.strip()}" if note.strip() else ""),
    )
    created = []
    for kind, asset, text in (
        (WorkOrderKind.REMOVAL, work_order.asset, _("Remove %(asset)s: replaced instead of repaired (%(number)s).")),
        (WorkOrderKind.INSTALLATION, None, _("Install the replacement of %(asset)s (%(number)s).")),
    ):
        created.append(
            services.work_order_create(
                customer=work_order.customer,
                site=work_order.site,
                asset=asset,
                kind=kind,
                priority=work_order.priority,
                source=WorkOrderSource.MANUAL,
                description=str(text % {"asset": work_order.asset, "number": work_order.number}),
                by=by,
            )
        )
    _note(
        work_order=work_order,
        by=by,
        text=_("Replacement opened: %(numbers)s.") % {"numbers": ", ".join(order.number for order in created)},
    )
    return created


# --- E-mail ------------------------------------------------------------------------------------------------------


def _approval_message(*, user: User, organisation: Organisation, work_order: WorkOrder, resolved) -> EmailMessage:
    """The request for a decision, in the reader's language and their organisation's time zone."""
    language = user.language or organisation.language or settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(organisation.time_zone):
        asset = work_order.asset
        context = {
            "number": work_order.number,
            "site": work_order.site.name,
            "asset": f"{asset.asset_model.name} {asset.serial_number}" if asset else "",
            "description": work_order.description,
            "estimate": money_format(work_order.estimate_amount, work_order.currency),
            "replacement_quote": money_format(work_order.replacement_quote, work_order.currency),
            "limit": money_format(resolved.not_to_exceed, resolved.currency),
            "url": settings.PORTAL_BASE_URL + reverse("maintenance:approval_list"),
            "organisation": organisation.name,
        }
        subject = " ".join(render_to_string("maintenance/email/approval_request_subject.txt", context).split())
        body = render_to_string("maintenance/email/approval_request.txt", context)
    return EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])


def approval_request_notify(*, work_order_id: int) -> int:
    """E-mail the customer's admins that an estimate waits for them (once per estimate); returns e-mails sent."""
    work_order = (
        WorkOrder.objects.select_related("customer", "site", "asset__asset_model").filter(pk=work_order_id).first()
    )
    if work_order is None or work_order.approval_status != ApprovalStatus.PENDING:
        return 0
    resolved = maintenance_settings_for(customer=work_order.customer)
    admins = (
        Membership.objects.filter(
            organisation_id=work_order.customer_id,
            role=Role.CUSTOMER_ADMIN,
            user__is_active=True,
            organisation__is_active=True,
        )
        .select_related("user", "organisation")
        .order_by("user__email")
    )
    messages = [
        _approval_message(
            user=membership.user, organisation=membership.organisation, work_order=work_order, resolved=resolved
        )
        for membership in admins
        if membership.user.email
    ]
    if messages:
        mailers.default.send_messages(messages)
    return len(messages)


# --- Reads -------------------------------------------------------------------------------------------------------


def approval_list(*, user: User) -> QuerySet[WorkOrder]:
    """Work orders whose estimate waits for approval or was decided, pending first (``waiting`` = 0)."""
    return (
        WorkOrder.objects.visible_to(user)
        .exclude(approval_status=ApprovalStatus.NOT_REQUIRED)
        .select_related("customer", "site", "asset", "asset__asset_model", "approval_decided_by")
        .annotate(
            waiting=Case(
                When(approval_status=ApprovalStatus.PENDING, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
    )


def approvals_pending_count(*, user: User) -> int:
    return WorkOrder.objects.visible_to(user).filter(approval_status=ApprovalStatus.PENDING).count()


_visible_customers = visible(Organisation.objects.customers())


class ApprovalFilterSet(SearchFilterSet):
    """The approvals list, shared by the page and the API."""

    search_fields = ("number", "description", "asset__serial_number", "asset__asset_tag", "site__name")
    provider_only_filters = ("customer",)
    approval_status = django_filters.ChoiceFilter(choices=ApprovalStatus.choices, label=_("Approval"))
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))

    class Meta:
        model = WorkOrder
        fields = ["approval_status", "customer"]


class MaintenanceSettingsFilterSet(SearchFilterSet):
    """The list of organisations and their approval limits."""

    search_fields = ("name", "code")

    class Meta:
        model = Organisation
        fields: list[str] = []


# --- Repair or replace -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostYear:
    """Repair costs of an asset in one calendar year and currency."""

    year: int
    currency: str
    parts: Decimal
    labour: Decimal

    @property
    def total(self) -> Decimal:
        return self.parts + self.labour


@dataclass(frozen=True)
class RepairOrReplace:
    """The facts a repair-or-replace decision rests on, and the recommendation of ``RECOMMENDATION_RULE``."""

    work_order_id: int
    currency: str
    estimate: Decimal | None
    replacement_quote: Decimal | None
    install_date: datetime.date | None
    age_months: int | None
    acquisition_cost: Decimal | None
    acquisition_currency: str
    expected_life_months: int | None
    past_expected_life: bool
    history: tuple[CostYear, ...]  # newest year first
    repairs_last_12_months: Decimal  # in ``currency``
    replace_above: Decimal | None  # REPLACE_SHARE of the replacement quote
    recommendation: str  # RECOMMEND_REPAIR, RECOMMEND_REPLACE, or RECOMMEND_NONE when the facts do not tell
    rule: str

    @property
    def repair_total(self) -> Decimal:
        return (self.estimate or Decimal(0)) + self.repairs_last_12_months


def _age_months(install_date: datetime.date | None, today: datetime.date) -> int | None:
    if install_date is None or install_date > today:
        return None
    return (today.year - install_date.year) * 12 + today.month - install_date.month - (today.day < install_date.day)


def _money_sum(expression) -> ExpressionWrapper:
    return ExpressionWrapper(expression, output_field=DecimalField(max_digits=20, decimal_places=2))


def repair_or_replace_many(
    work_orders: Iterable[WorkOrder], *, now: datetime.datetime | None = None
) -> dict[int, RepairOrReplace]:
    """Repair-or-replace facts of work orders on assets, by work order id, in three queries.

    The work orders should come with ``asset`` and ``customer`` selected. Costs are the other (not cancelled)
    work orders of the same asset; years are calendar years in the current time zone."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    orders = [order for order in work_orders if order.asset_id is not None]
    if not orders:
        return {}
    asset_ids = {order.asset_id for order in orders}
    cutoff = now - datetime.timedelta(days=RECENT_DAYS)
    recent_date = today - datetime.timedelta(days=RECENT_DAYS)
    rates = maintenance_settings_for_many({order.customer_id: order.customer for order in orders}.values())

    # (asset, work order, year, currency) -> [parts, labour, recent, unrated hours, recent unrated hours]
    costs: dict[tuple, list] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(0)])
    parts = (
        WorkOrderPart.objects.filter(work_order__asset_id__in=asset_ids, unit_cost__isnull=False)
        .exclude(work_order__status=WorkOrderStatus.CANCELLED)
        .annotate(year=ExtractYear("added_at"))
        .values("work_order__asset_id", "work_order_id", "year", "currency")
        .annotate(
            total=Sum(_money_sum(F("quantity") * F("unit_cost"))),
            recent=Sum(_money_sum(F("quantity") * F("unit_cost")), filter=Q(added_at__gte=cutoff)),
        )
        .order_by()
    )
    for row in parts:
        entry = costs[(row["work_order__asset_id"], row["work_order_id"], row["year"], row["currency"])]
        entry[0] += row["total"] or 0
        entry[2] += row["recent"] or 0
    labour = (
        WorkOrderLabour.objects.filter(work_order__asset_id__in=asset_ids)
        .exclude(work_order__status=WorkOrderStatus.CANCELLED)
        .annotate(year=ExtractYear("date"))
        .values("work_order__asset_id", "work_order_id", "work_order__customer_id", "year", "currency")
        .annotate(
            total=Sum(_money_sum(F("hours") * F("rate"))),
            recent=Sum(_money_sum(F("hours") * F("rate")), filter=Q(date__gte=recent_date)),
            unrated=Sum("hours", filter=Q(rate__isnull=True)),
            recent_unrated=Sum("hours", filter=Q(rate__isnull=True, date__gte=recent_date)),
        )
        .order_by()
    )
    for row in labour:
        entry = costs[(row["work_order__asset_id"], row["work_order_id"], row["year"], row["currency"])]
        amount, recent = row["total"] or Decimal(0), row["recent"] or Decimal(0)
        resolved = rates.get(row["work_order__customer_id"])
        # Hours without a rate count at the customer's labour rate (in its currency).
        if (
            row["unrated"]
            and resolved is not None
            and resolved.labour_rate is not None
            and resolved.currency == row["currency"]
        ):
            amount += row["unrated"] * resolved.labour_rate
            recent += (row["recent_unrated"] or 0) * resolved.labour_rate
        entry[1] += amount
        entry[2] += recent

    facts = {}
    for order in orders:
        years: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        recent = Decimal(0)
        for (asset_id, work_order_id, year, currency), entry in costs.items():
            if asset_id != order.asset_id or work_order_id == order.pk:
                continue
            years[(year, currency)][0] += entry[0]
            years[(year, currency)][1] += entry[1]
            if currency == order.currency:
                recent += entry[2]
        history = tuple(
            CostYear(
                year=year,
                currency=currency,
                parts=money_round(Decimal(amounts[0]), currency),
                labour=money_round(Decimal(amounts[1]), currency),
            )
            for (year, currency), amounts in sorted(years.items(), key=lambda item: (-item[0][0], item[0][1]))
        )
        asset = order.asset
        age = _age_months(asset.install_date, today)
        past_life = age is not None and asset.expected_life_months is not None and age >= asset.expected_life_months
        recent = money_round(Decimal(recent), order.currency)
        quote = order.replacement_quote
        replace_above = money_round(quote * REPLACE_SHARE, order.currency) if quote is not None else None
        if past_life:
            recommendation = RECOMMEND_REPLACE
        elif order.estimate_amount is None or replace_above is None:
            recommendation = RECOMMEND_NONE
        elif order.estimate_amount + recent > replace_above:
            recommendation = RECOMMEND_REPLACE
        else:
            recommendation = RECOMMEND_REPAIR
        facts[order.pk] = RepairOrReplace(
            work_order_id=order.pk,
            currency=order.currency,
            estimate=order.estimate_amount,
            replacement_quote=quote,
            install_date=asset.install_date,
            age_months=age,
            acquisition_cost=asset.acquisition_cost,
            acquisition_currency=asset.currency,
            expected_life_months=asset.expected_life_months,
            past_expected_life=past_life,
            history=history,
            repairs_last_12_months=recent,
            replace_above=replace_above,
            recommendation=recommendation,
            rule=str(RECOMMENDATION_RULE % {"percent": int(REPLACE_SHARE * 100)}),
        )
    return facts


def repair_or_replace(*, work_order: WorkOrder, now: datetime.datetime | None = None) -> RepairOrReplace | None:
    """Repair-or-replace facts of one work order; None when it concerns no asset."""
    return repair_or_replace_many([work_order], now=now).get(work_order.pk)
