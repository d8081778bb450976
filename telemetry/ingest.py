"""The ingest service: batches of meter readings, supply levels and diagnostic events, checked in bulk and
written at once.

Every way telemetry arrives goes through ``telemetry_ingest``: the collector API (``collector_ingest`` adds
the key's bookkeeping and idempotency), the portal's CSV upload (``telemetry_csv_ingest``) and manual meter
reads (``meter_read_enter``). One call:

1. finds the assets the items name in one query, within the batch's customer only: an asset of another
   customer is "unknown", exactly like one that does not exist;
2. checks every item without a query (an invalid item is rejected with its index and reason and never blocks
   the others);
3. drops repeats within the batch and writes each kind in one statement that skips rows already stored (the
   database's unique constraints decide what is a duplicate): on PostgreSQL through ``COPY`` into a temporary
   staging table and ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``; elsewhere (the SQLite demo)
   through one query for the keys already stored and one ``bulk_create``;
4. moves ``Asset.last_seen_at`` forward for the assets that reported (one UPDATE) and hands the newly stored
   rows, duplicates excluded, to ``telemetry.alerts.alerts_evaluate_ingest`` (one call).

All of it runs in one transaction: nothing is half-written. The number of queries does not depend on the
number of items.
"""

import csv
import io
import json
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from accounts.roles import Capability
from assets.choices import PRINT_CATEGORIES
from assets.models import Asset, Manufacturer
from fleet.tenancy import access_for
from telemetry.alerts import IngestedBatch, IngestedEvent, IngestedLevel, IngestedReading, alerts_evaluate_ingest
from telemetry.choices import Meter, ReadingSource, Severity, Supply
from telemetry.models import (
    COUNTER_DECIMAL_PLACES,
    COUNTER_MAX_DIGITS,
    CollectorKey,
    DiagnosticEvent,
    IngestRequest,
    Reading,
    SupplyLevel,
)

MAX_ITEMS = 10_000
IDEMPOTENCY_KEY_MAX_LENGTH = 128
SERIAL_MAX_LENGTH = 64
MANUFACTURER_MAX_LENGTH = 100
CODE_MAX_LENGTH = 40
MESSAGE_MAX_LENGTH = 500  # longer messages are cut to this length, not rejected
OPERATOR_MAX_LENGTH = 64
RAW_MAX_CHARS = 20_000  # the raw payload as JSON text
TIME_TEXT_MAX_LENGTH = 40
NUMBER_TEXT_MAX_LENGTH = 40
FUTURE_TOLERANCE = timedelta(days=1)  # clocks drift; a reading dated further ahead is a broken clock
EARLIEST_YEAR, LATEST_YEAR = 1970, 9000
MAX_ID = 2**63  # ids are bigint
KEY_USE_PRECISION = timedelta(minutes=1)  # how closely a collector key's last use is kept

COUNTER_LIMIT = Decimal(10) ** (COUNTER_MAX_DIGITS - COUNTER_DECIMAL_PLACES)
COUNTER_QUANTUM = Decimal(1).scaleb(-COUNTER_DECIMAL_PLACES)
PERCENT_QUANTUM = Decimal("0.01")
G_FORCE_LIMIT = Decimal(10_000)
G_FORCE_QUANTUM = Decimal("0.01")

READING, SUPPLY, EVENT = "reading", "supply", "event"
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
PRINT_METERS = (Meter.TOTAL_PAGES, Meter.MONO_PAGES, Meter.COLOUR_PAGES, Meter.SCAN_PAGES)

# Whole-batch errors (the API answers 400).
BODY_NOT_JSON = _("The body is not valid JSON (UTF-8).")
BODY_NOT_LIST = _("The body must be a JSON array of items.")
BODY_TOO_MANY = _("A batch holds at most 10,000 items: split it into smaller batches.")
IDEMPOTENCY_KEY_INVALID = _("The Idempotency-Key header holds 1 to 128 printable ASCII characters.")

# Item errors: the item is rejected with its index and this reason; the others go on.
ITEM_NOT_OBJECT = _("The item is not a JSON object.")
TYPE_UNKNOWN = _('Unknown type: use "reading", "supply" or "event".')
ASSET_NOT_NAMED = _("Name the asset: asset (its id), or manufacturer and serial, or serial.")
ASSET_ID_INVALID = _("asset must be a positive whole number (the asset's id).")
ASSET_UNKNOWN = _("Unknown asset.")
ASSET_AMBIGUOUS = _("Several assets have this serial number: add the manufacturer.")
ASSET_MISMATCH = _("asset and serial (or manufacturer) name different assets.")
METER_UNKNOWN = _("Unknown meter. Use one of: %(values)s.")
SUPPLY_UNKNOWN = _("Unknown supply. Use one of: %(values)s.")
SEVERITY_UNKNOWN = _("Unknown severity. Use one of: %(values)s.")
TIME_MISSING = _("%(field)s is required.")
TIME_INVALID = _("%(field)s is not a date and time: use ISO 8601, e.g. 2026-03-01T09:30:00+09:00.")
TIME_NAIVE = _("%(field)s has no time zone offset: add one, e.g. +09:00 or Z.")
TIME_OUT_OF_RANGE = _("%(field)s is not between 1970 and 9000.")
TIME_IN_FUTURE = _("%(field)s is more than a day in the future.")
NUMBER_MISSING = _("%(field)s is required.")
NUMBER_INVALID = _("%(field)s is not a number.")
NUMBER_NEGATIVE = _("%(field)s cannot be negative.")
NUMBER_TOO_LARGE = _("%(field)s is too large.")
PERCENT_ABOVE_100 = _("percent cannot be more than 100.")
TEXT_INVALID = _("%(field)s must be text.")
TEXT_HAS_NUL = _("%(field)s contains a NUL character.")
TEXT_TOO_LONG = _("%(field)s is longer than %(max)s characters.")
CODE_MISSING = _("An event needs a code.")
CLEARED_INVALID = _("cleared must be true or false.")
RAW_INVALID = _("raw must be a JSON object.")
RAW_TOO_LARGE = _("raw is larger than 20,000 characters as JSON.")

# Manual reads and CSV uploads.
NOT_ALLOWED_READS = _("You may not enter meter reads for this asset.")
NOT_ALLOWED_UPLOAD = _("You may not upload telemetry for this customer.")
READ_EXISTS = _("A read of this meter at this time is already recorded.")
CSV_HEADER_MISSING = _("The file is empty: the first line must name the columns.")
CSV_COLUMN_UNKNOWN = _("Unknown column: %(column)s.")
CSV_COLUMN_MISSING = _("The column %(column)s is required.")
CSV_COLUMN_REPEATED = _("The column %(column)s appears more than once.")
CSV_MALFORMED = _("The file is not valid CSV from line %(line)s on.")
CSV_NO_ROWS = _("The file has a header but no rows.")
CSV_LINE_TOO_LONG = _("This line has more cells than the header.")
CSV_TIME_INVALID = _("taken_at is not a date and time: use 2026-03-01 09:30 or 2026/03/01 9:30 (or ISO 8601).")
CSV_CLEARED_INVALID = _("cleared must be true or false (or 1/0, yes/no).")


# -- Results --------------------------------------------------------------------------------------------------------


@dataclass
class IngestResult:
    """What one batch did: counts, each rejected item's index and reason, and (on request) every item's outcome."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    outcomes: list[str] | None = None  # ACCEPTED, DUPLICATE or REJECTED per item, when asked for
    replayed: bool = False  # the stored answer to an Idempotency-Key seen before

    def as_response(self) -> dict:
        """The API's answer: ``{accepted, duplicates, rejected, errors: [{index, reason}]}``."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": [{"index": index, "reason": str(reason)} for index, reason in self.errors],
        }


@dataclass
class StagedRows:
    """The valid, resolved rows of a batch, one per unique key (repeats within the batch already dropped).

    Keys are the unique key without the source: (asset_id, meter, taken_at), (asset_id, supply, taken_at) and
    (asset_id, code, occurred_at). Each maps to (item index, the other columns as a tuple): ``(value,)``,
    ``(percent,)`` and ``(severity, message, g_force, operator_id, cleared, raw as JSON text)``.
    """

    readings: dict[tuple, tuple[int, tuple]] = field(default_factory=dict)
    levels: dict[tuple, tuple[int, tuple]] = field(default_factory=dict)
    events: dict[tuple, tuple[int, tuple]] = field(default_factory=dict)


@dataclass
class WrittenKeys:
    """The keys of the rows the write stored anew (the rest were already there)."""

    readings: list[tuple] = field(default_factory=list)
    levels: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)


# -- The body ---------------------------------------------------------------------------------------------------------


def ingest_body_parse(*, body: bytes) -> list:
    """The items of a JSON body (numbers with a fraction as Decimal, never float); ValidationError if not a batch."""
    try:
        items = json.loads(body, parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValidationError(BODY_NOT_JSON, code="not_json") from None
    if not isinstance(items, list):
        raise ValidationError(BODY_NOT_LIST, code="not_list")
    if len(items) > MAX_ITEMS:
        raise ValidationError(BODY_TOO_MANY, code="too_many")
    return items


def idempotency_key_check(*, value: str | None) -> str:
    """The Idempotency-Key header's value ("" when absent); ValidationError when it is not a sensible key."""
    if value is None:
        return ""
    if not 0 < len(value) <= IDEMPOTENCY_KEY_MAX_LENGTH or not value.isascii() or not value.isprintable():
        raise ValidationError(IDEMPOTENCY_KEY_INVALID, code="idempotency_key")
    return value


# -- Checking items ---------------------------------------------------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, reason):
        self.reason = reason


METER_VALUES = frozenset(Meter.values)
SUPPLY_VALUES = frozenset(Supply.values)
SEVERITY_VALUES = frozenset(Severity.values)
_METERS_TEXT = ", ".join(Meter.values)
_SUPPLIES_TEXT = ", ".join(Supply.values)
_SEVERITIES_TEXT = ", ".join(Severity.values)


def _text(raw, name: str, max_length: int) -> str:
    if not isinstance(raw, str):
        raise _Rejected(TEXT_INVALID % {"field": name})
    if "\x00" in raw:
        raise _Rejected(TEXT_HAS_NUL % {"field": name})
    raw = raw.strip()
    if len(raw) > max_length:
        raise _Rejected(TEXT_TOO_LONG % {"field": name, "max": max_length})
    return raw


def _time(raw, name: str, horizon: datetime, default_tz: tzinfo | None) -> datetime:
    if type(raw) is str:
        if len(raw) > TIME_TEXT_MAX_LENGTH:
            raise _Rejected(TIME_INVALID % {"field": name})
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise _Rejected(TIME_INVALID % {"field": name}) from None
    elif isinstance(raw, datetime):
        value = raw
    elif raw is None:
        raise _Rejected(TIME_MISSING % {"field": name})
    else:
        raise _Rejected(TIME_INVALID % {"field": name})
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise _Rejected(TIME_OUT_OF_RANGE % {"field": name})
    if value.tzinfo is None or value.utcoffset() is None:
        if default_tz is None:
            raise _Rejected(TIME_NAIVE % {"field": name})
        value = timezone.make_aware(value, default_tz)
    if value > horizon:
        raise _Rejected(TIME_IN_FUTURE % {"field": name})
    # In UTC: Python takes offsets up to 24 hours, PostgreSQL only up to 15:59 (a +17:00 instant failed the COPY).
    return value.astimezone(UTC)


def _number(raw, name: str, quantum: Decimal, limit: Decimal):
    """A non-negative number below ``limit``: an int as it is, anything else as a Decimal rounded to ``quantum``."""
    kind = type(raw)
    if raw is None:
        raise _Rejected(NUMBER_MISSING % {"field": name})
    if kind is int:
        if raw < 0:
            raise _Rejected(NUMBER_NEGATIVE % {"field": name})
        if raw >= limit:
            raise _Rejected(NUMBER_TOO_LARGE % {"field": name})
        return raw
    if kind is Decimal:
        value = raw
    elif kind is str:
        if len(raw) > NUMBER_TEXT_MAX_LENGTH:
            raise _Rejected(NUMBER_INVALID % {"field": name})
        if not raw.strip():
            raise _Rejected(NUMBER_MISSING % {"field": name})
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            raise _Rejected(NUMBER_INVALID % {"field": name}) from None
    elif kind is float:
        value = Decimal(repr(raw))
    else:
        raise _Rejected(NUMBER_INVALID % {"field": name})
    if not value.is_finite():
        raise _Rejected(NUMBER_INVALID % {"field": name})
    if value < 0:
        raise _Rejected(NUMBER_NEGATIVE % {"field": name})
    if value >= limit:
        raise _Rejected(NUMBER_TOO_LARGE % {"field": name})
    return value.quantize(quantum)


def _raw_payload(raw) -> str:
    if raw is None:
        return "{}"
    if not isinstance(raw, dict):
        raise _Rejected(RAW_INVALID)
    try:
        text = json.dumps(raw, ensure_ascii=False, default=str, allow_nan=False)
    except (ValueError, RecursionError):
        raise _Rejected(RAW_INVALID) from None
    if "\\u0000" in text:
        raise _Rejected(TEXT_HAS_NUL % {"field": "raw"})
    if len(text) > RAW_MAX_CHARS:
        raise _Rejected(RAW_TOO_LARGE)
    return text


def _event_fields(item: dict) -> tuple:
    """(severity, message, g_force, operator_id, cleared, raw JSON) of an event item."""
    severity = item.get("severity", Severity.INFO)
    if severity is None:
        severity = Severity.INFO
    if not isinstance(severity, str) or severity not in SEVERITY_VALUES:
        raise _Rejected(SEVERITY_UNKNOWN % {"values": _SEVERITIES_TEXT})
    message = item.get("message")
    if message is None:
        message = ""
    elif not isinstance(message, str):
        raise _Rejected(TEXT_INVALID % {"field": "message"})
    elif "\x00" in message:
        raise _Rejected(TEXT_HAS_NUL % {"field": "message"})
    else:
        message = message.strip()[:MESSAGE_MAX_LENGTH]
    g_force = item.get("g_force")
    if g_force is not None:
        g_force = Decimal(_number(g_force, "g_force", G_FORCE_QUANTUM, G_FORCE_LIMIT)).quantize(G_FORCE_QUANTUM)
    operator_id = item.get("operator_id")
    operator_id = "" if operator_id is None else _text(operator_id, "operator_id", OPERATOR_MAX_LENGTH)
    cleared = item.get("cleared", False)
    if cleared is None:
        cleared = False
    if type(cleared) is not bool:
        raise _Rejected(CLEARED_INVALID)
    return severity, message, g_force, operator_id, cleared, _raw_payload(item.get("raw"))


def _named_assets(items: Sequence) -> tuple[set[int], set[str]]:
    """The asset ids and serial numbers the items name, for the one query that finds them (a quick pass: the
    full checks come later, so anything odd is simply left out here)."""
    ids: set[int] = set()
    serials: set[str] = set()
    for item in items:
        if type(item) is dict:
            asset = item.get("asset")
            if type(asset) is int and 0 < asset < MAX_ID:
                ids.add(asset)
            serial = item.get("serial")
            if isinstance(serial, str) and "\x00" not in serial:
                serial = serial.strip()
                if 0 < len(serial) <= SERIAL_MAX_LENGTH:
                    serials.add(serial)
    return ids, serials


class _Assets:
    """The batch customer's assets that the items name, found in one query."""

    def __init__(self, *, customer_id: int, asset_ids: set[int], serials: set[str]):
        self.by_id: dict[int, tuple[str, str]] = {}
        self.by_serial: dict[str, list[tuple[int, str]]] = {}
        if not asset_ids and not serials:
            return
        if connection.vendor == "postgresql":
            # One array parameter per list instead of one placeholder per value: 5,000 ids stay one short query.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT asset.id, asset.serial_number, maker.name FROM {Asset._meta.db_table} AS asset "
                    f"JOIN {Manufacturer._meta.db_table} AS maker ON maker.id = asset.manufacturer_id "
                    "WHERE asset.customer_id = %s "
                    "AND (asset.id = ANY(%s::bigint[]) OR asset.serial_number = ANY(%s::varchar[]))",
                    [customer_id, list(asset_ids), list(serials)],
                )
                rows = cursor.fetchall()
        else:
            rows = Asset.objects.filter(
                Q(pk__in=asset_ids) | Q(serial_number__in=serials), customer_id=customer_id
            ).values_list("pk", "serial_number", "manufacturer__name")
        for pk, serial, manufacturer in rows:
            self.by_id[pk] = (serial, manufacturer.casefold())
            self.by_serial.setdefault(serial, []).append((pk, manufacturer.casefold()))

    def resolve(self, item: dict) -> int:
        """The id of the asset the item names (by id, by manufacturer and serial, or by a serial alone)."""
        asset = item.get("asset")
        serial = item.get("serial")
        manufacturer = item.get("manufacturer")
        if serial is None and manufacturer is None and type(asset) is int and asset in self.by_id:
            return asset  # the common case, checked first
        if asset is not None and (type(asset) is not int or not 0 < asset < MAX_ID):
            raise _Rejected(ASSET_ID_INVALID)
        if serial is not None:
            serial = _text(serial, "serial", SERIAL_MAX_LENGTH) or None
        if manufacturer is not None:
            manufacturer = _text(manufacturer, "manufacturer", MANUFACTURER_MAX_LENGTH).casefold() or None
        if asset is None and serial is None:
            raise _Rejected(ASSET_NOT_NAMED)
        if asset is not None:
            found = self.by_id.get(asset)
            if found is None:
                raise _Rejected(ASSET_UNKNOWN)
            if (serial is not None and serial != found[0]) or (manufacturer is not None and manufacturer != found[1]):
                raise _Rejected(ASSET_MISMATCH)
            return asset
        candidates = self.by_serial.get(serial, ())
        if manufacturer is not None:
            candidates = [candidate for candidate in candidates if candidate[1] == manufacturer]
        if not candidates:
            raise _Rejected(ASSET_UNKNOWN)
        if len(candidates) > 1:
            raise _Rejected(ASSET_AMBIGUOUS)
        return candidates[0][0]


@dataclass
class _Staged:
    """The outcome of checking a batch: the rows to write, the rejected items, the latest time per asset."""

    rows: StagedRows
    errors: list[tuple[int, str]]
    seen: dict[int, datetime]
    valid: int


def _stage(items: Sequence, assets: _Assets, *, horizon: datetime, default_tz: tzinfo | None) -> _Staged:
    """Check every item (one pass, no query) and keep the first of each unique key."""
    staged = StagedRows()
    readings, levels, events = staged.readings, staged.levels, staged.events
    errors: list[tuple[int, str]] = []
    seen: dict[int, datetime] = {}
    valid = 0
    resolve = assets.resolve
    for index, item in enumerate(items):
        if type(item) is not dict:
            errors.append((index, ITEM_NOT_OBJECT))
            continue
        try:
            kind = item.get("type")
            if kind == READING:
                meter = item.get("meter")
                if not isinstance(meter, str) or meter not in METER_VALUES:
                    raise _Rejected(METER_UNKNOWN % {"values": _METERS_TEXT})
                at = _time(item.get("taken_at"), "taken_at", horizon, default_tz)
                value = _number(item.get("value"), "value", COUNTER_QUANTUM, COUNTER_LIMIT)
                asset_id = resolve(item)
                key = (asset_id, meter, at)
                if key not in readings:  # a repeat within the batch is a duplicate of the first
                    readings[key] = (index, (value,))
            elif kind == SUPPLY:
                supply = item.get("supply")
                if not isinstance(supply, str) or supply not in SUPPLY_VALUES:
                    raise _Rejected(SUPPLY_UNKNOWN % {"values": _SUPPLIES_TEXT})
                at = _time(item.get("taken_at"), "taken_at", horizon, default_tz)
                percent = _number(item.get("percent"), "percent", PERCENT_QUANTUM, COUNTER_LIMIT)
                if percent > 100:
                    raise _Rejected(PERCENT_ABOVE_100)
                asset_id = resolve(item)
                key = (asset_id, supply, at)
                if key not in levels:
                    levels[key] = (index, (Decimal(percent).quantize(PERCENT_QUANTUM),))
            elif kind == EVENT:
                code = item.get("code")
                code = _text(code, "code", CODE_MAX_LENGTH) if code is not None else ""
                if not code:
                    raise _Rejected(CODE_MISSING)
                at = _time(item.get("occurred_at"), "occurred_at", horizon, default_tz)
                columns = _event_fields(item)
                asset_id = resolve(item)
                key = (asset_id, code, at)
                if key not in events:
                    events[key] = (index, columns)
            else:
                raise _Rejected(TYPE_UNKNOWN)
        except _Rejected as rejected:
            errors.append((index, rejected.reason))
            continue
        valid += 1
        last = seen.get(asset_id)
        if last is None or at > last:
            seen[asset_id] = at
    return _Staged(rows=staged, errors=errors, seen=seen, valid=valid)


# -- Writing ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """How one kind is written: its model, the columns of its staged rows and the unique key it conflicts on.

    Every other column gets one value per request: the caller's constants (source, author, receipt time) or
    the field's default, so that a column added to the model later is filled as the ORM would fill it.
    """

    model: type[models.Model]
    staged: tuple[tuple[str, str], ...]  # (column, PostgreSQL type): the key (without source), then the rest
    key_length: int
    conflict: tuple[str, ...]  # the columns of the unique constraint

    @property
    def stage_name(self) -> str:
        return f"telemetry_ingest_stage_{self.model._meta.model_name}"

    def create_stage_sql(self) -> str:
        columns = ", ".join(f"{name} {kind}" for name, kind in self.staged)
        # Created once per database session; the DELETE in the insert (and ON COMMIT DELETE ROWS) keep it empty.
        return f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.stage_name} ({columns}) ON COMMIT DELETE ROWS"

    def copy_sql(self) -> str:
        return f"COPY {self.stage_name} ({', '.join(name for name, _kind in self.staged)}) FROM STDIN"

    def insert(self, constants: dict) -> tuple[str, list]:
        """The statement that moves the staged rows into the table, skipping stored keys, and its parameters.

        Rows go in key order, so that two batches with overlapping keys, written at once, cannot deadlock.
        """
        staged = [name for name, _kind in self.staged]
        columns, casts, params = [], [], []
        for field_ in self.model._meta.concrete_fields:
            if field_.primary_key or field_.column in staged:
                continue
            if field_.attname in constants:
                value = constants[field_.attname]
            elif field_.db_default is not models.NOT_PROVIDED:
                continue
            else:
                value = field_.get_default()
            columns.append(field_.column)
            casts.append(f"%s::{field_.db_type(connection)}")
            params.append(field_.get_db_prep_value(value, connection))
        listed = ", ".join(staged)
        sql = (
            f"WITH staged AS (DELETE FROM {self.stage_name} RETURNING {listed}) "
            f"INSERT INTO {self.model._meta.db_table} ({', '.join([*staged, *columns])}) "
            f"SELECT {', '.join([*staged, *casts])} FROM staged ORDER BY {', '.join(staged[: self.key_length])} "
            f"ON CONFLICT ({', '.join(self.conflict)}) DO NOTHING RETURNING {', '.join(staged[: self.key_length])}"
        )
        return sql, params


READINGS_TABLE = _Table(
    model=Reading,
    staged=(("asset_id", "bigint"), ("meter", "varchar(16)"), ("taken_at", "timestamptz"), ("value", "numeric")),
    key_length=3,
    conflict=("asset_id", "meter", "taken_at", "source"),
)
LEVELS_TABLE = _Table(
    model=SupplyLevel,
    staged=(("asset_id", "bigint"), ("supply", "varchar(16)"), ("taken_at", "timestamptz"), ("percent", "numeric")),
    key_length=3,
    conflict=("asset_id", "supply", "taken_at", "source"),
)
EVENTS_TABLE = _Table(
    model=DiagnosticEvent,
    staged=(
        ("asset_id", "bigint"),
        ("code", "varchar(40)"),
        ("occurred_at", "timestamptz"),
        ("severity", "varchar(16)"),
        ("message", "varchar(500)"),
        ("g_force", "numeric"),
        ("operator_id", "varchar(64)"),
        ("cleared", "boolean"),
        ("raw", "jsonb"),
    ),
    key_length=3,
    conflict=("asset_id", "code", "occurred_at"),
)


def _write_postgresql(table: _Table, rows: dict[tuple, tuple[int, tuple]], constants: dict) -> list[tuple]:
    sql, params = table.insert(constants)
    with connection.cursor() as cursor:
        cursor.execute(table.create_stage_sql())
        with cursor.copy(table.copy_sql()) as copy:
            write_row = copy.write_row
            for key, (_index, columns) in rows.items():
                write_row(key + columns)
        cursor.execute(sql, params)
        if cursor.rowcount == len(rows):
            return list(rows)  # every staged row was stored: the returned keys are the staged ones
        return cursor.fetchall()


def _write_other(table: _Table, rows: dict[tuple, tuple[int, tuple]], constants: dict) -> list[tuple]:
    """Databases without COPY (the SQLite demo): read the keys already stored, then insert the others."""
    model = table.model
    names = [model._meta.get_field(column).attname for column, _kind in table.staged]
    key_names = names[: table.key_length]
    times = [key[2] for key in rows]
    stored = model.objects.filter(
        asset_id__in={key[0] for key in rows},
        **{f"{key_names[2]}__gte": min(times), f"{key_names[2]}__lte": max(times)},
        **({"source": constants["source"]} if "source" in constants else {}),
    ).values_list(*key_names)
    existing = set(stored)
    new = [key for key in rows if key not in existing]
    instances = []
    for key in new:
        values = dict(zip(names, key + rows[key][1], strict=True))
        if "raw" in values:
            values["raw"] = json.loads(values["raw"])
        instances.append(model(**values, **constants))
    model.objects.bulk_create(instances, ignore_conflicts=True)
    return new


def ingest_write(
    *, rows: StagedRows, source: str, entered_by_id: int | None = None, received_at: datetime
) -> WrittenKeys:
    """Write staged rows, skipping those already stored; returns the keys stored anew. Call inside a transaction."""
    write = _write_postgresql if connection.vendor == "postgresql" else _write_other
    written = WrittenKeys()
    if rows.readings:
        constants = {"source": source, "entered_by_id": entered_by_id, "received_at": received_at}
        written.readings = write(READINGS_TABLE, rows.readings, constants)
    if rows.levels:
        written.levels = write(LEVELS_TABLE, rows.levels, {"source": source, "received_at": received_at})
    if rows.events:
        written.events = write(EVENTS_TABLE, rows.events, {"received_at": received_at})
    return written


def _assets_seen(seen: dict[int, datetime]) -> None:
    """Move each reporting asset's ``last_seen_at`` forward to its latest reported time (one UPDATE)."""
    if not seen:
        return
    seen = dict(sorted(seen.items()))  # rows locked in id order: concurrent batches cannot deadlock
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Asset._meta.db_table} AS asset SET last_seen_at = seen.at "
                "FROM unnest(%s::bigint[], %s::timestamptz[]) AS seen(id, at) "
                "WHERE asset.id = seen.id AND asset.id = ANY(%s::bigint[]) "  # lets the planner use the primary key
                "AND (asset.last_seen_at IS NULL OR asset.last_seen_at < seen.at)",
                [list(seen), list(seen.values()), list(seen)],
            )
        return
    latest = models.Case(
        *(models.When(pk=pk, then=models.Value(at)) for pk, at in seen.items()),
        output_field=models.DateTimeField(),
    )
    Asset.objects.filter(pk__in=list(seen)).filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=latest)).update(
        last_seen_at=latest
    )


# -- The service ------------------------------------------------------------------------------------------------------


def _ingest(
    *,
    customer_id: int,
    items: Sequence,
    source: str,
    entered_by_id: int | None,
    default_tz: tzinfo | None,
    outcomes: bool,
) -> IngestResult:
    """The body of ``telemetry_ingest``, inside the caller's transaction."""
    now = timezone.now()
    asset_ids, serials = _named_assets(items)
    assets = _Assets(customer_id=customer_id, asset_ids=asset_ids, serials=serials)
    checked = _stage(items, assets, horizon=now + FUTURE_TOLERANCE, default_tz=default_tz)
    staged, errors, seen, valid = checked.rows, checked.errors, checked.seen, checked.valid
    written = ingest_write(rows=staged, source=source, entered_by_id=entered_by_id, received_at=now)
    _assets_seen({asset_id: min(at, now) for asset_id, at in seen.items()})
    new_count = len(written.readings) + len(written.levels) + len(written.events)
    if new_count:
        alerts_evaluate_ingest(batch=_ingested_batch(customer_id, staged, written))
    result = IngestResult(accepted=new_count, duplicates=valid - new_count, rejected=len(errors), errors=errors)
    if outcomes:
        result.outcomes = _outcomes(len(items), staged, written, errors)
    return result


def _ingested_batch(customer_id: int, staged: StagedRows, written: WrittenKeys) -> IngestedBatch:
    readings, levels, events = staged.readings, staged.levels, staged.events
    return IngestedBatch(
        customer_id=customer_id,
        readings=[
            IngestedReading(asset_id=key[0], meter=key[1], taken_at=key[2], value=Decimal(readings[key][1][0]))
            for key in written.readings
        ],
        levels=[
            IngestedLevel(asset_id=key[0], supply=key[1], taken_at=key[2], percent=levels[key][1][0])
            for key in written.levels
        ],
        events=[
            IngestedEvent(
                asset_id=key[0],
                code=key[1],
                occurred_at=key[2],
                severity=events[key][1][0],
                message=events[key][1][1],
                g_force=events[key][1][2],
                cleared=events[key][1][4],
            )
            for key in written.events
        ],
    )


def _outcomes(count: int, staged: StagedRows, written: WrittenKeys, errors: list) -> list[str]:
    outcomes = [DUPLICATE] * count
    for index, _reason in errors:
        outcomes[index] = REJECTED
    for rows, keys in ((staged.readings, written.readings), (staged.levels, written.levels)):
        for key in keys:
            outcomes[rows[key][0]] = ACCEPTED
    for key in written.events:
        outcomes[staged.events[key][0]] = ACCEPTED
    return outcomes


def telemetry_ingest(
    *,
    customer: Organisation,
    items: Sequence,
    source: str = ReadingSource.DEVICE,
    entered_by: User | None = None,
    default_tz: tzinfo | None = None,
    outcomes: bool = False,
) -> IngestResult:
    """Check and store a batch of items for ``customer``'s assets, in one transaction.

    ``items`` are dicts as the API receives them (see the module docstring). ``default_tz`` is the time zone of
    times given without an offset (None: such times are rejected). ``outcomes`` asks for every item's outcome.
    The caller decides who may write for ``customer``.
    """
    with transaction.atomic():
        return _ingest(
            customer_id=customer.pk,
            items=items,
            source=source,
            entered_by_id=entered_by.pk if entered_by is not None else None,
            default_tz=default_tz,
            outcomes=outcomes,
        )


def collector_ingest(*, collector_key: CollectorKey, items: Sequence, idempotency_key: str = "") -> IngestResult:
    """A collector's batch: device readings of the key's customer.

    With an ``idempotency_key`` seen before for this collector key, the stored answer is returned and nothing
    is written (``replayed``). The key's ``last_used_at`` is set with the batch.
    """
    if idempotency_key:
        stored = _stored_response(collector_key, idempotency_key)
        if stored is not None:
            return stored
    try:
        with transaction.atomic():
            result = _ingest(
                customer_id=collector_key.customer_id,
                items=items,
                source=ReadingSource.DEVICE,
                entered_by_id=None,
                default_tz=None,
                outcomes=False,
            )
            # To the minute: a collector posting many batches a minute does not queue them all on this row's lock.
            now = timezone.now()
            CollectorKey.objects.filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - KEY_USE_PRECISION), pk=collector_key.pk
            ).update(last_used_at=now)
            if idempotency_key:
                IngestRequest.objects.create(
                    collector_key=collector_key,
                    idempotency_key=idempotency_key,
                    accepted=result.accepted,
                    duplicates=result.duplicates,
                    rejected=result.rejected,
                    response=result.as_response(),
                )
    except IntegrityError:
        # The same Idempotency-Key in two requests at once: the other stored first, ours was rolled back whole.
        stored = _stored_response(collector_key, idempotency_key) if idempotency_key else None
        if stored is None:
            raise
        return stored
    return result


def _stored_response(collector_key: CollectorKey, idempotency_key: str) -> IngestResult | None:
    response = (
        IngestRequest.objects.filter(collector_key=collector_key, idempotency_key=idempotency_key)
        .values_list("response", flat=True)
        .first()
    )
    if response is None:
        return None
    return IngestResult(
        accepted=response["accepted"],
        duplicates=response["duplicates"],
        rejected=response["rejected"],
        errors=[(error["index"], error["reason"]) for error in response["errors"]],
        replayed=True,
    )


# -- Manual meter reads -----------------------------------------------------------------------------------------------


def meters_for(*, asset: Asset) -> list[tuple[str, str]]:
    """The meters a manual read of ``asset`` offers: page counters for printers, the others for the rest."""
    category = asset.asset_model.category
    return [
        (value, label) for value, label in Meter.choices if (value in PRINT_METERS) == (category in PRINT_CATEGORIES)
    ]


def manual_read_source(*, user: User) -> str:
    """The source of a manual read: technician for the provider's staff, customer for the customer's users."""
    access = access_for(user)
    return ReadingSource.TECHNICIAN if access is not None and access.is_provider_staff else ReadingSource.CUSTOMER


def meter_read_enter(*, asset: Asset, meter: str, taken_at: datetime, value: Decimal, by: User) -> Reading:
    """A meter read taken by hand (a technician's or a customer's), through the ingest like any other reading."""
    access = access_for(by)
    if (
        access is None
        or not access.can(Capability.ENTER_METER_READS)
        or not Asset.objects.visible_to(by).filter(pk=asset.pk).exists()
    ):
        raise ValidationError(NOT_ALLOWED_READS)
    source = manual_read_source(user=by)
    item = {"type": READING, "asset": asset.pk, "meter": meter, "taken_at": taken_at, "value": value}
    with transaction.atomic():
        result = _ingest(
            customer_id=asset.customer_id,
            items=[item],
            source=source,
            entered_by_id=by.pk,
            default_tz=None,
            outcomes=False,
        )
        if result.errors:
            raise ValidationError(result.errors[0][1])
        if result.duplicates:
            raise ValidationError(READ_EXISTS)
        return Reading.objects.get(asset=asset, meter=meter, taken_at=taken_at, source=source)


# -- CSV upload -------------------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "serial",
    "manufacturer",
    "type",
    "meter_or_supply_or_code",
    "taken_at",
    "value",
    "severity",
    "message",
    "g_force",
    "operator_id",
    "cleared",
)
CSV_REQUIRED_COLUMNS = ("serial", "type", "meter_or_supply_or_code", "taken_at")
CSV_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
CSV_TRUE, CSV_FALSE = frozenset({"true", "1", "yes", "y"}), frozenset({"false", "0", "no", "n", ""})


@dataclass
class CsvLine:
    """One data line of an upload and what became of it."""

    line: int
    serial: str
    kind: str
    name: str
    taken_at: str
    outcome: str = REJECTED
    reason: str = ""


@dataclass
class CsvReport:
    """The outcome of an upload: counts and every data line's outcome (``errors``: problems of the whole file)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    lines: list[CsvLine] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _csv_time(text: str):
    """A time from a telematics export: ISO 8601, or 2026/03/01 9:30 and the like (local time of the customer)."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for pattern in CSV_TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern)  # noqa: DTZ007 - naive on purpose: made aware by the service
        except ValueError:
            continue
    raise _Rejected(CSV_TIME_INVALID)


def _csv_item(cells: dict[str, str]) -> dict:
    """The ingest item of one CSV line (the same dict the API takes)."""
    kind = cells.get("type", "").strip().lower()
    name = cells.get("meter_or_supply_or_code", "").strip()
    item: dict = {"type": kind, "serial": cells.get("serial", "")}
    if cells.get("manufacturer", "").strip():
        item["manufacturer"] = cells["manufacturer"]
    when = _csv_time(cells.get("taken_at", ""))
    if when is None:
        raise _Rejected(TIME_MISSING % {"field": "taken_at"})
    value = cells.get("value", "").strip() or None
    if kind == READING:
        item.update(meter=name, taken_at=when, value=value)
    elif kind == SUPPLY:
        item.update(supply=name, taken_at=when, percent=value)
    elif kind == EVENT:
        cleared = cells.get("cleared", "").strip().lower()
        if cleared not in CSV_TRUE and cleared not in CSV_FALSE:
            raise _Rejected(CSV_CLEARED_INVALID)
        item.update(
            code=name,
            occurred_at=when,
            severity=cells.get("severity", "").strip().lower() or Severity.INFO,
            message=cells.get("message", ""),
            operator_id=cells.get("operator_id", ""),
            cleared=cleared in CSV_TRUE,
        )
        if cells.get("g_force", "").strip():
            item["g_force"] = cells["g_force"]
    return item


def _csv_cell(value: str) -> str:
    """A cell without the quote that spreadsheet exports put before formula characters."""
    value = value.strip()
    if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@"):
        return value[1:]
    return value


def telemetry_csv_parse(*, content: str) -> tuple[list[CsvLine], list[dict | None], list[str]]:
    """The data lines of an upload, the ingest item of each (None: rejected already) and the file's errors."""
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [cell.strip().removeprefix("\ufeff").strip().lower() for cell in next(reader, [])]
    except csv.Error:
        return [], [], [str(CSV_MALFORMED % {"line": 1})]
    if not any(header):
        return [], [], [str(CSV_HEADER_MISSING)]
    errors = []
    seen: set[str] = set()
    for name in header:
        if name and name not in CSV_COLUMNS:
            errors.append(str(CSV_COLUMN_UNKNOWN % {"column": name}))
        elif name and name in seen:
            errors.append(str(CSV_COLUMN_REPEATED % {"column": name}))
        seen.add(name)
    errors.extend(str(CSV_COLUMN_MISSING % {"column": name}) for name in CSV_REQUIRED_COLUMNS if name not in seen)
    if errors:
        return [], [], errors
    lines: list[CsvLine] = []
    items: list[dict | None] = []
    while True:
        number = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            errors.append(str(CSV_MALFORMED % {"line": number}))
            break
        if not any(cell.strip() for cell in cells):
            continue
        row = {name: _csv_cell(cell) for name, cell in zip(header, cells, strict=False) if name}
        line = CsvLine(
            line=number,
            serial=row.get("serial", ""),
            kind=row.get("type", ""),
            name=row.get("meter_or_supply_or_code", ""),
            taken_at=row.get("taken_at", ""),
        )
        lines.append(line)
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
            line.reason = str(CSV_LINE_TOO_LONG)
            items.append(None)
            continue
        try:
            items.append(_csv_item(row))
        except _Rejected as rejected:
            line.reason = str(rejected.reason)
            items.append(None)
    if not lines and not errors:
        errors.append(str(CSV_NO_ROWS))
    return lines, items, errors


def telemetry_csv_ingest(*, customer: Organisation, content: str, by: User | None = None) -> CsvReport:
    """Store an uploaded CSV of readings, supply levels and events for ``customer`` (device source).

    Times without an offset are in the customer's time zone. The file goes through the ingest in batches of
    ``MAX_ITEMS`` lines, all in one transaction. A file with errors of its own (header) stores nothing.
    """
    if by is not None:
        access = access_for(by)
        if (
            access is None
            or not access.can(Capability.MANAGE_COLLECTOR_KEYS)
            or not Organisation.objects.visible_to(by).customers().filter(pk=customer.pk).exists()
        ):
            raise ValidationError(NOT_ALLOWED_UPLOAD)
    lines, items, errors = telemetry_csv_parse(content=content)
    report = CsvReport(lines=lines, errors=errors)
    if errors:
        return report
    default_tz = zoneinfo.ZoneInfo(customer.time_zone)
    with transaction.atomic():
        for start in range(0, len(items), MAX_ITEMS):
            chunk = items[start : start + MAX_ITEMS]
            positions = [start + offset for offset, item in enumerate(chunk) if item is not None]
            result = _ingest(
                customer_id=customer.pk,
                items=[chunk[position - start] for position in positions],
                source=ReadingSource.DEVICE,
                entered_by_id=None,
                default_tz=default_tz,
                outcomes=True,
            )
            for position, outcome in zip(positions, result.outcomes or [], strict=True):
                lines[position].outcome = outcome
            for index, reason in result.errors:
                lines[positions[index]].reason = str(reason)
    for line in lines:
        if line.outcome == ACCEPTED:
            report.accepted += 1
        elif line.outcome == DUPLICATE:
            report.duplicates += 1
        else:
            report.rejected += 1
    return report


def csv_template_rows() -> list[list[str]]:
    """The header of an upload and three example lines (a reading, a supply level, an event)."""
    return [
        list(CSV_COLUMNS),
        ["FL-0001", "Toyota", "reading", "hours_key_on", "2026-03-01 09:30", "1520.5", "", "", "", "", ""],
        ["FL-0001", "Toyota", "supply", "battery_soc", "2026-03-01 09:30", "64", "", "", "", "", ""],
        [
            "FL-0001",
            "Toyota",
            "event",
            "IMPACT",
            "2026-03-01 10:12",
            "",
            "warning",
            "Impact",
            "2.80",
            "OP-117",
            "false",
        ],
    ]
