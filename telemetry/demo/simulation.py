"""The demo simulation's shared parts (what it outputs, time and number helpers) and the print devices."""

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from assets.choices import AssetCategory, AssetStatus
from assets.demo import PART_TYPES
from assets.models import Asset
from telemetry.choices import Meter, ReadingSource, Severity, Supply
from telemetry.demo.calendar import WORKING_HOURS, Calendar, Profile, local_moment
from telemetry.demo.plan import DemoPlan

C = AssetCategory


def _toner_yields() -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Rated pages of each toner and of the drum (or maintenance kit), by model name, from the demo catalogue."""
    supplies = {
        "Toner black": Supply.TONER_BLACK,
        "Toner cyan": Supply.TONER_CYAN,
        "Toner magenta": Supply.TONER_MAGENTA,
        "Toner yellow": Supply.TONER_YELLOW,
    }
    toners: dict[str, dict[str, int]] = {}
    drums: dict[str, int] = {}
    for _code, name, _kind, _unit, rated_life, _lead, _cost, fits in PART_TYPES:
        for prefix, supply in supplies.items():
            if name.startswith(prefix):
                for model_name in fits:
                    toners.setdefault(model_name, {})[supply] = rated_life
        if name.startswith(("Drum unit", "Maintenance kit")):
            for model_name in fits:
                drums[model_name] = rated_life
    return toners, drums


TONER_YIELDS, DRUM_LIVES = _toner_yields()
TONER_LETTERS = {
    Supply.TONER_BLACK: ("K", "Black"),
    Supply.TONER_CYAN: ("C", "Cyan"),
    Supply.TONER_MAGENTA: ("M", "Magenta"),
    Supply.TONER_YELLOW: ("Y", "Yellow"),
}
TONER_LOW_PERCENT = 10
# (code, message, share of jams)
JAMS = (
    ("J101", "Paper jam: tray 1 feed", 30),
    ("J102", "Paper jam: tray 2 feed", 20),
    ("J201", "Paper jam: registration", 15),
    ("J301", "Paper jam: fusing exit", 15),
    ("J501", "Paper jam: duplex unit", 20),
)
# (code, severity, message)
SERVICE_CALLS = (
    ("SC542", Severity.ERROR, "Fusing temperature warm-up error"),
    ("SC541", Severity.ERROR, "Fusing thermistor open"),
    ("SC401", Severity.ERROR, "Transfer roller current leak"),
    ("SC302", Severity.WARNING, "Charge roller current leak"),
    ("SC899", Severity.WARNING, "Software performance error"),
)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the demo's means are small)."""
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-min(mean, 50.0)), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def tenths(value: float) -> Decimal:
    return Decimal(int(value * 10)).scaleb(-1)


def thousandths(value: float) -> Decimal:
    return Decimal(int(value * 1000)).scaleb(-3)


READING_FIELDS = ("asset_id", "meter", "taken_at", "value", "source", "entered_by_id")
LEVEL_FIELDS = ("asset_id", "supply", "taken_at", "percent", "source")
EVENT_FIELDS = ("asset_id", "occurred_at", "code", "severity", "message", "g_force", "operator_id", "cleared", "raw")


@dataclass
class Output:
    """The rows the simulation produces, and each asset's latest report."""

    plan: DemoPlan
    calendar: Calendar
    technician_id: int | None
    readings: list[tuple] = field(default_factory=list)
    levels: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    last_seen: dict[int, datetime] = field(default_factory=dict)
    _event_keys: set[tuple] = field(default_factory=set)

    def _seen(self, asset_id: int, at: datetime) -> None:
        if at > self.last_seen.get(asset_id, at - timedelta(seconds=1)):
            self.last_seen[asset_id] = at

    def read(self, asset_id: int, at: datetime, values: dict[str, Decimal]) -> None:
        for meter, value in values.items():
            self.readings.append((asset_id, meter, at, value, ReadingSource.DEVICE, None))
        self._seen(asset_id, at)

    def manual_read(self, asset_id: int, at: datetime, values: dict[str, Decimal]) -> None:
        """A technician's read: it reaches the portal whether or not the device reports."""
        if at > self.calendar.now:
            return
        for meter, value in values.items():
            self.readings.append((asset_id, meter, at, value, ReadingSource.TECHNICIAN, self.technician_id))

    def level(self, asset_id: int, at: datetime, supply: str, percent: float) -> None:
        self.levels.append((asset_id, supply, at, Decimal(min(100, max(0, round(percent)))), ReadingSource.DEVICE))
        self._seen(asset_id, at)

    def event(
        self,
        asset_id: int,
        at: datetime,
        code: str,
        severity: str,
        message: str,
        *,
        g_force: Decimal | None = None,
        operator_id: str = "",
        cleared: bool = False,
        raw: dict | None = None,
    ) -> bool:
        """Record an event if the device reports at that moment; False when it does not (or not yet)."""
        if at > self.calendar.now or not self.plan.reports(asset_id, at):
            return False
        while (asset_id, code, at) in self._event_keys:
            at += timedelta(seconds=1)
        self._event_keys.add((asset_id, code, at))
        payload = {"code": code, **(raw or {})}
        if cleared:
            payload["cleared"] = True
        self.events.append((asset_id, at, code, severity, message, g_force, operator_id, cleared, payload))
        self._seen(asset_id, at)
        return True

    def fault(self, rng: random.Random, asset_id: int, at: datetime, fault: tuple, raw: dict) -> None:
        """A fault code, and its "cleared" report when it clears before now."""
        code, severity, message, _rate, (soonest, latest) = fault
        if self.event(asset_id, at, code, severity, message, raw=raw):
            cleared_at = at + timedelta(hours=rng.uniform(soonest, latest))
            self.event(asset_id, cleared_at, code, Severity.INFO, f"{message}: cleared", cleared=True, raw=raw)


def business_moment(rng: random.Random, profile: Profile, day: date) -> datetime:
    first, last = WORKING_HOURS[profile]
    return local_moment(day, rng.uniform(first, last))


def first_day(asset: Asset, calendar: Calendar) -> tuple[date, bool]:
    """The first simulated day of the asset, and whether it was already in service a year ago."""
    start = calendar.days[0]
    if asset.install_date is None or asset.install_date < start:
        return start, True
    return asset.install_date + timedelta(days=1), False


def days_from(calendar: Calendar, first: date) -> Iterable[tuple[date, int]]:
    offset = (first - calendar.days[0]).days
    for index in range(max(offset, 0), len(calendar.days)):
        yield calendar.days[index], index


def established_amount(asset: Asset, first: date, per_day: float, rng: random.Random) -> float:
    """What a counter had reached by ``first`` for an asset in service since its install date."""
    served_days = (first - asset.install_date).days if asset.install_date else 900
    return per_day * served_days * rng.uniform(0.85, 1.15)


def simulate_print(asset: Asset, out: Output) -> None:
    """Daily counters, supply levels, jams, service calls and toner warnings of an MFP or printer."""
    calendar, plan = out.calendar, out.plan
    rng = random.Random(f"telemetry:{asset.serial_number}")
    model = asset.asset_model
    monthly = model.rated_monthly_volume or 5_000
    utilisation = rng.uniform(0.2, 1.1) * (0.25 if asset.status == AssetStatus.STANDBY else 1.0)
    toner_yields = TONER_YIELDS.get(model.name, {Supply.TONER_BLACK: 20_000})
    is_colour = Supply.TONER_CYAN in toner_yields
    is_mfp = model.category == C.MFP
    colour_share = rng.uniform(0.15, 0.45) if is_colour else 0.0
    scan_ratio = rng.uniform(0.15, 0.6) if is_mfp else 0.0
    per_factor = monthly * utilisation * 12 / calendar.annual[Profile.OFFICE]
    report_hours = rng.uniform(1.0, 5.0)
    first, established = first_day(asset, calendar)
    if established:
        total = int(established_amount(asset, first, monthly * utilisation * 12 / 365, rng))
    else:
        total = rng.randint(15, 80)  # the installer's test prints
    colour = int(total * colour_share * rng.uniform(0.9, 1.1))
    mono = total - colour
    scan = int(total * scan_ratio * rng.uniform(0.9, 1.1))
    energy = (total * 0.0009) if asset.pk in plan.energy else None
    supplies: dict[str, int] = {**toner_yields, Supply.DRUM: DRUM_LIVES.get(model.name, 200_000)}
    levels = {supply: rng.uniform(12, 100) if established else 100.0 for supply in supplies}
    coverage = {supply: rng.uniform(0.8, 1.3) for supply in supplies}
    replace_at = {supply: rng.uniform(0.0, 3.0) for supply in supplies}
    warned: set[str] = set()
    reported: dict[str, int] = {}
    reset_day = plan.resets.get(asset.pk)

    def counters() -> dict[str, Decimal]:
        values = {Meter.TOTAL_PAGES: Decimal(total), Meter.MONO_PAGES: Decimal(mono)}
        if is_colour:
            values[Meter.COLOUR_PAGES] = Decimal(colour)
        if is_mfp:
            values[Meter.SCAN_PAGES] = Decimal(scan)
        return values

    for day, index in days_from(calendar, first):
        at = local_moment(day, report_hours + rng.uniform(0, 0.05))
        if at > calendar.now:
            break
        if plan.reports(asset.pk, at):
            values = counters()
            if energy is not None:
                values[Meter.ENERGY_KWH] = thousandths(energy)
            out.read(asset.pk, at, values)
            for supply, level in levels.items():
                percent = min(100, max(0, round(level)))
                if reported.get(supply) != percent:
                    out.level(asset.pk, at, supply, percent)
                    reported[supply] = percent
        # The day's work.
        busy = calendar.factors[Profile.OFFICE][index]
        pages = int(per_factor * busy * rng.lognormvariate(0, 0.2) + rng.random())
        colour_pages = min(pages, int(pages * colour_share * rng.uniform(0.7, 1.3) + rng.random()))
        scanned = int(pages * scan_ratio * rng.uniform(0.6, 1.4) + rng.random())
        wear = 1 + total / 2_000_000
        raw = {"total_pages": total}
        if day == reset_day:
            # A controller board replaced mid-morning: the counters start again from the engineer's test prints.
            replaced_at = local_moment(day, rng.uniform(10.0, 12.0))
            out.event(asset.pk, replaced_at - timedelta(hours=20), "SC672", Severity.ERROR, "Controller start-up error")
            out.event(asset.pk, replaced_at, "SC672", Severity.INFO, "Controller board replaced", cleared=True, raw=raw)
            total, colour, scan = rng.randint(10, 30), 0, 0
            mono = total
            out.manual_read(asset.pk, replaced_at + timedelta(minutes=35), counters())
            pages, colour_pages, scanned = pages // 2, colour_pages // 2, scanned // 2
        if (
            asset.pk in plan.technician_reads
            and day in calendar.month_end_workdays
            and index > len(calendar.days) - 130
        ):
            done = rng.uniform(0.6, 0.8)  # of the day's pages, by the visit
            part_colour = int(colour_pages * done)
            part_mono = int((pages - colour_pages) * done)
            values = {
                Meter.TOTAL_PAGES: Decimal(total + part_mono + part_colour),
                Meter.MONO_PAGES: Decimal(mono + part_mono),
            }
            if is_colour:
                values[Meter.COLOUR_PAGES] = Decimal(colour + part_colour)
            out.manual_read(asset.pk, local_moment(day, rng.uniform(14.0, 17.5)), values)
        for _ in range(poisson(rng, pages / 8_000 * wear)):
            code, message, _share = rng.choices(JAMS, weights=[jam[2] for jam in JAMS])[0]
            out.event(asset.pk, business_moment(rng, Profile.OFFICE, day), code, Severity.INFO, message, raw=raw)
        if pages > 50 and rng.random() < 0.006 * wear:
            code, severity, message = rng.choice(SERVICE_CALLS)
            fault = (code, severity, message, 0, (3.0, 28.0))  # cleared by the engineer's visit
            out.fault(rng, asset.pk, business_moment(rng, Profile.OFFICE, day), fault, raw)
        # Supplies: toners by their pages (black by every page), the drum by every page.
        used = {Supply.TONER_BLACK: pages, Supply.DRUM: pages}
        for supply in (Supply.TONER_CYAN, Supply.TONER_MAGENTA, Supply.TONER_YELLOW):
            used[supply] = colour_pages
        for supply, rated in supplies.items():
            levels[supply] -= used[supply] / rated * 100 * coverage[supply]
            if supply in TONER_LETTERS and levels[supply] < TONER_LOW_PERCENT and supply not in warned:
                letter, name = TONER_LETTERS[supply]
                message = f"{name} toner low ({max(0, round(levels[supply]))}%)"
                moment = business_moment(rng, Profile.OFFICE, day)
                out.event(asset.pk, moment, f"TONER-LOW-{letter}", Severity.WARNING, message, raw=raw)
                warned.add(supply)
            if levels[supply] < replace_at[supply]:
                levels[supply] = 100 - (replace_at[supply] - levels[supply])
                replace_at[supply] = rng.uniform(0.0, 3.0)
                if supply in warned:
                    letter, name = TONER_LETTERS[supply]
                    moment = business_moment(rng, Profile.OFFICE, day)
                    message = f"{name} toner replaced"
                    out.event(asset.pk, moment, f"TONER-LOW-{letter}", Severity.INFO, message, cleared=True, raw=raw)
                    warned.discard(supply)
        total += pages
        colour += colour_pages
        mono += pages - colour_pages
        scan += scanned
        if energy is not None:
            energy += 0.15 + pages * 0.0006 * rng.uniform(0.9, 1.1)
