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

**Scale.** The bulk functions read the frozen boundaries in one query and the readings in two more, whatever the
number of assets. On PostgreSQL the series are reduced in SQL (``_reduced_series``): for each asset and meter, an
index-only range scan of the series index (``telemetry_reading_series``: valid readings in time order, the winner of
an instant first) and one window pass number its readings and mark its resets, and only the readings the rules can
look at leave the database: the last before and the first at or after each boundary, every reset and the one before
it, the first when it falls in the range, the last two when the last does not pass it; a second query looks up what
the few others need from outside the scan (the neighbours of a device that reports rarely, the first of the
recent-rate window). A few rows per series leave the database instead of one per reading, and the work grows with
the readings of the billed range, not with the ledger's history. Elsewhere (SQLite, the embedded default) two
queries stream the neighbours outside the range and every valid reading within it in (asset, meter, time) order, one
series at a time. Both feed the same computation (``_Series``), which needs from a series only those readings, each
with its position in the whole series and the count of resets up to it; the two readers give the same figures
(tested on PostgreSQL).
"""

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from assets.models import Asset
from telemetry.choices import Meter
from telemetry.models import (
    COUNTER_DECIMAL_PLACES,
    MANUAL_FIRST,
    SOURCE_PRIORITY,
    MeterBoundary,
    Reading,
    epoch_micros_sql,
    manual_first_sql,
)

RATE_WINDOW = timedelta(days=30)
# The reduced series reads the readings this far beyond the first and last boundaries in its scan: the neighbours
# of a device that reports at least daily need no index lookup of their own.
NEIGHBOUR_MARGIN = timedelta(days=1)
QUANTUM = Decimal(1).scaleb(-COUNTER_DECIMAL_PLACES)
STREAM_CHUNK_SIZE = 5000
ZERO = Decimal(0)

BOUNDARY_NOT_AWARE = _("Period boundaries must be timezone-aware.")
BOUNDARIES_NOT_INCREASING = _("A period must end after it starts.")
TOO_FEW_BOUNDARIES = _("A period needs a start and an end.")
UNKNOWN_METER = _("Unknown meter: %(meter)s.")
UNKNOWN_TIME_ZONE = _("Unknown time zone: %(name)s.")
BAD_MONTH = _("A month is a number from 1 to 12.")


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
    pairs: Collection[tuple[int, str]] | None = None,
) -> dict[tuple[int, str], Usage]:
    """Usage of every asset and meter over [start, end] in three queries; pairs without data
    are left out. ``pairs``: only these (asset, meter) pairs of ``asset_ids`` x ``meters``, when the caller knows
    which meter each asset needs (the database then looks for no other)."""
    series = usage_series(asset_ids=asset_ids, meters=meters, boundaries=[start, end], now=now, pairs=pairs)
    return {key: periods[0] for key, periods in series.items() if periods[0] is not None}


def usage_series(
    *,
    asset_ids: Sequence[int],
    meters: Sequence[str],
    boundaries: Sequence[datetime],
    now: datetime | None = None,
    pairs: Collection[tuple[int, str]] | None = None,
) -> dict[tuple[int, str], list[Usage | None]]:
    """Usage over consecutive periods (``boundaries[k]`` to ``boundaries[k + 1]``) in three queries.

    Each period's figures equal those of ``usage_for_assets`` for that period alone. A pair appears when it
    has data in at least one period; a period without data is ``None`` in its list. ``pairs`` as in
    ``usage_for_assets``.
    """
    boundaries = list(boundaries)
    _check(meters, boundaries)
    now = now or timezone.now()
    ids = sorted(set(asset_ids))
    meters = list(dict.fromkeys(meters))
    if not ids or not meters:
        return {}
    wanted = sorted(pairs) if pairs is not None else [(asset_id, meter) for asset_id in ids for meter in meters]
    frozen = _frozen_boundaries(ids, meters, boundaries)
    results: dict[tuple[int, str], list[Usage | None]] = {}
    if connection.vendor == "postgresql":
        read = _reduced_series(wanted, boundaries, now)
    else:
        read = _streamed_series(ids, meters, boundaries, now)
        if pairs is not None:
            read = ((key, series) for key, series in read if key in pairs)
    instants = [_epoch_micros(boundary) for boundary in boundaries]
    for key, series in read:
        periods = series.periods(key, boundaries, instants, frozen)
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
    if connection.vendor == "postgresql":  # one array parameter, not a placeholder per asset
        table = connection.ops.quote_name(MeterBoundary._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT asset_id, meter, at, value, estimated FROM {table} "  # noqa: S608 - the model's table
                "WHERE asset_id = ANY(%s::bigint[]) AND meter = ANY(%s::text[]) AND at = ANY(%s::timestamptz[])",
                [_bigint_array(ids), _text_array(meters), boundaries],
            )
            rows = cursor.fetchall()
    else:
        rows = MeterBoundary.objects.filter(asset_id__in=ids, meter__in=meters, at__in=boundaries).values_list(
            "asset_id", "meter", "at", "value", "estimated"
        )
    return {(asset_id, meter, at): _Frozen(value, estimated) for asset_id, meter, at, value, estimated in rows}


def _bigint_array(ids: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers, passed as one text parameter and cast in the query: a hundred
    thousand ids are one ``join``, not a dumped element each."""
    return "{" + ",".join(map(str, ids)) + "}"


def _text_array(texts: Sequence[str]) -> str:
    """A PostgreSQL array literal of strings (meter names: a handful of distinct values, each quoted once)."""
    quoted: dict[str, str] = {}
    for text in texts:
        if text not in quoted:
            escaped = text.replace("\\", "\\\\").replace('"', '\\"')
            quoted[text] = f'"{escaped}"'
    return "{" + ",".join(quoted[text] for text in texts) + "}"


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


def _streamed_series(
    ids: list[int], meters: list[str], boundaries: list[datetime], now: datetime
) -> Iterator[tuple[tuple[int, str], "_Series"]]:
    """Every series from its neighbours outside the range and all its valid readings within it (two queries)."""
    neighbours = _neighbours(ids, meters, first=boundaries[0], last=boundaries[-1], now=now)
    seen = set()
    for key, rows in groupby(_range_rows(ids, meters, boundaries[0], boundaries[-1], now), key=lambda r: r[:2]):
        seen.add(key)
        before, after = neighbours.get(key, (None, None))
        yield key, _Series.of_points(_series_points(before, _deduplicated(rows), after))
    for key, (before, after) in neighbours.items():
        if key not in seen:
            yield key, _Series.of_points(_series_points(before, [], after))


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


# The series reduced in PostgreSQL (see "Scale"), one pair at a time: the valid readings of the pair from a day
# before the first boundary to a day after the last, one per instant (the manual read first) in time order,
# straight from the series index (an index-only range scan, no sort); one window pass numbers them and gives each
# the reading before it. A reading leaves the database when the rules may look at it or at the one before it, which
# travels with it: the first of each period (the one before it is the last of the period before), every reset (the
# value before it is what the adjusted sum carries), the first when it falls in the range (the ledger starts there)
# and the last when it does not pass the range (with the one before it, the last two, to extrapolate; ``last``
# marks it). Times leave as microseconds since 1970, the rows by pair (numbered as given) and time.
_REDUCED_SQL = """
SELECT pair.ord, {micros_taken_at}, numbered.value, {micros_previous_at}, numbered.previous_value, numbered.position,
       numbered.next_at IS NULL AS last
FROM unnest(%(pair_assets)s::bigint[], %(pair_meters)s::text[]) WITH ORDINALITY AS pair(asset_id, meter, ord)
CROSS JOIN LATERAL (
    SELECT taken_at, value,
           lag(taken_at) OVER ordered AS previous_at,
           lag(value) OVER ordered AS previous_value,
           lead(taken_at) OVER ordered AS next_at,
           row_number() OVER ordered - 1 AS position
    FROM (
        SELECT DISTINCT ON (reading.taken_at) reading.taken_at, reading.value
        FROM {readings} AS reading
        WHERE reading.asset_id = pair.asset_id AND reading.meter = pair.meter
          AND reading.invalidated_at IS NULL AND reading.taken_at <= %(now)s
          AND reading.taken_at >= %(first)s - %(margin)s::interval
          AND reading.taken_at <= %(last)s + %(margin)s::interval
        ORDER BY reading.taken_at, {manual_first}
    ) AS points
    WINDOW ordered AS (ORDER BY taken_at)
) AS numbered
WHERE (numbered.position = 0 AND numbered.taken_at >= %(first)s)
   OR (numbered.next_at IS NULL AND numbered.taken_at <= %(last)s)
   OR numbered.value < numbered.previous_value
   OR width_bucket(numbered.taken_at, %(boundaries)s::timestamptz[])
      <> width_bucket(numbered.previous_at, %(boundaries)s::timestamptz[])
ORDER BY 1, 2
"""

# What the scan may leave out, for the few series that need it (``_Needs``), by indexed ``LIMIT 1`` lookups:
# ``before``, the last valid reading before the scan, for a series with no reading in the day before the range;
# ``after``, the first after the scan, for one with no reading after the range; ``rate``, the first reading of the
# recent-rate window of a series whose last reading falls before the last boundary, more than 30 days into its
# period (it lies inside that period).
_NEIGHBOURS_SQL = """
WITH need AS (
    SELECT * FROM unnest(%(ords)s::bigint[], %(assets)s::bigint[], %(meters)s::text[], %(before)s::boolean[],
                         %(after)s::boolean[], %(rate_from)s::timestamptz[])
        AS need(ord, asset_id, meter, before, after, rate_from)
)
SELECT need.ord, 'before', {micros_taken_at}, neighbour.value FROM need CROSS JOIN LATERAL (
    SELECT reading.taken_at, reading.value FROM {readings} AS reading
    WHERE reading.asset_id = need.asset_id AND reading.meter = need.meter AND reading.invalidated_at IS NULL
      AND reading.taken_at < %(first)s - %(margin)s::interval AND reading.taken_at <= %(now)s
    ORDER BY reading.taken_at DESC, {manual_first} LIMIT 1
) AS neighbour
WHERE need.before
UNION ALL
SELECT need.ord, 'after', {micros_taken_at}, neighbour.value FROM need CROSS JOIN LATERAL (
    SELECT reading.taken_at, reading.value FROM {readings} AS reading
    WHERE reading.asset_id = need.asset_id AND reading.meter = need.meter AND reading.invalidated_at IS NULL
      AND reading.taken_at > %(last)s + %(margin)s::interval AND reading.taken_at <= %(now)s
    ORDER BY reading.taken_at, {manual_first} LIMIT 1
) AS neighbour
WHERE need.after
UNION ALL
SELECT need.ord, 'rate', {micros_taken_at}, neighbour.value FROM need CROSS JOIN LATERAL (
    SELECT reading.taken_at, reading.value FROM {readings} AS reading
    WHERE reading.asset_id = need.asset_id AND reading.meter = need.meter AND reading.invalidated_at IS NULL
      AND reading.taken_at >= need.rate_from AND reading.taken_at <= %(now)s
    ORDER BY reading.taken_at, {manual_first} LIMIT 1
) AS neighbour
WHERE need.rate_from IS NOT NULL
"""


@dataclass(frozen=True)
class _Needs:
    """What the scan left out of a series (``_NEIGHBOURS_SQL``): ``after_position`` is that of the reading after
    the scan (one past the last), None when it is not needed; ``rate_from``: where the recent-rate window starts."""

    before: bool
    after_position: int | None
    rate_from: int | None


def _reduced_series(
    pairs: list[tuple[int, str]], boundaries: list[datetime], now: datetime
) -> Iterator[tuple[tuple[int, str], "_Series"]]:
    """Every series, reduced in the database to the readings the rules look at (two queries; PostgreSQL): the scan,
    whose series are computed as they arrive, then the lookups the few others wait for."""
    formats = {
        "readings": connection.ops.quote_name(Reading._meta.db_table),
        "manual_first": manual_first_sql("reading"),
        "micros_taken_at": epoch_micros_sql("taken_at"),
        "micros_previous_at": epoch_micros_sql("previous_at"),
    }
    params = {
        "boundaries": boundaries,
        "first": boundaries[0],
        "last": boundaries[-1],
        "now": now,
        "margin": NEIGHBOUR_MARGIN,
    }
    instants = [_epoch_micros(boundary) for boundary in boundaries]
    waiting: dict[int, tuple[list[tuple], _Needs]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _REDUCED_SQL.format(**formats),
            {
                **params,
                "pair_assets": _bigint_array(asset_id for asset_id, _meter in pairs),
                "pair_meters": _text_array([meter for _asset_id, meter in pairs]),
            },
        )
        expected = 1
        for ordinal, group in groupby(_fetched(cursor), key=itemgetter(0)):
            for silent in range(expected, ordinal):  # no reading in the scan at all
                waiting[silent] = ([], _Needs(before=True, after_position=0, rate_from=None))
            expected = ordinal + 1
            rows = list(group)
            needs = _needs(rows, instants)
            if needs is None:
                yield pairs[ordinal - 1], _Series.of_rows(rows)
            else:
                waiting[ordinal] = (rows, needs)
        for silent in range(expected, len(pairs) + 1):
            waiting[silent] = ([], _Needs(before=True, after_position=0, rate_from=None))
        ordinals = sorted(waiting)
        cursor.execute(
            _NEIGHBOURS_SQL.format(**formats),
            {
                **params,
                "ords": ordinals,
                "assets": [pairs[ordinal - 1][0] for ordinal in ordinals],
                "meters": [pairs[ordinal - 1][1] for ordinal in ordinals],
                "before": [waiting[ordinal][1].before for ordinal in ordinals],
                "after": [waiting[ordinal][1].after_position is not None for ordinal in ordinals],
                "rate_from": [_instant(waiting[ordinal][1].rate_from) for ordinal in ordinals],
            },
        )
        for ordinal, kind, taken_at, value in cursor.fetchall():
            rows, needs = waiting[ordinal]
            position = {"before": -1, "after": needs.after_position, "rate": None}[kind]
            rows.append((ordinal, taken_at, value, None, None, position, False))
    for ordinal in ordinals:
        rows = waiting[ordinal][0]
        if rows:
            yield pairs[ordinal - 1], _Series.of_rows(sorted(rows, key=itemgetter(1)))


def _needs(rows: list[tuple], instants: list[int]) -> _Needs | None:
    """What a series' scanned rows (in time order) lack for the rules, or None when they lack nothing."""
    first, last = instants[0], instants[-1]
    _ordinal, head_at, _value, _previous_at, _previous_value, head_position, _last = rows[0]
    _ordinal, tail_at, _value, _previous_at, _previous_value, tail_position, tail_is_last = rows[-1]
    before = head_position == 0 and head_at >= first  # no reading in the day before the range
    after_position = tail_position + 1 if tail_is_last and tail_at <= last else None  # none after the range
    rate_from = None
    if tail_is_last and first <= tail_at < last:
        period_start = instants[bisect_right(instants, tail_at) - 1]
        if tail_at - _RATE_WINDOW_MICROS > period_start:
            rate_from = tail_at - _RATE_WINDOW_MICROS
    if not before and after_position is None and rate_from is None:
        return None
    return _Needs(before, after_position, rate_from)


def _instant(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


def _fetched(cursor) -> Iterator[tuple]:
    while rows := cursor.fetchmany(STREAM_CHUNK_SIZE):
        yield from rows


# --- Computation ----------------------------------------------------------------------------------------------


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _epoch_micros(instant: datetime) -> int:
    """An aware instant as whole microseconds since 1970 (how ``_Series`` holds time)."""
    return (instant - _EPOCH) // _MICROSECOND


_RATE_WINDOW_MICROS = RATE_WINDOW // _MICROSECOND


class _Counter(NamedTuple):
    value: Decimal  # what the meter showed
    adjusted: Decimal  # the reset-adjusted series at that instant
    source: str
    estimated: bool
    used: tuple[int | None, ...]  # positions of the readings it was computed from


class _Series:
    """One asset's meter: readings (one per instant, in time order) with their reset-adjusted sum.

    Times are microseconds since 1970 (``_epoch_micros``): the rules compare and subtract them by the hundred
    thousand. A series may hold only some of its readings (``_reduced_series``): each carries its ``position`` in the
    whole series (consecutive integers; only differences count) and ``resets``, the number of resets up to and
    including it, and ``size`` is one past the last position held (the series' last whenever a rule needs it). The
    rules look only at the readings around the boundaries, every reset and the one before it, the first when it
    falls in a period, the last two when the last does not pass the last boundary, and the first of the recent-rate
    window, so any subset holding those gives the figures of the whole series.
    """

    def __init__(self, times, values, adjusted, reset_at, positions, resets, size: int):
        self.times: list[int] = times
        self.values: list[Decimal] = values
        self.adjusted: list[Decimal] = adjusted  # the reset-adjusted series at each reading
        self.reset_at: list[bool] = reset_at  # reset_at[i]: the reading is below the one before it in the series
        self.positions: list[int | None] = positions  # None: a reading inside the period it serves (``rate``)
        self.resets: list[int] = resets
        self.size = size

    @classmethod
    def of_points(cls, points: list[tuple[datetime, Decimal]]) -> "_Series":
        """The whole series from its (time, value) points."""
        values = [value for _taken_at, value in points]
        adjusted, reset_at, resets = [], [], []
        total, count = ZERO, 0
        for index, value in enumerate(values):
            reset = index > 0 and value < values[index - 1]
            if index > 0:
                total += value if reset else value - values[index - 1]
            count += reset
            adjusted.append(total)
            reset_at.append(reset)
            resets.append(count)
        times = [_epoch_micros(taken_at) for taken_at, _value in points]
        return cls(times, values, adjusted, reset_at, list(range(len(points))), resets, len(points))

    @classmethod
    def of_rows(cls, rows: Iterable[tuple]) -> "_Series":
        """Part of a series from ``_REDUCED_SQL`` rows (pair, time, value, time and value of the reading before it,
        position, whether it is the last) and its neighbours, in time order.

        A numbered row of the scan brings the reading before it (its position less one). The rows hold the first
        reading and every reset, so the one before each reset is held too: a held reading is a reset when the
        reading just before it in the series is held and is greater, and the reset-adjusted sum at a reading is its
        value less the first value plus the value before each reset up to it: (v_i - v_0) + the sum of v_(j-1) over
        resets j <= i. A ``rate`` row (no position) is never a reset: a reset is always numbered.
        """
        times: list[int] = []
        values: list[Decimal] = []
        positions: list[int | None] = []
        for _pair, taken_at, value, previous_at, previous_value, position, _last in rows:
            if previous_at is not None:
                if not times or times[-1] < previous_at:
                    times.append(previous_at)
                    values.append(previous_value)
                    positions.append(position - 1)
                else:  # held already, perhaps as the rate window's first reading (no position)
                    positions[-1] = position - 1
            if times and times[-1] == taken_at:
                if position is not None:
                    positions[-1] = position
                continue
            times.append(taken_at)
            values.append(value)
            positions.append(position)
        first_value = values[0]
        adjusted = [value - first_value for value in values]
        reset_at = [False] * len(times)
        resets = [0] * len(times)
        carried, count = ZERO, 0
        for index in range(1, len(times)):
            position = positions[index]
            if position is not None and positions[index - 1] == position - 1 and values[index] < values[index - 1]:
                carried += values[index - 1]
                count += 1
                reset_at[index] = True
            if count:
                adjusted[index] += carried
                resets[index] = count
        return cls(times, values, adjusted, reset_at, positions, resets, positions[-1] + 1)  # the last is numbered

    def _position(self, index: int) -> int:
        """The position in the whole series of the reading at ``index`` here; the series' size past the end."""
        return self.positions[index] if index < len(self.positions) else self.size

    def periods(self, key, boundaries: list[datetime], instants: list[int], frozen: dict) -> list[Usage | None]:
        """The usage of each period between ``boundaries`` (``instants``: the same in ``_epoch_micros``)."""
        return [
            self.period(
                key,
                (boundaries[index], instants[index]),
                (boundaries[index + 1], instants[index + 1]),
                frozen.get((*key, boundaries[index])),
                frozen.get((*key, boundaries[index + 1])),
            )
            for index in range(len(boundaries) - 1)
        ]

    def period(self, key, start_at: tuple[datetime, int], end_at: tuple[datetime, int], frozen_start, frozen_end):
        (start, start_micros), (end, end_micros) = start_at, end_at
        end_counter = self.counter(end_micros, period_start=start_micros)
        if end_counter is None:
            return None  # no valid reading at or before the end: no data
        start_counter = self.counter(start_micros, period_start=start_micros) or self.ledger_start(start_micros)
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
        # The readings within [start, end] are positions first..after - 1 of the whole series: from the first at or
        # after the start to the last at or before the end (both are held; the one after the end may not be).
        first = self._position(bisect_left(self.times, start_micros))
        last = bisect_right(self.times, end_micros) - 1
        after = max(first, self.positions[last] + 1 if last >= 0 else 0)
        outside = {
            position
            for position in (*start_counter.used, *end_counter.used)
            if position is not None and not first <= position < after
        }
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
            resets=self._resets_in(start_micros, end_micros),
            readings_used=after - first + len(outside),
        )

    def _resets_in(self, start: int, end: int) -> int:
        """The resets in [start, end): a reset is placed right after the reading before it, so it falls in the
        period when that reading does. They are the resets of the readings after the first at or after the start,
        up to the first at or after the end (or the last)."""
        first = bisect_left(self.times, start)
        if first == len(self.times):
            return 0
        upto = min(bisect_left(self.times, end), len(self.times) - 1)
        return self.resets[upto] - self.resets[first]

    def counter(self, at: int, *, period_start: int) -> _Counter | None:
        """The counter at ``at`` from the readings (rules 1-3); ``None`` when no reading is at or before it."""
        after = bisect_right(self.times, at)  # self.times[:after] are at or before ``at``
        if after == 0:
            return None
        last = after - 1
        if self.times[last] == at:
            return _Counter(
                self.values[last], self.adjusted[last], CounterSource.READING, False, (self.positions[last],)
            )
        if after < len(self.times):
            return self._interpolated(last, after, at)
        return self._extrapolated(last, at, period_start)

    def _interpolated(self, before: int, after: int, at: int) -> _Counter:
        reset = self.reset_at[after]
        step = self.values[after] if reset else self.values[after] - self.values[before]
        span = self.times[after] - self.times[before]
        increment = _quantize(step * (at - self.times[before]) / span)
        base = ZERO if reset else self.values[before]
        return _Counter(
            base + increment,
            self.adjusted[before] + increment,
            CounterSource.INTERPOLATED,
            False,
            (self.positions[before], self.positions[after]),
        )

    def _extrapolated(self, last: int, at: int, period_start: int) -> _Counter:
        increment, used = ZERO, (self.positions[last],)
        first = self._rate_start(last, period_start)
        if first is not None:
            used += (self.positions[first],)
            growth = self.adjusted[last] - self.adjusted[first]
            elapsed = self.times[last] - self.times[first]
            increment = _quantize(growth * (at - self.times[last]) / elapsed)
        return _Counter(
            self.values[last] + increment,
            self.adjusted[last] + increment,
            CounterSource.EXTRAPOLATED,
            True,
            used,
        )

    def _rate_start(self, last: int, period_start: int) -> int | None:
        """The first point of the recent rate: the first reading of the 30 days before the last reading (not before
        the period's start), or the reading just before them; ``None`` (held flat) when the last reading is older
        than the period's start or has no reading before it."""
        last_at = self.times[last]
        if last_at < period_start:
            return None
        first = bisect_left(self.times, max(last_at - _RATE_WINDOW_MICROS, period_start))
        if first >= last:
            first = last - 1
        return first if first >= 0 else None

    def ledger_start(self, start: int) -> _Counter:
        """Rule 4: no reading at or before the start; the ledger begins at the first reading after it."""
        first = bisect_right(self.times, start)
        return _Counter(
            self.values[first], self.adjusted[first], CounterSource.READING, False, (self.positions[first],)
        )


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
