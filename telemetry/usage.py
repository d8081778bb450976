"""Usage per asset and meter over a period: the one source of usage for billing, forecasts and reports.

The rules of DESIGN.md §4 "Counters", decided in detail here:

**The series.** Counters are cumulative. Only valid readings count (``invalidated_at`` empty); readings
taken after ``now`` (a device clock running ahead) are not used yet; late readings are simply used. At one
instant a manual read wins over a device read: technician, then customer, then device. The series is
*reset-adjusted*: a reading below the one before it is a reset (board or meter replaced), and the counter
is taken to have restarted from zero right after the earlier reading, so that segment adds the new
reading's value, never a negative step. Usage is the growth of the adjusted series between the two
boundaries, so that across a reset it is (value before the reset - start) + (value after it counted from
0); ``resets`` counts the drops that fall in the period.

**The counter at a boundary** (start or end), in this order:

1. A valid reading exactly at the boundary is used as is (source ``reading``).
2. Readings on both sides: linear interpolation between the last reading before and the first after it
   (source ``interpolated``; 1000 at day 0 and 2000 at day 10 give 1500 at day 5). Within a reset segment
   the counter is interpolated from zero up to the reading after the reset.
3. No reading after the boundary (the device has not reported past it): extrapolated from the last
   reading at the *recent daily rate*, and marked estimated (source ``extrapolated``). The rate is the
   adjusted growth from the first reading of the 30 days before that last reading to the last reading,
   over the time between them; the 30 days never reach back before the period's start. When no other
   reading lies in that window, the reading just before it is the first point instead; with no such
   reading the rate is zero. A device whose last reading is older than the period's start is held flat
   at that reading for the whole period (both counters estimated, usage 0): no usage is invented for a
   device that stayed silent for the period.
4. No reading at or before the start but readings after it: the asset's ledger begins at its first
   reading (a device installed, or first reporting, during the period). The start counter is that first
   reading (source ``reading``, not estimated): nothing is guessed before it, neither backwards at some
   rate nor from zero.
5. No valid reading at or before the end: **no data**. The pair is missing from the bulk result and
   ``usage_for_period`` returns ``None``, so that billing can tell "no data" from "no usage".

**Frozen boundaries.** A ``MeterBoundary`` exactly at the start (written when the previous period was
invoiced) is the start counter (source ``frozen``, its own estimated flag); one exactly at the end (the
period itself was invoiced) is the end counter, so that a report of an invoiced period shows what was
invoiced. The difference between a frozen counter and what the readings now say about that instant (late
readings, an estimate that proved high or low) trues up the usage of the period that starts from it:
usage = adjusted growth + (counter from readings at start - frozen start) [+ (frozen end - counter from
readings at end)]. Usage is never negative: when an over-estimated frozen start exceeds what the readings
reach by the end, usage is 0 and the end counter is held at the frozen start (estimated), so that the
next period still starts from it and nothing is billed twice.

**Scale.** The bulk functions read, whatever the number of assets, three queries: the frozen boundaries,
the neighbours outside the range (for each asset and meter the last valid reading before the first
boundary and the first one after the last boundary, as indexed ``LIMIT 1`` subqueries), and the valid
readings between the first and the last boundary, streamed in (asset, meter, time) order and computed one
series at a time, so memory holds one series and the results.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import groupby
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from assets.models import Asset
from telemetry.choices import Meter, ReadingSource
from telemetry.models import COUNTER_DECIMAL_PLACES, MeterBoundary, Reading

RATE_WINDOW = timedelta(days=30)
QUANTUM = Decimal(1).scaleb(-COUNTER_DECIMAL_PLACES)
STREAM_CHUNK_SIZE = 5000
ZERO = Decimal(0)

BOUNDARY_NOT_AWARE = _("Period boundaries must be timezone-aware.")
BOUNDARIES_NOT_INCREASING = _("A period must end after it starts.")
TOO_FEW_BOUNDARIES = _("A period needs a start and an end.")
UNKNOWN_METER = _("Unknown meter: %(meter)s.")
UNKNOWN_TIME_ZONE = _("Unknown time zone: %(name)s.")
BAD_MONTH = _("A month is a number from 1 to 12.")

# At one instant a manual read wins: technician, then customer, then device (lower wins).
SOURCE_PRIORITY = {ReadingSource.TECHNICIAN: 0, ReadingSource.CUSTOMER: 1, ReadingSource.DEVICE: 2}
MANUAL_FIRST = Case(  # orders the readings of one instant: the winner first
    *(When(source=source, then=Value(rank)) for source, rank in SOURCE_PRIORITY.items()),
    default=Value(len(SOURCE_PRIORITY)),
    output_field=IntegerField(),
)


class CounterSource(StrEnum):
    """Where a boundary counter came from."""

    FROZEN = "frozen"
    READING = "reading"
    INTERPOLATED = "interpolated"
    EXTRAPOLATED = "extrapolated"


COUNTER_SOURCE_CHOICES = [(source.value, source.value) for source in CounterSource]


@dataclass(frozen=True)
class Usage:
    """The usage of one meter of one asset over [start, end], with the two counters it was taken from.

    ``start_source``/``end_source`` are ``CounterSource`` values; ``usage`` is never negative and is exact to
    the counter's precision (three decimals). ``readings_used`` counts the valid readings (one per instant)
    taken within the period plus the neighbours outside it that an interpolation or a rate used.
    """

    asset_id: int
    meter: str
    start: datetime
    end: datetime
    start_value: Decimal
    end_value: Decimal
    start_estimated: bool
    end_estimated: bool
    start_source: str
    end_source: str
    usage: Decimal
    resets: int
    readings_used: int


def month_bounds(year: int, month: int, tz_name: str) -> tuple[datetime, datetime]:
    """The calendar month as aware datetimes in ``tz_name``: midnight of its first day and of the next month's."""
    if not 1 <= month <= 12:
        raise ValidationError(BAD_MONTH)
    zone = time_zone(tz_name)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start, end


def month_starts(*, year: int, month: int, count: int, tz_name: str) -> list[datetime]:
    """``count`` consecutive month starts from (year, month) in ``tz_name`` (boundaries for ``usage_series``)."""
    starts = []
    for _index in range(count):
        start, _end = month_bounds(year, month, tz_name)
        starts.append(start)
        year, month = year + month // 12, month % 12 + 1
    return starts


def time_zone(tz_name: str) -> ZoneInfo:
    """The zone of an IANA name; an unknown name is a ValidationError."""
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(UNKNOWN_TIME_ZONE, params={"name": tz_name}) from error


def usage_for_period(
    *, asset: Asset, meter: str, start: datetime, end: datetime, now: datetime | None = None
) -> Usage | None:
    """The usage of one asset's meter over [start, end]; ``None`` when there is no data (see the module rules)."""
    return usage_for_assets(asset_ids=[asset.pk], meters=[meter], start=start, end=end, now=now).get((asset.pk, meter))


def usage_for_assets(
    *,
    asset_ids: Sequence[int],
    meters: Sequence[str],
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> dict[tuple[int, str], Usage]:
    """Usage of every asset and meter over [start, end] in three queries; pairs without data are left out."""
    series = usage_series(asset_ids=asset_ids, meters=meters, boundaries=[start, end], now=now)
    return {key: periods[0] for key, periods in series.items() if periods[0] is not None}


def usage_series(
    *,
    asset_ids: Sequence[int],
    meters: Sequence[str],
    boundaries: Sequence[datetime],
    now: datetime | None = None,
) -> dict[tuple[int, str], list[Usage | None]]:
    """Usage over consecutive periods (``boundaries[k]`` to ``boundaries[k + 1]``) in three queries.

    Each period's figures equal those of ``usage_for_assets`` for that period alone. A pair appears when it
    has data in at least one period; a period without data is ``None`` in its list.
    """
    boundaries = list(boundaries)
    _check(meters, boundaries)
    now = now or timezone.now()
    ids = sorted(set(asset_ids))
    meters = list(dict.fromkeys(meters))
    if not ids or not meters:
        return {}
    frozen = _frozen_boundaries(ids, meters, boundaries)
    neighbours = _neighbours(ids, meters, first=boundaries[0], last=boundaries[-1], now=now)
    results: dict[tuple[int, str], list[Usage | None]] = {}
    seen = set()
    for key, rows in groupby(_range_rows(ids, meters, boundaries[0], boundaries[-1], now), key=lambda r: r[:2]):
        seen.add(key)
        before, after = neighbours.get(key, (None, None))
        points = _series_points(before, _deduplicated(rows), after)
        periods = _Series(points).periods(key, boundaries, frozen)
        if any(periods):
            results[key] = periods
    for key, (before, after) in neighbours.items():
        if key in seen:
            continue
        periods = _Series(_series_points(before, [], after)).periods(key, boundaries, frozen)
        if any(periods):
            results[key] = periods
    return results


def _check(meters: Sequence[str], boundaries: list[datetime]) -> None:
    if len(boundaries) < 2:
        raise ValidationError(TOO_FEW_BOUNDARIES)
    if any(timezone.is_naive(boundary) for boundary in boundaries):
        raise ValidationError(BOUNDARY_NOT_AWARE)
    if any(later <= earlier for earlier, later in zip(boundaries, boundaries[1:], strict=False)):
        raise ValidationError(BOUNDARIES_NOT_INCREASING)
    for meter in meters:
        if meter not in Meter.values:
            raise ValidationError(UNKNOWN_METER, params={"meter": meter})


# --- Queries --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frozen:
    value: Decimal
    estimated: bool


def _frozen_boundaries(
    ids: list[int], meters: list[str], boundaries: list[datetime]
) -> dict[tuple[int, str, datetime], _Frozen]:
    rows = MeterBoundary.objects.filter(asset_id__in=ids, meter__in=meters, at__in=boundaries).values_list(
        "asset_id", "meter", "at", "value", "estimated"
    )
    return {(asset_id, meter, at): _Frozen(value, estimated) for asset_id, meter, at, value, estimated in rows}


def _valid_readings(now: datetime):
    return Reading.objects.filter(invalidated_at__isnull=True, taken_at__lte=now)


def _neighbours(
    ids: list[int], meters: list[str], *, first: datetime, last: datetime, now: datetime
) -> dict[tuple[int, str], tuple[tuple | None, tuple | None]]:
    """For each asset and meter: (time, value) of the last valid reading before ``first`` and of the first after
    ``last``. One query: per meter, four indexed ``LIMIT 1`` subqueries on each asset row."""
    annotations = {}
    for index, meter in enumerate(meters):
        same = _valid_readings(now).filter(asset_id=OuterRef("pk"), meter=meter)
        before = same.filter(taken_at__lt=first).order_by("-taken_at", MANUAL_FIRST)
        after = same.filter(taken_at__gt=last).order_by("taken_at", MANUAL_FIRST)
        annotations[f"b{index}_t"] = Subquery(before.values("taken_at")[:1])
        annotations[f"b{index}_v"] = Subquery(before.values("value")[:1])
        annotations[f"a{index}_t"] = Subquery(after.values("taken_at")[:1])
        annotations[f"a{index}_v"] = Subquery(after.values("value")[:1])
    rows = Asset.objects.filter(pk__in=ids).order_by().annotate(**annotations).values_list("pk", *annotations)
    neighbours = {}
    for asset_id, *values in rows:
        for index, meter in enumerate(meters):
            before_t, before_v, after_t, after_v = values[index * 4 : index * 4 + 4]
            if before_t is None and after_t is None:
                continue
            neighbours[(asset_id, meter)] = (
                (before_t, before_v) if before_t is not None else None,
                (after_t, after_v) if after_t is not None else None,
            )
    return neighbours


def _range_rows(ids: list[int], meters: list[str], first: datetime, last: datetime, now: datetime) -> Iterator[tuple]:
    return (
        _valid_readings(now)
        .filter(asset_id__in=ids, meter__in=meters, taken_at__gte=first, taken_at__lte=last)
        .order_by("asset_id", "meter", "taken_at")
        .values_list("asset_id", "meter", "taken_at", "value", "source")
        .iterator(chunk_size=STREAM_CHUNK_SIZE)
    )


def _deduplicated(rows: Iterable[tuple]) -> list[tuple[datetime, Decimal]]:
    """(time, value) per instant: where several sources read the same instant, the manual read wins."""
    points: list[tuple[datetime, Decimal]] = []
    best_rank = None
    for _asset_id, _meter, taken_at, value, source in rows:
        rank = SOURCE_PRIORITY.get(source, len(SOURCE_PRIORITY))
        if points and points[-1][0] == taken_at:
            if rank < best_rank:
                points[-1] = (taken_at, value)
                best_rank = rank
            continue
        points.append((taken_at, value))
        best_rank = rank
    return points


def _series_points(before, inside: list, after) -> list[tuple[datetime, Decimal]]:
    return [*([before] if before else []), *inside, *([after] if after else [])]


# --- Computation ----------------------------------------------------------------------------------------------


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def _micros(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


@dataclass(frozen=True)
class _Counter:
    value: Decimal  # what the meter showed
    adjusted: Decimal  # the reset-adjusted series at that instant
    source: str
    estimated: bool
    used: frozenset[int] = field(default_factory=frozenset)  # indices of the points it was computed from


class _Series:
    """One asset's meter: its valid readings (one per instant, in time order) and their reset-adjusted sum."""

    def __init__(self, points: list[tuple[datetime, Decimal]]):
        self.times = [taken_at for taken_at, _value in points]
        self.values = [value for _taken_at, value in points]
        self.adjusted: list[Decimal] = []
        self.reset_at: list[bool] = []  # reset_at[i]: the reading i is below reading i - 1
        total = ZERO
        for index, value in enumerate(self.values):
            reset = index > 0 and value < self.values[index - 1]
            if index > 0:
                total += value if reset else value - self.values[index - 1]
            self.adjusted.append(total)
            self.reset_at.append(reset)

    def periods(self, key, boundaries: list[datetime], frozen: dict) -> list[Usage | None]:
        return [
            self.period(key, start, end, frozen.get((*key, start)), frozen.get((*key, end)))
            for start, end in zip(boundaries, boundaries[1:], strict=False)
        ]

    def period(self, key, start: datetime, end: datetime, frozen_start, frozen_end) -> Usage | None:
        end_counter = self.counter(end, period_start=start)
        if end_counter is None:
            return None  # no valid reading at or before the end: no data
        start_counter = self.counter(start, period_start=start) or self.ledger_start(start)
        usage = end_counter.adjusted - start_counter.adjusted
        start_value, start_estimated, start_source = start_counter.value, start_counter.estimated, start_counter.source
        end_value, end_estimated, end_source = end_counter.value, end_counter.estimated, end_counter.source
        if frozen_start is not None:
            usage += start_counter.value - frozen_start.value
            start_value, start_estimated, start_source = (
                frozen_start.value,
                frozen_start.estimated,
                CounterSource.FROZEN,
            )
        if frozen_end is not None:
            usage += frozen_end.value - end_counter.value
            end_value, end_estimated, end_source = frozen_end.value, frozen_end.estimated, CounterSource.FROZEN
        if usage < 0:
            usage = ZERO
            if frozen_end is None:  # held at the frozen start until the readings pass it
                end_value, end_estimated, end_source = start_value, True, CounterSource.FROZEN
        first, after = bisect_left(self.times, start), bisect_right(self.times, end)
        used = set(range(first, after)) | start_counter.used | end_counter.used
        resets = sum(
            1 for index in range(max(first, 1), min(after + 1, len(self.times))) if self._reset_in(index, start, end)
        )
        return Usage(
            asset_id=key[0],
            meter=key[1],
            start=start,
            end=end,
            start_value=start_value,
            end_value=end_value,
            start_estimated=start_estimated,
            end_estimated=end_estimated,
            start_source=str(start_source),
            end_source=str(end_source),
            usage=usage,
            resets=resets,
            readings_used=len(used),
        )

    def _reset_in(self, index: int, start: datetime, end: datetime) -> bool:
        """A reset is placed right after the reading before it: it falls in the period when that reading does."""
        return self.reset_at[index] and start <= self.times[index - 1] < end

    def counter(self, at: datetime, *, period_start: datetime) -> _Counter | None:
        """The counter at ``at`` from the readings (rules 1-3); ``None`` when no reading is at or before it."""
        after = bisect_right(self.times, at)  # self.times[:after] are at or before ``at``
        if after == 0:
            return None
        last = after - 1
        if self.times[last] == at:
            return _Counter(self.values[last], self.adjusted[last], CounterSource.READING, False, frozenset({last}))
        if after < len(self.times):
            return self._interpolated(last, after, at)
        return self._extrapolated(last, at, period_start)

    def _interpolated(self, before: int, after: int, at: datetime) -> _Counter:
        reset = self.reset_at[after]
        step = self.values[after] if reset else self.values[after] - self.values[before]
        span = _micros(self.times[after] - self.times[before])
        increment = _quantize(step * _micros(at - self.times[before]) / span)
        base = ZERO if reset else self.values[before]
        return _Counter(
            base + increment,
            self.adjusted[before] + increment,
            CounterSource.INTERPOLATED,
            False,
            frozenset({before, after}),
        )

    def _extrapolated(self, last: int, at: datetime, period_start: datetime) -> _Counter:
        increment, used = ZERO, {last}
        first = self._rate_start(last, period_start)
        if first is not None:
            used.add(first)
            growth = self.adjusted[last] - self.adjusted[first]
            elapsed = _micros(self.times[last] - self.times[first])
            increment = _quantize(growth * _micros(at - self.times[last]) / elapsed)
        return _Counter(
            self.values[last] + increment,
            self.adjusted[last] + increment,
            CounterSource.EXTRAPOLATED,
            True,
            frozenset(used),
        )

    def _rate_start(self, last: int, period_start: datetime) -> int | None:
        """The first point of the recent rate: the first reading of the 30 days before the last reading (not before
        the period's start), or the reading just before them; ``None`` (held flat) when the last reading is older
        than the period's start or has no reading before it."""
        last_at = self.times[last]
        if last_at < period_start:
            return None
        first = bisect_left(self.times, max(last_at - RATE_WINDOW, period_start))
        if first >= last:
            first = last - 1
        return first if first >= 0 else None

    def ledger_start(self, start: datetime) -> _Counter:
        """Rule 4: no reading at or before the start; the ledger begins at the first reading after it."""
        first = bisect_right(self.times, start)
        return _Counter(self.values[first], self.adjusted[first], CounterSource.READING, False, frozenset({first}))


def freeze_boundaries(entries: Iterable[tuple[int, str, datetime, Decimal, bool]], *, reference: str) -> None:
    """Freeze counters at period boundaries: ``(asset_id, meter, at, value, estimated)`` rows, written by a
    finalised invoice (``reference``) so that the period starting ``at`` starts from them (see the module rules).

    A boundary already frozen is kept as it is: the first document to freeze it wins.
    """
    rows = [
        MeterBoundary(asset_id=asset_id, meter=meter, at=at, value=value, estimated=estimated, reference=reference)
        for asset_id, meter, at, value, estimated in entries
    ]
    MeterBoundary.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
