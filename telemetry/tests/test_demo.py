"""seed_demo's telemetry: a year of history for the demo fleets, with the planned oddities, written once."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.choices import Role
from accounts.demo import PROVIDER_CODE
from assets.choices import ASSET_IN_SERVICE_STATES, AssetCategory
from assets.demo import FLEETS
from assets.models import Asset
from fleet.demo import demo_steps
from telemetry.choices import AlertRuleKind, Meter, ReadingSource, Severity, Supply
from telemetry.demo import demo_assets
from telemetry.demo.calendar import LOCAL_TZ, Calendar, japanese_holidays
from telemetry.demo.plan import demo_plan
from telemetry.demo.writing import write_rows
from telemetry.models import AlertRule, DiagnosticEvent, Reading, SupplyLevel

pytestmark = pytest.mark.django_db

COUNTERS = tuple(Meter)  # every meter is a cumulative counter
TONERS = (Supply.TONER_BLACK, Supply.TONER_CYAN, Supply.TONER_MAGENTA, Supply.TONER_YELLOW)


def seed_demo_to_telemetry() -> None:
    telemetry = next(step for step in demo_steps() if step.name == "telemetry")
    later = [step.name for step in demo_steps() if step.order > telemetry.order]
    call_command("seed_demo", *[f"--skip={name}" for name in later], stdout=StringIO())


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """seed_demo up to telemetry, run once for the module inside a transaction that is rolled back afterwards.

    The later steps (maintenance) take trucks out of service and remove MFPs, which would change the plan the
    tests draw again from the assets' statuses."""
    with django_db_blocker.unblock(), transaction.atomic():
        started = timezone.now()
        seed_demo_to_telemetry()
        yield started
        transaction.set_rollback(True)


@pytest.fixture
def plan(seeded):
    return demo_plan(list(demo_assets()), Calendar.ending(seeded))


def in_service_demo(category: str):
    return Asset.objects.filter(
        customer__code__in=FLEETS, status__in=ASSET_IN_SERVICE_STATES, asset_model__category=category
    )


def series(queryset, key: str = "meter", value: str = "value") -> dict[tuple[int, str], list[tuple]]:
    """(asset, meter or supply) -> [(taken_at, value, source)...] in time order."""
    points = defaultdict(list)
    rows = queryset.order_by("asset_id", key, "taken_at").values_list("asset_id", key, "taken_at", value, "source")
    for asset_id, name, taken_at, amount, source in rows:
        points[(asset_id, name)].append((taken_at, amount, source))
    return points


def test_seed_demo_gives_every_in_service_mfp_daily_readings_over_the_last_twelve_months(seeded, plan):
    year_ago = seeded - timedelta(days=365)
    mfps = list(in_service_demo(AssetCategory.MFP))
    assert len(mfps) > 40
    device_reads = series(Reading.objects.filter(meter=Meter.TOTAL_PAGES, source=ReadingSource.DEVICE))
    for mfp in mfps:
        taken = [at for at, _value, _source in device_reads[(mfp.pk, Meter.TOTAL_PAGES)]]
        began = max(year_ago, datetime.combine(mfp.install_date, datetime.min.time(), tzinfo=LOCAL_TZ))
        assert taken[0] - began < timedelta(days=2), mfp
        quiet = timedelta(days=7) if mfp.pk in plan.silent_since else timedelta(days=1, hours=1)
        assert seeded - taken[-1] < quiet, mfp
        gaps = sorted(later - earlier for earlier, later in pairwise(taken))
        assert abs(gaps[len(gaps) // 2] - timedelta(days=1)) < timedelta(minutes=10)  # daily
        assert gaps[-1] < (timedelta(days=12) if mfp.pk in plan.paused else timedelta(days=1, hours=1)), mfp
        assert len(taken) >= (seeded - began).days - 11


def test_seed_demo_counters_never_fall_except_at_the_planned_board_replacements(seeded, plan):
    falls = defaultdict(list)
    for (asset_id, meter), points in series(Reading.objects.filter(meter__in=COUNTERS)).items():
        for (_at, before, _source), (at, after, source) in pairwise(points):
            if after < before:
                falls[asset_id].append((meter, at, after, source))
    assert len(plan.resets) >= 2
    assert set(falls) == set(plan.resets)
    for asset_id, asset_falls in falls.items():
        assert len({meter for meter, *_rest in asset_falls}) == len(asset_falls)  # once per meter
        for _meter, at, after, source in asset_falls:
            assert after < 100  # near 0
            assert at.astimezone(LOCAL_TZ).date() == plan.resets[asset_id]
            assert source == ReadingSource.TECHNICIAN  # the engineer's read after the replacement


def test_seed_demo_technicians_read_counters_at_month_ends(seeded):
    technician_reads = Reading.objects.filter(source=ReadingSource.TECHNICIAN)
    assert technician_reads.values("asset_id").distinct().count() >= 6
    assert set(technician_reads.values_list("entered_by__membership__role", flat=True)) == {Role.TECHNICIAN}
    month_ends = [at.astimezone(LOCAL_TZ).date() for at in technician_reads.values_list("taken_at", flat=True)]
    assert sum((day + timedelta(days=7)).month != day.month for day in month_ends) > len(month_ends) * 0.8


def test_seed_demo_toner_falls_with_use_and_jumps_back_to_full_when_replaced(seeded):
    levels = series(SupplyLevel.objects.filter(supply__in=TONERS), key="supply", value="percent")
    replacements = 0
    for points in levels.values():
        for (_at, before, _source), (_at_after, after, _source_after) in pairwise(points):
            if after > before:
                assert after >= 90, "a toner level only rises when the cartridge is replaced"
                replacements += 1
    assert replacements > in_service_demo(AssetCategory.MFP).count() * 2
    assert {supply for _asset, supply in levels} == set(TONERS)
    assert not SupplyLevel.objects.filter(percent__gt=100).exists()
    assert DiagnosticEvent.objects.filter(code="TONER-LOW-K", cleared=False).count() > 50


def test_seed_demo_prints_far_less_at_weekends_and_on_japanese_holidays(seeded):
    holidays = japanese_holidays(2025) | japanese_holidays(2026)
    usage = defaultdict(list)
    for (_asset, _meter), points in series(
        Reading.objects.filter(meter=Meter.TOTAL_PAGES, source=ReadingSource.DEVICE)
    ).items():
        for (earlier, before, _source), (later, after, _source_after) in pairwise(points):
            day = earlier.astimezone(LOCAL_TZ).date()
            if later - earlier < timedelta(days=1, hours=1) and after >= before:
                off = day.weekday() == 6 or day in holidays or (day.month, day.day) in ((12, 30), (1, 2))
                usage["off" if off else "weekday" if day.weekday() < 5 else "saturday"].append(after - before)
    average = {kind: sum(values) / len(values) for kind, values in usage.items()}
    assert average["weekday"] > 8 * average["saturday"]
    assert average["saturday"] > average["off"]
    assert average["weekday"] > 20 * average["off"]


def test_seed_demo_leaves_assets_silent_now_and_last_seen_at_their_latest_report(seeded):
    in_service = Asset.objects.filter(customer__code__in=FLEETS, status__in=ASSET_IN_SERVICE_STATES)
    silent = in_service.filter(last_seen_at__lt=seeded - timedelta(hours=48))
    assert silent.exists()
    assert in_service.filter(last_seen_at__isnull=True).count() == 0
    latest = defaultdict(lambda: datetime.min.replace(tzinfo=LOCAL_TZ))
    for rows in (
        Reading.objects.filter(source=ReadingSource.DEVICE).values("asset_id").annotate(at=Max("taken_at")),
        SupplyLevel.objects.values("asset_id").annotate(at=Max("taken_at")),
        DiagnosticEvent.objects.values("asset_id").annotate(at=Max("occurred_at")),
    ):
        for row in rows:
            latest[row["asset_id"]] = max(latest[row["asset_id"]], row["at"])
    assert dict(in_service.values_list("pk", "last_seen_at")) == dict(latest)


def test_seed_demo_records_faults_and_impacts_with_g_force_and_operator(seeded):
    impacts = DiagnosticEvent.objects.filter(code="IMPACT", g_force__isnull=False)
    g_forces = list(impacts.values_list("g_force", flat=True))
    assert len(g_forces) > 100
    assert sum(g < Decimal("1.5") for g in g_forces) > len(g_forces) * 0.8
    assert 1 <= sum(g > Decimal("3") for g in g_forces) < 10
    assert not impacts.filter(operator_id="").exists()
    assert DiagnosticEvent.objects.filter(code="IMPACT", cleared=True).exists()
    recent_hard = impacts.filter(g_force__gt=3, occurred_at__gte=seeded - timedelta(days=4))
    assert recent_hard.exists(), "a hard impact whose lockout is still on"
    codes = set(DiagnosticEvent.objects.values_list("code", flat=True))
    assert {"SC542", "J101", "TONER-LOW-K", "E-21"} <= codes
    assert DiagnosticEvent.objects.filter(code__startswith="SC", cleared=True).exists()


def test_seed_demo_material_handling_reports_hours_picks_charge_and_energy(seeded):
    trucks = (AssetCategory.FORKLIFT, AssetCategory.REACH_TRUCK)
    truck_meters = set(Reading.objects.filter(asset__asset_model__category__in=trucks).values_list("meter", flat=True))
    assert truck_meters == {Meter.HOURS_KEY_ON, Meter.HOURS_TRAVEL, Meter.HOURS_LIFT, Meter.LIFT_CYCLES}
    assert Reading.objects.filter(asset__asset_model__category=AssetCategory.AGV, meter=Meter.PICKS).exists()
    assert Reading.objects.filter(meter=Meter.ENERGY_KWH).values("asset_id").distinct().count() >= 3
    charge = list(SupplyLevel.objects.filter(supply=Supply.BATTERY_SOC).values_list("percent", flat=True))
    assert min(charge) < 40 and max(charge) == 100


def test_seed_demo_creates_the_demo_alert_rules(seeded):
    rules = AlertRule.objects.filter(provider__code=PROVIDER_CODE)
    assert set(rules.values_list("kind", flat=True)) == set(AlertRuleKind.values)
    assert rules.get(kind=AlertRuleKind.SILENT).silent_hours == 48
    assert rules.get(kind=AlertRuleKind.IMPACT_ABOVE).threshold == Decimal("3")
    assert rules.get(kind=AlertRuleKind.EVENT_CODE).code_pattern == "SC*"
    assert rules.get(kind=AlertRuleKind.METER_ABOVE).threshold == Decimal("10000")
    assert rules.get(supply=Supply.TONER_BLACK).threshold == Decimal("10")


def test_seed_demo_twice_adds_no_telemetry(seeded):
    models = (Reading, SupplyLevel, DiagnosticEvent, AlertRule)
    before = {model: model.objects.count() for model in models}
    last_seen = dict(Asset.objects.values_list("pk", "last_seen_at"))
    seed_demo_to_telemetry()
    assert {model: model.objects.count() for model in models} == before
    assert dict(Asset.objects.values_list("pk", "last_seen_at")) == last_seen


def test_japanese_holidays_include_substitute_and_citizens_holidays():
    assert sorted(japanese_holidays(2026)) == [
        date(2026, 1, 1), date(2026, 1, 12), date(2026, 2, 11), date(2026, 2, 23), date(2026, 3, 20),
        date(2026, 4, 29), date(2026, 5, 3), date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 6),
        date(2026, 7, 20), date(2026, 8, 11), date(2026, 9, 21), date(2026, 9, 22), date(2026, 9, 23),
        date(2026, 10, 12), date(2026, 11, 3), date(2026, 11, 23),
    ]  # fmt: skip
    assert date(2025, 11, 24) in japanese_holidays(2025)  # 23 November 2025 fell on a Sunday


def test_write_rows_stores_what_the_orm_reads_back(asset):
    taken_at = datetime(2026, 3, 31, 23, 30, tzinfo=LOCAL_TZ)
    write_rows(
        Reading,
        ("asset_id", "meter", "taken_at", "value"),
        [(asset.pk, Meter.TOTAL_PAGES, taken_at, Decimal("123456.5"))],
    )
    write_rows(
        DiagnosticEvent,
        ("asset_id", "occurred_at", "code", "g_force", "raw"),
        [(asset.pk, taken_at, "IMPACT", Decimal("3.25"), {"g": "3.25"})],
    )
    reading = Reading.objects.get(asset=asset)
    assert (reading.taken_at, reading.value, reading.source) == (taken_at, Decimal("123456.5"), ReadingSource.DEVICE)
    assert reading.received_at is not None and reading.invalidation_reason == ""
    assert Reading.objects.filter(taken_at=datetime(2026, 3, 31, 14, 30, tzinfo=UTC)).exists()
    event = DiagnosticEvent.objects.get(asset=asset)
    assert (event.g_force, event.raw, event.cleared, event.severity) == (
        Decimal("3.25"),
        {"g": "3.25"},
        False,
        Severity.INFO,
    )


def test_seed_demo_opens_alerts_from_the_recent_history(seeded):
    from telemetry.choices import AlertRuleKind
    from telemetry.models import Alert

    kinds = set(Alert.objects.active().values_list("rule__kind", flat=True))
    assert {AlertRuleKind.SUPPLY_BELOW, AlertRuleKind.SILENT, AlertRuleKind.IMPACT_ABOVE} <= kinds
