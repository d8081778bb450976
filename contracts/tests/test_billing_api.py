"""The billing API: who reads which invoices and runs (customers: their finalised documents only), filters, the
documents, finalising, credit notes and runs through the services (errors as 400 with field messages, no half
writes), and lists and details in a constant number of queries."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets.tests.factories import AssetFactory
from contracts import billing
from contracts.billing import BAD_PERIOD, FUTURE_PERIOD, LINE_OF_ANOTHER_INVOICE, credit_note_create
from contracts.choices import BillingRunStatus, InvoiceKind, InvoiceStatus, RunItemStatus
from contracts.models import BillingRun, BillingRunItem, Invoice
from contracts.tests.billing_helpers import at, mps_contract, read
from contracts.tests.test_billing_views import DEC_1, customers_with_invoices, finalised, november

pytestmark = pytest.mark.django_db

INVOICES = "/api/v1/invoices/"
RUNS = "/api/v1/billing-runs/"


def url(obj, suffix: str = "") -> str:
    base = RUNS if isinstance(obj, BillingRun) else INVOICES
    return f"{base}{obj.pk}/{suffix}"


@pytest.fixture
def billed(customer, asset):
    """3,000 mono pages in November 2025 under Acme's contract: ¥12,000 net, ¥1,200 tax, ¥13,200."""
    read(asset, at(2025, 11, 1), 5000)
    read(asset, at(2025, 12, 1), 8000)
    return mps_contract(customer, asset)


@pytest.fixture
def invoice(customer, billed) -> Invoice:
    return finalised(november(customer))


@pytest.fixture
def draft(customer, billed, invoice) -> Invoice:
    (outcome,) = billing.draft_customers(customers=[customer], year=2025, month=10)
    return outcome.invoices[0]


@pytest.fixture
def other_invoice(other_customer) -> Invoice:
    mps_contract(other_customer, AssetFactory(customer=other_customer))
    return finalised(november(other_customer))


@pytest.fixture
def users(provider_admin, account_manager, other_manager, service_desk, customer_admin, other_admin, viewer):
    return {
        "provider_admin": provider_admin,
        "account_manager": account_manager,
        "other_manager": other_manager,
        "service_desk": service_desk,
        "customer_admin": customer_admin,
        "other_admin": other_admin,
        "viewer": viewer,
    }


# --- Reads -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("provider_admin", {"INV-2025-000001", "", "INV-2025-000002"}),
        ("account_manager", {"INV-2025-000001", ""}),
        ("customer_admin", {"INV-2025-000001"}),
        ("other_admin", {"INV-2025-000002"}),
        ("other_manager", {"INV-2025-000002"}),
        ("service_desk", set()),
        ("viewer", set()),
    ],
)
def test_list_per_role(api_client_for, users, invoice, draft, other_invoice, role, expected):
    response = api_client_for(users[role]).get(INVOICES)
    assert response.status_code == 200
    assert {row["number"] for row in response.json()["results"]} == expected


@pytest.mark.parametrize(
    ("role", "final_status", "draft_status"),
    [
        ("provider_admin", 200, 200),
        ("account_manager", 200, 200),
        ("customer_admin", 200, 404),
        ("other_admin", 404, 404),
        ("other_manager", 404, 404),
        ("service_desk", 404, 404),
        ("viewer", 404, 404),
    ],
)
def test_retrieve_per_role(api_client_for, users, invoice, draft, role, final_status, draft_status):
    client = api_client_for(users[role])
    assert client.get(url(invoice)).status_code == final_status
    assert client.get(url(draft)).status_code == draft_status


def test_detail_carries_totals_lines_assets_taxes_and_events(api_client_for, customer_admin, invoice, asset):
    body = api_client_for(customer_admin).get(url(invoice)).json()
    assert (body["number"], body["period"], body["status"], body["kind"]) == (
        "INV-2025-000001",
        "2025-11",
        "finalised",
        "invoice",
    )
    assert (body["net_total"], body["tax_total"], body["total"], body["outstanding"], body["payment_status"]) == (
        "12000.00",
        "1200.00",
        "13200.00",
        "13200.00",
        "open",
    )
    assert (body["issue_date"], body["due_date"]) == ("2025-12-01", "2025-12-31")
    assert body["seller"]["tax_registration_number"] == "T5835678256246"
    assert body["buyer"]["name"] == "Acme Office KK"
    fee, pages = body["lines"]
    assert (fee["kind"], fee["amount"], pages["kind"], pages["quantity"], pages["amount"]) == (
        "fixed_fee",
        "10000.00",
        "meter_charge",
        "2000.000",
        "2000.00",
    )
    assert (pages["detail"]["usage"], pages["detail"]["allowance"], pages["detail"]["overage"]) == (
        "3000.000",
        "1000.000",
        "2000.000",
    )
    (row,) = pages["assets"]
    assert (row["asset"], row["start_value"], row["end_value"], row["usage"], row["start_source"]) == (
        asset.pk,
        "5000.000",
        "8000.000",
        "3000.000",
        "reading",
    )
    assert body["taxes"] == [{"tax_category": "standard", "rate": "10.00", "net": "12000.00", "tax": "1200.00"}]
    assert [event["action"] for event in body["events"]] == ["finalised", "drafted"]
    assert body["events"][0]["changes"] == {"number": [None, "INV-2025-000001"]}
    assert (body["credit_notes"], body["payments"]) == ([], [])


def test_filters(api_client_for, provider_admin, invoice, draft, other_invoice, customer):
    client = api_client_for(provider_admin)

    def numbers(**query) -> list[str]:
        response = client.get(INVOICES, {**query, "ordering": "number"})
        assert response.status_code == 200, response.json()
        return [row["number"] for row in response.json()["results"]]

    assert numbers(period="2025-11") == ["INV-2025-000001", "INV-2025-000002"]
    assert numbers(status="draft") == [""]
    assert numbers(customer=customer.pk, status="finalised") == ["INV-2025-000001"]
    assert numbers(payment_status="open", q="other") == ["INV-2025-000002"]
    assert numbers(kind="credit_note") == []
    assert numbers(currency="USD") == []
    bad = client.get(INVOICES, {"period": "2025-13"})
    assert bad.status_code == 400 and bad.json() == {"period": [str(BAD_PERIOD)]}


def test_customer_admin_filters_cannot_reach_drafts(api_client_for, customer_admin, invoice, draft):
    client = api_client_for(customer_admin)
    assert [row["number"] for row in client.get(INVOICES, {"status": "draft"}).json()["results"]] == ["INV-2025-000001"]
    assert client.get(RUNS).json()["results"] == []


def test_list_and_detail_query_counts_do_not_grow(api_client_for, provider_admin, provider, customer, asset):
    client = api_client_for(provider_admin)
    customers_with_invoices(provider, 2)
    client.get(INVOICES)
    with CaptureQueriesContext(connection) as two:
        assert client.get(INVOICES).json()["count"] == 2
    customers_with_invoices(provider, 8)
    with CaptureQueriesContext(connection) as ten:
        assert client.get(INVOICES).json()["count"] == 10
    assert len(ten) == len(two)

    small = Invoice.objects.order_by("pk").first()
    read(asset, at(2025, 11, 1), 5000)
    read(asset, at(2025, 12, 1), 8000)
    mps_contract(customer, asset, extra_fees=8)
    large = november(customer)
    assert (small.lines.count(), large.lines.count()) == (2, 10)
    with CaptureQueriesContext(connection) as small_queries:
        client.get(url(small))
    with CaptureQueriesContext(connection) as large_queries:
        assert len(client.get(url(large)).json()["lines"]) == 10
    assert len(large_queries) == len(small_queries)


# --- Documents ---------------------------------------------------------------------------------------------------


def test_pdf_and_xml_of_a_finalised_invoice(api_client_for, customer_admin, invoice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = api_client_for(customer_admin)
    pdf = client.get(url(invoice, "pdf/"), HTTP_ACCEPT="application/json")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="INV-2025-000001.pdf"'
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")
    xml = client.get(url(invoice, "xml/"))
    assert (xml["Content-Type"], xml["Content-Disposition"]) == (
        "application/xml",
        'attachment; filename="INV-2025-000001.xml"',
    )
    assert b"<rsm:CrossIndustryInvoice" in b"".join(xml.streaming_content)


def test_documents_of_drafts_and_other_tenants_are_404(
    api_client_for, provider_admin, other_admin, invoice, draft, monkeypatch
):
    monkeypatch.setattr(billing, "invoice_documents", lambda invoice: pytest.fail("rendered"))
    assert api_client_for(provider_admin).get(url(draft, "pdf/")).status_code == 404
    assert api_client_for(provider_admin).get(url(draft, "xml/")).status_code == 404
    response = api_client_for(other_admin).get(url(invoice, "pdf/"))
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


# --- Finalising and credit notes ---------------------------------------------------------------------------------


def test_finalise_numbers_a_draft_and_is_idempotent(api_client_for, account_manager, draft):
    client = api_client_for(account_manager)
    response = client.post(url(draft, "finalise/"))
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["number"]) == ("finalised", "INV-2026-000001")
    again = client.post(url(draft, "finalise/"))
    assert (again.status_code, again.json()["number"]) == (200, "INV-2026-000001")


@pytest.mark.parametrize(("role", "code"), [("customer_admin", 404), ("other_manager", 404), ("service_desk", 404)])
def test_others_cannot_finalise(api_client_for, users, draft, role, code):
    assert api_client_for(users[role]).post(url(draft, "finalise/")).status_code == code
    draft.refresh_from_db()
    assert draft.status == InvoiceStatus.DRAFT


def test_customer_admin_gets_403_on_writes_to_their_own_finalised_invoice(api_client_for, customer_admin, invoice):
    client = api_client_for(customer_admin)
    fee = invoice.lines.get(position=1)
    assert client.post(url(invoice, "finalise/")).status_code == 403
    body = {"lines": [{"line": fee.pk, "amount": "1000"}], "reason": "Mine"}
    assert client.post(url(invoice, "credit-notes/"), body, format="json").status_code == 403
    assert not Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).exists()


def test_credit_note_is_created_and_errors_are_field_messages(api_client_for, provider_admin, invoice, other_invoice):
    client = api_client_for(provider_admin)
    fee, pages = invoice.lines.order_by("position")

    def post(body):
        return client.post(url(invoice, "credit-notes/"), body, format="json")

    over = post({"lines": [{"line": fee.pk, "amount": "10001"}], "reason": "Too much"})
    assert over.status_code == 400 and over.json() == {
        "lines": ["The credit exceeds what remains of this line: 10000.00."]
    }
    foreign = post({"lines": [{"line": other_invoice.lines.first().pk, "amount": "1"}], "reason": "Other"})
    assert foreign.status_code == 400 and foreign.json() == {"lines": [str(LINE_OF_ANOTHER_INVOICE)]}
    twice = post({"lines": [{"line": fee.pk, "amount": "1"}, {"line": fee.pk, "amount": "2"}], "reason": "Twice"})
    assert twice.status_code == 400 and "lines" in twice.json()
    no_reason = post({"lines": [{"line": fee.pk, "amount": "1"}], "reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    fraction = post({"lines": [{"line": fee.pk, "amount": "0.5"}], "reason": "Yen"})
    assert fraction.status_code == 400 and "lines" in fraction.json()
    assert not Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).exists()

    created = post(
        {"lines": [{"line": fee.pk, "amount": "4000"}, {"line": pages.pk, "amount": "2000"}], "reason": "Ok"}
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["kind"], body["status"], body["corrects"], body["net_total"], body["tax_total"], body["total"]) == (
        "credit_note",
        "draft",
        invoice.pk,
        "6000.00",
        "600.00",
        "6600.00",
    )
    assert [line["detail"]["credits_position"] for line in body["lines"]] == [1, 2]
    # The invoice lists its credit note; a draft credit note is not the customer's to see.
    assert client.get(url(invoice)).json()["credit_notes"] == [body["id"]]


def test_draft_credit_note_is_hidden_from_the_customer_admin(api_client_for, provider_admin, customer_admin, invoice):
    fee = invoice.lines.get(position=1)
    note = credit_note_create(invoice=invoice, lines={fee.pk: Decimal(1000)}, reason="Goodwill", by=provider_admin)
    client = api_client_for(customer_admin)
    assert client.get(url(note)).status_code == 404
    assert client.get(url(invoice)).json()["credit_notes"] == []
    billing.finalise_invoice(invoice_id=note.pk, today=DEC_1, deliver=False)
    assert client.get(url(invoice)).json()["credit_notes"] == [note.pk]
    assert client.get(url(note)).json()["number"] == "CN-2025-000001"


# --- Billing runs ------------------------------------------------------------------------------------------------


def test_start_a_run_drafts_and_reports_progress(
    api_client_for, provider_admin, customer, billed, django_capture_on_commit_callbacks
):
    client = api_client_for(provider_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(RUNS, {"period": "2025-11", "finalize": False}, format="json")
    assert response.status_code == 201
    run = BillingRun.objects.get()
    assert (response.json()["id"], response.json()["period"], response.json()["status"]) == (
        run.pk,
        "2025-11",
        "running",
    )  # as it was when the request answered: the drafting ran after it, on commit
    body = client.get(url(run)).json()
    assert (body["status"], body["items_total"], body["items_done"], body["items_failed"], body["items_pending"]) == (
        BillingRunStatus.DRAFTED,
        1,
        1,
        0,
        0,
    )
    assert (body["invoices_count"], body["drafts_count"], body["failed_items"]) == (1, 1, [])
    assert Invoice.objects.get(run=run).total == Decimal(13200)

    finalised_run = client.post(url(run, "finalise/"))
    assert finalised_run.status_code == 200
    assert (finalised_run.json()["status"], finalised_run.json()["drafts_count"]) == (BillingRunStatus.FINALISED, 0)
    assert Invoice.objects.get(run=run).number == "INV-2026-000001"
    not_in_review = client.post(url(run, "finalise/"))
    assert not_in_review.status_code == 400
    assert not_in_review.json() == {"non_field_errors": [str(billing.RUN_NOT_IN_REVIEW)]}


@pytest.mark.parametrize(
    ("period", "message"), [("2025-13", BAD_PERIOD), ("25-11", BAD_PERIOD), ("2999-01", FUTURE_PERIOD)]
)
def test_start_refuses_bad_and_future_periods(api_client_for, provider_admin, period, message):
    response = api_client_for(provider_admin).post(RUNS, {"period": period}, format="json")
    assert response.status_code == 400
    assert response.json() == {"period": [str(message)]}
    assert not BillingRun.objects.exists()


def test_account_manager_starts_without_finalize_and_sees_only_their_items(
    api_client_for, provider_admin, account_manager, other_manager, provider, customer, other_customer, billed
):
    mps_contract(other_customer, AssetFactory(customer=other_customer))
    client = api_client_for(account_manager)
    refused = client.post(RUNS, {"period": "2025-11", "finalize": True}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"finalize": [str(billing.FINALIZE_NEEDS_WHOLE_PROVIDER)]}
    assert client.post(RUNS, {"period": "2025-11"}, format="json").status_code == 201
    run = BillingRun.objects.get()
    # The manager's start queues their customers only; the provider admin's start of the same period adds the rest.
    assert list(run.items.values_list("customer_id", flat=True)) == [customer.pk]
    assert api_client_for(provider_admin).post(RUNS, {"period": "2025-11"}, format="json").status_code == 201
    BillingRunItem.objects.filter(run=run, customer=other_customer).update(
        status=RunItemStatus.FAILED, message="Other's trouble"
    )
    body = client.get(url(run)).json()
    assert (body["items_total"], body["items_failed"], body["failed_items"]) == (1, 0, [])
    admin_body = api_client_for(provider_admin).get(url(run)).json()
    assert (admin_body["items_total"], admin_body["items_failed"]) == (2, 1)
    assert admin_body["failed_items"][0]["message"] == "Other's trouble"
    # The other manager's customer takes part in the run: they see it, with their item only.
    other_body = api_client_for(other_manager).get(url(run)).json()
    assert (other_body["items_total"], other_body["items_failed"]) == (1, 1)


@pytest.mark.parametrize("role", ["customer_admin", "viewer"])
def test_customers_may_not_start_runs(api_client_for, users, role, billed):
    response = api_client_for(users[role]).post(RUNS, {"period": "2025-11"}, format="json")
    assert response.status_code == 403
    assert not BillingRun.objects.exists()


@pytest.mark.parametrize("role", ["customer_admin", "service_desk", "other_admin", "other_manager"])
def test_run_of_others_is_404(api_client_for, users, provider, provider_admin, billed, role):
    run = billing.billing_run_start(provider=provider, year=2025, month=11, by=provider_admin)
    client = api_client_for(users[role])
    assert client.get(url(run)).status_code == 404
    assert client.post(url(run, "finalise/")).status_code == 404
    assert client.get(RUNS).json()["results"] == []


def test_run_list_query_count_does_not_grow(api_client_for, provider_admin, provider):
    client = api_client_for(provider_admin)
    for month in (1, 2):
        billing.billing_run_start(provider=provider, year=2025, month=month, by=provider_admin)
    client.get(RUNS)
    with CaptureQueriesContext(connection) as two:
        assert client.get(RUNS).json()["count"] == 2
    for month in range(3, 11):
        billing.billing_run_start(provider=provider, year=2025, month=month, by=provider_admin)
    with CaptureQueriesContext(connection) as ten:
        assert client.get(RUNS).json()["count"] == 10
    assert len(ten) == len(two)
