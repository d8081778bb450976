"""Replacement forecasts: when each consumable runs out and each wear part reaches the end of its life.

Two kinds, one result (``ReplacementForecast``: the basis, a P10-P50-P90 range of dates and the date to act):

**Consumables** (toner) from their supply levels. The current cartridge's *segment* is the levels since the
last refill jump; its depletion rate (percent per day) is estimated robustly; the date it reaches empty and
the spread of that date follow from the rate's uncertainty.

**Wear parts** (drums, fusers, tyres, batteries) from counters. Life used is the asset's counter now less the
counter when the part was installed (the last ``PartInstallation`` of that part type, else the asset's first
reading or install date); the usage rate is the asset's recent average per day (``telemetry.usage``). The life
expected is the part type's rated life, unless enough replacements of that part type on that model have been
recorded: then the lives observed between replacements (empirical quantiles, or a Weibull fit when there are
many) replace the catalogue figure, and the forecast says which and from how many.

**Acting**: the date to act (``act_by``) is the risk-quantile date (0.90: the early 10 % date) less the part's
lead time and the customer's safety margin.

The layers of this module, so that the nightly run, the backtest and the benchmark share one implementation:

1. *Pure math* on numpy arrays, no database: ``consumable_estimates``, ``life_distribution``,
   ``wear_estimates``.
2. *Features as of an instant*, set-based, reading nothing after ``as_of`` (the backtest replays the past
   with them): ``consumable_segments``, ``wear_features``, ``observed_lives``.
3. *The run* for one customer: ``forecasts_compute`` (features + math into unsaved rows) and
   ``forecasts_write`` (bulk upsert, one statement per kind of write).

**Estimation methods** (exact, so that pages and the backtest can state them):

*Consumable segments.* A toner's levels (``SupplyLevel``) of the ``lookback_days`` up to ``as_of`` are read in
time order; a *refill jump* is a rise of at least 20 percentage points from one level to the next, or a rise of
at least 5 points that ends at 90 % or more (the 5-point floor keeps noise around 90 % from looking like a new
cartridge). The segment is the levels from the last jump on (or all of them when there was none in the
look-back window). A segment with fewer than 3 levels or spanning less than 1 day gives no forecast.

*Depletion rate.* Theil-Sen: the slope is the median of the pairwise slopes (level j - level i) / (t j - t i)
over all pairs of levels at distinct times, in calendar days, so weekends, holidays and idle days spread over
the whole segment instead of biasing a per-working-day rate, and a burst day or a noisy reading moves the
median little. Above ``MAX_PAIRS`` pairs a fixed-seed random sample of ``MAX_PAIRS`` pairs is used
(deterministic, bounded cost). The level now is the robust line at ``as_of``: intercept = median(level -
slope x t), level now = intercept + slope x (as_of - start), clipped to 0-100 (not the last, noisy reading).
The rate is -slope in percent per day; a flat or rising segment (rate <= 0) gives no forecast.

*Consumable spread.* The rate's quantiles come from the distribution of the pairwise slopes by Sen's
distribution-free confidence bound: the slope at quantile p is the pairwise slope of rank (N + z_p sqrt(V)) / 2
of the N sorted slopes, V = n (n - 1) (2n + 5) / 18, z_p the standard normal quantile (ranks are taken as
fractions when pairs are sampled). Days to empty at quantile p = level now / rate at the matching (faster for
early) quantile, capped at ``MAX_DAYS`` (3 years); a rate quantile <= 0 gives the cap. Deterministic.

*Wear parts.* Meters per life unit: pages -> total pages, hours -> key-on hours, days -> calendar days; ratings
in cycles are battery charge cycles, which no meter reports yet (lift cycles count the mast), so those parts get
no forecast. ``installed_at`` is the last
``PartInstallation`` of the part type on the asset at or before ``as_of``; without one, the first valid reading
of the meter (for days parts: the asset's install date, else no forecast). The counter at installation is the
installation's recorded meter value, else the last valid reading at or before it, else the first reading after
it; the counter now is the usage service's end counter at ``as_of`` (``telemetry.usage.usage_for_assets`` over
the 90 days before ``as_of`` with ``now=as_of``: reset-aware, interpolated or extrapolated by its rules). Life
used = counter now - counter at installation; when that is negative (the meter was reset since), the counter
now counted from zero. The rate is the usage service's usage over the 90 days (or since the asset's first
reading when later) divided by those days; 0 (no forecast) without usage.

*Life distributions* by (asset model, part type) from the lives observed between consecutive installations of
the part type on one asset before ``as_of`` (meter value difference, or days for life unit days; the current,
unfinished life is not used). Fewer than 5 lives: the *catalogue*, the rated life R with the assumption that
the life is uniform on [0.75 R, 1.25 R], so P10 = 0.8 R, P50 = R, P90 = 1.2 R. 5 to 11: *empirical* quantiles
(``numpy.quantile``, method "linear"), the distribution function its piecewise-linear inverse. 12 or more:
*Weibull* (shape k, scale lambda) by maximum likelihood: k solves sum(x^k ln x) / sum(x^k) - 1/k - mean(ln x) = 0
(bisection on log k, monotone), lambda = mean(x^k)^(1/k).

*Wear spread.* A part that has already used u is forecast from the life distribution conditioned on surviving
u: the life at quantile p is F^-1(F(u) + p (1 - F(u))); days at p = (that life - u) / rate, capped at
``MAX_DAYS``; a part past the whole distribution is due now (0 days).

*Dates and acting.* Days become dates as the local date (the asset's site time zone, Asia/Tokyo when unset) of
``as_of`` + days. The risk day is the date at quantile 1 - risk quantile (early side: 0.90 -> P10); ``act_by``
= risk day - lead time - safety margin. Settings: the customer's ``MaintenanceSettings`` field, else the
provider's, else 14 days window, 2 days margin, 0.90 (``forecast_settings_for_many``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import groupby
from statistics import NormalDist
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from django.db import transaction
from django.db.models import Case, CharField, F, OuterRef, Subquery, Value, When

from accounts.models import Organisation
from assets.choices import ASSET_IN_SERVICE_STATES, LifeUnit, PartKind
from assets.models import Asset, PartType
from maintenance.choices import ForecastKind, ForecastMethod
from maintenance.models import MaintenanceSettings, PartInstallation, ReplacementForecast
from telemetry.choices import Meter, Supply
from telemetry.models import Reading, SupplyLevel
from telemetry.usage import usage_for_assets

ForecastPoint = "the dates of one forecast"

# Refill jumps (see the module docstring).
REFILL_RISE = 20.0
REFILL_FULL = 90.0
REFILL_FULL_MIN_RISE = 5.0
MIN_SEGMENT_POINTS = 3
MIN_SEGMENT_DAYS = 1.0
# Theil-Sen cost bound and the fixed seed of its pair sample.
MAX_PAIRS = 20_000
PAIR_SEED = 20_240_601
MIN_PAIR_DAYS = 1e-6
# Forecasts further out than this are shown at the cap (a slow cartridge, an idle asset).
MAX_DAYS = 3 * 365.0
# Life distributions: below EMPIRICAL_MIN observed lives the catalogue, from WEIBULL_MIN a Weibull fit.
EMPIRICAL_MIN = 5
WEIBULL_MIN = 12
CATALOGUE_LOW, CATALOGUE_HIGH = 0.75, 1.25  # uniform life around the rated life: P10 = 0.8 R, P90 = 1.2 R
# Wear-part usage rate window.
RATE_DAYS = 90
STREAM_CHUNK_SIZE = 5000
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
# The meter that counts each life unit ("" counts calendar days). Ratings in cycles are charge cycles (batteries),
# which no meter reports yet: lift cycles count the mast, not the battery. Such parts get no forecast (None).
LIFE_UNIT_METER: dict[str, str | None] = {
    LifeUnit.PAGES: Meter.TOTAL_PAGES,
    LifeUnit.HOURS: Meter.HOURS_KEY_ON,
    LifeUnit.CYCLES: None,
    LifeUnit.DAYS: "",
}
_DAY = 86_400.0
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


@dataclass(frozen=True, eq=False)
class LifeDistribution:
    """The life of a part type on a model (counter units or days): catalogue, empirical or Weibull.

    ``method`` is a ``ForecastMethod`` value; ``replacements_used`` the observed lives behind it (0 for the
    catalogue). Catalogue: uniform on [0.75, 1.25] x ``rated_life``; empirical: linear quantiles of ``lives``;
    Weibull: ``shape`` and ``scale``.
    """

    method: str
    replacements_used: int
    rated_life: float = 0.0
    lives: np.ndarray | None = None  # sorted observed lives (empirical)
    shape: float = 0.0
    scale: float = 0.0

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """The life at quantile ``q`` (0-1)."""
        q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
        if self.method == ForecastMethod.WEIBULL:
            result = self.scale * (-np.log1p(-np.minimum(q, 1 - 1e-12))) ** (1.0 / self.shape)
        elif self.method == ForecastMethod.EMPIRICAL:
            result = np.quantile(self.lives, q, method="linear")
        else:
            result = self.rated_life * (CATALOGUE_LOW + (CATALOGUE_HIGH - CATALOGUE_LOW) * q)
        return float(result) if np.ndim(result) == 0 else result

    def cdf(self, life: float | np.ndarray) -> float | np.ndarray:
        """The share of parts whose life is at most ``life``."""
        x = np.asarray(life, dtype=np.float64)
        if self.method == ForecastMethod.WEIBULL:
            result = -np.expm1(-((np.maximum(x, 0.0) / self.scale) ** self.shape))
        elif self.method == ForecastMethod.EMPIRICAL:
            positions = np.linspace(0.0, 1.0, len(self.lives))
            result = np.interp(x, self.lives, positions, left=0.0, right=1.0)
        else:
            low, high = CATALOGUE_LOW * self.rated_life, CATALOGUE_HIGH * self.rated_life
            result = np.clip((x - low) / (high - low), 0.0, 1.0)
        return float(result) if np.ndim(result) == 0 else result

    def mean(self) -> float:
        """The mean life."""
        if self.method == ForecastMethod.WEIBULL:
            return float(self.scale * math.gamma(1.0 + 1.0 / self.shape))
        if self.method == ForecastMethod.EMPIRICAL:
            return float(np.mean(self.lives))
        return float(self.rated_life)

    def median(self) -> float:
        """The median life (the "life expected" shown with a forecast)."""
        return float(self.quantile(0.5))


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


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j: all of them, or a fixed-seed sample of ``MAX_PAIRS`` when there are more."""
    if n * (n - 1) // 2 <= MAX_PAIRS:
        return np.triu_indices(n, k=1)
    rng = np.random.default_rng(PAIR_SEED)
    first = rng.integers(0, n, size=MAX_PAIRS * 2)
    second = rng.integers(0, n, size=MAX_PAIRS * 2)
    keep = first != second
    first, second = first[keep][:MAX_PAIRS], second[keep][:MAX_PAIRS]
    return np.minimum(first, second), np.maximum(first, second)


def theil_sen(times: np.ndarray, levels: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(slope, intercept, sorted pairwise slopes) of the Theil-Sen line; slope NaN without two distinct times."""
    first, second = _pairs(len(times))
    dt = times[second] - times[first]
    keep = dt > MIN_PAIR_DAYS
    slopes = np.sort((levels[second][keep] - levels[first][keep]) / dt[keep])
    if slopes.size == 0:
        return math.nan, math.nan, slopes
    slope = float(np.median(slopes))
    intercept = float(np.median(levels - slope * times))
    return slope, intercept, slopes


def _slope_at(slopes: np.ndarray, n: int, p: np.ndarray) -> np.ndarray:
    """Sen's bound: the pairwise slope of rank (N + z_p sqrt(V)) / 2, as a fraction of the sorted slopes."""
    pairs = n * (n - 1) / 2.0
    spread = math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    z = np.array([_NORMAL.inv_cdf(float(min(max(value, 1e-6), 1 - 1e-6))) for value in np.atleast_1d(p)])
    fraction = np.clip(0.5 + z * spread / (2.0 * pairs), 0.0, 1.0)
    return np.quantile(slopes, fraction, method="linear")


def _days_left(level: float, rates: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        days = np.where(rates > 0, level / rates, MAX_DAYS)
    return np.clip(days, 0.0, MAX_DAYS)


def consumable_estimates(
    segments: Sequence[LevelSegment], *, risk_quantile: float | np.ndarray, as_of: datetime | None = None
) -> list[Estimate | None]:
    """The empty date of each segment (Theil-Sen, see the module docstring); ``None`` where it cannot be told.

    ``risk_quantile`` is one value or one per segment. Days count from ``as_of`` (default: each segment's last
    level); the level now is the robust line there.
    """
    risks = _per_item(risk_quantile, len(segments))
    results: list[Estimate | None] = []
    for segment, risk in zip(segments, risks, strict=True):
        times = np.asarray(segment.times, dtype=np.float64)
        levels = np.asarray(segment.levels, dtype=np.float64)
        n = len(times)
        if n < MIN_SEGMENT_POINTS or times[-1] - times[0] < MIN_SEGMENT_DAYS:
            results.append(None)
            continue
        slope, intercept, slopes = theil_sen(times, levels)
        if not slope < 0:  # flat, rising or undefined: no forecast
            results.append(None)
            continue
        now = times[-1] if as_of is None else (as_of - segment.started_at).total_seconds() / _DAY
        level = float(np.clip(intercept + slope * now, 0.0, 100.0))
        # Early dates come from steep (low) slopes: quantile p of the days is slope quantile p.
        quantiles = np.array([0.1, 0.5, 0.9, 1.0 - risk])
        rates = -_slope_at(slopes, n, quantiles)
        rates[1] = -slope
        days = _days_left(level, rates)
        results.append(
            Estimate(
                method=ForecastMethod.LEVEL_TREND,
                rate_per_day=-slope,
                days_p10=float(days[0]),
                days_p50=float(days[1]),
                days_p90=float(max(days[2], days[1])),
                days_at_risk=float(days[3]),
                data_points=n,
                level_percent=level,
            )
        )
    return results


def weibull_fit(lives: np.ndarray) -> tuple[float, float]:
    """(shape, scale) of a two-parameter Weibull by maximum likelihood (bisection on the shape equation)."""
    x = np.asarray(lives, dtype=np.float64)
    top = float(x.max())
    y = x / top  # scaled to at most 1 so that y**k cannot overflow
    log_y = np.log(y)
    mean_log = float(log_y.mean())

    def equation(shape: float) -> float:
        power = y**shape
        return float((power * log_y).sum() / power.sum()) - 1.0 / shape - mean_log

    low, high = math.log(0.02), math.log(200.0)
    if equation(math.exp(high)) < 0:  # (nearly) identical lives: as steep as allowed
        low = high
    for _step in range(100):
        middle = (low + high) / 2.0
        if equation(math.exp(middle)) < 0:
            low = middle
        else:
            high = middle
    shape = math.exp((low + high) / 2.0)
    scale = top * float(np.mean(y**shape)) ** (1.0 / shape)
    return shape, scale


def life_distribution(observed: np.ndarray, *, rated_life: float) -> LifeDistribution:
    """The life of a part type on a model from its observed lives; the catalogue when there are too few."""
    lives = np.asarray(observed, dtype=np.float64).ravel()
    lives = np.sort(lives[np.isfinite(lives) & (lives > 0)])
    count = len(lives)
    if count >= WEIBULL_MIN:
        shape, scale = weibull_fit(lives)
        return LifeDistribution(ForecastMethod.WEIBULL, count, float(rated_life), lives, shape, scale)
    if count >= EMPIRICAL_MIN:
        return LifeDistribution(ForecastMethod.EMPIRICAL, count, float(rated_life), lives)
    return LifeDistribution(ForecastMethod.CATALOGUE, 0, float(rated_life))


def wear_estimates(
    features: Sequence[WearFeature],
    lives: Mapping[tuple[int, int], LifeDistribution],
    *,
    risk_quantile: float | np.ndarray,
) -> list[Estimate | None]:
    """The end-of-life date of each wear part, from its life distribution conditioned on the life used.

    ``lives`` maps (asset model id, part type id) to a distribution (``life_distributions`` builds one for
    every feature); a feature without one, or without a usage rate, gives ``None``.
    """
    risks = _per_item(risk_quantile, len(features))
    results: list[Estimate | None] = []
    for feature, risk in zip(features, risks, strict=True):
        distribution = lives.get((feature.asset_model_id, feature.part_type_id))
        rate = float(feature.rate_per_day)
        if distribution is None or not rate > 0:
            results.append(None)
            continue
        used = max(float(feature.life_used), 0.0)
        survived = float(distribution.cdf(used))
        quantiles = np.array([0.1, 0.5, 0.9, 1.0 - risk])
        ends = np.asarray(distribution.quantile(np.minimum(survived + quantiles * (1.0 - survived), 1.0)))
        days = np.clip(np.maximum(ends - used, 0.0) / rate, 0.0, MAX_DAYS)
        results.append(
            Estimate(
                method=distribution.method,
                rate_per_day=rate,
                days_p10=float(days[0]),
                days_p50=float(days[1]),
                days_p90=float(days[2]),
                days_at_risk=float(days[3]),
                data_points=feature.data_points,
                replacements_used=distribution.replacements_used,
                life_used=used,
                rated_life=distribution.median(),
            )
        )
    return results


def life_distributions(
    keys: Sequence[tuple[int, int]],
    *,
    observed: Mapping[tuple[int, int], np.ndarray],
    rated_lives: Mapping[int, float],
) -> dict[tuple[int, int], LifeDistribution]:
    """A distribution for each (asset model id, part type id): observed lives, else the part type's rated life."""
    empty = np.empty(0)
    return {
        key: life_distribution(observed.get(key, empty), rated_life=rated_lives[key[1]])
        for key in dict.fromkeys(keys)
        if key[1] in rated_lives
    }


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


def refill_start(levels: np.ndarray) -> int:
    """The index of the first level after the last refill jump (0 when there is none)."""
    levels = np.asarray(levels, dtype=np.float64)
    if len(levels) < 2:
        return 0
    rise = np.diff(levels)
    jumps = (rise >= REFILL_RISE) | (
        (levels[1:] >= REFILL_FULL) & (levels[:-1] < REFILL_FULL) & (rise >= REFILL_FULL_MIN_RISE)
    )
    found = np.flatnonzero(jumps)
    return int(found[-1]) + 1 if found.size else 0


# --- Layer 2: features as of an instant -----------------------------------------------------------------------


@dataclass(frozen=True)
class _AssetRow:
    pk: int
    asset_model_id: int
    time_zone: str
    install_date: date | None


def _assets(customer_id: int | None, asset_ids: Sequence[int] | None) -> list[_AssetRow]:
    """The assets in scope (one query): the customer's in-service assets, or exactly ``asset_ids``."""
    if customer_id is None and asset_ids is None:
        raise ValueError("customer_id or asset_ids is required")
    assets = Asset.objects.all()
    if customer_id is not None:
        assets = assets.filter(customer_id=customer_id, status__in=ASSET_IN_SERVICE_STATES)
    if asset_ids is not None:
        assets = assets.filter(pk__in=list(asset_ids))
    rows = assets.order_by("pk").values_list("pk", "asset_model_id", "site__time_zone", "install_date")
    return [_AssetRow(pk, model_id, zone or DEFAULT_TIME_ZONE, installed) for pk, model_id, zone, installed in rows]


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


def _scoped(queryset, customer_id: int | None, asset_ids: Sequence[int] | None, assets: list[_AssetRow]):
    if asset_ids is None:  # the customer's in-service assets, by join rather than a long list of ids
        return queryset.filter(asset__customer_id=customer_id, asset__status__in=ASSET_IN_SERVICE_STATES)
    return queryset.filter(asset_id__in=[asset.pk for asset in assets])


def consumable_segments(
    *,
    customer_id: int | None = None,
    asset_ids: Sequence[int] | None = None,
    as_of: datetime,
    lookback_days: int = 120,
) -> list[LevelSegment]:
    """The current toner segments of the assets, from the levels of ``lookback_days`` up to ``as_of``.

    Scope: the customer's in-service assets, or the given assets. One segment per (asset, toner part type of
    the asset's model); where two part types of a model fit the same supply, the first by id. Three queries;
    levels are streamed in (asset, supply, time) order.
    """
    assets = _assets(customer_id, asset_ids)
    types = _part_types({asset.asset_model_id for asset in assets}, PartKind.CONSUMABLE)
    return _consumable_segments(assets, types, customer_id, asset_ids, as_of, lookback_days)


def _consumable_segments(assets, types, customer_id, asset_ids, as_of, lookback_days) -> list[LevelSegment]:
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
        return []
    levels = (
        _scoped(SupplyLevel.objects.all(), customer_id, asset_ids, assets)
        .filter(
            supply__in={supply for _asset_id, supply in part_type_of},
            taken_at__gt=as_of - timedelta(days=lookback_days),
            taken_at__lte=as_of,
        )
        .order_by("asset_id", "supply", "taken_at")
        .values_list("asset_id", "supply", "taken_at", "percent")
        .iterator(chunk_size=STREAM_CHUNK_SIZE)
    )
    segments = []
    for key, rows in groupby(levels, key=lambda row: (row[0], row[1])):
        part_type_id = part_type_of.get(key)
        if part_type_id is None:
            continue
        rows = list(rows)
        values = np.fromiter((float(row[3]) for row in rows), dtype=np.float64, count=len(rows))
        start = refill_start(values)
        started_at = rows[start][2]
        times = np.fromiter(
            ((row[2] - started_at).total_seconds() / _DAY for row in rows[start:]),
            dtype=np.float64,
            count=len(rows) - start,
        )
        segments.append(LevelSegment(key[0], part_type_id, key[1], started_at, times, values[start:]))
    return segments


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def wear_features(
    *, customer_id: int | None = None, asset_ids: Sequence[int] | None = None, as_of: datetime
) -> list[WearFeature]:
    """Life used and usage rate of every wear part of the assets' models, as of ``as_of`` (module docstring).

    A part with a meter needs a valid reading of that meter at or before ``as_of``; a days part an installation
    or the asset's install date. Seven queries whatever the number of assets.
    """
    assets = _assets(customer_id, asset_ids)
    types = _part_types({asset.asset_model_id for asset in assets}, PartKind.WEAR_PART)
    return _wear_features(assets, types, customer_id, asset_ids, as_of)


def _meter_of(life_unit: str) -> str | None:
    """The meter of a life unit, "" for calendar days, None when no meter counts it (no forecast)."""
    return LIFE_UNIT_METER.get(life_unit)


def _valid_readings(as_of: datetime):
    return Reading.objects.filter(invalidated_at__isnull=True, taken_at__lte=as_of)


def _last_installations(customer_id, asset_ids, assets, as_of) -> dict[tuple[int, int], tuple]:
    """(asset, part type) -> (installed_at, counter at installation or None) of the last installation."""
    meter = Case(
        *(When(part_type__life_unit=unit, then=Value(meter)) for unit, meter in LIFE_UNIT_METER.items() if meter),
        default=Value(""),
        output_field=CharField(),
    )
    readings = _valid_readings(as_of).filter(asset_id=OuterRef("asset_id"), meter=OuterRef("part_meter"))
    before = readings.filter(taken_at__lte=OuterRef("installed_at")).order_by("-taken_at")
    after = readings.filter(taken_at__gt=OuterRef("installed_at")).order_by("taken_at")
    rows = (
        _scoped(PartInstallation.objects.all(), customer_id, asset_ids, assets)
        .filter(installed_at__lte=as_of, part_type__kind=PartKind.WEAR_PART)
        .annotate(
            part_meter=meter,
            value_before=Subquery(before.values("value")[:1]),
            value_after=Subquery(after.values("value")[:1]),
        )
        .order_by("asset_id", "part_type_id", "installed_at", "id")
        .values_list("asset_id", "part_type_id", "installed_at", "meter_value", "value_before", "value_after")
        .iterator(chunk_size=STREAM_CHUNK_SIZE)
    )
    last = {}
    for asset_id, part_type_id, installed_at, recorded, value_before, value_after in rows:
        counter = next((value for value in (recorded, value_before, value_after) if value is not None), None)
        last[(asset_id, part_type_id)] = (installed_at, None if counter is None else float(counter))
    return last


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


def _wear_features(assets, types, customer_id, asset_ids, as_of) -> list[WearFeature]:
    wanted = [
        (asset, part_type)
        for asset in assets
        for part_type in types.get(asset.asset_model_id, ())
        if _meter_of(part_type.life_unit) is not None
    ]
    if not wanted:
        return []
    meters = sorted({_meter_of(part_type.life_unit) for _asset, part_type in wanted} - {""})
    with_meters = sorted({asset.pk for asset, part_type in wanted if _meter_of(part_type.life_unit)})
    installations = _last_installations(customer_id, asset_ids, assets, as_of)
    window_start = as_of - timedelta(days=RATE_DAYS)
    usage = (
        usage_for_assets(asset_ids=with_meters, meters=meters, start=window_start, end=as_of, now=as_of)
        if meters and with_meters
        else {}
    )
    first = _first_readings(with_meters, meters, as_of)
    features = []
    for asset, part_type in wanted:
        meter = _meter_of(part_type.life_unit)
        installed = installations.get((asset.pk, part_type.pk))
        if not meter:
            if installed is not None:
                installed_at = installed[0]
            elif (
                asset.install_date is not None and asset.install_date <= as_of.astimezone(_zone(asset.time_zone)).date()
            ):
                installed_at = datetime.combine(asset.install_date, time(), tzinfo=_zone(asset.time_zone))
            else:
                continue
            days = max((as_of - installed_at).total_seconds() / _DAY, 0.0)
            features.append(WearFeature(asset.pk, part_type.pk, asset.asset_model_id, "", installed_at, days, 1.0, 1))
            continue
        now = usage.get((asset.pk, meter))
        first_reading = first.get((asset.pk, meter))
        if now is None or first_reading is None:
            continue
        if installed is not None and installed[1] is not None:
            installed_at, counter_then = installed
        else:
            installed_at, counter_then = first_reading
        counter_now = float(now.end_value)
        life_used = counter_now - counter_then
        if life_used < 0:  # the meter was reset since: counted from zero after the reset
            life_used = counter_now
        rate_from = max(window_start, first_reading[0])
        rate_days = (as_of - rate_from).total_seconds() / _DAY
        rate = float(now.usage) / rate_days if rate_days >= MIN_SEGMENT_DAYS else 0.0
        features.append(
            WearFeature(
                asset.pk, part_type.pk, asset.asset_model_id, meter, installed_at, life_used, rate, now.readings_used
            )
        )
    return features


def observed_lives(*, as_of: datetime, provider_id: int | None = None) -> dict[tuple[int, int], np.ndarray]:
    """(asset model id, part type id) -> lives between consecutive installations recorded before ``as_of``.

    A life is the next installation's meter value less the previous one's (both recorded, same meter, positive),
    or the days between them for life unit days. Wear parts only; one query, streamed.
    """
    installations = PartInstallation.objects.filter(installed_at__lte=as_of, part_type__kind=PartKind.WEAR_PART)
    if provider_id is not None:
        installations = installations.filter(asset__customer__provider_id=provider_id)
    rows = (
        installations.order_by("asset_id", "part_type_id", "installed_at", "id")
        .values_list(
            "asset_id",
            "part_type_id",
            "asset__asset_model_id",
            "part_type__life_unit",
            "installed_at",
            "meter",
            "meter_value",
        )
        .iterator(chunk_size=STREAM_CHUNK_SIZE)
    )
    lives: dict[tuple[int, int], list[float]] = {}
    for (_asset_id, part_type_id), group in groupby(rows, key=lambda row: (row[0], row[1])):
        previous = None
        for row in group:
            _a, _p, model_id, life_unit, installed_at, meter, value = row
            if previous is not None:
                if life_unit == LifeUnit.DAYS:
                    life = (installed_at - previous[4]).total_seconds() / _DAY
                elif value is not None and previous[6] is not None and meter == previous[5]:
                    life = float(value - previous[6])
                else:
                    life = 0.0
                if life > 0:
                    lives.setdefault((model_id, part_type_id), []).append(life)
            previous = row
    return {key: np.asarray(values, dtype=np.float64) for key, values in lives.items()}


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


def forecasts_compute(
    *,
    customer_id: int,
    as_of: datetime,
    observed: Mapping[tuple[int, int], np.ndarray] | None = None,
) -> list[ReplacementForecast]:
    """Unsaved forecasts of the customer's in-service assets as of ``as_of``, one per (asset, part type).

    Consumables for each toner supply with a part type of the asset's model; wear parts for each wear part
    type of the model. ``observed`` (from ``observed_lives`` of the customer's provider) may be passed by a
    caller that runs many customers; otherwise it is read here. ``computed_at`` is ``as_of``. A constant
    number of queries (about twelve) whatever the number of assets.
    """
    settings = forecast_settings_for(customer_id)
    assets = _assets(customer_id, None)
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
    rows: list[ReplacementForecast] = []

    def add(asset_id, part_type_id, kind, estimate, **basis):
        if estimate is None:
            return
        zone, part_type = zones[asset_id], part_types[part_type_id]
        risk_day = _local_date(as_of, estimate.days_at_risk, zone)
        rows.append(
            ReplacementForecast(
                asset_id=asset_id,
                part_type_id=part_type_id,
                kind=kind,
                method=estimate.method,
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
                    predicted_risk_day=risk_day,
                    lead_time_days=part_type.lead_time_days,
                    safety_margin_days=settings.safety_margin_days,
                ),
                computed_at=as_of,
                **basis,
            )
        )

    segments = _consumable_segments(assets, consumable_types, customer_id, None, as_of, 120)
    estimates = consumable_estimates(segments, risk_quantile=settings.risk_quantile, as_of=as_of)
    for segment, estimate in zip(segments, estimates, strict=True):
        add(
            segment.asset_id,
            segment.part_type_id,
            ForecastKind.CONSUMABLE,
            estimate,
            supply=segment.supply,
            meter="",
            segment_started_at=segment.started_at,
        )

    features = _wear_features(assets, wear_types, customer_id, None, as_of)
    if features:
        if observed is None:
            provider_id = Organisation.objects.filter(pk=customer_id).values_list("provider_id", flat=True).first()
            observed = observed_lives(as_of=as_of, provider_id=provider_id)
        lives = life_distributions(
            [(feature.asset_model_id, feature.part_type_id) for feature in features],
            observed=observed,
            rated_lives={pk: float(part_type.rated_life) for pk, part_type in part_types.items()},
        )
        estimates = wear_estimates(features, lives, risk_quantile=settings.risk_quantile)
        for feature, estimate in zip(features, estimates, strict=True):
            add(
                feature.asset_id,
                feature.part_type_id,
                ForecastKind.WEAR_PART,
                estimate,
                supply="",
                meter=feature.meter,
                segment_started_at=feature.installed_at,
            )
    return rows


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


@transaction.atomic
def forecasts_write(rows: Sequence[ReplacementForecast], *, customer_id: int) -> int:
    """Upsert the rows (one per asset and part type) and delete the customer's forecasts not among them.

    Returns the number of rows written. One upsert statement per 1000 rows, one read of the existing keys and
    one delete per 1000 stale rows.
    """
    rows = list(rows)
    if rows:
        ReplacementForecast.objects.bulk_create(
            rows,
            batch_size=WRITE_BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["asset", "part_type"],
            update_fields=WRITTEN_FIELDS,
        )
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
