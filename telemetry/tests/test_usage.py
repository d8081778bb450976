"""The usage service: every edge of DESIGN.md §4 "Counters" with hand-computed values, and its query count."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets.tests.factories import AssetFactory
from telemetry.choices import Meter, ReadingSource
from telemetry.tests.reading_factories import T0, MeterBoundaryFactory, ReadingFactory
from telemetry.usage import (
    BOUNDARIES_NOT_INCREASING,
    BOUNDARY_NOT_AWARE,
    UNKNOWN_METER,
    month_bounds,
    month_starts,
    usage_for_assets,
    usage_for_period,
    usage_series,
)

pytestmark = pytest.mark.django_db

PAGES = Meter.TOTAL_PAGES
NOW = T0 + datetime.timedelta(days=400)


def day(n: float) -> datetime.datetime:
    return T0 + datetime.timedelta(days=n)


def read(asset, at_day: float, value: str, *, source=ReadingSource.DEVICE, meter=PAGES, **fields):
    return ReadingFactory(asset=asset, meter=meter, taken_at=day(at_day), value=Decimal(value), source=source, **fields)


def usage(asset, start_day: float, end_day: float, *, meter=PAGES, now=NOW):
    return usage_for_period(asset=asset, meter=meter, start=day(start_day), end=day(end_day), now=now)


def test_usage_is_the_difference_of_readings_on_both_boundaries(asset):
    read(asset, 0, "1000")
    read(asset, 10, "1800")
    read(asset, 31, "2500")

    result = usage(asset, 0, 31)

    assert result.usage == Decimal("1500")
    assert (result.start_value, result.end_value) == (Decimal("1000"), Decimal("2500"))
    assert (result.start_source, result.end_source) == ("reading", "reading")
    assert not result.start_estimated and not result.end_estimated
    assert (result.resets, result.readings_used) == (0, 3)


def test_counter_between_two_readings_is_interpolated(asset):
    read(asset, 0, "1000")
    read(asset, 10, "2000")

    result = usage(asset, 5, 10)

    assert result.start_value == Decimal("1500")
    assert result.start_source == "interpolated"
    assert not result.start_estimated
    assert result.usage == Decimal("500")


def test_both_counters_interpolated_use_the_neighbours_outside_the_period(asset):
    read(asset, -5, "1000")
    read(asset, 5, "2000")
    read(asset, 25, "3000")
    read(asset, 35, "4000")

    result = usage(asset, 0, 30)

    # start: 1000 + 1000 * 5/10 = 1500; end: 3000 + 1000 * 5/10 = 3500
    assert (result.start_value, result.end_value) == (Decimal("1500"), Decimal("3500"))
    assert result.usage == Decimal("2000")
    assert (result.start_source, result.end_source) == ("interpolated", "interpolated")
    assert result.readings_used == 4


def test_interpolation_rounds_to_the_counter_precision(asset):
    read(asset, 0, "0")
    read(asset, 3, "1")

    result = usage(asset, 1, 3)

    assert result.start_value == Decimal("0.333")
    assert result.usage == Decimal("0.667")


def test_reading_exactly_on_the_boundary_is_used_as_is(asset):
    read(asset, -1, "990")
    read(asset, 0, "1000")
    read(asset, 1, "1100")
    read(asset, 2, "1130")

    result = usage(asset, 0, 2)

    assert result.start_value == Decimal("1000")  # not the 990..1100 line
    assert result.start_source == "reading"
    assert result.usage == Decimal("130")
    assert result.readings_used == 3  # the reading before the start was not needed


def test_end_without_a_later_reading_is_extrapolated_at_the_recent_rate_and_estimated(asset):
    read(asset, 0, "1000")
    read(asset, 10, "1300")
    read(asset, 20, "1600")

    result = usage(asset, 0, 30)

    # rate 600 pages over 20 days = 30 a day; 10 days past the last reading: 1600 + 300
    assert result.end_value == Decimal("1900")
    assert result.end_source == "extrapolated"
    assert result.end_estimated
    assert not result.start_estimated
    assert result.usage == Decimal("900")


def test_recent_rate_looks_back_30_days_from_the_last_reading(asset):
    read(asset, 0, "1000")
    read(asset, 20, "1200")  # 10 a day
    read(asset, 40, "2200")  # 50 a day

    result = usage(asset, 0, 60)

    # the 30 days before day 40 start at day 10: first reading in them is day 20; 1000 over 20 days = 50 a day
    assert result.end_value == Decimal("3200")
    assert result.usage == Decimal("2200")


def test_rate_falls_back_to_the_reading_before_when_the_window_holds_only_the_last_one(asset):
    read(asset, -10, "500")
    read(asset, 10, "800")

    result = usage(asset, 0, 30)

    # start: 500 + 300 * 10/20 = 650; rate from day -10 to day 10: 15 a day; end: 800 + 20 * 15 = 1100
    assert result.start_value == Decimal("650")
    assert result.end_value == Decimal("1100")
    assert result.usage == Decimal("450")
    assert result.readings_used == 2


def test_a_single_reading_gives_no_rate_so_the_end_is_held_flat(asset):
    read(asset, 10, "800")

    result = usage(asset, 0, 30)

    assert (result.start_value, result.end_value) == (Decimal("800"), Decimal("800"))
    assert result.end_estimated
    assert result.usage == Decimal("0")


def test_device_silent_since_before_the_period_is_held_flat(asset):
    read(asset, -20, "500")
    read(asset, -3, "700")

    result = usage(asset, 0, 30)

    assert (result.start_value, result.end_value) == (Decimal("700"), Decimal("700"))
    assert result.start_estimated and result.end_estimated
    assert (result.start_source, result.end_source) == ("extrapolated", "extrapolated")
    assert result.usage == Decimal("0")


def test_counter_reset_counts_the_new_counter_from_zero(asset):
    read(asset, 0, "1000")
    read(asset, 10, "1500")
    read(asset, 20, "20")  # board replaced
    read(asset, 30, "120")

    result = usage(asset, 0, 30)

    assert result.usage == Decimal("620")  # 500 before the reset + 120 after it
    assert result.resets == 1
    assert result.end_value == Decimal("120")


def test_boundary_inside_a_reset_segment_splits_the_new_counter_by_time(asset):
    read(asset, 0, "1000")
    read(asset, 20, "1500")
    read(asset, 40, "200")  # reset somewhere after day 20

    first = usage(asset, 0, 30)
    second = usage(asset, 30, 40)

    # the new counter grows from 0 to 200 over days 20-40: 100 at day 30
    assert (first.end_value, first.usage, first.resets) == (Decimal("100"), Decimal("600"), 1)
    assert (second.start_value, second.usage, second.resets) == (Decimal("100"), Decimal("100"), 0)


def test_manual_read_wins_over_a_device_read_at_the_same_instant(asset):
    read(asset, 0, "1000")
    read(asset, 0, "1010", source=ReadingSource.TECHNICIAN)
    read(asset, 10, "1100")
    read(asset, 10, "1090", source=ReadingSource.CUSTOMER)

    result = usage(asset, 0, 10)

    assert (result.start_value, result.end_value) == (Decimal("1010"), Decimal("1090"))
    assert result.usage == Decimal("80")
    assert result.readings_used == 2


def test_technician_read_wins_over_a_customer_read_at_the_same_instant(asset):
    read(asset, 0, "1000", source=ReadingSource.CUSTOMER)
    read(asset, 0, "1005", source=ReadingSource.TECHNICIAN)
    read(asset, -5, "900")
    read(asset, -5, "950", source=ReadingSource.TECHNICIAN)
    read(asset, 10, "1200")

    result = usage(asset, -2, 10)

    assert result.start_value == Decimal("983")  # 950 + (1005 - 950) * 3/5
    assert result.end_value == Decimal("1200")


def test_manual_read_wins_in_the_neighbour_before_the_period(asset):
    read(asset, -10, "1000")
    read(asset, -10, "900", source=ReadingSource.CUSTOMER)
    read(asset, 10, "1100")

    result = usage(asset, 0, 10)

    assert result.start_value == Decimal("1000")  # 900 + 200 * 10/20


def test_invalidated_reading_is_ignored(asset):
    read(asset, 0, "1000")
    read(asset, 5, "99999", invalidated_at=day(6), invalidation_reason="Misread")
    read(asset, 10, "1100")

    result = usage(asset, 0, 10)

    assert result.usage == Decimal("100")
    assert result.resets == 0
    assert result.readings_used == 2


def test_invalidated_neighbour_is_skipped_for_the_next_valid_one(asset):
    read(asset, -20, "800")
    read(asset, -5, "5000", invalidated_at=day(1), invalidation_reason="Wrong asset")
    read(asset, 20, "1200")

    result = usage(asset, 0, 20)

    assert result.start_value == Decimal("1000")  # 800 + 400 * 20/40


def test_frozen_start_is_the_start_counter_and_trues_up_the_estimate(asset):
    MeterBoundaryFactory(asset=asset, meter=PAGES, at=day(0), value=Decimal("1050"), estimated=True)
    read(asset, 0, "1000")  # a late reading: the counter was really 1000 when 1050 was invoiced
    read(asset, 10, "1300")

    result = usage(asset, 0, 10)

    assert result.start_value == Decimal("1050")
    assert result.start_source == "frozen"
    assert result.start_estimated
    assert result.usage == Decimal("250")  # 1300 - 1050: the 50 billed too much come off this period


def test_frozen_start_above_everything_read_since_holds_the_end_counter(asset):
    MeterBoundaryFactory(asset=asset, meter=PAGES, at=day(0), value=Decimal("1500"), estimated=True)
    read(asset, 0, "1000")
    read(asset, 10, "1300")

    result = usage(asset, 0, 10)

    assert result.usage == Decimal("0")
    assert (result.end_value, result.end_source, result.end_estimated) == (Decimal("1500"), "frozen", True)


def test_frozen_end_keeps_an_invoiced_period_as_invoiced(asset):
    MeterBoundaryFactory(asset=asset, meter=PAGES, at=day(10), value=Decimal("1280"), estimated=True)
    read(asset, 0, "1000")
    read(asset, 10, "1300")  # arrived after the invoice froze 1280
    read(asset, 20, "1500")

    invoiced, following = usage(asset, 0, 10), usage(asset, 10, 20)

    assert (invoiced.end_value, invoiced.end_source, invoiced.usage) == (Decimal("1280"), "frozen", Decimal("280"))
    assert following.start_value == Decimal("1280")
    assert following.usage == Decimal("220")  # 200 read in the period + the late 20 that true it up


def test_frozen_boundary_of_another_meter_or_time_is_not_used(asset):
    MeterBoundaryFactory(asset=asset, meter=Meter.COLOUR_PAGES, at=day(0), value=Decimal("5"))
    MeterBoundaryFactory(asset=asset, meter=PAGES, at=day(0) + datetime.timedelta(seconds=1), value=Decimal("5"))
    read(asset, 0, "1000")
    read(asset, 10, "1300")

    assert usage(asset, 0, 10).start_source == "reading"


def test_weeks_without_readings_are_bridged_by_interpolation(asset):
    read(asset, -20, "1000")
    read(asset, 40, "7000")

    result = usage(asset, 0, 30)

    # 100 a day over the gap: 3000 at day 0, 6000 at day 30
    assert (result.start_value, result.end_value, result.usage) == (Decimal("3000"), Decimal("6000"), Decimal("3000"))
    assert not result.start_estimated and not result.end_estimated


def test_no_readings_at_all_is_no_data(asset):
    assert usage(asset, 0, 30) is None
    assert usage_for_assets(asset_ids=[asset.pk], meters=[PAGES], start=day(0), end=day(30), now=NOW) == {}


def test_readings_only_after_the_period_are_no_data(asset):
    read(asset, 40, "100")

    assert usage(asset, 0, 30) is None


def test_ledger_starts_at_the_first_reading_of_a_new_device(asset):
    read(asset, 10, "500")
    read(asset, 30, "800")

    result = usage(asset, 0, 30)

    assert (result.start_value, result.start_source, result.start_estimated) == (Decimal("500"), "reading", False)
    assert result.usage == Decimal("300")


def test_other_meters_and_assets_do_not_mix(asset):
    other = AssetFactory(customer=asset.customer, site=asset.site)
    read(asset, 0, "1000")
    read(asset, 10, "1100")
    read(asset, 0, "50", meter=Meter.COLOUR_PAGES)
    read(asset, 10, "90", meter=Meter.COLOUR_PAGES)
    read(other, 0, "7")
    read(other, 10, "9")

    result = usage_for_assets(
        asset_ids=[asset.pk, other.pk], meters=[PAGES, Meter.COLOUR_PAGES], start=day(0), end=day(10), now=NOW
    )

    assert {key: value.usage for key, value in result.items()} == {
        (asset.pk, PAGES): Decimal("100"),
        (asset.pk, Meter.COLOUR_PAGES): Decimal("40"),
        (other.pk, PAGES): Decimal("2"),
    }


def test_readings_after_now_are_not_used_yet(asset):
    read(asset, 0, "1000")
    read(asset, 10, "1100")
    read(asset, 12, "1120")

    result = usage(asset, 0, 20, now=day(11))

    assert result.end_source == "extrapolated"
    assert result.end_value == Decimal("1200")  # 10 a day from the two readings known at day 11


def test_late_reading_changes_the_unfrozen_period(asset):
    read(asset, 0, "1000")
    read(asset, 20, "1400")
    before = usage(asset, 0, 10)
    read(asset, 10, "1300")  # a late reading from the device's buffer

    after = usage(asset, 0, 10)

    assert before.usage == Decimal("200")
    assert after.usage == Decimal("300")


def test_usage_of_consecutive_periods_adds_up_to_the_whole(asset):
    for at_day, value in [(-3, "900"), (4, "1200"), (9, "1500"), (17, "40"), (26, "400"), (33, "650")]:
        read(asset, at_day, value)
    boundaries = [day(0), day(10), day(20), day(30)]

    series = usage_series(asset_ids=[asset.pk], meters=[PAGES], boundaries=boundaries, now=NOW)[(asset.pk, PAGES)]
    whole = usage(asset, 0, 30)

    assert sum(period.usage for period in series) == whole.usage
    for period, (start, end) in zip(series, zip(boundaries, boundaries[1:], strict=False), strict=True):
        alone = usage_for_period(asset=asset, meter=PAGES, start=start, end=end, now=NOW)
        assert period == alone
    assert sum(period.resets for period in series) == whole.resets == 1


def test_series_marks_periods_before_the_ledger_as_no_data(asset):
    read(asset, 15, "100")
    read(asset, 25, "200")

    series = usage_series(asset_ids=[asset.pk], meters=[PAGES], boundaries=[day(0), day(10), day(20), day(30)], now=NOW)

    first, second, third = series[(asset.pk, PAGES)]
    assert first is None
    assert (second.start_value, second.usage) == (Decimal("100"), Decimal("50"))
    assert third.usage == Decimal("100")  # 150 at day 20, rate 10 a day after day 25: 250 at day 30


@pytest.mark.parametrize("size", [5, 200])
def test_bulk_usage_takes_the_same_queries_whatever_the_number_of_assets(
    customer, site, size, django_assert_num_queries
):
    assets = AssetFactory.create_batch(size, customer=customer, site=site)
    readings = []
    for asset in assets:
        for at_day, value in [(-2, "100"), (5, "150"), (12, "210"), (33, "400")]:
            readings.append(ReadingFactory.build(asset=asset, taken_at=day(at_day), value=Decimal(value)))
    type(readings[0]).objects.bulk_create(readings)
    MeterBoundaryFactory(asset=assets[0], at=day(0), value=Decimal("110"))

    # The frozen boundaries, then the reduced series and the lookups of their missing neighbours (PostgreSQL), or the
    # neighbours and the readings (elsewhere).
    with django_assert_num_queries(3):
        result = usage_for_assets(
            asset_ids=[asset.pk for asset in assets],
            meters=[PAGES, Meter.COLOUR_PAGES],
            start=day(0),
            end=day(30),
            now=NOW,
        )

    assert len(result) == size
    # start 100 + 50 * 2/7; end 210 + 190 * 18/21
    assert result[(assets[1].pk, PAGES)].usage == Decimal("372.857") - Decimal("114.286")
    assert result[(assets[0].pk, PAGES)].usage == Decimal("372.857") - Decimal("110")


def test_boundaries_must_be_aware_and_increasing(asset):
    naive = datetime.datetime(2024, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValidationError) as error:
        usage_for_assets(asset_ids=[asset.pk], meters=[PAGES], start=naive, end=day(1))
    assert error.value.messages == [str(BOUNDARY_NOT_AWARE)]
    with pytest.raises(ValidationError) as error:
        usage_for_assets(asset_ids=[asset.pk], meters=[PAGES], start=day(1), end=day(1))
    assert error.value.messages == [str(BOUNDARIES_NOT_INCREASING)]
    with pytest.raises(ValidationError) as error:
        usage_for_assets(asset_ids=[asset.pk], meters=["pages"], start=day(0), end=day(1))
    assert error.value.messages == [str(UNKNOWN_METER) % {"meter": "pages"}]


def test_month_bounds_are_midnight_in_the_customers_time_zone():
    start, end = month_bounds(2024, 1, "Asia/Tokyo")

    assert start == datetime.datetime(2023, 12, 31, 15, tzinfo=datetime.UTC)
    assert end == datetime.datetime(2024, 1, 31, 15, tzinfo=datetime.UTC)
    assert timezone.is_aware(start) and start.tzinfo.key == "Asia/Tokyo"


def test_month_bounds_roll_over_the_year_and_handle_february():
    assert month_bounds(2024, 12, "Asia/Tokyo")[1] == datetime.datetime(2024, 12, 31, 15, tzinfo=datetime.UTC)
    start, end = month_bounds(2024, 2, "Asia/Tokyo")
    assert end - start == datetime.timedelta(days=29)


def test_month_bounds_follow_daylight_saving_time():
    start, end = month_bounds(2024, 3, "Europe/Berlin")

    assert start == datetime.datetime(2024, 2, 29, 23, tzinfo=datetime.UTC)
    assert end == datetime.datetime(2024, 3, 31, 22, tzinfo=datetime.UTC)  # CEST from 31 March


def test_month_bounds_reject_a_bad_month_or_zone():
    with pytest.raises(ValidationError):
        month_bounds(2024, 13, "Asia/Tokyo")
    with pytest.raises(ValidationError):
        month_bounds(2024, 1, "Mars/Olympus")


def test_month_starts_are_consecutive_months():
    starts = month_starts(year=2023, month=11, count=4, tz_name="Asia/Tokyo")

    assert [(s.year, s.month, s.day, s.hour) for s in starts] == [
        (2023, 11, 1, 0),
        (2023, 12, 1, 0),
        (2024, 1, 1, 0),
        (2024, 2, 1, 0),
    ]


def test_usage_of_a_tokyo_month_counts_readings_by_local_midnight(asset):
    start, end = month_bounds(2024, 1, "Asia/Tokyo")
    ReadingFactory(asset=asset, taken_at=start, value=Decimal("1000"))
    ReadingFactory(asset=asset, taken_at=datetime.datetime(2024, 1, 31, 14, tzinfo=datetime.UTC), value=Decimal("1990"))
    ReadingFactory(asset=asset, taken_at=end, value=Decimal("2000"))

    result = usage_for_period(asset=asset, meter=PAGES, start=start, end=end, now=NOW)

    assert result.usage == Decimal("1000")
    assert result.readings_used == 3
