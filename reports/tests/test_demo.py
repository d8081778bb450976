"""The demo's reports: a ledger that reconciles with the demo's invoices, TCO pages, and proposals an account manager
requests and downloads."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.urls import reverse

from accounts.models import Organisation, User
from contracts.choices import InvoiceKind, InvoiceStatus
from contracts.models import Invoice
from fleet.testing.pdf import pdf_text, squash
from reports.choices import CostCategory, ProposalStatus
from reports.demo import DEMO_LEDGER_MONTHS
from reports.models import CostEntry, Proposal

pytestmark = pytest.mark.django_db


def test_the_demo_ledger_tco_and_proposals(settings, tmp_path, client, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path / "media"
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=StringIO())

    # Every finalised invoice's net total is in the ledger's service fees of its customer and month, to the yen.
    for customer in Organisation.objects.customers():
        invoiced = Decimal(0)
        for invoice in Invoice.objects.filter(customer=customer, status=InvoiceStatus.FINALISED):
            invoiced += -invoice.net_total if invoice.kind == InvoiceKind.CREDIT_NOTE else invoice.net_total
        fees = CostEntry.objects.filter(customer=customer, category=CostCategory.SERVICE_FEES)
        assert (fees.aggregate(total=Sum("amount"))["total"] or 0) == invoiced > 0, customer.code
        months = CostEntry.objects.filter(customer=customer).values("month").distinct().count()
        if customer.assets.exists():  # the equipment costs every month; the pilot customer only its invoiced months
            assert months == DEMO_LEDGER_MONTHS, customer.code
        else:
            assert months == Invoice.objects.filter(customer=customer).values("month").distinct().count() == 6

    # The account manager opens a customer's TCO, requests a proposal and downloads it.
    manager = User.objects.get(email="sales@nihon-fleet.example")
    client.force_login(manager)
    customer = Organisation.objects.customers().filter(account_managers=manager).order_by("pk").first()
    tco = client.get(reverse("reports:tco"), {"customer": customer.pk, "group_by": "asset"})
    assert tco.status_code == 200 and "<svg" in tco.content.decode()
    assert Proposal.objects.filter(status=ProposalStatus.READY).count() >= 2  # the demo's own
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("reports:proposal_request"), {"customer": customer.pk, "language": "en"})
    proposal = Proposal.objects.filter(customer=customer, language="en").get()
    assert proposal.status == ProposalStatus.READY, proposal.error
    pdf = b"".join(client.get(reverse("reports:proposal_pdf", args=[proposal.pk])).streaming_content)
    text = squash(pdf_text(pdf))
    assert squash("Executive summary") in text and squash(customer.name) in text

    # The provider admin sees MRR and NPS for the last twelve months.
    client.force_login(User.objects.get(email="admin@nihon-fleet.example"))
    kpis = client.get(reverse("reports:kpis"))
    assert kpis.status_code == 200 and kpis.context["months"] and kpis.context["months"][-1].mrr > 0
    nps = client.get(reverse("reports:nps"))
    assert nps.context["total"].answers > 0 and nps.context["total"].nps is not None
    # ... the snapshots of the closed months among the twelve shown, usage revenue and acquisition spend beside MRR ...
    assert len(kpis.context["snapshots"]) == 11 and "<polyline" in kpis.context["snapshot_chart"]
    assert kpis.context["months"][-2].usage_revenue > 0 and kpis.context["months"][-2].acquisition_spend > 0
    # The pilot customer was won and lost inside the year: a month with CAC, one with churn and LTV.
    assert [row.cac for row in kpis.context["months"] if row.customers_new] == [Decimal(600_000)]
    assert [row.customers_lost for row in kpis.context["months"] if row.ltv is not None] == [1]
    # ... and the service KPIs: uptime, SLA achievement per contract, the outcome contracts' achievement.
    service = client.get(reverse("reports:service_kpis"))
    assert service.status_code == 200 and service.context["report"].total.uptime is not None
    outcomes = [outcome for row in service.context["contracts"] for outcome in row.outcomes]
    assert {outcome.kind for outcome in outcomes} == {"outcome_charge", "saving_share"}
    assert all(outcome.achievement > 0 for outcome in outcomes)

    # A customer admin sees their own TCO, not the cost to serve, and no proposals.
    admin = User.objects.get(email="admin@towa-shoji.example")
    client.force_login(admin)
    own = client.get(reverse("reports:tco"), {"group_by": "site"}).content.decode()
    assert admin.membership.organisation.sites.first().name in own
    assert client.get(reverse("reports:proposal_list")).status_code == 404
