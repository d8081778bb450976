"""The SNMP collector: mapping, targets, spool and posting, and whole polls of a simulated printer (snmpsim).

The simulated agent serves the recordings in telemetry/tests/snmp/ (community = file name): a colour MFP with
Japanese supply names and two markers (mono and colour), the same MFP after its conditions cleared, and a mono
laser printer polled over SNMP v3 (authPriv, SHA/AES). Tests that need the agent skip when it cannot start.
"""

import argparse
import asyncio
import concurrent.futures
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from assets.tests.factories import AssetFactory, ManufacturerFactory
from telemetry import snmp
from telemetry.choices import Meter, Supply
from telemetry.keys import collector_key_create
from telemetry.models import DiagnosticEvent, IngestRequest, Reading, SupplyLevel

RECORDINGS = Path(__file__).parent / "snmp"
MFP_SERIAL = "E176M123456"
LASER_SERIAL = "VNB3K12345"
V3_USER, V3_AUTH_KEY, V3_PRIV_KEY = "fleet-collector", "auth-secret-123", "priv-secret-456"
TAKEN_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


# -- The simulated agent ----------------------------------------------------------------------------------------------


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    """True once the agent answers a poll of the MFP's recording."""
    target = snmp.Target(host="127.0.0.1", port=port, community="mfp-colour")
    [outcome] = snmp.poll_all([target], timeout=0.5, retries=0)
    return outcome.snapshot is not None


@pytest.fixture(scope="session")
def snmp_agent(tmp_path_factory):
    """snmpsim on 127.0.0.1 and a free UDP port, serving the recordings; v2c communities and one v3 user."""
    pytest.importorskip("snmpsim", reason="snmpsim is not installed (requirements-dev.txt)")
    base = tmp_path_factory.mktemp("snmpsim")
    data = base / "data"
    data.mkdir()
    for recording in RECORDINGS.glob("*.snmprec"):
        shutil.copy(recording, data / recording.name)
    port = _free_udp_port()
    log = open(base / "snmpsim.log", "w+")  # noqa: SIM115 (closed at teardown)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from snmpsim.commands.responder import main; sys.exit(main())",
            f"--data-dir={data}",
            f"--cache-dir={base / 'cache'}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}",
            f"--v3-user={V3_USER}",
            f"--v3-auth-key={V3_AUTH_KEY}",
            "--v3-auth-proto=SHA",
            f"--v3-priv-key={V3_PRIV_KEY}",
            "--v3-priv-proto=AES",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.skip(f"snmpsim could not start: {log.read()[-2000:]}")
        yield {"host": "127.0.0.1", "port": port}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _v2c(agent, community: str, **extra) -> snmp.Target:
    return snmp.Target(host=agent["host"], port=agent["port"], community=community, **extra)


def _v3(agent, **extra) -> snmp.Target:
    values = {
        "host": agent["host"],
        "port": agent["port"],
        "version": "3",
        "user": V3_USER,
        "auth_key": V3_AUTH_KEY,
        "priv_key": V3_PRIV_KEY,
        "context": "laser-mono",  # snmpsim picks a v3 agent's recording by context name
    }
    return snmp.Target(**(values | extra))


# -- A stand-in portal ------------------------------------------------------------------------------------------------


class PortalStub:
    """A tiny HTTP server on 127.0.0.1 that records each post and answers the statuses it is told to."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                status = stub.statuses.pop(0) if stub.statuses else 200
                answer = {"accepted": len(stub.requests[-1]["body"]), "duplicates": 0, "rejected": 0, "errors": []}
                if status >= 300:
                    answer = {"detail": "no"}
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def portal_stub():
    stubs = []

    def make(statuses=()):
        stubs.append(PortalStub(statuses))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there: connections are refused


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def client_post(client: Client) -> snmp.Post:
    """Posts through Django's test client instead of the network."""

    def post(url, body, headers):
        response = client.post(
            urlsplit(url).path,
            data=body,
            content_type="application/json",
            headers={"Authorization": headers["Authorization"], "Idempotency-Key": headers["Idempotency-Key"]},
        )
        return snmp.Answer(response.status_code, response.content)

    return post


READING = {"type": "reading", "serial": MFP_SERIAL, "meter": "total_pages", "taken_at": "2026-03-02T09:30:00Z"}


# -- Mapping ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "capacity", "percent"),
    [
        (3600, 24000, Decimal("15.00")),
        (1, 3, Decimal("33.33")),
        (2, 3, Decimal("66.67")),
        (0, 100, Decimal("0.00")),
        (120, 100, Decimal("100.00")),
    ],
)
def test_supply_percent_is_level_over_max_capacity(level, capacity, percent):
    assert snmp.supply_percent(level, capacity) == percent


@pytest.mark.parametrize(
    ("level", "capacity"), [(-3, 100), (-2, 100), (-1, 100), (50, 0), (50, -2), (None, 100), (50, None)]
)
def test_supply_percent_skips_levels_and_capacities_that_are_no_quantity(level, capacity):
    assert snmp.supply_percent(level, capacity) is None


@pytest.mark.parametrize(
    ("description", "supply"),
    [
        ("Black Cartridge HP 89A CF289A", Supply.TONER_BLACK),
        ("BLACK TONER", Supply.TONER_BLACK),
        ("Toner (BK)", Supply.TONER_BLACK),
        ("Cyan Toner", Supply.TONER_CYAN),
        ("Canon GPR-55 Magenta Toner", Supply.TONER_MAGENTA),
        ("yellow toner cartridge", Supply.TONER_YELLOW),
        ("ブラックトナー", Supply.TONER_BLACK),
        ("トナー(黒)", Supply.TONER_BLACK),
        ("ﾌﾞﾗｯｸﾄﾅｰ", Supply.TONER_BLACK),  # half-width katakana
        ("ＢＬＡＣＫ　ＴＯＮＥＲ", Supply.TONER_BLACK),  # full-width letters
        ("シアントナー", Supply.TONER_CYAN),
        ("マゼンタトナー", Supply.TONER_MAGENTA),
        ("イエロートナー", Supply.TONER_YELLOW),
        ("Drum Unit", Supply.DRUM),
        ("Imaging Drum Black", Supply.DRUM),
        ("OPC Belt", Supply.DRUM),
        ("ドラムユニット", Supply.DRUM),
        ("感光体ユニット ブラック", Supply.DRUM),
        ("Waste Toner Box", Supply.WASTE_TONER),
        ("廃トナーボックス", Supply.WASTE_TONER),
        ("トナー回収ボトル", Supply.WASTE_TONER),
        ("Fuser Kit", None),
        ("Black Developer Unit", None),
        ("Transfer Belt", None),
        ("定着ユニット", None),
        ("Staple Cartridge", None),
        ("", None),
    ],
)
def test_supply_kind_maps_descriptions_by_keywords(description, supply):
    assert snmp.supply_kind(description) == supply


def test_supply_kind_follows_the_reported_supply_type_over_keywords():
    assert snmp.supply_kind("Box A", supply_type=4) == Supply.WASTE_TONER  # wasteToner
    assert snmp.supply_kind("Unit K", supply_type=9) == Supply.DRUM  # opc
    assert snmp.supply_kind("Black", supply_type=10) is None  # developer, whatever its colour
    assert snmp.supply_kind("Black Cartridge", supply_type=21) == Supply.TONER_BLACK  # tonerCartridge
    assert snmp.supply_kind("Cartridge", supply_type=3) is None  # a toner, but of no colour the portal knows


def test_supply_levels_keep_the_lowest_of_several_rows_of_one_supply():
    rows = [
        snmp.SupplyRow(1, "Drum Unit (Black)", 100, 70),
        snmp.SupplyRow(2, "Drum Unit (Cyan)", 100, 40),
        snmp.SupplyRow(3, "Black Toner", 100, -3),
        snmp.SupplyRow(4, "Fuser", 100, 10),
    ]
    assert snmp.supply_levels(rows) == {Supply.DRUM: Decimal("40.00")}


@pytest.mark.parametrize(
    ("octets", "codes"),
    [
        (b"", []),
        (b"\x00\x00", []),
        (b"\x80", ["lowPaper"]),
        (b"\x28\x00", ["lowToner", "doorOpen"]),
        (b"\x04", ["jammed"]),
        (b"\x01", ["serviceRequested"]),
        (b"\x00\x80", ["inputTrayMissing"]),
        (b"\x00\x02", ["overduePreventMaint"]),
        (b"\x00\x01", []),  # bit 15 is not assigned
        (b"\xff\xfe", [kind.code for kind in snmp.ERROR_STATE_BITS]),
    ],
)
def test_error_state_bits_map_to_event_codes(octets, codes):
    assert snmp.error_state_codes(octets) == codes


def test_a_device_down_is_an_event_of_its_own():
    assert snmp.active_codes(snmp.Snapshot(serial="S", device_status=5, error_state=b"\x40")) == [
        "noPaper",
        "deviceDown",
    ]
    assert snmp.active_codes(snmp.Snapshot(serial="S", device_status=3, error_state=b"\x00")) == []


def test_one_marker_gives_total_pages_only():
    assert snmp.meter_values([snmp.Marker(1, 120000, counter_unit=7, process_colorants=4)]) == {
        Meter.TOTAL_PAGES: 120000
    }


def test_several_markers_with_colorants_split_mono_and_colour_pages():
    markers = [snmp.Marker(1, 120000, 7, 1), snmp.Marker(2, 45000, 7, 4)]
    assert snmp.meter_values(markers) == {
        Meter.TOTAL_PAGES: 165000,
        Meter.MONO_PAGES: 120000,
        Meter.COLOUR_PAGES: 45000,
    }


def test_markers_without_colorants_or_counting_no_pages_give_a_total_only():
    markers = [snmp.Marker(1, 1000), snmp.Marker(2, 500), snmp.Marker(3, 99999, counter_unit=17)]  # 17: meters
    assert snmp.meter_values(markers) == {Meter.TOTAL_PAGES: 1500}
    assert snmp.meter_values([snmp.Marker(1, None)]) == {}


def test_text_decode_reads_utf8_shift_jis_and_latin1():
    assert snmp.text_decode("ブラックトナー".encode()) == "ブラックトナー"
    assert snmp.text_decode("シアントナー".encode("cp932")) == "シアントナー"
    assert snmp.text_decode(b"Toner \xe9\xff\x00\x00") == "Toner éÿ"


def _snapshot(error_state=b"\x00", status=2):
    return snmp.Snapshot(
        serial=MFP_SERIAL,
        markers=[snmp.Marker(1, 120000)],
        supplies=[snmp.SupplyRow(1, "Black Toner", 24000, 3600), snmp.SupplyRow(2, "Cyan Toner", 24000, -3)],
        device_status=status,
        error_state=error_state,
    )


def test_snapshot_items_are_the_ingest_format():
    items, codes = snmp.snapshot_items(_snapshot(b"\x20"), taken_at=TAKEN_AT, previous_codes=None, manufacturer="Ricoh")
    address = {"serial": MFP_SERIAL, "manufacturer": "Ricoh"}
    assert items == [
        {"type": "reading", **address, "meter": "total_pages", "taken_at": "2026-03-02T09:30:00Z", "value": 120000},
        {"type": "supply", **address, "supply": "toner_black", "taken_at": "2026-03-02T09:30:00Z", "percent": "15.00"},
        {
            "type": "event",
            **address,
            "code": "lowToner",
            "occurred_at": "2026-03-02T09:30:00Z",
            "severity": "warning",
            "message": "Toner low",
            "cleared": False,
            "raw": {"hrPrinterDetectedErrorState": "20", "hrDeviceStatus": 2},
        },
    ]
    assert codes == ["lowToner"]


def test_a_condition_is_sent_when_it_appears_and_cleared_when_it_goes():
    items, codes = snmp.snapshot_items(_snapshot(b"\x24"), taken_at=TAKEN_AT, previous_codes=["lowToner"])
    events = [(item["code"], item["cleared"]) for item in items if item["type"] == "event"]
    assert events == [("jammed", False)]  # lowToner persists: not sent again
    items, codes = snmp.snapshot_items(_snapshot(b"\x00"), taken_at=TAKEN_AT, previous_codes=codes)
    events = [(item["code"], item["cleared"], item["message"]) for item in items if item["type"] == "event"]
    assert events == [("jammed", True, "Paper jam (cleared)"), ("lowToner", True, "Toner low (cleared)")]
    assert codes == []


# -- Targets ----------------------------------------------------------------------------------------------------------


def test_targets_csv_reads_v2c_and_v3_rows_with_defaults(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text(
        "host,port,version,community,user,auth_key,priv_key,auth_proto,priv_proto,context,serial,manufacturer\n"
        "# the second floor\n"
        "192.0.2.10,,,,,,,,,,,\n"
        "192.0.2.11,1161,v3,,ops,authpass123,privpass123,sha256,aes256,,SN-OVERRIDE,Ricoh\n",
        encoding="utf-8",
    )
    first, second = snmp.targets_read(path)
    assert first == snmp.Target(host="192.0.2.10")
    assert (first.port, first.version, first.community) == (161, "2c", "public")
    assert second == snmp.Target(
        host="192.0.2.11",
        port=1161,
        version="3",
        user="ops",
        auth_key="authpass123",
        priv_key="privpass123",
        auth_proto="SHA256",
        priv_proto="AES256",
        serial="SN-OVERRIDE",
        manufacturer="Ricoh",
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("192.0.2.10,abc,2c,public,", "port 'abc' is not a number"),
        ("192.0.2.10,161,1,public,", "SNMP version '1'"),
        ("192.0.2.10,161,3,,", "SNMP v3 needs a user"),
        ("192.0.2.10,161,3,,ops,short", "auth_key must have at least 8 characters"),
    ],
)
def test_targets_csv_names_the_row_it_cannot_use(tmp_path, row, message):
    path = tmp_path / "targets.csv"
    path.write_text(f"# office printers\nhost,port,version,community,user,auth_key\n{row}\n", encoding="utf-8")
    with pytest.raises(snmp.CollectorError, match="line 3") as error:
        snmp.targets_read(path)
    assert message in str(error.value)


def test_targets_csv_refuses_unknown_columns(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text("host,password\n192.0.2.10,x\n", encoding="utf-8")
    with pytest.raises(snmp.CollectorError, match="unknown columns password"):
        snmp.targets_read(path)


def _options(*args):
    parser = argparse.ArgumentParser()
    snmp.add_arguments(parser)
    return vars(parser.parse_args(args))


def test_command_line_targets_share_the_given_credentials():
    options = _options(
        "--target", "192.0.2.20:1161", "--target", "192.0.2.21", "--snmp-version", "3", "--v3-user", "ops",
        "--v3-auth-key", "authpass123", "--v3-priv-key", "privpass123", "--v3-priv-proto", "AES256",
    )  # fmt: skip
    first, second = snmp.targets_from_options(options)
    assert (first.host, first.port, second.host, second.port) == ("192.0.2.20", 1161, "192.0.2.21", 161)
    assert (second.version, second.user, second.auth_proto, second.priv_proto) == ("3", "ops", "SHA", "AES256")


def test_a_serial_override_on_the_command_line_names_exactly_one_target():
    [target] = snmp.targets_from_options(_options("--target", "192.0.2.20", "--serial", "SN-1"))
    assert target.serial == "SN-1"
    with pytest.raises(snmp.CollectorError, match="exactly one --target"):
        snmp.targets_from_options(_options("--target", "192.0.2.20", "--target", "192.0.2.21", "--serial", "SN-1"))


def test_the_command_refuses_to_poll_without_a_portal_and_key(tmp_path):
    with pytest.raises(CommandError, match="--portal"):
        call_command("collect_snmp", "--target", "192.0.2.20", "--spool-dir", str(tmp_path), "--portal", "")
    assert list(tmp_path.iterdir()) == []  # nothing polled, nothing spooled


# -- Spool and posting ------------------------------------------------------------------------------------------------


def test_spool_splits_items_into_batches_each_with_its_own_key(tmp_path):
    spool = snmp.Spool(tmp_path)
    batches = spool.add([dict(READING, value=n) for n in range(5)], batch_size=2)
    assert [len(batch.items) for batch in batches] == [2, 2, 1]
    assert len({batch.idempotency_key for batch in batches}) == 3
    assert spool.pending() == batches  # read back from disk, oldest first
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(batch.path.name for batch in batches)


def test_portal_down_keeps_the_batch_and_the_next_run_sends_it_with_the_same_key(tmp_path, portal_stub):
    spool = snmp.Spool(tmp_path)
    [batch] = spool.add([dict(READING, value=120000)])
    sleeps = Sleeps()

    down = snmp.spool_send(
        spool, portal=_closed_port_url(), key="abc.def", post=snmp.http_post(timeout=2), attempts=3, sleep=sleeps
    )

    assert down.stopped.startswith("the portal is unreachable") and down.remaining == 1
    assert sleeps == [2.0, 4.0]  # exponential backoff between the three tries
    assert spool.pending() == [batch]

    portal = portal_stub()
    up = snmp.spool_send(spool, portal=portal.url, key="abc.def", post=snmp.http_post(timeout=2), sleep=sleeps)

    assert (up.sent, up.accepted, up.stopped) == (1, 1, "")
    assert spool.pending() == []
    [request] = portal.requests
    assert request["path"] == "/api/v1/telemetry/"
    assert request["headers"]["Idempotency-Key"] == batch.idempotency_key
    assert request["headers"]["Authorization"] == "Collector abc.def"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"] == batch.items


def test_backoff_is_bounded(tmp_path, portal_stub):
    spool = snmp.Spool(tmp_path)
    spool.add([READING])
    portal = portal_stub([503] * 6)
    sleeps = Sleeps()
    summary = snmp.spool_send(
        spool, portal=portal.url, key="k.s", post=snmp.http_post(), attempts=6, backoff=1, max_backoff=5, sleep=sleeps
    )
    assert sleeps == [1, 2, 4, 5, 5]
    assert len(portal.requests) == 6
    assert summary.remaining == 1 and len(spool.pending()) == 1


def test_a_retry_within_the_run_sends_the_batch_once_the_portal_answers(tmp_path, portal_stub):
    spool = snmp.Spool(tmp_path)
    spool.add([READING])
    portal = portal_stub([502, 200])
    sleeps = Sleeps()
    summary = snmp.spool_send(spool, portal=portal.url, key="k.s", post=snmp.http_post(), sleep=sleeps)
    assert (summary.sent, sleeps, spool.pending()) == (1, [2.0], [])
    assert portal.requests[0]["headers"]["Idempotency-Key"] == portal.requests[1]["headers"]["Idempotency-Key"]


def test_a_batch_the_portal_calls_malformed_is_set_aside_and_the_rest_go_on(tmp_path, portal_stub):
    spool = snmp.Spool(tmp_path)
    bad, good = spool.add([READING, dict(READING, value=1)], batch_size=1)
    portal = portal_stub([400, 200])
    summary = snmp.spool_send(spool, portal=portal.url, key="k.s", post=snmp.http_post(), sleep=Sleeps())
    assert (summary.rejected, summary.sent) == (1, 1)
    assert spool.pending() == []
    assert (tmp_path / "rejected" / bad.path.name).exists()
    answer = json.loads((tmp_path / "rejected" / f"{bad.path.stem}.answer.json").read_text())
    assert answer == {"status": 400, "answer": {"detail": "no"}}


def test_a_refused_key_stops_sending_and_keeps_every_batch(tmp_path, portal_stub):
    spool = snmp.Spool(tmp_path)
    spool.add([READING, dict(READING, value=1)], batch_size=1)
    portal = portal_stub([401])
    sleeps = Sleeps()
    summary = snmp.spool_send(spool, portal=portal.url, key="k.s", post=snmp.http_post(), sleep=sleeps)
    assert summary.stopped.startswith("the portal refused the collector key (401")
    assert (summary.remaining, len(spool.pending()), len(portal.requests), sleeps) == (2, 2, 1, [])


def test_an_unreadable_spool_file_is_set_aside(tmp_path):
    spool = snmp.Spool(tmp_path)
    (tmp_path / "batch-00000000000000000001-x.json").write_text("{not json")
    assert spool.pending() == []
    assert (tmp_path / "rejected" / "batch-00000000000000000001-x.json").exists()


def test_ingest_url_accepts_the_portal_or_the_endpoint():
    assert snmp.ingest_url("https://portal.example/") == "https://portal.example/api/v1/telemetry/"
    assert snmp.ingest_url("https://portal.example/api/v1/telemetry") == "https://portal.example/api/v1/telemetry/"


# -- Whole polls against the simulated printer ------------------------------------------------------------------------


@pytest.fixture
def mfp(customer, site):
    return AssetFactory(
        customer=customer, site=site, serial_number=MFP_SERIAL, manufacturer=ManufacturerFactory(name="Ricoh")
    )


@pytest.fixture
def laser(customer, site):
    return AssetFactory(
        customer=customer, site=site, serial_number=LASER_SERIAL, manufacturer=ManufacturerFactory(name="HP")
    )


@pytest.fixture
def collector_key(customer):
    return collector_key_create(customer=customer, name="snmp agent, 3F")[1]


def test_poll_reads_a_v2c_printer(snmp_agent):
    [earlier] = snmp.poll_all([_v2c(snmp_agent, "mfp-colour")], timeout=1, retries=1)
    [outcome] = snmp.poll_all([_v2c(snmp_agent, "mfp-colour")], timeout=1, retries=1)
    snapshot = outcome.snapshot
    assert outcome.error == ""
    assert snapshot.serial == MFP_SERIAL
    assert [(marker.index, marker.counter_unit, marker.process_colorants) for marker in snapshot.markers] == [
        (1, 7, 1),
        (2, 7, 4),
    ]
    assert snapshot.markers[0].life_count > earlier.snapshot.markers[0].life_count > 120000  # the counter climbs
    assert snapshot.markers[1].life_count == 45000
    assert [row.description for row in snapshot.supplies] == [
        "ブラックトナー",
        "シアントナー",  # sent in Shift_JIS
        "マゼンタトナー",
        "イエロートナー",
        "ドラムユニット",
        "廃トナーボックス",
        "定着ユニット",
    ]
    assert (snapshot.device_status, snapshot.error_state) == (3, b"\x28\x00")


def test_poll_reads_a_v3_printer_with_sha_and_aes(snmp_agent):
    [outcome] = snmp.poll_all([_v3(snmp_agent)], timeout=1, retries=1)
    assert outcome.snapshot.serial == LASER_SERIAL
    assert snmp.supply_levels(outcome.snapshot.supplies) == {Supply.TONER_BLACK: Decimal("42.00")}
    assert snmp.active_codes(outcome.snapshot) == ["noPaper"]


def test_poll_all_works_when_called_from_a_running_event_loop(snmp_agent):
    async def caller():
        return snmp.poll_all([_v2c(snmp_agent, "mfp-colour")], timeout=1)

    # In a thread of its own: another test's browser driver may keep a loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        [outcome] = pool.submit(lambda: asyncio.run(caller())).result()
    assert outcome.snapshot.serial == MFP_SERIAL


def test_poll_reports_wrong_v3_keys_and_silent_hosts_without_stopping_the_others(snmp_agent):
    outcomes = snmp.poll_all(
        [
            _v3(snmp_agent, auth_key="not-the-key"),
            snmp.Target(host="127.0.0.1", port=_free_udp_port(), community="public"),
            _v2c(snmp_agent, "mfp-colour"),
        ],
        timeout=0.5,
        retries=0,
    )
    assert "Wrong SNMP PDU digest" in outcomes[0].error
    assert "No SNMP response" in outcomes[1].error
    assert outcomes[2].snapshot.serial == MFP_SERIAL


def test_a_serial_override_addresses_the_asset_whatever_the_device_reports(snmp_agent):
    [outcome] = snmp.poll_all([_v2c(snmp_agent, "mfp-colour", serial="ASSET-7")], timeout=1)
    assert outcome.snapshot.serial == "ASSET-7"


def test_a_device_without_a_serial_number_needs_one_in_the_targets(snmp_agent):
    unnamed, named = snmp.poll_all(
        [_v2c(snmp_agent, "no-serial"), _v2c(snmp_agent, "no-serial", serial="PRN-0042")], timeout=1
    )
    assert unnamed.snapshot is None and "reports no serial number" in unnamed.error
    assert named.snapshot.serial == "PRN-0042"
    assert snmp.meter_values(named.snapshot.markers) == {Meter.TOTAL_PAGES: 5120}


@pytest.mark.django_db(transaction=True)
def test_collect_snmp_command_lands_readings_supplies_and_events_for_the_assets(
    snmp_agent, live_server, mfp, laser, collector_key, tmp_path
):
    targets = tmp_path / "targets.csv"
    targets.write_text(
        "host,port,version,community,user,auth_key,priv_key,auth_proto,priv_proto,context\n"
        f"127.0.0.1,{snmp_agent['port']},2c,mfp-colour,,,,,,\n"
        f"127.0.0.1,{snmp_agent['port']},3,,{V3_USER},{V3_AUTH_KEY},{V3_PRIV_KEY},SHA,AES,laser-mono\n",
        encoding="utf-8",
    )
    spool = tmp_path / "spool"

    call_command(
        "collect_snmp",
        "--portal",
        live_server.url,
        "--key",
        collector_key,
        "--targets",
        str(targets),
        "--spool-dir",
        str(spool),
        stdout=io.StringIO(),
    )

    readings = {(r.asset_id, r.meter): r.value for r in Reading.objects.all()}
    assert set(readings) == {
        (mfp.pk, Meter.TOTAL_PAGES),
        (mfp.pk, Meter.MONO_PAGES),
        (mfp.pk, Meter.COLOUR_PAGES),
        (laser.pk, Meter.TOTAL_PAGES),
    }
    assert readings[(mfp.pk, Meter.COLOUR_PAGES)] == 45000
    assert readings[(mfp.pk, Meter.TOTAL_PAGES)] == readings[(mfp.pk, Meter.MONO_PAGES)] + 45000
    assert readings[(laser.pk, Meter.TOTAL_PAGES)] >= 88000
    levels = {(level.asset_id, level.supply): level.percent for level in SupplyLevel.objects.all()}
    assert levels == {
        (mfp.pk, Supply.TONER_BLACK): Decimal("15.00"),
        (mfp.pk, Supply.TONER_MAGENTA): Decimal("50.00"),
        (mfp.pk, Supply.DRUM): Decimal("80.00"),
        (mfp.pk, Supply.WASTE_TONER): Decimal("35.00"),
        (laser.pk, Supply.TONER_BLACK): Decimal("42.00"),
    }
    events = {(event.asset_id, event.code, event.severity, event.cleared) for event in DiagnosticEvent.objects.all()}
    assert events == {
        (mfp.pk, "lowToner", "warning", False),
        (mfp.pk, "doorOpen", "warning", False),
        (laser.pk, "noPaper", "warning", False),
    }
    assert list(spool.glob("batch-*.json")) == []
    assert json.loads((spool / "state.json").read_text()) == {
        "active": {MFP_SERIAL: ["lowToner", "doorOpen"], LASER_SERIAL: ["noPaper"]}
    }


@pytest.mark.django_db
def test_a_cleared_condition_is_posted_as_cleared_at_the_next_poll(snmp_agent, mfp, collector_key, tmp_path):
    spool = snmp.Spool(tmp_path)
    post = client_post(Client())

    first = snmp.collect(
        [_v2c(snmp_agent, "mfp-colour")], spool=spool, portal="http://testserver", key=collector_key, post=post
    )
    second = snmp.collect(
        [_v2c(snmp_agent, "mfp-colour-cleared")], spool=spool, portal="http://testserver", key=collector_key, post=post
    )

    assert first.ok and second.ok
    events = list(DiagnosticEvent.objects.filter(asset=mfp).order_by("occurred_at", "code"))
    assert [(event.code, event.cleared) for event in events] == [
        ("doorOpen", False),
        ("lowToner", False),
        ("doorOpen", True),
        ("lowToner", True),
    ]
    assert Reading.objects.filter(asset=mfp, meter=Meter.TOTAL_PAGES).count() == 2
    black = SupplyLevel.objects.filter(asset=mfp, supply=Supply.TONER_BLACK).order_by("taken_at")
    assert [level.percent for level in black] == [Decimal("15.00"), Decimal("100.00")]


@pytest.mark.django_db
def test_a_batch_whose_answer_was_lost_is_resent_with_its_key_and_stores_nothing_twice(
    snmp_agent, mfp, collector_key, tmp_path
):
    spool = snmp.Spool(tmp_path)
    deliver = client_post(Client())
    keys = []

    def answer_lost(url, body, headers):  # the portal stores the batch, but its answer never arrives
        keys.append(headers["Idempotency-Key"])
        deliver(url, body, headers)
        return snmp.Answer(None, error="connection reset")

    lost = snmp.collect(
        [_v2c(snmp_agent, "mfp-colour")],
        spool=spool,
        portal="http://testserver",
        key=collector_key,
        post=answer_lost,
        attempts=1,
    )
    stored = (Reading.objects.count(), SupplyLevel.objects.count(), DiagnosticEvent.objects.count())
    assert lost.send.stopped and len(spool.pending()) == 1

    def recording(url, body, headers):
        keys.append(headers["Idempotency-Key"])
        return deliver(url, body, headers)

    resent = snmp.collect([], spool=spool, portal="http://testserver", key=collector_key, post=recording)

    assert resent.ok and spool.pending() == []
    assert keys[0] == keys[1]
    assert stored == (3, 4, 2)
    assert (Reading.objects.count(), SupplyLevel.objects.count(), DiagnosticEvent.objects.count()) == stored
    assert IngestRequest.objects.get(idempotency_key=keys[0]).accepted == 9


@pytest.mark.django_db
def test_collect_snmp_command_fails_when_the_portal_cannot_be_reached_and_keeps_the_reads(snmp_agent, mfp, tmp_path):
    with pytest.raises(CommandError, match="did not finish cleanly"):
        call_command(
            "collect_snmp",
            "--portal",
            _closed_port_url(),
            "--key",
            "abc.def",
            "--target",
            f"127.0.0.1:{snmp_agent['port']}",
            "--community",
            "mfp-colour",
            "--spool-dir",
            str(tmp_path),
            "--attempts",
            "1",
            stdout=io.StringIO(),
        )
    [batch] = snmp.Spool(tmp_path).pending()
    assert {item["serial"] for item in batch.items} == {MFP_SERIAL}
    assert len(batch.items) == 9


def test_the_agent_runs_without_django(snmp_agent, tmp_path):
    """``python -m telemetry.snmp`` in a clean interpreter: no Django settings, no Django import."""
    code = (
        "import sys; from telemetry import snmp; code = snmp.main(sys.argv[1:]); "
        "assert 'django' not in sys.modules, 'Django was imported'; sys.exit(code)"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--dry-run",
            "--target",
            f"127.0.0.1:{snmp_agent['port']}",
            "--community",
            "mfp-colour",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    assert {item["type"] for item in items} == {"reading", "supply", "event"}
