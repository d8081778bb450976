"""Fleet import and export by CSV: decoding, the bulk check (dry run) and the atomic apply.

A file has a header row naming columns of ``IMPORT_COLUMNS``; each further line is one asset, matched to an
existing asset by manufacturer and serial number (the upsert key). A column the file leaves out leaves that field
alone. An empty cell clears an optional field (asset tag, install date, acquisition cost, location, network
address) and keeps the others (status, ownership, currency, expected life), which a new asset takes from its
defaults. Checking reads everything the file refers to in a fixed number of queries, and reports every bad cell by
line (the header is line 1) and column before anything is written. Applying checks again and writes all rows in
one transaction, or none.
"""

import csv
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import batched
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from accounts.roles import Capability
from accounts.selectors import customer_list, organisation_settings_effective
from assets.choices import (
    FLEET_IMPORT_APPLICABLE_STATES,
    AssetEventKind,
    AssetStatus,
    FleetImportStatus,
    Ownership,
)
from assets.models import Asset, AssetEvent, AssetModel, FleetImport, Manufacturer, Site
from fleet.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, Currency, minor_units
from fleet.tables import Column
from fleet.tenancy import access_for

logger = logging.getLogger(__name__)

# The importer's columns, in the order of the template and the export in import format.
IMPORT_COLUMNS = (
    "customer_code",
    "site",
    "manufacturer",
    "model",
    "serial_number",
    "asset_tag",
    "status",
    "ownership",
    "install_date",
    "acquisition_cost",
    "currency",
    "expected_life_months",
    "location_note",
    "network_address",
)
REQUIRED_COLUMNS = ("site", "manufacturer", "model", "serial_number")
# The ORM path each column is exported from: an exported file imports again unchanged.
IMPORT_COLUMN_PATHS = {
    "customer_code": "customer__code",
    "site": "site__name",
    "manufacturer": "manufacturer__name",
    "model": "asset_model__name",
    "serial_number": "serial_number",
    "asset_tag": "asset_tag",
    "status": "status",
    "ownership": "ownership",
    "install_date": "install_date",
    "acquisition_cost": "acquisition_cost",
    "currency": "currency",
    "expected_life_months": "expected_life_months",
    "location_note": "location_note",
    "network_address": "network_address",
}
IMPORT_CSV_COLUMNS = tuple(Column(name, name, IMPORT_COLUMN_PATHS[name]) for name in IMPORT_COLUMNS)
# Text columns: the asset field each sets and its maximum length. Empty cells clear them.
TEXT_COLUMNS = {"asset_tag": 64, "location_note": 200, "network_address": 255}
SERIAL_MAX_LENGTH = 64
EXPECTED_LIFE_MAX_MONTHS = 1200

FLEET_IMPORT_MAX_BYTES = 10 * 1024 * 1024
FLEET_IMPORT_ENCODINGS = ("utf-8-sig", "cp932")  # UTF-8 (with or without BOM), then Excel's Shift_JIS
WRITE_BATCH_SIZE = 500  # rows written per bulk statement; progress is reported after each batch
SERIAL_QUERY_CHUNK = 2000  # serial numbers per query when loading existing assets
# First key of PostgreSQL's two-key advisory locks taken while an import is applied (the second is its id).
ADVISORY_LOCK_CLASS = 0x464C4954

FILE_TOO_LARGE = _("The file is larger than 10 MB. Split it into smaller files.")
FILE_NOT_CSV = _("Upload a CSV file (a name ending in .csv).")
FILE_NOT_TEXT = _("This is not a CSV text file. In a spreadsheet, use Save as > CSV (UTF-8).")
FILE_UNDECODABLE = _("The file could not be read as UTF-8 or Shift_JIS text. Save it as CSV (UTF-8).")
FILE_HAS_NO_HEADER = _("The file is empty: the first line must name the columns.")
FILE_HAS_NO_ROWS = _("The file has a header but no rows.")
FILE_MALFORMED = _("The file is not valid CSV from this line on.")
COLUMN_UNKNOWN = _("Unknown column.")
COLUMN_MISSING = _("This column is required.")
COLUMN_MISSING_CUSTOMER = _("This column is required unless you choose a customer for the whole file.")
COLUMN_REPEATED = _("This column appears more than once.")
LINE_TOO_LONG = _("This line has more cells than the header.")
REQUIRED = _("This field is required.")
REQUIRED_FOR_NEW = _("This field is required for a new asset.")
CUSTOMER_UNKNOWN = _("No customer with this code that you may import into.")
CUSTOMER_DIFFERS = _("The customer code differs from the customer chosen for this import.")
SITE_UNKNOWN = _("The customer has no site with this name.")
MANUFACTURER_UNKNOWN = _("No manufacturer with this name in the catalogue.")
MODEL_UNKNOWN = _("The manufacturer has no model with this name in the catalogue.")
SERIAL_REPEATED = _("The same manufacturer and serial number already appear on line %(line)s.")
SERIAL_OF_OTHER_CUSTOMER = _("An asset with this manufacturer and serial number belongs to another customer.")
CHOICE_UNKNOWN = _("Unknown value. Use one of: %(values)s.")
DATE_INVALID = _("Enter a date as YYYY-MM-DD.")
NUMBER_INVALID = _("Enter a number such as 120000 or 1200.50, without separators or currency signs.")
COST_NEGATIVE = _("The cost cannot be negative.")
COST_TOO_LARGE = _("The amount is too large.")
COST_TOO_PRECISE = _("%(currency)s amounts have at most %(places)s decimal places.")
COST_NOT_WHOLE = _("%(currency)s amounts have no decimal places.")
MONTHS_INVALID = _("Enter a whole number of months from 1 to %(max)s.")
TOO_LONG = _("At most %(max)s characters.")
NOT_ALLOWED = _("You may not import assets.")
CUSTOMER_NOT_VISIBLE = _("You may not import into this customer.")
IMPORT_HAS_ERRORS = _("The file has errors, so nothing was imported.")
IMPORT_NOT_READY = _("Only a checked import without errors can be applied.")
IMPORT_WRITE_FAILED = _("The import could not be written, so nothing was changed. Check the file and try again.")


# -- Reading the file ---------------------------------------------------------------------------------------------


def fleet_import_decode(*, data: bytes, filename: str) -> tuple[str, str]:
    """The text of an uploaded CSV file and the encoding it was read with; a ValidationError if it is none."""
    if len(data) > FLEET_IMPORT_MAX_BYTES:
        raise ValidationError(FILE_TOO_LARGE, code="too_large")
    if not filename.lower().endswith((".csv", ".txt")):
        raise ValidationError(FILE_NOT_CSV, code="not_csv")
    if b"\x00" in data:
        raise ValidationError(FILE_NOT_TEXT, code="not_text")
    for encoding in FLEET_IMPORT_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not text.strip():
            raise ValidationError(FILE_HAS_NO_HEADER, code="empty")
        return text.removeprefix("\ufeff"), encoding.removesuffix("-sig")
    raise ValidationError(FILE_UNDECODABLE, code="undecodable")


@dataclass
class ParsedFile:
    """The header's columns, the data lines (line number and cells by column) and the file's errors.

    ``complete`` is False when required columns are missing, so that lines cannot be checked.
    """

    columns: list[str]
    lines: list[tuple[int, dict[str, str]]]
    errors: list[dict]
    complete: bool = True


def _error(line: int | None, column: str, message) -> dict:
    return {"line": line, "field": column, "message": str(message)}


def _column_name(cell: str) -> str:
    return cell.strip().removeprefix("\ufeff").strip().lower().replace(" ", "_")


def _cell(value: str) -> str:
    """A cell's text, without the quote the export puts before formula characters (CSV injection guard)."""
    value = value.strip()
    if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@"):
        return value[1:]
    return value


def fleet_import_parse(*, content: str, customer_chosen: bool) -> ParsedFile:
    """Split the text into lines of cells by column; report the header's problems once, at line 1."""
    reader = csv.reader(io.StringIO(content, newline=""))
    errors: list[dict] = []
    try:
        header = next(reader, [])
    except csv.Error:
        return ParsedFile([], [], [_error(1, "", FILE_MALFORMED)], complete=False)
    columns = [_column_name(cell) for cell in header]
    if not any(columns):
        return ParsedFile([], [], [_error(1, "", FILE_HAS_NO_HEADER)], complete=False)
    seen: set[str] = set()
    for name in columns:
        if name == "":
            continue  # an unnamed column (a trailing separator) is ignored
        if name in seen:
            errors.append(_error(1, name, COLUMN_REPEATED))
        elif name not in IMPORT_COLUMNS:
            errors.append(_error(1, name, COLUMN_UNKNOWN))
        seen.add(name)
    required = REQUIRED_COLUMNS if customer_chosen else ("customer_code", *REQUIRED_COLUMNS)
    missing = [name for name in required if name not in seen]
    for name in missing:
        errors.append(_error(1, name, COLUMN_MISSING_CUSTOMER if name == "customer_code" else COLUMN_MISSING))
    lines: list[tuple[int, dict[str, str]]] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            errors.append(_error(start, "", FILE_MALFORMED))
            break
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns) :]):
            errors.append(_error(start, "", LINE_TOO_LONG))
        lines.append((start, {name: _cell(cell) for name, cell in zip(columns, cells, strict=False)}))
    if not lines and not errors:
        errors.append(_error(1, "", FILE_HAS_NO_ROWS))
    return ParsedFile(columns, lines, errors, complete=not missing)


# -- Checking -----------------------------------------------------------------------------------------------------


@dataclass
class PlannedRow:
    """One valid line: the asset it creates (``existing`` is None) or updates, and the values it sets."""

    line: int
    customer: Organisation
    manufacturer_id: int
    serial_number: str
    values: dict[str, Any]  # by attribute name: site_id, asset_model_id, status, ...
    existing: Asset | None = None
    changed: list[str] = field(default_factory=list)


@dataclass
class ImportPlan:
    """The outcome of checking a file: every error, and the rows that would be written when there are none."""

    total_rows: int
    rows: list[PlannedRow]
    errors: list[dict]

    @property
    def to_create(self) -> int:
        return sum(1 for row in self.rows if row.existing is None)

    @property
    def to_update(self) -> int:
        return sum(1 for row in self.rows if row.existing is not None and row.changed)

    @property
    def unchanged(self) -> int:
        return sum(1 for row in self.rows if row.existing is not None and not row.changed)


class _Catalogue:
    """Names matched exactly first, then ignoring case."""

    def __init__(self, items: Iterable, key: Callable):
        self.exact: dict = {}
        self.folded: dict = {}
        for item in items:
            scope, name = key(item)
            self.exact[(scope, name)] = item
            self.folded.setdefault((scope, name.casefold()), item)

    def get(self, scope, name: str):
        return self.exact.get((scope, name)) or self.folded.get((scope, name.casefold()))


def _choice_lookup(choices: type) -> dict[str, str]:
    """Stored values and labels (English and the active language), ignoring case, to the stored value."""
    lookup = {}
    for value, label in choices.choices:
        lookup[value.casefold()] = value
        lookup[str(label).casefold()] = value
        with translation.override("en"):
            lookup[str(label).casefold()] = value
    return lookup


def _parse_date(text: str) -> date:
    for pattern in ("%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, pattern).date()  # noqa: DTZ007 - a calendar date, no time zone
        except ValueError:
            continue
    raise ValueError(text)


def _parse_cost(text: str) -> tuple[Decimal | None, Any]:
    """The amount, or None and the message of what is wrong with it."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None, NUMBER_INVALID
    if not amount.is_finite():
        return None, NUMBER_INVALID
    if amount < 0:
        return None, COST_NEGATIVE
    if amount.adjusted() >= MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES:
        return None, COST_TOO_LARGE
    return amount, None


def _decimal_places(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _existing_assets(keys: set[tuple[int, str]], *, lock: bool) -> dict[tuple[int, str], Asset]:
    """Assets of every customer with these (manufacturer, serial) keys, in one query per chunk of serials."""
    manufacturer_ids = {manufacturer_id for manufacturer_id, _serial in keys}
    serials = sorted({serial for _manufacturer_id, serial in keys})
    found: dict[tuple[int, str], Asset] = {}
    for chunk in batched(serials, SERIAL_QUERY_CHUNK):
        assets = Asset.objects.filter(manufacturer_id__in=manufacturer_ids, serial_number__in=chunk)
        if lock:
            assets = assets.select_for_update()
        for asset in assets:
            found[(asset.manufacturer_id, asset.serial_number)] = asset
    return found


def fleet_import_plan(*, fleet_import: FleetImport, lock: bool = False) -> ImportPlan:
    """Check every line of the import against the database in a fixed number of queries; write nothing.

    ``lock`` takes row locks on the existing assets (when applying, inside the transaction).
    """
    parsed = fleet_import_parse(content=fleet_import.content, customer_chosen=fleet_import.customer_id is not None)
    errors = list(parsed.errors)
    total = len(parsed.lines)
    columns = set(parsed.columns)
    if not parsed.complete:
        return ImportPlan(total, [], errors)
    lines = parsed.lines

    # Everything the lines refer to, read in a few queries.
    user = fleet_import.applied_by or fleet_import.created_by
    customers: dict[str, Organisation] = {}
    codes = {cells.get("customer_code", "") for _line, cells in lines} - {""}
    if codes:
        customers = {customer.code: customer for customer in customer_list(user=user).filter(code__in=codes)}
    chosen = fleet_import.customer
    if chosen is not None:
        customers.setdefault(chosen.code, chosen)
    site_names = {cells.get("site", "") for _line, cells in lines} - {""}
    customer_ids = {customer.pk for customer in customers.values()}
    sites = _Catalogue(
        Site.objects.filter(customer_id__in=customer_ids, name__in=site_names) if customer_ids and site_names else [],
        key=lambda site: (site.customer_id, site.name),
    )
    manufacturers = _Catalogue(Manufacturer.objects.only("id", "name"), key=lambda maker: (None, maker.name))
    referenced = {manufacturers.get(None, cells.get("manufacturer", "")) for _line, cells in lines} - {None}
    models = _Catalogue(
        AssetModel.objects.filter(manufacturer_id__in=[maker.pk for maker in referenced]) if referenced else [],
        key=lambda model: (model.manufacturer_id, model.name),
    )
    keys = set()
    for _line, cells in lines:
        maker = manufacturers.get(None, cells.get("manufacturer", ""))
        if maker is not None and cells.get("serial_number"):
            keys.add((maker.pk, cells["serial_number"]))
    existing = _existing_assets(keys, lock=lock) if keys else {}

    statuses, ownerships = _choice_lookup(AssetStatus), _choice_lookup(Ownership)
    seen: dict[tuple[int, str], int] = {}
    rows: list[PlannedRow] = []
    for line, cells in lines:
        row_errors: list[dict] = []

        def fail(column: str, message, line=line, row_errors=row_errors) -> None:
            row_errors.append(_error(line, column, message))

        # The customer: the row's code, or the customer chosen for the whole file.
        code = cells.get("customer_code", "")
        customer = chosen
        if code:
            customer = customers.get(code)
            if customer is None:
                fail("customer_code", CUSTOMER_UNKNOWN)
            elif chosen is not None and customer.pk != chosen.pk:
                fail("customer_code", CUSTOMER_DIFFERS)
                customer = None
        elif chosen is None:
            fail("customer_code", REQUIRED)

        maker = None
        if not cells.get("manufacturer"):
            fail("manufacturer", REQUIRED)
        else:
            maker = manufacturers.get(None, cells["manufacturer"])
            if maker is None:
                fail("manufacturer", MANUFACTURER_UNKNOWN)
        model = None
        if not cells.get("model"):
            fail("model", REQUIRED)
        elif maker is not None:
            model = models.get(maker.pk, cells["model"])
            if model is None:
                fail("model", MODEL_UNKNOWN)
        site = None
        if not cells.get("site"):
            fail("site", REQUIRED)
        elif customer is not None:
            site = sites.get(customer.pk, cells["site"])
            if site is None:
                fail("site", SITE_UNKNOWN)

        serial = cells.get("serial_number", "")
        asset = None
        is_new = False
        if not serial:
            fail("serial_number", REQUIRED)
        elif len(serial) > SERIAL_MAX_LENGTH:
            fail("serial_number", TOO_LONG % {"max": SERIAL_MAX_LENGTH})
        elif maker is not None:
            key = (maker.pk, serial)
            if key in seen:
                fail("serial_number", SERIAL_REPEATED % {"line": seen[key]})
            else:
                seen[key] = line
                asset = existing.get(key)
                is_new = asset is None
                if asset is not None and customer is not None and asset.customer_id != customer.pk:
                    fail("serial_number", SERIAL_OF_OTHER_CUSTOMER)

        values: dict[str, Any] = {}
        if site is not None:
            values["site_id"] = site.pk
        if model is not None:
            values["asset_model_id"] = model.pk
        for column, lookup, choices in (("status", statuses, AssetStatus), ("ownership", ownerships, Ownership)):
            text = cells.get(column, "")
            if text:
                value = lookup.get(text.casefold())
                if value is None:
                    fail(column, CHOICE_UNKNOWN % {"values": ", ".join(choices.values)})
                else:
                    values[column] = value
        if is_new and not cells.get("ownership"):
            fail("ownership", REQUIRED_FOR_NEW)
        if "install_date" in columns:
            text = cells.get("install_date", "")
            try:
                values["install_date"] = _parse_date(text) if text else None
            except ValueError:
                fail("install_date", DATE_INVALID)
        if cells.get("currency"):
            currency = cells["currency"].upper()
            if currency in Currency.values:
                values["currency"] = currency
            else:
                fail("currency", CHOICE_UNKNOWN % {"values": ", ".join(Currency.values)})
        if "acquisition_cost" in columns:
            text = cells.get("acquisition_cost", "")
            amount, problem = _parse_cost(text) if text else (None, None)
            currency = values.get("currency") or (asset.currency if asset else customer.currency if customer else "")
            if problem is not None:
                fail("acquisition_cost", problem)
            elif amount is not None and currency in Currency.values and _decimal_places(amount) > minor_units(currency):
                places = minor_units(currency)
                message = COST_TOO_PRECISE if places else COST_NOT_WHOLE
                fail("acquisition_cost", message % {"currency": currency, "places": places})
            else:
                values["acquisition_cost"] = amount
        if cells.get("expected_life_months"):
            text = cells["expected_life_months"]
            if text.isdigit() and 1 <= int(text) <= EXPECTED_LIFE_MAX_MONTHS:
                values["expected_life_months"] = int(text)
            else:
                fail("expected_life_months", MONTHS_INVALID % {"max": EXPECTED_LIFE_MAX_MONTHS})
        for column, max_length in TEXT_COLUMNS.items():
            if column in columns:
                text = cells.get(column, "")
                if len(text) > max_length:
                    fail(column, TOO_LONG % {"max": max_length})
                else:
                    values[column] = text

        if row_errors:
            errors.extend(row_errors)
            continue
        planned = PlannedRow(line, customer, maker.pk, serial, values, existing=asset)
        if asset is not None:
            planned.changed = [name for name, value in values.items() if getattr(asset, name) != value]
        rows.append(planned)
    errors.sort(key=lambda error: error["line"] or 0)
    return ImportPlan(total, rows, errors)


# -- Services -----------------------------------------------------------------------------------------------------


def _require_importer(user: User | None):
    access = access_for(user)
    if access is None or not access.is_provider_staff or not access.can(Capability.MANAGE_ASSETS):
        raise ValidationError(NOT_ALLOWED)
    return access


def fleet_import_create(
    *,
    by: User,
    filename: str,
    content: str,
    encoding: str = "utf-8",
    customer: Organisation | None = None,
) -> FleetImport:
    """Store an uploaded file's text and check it (a dry run): the import is then ready to apply, or failed."""
    access = _require_importer(by)
    if customer is not None and not customer_list(user=by).filter(pk=customer.pk).exists():
        raise ValidationError({"customer": CUSTOMER_NOT_VISIBLE})
    fleet_import = FleetImport.objects.create(
        provider_id=access.provider_id,
        customer=customer,
        filename=filename[:255],
        encoding=encoding,
        content=content,
        status=FleetImportStatus.VALIDATING,
        created_by=by,
    )
    return fleet_import_validate(fleet_import=fleet_import)


def fleet_import_validate(*, fleet_import: FleetImport) -> FleetImport:
    """Check the import without writing assets; record its errors and what applying it would do."""
    plan = fleet_import_plan(fleet_import=fleet_import)
    fleet_import.errors = plan.errors
    fleet_import.total_rows = plan.total_rows
    fleet_import.processed_rows = 0
    fleet_import.created_count = plan.to_create
    fleet_import.updated_count = plan.to_update
    fleet_import.unchanged_count = plan.unchanged
    fleet_import.status = FleetImportStatus.FAILED if plan.errors else FleetImportStatus.PENDING
    fleet_import.save(
        update_fields=[
            "errors",
            "total_rows",
            "processed_rows",
            "created_count",
            "updated_count",
            "unchanged_count",
            "status",
            "updated_at",
        ]
    )
    return fleet_import


def fleet_import_start(*, fleet_import: FleetImport, by: User) -> FleetImport:
    """Apply a checked import: here and now when it is small, else by a Celery task that reports progress."""
    _require_importer(by)
    if fleet_import.status != FleetImportStatus.PENDING:
        raise ValidationError(IMPORT_NOT_READY)
    fleet_import.applied_by = by
    fleet_import.save(update_fields=["applied_by", "updated_at"])
    if fleet_import.total_rows <= settings.FLEET_IMPORT_ASYNC_ROWS:
        return fleet_import_apply(fleet_import=fleet_import)
    from assets.tasks import fleet_import_run_task

    _claim(fleet_import)
    transaction.on_commit(lambda: fleet_import_run_task.delay(fleet_import.pk))
    return fleet_import


def _claim(fleet_import: FleetImport) -> bool:
    """Mark the import running (committed at once, so the portal shows it); False if it is not applicable."""
    started_at = timezone.now()
    claimed = FleetImport.objects.filter(pk=fleet_import.pk, status__in=FLEET_IMPORT_APPLICABLE_STATES).update(
        status=FleetImportStatus.RUNNING, processed_rows=0, started_at=started_at, updated_at=started_at
    )
    if claimed:
        fleet_import.status = FleetImportStatus.RUNNING
        fleet_import.processed_rows = 0
        fleet_import.started_at = started_at
    return bool(claimed)


class _Rejected(Exception):
    def __init__(self, plan: ImportPlan):
        self.plan = plan


def fleet_import_apply(*, fleet_import: FleetImport) -> FleetImport:
    """Check the import again and write all its rows in one transaction; idempotent (a done import stays done).

    Progress (rows written) is recorded every ``WRITE_BATCH_SIZE`` rows. When the check finds errors, or the
    database refuses a row, nothing is written and the import is marked failed with the reasons.
    """
    if fleet_import.status == FleetImportStatus.DONE:
        return fleet_import
    if not _claim(fleet_import):
        fleet_import.refresh_from_db()
        if fleet_import.status == FleetImportStatus.DONE:
            return fleet_import
        raise ValidationError(IMPORT_NOT_READY)
    progress = ProgressWriter(fleet_import.pk)
    try:
        with transaction.atomic():
            status = _lock(fleet_import)
            if status == FleetImportStatus.DONE:
                fleet_import.refresh_from_db()
                return fleet_import
            if status != FleetImportStatus.RUNNING:
                raise ValidationError(IMPORT_NOT_READY)
            plan = fleet_import_plan(fleet_import=fleet_import, lock=True)
            if plan.errors:
                raise _Rejected(plan)
            _write(plan, fleet_import=fleet_import, progress=progress)
            fleet_import.status = FleetImportStatus.DONE
            fleet_import.errors = []
            fleet_import.total_rows = plan.total_rows
            fleet_import.processed_rows = plan.total_rows
            fleet_import.created_count = plan.to_create
            fleet_import.updated_count = plan.to_update
            fleet_import.unchanged_count = plan.unchanged
            fleet_import.finished_at = timezone.now()
            fleet_import.save(update_fields=[*_RESULT_FIELDS, "errors", "total_rows"])
    except _Rejected as rejected:
        _fail(fleet_import, rejected.plan.errors)
        raise ValidationError(IMPORT_HAS_ERRORS) from None
    except DatabaseError:
        logger.exception("Fleet import %s could not be written", fleet_import.pk)
        _fail(fleet_import, [_error(None, "", IMPORT_WRITE_FAILED)])
        raise ValidationError(IMPORT_WRITE_FAILED) from None
    finally:
        progress.close()
    return fleet_import


_RESULT_FIELDS = (
    "status",
    "processed_rows",
    "created_count",
    "updated_count",
    "unchanged_count",
    "finished_at",
    "updated_at",
)


def _fail(fleet_import: FleetImport, errors: list[dict]) -> None:
    fleet_import.status = FleetImportStatus.FAILED
    fleet_import.errors = errors
    fleet_import.processed_rows = 0
    fleet_import.created_count = fleet_import.updated_count = fleet_import.unchanged_count = 0
    fleet_import.finished_at = timezone.now()
    fleet_import.save(update_fields=[*_RESULT_FIELDS, "errors"])


def _lock(fleet_import: FleetImport) -> str:
    """Let one transaction at a time apply this import, and read its status as the last one left it.

    PostgreSQL takes an advisory lock rather than locking the import's row, which the progress writer updates
    from its own connection meanwhile.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_CLASS, fleet_import.pk & 0x7FFFFFFF])
    return FleetImport.objects.values_list("status", flat=True).get(pk=fleet_import.pk)


class ProgressWriter:
    """Records how many rows an import has written, where the portal can read it while the import runs.

    The import's transaction hides its writes until it commits, so on PostgreSQL progress goes through a
    second, autocommitting connection (opened on first use). Elsewhere (SQLite in the embedded demo, whose
    imports run in the request) it is written in the same transaction and shows once that commits.
    """

    def __init__(self, fleet_import_id: int):
        self.fleet_import_id = fleet_import_id
        self._connection = None

    def __call__(self, processed_rows: int) -> None:
        now = timezone.now()
        if connection.vendor != "postgresql":
            FleetImport.objects.filter(pk=self.fleet_import_id).update(processed_rows=processed_rows, updated_at=now)
            return
        try:
            if self._connection is None:
                self._connection = connections.create_connection(DEFAULT_DB_ALIAS)
            table = self._connection.ops.quote_name(FleetImport._meta.db_table)
            with self._connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET processed_rows = %s, updated_at = %s WHERE id = %s",
                    [processed_rows, now, self.fleet_import_id],
                )
        except DatabaseError:
            logger.warning("Progress of fleet import %s could not be recorded", self.fleet_import_id, exc_info=True)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# Attribute names as planned rows carry them, to the field names that bulk_update takes.
_FIELD_NAMES = {"site_id": "site", "asset_model_id": "asset_model"}


def _write(plan: ImportPlan, *, fleet_import: FleetImport, progress: Callable[[int], None]) -> None:
    """Create and update the planned assets in bulk, batch by batch, with one history entry per asset written."""
    by_id = fleet_import.applied_by_id or fleet_import.created_by_id
    now = timezone.now()
    note = str(_("Import #%(id)s (%(file)s)") % {"id": fleet_import.pk, "file": fleet_import.filename})[:500]
    new_customers = {row.customer.pk: row.customer for row in plan.rows if row.existing is None}
    default_life = {
        pk: organisation_settings_effective(organisation=customer).default_expected_life_months
        for pk, customer in new_customers.items()
    }
    processed = 0
    for batch in batched(plan.rows, WRITE_BATCH_SIZE):
        created = [
            Asset(
                customer_id=row.customer.pk,
                manufacturer_id=row.manufacturer_id,
                serial_number=row.serial_number,
                **{
                    "status": AssetStatus.ACTIVE,
                    "currency": row.customer.currency,
                    "expected_life_months": default_life.get(row.customer.pk),
                    **row.values,
                },
            )
            for row in batch
            if row.existing is None
        ]
        Asset.objects.bulk_create(created)
        events = [
            AssetEvent(
                asset=asset,
                kind=AssetEventKind.REGISTERED,
                at=now,
                by_id=by_id,
                to_site_id=asset.site_id,
                to_status=asset.status,
                note=note,
            )
            for asset in created
        ]
        updated = [row for row in batch if row.existing is not None and row.changed]
        fields: set[str] = set()
        for row in updated:
            asset = row.existing
            event = AssetEvent(asset=asset, kind=AssetEventKind.IMPORTED, at=now, by_id=by_id)
            if "site_id" in row.changed:
                event.from_site_id, event.to_site_id = asset.site_id, row.values["site_id"]
            if "status" in row.changed:
                event.from_status, event.to_status = asset.status, row.values["status"]
            event.note = f"{note}: {', '.join(_FIELD_NAMES.get(name, name) for name in row.changed)}"[:500]
            events.append(event)
            for name in row.changed:
                setattr(asset, name, row.values[name])
            asset.updated_at = now
            fields.update(_FIELD_NAMES.get(name, name) for name in row.changed)
        if updated:
            _bulk_update([row.existing for row in updated], [*sorted(fields), "updated_at"])
        AssetEvent.objects.bulk_create(events)
        processed += len(batch)
        if processed < len(plan.rows):
            progress(processed)


def _bulk_update(assets: list[Asset], names: list[str]) -> None:
    """Write the named fields of many assets in one statement.

    Django's ``bulk_update`` builds a CASE expression per row and field, which costs about a millisecond per row
    in Python; on PostgreSQL an ``UPDATE ... FROM (VALUES ...)`` join writes the same in a fraction of that.
    """
    if connection.vendor != "postgresql":
        Asset.objects.bulk_update(assets, names)
        return
    quote = connection.ops.quote_name
    fields = [Asset._meta.get_field(name) for name in names]
    columns = [quote(field.column) for field in fields]
    row = "(" + ", ".join(["%s::bigint", *(f"%s::{field.cast_db_type(connection)}" for field in fields)]) + ")"
    sql = (
        f"UPDATE {quote(Asset._meta.db_table)} AS target SET "
        + ", ".join(f"{column} = source.{column}" for column in columns)
        + f" FROM (VALUES {', '.join([row] * len(assets))}) AS source(id, {', '.join(columns)})"
        + f" WHERE target.{quote(Asset._meta.pk.column)} = source.id"
    )
    params: list = []
    for asset in assets:
        params.append(asset.pk)
        params.extend(field.get_db_prep_save(getattr(asset, field.attname), connection) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# -- Reads --------------------------------------------------------------------------------------------------------


def fleet_import_list(*, user: User) -> QuerySet[FleetImport]:
    """Imports the user may see (provider staff who manage assets), newest first, without the file's text."""
    return (
        FleetImport.objects.visible_to(user)
        .select_related("customer", "created_by", "applied_by")
        .defer("content")
        .order_by("-created_at", "-id")
    )
