"""Alert rules at work: evaluating ingested telemetry, the silent-device sweep, e-mail digests, work orders,
handling alerts by hand and maintaining rules."""

import datetime
import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.choices import Role
from accounts.models import OrganisationSettings
from accounts.tests.factories import CustomerFactory, ProviderFactory
from assets.choices import AssetCategory, AssetStatus
from assets.models import Asset
from assets.tests.factories import AssetFactory, AssetModelFactory
from telemetry import alerts, hooks
from telemetry.alerts import (
    IngestedBatch,
    IngestedEvent,
    IngestedLevel,
    IngestedReading,
    alerts_check_silent,
    alerts_evaluate_ingest,
    alerts_notify,
    alerts_sweep,
)
from telemetry.choices import AlertRuleKind, AlertStatus, Meter, Severity, Supply
from telemetry.models import Alert, AlertOccurrence, AlertRule, DiagnosticEvent
from telemetry.tests.alert_factories import AlertFactory, AlertRuleFactory

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2024, 6, 3, 9, 0, tzinfo=datetime.UTC)


def at(minutes: int) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def level(asset, percent: str, minutes: int = 0, supply: str = Supply.TONER_BLACK) -> IngestedLevel:
    return IngestedLevel(asset_id=asset.pk, supply=supply, taken_at=at(minutes), percent=Decimal(percent))


def event(asset, code: str, minutes: int = 0, **fields) -> IngestedEvent:
    fields.setdefault("severity", Severity.ERROR)
    return IngestedEvent(asset_id=asset.pk, code=code, occurred_at=at(minutes), **fields)


def stored_event(asset, code: str, minutes: int = 0, **fields) -> IngestedEvent:
    """An event as the ingest hands it over: already stored as a DiagnosticEvent."""
    item = event(asset, code, minutes, **fields)
    DiagnosticEvent.objects.create(
        asset=asset,
        code=code,
        occurred_at=item.occurred_at,
        severity=item.severity,
        message=item.message,
        g_force=item.g_force,
        cleared=item.cleared,
    )
    return item


def ingest(asset, *, readings=(), levels=(), events=()) -> None:
    alerts_evaluate_ingest(
        batch=IngestedBatch(
            customer_id=asset.customer_id, readings=list(readings), levels=list(levels), events=list(events)
        )
    )


@pytest.fixture
def toner_rule(provider):
    return AlertRuleFactory(provider=provider, name="Black toner below 10%")


@pytest.fixture
def opener(monkeypatch):
    """A registered work-order opener that records the alerts it was called for."""
    opened: list[int] = []
    monkeypatch.setattr(hooks, "_work_order_openers", [lambda alert: opened.append(alert.pk)])
    return opened


# --- Opening, repeating, resolving ------------------------------------------------------------------------------


def test_low_toner_opens_an_alert_with_its_first_occurrence(asset, toner_rule):
    ingest(asset, levels=[level(asset, "4", minutes=5)])

    alert = Alert.objects.get()
    assert (alert.asset, alert.rule, alert.customer) == (asset, toner_rule, asset.customer)
    assert (alert.condition, alert.status, alert.severity) == (Supply.TONER_BLACK, AlertStatus.OPEN, Severity.WARNING)
    assert (alert.count, alert.first_seen_at, alert.last_seen_at, alert.message) == (1, at(5), at(5), "4%")
    assert list(alert.occurrences.values_list("at", "message")) == [(at(5), "4%")]


def test_repeat_raises_count_and_last_seen_instead_of_a_new_alert(asset, toner_rule):
    ingest(asset, levels=[level(asset, "4", minutes=0)])
    ingest(asset, levels=[level(asset, "3", minutes=60)])
    ingest(asset, levels=[level(asset, "2", minutes=120), level(asset, "1", minutes=180)])

    alert = Alert.objects.get()
    assert alert.count == 4
    assert (alert.first_seen_at, alert.last_seen_at, alert.message) == (at(0), at(180), "1%")
    assert alert.occurrences.count() == 4


def test_level_at_or_above_the_threshold_opens_nothing(asset, toner_rule):
    ingest(asset, levels=[level(asset, "10"), level(asset, "55", minutes=1)])
    assert not Alert.objects.exists()


def test_toner_back_above_threshold_after_a_replacement_resolves_the_alert(asset, toner_rule):
    ingest(asset, levels=[level(asset, "4", minutes=0)])
    ingest(asset, levels=[level(asset, "100", minutes=90)])

    alert = Alert.objects.get()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_at == at(90)
    assert alert.resolved_by is None


def test_a_late_clearing_level_does_not_resolve_a_newer_sighting(asset, toner_rule):
    ingest(asset, levels=[level(asset, "4", minutes=60)])
    ingest(asset, levels=[level(asset, "80", minutes=30)])  # uploaded late: older than the sighting

    assert Alert.objects.get().status == AlertStatus.OPEN


def test_condition_back_after_resolution_opens_a_new_alert(asset, toner_rule):
    ingest(asset, levels=[level(asset, "4", minutes=0)])
    ingest(asset, levels=[level(asset, "100", minutes=10), level(asset, "6", minutes=20)])

    assert list(Alert.objects.order_by("pk").values_list("status", "first_seen_at", "count")) == [
        (AlertStatus.RESOLVED, at(0), 1),
        (AlertStatus.OPEN, at(20), 1),
    ]


def test_rule_without_supply_watches_every_supply_each_as_its_own_condition(provider, asset):
    AlertRuleFactory(provider=provider, supply="", threshold=Decimal("15"))
    ingest(
        asset,
        levels=[
            level(asset, "5"),
            level(asset, "50", minutes=0, supply=Supply.DRUM),
            level(asset, "8", minutes=1, supply=Supply.DRUM),
            level(asset, "90", minutes=0, supply=Supply.TONER_CYAN),
        ],
    )

    assert sorted(Alert.objects.values_list("condition", flat=True)) == [Supply.DRUM, Supply.TONER_BLACK]


def test_event_code_pattern_opens_an_alert_linked_to_the_event(provider, asset):
    rule = AlertRuleFactory(
        provider=provider, kind=AlertRuleKind.EVENT_CODE, code_pattern="sc5*", severity=Severity.WARNING
    )
    ingest(
        asset,
        events=[
            stored_event(asset, "SC542", minutes=1, message="Fusing temperature"),
            stored_event(asset, "J101", minutes=2),
        ],
    )

    alert = Alert.objects.get()
    assert (alert.rule, alert.condition, alert.message) == (rule, "SC542", "Fusing temperature")
    occurrence = alert.occurrences.get()
    assert occurrence.event == DiagnosticEvent.objects.get(code="SC542")


def test_cleared_event_of_the_same_code_resolves_the_alert(provider, asset):
    AlertRuleFactory(provider=provider, kind=AlertRuleKind.EVENT_CODE, code_pattern="SC5*")
    ingest(asset, events=[stored_event(asset, "SC542", minutes=1), stored_event(asset, "SC543", minutes=2)])
    ingest(asset, events=[stored_event(asset, "SC542", minutes=30, cleared=True)])

    assert dict(Alert.objects.values_list("condition", "status")) == {
        "SC542": AlertStatus.RESOLVED,
        "SC543": AlertStatus.OPEN,
    }


def test_impact_above_the_g_force_opens_an_alert_and_a_light_bump_does_not(provider, asset):
    AlertRuleFactory(provider=provider, kind=AlertRuleKind.IMPACT_ABOVE, threshold=Decimal("3.0"))
    ingest(
        asset,
        events=[
            stored_event(asset, "IMPACT", minutes=1, g_force=Decimal("2.80")),
            stored_event(asset, "IMPACT", minutes=2, g_force=Decimal("4.50"), message="Rack collision"),
        ],
    )

    alert = Alert.objects.get()
    assert (alert.condition, alert.count, alert.message) == ("IMPACT", 1, "4.5 g · Rack collision")


def test_meter_past_threshold_opens_an_alert(provider, asset):
    AlertRuleFactory(provider=provider, kind=AlertRuleKind.METER_ABOVE, meter=Meter.HOURS_KEY_ON, threshold=5000)
    reading = IngestedReading(asset_id=asset.pk, meter=Meter.HOURS_KEY_ON, taken_at=at(0), value=Decimal("5000.5"))
    other_meter = IngestedReading(asset_id=asset.pk, meter=Meter.PICKS, taken_at=at(0), value=Decimal("999999"))
    ingest(asset, readings=[reading, other_meter])

    assert list(Alert.objects.values_list("condition", "message")) == [(Meter.HOURS_KEY_ON, "5000.5")]


def test_rules_watch_only_their_scope(provider, customer, other_customer, site):
    forklift_model = AssetModelFactory(name="8FBE15", category=AssetCategory.FORKLIFT)
    mfp = AssetFactory(customer=customer, site=site)
    forklift = AssetFactory(customer=customer, site=site, asset_model=forklift_model)
    others = AssetFactory(customer=other_customer)
    only_customer = AlertRuleFactory(provider=provider, customer=customer, name="customer")
    only_model = AlertRuleFactory(provider=provider, asset_model=forklift_model, name="model", supply="")
    only_category = AlertRuleFactory(provider=provider, category=AssetCategory.MFP, name="category")
    AlertRuleFactory(provider=provider, name="inactive", is_active=False)
    AlertRuleFactory(provider=ProviderFactory(code="p2", name="Second provider"), name="other provider")

    for asset in (mfp, forklift, others):
        supply = Supply.BATTERY_SOC if asset == forklift else Supply.TONER_BLACK
        ingest(asset, levels=[level(asset, "1", supply=supply)])

    assert set(Alert.objects.values_list("asset", "rule")) == {
        (mfp.pk, only_customer.pk),
        (mfp.pk, only_category.pk),
        (forklift.pk, only_model.pk),
        (others.pk, only_category.pk),
    }


def test_asset_out_of_service_raises_nothing_but_clears_still_resolve(asset, toner_rule):
    ingest(asset, levels=[level(asset, "4", minutes=0)])
    Asset.objects.filter(pk=asset.pk).update(status=AssetStatus.IN_STORAGE)

    ingest(asset, levels=[level(asset, "100", minutes=10), level(asset, "3", minutes=20)])

    assert list(Alert.objects.values_list("status", flat=True)) == [AlertStatus.RESOLVED]


def test_acknowledged_alert_still_counts_repeats(asset, toner_rule, provider):
    ingest(asset, levels=[level(asset, "4", minutes=0)])
    desk = _member(provider, Role.SERVICE_DESK)
    alerts.alert_acknowledge(alert=Alert.objects.get(), by=desk, note="Toner ordered")

    ingest(asset, levels=[level(asset, "2", minutes=60)])

    alert = Alert.objects.get()
    assert (alert.status, alert.count) == (AlertStatus.ACKNOWLEDGED, 2)


def test_a_concurrent_ingest_opening_the_same_alert_gets_our_sighting_added(asset, toner_rule):
    """Another ingest commits the same alert between our read of the active alerts and our insert."""
    real_observations = alerts._observations

    def racing_observations(*args, **kwargs):
        AlertFactory(asset=asset, rule=toner_rule, first_seen_at=at(0), last_seen_at=at(0), count=1, message="5%")
        return real_observations(*args, **kwargs)

    with mock.patch.object(alerts, "_observations", racing_observations):
        ingest(asset, levels=[level(asset, "4", minutes=10)])

    alert = Alert.objects.get()
    assert (alert.count, alert.first_seen_at, alert.last_seen_at, alert.message) == (2, at(0), at(10), "4%")
    assert alert.occurrences.count() == 1


def test_the_database_refuses_a_second_active_alert_for_one_condition(asset, toner_rule):
    AlertFactory(asset=asset, rule=toner_rule)
    AlertFactory(asset=asset, rule=toner_rule, status=AlertStatus.RESOLVED)  # history is fine
    with pytest.raises(IntegrityError), transaction.atomic():
        AlertFactory(asset=asset, rule=toner_rule, status=AlertStatus.ACKNOWLEDGED)


# --- Work orders ------------------------------------------------------------------------------------------------


def test_severe_alert_asks_for_a_work_order_once(asset, provider, opener, django_capture_on_commit_callbacks):
    AlertRuleFactory(provider=provider, severity=Severity.ERROR)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(asset, levels=[level(asset, "4", minutes=0)])
    alert = Alert.objects.get()
    assert opener == [alert.pk]
    requested_at = alert.work_order_requested_at
    assert requested_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        ingest(asset, levels=[level(asset, "3", minutes=10)])
    alerts_sweep()

    alert.refresh_from_db()
    assert opener == [alert.pk]
    assert alert.work_order_requested_at == requested_at


def test_warning_alert_asks_for_no_work_order(asset, toner_rule, opener, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ingest(asset, levels=[level(asset, "4")])
    alerts_sweep()

    assert opener == []
    assert Alert.objects.get().work_order_requested_at is None


def test_without_an_opener_the_alert_records_that_it_asked(asset, provider, monkeypatch):
    monkeypatch.setattr(hooks, "_work_order_openers", [])
    alert = AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider, severity=Severity.CRITICAL))

    assert hooks.request_work_order(alert) is True
    assert hooks.request_work_order(alert) is False
    assert Alert.objects.get().work_order_requested_at is not None


def test_a_failing_opener_leaves_the_alert_for_the_next_sweep(asset, provider, monkeypatch):
    def broken(alert):
        raise RuntimeError("maintenance is down")

    monkeypatch.setattr(hooks, "_work_order_openers", [broken])
    AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider, severity=Severity.ERROR))

    assert alerts_sweep().work_orders_requested == 0
    assert Alert.objects.get().work_order_requested_at is None

    monkeypatch.setattr(hooks, "_work_order_openers", [])
    assert alerts_sweep().work_orders_requested == 1


# --- Query counts -----------------------------------------------------------------------------------------------


def _storm_batch(customer, site, size: int) -> IngestedBatch:
    """``size`` assets each with a low toner level, a matching event and a meter reading; half already alerting."""
    model = AssetModelFactory(name=f"Storm model {size}")
    assets = AssetFactory.create_batch(size, customer=customer, site=site, asset_model=model)
    rule = AlertRule.objects.get(kind=AlertRuleKind.SUPPLY_BELOW)
    for asset in assets[: size // 2]:
        AlertFactory(asset=asset, rule=rule)
    DiagnosticEvent.objects.bulk_create(
        DiagnosticEvent(asset=asset, code="SC501", occurred_at=at(1), severity=Severity.ERROR) for asset in assets
    )
    return IngestedBatch(
        customer_id=customer.pk,
        readings=[
            IngestedReading(asset_id=a.pk, meter=Meter.TOTAL_PAGES, taken_at=at(1), value=Decimal("2000000"))
            for a in assets
        ],
        levels=[level(a, "3", minutes=1) for a in assets],
        events=[event(a, "SC501", minutes=1) for a in assets],
    )


@pytest.mark.parametrize("size", [10, 1000])
def test_evaluating_a_batch_takes_the_same_queries_at_any_size(provider, customer, site, size):
    AlertRuleFactory(provider=provider)
    AlertRuleFactory(provider=provider, kind=AlertRuleKind.EVENT_CODE, code_pattern="SC5*")
    AlertRuleFactory(provider=provider, kind=AlertRuleKind.METER_ABOVE, meter=Meter.TOTAL_PAGES, threshold=1000000)
    AlertRuleFactory(provider=provider, kind=AlertRuleKind.SILENT)
    batch = _storm_batch(customer, site, size)

    with CaptureQueriesContext(connection) as queries:
        alerts_evaluate_ingest(batch=batch)

    # Assets, rules, active alerts, create, re-read, sightings, events, occurrences, and the savepoint pair.
    assert len(queries) == 10, [query["sql"][:120] for query in queries]
    assert Alert.objects.count() == 3 * size
    assert Alert.objects.filter(count=2).count() == size // 2
    assert AlertOccurrence.objects.count() == 3 * size


# --- The silent-device sweep ------------------------------------------------------------------------------------


@pytest.fixture
def silent_rule(provider):
    return AlertRuleFactory(provider=provider, kind=AlertRuleKind.SILENT, silent_hours=24, name="Silent a day")


def _seen(asset, hours_ago: float | None, now: datetime.datetime) -> Asset:
    last_seen = None if hours_ago is None else now - datetime.timedelta(hours=hours_ago)
    Asset.objects.filter(pk=asset.pk).update(last_seen_at=last_seen)
    asset.refresh_from_db()
    return asset


def test_silent_sweep_opens_an_alert_for_an_asset_not_heard_from(customer, site, silent_rule):
    now = timezone.now()
    quiet = _seen(AssetFactory(customer=customer, site=site), 30, now)
    _seen(AssetFactory(customer=customer, site=site), 2, now)
    _seen(AssetFactory(customer=customer, site=site, status=AssetStatus.RETIRED), 300, now)

    result = alerts_check_silent(now=now)

    alert = Alert.objects.get()
    assert (result.opened, result.resolved) == (1, 0)
    assert (alert.asset, alert.rule, alert.condition, alert.count) == (quiet, silent_rule, "silent", 1)
    assert alert.occurrences.count() == 1


def test_never_seen_asset_in_service_is_silent_once_past_its_grace(customer, site, silent_rule):
    now = timezone.now()
    old = AssetFactory(customer=customer, site=site, install_date=datetime.date(2023, 4, 1))
    Asset.objects.filter(pk=old.pk).update(created_at=now - datetime.timedelta(days=30))
    AssetFactory(customer=customer, site=site, install_date=None)  # registered just now
    just_installed = AssetFactory(customer=customer, site=site, install_date=now.date())
    Asset.objects.filter(pk=just_installed.pk).update(created_at=now - datetime.timedelta(days=30))

    alerts_check_silent(now=now)

    assert list(Alert.objects.values_list("asset", flat=True)) == [old.pk]


def test_silent_rule_without_hours_follows_each_customers_setting(provider, customer, other_customer, site):
    AlertRuleFactory(provider=provider, kind=AlertRuleKind.SILENT, silent_hours=None)
    OrganisationSettings.objects.filter(organisation=customer).update(silent_device_hours=2)
    now = timezone.now()
    strict = _seen(AssetFactory(customer=customer, site=site), 3, now)
    _seen(AssetFactory(customer=other_customer), 3, now)  # the provider's default of 24 hours applies

    alerts_check_silent(now=now)

    assert list(Alert.objects.values_list("asset", flat=True)) == [strict.pk]


def test_device_reporting_again_resolves_the_silent_alert_at_ingest(customer, site, silent_rule, toner_rule):
    now = timezone.now()
    asset = _seen(AssetFactory(customer=customer, site=site), 30, now)
    alerts_check_silent(now=now)

    ingest(asset, levels=[level(asset, "80")])

    assert Alert.objects.get().status == AlertStatus.RESOLVED


def test_sweep_resolves_a_silent_alert_once_the_asset_was_heard_from(customer, site, silent_rule):
    now = timezone.now()
    asset = _seen(AssetFactory(customer=customer, site=site), 30, now)
    alerts_check_silent(now=now)
    _seen(asset, 0.5, now + datetime.timedelta(hours=1))

    result = alerts_check_silent(now=now + datetime.timedelta(hours=1))

    assert (result.opened, result.resolved) == (0, 1)
    assert Alert.objects.get().status == AlertStatus.RESOLVED


def _state():
    return (
        list(Alert.objects.order_by("pk").values()),
        list(AlertOccurrence.objects.order_by("pk").values()),
        len(mail.outbox),
    )


def test_sweep_run_twice_changes_nothing_the_second_time(provider, customer, site, silent_rule, opener):
    _member(customer, Role.CUSTOMER_ADMIN)
    silent_rule.severity = Severity.ERROR
    silent_rule.save()
    now = timezone.now()
    for hours in (30, 40, 1):
        _seen(AssetFactory(customer=customer, site=site), hours, now)

    first = alerts_sweep(now=now)
    after_first = _state()
    second = alerts_sweep(now=now + datetime.timedelta(minutes=5))

    assert (first.silent_opened, first.work_orders_requested, first.emails_sent) == (2, 2, 1)
    assert (second.silent_opened, second.silent_resolved, second.work_orders_requested, second.emails_sent) == (
        0,
        0,
        0,
        0,
    )
    assert _state() == after_first
    assert len(opener) == 2


def test_manage_py_alerts_sweep_runs_the_sweep(customer, site, silent_rule):
    from django.core.management import call_command

    _seen(AssetFactory(customer=customer, site=site), 30, timezone.now())
    call_command("alerts_sweep", stdout=(out := _Out()))

    assert "silent_opened=1" in out.text
    assert Alert.objects.count() == 1


class _Out:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_worker_skips_the_rule_another_is_checking(customer, site, silent_rule):
    now = timezone.now()
    _seen(AssetFactory(customer=customer, site=site), 30, now)
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        with transaction.atomic():
            AlertRule.objects.select_for_update().get(pk=silent_rule.pk)
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        assert alerts_check_silent(now=now).opened == 0
    finally:
        release.set()
        thread.join()
    assert alerts_check_silent(now=now).opened == 1


# --- E-mail digests ---------------------------------------------------------------------------------------------


def _member(organisation, role, **fields):
    from accounts.tests.factories import member

    return member(organisation, role, **fields)


def test_a_storm_sends_one_email_per_recipient_in_their_language(provider, customer, other_customer, site):
    rule = AlertRuleFactory(provider=provider, kind=AlertRuleKind.EVENT_CODE, code_pattern="*")
    english = _member(customer, Role.CUSTOMER_ADMIN, email="en@acme.example", language="en")
    japanese = _member(customer, Role.CUSTOMER_ADMIN, email="ja@acme.example", language="ja")
    other = _member(other_customer, Role.CUSTOMER_ADMIN, email="admin@other.example", language="en")
    desk = _member(provider, Role.SERVICE_DESK, email="desk@provider.example", language="en")
    _member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")
    _member(provider, Role.PROVIDER_ADMIN, email="boss@provider.example")
    assets = AssetFactory.create_batch(3, customer=customer, site=site)
    other_asset = AssetFactory(customer=other_customer)
    for asset in assets:
        ingest(asset, events=[event(asset, f"E{n:03d}", minutes=n) for n in range(10)])
    ingest(other_asset, events=[event(other_asset, "E999")])

    assert alerts_notify() == 4

    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert set(by_recipient) == {english.email, japanese.email, other.email, desk.email}
    assert by_recipient[english.email].subject == "Fleet portal: 30 new alerts"
    # Each in the recipient's language and the organisation's time zone (09:00 UTC is 18:00 in Tokyo).
    assert "06/03/2024 6 p.m." in by_recipient[english.email].body
    assert "2024/06/03 18:00" in by_recipient[japanese.email].body
    assert by_recipient[other.email].subject == "Fleet portal: 1 new alert"
    assert by_recipient[desk.email].subject == "Fleet portal: 31 new alerts"
    assert customer.name in by_recipient[desk.email].body
    assert customer.name not in by_recipient[english.email].body
    assert rule.name in by_recipient[english.email].body
    assert not Alert.objects.filter(notified_at__isnull=True).exists()

    ingest(assets[0], events=[event(assets[0], "E000", minutes=99)])  # a repeat is no new alert
    assert alerts_notify() == 0
    assert len(mail.outbox) == 4


def test_rule_without_notifications_sends_nothing_but_is_dealt_with(provider, customer, asset):
    _member(customer, Role.CUSTOMER_ADMIN)
    AlertRuleFactory(provider=provider, notify=False)
    ingest(asset, levels=[level(asset, "4")])

    assert alerts_notify() == 0
    assert mail.outbox == []
    assert Alert.objects.get().notified_at is not None


def test_a_failed_send_leaves_the_alerts_for_the_next_sweep(provider, customer, asset, toner_rule):
    _member(customer, Role.CUSTOMER_ADMIN)
    ingest(asset, levels=[level(asset, "4")])

    with (
        mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=OSError),
        pytest.raises(OSError),
    ):
        alerts_notify()
    assert Alert.objects.get().notified_at is None

    assert alerts_notify() == 1


# --- Handling alerts by hand ------------------------------------------------------------------------------------


def test_acknowledge_then_resolve_with_notes(provider, asset, toner_rule):
    desk = _member(provider, Role.SERVICE_DESK)
    alert = AlertFactory(asset=asset, rule=toner_rule)

    alerts.alert_acknowledge(alert=alert, by=desk, note=" Toner shipped ")
    alerts.alert_resolve(alert=alert, by=desk, note="Customer replaced the cartridge")

    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.acknowledgement_note) == (
        AlertStatus.RESOLVED,
        desk,
        "Toner shipped",
    )
    assert (alert.resolved_by, alert.resolution_note) == (desk, "Customer replaced the cartridge")
    assert alert.resolved_at >= alert.acknowledged_at


def test_resolving_needs_a_note_and_an_active_alert(provider, asset, toner_rule):
    admin = _member(provider, Role.PROVIDER_ADMIN)
    alert = AlertFactory(asset=asset, rule=toner_rule)

    with pytest.raises(ValidationError) as error:
        alerts.alert_resolve(alert=alert, by=admin, note="  ")
    assert error.value.message_dict == {"note": [str(alerts.RESOLUTION_NOTE_REQUIRED)]}

    alerts.alert_resolve(alert=alert, by=admin, note="Done")
    with pytest.raises(ValidationError, match=str(alerts.ALERT_ALREADY_RESOLVED)):
        alerts.alert_resolve(alert=alert, by=admin, note="Again")
    with pytest.raises(ValidationError, match=str(alerts.ALERT_NOT_OPEN)):
        alerts.alert_acknowledge(alert=alert, by=admin)


def test_only_alert_handlers_acknowledge(customer_admin, asset, toner_rule):
    alert = AlertFactory(asset=asset, rule=toner_rule)
    with pytest.raises(ValidationError, match=str(alerts.NOT_ALLOWED_TO_HANDLE)):
        alerts.alert_acknowledge(alert=alert, by=customer_admin)
    assert Alert.objects.get().status == AlertStatus.OPEN


# --- Rules ------------------------------------------------------------------------------------------------------


def test_rule_create_keeps_only_the_fields_of_its_kind(provider_admin, provider):
    rule = alerts.alert_rule_create(
        by=provider_admin,
        name="Jams",
        kind=AlertRuleKind.EVENT_CODE,
        code_pattern=" J* ",
        threshold=Decimal("5"),
        supply=Supply.DRUM,
        silent_hours=3,
    )

    assert (rule.provider, rule.code_pattern, rule.threshold, rule.supply, rule.silent_hours) == (
        provider,
        "J*",
        None,
        "",
        None,
    )


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"kind": AlertRuleKind.EVENT_CODE}, {"code_pattern": alerts.RULE_NEEDS_CODE_PATTERN}),
        ({"kind": AlertRuleKind.SUPPLY_BELOW}, {"threshold": alerts.RULE_NEEDS_THRESHOLD}),
        ({"kind": AlertRuleKind.SUPPLY_BELOW, "threshold": Decimal("150")}, {"threshold": alerts.RULE_PERCENT_RANGE}),
        (
            {"kind": AlertRuleKind.IMPACT_ABOVE, "threshold": Decimal("0")},
            {"threshold": alerts.RULE_THRESHOLD_POSITIVE},
        ),
        (
            {"kind": AlertRuleKind.METER_ABOVE, "threshold": Decimal("-1")},
            {"meter": alerts.RULE_NEEDS_METER, "threshold": alerts.RULE_THRESHOLD_NOT_NEGATIVE},
        ),
    ],
)
def test_rule_create_rejects_incomplete_conditions(provider_admin, fields, errors):
    with pytest.raises(ValidationError) as error:
        alerts.alert_rule_create(by=provider_admin, name="Rule", **fields)
    assert error.value.message_dict == {field: [str(message)] for field, message in errors.items()}
    assert not AlertRule.objects.exists()


def test_rule_cannot_name_another_providers_customer(provider_admin):
    stranger = CustomerFactory(provider=ProviderFactory(code="p2", name="Second provider"))
    with pytest.raises(ValidationError) as error:
        alerts.alert_rule_create(by=provider_admin, name="R", kind=AlertRuleKind.SILENT, customer=stranger)
    assert error.value.message_dict == {"customer": [str(alerts.RULE_CUSTOMER_NOT_YOURS)]}


@pytest.mark.parametrize("role", [Role.SERVICE_DESK, Role.ACCOUNT_MANAGER])
def test_only_provider_admins_manage_rules(provider, role):
    with pytest.raises(ValidationError, match=str(alerts.NOT_ALLOWED_TO_MANAGE_RULES)):
        alerts.alert_rule_create(by=_member(provider, role), name="R", kind=AlertRuleKind.SILENT)


def test_deactivated_rule_opens_nothing_and_its_open_alert_stays(provider_admin, asset, toner_rule):
    ingest(asset, levels=[level(asset, "4", minutes=0)])
    alerts.alert_rule_set_active(rule=toner_rule, active=False, by=provider_admin)

    ingest(asset, levels=[level(asset, "3", minutes=10)])

    alert = Alert.objects.get()
    assert (alert.status, alert.count) == (AlertStatus.OPEN, 1)


def test_rules_visible_to_each_role(provider, customer, other_customer):
    general = AlertRuleFactory(provider=provider, name="general")
    own = AlertRuleFactory(provider=provider, customer=customer, name="own")
    others = AlertRuleFactory(provider=provider, customer=other_customer, name="others")
    AlertRuleFactory(provider=ProviderFactory(code="p2", name="Second provider"), name="p2")
    manager = _member(provider, Role.ACCOUNT_MANAGER)
    other_customer.account_managers.add(manager)

    def names(user):
        return set(alerts.alert_rule_list(user=user).values_list("name", flat=True))

    assert names(_member(provider, Role.SERVICE_DESK)) == {general.name, own.name, others.name}
    assert names(_member(customer, Role.CUSTOMER_VIEWER)) == {general.name, own.name}
    assert names(_member(customer, Role.CUSTOMER_OPERATOR)) == {general.name, own.name}
    assert names(manager) == {general.name, others.name}
    assert names(_member(provider, Role.TECHNICIAN)) == {general.name}


def test_alert_counts_count_active_alerts_by_severity_and_silent_assets(provider, customer_admin, asset, site):
    AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider, severity=Severity.CRITICAL))
    AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider), status=AlertStatus.RESOLVED)
    silent = AlertRuleFactory(provider=provider, kind=AlertRuleKind.SILENT)
    AlertFactory(asset=asset, rule=silent, condition="silent", status=AlertStatus.ACKNOWLEDGED)
    AlertFactory(rule=silent, condition="silent")  # another customer's

    counts = alerts.alert_counts(user=customer_admin)

    assert counts["by_severity"] == {"info": 0, "warning": 1, "error": 0, "critical": 1}
    assert (counts["total"], counts["silent"]) == (2, 1)


def test_a_rule_with_alerts_of_one_customer_cannot_be_narrowed_to_another(
    provider, provider_admin, asset, other_customer
):
    alert = AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider))

    with pytest.raises(ValidationError) as error:
        alerts.alert_rule_update(rule=alert.rule, by=provider_admin, customer=other_customer)

    assert error.value.message_dict["customer"] == [str(alerts.RULE_HAS_OTHER_CUSTOMERS_ALERTS)]
    narrowed = alerts.alert_rule_update(rule=alert.rule, by=provider_admin, customer=asset.customer)
    assert narrowed.customer == asset.customer
