"""Receivables: what finalised invoices are still owed, payments against them, bank imports, reminders, ageing.

**Outstanding.** Only finalised documents of kind invoice are receivables. What one is owed is its ``total``, less
the totals of the finalised credit notes that correct it (credit notes carry positive amounts) and less the
payments recorded against it. The same arithmetic is one SQL expression (``with_outstanding``), so that a single
invoice (``outstanding``), the reminder sweep and the ageing report agree to the cent.

**Status.** ``paid`` once nothing is outstanding (it wins over everything); otherwise ``overdue`` when the due date
lies before today in the customer's time zone; otherwise ``partly_paid`` when some payment was received, else
``open``. ``Receivable.status`` and ``paid_amount`` are kept current under the receivable's row lock:
``refresh_receivable`` recomputes them; a payment stores them in the same locked transaction that records it
(from the amounts it has just checked, without reading them again); the reminder sweep moves invoices to overdue.
Finalising a credit note should call ``refresh_receivable`` on the invoice it corrects.

**Payments** (``record_payment``) are validated (a finalised invoice; a positive amount in the currency's minor
units, never more than what is outstanding; a date not in the future), recorded under the receivable's row lock
(so two payments of one invoice take turns and never overpay it together) and audited (``InvoiceEvent``).

**Bank imports** (``import_bank_csv``) read a provider's bank statement: a CSV file with a header row naming the
columns ``transaction_id``, ``date`` (YYYY-MM-DD), ``amount``, ``currency``, ``reference`` (the payer's remittance
text, holding the invoice number) and ``payer_name`` (Japanese headers 取引ID, 日付, 金額, 通貨, 摘要, 振込依頼人
are understood too), in UTF-8 (with or without a byte order mark) or Shift_JIS (Windows-31J). Each row is matched
to one of the provider's finalised invoices by the invoice number in its reference and recorded in its own
transaction; the report says per row what happened. A statement's transaction id is recorded once per invoice,
so importing a file again imports nothing.

**Reminders** (``send_payment_reminders``, a beat sweep) e-mail the customer's admins about each overdue invoice,
at most once per the provider's reminder interval (in days, counted in the customer's calendar). A reminder is
claimed by a conditional update of the receivable before it is sent, so two sweeps running at once send it once.
"""

import codecs
import csv
import datetime
import io
import logging
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, mailers
from django.db import IntegrityError, models, transaction
from django.db.models import (
    Case,
    CharField,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.choices import OrganisationKind, Role
from accounts.models import Membership, Organisation, User
from contracts.choices import INVOICE_PREFIX, InvoiceKind, InvoiceStatus, PaymentSource, PaymentStatus
from contracts.models import BillingSettings, Invoice, InvoiceEvent, Payment, Receivable
from fleet.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, Currency, minor_units, money_format, money_round

logger = logging.getLogger(__name__)

# Sums of many amounts need a few more digits than one amount.
SUM_FIELD = DecimalField(max_digits=MONEY_MAX_DIGITS + 4, decimal_places=MONEY_DECIMAL_PLACES)
# The largest amount a payment can hold (``Payment.amount``: 14 digits, 2 of them decimals).
MAX_AMOUNT = Decimal(10) ** (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES)

DEFAULT_REMINDER_INTERVAL_DAYS = BillingSettings._meta.get_field("reminder_interval_days").default
# The statuses an invoice moves to overdue from.
UNPAID_STATES = (PaymentStatus.OPEN, PaymentStatus.PARTLY_PAID)
REMINDER_SUBJECT_TEMPLATE = "contracts/email/payment_reminder_subject.txt"
REMINDER_BODY_TEMPLATE = "contracts/email/payment_reminder.txt"

MAX_IMPORT_BYTES = 5 * 1024 * 1024
# An invoice number as ``contracts.billing`` assigns it (``INV-2026-000123``); banks often drop or space the
# hyphens of remittance text, so ``INV2026000123`` and ``INV 2026 000123`` are read as the same number.
INVOICE_NUMBER_RE = re.compile(
    rf"(?<![A-Z0-9]){re.escape(INVOICE_PREFIX)}[-\s]?(\d{{4}})[-\s]?(\d{{6,}})(?!\d)", re.IGNORECASE
)

NOT_A_RECEIVABLE = _("Payments can be recorded only against a finalised invoice.")
NOT_A_NUMBER = _("Enter an amount such as 1200 or 1200.50.")
NOT_POSITIVE = _("The amount must be more than zero.")
TOO_LARGE = _("The amount is too large.")
TOO_MANY_DECIMALS = _("Amounts in %(currency)s have at most %(places)s decimal places.")
NO_DECIMALS = _("Amounts in %(currency)s have no decimal places.")
OVERPAYMENT = _("The amount is more than the %(outstanding)s still outstanding on this invoice.")
NOT_A_DATE = _("Enter a date.")
IN_THE_FUTURE = _("The payment date cannot be in the future.")
TOO_LONG = _("Enter at most %(max)s characters.")
NOT_TEXT = _("Enter text.")
NUL_CHARACTER = _("Remove the null characters.")
UNKNOWN_SOURCE = _("Choose a valid source.")
ALREADY_IMPORTED = _("This bank transaction is already recorded against this invoice.")

FILE_TOO_LARGE = _("The file is larger than 5 MB. Split the statement into smaller files.")
FILE_NOT_CSV = _("The file is not a CSV text file in UTF-8 or Shift_JIS.")
FILE_EMPTY = _("The file is empty.")
FILE_MISSING_COLUMNS = _("The file lacks the columns: %(columns)s. The first row must name the columns.")
NOT_A_PROVIDER = _("Bank statements are imported for a provider.")
ROW_NO_INVOICE_NUMBER = _("The reference holds no invoice number.")
ROW_SEVERAL_NUMBERS = _("The reference names several invoices (%(numbers)s); record the payment by hand.")
ROW_UNKNOWN_INVOICE = _("No finalised invoice has the number %(number)s.")
ROW_NO_TRANSACTION_ID = _("The row has no transaction id.")
ROW_BAD_DATE = _("The date %(value)s is not a date in the form YYYY-MM-DD.")
ROW_BAD_CURRENCY = _("%(value)s is not a currency the portal bills in.")
ROW_OTHER_CURRENCY = _("The payment is in %(paid)s but the invoice is in %(invoice)s.")
ROW_TOO_FEW_VALUES = _("The row has fewer values than the header.")
ROW_DUPLICATE = _("Imported before: this transaction is already recorded.")


# --- Outstanding amounts and status -------------------------------------------------------------------------------


def _sum_per_invoice(queryset: QuerySet, *, key: str, amount: str) -> Coalesce:
    """The sum of ``amount`` over the rows of ``queryset`` whose ``key`` is the outer invoice (0 when none)."""
    total = queryset.filter(**{key: OuterRef("pk")}).order_by().values(key).annotate(total=Sum(amount)).values("total")
    return Coalesce(Subquery(total, output_field=SUM_FIELD), Value(Decimal(0)), output_field=SUM_FIELD)


def with_outstanding(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """``queryset`` annotated with ``paid_total`` (payments), ``credited_total`` (finalised credit notes) and
    ``outstanding`` (total less both): correlated subqueries, so still one query whatever the number of rows."""
    credit_notes = Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE, status=InvoiceStatus.FINALISED)
    return queryset.annotate(
        paid_total=_sum_per_invoice(Payment.objects.all(), key="invoice", amount="amount"),
        credited_total=_sum_per_invoice(credit_notes, key="corrects", amount="total"),
    ).annotate(
        outstanding=ExpressionWrapper(F("total") - F("credited_total") - F("paid_total"), output_field=SUM_FIELD)
    )


@dataclass(frozen=True)
class Amounts:
    """What an invoice is owed and has received, rounded to its currency."""

    total: Decimal
    credited: Decimal
    paid: Decimal
    outstanding: Decimal


def _amounts(invoice: Invoice) -> Amounts:
    row = (
        with_outstanding(Invoice.objects.filter(pk=invoice.pk))
        .values("total", "credited_total", "paid_total", "outstanding")
        .get()
    )
    currency = invoice.currency
    return Amounts(
        total=money_round(row["total"], currency),
        credited=money_round(row["credited_total"], currency),
        paid=money_round(row["paid_total"], currency),
        outstanding=money_round(row["outstanding"], currency),
    )


def outstanding(invoice: Invoice) -> Decimal:
    """What the invoice is still owed: its total less its finalised credit notes' totals and its payments."""
    return _amounts(invoice).outstanding


def customer_today(customer: Organisation, now: datetime.datetime | None = None) -> datetime.date:
    """The date it is in the customer's time zone."""
    return timezone.localtime(now or timezone.now(), ZoneInfo(customer.time_zone)).date()


def payment_status(
    *, outstanding: Decimal, paid: Decimal, due_date: datetime.date | None, today: datetime.date
) -> PaymentStatus:
    """Paid once nothing is outstanding; else overdue past the due date; else partly paid or open."""
    if outstanding <= 0:
        return PaymentStatus.PAID
    if due_date is not None and due_date < today:
        return PaymentStatus.OVERDUE
    if paid > 0:
        return PaymentStatus.PARTLY_PAID
    return PaymentStatus.OPEN


def _is_receivable(invoice: Invoice) -> bool:
    return invoice.status == InvoiceStatus.FINALISED and invoice.kind == InvoiceKind.INVOICE


def _fresh(invoice: Invoice) -> Invoice:
    """The invoice as stored (the caller's copy may predate its finalisation)."""
    return Invoice.objects.select_related("customer", "provider").get(pk=invoice.pk)


def _locked_receivable(invoice: Invoice) -> Receivable:
    """The invoice's receivable under its row lock (opened, should finalisation not have opened it)."""
    receivable, _created = Receivable.objects.select_for_update().get_or_create(invoice_id=invoice.pk)
    return receivable


@transaction.atomic
def refresh_receivable(invoice: Invoice, today: datetime.date | None = None) -> Receivable:
    """Bring the receivable's ``status`` and ``paid_amount`` up to date, under its row lock; ``today`` defaults to
    the date in the customer's time zone."""
    invoice = _fresh(invoice)
    if not _is_receivable(invoice):
        raise ValidationError({"invoice": NOT_A_RECEIVABLE})
    receivable = _locked_receivable(invoice)
    return _sync(receivable, invoice, _amounts(invoice), today or customer_today(invoice.customer))


def _sync(receivable: Receivable, invoice: Invoice, amounts: Amounts, today: datetime.date) -> Receivable:
    """Store the status and paid amount that ``amounts`` give (the caller holds the receivable's row lock)."""
    status = payment_status(outstanding=amounts.outstanding, paid=amounts.paid, due_date=invoice.due_date, today=today)
    if (receivable.status, receivable.paid_amount) != (status, amounts.paid):
        receivable.status = status
        receivable.paid_amount = amounts.paid
        receivable.save(update_fields=["status", "paid_amount"])
    return receivable


# --- Payments -----------------------------------------------------------------------------------------------------


def _clean_amount(value, currency: str) -> Decimal:
    """A positive Decimal within the currency's minor units, or a ValidationError (its message only)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError(NOT_A_NUMBER)  # floats never hold money
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValidationError(NOT_A_NUMBER) from None
    if not amount.is_finite():
        raise ValidationError(NOT_A_NUMBER)
    if amount <= 0:
        raise ValidationError(NOT_POSITIVE)
    if amount >= MAX_AMOUNT:
        raise ValidationError(TOO_LARGE)
    places = minor_units(currency)
    if amount != money_round(amount, currency):
        if places == 0:
            raise ValidationError(NO_DECIMALS, params={"currency": currency})
        raise ValidationError(TOO_MANY_DECIMALS, params={"currency": currency, "places": places})
    return money_round(amount, currency)


def _check_text(errors: dict, name: str, value: str, max_length: int) -> None:
    if not isinstance(value, str):
        errors[name] = NOT_TEXT
    elif "\x00" in value:
        errors[name] = NUL_CHARACTER
    elif len(value) > max_length:
        errors[name] = ValidationError(TOO_LONG, params={"max": max_length})


def _latest_today(invoice: Invoice) -> datetime.date:
    """Today where it is latest of the customer's and the provider's time zones: a payment dated today in
    either is not in the future."""
    now = timezone.now()
    return max(customer_today(invoice.customer, now), customer_today(invoice.provider, now))


def record_payment(
    *,
    invoice: Invoice,
    amount: Decimal,
    paid_on: datetime.date,
    reference: str = "",
    by: User | None,
    source: str = PaymentSource.MANUAL,
    bank_transaction_id: str = "",
) -> Payment:
    """Record money received against a finalised invoice (see the module notes); raises ``ValidationError`` with
    field messages (``invoice``, ``amount``, ``paid_on``, ``reference``, ``bank_transaction_id``, ``source``).
    A bank transaction already recorded against the invoice is refused with the code ``duplicate``."""
    return _record_payment(
        invoice=_fresh(invoice),
        amount=amount,
        paid_on=paid_on,
        reference=reference,
        by=by,
        source=source,
        bank_transaction_id=bank_transaction_id,
    )


def _record_payment(
    *,
    invoice: Invoice,
    amount: Decimal,
    paid_on: datetime.date,
    reference: str,
    by: User | None,
    source: str,
    bank_transaction_id: str,
) -> Payment:
    """``record_payment`` for an invoice just read from the database, with its customer and provider."""
    if not _is_receivable(invoice):
        raise ValidationError({"invoice": NOT_A_RECEIVABLE})
    errors: dict = {}
    try:
        amount = _clean_amount(amount, invoice.currency)
    except ValidationError as error:
        errors["amount"] = error
    if not isinstance(paid_on, datetime.date) or isinstance(paid_on, datetime.datetime):
        errors["paid_on"] = NOT_A_DATE
    elif paid_on > _latest_today(invoice):
        errors["paid_on"] = IN_THE_FUTURE
    _check_text(errors, "reference", reference, Payment._meta.get_field("reference").max_length)
    _check_text(
        errors, "bank_transaction_id", bank_transaction_id, Payment._meta.get_field("bank_transaction_id").max_length
    )
    if source not in PaymentSource.values:
        errors["source"] = UNKNOWN_SOURCE
    if errors:
        raise ValidationError(errors)
    reference, bank_transaction_id = reference.strip(), bank_transaction_id.strip()

    with transaction.atomic():
        receivable = _locked_receivable(invoice)  # payments of one invoice take turns from here
        if (
            bank_transaction_id
            and Payment.objects.filter(invoice_id=invoice.pk, bank_transaction_id=bank_transaction_id).exists()
        ):
            raise ValidationError({"bank_transaction_id": ValidationError(ALREADY_IMPORTED, code="duplicate")})
        before = _amounts(invoice)
        if amount > before.outstanding:
            raise ValidationError(
                {
                    "amount": ValidationError(
                        OVERPAYMENT,
                        code="overpayment",
                        params={"outstanding": money_format(before.outstanding, invoice.currency)},
                    )
                }
            )
        status_before = receivable.status
        payment = Payment.objects.create(
            invoice=invoice,
            amount=amount,
            paid_on=paid_on,
            reference=reference,
            source=source,
            bank_transaction_id=bank_transaction_id,
            created_by=by,
        )
        after = Amounts(
            total=before.total,
            credited=before.credited,
            paid=before.paid + amount,
            outstanding=before.outstanding - amount,
        )
        # The refresh of the receivable, under the lock still held, from the amounts just worked out.
        receivable = _sync(receivable, invoice, after, customer_today(invoice.customer))
        changes = {
            "amount": [None, str(amount)],
            "paid_on": [None, paid_on.isoformat()],
            "source": [None, str(source)],
            "outstanding": [str(before.outstanding), str(after.outstanding)],
            "status": [status_before, receivable.status],
        }
        if reference:
            changes["reference"] = [None, reference]
        if bank_transaction_id:
            changes["bank_transaction_id"] = [None, bank_transaction_id]
        InvoiceEvent.objects.create(invoice=invoice, action="payment_recorded", changes=changes, by=by)
    return payment


# --- Bank statement import ----------------------------------------------------------------------------------------


class ImportRowStatus(models.TextChoices):
    IMPORTED = "imported", _("Imported")
    DUPLICATE = "duplicate", _("Imported before")
    UNMATCHED = "unmatched", _("No matching invoice")
    REFUSED = "refused", _("Refused")


@dataclass(frozen=True)
class ImportRow:
    """What happened to one row of the file (``row`` as numbered in the file: the header is row 1)."""

    row: int
    status: str
    invoice_number: str
    message: str


@dataclass
class ImportReport:
    """The outcome of a bank statement import: one entry per data row, and how many rows ended in each status."""

    rows: list[ImportRow] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ImportRowStatus.values, 0))

    def add(self, row: int, status: str, invoice_number: str = "", message: str = "") -> None:
        self.rows.append(ImportRow(row=row, status=str(status), invoice_number=invoice_number, message=str(message)))
        self.counts[str(status)] += 1


# The columns a statement needs, each with the header names it may carry (compared after ``_header_key``).
COLUMNS: dict[str, frozenset[str]] = {
    "transaction_id": frozenset({"transaction_id", "transaction", "id", "取引id", "取引番号"}),
    "date": frozenset({"date", "paid_on", "value_date", "booking_date", "日付", "取引日", "入金日"}),
    "amount": frozenset({"amount", "金額", "入金額"}),
    "currency": frozenset({"currency", "通貨"}),
    "reference": frozenset({"reference", "remittance", "remittance_information", "摘要", "備考"}),
    "payer_name": frozenset({"payer_name", "payer", "name", "振込依頼人", "振込依頼人名"}),
}


def _header_key(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", unicodedata.normalize("NFKC", text).strip().casefold())


def _read_upload(file) -> bytes:
    size = getattr(file, "size", None)
    if size is not None and size > MAX_IMPORT_BYTES:
        raise ValidationError({"file": FILE_TOO_LARGE})
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError({"file": FILE_TOO_LARGE})
    if isinstance(data, str):
        data = data.encode("utf-8")
    return data


def _decode(data: bytes) -> str:
    """UTF-8 (a byte order mark is dropped) or else Shift_JIS as Japanese Windows writes it (cp932, which also
    holds the NEC and IBM extensions such as ㈱); a NUL byte or bytes valid in neither mean it is no text file."""
    if b"\x00" in data:
        raise ValidationError({"file": FILE_NOT_CSV})
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for encoding in ("utf-8", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError({"file": FILE_NOT_CSV})


def _parse_records(text: str) -> tuple[dict[str, int], list[list[str]]]:
    """The position of each column and the records after the header; the whole file is parsed first, so a file
    that is no CSV is refused before any row is recorded."""
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise ValidationError({"file": FILE_NOT_CSV}) from None
    if not records or not any(value.strip() for value in records[0]):
        raise ValidationError({"file": FILE_EMPTY})
    keys = [_header_key(name) for name in records[0]]
    positions: dict[str, int] = {}
    for column, names in COLUMNS.items():
        position = next((index for index, key in enumerate(keys) if key in names), None)
        if position is not None:
            positions[column] = position
    missing = [column for column in COLUMNS if column not in positions]
    if missing:
        raise ValidationError({"file": ValidationError(FILE_MISSING_COLUMNS, params={"columns": ", ".join(missing)})})
    return positions, records[1:]


def _invoice_numbers(reference: str) -> list[str]:
    """The invoice numbers in a remittance text, in the portal's spelling (full-width characters folded)."""
    text = unicodedata.normalize("NFKC", reference)
    numbers = [f"{INVOICE_PREFIX}-{year}-{serial}" for year, serial in INVOICE_NUMBER_RE.findall(text)]
    return list(dict.fromkeys(numbers))


def _parse_date(value: str) -> datetime.date | None:
    text = unicodedata.normalize("NFKC", value).strip().replace("/", "-")
    if not re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
        return None
    year, month, day = (int(part) for part in text.split("-"))
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _parse_amount(value: str) -> str:
    """The amount as text for ``record_payment``: full-width digits folded, a currency sign and thousands
    separators (``12,000``) dropped. Anything else is left for ``record_payment`` to refuse."""
    text = unicodedata.normalize("NFKC", value).strip()
    text = text.lstrip("¥$€£").strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    return text


def _error_text(error: ValidationError) -> str:
    return " ".join(str(message) for message in error.messages)


def _is_duplicate(error: ValidationError) -> bool:
    return hasattr(error, "error_dict") and any(
        item.code == "duplicate" for item in error.error_dict.get("bank_transaction_id", [])
    )


def import_bank_csv(*, provider: Organisation, file, by: User | None) -> ImportReport:
    """Record the payments of a bank statement (see the module notes): each row in its own transaction. A file
    that is too large, not a CSV text file, or lacks columns raises one ``ValidationError`` (key ``file``)."""
    if provider.kind != OrganisationKind.PROVIDER:
        raise ValidationError({"provider": NOT_A_PROVIDER})
    positions, records = _parse_records(_decode(_read_upload(file)))
    width = max(positions.values()) + 1

    numbers_by_row = {
        index: _invoice_numbers(record[positions["reference"]])
        for index, record in enumerate(records)
        if len(record) >= width
    }
    wanted = {numbers[0] for numbers in numbers_by_row.values() if len(numbers) == 1}
    invoices = {
        invoice.number: invoice
        for invoice in Invoice.objects.filter(
            provider=provider, number__in=wanted, kind=InvoiceKind.INVOICE, status=InvoiceStatus.FINALISED
        ).select_related("customer", "provider")
    }

    report = ImportReport()
    for index, record in enumerate(records):
        row = index + 2  # the header is row 1
        if not any(value.strip() for value in record):
            continue  # a blank line
        if len(record) < width:
            report.add(row, ImportRowStatus.REFUSED, message=ROW_TOO_FEW_VALUES)
            continue
        numbers = numbers_by_row[index]
        if not numbers:
            report.add(row, ImportRowStatus.UNMATCHED, message=ROW_NO_INVOICE_NUMBER)
            continue
        if len(numbers) > 1:
            report.add(
                row,
                ImportRowStatus.UNMATCHED,
                message=ROW_SEVERAL_NUMBERS % {"numbers": ", ".join(numbers)},
            )
            continue
        number = numbers[0]
        invoice = invoices.get(number)
        if invoice is None:  # unknown, or another provider's: the same answer, so nothing leaks
            report.add(row, ImportRowStatus.UNMATCHED, number, ROW_UNKNOWN_INVOICE % {"number": number})
            continue
        status, message = _import_row(record, positions, invoice, by)
        report.add(row, status, number, message)
    return report


def _import_row(record: list[str], positions: dict[str, int], invoice: Invoice, by: User | None) -> tuple[str, str]:
    transaction_id = unicodedata.normalize("NFKC", record[positions["transaction_id"]]).strip()
    if not transaction_id:
        return ImportRowStatus.REFUSED, str(ROW_NO_TRANSACTION_ID)
    raw_date = record[positions["date"]].strip()
    paid_on = _parse_date(raw_date)
    if paid_on is None:
        return ImportRowStatus.REFUSED, str(ROW_BAD_DATE % {"value": raw_date})
    currency = unicodedata.normalize("NFKC", record[positions["currency"]]).strip().upper()
    if currency not in Currency.values:
        return ImportRowStatus.REFUSED, str(ROW_BAD_CURRENCY % {"value": currency})
    if currency != invoice.currency:
        return ImportRowStatus.REFUSED, str(ROW_OTHER_CURRENCY % {"paid": currency, "invoice": invoice.currency})
    reference = " ".join(record[positions["reference"]].split())
    try:
        payment = _record_payment(  # ``invoice`` was read by this import, with its customer and provider
            invoice=invoice,
            amount=_parse_amount(record[positions["amount"]]),
            paid_on=paid_on,
            reference=reference[: Payment._meta.get_field("reference").max_length],
            by=by,
            source=PaymentSource.BANK_CSV,
            bank_transaction_id=transaction_id,
        )
    except ValidationError as error:
        if _is_duplicate(error):
            return ImportRowStatus.DUPLICATE, str(ROW_DUPLICATE)
        return ImportRowStatus.REFUSED, _error_text(error)
    except IntegrityError:  # the unique constraint, should another import have won a race
        return ImportRowStatus.DUPLICATE, str(ROW_DUPLICATE)
    return ImportRowStatus.IMPORTED, money_format(payment.amount, invoice.currency)


# --- Reminders ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderSettings:
    """A provider's reminder interval and the payment instructions its reminders repeat."""

    interval_days: int = DEFAULT_REMINDER_INTERVAL_DAYS
    payment_instructions: str = ""


def _reminder_settings(provider_ids: set[int]) -> dict[int, ReminderSettings]:
    """Each provider's reminder interval and payment instructions (the defaults when it has no settings row)."""
    rows = BillingSettings.objects.filter(provider_id__in=provider_ids).values_list(
        "provider_id", "reminder_interval_days", "payment_instructions"
    )
    found = {provider_id: ReminderSettings(days, instructions) for provider_id, days, instructions in rows}
    return {provider_id: found.get(provider_id, ReminderSettings()) for provider_id in provider_ids}


def _reminder_cutoff(customer: Organisation, today: datetime.date, interval_days: int) -> datetime.datetime:
    """A reminder sent before this moment is at least ``interval_days`` calendar days old in the customer's time
    zone (the start of the day ``interval_days - 1`` days ago), so a daily sweep keeps the interval exactly."""
    day = today - datetime.timedelta(days=interval_days - 1)
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=ZoneInfo(customer.time_zone))


def _reminder_message(
    *, user: User, invoice: Invoice, amounts: Amounts, instructions: str, provider_name: str
) -> EmailMessage:
    """The reminder of one overdue invoice, in the reader's language (else their organisation's)."""
    customer = invoice.customer
    language = user.language or customer.language or settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(customer.time_zone):
        context = {
            "number": invoice.number,
            "customer": invoice.buyer.get("name") or customer.name,
            "provider": provider_name,
            "issue_date": formats.date_format(invoice.issue_date, "DATE_FORMAT"),
            "due_date": formats.date_format(invoice.due_date, "DATE_FORMAT"),
            "total": money_format(amounts.total, invoice.currency),
            "credited": money_format(amounts.credited, invoice.currency) if amounts.credited else "",
            "paid": money_format(amounts.paid, invoice.currency) if amounts.paid else "",
            "outstanding": money_format(amounts.outstanding, invoice.currency),
            "instructions": instructions,
        }
        subject = " ".join(render_to_string(REMINDER_SUBJECT_TEMPLATE, context).split())
        body = render_to_string(REMINDER_BODY_TEMPLATE, context)
    return EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])


def _remind(
    invoice: Invoice,
    *,
    now: datetime.datetime,
    today: datetime.date,
    cutoff: datetime.datetime,
    admins: list[User],
    instructions: str = "",
) -> int:
    """Claim, send and record one reminder in one transaction; 0 when another sweep claimed it or the invoice is
    no longer overdue. A failed send rolls the claim back, so the next sweep tries again."""
    with transaction.atomic():
        # The row lock first: a concurrent sweep waits here, then finds the reminder claimed.
        receivable = Receivable.objects.select_for_update().get(invoice_id=invoice.pk)
        amounts = _amounts(invoice)
        if _sync(receivable, invoice, amounts, today).status != PaymentStatus.OVERDUE:
            return 0
        claimed = (
            Receivable.objects.filter(pk=receivable.pk)
            .filter(Q(last_reminder_at__isnull=True) | Q(last_reminder_at__lt=cutoff))
            .update(last_reminder_at=now, reminders_sent=F("reminders_sent") + 1)
        )
        if not claimed:
            return 0
        messages = [
            _reminder_message(
                user=user,
                invoice=invoice,
                amounts=amounts,
                instructions=instructions,
                provider_name=invoice.seller.get("name") or invoice.provider.name,
            )
            for user in admins
        ]
        mailers.default.send_messages(messages)
        InvoiceEvent.objects.create(
            invoice=invoice,
            action="reminder_sent",
            changes={
                "reminders_sent": [receivable.reminders_sent, receivable.reminders_sent + 1],
                "outstanding": [None, str(amounts.outstanding)],
                "recipients": [None, ", ".join(user.email for user in admins)],
            },
        )
    return len(messages)


def send_payment_reminders(*, now: datetime.datetime | None = None) -> int:
    """The reminder sweep over every provider (see the module notes): move unpaid invoices past their due date to
    overdue and e-mail each overdue invoice's customer admins, at most once per reminder interval. Returns the
    e-mails sent. Idempotent: a second sweep at once sends nothing."""
    now = now or timezone.now()
    # Past due somewhere on earth: due before the UTC date plus one day, checked per customer time zone below.
    latest_date = timezone.localtime(now, datetime.UTC).date() + datetime.timedelta(days=1)
    candidates = list(
        with_outstanding(
            Invoice.objects.filter(
                status=InvoiceStatus.FINALISED, kind=InvoiceKind.INVOICE, due_date__lt=latest_date
            ).exclude(receivable__status=PaymentStatus.PAID)
        )
        .filter(receivable__isnull=False)
        .select_related("customer", "provider", "receivable")
        .order_by("due_date", "pk")
    )
    if not candidates:
        return 0
    reminder_settings = _reminder_settings({invoice.provider_id for invoice in candidates})
    admins: dict[int, list[User]] = defaultdict(list)
    for membership in (
        Membership.objects.filter(
            organisation_id__in={invoice.customer_id for invoice in candidates},
            role=Role.CUSTOMER_ADMIN,
            user__is_active=True,
            organisation__is_active=True,
        )
        .exclude(user__email="")
        .select_related("user")
        .order_by("user__email")
    ):
        admins[membership.organisation_id].append(membership.user)

    _refresh_statuses(candidates, now=now)
    sent = 0
    for invoice in candidates:
        if invoice.receivable.status != PaymentStatus.OVERDUE or not admins[invoice.customer_id]:
            continue
        today = customer_today(invoice.customer, now)
        provider_settings = reminder_settings[invoice.provider_id]
        cutoff = _reminder_cutoff(invoice.customer, today, provider_settings.interval_days)
        last = invoice.receivable.last_reminder_at
        if last is not None and last >= cutoff:
            continue  # reminded within the interval (``_remind`` checks again under the lock)
        try:
            sent += _remind(
                invoice,
                now=now,
                today=today,
                cutoff=cutoff,
                admins=admins[invoice.customer_id],
                instructions=provider_settings.payment_instructions,
            )
        except Exception:
            # One customer's refused address must not hold back every other reminder; this one is tried again.
            logger.exception("Payment reminder of invoice %s failed; the next sweep tries again.", invoice.number)
    return sent


def _refresh_statuses(invoices: list[Invoice], *, now: datetime.datetime) -> None:
    """Bring the receivables of ``invoices`` (annotated by ``with_outstanding``) up to date. The common move, an
    open or partly paid invoice passing its due date, is one conditional UPDATE for all of them (a payment that
    settled one meanwhile made it paid, which the condition leaves alone); any other change goes through
    ``refresh_receivable`` under the row lock."""
    becoming_overdue = []
    for invoice in invoices:
        receivable = invoice.receivable
        paid = money_round(invoice.paid_total, invoice.currency)
        status = payment_status(
            outstanding=invoice.outstanding,
            paid=paid,
            due_date=invoice.due_date,
            today=customer_today(invoice.customer, now),
        )
        if (status, paid) == (receivable.status, receivable.paid_amount):
            continue
        if status == PaymentStatus.OVERDUE and paid == receivable.paid_amount and receivable.status in UNPAID_STATES:
            becoming_overdue.append(receivable.pk)
            receivable.status = status
        else:
            invoice.receivable = refresh_receivable(invoice, today=customer_today(invoice.customer, now))
    for start in range(0, len(becoming_overdue), 1000):
        Receivable.objects.filter(pk__in=becoming_overdue[start : start + 1000], status__in=UNPAID_STATES).update(
            status=PaymentStatus.OVERDUE
        )


# --- Ageing -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeingRow:
    """What one customer owes in one currency, by how long it is past due."""

    customer_id: int
    customer_name: str
    currency: str
    not_due: Decimal
    days_1_30: Decimal
    days_31_60: Decimal
    days_61_90: Decimal
    over_90: Decimal
    total: Decimal


AGEING_BUCKETS = ("not_due", "days_1_30", "days_31_60", "days_61_90", "over_90")


def ageing(invoices: QuerySet[Invoice], *, today: datetime.date) -> list[AgeingRow]:
    """The outstanding amounts of ``invoices`` (already scoped by the caller, e.g. ``visible_to(user)``) per
    customer and currency, in buckets of days past due on ``today``: not yet due (due today or later), 1-30,
    31-60, 61-90 and over 90 days. Only finalised invoices with something outstanding count.

    One query: the database sums each invoice's outstanding amount per customer, currency and bucket, and the
    buckets are laid side by side here (at most five sums per customer and currency). Grouping by the bucket
    evaluates each invoice's payment and credit-note subqueries once, not once per bucket; invoices whose
    receivable is paid (which stays paid: payments and credit notes only lower what is owed) are left out before
    the subqueries run.
    """

    def days_ago(days: int) -> datetime.date:
        return today - datetime.timedelta(days=days)

    bucket = Case(
        When(due_date__gte=today, then=Value("not_due")),
        When(due_date__gte=days_ago(30), then=Value("days_1_30")),
        When(due_date__gte=days_ago(60), then=Value("days_31_60")),
        When(due_date__gte=days_ago(90), then=Value("days_61_90")),
        default=Value("over_90"),
        output_field=CharField(),
    )
    zero = Value(Decimal(0), output_field=SUM_FIELD)
    sums = (
        with_outstanding(
            invoices.filter(status=InvoiceStatus.FINALISED, kind=InvoiceKind.INVOICE, due_date__isnull=False).exclude(
                receivable__status=PaymentStatus.PAID
            )
        )
        .annotate(bucket=bucket)
        .order_by()
        .values("customer_id", "customer__name", "currency", "bucket")
        .annotate(amount=Sum(Greatest(F("outstanding"), zero, output_field=SUM_FIELD)))
        .order_by("customer__name", "customer_id", "currency")
    )
    grouped: dict[tuple, dict[str, Decimal]] = {}
    for row in sums:
        key = (row["customer_id"], row["customer__name"], row["currency"])
        amounts = grouped.setdefault(key, dict.fromkeys(AGEING_BUCKETS, Decimal(0)))
        amounts[row["bucket"]] = money_round(row["amount"], row["currency"])
    return [
        AgeingRow(
            customer_id=customer_id,
            customer_name=customer_name,
            currency=currency,
            **amounts,
            total=sum(amounts.values(), Decimal(0)),
        )
        for (customer_id, customer_name, currency), amounts in grouped.items()
        if any(amounts.values())
    ]
