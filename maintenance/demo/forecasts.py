"""Demo replacement history: the wear parts of the demo MFPs and trucks, replaced where their true lives ran out.

The demo telemetry (``telemetry.demo``) already holds the toner history: levels fall with the pages and jump back
to ~100 % at each refill, which is what the consumable forecasts and their backtest read. Wear parts need recorded
replacements, so this step writes ``PartInstallation`` rows for every in-service MFP, forklift and reach truck
that has a year of counters: for each of its page- or hour-rated wear part types (drum, fuser, transfer belt;
tyres, load wheels, brake shoes, hydraulic hoses), an installation when the asset was installed and one each
time the part's *true* life ran out since, up to the counter now.

**True lives.** They are drawn (seeded by the asset's serial number and the part code, so every run draws the
same) from a Weibull distribution per (model, part type) of shape ~3.2 whose scale differs from the catalogue's
rated life (``LIFE_FACTORS``: drums really last 0.75x rated, fusers 0.85x, transfer belts 1.2x, tyres 1.3x,
brake shoes 0.8x, hydraulic hoses 1.25x, each model a few percent apart): the catalogue is biased, and a
forecast corrected by observed lives can beat it. That is what ``manage.py backtest_forecasts`` measures.

**Enough lives.** One year of counters gives a drum or a tyre about one replacement per asset, too few per
(model, part type) for the empirical or Weibull life (five lives or more). So the history starts at the asset's
install date (up to six years back): before the first reading, the counter is extrapolated backwards from the
first reading at the asset's average rate over the year (never below 0), and an installation there gets that
extrapolated meter value and time; within the year, the time a counter value was reached is interpolated in the
asset's readings. Installations before the telemetry year make the lives observable; only the replacements
within it can be replayed by the backtest (it needs readings before each replay point).

Assets whose counter restarts during the year (a board or hour meter replaced) are left out: their meter values
would not line up with the lives. So are pairs (asset, part type) that already have an installation (from a work
order of the demo history), which also makes the step idempotent. Rows are written with ``bulk_load``.
"""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.utils import timezone

from accounts.models import Organisation
from assets.choices import AssetCategory, LifeUnit, PartKind
from assets.demo import FLEETS
from assets.models import PartType
from fleet.bulk import bulk_load
from fleet.demo import DemoContext
from maintenance.models import PartInstallation
from maintenance.replacements import replacements_run
from telemetry.choices import Meter
from telemetry.demo import demo_assets
from telemetry.models import Reading

CATEGORIES = (AssetCategory.MFP, AssetCategory.FORKLIFT, AssetCategory.REACH_TRUCK)
METERS = {LifeUnit.PAGES: Meter.TOTAL_PAGES, LifeUnit.HOURS: Meter.HOURS_KEY_ON}
# True mean-ish life (the Weibull scale) as a share of the catalogue's rated life, by a fragment of the part's name.
LIFE_FACTORS = (
    ("Drum", 0.75),
    ("Fuser", 0.85),
    ("Transfer belt", 1.2),
    ("tyre", 1.3),
    ("Load wheel", 1.15),
    ("Brake", 0.8),
    ("Hydraulic hose", 1.25),
)
WEIBULL_SHAPE = 3.2
# An asset has "a year of counters" when its first reading is at least this old.
MIN_HISTORY = timedelta(days=330)
DAY_SECONDS = 86_400.0


def life_factor(part_type: PartType) -> float:
    return next((factor for fragment, factor in LIFE_FACTORS if fragment in part_type.name), 1.0)


def true_life_law(model_name: str, part_type: PartType) -> tuple[float, float]:
    """(scale, shape) of the Weibull the true lives of ``part_type`` on ``model_name`` are drawn from."""
    rng = random.Random(f"forecasts:law:{model_name}:{part_type.code}")
    scale = float(part_type.rated_life) * life_factor(part_type) * rng.uniform(0.95, 1.05)
    return scale, WEIBULL_SHAPE + rng.uniform(-0.2, 0.2)


def _series(asset_ids: list[int]) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
    """(epoch seconds, values) of each asset's page and hour counters, ascending, in one query."""
    rows = (
        Reading.objects.filter(asset_id__in=asset_ids, meter__in=METERS.values(), invalidated_at__isnull=True)
        .order_by("asset_id", "meter", "taken_at")
        .values_list("asset_id", "meter", "taken_at", "value")
    )
    grouped: dict[tuple[int, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for asset_id, meter, taken_at, value in rows.iterator(chunk_size=20_000):
        times, values = grouped[(asset_id, meter)]
        times.append(taken_at.timestamp())
        values.append(float(value))
    return {key: (np.array(times), np.array(values)) for key, (times, values) in grouped.items()}


def _installations(asset, part_type: PartType, meter: str, times: np.ndarray, values: np.ndarray) -> list[tuple]:
    """The installations of ``part_type`` on ``asset``: at the asset's start, then where each true life ran out."""
    span_days = (times[-1] - times[0]) / DAY_SECONDS
    rate = (values[-1] - values[0]) / span_days if span_days > 0 else 0.0
    if rate <= 0:
        return []
    if asset.install_date is not None:
        installed = datetime.combine(asset.install_date, datetime.min.time(), tzinfo=UTC).timestamp()
    else:
        installed = times[0] - 3 * 365 * DAY_SECONDS
    start_value = max(0.0, values[0] - rate * (times[0] - installed) / DAY_SECONDS)

    def moment(value: float) -> float:
        if value >= values[0]:
            return float(np.interp(value, values, times))
        return times[0] - (values[0] - value) / rate * DAY_SECONDS

    scale, shape = true_life_law(asset.asset_model.name, part_type)
    rng = random.Random(f"forecasts:{asset.serial_number}:{part_type.code}")
    value = start_value
    rows = []
    while value <= values[-1]:
        at = datetime.fromtimestamp(moment(value), tz=UTC)
        meter_value = Decimal(str(round(value, 1))).quantize(Decimal("0.01"))
        rows.append((asset.pk, part_type.pk, at, meter, meter_value, Decimal(1)))
        value += max(rng.weibullvariate(scale, shape), scale * 0.05)
    return rows


def seed_forecasts(context: DemoContext) -> None:
    """The demo wear parts' installation history (see the module docstring), then the demo customers' forecasts."""
    assets = [asset for asset in demo_assets() if asset.asset_model.category in CATEGORIES]
    part_types = list(
        PartType.objects.filter(kind=PartKind.WEAR_PART, life_unit__in=METERS).prefetch_related("asset_models")
    )
    fitting: dict[int, list[PartType]] = defaultdict(list)
    for part_type in part_types:
        for asset_model in part_type.asset_models.all():
            fitting[asset_model.pk].append(part_type)
    done = set(
        PartInstallation.objects.filter(asset__in=assets, part_type__in=part_types).values_list(
            "asset_id", "part_type_id"
        )
    )
    series = _series([asset.pk for asset in assets])
    oldest = timezone.now() - MIN_HISTORY
    rows: list[tuple] = []
    for asset in assets:
        for part_type in fitting.get(asset.asset_model_id, ()):
            meter = METERS[part_type.life_unit]
            times, values = series.get((asset.pk, meter), (np.array([]), np.array([])))
            if (asset.pk, part_type.pk) in done or len(times) < 2 or times[0] > oldest.timestamp():
                continue
            if np.any(np.diff(values) < 0):  # a counter reset: left out (see the docstring)
                continue
            rows.extend(_installations(asset, part_type, meter, times, values))
    written = bulk_load(
        PartInstallation, ("asset_id", "part_type_id", "installed_at", "meter", "meter_value", "quantity"), rows
    )
    replaced = written - len({(row[0], row[1]) for row in rows})
    now = timezone.now()
    runs = [
        replacements_run(customer_id=customer_id, as_of=now)
        for customer_id in Organisation.objects.filter(code__in=FLEETS).order_by("pk").values_list("pk", flat=True)
    ]
    context.log(
        f"maintenance forecasts: {written} part installations ({replaced} replacements), "
        f"{sum(run.forecasts for run in runs)} forecasts, {sum(run.supply_orders for run in runs)} supply orders and "
        f"{sum(run.work_orders for run in runs)} predictive work orders opened"
    )
