"""Preventive plans and statutory inspections: due dates, the daily task that opens work orders ahead,
inspection records and their certificates.

**Which assets a plan covers.** A plan for one asset covers that asset; a plan for an asset model covers the
in-service assets of that model of the plan's customer, or of all the provider's customers when it has none.

**When an occurrence is due.** A plan's ``starts_on`` is where counting starts; the first occurrence is due one
interval after it. Per covered asset, whichever trigger comes first:

- *days, fixed schedule*: the next ``starts_on + k * interval_days`` (k >= 1) after the last occurrence's due
  date; slots missed entirely collapse into the latest one on or before today (one catch-up order, not many).
- *days, floating schedule*: one interval after the last completion of this plan on this asset (the completion
  date of the last finished occurrence's work order; a cancelled occurrence counts from its due date so it is
  not asked for again). For a statutory plan the latest inspection record of its kind counts as a completion,
  and its ``next_due_on`` (one year or one calendar month later) is the due date.
- *meter units*: the meter value of the last completion (a meter read taken on site with that work order, else
  the value the occurrence was due at; fixed schedules count from the plan's start) plus ``interval_units``,
  turned into a date with the asset's average daily usage over the last 90 days (``telemetry.usage``). Without
  usage data (or without usage in those 90 days) the meter trigger is ignored and the basis says so.

The ``basis`` text says which trigger decided and how.

**The daily task** opens a work order (``work_order_create``, source "preventive plan", by the system) for each
asset whose due date falls within the plan's lead time, and records the ``PlanOccurrence``. The unique
constraint (plan, asset, due date) is the guard: the occurrence row is inserted first, in a savepoint, so a
second run (or a concurrent one, which waits on the plan's row lock and then on the index) finds it and opens
nothing. While an earlier occurrence's work order of the same plan and asset is still open, no new occurrence
is opened. Reads are set-based: a constant number of queries per plan, whatever the number of assets.
"""

import datetime
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Case, Count, Exists, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from accounts.roles import Capability
from assets.choices import ASSET_IN_SERVICE_STATES
from assets.models import Asset
from fleet.pdf import render_pdf
from fleet.tenancy import access_for
from maintenance.choices import (
    WORK_ORDER_OPEN_STATES,
    InspectionResult,
    ScheduleMode,
    StatutoryInspection,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)
from maintenance.models import (
    InspectionRecord,
    PlanOccurrence,
    PreventivePlan,
    WorkOrder,
    WorkOrderChecklistItem,
    WorkOrderMeterRead,
)
from telemetry.choices import Meter
from telemetry.usage import usage_series

logger = logging.getLogger(__name__)

USAGE_WINDOW_DAYS = 90
# Bounds that keep every date computed from a plan or record within the calendar.
MAX_INTERVAL_DAYS = 3660
MAX_INTERVAL_UNITS = 100_000_000
MAX_LEAD_DAYS = 365
MAX_FORECAST_DAYS = 3660
EARLIEST_DATE = datetime.date(1990, 1, 1)
LATEST_START = datetime.date(2100, 12, 31)
DONE_STATES = (WorkOrderStatus.COMPLETED, WorkOrderStatus.CLOSED)
CERTIFICATE_FORMAT = "SJ-{year}-{asset_id}-{number}"

PLAN_NEEDS_TARGET = _("Choose an asset model or one asset.")
PLAN_MODEL_AND_ASSET = _("Choose an asset model or one asset, not both.")
PLAN_NEEDS_INTERVAL = _("Give a number of days, a number of meter units, or both.")
PLAN_UNITS_NEED_METER = _("Choose the meter the units are counted on.")
PLAN_METER_NEEDS_UNITS = _("Give the number of meter units between occurrences.")
PLAN_INTERVAL_POSITIVE = _("The interval must be at least 1.")
PLAN_INTERVAL_TOO_LONG = _("The interval can be at most %(limit)s.")
PLAN_LEAD_TOO_LONG = _("The lead time can be at most %(limit)s days.")
PLAN_START_OUT_OF_RANGE = _("Choose a start date between 1990 and 2100.")
PLAN_STATUTORY_NEEDS_DAYS = _("A statutory inspection plan needs an interval in days.")
PLAN_STATUTORY_KIND = _("A statutory inspection plan opens inspection work orders.")
PLAN_ASSET_NOT_OF_CUSTOMER = _("The asset does not belong to the plan's customer.")
PLAN_NOT_OF_PROVIDER = _("The customer is not one of your customers.")
PLAN_HAS_OCCURRENCES = _("This plan has already opened work orders: deactivate it instead.")
NOT_ALLOWED_TO_MANAGE_PLANS = _("You may not manage preventive plans.")

INSPECTION_NOT_STATUTORY = _("Choose the statutory inspection this record is for.")
INSPECTION_IN_FUTURE = _("An inspection cannot be recorded for a future date.")
INSPECTION_TOO_OLD = _("An inspection before 1990 cannot be recorded.")
INSPECTION_NOT_ALLOWED = _("You may not record inspections for this asset.")
INSPECTION_WRONG_WORK_ORDER = _("The work order is not an inspection of this asset.")
INSPECTION_ALREADY_RECORDED = _("An inspection record already exists for this work order.")
INSPECTION_WORK_ORDER_CANCELLED = _("The work order was cancelled.")
INSPECTION_NEEDS_INSPECTOR = _("Name the inspector.")


# --- Dates -------------------------------------------------------------------------------------------------------


def add_months(day: datetime.date, months: int) -> datetime.date:
    """``day`` moved by whole calendar months, kept within the target month (Jan 31 + 1 month = Feb 28/29)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - day 28 exists in every month


def inspection_next_due(*, kind: str, inspected_on: datetime.date) -> datetime.date:
    """When the next inspection of ``kind`` is due: one year after an annual one, one month after a monthly one."""
    if kind == StatutoryInspection.ANNUAL_SPECIFIC:
        return add_months(inspected_on, 12)
    return add_months(inspected_on, 1)


def _date_text(day: datetime.date) -> str:
    return day.isoformat()


def _number_text(value: Decimal, decimals: int = 0) -> str:
    quantum = Decimal(1).scaleb(-decimals)
    return formats.number_format(value.quantize(quantum), decimal_pos=decimals, use_l10n=True, force_grouping=True)


# --- Plans: who sees them, creating and changing them --------------------------------------------------------------


def preventive_plan_list(*, user: User) -> QuerySet[PreventivePlan]:
    """The plans ``user`` sees: provider-side only.

    Provider admins and the service desk see all their provider's plans; account managers those of their
    customers and the provider-wide ones (which cover their customers too); technicians and customers' users
    see no plans (customers see the inspection records and the work orders of their own assets instead)."""
    return PreventivePlan.objects.visible_to(user).select_related(
        "customer", "asset_model", "asset", "checklist_template"
    )


def _check_may_manage(by: User, provider_id: int) -> None:
    access = access_for(by)
    if (
        access is None
        or not access.is_provider_staff
        or access.provider_id != provider_id
        or not access.can(Capability.MANAGE_CUSTOMERS)
    ):
        raise ValidationError(NOT_ALLOWED_TO_MANAGE_PLANS)


PLAN_FIELDS = (
    "name",
    "customer",
    "asset_model",
    "asset",
    "kind",
    "statutory",
    "interval_days",
    "meter",
    "interval_units",
    "schedule",
    "starts_on",
    "lead_days",
    "priority",
    "checklist_template",
    "active",
)


def _plan_clean(plan: PreventivePlan) -> None:
    """The plan's own rules, as field errors: model xor asset, an interval, units with a meter, statutory rules."""
    errors: dict[str, list] = {}
    if plan.asset_model_id is None and plan.asset_id is None:
        errors.setdefault("asset_model", []).append(PLAN_NEEDS_TARGET)
    if plan.asset_model_id is not None and plan.asset_id is not None:
        errors.setdefault("asset", []).append(PLAN_MODEL_AND_ASSET)
    if plan.interval_days is None and plan.interval_units is None:
        errors.setdefault("interval_days", []).append(PLAN_NEEDS_INTERVAL)
    if plan.interval_days is not None and plan.interval_days < 1:
        errors.setdefault("interval_days", []).append(PLAN_INTERVAL_POSITIVE)
    if plan.interval_units is not None and plan.interval_units < 1:
        errors.setdefault("interval_units", []).append(PLAN_INTERVAL_POSITIVE)
    if plan.interval_days is not None and plan.interval_days > MAX_INTERVAL_DAYS:
        errors.setdefault("interval_days", []).append(
            ValidationError(PLAN_INTERVAL_TOO_LONG, params={"limit": MAX_INTERVAL_DAYS})
        )
    if plan.interval_units is not None and plan.interval_units > MAX_INTERVAL_UNITS:
        errors.setdefault("interval_units", []).append(
            ValidationError(PLAN_INTERVAL_TOO_LONG, params={"limit": MAX_INTERVAL_UNITS})
        )
    if plan.lead_days is not None and plan.lead_days > MAX_LEAD_DAYS:
        errors.setdefault("lead_days", []).append(ValidationError(PLAN_LEAD_TOO_LONG, params={"limit": MAX_LEAD_DAYS}))
    if plan.starts_on is not None and not EARLIEST_DATE <= plan.starts_on <= LATEST_START:
        errors.setdefault("starts_on", []).append(PLAN_START_OUT_OF_RANGE)
    if plan.interval_units is not None and not plan.meter:
        errors.setdefault("meter", []).append(PLAN_UNITS_NEED_METER)
    if plan.meter and plan.interval_units is None:
        errors.setdefault("interval_units", []).append(PLAN_METER_NEEDS_UNITS)
    if plan.statutory:
        if plan.interval_days is None:
            errors.setdefault("interval_days", []).append(PLAN_STATUTORY_NEEDS_DAYS)
        if plan.kind != WorkOrderKind.INSPECTION:
            errors.setdefault("kind", []).append(PLAN_STATUTORY_KIND)
    if plan.customer_id is not None and plan.customer.provider_id != plan.provider_id:
        errors.setdefault("customer", []).append(PLAN_NOT_OF_PROVIDER)
    if plan.asset_id is not None:
        if plan.asset.customer.provider_id != plan.provider_id:
            errors.setdefault("asset", []).append(PLAN_NOT_OF_PROVIDER)
        elif plan.customer_id is not None and plan.asset.customer_id != plan.customer_id:
            errors.setdefault("asset", []).append(PLAN_ASSET_NOT_OF_CUSTOMER)
    if errors:
        raise ValidationError(errors)
    if plan.asset_id is not None:
        plan.customer_id = plan.asset.customer_id  # a plan for one asset belongs to that asset's customer


@transaction.atomic
def preventive_plan_create(*, by: User, **fields) -> PreventivePlan:
    """A new plan of ``by``'s provider (provider admins: the MANAGE_CUSTOMERS capability)."""
    access = access_for(by)
    _check_may_manage(by, access.provider_id if access else -1)
    plan = PreventivePlan(provider_id=access.provider_id, **{k: v for k, v in fields.items() if k in PLAN_FIELDS})
    _plan_clean(plan)
    plan.full_clean()
    plan.save()
    return plan


@transaction.atomic
def preventive_plan_update(*, plan: PreventivePlan, by: User, **fields) -> PreventivePlan:
    """Change a plan; occurrences already opened keep their work orders."""
    _check_may_manage(by, plan.provider_id)
    for name, value in fields.items():
        if name in PLAN_FIELDS:
            setattr(plan, name, value)
    _plan_clean(plan)
    plan.full_clean()
    plan.save()
    return plan


@transaction.atomic
def preventive_plan_set_active(*, plan: PreventivePlan, by: User, active: bool) -> PreventivePlan:
    """Deactivate (or reactivate) a plan: an inactive plan opens no more work orders."""
    _check_may_manage(by, plan.provider_id)
    plan.active = active
    plan.save(update_fields=["active", "updated_at"])
    return plan


@transaction.atomic
def preventive_plan_delete(*, plan: PreventivePlan, by: User) -> None:
    """Delete a plan that never opened a work order; one with history is deactivated instead."""
    _check_may_manage(by, plan.provider_id)
    if plan.occurrences.exists():
        raise ValidationError(PLAN_HAS_OCCURRENCES)
    plan.delete()


# --- Due dates -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """When a plan is next due on one asset, and why. ``due_on`` is None when no trigger can be computed."""

    plan_id: int
    asset: Asset
    due_on: datetime.date | None
    due_meter_value: Decimal | None
    basis: str
    open_work_order: WorkOrder | None = None  # an earlier occurrence still being worked on blocks the next


def plan_assets(plan: PreventivePlan) -> QuerySet[Asset]:
    """The assets a plan covers (in service), with what a work order needs."""
    assets = Asset.objects.filter(status__in=ASSET_IN_SERVICE_STATES).select_related("customer", "site")
    if plan.asset_id is not None:
        return assets.filter(pk=plan.asset_id)
    assets = assets.filter(asset_model_id=plan.asset_model_id, customer__provider_id=plan.provider_id)
    if plan.customer_id is not None:
        assets = assets.filter(customer_id=plan.customer_id)
    return assets.order_by("serial_number", "pk")


def _end_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min))


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@dataclass
class _History:
    """What the occurrences (and inspection records) of one plan on one asset say."""

    last_due_on: datetime.date | None = None
    last_due_meter: Decimal | None = None
    done_on: datetime.date | None = None
    done_meter: Decimal | None = None
    done_what: str = ""
    next_by_record: datetime.date | None = None
    open_work_order: WorkOrder | None = None


def _histories(plan: PreventivePlan, assets: list[Asset]) -> dict[int, _History]:
    """Per asset, the plan's last occurrence, last completion and any open occurrence (two or three queries)."""
    histories = {asset.pk: _History() for asset in assets}
    occurrences = (
        PlanOccurrence.objects.filter(plan=plan)
        .select_related("work_order")
        .only(
            "asset_id",
            "due_on",
            "due_meter_value",
            "work_order__id",
            "work_order__number",
            "work_order__status",
            "work_order__completed_at",
        )
        .order_by("asset_id", "due_on", "id")
    )
    meter_reads = {}
    if plan.meter:
        meter_reads = dict(
            WorkOrderMeterRead.objects.filter(work_order__plan_occurrence__plan=plan, reading__meter=plan.meter)
            .order_by("work_order_id", "reading__taken_at")
            .values_list("work_order_id", "reading__value")
        )
    for occurrence in occurrences:
        history = histories.get(occurrence.asset_id)
        if history is None:
            continue
        history.last_due_on = occurrence.due_on
        history.last_due_meter = occurrence.due_meter_value
        work_order = occurrence.work_order
        if work_order is not None and work_order.status in WORK_ORDER_OPEN_STATES:
            history.open_work_order = work_order
            continue
        if work_order is not None and work_order.status in DONE_STATES and work_order.completed_at:
            done_on = timezone.localdate(work_order.completed_at)
            what = gettext("last completed on %(date)s (%(number)s)") % {
                "date": _date_text(done_on),
                "number": work_order.number,
            }
            done_meter = meter_reads.get(work_order.pk, occurrence.due_meter_value)
        else:  # cancelled, or its work order was deleted: counted from its due date so it is not asked again
            done_on = occurrence.due_on
            what = gettext("last due on %(date)s (not done)") % {"date": _date_text(done_on)}
            done_meter = occurrence.due_meter_value
        if history.done_on is None or done_on >= history.done_on:
            history.done_on, history.done_meter, history.done_what = done_on, done_meter, what
    if plan.statutory:
        records = (
            InspectionRecord.objects.filter(asset_id__in=plan_assets(plan).values("pk"), kind=plan.statutory)
            .order_by("asset_id", "-inspected_on", "-id")
            .values_list("asset_id", "inspected_on", "next_due_on")
        )
        seen = set()
        for asset_id, inspected_on, next_due_on in records:
            if asset_id in seen:
                continue
            seen.add(asset_id)
            history = histories.get(asset_id)
            if history is None:
                continue
            if history.done_on is None or inspected_on >= history.done_on:
                history.done_on = inspected_on
                history.next_by_record = next_due_on
                history.done_what = gettext("inspected on %(date)s") % {"date": _date_text(inspected_on)}
    return histories


@dataclass(frozen=True)
class _Meter:
    """An asset's counter now, at the plan's start, and its daily rate over the usage window."""

    now_value: Decimal
    origin_value: Decimal
    daily_rate: Decimal


def _meters(plan: PreventivePlan, asset_ids: list[int], today: datetime.date) -> dict[int, _Meter]:
    """The counters and daily rates of the plan's meter for all its assets (the usage service: two or three queries)."""
    if not plan.meter or not plan.interval_units or not asset_ids:
        return {}
    now = _end_of(today)
    window_start = now - datetime.timedelta(days=USAGE_WINDOW_DAYS)
    origin = min(_start_of(plan.starts_on), now - datetime.timedelta(seconds=1))
    boundaries = sorted({origin, window_start, now})
    origin_index, window_index = boundaries.index(origin), boundaries.index(window_start)
    series = usage_series(asset_ids=asset_ids, meters=[plan.meter], boundaries=boundaries, now=now)
    meters = {}
    for (asset_id, _meter), periods in series.items():
        if periods[-1] is None:
            continue
        window = [period for period in periods[window_index:] if period is not None]
        usage = sum((period.usage for period in window), Decimal(0))
        origin_value = _counter_at(periods, origin_index)
        meters[asset_id] = _Meter(
            now_value=periods[-1].end_value,
            origin_value=origin_value if origin_value is not None else periods[-1].start_value,
            daily_rate=usage / USAGE_WINDOW_DAYS,
        )
    return meters


def _counter_at(periods: list, index: int) -> Decimal | None:
    """The counter at boundary ``index`` of a usage series (the start of period ``index``, or the previous end)."""
    if index < len(periods) and periods[index] is not None:
        return periods[index].start_value
    if index > 0 and periods[index - 1] is not None:
        return periods[index - 1].end_value
    for period in periods[index:]:
        if period is not None:  # the device first reported later: counting starts at its first reading
            return period.start_value
    return None


def _by_days(plan: PreventivePlan, history: _History, today: datetime.date) -> tuple[datetime.date, str] | None:
    if plan.interval_days is None:
        return None
    interval = plan.interval_days
    if plan.statutory and history.next_by_record is not None:
        return history.next_by_record, gettext("%(what)s: next due %(date)s") % {
            "what": history.done_what,
            "date": _date_text(history.next_by_record),
        }
    if plan.schedule == ScheduleMode.FIXED:
        after = history.last_due_on or plan.starts_on
        slot = max((after - plan.starts_on).days // interval + 1, 1)
        latest_passed = (today - plan.starts_on).days // interval
        slot = max(slot, latest_passed)
        due = plan.starts_on + datetime.timedelta(days=slot * interval)
        return due, gettext("every %(days)s days from %(start)s") % {
            "days": interval,
            "start": _date_text(plan.starts_on),
        }
    if history.done_on is not None:
        due = history.done_on + datetime.timedelta(days=interval)
        return due, gettext("%(days)s days after %(what)s") % {"days": interval, "what": history.done_what}
    due = plan.starts_on + datetime.timedelta(days=interval)
    return due, gettext("%(days)s days from the plan's start on %(start)s") % {
        "days": interval,
        "start": _date_text(plan.starts_on),
    }


def _by_meter(
    plan: PreventivePlan, history: _History, meter: _Meter | None, today: datetime.date
) -> tuple[datetime.date | None, Decimal | None, str] | None:
    if not plan.interval_units or not plan.meter:
        return None
    meter_label = Meter(plan.meter).label if plan.meter in Meter.values else plan.meter
    if meter is None:
        return None, None, gettext("no usage data for %(meter)s: the meter trigger is ignored") % {"meter": meter_label}
    units = Decimal(plan.interval_units)
    if plan.schedule == ScheduleMode.FIXED:
        after = history.last_due_meter if history.last_due_meter is not None else meter.origin_value
        slot = max(int((after - meter.origin_value) // units) + 1, 1)
        slot = max(slot, int((meter.now_value - meter.origin_value) // units))
        due_meter = meter.origin_value + slot * units
    else:
        base = history.done_meter if history.done_meter is not None else meter.origin_value
        due_meter = base + units
    if meter.now_value >= due_meter:
        return (
            today,
            due_meter,
            gettext("at %(value)s %(meter)s: reached (now %(now)s)")
            % {
                "value": _number_text(due_meter),
                "meter": meter_label,
                "now": _number_text(meter.now_value),
            },
        )
    if meter.daily_rate <= 0:
        return (
            None,
            due_meter,
            gettext("at %(value)s %(meter)s: no usage in the last %(days)s days")
            % {
                "value": _number_text(due_meter),
                "meter": meter_label,
                "days": USAGE_WINDOW_DAYS,
            },
        )
    days = math.ceil((due_meter - meter.now_value) / meter.daily_rate)
    if days > MAX_FORECAST_DAYS:
        return (
            None,
            due_meter,
            gettext("at %(value)s %(meter)s: not within %(days)s days at %(rate)s/day")
            % {
                "value": _number_text(due_meter),
                "meter": meter_label,
                "days": MAX_FORECAST_DAYS,
                "rate": _number_text(meter.daily_rate, 2),
            },
        )
    due = today + datetime.timedelta(days=days)
    return (
        due,
        due_meter,
        gettext("at %(value)s %(meter)s: ≈ %(date)s at %(rate)s/day")
        % {
            "value": _number_text(due_meter),
            "meter": meter_label,
            "date": _date_text(due),
            "rate": _number_text(meter.daily_rate, 1 if meter.daily_rate < 100 else 0),
        },
    )


def plan_schedule(*, plan: PreventivePlan, today: datetime.date, assets: Iterable[Asset] | None = None) -> list[Due]:
    """When ``plan`` is next due on each asset it covers, with the basis (a constant number of queries)."""
    assets = list(plan_assets(plan) if assets is None else assets)
    histories = _histories(plan, assets)
    meters = _meters(plan, [asset.pk for asset in assets], today)
    schedule = []
    for asset in assets:
        history = histories[asset.pk]
        by_days = _by_days(plan, history, today)
        by_meter = _by_meter(plan, history, meters.get(asset.pk), today)
        candidates = []
        if by_days is not None:
            candidates.append((by_days[0], None, by_days[1]))
        if by_meter is not None:
            candidates.append(by_meter)
        dated = sorted((c for c in candidates if c[0] is not None), key=lambda c: c[0])
        due_on, due_meter = (dated[0][0], dated[0][1]) if dated else (None, None)
        if dated and by_meter is not None and by_meter[1] is not None:
            due_meter = by_meter[1]
        texts = [c[2] for c in dated] + [c[2] for c in candidates if c[0] is None]
        basis = "; ".join(texts)
        if len(dated) > 1:
            basis = gettext("%(basis)s (whichever comes first)") % {"basis": basis}
        schedule.append(
            Due(
                plan_id=plan.pk,
                asset=asset,
                due_on=due_on,
                due_meter_value=due_meter,
                basis=basis[:300],
                open_work_order=history.open_work_order,
            )
        )
    return schedule


# --- The daily task ------------------------------------------------------------------------------------------------


def _description(plan: PreventivePlan, due: Due) -> str:
    return gettext("%(plan)s, due %(date)s: %(basis)s") % {
        "plan": plan.name,
        "date": _date_text(due.due_on),
        "basis": due.basis,
    }


def _add_plan_checklist(plan: PreventivePlan, work_order: WorkOrder) -> None:
    """The plan's own checklist, after any items the work order already has (texts already there are skipped)."""
    if plan.checklist_template_id is None:
        return
    existing = list(work_order.checklist.values_list("position", "text"))
    texts = {text for _position, text in existing}
    start = max((position for position, _text in existing), default=-1) + 1
    items = [item for item in plan.checklist_template.items.order_by("position", "id") if item.text not in texts]
    WorkOrderChecklistItem.objects.bulk_create(
        WorkOrderChecklistItem(work_order=work_order, position=start + offset, text=item.text, critical=item.critical)
        for offset, item in enumerate(items)
    )


@transaction.atomic
def plan_occurrence_open(*, plan: PreventivePlan, due: Due) -> tuple[PlanOccurrence, bool]:
    """Record the occurrence and open its work order; an occurrence already there is returned as it is.

    The occurrence row goes in first, inside a savepoint: the unique constraint (plan, asset, due date) lets
    only one of two concurrent runs insert it, and the other gets the existing row and opens nothing."""
    asset = due.asset
    try:
        with transaction.atomic():
            occurrence = PlanOccurrence.objects.create(
                plan=plan, asset=asset, due_on=due.due_on, due_meter_value=due.due_meter_value, basis=due.basis
            )
    except IntegrityError:
        return PlanOccurrence.objects.get(plan=plan, asset=asset, due_on=due.due_on), False
    from maintenance.services import work_order_create

    work_order = work_order_create(
        customer=asset.customer,
        site=asset.site,
        asset=asset,
        kind=plan.kind,
        priority=plan.priority,
        source=WorkOrderSource.PREVENTIVE_PLAN,
        description=_description(plan, due),
        by=None,
    )
    _add_plan_checklist(plan, work_order)
    occurrence.work_order = work_order
    occurrence.save(update_fields=["work_order"])
    return occurrence, True


def preventive_plan_run(*, plan: PreventivePlan, today: datetime.date) -> list[PlanOccurrence]:
    """Open the occurrences of one plan due within its lead time; returns those opened now."""
    opened = []
    with transaction.atomic():
        # Two runs at once take turns per plan: the second sees the first's occurrences once it gets the lock.
        plan = PreventivePlan.objects.select_for_update().get(pk=plan.pk)
        if not plan.active:
            return []
        horizon = today + datetime.timedelta(days=plan.lead_days)
        for due in plan_schedule(plan=plan, today=today):
            if due.due_on is None or due.open_work_order is not None or due.due_on > horizon:
                continue
            try:
                occurrence, created = plan_occurrence_open(plan=plan, due=due)
            except ValidationError as error:
                logger.warning("Plan %s could not open a work order for asset %s: %s", plan.pk, due.asset.pk, error)
                continue
            if created:
                opened.append(occurrence)
    return opened


def preventive_plans_run(*, today: datetime.date | None = None) -> list[PlanOccurrence]:
    """The daily run over every active plan: opens the work orders due within each plan's lead time.

    Idempotent: a second run the same day (or a concurrent one) opens nothing new."""
    today = today or timezone.localdate()
    opened = []
    for plan in PreventivePlan.objects.filter(active=True).order_by("pk"):
        opened.extend(preventive_plan_run(plan=plan, today=today))
    return opened


@shared_task(ignore_result=True, soft_time_limit=1800, time_limit=1900)
def preventive_plans_task(today: str | None = None) -> int:
    """Beat, daily: open the upcoming preventive and inspection work orders. Idempotent."""
    day = datetime.date.fromisoformat(today) if today else timezone.localdate()
    return len(preventive_plans_run(today=day))


# --- Statutory inspections -----------------------------------------------------------------------------------------


def _may_record(by: User, asset: Asset, work_order: WorkOrder | None) -> bool:
    access = access_for(by)
    if access is None or not access.is_provider_staff or access.provider_id != asset.customer.provider_id:
        return False
    if access.can(Capability.DISPATCH_WORK):
        return True
    return (
        work_order is not None
        and access.can(Capability.UPDATE_ASSIGNED_WORK)
        and work_order.assigned_to_id == by.pk
        and work_order.kind == WorkOrderKind.INSPECTION
    )


def inspection_may_record(*, user: User, work_order: WorkOrder) -> bool:
    """Whether ``user`` may record the inspection of ``work_order`` now (the page shows the form then)."""
    return (
        work_order.asset_id is not None
        and work_order.kind == WorkOrderKind.INSPECTION
        and work_order.status != WorkOrderStatus.CANCELLED
        and _may_record(user, work_order.asset, work_order)
    )


def _certificate_number(asset: Asset, inspected_on: datetime.date) -> str:
    count = (
        InspectionRecord.objects.filter(
            asset=asset, kind=StatutoryInspection.ANNUAL_SPECIFIC, inspected_on__year=inspected_on.year
        )
        .exclude(certificate_number="")
        .count()
    )
    return CERTIFICATE_FORMAT.format(year=inspected_on.year, asset_id=asset.pk, number=count + 1)


@transaction.atomic
def inspection_record_create(
    *,
    asset: Asset,
    kind: str,
    work_order: WorkOrder | None = None,
    inspected_on: datetime.date,
    inspector: User | None,
    inspector_name: str = "",
    qualification: str = "",
    result: str,
    findings: str = "",
    by: User | None,
    today: datetime.date | None = None,
) -> InspectionRecord:
    """Record a statutory inspection of ``asset``: when the next is due, and a certificate number for a passed
    annual specific self-inspection. Dispatching staff record any time; a technician on the inspection work
    orders assigned to them. ``by=None`` is the system (the demo)."""
    if kind not in (StatutoryInspection.ANNUAL_SPECIFIC, StatutoryInspection.MONTHLY_SELF):
        raise ValidationError({"kind": [INSPECTION_NOT_STATUTORY]})
    if by is not None and not _may_record(by, asset, work_order):
        raise ValidationError(INSPECTION_NOT_ALLOWED)
    if work_order is not None:
        if work_order.asset_id != asset.pk or work_order.kind != WorkOrderKind.INSPECTION:
            raise ValidationError({"work_order": [INSPECTION_WRONG_WORK_ORDER]})
        if work_order.status == WorkOrderStatus.CANCELLED:
            raise ValidationError({"work_order": [INSPECTION_WORK_ORDER_CANCELLED]})
        if InspectionRecord.objects.filter(work_order=work_order).exists():
            raise ValidationError({"work_order": [INSPECTION_ALREADY_RECORDED]})
    if inspected_on > (today or timezone.localdate()):
        raise ValidationError({"inspected_on": [INSPECTION_IN_FUTURE]})
    if inspected_on < EARLIEST_DATE:
        raise ValidationError({"inspected_on": [INSPECTION_TOO_OLD]})
    inspector_name = inspector_name.strip() or (
        (inspector.get_full_name() or inspector.email) if inspector is not None else ""
    )
    if not inspector_name:
        raise ValidationError({"inspector_name": [INSPECTION_NEEDS_INSPECTOR]})
    certificate = ""
    if kind == StatutoryInspection.ANNUAL_SPECIFIC and result == InspectionResult.PASSED:
        certificate = _certificate_number(asset, inspected_on)
    record = InspectionRecord(
        asset=asset,
        kind=kind,
        work_order=work_order,
        inspected_on=inspected_on,
        inspector=inspector,
        inspector_name=inspector_name,
        inspector_qualification=qualification.strip(),
        result=result,
        findings=findings.strip(),
        certificate_number=certificate,
        next_due_on=inspection_next_due(kind=kind, inspected_on=inspected_on),
    )
    record.full_clean()
    record.save()
    return record


def inspection_record_list(*, user: User) -> QuerySet[InspectionRecord]:
    """The inspection records of the assets ``user`` sees."""
    return InspectionRecord.objects.visible_to(user).select_related(
        "asset", "asset__customer", "asset__site", "asset__asset_model", "work_order"
    )


STATUTORY_KINDS = {
    "annual": StatutoryInspection.ANNUAL_SPECIFIC,
    "monthly": StatutoryInspection.MONTHLY_SELF,
}


def _covering_plans(kind: str) -> QuerySet[PreventivePlan]:
    """Active statutory plans of ``kind`` covering the outer asset (as a correlated subquery)."""
    model_plan = Q(
        asset__isnull=True,
        asset_model_id=OuterRef("asset_model_id"),
        provider_id=OuterRef("customer__provider_id"),
    ) & (Q(customer__isnull=True) | Q(customer_id=OuterRef("customer_id")))
    return PreventivePlan.objects.filter(active=True, statutory=kind).filter(Q(asset_id=OuterRef("pk")) | model_plan)


def _started_plan_ids(today: datetime.date) -> list[int]:
    """Statutory plans that started more than one interval ago: an asset they cover with no record is overdue."""
    return [
        pk
        for pk, starts_on, interval in PreventivePlan.objects.filter(active=True)
        .exclude(statutory="")
        .values_list("pk", "starts_on", "interval_days")
        if interval and starts_on + datetime.timedelta(days=interval) < today
    ]


def with_inspection_status(assets: QuerySet[Asset], *, today: datetime.date) -> QuerySet[Asset]:
    """Annotate per statutory kind (``annual_*``, ``monthly_*``): covered, last inspected, result, next due,
    overdue; and ``overdue`` for either. Overdue: covered and the latest record's next due date has passed, or
    no record while a covering plan started more than one interval ago."""
    started = _started_plan_ids(today)
    annotations = {}
    overdue_any = Q()
    for prefix, kind in STATUTORY_KINDS.items():
        latest = InspectionRecord.objects.filter(asset_id=OuterRef("pk"), kind=kind).order_by("-inspected_on", "-id")
        covering = _covering_plans(kind)
        annotations[f"{prefix}_covered"] = Exists(covering)
        annotations[f"{prefix}_last"] = Subquery(latest.values("inspected_on")[:1])
        annotations[f"{prefix}_result"] = Subquery(latest.values("result")[:1])
        annotations[f"{prefix}_certificate"] = Subquery(latest.values("certificate_number")[:1])
        annotations[f"{prefix}_record"] = Subquery(latest.values("pk")[:1])
        annotations[f"{prefix}_next"] = Subquery(latest.values("next_due_on")[:1])
    assets = assets.annotate(**annotations)
    overdue = {}
    for prefix, kind in STATUTORY_KINDS.items():
        started_covering = Exists(_covering_plans(kind).filter(pk__in=started))
        condition = Q(**{f"{prefix}_covered": True}) & (
            Q(**{f"{prefix}_next__lt": today}) | (Q(**{f"{prefix}_next__isnull": True}) & started_covering)
        )
        overdue[f"{prefix}_overdue"] = Case(
            When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
        )
        overdue_any |= Q(**{f"{prefix}_overdue": True})
    assets = assets.annotate(**overdue)
    return assets.annotate(
        overdue=Case(When(overdue_any, then=Value(True)), default=Value(False), output_field=BooleanField())
    )


def inspection_status_list(*, user: User, today: datetime.date | None = None) -> QuerySet[Asset]:
    """The in-service assets ``user`` sees that a statutory plan covers, with their inspection status."""
    today = today or timezone.localdate()
    assets = Asset.objects.visible_to(user).filter(status__in=ASSET_IN_SERVICE_STATES)
    assets = with_inspection_status(assets.select_related("customer", "site", "asset_model"), today=today)
    return assets.filter(Q(annual_covered=True) | Q(monthly_covered=True))


def inspection_overdue_counts(*, user: User, today: datetime.date | None = None) -> dict[str, int]:
    """How many covered assets ``user`` sees, and how many statutory inspections are overdue (one query)."""
    counts = inspection_status_list(user=user, today=today).aggregate(
        covered=Count("pk"),
        annual=Count("pk", filter=Q(annual_overdue=True)),
        monthly=Count("pk", filter=Q(monthly_overdue=True)),
    )
    return {**counts, "overdue": counts["annual"] + counts["monthly"]}


# --- The certificate -----------------------------------------------------------------------------------------------


class CertificateContext(TypedDict):
    record: InspectionRecord
    asset: Asset
    customer: Organisation
    provider: Organisation
    title: str
    is_certificate: bool


def inspection_certificate_render(*, record: InspectionRecord, language: str) -> bytes:
    """The PDF of an inspection record: a certificate for a passed annual specific self-inspection."""
    asset = record.asset
    customer = asset.customer
    is_certificate = bool(record.certificate_number)
    context: CertificateContext = {
        "record": record,
        "asset": asset,
        "customer": customer,
        "provider": Organisation.objects.get(pk=customer.provider_id),
        "title": "",
        "is_certificate": is_certificate,
    }
    return render_pdf(
        template_name="pdf/inspection_certificate.html",
        context=context,
        language=language,
        time_zone=customer.time_zone,
    )


def inspection_certificate_filename(record: InspectionRecord) -> str:
    name = record.certificate_number or f"inspection-{record.pk}"
    return f"{name}.pdf"
