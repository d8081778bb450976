"""Service KPIs from the work orders: uptime, MTTR, MTBF, first-time fix, preventive-maintenance compliance and
SLA achievement, per customer and month, per asset, and per contract (with the outcome achievement of
outcome-based contracts).

Months are calendar months in each customer's time zone. The definitions:

- **Uptime** = 1 − down hours / covered hours. Covered hours are the hours each asset was covered by a contract
  (not a draft; coverage dates inclusive, from local midnight to local midnight, so a day that changes to or from
  daylight-saving time has its true length): a service level promises uptime on what the provider is paid to keep
  running, as the service credits of rating measure it. Down hours are the down intervals of the asset's work
  orders clipped to its covered time, overlapping intervals merged, one still open counting up to now. An asset
  never covered has no uptime; the target is the customer's service level's (else the provider's default).
- **MTTR** (mean time to repair) = the mean length of the down intervals that ended in the month, in hours.
- **Failures** are the corrective work orders on an asset created in the month (cancelled ones are not failures).
- **MTBF** (mean time between failures) = operating hours / failures of the assets with a key-on hour meter (the
  month's key-on hours kept with the cost ledger); **MCBF** (mean copies between failures) = pages / failures of
  the assets with a page counter. Neither exists in a month without a failure.
- **First-time fix rate**: of the corrective work orders completed in the month, the share fixed in one visit
  (labour logged on one day at most, never put on hold) and not followed by another corrective work order on the
  same asset within ``REPEAT_DAYS`` of its completion.
- **Preventive-maintenance compliance**: of the preventive plans' occurrences due in the month whose due date
  plus ``PM_GRACE_DAYS`` has passed, the share whose work order was completed by then (the customer's local
  date). Cancelled or undone occurrences are missed; those still within their grace days are not counted yet.
- **SLA response achievement**: of the work orders whose response was due in the month and that are settled
  (answered, or the due time has passed), the share answered by the due time and never flagged as breached.
  **Resolution achievement** likewise, with completion and the resolution due time.
- **Per contract**: the same SLA figures for the work orders on assets the contract covered on the day they were
  opened, uptime over the assets it covered against its service level's target (and how many assets fell below
  it in a month); and, for outcome-based contracts, **outcome achievement** = measured / promised: the output
  billed by its outcome charges (the usage on its finalised invoices) against the component's promised output a
  month, and the saving measured by its saving share against the saving promised, both prorated by the days
  billed. Credit notes correct amounts, not what was measured, so only invoices count.

Rates are percentages with one decimal (uptime two), rounded half up; hours one decimal. All of it is read in a
fixed number of queries, whatever the number of customers, assets or months.
"""

import bisect
import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import Organisation, User
from assets.models import Asset
from contracts.choices import ComponentKind, ContractStatus, InvoiceKind, InvoiceStatus
from contracts.models import Contract, ContractAsset, InvoiceLine
from fleet.tenancy import access_for
from maintenance.choices import WorkOrderKind, WorkOrderStatus
from maintenance.models import PlanOccurrence, ServiceLevel, WorkOrder, WorkOrderEvent, WorkOrderLabour
from maintenance.plans import add_months
from maintenance.services import service_levels_for
from reports.ledger import months_from
from reports.models import AssetMonthUsage
from telemetry.choices import Meter

REPEAT_DAYS = 7
PM_GRACE_DAYS = 7
DONE_STATES = (WorkOrderStatus.COMPLETED, WorkOrderStatus.CLOSED)
HOUR = Decimal(3600)
ONE_DECIMAL, TWO_DECIMALS = Decimal("0.1"), Decimal("0.01")


def _percent(part, whole, places: Decimal = ONE_DECIMAL) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(100) * Decimal(part) / Decimal(whole)).quantize(places, ROUND_HALF_UP)


def _hours(seconds) -> Decimal:
    return (Decimal(seconds) / HOUR).quantize(ONE_DECIMAL, ROUND_HALF_UP)


@dataclass
class ServiceFigures:
    """The counts behind the service KPIs of one cell (a customer's month, a month, a customer, an asset, a
    contract); cells add up, and every rate is computed from the sums."""

    covered_seconds: int = 0
    down_seconds: int = 0
    repairs: int = 0
    repair_seconds: int = 0
    failures: int = 0
    hour_failures: int = 0
    operating_hours: Decimal = Decimal(0)
    page_failures: int = 0
    pages: Decimal = Decimal(0)
    fixes: int = 0
    first_time_fixes: int = 0
    pm_due: int = 0
    pm_on_schedule: int = 0
    responses: int = 0
    responses_met: int = 0
    resolutions: int = 0
    resolutions_met: int = 0

    def add(self, other: "ServiceFigures") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def uptime(self) -> Decimal | None:
        """Percent of the covered hours up, two decimals."""
        if not self.covered_seconds:
            return None
        return _percent(self.covered_seconds - self.down_seconds, self.covered_seconds, TWO_DECIMALS)

    @property
    def down_hours(self) -> Decimal:
        return _hours(self.down_seconds)

    @property
    def mttr_hours(self) -> Decimal | None:
        return _hours(self.repair_seconds / self.repairs) if self.repairs else None

    @property
    def mtbf_hours(self) -> Decimal | None:
        if not self.hour_failures:
            return None
        return (self.operating_hours / self.hour_failures).quantize(ONE_DECIMAL, ROUND_HALF_UP)

    @property
    def mcbf_pages(self) -> Decimal | None:
        if not self.page_failures:
            return None
        return (self.pages / self.page_failures).quantize(Decimal(1), ROUND_HALF_UP)

    @property
    def first_time_fix_rate(self) -> Decimal | None:
        return _percent(self.first_time_fixes, self.fixes)

    @property
    def pm_compliance(self) -> Decimal | None:
        return _percent(self.pm_on_schedule, self.pm_due)

    @property
    def response_achievement(self) -> Decimal | None:
        return _percent(self.responses_met, self.responses)

    @property
    def resolution_achievement(self) -> Decimal | None:
        return _percent(self.resolutions_met, self.resolutions)


@dataclass
class _Targeted:
    """Figures with the uptime their service level promises."""

    figures: ServiceFigures
    uptime_target: Decimal | None

    @property
    def below_target(self) -> bool:
        uptime = self.figures.uptime
        return uptime is not None and self.uptime_target is not None and uptime < self.uptime_target


@dataclass
class CustomerFigures(_Targeted):
    customer_id: int
    customer_name: str


@dataclass
class AssetFigures(_Targeted):
    asset_id: int
    label: str
    serial_number: str
    site_name: str


@dataclass
class OutcomeFigures:
    """An outcome-based contract's promise against what was measured, over the invoices of the months asked."""

    component_id: int
    name: str
    kind: str
    meter: str  # what an outcome charge counts ("" for a saving share)
    currency: str  # a saving share's (and the contract's) currency
    promised: Decimal = Decimal(0)
    measured: Decimal = Decimal(0)

    @property
    def achievement(self) -> Decimal | None:
        return _percent(self.measured, self.promised)


@dataclass
class ContractFigures:
    contract_id: int
    number: str
    customer_name: str
    figures: ServiceFigures
    uptime_target: Decimal | None
    months_below_target: int = 0  # asset-months whose uptime fell below the target
    outcomes: list[OutcomeFigures] = field(default_factory=list)

    @property
    def sla_achievement(self) -> Decimal | None:
        """Response and resolution due times met over those settled, together."""
        figures = self.figures
        return _percent(figures.responses_met + figures.resolutions_met, figures.responses + figures.resolutions)


@dataclass
class ServiceReport:
    months: list[datetime.date]
    by_month: list[ServiceFigures]
    customers: list[CustomerFigures]
    total: ServiceFigures


# --- Time ---------------------------------------------------------------------------------------------------------


class _Calendar:
    """One customer's month boundaries (aware, in its time zone) over the months asked."""

    def __init__(self, months: Sequence[datetime.date], zone: ZoneInfo):
        self.zone = zone
        self.months = list(months)
        self.bounds = [self.midnight(month) for month in [*months, add_months(months[-1], 1)]]
        pairs = zip(self.bounds[:-1], self.bounds[1:], strict=True)
        self.lengths = [int((end - start).total_seconds()) for start, end in pairs]
        self.whole = list(enumerate(self.lengths))

    def midnight(self, day: datetime.date) -> datetime.datetime:
        """Local midnight of ``day`` as a UTC instant (differences of instants in one zone would be wall time)."""
        return datetime.datetime(day.year, day.month, day.day, tzinfo=self.zone).astimezone(datetime.UTC)

    def index(self, instant: datetime.datetime | None) -> int | None:
        """The month ``instant`` falls in, or None outside the months."""
        if instant is None or not self.bounds[0] <= instant < self.bounds[-1]:
            return None
        return bisect.bisect_right(self.bounds, instant) - 1

    def day_index(self, day: datetime.date) -> int | None:
        month = day.replace(day=1)
        return self.months.index(month) if self.months[0] <= month <= self.months[-1] else None

    def local_date(self, instant: datetime.datetime) -> datetime.date:
        return instant.astimezone(self.zone).date()

    def split(self, start: datetime.datetime, end: datetime.datetime) -> list[tuple[int, int]]:
        """(month index, seconds) of the interval [start, end) within the months."""
        bounds = self.bounds
        if start <= bounds[0] and end >= bounds[-1]:  # the common case: covered all along
            return self.whole
        found = []
        index = max(0, bisect.bisect_right(bounds, start) - 1)
        while index < len(self.months) and bounds[index] < end:
            low, high = max(start, bounds[index]), min(end, bounds[index + 1])
            if low < high:
                found.append((index, int((high - low).total_seconds())))
            index += 1
        return found


def _merge(intervals: Iterable[tuple[datetime.datetime, datetime.datetime]]) -> list[tuple]:
    merged: list[list] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [tuple(pair) for pair in merged]


def _intersect(first: list[tuple], second: list[tuple]) -> list[tuple]:
    """The intersection of two sorted lists of disjoint intervals."""
    result, i, j = [], 0, 0
    while i < len(first) and j < len(second):
        low, high = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if low < high:
            result.append((low, high))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return result


# --- Facts --------------------------------------------------------------------------------------------------------


@dataclass
class _WorkOrder:
    id: int
    customer_id: int
    asset_id: int | None
    kind: str
    status: str
    created_at: datetime.datetime
    responded_at: datetime.datetime | None
    completed_at: datetime.datetime | None
    response_due_at: datetime.datetime | None
    resolution_due_at: datetime.datetime | None
    response_breached: bool
    resolution_breached: bool
    down_from: datetime.datetime | None
    down_until: datetime.datetime | None

    @property
    def done(self) -> bool:
        return self.status in DONE_STATES and self.completed_at is not None

    def response_outcome(self, now: datetime.datetime) -> tuple[bool, bool]:
        """(counted, met) for the response due time: counted once answered or past due."""
        if self.response_due_at is None:
            return False, False
        if self.responded_at is None:
            return self.response_due_at <= now, False
        return True, self.responded_at <= self.response_due_at and not self.response_breached

    def resolution_outcome(self, now: datetime.datetime) -> tuple[bool, bool]:
        """(counted, met) for the resolution due time: counted once completed or past due."""
        if self.resolution_due_at is None:
            return False, False
        if not self.done:
            return self.resolution_due_at <= now, False
        return True, self.completed_at <= self.resolution_due_at and not self.resolution_breached


Coverage = tuple[int, int, int, datetime.date, datetime.date | None]  # contract, asset, customer, from, until


@dataclass
class _Facts:
    """Everything the KPIs read for the customers a user sees, over the months asked."""

    months: list[datetime.date]
    now: datetime.datetime
    customers: dict[int, tuple[str, int, _Calendar]]  # name, provider, calendar
    coverage: list[Coverage]
    work_orders: list[_WorkOrder]
    first_visit: set[int]  # corrective orders completed in one visit, never on hold
    occurrences: list[tuple[int, int, datetime.date, str | None, datetime.datetime | None]]
    metered: set[tuple[int, datetime.date, str]]  # (asset, month, meter) of the assets that failed: metered months
    usage: dict[tuple[int, datetime.date | None, str], Decimal]  # (customer or asset, month or None, meter) -> sum
    failures_by_asset: dict[int, list[tuple[datetime.datetime, int]]] = field(default_factory=dict)
    down_by_asset: dict[int, list[tuple]] = field(default_factory=dict)

    def __post_init__(self):
        failures: dict[int, list] = defaultdict(list)
        down: dict[int, list] = defaultdict(list)
        for order in self.work_orders:
            if order.asset_id is None:
                continue
            if order.kind == WorkOrderKind.CORRECTIVE:
                failures[order.asset_id].append((order.created_at, order.id))
            if order.down_from is not None and (order.down_until or self.now) > order.down_from:
                down[order.asset_id].append((order.down_from, order.down_until or self.now))
        self.failures_by_asset = {asset_id: sorted(times) for asset_id, times in failures.items()}
        self.down_by_asset = {asset_id: _merge(intervals) for asset_id, intervals in down.items()}

    def calendar(self, customer_id: int) -> _Calendar:
        return self.customers[customer_id][2]

    def repeated(self, order: _WorkOrder) -> bool:
        """Whether another corrective order on the asset was opened within ``REPEAT_DAYS`` after completion."""
        times = self.failures_by_asset.get(order.asset_id, [])
        limit = order.completed_at + datetime.timedelta(days=REPEAT_DAYS)
        return any(order.completed_at <= created <= limit for created, pk in times if pk != order.id)

    def asset_seconds(self, rows: Iterable[Coverage]) -> dict[int, dict[int, tuple[int, int]]]:
        """Per asset of these coverage rows: (covered, down) seconds per month index, down clipped to covered."""
        by_asset: dict[int, list] = defaultdict(list)
        customer_of: dict[int, int] = {}
        for _contract_id, asset_id, customer_id, start, end in rows:
            calendar = self.calendar(customer_id)
            low = max(calendar.midnight(start), calendar.bounds[0])
            high = calendar.bounds[-1]
            if end is not None:
                high = min(calendar.midnight(end + datetime.timedelta(days=1)), high)
            if low < high:
                by_asset[asset_id].append((low, high))
                customer_of[asset_id] = customer_id
        result = {}
        for asset_id, intervals in by_asset.items():
            calendar = self.calendar(customer_of[asset_id])
            covered = _merge(intervals)
            seconds: dict[int, list[int]] = defaultdict(lambda: [0, 0])
            for start, end in covered:
                for index, value in calendar.split(start, end):
                    seconds[index][0] += value
            for start, end in _intersect(covered, self.down_by_asset.get(asset_id, [])):
                for index, value in calendar.split(start, end):
                    seconds[index][1] += value
            result[asset_id] = {index: (pair[0], pair[1]) for index, pair in seconds.items()}
        return result


def _customers(user: User, customer_id: int | None) -> dict[int, tuple[str, int, str]]:
    customers = Organisation.objects.customers().visible_to(user)
    if customer_id is not None:
        customers = customers.filter(pk=customer_id)
    return {
        pk: (name, provider_id, zone)
        for pk, name, provider_id, zone in customers.values_list("pk", "name", "provider_id", "time_zone")
    }


def _load(
    user: User, months: list[datetime.date], customer_id: int | None, now: datetime.datetime, usage_by: str = ""
) -> _Facts:
    """Eight queries at most (one when the user sees no customer). ``usage_by`` sums the monthly pages and key-on
    hours per customer and month ("customer"), per asset over the months ("asset"), or not at all ("")."""
    customers = {
        pk: (name, provider_id, _Calendar(months, ZoneInfo(zone)))
        for pk, (name, provider_id, zone) in _customers(user, customer_id).items()
    }
    ids = list(customers)
    if not ids:
        return _Facts(months, now, {}, [], [], set(), [], set(), {})
    start_at = min(calendar.bounds[0] for *_rest, calendar in customers.values())
    end_at = max(calendar.bounds[-1] for *_rest, calendar in customers.values())
    last_day = add_months(months[-1], 1) - datetime.timedelta(days=1)
    coverage = list(
        ContractAsset.objects.visible_to(user)
        .filter(contract__customer_id__in=ids, start_date__lte=last_day)
        .exclude(contract__status=ContractStatus.DRAFT)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=months[0]))
        .order_by("contract_id", "asset_id", "start_date")
        .values_list("contract_id", "asset_id", "contract__customer_id", "start_date", "end_date")
    )
    orders = (
        WorkOrder.objects.visible_to(user)
        .filter(customer_id__in=ids)
        .exclude(status=WorkOrderStatus.CANCELLED)
        .filter(
            Q(down_from__lt=end_at, down_until__isnull=True)
            | Q(down_from__lt=end_at, down_until__gt=start_at)
            | Q(created_at__gte=start_at, created_at__lt=end_at + datetime.timedelta(days=REPEAT_DAYS))
            | Q(completed_at__gte=start_at, completed_at__lt=end_at)
            | Q(response_due_at__gte=start_at, response_due_at__lt=end_at)
            | Q(resolution_due_at__gte=start_at, resolution_due_at__lt=end_at)
        )
        .order_by("pk")
    )
    work_orders = [
        _WorkOrder(*row)
        for row in orders.values_list(
            "pk",
            "customer_id",
            "asset_id",
            "kind",
            "status",
            "created_at",
            "responded_at",
            "completed_at",
            "response_due_at",
            "resolution_due_at",
            "response_breached",
            "resolution_breached",
            "down_from",
            "down_until",
        )  # fmt: skip
    ]
    fixes = orders.filter(
        kind=WorkOrderKind.CORRECTIVE, status__in=DONE_STATES, completed_at__gte=start_at, completed_at__lt=end_at
    ).values("pk")
    on_hold = set(
        WorkOrderEvent.objects.filter(work_order__in=fixes, to_status=WorkOrderStatus.ON_HOLD).values_list(
            "work_order_id", flat=True
        )
    )
    visit_days = dict(
        WorkOrderLabour.objects.filter(work_order__in=fixes)
        .values("work_order_id")
        .annotate(days=Count("date", distinct=True))
        .order_by()
        .values_list("work_order_id", "days")
    )
    first_visit = {
        order.id
        for order in work_orders
        if order.kind == WorkOrderKind.CORRECTIVE and order.id not in on_hold and visit_days.get(order.id, 0) <= 1
    }
    occurrences = list(
        PlanOccurrence.objects.visible_to(user)
        .filter(asset__customer_id__in=ids, due_on__gte=months[0], due_on__lte=last_day)
        .order_by("pk")
        .values_list("asset__customer_id", "asset_id", "due_on", "work_order__status", "work_order__completed_at")
    )
    monthly = (
        AssetMonthUsage.objects.visible_to(user)
        .filter(asset__customer_id__in=ids, month__gte=months[0], month__lte=months[-1])
        .filter(meter__in=(Meter.HOURS_KEY_ON, Meter.TOTAL_PAGES))
    )
    failed = orders.filter(kind=WorkOrderKind.CORRECTIVE, asset__isnull=False).values("asset_id")
    metered = set(monthly.filter(asset__in=failed).values_list("asset_id", "month", "meter"))
    usage: dict = {}
    if usage_by:
        key, month = ("asset__customer_id", "month") if usage_by == "customer" else ("asset_id", None)
        grouped = monthly.values(*[name for name in (key, month, "meter") if name]).annotate(total=Sum("usage"))
        for row in grouped.order_by():
            usage[(row[key], row.get("month"), row["meter"])] = row["total"]
    return _Facts(months, now, customers, coverage, work_orders, first_visit, occurrences, metered, usage)


# --- Tallies ------------------------------------------------------------------------------------------------------


class Cells(dict):
    """Figures per (key, month index); ``by_month=False`` keeps one cell per key (the months added up as they come,
    for the tables over the whole range)."""

    def __init__(self, *, by_month: bool = True):
        super().__init__()
        self.by_month = by_month

    def __call__(self, key, index: int) -> ServiceFigures:
        slot = (key, index if self.by_month else 0)
        cell = self.get(slot)
        if cell is None:
            cell = self[slot] = ServiceFigures()
        return cell

    def totals(self) -> dict:
        """Per key, its figures over all months."""
        found: dict = defaultdict(ServiceFigures)
        for (key, _index), cell in self.items():
            found[key].add(cell)
        return found


def _tally_uptime(seconds: dict[int, dict[int, tuple[int, int]]], key_of, cells: Cells) -> None:
    """Covered and down seconds per asset and month (``_Facts.asset_seconds``) under ``key_of(asset)``."""
    for asset_id, per_month in seconds.items():
        key = key_of(asset_id)
        for index, (covered, down) in per_month.items():
            cell = cells(key, index)
            cell.covered_seconds += covered
            cell.down_seconds += down


def _tally_orders(facts: _Facts, keys_of, cells: Cells) -> None:
    """Repairs, failures, fixes and SLA outcomes of each work order, under the keys ``keys_of(order)`` gives."""
    for order in facts.work_orders:
        keys = keys_of(order)
        if not keys:
            continue
        calendar = facts.calendar(order.customer_id)
        if order.down_from is not None and order.down_until is not None and order.down_until > order.down_from:
            index = calendar.index(order.down_until)
            if index is not None:
                for key in keys:
                    cells(key, index).repairs += 1
                    cells(key, index).repair_seconds += int((order.down_until - order.down_from).total_seconds())
        if order.kind == WorkOrderKind.CORRECTIVE and order.asset_id is not None:
            index = calendar.index(order.created_at)
            if index is not None:
                month = facts.months[index]
                for key in keys:
                    cell = cells(key, index)
                    cell.failures += 1
                    cell.hour_failures += (order.asset_id, month, Meter.HOURS_KEY_ON) in facts.metered
                    cell.page_failures += (order.asset_id, month, Meter.TOTAL_PAGES) in facts.metered
            index = calendar.index(order.completed_at) if order.done else None
            if index is not None:
                first_time = order.id in facts.first_visit and not facts.repeated(order)
                for key in keys:
                    cells(key, index).fixes += 1
                    cells(key, index).first_time_fixes += first_time
        for due, outcome, total, met in (
            (order.response_due_at, order.response_outcome, "responses", "responses_met"),
            (order.resolution_due_at, order.resolution_outcome, "resolutions", "resolutions_met"),
        ):
            index = calendar.index(due)
            if index is None:
                continue
            counted, achieved = outcome(facts.now)
            if not counted:
                continue
            for key in keys:
                cell = cells(key, index)
                setattr(cell, total, getattr(cell, total) + 1)
                setattr(cell, met, getattr(cell, met) + achieved)


def _tally_occurrences(facts: _Facts, key_of, cells: Cells) -> None:
    for customer_id, asset_id, due_on, status, completed_at in facts.occurrences:
        calendar = facts.calendar(customer_id)
        deadline = due_on + datetime.timedelta(days=PM_GRACE_DAYS)
        index = calendar.day_index(due_on)
        if index is None or deadline >= calendar.local_date(facts.now):
            continue
        cell = cells(key_of(customer_id, asset_id), index)
        cell.pm_due += 1
        cell.pm_on_schedule += (
            status in DONE_STATES and completed_at is not None and (calendar.local_date(completed_at) <= deadline)
        )


def _tally_usage(facts: _Facts, cells: Cells) -> None:
    """The summed pages and key-on hours (``_load``'s ``usage_by``) under their customer or asset."""
    index_of = {month: index for index, month in enumerate(facts.months)}
    for (key, month, meter), value in facts.usage.items():
        cell = cells(key, index_of[month] if month is not None else 0)
        if meter == Meter.HOURS_KEY_ON:
            cell.operating_hours += value
        else:
            cell.pages += value


def _by_customer(facts: _Facts) -> Cells:
    cells = Cells()
    customer_of = {asset_id: customer_id for _contract, asset_id, customer_id, _start, _end in facts.coverage}
    _tally_uptime(facts.asset_seconds(facts.coverage), customer_of.__getitem__, cells)
    _tally_orders(facts, lambda order: (order.customer_id,), cells)
    _tally_occurrences(facts, lambda customer_id, _asset_id: customer_id, cells)
    _tally_usage(facts, cells)
    return cells


def _uptime_targets(user: User, facts: _Facts) -> dict[int, Decimal | None]:
    """Each customer's uptime target, from its service level (``maintenance.services.service_levels_for``: its own,
    else the provider's default) among those the user sees. One query."""
    levels = service_levels_for(
        customers={pk: provider_id for pk, (_name, provider_id, _calendar) in facts.customers.items()},
        levels=ServiceLevel.objects.visible_to(user),
    )
    return {pk: level.uptime_target_percent if level else None for pk, level in levels.items()}


# --- Reports ------------------------------------------------------------------------------------------------------


def report_customer(user: User, customer_id: int | None) -> int | None:
    """The customer a report is about: the one asked, else, for a customer's own users, their organisation (the
    provider's staff who ask for none see every customer they may)."""
    access = access_for(user)
    if customer_id is None and access is not None and not access.is_provider_staff:
        return access.organisation_id
    return customer_id


def service_report(
    *, user: User, first: datetime.date, last: datetime.date, customer_id: int | None = None, now=None
) -> ServiceReport:
    """The service KPIs of the customers the user sees (or one of them) per month, per customer over the months,
    and in total. In a fixed number of queries."""
    months = months_from(first, last)
    facts = _load(user, months, customer_id, now or timezone.now(), usage_by="customer")
    cells = _by_customer(facts)
    by_month = [ServiceFigures() for _month in months]
    per_customer: dict[int, ServiceFigures] = defaultdict(ServiceFigures)
    total = ServiceFigures()
    for (key, index), cell in cells.items():
        by_month[index].add(cell)
        per_customer[key].add(cell)
        total.add(cell)
    targets = _uptime_targets(user, facts)
    customers = sorted(
        (
            CustomerFigures(customer_id=pk, customer_name=name, figures=per_customer[pk], uptime_target=targets[pk])
            for pk, (name, _provider_id, _calendar) in facts.customers.items()
            if pk in per_customer
        ),
        key=lambda row: (row.customer_name, row.customer_id),
    )
    return ServiceReport(months=months, by_month=by_month, customers=customers, total=total)


def asset_service(
    *, user: User, first: datetime.date, last: datetime.date, customer_id: int, now=None
) -> list[AssetFigures]:
    """One customer's assets with their service KPIs over the months (those covered or with work orders), the
    least available first."""
    months = months_from(first, last)
    facts = _load(user, months, customer_id, now or timezone.now(), usage_by="asset")
    if not facts.customers:
        return []
    cells = Cells(by_month=False)
    _tally_uptime(facts.asset_seconds(facts.coverage), lambda asset_id: asset_id, cells)
    _tally_orders(facts, lambda order: (order.asset_id,) if order.asset_id is not None else (), cells)
    _tally_occurrences(facts, lambda _customer_id, asset_id: asset_id, cells)
    _tally_usage(facts, cells)
    per_asset = cells.totals()
    target = _uptime_targets(user, facts)[customer_id]
    rows = [
        AssetFigures(
            asset_id=pk,
            label=f"{manufacturer} {model}",
            serial_number=serial,
            site_name=site,
            figures=per_asset[pk],
            uptime_target=target,
        )
        for pk, manufacturer, model, serial, site in Asset.objects.visible_to(user)
        .filter(pk__in=list(per_asset))
        .values_list("pk", "asset_model__manufacturer__name", "asset_model__name", "serial_number", "site__name")
    ]
    return sorted(
        rows,
        key=lambda row: (
            row.figures.uptime is None,
            row.figures.uptime if row.figures.uptime is not None else 0,
            row.site_name,
            row.serial_number,
        ),
    )


def contract_service(
    *, user: User, first: datetime.date, last: datetime.date, customer_id: int | None = None, now=None
) -> list[ContractFigures]:
    """Per contract (not a draft) of the customers the user sees, over the months: SLA achievement on the work
    orders of the assets it covered, uptime of those assets against its service level's target, and the outcome
    achievement of its outcome charges and saving shares. In a fixed number of queries."""
    months = months_from(first, last)
    facts = _load(user, months, customer_id, now or timezone.now())
    if not facts.customers:
        return []
    last_day = add_months(months[-1], 1) - datetime.timedelta(days=1)
    contracts = list(
        Contract.objects.visible_to(user)
        .filter(customer_id__in=list(facts.customers), start_date__lte=last_day)
        .exclude(status=ContractStatus.DRAFT)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=months[0]))
        .order_by("customer__name", "number", "pk")
        .values_list("pk", "number", "customer__name", "service_level__uptime_target_percent")
    )
    groups: dict[int, list[Coverage]] = defaultdict(list)
    by_asset: dict[int, list[Coverage]] = defaultdict(list)
    for row in facts.coverage:
        groups[row[0]].append(row)
        by_asset[row[1]].append(row)

    def covering(order: _WorkOrder) -> list[int]:
        if order.asset_id is None:
            return []
        day = facts.calendar(order.customer_id).local_date(order.created_at)
        return sorted(
            {
                contract_id
                for contract_id, _asset, _customer, start, end in by_asset.get(order.asset_id, ())
                if start <= day and (end is None or day <= end)
            }
        )

    cells = Cells(by_month=False)
    seconds = {pk: facts.asset_seconds(rows) for pk, rows in groups.items()}  # an asset may be under two contracts
    for pk, per_asset in seconds.items():
        _tally_uptime(per_asset, lambda _asset_id, pk=pk: pk, cells)
    _tally_orders(facts, covering, cells)
    per_contract = cells.totals()
    outcomes = _outcomes(user, months, [row[0] for row in contracts])
    rows = []
    for pk, number, customer_name, target in contracts:
        below = 0
        if target is not None:
            for per_month in seconds.get(pk, {}).values():
                below += sum(
                    1
                    for covered, down in per_month.values()
                    if covered and _percent(covered - down, covered, TWO_DECIMALS) < target
                )
        rows.append(
            ContractFigures(
                contract_id=pk,
                number=number,
                customer_name=customer_name,
                figures=per_contract[pk],
                uptime_target=target,
                months_below_target=below,
                outcomes=outcomes.get(pk, []),
            )
        )
    return rows


def _outcomes(user: User, months: list[datetime.date], contract_ids: list[int]) -> dict[int, list[OutcomeFigures]]:
    """Per contract, its outcome components' promise and measure over the finalised invoices of the months (the
    usage of an outcome charge and the saving of a saving share as rated, the promise prorated by the days
    billed). One query. Savings are amounts: only roles that see prices get them."""
    access = access_for(user)
    kinds = [ComponentKind.OUTCOME_CHARGE]
    if access is not None and access.sees_prices:
        kinds.append(ComponentKind.SAVING_SHARE)
    lines = (
        InvoiceLine.objects.visible_to(user)
        .filter(
            contract_id__in=contract_ids,
            component__kind__in=kinds,
            invoice__kind=InvoiceKind.INVOICE,
            invoice__status=InvoiceStatus.FINALISED,
            invoice__period_start__gte=months[0],
            invoice__period_start__lt=add_months(months[-1], 1),
        )
        .order_by("contract_id", "component_id", "invoice_id", "position")
        .values_list(
            "contract_id",
            "component_id",
            "component__name",
            "component__kind",
            "component__meter",
            "component__outcome_target",
            "contract__currency",
            "invoice_id",
            "detail",
        )  # fmt: skip
    )
    found: dict[int, dict[int, OutcomeFigures]] = defaultdict(dict)
    seen: set[tuple[int, int]] = set()
    for contract_id, component_id, name, kind, meter, target, currency, invoice_id, detail in lines:
        if (invoice_id, component_id) in seen:  # the bands and top-up of one component repeat its figures
            continue
        seen.add((invoice_id, component_id))
        saving = kind == ComponentKind.SAVING_SHARE
        outcome = found[contract_id].setdefault(
            component_id,
            OutcomeFigures(component_id=component_id, name=name, kind=kind, meter=meter, currency=currency),
        )
        outcome.measured += Decimal(detail.get("saving" if saving else "usage") or 0)
        if target is not None and detail.get("period_days"):
            outcome.promised += target * Decimal(detail["days"]) / Decimal(detail["period_days"])
    return {
        contract_id: [outcome for _pk, outcome in sorted(components.items()) if outcome.promised]
        for contract_id, components in found.items()
    }
