"""Improvement proposals: requested, rendered by the Celery task, downloaded, regenerated; PDF text in two languages."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.choices import Role
from accounts.tests.factories import member
from assets.choices import AssetCategory
from assets.tests.factories import AssetFactory, AssetModelFactory, SiteFactory
from fleet.testing.pdf import embedded_fonts, pdf_text, squash
from reports import analysis, proposals
from reports.choices import CATEGORY_VIEW, CostCategory, CostSource, ProposalStatus
from reports.models import AssetMonthUsage, CostEntry, Proposal
from reports.proposals import proposal_regenerate, proposal_request, render_proposal
from telemetry.choices import Meter

OCTOBER = datetime.date(2025, 10, 1)
TODAY = datetime.date(2025, 11, 15)


@pytest.fixture
def manager(provider, customer):
    user = member(provider, Role.ACCOUNT_MANAGER, email="am@provider.example")
    customer.account_managers.add(user)
    return user


@pytest.fixture
def floor(customer):
    """Three light printers on one floor (consolidated on L3) with October's costs and pages."""
    site = SiteFactory(customer=customer, name="大阪支店", floor="3F")
    model = AssetModelFactory(name="MFP C3000", category=AssetCategory.MFP, rated_monthly_volume=10000)
    for serial, pages, cost in (("L1", 1000, 3000), ("L2", 2000, 4000), ("L3", 3000, 5000)):
        asset = AssetFactory(
            customer=customer, site=site, asset_model=model, serial_number=serial, acquisition_cost=None
        )
        AssetMonthUsage.objects.create(asset=asset, month=OCTOBER, meter=Meter.TOTAL_PAGES, usage=Decimal(pages))
        CostEntry.objects.create(
            customer=customer, month=OCTOBER, view=CATEGORY_VIEW[CostCategory.SERVICE_FEES],
            category=CostCategory.SERVICE_FEES, asset=asset, site=site, amount=Decimal(cost), currency="JPY",
            source=CostSource.ASSET, source_id=asset.pk,
        )  # fmt: skip
    return site


def request(customer, by, django_capture_on_commit_callbacks, **kwargs) -> Proposal:
    with django_capture_on_commit_callbacks(execute=True):
        proposal = proposal_request(customer=customer, by=by, first=OCTOBER, last=OCTOBER, today=TODAY, **kwargs)
    proposal.refresh_from_db()
    return proposal


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        # Kept, L3 costs ¥5,000 for 3,000 pages; L1 and L2 save (3,000 - 1,000 x 5/3) x 12 = 16,000 and
        # (4,000 - 2,000 x 5/3) x 12 = 8,000 a year.
        ("en", ["Improvement proposal", "Executive summary", "Projected annual savings", "¥24,000", "Immediate",
                "Printer consolidation", "L1, L2", "Remove", "Assumptions and method", "Page 1 of"]),
        ("ja", ["改善提案書", "エグゼクティブサマリー", "年間削減見込額", "¥24,000", "即時", "プリンターの集約",
                "L1, L2", "削除", "前提と算定方法", "大阪支店"]),
    ],
)  # fmt: skip
def test_a_requested_proposal_is_rendered_with_its_recommendations_and_figures(
    customer, manager, floor, language, expected, django_capture_on_commit_callbacks
):
    proposal = request(customer, manager, django_capture_on_commit_callbacks, language=language)

    assert proposal.status == ProposalStatus.READY, proposal.error
    pdf = proposal.pdf.read()
    text = squash(pdf_text(pdf))
    for phrase in expected:
        assert squash(phrase) in text, phrase
    assert "IPAexGothic" in embedded_fonts(pdf)
    assert proposal.pages >= 3  # the summary, the per-asset recommendations, the method start their own pages
    assert proposal.summary == {
        "assets": 3, "annual_saving": "24000", "investment": "0", "payback_months": "0.0", "currency": "JPY",
        "retain": 1, "replace": 0, "reallocate": 0, "remove": 2,
    }  # fmt: skip


def test_typed_names_are_escaped_in_the_pdf(customer, manager, floor, django_capture_on_commit_callbacks):
    floor.name = "<b>Osaka</b> & Kobe"
    floor.save()

    proposal = request(customer, manager, django_capture_on_commit_callbacks, language="en")

    assert "<b>Osaka</b> & Kobe" in pdf_text(proposal.pdf.read())


def test_a_failure_is_the_proposals_state(customer, manager, monkeypatch, django_capture_on_commit_callbacks):
    def broken(**kwargs):
        raise ZeroDivisionError("no data")

    monkeypatch.setattr(analysis, "analyse", broken)

    proposal = request(customer, manager, django_capture_on_commit_callbacks)

    assert (proposal.status, proposal.error, bool(proposal.pdf)) == (
        ProposalStatus.FAILED, "ZeroDivisionError: no data", False
    )  # fmt: skip


def test_a_redelivered_render_of_a_ready_proposal_does_nothing(customer, manager, floor, monkeypatch):
    proposal = Proposal.objects.create(
        customer=customer, requested_by=manager, language="en", first_month=OCTOBER, last_month=OCTOBER
    )
    assert render_proposal(proposal.pk) == ProposalStatus.READY
    monkeypatch.setattr(proposals, "proposal_pdf", lambda proposal: pytest.fail("rendered twice"))

    assert render_proposal(proposal.pk) == ProposalStatus.READY


def test_regenerate_renders_a_ready_proposal_again_and_refuses_one_in_progress(
    customer, manager, floor, django_capture_on_commit_callbacks
):
    proposal = request(customer, manager, django_capture_on_commit_callbacks)
    first_rendered = proposal.rendered_at

    with django_capture_on_commit_callbacks(execute=True):
        proposal_regenerate(proposal=proposal, by=manager)
    proposal.refresh_from_db()

    assert proposal.status == ProposalStatus.READY and proposal.rendered_at > first_rendered
    Proposal.objects.filter(pk=proposal.pk).update(status=ProposalStatus.RENDERING)
    with pytest.raises(ValidationError):
        proposal_regenerate(proposal=proposal, by=manager)


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        (datetime.date(2025, 10, 1), datetime.date(2025, 9, 1), "last_month"),
        (datetime.date(2025, 10, 1), datetime.date(2025, 11, 1), "last_month"),  # this month is not over
    ],
)
def test_bad_months_are_refused(customer, manager, first, last, field):
    with pytest.raises(ValidationError) as error:
        proposal_request(customer=customer, by=manager, first=first, last=last, today=TODAY)
    assert field in error.value.message_dict
    assert not Proposal.objects.exists()


def test_default_months_are_the_last_twelve_whole_months(customer, manager):
    proposal = proposal_request(customer=customer, by=manager, today=TODAY)
    assert (proposal.first_month, proposal.last_month, proposal.language) == (
        datetime.date(2024, 11, 1), datetime.date(2025, 10, 1), customer.language
    )  # fmt: skip


def test_only_those_who_make_proposals_for_the_customer_may(provider, customer, other_customer, customer_admin):
    other_manager = member(provider, Role.ACCOUNT_MANAGER)
    other_customer.account_managers.add(other_manager)

    for user in (customer_admin, other_manager):
        with pytest.raises(ValidationError):
            proposal_request(customer=customer, by=user, today=TODAY)
    assert not Proposal.objects.exists()


# --- API and portal -------------------------------------------------------------------------------------------


def test_api_requests_lists_and_downloads_a_proposal(
    api_client_for, customer, manager, floor, django_capture_on_commit_callbacks
):
    client = api_client_for(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/proposals/", {"customer": customer.pk, "first_month": "2025-10", "last_month": "2025-10"}
        )

    assert response.status_code == 201, response.content
    assert response.json()["status"] == ProposalStatus.QUEUED  # as it was when the request answered
    proposal_id = response.json()["id"]
    assert client.get(f"/api/v1/proposals/{proposal_id}/").json()["status"] == ProposalStatus.READY
    pdf = client.get(f"/api/v1/proposals/{proposal_id}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")
    assert [row["id"] for row in client.get("/api/v1/proposals/").json()["results"]] == [proposal_id]
    assert client.post("/api/v1/proposals/", {"customer": customer.pk, "last_month": "2030-01"}).status_code == 400


def test_api_refuses_proposals_to_customers_and_lists_none(api_client_for, customer_admin, customer):
    client = api_client_for(customer_admin)
    assert client.post("/api/v1/proposals/", {"customer": customer.pk}).status_code == 403
    assert client.get("/api/v1/proposals/").json()["results"] == []


def test_portal_request_list_download_and_regenerate(
    client, customer, manager, floor, django_capture_on_commit_callbacks
):
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("reports:proposal_request"),
            {"customer": customer.pk, "month_from": "2025-10", "month_to": "2025-10", "language": "ja"},
        )

    assert response.status_code == 302
    proposal = Proposal.objects.get()
    assert (proposal.status, proposal.language) == (ProposalStatus.READY, "ja")
    listing = client.get(reverse("reports:proposal_list")).content.decode()
    assert reverse("reports:proposal_pdf", args=[proposal.pk]) in listing
    download = client.get(reverse("reports:proposal_pdf", args=[proposal.pk]))
    assert download["Content-Type"] == "application/pdf"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("reports:proposal_regenerate", args=[proposal.pk]))
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.READY


def test_portal_request_shows_form_errors(client, customer, manager):
    client.force_login(manager)

    response = client.post(
        reverse("reports:proposal_request"), {"customer": customer.pk, "month_from": "2025-10", "month_to": "2025-09"}
    )

    assert response.status_code == 200
    assert "The first month must not be after the last." in response.content.decode()
    assert not Proposal.objects.exists()
