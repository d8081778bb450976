"""The two readers of the usage service give the same figures: the series reduced in PostgreSQL and the readings
streamed to Python (the SQLite path), on random series with resets, duplicates, invalid and future readings."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.tests.factories import AssetFactory
from telemetry.choices import Meter, ReadingSource
from telemetry.models import MeterBoundary, Reading, manual_first_sql
from telemetry.tests.reading_factories import T0
from telemetry.usage import _epoch_micros, _frozen_boundaries, _reduced_series, _streamed_series

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

METERS = [Meter.TOTAL_PAGES, Meter.COLOUR_PAGES]


def at(hours: int) -> datetime.datetime:
    return T0 + datetime.timedelta(hours=hours)


# A series: its first instant, then steps of (hours later, growth, reset?, source, invalid?); a step of 0 hours
# reads the same instant again (from another source), a reset restarts the counter at the growth.
steps = st.tuples(
    st.sampled_from([0, 6, 24, 24, 24 * 3, 24 * 7, 24 * 12, 24 * 35]),
    st.integers(0, 400),
    st.integers(0, 14).map(lambda draw: draw == 0),
    st.sampled_from(list(ReadingSource)),
    st.integers(0, 14).map(lambda draw: draw == 0),
)
one_series = st.tuples(st.integers(-40 * 24, 60 * 24), st.integers(0, 5000), st.lists(steps, max_size=25))
readings = st.lists(one_series, min_size=4, max_size=4)  # (asset 0, pages), (asset 0, colour), (asset 1, ...)
boundaries = st.lists(st.integers(0, 80).map(lambda day: day * 24), min_size=2, max_size=5, unique=True).map(sorted)


def series_by_reader(reader, ids, boundaries, frozen, now):
    if reader is _reduced_series:
        found = reader([(asset_id, meter) for asset_id in ids for meter in METERS], boundaries, now)
    else:
        found = reader(ids, METERS, boundaries, now)
    instants = [_epoch_micros(boundary) for boundary in boundaries]
    return {key: series.periods(key, boundaries, instants, frozen) for key, series in found}


@pytest.fixture
def assets(customer, site):
    return AssetFactory.create_batch(2, customer=customer, site=site)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    readings,
    boundaries,
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4), st.integers(0, 6000)), max_size=3),
    st.integers(10 * 24, 100 * 24),  # now: the readings after it are not used yet (silent devices, extrapolation)
)
def test_reduced_and_streamed_series_agree(assets, readings, boundaries, frozen_rows, now_hours):
    instants = [at(hours) for hours in boundaries]
    now = at(now_hours)
    with transaction.atomic():
        rows, seen = [], set()
        for index, (hours, value, series_steps) in enumerate(readings):
            asset, meter = assets[index // 2], METERS[index % 2]
            for gap, growth, reset, source, invalid in [(0, 0, False, ReadingSource.DEVICE, False), *series_steps]:
                hours, value = hours + gap, growth if reset else value + growth
                if (hours, source) in seen:
                    continue
                seen.add((hours, source))
                rows.append(
                    Reading(
                        asset=asset,
                        meter=meter,
                        taken_at=at(hours),
                        value=Decimal(value) / 4,
                        source=source,
                        invalidated_at=at(0) if invalid else None,
                    )
                )
            seen.clear()
        Reading.objects.bulk_create(rows)
        MeterBoundary.objects.bulk_create(
            [
                MeterBoundary(
                    asset=assets[asset_index],
                    meter=METERS[0],
                    at=instants[index % len(instants)],
                    value=Decimal(value),
                    estimated=bool(value % 2),
                    reference="test",
                )
                for asset_index, index, value in frozen_rows
            ],
            ignore_conflicts=True,
        )
        ids = [asset.pk for asset in assets]
        frozen = _frozen_boundaries(ids, METERS, instants)

        reduced = series_by_reader(_reduced_series, ids, instants, frozen, now)
        streamed = series_by_reader(_streamed_series, ids, instants, frozen, now)

        assert reduced == streamed
        transaction.set_rollback(True)


def test_a_reading_on_the_end_boundary_ends_the_readings_used(assets):
    """The reduced series holds the reading on the end boundary but not always the one after it."""
    Reading.objects.bulk_create(
        Reading(asset=assets[0], meter=METERS[0], taken_at=at(day * 24), value=Decimal(100 * day)) for day in range(21)
    )
    instants, now = [at(0), at(10 * 24), at(20 * 24)], at(30 * 24)
    ids = [assets[0].pk]

    reduced = series_by_reader(_reduced_series, ids, instants, {}, now)[(ids[0], METERS[0])]
    streamed = series_by_reader(_streamed_series, ids, instants, {}, now)[(ids[0], METERS[0])]

    assert reduced == streamed
    assert [(period.usage, period.readings_used) for period in reduced] == [(Decimal(1000), 11), (Decimal(1000), 11)]


def test_the_recent_rate_starts_30_days_before_a_silent_devices_last_reading(assets):
    """The rate window's first reading lies between the boundaries' neighbours: the reduced series fetches it."""
    readings = [(10, 100), (40, 400), (50, 600), (60, 650)]
    Reading.objects.bulk_create(
        Reading(asset=assets[0], meter=METERS[0], taken_at=at(day * 24), value=Decimal(value))
        for day, value in readings
    )
    instants, now = [at(0), at(80 * 24)], at(70 * 24)
    ids = [assets[0].pk]

    (reduced,) = series_by_reader(_reduced_series, ids, instants, {}, now)[(ids[0], METERS[0])]
    (streamed,) = series_by_reader(_streamed_series, ids, instants, {}, now)[(ids[0], METERS[0])]

    assert reduced == streamed
    # 250 pages from day 40 to day 60: 12.5 a day, 20 days past the last reading.
    assert (reduced.end_value, reduced.end_source, reduced.usage) == (Decimal(900), "extrapolated", Decimal(800))


def test_the_scan_reads_the_series_index_in_its_order(assets):
    """The raw query's priority expression must be the index's own, or PostgreSQL sorts every series' readings."""
    with connection.cursor() as cursor:
        # A test table is tiny, and sorting one row costs nothing: make scans and sorts expensive to the planner.
        # A plan without a sort exists only when the expression is the index's; without it the sort stays.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(
            "EXPLAIN SELECT DISTINCT ON (reading.taken_at) reading.taken_at, reading.value "
            "FROM telemetry_reading AS reading WHERE reading.asset_id = %s AND reading.meter = %s "
            f"AND reading.invalidated_at IS NULL ORDER BY reading.taken_at, {manual_first_sql('reading')}",
            [assets[0].pk, METERS[0]],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "telemetry_reading_series" in plan, plan
    assert "Sort" not in plan, plan
