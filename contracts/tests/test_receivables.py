"""Receivables: outstanding amounts, payment status by the customer's calendar, payments, bank statement imports,
payment reminders and the ageing report. Every amount below is worked out by hand in the comments."""

import datetime
import threading
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail.backends import locmem
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Organisation
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from contracts import receivables
from contracts.choices import InvoiceKind, InvoiceStatus, PaymentSource, PaymentStatus
from contracts.models import BillingSettings, Invoice, InvoiceEvent, Payment, Receivable
from contracts.receivables import (
    AgeingRow,
    ImportRow,
    ImportRowStatus,
    ageing,
    customer_today,
    import_bank_csv,
    outstanding,
    record_payment,
    refresh_receivable,
    send_payment_reminders,
)
from contracts.tasks_receivables import payment_reminders_task

TOKYO = ZoneInfo("Asia/Tokyo")
UTC = datetime.UTC
D = datetime.date
# 2026-06-10 10:00 in Tokyo (01:00 UTC): the clock of most tests.
NOW = datetime.datetime(2026, 6, 10, 10, 0, tzinfo=TOKYO)
DUE = D(2026, 6, 30)
PAID_ON = D(2026, 6, 5)
HEADER = "transaction_id,date,amount,currency,reference,payer_name"


@pytest.fixture
def clock(monkeypatch):
    """Stops ``timezone.now`` at ``NOW`` (or where ``move_to`` puts it)."""

    class Clock:
        def move_to(self, instant: datetime.datetime) -> None:
            monkeypatch.setattr(timezone, "now", lambda: instant)

    clock = Clock()
    clock.move_to(NOW)
    return clock


_serial = iter(range(1, 10_000))


def make_invoice(
    customer: Organisation,
    *,
    net: str,
    tax: str = "0",
    currency: str = "JPY",
    due: datetime.date = DUE,
    number: str | None = None,
    corrects: Invoice | None = None,
    final: bool = True,
) -> Invoice:
    """A draft invoice (or credit note, with ``corrects``), finalised the way the billing service leaves it:
    numbered and dated by an UPDATE (the freeze trigger allows it on a draft), with its receivable opened."""
    serial = next(_serial)
    year, month = 2020 + serial // 12, serial % 12 + 1  # one invoice per customer, period and currency
    invoice = Invoice.objects.create(
        provider_id=customer.provider_id,
        customer=customer,
        kind=InvoiceKind.CREDIT_NOTE if corrects else InvoiceKind.INVOICE,
        corrects=corrects,
        year=year,
        month=month,
        period_start=D(year, month, 1),
        period_end=D(year, month, 28),
        currency=currency,
        language=customer.language,
        time_zone=customer.time_zone,
        payment_terms_days=30,
        tax_rounding="down",
        net_total=Decimal(net),
        tax_total=Decimal(tax),
        total=Decimal(net) + Decimal(tax),
        drafted_at=timezone.now(),
    )
    if final:
        Invoice.objects.filter(pk=invoice.pk).update(
            status=InvoiceStatus.FINALISED,
            number=number or f"{'CN' if corrects else 'INV'}-2025-{serial:06d}",
            issue_date=due - datetime.timedelta(days=30),
            due_date=due,
            finalised_at=timezone.now(),
        )
        if not corrects:
            Receivable.objects.create(invoice=invoice)
    invoice.refresh_from_db()
    return invoice


def finalise(invoice: Invoice, number: str) -> None:
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.FINALISED,
        number=number,
        issue_date=D(2026, 6, 1),
        due_date=D(2026, 7, 1),
        finalised_at=timezone.now(),
    )


def pay(invoice: Invoice, amount: str, *, by=None, paid_on: datetime.date = PAID_ON, **fields) -> Payment:
    return record_payment(invoice=invoice, amount=Decimal(amount), paid_on=paid_on, by=by, **fields)


def receivable(invoice: Invoice) -> Receivable:
    return Receivable.objects.get(invoice=invoice)


def field_messages(error: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return error.value.message_dict


@pytest.fixture
def accountant(provider):
    return member(provider, Role.PROVIDER_ADMIN, email="accounts@provider.example")


# --- Outstanding and payments -------------------------------------------------------------------------------------


def test_partial_payments_then_full_payment(clock, customer, accountant):
    invoice = make_invoice(customer, net="100000", tax="10000")  # ¥110,000 due 2026-06-30

    first = pay(invoice, "40000", by=accountant, reference="Acme transfer 1")

    assert outstanding(invoice) == Decimal("70000")  # 110,000 - 40,000
    assert (receivable(invoice).status, receivable(invoice).paid_amount) == (PaymentStatus.PARTLY_PAID, Decimal(40000))
    assert (first.amount, first.paid_on, first.source, first.created_by) == (
        Decimal(40000),
        D(2026, 6, 5),
        PaymentSource.MANUAL,
        accountant,
    )
    event = InvoiceEvent.objects.get(invoice=invoice, action="payment_recorded")
    assert event.by == accountant
    assert event.changes["amount"] == [None, "40000"]
    assert event.changes["paid_on"] == [None, "2026-06-05"]
    assert event.changes["outstanding"] == ["110000", "70000"]
    assert event.changes["status"] == [PaymentStatus.OPEN, PaymentStatus.PARTLY_PAID]

    pay(invoice, "70000", by=accountant)

    assert outstanding(invoice) == Decimal(0)
    assert (receivable(invoice).status, receivable(invoice).paid_amount) == (PaymentStatus.PAID, Decimal(110000))
    assert InvoiceEvent.objects.filter(invoice=invoice, action="payment_recorded").count() == 2


def test_overpayment_is_refused_on_the_amount_and_records_nothing(clock, customer, accountant):
    invoice = make_invoice(customer, net="1100.45", tax="110.05", currency="USD")  # $1,210.50
    pay(invoice, "1000.00", by=accountant)  # $210.50 left

    with pytest.raises(ValidationError) as error:
        pay(invoice, "210.51", by=accountant)

    assert field_messages(error) == {
        "amount": ["The amount is more than the $210.50 still outstanding on this invoice."]
    }
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert InvoiceEvent.objects.filter(invoice=invoice, action="payment_recorded").count() == 1
    assert outstanding(invoice) == Decimal("210.50")

    pay(invoice, "210.50", by=accountant)
    assert receivable(invoice).status == PaymentStatus.PAID
    with pytest.raises(ValidationError) as error:  # nothing is left to pay
        pay(invoice, "0.01", by=accountant)
    assert field_messages(error) == {"amount": ["The amount is more than the $0.00 still outstanding on this invoice."]}


@pytest.mark.parametrize(
    ("currency", "amount", "message"),
    [
        ("JPY", Decimal("100.5"), "Amounts in JPY have no decimal places."),
        ("USD", Decimal("10.005"), "Amounts in USD have at most 2 decimal places."),
        ("JPY", Decimal("0"), "The amount must be more than zero."),
        ("JPY", Decimal("-500"), "The amount must be more than zero."),
        ("JPY", 500.0, "Enter an amount such as 1200 or 1200.50."),
        ("JPY", "twelve", "Enter an amount such as 1200 or 1200.50."),
        ("JPY", Decimal("NaN"), "Enter an amount such as 1200 or 1200.50."),
        ("JPY", Decimal("1E+15"), "The amount is too large."),
    ],
)
def test_amount_must_be_positive_in_the_currencys_minor_units(clock, customer, currency, amount, message):
    invoice = make_invoice(customer, net="1000", currency=currency)
    with pytest.raises(ValidationError) as error:
        record_payment(invoice=invoice, amount=amount, paid_on=D(2026, 6, 5), by=None)
    assert field_messages(error) == {"amount": [message]}
    assert not Payment.objects.exists()


def test_amount_with_zero_decimals_is_a_whole_yen(clock, customer):
    invoice = make_invoice(customer, net="1000")
    payment = pay(invoice, "1000.00")
    assert payment.amount == Decimal(1000)
    assert InvoiceEvent.objects.get(action="payment_recorded").changes["amount"] == [None, "1000"]


def test_payment_date_may_be_today_but_not_tomorrow_in_the_customers_calendar(clock, customer):
    invoice = make_invoice(customer, net="1000")
    # 2026-06-10 10:00 in Tokyo, where customer and provider are: the 10th is today, the 11th the future.
    with pytest.raises(ValidationError) as error:
        pay(invoice, "100", paid_on=D(2026, 6, 11))
    assert field_messages(error) == {"paid_on": ["The payment date cannot be in the future."]}
    with pytest.raises(ValidationError) as error:
        pay(invoice, "100", paid_on=datetime.datetime(2026, 6, 10, 9, tzinfo=TOKYO))
    assert field_messages(error) == {"paid_on": ["Enter a date."]}
    assert pay(invoice, "100", paid_on=D(2026, 6, 10)).paid_on == D(2026, 6, 10)


def test_only_a_finalised_invoice_takes_payments(clock, customer):
    draft = make_invoice(customer, net="1000", final=False)
    invoice = make_invoice(customer, net="1000")
    credit_note = make_invoice(customer, net="100", corrects=invoice)
    for document in (draft, credit_note):
        with pytest.raises(ValidationError) as error:
            pay(document, "100")
        assert field_messages(error) == {"invoice": ["Payments can be recorded only against a finalised invoice."]}
    assert not Payment.objects.exists()


def test_a_stale_copy_of_a_finalised_draft_is_read_again(clock, customer):
    invoice = make_invoice(customer, net="1000", final=False)
    finalise(invoice, "INV-2026-000900")  # the caller's copy still says draft
    assert invoice.status == InvoiceStatus.DRAFT
    pay(invoice, "400")
    assert outstanding(invoice) == Decimal(600)
    assert receivable(invoice).status == PaymentStatus.PARTLY_PAID  # the receivable is opened if missing


def test_the_same_bank_transaction_is_recorded_once_per_invoice(clock, customer):
    invoice = make_invoice(customer, net="1000")
    pay(invoice, "100", bank_transaction_id="TX-1", source=PaymentSource.BANK_CSV)
    with pytest.raises(ValidationError) as error:
        pay(invoice, "100", bank_transaction_id="TX-1", source=PaymentSource.BANK_CSV)
    assert error.value.error_dict["bank_transaction_id"][0].code == "duplicate"
    assert outstanding(invoice) == Decimal(900)


def test_finalised_credit_notes_reduce_what_is_outstanding(clock, customer):
    invoice = make_invoice(customer, net="100000", tax="10000")  # ¥110,000
    note = make_invoice(customer, net="10000", tax="1000", corrects=invoice, final=False)  # ¥11,000, draft
    assert outstanding(invoice) == Decimal(110000)  # a draft credit note does not count

    finalise(note, "CN-2026-000001")
    assert outstanding(invoice) == Decimal(99000)  # 110,000 - 11,000

    pay(invoice, "50000")
    assert outstanding(invoice) == Decimal(49000)  # 99,000 - 50,000
    with pytest.raises(ValidationError) as error:
        pay(invoice, "49001")
    assert field_messages(error) == {
        "amount": ["The amount is more than the ¥49,000 still outstanding on this invoice."]
    }

    # A second credit note for the rest settles it without another payment: paid, with ¥50,000 received.
    second = make_invoice(customer, net="49000", corrects=invoice)
    assert second.status == InvoiceStatus.FINALISED
    assert refresh_receivable(invoice).status == PaymentStatus.PAID
    assert (receivable(invoice).status, receivable(invoice).paid_amount) == (PaymentStatus.PAID, Decimal(50000))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_payments_cannot_overpay_together(clock, customer):
    invoice = make_invoice(customer, net="1000")  # ¥1,000; each clerk records ¥600
    barrier = threading.Barrier(2)
    outcomes = []

    def clerk():
        try:
            barrier.wait()
            pay(invoice, "600")
            outcomes.append("recorded")
        except ValidationError as error:
            outcomes.append(error.message_dict["amount"][0])
        finally:
            connection.close()

    threads = [threading.Thread(target=clerk) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["The amount is more than the ¥400 still outstanding on this invoice.", "recorded"]
    assert outstanding(invoice) == Decimal(400)
    assert (receivable(invoice).status, receivable(invoice).paid_amount) == (PaymentStatus.PARTLY_PAID, Decimal(600))


# --- Status by the customer's calendar ----------------------------------------------------------------------------


def test_overdue_starts_at_midnight_in_the_customers_time_zone(clock, provider):
    tokyo = CustomerFactory(provider=provider, time_zone="Asia/Tokyo")
    new_york = CustomerFactory(provider=provider, time_zone="America/New_York")
    in_tokyo = make_invoice(tokyo, net="1000", due=D(2026, 5, 31))
    in_new_york = make_invoice(new_york, net="1000", due=D(2026, 5, 31))

    # 2026-05-31 14:59 UTC is 23:59 on the due day in Tokyo; 15:00 UTC is 00:00 on June 1st: overdue.
    for instant, expected in (
        (datetime.datetime(2026, 5, 31, 14, 59, tzinfo=UTC), PaymentStatus.OPEN),
        (datetime.datetime(2026, 5, 31, 15, 0, tzinfo=UTC), PaymentStatus.OVERDUE),
    ):
        clock.move_to(instant)
        send_payment_reminders(now=instant)
        assert customer_today(tokyo, instant) == (D(2026, 5, 31) if expected == PaymentStatus.OPEN else D(2026, 6, 1))
        assert receivable(in_tokyo).status == expected
        assert receivable(in_new_york).status == PaymentStatus.OPEN  # 10:59 / 11:00 on May 31st in New York

    # New York (UTC-4 in June) reaches June 1st at 04:00 UTC.
    for instant, expected in (
        (datetime.datetime(2026, 6, 1, 3, 59, tzinfo=UTC), PaymentStatus.OPEN),
        (datetime.datetime(2026, 6, 1, 4, 0, tzinfo=UTC), PaymentStatus.OVERDUE),
    ):
        clock.move_to(instant)
        send_payment_reminders(now=instant)
        assert receivable(in_new_york).status == expected

    # refresh_receivable reads the same calendar when no day is given.
    clock.move_to(datetime.datetime(2026, 5, 31, 15, 0, tzinfo=UTC))
    assert refresh_receivable(in_new_york).status == PaymentStatus.OPEN
    assert refresh_receivable(in_tokyo).status == PaymentStatus.OVERDUE


def test_overdue_wins_over_partly_paid_and_paid_wins_over_overdue(clock, customer):
    invoice = make_invoice(customer, net="1000", due=D(2026, 6, 30))
    pay(invoice, "300")
    assert refresh_receivable(invoice, today=D(2026, 6, 30)).status == PaymentStatus.PARTLY_PAID  # due today
    assert refresh_receivable(invoice, today=D(2026, 7, 1)).status == PaymentStatus.OVERDUE
    pay(invoice, "700")
    assert refresh_receivable(invoice, today=D(2026, 7, 1)).status == PaymentStatus.PAID


# --- Bank statement import ----------------------------------------------------------------------------------------


@pytest.fixture
def statement_invoices(clock, provider, customer, other_customer):
    """Three invoices of the provider, and one of another provider that its customer's payer might name."""
    elsewhere = ProviderFactory(code="elsewhere", tax_registration_number="")
    foreign = make_invoice(CustomerFactory(provider=elsewhere), net="1000", number="INV-2026-000777")
    return {
        "acme": make_invoice(customer, net="100000", tax="10000", number="INV-2026-000001"),  # ¥110,000
        "other": make_invoice(other_customer, net="50000", tax="5000", number="INV-2026-000002"),  # ¥55,000
        "usd": make_invoice(customer, net="1100.45", tax="110.05", currency="USD", number="INV-2026-000003"),
        "foreign": foreign,
    }


STATEMENT = "\r\n".join(
    [
        HEADER,
        'TX-1,2026-06-05,"40,000",JPY,"Furikomi INV-2026-000001 thank you",ACME OFFICE',  # 2 imported
        "TX-2,2026-06-05,55000,JPY,INV2026000002,OTHER LOGISTICS",  # 3 imported (hyphens dropped by the bank)
        "TX-3,2026-06-06,1000,JPY,June services,SOMEONE",  # 4 unmatched: no number
        "TX-4,2026-06-06,1000,JPY,INV-2026-000777,SOMEONE",  # 5 unmatched: another provider's invoice
        "TX-5,2026-06-06,1000,JPY,INV-2026-000999,SOMEONE",  # 6 unmatched: no such invoice
        "TX-6,2026-06-06,80000,JPY,INV-2026-000001,ACME OFFICE",  # 7 refused: ¥70,000 is outstanding
        "TX-7,2026-06-06,abc,JPY,INV-2026-000001,ACME OFFICE",  # 8 refused: no amount
        "TX-8,2026-13-01,100,JPY,INV-2026-000001,ACME OFFICE",  # 9 refused: no such date
        "TX-9,2026-06-06,100,USD,INV-2026-000001,ACME OFFICE",  # 10 refused: the invoice is in yen
        "",  # 11: a blank line
        'TX-1,2026-06-05,"40,000",JPY,"Furikomi INV-2026-000001 thank you",ACME OFFICE',  # 12 duplicate
        "TX-10,2026-06-07,70000,JPY,inv-2026-000001,ACME OFFICE",  # 13 imported: the rest
        "TX-11,2026-06-08,1210.50,USD,INV-2026-000003 / INV-2026-000001,ACME OFFICE",  # 14 unmatched: two
        "TX-12,2026-06-08,100.001,USD,INV-2026-000003,ACME OFFICE",  # 15 refused: a tenth of a cent
        "TX-13,2026-06-11,100,USD,INV-2026-000003,ACME OFFICE",  # 16 refused: tomorrow in Tokyo
        ",2026-06-08,100,USD,INV-2026-000003,ACME OFFICE",  # 17 refused: no transaction id
        "TX-14,2026-06-08,100",  # 18 refused: values missing
    ]
)

EXPECTED_ROWS = [
    ImportRow(2, "imported", "INV-2026-000001", "¥40,000"),
    ImportRow(3, "imported", "INV-2026-000002", "¥55,000"),
    ImportRow(4, "unmatched", "", "The reference holds no invoice number."),
    ImportRow(5, "unmatched", "INV-2026-000777", "No finalised invoice has the number INV-2026-000777."),
    ImportRow(6, "unmatched", "INV-2026-000999", "No finalised invoice has the number INV-2026-000999."),
    ImportRow(
        7, "refused", "INV-2026-000001", "The amount is more than the ¥70,000 still outstanding on this invoice."
    ),
    ImportRow(8, "refused", "INV-2026-000001", "Enter an amount such as 1200 or 1200.50."),
    ImportRow(9, "refused", "INV-2026-000001", "The date 2026-13-01 is not a date in the form YYYY-MM-DD."),
    ImportRow(10, "refused", "INV-2026-000001", "The payment is in USD but the invoice is in JPY."),
    ImportRow(12, "duplicate", "INV-2026-000001", "Imported before: this transaction is already recorded."),
    ImportRow(13, "imported", "INV-2026-000001", "¥70,000"),
    ImportRow(
        14,
        "unmatched",
        "",
        "The reference names several invoices (INV-2026-000003, INV-2026-000001); record the payment by hand.",
    ),
    ImportRow(15, "refused", "INV-2026-000003", "Amounts in USD have at most 2 decimal places."),
    ImportRow(16, "refused", "INV-2026-000003", "The payment date cannot be in the future."),
    ImportRow(17, "refused", "INV-2026-000003", "The row has no transaction id."),
    ImportRow(18, "refused", "", "The row has fewer values than the header."),
]


def upload(content: bytes, name: str = "statement.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_utf8_statement_with_bom_reports_every_row_and_imports_once(statement_invoices, provider, accountant):
    content = b"\xef\xbb\xbf" + STATEMENT.encode("utf-8")

    report = import_bank_csv(provider=provider, file=upload(content), by=accountant)

    assert report.rows == EXPECTED_ROWS
    assert report.counts == {"imported": 3, "duplicate": 1, "unmatched": 4, "refused": 8}
    acme, other, usd, foreign = (statement_invoices[key] for key in ("acme", "other", "usd", "foreign"))
    assert (outstanding(acme), receivable(acme).status) == (Decimal(0), PaymentStatus.PAID)  # 40,000 + 70,000
    assert (outstanding(other), receivable(other).status) == (Decimal(0), PaymentStatus.PAID)
    assert (outstanding(usd), receivable(usd).status) == (Decimal("1210.50"), PaymentStatus.OPEN)
    assert not Payment.objects.filter(invoice=foreign).exists()
    imported = Payment.objects.get(invoice=acme, bank_transaction_id="TX-1")
    assert (imported.amount, imported.paid_on, imported.source, imported.created_by, imported.reference) == (
        Decimal(40000),
        D(2026, 6, 5),
        PaymentSource.BANK_CSV,
        accountant,
        "Furikomi INV-2026-000001 thank you",
    )
    event = InvoiceEvent.objects.filter(invoice=acme, action="payment_recorded").order_by("pk").first()
    assert event.changes["bank_transaction_id"] == [None, "TX-1"]

    again = import_bank_csv(provider=provider, file=upload(content), by=accountant)

    assert again.counts == {"imported": 0, "duplicate": 4, "unmatched": 4, "refused": 8}
    assert [row.row for row in again.rows if row.status == ImportRowStatus.DUPLICATE] == [2, 3, 12, 13]
    assert Payment.objects.count() == 3


def test_another_providers_invoice_reads_as_an_unknown_number(statement_invoices, provider, accountant):
    content = f"{HEADER}\nTX-1,2026-06-05,1000,JPY,INV-2026-000777,X\nTX-2,2026-06-05,1000,JPY,INV-2026-000778,X\n"
    report = import_bank_csv(provider=provider, file=upload(content.encode()), by=accountant)
    foreign, unknown = report.rows
    assert (foreign.status, unknown.status) == ("unmatched", "unmatched")
    assert foreign.message.replace("777", "778") == unknown.message
    # The other provider imports the same row against its own invoice.
    elsewhere = statement_invoices["foreign"].provider
    theirs = import_bank_csv(provider=elsewhere, file=upload(content.encode()), by=None)
    assert theirs.rows[0] == ImportRow(2, "imported", "INV-2026-000777", "¥1,000")


@pytest.mark.parametrize("encoding", ["shift_jis", "cp932"])
def test_shift_jis_statement_with_japanese_headers_and_full_width_text(
    statement_invoices, provider, accountant, encoding
):
    payer = "㈱アクメ" if encoding == "cp932" else "カ）アクメ"  # ㈱ exists only in Windows' Shift_JIS
    text = "\r\n".join(
        [
            "取引ID,日付,金額,通貨,摘要,振込依頼人",
            f'JP-001,2026/06/05,"１１０,０００",JPY,請求書ＩＮＶ−２０２６−０００００１の支払,{payer}',
            f"JP-002,2026-06-05,5000,JPY,６月分お振込,{payer}",
        ]
    )
    content = text.encode(encoding)
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")  # a real Shift_JIS file, not UTF-8 in disguise

    report = import_bank_csv(provider=provider, file=upload(content), by=accountant)

    assert report.rows == [
        ImportRow(2, "imported", "INV-2026-000001", "¥110,000"),
        ImportRow(3, "unmatched", "", "The reference holds no invoice number."),
    ]
    payment = Payment.objects.get()
    assert (payment.amount, payment.reference) == (Decimal(110000), "請求書ＩＮＶ－２０２６－０００００１の支払")
    assert receivable(statement_invoices["acme"]).status == PaymentStatus.PAID


def test_utf8_statement_without_bom(statement_invoices, provider, accountant):
    content = f"{HEADER}\nTX-1,2026-06-05,10000,JPY,INV-2026-000001 株式会社アクメ,株式会社アクメ\n".encode()
    report = import_bank_csv(provider=provider, file=upload(content), by=accountant)
    assert report.rows == [ImportRow(2, "imported", "INV-2026-000001", "¥10,000")]
    assert Payment.objects.get().reference == "INV-2026-000001 株式会社アクメ"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "The file is not a CSV text file in UTF-8 or Shift_JIS."),
        (b"\xff\xfe\xfd\x80\x81", "The file is not a CSV text file in UTF-8 or Shift_JIS."),
        (b"", "The file is empty."),
        (
            b"transaction_id,date,amount\nTX-1,2026-06-05,100\n",
            "The file lacks the columns: currency, reference, payer_name. The first row must name the columns.",
        ),
        (
            b"TX-1,2026-06-05,10000,JPY,INV-2026-000001,ACME\n",
            "The file lacks the columns: transaction_id, date, amount, currency, reference, payer_name. "
            "The first row must name the columns.",
        ),
    ],
)
def test_a_file_that_is_no_statement_is_refused_whole(statement_invoices, provider, accountant, content, message):
    with pytest.raises(ValidationError) as error:
        import_bank_csv(provider=provider, file=upload(content), by=accountant)
    assert field_messages(error) == {"file": [message]}
    assert not Payment.objects.exists()


def test_a_file_over_5_mb_is_refused_before_it_is_read(statement_invoices, provider, accountant):
    row = "TX-{n},2026-06-05,1,JPY,INV-2026-000001,ACME\n"
    content = (HEADER + "\n").encode() + b"".join(row.format(n=n).encode() for n in range(120_000))
    assert len(content) > 5 * 1024 * 1024
    with pytest.raises(ValidationError) as error:
        import_bank_csv(provider=provider, file=upload(content), by=accountant)
    assert field_messages(error) == {"file": ["The file is larger than 5 MB. Split the statement into smaller files."]}

    class Stream:  # a file-like object without a size: read no further than the limit
        def __init__(self):
            self.data = content

        def read(self, size=-1):
            return self.data[:size]

    with pytest.raises(ValidationError):
        import_bank_csv(provider=provider, file=Stream(), by=accountant)
    assert not Payment.objects.exists()


# --- Reminders ----------------------------------------------------------------------------------------------------


@pytest.fixture
def overdue(clock, provider, customer, other_customer):
    """An English customer and a Japanese one with an overdue invoice each; the other customer owes nothing yet."""
    Organisation.objects.filter(pk=customer.pk).update(language="en")
    customer.refresh_from_db()
    japanese = CustomerFactory(provider=provider, name="山田製作所株式会社", language="ja")
    people = {
        "admin": member(customer, Role.CUSTOMER_ADMIN, email="admin@acme.example"),
        "viewer": member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example"),
        "former": member(customer, Role.CUSTOMER_ADMIN, email="former@acme.example", is_active=False),
        "japanese": member(japanese, Role.CUSTOMER_ADMIN, email="kanri@yamada.example"),
        "other": member(other_customer, Role.CUSTOMER_ADMIN, email="admin@other.example"),
        "provider": member(provider, Role.PROVIDER_ADMIN, email="boss@provider.example"),
    }
    acme = make_invoice(customer, net="100000", tax="10000", due=D(2026, 5, 31), number="INV-2026-000001")
    pay(acme, "10000")  # ¥100,000 left
    yamada = make_invoice(japanese, net="50000", tax="5000", due=D(2026, 5, 20), number="INV-2026-000002")
    not_due = make_invoice(other_customer, net="1000", due=D(2026, 6, 30), number="INV-2026-000003")
    return {"acme": acme, "yamada": yamada, "not_due": not_due, **people}


def test_reminders_go_to_the_customers_admins_in_their_language(overdue):
    sent = send_payment_reminders(now=NOW)

    assert sent == 2
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert set(by_recipient) == {"admin@acme.example", "kanri@yamada.example"}
    english = by_recipient["admin@acme.example"]
    assert english.subject == "Payment reminder: invoice INV-2026-000001 was due on May 31, 2026"
    assert "and ¥100,000 of it is still outstanding" in english.body
    assert "Paid: ¥10,000" in english.body
    japanese = by_recipient["kanri@yamada.example"]
    assert "INV-2026-000002" in japanese.subject and "2026年5月20日" in japanese.subject  # Japanese date format
    assert "¥55,000" in japanese.body and "山田製作所株式会社" in japanese.body
    assert "May 20" not in japanese.body + japanese.subject

    acme = receivable(overdue["acme"])
    assert (acme.status, acme.last_reminder_at, acme.reminders_sent) == (PaymentStatus.OVERDUE, NOW, 1)
    assert receivable(overdue["not_due"]).status == PaymentStatus.OPEN
    event = InvoiceEvent.objects.get(invoice=overdue["acme"], action="reminder_sent")
    assert event.changes == {
        "reminders_sent": [0, 1],
        "outstanding": [None, "100000"],
        "recipients": [None, "admin@acme.example"],
    }


def test_a_reminder_is_sent_once_per_interval(overdue):
    assert send_payment_reminders(now=NOW) == 2
    assert send_payment_reminders(now=NOW) == 0  # a second sweep at once sends nothing
    assert len(mail.outbox) == 2

    # Reminded on June 10th (Tokyo); the default interval is 14 days, counted in the customer's calendar.
    thirteen_days = datetime.datetime(2026, 6, 23, 23, 59, tzinfo=TOKYO)
    assert send_payment_reminders(now=thirteen_days) == 0
    fourteen_days = datetime.datetime(2026, 6, 24, 0, 0, tzinfo=TOKYO)
    assert send_payment_reminders(now=fourteen_days) == 2
    assert send_payment_reminders(now=fourteen_days + datetime.timedelta(hours=1)) == 0
    acme = receivable(overdue["acme"])
    assert (acme.last_reminder_at, acme.reminders_sent) == (fourteen_days, 2)
    assert InvoiceEvent.objects.filter(action="reminder_sent").count() == 4


def test_the_providers_interval_applies_and_a_paid_invoice_is_not_reminded(overdue, provider):
    BillingSettings.objects.create(
        provider=provider, reminder_interval_days=3, payment_instructions="MUFG Marunouchi, ordinary 1234567"
    )
    assert send_payment_reminders(now=NOW) == 2
    assert all("MUFG Marunouchi, ordinary 1234567" in message.body for message in mail.outbox)
    pay(overdue["yamada"], "55000")
    three_days = NOW + datetime.timedelta(days=3)
    assert send_payment_reminders(now=three_days) == 1
    assert [message.to for message in mail.outbox[2:]] == [["admin@acme.example"]]
    assert receivable(overdue["yamada"]).status == PaymentStatus.PAID


def test_a_claimed_reminder_is_not_sent_again(overdue):
    """What a concurrent sweep meets: the row was claimed after this sweep read it. The conditional update finds
    nothing to claim, so nothing is sent."""
    invoice = overdue["acme"]
    Receivable.objects.filter(invoice=invoice).update(last_reminder_at=NOW)
    today = D(2026, 6, 10)
    cutoff = datetime.datetime(2026, 5, 28, tzinfo=TOKYO)  # 14 days: reminders before May 28th are due again
    assert receivables._reminder_cutoff(invoice.customer, today, 14) == cutoff
    sent = receivables._remind(invoice, now=NOW, today=today, cutoff=cutoff, admins=[overdue["admin"]])
    assert sent == 0
    assert mail.outbox == []
    assert receivable(invoice).reminders_sent == 0


def test_a_failed_send_releases_the_claim(overdue, monkeypatch):
    def refuse(messages):
        raise ConnectionRefusedError("SMTP down")

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", refuse)
    assert send_payment_reminders(now=NOW) == 0
    assert receivable(overdue["acme"]).last_reminder_at is None
    assert not InvoiceEvent.objects.filter(action="reminder_sent").exists()
    assert receivable(overdue["acme"]).status == PaymentStatus.OVERDUE  # the status move is kept

    monkeypatch.undo()
    assert send_payment_reminders(now=NOW) == 2


def test_the_task_and_the_command_run_the_sweep(overdue):
    payment_reminders_task.delay()
    assert len(mail.outbox) == 2
    out = StringIO()
    call_command("send_payment_reminders", stdout=out)
    assert out.getvalue().strip() == "reminders_emailed=0"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_send_each_reminder_once(provider, customer):
    customer_admin = member(customer, Role.CUSTOMER_ADMIN, email="admin@acme.example")
    invoices = [make_invoice(customer, net="1000", due=D(2026, 5, 31)) for _ in range(5)]
    barrier = threading.Barrier(2)
    results = []

    def sweep():
        try:
            barrier.wait()
            results.append(send_payment_reminders(now=NOW))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(results) == 5
    assert sorted(message.to[0] for message in mail.outbox) == [customer_admin.email] * 5
    assert list(Receivable.objects.filter(invoice__in=invoices).values_list("reminders_sent", flat=True)) == [1] * 5


# --- Ageing -------------------------------------------------------------------------------------------------------

TODAY = D(2026, 6, 30)


def test_ageing_buckets_per_customer_and_currency(clock, customer, other_customer, customer_admin):
    def owed(organisation, net, due, currency="JPY"):
        return make_invoice(organisation, net=net, due=due, currency=currency)

    pay(owed(customer, "110000", D(2026, 7, 15)), "10000")  # 100,000 not yet due
    owed(customer, "11000", D(2026, 6, 30))  # 11,000 due today: not yet due
    owed(customer, "22000", D(2026, 6, 29))  # 1 day past due
    owed(customer, "33000", D(2026, 5, 31))  # 30 days
    owed(customer, "44000", D(2026, 5, 30))  # 31 days
    owed(customer, "55000", D(2026, 4, 1))  # 90 days
    credited = owed(customer, "66000", D(2026, 3, 31))  # 91 days, 6,000 credited: 60,000
    make_invoice(customer, net="6000", corrects=credited)
    make_invoice(customer, net="1000", corrects=credited, final=False)  # a draft credit note: no effect
    pay(owed(customer, "5000", D(2026, 1, 31)), "5000")  # paid: not listed
    owed(customer, "7000", D(2026, 6, 1))  # 29 days
    make_invoice(customer, net="9999", due=D(2026, 6, 1), final=False)  # a draft: not a receivable
    pay(owed(customer, "1210.50", D(2026, 6, 15), currency="USD"), "200.25")  # $1,010.25, 15 days
    owed(other_customer, "7700", D(2026, 6, 1))  # 29 days
    settled = CustomerFactory(provider=customer.provider, name="Settled KK")
    make_invoice(settled, net="8000", corrects=owed(settled, "8000", D(2026, 5, 1)))  # credited in full: not listed

    rows = ageing(Invoice.objects.all(), today=TODAY)

    assert rows == [
        AgeingRow(
            customer_id=customer.pk,
            customer_name="Acme Office KK",
            currency="JPY",
            not_due=Decimal(111000),  # 100,000 + 11,000
            days_1_30=Decimal(62000),  # 22,000 + 33,000 + 7,000
            days_31_60=Decimal(44000),
            days_61_90=Decimal(55000),
            over_90=Decimal(60000),  # 66,000 - 6,000
            total=Decimal(332000),
        ),
        AgeingRow(
            customer_id=customer.pk,
            customer_name="Acme Office KK",
            currency="USD",
            not_due=Decimal("0.00"),
            days_1_30=Decimal("1010.25"),  # 1,210.50 - 200.25
            days_31_60=Decimal("0.00"),
            days_61_90=Decimal("0.00"),
            over_90=Decimal("0.00"),
            total=Decimal("1010.25"),
        ),
        AgeingRow(
            customer_id=other_customer.pk,
            customer_name="Other Logistics KK",
            currency="JPY",
            not_due=Decimal(0),
            days_1_30=Decimal(7700),
            days_31_60=Decimal(0),
            days_61_90=Decimal(0),
            over_90=Decimal(0),
            total=Decimal(7700),
        ),
    ]
    # The caller scopes: a customer's admin sees their own organisation only.
    assert [row.customer_id for row in ageing(Invoice.objects.visible_to(customer_admin), today=TODAY)] == [
        customer.pk,
        customer.pk,
    ]


@pytest.mark.parametrize("invoices", [2, 10])
def test_ageing_takes_one_query_whatever_the_number_of_invoices(clock, customer, django_assert_num_queries, invoices):
    for n in range(invoices):
        invoice = make_invoice(customer, net="1000", due=TODAY - datetime.timedelta(days=20 * n))
        pay(invoice, "100")
        make_invoice(customer, net="100", corrects=invoice)
    queryset = Invoice.objects.all()

    with django_assert_num_queries(1):
        (row,) = ageing(queryset, today=TODAY)

    assert row.total == Decimal(800 * invoices)  # each: 1,000 - 100 paid - 100 credited
