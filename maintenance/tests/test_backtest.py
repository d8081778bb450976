"""The forecast backtest on small histories with known answers: events, metrics, baseline, and no peeking ahead."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets.choices import LifeUnit, PartKind
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory
from maintenance import backtest
from maintenance.backtest import CounterHistory, Event, ForecastSettings, Point, backtest_run, outcome, summarise
from maintenance.models import PartInstallation
from telemetry.choices import Meter, Supply
from telemetry.models import Reading, SupplyLevel

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 1, 3, 0, tzinfo=UTC)  # noon in Tokyo, the sites' zone
DAYS = 150
PAGES_PER_DAY = 400
TONER_RATED = 12_500  # the catalogue says 31.25 days at 400 pages a day; the cartridges really last 25
DRUM_RATED = 25_000  # the catalogue says 62.5 days; the drums really last 20,000 pages (50 days)
REFILL_DAYS = (25, 50, 75, 100, 125)
DRUM_DAYS = (40, 90, 140)


def _history(asset, *, days: int = DAYS) -> None:
    """Daily page counters, a toner that lasts 25 days (4 % a day) and drums replaced every 20,000 pages."""
    Reading.objects.bulk_create(
        Reading(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=T0 + timedelta(days=d), value=10_000 + 400 * d)
        for d in range(days)
    )
    SupplyLevel.objects.bulk_create(
        SupplyLevel(asset=asset, supply=Supply.TONER_BLACK, taken_at=T0 + timedelta(days=d), percent=100 - 4 * (d % 25))
        for d in range(days)
    )
    drum = asset.asset_model.part_types.get(kind=PartKind.WEAR_PART)
    starts = [(T0 - timedelta(days=10), Decimal(6_000))]
    starts += [(T0 + timedelta(days=d), Decimal(10_000 + 400 * d)) for d in DRUM_DAYS if d < days]
    PartInstallation.objects.bulk_create(
        PartInstallation(asset=asset, part_type=drum, installed_at=at, meter=Meter.TOTAL_PAGES, meter_value=value)
        for at, value in starts
    )


@pytest.fixture
def model():
    asset_model = AssetModelFactory(name="Backtest MFP")
    toner = PartTypeFactory(code="BKT-K", name="Toner black (backtest)", rated_life=TONER_RATED, lead_time_days=2)
    drum = PartTypeFactory(
        code="BKT-DRUM",
        name="Drum unit (backtest)",
        kind=PartKind.WEAR_PART,
        life_unit=LifeUnit.PAGES,
        rated_life=DRUM_RATED,
        lead_time_days=5,
    )
    toner.asset_models.add(asset_model)
    drum.asset_models.add(asset_model)
    return asset_model


@pytest.fixture
def history(customer, site, model):
    asset = AssetFactory(customer=customer, site=site, asset_model=model)
    _history(asset)
    return asset


def _points(result):
    return {
        (event.code, event.happened_at, point.days_before): (
            point.forecast_error,
            point.forecast_act_by,
            point.baseline_error,
            point.baseline_act_by,
        )
        for event in result.events
        for point in event.points
    }


# --- Events and figures on the synthetic history ------------------------------------------------------------------


def test_events_are_refills_and_replacements_with_a_known_start(history, customer):
    result = backtest_run(customer_code=customer.code, points=(30, 14, 7))

    refills = [e for e in result.events if e.code == "BKT-K"]
    replacements = [e for e in result.events if e.code == "BKT-DRUM"]
    # The first refill has no refill before it: where its cartridge started is unknown.
    assert [e.happened_at for e in refills] == [T0 + timedelta(days=d) for d in REFILL_DAYS[1:]]
    assert [e.started_at for e in refills] == [T0 + timedelta(days=d) for d in REFILL_DAYS[:-1]]
    assert [e.happened_at for e in replacements] == [T0 + timedelta(days=d) for d in DRUM_DAYS]
    assert replacements[0].start_counter == 6_000
    # Replay points only after the cartridge started: 30 days before a 25-day cartridge is skipped.
    assert all([p.days_before for p in e.points] == [14, 7] for e in refills)
    assert all(p.as_of < e.happened_at for e in result.events for p in e.points)


def test_consumable_forecast_is_exact_and_the_catalogue_baseline_is_late(history, customer):
    result = backtest_run(customer_code=customer.code, points=(14, 7))
    toner = next(part for part in result.parts if part.code == "BKT-K")

    # Levels fall 4 % a day: the level trend hits 0 at the refill; the catalogue's 12,500 pages at 400 a day
    # say 31.25 days from the refill, 6.25 days late.
    assert toner.events == 4
    assert toner.compared_points == 8
    assert toner.forecast_mae == pytest.approx(0, abs=0.05)
    assert toner.baseline_mae == pytest.approx(6.25, abs=0.01)
    assert toner.baseline_bias == pytest.approx(6.25, abs=0.01)
    # The forecast acts 2 days (lead) + 2 days (margin) before the empty day: in the window, no stock-out, and
    # the cartridge is swapped about 2.5 days early (of 25): ~10 % of its life left unused.
    assert toner.within_window == 1.0
    assert toner.stockouts == 0
    assert toner.wasted_percent == pytest.approx(10, abs=1)
    # The late baseline ships too late every time.
    assert toner.baseline_within_window == 0.0
    assert toner.baseline_stockouts == 4


def test_wear_forecast_without_observed_lives_is_the_catalogue(history, customer):
    result = backtest_run(customer_code=customer.code, points=(30, 14, 7))
    drum = next(part for part in result.parts if part.code == "BKT-DRUM")
    points = [p for e in result.events if e.code == "BKT-DRUM" for p in e.points]

    # Fewer than five lives observed: the engine uses the rated 25,000 pages, 5,000 (12.5 days) more than the
    # drums last, like the baseline.
    assert {p.forecast_method for p in points} == {"catalogue"}
    assert all(p.forecast_error == pytest.approx(12.5, abs=0.2) for p in points)
    assert all(p.baseline_error == pytest.approx(12.5, abs=0.2) for p in points)
    assert drum.forecast_bias == pytest.approx(drum.baseline_bias, abs=0.01)
    # The early (P10) life of the catalogue is 0.8 x 25,000 = 20,000: acting on it is just in time.
    assert drum.within_window == 1.0
    assert drum.stockouts == 0
    assert drum.baseline_stockouts == 3


def test_summary_line_format(history, customer):
    out = StringIO()
    call_command("backtest_forecasts", customer=customer.code, points=(14, 7), stdout=out)
    lines = out.getvalue().strip().splitlines()

    assert any(line.startswith("BKT-K ") for line in lines)
    assert any(line.startswith("BKT-DRUM ") for line in lines)
    assert lines[-1] == "parts=7 forecast_mae_days=5.4 baseline_mae_days=8.9 within_window=1.00 stockouts=0"


def test_since_leaves_out_earlier_events(history, customer):
    result = backtest_run(customer_code=customer.code, since=(T0 + timedelta(days=80)).date())

    assert {e.happened_at for e in result.events} == {T0 + timedelta(days=d) for d in (90, 100, 125, 140)}


def test_command_refuses_bad_options(history, customer):
    with pytest.raises(CommandError, match="points"):
        call_command("backtest_forecasts", "--points", "60,x", stdout=StringIO())
    with pytest.raises(CommandError, match="points"):
        call_command("backtest_forecasts", "--points", "0", stdout=StringIO())
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("backtest_forecasts", "--since", "yesterday", stdout=StringIO())
    with pytest.raises(CommandError, match="No customer"):
        call_command("backtest_forecasts", "--customer", "nobody", stdout=StringIO())


def test_no_events_prints_a_summary_without_figures(customer):
    out = StringIO()
    call_command("backtest_forecasts", customer=customer.code, stdout=out)

    assert out.getvalue().strip().splitlines()[-1] == (
        "parts=0 forecast_mae_days=n/a baseline_mae_days=n/a within_window=n/a stockouts=0"
    )


# --- Never reading the future -------------------------------------------------------------------------------------


def test_data_after_the_events_changes_none_of_their_figures(history, customer):
    """Readings, levels and installations after a cut-off leave every forecast of the events before it as is."""
    before = backtest_run(customer_code=customer.code, points=(30, 14, 7))
    cut = T0 + timedelta(days=80)
    later = [T0 + timedelta(days=d, hours=7) for d in range(78, DAYS)]
    Reading.objects.bulk_create(
        Reading(asset=history, meter=Meter.TOTAL_PAGES, taken_at=at, value=900_000 + 50_000 * n)
        for n, at in enumerate(later)
    )
    SupplyLevel.objects.bulk_create(
        SupplyLevel(asset=history, supply=Supply.TONER_BLACK, taken_at=at, percent=(37 * n) % 101)
        for n, at in enumerate(later)
    )
    drum = history.asset_model.part_types.get(kind=PartKind.WEAR_PART)
    PartInstallation.objects.create(
        asset=history, part_type=drum, installed_at=cut + timedelta(days=3), meter=Meter.TOTAL_PAGES, meter_value=1
    )

    after = backtest_run(customer_code=customer.code, points=(30, 14, 7))

    earlier = {key: value for key, value in _points(before).items() if key[1] < cut - timedelta(days=2)}
    assert len(earlier) == 7  # the refills of days 50 and 75 (2 points each), the drum of day 40 (3)
    assert all(value[0] is not None and value[2] is not None for value in earlier.values())
    assert {key: value for key, value in _points(after).items() if key in earlier} == earlier


def test_every_engine_call_is_as_of_a_moment_before_the_events_it_serves(history, customer):
    calls = []

    def spy(module, name):
        real = getattr(module, name)

        def call(*args, **kwargs):
            calls.append((name, kwargs["as_of"], tuple(kwargs.get("asset_ids") or ())))
            return real(*args, **kwargs)

        return call

    with (
        mock.patch.object(backtest.engine, "consumable_segments", spy(backtest.engine, "consumable_segments")),
        mock.patch.object(backtest.engine, "wear_features", spy(backtest.engine, "wear_features")),
        mock.patch.object(backtest.life_engine, "observed_lives", spy(backtest.life_engine, "observed_lives")),
        mock.patch.object(backtest.life_engine, "running_lives", spy(backtest.life_engine, "running_lives")),
    ):
        result = backtest_run(customer_code=customer.code, points=(30, 14, 7))

    assert {name for name, _as_of, _ids in calls} == {
        "consumable_segments",
        "wear_features",
        "observed_lives",
        "running_lives",
    }
    instants = {point.as_of: event for event in result.events for point in event.points}
    for _name, as_of, _ids in calls:
        assert as_of in instants
        assert as_of < instants[as_of].happened_at
    # One engine round per replay day, whatever the number of events that day.
    assert len([c for c in calls if c[0] == "wear_features"]) == len(
        {p.as_of for e in result.events if e.kind == PartKind.WEAR_PART for p in e.points}
    )


def test_life_distributions_are_computed_again_when_the_running_lives_change():
    distributions = backtest._Distributions({7: 100.0})
    feature = SimpleNamespace(asset_model_id=1, part_type_id=7)
    observed = {(1, 7): np.array([80.0, 90, 100, 110, 120])}
    plain = distributions.for_features([feature], observed, {})[(1, 7)]
    assert distributions.for_features([feature], observed, {})[(1, 7)] is plain
    running = {(1, 7): np.array([150.0, 130.0])}
    censored = distributions.for_features([feature], observed, running)[(1, 7)]
    assert censored is not plain and censored.running_used == 2 and censored.median() > plain.median()
    assert distributions.for_features([feature], observed, {(1, 7): np.array([130.0, 150.0])})[(1, 7)] is censored
    # Below five observed lives the catalogue ignores the running ones: the cached one serves.
    few = {(1, 7): np.array([80.0, 90.0])}
    catalogue = distributions.for_features([feature], few, {})[(1, 7)]
    assert distributions.for_features([feature], few, running)[(1, 7)] is catalogue


def test_queries_do_not_grow_with_assets(customer, site, model):
    first = AssetFactory(customer=customer, site=site, asset_model=model)
    _history(first)
    with CaptureQueriesContext(connection) as one:
        backtest_run(customer_code=customer.code, points=(14, 7))
    for _ in range(2):
        _history(AssetFactory(customer=customer, site=site, asset_model=model))
    with CaptureQueriesContext(connection) as three:
        result = backtest_run(customer_code=customer.code, points=(14, 7))

    assert result.overall.events == 21
    assert len(three.captured_queries) == len(one.captured_queries)


# --- The metrics on their own -------------------------------------------------------------------------------------


def _event(points: list[Point]) -> Event:
    actual = datetime(2025, 6, 1, tzinfo=UTC)
    return Event(
        kind=PartKind.WEAR_PART,
        asset_id=1,
        customer_id=1,
        part_type_id=1,
        code="X",
        meter="",  # counted in days: life shares are shares of time
        started_at=actual - timedelta(days=100),
        happened_at=actual,
        lead_time_days=5,
        rated_life=100,
        zone=ZoneInfo("UTC"),
        points=points,
    )


def test_metrics_of_hand_made_points():
    actual = datetime(2025, 6, 1, tzinfo=UTC)
    settings = {1: ForecastSettings(planning_window_days=14, safety_margin_days=2, risk_quantile=0.9)}
    early = Point(
        days_before=60,
        as_of=actual - timedelta(days=60),
        forecast_error=10.0,
        forecast_act_by=date(2025, 5, 12),  # A - 20: before the window [A - 19, A - 5]
        baseline_error=-30.0,
        baseline_act_by=date(2025, 5, 1),
    )
    late = Point(
        days_before=7,
        as_of=actual - timedelta(days=7),
        forecast_error=-2.0,
        forecast_act_by=date(2025, 5, 24),  # A - 8: in the window
    )
    event = _event([early, late])
    counters = CounterHistory([], [])

    summary = summarise("X", [event], settings, counters)

    # Only the 60-day point has both forecasts: errors are compared there.
    assert summary.compared_points == 1
    assert (summary.forecast_mae, summary.forecast_bias) == (10.0, 10.0)
    assert (summary.baseline_mae, summary.baseline_bias) == (30.0, -30.0)
    assert summary.within_window == 1.0
    assert summary.baseline_within_window == 0.0
    # Decision at the 7-day point, whose act date (A - 8) has passed that night: ordered A - 7, fitted A - 2,
    # 2 days of a 100-day life wasted. The baseline made no forecast then: a stock-out.
    assert summary.stockouts == 0
    assert summary.wasted_percent == pytest.approx(2.0)
    assert summary.baseline_stockouts == 1


def test_an_act_date_past_the_lead_time_is_a_stock_out():
    actual = datetime(2025, 6, 1, tzinfo=UTC)
    settings = ForecastSettings(planning_window_days=14, safety_margin_days=2, risk_quantile=0.9)
    point = Point(days_before=14, as_of=actual - timedelta(days=14), forecast_act_by=date(2025, 5, 28))

    result = outcome(_event([point]), settings, CounterHistory([], []), baseline=False)

    assert result.stockout is True
    assert result.within_window is False


def test_an_act_date_already_past_orders_on_the_decision_night():
    actual = datetime(2025, 6, 1, tzinfo=UTC)
    settings = ForecastSettings(planning_window_days=14, safety_margin_days=2, risk_quantile=0.9)
    point = Point(days_before=30, as_of=actual - timedelta(days=30), forecast_act_by=date(2025, 3, 1))

    result = outcome(_event([point]), settings, CounterHistory([], []), baseline=False)

    # Ordered on May 2 (the replay night), fitted May 7: 25 of 100 days wasted.
    assert result.stockout is False
    assert result.wasted == pytest.approx(0.25)
