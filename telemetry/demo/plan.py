"""The demo plan: which demo assets carry the oddities a real fleet has (resets, gaps, silence, hard impacts)."""

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from assets.choices import AssetCategory, AssetStatus
from assets.models import Asset
from telemetry.demo.calendar import LOCAL_TZ, Calendar, site_profile

PLAN_SEED = "telemetry-demo-plan"
C = AssetCategory
TRUCKS = (C.FORKLIFT, C.REACH_TRUCK)


@dataclass(frozen=True)
class DemoPlan:
    """The demo assets with planned oddities, by asset id (chosen by a fixed seed among the established assets)."""

    resets: dict[int, date] = field(default_factory=dict)  # counters restart near 0 on that day
    paused: dict[int, tuple[date, date]] = field(default_factory=dict)  # no reports from the first to the last day
    silent_since: dict[int, datetime] = field(default_factory=dict)  # no reports after this moment (until now)
    hard_impacts: dict[int, date] = field(default_factory=dict)  # an impact above 3 g on that working day
    technician_reads: frozenset[int] = frozenset()  # counters read by a technician on month ends
    energy: frozenset[int] = frozenset()  # print devices that also report energy

    def reports(self, asset_id: int, at: datetime) -> bool:
        """Whether the asset's report at ``at`` reaches the portal."""
        paused = self.paused.get(asset_id)
        if paused and paused[0] <= at.astimezone(LOCAL_TZ).date() <= paused[1]:
            return False
        silent_since = self.silent_since.get(asset_id)
        return silent_since is None or at <= silent_since


def demo_plan(assets: Sequence[Asset], calendar: Calendar) -> DemoPlan:
    """Pick the assets with planned oddities among those that have served the whole year (fixed seed)."""
    rng = random.Random(PLAN_SEED)
    start, end = calendar.days[0], calendar.days[-1]
    established = [
        asset
        for asset in sorted(assets, key=lambda asset: asset.serial_number)
        if asset.status == AssetStatus.ACTIVE and asset.install_date and asset.install_date < start
    ]
    mfps = [asset for asset in established if asset.asset_model.category == C.MFP]
    trucks = [asset for asset in established if asset.asset_model.category in TRUCKS]
    resets: dict[int, date] = {}
    paused: dict[int, tuple[date, date]] = {}
    silent_since: dict[int, datetime] = {}
    picked: set[int] = set()
    for group in (mfps, trucks):
        reset, pause, silent = (*rng.sample(group, min(3, len(group))), None, None, None)[:3]
        if reset:
            resets[reset.pk] = end - timedelta(days=rng.randint(60, 300))
        if pause:
            first = end - timedelta(days=rng.randint(40, 300))
            paused[pause.pk] = (first, first + timedelta(days=9))
        if silent:
            # Silent for three to five days: the 48-hour silent-device rule has something to find.
            silent_since[silent.pk] = calendar.now - timedelta(days=rng.randint(3, 5), hours=rng.randint(1, 20))
        picked |= {asset.pk for asset in (reset, pause, silent) if asset}
    # Hard impacts: one on the last working day (its lockout not reset yet), two earlier in the year.
    hard_impacts: dict[int, date] = {}
    others = [asset for asset in trucks if asset.pk not in picked]
    for number, asset in enumerate(rng.sample(others, min(3, len(others)))):
        if number == 0:
            factors = calendar.factors[site_profile(asset)]
            hard_impacts[asset.pk] = max(
                day for day, factor in zip(calendar.days, factors, strict=True) if factor and day < end
            )
        else:
            hard_impacts[asset.pk] = end - timedelta(days=rng.randint(20, 300))
    readable = [asset for asset in mfps if asset.pk not in resets and asset.pk not in silent_since]
    technician = {asset.pk for asset in rng.sample(readable, min(6, len(readable)))}
    technician |= {asset.pk for asset in rng.sample(trucks, min(2, len(trucks)))}
    energy = {asset.pk for asset in assets if asset.asset_model.name == "imageRUNNER ADVANCE DX C5840F"}
    return DemoPlan(
        resets=resets,
        paused=paused,
        silent_since=silent_since,
        hard_impacts=hard_impacts,
        technician_reads=frozenset(technician),
        energy=frozenset(energy),
    )
