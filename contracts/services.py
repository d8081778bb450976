"""Writes to contracts: every change validated (``ValidationError`` with field messages), atomic, and audited.

Each function records an ``AuditEntry`` for what it created or changed: the fields' values before and after, as
text, with the user and the time. Dates are inclusive: a component valid until the 31st prices the 31st.
"""

import datetime
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from assets.models import Asset
from contracts.choices import (
    CONTRACT_TRANSITIONS,
    METERED_KINDS,
    OUTCOME_KINDS,
    AuditAction,
    ComponentKind,
    ContractStatus,
)
from contracts.models import (
    AuditEntry,
    Contract,
    ContractAmendment,
    ContractAsset,
    ContractSequence,
    PriceComponent,
    PriceTier,
)
from maintenance.services import next_number

CONTRACT_PREFIX = "CT"

NOT_A_CUSTOMER = _("Choose a customer of this provider.")
ENDS_BEFORE_START = _("The end date cannot be before the start date.")
MOVE_NOT_ALLOWED = _("A contract that is %(from)s cannot become %(to)s.")
ENDED_CONTRACT = _("An ended contract cannot be changed.")
ASSET_OF_ANOTHER_CUSTOMER = _("This asset belongs to another customer.")
OUTSIDE_CONTRACT = _("The dates must lie within the contract's dates.")
ALREADY_COVERED = _("This asset is already covered by the contract over these dates.")
METER_REQUIRED = _("Choose the meter this component charges on.")
NO_METER_HERE = _("Only per-unit and outcome charges read a meter.")
CHARGE_DATE_REQUIRED = _("Enter the date the one-off charge falls on.")
SHARE_REQUIRED = _("Enter the share of the saving.")
TARGET_ONLY_OUTCOMES = _("Only outcome charges and saving shares promise an outcome.")
BASELINE_REQUIRED = _("A share of the saving needs the contract's baseline monthly cost.")
TIERS_ONLY_METERED = _("Only per-unit and outcome charges have tiers.")
TIERS_NOT_INCREASING = _("Each tier must start above the one before it, from 0 units or more.")
NOT_A_NUMBER = _("Enter a number.")
SERVICE_LEVEL_OF_ANOTHER_CUSTOMER = _("Choose the provider's default service level or one of this customer's.")
EMPTY_AMENDMENT = _("An amendment must change something: end a component, add one, or change the coverage.")
COMPONENT_OF_ANOTHER_CONTRACT = _("This component belongs to another contract.")
ALREADY_ENDED = _("The component ends before the amendment takes effect.")

# The fields an audit entry records, per model (the rest are keys, timestamps or derived).
AUDITED_FIELDS: dict[type[models.Model], tuple[str, ...]] = {
    Contract: (
        "title",
        "status",
        "start_date",
        "end_date",
        "billing_day",
        "currency",
        "payment_terms_days",
        "auto_renew",
        "renewal_months",
        "notice_days",
        "service_level",
        "credit_percent_per_breach",
        "credit_cap_percent",
        "baseline_monthly_cost",
        "notes",
    ),
    ContractAsset: ("asset", "start_date", "end_date"),
    PriceComponent: (
        "kind",
        "name",
        "amount",
        "meter",
        "allowance",
        "allowance_scope",
        "tier_mode",
        "minimum_charge",
        "share_percent",
        "outcome_target",
        "charge_date",
        "work_order",
        "tax_category",
        "valid_from",
        "valid_to",
        "tiers",
    ),
    ContractAmendment: ("number", "effective_date", "description"),
}


# --- Audit ------------------------------------------------------------------------------------------------------


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, models.Model):
        return str(value)
    return str(value)


def _snapshot(instance: models.Model) -> dict[str, str | None]:
    values = {}
    for name in AUDITED_FIELDS[type(instance)]:
        if name == "tiers":
            tiers = instance.tiers.order_by("from_units") if instance.pk else []
            values[name] = "; ".join(f"{tier.from_units}+ @ {tier.rate}" for tier in tiers) or None
            continue
        values[name] = _text(getattr(instance, name))
    return values


def _audit(
    instance: models.Model,
    *,
    contract: Contract,
    action: str,
    before: dict | None,
    by: User | None,
) -> AuditEntry | None:
    """Record what changed on ``instance`` since ``before`` (None: it was created); nothing when nothing did."""
    after = _snapshot(instance) if action != AuditAction.DELETED else {}
    names = list(dict.fromkeys([*(before or {}), *after]))
    changes = {
        name: [(before or {}).get(name), after.get(name)]
        for name in names
        if (before or {}).get(name) != after.get(name)
    }
    if not changes and action == AuditAction.CHANGED:
        return None
    return AuditEntry.objects.create(
        contract=contract,
        content_type=ContentType.objects.get_for_model(type(instance)),
        object_id=instance.pk,
        object_repr=str(instance)[:200],
        action=action,
        changes=changes,
        by=by,
    )


# --- Contracts --------------------------------------------------------------------------------------------------


def _check_service_level(contract: Contract) -> None:
    """A contract names its provider's default service level or one of its customer's own."""
    level = contract.service_level
    if level is not None and (
        level.provider_id != contract.provider_id or level.customer_id not in (None, contract.customer_id)
    ):
        raise ValidationError({"service_level": SERVICE_LEVEL_OF_ANOTHER_CUSTOMER})


def _check_dates(start: datetime.date, end: datetime.date | None, field: str = "end_date") -> None:
    if end is not None and end < start:
        raise ValidationError({field: ENDS_BEFORE_START})


@transaction.atomic
def contract_create(
    *, customer: Organisation, title: str, start_date: datetime.date, by: User | None, **fields
) -> Contract:
    """A draft contract for ``customer``, numbered CT-<year>-<n> in its provider's series of the start year."""
    if customer.is_provider or customer.provider_id is None:
        raise ValidationError({"customer": NOT_A_CUSTOMER})
    fields.setdefault("currency", customer.currency)
    contract = Contract(
        customer=customer, provider_id=customer.provider_id, title=title, start_date=start_date, **fields
    )
    contract.status = ContractStatus.DRAFT
    _check_dates(contract.start_date, contract.end_date)
    _check_service_level(contract)
    contract.number = "pending"
    contract.full_clean(exclude=["number"])
    contract.number = next_number(
        sequence=ContractSequence, prefix=CONTRACT_PREFIX, provider_id=customer.provider_id, year=start_date.year
    )
    contract.save()
    _audit(contract, contract=contract, action=AuditAction.CREATED, before=None, by=by)
    return contract


EDITABLE_CONTRACT_FIELDS = frozenset(AUDITED_FIELDS[Contract]) - {"status", "currency"}


@transaction.atomic
def contract_update(*, contract: Contract, by: User | None, **fields) -> Contract:
    """Change the contract's terms (not its status: ``contract_transition``; not its currency once active)."""
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    if contract.status == ContractStatus.ENDED:
        raise ValidationError(ENDED_CONTRACT)
    unknown = (
        set(fields) - EDITABLE_CONTRACT_FIELDS - ({"currency"} if contract.status == ContractStatus.DRAFT else set())
    )
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in sorted(unknown)})
    before = _snapshot(contract)
    for name, value in fields.items():
        setattr(contract, name, value)
    _check_dates(contract.start_date, contract.end_date)
    _check_service_level(contract)
    contract.full_clean()
    contract.save()
    _audit(contract, contract=contract, action=AuditAction.CHANGED, before=before, by=by)
    return contract


@transaction.atomic
def contract_transition(
    *, contract: Contract, to: str, by: User | None, end_date: datetime.date | None = None
) -> Contract:
    """Move the contract to ``to`` along ``CONTRACT_TRANSITIONS``. Ending sets ``end_date`` (default: today) and
    ends on it every coverage and price component still open after it."""
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    if to not in CONTRACT_TRANSITIONS.get(contract.status, ()):
        raise ValidationError(
            MOVE_NOT_ALLOWED,
            params={
                "from": ContractStatus(contract.status).label,
                "to": ContractStatus(to).label if to in ContractStatus.values else to,
            },
        )
    before = _snapshot(contract)
    contract.status = to
    if to == ContractStatus.ENDED:
        contract.end_date = end_date or timezone.localdate()
        _check_dates(contract.start_date, contract.end_date)
    contract.save()
    _audit(contract, contract=contract, action=AuditAction.CHANGED, before=before, by=by)
    if to == ContractStatus.ENDED:
        _close_at(contract, contract.end_date, by=by)
    return contract


def _close_at(contract: Contract, last_day: datetime.date, *, by: User | None) -> None:
    """End, on ``last_day``, every coverage and price component of the contract still open after it (audited)."""
    after_end = Q(end_date__isnull=True) | Q(end_date__gt=last_day)
    for coverage in ContractAsset.objects.filter(after_end, contract=contract, start_date__lte=last_day):
        before = _snapshot(coverage)
        coverage.end_date = last_day
        coverage.save(update_fields=["end_date", "updated_at"])
        _audit(coverage, contract=contract, action=AuditAction.CHANGED, before=before, by=by)
    open_components = Q(valid_to__isnull=True) | Q(valid_to__gt=last_day)
    for component in PriceComponent.objects.filter(open_components, contract=contract, valid_from__lte=last_day):
        before = _snapshot(component)
        component.valid_to = last_day
        component.save(update_fields=["valid_to", "updated_at"])
        _audit(component, contract=contract, action=AuditAction.CHANGED, before=before, by=by)


# --- Coverage ---------------------------------------------------------------------------------------------------


def _within_contract(contract: Contract, start: datetime.date, end: datetime.date | None, field: str) -> None:
    if start < contract.start_date or (
        contract.end_date is not None and (end is None or end > contract.end_date or start > contract.end_date)
    ):
        raise ValidationError({field: OUTSIDE_CONTRACT})


@transaction.atomic
def coverage_add(
    *,
    contract: Contract,
    asset: Asset,
    start_date: datetime.date,
    by: User | None,
    end_date: datetime.date | None = None,
) -> ContractAsset:
    """Cover ``asset`` from ``start_date`` (until ``end_date``, or open)."""
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    if contract.status == ContractStatus.ENDED:
        raise ValidationError(ENDED_CONTRACT)
    if asset.customer_id != contract.customer_id:
        raise ValidationError({"asset": ASSET_OF_ANOTHER_CUSTOMER})
    _check_dates(start_date, end_date)
    _within_contract(contract, start_date, end_date if end_date is not None else contract.end_date, "start_date")
    overlapping = ContractAsset.objects.filter(contract=contract, asset=asset).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=start_date)
    )
    if end_date is not None:
        overlapping = overlapping.filter(start_date__lte=end_date)
    if overlapping.exists():
        raise ValidationError({"asset": ALREADY_COVERED})
    link = ContractAsset(contract=contract, asset=asset, start_date=start_date, end_date=end_date)
    link.full_clean()
    link.save()
    _audit(link, contract=contract, action=AuditAction.CREATED, before=None, by=by)
    return link


@transaction.atomic
def coverage_end(*, coverage: ContractAsset, end_date: datetime.date, by: User | None) -> ContractAsset:
    """Stop covering the asset after ``end_date`` (the asset left the contract)."""
    coverage = ContractAsset.objects.select_for_update().select_related("contract").get(pk=coverage.pk)
    before = _snapshot(coverage)
    _check_dates(coverage.start_date, end_date)
    coverage.end_date = end_date
    coverage.save(update_fields=["end_date", "updated_at"])
    _audit(coverage, contract=coverage.contract, action=AuditAction.CHANGED, before=before, by=by)
    return coverage


# --- Price components -------------------------------------------------------------------------------------------


def _tiers(values: Iterable[tuple]) -> list[tuple[Decimal, Decimal]]:
    try:
        tiers = [(Decimal(str(start)), Decimal(str(rate))) for start, rate in values]
    except (InvalidOperation, TypeError, ValueError) as error:
        raise ValidationError({"tiers": NOT_A_NUMBER}) from error
    starts = [start for start, _rate in tiers]
    if any(start < 0 for start in starts) or any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        raise ValidationError({"tiers": TIERS_NOT_INCREASING})
    if any(rate < 0 for _start, rate in tiers):
        raise ValidationError({"tiers": NOT_A_NUMBER})
    return tiers


def _check_component(component: PriceComponent, contract: Contract, tiers: list) -> None:
    errors: dict[str, list] = {}
    if component.kind in METERED_KINDS and not component.meter:
        errors.setdefault("meter", []).append(METER_REQUIRED)
    if component.kind not in METERED_KINDS and component.meter:
        errors.setdefault("meter", []).append(NO_METER_HERE)
    if tiers and component.kind not in METERED_KINDS:
        errors.setdefault("tiers", []).append(TIERS_ONLY_METERED)
    if component.kind == ComponentKind.ONE_OFF and component.charge_date is None:
        errors.setdefault("charge_date", []).append(CHARGE_DATE_REQUIRED)
    if component.kind == ComponentKind.SAVING_SHARE:
        if component.share_percent is None:
            errors.setdefault("share_percent", []).append(SHARE_REQUIRED)
        if contract.baseline_monthly_cost is None:
            errors.setdefault("share_percent", []).append(BASELINE_REQUIRED)
    if component.outcome_target is not None and component.kind not in OUTCOME_KINDS:
        errors.setdefault("outcome_target", []).append(TARGET_ONLY_OUTCOMES)
    if component.valid_to is not None and component.valid_to < component.valid_from:
        errors.setdefault("valid_to", []).append(ENDS_BEFORE_START)
    if errors:
        raise ValidationError(errors)
    _within_contract(contract, component.valid_from, component.valid_to or contract.end_date, "valid_from")


def _component_create(
    *, contract: Contract, by: User | None, tiers: Sequence[tuple] = (), amendment=None, **fields
) -> PriceComponent:
    bands = _tiers(tiers)
    component = PriceComponent(contract=contract, amendment=amendment, **fields)
    _check_component(component, contract, bands)
    component.full_clean(exclude=["contract", "amendment"])
    component.save()
    PriceTier.objects.bulk_create(PriceTier(component=component, from_units=start, rate=rate) for start, rate in bands)
    _audit(component, contract=contract, action=AuditAction.CREATED, before=None, by=by)
    return component


@transaction.atomic
def component_add(*, contract: Contract, by: User | None, tiers: Sequence[tuple] = (), **fields) -> PriceComponent:
    """A price component of the contract (``fields``: the ``PriceComponent`` fields; ``tiers``: (from units,
    rate) bands of a metered component). ``valid_from`` defaults to the contract's start."""
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    if contract.status == ContractStatus.ENDED:
        raise ValidationError(ENDED_CONTRACT)
    fields.setdefault("valid_from", contract.start_date)
    return _component_create(contract=contract, by=by, tiers=tiers, **fields)


def _component_end(*, component: PriceComponent, last_day: datetime.date, by: User | None) -> PriceComponent:
    if last_day < component.valid_from or (component.valid_to is not None and component.valid_to < last_day):
        raise ValidationError({"ends": ALREADY_ENDED})
    before = _snapshot(component)
    component.valid_to = last_day
    component.save(update_fields=["valid_to", "updated_at"])
    _audit(component, contract=component.contract, action=AuditAction.CHANGED, before=before, by=by)
    return component


@transaction.atomic
def contract_amend(
    *,
    contract: Contract,
    effective_date: datetime.date,
    description: str,
    by: User | None,
    ends: Sequence[PriceComponent] = (),
    adds: Sequence[dict] = (),
    assets_in: Sequence[Asset] = (),
    assets_out: Sequence[ContractAsset] = (),
) -> ContractAmendment:
    """An amendment effective on ``effective_date``, applied in one transaction: the components in ``ends`` stop
    the day before, those in ``adds`` (dicts of ``component_add`` arguments) start on it, the assets in
    ``assets_in`` join and the coverages in ``assets_out`` end the day before. Numbered per contract."""
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    if contract.status == ContractStatus.ENDED:
        raise ValidationError(ENDED_CONTRACT)
    if not (ends or adds or assets_in or assets_out):
        raise ValidationError(EMPTY_AMENDMENT)
    _within_contract(contract, effective_date, effective_date, "effective_date")
    number = (ContractAmendment.objects.filter(contract=contract).aggregate(last=Max("number"))["last"] or 0) + 1
    amendment = ContractAmendment(
        contract=contract, number=number, effective_date=effective_date, description=description, created_by=by
    )
    amendment.full_clean(exclude=["contract", "created_by"])
    amendment.save()
    _audit(amendment, contract=contract, action=AuditAction.CREATED, before=None, by=by)
    day_before = effective_date - datetime.timedelta(days=1)
    for component in ends:
        if component.contract_id != contract.pk:
            raise ValidationError({"ends": COMPONENT_OF_ANOTHER_CONTRACT})
        _component_end(component=component, last_day=day_before, by=by)
    for spec in adds:
        spec = {"valid_from": effective_date, **spec}
        _component_create(contract=contract, by=by, amendment=amendment, **spec)
    for asset in assets_in:
        coverage_add(contract=contract, asset=asset, start_date=effective_date, by=by)
    for coverage in assets_out:
        if coverage.contract_id != contract.pk:
            raise ValidationError({"assets_out": COMPONENT_OF_ANOTHER_CONTRACT})
        coverage_end(coverage=coverage, end_date=day_before, by=by)
    return amendment
