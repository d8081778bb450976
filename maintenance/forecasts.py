"""Replacement forecasts: when each consumable runs out and each wear part reaches the end of its life.

Two kinds, one result (``ReplacementForecast``: the basis, a P10-P50-P90 range of dates and the date to act):

**Consumables** (toner) from their supply levels. The current cartridge's *segment* is the levels since the
last refill jump; its depletion rate (percent per day) is estimated robustly; the date it reaches empty follows,
with a range from the scatter of the daily use and the rate's uncertainty.

**Wear parts** (drums, fusers, tyres, batteries) from counters. Life used is the asset's counter now less the
counter when the part was installed (the last ``PartInstallation`` of that part type, else the asset's first
reading or install date); the usage rate is the asset's recent average per day. The life expected comes from
``maintenance.lives``: the part type's rated life, unless enough replacements of that part type on that model
have been recorded: then the lives observed between replacements, with the lives of the parts still running
(right-censored), give an empirical or a Weibull distribution, and the forecast says which and from how many.

**Acting**: the date to act (``act_by``) is the risk-quantile date (0.90: the early 10 % date) less the part's
lead time and the customer's safety margin.

The layers of this module, so that the nightly run, the backtest and the benchmark share one implementation:

1. *Pure math* on numpy arrays, no database, vectorised over many segments or parts: ``consumable_estimates``,
   ``wear_estimates`` (the life distributions: ``maintenance.lives``).
2. *Features as of an instant*, set-based, reading nothing after ``as_of`` (the backtest replays the past
   with them), for one customer, a batch of customers or given assets: ``consumable_segments`` (or
   ``consumable_segment_chunks``), ``wear_features``.
3. *The run* for a batch of customers of one provider: ``forecast_chunks`` (features + math into unsaved rows, a
   chunk at a time), ``forecasts_refresh`` (the nightly run: each chunk upserted as it comes, then the stale rows
   deleted), ``forecasts_compute`` and ``forecasts_write`` (the same in one list, for small runs and tests).

**Estimation methods** (exact, so that pages and the backtest can state them):

*Consumable segments.* A toner's levels (``SupplyLevel``) of the ``lookback_days`` (120) up to ``as_of`` come
from the database as one row per asset and supply (``LEVELS_SQL``) and are sorted by time; a *refill jump* is a
rise of at least 20 percentage points from one level to the next, or a rise of at least 5 points that ends at
90 % or more (the 5-point floor keeps noise around 90 % from looking like a new cartridge). The segment is the
levels from the last jump on (or all of them when there was none in the look-back window). A segment with fewer
than 3 levels or spanning less than 1 day gives no forecast.

*Depletion rate.* A robust line through the segment's n levels (time t in calendar days, so weekends, holidays
and idle days spread over the whole segment instead of biasing a per-working-day rate): the slope is the median
of the pair slopes (level j - level i) / (t j - t i) over the pairs (i, i + lag) for the seven lags from half the
segment less 3 to half the segment plus 3 levels (Theil's method on pairs half a segment apart, over a week of
phases for daily levels: a burst day or a noisy reading moves the median little, O(n) pairs); pairs less than
``MIN_PAIR_DAYS`` apart are skipped. The intercept is median(level - slope x t); the level now is the line at
``as_of``, clipped to 0-100 (not the last, noisy reading). The rate is -slope in percent per day; a flat or
rising segment (rate <= 0) gives no forecast.

*Consumable spread.* The use from now on is taken as a random walk around the line: over tau days it is normal
with mean rate x tau and variance s^2 (tau + tau^2 / D), where the first term is the day-to-day scatter of use
and the second the rate's own uncertainty from a segment of D days (its span, at least 1). s, in points per
square-root day, is the robust scale of the steps between consecutive levels beyond the line's:
1.4826 x MAD of (step - slope x dt) / sqrt(dt), at least ``MIN_STEP_SCALE`` (0.5). The day at quantile p is the
tau at which the level now + slope x tau + z_p s sqrt(tau + tau^2 / D) reaches 0 (z_p the standard normal
quantile; found by bisection, monotone while the line falls), 0 when it already has, capped at ``MAX_DAYS``
(3 years); the median day is exactly where the line meets zero. The P10-P90 range is thus a prediction interval
of the empty day, not the rate's confidence interval. Deterministic.

*Wear parts.* Meters per life unit (``lives.LIFE_UNIT_METER``): pages -> total pages, hours -> key-on hours,
cycles (traction batteries' charge cycles) -> key-on hours / 8, days -> calendar days. ``installed_at`` is the
last ``PartInstallation`` of the part type on the asset at or before ``as_of``; without one, the first valid
reading of the meter (for days parts: the asset's install date, else no forecast). The counter at installation
is the installation's recorded meter value when recorded on that meter, else the last valid reading at or before
it, else the first reading after it.

*Usage features* (set-based: ``COUNTERS_SQL``, one aggregate over the readings of the ``RATE_DAYS`` (90) before
``as_of``, one row per asset and meter). Valid readings only (not invalidated, not after ``as_of``). The growth
over the window is the reset-adjusted sum of the steps between consecutive readings, one per instant (where
sources read the same instant, the manual read wins: technician, customer, device), a drop counting the new value
(the counter restarted from zero). When the window is plain (one source, the first reading the lowest and the
last the highest) that is highest - lowest, straight from the aggregate; otherwise the asset's readings are
summed step by step (``STEPS_SQL``, window functions over those assets only). The rate is the growth divided by
the days from the first to the last reading of the window (0, no forecast, when they are less than a day apart
or there is no reading in the window: a silent device). The counter now is the last reading carried on at the
rate to ``as_of``. Life used = counter now - counter at installation; when that is negative (the meter was reset
since), the counter now counted from zero.

*Life distributions*: ``maintenance.lives`` (catalogue, empirical with Kaplan-Meier, Weibull with censoring),
fitted once per provider and night (``lives.provider_lives``) and handed to every batch.

*Wear spread.* A part that has already used u is forecast from the life distribution conditioned on surviving
u: the life at quantile p is F^-1(F(u) + p (1 - F(u))); days at p = (that life - u) / rate, capped at
``MAX_DAYS``; a part past the whole distribution is due now (0 days).

*Dates and acting.* Days become dates as the local date (the asset's site time zone, Asia/Tokyo when unset) of
``as_of`` + days. The risk day is the date at quantile 1 - risk quantile (early side: 0.90 -> P10); ``act_by``
= risk day - lead time - safety margin. Settings: the customer's ``MaintenanceSettings`` field, else the
provider's, else 14 days window, 2 days margin, 0.90 (``forecast_settings_for_many``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from statistics import NormalDist
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from django.db import connection, transaction
from django.db.models import Case, CharField, Exists, F, FloatField, OuterRef, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils.dateparse import parse_datetime

from accounts.models import Organisation
from assets.choices import ASSET_IN_SERVICE_STATES, PartKind
from assets.models import Asset, PartType
from maintenance.choices import ForecastKind, ForecastMethod
from maintenance.lives import (
    LIFE_UNIT_METER,
    LifeDistribution,
    life_distributions,
    life_per_meter_unit,
    provider_lives,
)
from maintenance.models import MaintenanceSettings, PartInstallation, ReplacementForecast
from telemetry.choices import Supply
from telemetry.models import Reading, epoch_micros_sql, manual_first_sql

ForecastPoint = "the dates of one forecast"

# Refill jumps (see the module docstring).
REFILL_RISE = 20.0
REFILL_FULL = 90.0
REFILL_FULL_MIN_RISE = 5.0
MIN_SEGMENT_POINTS = 3
MIN_SEGMENT_DAYS = 1.0
# The level line: pairs closer in time than this are skipped; the daily use's robust scale (MAD x 1.4826, the
# standard deviation of normal noise) is at least MIN_STEP_SCALE points per square-root day.
MIN_PAIR_DAYS = 1e-6
LAG_SPREAD = 3  # lags from half the segment - 3 to + 3 levels: a week of phases for daily levels
MAD_TO_SD = 1.4826
MIN_STEP_SCALE = 0.5
BISECTION_STEPS = 30  # [0, MAX_DAYS] to within a tenth of a second
MATH_BATCH_SIZE = 2048
# Forecasts further out than this are shown at the cap (a slow cartridge, an idle asset).
MAX_DAYS = 3 * 365.0
# Wear-part usage rate window.
RATE_DAYS = 90
STREAM_CHUNK_SIZE = 5000
SEGMENT_LOOKBACK_DAYS = 120
DEFAULT_TIME_ZONE = "Asia/Tokyo"
DEFAULT_PLANNING_WINDOW_DAYS = 14
DEFAULT_SAFETY_MARGIN_DAYS = 2
DEFAULT_RISK_QUANTILE = 0.90

TONER_SUPPLIES = (Supply.TONER_BLACK, Supply.TONER_CYAN, Supply.TONER_MAGENTA, Supply.TONER_YELLOW)
_SUFFIX_SUPPLY = {
    "-K": Supply.TONER_BLACK,
    "-C": Supply.TONER_CYAN,
    "-M": Supply.TONER_MAGENTA,
    "-Y": Supply.TONER_YELLOW,
}
_COLOUR_SUPPLY = {"cyan": Supply.TONER_CYAN, "magenta": Supply.TONER_MAGENTA, "yellow": Supply.TONER_YELLOW}
_DAY = 86_400.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NORMAL = NormalDist()


# --- Data -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LevelSegment:
    """A consumable's levels since its last refill, up to ``as_of``."""

    asset_id: int
    part_type_id: int
    supply: str
    started_at: datetime  # time of the first level of the segment (after the refill jump)
    times: np.ndarray  # float64 days since started_at, ascending
    levels: np.ndarray  # float64 percent


@dataclass(frozen=True)
class WearFeature:
    """A wear part on an asset, as of ``as_of``."""

    asset_id: int
    part_type_id: int
    asset_model_id: int
    meter: str  # "" for life unit days
    installed_at: datetime  # last installation of this part type, else first reading (days parts: install date)
    life_used: float  # counter units (or days) since installed_at
    rate_per_day: float  # recent average use per day (0 when unknown)
    data_points: int


@dataclass(frozen=True)
class Estimate:
    """One forecast before its days are turned into calendar dates (days after ``as_of``, early to late)."""

    method: str
    rate_per_day: float
    days_p10: float
    days_p50: float
    days_p90: float
    days_at_risk: float  # days at the customer's risk quantile (early side): used for act_by
    data_points: int
    replacements_used: int = 0
    level_percent: float | None = None
    life_used: float | None = None
    rated_life: float | None = None


@dataclass(frozen=True)
class ForecastSettings:
    """The three forecast settings of a customer, resolved (customer, then provider, then defaults)."""

    planning_window_days: int
    safety_margin_days: int
    risk_quantile: float


# --- Layer 1: the math ----------------------------------------------------------------------------------------


def _per_item(value, count: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (count,))


def _padded(segments: Sequence[LevelSegment]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, levels, counts): the segments as rows of two NaN-padded arrays."""
    counts = np.fromiter((len(segment.times) for segment in segments), dtype=np.int64, count=len(segments))
    width = int(counts.max()) if len(segments) else 0
    times = np.full((len(segments), width), np.nan)
    levels = np.full((len(segments), width), np.nan)
    for row, segment in enumerate(segments):
        times[row, : counts[row]] = segment.times
        levels[row, : counts[row]] = segment.levels
    return times, levels, counts


def level_lines(times: np.ndarray, levels: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """The robust line of each row of the padded arrays, and the scatter of its daily use (see "Depletion rate"
    and "Consumable spread" in the module docstring).

    Returns arrays per row: ``slope``, ``intercept``, ``step_scale`` (points per square-root day) and ``span``
    (days from the first level to the last); rows need at least two levels at distinct times.
    """
    rows = np.arange(len(counts))[:, None]
    half = (counts + 1) // 2
    k = np.arange(max(int(times.shape[1]) // 2 + LAG_SPREAD, 1))[None, :]
    slopes = []
    for offset in range(-LAG_SPREAD, LAG_SPREAD + 1):  # pairs (k, k + lag): lags about half the segment
        lag = np.maximum(half + offset, 1)[:, None]
        valid = k < counts[:, None] - lag
        later = np.where(valid, k + lag, 0)
        earlier = np.where(valid, k, 0)
        dt = times[rows, later] - times[rows, earlier]
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (levels[rows, later] - levels[rows, earlier]) / dt
        slopes.append(np.where(valid & (dt > MIN_PAIR_DAYS), slope, np.nan))
    pair_slopes = np.concatenate(slopes, axis=1)
    dt = np.diff(times, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row without a usable pair or step gives NaN
        slope = np.nanmedian(pair_slopes, axis=1)
        intercept = np.nanmedian(levels - slope[:, None] * times, axis=1)
        # Each step's use beyond the line's, scaled to one day: (drop - rate dt) / sqrt(dt).
        steps = np.where(dt > MIN_PAIR_DAYS, (np.diff(levels, axis=1) - slope[:, None] * dt) / np.sqrt(dt), np.nan)
        center = np.nanmedian(steps, axis=1)
        step_scale = np.maximum(MAD_TO_SD * np.nanmedian(np.abs(steps - center[:, None]), axis=1), MIN_STEP_SCALE)
    span = times[np.arange(len(counts)), counts - 1] - times[:, 0]
    return {"slope": slope, "intercept": intercept, "step_scale": step_scale, "span": span}


def _empty_days(line: dict[str, np.ndarray], now: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Days after ``now`` until the level reaches zero at quantile p (z its normal quantile), per row and column.

    The smallest tau in [0, MAX_DAYS] with level(now) + slope tau + z s sqrt(tau + tau^2 / span) <= 0, s the step
    scale (monotone in tau while the line falls), by bisection; MAX_DAYS where it is not reached.
    """
    slope, scale = line["slope"][:, None], line["step_scale"][:, None]
    span = np.maximum(line["span"], MIN_SEGMENT_DAYS)[:, None]
    level = (line["intercept"] + line["slope"] * now)[:, None]

    def below(tau: np.ndarray) -> np.ndarray:
        return level + slope * tau + z * scale * np.sqrt(tau + tau**2 / span) <= 0

    low = np.zeros(np.broadcast_shapes(level.shape, z.shape))
    high = np.full_like(low, MAX_DAYS)
    done_now, never = below(low), ~below(high)
    for _step in range(BISECTION_STEPS):
        middle = (low + high) / 2.0
        hit = below(middle)
        high = np.where(hit, middle, high)
        low = np.where(hit, low, middle)
    return np.where(done_now, 0.0, np.where(never, MAX_DAYS, high))


def consumable_estimates(
    segments: Sequence[LevelSegment], *, risk_quantile: float | np.ndarray, as_of: datetime | None = None
) -> list[Estimate | None]:
    """The empty date of each segment (see the module docstring); ``None`` where it cannot be told.

    ``risk_quantile`` is one value or one per segment. Days count from ``as_of`` (default: each segment's last
    level); the level now is the robust line there. Vectorised over batches of segments of similar length.
    """
    risks = _per_item(risk_quantile, len(segments))
    results: list[Estimate | None] = [None] * len(segments)
    usable = [
        index
        for index, segment in enumerate(segments)
        if len(segment.times) >= MIN_SEGMENT_POINTS and segment.times[-1] - segment.times[0] >= MIN_SEGMENT_DAYS
    ]
    usable.sort(key=lambda index: len(segments[index].times))
    for start in range(0, len(usable), MATH_BATCH_SIZE):
        batch = usable[start : start + MATH_BATCH_SIZE]
        chosen = [segments[index] for index in batch]
        times, levels, counts = _padded(chosen)
        line = level_lines(times, levels, counts)
        if as_of is None:
            now = times[np.arange(len(batch)), counts - 1]
        else:
            now = np.array([(as_of - segment.started_at).total_seconds() / _DAY for segment in chosen])
        level = np.clip(line["intercept"] + line["slope"] * now, 0.0, 100.0)
        # Quantile p of the empty day: the day the level's prediction at quantile p reaches zero.
        quantiles = np.column_stack([np.full(len(batch), 0.1), np.full(len(batch), 0.5), np.full(len(batch), 0.9)])
        quantiles = np.column_stack([quantiles, 1.0 - risks[batch]])
        z = np.vectorize(lambda p: _NORMAL.inv_cdf(min(max(p, 1e-6), 1 - 1e-6)))(quantiles)
        days = _empty_days(line, now, z)
        with np.errstate(divide="ignore", invalid="ignore"):  # the median day exactly: where the line meets zero
            days[:, 1] = np.clip(-(line["intercept"] + line["slope"] * now) / line["slope"], 0.0, MAX_DAYS)
        for row, index in enumerate(batch):
            slope = float(line["slope"][row])
            if not slope < 0:  # flat, rising or undefined: no forecast
                continue
            results[index] = Estimate(
                method=ForecastMethod.LEVEL_TREND,
                rate_per_day=-slope,
                days_p10=float(days[row, 0]),
                days_p50=float(days[row, 1]),
                days_p90=float(max(days[row, 2], days[row, 1])),
                days_at_risk=float(days[row, 3]),
                data_points=int(counts[row]),
                level_percent=float(level[row]),
            )
    return results


def wear_estimates(
    features: Sequence[WearFeature],
    lives: Mapping[tuple[int, int], LifeDistribution],
    *,
    risk_quantile: float | np.ndarray,
) -> list[Estimate | None]:
    """The end-of-life date of each wear part, from its life distribution conditioned on the life used.

    ``lives`` maps (asset model id, part type id) to a distribution (``life_distributions`` builds one for
    every feature); a feature without one, or without a usage rate, gives ``None``. Vectorised per distribution.
    """
    risks = _per_item(risk_quantile, len(features))
    results: list[Estimate | None] = [None] * len(features)
    by_key: dict[tuple[int, int], list[int]] = {}
    for index, feature in enumerate(features):
        if feature.rate_per_day > 0:
            by_key.setdefault((feature.asset_model_id, feature.part_type_id), []).append(index)
    for key, indices in by_key.items():
        distribution = lives.get(key)
        if distribution is None:
            continue
        rate = np.array([features[index].rate_per_day for index in indices], dtype=np.float64)
        used = np.maximum(np.array([features[index].life_used for index in indices], dtype=np.float64), 0.0)
        survived = np.asarray(distribution.cdf(used), dtype=np.float64)[:, None]
        quantiles = np.column_stack([np.full(len(indices), q) for q in (0.1, 0.5, 0.9)] + [1.0 - risks[indices]])
        ends = np.asarray(distribution.quantile(np.minimum(survived + quantiles * (1.0 - survived), 1.0)))
        days = np.clip(np.maximum(ends - used[:, None], 0.0) / rate[:, None], 0.0, MAX_DAYS)
        median = distribution.median()
        for row, index in enumerate(indices):
            results[index] = Estimate(
                method=distribution.method,
                rate_per_day=float(rate[row]),
                days_p10=float(days[row, 0]),
                days_p50=float(days[row, 1]),
                days_p90=float(days[row, 2]),
                days_at_risk=float(days[row, 3]),
                data_points=features[index].data_points,
                replacements_used=distribution.replacements_used,
                life_used=float(used[row]),
                rated_life=median,
            )
    return results


def act_by_date(*, predicted_risk_day: date, lead_time_days: int, safety_margin_days: int) -> date:
    """The date to ship or replace: the risk-quantile date less the lead time and the safety margin."""
    return predicted_risk_day - timedelta(days=int(lead_time_days) + int(safety_margin_days))


def supply_for_part_type(part_type) -> str | None:
    """The toner supply a consumable part type refills, else ``None``.

    By the code's colour suffix (-K black, -C cyan, -M magenta, -Y yellow, as in the catalogue); a consumable
    without one whose name says toner is a mono toner (black), unless the name names a colour.
    """
    if part_type.kind != PartKind.CONSUMABLE:
        return None
    code = (part_type.code or "").upper()
    for suffix, supply in _SUFFIX_SUPPLY.items():
        if code.endswith(suffix):
            return supply
    name = (part_type.name or "").lower()
    if "toner" not in name:
        return None
    for colour, supply in _COLOUR_SUPPLY.items():
        if colour in name:
            return supply
    return Supply.TONER_BLACK


def refill_jumps(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Whether each step from a level to the next is a refill jump (see the module docstring)."""
    rise = after - before
    return (rise >= REFILL_RISE) | ((after >= REFILL_FULL) & (before < REFILL_FULL) & (rise >= REFILL_FULL_MIN_RISE))


def refill_start(levels: np.ndarray) -> int:
    """The index of the first level after the last refill jump (0 when there is none)."""
    levels = np.asarray(levels, dtype=np.float64)
    found = np.flatnonzero(refill_jumps(levels[:-1], levels[1:])) if len(levels) > 1 else np.empty(0)
    return int(found[-1]) + 1 if found.size else 0


# --- Layer 2: features as of an instant -----------------------------------------------------------------------

# The levels of every toner in scope over the look-back window, one row per asset and supply: their count and two
# comma-separated lists, the times (microseconds since 1970) and the percents, in the same but no particular order
# (the refill jumps and the current segment are found in numpy, after sorting by time).
LEVELS_SQL = """
SELECT l.asset_id, l.supply, count(*), {concat}(CAST({micros} AS TEXT), ','), {concat}(CAST(l.percent AS TEXT), ',')
FROM telemetry_supplylevel l JOIN assets_asset a ON a.id = l.asset_id
WHERE {scope} AND l.supply IN ({supplies}) AND l.taken_at > %s AND l.taken_at <= %s
GROUP BY l.asset_id, l.supply
"""

# Every counter in scope over the rate window, one row each: the valid readings' count, whether they all come
# from one source (then no two share an instant: the readings are unique by asset, meter, time and source), the
# first and last times, lowest and highest values, and the values at the first and the last time (where sources
# read the same instant, the manual read wins: technician, customer, device). A plain window (one source, the
# first value the lowest and the last the highest) grew by highest - lowest.
COUNTERS_SQL = """
WITH grouped AS (
    SELECT r.asset_id, r.meter, count(*) AS readings, min({priority_r}) = max({priority_r}) AS one_source,
           min(r.taken_at) AS first_at, max(r.taken_at) AS last_at, min(r.value) AS low, max(r.value) AS high
    FROM telemetry_reading r JOIN assets_asset a ON a.id = r.asset_id
    WHERE {scope} AND r.meter IN ({meters}) AND r.invalidated_at IS NULL AND r.taken_at > %s AND r.taken_at <= %s
    GROUP BY r.asset_id, r.meter
)
SELECT g.asset_id, g.meter, g.readings, g.one_source, g.first_at, g.last_at, g.low, g.high,
       (SELECT x.value FROM telemetry_reading x
        WHERE x.asset_id = g.asset_id AND x.meter = g.meter AND x.taken_at = g.first_at AND x.invalidated_at IS NULL
        ORDER BY {priority} LIMIT 1),
       (SELECT x.value FROM telemetry_reading x
        WHERE x.asset_id = g.asset_id AND x.meter = g.meter AND x.taken_at = g.last_at AND x.invalidated_at IS NULL
        ORDER BY {priority} LIMIT 1)
FROM grouped g
"""

# The same, exactly, for the counters of some assets: one reading per instant (ordered worst source first, the
# winner is the last of its instant: ``best``), the reset-adjusted growth (a drop adds the new value: the counter
# restarted from zero; a winner's step is taken from the winner of the instant before, the first row back with
# another time, as sources are at most three; the others' steps are 0), the count, the first and last times and
# the last value.
STEPS_SQL = """
WITH steps AS (
    SELECT r.asset_id, r.meter, r.taken_at, {value} AS value,
           CASE
               WHEN lag(r.taken_at, 1) OVER w IS DISTINCT FROM r.taken_at THEN {value} - lag({value}, 1) OVER w
               WHEN lag(r.taken_at, 2) OVER w IS DISTINCT FROM r.taken_at THEN {value} - lag({value}, 2) OVER w
               ELSE {value} - lag({value}, 3) OVER w
           END AS step,
           CASE WHEN lead(r.taken_at) OVER w IS DISTINCT FROM r.taken_at THEN 1 ELSE 0 END AS best,
           CASE WHEN lead(r.taken_at) OVER w IS NULL THEN 1 ELSE 0 END AS is_last
    FROM telemetry_reading r
    WHERE r.asset_id IN ({assets}) AND r.meter IN ({meters}) AND r.invalidated_at IS NULL
          AND r.taken_at > %s AND r.taken_at <= %s
    WINDOW w AS (PARTITION BY r.asset_id, r.meter ORDER BY r.taken_at, {priority} DESC)
)
SELECT asset_id, meter, sum(best), min(taken_at), max(taken_at),
       sum(CASE WHEN best = 0 THEN 0 WHEN step < 0 THEN value ELSE step END), max(CASE WHEN is_last = 1 THEN value END)
FROM steps
GROUP BY asset_id, meter
"""


def _scope_sql(customer_ids, asset_ids, assets) -> tuple[str, list]:
    """The WHERE clause on ``assets_asset a`` of the assets in scope, and its parameters."""
    if asset_ids is None:
        states = list(ASSET_IN_SERVICE_STATES)
        clause = f"a.customer_id IN ({_marks(customer_ids)}) AND a.status IN ({_marks(states)})"
        return clause, [*customer_ids, *states]
    ids = [asset.pk for asset in assets] or [0]
    return f"a.id IN ({', '.join(['%s'] * len(ids))})", ids


def _concat() -> str:
    return "string_agg" if connection.vendor == "postgresql" else "group_concat"


def _aware(value) -> datetime:
    """A timestamp of a raw query: PostgreSQL gives aware datetimes, SQLite text in UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _AssetRow:
    pk: int
    asset_model_id: int
    time_zone: str
    install_date: date | None
    customer_id: int


def _customers(customer_id: int | None, customer_ids: Sequence[int] | None) -> tuple[int, ...] | None:
    """One customer or several, as a tuple (``None``: neither given)."""
    if customer_id is not None and customer_ids is not None:
        raise ValueError("customer_id and customer_ids exclude each other")
    if customer_id is not None:
        return (customer_id,)
    return None if customer_ids is None else tuple(customer_ids)


def _marks(values) -> str:
    return ", ".join(["%s"] * len(values)) or "NULL"


def _assets(customer_ids: tuple[int, ...] | None, asset_ids: Sequence[int] | None) -> list[_AssetRow]:
    """The assets in scope (one query): the customers' in-service assets, or exactly ``asset_ids``."""
    if customer_ids is None and asset_ids is None:
        raise ValueError("customer_id, customer_ids or asset_ids is required")
    assets = Asset.objects.all()
    if customer_ids is not None:
        assets = assets.filter(customer_id__in=customer_ids, status__in=ASSET_IN_SERVICE_STATES)
    if asset_ids is not None:
        assets = assets.filter(pk__in=list(asset_ids))
    rows = assets.order_by("pk").values_list("pk", "asset_model_id", "site__time_zone", "install_date", "customer_id")
    return [
        _AssetRow(pk, model_id, zone or DEFAULT_TIME_ZONE, installed, customer)
        for pk, model_id, zone, installed, customer in rows
    ]


def _part_types(model_ids, kind: str) -> dict[int, list[PartType]]:
    """Part types of ``kind`` by asset model (one query), in id order."""
    by_model: dict[int, list[PartType]] = {}
    if not model_ids:
        return by_model
    part_types = (
        PartType.objects.filter(kind=kind, asset_models__in=list(model_ids))
        .annotate(for_model_id=F("asset_models"))
        .order_by("pk")
    )
    for part_type in part_types:
        by_model.setdefault(part_type.for_model_id, []).append(part_type)
    return by_model


def _scoped(queryset, customer_ids, asset_ids: Sequence[int] | None, assets: list[_AssetRow]):
    if asset_ids is None:  # the customers' in-service assets, by join rather than a long list of ids
        return queryset.filter(asset__customer_id__in=customer_ids, asset__status__in=ASSET_IN_SERVICE_STATES)
    return queryset.filter(asset_id__in=[asset.pk for asset in assets])


def consumable_segments(
    *,
    customer_id: int | None = None,
    customer_ids: Sequence[int] | None = None,
    asset_ids: Sequence[int] | None = None,
    as_of: datetime,
    lookback_days: int = SEGMENT_LOOKBACK_DAYS,
) -> list[LevelSegment]:
    """The current toner segments of the assets, from the levels of ``lookback_days`` up to ``as_of``.

    Scope: the in-service assets of the customer (or customers), or the given assets. One segment per (asset,
    toner part type of the asset's model); where two part types of a model fit the same supply, the first by id.
    Three queries; the segments come one row each, their levels as text lists (``SEGMENTS_SQL``).
    """
    customers = _customers(customer_id, customer_ids)
    assets = _assets(customers, asset_ids)
    types = _part_types({asset.asset_model_id for asset in assets}, PartKind.CONSUMABLE)
    return _consumable_segments(assets, types, customers, asset_ids, as_of, lookback_days)


def consumable_segment_chunks(
    *,
    customer_id: int | None = None,
    customer_ids: Sequence[int] | None = None,
    asset_ids: Sequence[int] | None = None,
    as_of: datetime,
    lookback_days: int = SEGMENT_LOOKBACK_DAYS,
) -> Iterator[list[LevelSegment]]:
    """The segments of ``consumable_segments`` a chunk at a time as they come from the database, in no order (the
    nightly run's way: memory holds one chunk)."""
    customers = _customers(customer_id, customer_ids)
    assets = _assets(customers, asset_ids)
    types = _part_types({asset.asset_model_id for asset in assets}, PartKind.CONSUMABLE)
    yield from _segment_chunks(assets, types, customers, asset_ids, as_of, lookback_days)


def _consumable_segments(assets, types, customer_ids, asset_ids, as_of, lookback_days) -> list[LevelSegment]:
    segments = [
        segment
        for chunk in _segment_chunks(assets, types, customer_ids, asset_ids, as_of, lookback_days)
        for segment in chunk
    ]
    segments.sort(key=lambda segment: (segment.asset_id, segment.supply))
    return segments


def _segment_chunks(assets, types, customer_ids, asset_ids, as_of, lookback_days) -> Iterator[list[LevelSegment]]:
    """The segments of ``consumable_segments``, a chunk of up to ``STREAM_CHUNK_SIZE`` at a time (no order)."""
    supply_types: dict[int, dict[str, int]] = {}
    for model_id, part_types in types.items():
        mapping: dict[str, int] = {}
        for part_type in part_types:
            supply = supply_for_part_type(part_type)
            if supply is not None:
                mapping.setdefault(supply, part_type.pk)
        supply_types[model_id] = mapping
    part_type_of = {
        (asset.pk, supply): part_type_id
        for asset in assets
        for supply, part_type_id in supply_types.get(asset.asset_model_id, {}).items()
    }
    if not part_type_of:
        return
    supplies = sorted({supply for _asset_id, supply in part_type_of})
    scope, scope_params = _scope_sql(customer_ids, asset_ids, assets)
    sql = LEVELS_SQL.format(
        scope=scope, supplies=_marks(supplies), micros=epoch_micros_sql("l.taken_at"), concat=_concat()
    )
    # A server-side cursor on PostgreSQL (as QuerySet.iterator uses): the rows come a chunk at a time, so memory
    # holds one chunk of levels, not the batch's.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [*scope_params, *supplies, as_of - timedelta(days=lookback_days), as_of])
        while rows := cursor.fetchmany(STREAM_CHUNK_SIZE):
            rows = [row for row in rows if (row[0], row[1]) in part_type_of]
            yield [
                LevelSegment(asset_id, part_type_of[(asset_id, supply)], supply, started_at, days, levels)
                for (asset_id, supply, *_lists), (started_at, days, levels) in zip(rows, _segments(rows), strict=True)
            ]


def _segments(rows: list[tuple]) -> list[tuple[datetime, np.ndarray, np.ndarray]]:
    """(start, days since the start, levels) of the current segment of each row of ``LEVELS_SQL``.

    The lists of all rows are parsed at once, sorted by (row, time), and each row's last refill jump found with
    ``refill_jumps`` on the whole chunk."""
    if not rows:
        return []
    counts = np.fromiter((row[2] for row in rows), dtype=np.int64, count=len(rows))
    times = np.fromstring(",".join(row[3] for row in rows), sep=",", dtype=np.int64)
    levels = np.fromstring(",".join(row[4] for row in rows), sep=",", dtype=np.float64)
    series = np.repeat(np.arange(len(rows)), counts)
    order = np.lexsort((times, series))
    times, levels = times[order], levels[order]
    ends = np.cumsum(counts)
    firsts = ends - counts
    jumps = np.zeros(len(levels), dtype=bool)
    jumps[1:] = refill_jumps(levels[:-1], levels[1:])
    jumps[firsts] = True  # a row's first level starts its first segment
    starts = np.maximum.reduceat(np.where(jumps, np.arange(len(levels)), 0), firsts)
    result = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        days = (times[start:end] - times[start]) / (_DAY * 1e6)
        result.append((_EPOCH + timedelta(microseconds=int(times[start])), days, levels[start:end]))
    return result


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def wear_features(
    *,
    customer_id: int | None = None,
    customer_ids: Sequence[int] | None = None,
    asset_ids: Sequence[int] | None = None,
    as_of: datetime,
) -> list[WearFeature]:
    """Life used and usage rate of every wear part of the assets' models, as of ``as_of`` (module docstring).

    Scope as for ``consumable_segments``. A part with a meter needs a valid reading of that meter in the rate
    window; a days part an installation or the asset's install date. At most six queries whatever the number of
    assets (``_meter_windows``: one, and one more when a counter in scope dropped or was read twice at once).
    """
    customers = _customers(customer_id, customer_ids)
    assets = _assets(customers, asset_ids)
    types = _part_types({asset.asset_model_id for asset in assets}, PartKind.WEAR_PART)
    return _wear_features(assets, types, customers, asset_ids, as_of)


def _meter_of(life_unit: str) -> str | None:
    """The meter of a life unit, "" for calendar days, None when no meter counts it (no forecast)."""
    return LIFE_UNIT_METER.get(life_unit)


def _valid_readings(as_of: datetime):
    return Reading.objects.filter(invalidated_at__isnull=True, taken_at__lte=as_of)


def _last_installations(customer_ids, asset_ids, assets, as_of) -> dict[tuple[int, int], tuple]:
    """(asset, part type) -> (installed_at, counter at installation or None) of the last installation.

    The counter's fallbacks (the readings around the installation) are looked up only for installations without
    a recorded meter value."""
    meter = Case(
        *(When(part_type__life_unit=unit, then=Value(meter)) for unit, meter in LIFE_UNIT_METER.items() if meter),
        default=Value(""),
        output_field=CharField(),
    )
    readings = _valid_readings(as_of).filter(asset_id=OuterRef("asset_id"), meter=OuterRef("part_meter"))
    before = readings.filter(taken_at__lte=OuterRef("installed_at")).order_by("-taken_at")
    after = readings.filter(taken_at__gt=OuterRef("installed_at")).order_by("taken_at")
    counter = Case(  # a float: no decimal conversion per row; the recorded value only when on the life's meter
        When(meter_value__isnull=False, meter=F("part_meter"), then=Cast("meter_value", FloatField())),
        default=Cast(Coalesce(Subquery(before.values("value")[:1]), Subquery(after.values("value")[:1])), FloatField()),
        output_field=FloatField(),
    )
    later = PartInstallation.objects.filter(
        asset_id=OuterRef("asset_id"),
        part_type_id=OuterRef("part_type_id"),
        installed_at__gt=OuterRef("installed_at"),
        installed_at__lte=as_of,
    )
    rows = (
        _scoped(PartInstallation.objects.all(), customer_ids, asset_ids, assets)
        .filter(~Exists(later), installed_at__lte=as_of, part_type__kind=PartKind.WEAR_PART)
        .annotate(part_meter=meter, counter=counter)
        .order_by("asset_id", "part_type_id", "id")  # of two at the same instant, the later recorded wins
        .values_list("asset_id", "part_type_id", "installed_at", "counter")
    )
    return {(asset_id, part_type_id): (installed_at, counter) for asset_id, part_type_id, installed_at, counter in rows}


def _first_readings(asset_ids: list[int], meters: list[str], as_of: datetime) -> dict[tuple[int, str], tuple]:
    """(asset, meter) -> (time, value) of the first valid reading at or before ``as_of``: one query."""
    annotations = {}
    for index, meter in enumerate(meters):
        first = _valid_readings(as_of).filter(asset_id=OuterRef("pk"), meter=meter).order_by("taken_at")
        annotations[f"t{index}"] = Subquery(first.values("taken_at")[:1])
        annotations[f"v{index}"] = Subquery(first.values("value")[:1])
    if not annotations or not asset_ids:
        return {}
    rows = Asset.objects.filter(pk__in=asset_ids).order_by().annotate(**annotations).values_list("pk", *annotations)
    result = {}
    for asset_id, *values in rows:
        for index, meter in enumerate(meters):
            taken_at, value = values[2 * index], values[2 * index + 1]
            if taken_at is not None:
                result[(asset_id, meter)] = (taken_at, float(value))
    return result


@dataclass(frozen=True)
class _Window:
    """One asset's meter over the rate window: its valid readings (one per instant) summed up in SQL."""

    readings: int
    first_at: datetime
    last_at: datetime
    growth: float  # reset-adjusted growth from the first to the last reading
    last_value: float

    def rate(self) -> float:
        """The growth per day between the first and the last reading (0 when they are less than a day apart)."""
        days = (self.last_at - self.first_at).total_seconds() / _DAY
        return self.growth / days if days >= MIN_SEGMENT_DAYS else 0.0

    def counter_at(self, as_of: datetime) -> float:
        """The counter at ``as_of``: the last value, carried on at the rate."""
        return self.last_value + self.rate() * (as_of - self.last_at).total_seconds() / _DAY


def _meter_windows(customer_ids, asset_ids, assets, meters, as_of) -> dict[tuple[int, str], _Window]:
    """(asset, meter) -> the readings of the ``RATE_DAYS`` before ``as_of`` summed up, one row each.

    One aggregate (``COUNTERS_SQL``); the counters whose window is not plain (a drop, or two readings at one
    instant) are summed again exactly by a second query over those assets only (``STEPS_SQL``).
    """
    scope, scope_params = _scope_sql(customer_ids, asset_ids, assets)
    window = [as_of - timedelta(days=RATE_DAYS), as_of]
    windows: dict[tuple[int, str], _Window] = {}
    irregular: set[tuple[int, str]] = set()
    with connection.cursor() as cursor:
        cursor.execute(
            COUNTERS_SQL.format(
                scope=scope,
                meters=_marks(meters),
                priority=manual_first_sql("x"),
                priority_r=manual_first_sql("r"),
            ),
            [*scope_params, *meters, *window],
        )
        while rows := cursor.fetchmany(STREAM_CHUNK_SIZE):
            for asset_id, meter, readings, one_source, first_at, last_at, low, high, first, last in rows:
                if not one_source or first != low or last != high:
                    irregular.add((asset_id, meter))
                    continue
                windows[(asset_id, meter)] = _Window(
                    readings, _aware(first_at), _aware(last_at), float(high) - float(low), float(last)
                )
        if irregular:
            ids = sorted({asset_id for asset_id, _meter in irregular})
            cursor.execute(
                STEPS_SQL.format(
                    meters=_marks(meters),
                    assets=_marks(ids),
                    priority=manual_first_sql("r"),
                    value="CAST(r.value AS DOUBLE PRECISION)",
                ),
                [*ids, *meters, *window],
            )
            for asset_id, meter, readings, first_at, last_at, growth, last in cursor.fetchall():
                if (asset_id, meter) in irregular:
                    windows[(asset_id, meter)] = _Window(
                        readings, _aware(first_at), _aware(last_at), float(growth or 0.0), float(last)
                    )
    return windows


def _wear_features(assets, types, customer_ids, asset_ids, as_of) -> list[WearFeature]:
    meter_of = {part_type.id: _meter_of(part_type.life_unit) for by_model in types.values() for part_type in by_model}
    if not any(meter is not None for meter in meter_of.values()):
        return []
    meters = sorted({meter for meter in meter_of.values() if meter})
    installations = _last_installations(customer_ids, asset_ids, assets, as_of)
    windows = _meter_windows(customer_ids, asset_ids, assets, meters, as_of) if meters else {}
    counters = {key: (window.rate(), window.counter_at(as_of), window.readings) for key, window in windows.items()}
    local_today: dict[str, date] = {}
    features: list[WearFeature] = []
    uncounted = []  # (asset, part type, meter) without a counter at installation: from the first reading
    for asset in assets:
        for part_type in types.get(asset.asset_model_id, ()):
            meter = meter_of[part_type.id]
            if meter is None:
                continue
            installed = installations.get((asset.pk, part_type.id))
            if not meter:
                zone = _zone(asset.time_zone)
                if installed is not None:
                    installed_at = installed[0]
                elif asset.install_date is not None and asset.install_date <= local_today.setdefault(
                    asset.time_zone, as_of.astimezone(zone).date()
                ):
                    installed_at = datetime.combine(asset.install_date, time(), tzinfo=zone)
                else:
                    continue
                days = max((as_of - installed_at).total_seconds() / _DAY, 0.0)
                features.append(
                    WearFeature(asset.pk, part_type.id, asset.asset_model_id, "", installed_at, days, 1.0, 1)
                )
            elif (asset.pk, meter) not in counters:
                continue
            elif installed is None or installed[1] is None:
                uncounted.append((asset, part_type, meter))
            else:
                counter = counters[(asset.pk, meter)]
                features.append(_wear_feature(asset, part_type, meter, *installed, counter))
    if uncounted:
        first = _first_readings(sorted({asset.pk for asset, _part_type, _meter in uncounted}), meters, as_of)
        for asset, part_type, meter in uncounted:
            if (asset.pk, meter) in first:
                installed_at, counter_then = first[(asset.pk, meter)]
                counter = counters[(asset.pk, meter)]
                features.append(_wear_feature(asset, part_type, meter, installed_at, counter_then, counter))
        features.sort(key=lambda feature: (feature.asset_id, feature.part_type_id))
    return features


def _wear_feature(asset, part_type, meter, installed_at, counter_then, counter) -> WearFeature:
    """Life used and rate in the part's life unit (charge cycles: key-on hours / 8)."""
    rate, counter_now, readings = counter
    life_used = counter_now - counter_then
    if life_used < 0:  # the meter was reset since: counted from zero after the reset
        life_used = counter_now
    scale = life_per_meter_unit(part_type.life_unit)
    return WearFeature(
        asset.pk, part_type.id, asset.asset_model_id, meter, installed_at, life_used * scale, rate * scale, readings
    )


# --- Layer 3: the run -----------------------------------------------------------------------------------------


def forecast_settings_for_many(customer_ids: Sequence[int]) -> dict[int, ForecastSettings]:
    """Planning window, safety margin and risk quantile of each customer (two queries).

    Each field: the customer's ``MaintenanceSettings``, else its provider's, else 14 days, 2 days, 0.90.
    """
    ids = set(customer_ids)
    providers = dict(Organisation.objects.filter(pk__in=ids).values_list("pk", "provider_id"))
    rows = {
        row.organisation_id: row
        for row in MaintenanceSettings.objects.filter(organisation_id__in=ids | set(providers.values()) - {None})
    }
    defaults = {
        "planning_window_days": DEFAULT_PLANNING_WINDOW_DAYS,
        "safety_margin_days": DEFAULT_SAFETY_MARGIN_DAYS,
        "risk_quantile": DEFAULT_RISK_QUANTILE,
    }
    resolved = {}
    for customer_id in ids:
        own, provider = rows.get(customer_id), rows.get(providers.get(customer_id))
        values = {}
        for name, default in defaults.items():
            value = next(
                (getattr(row, name) for row in (own, provider) if row and getattr(row, name) is not None), None
            )
            values[name] = default if value is None else value
        resolved[customer_id] = ForecastSettings(
            planning_window_days=int(values["planning_window_days"]),
            safety_margin_days=int(values["safety_margin_days"]),
            risk_quantile=float(values["risk_quantile"]),
        )
    return resolved


def forecast_settings_for(customer_id: int) -> ForecastSettings:
    """The resolved forecast settings of one customer."""
    return forecast_settings_for_many([customer_id])[customer_id]


def _decimal(value: float | None, places: int) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(round(float(value), places)))


def _local_date(as_of: datetime, days: float, zone: ZoneInfo) -> date:
    return (as_of + timedelta(days=float(days))).astimezone(zone).date()


def forecast_chunks(
    *,
    customer_id: int | None = None,
    customer_ids: Sequence[int] | None = None,
    as_of: datetime,
    lives: Mapping[tuple[int, int], LifeDistribution] | None = None,
) -> Iterator[list[ReplacementForecast]]:
    """Unsaved forecasts of the customers' in-service assets as of ``as_of``, one per (asset, part type), a chunk
    at a time: the consumables as their levels come from the database, then the wear parts ``STREAM_CHUNK_SIZE``
    at a time, so that memory holds one chunk of rows (and the wear features of the customers).

    Consumables for each toner supply with a part type of the asset's model; wear parts for each wear part type of
    the model. The customers must share one provider: ``lives`` are its fitted life distributions
    (``lives.provider_lives``, computed once per night and handed to every batch); read here when not given.
    ``computed_at`` is ``as_of``. A constant number of queries whatever the number of assets.
    """
    customers = _customers(customer_id, customer_ids)
    if not customers:
        return
    settings = forecast_settings_for_many(customers)
    assets = _assets(customers, None)
    model_ids = {asset.asset_model_id for asset in assets}
    consumable_types = _part_types(model_ids, PartKind.CONSUMABLE)
    wear_types = _part_types(model_ids, PartKind.WEAR_PART)
    part_types = {
        part_type.pk: part_type
        for by_model in (consumable_types, wear_types)
        for part_types_of_model in by_model.values()
        for part_type in part_types_of_model
    }
    zones = {asset.pk: _zone(asset.time_zone) for asset in assets}
    setting_of = {asset.pk: settings[asset.customer_id] for asset in assets}

    def rows(items, estimates, kind) -> list[ReplacementForecast]:
        made = []
        for item, estimate in zip(items, estimates, strict=True):
            if estimate is None:
                continue
            zone, part_type, setting = zones[item.asset_id], part_types[item.part_type_id], setting_of[item.asset_id]
            consumable = kind == ForecastKind.CONSUMABLE
            made.append(
                ReplacementForecast(
                    asset_id=item.asset_id,
                    part_type_id=item.part_type_id,
                    kind=kind,
                    method=estimate.method,
                    supply=item.supply if consumable else "",
                    meter="" if consumable else item.meter,
                    segment_started_at=item.started_at if consumable else item.installed_at,
                    level_percent=_decimal(estimate.level_percent, 1),
                    rate_per_day=_decimal(estimate.rate_per_day, 4),
                    life_used=_decimal(estimate.life_used, 2),
                    rated_life=_decimal(estimate.rated_life, 2),
                    data_points=estimate.data_points,
                    replacements_used=estimate.replacements_used,
                    predicted_on=_local_date(as_of, estimate.days_p50, zone),
                    earliest_on=_local_date(as_of, estimate.days_p10, zone),
                    latest_on=_local_date(as_of, estimate.days_p90, zone),
                    act_by=act_by_date(
                        predicted_risk_day=_local_date(as_of, estimate.days_at_risk, zone),
                        lead_time_days=part_type.lead_time_days,
                        safety_margin_days=setting.safety_margin_days,
                    ),
                    computed_at=as_of,
                )
            )
        return made

    def risks(items) -> np.ndarray:
        return np.array([setting_of[item.asset_id].risk_quantile for item in items], dtype=np.float64)

    for segments in _segment_chunks(assets, consumable_types, customers, None, as_of, SEGMENT_LOOKBACK_DAYS):
        estimates = consumable_estimates(segments, risk_quantile=risks(segments), as_of=as_of)
        yield rows(segments, estimates, ForecastKind.CONSUMABLE)

    features = _wear_features(assets, wear_types, customers, None, as_of)
    if not features:
        return
    if lives is None:
        providers = set(Organisation.objects.filter(pk__in=customers).values_list("provider_id", flat=True))
        if len(providers) != 1:
            raise ValueError("the customers of one forecast run must share one provider")
        lives = provider_lives(provider_id=providers.pop(), as_of=as_of)
    distributions = dict(lives)
    catalogue = {(feature.asset_model_id, feature.part_type_id) for feature in features} - set(lives)
    distributions.update(
        life_distributions(
            list(catalogue),
            observed={},
            rated_lives={pk: float(part_type.rated_life) for pk, part_type in part_types.items()},
        )
    )
    for start in range(0, len(features), STREAM_CHUNK_SIZE):
        chunk = features[start : start + STREAM_CHUNK_SIZE]
        yield rows(chunk, wear_estimates(chunk, distributions, risk_quantile=risks(chunk)), ForecastKind.WEAR_PART)


def forecasts_compute(
    *,
    customer_id: int | None = None,
    customer_ids: Sequence[int] | None = None,
    as_of: datetime,
    lives: Mapping[tuple[int, int], LifeDistribution] | None = None,
) -> list[ReplacementForecast]:
    """All the rows of ``forecast_chunks`` in one list."""
    chunks = forecast_chunks(customer_id=customer_id, customer_ids=customer_ids, as_of=as_of, lives=lives)
    return [row for chunk in chunks for row in chunk]


WRITTEN_FIELDS = [
    "kind",
    "method",
    "supply",
    "meter",
    "segment_started_at",
    "level_percent",
    "rate_per_day",
    "life_used",
    "rated_life",
    "data_points",
    "replacements_used",
    "predicted_on",
    "earliest_on",
    "latest_on",
    "act_by",
    "computed_at",
]
WRITE_BATCH_SIZE = 1000


def forecasts_refresh(
    *,
    customer_id: int | None = None,
    customer_ids: Sequence[int] | None = None,
    as_of: datetime,
    lives: Mapping[tuple[int, int], LifeDistribution] | None = None,
) -> int:
    """Compute and store the customers' forecasts as of ``as_of`` (the nightly run): each chunk of
    ``forecast_chunks`` upserted as it comes (one statement per 1000 rows), then the customers' forecasts not
    computed now (assets out of service, parts without a forecast any more) deleted in one statement. Returns the
    number of rows written. Memory holds one chunk of rows."""
    customers = _customers(customer_id, customer_ids) or ()
    written = 0
    for chunk in forecast_chunks(customer_ids=customers, as_of=as_of, lives=lives):
        _upsert(chunk)
        written += len(chunk)
    ReplacementForecast.objects.filter(asset__customer_id__in=customers, computed_at__lt=as_of).delete()
    return written


def _upsert(rows: Sequence[ReplacementForecast]) -> None:
    if rows:
        ReplacementForecast.objects.bulk_create(
            rows,
            batch_size=WRITE_BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["asset", "part_type"],
            update_fields=WRITTEN_FIELDS,
        )


@transaction.atomic
def forecasts_write(rows: Sequence[ReplacementForecast], *, customer_id: int) -> int:
    """Upsert the rows (one per asset and part type) and delete the customer's forecasts not among them.

    Returns the number of rows written. One upsert statement per 1000 rows, one read of the existing keys and
    one delete per 1000 stale rows.
    """
    rows = list(rows)
    _upsert(rows)
    keep = {(row.asset_id, row.part_type_id) for row in rows}
    existing = ReplacementForecast.objects.filter(asset__customer_id=customer_id).values_list(
        "pk", "asset_id", "part_type_id"
    )
    stale = [
        pk
        for pk, asset_id, part_type_id in existing.iterator(chunk_size=STREAM_CHUNK_SIZE)
        if (asset_id, part_type_id) not in keep
    ]
    for start in range(0, len(stale), WRITE_BATCH_SIZE):
        ReplacementForecast.objects.filter(pk__in=stale[start : start + WRITE_BATCH_SIZE]).delete()
    return len(rows)
