"""Life distributions of wear parts: tiers, Weibull and Kaplan-Meier with running (censored) lives, the hand-over
dict, and the observed and running lives read from the database."""

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import CustomerFactory, ProviderFactory
from assets.choices import AssetStatus, LifeUnit, PartKind
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory
from maintenance import forecasts, lives
from maintenance.choices import ForecastMethod
from maintenance.lives import (
    EMPIRICAL_MIN,
    WEIBULL_MIN,
    LifeDistribution,
    kaplan_meier_knots,
    life_distribution,
    life_distributions,
    running_lives,
    weibull_fit,
)
from maintenance.models import PartInstallation
from telemetry.choices import Meter
from telemetry.tests.reading_factories import ReadingFactory

AS_OF = datetime(2025, 6, 2, 15, tzinfo=UTC)
DAY = timedelta(days=1)
GRID = np.linspace(0.0, 1.0, 201)


def complete_sample_fit(lives: np.ndarray) -> tuple[float, float]:
    """The complete-sample fit as it stood before running lives: the censored fit must give exactly this."""
    x = np.asarray(lives, dtype=np.float64)
    top = float(x.max())
    y = x / top
    log_y = np.log(y)
    mean_log = float(log_y.mean())

    def equation(shape: float) -> float:
        power = y**shape
        return float((power * log_y).sum() / power.sum()) - 1.0 / shape - mean_log

    low, high = math.log(0.02), math.log(200.0)
    if equation(math.exp(high)) < 0:
        low = high
    for _step in range(100):
        middle = (low + high) / 2.0
        if equation(math.exp(middle)) < 0:
            low = middle
        else:
            high = middle
    shape = math.exp((low + high) / 2.0)
    return shape, top * float(np.mean(y**shape)) ** (1.0 / shape)


def censored_sample(seed: int, *, count: int = 200, shape: float = 2.5, scale: float = 100_000.0):
    """Weibull lives, each cut off by a random moment uniform on [0, 2 scale]: (observed, running)."""
    rng = np.random.default_rng(seed)
    life = rng.weibull(shape, count) * scale
    cut = rng.uniform(0.0, 2.0 * scale, count)
    return life[life <= cut], cut[life > cut]


def knotted(observed, running) -> LifeDistribution:
    """An empirical distribution on the product-limit knots, whatever the number of lives."""
    observed = np.sort(np.asarray(observed, dtype=float))
    knot_lives, knot_shares, tail_mean = kaplan_meier_knots(observed, np.asarray(running, dtype=float))
    return LifeDistribution(
        ForecastMethod.EMPIRICAL,
        len(observed),
        lives=observed,
        running_used=len(running),
        knot_lives=knot_lives,
        knot_shares=knot_shares,
        tail_mean=tail_mean,
    )


# --- Tiers ----------------------------------------------------------------------------------------------------


def test_empirical_and_weibull_switch_over_by_count():
    rng = np.random.default_rng(11)
    sample = rng.weibull(3.0, 40) * 200_000
    assert life_distribution(sample[:4], rated_life=100_000).method == ForecastMethod.CATALOGUE
    for count in (5, 11):
        empirical = life_distribution(sample[:count], rated_life=100_000)
        assert (empirical.method, empirical.replacements_used) == (ForecastMethod.EMPIRICAL, count)
        assert empirical.quantile(0.3) == pytest.approx(np.quantile(sample[:count], 0.3, method="linear"))
        assert empirical.cdf(empirical.quantile(0.3)) == pytest.approx(0.3)
    weibull = life_distribution(sample[:12], rated_life=100_000)
    assert (weibull.method, weibull.replacements_used) == (ForecastMethod.WEIBULL, 12)
    assert weibull.cdf(weibull.quantile(0.7)) == pytest.approx(0.7)
    # Non-positive or missing lives are not lives.
    assert life_distribution(np.array([0, -5, np.nan, 1, 2, 3, 4]), rated_life=10).method == ForecastMethod.CATALOGUE


def test_the_tier_is_by_observed_lives_and_the_catalogue_ignores_running_lives():
    failures = np.random.default_rng(5).weibull(3.0, 12) * 1_000
    running = np.array([400.0, 1_500.0, 2_500.0, 0.0, -3.0, np.nan])  # three are not lives
    catalogue = life_distribution(failures[: EMPIRICAL_MIN - 1], rated_life=900, running=np.full(500, 5_000.0))
    assert (catalogue.method, catalogue.replacements_used, catalogue.running_used) == (ForecastMethod.CATALOGUE, 0, 0)
    assert catalogue.median() == 900
    empirical = life_distribution(failures[:EMPIRICAL_MIN], rated_life=900, running=running)
    assert (empirical.method, empirical.replacements_used, empirical.running_used) == (ForecastMethod.EMPIRICAL, 5, 3)
    weibull = life_distribution(failures[:WEIBULL_MIN], rated_life=900, running=running)
    assert (weibull.method, weibull.replacements_used, weibull.running_used) == (ForecastMethod.WEIBULL, 12, 3)
    assert (weibull.shape, weibull.scale) == weibull_fit(
        np.sort(failures[:WEIBULL_MIN]), np.array([400.0, 1_500.0, 2_500.0])
    )


def test_life_distributions_take_running_lives_by_key():
    failures = np.array([100.0, 110.0, 120.0, 130.0, 140.0])
    found = life_distributions(
        [(1, 7), (2, 7), (1, 7), (3, 9)],
        observed={(1, 7): failures, (2, 7): failures},
        rated_lives={7: 125.0},
        running={(1, 7): np.array([150.0, 200.0])},
    )
    assert set(found) == {(1, 7), (2, 7)}  # part type 9 has no rated life
    assert found[(1, 7)].running_used == 2 and found[(2, 7)].running_used == 0
    assert found[(1, 7)].median() > found[(2, 7)].median() == 120.0
    assert life_distributions([(2, 7)], observed={(2, 7): failures}, rated_lives={7: 125.0})[(2, 7)].median() == 120


# --- Weibull --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "scale"), [(2.5, 300_000.0), (0.9, 1_500.0), (6.0, 2_000.0)])
def test_weibull_fit_recovers_known_parameters(shape, scale):
    sample = np.random.default_rng(42).weibull(shape, 3000) * scale
    fitted_shape, fitted_scale = weibull_fit(sample)
    assert fitted_shape == pytest.approx(shape, rel=0.05)
    assert fitted_scale == pytest.approx(scale, rel=0.03)
    distribution = life_distribution(sample, rated_life=1)
    assert distribution.median() == pytest.approx(scale * np.log(2) ** (1 / shape), rel=0.03)


@pytest.mark.parametrize("seed", range(6))
def test_without_running_lives_the_weibull_fit_is_the_complete_sample_fit_exactly(seed):
    rng = np.random.default_rng(seed)
    sample = rng.weibull(rng.uniform(0.5, 6), 12 + 37 * seed) * rng.uniform(10, 1e6)
    expected = complete_sample_fit(sample)
    assert weibull_fit(sample) == expected
    assert weibull_fit(sample, np.empty(0)) == expected
    distribution = life_distribution(sample, rated_life=1, running=np.empty(0))  # fitted on the sorted lives
    assert (distribution.shape, distribution.scale, distribution.running_used) == (
        *complete_sample_fit(np.sort(sample)),
        0,
    )


def test_censored_weibull_recovers_a_large_censored_sample():
    observed, running = censored_sample(7, count=5000)
    assert 0.3 < len(running) / 5000 < 0.6  # heavily censored
    shape, scale = weibull_fit(observed, running)
    assert shape == pytest.approx(2.5, rel=0.03)
    assert scale == pytest.approx(100_000, rel=0.03)


def test_ignoring_running_lives_underestimates_the_scale_and_the_censored_fit_does_not():
    """200 Weibull(2.5, 100,000) lives, about 45 % still running at a random moment, 50 samples."""
    censored, ignored, shapes = [], [], []
    for seed in range(50):
        observed, running = censored_sample(100 + seed)
        shape, scale = weibull_fit(observed, running)
        censored.append(scale / 100_000 - 1)
        shapes.append(shape / 2.5 - 1)
        ignored.append(weibull_fit(observed)[1] / 100_000 - 1)
    censored, ignored, shapes = np.array(censored), np.array(ignored), np.array(shapes)
    # Without the running lives only the short lives are seen: every sample's scale is too low, by ~14 %.
    assert (ignored < -0.04).all() and ignored.mean() < -0.10
    # With them the fit is unbiased, within sampling noise: mean errors of a few per cent, the scale of every
    # sample within 15 % (the shape of 200 lives is noisier: half of them within 6 %).
    assert abs(censored.mean()) < 0.02 and abs(shapes.mean()) < 0.03
    assert np.median(np.abs(censored)) < 0.05 and np.median(np.abs(shapes)) < 0.06
    assert np.abs(censored).max() < 0.15


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_censored_weibull_fit_of_200_lives_within_ten_per_cent(seed):
    observed, running = censored_sample(seed)
    distribution = life_distribution(observed, rated_life=1, running=running)
    assert distribution.method == ForecastMethod.WEIBULL and distribution.running_used == len(running) > 50
    assert distribution.shape == pytest.approx(2.5, rel=0.10)
    assert distribution.scale == pytest.approx(100_000, rel=0.10)


# --- Empirical: Kaplan-Meier ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sample",
    [
        np.random.default_rng(3).weibull(3.0, 9) * 100,
        np.array([10.0, 20.0, 20.0, 30.0, 40.0, 40.0, 40.0, 50.0]),  # ties
        np.array([7.0, 7.0, 9.0, 12.0, 15.0]),  # a tie at the first life
    ],
)
def test_without_running_lives_kaplan_meier_is_the_linear_empirical_quantiles(sample):
    knot_lives, knot_shares, tail_mean = kaplan_meier_knots(sample, np.empty(0))
    assert knot_lives == pytest.approx(np.sort(sample))
    assert knot_shares == pytest.approx(np.linspace(0, 1, len(sample)), abs=1e-12)
    assert tail_mean == 0
    km = knotted(sample, [])
    assert km.quantile(GRID) == pytest.approx(np.quantile(sample, GRID, method="linear"), rel=1e-12)
    # life_distribution without running lives keeps numpy's quantiles exactly.
    plain = life_distribution(sample, rated_life=1)
    assert plain.knot_lives is None and plain.running_used == 0
    assert np.array_equal(plain.quantile(GRID), np.quantile(np.sort(sample), GRID, method="linear"))
    between = np.setdiff1d(np.linspace(sample.min() - 5, sample.max() + 5, 101), sample)
    assert km.cdf(between) == pytest.approx(plain.cdf(between), abs=1e-12)


def test_running_lives_shorter_than_the_first_failure_change_nothing():
    failures = np.array([50.0, 62.0, 70.0, 81.0, 95.0, 99.0])
    with_short = life_distribution(failures, rated_life=1, running=np.array([3.0, 20.0, 49.0]))
    assert with_short.running_used == 3 and with_short.tail_mean == 0
    assert with_short.quantile(GRID) == pytest.approx(np.quantile(failures, GRID, method="linear"), rel=1e-12)


def test_kaplan_meier_with_running_lives_by_hand():
    distribution = life_distribution(np.array([30.0, 10.0, 50.0, 20.0, 40.0]), rated_life=1, running=[25.0, 60.0])
    assert (distribution.method, distribution.replacements_used, distribution.running_used) == ("empirical", 5, 2)
    # Anchored at 10; at risk at 20: 20, 25, 30, 40, 50, 60 (6); at 30: 4 (25 left running); at 40: 3; at 50: 2.
    survival = np.cumprod([5 / 6, 3 / 4, 2 / 3, 1 / 2])
    assert distribution.knot_lives.tolist() == [10, 20, 30, 40, 50]
    assert distribution.knot_shares == pytest.approx([0, *(1 - survival)])
    last = survival[-1]  # 5/24: a running life (60) outlived every failure
    theta = (50 - 10) / -math.log(last)
    assert distribution.tail_mean == pytest.approx(theta)
    assert distribution.quantile(0.5) == pytest.approx(30 + 10 * (0.5 - 0.375) / (7 / 12 - 0.375))
    assert distribution.quantile(0.9) == pytest.approx(50 + theta * math.log(last / 0.1))
    assert distribution.cdf(70.0) == pytest.approx(1 - last * math.exp(-20 / theta))
    assert distribution.cdf(5.0) == 0.0
    knots = [(10, 0), (20, 1 / 6), (30, 3 / 8), (40, 7 / 12), (50, 19 / 24)]
    area = sum((b - a) * (2 - p - q) / 2 for (a, p), (b, q) in zip(knots, knots[1:], strict=False))
    assert distribution.mean() == pytest.approx(10 + area + last * theta)
    # The running lives push the lives up against the failures alone.
    assert distribution.median() > life_distribution(np.array([10.0, 20, 30, 40, 50]), rated_life=1).median()


def test_kaplan_meier_reaches_one_when_the_longest_life_failed():
    distribution = life_distribution(np.array([10.0, 20, 30, 40, 50]), rated_life=1, running=[15.0, 35.0])
    assert distribution.tail_mean == 0 and distribution.knot_shares[-1] == 1.0
    assert distribution.quantile(1.0) == 50.0 and distribution.cdf(50.0) == 1.0 and distribution.cdf(80.0) == 1.0
    assert distribution.cdf(distribution.quantile(GRID)) == pytest.approx(GRID, abs=1e-12)


def test_kaplan_meier_estimates_a_censored_distribution():
    observed, running = censored_sample(11, count=4000)
    km, naive = knotted(observed, running), knotted(observed, [])
    truth = 100_000 * (-np.log1p(-np.array([0.1, 0.3, 0.5]))) ** (1 / 2.5)
    assert km.quantile(np.array([0.1, 0.3, 0.5])) == pytest.approx(truth, rel=0.03)
    assert (naive.quantile(np.array([0.3, 0.5])) < 0.93 * truth[1:]).all()


def test_the_tail_is_continuous_monotone_and_inverse_to_the_quantiles():
    distribution = life_distribution(
        np.array([52_000.0, 61_000, 64_000, 70_000, 71_000, 83_000]),
        rated_life=1,
        running=np.array([20_000.0, 65_000, 90_000, 95_000, 120_000, 150_000]),
    )
    top = distribution.knot_shares[-1]
    assert 0.5 < top < 1 and distribution.tail_mean > 0
    lives_grid = np.linspace(0, 600_000, 3001)
    shares = distribution.cdf(lives_grid)
    assert (np.diff(shares) >= 0).all() and (np.diff(shares[lives_grid > 52_000]) > 0).all()
    assert shares[-1] < 1 and shares[-1] > 0.9999
    assert distribution.cdf(83_000 + 1e-6) == pytest.approx(distribution.cdf(83_000), abs=1e-9)
    quantiles = np.linspace(0, 0.999999, 2001)
    ends = distribution.quantile(quantiles)
    assert (np.diff(ends) > 0).all()
    assert distribution.cdf(ends) == pytest.approx(quantiles, abs=1e-9)
    assert distribution.quantile(distribution.cdf(lives_grid[lives_grid >= 52_000])) == pytest.approx(
        lives_grid[lives_grid >= 52_000], rel=1e-9
    )
    assert distribution.quantile(top) == pytest.approx(83_000)
    assert isinstance(distribution.quantile(0.95), float) and isinstance(distribution.cdf(90_000), float)


def test_all_failures_equal_with_running_lives_still_has_a_tail():
    distribution = life_distribution(np.full(6, 365.0), rated_life=1, running=np.array([400.0, 500.0, 700.0]))
    # Anchored at 365, the other five fail at 365 with eight at risk: S = 3/8 from 365 on.
    assert distribution.knot_shares[-1] == pytest.approx(5 / 8)
    assert distribution.tail_mean == pytest.approx(365 / -math.log(3 / 8))
    assert distribution.quantile(0.5) == 365.0 and distribution.quantile(0.9) > 365.0


# --- Hand-over ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "running"),
    [
        ([90_000.0, 110_000.0], [50_000.0]),  # catalogue
        ([50_000.0, 55_000, 60_000, 65_000, 70_000], None),  # empirical
        ([50_000.0, 55_000, 60_000, 65_000, 70_000], [58_000.0, 90_000]),  # Kaplan-Meier with a tail
        ([50_000.0, 55_000, 60_000, 65_000, 70_000], [58_000.0]),  # Kaplan-Meier to 1
        (list(np.random.default_rng(2).weibull(2, 40) * 1e5), [30_000.0, 250_000]),  # Weibull
    ],
)
def test_the_dict_round_trip_gives_identical_quantiles(observed, running):
    distribution = life_distribution(np.array(observed), rated_life=100_000, running=running)
    data = json.loads(json.dumps(distribution.to_dict()))
    again = LifeDistribution.from_dict(data)
    assert again.to_dict() == data
    assert (again.method, again.replacements_used, again.running_used, again.rated_life) == (
        distribution.method,
        distribution.replacements_used,
        distribution.running_used,
        100_000,
    )
    assert np.array_equal(again.quantile(GRID), distribution.quantile(GRID))
    probes = np.linspace(0, 400_000, 801)
    assert np.array_equal(again.cdf(probes), distribution.cdf(probes))
    assert again.mean() == distribution.mean()
    assert set(data) == {
        "method",
        "replacements_used",
        "running_used",
        "rated_life",
        "lives",
        "shape",
        "scale",
        "knot_lives",
        "knot_shares",
        "tail_mean",
    }


# --- From the database ----------------------------------------------------------------------------------------


def test_the_life_unit_meters_agree_with_the_forecasts():
    assert lives.LIFE_UNIT_METER == forecasts.LIFE_UNIT_METER


@pytest.fixture
def parts():
    """A model with a drum (pages), a fuser (key-on hours), a battery (days) and a lift chain (cycles)."""
    model = AssetModelFactory()

    def wear(code, unit):
        part_type = PartTypeFactory(code=code, name=code, kind=PartKind.WEAR_PART, life_unit=unit, rated_life=1000)
        part_type.asset_models.add(model)
        return part_type

    return (
        model,
        wear("LV-DRUM", LifeUnit.PAGES),
        wear("LV-FUSER", LifeUnit.HOURS),
        wear("LV-BATT", LifeUnit.DAYS),
        wear("LV-CHAIN", LifeUnit.CYCLES),
    )


def install(asset, part_type, at, value=None, meter=None):
    if meter is None:
        meter = lives.LIFE_UNIT_METER[part_type.life_unit] or ""
    return PartInstallation.objects.create(
        asset=asset,
        part_type=part_type,
        installed_at=at,
        meter=meter,
        meter_value=None if value is None else Decimal(value),
    )


def read(asset, at, value, meter=Meter.TOTAL_PAGES, **fields):
    return ReadingFactory(asset=asset, meter=meter, taken_at=at, value=Decimal(value), **fields)


def running_asset(customer, site, model, drum, fuser, battery, chain, *, offset=0):
    """An asset whose drum has run 100,000 pages, fuser 200 hours and battery 40 days at AS_OF."""
    asset = AssetFactory(customer=customer, asset_model=model, **({"site": site} if site else {}))
    install(asset, drum, AS_OF - 300 * DAY, 10_000)
    install(asset, drum, AS_OF - 100 * DAY, 50_000 + offset)
    read(asset, AS_OF - 2 * DAY, 140_000 + offset)
    read(asset, AS_OF - DAY, 150_000 + offset)
    install(asset, fuser, AS_OF - 60 * DAY, 1_000, meter=Meter.HOURS_KEY_ON)
    read(asset, AS_OF - DAY, 1_200, meter=Meter.HOURS_KEY_ON)
    install(asset, battery, AS_OF - 40 * DAY)
    install(asset, chain, AS_OF - 40 * DAY, 5, meter=Meter.LIFT_CYCLES)
    read(asset, AS_OF - DAY, 90, meter=Meter.LIFT_CYCLES)
    return asset


def test_running_lives(customer, other_customer, site, provider, parts):
    model, drum, fuser, battery, chain = parts
    asset = running_asset(customer, site, model, drum, fuser, battery, chain)
    # Never read: an invalidated reading, readings and an installation after AS_OF.
    read(asset, AS_OF - 200 * DAY, 60_000)
    read(asset, AS_OF - DAY / 2, 999_999, invalidated_at=AS_OF - DAY / 4)
    read(asset, AS_OF + DAY, 400_000)
    read(asset, AS_OF + DAY, 5_000, meter=Meter.HOURS_KEY_ON)
    install(asset, drum, AS_OF + DAY / 2, 160_000)
    install(asset, battery, AS_OF + DAY / 2)
    # Another customer of the provider: a drum without a recorded meter value (none), one whose counter went
    # back (none), a fuser recorded on another meter (none), a battery (64 days).
    second = AssetFactory(customer=other_customer, asset_model=model)
    install(second, drum, AS_OF - 10 * DAY)
    read(second, AS_OF - DAY, 30_000)
    install(second, fuser, AS_OF - 10 * DAY, 10, meter=Meter.HOURS_LIFT)
    read(second, AS_OF - DAY, 50, meter=Meter.HOURS_KEY_ON)
    install(second, battery, AS_OF - 64 * DAY)
    reset = AssetFactory(customer=customer, site=site, asset_model=model)
    install(reset, drum, AS_OF - 10 * DAY, 80_000)
    read(reset, AS_OF - DAY, 2_000)
    # Out of service, and another provider's asset: left out.
    retired = running_asset(customer, site, model, drum, fuser, battery, chain)
    retired.status = AssetStatus.RETIRED
    retired.save()
    elsewhere = CustomerFactory(provider=ProviderFactory(code="elsewhere", name="Elsewhere Services"))
    foreign = running_asset(elsewhere, None, model, drum, fuser, battery, chain, offset=7)
    assert foreign.customer.provider_id != provider.pk

    found = running_lives(as_of=AS_OF, provider_id=provider.pk)
    assert set(found) == {(model.pk, drum.pk), (model.pk, fuser.pk), (model.pk, battery.pk)}
    assert found[(model.pk, drum.pk)].tolist() == [100_000]
    assert found[(model.pk, fuser.pk)].tolist() == [200]
    assert sorted(found[(model.pk, battery.pk)].tolist()) == [40, 64]
    # Every provider: the foreign asset's parts too.
    everyone = running_lives(as_of=AS_OF)
    assert sorted(everyone[(model.pk, drum.pk)].tolist()) == [100_000, 100_000]
    assert sorted(everyone[(model.pk, battery.pk)].tolist()) == [40, 40, 64]
    # Two days earlier: the reading of then (140,000), no fuser reading yet, the batteries two days younger.
    earlier = running_lives(as_of=AS_OF - 2 * DAY, provider_id=provider.pk)
    assert set(earlier) == {(model.pk, drum.pk), (model.pk, battery.pk)}
    assert earlier[(model.pk, drum.pk)].tolist() == [90_000]
    assert sorted(earlier[(model.pk, battery.pk)].tolist()) == [38, 62]
    # Before the last drum went in, the one of 300 days ago was running: 60,000 - 10,000 pages.
    before = running_lives(as_of=AS_OF - 150 * DAY, provider_id=provider.pk)
    assert {key: values.tolist() for key, values in before.items()} == {(model.pk, drum.pk): [50_000]}
    assert running_lives(as_of=AS_OF - 301 * DAY, provider_id=provider.pk) == {}


def test_running_lives_read_one_query_whatever_the_number_of_assets(customer, site, provider, parts):
    running_asset(customer, site, *parts)
    with CaptureQueriesContext(connection) as one:
        assert len(running_lives(as_of=AS_OF, provider_id=provider.pk)[(parts[0].pk, parts[1].pk)]) == 1
    for offset in range(1, 8):
        running_asset(customer, site, *parts, offset=offset)
    with CaptureQueriesContext(connection) as eight:
        found = running_lives(as_of=AS_OF, provider_id=provider.pk)
    assert len(found[(parts[0].pk, parts[1].pk)]) == 8
    assert len(one.captured_queries) == len(eight.captured_queries) == 1
