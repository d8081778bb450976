"""Demo telemetry: a year of meter readings, supply levels and diagnostic events for the demo fleets, and alert rules.

``seed_telemetry`` (a ``seed_demo`` step, run after the assets) simulates every in-service demo asset day by day
in Japanese local time, from a year ago until now, and writes the rows in bulk (``write_rows``: ``bulk_load``'s
COPY on PostgreSQL, large ``executemany`` batches on SQLite): about 190k rows in a few seconds. It writes rows
directly: no ingest, no alert evaluation. Each asset's ``last_seen_at`` becomes its latest report.

- MFPs and printers report once a day at a fixed early-morning time of their own: total, mono, colour (colour
  models) and scanned pages (MFPs) as of the end of the previous day. Volume is the model's rated monthly volume
  × a utilisation of 20-110 %, spread over office days (low at weekends, public holidays, Golden Week, Obon and
  New Year) and the season. Toner and drum levels fall with the pages and return to ~100 % when replaced; like
  collectors, devices report a level when its whole percentage changes. Jams (J101...), service calls (SC542...)
  and toner-low warnings; service calls grow more frequent with the counter (wear).
- Forklifts and reach trucks report their hour meters (key-on, travel, lift) and lift cycles each night, after
  the shifts of their site (two shifts Monday to Saturday at the logistics centres, one on weekdays at the
  plant); fault codes (E-21 hydraulic oil overheat...) and impacts with g-force and operator id. AGVs report
  picks and key-on hours, traction batteries their state of charge through each day's cycle, chargers energy.
- Technicians read a few devices' counters on the last working day of recent months.
- The plan (``demo_plan``) picks, by a fixed seed, the assets with the oddities a real fleet has: counters that
  restart near 0 (a controller board or hour meter replaced), a ten-day reporting gap, devices that are silent
  now, hard impacts (above 3 g).

The parts: ``calendar`` (holidays, breaks, site working patterns, seasons), ``plan`` (the oddities),
``simulation`` (the shared output and the print devices), ``material_handling``, ``writing`` (bulk inserts).

Every random draw comes from a generator seeded by the asset's serial number (the plan's by ``PLAN_SEED``), so
the data is the same on every run against the same day. Idempotent: assets that already have readings or supply
levels are left alone, and the alert rules are keyed by their name.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Case, Value, When
from django.utils import timezone

from accounts.choices import Role
from accounts.demo import PROVIDER_CODE
from accounts.models import Organisation, User
from assets.choices import ASSET_IN_SERVICE_STATES, AssetCategory
from assets.demo import FLEETS
from assets.models import Asset
from fleet.demo import DemoContext
from telemetry.alerts import (
    IngestedBatch,
    IngestedEvent,
    IngestedLevel,
    IngestedReading,
    alerts_check_silent,
    alerts_evaluate_ingest,
)
from telemetry.choices import AlertRuleKind, Meter, Severity
from telemetry.demo.calendar import Calendar
from telemetry.demo.material_handling import (
    simulate_agv,
    simulate_battery,
    simulate_charger,
    simulate_truck,
)
from telemetry.demo.plan import demo_plan
from telemetry.demo.simulation import (
    EVENT_FIELDS,
    LEVEL_FIELDS,
    READING_FIELDS,
    TONER_LETTERS,
    Output,
    simulate_print,
)
from telemetry.demo.writing import write_rows
from telemetry.models import Alert, AlertRule, DiagnosticEvent, Reading, SupplyLevel

C = AssetCategory

SIMULATORS = {
    C.MFP: simulate_print,
    C.PRINTER: simulate_print,
    C.FORKLIFT: simulate_truck,
    C.REACH_TRUCK: simulate_truck,
    C.AGV: simulate_agv,
    C.BATTERY: simulate_battery,
    C.CHARGER: simulate_charger,
}


# Alert rules of the demo provider: data only (another part of the app evaluates them).

TONER_RULES = tuple(
    (
        f"{name} toner below 10%",
        AlertRuleKind.SUPPLY_BELOW,
        Severity.WARNING,
        {"supply": supply, "threshold": Decimal(10)},
    )
    for supply, (_letter, name) in TONER_LETTERS.items()
)
# (name, kind, severity, condition)
ALERT_RULES: tuple[tuple[str, str, str, dict], ...] = (
    *TONER_RULES,
    ("Service call (SC code)", AlertRuleKind.EVENT_CODE, Severity.ERROR, {"code_pattern": "SC*"}),
    ("Impact above 3 g", AlertRuleKind.IMPACT_ABOVE, Severity.CRITICAL, {"threshold": Decimal(3)}),
    ("Silent for 48 hours", AlertRuleKind.SILENT, Severity.WARNING, {"silent_hours": 48}),
    (
        "Hour meter past 10,000 h",
        AlertRuleKind.METER_ABOVE,
        Severity.INFO,
        {"meter": Meter.HOURS_KEY_ON, "threshold": Decimal(10_000)},
    ),
)


def alert_rules_ensure(provider: Organisation) -> int:
    """The demo provider's alert rules, created once (keyed by name); returns how many were created."""
    existing = set(AlertRule.objects.filter(provider=provider).values_list("name", flat=True))
    missing = [
        AlertRule(provider=provider, name=name, kind=kind, severity=severity, **condition)
        for name, kind, severity, condition in ALERT_RULES
        if name not in existing
    ]
    AlertRule.objects.bulk_create(missing)
    return len(missing)


def demo_assets():
    """The in-service assets of the demo customers, with what the simulation reads of them."""
    return (
        Asset.objects.filter(customer__code__in=FLEETS, status__in=ASSET_IN_SERVICE_STATES)
        .select_related("asset_model", "site")
        .order_by("serial_number", "pk")
    )


def _assets_with_history(asset_ids: list[int]) -> set[int]:
    return set(Reading.objects.filter(asset_id__in=asset_ids).values_list("asset_id", flat=True).distinct()) | set(
        SupplyLevel.objects.filter(asset_id__in=asset_ids).values_list("asset_id", flat=True).distinct()
    )


def telemetry_history_write(*, assets: Sequence[Asset], now: datetime, all_assets: Sequence[Asset] = ()) -> Output:
    """Simulate and write the history of ``assets`` up to ``now``; the plan is drawn from ``all_assets``.

    Sets each asset's ``last_seen_at`` to its latest report. Returns what was written.
    """
    calendar = Calendar.ending(now)
    plan = demo_plan(all_assets or assets, calendar)
    technician = (
        User.objects.filter(membership__organisation__code=PROVIDER_CODE, membership__role=Role.TECHNICIAN)
        .order_by("pk")
        .first()
    )
    out = Output(plan=plan, calendar=calendar, technician_id=technician.pk if technician else None)
    for asset in assets:
        SIMULATORS[asset.asset_model.category](asset, out)
    write_rows(Reading, READING_FIELDS, out.readings)
    write_rows(SupplyLevel, LEVEL_FIELDS, out.levels)
    write_rows(DiagnosticEvent, EVENT_FIELDS, out.events)
    if out.last_seen:
        Asset.objects.filter(pk__in=out.last_seen).update(
            last_seen_at=Case(
                *(When(pk=pk, then=Value(at)) for pk, at in out.last_seen.items()),
                output_field=Asset._meta.get_field("last_seen_at"),
            )
        )
    return out


def seed_telemetry(context: DemoContext) -> None:
    """A year of telemetry for the demo assets that have none yet, and the demo provider's alert rules."""
    rules = alert_rules_ensure(Organisation.objects.get(code=PROVIDER_CODE))
    assets = list(demo_assets())
    done = _assets_with_history([asset.pk for asset in assets])
    todo = [asset for asset in assets if asset.pk not in done]
    if not todo:
        context.log(f"telemetry: history already there, {rules} alert rules created")
        return
    now = timezone.now()
    out = telemetry_history_write(assets=todo, now=now, all_assets=assets)
    opened = _alerts_from_recent_history(asset_ids=[asset.pk for asset in todo], now=now)
    context.log(
        f"telemetry: {len(out.readings)} readings, {len(out.levels)} supply levels, {len(out.events)} events "
        f"for {len(todo)} assets, {rules} alert rules created, {opened} alerts open"
    )


DEMO_ALERT_LOOKBACK = timedelta(days=30)


def _alerts_from_recent_history(*, asset_ids: list[int], now) -> int:
    """Run the alert rules over what the demo devices reported lately, as if it had just been ingested:
    the last month's events and each asset's latest supply levels and meter readings; then the silent sweep."""
    since = now - DEMO_ALERT_LOOKBACK
    batches: dict[int, IngestedBatch] = {}
    customer_of = dict(Asset.objects.filter(pk__in=asset_ids).values_list("pk", "customer_id"))

    def batch(asset_id: int) -> IngestedBatch:
        customer_id = customer_of[asset_id]
        return batches.setdefault(customer_id, IngestedBatch(customer_id=customer_id))

    events = DiagnosticEvent.objects.filter(asset_id__in=asset_ids, occurred_at__gte=since).order_by("occurred_at")
    for event in events:
        batch(event.asset_id).events.append(
            IngestedEvent(
                asset_id=event.asset_id,
                code=event.code,
                occurred_at=event.occurred_at,
                severity=event.severity,
                message=event.message,
                g_force=event.g_force,
                cleared=event.cleared,
            )
        )
    latest_levels = (
        SupplyLevel.objects.filter(asset_id__in=asset_ids, taken_at__gte=since)
        .order_by("asset_id", "supply", "-taken_at")
        .values_list("asset_id", "supply", "taken_at", "percent")
    )
    seen = set()
    for asset_id, supply, taken_at, percent in latest_levels:
        if (asset_id, supply) not in seen:
            seen.add((asset_id, supply))
            batch(asset_id).levels.append(IngestedLevel(asset_id, supply, taken_at, percent))
    latest_readings = (
        Reading.objects.filter(asset_id__in=asset_ids, taken_at__gte=since, invalidated_at__isnull=True)
        .order_by("asset_id", "meter", "-taken_at")
        .values_list("asset_id", "meter", "taken_at", "value")
    )
    seen = set()
    for asset_id, meter, taken_at, value in latest_readings:
        if (asset_id, meter) not in seen:
            seen.add((asset_id, meter))
            batch(asset_id).readings.append(IngestedReading(asset_id, meter, taken_at, value))
    for ingested in batches.values():
        alerts_evaluate_ingest(batch=ingested)
    alerts_check_silent(now=now)
    return Alert.objects.filter(asset_id__in=asset_ids).active().count()
