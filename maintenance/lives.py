"""Life distributions of wear parts: how long a part type lasts on an asset model.

**Lives**, by (asset model, wear part type), in the part type's life unit (counter units, or days):

- *Observed* lives (``observed_lives``): between consecutive installations of the part type on one asset, both
  recorded at or before ``as_of``: the later installation's recorded meter value less the earlier one's (both
  recorded, same meter), or the days between them for life unit days; only positive differences count.
- *Running* lives (``running_lives``), right-censored: the part of each in-service asset
  (``ASSET_IN_SERVICE_STATES``) last installed at or before ``as_of`` is still running, so its life is at least
  what it has used so far. Life unit days: the days from its installation to ``as_of``. Pages and hours (the
  meter of ``LIFE_UNIT_METER``: total pages, key-on hours): the last valid reading of that meter (not
  invalidated, taken at or before ``as_of``) less the meter value recorded at the installation; none when either
  is missing or the installation recorded another meter. Cycles (traction batteries' charge cycles): key-on
  hours / ``CHARGE_CYCLE_HOURS`` (8), also for observed lives. Only positive lives count.

Below, lives that are not finite and positive are dropped; r is the number of observed lives, ``running`` the
running lives given to ``life_distribution``.

**Catalogue** (r < 5; running lives ignored): the rated life R with the assumption that the life is uniform on
[0.75 R, 1.25 R], so P10 = 0.8 R, P50 = R, P90 = 1.2 R.

**Empirical** (5 <= r <= 11). Without running lives: the quantiles of the sorted lives x(1) <= ... <= x(r) by
``numpy.quantile``, method "linear": the life at quantile (i - 1) / (r - 1) is x(i), linear in between; the
distribution function is its piecewise-linear inverse (0 below x(1), 1 above x(r)).
With running lives (``kaplan_meier_knots``): a Kaplan-Meier product-limit curve anchored at the shortest
observed life t0; without running lives it is the curve above (that case is still computed with
``numpy.quantile``), and running lives shorter than t0 change nothing.

- F(t0) = 0: no life shorter than the shortest failure, as without running lives.
- The other lives, the observed lives but one at t0 (the anchor) and the running lives of at least t0, give the
  product-limit estimate S(u) = prod over the distinct observed lives u_j <= u of (1 - d_j / n_j), d_j the
  observed lives equal to u_j, n_j the lives (observed or running) of at least u_j (a running life equal to u_j
  is at risk at u_j).
- F is linear between knots: (t0, 0), then at each u_j the d_j knots (u_j, 1 - S(u_j-) (1 - k / n_j)),
  k = 1 .. d_j, the last of them (u_j, 1 - S(u_j)); tied lives make a vertical step, as numpy's "linear"
  quantiles do. Without running lives the knots are (x(i), (i - 1) / (r - 1)).
- Tail: when S_m = S(u_m) > 0 at the longest observed life u_m (running lives outlived every failure), beyond u_m
  S(t) = S_m exp(-(t - u_m) / theta), theta = (u_m - t0) / (-ln S_m): the constant hazard that takes S from 1 at
  t0 to S_m at u_m (the Brown-Hollander-Korwar completion, with time counted from t0, where the curve starts;
  theta = u_m / (-ln S_m) when every observed life equals t0). When S_m = 0, F = 1 from u_m on.
- Quantile function: the inverse, linear between the knots up to 1 - S_m, then u_m + theta ln(S_m / (1 - q))
  (q at most 1 - 1e-12).

**Weibull** (r >= 12; shape k, scale lambda; ``weibull_fit``) by maximum likelihood with right censoring: with
the observed lives x_i, the running lives c_j, all lives t = x and c, and y = t / max(t) (so that y^k cannot
overflow), k solves sum_all(y^k ln y) / sum_all(y^k) - 1/k - (1/r) sum_observed(ln y) = 0. The left side increases
with k: bisection on ln k over [ln 0.02, ln 200], 100 halvings; k = 200 when the left side is still negative
there. lambda = max(t) (sum_all(y^k) / r)^(1/k). Without running lives this is the complete-sample fit: k solves
sum(x^k ln x) / sum(x^k) - 1/k - mean(ln x) = 0 and lambda = mean(x^k)^(1/k).

**Means** (``LifeDistribution.mean``): catalogue R; Weibull lambda Gamma(1 + 1/k); empirical without running
lives the mean of the lives, with running lives the area under S: t0 + the trapezoids of 1 - F between the knots
+ S_m theta. The median is the quantile at 0.5.

**Hand-over** (``LifeDistribution.to_dict`` / ``from_dict``): a plain JSON-able dict, so that a task computes
the distributions once per provider and passes them to the per-customer tasks; quantiles and distribution
function are identical after the round trip. A Weibull travels as its shape and scale, without its lives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

import numpy as np
from django.db.models import Case, CharField, OuterRef, Subquery, Value, When

from assets.choices import ASSET_IN_SERVICE_STATES, LifeUnit, PartKind
from assets.models import PartType
from maintenance.choices import ForecastMethod
from maintenance.models import PartInstallation
from telemetry.choices import Meter
from telemetry.models import Reading

# Below EMPIRICAL_MIN observed lives the catalogue, from WEIBULL_MIN a Weibull fit.
EMPIRICAL_MIN = 5
WEIBULL_MIN = 12
CATALOGUE_LOW, CATALOGUE_HIGH = 0.75, 1.25  # uniform life around the rated life: P10 = 0.8 R, P90 = 1.2 R
WEIBULL_SHAPE_LOW, WEIBULL_SHAPE_HIGH = 0.02, 200.0
WEIBULL_STEPS = 100
TOP_QUANTILE = 1 - 1e-12  # the quantile functions with an unbounded tail stop there
STREAM_CHUNK_SIZE = 5000
# The meter that counts each life unit ("" counts calendar days), for the forecasts, the lives and the
# installations work orders record. A traction battery's life is rated in charge cycles, which no meter reports:
# they are counted on its truck's key-on hours, one equivalent full cycle per CHARGE_CYCLE_HOURS (a battery is
# sized for one eight-hour shift per charge).
LIFE_UNIT_METER: dict[str, str] = {
    LifeUnit.PAGES: Meter.TOTAL_PAGES,
    LifeUnit.HOURS: Meter.HOURS_KEY_ON,
    LifeUnit.CYCLES: Meter.HOURS_KEY_ON,
    LifeUnit.DAYS: "",
}
CHARGE_CYCLE_HOURS = 8.0
_LIFE_PER_METER_UNIT = {LifeUnit.CYCLES: 1.0 / CHARGE_CYCLE_HOURS}


def life_per_meter_unit(life_unit: str) -> float:
    """Life units per unit of the life unit's meter: 1, but 1/8 cycle per key-on hour for cycles."""
    return _LIFE_PER_METER_UNIT.get(life_unit, 1.0)


_DAY = 86_400.0


def _floats(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).ravel()


@dataclass(frozen=True, eq=False)
class LifeDistribution:
    """The life of a part type on a model (counter units or days): catalogue, empirical or Weibull.

    ``method`` is a ``ForecastMethod`` value; ``replacements_used`` the observed lives behind it and
    ``running_used`` the running (censored) lives (both 0 for the catalogue). Catalogue: uniform on
    [0.75, 1.25] x ``rated_life``; empirical: linear quantiles of ``lives``, or with running lives the knots
    ``knot_lives`` / ``knot_shares`` of the Kaplan-Meier curve and its exponential tail of mean ``tail_mean``
    (0: no tail); Weibull: ``shape`` and ``scale``. The module docstring states each method exactly.
    """

    method: str
    replacements_used: int
    rated_life: float = 0.0
    lives: np.ndarray | None = None  # sorted observed lives (empirical, Weibull)
    shape: float = 0.0
    scale: float = 0.0
    running_used: int = 0
    knot_lives: np.ndarray | None = None  # Kaplan-Meier knots, ascending (empirical with running lives)
    knot_shares: np.ndarray | None = None  # F at the knots, from 0 up to 1 - S_m
    tail_mean: float = 0.0  # theta of the tail beyond the last knot; 0 when F reaches 1 there

    @property
    def _kaplan_meier(self) -> bool:
        return self.method == ForecastMethod.EMPIRICAL and self.knot_lives is not None

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """The life at quantile ``q`` (0-1)."""
        q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
        if self.method == ForecastMethod.WEIBULL:
            result = self.scale * (-np.log1p(-np.minimum(q, TOP_QUANTILE))) ** (1.0 / self.shape)
        elif self._kaplan_meier:
            top = float(self.knot_shares[-1])
            result = np.interp(np.minimum(q, top), self.knot_shares, self.knot_lives)
            if self.tail_mean > 0:
                left = 1.0 - top  # S_m
                tail = self.knot_lives[-1] + self.tail_mean * np.log(left / (1.0 - np.minimum(q, TOP_QUANTILE)))
                result = np.where(q > top, tail, result)
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
        elif self._kaplan_meier:
            top = float(self.knot_shares[-1])
            result = np.interp(x, self.knot_lives, self.knot_shares, left=0.0, right=top)
            if self.tail_mean > 0:
                last = float(self.knot_lives[-1])
                tail = 1.0 - (1.0 - top) * np.exp(-np.maximum(x - last, 0.0) / self.tail_mean)
                result = np.where(x > last, tail, result)
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
        if self._kaplan_meier:
            survival = 1.0 - self.knot_shares
            area = float(np.sum(np.diff(self.knot_lives) * (survival[1:] + survival[:-1]) / 2.0))
            return float(self.knot_lives[0]) + area + float(survival[-1]) * self.tail_mean
        if self.method == ForecastMethod.EMPIRICAL:
            return float(np.mean(self.lives))
        return float(self.rated_life)

    def median(self) -> float:
        """The median life (the "life expected" shown with a forecast)."""
        return float(self.quantile(0.5))

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict of what the quantiles need (``from_dict`` reads it back).

        Keys: method, replacements_used, running_used, rated_life, lives, shape, scale, knot_lives, knot_shares,
        tail_mean. ``lives`` is listed for the empirical method only (its quantiles are made of them); a Weibull
        is its shape and scale, so that task arguments stay small whatever the number of lives.
        """

        def listed(values: np.ndarray | None) -> list[float]:
            return [] if values is None else [float(value) for value in values]

        return {
            "method": str(ForecastMethod(self.method).value),
            "replacements_used": int(self.replacements_used),
            "running_used": int(self.running_used),
            "rated_life": float(self.rated_life),
            "lives": listed(self.lives) if self.method == ForecastMethod.EMPIRICAL else [],
            "shape": float(self.shape),
            "scale": float(self.scale),
            "knot_lives": listed(self.knot_lives),
            "knot_shares": listed(self.knot_shares),
            "tail_mean": float(self.tail_mean),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifeDistribution:
        """The distribution of a ``to_dict`` dict."""

        def array(key: str) -> np.ndarray | None:
            values = data.get(key) or []
            return _floats(values) if len(values) else None

        return cls(
            method=ForecastMethod(data["method"]),
            replacements_used=int(data["replacements_used"]),
            rated_life=float(data["rated_life"]),
            lives=array("lives"),
            shape=float(data.get("shape", 0.0)),
            scale=float(data.get("scale", 0.0)),
            running_used=int(data.get("running_used", 0)),
            knot_lives=array("knot_lives"),
            knot_shares=array("knot_shares"),
            tail_mean=float(data.get("tail_mean", 0.0)),
        )


# --- The math -------------------------------------------------------------------------------------------------


def weibull_fit(lives: np.ndarray, censored: np.ndarray | None = None) -> tuple[float, float]:
    """(shape, scale) of a two-parameter Weibull by maximum likelihood, ``censored`` lives right-censored.

    Bisection on the profile equation of the shape (module docstring); without censored lives the complete-sample
    fit. Needs at least one observed life; all lives positive.
    """
    x = _floats(lives)
    count = len(x)
    extra = np.empty(0) if censored is None else _floats(censored)
    every = np.concatenate([x, extra]) if extra.size else x
    top = float(every.max())
    y = every / top  # scaled to at most 1 so that y**k cannot overflow
    log_y = np.log(y)
    mean_log = float(log_y[:count].mean())

    def equation(shape: float) -> float:
        power = y**shape
        return float((power * log_y).sum() / power.sum()) - 1.0 / shape - mean_log

    low, high = math.log(WEIBULL_SHAPE_LOW), math.log(WEIBULL_SHAPE_HIGH)
    if equation(math.exp(high)) < 0:  # (nearly) identical lives: as steep as allowed
        low = high
    for _step in range(WEIBULL_STEPS):
        middle = (low + high) / 2.0
        if equation(math.exp(middle)) < 0:
            low = middle
        else:
            high = middle
    shape = math.exp((low + high) / 2.0)
    scale = top * (float(np.sum(y**shape)) / count) ** (1.0 / shape)
    return shape, scale


def kaplan_meier_knots(observed: np.ndarray, running: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(knot lives, knot shares, tail mean theta) of the product-limit curve anchored at the shortest observed life.

    The construction is the module docstring's (empirical, with running lives); without running lives the knots
    are (x(i), (i - 1) / (r - 1)), numpy's "linear" quantiles. Needs at least two observed lives; all positive.
    """
    failures = np.sort(_floats(observed))
    if len(failures) < 2:
        raise ValueError("The product-limit curve needs at least two observed lives.")
    start = float(failures[0])
    failures = failures[1:]  # the first one is the anchor: F(start) = 0
    censored = np.sort(_floats(running))
    censored = censored[censored >= start]
    values, deaths = np.unique(failures, return_counts=True)
    at_risk = (len(failures) - np.searchsorted(failures, values, side="left")) + (
        len(censored) - np.searchsorted(censored, values, side="left")
    )
    knot_lives, knot_shares = [start], [0.0]
    survival = 1.0
    for value, died, risk in zip(values.tolist(), deaths.tolist(), at_risk.tolist(), strict=True):
        for k in range(1, died + 1):
            knot_lives.append(value)
            knot_shares.append(1.0 - survival * (1.0 - k / risk))
        survival *= 1.0 - died / risk
    lives, shares = np.array(knot_lives), np.array(knot_shares)
    left = 1.0 - float(shares[-1])  # S_m
    tail_mean = 0.0
    if left > 0:
        last = float(lives[-1])
        span = last - start if last > start else last
        tail_mean = span / -math.log(left)
    return lives, shares, tail_mean


def _lives(values) -> np.ndarray:
    """Finite positive lives, sorted."""
    lives = _floats(values)
    return np.sort(lives[np.isfinite(lives) & (lives > 0)])


def life_distribution(
    observed: np.ndarray, *, rated_life: float, running: np.ndarray | None = None
) -> LifeDistribution:
    """The life of a part type on a model from its observed lives and its ``running`` (right-censored) lives.

    The method by the number of observed lives: the catalogue below 5 (running lives ignored), empirical up to
    11, Weibull from 12 (module docstring).
    """
    lives = _lives(observed)
    count = len(lives)
    if count < EMPIRICAL_MIN:
        return LifeDistribution(ForecastMethod.CATALOGUE, 0, float(rated_life))
    censored = _lives([] if running is None else running)
    if count >= WEIBULL_MIN:
        shape, scale = weibull_fit(lives, censored)
        return LifeDistribution(
            ForecastMethod.WEIBULL, count, float(rated_life), lives, shape, scale, running_used=len(censored)
        )
    if not censored.size:
        return LifeDistribution(ForecastMethod.EMPIRICAL, count, float(rated_life), lives)
    knot_lives, knot_shares, tail_mean = kaplan_meier_knots(lives, censored)
    return LifeDistribution(
        ForecastMethod.EMPIRICAL,
        count,
        float(rated_life),
        lives,
        running_used=len(censored),
        knot_lives=knot_lives,
        knot_shares=knot_shares,
        tail_mean=tail_mean,
    )


def life_distributions(
    keys: Sequence[tuple[int, int]],
    *,
    observed: Mapping[tuple[int, int], np.ndarray],
    rated_lives: Mapping[int, float],
    running: Mapping[tuple[int, int], np.ndarray] | None = None,
) -> dict[tuple[int, int], LifeDistribution]:
    """A distribution for each (asset model id, part type id): observed and running lives, else the rated life.

    Keys whose part type has no rated life in ``rated_lives`` are left out.
    """
    empty = np.empty(0)
    running = running or {}
    return {
        key: life_distribution(
            observed.get(key, empty), rated_life=rated_lives[key[1]], running=running.get(key, empty)
        )
        for key in dict.fromkeys(keys)
        if key[1] in rated_lives
    }


# --- Lives from the database ----------------------------------------------------------------------------------


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
                    life = float(value - previous[6]) * life_per_meter_unit(life_unit)
                else:
                    life = 0.0
                if life > 0:
                    lives.setdefault((model_id, part_type_id), []).append(life)
            previous = row
    return {key: np.asarray(values, dtype=np.float64) for key, values in lives.items()}


def running_lives(*, as_of: datetime, provider_id: int | None = None) -> dict[tuple[int, int], np.ndarray]:
    """(asset model id, part type id) -> the lives used so far at ``as_of`` by the parts still running.

    One per in-service asset (of ``provider_id``'s customers when given) and wear part type whose last
    installation at or before ``as_of`` is recorded: the days since it, or the last valid reading of the life
    unit's meter at or before ``as_of`` less the installation's meter value (module docstring). One query,
    streamed: the last installation and the last reading are indexed ``[:1]`` subqueries.
    """
    counted = list(LIFE_UNIT_METER)
    unit_meter = Case(
        *(When(part_type__life_unit=unit, then=Value(meter)) for unit, meter in LIFE_UNIT_METER.items() if meter),
        default=Value(""),
        output_field=CharField(),
    )
    last_installation = (
        PartInstallation.objects.filter(
            asset_id=OuterRef("asset_id"), part_type_id=OuterRef("part_type_id"), installed_at__lte=as_of
        )
        .order_by("-installed_at", "-id")
        .values("pk")[:1]
    )
    last_reading = (
        Reading.objects.filter(
            asset_id=OuterRef("asset_id"),
            meter=OuterRef("unit_meter"),
            invalidated_at__isnull=True,
            taken_at__lte=as_of,
        )
        .order_by("-taken_at")
        .values("value")[:1]
    )
    installations = PartInstallation.objects.filter(
        installed_at__lte=as_of,
        part_type__kind=PartKind.WEAR_PART,
        part_type__life_unit__in=counted,
        asset__status__in=ASSET_IN_SERVICE_STATES,
    )
    if provider_id is not None:
        installations = installations.filter(asset__customer__provider_id=provider_id)
    rows = (
        installations.filter(pk=Subquery(last_installation))
        .annotate(unit_meter=unit_meter, reading=Subquery(last_reading))
        .order_by("asset_id", "part_type_id")
        .values_list(
            "asset__asset_model_id",
            "part_type_id",
            "part_type__life_unit",
            "unit_meter",
            "installed_at",
            "meter",
            "meter_value",
            "reading",
        )
        .iterator(chunk_size=STREAM_CHUNK_SIZE)
    )
    lives: dict[tuple[int, int], list[float]] = {}
    for model_id, part_type_id, life_unit, meter, installed_at, recorded_meter, recorded, reading in rows:
        if not meter:
            life = (as_of - installed_at).total_seconds() / _DAY
        elif recorded is None or reading is None or (recorded_meter and recorded_meter != meter):
            continue
        else:
            life = float(reading - recorded) * life_per_meter_unit(life_unit)
        if life > 0:
            lives.setdefault((model_id, part_type_id), []).append(life)
    return {key: np.asarray(values, dtype=np.float64) for key, values in lives.items()}


# --- Once per provider ------------------------------------------------------------------------------------------


def provider_lives(*, provider_id: int, as_of: datetime) -> dict[tuple[int, int], LifeDistribution]:
    """The fitted life distributions of the provider's (asset model, part type) pairs as of ``as_of``: those with
    ``EMPIRICAL_MIN`` observed lives or more (the others are the catalogue's, which needs no data). Three queries:
    the observed lives, the running lives and the rated lives."""
    observed = observed_lives(as_of=as_of, provider_id=provider_id)
    keys = [key for key, lives in observed.items() if len(_lives(lives)) >= EMPIRICAL_MIN]
    if not keys:
        return {}
    running = running_lives(as_of=as_of, provider_id=provider_id)
    rated = PartType.objects.filter(pk__in={part_type_id for _model_id, part_type_id in keys})
    return life_distributions(
        keys,
        observed=observed,
        rated_lives={pk: float(life) for pk, life in rated.values_list("pk", "rated_life")},
        running=running,
    )


def lives_to_json(lives: Mapping[tuple[int, int], LifeDistribution]) -> dict[str, dict[str, Any]]:
    """The distributions as a JSON-able dict keyed "model id:part type id" (a Celery task argument)."""
    return {f"{model_id}:{part_type_id}": lives[(model_id, part_type_id)].to_dict() for model_id, part_type_id in lives}


def lives_from_json(data: Mapping[str, Mapping[str, Any]]) -> dict[tuple[int, int], LifeDistribution]:
    """The distributions of a ``lives_to_json`` dict."""
    lives = {}
    for key, value in data.items():
        model_id, part_type_id = key.split(":")
        lives[(int(model_id), int(part_type_id))] = LifeDistribution.from_dict(value)
    return lives
