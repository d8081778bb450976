"""The forecast run on the database: features as of an instant, settings, rows, upsert, query counts."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets.choices import LifeUnit, PartKind
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory
from maintenance.choices import ForecastKind, ForecastMethod
from maintenance.forecasts import (
    consumable_segments,
    forecast_settings_for,
    forecasts_compute,
    forecasts_refresh,
    forecasts_write,
    supply_for_part_type,
    wear_features,
)
from maintenance.lives import observed_lives
from maintenance.models import MaintenanceSettings, PartInstallation, ReplacementForecast
from telemetry.choices import Meter, Supply
from telemetry.models import Reading, SupplyLevel

AS_OF = datetime(2025, 6, 2, 15, tzinfo=UTC)  # 2 June, midnight in Tokyo
DAY = timedelta(days=1)


@pytest.fixture
def catalogue():
    model = AssetModelFactory()
    toner = PartTypeFactory(code="TST-K", name="Toner black", lead_time_days=2)
    drum = PartTypeFactory(
        code="TST-DRUM",
        name="Drum",
        kind=PartKind.WEAR_PART,
        life_unit=LifeUnit.PAGES,
        rated_life=100_000,
        lead_time_days=5,
    )
    toner.asset_models.add(model)
    drum.asset_models.add(model)
    return model, toner, drum


def levels(asset, *, start, days, level=100.0, rate=2.0):
    SupplyLevel.objects.bulk_create(
        SupplyLevel(
            asset=asset,
            supply=Supply.TONER_BLACK,
            taken_at=start + k * DAY,
            percent=Decimal(str(round(level - rate * k, 2))),
        )
        for k in range(days)
        if level - rate * k >= 0
    )


def pages(asset, *, start, days, first=0, per_day=1_000):
    Reading.objects.bulk_create(
        Reading(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=start + k * DAY, value=first + per_day * k)
        for k in range(days + 1)
    )


def fleet(customer, site, catalogue, count):
    model, _toner, drum = catalogue
    assets = []
    for _index in range(count):
        asset = AssetFactory(customer=customer, site=site, asset_model=model)
        # A cartridge refilled 10 days ago at 100 %, 2 %/day: 80 % now, empty in 40 days.
        levels(asset, start=AS_OF - 30 * DAY, days=19, level=58, rate=2)
        levels(asset, start=AS_OF - 10 * DAY, days=11)
        # 1000 pages a day for 120 days; the drum went in 20 days ago at 100,000 pages.
        pages(asset, start=AS_OF - 120 * DAY, days=120)
        PartInstallation.objects.create(
            asset=asset, part_type=drum, installed_at=AS_OF - 20 * DAY, meter=Meter.TOTAL_PAGES, meter_value=100_000
        )
        assets.append(asset)
    return assets


def test_supply_for_part_type():
    assert supply_for_part_type(PartTypeFactory.build(code="RIC-IMC-M")) == Supply.TONER_MAGENTA
    assert (
        supply_for_part_type(PartTypeFactory.build(code="KYO-TK3191", name="Toner black TK-3191")) == Supply.TONER_BLACK
    )
    assert supply_for_part_type(PartTypeFactory.build(code="X1", name="Toner cyan X")) == Supply.TONER_CYAN
    assert supply_for_part_type(PartTypeFactory.build(code="KIT", name="Maintenance kit")) is None
    assert supply_for_part_type(PartTypeFactory.build(code="D-K", kind=PartKind.WEAR_PART)) is None


def test_forecasts_compute(customer, site, catalogue):
    _model, toner, drum = catalogue
    (asset,) = fleet(customer, site, catalogue, 1)
    rows = {row.part_type_id: row for row in forecasts_compute(customer_id=customer.pk, as_of=AS_OF)}
    consumable, wear = rows[toner.pk], rows[drum.pk]
    assert (consumable.asset_id, consumable.kind, consumable.method) == (
        asset.pk,
        ForecastKind.CONSUMABLE,
        ForecastMethod.LEVEL_TREND,
    )
    assert consumable.segment_started_at == AS_OF - 10 * DAY
    assert consumable.level_percent == Decimal("80.0") and consumable.rate_per_day == Decimal("2.0000")
    assert consumable.data_points == 11 and consumable.supply == Supply.TONER_BLACK
    # 40 days from 3 June 00:00 Tokyo. Exact data: the step scale is its floor, 0.5 points per square-root day;
    # the P10 and P90 days are where 80 - 2 tau -/+ 1.28 x 0.5 sqrt(tau + tau^2 / 10) = 0: 35.9 and 45.0 days.
    assert (consumable.earliest_on, consumable.predicted_on, consumable.latest_on) == (
        date(2025, 7, 8),
        date(2025, 7, 13),
        date(2025, 7, 18),
    )
    assert consumable.act_by == date(2025, 7, 4)  # the P10 day less 2 days lead time and the 2-day default margin
    assert (wear.kind, wear.method, wear.meter) == (ForecastKind.WEAR_PART, ForecastMethod.CATALOGUE, Meter.TOTAL_PAGES)
    assert wear.life_used == Decimal("20000.00") and wear.rate_per_day == Decimal("1000.0000")
    assert wear.rated_life == Decimal("100000.00") and wear.segment_started_at == AS_OF - 20 * DAY
    # Life uniform on [75k, 125k] pages at 1000 pages a day, 20k used: P10 60 days, P50 80, P90 100.
    assert (wear.earliest_on, wear.predicted_on, wear.latest_on) == (
        date(2025, 8, 2),
        date(2025, 8, 22),
        date(2025, 9, 11),
    )
    assert wear.act_by == date(2025, 7, 26)
    assert wear.computed_at == AS_OF


def test_settings_resolve_customer_then_provider_then_defaults(customer, provider, site, catalogue):
    assert forecast_settings_for(customer.pk) == forecast_settings_for(customer.pk)
    defaults = forecast_settings_for(customer.pk)
    assert (defaults.planning_window_days, defaults.safety_margin_days, defaults.risk_quantile) == (14, 2, 0.90)
    MaintenanceSettings.objects.create(organisation=provider, planning_window_days=30, risk_quantile=Decimal("0.50"))
    MaintenanceSettings.objects.create(organisation=customer, safety_margin_days=5)
    resolved = forecast_settings_for(customer.pk)
    assert (resolved.planning_window_days, resolved.safety_margin_days, resolved.risk_quantile) == (30, 5, 0.5)
    _model, toner, _drum = catalogue
    fleet(customer, site, catalogue, 1)
    row = next(row for row in forecasts_compute(customer_id=customer.pk, as_of=AS_OF) if row.part_type_id == toner.pk)
    assert row.act_by == row.predicted_on - timedelta(days=2 + 5)


def test_wear_features_without_installation_start_at_the_first_reading(customer, site, catalogue):
    model, _toner, drum = catalogue
    asset = AssetFactory(customer=customer, site=site, asset_model=model)
    pages(asset, start=AS_OF - 30 * DAY, days=30, first=500_000, per_day=2_000)
    (feature,) = wear_features(asset_ids=[asset.pk], as_of=AS_OF)
    assert (feature.part_type_id, feature.installed_at, feature.life_used) == (drum.pk, AS_OF - 30 * DAY, 60_000)
    assert feature.rate_per_day == pytest.approx(2_000) and feature.data_points == 31


def test_a_counter_reset_in_the_window_counts_the_new_value_from_zero(customer, site, catalogue):
    model, _toner, drum = catalogue
    asset = AssetFactory(customer=customer, site=site, asset_model=model)
    pages(asset, start=AS_OF - 20 * DAY, days=10, first=300_000, per_day=1_000)  # 300k to 310k
    pages(asset, start=AS_OF - 9 * DAY, days=9, first=1_000, per_day=1_000)  # board replaced: 1k to 10k
    (feature,) = wear_features(asset_ids=[asset.pk], as_of=AS_OF)
    # 10k before the reset, 1k for the day of the reset, 9k after: 20k over 20 days.
    assert feature.rate_per_day == pytest.approx(1_000)
    assert feature.data_points == 21
    # No installation: from the first reading (300k); the counter now (10k) is below it: counted from zero.
    assert feature.life_used == pytest.approx(10_000)


def test_a_manual_read_wins_over_the_device_at_the_same_instant(customer, site, catalogue):
    model, _toner, drum = catalogue
    asset = AssetFactory(customer=customer, site=site, asset_model=model)
    pages(asset, start=AS_OF - 10 * DAY, days=10, first=100_000, per_day=1_000)
    # The device misread the last count; the technician's read of the same instant is the one that counts.
    Reading.objects.filter(asset=asset, taken_at=AS_OF).update(value=90_000)
    Reading.objects.create(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=AS_OF, value=110_000, source="technician")
    (feature,) = wear_features(asset_ids=[asset.pk], as_of=AS_OF)
    assert feature.rate_per_day == pytest.approx(1_000) and feature.data_points == 11
    assert feature.life_used == pytest.approx(10_000)


def test_invalid_late_and_silent_readings(customer, site, catalogue):
    model, _toner, _drum = catalogue
    silent = AssetFactory(customer=customer, site=site, asset_model=model)
    pages(silent, start=AS_OF - 200 * DAY, days=10)  # nothing in the 90-day window: no rate, no forecast
    asset = AssetFactory(customer=customer, site=site, asset_model=model)
    pages(asset, start=AS_OF - 10 * DAY, days=10, first=100_000, per_day=1_000)
    Reading.objects.create(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=AS_OF + DAY, value=900_000)  # the future
    glitch = Reading.objects.get(asset=asset, taken_at=AS_OF - 5 * DAY)
    glitch.value, glitch.invalidated_at = 5, AS_OF
    glitch.save()
    features = wear_features(asset_ids=[silent.pk, asset.pk], as_of=AS_OF)
    assert [(feature.asset_id, feature.rate_per_day, feature.data_points) for feature in features] == [
        (asset.pk, pytest.approx(1_000), 10)
    ]


def test_a_batch_of_customers_gives_what_each_gives_alone(customer, other_customer, site, catalogue):
    fleet(customer, site, catalogue, 2)
    fleet(other_customer, AssetFactory(customer=other_customer).site, catalogue, 3)
    together = forecasts_compute(customer_ids=[customer.pk, other_customer.pk], as_of=AS_OF)
    alone = [
        *forecasts_compute(customer_id=customer.pk, as_of=AS_OF),
        *forecasts_compute(customer_id=other_customer.pk, as_of=AS_OF),
    ]

    def key(row):
        return (row.asset_id, row.part_type_id)

    fields = ["kind", "method", "segment_started_at", "rate_per_day", "life_used", "predicted_on", "act_by"]
    assert len(together) == 10
    assert [[getattr(row, name) for name in fields] for row in sorted(together, key=key)] == [
        [getattr(row, name) for name in fields] for row in sorted(alone, key=key)
    ]


def test_observed_lives_and_the_switch_to_empirical(customer, site, catalogue, provider):
    model, _toner, drum = catalogue
    asset = fleet(customer, site, catalogue, 1)[0]
    for k, value in enumerate((10_000, 60_000, 115_000, 165_000, 222_000, 270_000)):
        PartInstallation.objects.create(
            asset=asset,
            part_type=drum,
            installed_at=AS_OF - (200 - k) * DAY,
            meter=Meter.TOTAL_PAGES,
            meter_value=value,
        )
    lives = observed_lives(as_of=AS_OF, provider_id=provider.pk)
    # Sorted by time: 10k, 60k, ..., 270k, then the fleet's installation at 100k (a counter that went back: no life).
    assert lives[(model.pk, drum.pk)].tolist() == [50_000, 55_000, 50_000, 57_000, 48_000]
    assert observed_lives(as_of=AS_OF - 200 * DAY) == {}
    row = next(row for row in forecasts_compute(customer_id=customer.pk, as_of=AS_OF) if row.part_type_id == drum.pk)
    assert (row.method, row.replacements_used, row.rated_life) == (ForecastMethod.EMPIRICAL, 5, Decimal("50000.00"))


def test_segments_are_cut_at_the_last_refill(customer, site, catalogue):
    (asset,) = fleet(customer, site, catalogue, 1)
    (segment,) = consumable_segments(asset_ids=[asset.pk], as_of=AS_OF)
    assert segment.started_at == AS_OF - 10 * DAY
    assert segment.times.tolist() == list(range(11)) and segment.levels[0] == 100


def test_never_reads_the_future(customer, site, catalogue):
    _model, toner, drum = catalogue
    (asset,) = fleet(customer, site, catalogue, 1)

    def snapshot():
        return sorted(
            (row.asset_id, row.part_type_id, row.method, row.level_percent, row.rate_per_day, row.life_used,
             row.rated_life, row.data_points, row.replacements_used, row.segment_started_at, row.predicted_on,
             row.earliest_on, row.latest_on, row.act_by)
            for row in forecasts_compute(customer_id=customer.pk, as_of=AS_OF)
        )  # fmt: skip

    before = snapshot()
    later = AS_OF + timedelta(seconds=1)
    levels(asset, start=later, days=5, level=100, rate=10)
    SupplyLevel.objects.create(asset=asset, supply=Supply.TONER_BLACK, taken_at=later + 6 * DAY, percent=Decimal("5"))
    pages(asset, start=later, days=10, first=999_999, per_day=50_000)
    for k in range(15):
        PartInstallation.objects.create(
            asset=asset,
            part_type=drum,
            installed_at=later + k * DAY,
            meter=Meter.TOTAL_PAGES,
            meter_value=200_000 + 10_000 * k,
        )
    assert snapshot() == before
    assert len(before) == 2 and {row[1] for row in before} == {toner.pk, drum.pk}


def test_write_upserts_and_removes_stale_rows(customer, other_customer, site, catalogue):
    _model, toner, drum = catalogue
    first, second = fleet(customer, site, catalogue, 2)
    foreign = AssetFactory(customer=other_customer, asset_model=catalogue[0])
    pages(foreign, start=AS_OF - 30 * DAY, days=30)
    foreign_rows = forecasts_compute(customer_id=other_customer.pk, as_of=AS_OF)
    assert forecasts_write(foreign_rows, customer_id=other_customer.pk) == 1
    rows = forecasts_compute(customer_id=customer.pk, as_of=AS_OF)
    assert forecasts_write(rows, customer_id=customer.pk) == 4
    original = ReplacementForecast.objects.get(asset=first, part_type=toner)
    # Next night: the first asset's toner moved on, the second asset was retired.
    second.status = "retired"
    second.save()
    later = AS_OF + 5 * DAY
    levels(first, start=AS_OF + DAY, days=5, level=72, rate=8)
    rows = forecasts_compute(customer_id=customer.pk, as_of=later)
    assert forecasts_write(rows, customer_id=customer.pk) == 2
    updated = ReplacementForecast.objects.get(asset=first, part_type=toner)
    assert updated.pk == original.pk and updated.predicted_on < original.predicted_on and updated.computed_at == later
    assert set(
        ReplacementForecast.objects.filter(asset__customer=customer).values_list("asset_id", "part_type_id")
    ) == {
        (first.pk, toner.pk),
        (first.pk, drum.pk),
    }
    assert ReplacementForecast.objects.filter(asset__customer=other_customer).count() == 1


def test_refresh_upserts_and_removes_what_was_computed_before(customer, other_customer, site, catalogue):
    kept, retired = fleet(customer, site, catalogue, 2)
    fleet(other_customer, AssetFactory(customer=other_customer).site, catalogue, 1)
    assert forecasts_refresh(customer_ids=[customer.pk, other_customer.pk], as_of=AS_OF) == 6
    retired.status = "retired"
    retired.save()
    later = AS_OF + DAY
    assert forecasts_refresh(customer_id=customer.pk, as_of=later) == 2
    rows = ReplacementForecast.objects.filter(asset__customer=customer)
    assert {(row.asset_id, row.computed_at) for row in rows} == {(kept.pk, later)}
    assert ReplacementForecast.objects.filter(asset__customer=other_customer, computed_at=AS_OF).count() == 2


def test_query_count_does_not_grow_with_assets(
    customer, other_customer, site, catalogue, django_assert_max_num_queries
):
    fleet(customer, site, catalogue, 2)
    other_site = AssetFactory(customer=other_customer).site
    fleet(other_customer, other_site, catalogue, 6)
    counts = []
    for organisation in (customer, other_customer):
        with CaptureQueriesContext(connection) as context:
            rows = forecasts_compute(customer_id=organisation.pk, as_of=AS_OF)
            forecasts_write(rows, customer_id=organisation.pk)
        counts.append(len(context.captured_queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(18):
        forecasts_write(forecasts_compute(customer_id=other_customer.pk, as_of=AS_OF), customer_id=other_customer.pk)
    assert ReplacementForecast.objects.filter(asset__customer=other_customer).count() == 12
    assert np.isfinite([float(row.rate_per_day) for row in ReplacementForecast.objects.all()]).all()
