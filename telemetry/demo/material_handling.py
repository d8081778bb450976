"""The demo simulation of material handling: forklifts and reach trucks, AGVs, traction batteries, chargers."""

import random
from datetime import datetime, timedelta
from decimal import Decimal

from assets.choices import AssetStatus
from assets.models import Asset
from telemetry.choices import Meter, Severity, Supply
from telemetry.demo.calendar import WORKING_HOURS, Profile, local_moment, site_profile
from telemetry.demo.simulation import (
    Output,
    business_moment,
    days_from,
    established_amount,
    first_day,
    poisson,
    tenths,
    thousandths,
)

# Most key-on hours in a day: two shifts at the logistics centres, one at the plant (AGVs run longer).
DAILY_CAP_HOURS = {Profile.LOGISTICS: 16.5, Profile.PLANT: 8.6}
AGV_CAP_HOURS = {Profile.LOGISTICS: 20.0, Profile.PLANT: 16.0}
# (code, severity, message, rate per working day, hours until the condition clears (from, to))
TRUCK_FAULTS = (
    ("E-21", Severity.WARNING, "Hydraulic oil overheat", 0.004, (0.3, 1.5)),
    ("E-05", Severity.WARNING, "Battery low voltage", 0.006, (1.0, 3.0)),
    ("E-33", Severity.ERROR, "Drive motor over-current", 0.0015, (2.0, 30.0)),
    ("E-47", Severity.ERROR, "Steering angle sensor fault", 0.001, (4.0, 48.0)),
)
AGV_FAULTS = (
    ("W-110", Severity.INFO, "Path obstructed, waiting", 0.03, (0.02, 0.2)),
    ("E-502", Severity.WARNING, "Localisation lost", 0.006, (0.1, 1.0)),
)
IMPACT_CODE = "IMPACT"
IMPACT_LOCKOUT_G = 1.5  # from here a truck locks out until a supervisor resets it (the "cleared" report)
HARD_IMPACT_G = 3.0


def _operators(asset: Asset, rng: random.Random) -> list[str]:
    """The regular drivers of a truck: four of its site's operator ids."""
    return [f"OP-{asset.site_id:02d}{number:02d}" for number in rng.sample(range(1, 40), 4)]


def simulate_truck(asset: Asset, out: Output) -> None:
    """Nightly hour meters and lift cycles of a forklift or reach truck, its fault codes and impacts."""
    calendar, plan = out.calendar, out.plan
    rng = random.Random(f"telemetry:{asset.serial_number}")
    profile = site_profile(asset)
    rated = asset.asset_model.rated_monthly_duty_hours or 180
    utilisation = rng.uniform(0.35, 1.0) * (0.2 if asset.status == AssetStatus.STANDBY else 1.0)
    per_factor = rated * utilisation * 12 / calendar.annual[profile]
    travel_ratio, lift_ratio, cycles_per_hour = rng.uniform(0.45, 0.6), rng.uniform(0.15, 0.28), rng.uniform(50, 90)
    first, established = first_day(asset, calendar)
    key_on = established_amount(asset, first, rated * utilisation * 12 / 365, rng) if established else 1.5
    travel, lift = key_on * travel_ratio, key_on * lift_ratio
    cycles = lift * cycles_per_hour
    start_hour, end_hour = WORKING_HOURS[profile]
    report_hours = end_hour + rng.uniform(0.2, 0.7)  # before midnight, jitter included
    drivers = _operators(asset, rng)
    hard_day = plan.hard_impacts.get(asset.pk)
    hard_pending = 0
    reset_day = plan.resets.get(asset.pk)
    last_day = calendar.days[-1]

    def meters(extra: float = 0.0) -> dict[str, Decimal]:
        return {
            Meter.HOURS_KEY_ON: tenths(key_on + extra),
            Meter.HOURS_TRAVEL: tenths(travel + extra * travel_ratio),
            Meter.HOURS_LIFT: tenths(lift + extra * lift_ratio),
            Meter.LIFT_CYCLES: Decimal(int(cycles + extra * lift_ratio * cycles_per_hour)),
        }

    for day, index in days_from(calendar, first):
        busy = calendar.factors[profile][index]
        hours = min(DAILY_CAP_HOURS[profile], per_factor * busy * rng.lognormvariate(0, 0.2)) if busy else 0.0
        hard_pending += day == hard_day  # on the next working day if that one is not
        if day == reset_day:
            # The hour meter (with the truck's controller) replaced before the first shift: it starts again at 0.
            replaced_at = local_moment(day, start_hour - rng.uniform(0.5, 1.5))
            key_on = travel = lift = cycles = 0.0
            out.manual_read(asset.pk, replaced_at, meters())
        if hours:
            wear = 1 + key_on / 15_000
            raw = {"hour_meter": str(tenths(key_on))}
            for fault in TRUCK_FAULTS:
                summer = 3 if fault[0] == "E-21" and day.month in (7, 8, 9) else 1
                if rng.random() < fault[3] * wear * summer * hours / 8:
                    out.fault(rng, asset.pk, business_moment(rng, profile, day), fault, raw)
            impacts = poisson(rng, 0.035 * hours / 8)
            if hard_pending:
                impacts += 1
            for number in range(impacts):
                hard = hard_pending > 0 and number == impacts - 1
                g = rng.uniform(3.2, 4.6) if hard else 0.45 + rng.expovariate(1 / 0.4)
                hard_pending -= hard
                moment = business_moment(rng, profile, day)
                _impact(out, rng, asset, moment, g, rng.choice(drivers), recent=(last_day - day).days <= 3)
            if (
                asset.pk in plan.technician_reads
                and day in calendar.month_end_workdays
                and index > len(calendar.days) - 130
            ):
                out.manual_read(asset.pk, local_moment(day, rng.uniform(12.0, 13.0)), meters(hours * 0.4))
        key_on += hours
        travel += hours * travel_ratio * rng.uniform(0.9, 1.1)
        lift += hours * lift_ratio * rng.uniform(0.9, 1.1)
        cycles += hours * lift_ratio * cycles_per_hour * rng.uniform(0.9, 1.1)
        at = local_moment(day, report_hours + rng.uniform(0, 0.1))
        if at > calendar.now:
            break
        if plan.reports(asset.pk, at):
            out.read(asset.pk, at, meters())


def _impact(out: Output, rng: random.Random, asset: Asset, at: datetime, g: float, operator: str, recent: bool) -> None:
    """An impact; from 1.5 g the truck locks out until a supervisor resets it (a later "cleared" report)."""
    g_force = Decimal(f"{g:.2f}")
    severity = Severity.INFO if g < IMPACT_LOCKOUT_G else Severity.WARNING if g < HARD_IMPACT_G else Severity.CRITICAL
    raw = {"g": str(g_force), "speed_kmh": f"{rng.uniform(2.0, 12.0):.1f}", "operator": operator}
    reported = out.event(
        asset.pk, at, IMPACT_CODE, severity, f"Impact {g_force} g", g_force=g_force, operator_id=operator, raw=raw
    )
    if reported and g >= IMPACT_LOCKOUT_G and not (recent and g >= HARD_IMPACT_G):
        out.event(
            asset.pk,
            at + timedelta(minutes=rng.uniform(5, 40)),
            IMPACT_CODE,
            Severity.INFO,
            "Impact lockout reset by supervisor",
            operator_id=operator,
            cleared=True,
        )


def simulate_agv(asset: Asset, out: Output) -> None:
    """Nightly picks and key-on hours of an AGV, with its warnings."""
    calendar, plan = out.calendar, out.plan
    rng = random.Random(f"telemetry:{asset.serial_number}")
    profile = site_profile(asset)
    rated = asset.asset_model.rated_monthly_duty_hours or 600
    utilisation = rng.uniform(0.6, 0.95) * (0.2 if asset.status == AssetStatus.STANDBY else 1.0)
    per_factor = rated * utilisation * 12 / calendar.annual[profile]
    picks_per_hour = rng.uniform(35, 60)
    first, established = first_day(asset, calendar)
    key_on = established_amount(asset, first, rated * utilisation * 12 / 365, rng) if established else 2.0
    picks = key_on * picks_per_hour
    report_hours = WORKING_HOURS[profile][1] + rng.uniform(0.2, 0.7)
    for day, index in days_from(calendar, first):
        busy = calendar.factors[profile][index]
        hours = min(AGV_CAP_HOURS[profile], per_factor * busy * rng.lognormvariate(0, 0.15)) if busy else 0.0
        if hours:
            for fault in AGV_FAULTS:
                if rng.random() < fault[3] * hours / 8:
                    out.fault(rng, asset.pk, business_moment(rng, profile, day), fault, {"picks": int(picks)})
        key_on += hours
        picks += hours * picks_per_hour * rng.uniform(0.85, 1.15)
        at = local_moment(day, report_hours + rng.uniform(0, 0.1))
        if at > calendar.now:
            break
        if plan.reports(asset.pk, at):
            out.read(asset.pk, at, {Meter.HOURS_KEY_ON: tenths(key_on), Meter.PICKS: Decimal(int(picks))})


def simulate_battery(asset: Asset, out: Output) -> None:
    """A traction battery's state of charge through each day: full in the morning, low after the shifts."""
    calendar, plan = out.calendar, out.plan
    rng = random.Random(f"telemetry:{asset.serial_number}")
    profile = site_profile(asset)
    first, _established = first_day(asset, calendar)
    for day, index in days_from(calendar, first):
        busy = calendar.factors[profile][index]
        if busy:
            depth = min(88.0, (40 + 30 * busy) * rng.uniform(0.85, 1.1) + index * 0.012)  # ageing: deeper cycles
            points = (
                (6.0, 100 - rng.uniform(0, 3)),
                (10.5, 100 - depth * rng.uniform(0.25, 0.35)),
                (14.3, 100 - depth * rng.uniform(0.55, 0.65)),
                (22.8, 100 - depth),
            )
        else:
            points = ((12.0, 100 - rng.uniform(0, 2)),)
        for hours, percent in points:
            at = local_moment(day, hours + rng.uniform(0, 0.2))
            if at > calendar.now:
                return
            if plan.reports(asset.pk, at):
                out.level(asset.pk, at, Supply.BATTERY_SOC, percent)


def simulate_charger(asset: Asset, out: Output) -> None:
    """A charger's energy meter, read each morning after the night's charging."""
    calendar, plan = out.calendar, out.plan
    rng = random.Random(f"telemetry:{asset.serial_number}")
    profile = site_profile(asset)
    first, established = first_day(asset, calendar)
    energy = established_amount(asset, first, 8.0, rng) if established else 0.0
    for day, index in days_from(calendar, first):
        at = local_moment(day, 6.5 + rng.uniform(0, 0.1))
        if at > calendar.now:
            break
        if plan.reports(asset.pk, at):
            out.read(asset.pk, at, {Meter.ENERGY_KWH: thousandths(energy)})
        busy = calendar.factors[profile][index]
        energy += 0.3 + (rng.uniform(8.0, 13.0) * busy if busy else 0.0)
