"""The ingest service: bulk checks, asset resolution within one customer, duplicates, idempotency, the write,
last-seen times, the alert hand-off, manual reads and CSV uploads."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.choices import Role
from assets.choices import AssetCategory
from assets.tests.factories import AssetFactory, AssetModelFactory, ManufacturerFactory
from telemetry import ingest
from telemetry.choices import Meter, ReadingSource, Severity, Supply
from telemetry.keys import collector_key_create
from telemetry.models import CollectorKey, DiagnosticEvent, IngestRequest, Reading, SupplyLevel
from telemetry.tests.reading_factories import ReadingFactory

pytestmark = pytest.mark.django_db

T = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


def reading(asset, value=1000, at=T, meter=Meter.TOTAL_PAGES, **extra) -> dict:
    return {"type": "reading", "asset": asset.pk, "meter": meter, "taken_at": at.isoformat(), "value": value, **extra}


def level(asset, percent="42.5", at=T, supply=Supply.TONER_BLACK) -> dict:
    return {"type": "supply", "asset": asset.pk, "supply": supply, "taken_at": at.isoformat(), "percent": percent}


def event(asset, code="SC542", at=T, **extra) -> dict:
    return {"type": "event", "asset": asset.pk, "code": code, "occurred_at": at.isoformat(), **extra}


@pytest.fixture
def alerts_calls(monkeypatch):
    """The batches handed to the alert rules."""
    calls = []
    monkeypatch.setattr(ingest, "alerts_evaluate_ingest", lambda *, batch: calls.append(batch))
    return calls


# Storing and counting


def test_readings_levels_and_events_are_stored(customer, asset, alerts_calls):
    result = ingest.telemetry_ingest(
        customer=customer,
        items=[
            reading(asset, value=Decimal("1520.5")),
            level(asset),
            event(asset, severity=Severity.ERROR, message="Fuser", g_force="2.75", operator_id="OP-1", raw={"a": 1}),
        ],
    )

    assert (result.accepted, result.duplicates, result.rejected, result.errors) == (3, 0, 0, [])
    stored = Reading.objects.get()
    assert (stored.asset, stored.meter, stored.taken_at, stored.value) == (
        asset,
        Meter.TOTAL_PAGES,
        T,
        Decimal("1520.5"),
    )
    assert stored.source == ReadingSource.DEVICE and stored.entered_by is None
    assert SupplyLevel.objects.get().percent == Decimal("42.50")
    stored_event = DiagnosticEvent.objects.get()
    assert (stored_event.code, stored_event.severity, stored_event.g_force) == ("SC542", "error", Decimal("2.75"))
    assert (stored_event.message, stored_event.operator_id, stored_event.raw) == ("Fuser", "OP-1", {"a": 1})


def test_replayed_batch_stores_nothing_and_counts_duplicates(customer, asset, alerts_calls):
    items = [reading(asset), level(asset), event(asset)]
    ingest.telemetry_ingest(customer=customer, items=items)

    again = ingest.telemetry_ingest(customer=customer, items=items)

    assert (again.accepted, again.duplicates, again.rejected) == (0, 3, 0)
    assert (Reading.objects.count(), SupplyLevel.objects.count(), DiagnosticEvent.objects.count()) == (1, 1, 1)
    assert len(alerts_calls) == 1  # the replay brought nothing new to evaluate


def test_a_repeat_within_the_batch_is_a_duplicate_and_the_first_wins(customer, asset, alerts_calls):
    result = ingest.telemetry_ingest(customer=customer, items=[reading(asset, value=10), reading(asset, value=99)])
    assert (result.accepted, result.duplicates) == (1, 1)
    assert Reading.objects.get().value == 10


def test_the_same_time_from_another_source_is_another_reading(customer, asset, customer_admin, alerts_calls):
    ingest.telemetry_ingest(customer=customer, items=[reading(asset)])
    result = ingest.telemetry_ingest(customer=customer, items=[reading(asset)], source=ReadingSource.CUSTOMER)
    assert result.accepted == 1
    assert Reading.objects.count() == 2


def test_readings_backwards_in_time_and_late_are_stored(customer, asset, alerts_calls):
    ingest.telemetry_ingest(customer=customer, items=[reading(asset, value=5000, at=T)])
    result = ingest.telemetry_ingest(
        customer=customer,
        items=[
            reading(asset, value=100, at=T + datetime.timedelta(hours=1)),  # counter went back (a reset)
            reading(asset, value=4000, at=T - datetime.timedelta(days=40)),  # a month late
        ],
    )
    assert result.accepted == 2
    assert Reading.objects.count() == 3


def test_invalid_items_are_rejected_by_index_and_never_block_the_valid(customer, asset, alerts_calls):
    items = [
        reading(asset, value=1),
        reading(asset, value=-5, at=T + datetime.timedelta(minutes=1)),
        "not an object",
        reading(asset, meter="pages_of_gold"),
        reading(asset, at=T + datetime.timedelta(minutes=2)) | {"taken_at": "yesterday"},
        level(asset, percent="100.5"),
        {"type": "telepathy", "asset": asset.pk},
        event(asset, code="E\x00"),
        level(asset, percent="99.5", at=T + datetime.timedelta(minutes=3)),
    ]

    result = ingest.telemetry_ingest(customer=customer, items=items)

    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, 7)
    reasons = dict(result.errors)
    assert list(reasons) == [1, 2, 3, 4, 5, 6, 7]
    assert reasons[1] == ingest.NUMBER_NEGATIVE % {"field": "value"}
    assert reasons[2] == ingest.ITEM_NOT_OBJECT
    assert reasons[3] == ingest.METER_UNKNOWN % {"values": ", ".join(Meter.values)}
    assert reasons[4] == ingest.TIME_INVALID % {"field": "taken_at"}
    assert reasons[5] == ingest.PERCENT_ABOVE_100
    assert reasons[6] == ingest.TYPE_UNKNOWN
    assert reasons[7] == ingest.TEXT_HAS_NUL % {"field": "code"}
    assert Reading.objects.count() == 1 and SupplyLevel.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"taken_at": "2026-03-02T09:00:00"}, ingest.TIME_NAIVE % {"field": "taken_at"}),
        ({"taken_at": "2026-02-30T09:00:00Z"}, ingest.TIME_INVALID % {"field": "taken_at"}),
        ({"taken_at": "1969-12-31T23:00:00Z"}, ingest.TIME_OUT_OF_RANGE % {"field": "taken_at"}),
        ({"taken_at": None}, ingest.TIME_MISSING % {"field": "taken_at"}),
        ({"taken_at": 1772441600}, ingest.TIME_INVALID % {"field": "taken_at"}),
        ({"value": "12x"}, ingest.NUMBER_INVALID % {"field": "value"}),
        ({"value": True}, ingest.NUMBER_INVALID % {"field": "value"}),
        ({"value": None}, ingest.NUMBER_MISSING % {"field": "value"}),
        ({"value": Decimal("NaN")}, ingest.NUMBER_INVALID % {"field": "value"}),
        ({"value": 10**13}, ingest.NUMBER_TOO_LARGE % {"field": "value"}),
        ({"asset": "12"}, ingest.ASSET_ID_INVALID),
        ({"asset": None}, ingest.ASSET_NOT_NAMED),
        ({"asset": None, "serial": "A" * 65}, ingest.TEXT_TOO_LONG % {"field": "serial", "max": 64}),
        ({"asset": None, "serial": "SN\x00"}, ingest.TEXT_HAS_NUL % {"field": "serial"}),
    ],
)
def test_reading_fields_are_checked(customer, asset, alerts_calls, change, reason):
    result = ingest.telemetry_ingest(customer=customer, items=[reading(asset) | change])
    assert result.errors == [(0, reason)]
    assert not Reading.objects.exists()


def test_a_reading_more_than_a_day_ahead_is_rejected_one_a_little_ahead_is_kept(customer, asset, alerts_calls):
    now = timezone.now()
    result = ingest.telemetry_ingest(
        customer=customer,
        items=[
            reading(asset, at=now + datetime.timedelta(hours=2)),
            reading(asset, at=now + datetime.timedelta(days=2)),
        ],
    )
    assert result.accepted == 1
    assert result.errors == [(1, ingest.TIME_IN_FUTURE % {"field": "taken_at"})]


def test_values_are_decimals_rounded_to_the_ledgers_places(customer, asset, alerts_calls):
    ingest.telemetry_ingest(customer=customer, items=[reading(asset, value="1520.12345"), level(asset, percent=33)])
    assert Reading.objects.get().value == Decimal("1520.123")
    assert SupplyLevel.objects.get().percent == Decimal("33.00")


def test_event_defaults_and_long_messages(customer, asset, alerts_calls):
    ingest.telemetry_ingest(customer=customer, items=[event(asset, message="x" * 600, cleared=True)])
    stored = DiagnosticEvent.objects.get()
    assert (stored.severity, len(stored.message), stored.cleared, stored.raw) == (Severity.INFO, 500, True, {})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"code": ""}, ingest.CODE_MISSING),
        ({"severity": "apocalyptic"}, ingest.SEVERITY_UNKNOWN % {"values": ", ".join(Severity.values)}),
        ({"g_force": -1}, ingest.NUMBER_NEGATIVE % {"field": "g_force"}),
        ({"cleared": "yes"}, ingest.CLEARED_INVALID),
        ({"raw": [1, 2]}, ingest.RAW_INVALID),
        ({"raw": {"note": "a\x00b"}}, ingest.TEXT_HAS_NUL % {"field": "raw"}),
        ({"raw": {"blob": "x" * 20_001}}, ingest.RAW_TOO_LARGE),
        ({"operator_id": 7}, ingest.TEXT_INVALID % {"field": "operator_id"}),
    ],
)
def test_event_fields_are_checked(customer, asset, alerts_calls, change, reason):
    result = ingest.telemetry_ingest(customer=customer, items=[event(asset) | change])
    assert result.errors == [(0, reason)]


# Assets: by id, by manufacturer and serial, by serial alone; only the batch's customer


def test_assets_are_found_by_manufacturer_and_serial_or_a_unique_serial(customer, site, alerts_calls):
    ricoh = AssetModelFactory(manufacturer=ManufacturerFactory(name="Ricoh"))
    mfp = AssetFactory(customer=customer, site=site, asset_model=ricoh, serial_number="RC-100")
    items = [
        {"type": "reading", "manufacturer": "RICOH", "serial": "RC-100", "meter": "total_pages",
         "taken_at": T.isoformat(), "value": 1},
        {"type": "reading", "serial": " RC-100 ", "meter": "mono_pages", "taken_at": T.isoformat(), "value": 1},
    ]  # fmt: skip

    result = ingest.telemetry_ingest(customer=customer, items=items)

    assert result.accepted == 2
    assert set(Reading.objects.values_list("asset_id", flat=True)) == {mfp.pk}


def test_a_serial_shared_by_two_of_the_customers_assets_needs_the_manufacturer(customer, site, alerts_calls):
    ricoh = AssetFactory(
        customer=customer,
        site=site,
        serial_number="X-1",
        asset_model=AssetModelFactory(manufacturer=ManufacturerFactory(name="Ricoh")),
    )
    AssetFactory(
        customer=customer,
        site=site,
        serial_number="X-1",
        asset_model=AssetModelFactory(manufacturer=ManufacturerFactory(name="Canon")),
    )
    items = [
        {"type": "reading", "serial": "X-1", "meter": "total_pages", "taken_at": T.isoformat(), "value": 1},
        {"type": "reading", "serial": "X-1", "manufacturer": "Ricoh", "meter": "total_pages",
         "taken_at": T.isoformat(), "value": 1},
        {"type": "reading", "serial": "X-1", "manufacturer": "Kyocera", "meter": "total_pages",
         "taken_at": T.isoformat(), "value": 1},
    ]  # fmt: skip

    result = ingest.telemetry_ingest(customer=customer, items=items)

    assert result.errors == [(0, ingest.ASSET_AMBIGUOUS), (2, ingest.ASSET_UNKNOWN)]
    assert Reading.objects.get().asset == ricoh


def test_another_customers_asset_is_unknown_by_id_and_by_serial(customer, asset, other_asset, alerts_calls):
    items = [
        reading(other_asset),
        {"type": "reading", "serial": other_asset.serial_number, "meter": "total_pages",
         "taken_at": T.isoformat(), "value": 1},
        reading(asset),
    ]  # fmt: skip

    result = ingest.telemetry_ingest(customer=customer, items=items)

    assert result.errors == [(0, ingest.ASSET_UNKNOWN), (1, ingest.ASSET_UNKNOWN)]
    assert list(Reading.objects.values_list("asset_id", flat=True)) == [asset.pk]


def test_a_serial_unique_in_the_customer_is_enough_even_if_another_customer_has_it_too(
    customer, asset, other_customer, alerts_calls
):
    AssetFactory(customer=other_customer, serial_number=asset.serial_number, asset_model=AssetModelFactory())
    item = {
        "type": "reading",
        "serial": asset.serial_number,
        "meter": "total_pages",
        "taken_at": T.isoformat(),
        "value": 1,
    }
    assert ingest.telemetry_ingest(customer=customer, items=[item]).accepted == 1


def test_an_id_and_a_serial_that_disagree_are_rejected(customer, asset, site, alerts_calls):
    second = AssetFactory(customer=customer, site=site)
    result = ingest.telemetry_ingest(customer=customer, items=[reading(asset, serial=second.serial_number)])
    assert result.errors == [(0, ingest.ASSET_MISMATCH)]


# Bookkeeping: last seen, alerts, one transaction


def test_last_seen_moves_forward_to_the_latest_reported_time_only(customer, asset, alerts_calls):
    later = T + datetime.timedelta(hours=5)
    ingest.telemetry_ingest(customer=customer, items=[reading(asset, at=T), event(asset, at=later)])
    asset.refresh_from_db()
    assert asset.last_seen_at == later

    ingest.telemetry_ingest(customer=customer, items=[reading(asset, at=T - datetime.timedelta(days=3))])
    asset.refresh_from_db()
    assert asset.last_seen_at == later


def test_last_seen_is_never_in_the_future(customer, asset, alerts_calls):
    before = timezone.now()
    ingest.telemetry_ingest(customer=customer, items=[reading(asset, at=before + datetime.timedelta(hours=3))])
    asset.refresh_from_db()
    assert before <= asset.last_seen_at <= timezone.now()


def test_alerts_see_only_the_newly_stored_rows_in_one_call(customer, asset, alerts_calls):
    ingest.telemetry_ingest(customer=customer, items=[reading(asset, value=10)])
    alerts_calls.clear()

    ingest.telemetry_ingest(
        customer=customer,
        items=[
            reading(asset, value=10),  # a duplicate
            reading(asset, value=20, at=T + datetime.timedelta(hours=1)),
            level(asset, percent="4"),
            event(asset, code="IMPACT", g_force="3.1", cleared=False, severity="warning"),
        ],
    )

    assert len(alerts_calls) == 1
    batch = alerts_calls[0]
    assert batch.customer_id == customer.pk
    assert [(r.asset_id, r.meter, r.taken_at, r.value) for r in batch.readings] == [
        (asset.pk, Meter.TOTAL_PAGES, T + datetime.timedelta(hours=1), Decimal(20))
    ]
    assert [(lv.supply, lv.percent) for lv in batch.levels] == [(Supply.TONER_BLACK, Decimal("4.00"))]
    assert [(e.code, e.g_force, e.severity, e.cleared) for e in batch.events] == [
        ("IMPACT", Decimal("3.10"), "warning", False)
    ]


def test_nothing_is_half_written_when_a_later_step_fails(customer, asset, monkeypatch):
    def fail(*, batch):
        raise RuntimeError("rules exploded")

    monkeypatch.setattr(ingest, "alerts_evaluate_ingest", fail)
    with pytest.raises(RuntimeError):
        ingest.telemetry_ingest(customer=customer, items=[reading(asset), level(asset), event(asset)])
    assert not Reading.objects.exists() and not SupplyLevel.objects.exists() and not DiagnosticEvent.objects.exists()
    asset.refresh_from_db()
    assert asset.last_seen_at is None


def test_outcomes_name_every_item(customer, asset, alerts_calls):
    ingest.telemetry_ingest(customer=customer, items=[reading(asset)])
    result = ingest.telemetry_ingest(
        customer=customer,
        items=[reading(asset), reading(asset, at=T + datetime.timedelta(hours=1)), reading(asset, value=-1)],
        outcomes=True,
    )
    assert result.outcomes == [ingest.DUPLICATE, ingest.ACCEPTED, ingest.REJECTED]


def mixed_batch(assets, size: int, start: int = 0) -> list[dict]:
    """``size`` items cycling over readings, levels and events of ``assets``, events addressed by serial."""
    items = []
    for number in range(start, start + size):
        asset = assets[number % len(assets)]
        at = T - datetime.timedelta(minutes=number)
        kind = number % 3
        if kind == 0:
            items.append(reading(asset, value=number, at=at))
        elif kind == 1:
            items.append(level(asset, percent=number % 100, at=at))
        else:
            items.append({**event(asset, at=at, code=f"E{number % 7}"), "asset": None, "serial": asset.serial_number})
    return items


def test_the_number_of_queries_is_the_same_for_10_and_5000_items(customer, site, alerts_calls):
    assets = AssetFactory.create_batch(5, customer=customer, site=site)
    counts = []
    for start, size in ((0, 10), (10, 5000)):
        with CaptureQueriesContext(connection) as captured:
            result = ingest.telemetry_ingest(customer=customer, items=mixed_batch(assets, size, start))
        assert (result.accepted, result.rejected) == (size, 0)
        counts.append(len(captured))
    assert counts[0] == counts[1]


# Collector batches: idempotency and key bookkeeping


@pytest.fixture
def collector_key(customer):
    key, _plaintext = collector_key_create(customer=customer, name="Gateway")
    return key


def test_collector_batch_with_a_known_idempotency_key_answers_the_stored_response(collector_key, asset, alerts_calls):
    first = ingest.collector_ingest(
        collector_key=collector_key, items=[reading(asset), {"type": "x"}], idempotency_key="batch-0001"
    )
    assert not first.replayed

    again = ingest.collector_ingest(
        collector_key=collector_key,
        items=[reading(asset, at=T + datetime.timedelta(hours=9))],  # a different body: still the stored answer
        idempotency_key="batch-0001",
    )

    assert again.replayed
    assert again.as_response() == first.as_response()
    assert Reading.objects.count() == 1
    stored = IngestRequest.objects.get()
    assert (stored.accepted, stored.duplicates, stored.rejected) == (1, 0, 1)


def test_idempotency_keys_are_per_collector_key(collector_key, customer, asset, alerts_calls):
    second_key, _ = collector_key_create(customer=customer, name="Second")
    ingest.collector_ingest(collector_key=collector_key, items=[reading(asset)], idempotency_key="same")
    result = ingest.collector_ingest(
        collector_key=second_key, items=[reading(asset, at=T + datetime.timedelta(hours=1))], idempotency_key="same"
    )
    assert not result.replayed and result.accepted == 1


def test_collector_batch_marks_the_key_used_to_the_minute(collector_key, asset, alerts_calls):
    ingest.collector_ingest(collector_key=collector_key, items=[reading(asset)])
    first = CollectorKey.objects.get(pk=collector_key.pk).last_used_at
    assert first is not None
    ingest.collector_ingest(collector_key=collector_key, items=[reading(asset, at=T + datetime.timedelta(hours=1))])
    assert CollectorKey.objects.get(pk=collector_key.pk).last_used_at == first

    CollectorKey.objects.filter(pk=collector_key.pk).update(last_used_at=first - datetime.timedelta(minutes=5))
    ingest.collector_ingest(collector_key=collector_key, items=[reading(asset, at=T + datetime.timedelta(hours=2))])
    assert CollectorKey.objects.get(pk=collector_key.pk).last_used_at > first


@pytest.mark.parametrize("value", ["", "x" * 129, "tab\there", "ümlaut"])
def test_idempotency_keys_must_be_short_printable_ascii(value):
    with pytest.raises(ValidationError) as raised:
        ingest.idempotency_key_check(value=value)
    assert raised.value.messages == [str(ingest.IDEMPOTENCY_KEY_INVALID)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", ingest.BODY_NOT_JSON),
        (b"\xff\xfe\x00", ingest.BODY_NOT_JSON),
        (b'{"type": "reading"}', ingest.BODY_NOT_LIST),
        (b"[" + b",".join([b"{}"] * (ingest.MAX_ITEMS + 1)) + b"]", ingest.BODY_TOO_MANY),
    ],
)
def test_a_body_that_is_no_batch_is_refused_whole(body, message):
    with pytest.raises(ValidationError) as raised:
        ingest.ingest_body_parse(body=body)
    assert raised.value.messages == [str(message)]


def test_numbers_in_the_body_never_become_floats():
    items = ingest.ingest_body_parse(body=b'[{"value": 0.1}, {"value": 12}, {"value": NaN}]')
    assert items[0]["value"] == Decimal("0.1") and isinstance(items[0]["value"], Decimal)
    assert items[1]["value"] == 12
    assert items[2]["value"].is_nan()


# Manual meter reads


def test_customer_viewer_enters_a_read_of_their_asset(customer, asset, make_member, alerts_calls):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    read = ingest.meter_read_enter(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=T, value=Decimal("15234"), by=viewer)
    assert (read.source, read.entered_by, read.value) == (ReadingSource.CUSTOMER, viewer, Decimal("15234"))


def test_provider_staff_reads_are_technician_reads(asset, provider_admin, alerts_calls):
    read = ingest.meter_read_enter(
        asset=asset, meter=Meter.TOTAL_PAGES, taken_at=T, value=Decimal(1), by=provider_admin
    )
    assert read.source == ReadingSource.TECHNICIAN


def test_a_manual_read_beside_a_device_read_at_the_same_time_is_kept(customer, asset, make_member, alerts_calls):
    ReadingFactory(asset=asset, taken_at=T, value=Decimal(100))
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    ingest.meter_read_enter(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=T, value=Decimal(101), by=viewer)
    assert Reading.objects.filter(asset=asset, taken_at=T).count() == 2


def test_the_same_manual_read_twice_is_refused(customer, asset, make_member, alerts_calls):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    ingest.meter_read_enter(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=T, value=Decimal(1), by=viewer)
    with pytest.raises(ValidationError) as raised:
        ingest.meter_read_enter(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=T, value=Decimal(2), by=viewer)
    assert raised.value.messages == [str(ingest.READ_EXISTS)]


def test_a_manual_read_in_the_future_is_refused_with_the_reason(customer, asset, make_member, alerts_calls):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    with pytest.raises(ValidationError) as raised:
        ingest.meter_read_enter(
            asset=asset,
            meter=Meter.TOTAL_PAGES,
            taken_at=timezone.now() + datetime.timedelta(days=3),
            value=Decimal(1),
            by=viewer,
        )
    assert raised.value.messages == [ingest.TIME_IN_FUTURE % {"field": "taken_at"}]


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.CUSTOMER_OPERATOR])
def test_roles_without_meter_reads_cannot_enter_them(customer, asset, make_member, role):
    with pytest.raises(ValidationError) as raised:
        ingest.meter_read_enter(
            asset=asset, meter=Meter.TOTAL_PAGES, taken_at=T, value=Decimal(1), by=make_member(customer, role)
        )
    assert raised.value.messages == [str(ingest.NOT_ALLOWED_READS)]


def test_a_viewer_cannot_read_another_customers_asset(customer, other_asset, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    with pytest.raises(ValidationError):
        ingest.meter_read_enter(asset=other_asset, meter=Meter.TOTAL_PAGES, taken_at=T, value=Decimal(1), by=viewer)
    assert not Reading.objects.exists()


def test_meters_offered_follow_the_assets_category(customer, site):
    truck = AssetFactory(
        customer=customer, site=site, asset_model=AssetModelFactory(category=AssetCategory.FORKLIFT, name="8FBE15")
    )
    mfp = AssetFactory(customer=customer, site=site)
    truck_meters, mfp_meters = dict(ingest.meters_for(asset=truck)), dict(ingest.meters_for(asset=mfp))
    assert Meter.HOURS_KEY_ON in truck_meters and Meter.TOTAL_PAGES not in truck_meters
    assert Meter.TOTAL_PAGES in mfp_meters and Meter.PICKS not in mfp_meters


# CSV uploads

CSV_HEADER = (
    "serial,manufacturer,type,meter_or_supply_or_code,taken_at,value,severity,message,g_force,operator_id,cleared\n"
)


def test_csv_upload_stores_good_lines_and_reports_the_bad_one(customer, asset, customer_admin, alerts_calls):
    serial = asset.serial_number
    content = CSV_HEADER + (
        f"{serial},,reading,hours_key_on,2026/03/01 9:30,1520.5,,,,,\n"
        f"{serial},,supply,battery_soc,2026-03-01 09:30,64,,,,,\n"
        f"{serial},,reading,hours_key_on,2026/03/01 10:30,-3,,,,,\n"
        f"{serial},,event,IMPACT,2026-03-01T10:12:00+09:00,,warning,Impact,2.8,OP-117,0\n"
    )

    report = ingest.telemetry_csv_ingest(customer=customer, content=content, by=customer_admin)

    assert (report.accepted, report.duplicates, report.rejected) == (3, 0, 1)
    assert [(line.line, line.outcome) for line in report.lines] == [
        (2, ingest.ACCEPTED),
        (3, ingest.ACCEPTED),
        (4, ingest.REJECTED),
        (5, ingest.ACCEPTED),
    ]
    assert report.lines[2].reason == ingest.NUMBER_NEGATIVE % {"field": "value"}
    # Times without an offset are the customer's local time (Asia/Tokyo: UTC+9).
    assert Reading.objects.get().taken_at == datetime.datetime(2026, 3, 1, 0, 30, tzinfo=datetime.UTC)
    assert Reading.objects.get().value == Decimal("1520.5")
    assert DiagnosticEvent.objects.get().g_force == Decimal("2.8")


def test_the_same_csv_twice_stores_nothing_the_second_time(customer, asset, alerts_calls):
    content = CSV_HEADER + f"{asset.serial_number},,reading,hours_key_on,2026-03-01 09:30,10,,,,,\n"
    ingest.telemetry_csv_ingest(customer=customer, content=content)
    report = ingest.telemetry_csv_ingest(customer=customer, content=content)
    assert (report.accepted, report.duplicates) == (0, 1)
    assert report.lines[0].outcome == ingest.DUPLICATE


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", ingest.CSV_HEADER_MISSING),
        (
            "serial,type,taken_at\nX,reading,2026-03-01\n",
            ingest.CSV_COLUMN_MISSING % {"column": "meter_or_supply_or_code"},
        ),
        ("serial,type,meter_or_supply_or_code,taken_at,colour\n", ingest.CSV_COLUMN_UNKNOWN % {"column": "colour"}),
        ("serial,type,meter_or_supply_or_code,taken_at\n", ingest.CSV_NO_ROWS),
    ],
)
def test_csv_files_with_a_bad_header_store_nothing(customer, content, message):
    report = ingest.telemetry_csv_ingest(customer=customer, content=content)
    assert report.errors == [str(message)]
    assert report.lines == [] and not Reading.objects.exists()


def test_csv_lines_with_bad_cells_are_rejected_with_the_reason(customer, asset, alerts_calls):
    content = "serial,type,meter_or_supply_or_code,taken_at,value,cleared,extra_cell_missing_header\n"
    content = "serial,type,meter_or_supply_or_code,taken_at,value,cleared\n" + (
        f"{asset.serial_number},reading,total_pages,01.03.2026,5,\n"
        f"{asset.serial_number},event,E1,2026-03-01 10:00,,maybe\n"
        f"{asset.serial_number},reading,total_pages,,5,\n"
        f"{asset.serial_number},reading,total_pages,2026-03-01 10:00,5,,surplus\n"
    )
    report = ingest.telemetry_csv_ingest(customer=customer, content=content)
    assert [line.reason for line in report.lines] == [
        str(ingest.CSV_TIME_INVALID),
        str(ingest.CSV_CLEARED_INVALID),
        ingest.TIME_MISSING % {"field": "taken_at"},
        str(ingest.CSV_LINE_TOO_LONG),
    ]
    assert report.rejected == 4


def test_customer_admin_cannot_upload_for_another_customer(other_customer, customer_admin):
    with pytest.raises(ValidationError) as raised:
        ingest.telemetry_csv_ingest(customer=other_customer, content=CSV_HEADER, by=customer_admin)
    assert raised.value.messages == [str(ingest.NOT_ALLOWED_UPLOAD)]


# PostgreSQL: the COPY path


@pytest.mark.postgres
def test_postgresql_writes_through_a_staging_table_that_is_left_empty(customer, asset, alerts_calls):
    items = [reading(asset), level(asset), event(asset, raw={"text": "こんにちは", "tab": "a\tb\\c"})]
    ingest.telemetry_ingest(customer=customer, items=items)
    result = ingest.telemetry_ingest(customer=customer, items=items)
    assert (result.accepted, result.duplicates) == (0, 3)
    assert DiagnosticEvent.objects.get().raw == {"text": "こんにちは", "tab": "a\tb\\c"}
    with connection.cursor() as cursor:
        for table in (ingest.READINGS_TABLE, ingest.LEVELS_TABLE, ingest.EVENTS_TABLE):
            cursor.execute(f"SELECT count(*) FROM {table.stage_name}")
            assert cursor.fetchone() == (0,)


@pytest.mark.postgres
def test_postgresql_copy_path_counts_new_rows_exactly_among_stored_ones(customer, asset, alerts_calls):
    first = [reading(asset, value=n, at=T - datetime.timedelta(hours=n)) for n in range(0, 300, 2)]
    ingest.telemetry_ingest(customer=customer, items=first)
    mixed = [reading(asset, value=n, at=T - datetime.timedelta(hours=n)) for n in range(300)]
    result = ingest.telemetry_ingest(customer=customer, items=mixed, outcomes=True)
    assert (result.accepted, result.duplicates) == (150, 150)
    assert result.outcomes == [ingest.DUPLICATE if n % 2 == 0 else ingest.ACCEPTED for n in range(300)]
    assert Reading.objects.count() == 300


def test_times_with_unusual_offsets_are_stored_as_the_same_instant(customer, asset, alerts_calls):
    # Python accepts offsets up to a day; PostgreSQL only up to 15:59: times are stored in UTC.
    item = reading(asset)
    item["taken_at"] = "2026-03-02T10:30:00+17:30"

    result = ingest.telemetry_ingest(customer=customer, items=[item])

    assert result.accepted == 1
    stored = Reading.objects.get(asset=asset)
    assert stored.taken_at == datetime.datetime(2026, 3, 1, 17, 0, tzinfo=datetime.UTC)
