"""The SNMP collector: polls printers, maps what they report to telemetry and posts it to the portal.

It reads the Printer MIB (RFC 3805) and the Host Resources MIB over SNMP v2c or v3 (USM), by numeric OID only,
turns them into the ingest API's items (meter readings, supply levels, diagnostic events), writes each batch to
a local spool and posts it to ``POST /api/v1/telemetry/`` with a collector key. A batch leaves the spool only
when the portal has answered it, so a portal that is down loses no reads: the next run sends them again, with
the same ``Idempotency-Key``.

The module needs no Django (only the standard library, ``pysnmp`` and, for AES/DES privacy, ``cryptography``),
so it runs as a small agent on a customer's network::

    python -m telemetry.snmp --portal https://portal.example.com --key <prefix>.<secret> --targets targets.csv

``manage.py collect_snmp`` takes the same options. telemetry/README.md describes the targets file, the mapping
and the spool.
"""

import argparse
import asyncio
import concurrent.futures
import csv
import json
import logging
import os
import re
import ssl
import sys
import time
import unicodedata
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pyasn1.type import univ
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_AUTH_NONE,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CBC168_3DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB256_AES,
    USM_PRIV_NONE,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
)
from pysnmp.proto import rfc1905

logger = logging.getLogger("telemetry.snmp")

INGEST_PATH = "/api/v1/telemetry/"
USER_AGENT = "fleet-snmp-collector/1"
DEFAULT_SPOOL_DIR = "snmp-spool"
DEFAULT_BATCH_SIZE = 5000  # the API takes at most 10,000 items per batch
MAX_ROWS_PER_WALK = 2000  # a broken agent that never ends a table cannot keep the collector busy

# -- OIDs (numeric: compiling MIBs would need their sources from the internet) ---------------------------------------

HR_DEVICE_STATUS = (1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 5)  # hrDeviceStatus.<hrDeviceIndex>
HR_PRINTER_ERROR_STATE = (1, 3, 6, 1, 2, 1, 25, 3, 5, 1, 2)  # hrPrinterDetectedErrorState.<hrDeviceIndex>
PRT_GENERAL_SERIAL = (1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 17)  # prtGeneralSerialNumber.<hrDeviceIndex>
PRT_MARKER_ENTRY = (1, 3, 6, 1, 2, 1, 43, 10, 2, 1)  # prtMarkerEntry.<column>.<hrDeviceIndex>.<marker>
PRT_SUPPLIES_ENTRY = (1, 3, 6, 1, 2, 1, 43, 11, 1, 1)  # prtMarkerSuppliesEntry.<column>.<hrDeviceIndex>.<supply>

MARKER_COUNTER_UNIT, MARKER_LIFE_COUNT, MARKER_PROCESS_COLORANTS = 3, 4, 6
SUPPLY_TYPE, SUPPLY_DESCRIPTION, SUPPLY_MAX_CAPACITY, SUPPLY_LEVEL = 5, 6, 8, 9

COUNTER_UNITS_OF_PAGES = (7, 8)  # prtMarkerCounterUnit impressions(7), sheets(8); others (e.g. meters) are not pages
HR_DEVICE_DOWN = 5  # hrDeviceStatus down(5)

# prtMarkerSuppliesType values the mapping uses (PrtMarkerSuppliesTypeTC).
SUPPLY_TYPE_OTHER, SUPPLY_TYPE_UNKNOWN = 1, 2
SUPPLY_TYPE_WASTE_TONER, SUPPLY_TYPE_OPC = 4, 9
SUPPLY_TYPES_TONER = (3, 5, 6, 21)  # toner, ink, inkCartridge, tonerCartridge

# -- Events: hrPrinterDetectedErrorState bits (bit 0 is the first octet's most significant bit) ----------------------

SEVERITY_INFO, SEVERITY_WARNING, SEVERITY_ERROR = "info", "warning", "error"


@dataclass(frozen=True)
class EventKind:
    code: str
    severity: str
    message: str


ERROR_STATE_BITS: tuple[EventKind, ...] = (
    EventKind("lowPaper", SEVERITY_INFO, "Paper low"),
    EventKind("noPaper", SEVERITY_WARNING, "Out of paper"),
    EventKind("lowToner", SEVERITY_WARNING, "Toner low"),
    EventKind("noToner", SEVERITY_ERROR, "Out of toner"),
    EventKind("doorOpen", SEVERITY_WARNING, "Door open"),
    EventKind("jammed", SEVERITY_ERROR, "Paper jam"),
    EventKind("offline", SEVERITY_WARNING, "Offline"),
    EventKind("serviceRequested", SEVERITY_ERROR, "Service requested"),
    EventKind("inputTrayMissing", SEVERITY_WARNING, "Input tray missing"),
    EventKind("outputTrayMissing", SEVERITY_WARNING, "Output tray missing"),
    EventKind("markerSupplyMissing", SEVERITY_ERROR, "Marker supply missing"),
    EventKind("outputNearFull", SEVERITY_INFO, "Output tray nearly full"),
    EventKind("outputFull", SEVERITY_WARNING, "Output tray full"),
    EventKind("inputTrayEmpty", SEVERITY_WARNING, "Input tray empty"),
    EventKind("overduePreventMaint", SEVERITY_WARNING, "Preventive maintenance overdue"),
)
DEVICE_DOWN = EventKind("deviceDown", SEVERITY_ERROR, "Device down")
EVENT_KINDS = {kind.code: kind for kind in (*ERROR_STATE_BITS, DEVICE_DOWN)}

# -- Supplies: description keywords (matched case-insensitively after NFKC, so full- and half-width forms match) ------

TONER_BLACK, TONER_CYAN, TONER_MAGENTA, TONER_YELLOW = "toner_black", "toner_cyan", "toner_magenta", "toner_yellow"
DRUM, WASTE_TONER = "drum", "waste_toner"

WASTE_WORDS = ("waste", "used toner", "toner collection", "廃トナー", "回収")
DRUM_WORDS = ("drum", "opc", "photoconductor", "imaging unit", "ドラム", "感光体")
OTHER_PART_WORDS = (  # parts that carry a colour in their name but are no toner: developer, fuser, belts...
    "developer",
    "fuser",
    "transfer",
    "belt",
    "roller",
    "staple",
    "maintenance",
    "cleaning",
    "現像",
    "定着",
    "転写",
    "ベルト",
    "ローラ",
    "ステープル",
    "クリーニング",
)
COLOUR_PATTERNS = (
    (TONER_BLACK, re.compile(r"\b(?:black|blk|bk)\b|ブラック|黒")),
    (TONER_CYAN, re.compile(r"\bcyan\b|シアン")),
    (TONER_MAGENTA, re.compile(r"\bmagenta\b|マゼンタ")),
    (TONER_YELLOW, re.compile(r"\byellow\b|イエロー|黄")),
)
SUPPLY_LEVEL_SOME_REMAINING, SUPPLY_LEVEL_UNKNOWN, SUPPLY_LEVEL_OTHER = -3, -2, -1
PERCENT_QUANTUM = Decimal("0.01")


class CollectorError(Exception):
    """A problem the collector reports and goes on past (a bad targets line, a device that does not answer)."""


# -- Targets ----------------------------------------------------------------------------------------------------------

AUTH_PROTOCOLS = {
    "MD5": USM_AUTH_HMAC96_MD5,
    "SHA": USM_AUTH_HMAC96_SHA,
    "SHA224": USM_AUTH_HMAC128_SHA224,
    "SHA256": USM_AUTH_HMAC192_SHA256,
    "SHA384": USM_AUTH_HMAC256_SHA384,
    "SHA512": USM_AUTH_HMAC384_SHA512,
}
PRIV_PROTOCOLS = {
    "DES": USM_PRIV_CBC56_DES,
    "3DES": USM_PRIV_CBC168_3DES,
    "AES": USM_PRIV_CFB128_AES,
    "AES128": USM_PRIV_CFB128_AES,
    "AES192": USM_PRIV_CFB192_AES,
    "AES256": USM_PRIV_CFB256_AES,
}
VERSIONS = ("2c", "3")
TARGET_COLUMNS = (
    "host",
    "port",
    "version",
    "community",
    "user",
    "auth_key",
    "priv_key",
    "auth_proto",
    "priv_proto",
    "context",
    "serial",
    "manufacturer",
)


@dataclass(frozen=True)
class Target:
    """One device to poll and how to reach it. ``serial`` overrides what the device reports."""

    host: str
    port: int = 161
    version: str = "2c"
    community: str = "public"
    user: str = ""
    auth_key: str = ""
    priv_key: str = ""
    auth_proto: str = "SHA"
    priv_proto: str = "AES"
    context: str = ""
    serial: str = ""
    manufacturer: str = ""

    def __post_init__(self):
        if not self.host:
            raise CollectorError("a target needs a host")
        if not 0 < self.port < 65536:
            raise CollectorError(f"{self.host}: port {self.port} is not a UDP port")
        if self.version not in VERSIONS:
            raise CollectorError(f"{self.host}: SNMP version {self.version!r} is not one of {', '.join(VERSIONS)}")
        if self.version == "3":
            if not self.user:
                raise CollectorError(f"{self.host}: SNMP v3 needs a user")
            if self.auth_proto not in AUTH_PROTOCOLS:
                raise CollectorError(f"{self.host}: auth_proto is one of {', '.join(AUTH_PROTOCOLS)}")
            if self.priv_proto not in PRIV_PROTOCOLS:
                raise CollectorError(f"{self.host}: priv_proto is one of {', '.join(PRIV_PROTOCOLS)}")
            if self.priv_key and not self.auth_key:
                raise CollectorError(f"{self.host}: privacy (priv_key) needs authentication (auth_key) too")
            for name in ("auth_key", "priv_key"):
                if 0 < len(getattr(self, name)) < 8:
                    raise CollectorError(f"{self.host}: {name} must have at least 8 characters")

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"

    def auth_data(self) -> CommunityData | UsmUserData:
        if self.version == "2c":
            return CommunityData(self.community, mpModel=1)
        return UsmUserData(
            self.user,
            authKey=self.auth_key or None,
            privKey=self.priv_key or None,
            authProtocol=AUTH_PROTOCOLS[self.auth_proto] if self.auth_key else USM_AUTH_NONE,
            privProtocol=PRIV_PROTOCOLS[self.priv_proto] if self.priv_key else USM_PRIV_NONE,
        )

    def engine_key(self) -> tuple:
        """Targets with the same key share an SNMP engine (v3 users with the same name may differ in keys)."""
        if self.version == "2c":
            return ("2c",)
        return ("3", self.user, self.auth_key, self.priv_key, self.auth_proto, self.priv_proto)


def target_from_row(row: dict[str, str]) -> Target:
    """A target from a CSV row or a command line's options; empty cells take the defaults."""
    values = {name: (row.get(name) or "").strip() for name in TARGET_COLUMNS}
    kwargs: dict = {name: value for name, value in values.items() if value}
    if "port" in kwargs:
        try:
            kwargs["port"] = int(kwargs["port"])
        except ValueError:
            raise CollectorError(f"{values['host']}: port {values['port']!r} is not a number") from None
    if "version" in kwargs:
        kwargs["version"] = kwargs["version"].lower().removeprefix("v")
    for name in ("auth_proto", "priv_proto"):
        if name in kwargs:
            kwargs[name] = kwargs[name].upper().replace("-", "")
    return Target(**kwargs)


def targets_read(path: str | os.PathLike) -> list[Target]:
    """The targets of a CSV file: a header row naming columns of TARGET_COLUMNS (at least host), then a device a
    row. Blank lines and lines starting with ``#`` are skipped; errors name the file's line."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        lines = ["\n" if line.lstrip().startswith("#") else line for line in handle]
    skipped = next((number for number, line in enumerate(lines) if line.strip()), len(lines))
    reader = csv.DictReader(lines[skipped:])
    if not reader.fieldnames or "host" not in reader.fieldnames:
        raise CollectorError(f"{path}: the first line must name the columns, at least host")
    unknown = set(reader.fieldnames) - set(TARGET_COLUMNS)
    if unknown:
        raise CollectorError(f"{path}: unknown columns {', '.join(sorted(unknown))}")
    targets = []
    for row in reader:
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue
        try:
            targets.append(target_from_row(row))
        except CollectorError as error:
            raise CollectorError(f"{path}, line {skipped + reader.line_num}: {error}") from None
    return targets


# -- What a poll reads, in plain Python values ------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    """A row of prtMarkerTable: a marking engine and its lifetime counter."""

    index: int
    life_count: int | None
    counter_unit: int | None = None
    process_colorants: int | None = None


@dataclass(frozen=True)
class SupplyRow:
    """A row of prtMarkerSuppliesTable."""

    index: int
    description: str
    max_capacity: int | None
    level: int | None
    supply_type: int | None = None


@dataclass
class Snapshot:
    """What one poll read from one printer."""

    serial: str
    markers: list[Marker] = field(default_factory=list)
    supplies: list[SupplyRow] = field(default_factory=list)
    device_status: int | None = None
    error_state: bytes = b""


def text_decode(octets: bytes) -> str:
    """Text of an OCTET STRING: UTF-8, else Shift_JIS (many Japanese devices), else Latin-1; NULs and blanks cut."""
    octets = octets.rstrip(b"\x00")
    for encoding in ("utf-8", "cp932"):
        try:
            return octets.decode(encoding).strip()
        except UnicodeDecodeError:
            continue
    return octets.decode("latin-1").strip()


# -- Mapping ----------------------------------------------------------------------------------------------------------


def meter_values(markers: Iterable[Marker]) -> dict[str, int]:
    """Page counters from the markers' lifetime counts.

    ``total_pages`` is the sum over the markers that count pages (impressions or sheets, or no unit reported).
    A device with several markers that each report their number of process colorants also gets
    ``mono_pages`` (the markers with one colorant) and ``colour_pages`` (those with more).
    """
    counted = [
        marker
        for marker in markers
        if marker.life_count is not None
        and marker.life_count >= 0
        and (marker.counter_unit is None or marker.counter_unit in COUNTER_UNITS_OF_PAGES)
    ]
    if not counted:
        return {}
    values = {"total_pages": sum(marker.life_count for marker in counted)}
    if len(counted) > 1 and all(marker.process_colorants and marker.process_colorants > 0 for marker in counted):
        mono = [marker.life_count for marker in counted if marker.process_colorants == 1]
        colour = [marker.life_count for marker in counted if marker.process_colorants > 1]
        if mono:
            values["mono_pages"] = sum(mono)
        if colour:
            values["colour_pages"] = sum(colour)
    return values


def supply_percent(level: int | None, max_capacity: int | None) -> Decimal | None:
    """``level / max capacity * 100`` rounded to 0.01 and kept within 0..100; None when either is not a quantity
    (level -3 "some remaining", -2 unknown, -1 other; a capacity of zero or below)."""
    if level is None or max_capacity is None or level < 0 or max_capacity <= 0:
        return None
    percent = (Decimal(level) * 100 / Decimal(max_capacity)).quantize(PERCENT_QUANTUM, rounding=ROUND_HALF_UP)
    return min(max(percent, Decimal(0)), Decimal(100))


def supply_kind(description: str, supply_type: int | None = None) -> str | None:
    """The portal's supply for a prtMarkerSuppliesDescription (and prtMarkerSuppliesType when the device reports
    one), or None for supplies the portal does not track (fuser, staples, developer...)."""
    text = unicodedata.normalize("NFKC", description).casefold()
    if supply_type == SUPPLY_TYPE_WASTE_TONER:
        return WASTE_TONER
    if supply_type == SUPPLY_TYPE_OPC:
        return DRUM
    known_type = supply_type is not None and supply_type not in (SUPPLY_TYPE_OTHER, SUPPLY_TYPE_UNKNOWN)
    if known_type and supply_type not in SUPPLY_TYPES_TONER:
        return None
    if not known_type:
        if any(word in text for word in WASTE_WORDS):
            return WASTE_TONER
        if any(word in text for word in DRUM_WORDS):
            return DRUM
        if any(word in text for word in OTHER_PART_WORDS):
            return None
    for kind, pattern in COLOUR_PATTERNS:
        if pattern.search(text):
            return kind
    return None


def supply_levels(supplies: Iterable[SupplyRow]) -> dict[str, Decimal]:
    """Percent per supply; where several rows map to one supply (four drums), the lowest level counts."""
    levels: dict[str, Decimal] = {}
    for row in supplies:
        kind = supply_kind(row.description, row.supply_type)
        percent = supply_percent(row.level, row.max_capacity)
        if kind is None or percent is None:
            continue
        if kind not in levels or percent < levels[kind]:
            levels[kind] = percent
    return levels


def error_state_codes(octets: bytes) -> list[str]:
    """The event codes of the bits set in hrPrinterDetectedErrorState (bit 0 = the first octet's top bit)."""
    codes = []
    for bit, kind in enumerate(ERROR_STATE_BITS):
        byte, offset = divmod(bit, 8)
        if byte < len(octets) and octets[byte] & (0x80 >> offset):
            codes.append(kind.code)
    return codes


def active_codes(snapshot: Snapshot) -> list[str]:
    """The conditions a printer reports now: its error-state bits, and deviceDown when hrDeviceStatus says so."""
    codes = error_state_codes(snapshot.error_state)
    if snapshot.device_status == HR_DEVICE_DOWN:
        codes.append(DEVICE_DOWN.code)
    return codes


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def snapshot_items(
    snapshot: Snapshot, *, taken_at: datetime, previous_codes: Iterable[str] | None, manufacturer: str = ""
) -> tuple[list[dict], list[str]]:
    """The ingest items of one poll, and the conditions now active (to compare with at the next poll).

    Events are sent when a condition appears (compared with ``previous_codes``, None for a first poll) and,
    with ``cleared: true``, when one that the previous poll saw has gone; a condition that persists is not
    sent again (the portal's alert already counts it).
    """
    address = {"serial": snapshot.serial}
    if manufacturer:
        address["manufacturer"] = manufacturer
    at = _timestamp(taken_at)
    items: list[dict] = []
    for meter, value in meter_values(snapshot.markers).items():
        items.append({"type": "reading", **address, "meter": meter, "taken_at": at, "value": value})
    for supply, percent in supply_levels(snapshot.supplies).items():
        items.append({"type": "supply", **address, "supply": supply, "taken_at": at, "percent": str(percent)})
    codes = active_codes(snapshot)
    before = set(previous_codes or ())
    raw = {"hrPrinterDetectedErrorState": snapshot.error_state.hex(), "hrDeviceStatus": snapshot.device_status}
    changes = [(code, False) for code in codes if code not in before]
    changes += [(code, True) for code in sorted(before - set(codes)) if code in EVENT_KINDS]
    for code, cleared in changes:
        kind = EVENT_KINDS[code]
        items.append(
            {
                "type": "event",
                **address,
                "code": code,
                "occurred_at": at,
                "severity": kind.severity,
                "message": f"{kind.message} (cleared)" if cleared else kind.message,
                "cleared": cleared,
                "raw": raw,
            }
        )
    return items, codes


# -- Polling ----------------------------------------------------------------------------------------------------------


def _plain(value):
    """A pysnmp value as int, bytes or None (for noSuchObject, noSuchInstance, endOfMibView)."""
    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return None
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString):
        return bytes(value.asOctets())
    return None


class Poller:
    """Polls targets over SNMP with pysnmp's asyncio API; one engine per distinct set of credentials."""

    def __init__(self, *, timeout: float = 2.0, retries: int = 1, max_repetitions: int = 25):
        self.timeout = timeout
        self.retries = retries
        self.max_repetitions = max_repetitions
        self._engines: dict[tuple, SnmpEngine] = {}

    def _engine(self, target: Target) -> SnmpEngine:
        key = target.engine_key()
        if key not in self._engines:
            self._engines[key] = SnmpEngine()
        return self._engines[key]

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close_dispatcher()
        self._engines.clear()

    async def _walk(self, target: Target, transport, prefix: tuple[int, ...]) -> dict[tuple[int, ...], object]:
        """The values under ``prefix``, keyed by the OID's suffix (GETBULK; stops at the subtree's end)."""
        rows: dict[tuple[int, ...], object] = {}
        walk = bulk_walk_cmd(
            self._engine(target),
            target.auth_data(),
            transport,
            ContextData(contextName=target.context.encode()),
            0,
            self.max_repetitions,
            ObjectType(ObjectIdentity(".".join(map(str, prefix)))),
            lexicographicMode=False,
            lookupMib=False,
            maxRows=MAX_ROWS_PER_WALK,
        )
        async for error_indication, error_status, _error_index, var_binds in walk:
            if error_indication:
                await walk.aclose()  # pysnmp retries a timed-out walk forever otherwise
                raise CollectorError(f"{target.label}: {error_indication}")
            if error_status:
                await walk.aclose()
                raise CollectorError(f"{target.label}: {error_status.prettyPrint()}")
            for name, value in var_binds:
                oid = tuple(name)
                if oid[: len(prefix)] == prefix:
                    rows[oid[len(prefix) :]] = _plain(value)
        return rows

    async def poll(self, target: Target) -> Snapshot:
        """Read one printer. Raises CollectorError when it does not answer or reports no serial number."""
        transport = await UdpTransportTarget.create(
            (target.host, target.port), timeout=self.timeout, retries=self.retries
        )
        serials = await self._walk(target, transport, PRT_GENERAL_SERIAL)
        markers = await self._walk(target, transport, PRT_MARKER_ENTRY)
        supplies = await self._walk(target, transport, PRT_SUPPLIES_ENTRY)
        error_states = await self._walk(target, transport, HR_PRINTER_ERROR_STATE)
        statuses = await self._walk(target, transport, HR_DEVICE_STATUS)

        # The printer is the first hrDevice the Printer MIB names; its tables are indexed by that device.
        devices = sorted({key[0] for key in serials} | {key[1] for key in markers if len(key) == 3})
        device = devices[0] if devices else 1
        reported = next((value for key, value in sorted(serials.items()) if key[0] == device), None)

        def column(table: dict, number: int) -> dict[int, object]:
            return {key[2]: value for key, value in table.items() if len(key) == 3 and key[:2] == (number, device)}

        def integer(value) -> int | None:
            return value if isinstance(value, int) else None

        def text(value) -> str:
            return text_decode(value) if isinstance(value, bytes) else ""

        serial = target.serial or text(reported)
        if not serial:
            raise CollectorError(f"{target.label}: the device reports no serial number (set one in the targets)")
        counts, units = column(markers, MARKER_LIFE_COUNT), column(markers, MARKER_COUNTER_UNIT)
        colorants = column(markers, MARKER_PROCESS_COLORANTS)
        descriptions, types = column(supplies, SUPPLY_DESCRIPTION), column(supplies, SUPPLY_TYPE)
        capacities, levels = column(supplies, SUPPLY_MAX_CAPACITY), column(supplies, SUPPLY_LEVEL)
        error_state = error_states.get((device,))
        return Snapshot(
            serial=serial,
            markers=[
                Marker(
                    index=index,
                    life_count=integer(counts[index]),
                    counter_unit=integer(units.get(index)),
                    process_colorants=integer(colorants.get(index)),
                )
                for index in sorted(counts)
            ],
            supplies=[
                SupplyRow(
                    index=index,
                    description=text(descriptions.get(index)),
                    max_capacity=integer(capacities.get(index)),
                    level=integer(levels.get(index)),
                    supply_type=integer(types.get(index)),
                )
                for index in sorted(descriptions.keys() | levels.keys())
            ],
            device_status=integer(statuses.get((device,))),
            error_state=error_state if isinstance(error_state, bytes) else b"",
        )


@dataclass
class PollOutcome:
    target: Target
    taken_at: datetime
    snapshot: Snapshot | None = None
    error: str = ""


async def poll_targets(targets: Sequence[Target], *, poller: Poller, concurrency: int = 16) -> list[PollOutcome]:
    """Poll every target, ``concurrency`` at a time; a device that fails is reported, not fatal."""
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(target: Target) -> PollOutcome:
        async with semaphore:
            taken_at = datetime.now(UTC)  # full precision: two quick polls must not share an event key
            try:
                return PollOutcome(target, taken_at, snapshot=await poller.poll(target))
            except CollectorError as error:
                return PollOutcome(target, taken_at, error=str(error))
            except (PySnmpError, OSError) as error:  # the host name does not resolve, the network is unreachable
                return PollOutcome(target, taken_at, error=f"{target.label}: {error}")
            except Exception as error:  # one device's odd answer must not cost the others their poll
                logger.exception("polling %s failed", target.label)
                return PollOutcome(target, taken_at, error=f"{target.label}: {error!r}")

    return await asyncio.gather(*(one(target) for target in targets))


def poll_all(
    targets: Sequence[Target], *, timeout: float = 2.0, retries: int = 1, concurrency: int = 16
) -> list[PollOutcome]:
    """Poll the targets in a fresh event loop and close the SNMP engines afterwards."""
    poller = Poller(timeout=timeout, retries=retries)

    async def run() -> list[PollOutcome]:
        try:
            return await poll_targets(targets, poller=poller, concurrency=concurrency)
        finally:
            poller.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    # An event loop already runs in this thread (an async caller, a browser driver in tests): use a thread's own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(run())).result()


# -- Spool ------------------------------------------------------------------------------------------------------------


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old file or the new one, never a part (write, fsync, rename)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a platform that cannot open directories (Windows): the rename is still atomic
        return
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@dataclass(frozen=True)
class Batch:
    path: Path
    idempotency_key: str
    items: list[dict]


class Spool:
    """Batches waiting for the portal, one JSON file each, in the order they were made.

    ``batch-*.json`` wait to be sent; ``rejected/`` keeps batches the portal refused as malformed (with its
    answer beside them); ``state.json`` remembers each device's active conditions between runs.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.rejected_directory = self.directory / "rejected"
        self.state_path = self.directory / "state.json"
        self.directory.mkdir(parents=True, exist_ok=True)

    def add(self, items: Sequence[dict], *, batch_size: int = DEFAULT_BATCH_SIZE) -> list[Batch]:
        """Spool ``items`` in batches of at most ``batch_size``, each with its own Idempotency-Key."""
        batches = []
        for start in range(0, len(items), max(1, batch_size)):
            key = uuid.uuid4().hex
            chunk = list(items[start : start + batch_size])
            path = self.directory / f"batch-{time.time_ns():020d}-{key}.json"
            document = {"idempotency_key": key, "created_at": _timestamp(datetime.now(UTC)), "items": chunk}
            _write_atomically(path, json.dumps(document, ensure_ascii=False).encode())
            batches.append(Batch(path, key, chunk))
        return batches

    def pending(self) -> list[Batch]:
        """The spooled batches, oldest first. A file that cannot be read is set aside in ``rejected/``."""
        batches = []
        for path in sorted(self.directory.glob("batch-*.json")):
            try:
                document = json.loads(path.read_bytes())
                batches.append(Batch(path, str(document["idempotency_key"]), list(document["items"])))
            except (ValueError, KeyError, TypeError) as error:
                logger.error("spooled batch %s is unreadable (%s): set aside", path.name, error)
                self._set_aside(path, {"error": f"unreadable spool file: {error}"})
        return batches

    def remove(self, batch: Batch) -> None:
        batch.path.unlink(missing_ok=True)

    def reject(self, batch: Batch, answer) -> None:
        self._set_aside(batch.path, answer)

    def _set_aside(self, path: Path, answer) -> None:
        self.rejected_directory.mkdir(exist_ok=True)
        answer_path = self.rejected_directory / f"{path.stem}.answer.json"
        _write_atomically(answer_path, json.dumps(answer, ensure_ascii=False, default=str).encode())
        os.replace(path, self.rejected_directory / path.name)

    def state(self) -> dict[str, list[str]]:
        """The active conditions per serial number, as the last poll of each device found them."""
        try:
            state = json.loads(self.state_path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError:
            logger.error("%s is unreadable: starting without previous conditions", self.state_path)
            return {}
        return {str(serial): list(codes) for serial, codes in state.get("active", {}).items()}

    def save_state(self, active: dict[str, list[str]]) -> None:
        _write_atomically(self.state_path, json.dumps({"active": active}, ensure_ascii=False, indent=1).encode())


# -- Posting ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The portal's answer to a post: ``status`` None when it could not be reached."""

    status: int | None
    body: bytes = b""
    error: str = ""
    retry_after: float | None = None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode("utf-8", "replace")


Post = Callable[[str, bytes, dict[str, str]], Answer]


def http_post(*, timeout: float = 30.0, cafile: str | None = None) -> Post:
    """A ``Post`` over HTTP(S) with the standard library (certificates checked against ``cafile`` or the system)."""
    context = ssl.create_default_context(cafile=cafile)

    def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read(), str(error), _retry_after(error.headers.get("Retry-After")))
        except (urllib.error.URLError, OSError) as error:  # refused, unresolvable, timed out, TLS failure
            return Answer(None, error=str(getattr(error, "reason", error)))

    return post


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def ingest_url(portal: str) -> str:
    """The ingest endpoint of a portal given by its address (or by the endpoint's own URL)."""
    portal = portal.strip().rstrip("/")
    if portal.endswith(INGEST_PATH.rstrip("/")):
        return portal + "/"
    return portal + INGEST_PATH


MALFORMED_STATUSES = (400, 413, 422)  # the batch itself is wrong: resending it cannot help
KEY_STATUSES = (401, 403)  # the key is wrong or revoked: keep everything until it is fixed


@dataclass
class SendSummary:
    sent: int = 0
    rejected: int = 0
    accepted: int = 0
    duplicates: int = 0
    item_errors: int = 0
    remaining: int = 0
    stopped: str = ""  # why sending stopped early (portal unreachable, key refused)


def spool_send(
    spool: Spool,
    *,
    portal: str,
    key: str,
    post: Post,
    attempts: int = 4,
    backoff: float = 2.0,
    max_backoff: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> SendSummary:
    """Post the spooled batches, oldest first, each with its Idempotency-Key.

    A 2xx answer removes the batch; 400, 413 and 422 move it to ``rejected/``; anything else (no answer, 5xx,
    429) is retried up to ``attempts`` times with exponential backoff (``backoff`` seconds doubling, at most
    ``max_backoff``), after which the run stops sending and leaves the rest for the next run. 401 and 403 stop
    at once: the key needs fixing, and the batches wait for it.
    """
    url = ingest_url(portal)
    summary = SendSummary()
    pending = spool.pending()
    for position, batch in enumerate(pending):
        body = json.dumps(batch.items, ensure_ascii=False).encode()
        headers = {
            "Authorization": f"Collector {key}",
            "Idempotency-Key": batch.idempotency_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        for attempt in range(max(1, attempts)):
            answer = post(url, body, headers)
            status = answer.status
            if status is not None and (200 <= status < 300 or status in MALFORMED_STATUSES or status in KEY_STATUSES):
                break
            if attempt + 1 < attempts:
                delay = min(max_backoff, backoff * 2**attempt)
                if answer.retry_after is not None:
                    delay = min(max_backoff, max(delay, answer.retry_after))
                logger.warning(
                    "portal did not take batch %s (%s); retrying in %.0f s",
                    batch.idempotency_key,
                    status or answer.error,
                    delay,
                )
                sleep(delay)
        if status is not None and 200 <= status < 300:
            spool.remove(batch)
            summary.sent += 1
            result = answer.json()
            if isinstance(result, dict):
                summary.accepted += int(result.get("accepted", 0))
                summary.duplicates += int(result.get("duplicates", 0))
                errors = [error for error in result.get("errors") or [] if isinstance(error, dict)]
                summary.item_errors += len(errors)
                for error in errors:
                    index = error.get("index")
                    item = batch.items[index] if isinstance(index, int) and 0 <= index < len(batch.items) else {}
                    logger.warning(
                        "portal rejected an item (%s %s): %s", item.get("serial"), item.get("type"), error.get("reason")
                    )
        elif status in MALFORMED_STATUSES:
            logger.error("portal refused batch %s as malformed (%s): set aside", batch.idempotency_key, status)
            spool.reject(batch, {"status": status, "answer": answer.json()})
            summary.rejected += 1
        else:
            if status in KEY_STATUSES:
                summary.stopped = f"the portal refused the collector key ({status}: {answer.json()})"
            else:
                summary.stopped = f"the portal is unreachable ({status or answer.error})"
            summary.remaining = len(pending) - position
            logger.error("%s; %d batch(es) stay in %s", summary.stopped, summary.remaining, spool.directory)
            break
    return summary


# -- A run ------------------------------------------------------------------------------------------------------------


@dataclass
class RunSummary:
    polled: int = 0
    failed: list[str] = field(default_factory=list)
    items: int = 0
    batches: int = 0
    send: SendSummary | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and (self.send is None or (not self.send.stopped and not self.send.rejected))

    def lines(self) -> list[str]:
        lines = [f"polled {self.polled} device(s), {len(self.failed)} failed; spooled {self.items} item(s)"]
        lines += [f"  failed: {error}" for error in self.failed]
        if self.send is not None:
            send = self.send
            lines.append(
                f"sent {send.sent} batch(es): {send.accepted} accepted, {send.duplicates} duplicate, "
                f"{send.item_errors} rejected item(s); {send.rejected} batch(es) set aside as malformed"
            )
            if send.stopped:
                lines.append(f"stopped: {send.stopped}; {send.remaining} batch(es) wait for the next run")
        return lines


def collect(
    targets: Sequence[Target],
    *,
    spool: Spool,
    portal: str = "",
    key: str = "",
    post: Post | None = None,
    poll: bool = True,
    send: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout: float = 2.0,
    retries: int = 1,
    concurrency: int = 16,
    attempts: int = 4,
    backoff: float = 2.0,
    max_backoff: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> RunSummary:
    """One run: poll the targets, spool their items (and remember their conditions), then send the spool."""
    summary = RunSummary()
    if poll and targets:
        outcomes = poll_all(targets, timeout=timeout, retries=retries, concurrency=concurrency)
        state = spool.state()
        items: list[dict] = []
        for outcome in outcomes:
            if outcome.snapshot is None:
                summary.failed.append(outcome.error)
                logger.warning("poll failed: %s", outcome.error)
                continue
            serial = outcome.snapshot.serial
            device_items, codes = snapshot_items(
                outcome.snapshot,
                taken_at=outcome.taken_at,
                previous_codes=state.get(serial),
                manufacturer=outcome.target.manufacturer,
            )
            items += device_items
            state[serial] = codes
            summary.polled += 1
        batches = spool.add(items, batch_size=batch_size)
        spool.save_state(state)  # after the spool: the events that changed it are safely on disk
        summary.items, summary.batches = len(items), len(batches)
    if send:
        if not portal or not key:
            raise CollectorError("sending needs the portal's address and a collector key")
        summary.send = spool_send(
            spool,
            portal=portal,
            key=key,
            post=post or http_post(),
            attempts=attempts,
            backoff=backoff,
            max_backoff=max_backoff,
            sleep=sleep,
        )
    return summary


# -- Command line -----------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the agent and of ``manage.py collect_snmp``."""
    env = os.environ.get
    portal = parser.add_argument_group("portal")
    portal.add_argument(
        "--portal", default=env("TELEMETRY_PORTAL_URL", ""), help="the portal's address (env TELEMETRY_PORTAL_URL)"
    )
    portal.add_argument(
        "--key",
        default=env("TELEMETRY_COLLECTOR_KEY", ""),
        help="the collector key, <prefix>.<secret> (env TELEMETRY_COLLECTOR_KEY, to keep it out of `ps`)",
    )
    portal.add_argument("--cafile", help="CA certificates to check the portal's TLS certificate against")
    portal.add_argument(
        "--spool-dir",
        default=env("TELEMETRY_SPOOL_DIR", DEFAULT_SPOOL_DIR),
        help=f"where batches wait until the portal takes them (env TELEMETRY_SPOOL_DIR; default ./{DEFAULT_SPOOL_DIR})",
    )
    portal.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="items per batch (max 10000)")
    portal.add_argument("--attempts", type=int, default=4, help="tries per batch in one run")
    portal.add_argument("--backoff", type=float, default=2.0, help="first wait between tries, in seconds (doubles)")
    portal.add_argument("--max-backoff", type=float, default=60.0, help="longest wait between tries, in seconds")

    devices = parser.add_argument_group("devices")
    devices.add_argument("--targets", help="CSV of targets (columns: " + ", ".join(TARGET_COLUMNS) + ")")
    devices.add_argument(
        "--target", action="append", default=[], metavar="HOST[:PORT]", help="a device to poll (repeatable)"
    )
    devices.add_argument("--snmp-version", choices=VERSIONS, default="2c", help="for --target devices")
    devices.add_argument("--community", default="public", help="v2c community for --target devices")
    devices.add_argument("--v3-user", default="", help="v3 user for --target devices")
    devices.add_argument(
        "--v3-auth-key", default=env("TELEMETRY_SNMP_AUTH_KEY", ""), help="env TELEMETRY_SNMP_AUTH_KEY"
    )
    devices.add_argument(
        "--v3-priv-key", default=env("TELEMETRY_SNMP_PRIV_KEY", ""), help="env TELEMETRY_SNMP_PRIV_KEY"
    )
    devices.add_argument("--v3-auth-proto", choices=sorted(AUTH_PROTOCOLS), default="SHA")
    devices.add_argument("--v3-priv-proto", choices=sorted(PRIV_PROTOCOLS), default="AES")
    devices.add_argument("--v3-context", default="", help="v3 context name, if the devices use one")
    devices.add_argument("--manufacturer", default="", help="manufacturer sent with --target devices' serials")
    devices.add_argument("--serial", default="", help="serial number of a single --target, over what it reports")
    devices.add_argument("--snmp-timeout", type=float, default=2.0, help="seconds per SNMP request")
    devices.add_argument("--snmp-retries", type=int, default=1, help="retries per SNMP request")
    devices.add_argument("--concurrency", type=int, default=16, help="devices polled at once")

    mode = parser.add_argument_group("mode")
    mode.add_argument("--dry-run", action="store_true", help="poll and print the items as JSON; spool and send nothing")
    mode.add_argument("--send-only", action="store_true", help="only send what the spool holds")
    mode.add_argument("--interval", type=float, default=0, help="repeat every so many seconds (0: run once)")


def targets_from_options(options: dict) -> list[Target]:
    targets = targets_read(options["targets"]) if options.get("targets") else []
    specs = options.get("target") or []
    if options.get("serial") and len(specs) != 1:
        raise CollectorError("--serial names the serial number of exactly one --target")
    for spec in specs:
        host, _colon, port = spec.rpartition(":") if spec.count(":") == 1 else (spec, "", "")
        targets.append(
            target_from_row(
                {
                    "host": host,
                    "port": port,
                    "version": options["snmp_version"],
                    "community": options["community"],
                    "user": options["v3_user"],
                    "auth_key": options["v3_auth_key"],
                    "priv_key": options["v3_priv_key"],
                    "auth_proto": options["v3_auth_proto"],
                    "priv_proto": options["v3_priv_proto"],
                    "context": options["v3_context"],
                    "manufacturer": options["manufacturer"],
                    "serial": options.get("serial", ""),
                }
            )
        )
    return targets


def run_from_options(options: dict, *, out=sys.stdout, post: Post | None = None) -> bool:
    """Run the collector as the command line asks (once, or every ``interval`` seconds); True if all went well."""
    targets = targets_from_options(options)
    if not targets and not options.get("send_only"):
        raise CollectorError("no targets: give --targets FILE or --target HOST")
    if options.get("dry_run"):
        outcomes = poll_all(
            targets,
            timeout=options["snmp_timeout"],
            retries=options["snmp_retries"],
            concurrency=options["concurrency"],
        )
        items, failed = [], []
        for outcome in outcomes:
            if outcome.snapshot is None:
                failed.append(outcome.error)
                continue
            items += snapshot_items(
                outcome.snapshot,
                taken_at=outcome.taken_at,
                previous_codes=None,
                manufacturer=outcome.target.manufacturer,
            )[0]
        out.write(json.dumps(items, ensure_ascii=False, indent=1) + "\n")
        for error in failed:
            out.write(f"failed: {error}\n")
        return not failed
    if not options.get("portal") or not options.get("key"):
        raise CollectorError("give the portal's address (--portal) and a collector key (--key), or --dry-run")
    if not 0 < options["batch_size"] <= 10_000:
        raise CollectorError("--batch-size is between 1 and 10000")
    post = post or http_post(cafile=options.get("cafile"))
    spool = Spool(options["spool_dir"])
    while True:
        summary = collect(
            targets,
            spool=spool,
            portal=options["portal"],
            key=options["key"],
            post=post,
            poll=not options.get("send_only"),
            batch_size=options["batch_size"],
            timeout=options["snmp_timeout"],
            retries=options["snmp_retries"],
            concurrency=options["concurrency"],
            attempts=options["attempts"],
            backoff=options["backoff"],
            max_backoff=options["max_backoff"],
        )
        for line in summary.lines():
            out.write(line + "\n")
        out.flush()
        if not options.get("interval"):
            return summary.ok
        time.sleep(options["interval"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m telemetry.snmp",
        description="Poll printers over SNMP and send their meters, supply levels and events to the fleet portal.",
    )
    add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log each retry and rejected item")
    options = vars(parser.parse_args(argv))
    logging.basicConfig(
        level=logging.INFO if options.pop("verbose") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    try:
        return 0 if run_from_options(options) else 1
    except CollectorError as error:
        parser.exit(2, f"error: {error}\n")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
