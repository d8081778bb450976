"""The forecast math: robust toner depletion, refill jumps, wear parts from their life distributions (the
distributions themselves: test_lives.py) and the act-by date."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from maintenance.choices import ForecastMethod
from maintenance.forecasts import (
    MIN_STEP_SCALE,
    LevelSegment,
    WearFeature,
    act_by_date,
    consumable_estimates,
    refill_start,
    wear_estimates,
)
from maintenance.lives import life_distribution

START = datetime(2025, 3, 3, 9, tzinfo=UTC)  # a Monday


def weekday_usage(days: int, *, per_week: float = 14.0) -> np.ndarray:
    """Cumulative use (percent) at each day: nothing on Saturdays and Sundays, the week's use on weekdays."""
    daily = np.array([per_week / 5 if (START + timedelta(days=day)).weekday() < 5 else 0.0 for day in range(days)])
    return np.concatenate([[0.0], np.cumsum(daily)])


def toner_segment(*, days: int, noise: float = 0.8, seed: int = 7, start_level: float = 100.0) -> LevelSegment:
    rng = np.random.default_rng(seed)
    used = weekday_usage(days)
    levels = np.clip(start_level - used + rng.normal(0, noise, len(used)), 0, 100)
    return LevelSegment(1, 1, "toner_black", START, np.arange(len(used), dtype=float), levels)


def true_empty_time(start_level: float = 100.0) -> float:
    """Days from START until the noise-free level reaches 0 (use spread evenly over each working day)."""
    used = weekday_usage(200)
    after = int(np.argmax(used >= start_level))
    return after - 1 + (start_level - used[after - 1]) / (used[after] - used[after - 1])


@pytest.mark.parametrize("seed", range(8))
def test_toner_with_weekend_pauses_and_noise_predicts_the_empty_day_within_a_day(seed):
    segment = toner_segment(days=30, seed=seed, start_level=95)
    as_of = START + timedelta(days=30)
    (estimate,) = consumable_estimates([segment], risk_quantile=0.9, as_of=as_of)
    assert estimate.rate_per_day == pytest.approx(2.0, abs=0.1)
    assert abs(30 + estimate.days_p50 - true_empty_time(95)) <= 1.0
    assert estimate.days_p10 <= estimate.days_p50 <= estimate.days_p90
    assert estimate.days_at_risk == pytest.approx(estimate.days_p10)
    assert estimate.method == ForecastMethod.LEVEL_TREND
    assert estimate.data_points == 31
    assert estimate.days_p50 == pytest.approx(estimate.level_percent / estimate.rate_per_day)
    assert estimate.level_percent == pytest.approx(95 - weekday_usage(31)[30], abs=1.5)


@pytest.mark.parametrize("seed", range(8))
def test_a_cartridge_that_empties_after_a_weekend_is_forecast_early_never_late(seed):
    # From 100 % the last 2 % go on the Monday after a weekend without use: the calendar rate cannot know
    # the weekend will pause, so the date is up to two days early, the safe side.
    segment = toner_segment(days=30, seed=seed)
    (estimate,) = consumable_estimates([segment], risk_quantile=0.9, as_of=START + timedelta(days=30))
    assert -2.0 <= 30 + estimate.days_p50 - true_empty_time(100) <= 0


def test_a_burst_day_or_a_wild_reading_barely_moves_the_rate():
    segment = toner_segment(days=30)
    (plain,) = consumable_estimates([segment], risk_quantile=0.9)
    burst = segment.levels.copy()
    burst[12:] -= 5.0  # one day printed three days' worth
    wild = segment.levels.copy()
    wild[20] = 5.0  # a sensor glitch
    with_burst, with_glitch = consumable_estimates(
        [
            LevelSegment(1, 1, "toner_black", START, segment.times, burst),
            LevelSegment(1, 1, "toner_black", START, segment.times, wild),
        ],
        risk_quantile=0.9,
    )
    # The burst is real use (5 points over 30 days): the rate moves by about that, no more.
    assert with_burst.rate_per_day == pytest.approx(plain.rate_per_day + 5 / 30, rel=0.1)
    assert with_glitch.rate_per_day == pytest.approx(plain.rate_per_day, rel=0.03)


def test_the_estimate_is_deterministic_and_bounded_for_long_segments():
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0, 40, 2000))
    levels = 100 - 2.0 * times + rng.normal(0, 1, times.size)
    segment = LevelSegment(1, 1, "toner_black", START, times, levels)
    first = consumable_estimates([segment], risk_quantile=0.9)[0]
    second = consumable_estimates([segment], risk_quantile=0.9)[0]
    assert first == second
    assert first.rate_per_day == pytest.approx(2.0, abs=0.02)


def test_batched_segments_of_different_lengths_give_what_each_gives_alone():
    segments = [toner_segment(days=days, seed=days) for days in (5, 12, 30, 31, 60)]
    together = consumable_estimates(segments, risk_quantile=np.array([0.9, 0.8, 0.9, 0.95, 0.9]))
    alone = [
        consumable_estimates([segment], risk_quantile=risk)[0]
        for segment, risk in zip(segments, [0.9, 0.8, 0.9, 0.95, 0.9], strict=True)
    ]
    assert together == alone


def test_exact_levels_get_the_floor_scale_and_a_range_that_widens_with_the_horizon():
    times = np.arange(11.0)
    near = LevelSegment(1, 1, "toner_black", START, times, 30 - 2 * times)  # 10 % left: 5 days
    far = LevelSegment(1, 1, "toner_black", START, times, 100 - 2 * times)  # 80 % left: 40 days
    near_estimate, far_estimate = consumable_estimates([near, far], risk_quantile=0.9)
    # No scatter: the step scale is its floor, s = 0.5 points per square-root day, over a 10-day segment; the
    # P10 day is where the line is still 1.28 s sqrt(tau + tau^2 / 10) above zero.
    for estimate, days in ((near_estimate, 5.0), (far_estimate, 40.0)):
        assert estimate.days_p50 == pytest.approx(days, abs=1e-6)
        tau = estimate.days_p10
        line = 2 * days - 2 * tau
        assert line == pytest.approx(1.28155 * MIN_STEP_SCALE * np.sqrt(tau + tau**2 / 10), rel=1e-4)
    assert far_estimate.days_p90 - far_estimate.days_p10 > 2 * (near_estimate.days_p90 - near_estimate.days_p10)


def test_the_p10_p90_range_covers_about_eight_in_ten_cartridges():
    """Simulated cartridges with bursty daily use (a gamma-distributed day's use around 2 %, nothing at weekends)
    and 0.5-point sensor noise: the day each runs out falls within [P10, P90] about 80 % of the time."""
    rng = np.random.default_rng(11)
    inside, total = 0, 0
    for _cartridge in range(400):
        days = np.arange(120)
        weekday = (days % 7) < 5
        use = np.where(weekday, rng.gamma(2.0, 1.4, days.size), 0.0)
        level = 100 - np.concatenate([[0.0], np.cumsum(use)[:-1]])
        empty = int(np.argmax(level <= 0)) if (level <= 0).any() else None
        if empty is None or empty < 25:
            continue
        seen = 20  # forecast after 20 days of the cartridge
        observed = np.clip(level[:seen] + rng.normal(0, 0.5, seen), 0, 100)
        segment = LevelSegment(1, 1, "toner_black", START, days[:seen].astype(float), observed)
        (estimate,) = consumable_estimates([segment], risk_quantile=0.9, as_of=START + timedelta(days=seen - 1))
        actual = empty - (seen - 1)
        inside += estimate.days_p10 <= actual <= estimate.days_p90
        total += 1
    assert total > 300
    assert 0.65 <= inside / total <= 0.95


def test_short_flat_or_rising_segments_give_no_forecast():
    two_points = LevelSegment(1, 1, "toner_black", START, np.array([0.0, 2.0]), np.array([80.0, 76.0]))
    within_a_day = LevelSegment(1, 1, "toner_black", START, np.array([0.0, 0.3, 0.6]), np.array([80.0, 79.0, 78.0]))
    flat = LevelSegment(1, 1, "toner_black", START, np.arange(10.0), np.full(10, 55.0))
    rising = LevelSegment(1, 1, "toner_black", START, np.arange(10.0), np.linspace(40, 50, 10))
    assert consumable_estimates([two_points, within_a_day, flat, rising], risk_quantile=0.9) == [None] * 4


def test_risk_quantile_per_segment_moves_the_risk_day_to_the_early_side():
    segment = toner_segment(days=30, noise=2.0)
    cautious, relaxed = consumable_estimates([segment, segment], risk_quantile=np.array([0.99, 0.5]))
    assert cautious.days_at_risk < cautious.days_p10 <= relaxed.days_at_risk == pytest.approx(relaxed.days_p50)


def test_an_empty_cartridge_is_due_now():
    times = np.arange(10.0)
    (estimate,) = consumable_estimates(
        [LevelSegment(1, 1, "toner_black", START, times, 18 - 2 * times)],
        risk_quantile=0.9,
        as_of=START + timedelta(days=20),
    )
    assert estimate.level_percent == 0 and estimate.days_p50 == 0


@pytest.mark.parametrize(
    ("levels", "start"),
    [
        ([30, 25, 20, 95, 93, 91], 3),  # a new cartridge
        ([60, 55, 50, 72, 70], 3),  # a rise of 20 points: refilled part-way
        ([84, 80, 92, 91], 2),  # up to 90 % from lower
        ([92, 89.5, 90.2, 88], 0),  # noise around 90 % is no refill
        ([40, 38, 45, 37], 0),  # a noisy rise under 20 points is no refill
        ([30, 95, 90, 10, 99, 97], 4),  # the last jump counts
        ([50], 0),
    ],
)
def test_refill_detection(levels, start):
    assert refill_start(np.array(levels, dtype=float)) == start


def wear(life_used: float, rate: float) -> WearFeature:
    return WearFeature(1, 2, 3, "total_pages", START, life_used, rate, 20)


def test_catalogue_wear_part_at_a_known_rate():
    catalogue = life_distribution(np.array([90_000.0, 110_000.0]), rated_life=100_000)
    assert catalogue.method == ForecastMethod.CATALOGUE and catalogue.replacements_used == 0
    assert catalogue.quantile(np.array([0.1, 0.5, 0.9])) == pytest.approx([80_000, 100_000, 120_000])
    (estimate,) = wear_estimates([wear(40_000, 1_000)], {(3, 2): catalogue}, risk_quantile=0.9)
    assert (estimate.days_p10, estimate.days_p50, estimate.days_p90) == pytest.approx((40, 60, 80))
    assert estimate.days_at_risk == pytest.approx(40)
    assert estimate.rated_life == 100_000 and estimate.life_used == 40_000 and estimate.rate_per_day == 1_000


def test_a_worn_part_is_forecast_from_the_life_left_given_it_survived():
    catalogue = life_distribution(np.empty(0), rated_life=100_000)
    (past_p50, overdue) = wear_estimates(
        [wear(110_000, 1_000), wear(130_000, 1_000)], {(3, 2): catalogue}, risk_quantile=0.9
    )
    # Uniform on [75k, 125k] given 110k survived: uniform on [110k, 125k].
    assert (past_p50.days_p10, past_p50.days_p50, past_p50.days_p90) == pytest.approx((1.5, 7.5, 13.5))
    assert overdue.days_p10 == overdue.days_p50 == overdue.days_p90 == 0


def test_no_rate_or_no_distribution_gives_no_forecast():
    catalogue = life_distribution(np.empty(0), rated_life=100_000)
    assert wear_estimates(
        [wear(10, 0.0), WearFeature(1, 9, 3, "", START, 1, 1, 1)], {(3, 2): catalogue}, risk_quantile=0.9
    ) == [
        None,
        None,
    ]


def test_an_empirical_life_changes_the_forecast():
    lives = np.array([50_000, 55_000, 60_000, 65_000, 70_000], dtype=float)
    empirical = life_distribution(lives, rated_life=100_000)
    (estimate,) = wear_estimates([wear(0, 1_000)], {(3, 2): empirical}, risk_quantile=0.9)
    assert estimate.days_p50 == pytest.approx(60)
    assert estimate.method == ForecastMethod.EMPIRICAL and estimate.replacements_used == 5
    assert estimate.rated_life == 60_000


def test_act_by_is_the_risk_day_less_lead_time_and_margin():
    assert act_by_date(predicted_risk_day=date(2025, 3, 20), lead_time_days=5, safety_margin_days=2) == date(
        2025, 3, 13
    )
    assert act_by_date(predicted_risk_day=date(2025, 3, 1), lead_time_days=0, safety_margin_days=0) == date(2025, 3, 1)
