"""The backtest of replacement forecasts: replay history, forecast with only what was known then, compare.

**Events** are what actually happened: a toner *refill* (a jump up of the supply level, ``REFILL_JUMP_PERCENT``
or more, in ``SupplyLevel`` history; the event's time is the first level after the jump, the cartridge it ends
started at the refill before it) and a wear-part *replacement* (a ``PartInstallation`` that has an earlier
installation of the same part type on the same asset; the part it ends was installed then). Refills without an
earlier refill in the history, and first installations, are not events: where the part started is unknown.

**Replay points.** For each event and each ``points`` value *k* (default 60, 30, 14, 7 days), the replay instant
``as_of`` is midnight (UTC) of the event's day less *k* days, as the nightly run of that day would have seen it.
A point before the cartridge or part started is skipped, and so is one before the asset's first reading of
the part's meter (nothing to forecast from). At each replay instant the engine's own functions
(``maintenance.forecasts``: ``consumable_segments`` + ``consumable_estimates``, ``wear_features`` +
``wear_estimates``; ``maintenance.lives``: ``observed_lives`` + ``running_lives`` + ``life_distribution``, the
parts still running then being its right-censored lives) are called with that ``as_of``, so the backtest
measures exactly what the nightly run computes. They are called **once per replay instant for all the assets
that need it** (the engine reads a constant number of queries per call), so the queries grow with the number of
replay days (at most ~400 a year), never with events x assets.

**Figures per event and replay point.** The forecast's predicted moment is ``as_of`` + ``days_p50``; its error is
predicted - actual in days (positive: forecast late), its act date is ``act_by_date`` of the risk-quantile day
with the part's lead time and the customer's safety margin (the customer's settings, as the nightly run uses).

**The naive baseline** at the same replay point: the catalogue's rated life at the asset's average rate over its
whole history before ``as_of`` (first reading to last reading at or before ``as_of``, counter resets adjusted).
For a consumable, rated pages / pages per day from the refill (black toner counts all pages, colour toners the
colour pages when the asset counts them); for a wear part, (rated life - life used) / use per day from
``as_of`` (never before it). Its act date is its predicted date less lead time and safety margin. The history it
reads (readings, once, for all assets) is filtered in memory to ``taken_at <= as_of``.

**Per event** (A the actual moment, S the start, L the part's lead time in days, W the customer's planning
window), for the forecaster and the baseline alike:

- *in time*: the replay points with ``as_of <= A - L`` (a part ordered then could still arrive).
- *within window*: at some in-time point the act date fell in ``[date(A) - W - L, date(A) - L]``: the nightly
  run would have acted (the act date is inside its planning window) neither too late nor more than a planning
  window early.
- *stock-out*: the *decision point* is the last in-time point. The nightly run would have ordered on its act
  date (on the decision night itself when that date has passed), and the part arrives L days later; a stock-out
  is an order day after ``date(A) - L`` (arriving after the part ran out), or no forecast at the decision point,
  or no in-time point at all.
- *life wasted*: when the part would have been replaced on arrival (order day + L = R) before A, the share of
  its life not used, ``(c(A) - c(R)) / (c(A) - c(S))`` in counter units (days for parts rated in days; c(S) the
  meter value recorded at the installation when it predates the readings); else 0.

**Aggregates** per part type and overall: events (with at least one replay point forecast by either), MAE and
bias over the replay points where both the forecaster and the baseline made a forecast (the same points for
both), share within window, stock-outs, mean life wasted (%). The summary line's ``parts`` is the number of
events replayed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from accounts.models import Organisation
from assets.choices import PartKind
from assets.models import Asset, PartType
from maintenance import forecasts as engine
from maintenance import lives as life_engine
from maintenance.models import PartInstallation
from telemetry.choices import Meter, Supply
from telemetry.models import Reading, SupplyLevel

DEFAULT_POINTS = (60, 30, 14, 7)
DAY = 86_400.0
ForecastSettings = engine.ForecastSettings


@dataclass
class Event:
    """A refill or a replacement that happened, and the replay of it."""

    kind: str  # PartKind value
    asset_id: int
    customer_id: int
    part_type_id: int
    code: str
    meter: str  # the counter the part's life (or the baseline's rate) is counted on; "" for days
    started_at: datetime
    happened_at: datetime
    lead_time_days: int
    rated_life: float
    zone: ZoneInfo  # the site's: the zone the nightly run dates the forecasts in
    start_counter: float | None = None  # the meter value recorded at the installation the part started with
    points: list[Point] = field(default_factory=list)


@dataclass
class Point:
    """One replay point of an event: the forecaster's and the baseline's prediction as of ``as_of``."""

    days_before: int
    as_of: datetime
    forecast_error: float | None = None  # days, predicted - actual
    forecast_act_by: date | None = None
    forecast_method: str = ""
    baseline_error: float | None = None
    baseline_act_by: date | None = None


@dataclass
class Outcome:
    within_window: bool
    stockout: bool
    wasted: float | None  # share of life, None without a decision forecast


@dataclass(frozen=True)
class Summary:
    """The figures of one part type (or of all: ``code`` "all")."""

    code: str
    events: int
    compared_points: int
    forecast_mae: float | None
    forecast_bias: float | None
    baseline_mae: float | None
    baseline_bias: float | None
    within_window: float | None
    baseline_within_window: float | None
    stockouts: int
    baseline_stockouts: int
    wasted_percent: float | None
    baseline_wasted_percent: float | None


@dataclass
class BacktestResult:
    events: list[Event]
    parts: list[Summary]
    overall: Summary
    replay_days: int

    def summary_line(self) -> str:
        def number(value: float | None, digits: int) -> str:
            return "n/a" if value is None else f"{value:.{digits}f}"

        overall = self.overall
        return (
            f"parts={overall.events} forecast_mae_days={number(overall.forecast_mae, 1)} "
            f"baseline_mae_days={number(overall.baseline_mae, 1)} within_window={number(overall.within_window, 2)} "
            f"stockouts={overall.stockouts}"
        )


# --- History, loaded once -----------------------------------------------------------------------------------------


class CounterHistory:
    """Each asset's counters (reset-adjusted, cumulative) from one query; read in memory as of any instant."""

    def __init__(self, asset_ids: Sequence[int], meters: Iterable[str]):
        rows = (
            Reading.objects.filter(asset_id__in=list(asset_ids), meter__in=list(meters), invalidated_at__isnull=True)
            .order_by("asset_id", "meter", "taken_at")
            .values_list("asset_id", "meter", "taken_at", "value")
        )
        grouped: dict[tuple[int, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        for asset_id, meter, taken_at, value in rows.iterator(chunk_size=20_000):
            times, values = grouped[(asset_id, meter)]
            times.append(taken_at.timestamp())
            values.append(float(value))
        self.series: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
        for key, (times, values) in grouped.items():
            raw = np.array(values)
            steps = np.diff(raw)
            adjusted = np.concatenate(([raw[0]], raw[0] + np.cumsum(np.where(steps >= 0, steps, raw[1:]))))
            self.series[key] = (np.array(times), adjusted)

    def has(self, asset_id: int, meter: str) -> bool:
        return (asset_id, meter) in self.series and len(self.series[(asset_id, meter)][0]) > 1

    def known(self, asset_id: int, meter: str, as_of: datetime) -> bool:
        """Whether the asset had reported ``meter`` by ``as_of`` (always, for parts counted in days)."""
        if not meter:
            return True
        times, _values = self.series.get((asset_id, meter), (None, None))
        return times is not None and times[0] <= as_of.timestamp()

    def average_rate(self, asset_id: int, meter: str, as_of: datetime) -> float | None:
        """Use per day from the first reading to the last one at or before ``as_of`` (None when unknown)."""
        if not meter:
            return 1.0
        times, values = self.series.get((asset_id, meter), (None, None))
        if times is None:
            return None
        last = int(np.searchsorted(times, as_of.timestamp(), side="right")) - 1
        if last < 1 or times[last] - times[0] < DAY:
            return None
        rate = (values[last] - values[0]) / ((times[last] - times[0]) / DAY)
        return rate if rate > 0 else None

    def value_at(self, asset_id: int, meter: str, at: datetime, *, known_at: datetime | None = None) -> float | None:
        """The adjusted counter at ``at``, interpolated; with ``known_at``, from readings up to then only."""
        if not meter:
            return at.timestamp() / DAY
        times, values = self.series.get((asset_id, meter), (None, None))
        if times is None:
            return None
        if known_at is not None:
            end = int(np.searchsorted(times, known_at.timestamp(), side="right"))
            times, values = times[:end], values[:end]
        if len(times) == 0 or at.timestamp() < times[0] or at.timestamp() > times[-1]:
            return None
        return float(np.interp(at.timestamp(), times, values))


@dataclass(frozen=True)
class _AssetRow:
    customer_id: int
    asset_model_id: int
    zone: ZoneInfo


def _asset_rows(customer_code: str | None) -> dict[int, _AssetRow]:
    assets = Asset.objects.filter(customer__provider__isnull=False)
    if customer_code:
        assets = assets.filter(customer__code=customer_code)
    rows = assets.values_list("pk", "customer_id", "asset_model_id", "site__time_zone")
    return {pk: _AssetRow(customer_id, model_id, _zone(zone)) for pk, customer_id, model_id, zone in rows}


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or engine.DEFAULT_TIME_ZONE)
    except (KeyError, ValueError):
        return ZoneInfo(engine.DEFAULT_TIME_ZONE)


def is_refill(previous: float, level: float) -> bool:
    """A refill jump, by the engine's rule: a rise of ``REFILL_RISE`` points, or one of ``REFILL_FULL_MIN_RISE``
    that ends at ``REFILL_FULL`` % or more from below it."""
    rise = level - previous
    return rise >= engine.REFILL_RISE or (
        level >= engine.REFILL_FULL and previous < engine.REFILL_FULL and rise >= engine.REFILL_FULL_MIN_RISE
    )


def _consumable_events(asset_rows: dict[int, _AssetRow], part_types: dict[int, PartType]) -> list[Event]:
    """Refill jumps (each with a refill before it) of the toners of the assets."""
    by_model_supply: dict[tuple[int, str], PartType] = {}
    for part_type in part_types.values():
        if part_type.kind != PartKind.CONSUMABLE:
            continue
        supply = engine.supply_for_part_type(part_type)
        if supply:
            for asset_model in part_type.asset_models.all():
                by_model_supply[(asset_model.pk, supply)] = part_type
    supplies = {supply for _model, supply in by_model_supply}
    levels = (
        SupplyLevel.objects.filter(asset_id__in=list(asset_rows), supply__in=supplies)
        .order_by("asset_id", "supply", "taken_at")
        .values_list("asset_id", "supply", "taken_at", "percent")
    )
    events: list[Event] = []
    previous_key, previous_level, refilled_at = None, None, None
    for asset_id, supply, taken_at, percent in levels.iterator(chunk_size=20_000):
        level = float(percent)
        if (asset_id, supply) != previous_key:
            previous_key, previous_level, refilled_at = (asset_id, supply), level, None
            continue
        if is_refill(previous_level, level):
            asset = asset_rows[asset_id]
            part_type = by_model_supply.get((asset.asset_model_id, supply))
            if refilled_at is not None and part_type is not None:
                meter = Meter.TOTAL_PAGES if supply == Supply.TONER_BLACK else Meter.COLOUR_PAGES
                events.append(
                    Event(
                        kind=PartKind.CONSUMABLE,
                        asset_id=asset_id,
                        customer_id=asset.customer_id,
                        part_type_id=part_type.pk,
                        code=part_type.code,
                        meter=meter,
                        started_at=refilled_at,
                        happened_at=taken_at,
                        lead_time_days=part_type.lead_time_days,
                        rated_life=float(part_type.rated_life),
                        zone=asset.zone,
                    )
                )
            refilled_at = taken_at
        previous_level = level
    return events


def _wear_events(asset_rows: dict[int, _AssetRow], part_types: dict[int, PartType]) -> list[Event]:
    """Recorded replacements: installations with an earlier installation of the same part type on the asset."""
    wear_ids = [pk for pk, part_type in part_types.items() if part_type.kind == PartKind.WEAR_PART]
    installations = (
        PartInstallation.objects.filter(asset_id__in=list(asset_rows), part_type_id__in=wear_ids)
        .order_by("asset_id", "part_type_id", "installed_at", "id")
        .values_list("asset_id", "part_type_id", "installed_at", "meter_value")
    )
    events: list[Event] = []
    previous = None
    for asset_id, part_type_id, installed_at, meter_value in installations.iterator(chunk_size=20_000):
        if (
            previous is not None
            and previous[:2] == (asset_id, part_type_id)
            and installed_at > previous[2]
            and engine.LIFE_UNIT_METER.get(part_types[part_type_id].life_unit) is not None
        ):
            part_type = part_types[part_type_id]
            events.append(
                Event(
                    kind=PartKind.WEAR_PART,
                    asset_id=asset_id,
                    customer_id=asset_rows[asset_id].customer_id,
                    part_type_id=part_type_id,
                    code=part_type.code,
                    meter=engine.LIFE_UNIT_METER[part_type.life_unit],
                    started_at=previous[2],
                    happened_at=installed_at,
                    lead_time_days=part_type.lead_time_days,
                    rated_life=float(part_type.rated_life),
                    zone=asset_rows[asset_id].zone,
                    start_counter=None if previous[3] is None else float(previous[3]),
                )
            )
        previous = (asset_id, part_type_id, installed_at, meter_value)
    return events


def replay_instant(happened_at: datetime, days_before: int) -> datetime:
    """Midnight (UTC) of the event's day less ``days_before`` days: the nightly run that replay point stands for."""
    day = happened_at.astimezone(UTC).date() - timedelta(days=days_before)
    return datetime.combine(day, time(0), tzinfo=UTC)


def _day(moment: datetime, days: float, zone: ZoneInfo) -> date:
    return (moment + timedelta(days=days)).astimezone(zone).date()


# --- The replay ---------------------------------------------------------------------------------------------------


class _Distributions:
    """``life_distribution`` per (model, part type), computed again only when its observed or running lives change.

    Running lives only count from ``EMPIRICAL_MIN`` observed lives (the catalogue ignores them), so below that
    they are left out of the fingerprint.
    """

    def __init__(self, rated: dict[int, float]):
        self.rated = rated
        self.cache: dict[tuple[int, int], tuple[tuple[bytes, bytes], life_engine.LifeDistribution]] = {}

    def for_features(
        self, features, observed: dict[tuple[int, int], np.ndarray], running: dict[tuple[int, int], np.ndarray]
    ):
        empty = np.array([], dtype=float)
        result = {}
        for feature in features:
            key = (feature.asset_model_id, feature.part_type_id)
            if key in result:
                continue
            lives = np.asarray(observed.get(key, empty), dtype=float)
            censored = np.sort(np.asarray(running.get(key, empty), dtype=float))
            if len(lives) < life_engine.EMPIRICAL_MIN:
                censored = empty
            fingerprint = (lives.tobytes(), censored.tobytes())
            cached = self.cache.get(key)
            if cached is None or cached[0] != fingerprint:
                distribution = life_engine.life_distribution(
                    lives, rated_life=self.rated[feature.part_type_id], running=censored
                )
                cached = (fingerprint, distribution)
                self.cache[key] = cached
            result[key] = cached[1]
        return result


def _replay(
    events: list[Event],
    *,
    points: Sequence[int],
    settings: dict[int, ForecastSettings],
    counters: CounterHistory,
    provider_id: int | None,
) -> int:
    """Fill each event's points; returns the number of replay instants (one engine round per instant)."""
    todo: dict[datetime, list[tuple[Event, Point]]] = defaultdict(list)
    for event in events:
        for days_before in sorted(set(points), reverse=True):
            as_of = replay_instant(event.happened_at, days_before)
            if as_of <= event.started_at or as_of >= event.happened_at:
                continue
            if event.kind == PartKind.WEAR_PART and not counters.known(event.asset_id, event.meter, as_of):
                continue  # no reading yet: nothing to forecast from
            point = Point(days_before=days_before, as_of=as_of)
            event.points.append(point)
            todo[as_of].append((event, point))
    distributions = _Distributions({event.part_type_id: event.rated_life for event in events})
    for as_of in sorted(todo):
        pending = todo[as_of]
        consumables = [(e, p) for e, p in pending if e.kind == PartKind.CONSUMABLE]
        wear = [(e, p) for e, p in pending if e.kind == PartKind.WEAR_PART]
        if consumables:
            segments = engine.consumable_segments(asset_ids=sorted({e.asset_id for e, _p in consumables}), as_of=as_of)
            customer_of = {e.asset_id: e.customer_id for e, _p in consumables}
            quantiles = np.array([settings[customer_of[s.asset_id]].risk_quantile for s in segments], dtype=float)
            estimates = engine.consumable_estimates(segments, risk_quantile=quantiles, as_of=as_of) if segments else []
            found = {(s.asset_id, s.part_type_id): est for s, est in zip(segments, estimates, strict=True)}
            for event, point in consumables:
                _fill(event, point, found.get((event.asset_id, event.part_type_id)), settings, counters)
        if wear:
            features = engine.wear_features(asset_ids=sorted({e.asset_id for e, _p in wear}), as_of=as_of)
            wanted = {(e.asset_id, e.part_type_id) for e, _p in wear}
            features = [f for f in features if (f.asset_id, f.part_type_id) in wanted]
            customer_of = {e.asset_id: e.customer_id for e, _p in wear}
            estimates = []
            if features:
                lives = distributions.for_features(
                    features,
                    life_engine.observed_lives(as_of=as_of, provider_id=provider_id),
                    life_engine.running_lives(as_of=as_of, provider_id=provider_id),
                )
                quantiles = np.array([settings[customer_of[f.asset_id]].risk_quantile for f in features], dtype=float)
                estimates = engine.wear_estimates(features, lives, risk_quantile=quantiles)
            found = {(f.asset_id, f.part_type_id): est for f, est in zip(features, estimates, strict=True)}
            for event, point in wear:
                _fill(event, point, found.get((event.asset_id, event.part_type_id)), settings, counters)
    return len(todo)


def _fill(event: Event, point: Point, estimate, settings: dict[int, ForecastSettings], counters: CounterHistory):
    """The forecaster's and the baseline's figures of one replay point."""
    margin = settings[event.customer_id].safety_margin_days
    actual = event.happened_at
    if estimate is not None:
        point.forecast_error = _days_between(point.as_of + timedelta(days=estimate.days_p50), actual)
        point.forecast_act_by = engine.act_by_date(
            predicted_risk_day=_day(point.as_of, estimate.days_at_risk, event.zone),
            lead_time_days=event.lead_time_days,
            safety_margin_days=margin,
        )
        point.forecast_method = estimate.method
    predicted = baseline_predicted(event, point.as_of, counters)
    if predicted is not None:
        point.baseline_error = _days_between(predicted, actual)
        point.baseline_act_by = predicted.astimezone(event.zone).date() - timedelta(days=event.lead_time_days + margin)


def baseline_predicted(event: Event, as_of: datetime, counters: CounterHistory) -> datetime | None:
    """The naive forecast at ``as_of``: rated life at the asset's average rate before ``as_of``."""
    meter = event.meter
    if event.kind == PartKind.CONSUMABLE and not counters.has(event.asset_id, meter):
        meter = Meter.TOTAL_PAGES
    rate = counters.average_rate(event.asset_id, meter, as_of)
    if rate is None:
        return None
    if event.kind == PartKind.CONSUMABLE:
        return max(as_of, event.started_at + timedelta(days=event.rated_life / rate))
    if not meter:
        used = (as_of - event.started_at).total_seconds() / DAY
    else:
        now = counters.value_at(event.asset_id, meter, as_of, known_at=as_of)
        start = counters.value_at(event.asset_id, meter, event.started_at, known_at=as_of)
        if start is None:  # installed before the first reading: the meter value recorded then
            start = event.start_counter
        if now is None:  # as_of after the last reading known then: carried on from it at the average rate
            times, values = counters.series[(event.asset_id, meter)]
            last = int(np.searchsorted(times, as_of.timestamp(), side="right")) - 1
            now = float(values[last]) + rate * (as_of.timestamp() - times[last]) / DAY
        if now is None or start is None:
            return None
        used = now - start
    return as_of + timedelta(days=max(0.0, event.rated_life - used) / rate)


def _days_between(predicted: datetime, actual: datetime) -> float:
    return (predicted - actual).total_seconds() / DAY


def outcome(event: Event, settings: ForecastSettings, counters: CounterHistory, *, baseline: bool) -> Outcome:
    """Within window, stock-out and life wasted of one event, for the forecaster or the baseline."""
    lead = event.lead_time_days
    actual_day = event.happened_at.astimezone(event.zone).date()
    latest_order = actual_day - timedelta(days=lead)
    earliest_order = latest_order - timedelta(days=settings.planning_window_days)
    deadline = event.happened_at - timedelta(days=lead)
    in_time = [point for point in event.points if point.as_of <= deadline]
    acts = [point.baseline_act_by if baseline else point.forecast_act_by for point in in_time]
    within = any(act is not None and earliest_order <= act <= latest_order for act in acts)
    if not in_time or acts[-1] is None:
        return Outcome(within_window=within, stockout=True, wasted=None)
    # Ordered on the act date, or on the decision night when that date has passed already.
    act = max(acts[-1], in_time[-1].as_of.astimezone(event.zone).date())
    if act > latest_order:
        return Outcome(within_window=within, stockout=True, wasted=0.0)
    replaced = datetime.combine(act + timedelta(days=lead), time(0), tzinfo=event.zone)
    if replaced >= event.happened_at:
        return Outcome(within_window=within, stockout=False, wasted=0.0)
    end = counters.value_at(event.asset_id, event.meter, event.happened_at)
    start = counters.value_at(event.asset_id, event.meter, event.started_at)
    if start is None:
        start = event.start_counter
    at = counters.value_at(event.asset_id, event.meter, max(replaced, event.started_at))
    if end is None or start is None or at is None or end <= start:  # no counter around: time instead
        end, start = event.happened_at.timestamp(), event.started_at.timestamp()
        at = max(replaced, event.started_at).timestamp()
    return Outcome(within_window=within, stockout=False, wasted=min(1.0, max(0.0, (end - at) / (end - start))))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarise(code: str, events: list[Event], settings: dict[int, ForecastSettings], counters) -> Summary:
    replayed = [
        e for e in events if any(p.forecast_error is not None or p.baseline_error is not None for p in e.points)
    ]
    compared = [p for e in replayed for p in e.points if p.forecast_error is not None and p.baseline_error is not None]
    forecast = [outcome(e, settings[e.customer_id], counters, baseline=False) for e in replayed]
    naive = [outcome(e, settings[e.customer_id], counters, baseline=True) for e in replayed]

    def share(outcomes: list[Outcome]) -> float | None:
        return sum(o.within_window for o in outcomes) / len(outcomes) if outcomes else None

    def wasted(outcomes: list[Outcome]) -> float | None:
        values = [o.wasted for o in outcomes if o.wasted is not None]
        return 100 * float(np.mean(values)) if values else None

    forecast_errors = [p.forecast_error for p in compared]
    baseline_errors = [p.baseline_error for p in compared]
    return Summary(
        code=code,
        events=len(replayed),
        compared_points=len(compared),
        forecast_mae=_mean([abs(e) for e in forecast_errors]),
        forecast_bias=_mean(forecast_errors),
        baseline_mae=_mean([abs(e) for e in baseline_errors]),
        baseline_bias=_mean(baseline_errors),
        within_window=share(forecast),
        baseline_within_window=share(naive),
        stockouts=sum(o.stockout for o in forecast),
        baseline_stockouts=sum(o.stockout for o in naive),
        wasted_percent=wasted(forecast),
        baseline_wasted_percent=wasted(naive),
    )


def backtest_run(
    *,
    customer_code: str | None = None,
    since: date | None = None,
    points: Sequence[int] = DEFAULT_POINTS,
) -> BacktestResult:
    """Replay the refills and replacements (of ``customer_code``'s assets, those that happened on or after
    ``since``) at ``points`` days before each, with the engine and the baseline; the figures per part type."""
    asset_rows = _asset_rows(customer_code)
    part_types = {
        part_type.pk: part_type
        for part_type in PartType.objects.filter(asset_models__assets__in=list(asset_rows))
        .distinct()
        .prefetch_related("asset_models")
    }
    events = _consumable_events(asset_rows, part_types) + _wear_events(asset_rows, part_types)
    if since is not None:
        first = datetime.combine(since, time(0), tzinfo=UTC)
        events = [event for event in events if event.happened_at >= first]
    events.sort(key=lambda event: (event.happened_at, event.asset_id, event.part_type_id))
    settings = engine.forecast_settings_for_many(sorted({event.customer_id for event in events}))
    counters = CounterHistory(
        sorted({event.asset_id for event in events}),
        {event.meter for event in events if event.meter} | {Meter.TOTAL_PAGES},
    )
    provider_id = None
    if customer_code:
        provider_id = Organisation.objects.filter(code=customer_code).values_list("provider_id", flat=True).first()
    replay_days = _replay(events, points=points, settings=settings, counters=counters, provider_id=provider_id)
    by_code: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_code[event.code].append(event)
    parts = [summarise(code, by_code[code], settings, counters) for code in sorted(by_code)]
    return BacktestResult(
        events=events,
        parts=[part for part in parts if part.events],
        overall=summarise("all", events, settings, counters),
        replay_days=replay_days,
    )
