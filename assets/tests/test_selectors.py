"""Reads of the asset registry: dashboard figures and site lists, scoped to the user."""

import pytest

from accounts.choices import Role
from assets.choices import AssetCategory, AssetStatus
from assets.selectors import DASHBOARD_SITES, asset_counts, asset_history, asset_list, site_list
from assets.services import asset_change_status
from assets.tests.factories import AssetFactory, AssetModelFactory, ManufacturerFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(customer, other_customer):
    """Acme: five assets at two sites (one retired, two forklifts); Other: one asset."""
    mfp = AssetModelFactory(manufacturer=ManufacturerFactory(name="Ricoh"), category=AssetCategory.MFP)
    forklift = AssetModelFactory(manufacturer=ManufacturerFactory(name="Toyota"), category=AssetCategory.FORKLIFT)
    hq = SiteFactory(customer=customer, name="Tokyo HQ")
    depot = SiteFactory(customer=customer, name="Chiba depot")
    AssetFactory(customer=customer, site=hq, asset_model=mfp, status=AssetStatus.ACTIVE)
    AssetFactory(customer=customer, site=hq, asset_model=mfp, status=AssetStatus.ACTIVE)
    AssetFactory(customer=customer, site=hq, asset_model=mfp, status=AssetStatus.RETIRED)
    AssetFactory(customer=customer, site=depot, asset_model=forklift, status=AssetStatus.IN_REPAIR)
    AssetFactory(customer=customer, site=depot, asset_model=forklift, status=AssetStatus.STANDBY)
    AssetFactory(customer=other_customer, asset_model=mfp, status=AssetStatus.ACTIVE)
    return {"hq": hq, "depot": depot}


def test_asset_counts_for_a_customer_admin(fleet, customer_admin, django_assert_num_queries):
    with django_assert_num_queries(4):  # the user's access, then status, category and site
        counts = asset_counts(user=customer_admin)

    assert counts["total"] == 5
    assert counts["by_status"] == {
        AssetStatus.ACTIVE: 2,
        AssetStatus.RETIRED: 1,
        AssetStatus.IN_REPAIR: 1,
        AssetStatus.STANDBY: 1,
    }
    assert counts["by_category"] == {AssetCategory.MFP: 3, AssetCategory.FORKLIFT: 2}
    assert [(row["site__name"], row["customer__name"], row["n"]) for row in counts["by_site"]] == [
        ("Tokyo HQ", "Acme Office KK", 3),
        ("Chiba depot", "Acme Office KK", 2),
    ]


def test_asset_counts_for_the_provider_cover_every_customer(fleet, provider_admin):
    counts = asset_counts(user=provider_admin)

    assert counts["total"] == 6
    assert counts["by_status"][AssetStatus.ACTIVE] == 3
    assert sum(row["n"] for row in counts["by_site"]) == 6


def test_asset_counts_for_an_operator_cover_their_sites(fleet, customer, make_member):
    operator = make_member(customer, Role.CUSTOMER_OPERATOR)
    fleet["depot"].operators.add(operator.membership)

    counts = asset_counts(user=operator)

    assert counts["total"] == 2
    assert counts["by_category"] == {AssetCategory.FORKLIFT: 2}


def test_asset_counts_without_access_are_zero(fleet, make_member, customer):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER, is_active=False)

    assert asset_counts(user=viewer) == {"total": 0, "by_status": {}, "by_category": {}, "by_site": []}


def test_asset_counts_list_at_most_the_busiest_sites(customer, customer_admin):
    sites = SiteFactory.create_batch(DASHBOARD_SITES + 2, customer=customer)
    for site in sites:
        AssetFactory(customer=customer, site=site)
    AssetFactory(customer=customer, site=sites[-1])

    by_site = asset_counts(user=customer_admin)["by_site"]

    assert len(by_site) == DASHBOARD_SITES
    assert by_site[0]["site_id"] == sites[-1].pk


def test_site_list_counts_assets_that_are_not_retired(fleet, customer_admin):
    counts = {site.name: site.asset_count for site in site_list(user=customer_admin)}

    assert counts == {"Tokyo HQ": 2, "Chiba depot": 2}


def test_site_list_counts_an_asset_retired_later_out(fleet, customer_admin):
    hq_asset = fleet["hq"].assets.filter(status=AssetStatus.ACTIVE).first()

    asset_change_status(asset=hq_asset, status=AssetStatus.RETIRED)

    assert {site.name: site.asset_count for site in site_list(user=customer_admin)}["Tokyo HQ"] == 1


def test_site_list_shows_a_site_without_assets_with_zero(customer, customer_admin):
    SiteFactory(customer=customer, name="Empty annex")

    assert [(site.name, site.asset_count) for site in site_list(user=customer_admin)] == [("Empty annex", 0)]


def test_site_list_is_scoped_to_the_user(fleet, other_admin):
    assert [site.customer.name for site in site_list(user=other_admin)] == ["Other Logistics KK"]


@pytest.mark.parametrize("size", [3, 30])
def test_asset_list_reads_related_rows_in_one_query(customer, site, customer_admin, size, django_assert_num_queries):
    AssetFactory.create_batch(size, customer=customer, site=site)

    with django_assert_num_queries(2):  # the user's access and the list
        rows = [
            (a.customer.name, a.site.name, a.asset_model.name, a.manufacturer.name)
            for a in asset_list(user=customer_admin)
        ]

    assert len(rows) == size


def test_asset_history_is_newest_first(asset):
    asset_change_status(asset=asset, status=AssetStatus.STANDBY)
    asset_change_status(asset=asset, status=AssetStatus.ACTIVE)

    assert [event.to_status for event in asset_history(asset=asset)] == [AssetStatus.ACTIVE, AssetStatus.STANDBY]
