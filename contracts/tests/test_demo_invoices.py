"""The demo's twelve months of invoices: one per customer and month, numbered without gaps, valid e-invoices, a
month that runs again changes nothing, and a customer admin downloads their own (and only their own)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.urls import reverse

from accounts.demo import PROVIDER_CODE
from accounts.models import Organisation, User
from contracts.billing import billing_run_start
from contracts.choices import BillingRunStatus, InvoiceStatus
from contracts.demo import INVOICE_MONTHS, PILOT_ENDED, PILOT_STARTED
from contracts.einvoice import check_xml_xsd, invoice_xml
from contracts.models import BillingRun, Invoice
from contracts.schematron import check_xml_schematron

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", stdout=StringIO())


def test_a_month_closes_with_one_valid_numbered_invoice_per_customer(demo, client, django_capture_on_commit_callbacks):
    invoices = Invoice.objects.filter(status=InvoiceStatus.FINALISED, kind="invoice")
    customers = Organisation.objects.customers().filter(contracts__isnull=False).distinct()
    # Three customers under contract all year, and the pilot of the customer that left: its six months.
    assert customers.count() == 4
    assert invoices.count() == INVOICE_MONTHS * 3 + PILOT_STARTED - PILOT_ENDED + 1 == 42
    per_period = invoices.values("customer", "year", "month").annotate(n=Count("pk"))
    assert {row["n"] for row in per_period} == {1}
    assert BillingRun.objects.filter(status=BillingRunStatus.FINALISED).count() == INVOICE_MONTHS
    # Gapless per year of issue: INV-<year>-000001 upwards.
    for year in {invoice.issue_date.year for invoice in invoices}:
        numbers = sorted(invoices.filter(issue_date__year=year).values_list("number", flat=True))
        assert numbers == [f"INV-{year}-{index:06d}" for index in range(1, len(numbers) + 1)]
    for invoice in invoices.prefetch_related("lines", "taxes"):
        assert sum(line.amount for line in invoice.lines.all()) == invoice.net_total
        assert sum(tax.tax for tax in invoice.taxes.all()) == invoice.tax_total
        assert invoice.total == invoice.net_total + invoice.tax_total > 0
    latest = invoices.order_by("-year", "-month").first()
    for invoice in invoices.filter(year=latest.year, month=latest.month):
        xml = invoice_xml(invoice)
        assert check_xml_xsd(xml) == [] and check_xml_schematron(xml) == [], invoice.number
        assert invoice.pdf and invoice.xml  # rendered by the demo

    # Running the latest month again (as a retried beat or a second click would): nothing new, nothing renumbered.
    before = list(Invoice.objects.order_by("pk").values_list("pk", "number", "total"))
    provider = Organisation.objects.get(code=PROVIDER_CODE)
    with django_capture_on_commit_callbacks(execute=True):
        billing_run_start(provider=provider, year=latest.year, month=latest.month, finalize=True)
    assert list(Invoice.objects.order_by("pk").values_list("pk", "number", "total")) == before

    # The customer admin downloads their latest invoice; another customer's answers 404.
    admin = User.objects.get(email="admin@towa-shoji.example")
    own = invoices.filter(customer=admin.membership.organisation).order_by("-year", "-month").first()
    other = invoices.exclude(customer=admin.membership.organisation).first()
    client.force_login(admin)
    listed = client.get(reverse("contracts:invoice_list"))
    assert own.number in listed.text and other.number not in listed.text
    pdf = client.get(reverse("contracts:invoice_pdf", args=[own.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")
    assert f'filename="{own.number}.pdf"' in pdf["Content-Disposition"]
    assert client.get(reverse("contracts:invoice_xml", args=[own.pk])).status_code == 200
    assert client.get(reverse("contracts:invoice_pdf", args=[other.pk])).status_code == 404
