"""Billing pages: who sees invoices and runs (prices only, tenancy, customers never see drafts), the invoice's page
with its drill-down, documents served through scoped views, CSV, query counts, and the forms and buttons that start
and finalise runs, correct invoices and record payments through the services (errors on the forms, never a 500)."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from accounts.tests.factories import CustomerFactory
from assets.tests.factories import AssetFactory, SiteFactory
from contracts import billing, selectors
from contracts.billing import BAD_PERIOD, FUTURE_PERIOD, credit_note_create, draft_customers, finalise_invoice
from contracts.choices import (
    BillingRunStatus,
    InvoiceKind,
    InvoiceStatus,
    LineKind,
    PaymentStatus,
    RunItemStatus,
)
from contracts.models import BillingRun, BillingRunItem, BillingSettings, Invoice, InvoiceLine, Payment
from contracts.tests.billing_helpers import at, mps_contract, read
from contracts.views import line_facts

pytestmark = pytest.mark.django_db

DEC_1 = datetime.date(2025, 12, 1)
INVOICES = reverse("contracts:invoice_list")
RUNS = reverse("contracts:billing_run_list")
START_RUN = reverse("contracts:billing_run_start")
AGEING = reverse("contracts:receivables_ageing")
IMPORT = reverse("contracts:payment_import")


def november(customer) -> Invoice:
    """The customer's November 2025 draft."""
    (outcome,) = draft_customers(customers=[customer], year=2025, month=11)
    assert not outcome.error, outcome.error
    (invoice,) = outcome.invoices
    return invoice


def finalised(invoice: Invoice) -> Invoice:
    return finalise_invoice(invoice_id=invoice.pk, today=DEC_1, deliver=False)


def page(name: str, invoice, *args) -> str:
    return reverse(f"contracts:{name}", args=[invoice.pk, *args])


def csv_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


# --- Fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture
def billed(customer, asset):
    """Acme's contract, and 3,000 mono pages in November 2025: ¥10,000 + 2,000 pages × ¥1 = ¥12,000 net, ¥1,200
    tax, ¥13,200."""
    read(asset, at(2025, 11, 1), 5000)
    read(asset, at(2025, 12, 1), 8000)
    return mps_contract(customer, asset)


@pytest.fixture
def invoice(customer, billed) -> Invoice:
    """Acme's November 2025 invoice, finalised on 1 December as INV-2025-000001."""
    return finalised(november(customer))


@pytest.fixture
def draft(customer, billed, invoice) -> Invoice:
    """Acme's October 2025 draft (no readings in October: the fee only, ¥11,000)."""
    (outcome,) = draft_customers(customers=[customer], year=2025, month=10)
    return outcome.invoices[0]


@pytest.fixture
def other_invoice(other_customer) -> Invoice:
    """Other Logistics' November invoice (its printer has no readings: the fee only)."""
    mps_contract(other_customer, AssetFactory(customer=other_customer))
    return finalise_invoice(invoice_id=november(other_customer).pk, today=DEC_1, deliver=False)


@pytest.fixture
def users(
    provider_admin,
    account_manager,
    other_manager,
    service_desk,
    technician,
    customer_admin,
    other_admin,
    viewer,
    operator,
):
    return {
        "provider_admin": provider_admin,
        "account_manager": account_manager,
        "other_manager": other_manager,
        "service_desk": service_desk,
        "technician": technician,
        "customer_admin": customer_admin,
        "other_admin": other_admin,
        "viewer": viewer,
        "operator": operator,
    }


# --- Who sees invoices -------------------------------------------------------------------------------------------

# Finalised invoice / draft of Acme: the status each role gets on the invoice's page (DESIGN.md §3).
INVOICE_PAGE = {
    "provider_admin": (200, 200),
    "account_manager": (200, 200),
    "customer_admin": (200, 404),
    "other_manager": (404, 404),
    "other_admin": (404, 404),
    "service_desk": (404, 404),
    "technician": (404, 404),
    "viewer": (404, 404),
    "operator": (404, 404),
}


@pytest.mark.parametrize("role", INVOICE_PAGE)
def test_invoice_page_answers_each_role_as_the_permission_table_says(client, users, invoice, draft, role):
    client.force_login(users[role])
    final_status, draft_status = INVOICE_PAGE[role]
    assert client.get(page("invoice_detail", invoice)).status_code == final_status
    assert client.get(page("invoice_detail", draft)).status_code == draft_status
    assert client.get(page("invoice_lines_csv", draft)).status_code == draft_status


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("provider_admin", {"INV-2025-000001", "Draft", "INV-2025-000002"}),
        ("account_manager", {"INV-2025-000001", "Draft"}),
        ("customer_admin", {"INV-2025-000001"}),
        ("other_admin", {"INV-2025-000002"}),
        ("service_desk", set()),
        ("viewer", set()),
        ("operator", set()),
        ("technician", set()),
    ],
)
def test_invoice_list_rows_per_role(client, users, invoice, draft, other_invoice, role, expected):
    client.force_login(users[role])
    response = client.get(INVOICES, {"format": "csv"})
    assert response.status_code == 200
    rows = csv_of(response)
    assert {row[0] for row in rows[1:]} == expected


def test_invoice_list_columns_filters_and_csv_values(client, provider_admin, invoice, draft, other_invoice):
    client.force_login(provider_admin)
    rows = csv_of(client.get(INVOICES, {"format": "csv", "customer": invoice.customer_id, "sort": "period"}))
    assert rows[0] == [
        "Number",
        "Kind",
        "Customer",
        "Period",
        "Currency",
        "Net",
        "Tax",
        "Total",
        "Status",
        "Payment",
        "Outstanding",
        "Due date",
    ]
    assert rows[1:] == [
        [
            "Draft",
            "Invoice",
            "Acme Office KK",
            "2025-10",
            "JPY",
            "10000.00",
            "1000.00",
            "11000.00",
            "Draft",
            "",
            "",
            "",
        ],
        [
            "INV-2025-000001",
            "Invoice",
            "Acme Office KK",
            "2025-11",
            "JPY",
            "12000.00",
            "1200.00",
            "13200.00",
            "Finalised",
            "Open",
            rows[2][10],  # the outstanding amount, a computed decimal: "13200.00" on PostgreSQL, "13200" on SQLite
            "2025-12-31",
        ],
    ]
    assert Decimal(rows[2][10]) == Decimal(13200)
    assert [
        row[0] for row in csv_of(client.get(INVOICES, {"format": "csv", "period": "2025-11", "sort": "number"}))[1:]
    ] == [
        "INV-2025-000001",
        "INV-2025-000002",
    ]
    assert [row[0] for row in csv_of(client.get(INVOICES, {"format": "csv", "q": "other logis"}))[1:]] == [
        "INV-2025-000002"
    ]
    assert [row[0] for row in csv_of(client.get(INVOICES, {"format": "csv", "status": "draft"}))[1:]] == ["Draft"]
    html = client.get(INVOICES, {"period": "2025-13"})
    assert html.status_code == 200
    assert str(BAD_PERIOD) in html.text
    assert html.context["page_obj"].paginator.count == 0


def test_customer_admin_sees_no_draft_in_lists_filters_or_run_pages(client, customer_admin, invoice, draft):
    client.force_login(customer_admin)
    assert [row[0] for row in csv_of(client.get(INVOICES, {"format": "csv", "status": "draft"}))[1:]] == [
        "INV-2025-000001"
    ]  # the status filter is the provider's: a customer sees finalised documents whatever it asks
    assert client.get(RUNS).status_code == 404
    assert client.get(START_RUN).status_code == 404


def test_navigation_names_invoices_for_roles_that_see_them(
    client, provider_admin, customer_admin, viewer, service_desk
):
    for user, invoices, runs in (
        (provider_admin, True, True),
        (customer_admin, True, False),
        (viewer, False, False),
        (service_desk, False, False),
    ):
        client.force_login(user)
        text = client.get(reverse("portal:dashboard")).text
        assert (f'href="{INVOICES}"' in text) is invoices
        assert (f'href="{RUNS}"' in text) is runs


# --- The invoice's page ------------------------------------------------------------------------------------------


def test_invoice_page_shows_parties_totals_lines_and_per_asset_drilldown(client, customer_admin, invoice, asset):
    client.force_login(customer_admin)
    text = client.get(page("invoice_detail", invoice)).text
    assert "INV-2025-000001" in text
    assert "T5835678256246" in text  # the provider's registration number
    assert "¥12,000" in text and "¥1,200" in text and "¥13,200" in text
    # The usage line's drill-down: 3,000 pages used, 1,000 included, 2,000 over, and the asset's counters.
    assert "3,000" in text and "2,000" in text
    assert "5,000" in text and "8,000" in text
    assert reverse("telemetry:asset_readings", args=[asset.pk]) in text
    assert asset.serial_number in text
    assert "a reading" in text  # how the counters were obtained
    # A customer admin sees no buttons that change it, and downloads the documents.
    assert page("invoice_finalise", invoice) not in text
    assert page("credit_note_create", invoice) not in text
    assert page("invoice_pdf", invoice) in text


def test_draft_page_offers_finalise_to_staff_and_no_documents(client, account_manager, draft):
    client.force_login(account_manager)
    text = client.get(page("invoice_detail", draft)).text
    assert page("invoice_finalise", draft) in text
    assert page("invoice_pdf", draft) not in text
    assert client.get(page("invoice_pdf", draft)).status_code == 404
    assert client.get(page("invoice_xml", draft)).status_code == 404


def test_line_facts_read_every_rating_detail():
    line = InvoiceLine(
        kind=LineKind.METER_CHARGE,
        detail={
            "usage": "3000.000",
            "allowance": "1000.000",
            "overage": "2000.000",
            "allowance_scope": "pooled",
            "days": 30,
            "period_days": 30,
            "meter": "mono_pages",
            "band_from": "0",
            "band_to": "5000",
            "tier_mode": "graduated",
        },
    )
    facts = dict(line_facts(line, "JPY"))
    assert facts == {
        "Days billed": "30 of 30 days",
        "Meter": "Mono pages",
        "Usage": "3,000",
        "Allowance": "1,000 (Pooled across the contract)",
        "Overage": "2,000",
        "Price band": "from 0 to 5,000 units",
        "Tiers": "Graduated",
    }


def test_line_facts_of_a_service_credit_name_the_assets_by_serial_number():
    line = InvoiceLine(
        kind=LineKind.SERVICE_CREDIT,
        detail={
            "breached_work_orders": ["WO-2025-000004"],
            "assets_below_uptime": [7],
            "breaches": 2,
            "percent_per_breach": "5.00",
            "cap_percent": "20.00",
            "percent": "10.00",
            "fees": "10000.00",
        },
    )
    assert line_facts(line, "JPY", {7: "SN-7"}) == [
        ("Service level breaches", "2"),
        ("Work orders past their due time", "WO-2025-000004"),
        ("Assets below the uptime target", "SN-7"),
        ("Credit per breach", "5%"),
        ("Credit cap", "20%"),
        ("Credit", "10%"),
        ("Fees credited against", "¥10,000"),
    ]


@pytest.mark.parametrize("extra_fees", [0, 8])
def test_invoice_page_query_count_does_not_grow_with_lines(
    client, provider_admin, customer, asset, extra_fees, django_assert_num_queries
):
    read(asset, at(2025, 11, 1), 5000)
    read(asset, at(2025, 12, 1), 8000)
    mps_contract(customer, asset, extra_fees=extra_fees)
    draft_invoice = november(customer)
    assert draft_invoice.lines.count() == 2 + extra_fees
    client.force_login(provider_admin)
    client.get(page("invoice_detail", draft_invoice))
    # session, user, membership, invoice, lines, line assets, taxes, events, credit notes, payments
    with django_assert_num_queries(10):
        response = client.get(page("invoice_detail", draft_invoice))
    assert response.text.count('id="line-') == 2 + extra_fees


def customers_with_invoices(provider, count: int) -> None:
    customers = [CustomerFactory(provider=provider) for _ in range(count)]
    for customer in customers:
        mps_contract(customer, AssetFactory(customer=customer, site=SiteFactory(customer=customer)))
    draft_customers(customers=customers, year=2025, month=11)


def test_invoice_list_query_count_does_not_grow_with_invoices(client, provider_admin, provider):
    client.force_login(provider_admin)
    customers_with_invoices(provider, 2)
    client.get(INVOICES)
    with CaptureQueriesContext(connection) as two:
        assert client.get(INVOICES, {"per_page": 50}).context["page_obj"].paginator.count == 2
    customers_with_invoices(provider, 8)
    with CaptureQueriesContext(connection) as ten:
        response = client.get(INVOICES, {"per_page": 50})
    assert response.context["page_obj"].paginator.count == 10
    assert len(ten) == len(two)
    with CaptureQueriesContext(connection) as csv_queries:
        assert len(csv_of(client.get(INVOICES, {"format": "csv"}))) == 11
    assert len(csv_queries) <= len(two)


def test_lines_csv_lists_the_lines_as_stored(client, customer_admin, invoice, billed):
    client.force_login(customer_admin)
    response = client.get(page("invoice_lines_csv", invoice))
    assert response["Content-Disposition"] == 'attachment; filename="INV-2025-000001-lines.csv"'
    rows = csv_of(response)
    assert [row[:5] + row[7:] for row in rows[1:]] == [
        [
            "1",
            "",
            billed.number,
            "Fixed fee",
            "Monthly fee",
            "1.000",
            "MON",
            "10000.0000",
            "10000.00",
            "JPY",
            "Standard rate (10%)",
        ],
        [
            "2",
            "",
            billed.number,
            "Usage charge",
            "Mono pages",
            "2000.000",
            "C62",
            "1.0000",
            "2000.00",
            "JPY",
            "Standard rate (10%)",
        ],
    ]


# --- Documents ---------------------------------------------------------------------------------------------------


def test_pdf_and_xml_are_rendered_once_and_served_as_attachments(client, customer_admin, invoice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(customer_admin)
    pdf = client.get(page("invoice_pdf", invoice))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="INV-2025-000001.pdf"'
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")
    invoice.refresh_from_db()
    stored = invoice.pdf.name
    assert stored.endswith(".pdf")
    xml = client.get(page("invoice_xml", invoice))
    assert xml["Content-Disposition"] == 'attachment; filename="INV-2025-000001.xml"'
    body = b"".join(xml.streaming_content)
    assert b"INV-2025-000001" in body and b"13200" in body
    client.get(page("invoice_pdf", invoice))
    invoice.refresh_from_db()
    assert invoice.pdf.name == stored  # rendered once


@pytest.mark.parametrize("role", ["other_admin", "other_manager", "service_desk", "viewer", "technician"])
def test_documents_of_another_tenant_or_without_prices_are_404(client, users, invoice, role, monkeypatch):
    monkeypatch.setattr(billing, "invoice_documents", lambda invoice: pytest.fail("rendered for an outsider"))
    client.force_login(users[role])
    assert client.get(page("invoice_pdf", invoice)).status_code == 404
    assert client.get(page("invoice_xml", invoice)).status_code == 404


# --- Finalising, credit notes, payments --------------------------------------------------------------------------


def test_account_manager_finalises_a_draft_of_their_customer(client, account_manager, draft):
    client.force_login(account_manager)
    assert "¥11,000" in client.get(page("invoice_finalise", draft)).text
    response = client.post(page("invoice_finalise", draft))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.number, draft.finalised_by) == (
        InvoiceStatus.FINALISED,
        "INV-2026-000001",
        account_manager,
    )


@pytest.mark.parametrize("role", ["customer_admin", "other_manager", "service_desk", "other_admin"])
def test_others_cannot_finalise(client, users, draft, role):
    client.force_login(users[role])
    assert client.post(page("invoice_finalise", draft)).status_code == 404
    draft.refresh_from_db()
    assert draft.status == InvoiceStatus.DRAFT


def test_credit_note_form_creates_a_draft_and_refuses_over_credit(client, provider_admin, invoice):
    fee, pages = invoice.lines.order_by("position")
    client.force_login(provider_admin)
    form = client.get(page("credit_note_create", invoice))
    assert form.status_code == 200 and "At most ¥10,000" in form.text
    over = client.post(
        page("credit_note_create", invoice), {f"line_{fee.pk}": "10001", f"line_{pages.pk}": "", "reason": "Fee"}
    )
    assert over.status_code == 200
    assert over.context["form"].errors[f"line_{fee.pk}"] == ["The credit exceeds what remains of this line: ¥10,000."]
    nothing = client.post(page("credit_note_create", invoice), {"reason": "Nothing"})
    assert nothing.status_code == 200 and nothing.context["form"].non_field_errors() == [str(billing.NOTHING_TO_CREDIT)]
    fractional = client.post(page("credit_note_create", invoice), {f"line_{fee.pk}": "0.5", "reason": "Yen"})
    assert fractional.status_code == 200 and fractional.context["form"].errors[f"line_{fee.pk}"]
    assert not Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).exists()

    created = client.post(page("credit_note_create", invoice), {f"line_{fee.pk}": "4000", "reason": "Goodwill"})
    note = Invoice.objects.get(kind=InvoiceKind.CREDIT_NOTE)
    assert created.status_code == 302 and created["Location"] == page("invoice_detail", note)
    assert (note.status, note.net_total, note.tax_total, note.total, note.note) == (
        InvoiceStatus.DRAFT,
        Decimal(4000),
        Decimal(400),
        Decimal(4400),
        "Goodwill",
    )
    # What is left of the fee line is 6,000.
    assert "At most ¥6,000" in client.get(page("credit_note_create", invoice)).text
    # The draft credit note is discarded from its page; the invoice stays.
    assert client.get(page("credit_note_discard", note)).status_code == 200
    assert client.post(page("credit_note_discard", note))["Location"] == page("invoice_detail", invoice)
    assert not Invoice.objects.filter(pk=note.pk).exists()
    assert Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.FINALISED).exists()


def test_credit_notes_only_for_finalised_invoices_and_discard_only_draft_credit_notes(
    client, provider_admin, invoice, draft
):
    client.force_login(provider_admin)
    response = client.get(page("credit_note_create", draft), follow=True)
    assert str(selectors.NOT_CREDITABLE) in response.text
    response = client.post(page("credit_note_discard", invoice), follow=True)
    assert escape(str(selectors.ONLY_DRAFT_CREDIT_NOTES)) in response.text
    assert Invoice.objects.filter(pk=invoice.pk).exists()
    response = client.post(page("credit_note_discard", draft), follow=True)
    assert escape(str(selectors.ONLY_DRAFT_CREDIT_NOTES)) in response.text
    assert Invoice.objects.filter(pk=draft.pk).exists()


def test_customer_admin_sees_a_finalised_credit_note_but_not_a_draft_one(
    client, provider_admin, customer_admin, invoice
):
    fee = invoice.lines.get(position=1)
    note = credit_note_create(invoice=invoice, lines={fee.pk: Decimal(1000)}, reason="Late delivery", by=provider_admin)
    client.force_login(customer_admin)
    assert client.get(page("invoice_detail", note)).status_code == 404
    assert "Late delivery" not in client.get(page("invoice_detail", invoice)).text
    finalise_invoice(invoice_id=note.pk, today=DEC_1, deliver=False)
    assert client.get(page("invoice_detail", note)).status_code == 200
    assert "CN-2025-000001" in client.get(page("invoice_detail", invoice)).text


def test_payment_form_records_and_refuses_overpayment_and_future_dates(client, provider_admin, invoice):
    client.force_login(provider_admin)
    over = client.post(page("payment_record", invoice), {"amount": "13201", "paid_on": "2025-12-20"})
    assert over.status_code == 200 and "still outstanding" in over.context["form"].errors["amount"][0]
    future = client.post(page("payment_record", invoice), {"amount": "100", "paid_on": "2999-01-01"})
    assert future.status_code == 200 and future.context["form"].errors["paid_on"]
    assert not Payment.objects.exists()
    paid = client.post(page("payment_record", invoice), {"amount": "13200", "paid_on": "2025-12-20", "reference": "X"})
    assert paid.status_code == 302
    invoice.receivable.refresh_from_db()
    assert (invoice.receivable.status, invoice.receivable.paid_amount) == (PaymentStatus.PAID, Decimal(13200))
    text = client.get(page("invoice_detail", invoice)).text
    assert "Payment recorded" in text and "Paid" in text
    assert page("payment_record", invoice) not in text  # nothing left to pay


def test_ageing_shows_what_the_customer_owes(client, customer_admin, other_admin, invoice):
    client.force_login(customer_admin)
    response = client.get(AGEING)
    (row, amounts) = response.context["rows"][0]
    assert (row.customer_name, row.currency, row.total) == ("Acme Office KK", "JPY", Decimal(13200))
    rows = csv_of(client.get(AGEING, {"format": "csv"}))
    assert rows[1][:2] == ["Acme Office KK", "JPY"] and rows[1][-1] == "13200"
    client.force_login(other_admin)
    assert client.get(AGEING).context["rows"] == []


def test_bank_statement_import_records_payments_for_provider_admins_only(
    client, provider_admin, account_manager, invoice
):
    statement = (
        "transaction_id,date,amount,currency,reference,payer_name\n"
        "T1,2025-12-20,13200,JPY,INV-2025-000001,Acme\n"
        "T2,2025-12-21,500,JPY,no number,Someone\n"
    )
    client.force_login(account_manager)
    assert client.get(IMPORT).status_code == 404
    client.force_login(provider_admin)
    response = client.post(IMPORT, {"file": SimpleUploadedFile("bank.csv", statement.encode())})
    assert response.status_code == 200
    report = response.context["report"]
    assert (report.counts["imported"], report.counts["unmatched"]) == (1, 1)
    assert Payment.objects.get().amount == Decimal(13200)
    empty = client.post(IMPORT, {"file": SimpleUploadedFile("bank.csv", b"")})
    assert empty.status_code == 200 and empty.context["form"].errors["file"]


# --- Billing runs ------------------------------------------------------------------------------------------------


def test_start_a_run_from_the_portal_drafts_with_eager_celery(
    client, provider_admin, customer, billed, django_capture_on_commit_callbacks
):
    client.force_login(provider_admin)
    assert client.get(RUNS).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(START_RUN, {"period": "2025-11"})
    run = BillingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == page("billing_run_detail", run)
    run.refresh_from_db()
    assert (run.status, run.period, run.started_by) == (BillingRunStatus.DRAFTED, "2025-11", provider_admin)
    (invoice,) = Invoice.objects.filter(run=run)
    assert (invoice.customer, invoice.status, invoice.total) == (customer, InvoiceStatus.DRAFT, Decimal(13200))
    text = client.get(page("billing_run_detail", run)).text
    assert "1 drafted, 0 failed, 0 pending of 1 customers" in text
    assert 'hx-trigger="every 3s"' not in text
    assert page("billing_run_finalise", run) in text
    rows = csv_of(client.get(RUNS, {"format": "csv"}))
    assert rows[1][:8] == ["2025-11", "In review", "1", "1", "0", "0", "1", "1"]


@pytest.mark.parametrize(
    ("period", "message"), [("2025-13", BAD_PERIOD), ("11/2025", BAD_PERIOD), ("2999-01", FUTURE_PERIOD)]
)
def test_start_form_shows_period_errors(client, provider_admin, period, message):
    client.force_login(provider_admin)
    response = client.post(START_RUN, {"period": period})
    assert response.status_code == 200
    assert response.context["form"].errors["period"] == [str(message)]
    assert not BillingRun.objects.exists()


def test_account_manager_may_not_start_a_run_that_finalises_at_once(client, account_manager, billed):
    client.force_login(account_manager)
    assert "finalize" not in client.get(START_RUN).context["form"].fields
    assert "finalize" not in client.get(RUNS).context["start_form"].fields
    client.post(START_RUN, {"period": "2025-11", "finalize": "on"})
    assert BillingRun.objects.get().finalize is False


def test_an_account_managers_run_drafts_only_their_customers(
    client, account_manager, customer, other_customer, billed, django_capture_on_commit_callbacks
):
    mps_contract(other_customer, AssetFactory(customer=other_customer))
    client.force_login(account_manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(START_RUN, {"period": "2025-11"})
    run = BillingRun.objects.get()
    assert list(run.items.values_list("customer_id", flat=True)) == [customer.pk]
    assert list(Invoice.objects.values_list("customer_id", flat=True)) == [customer.pk]


def test_run_progress_polls_while_drafting_and_reloads_when_done(client, provider_admin, provider, customer, billed):
    run = billing.billing_run_start(provider=provider, year=2025, month=11, by=provider_admin)  # not drafted yet
    client.force_login(provider_admin)
    text = client.get(page("billing_run_detail", run)).text
    assert 'hx-trigger="every 3s"' in text and page("billing_run_progress", run) in text
    assert "0 drafted, 0 failed, 1 pending of 1 customers" in text
    partial = client.get(page("billing_run_progress", run), HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 3s"' in partial.text and "HX-Refresh" not in partial
    billing.billing_run_draft_batch(run_id=run.pk, customer_ids=[customer.pk])
    done = client.get(page("billing_run_progress", run), HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 3s"' not in done.text and done["HX-Refresh"] == "true"
    assert "1 drafted, 0 failed, 0 pending of 1 customers" in done.text


def test_failed_customers_are_listed_with_their_message(client, provider_admin, provider, customer, billed):
    run = billing.billing_run_start(provider=provider, year=2025, month=11, by=provider_admin)
    BillingRunItem.objects.filter(run=run).update(status=RunItemStatus.FAILED, message="No tax category for X")
    billing.billing_run_close_drafting(run_id=run.pk)
    client.force_login(provider_admin)
    text = client.get(page("billing_run_detail", run)).text
    assert "Customers that failed" in text and "No tax category for X" in text
    assert "0 drafted, 1 failed, 0 pending of 1 customers" in text


def test_finalise_all_drafts_by_provider_admin(client, provider_admin, provider, customer, other_customer, billed):
    mps_contract(other_customer, AssetFactory(customer=other_customer))
    run = billing.billing_run_start(provider=provider, year=2025, month=11, by=provider_admin)
    billing.billing_run_draft_batch(run_id=run.pk, customer_ids=[customer.pk, other_customer.pk])
    client.force_login(provider_admin)
    confirm = client.get(page("billing_run_finalise", run))
    assert "2 draft invoices will be numbered" in confirm.text
    response = client.post(page("billing_run_finalise", run))
    assert response["Location"] == page("billing_run_detail", run)
    run.refresh_from_db()
    assert run.status == BillingRunStatus.FINALISED
    assert sorted(Invoice.objects.values_list("number", flat=True)) == ["INV-2026-000001", "INV-2026-000002"]


def test_account_manager_sees_and_finalises_only_their_customers(
    client, provider_admin, account_manager, other_manager, provider, customer, other_customer, billed
):
    mps_contract(other_customer, AssetFactory(customer=other_customer))
    run = billing.billing_run_start(provider=provider, year=2025, month=11, by=provider_admin)
    billing.billing_run_draft_batch(run_id=run.pk, customer_ids=[customer.pk, other_customer.pk])
    client.force_login(account_manager)
    detail = client.get(page("billing_run_detail", run))
    assert "1 drafted, 0 failed, 0 pending of 1 customers" in detail.text
    assert "Other Logistics" not in detail.text
    client.post(page("billing_run_finalise", run))
    statuses = dict(Invoice.objects.values_list("customer_id", "status"))
    assert statuses == {customer.pk: InvoiceStatus.FINALISED, other_customer.pk: InvoiceStatus.DRAFT}
    run.refresh_from_db()
    assert run.status == BillingRunStatus.DRAFTED  # the other customer's draft is still in review


def test_run_of_no_customer_of_theirs_is_404_for_an_account_manager(
    client, provider_admin, other_manager, provider, customer, billed
):
    run = billing.billing_run_start(provider=provider, year=2025, month=11, by=provider_admin)
    client.force_login(other_manager)
    assert client.get(page("billing_run_detail", run)).status_code == 404
    assert client.get(page("billing_run_progress", run)).status_code == 404
    assert client.post(page("billing_run_finalise", run)).status_code == 404
    assert csv_of(client.get(RUNS, {"format": "csv"}))[1:] == []


@pytest.mark.parametrize("role", ["customer_admin", "service_desk", "technician", "viewer", "operator", "other_admin"])
def test_run_pages_are_404_without_draft_invoices(client, users, provider, provider_admin, billed, role):
    run = billing.billing_run_start(provider=provider, year=2025, month=11, by=provider_admin)
    client.force_login(users[role])
    for url in (RUNS, START_RUN, page("billing_run_detail", run), page("billing_run_finalise", run), IMPORT):
        assert client.get(url).status_code == 404, url
    assert client.post(START_RUN, {"period": "2025-10"}).status_code == 404
    assert BillingRun.objects.count() == 1


def test_finalising_a_run_that_is_not_in_review_is_refused(client, provider_admin, provider, billed):
    run = billing.billing_run_start(provider=provider, year=2025, month=11, by=provider_admin)  # still drafting
    client.force_login(provider_admin)
    response = client.post(page("billing_run_finalise", run), follow=True)
    assert str(billing.RUN_NOT_IN_REVIEW) in response.text
    assert BillingRun.objects.get().status == BillingRunStatus.RUNNING


# --- Billing settings --------------------------------------------------------------------------------------------

SETTINGS = reverse("contracts:billing_settings")


def test_provider_admin_sets_tax_rounding_and_review(client, provider_admin, provider):
    client.force_login(provider_admin)
    page_text = client.get(RUNS).text
    assert SETTINGS in page_text
    form = client.get(SETTINGS).context["form"]
    assert (form.initial["tax_rounding"], form.initial["review_days"]) == ("down", 3)
    response = client.post(
        SETTINGS,
        {
            "tax_rounding": "half_up",
            "review_days": "5",
            "reminder_interval_days": "10",
            "payment_instructions": "三井住友銀行 本店 普通 1234567",
            "bank_account": "",
        },
    )
    assert response.status_code == 302
    saved = BillingSettings.objects.get(provider=provider)
    assert (saved.tax_rounding, saved.review_days, saved.reminder_interval_days) == ("half_up", 5, 10)
    refused = client.post(SETTINGS, {"tax_rounding": "sideways", "review_days": "3", "reminder_interval_days": "7"})
    assert refused.status_code == 200 and refused.context["form"].errors["tax_rounding"]
    never = client.post(SETTINGS, {"tax_rounding": "down", "review_days": "3", "reminder_interval_days": "0"})
    assert never.status_code == 200 and never.context["form"].errors["reminder_interval_days"]
    too_long = client.post(SETTINGS, {"tax_rounding": "down", "review_days": "40", "reminder_interval_days": "7"})
    assert too_long.status_code == 200 and too_long.context["form"].errors["review_days"]
    assert BillingSettings.objects.get(provider=provider).review_days == 5


def test_billing_settings_are_for_staff_who_bill_every_customer(client, users, provider):
    for role, user in users.items():
        if role == "provider_admin":
            continue
        client.force_login(user)
        assert client.get(SETTINGS).status_code == 404, role
        assert client.post(SETTINGS, {"tax_rounding": "up", "review_days": "1"}).status_code == 404, role
    assert not BillingSettings.objects.exists()
