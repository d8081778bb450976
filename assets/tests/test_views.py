"""Portal pages of the asset registry: scoping, filters, sorting, CSV and query counts."""

import pytest
from django.urls import reverse

from accounts.choices import Role
from assets.tests.factories import AssetFactory, SiteFactory

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def test_asset_list_shows_only_own_organisation(client, customer_admin, asset, other_asset):
    client.force_login(customer_admin)
    response = client.get(reverse("assets:asset_list"))
    assert response.status_code == 200
    assert asset.serial_number in response.text
    assert other_asset.serial_number not in response.text


def test_asset_detail_of_other_tenant_is_404(client, customer_admin, other_asset):
    client.force_login(customer_admin)
    assert client.get(reverse("assets:asset_detail", args=[other_asset.pk])).status_code == 404


def test_asset_list_filters_by_status_and_exports_csv(client, customer_admin, customer, site):
    active = AssetFactory(customer=customer, site=site, status="active")
    retired = AssetFactory(customer=customer, site=site, status="retired")
    client.force_login(customer_admin)
    response = client.get(reverse("assets:asset_list"), {"status": "retired", "format": "csv"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert retired.serial_number in body
    assert active.serial_number not in body
    assert body.splitlines()[0].startswith("Serial number,")


def test_asset_list_htmx_request_returns_results_partial(client, customer_admin, asset):
    client.force_login(customer_admin)
    response = client.get(reverse("assets:asset_list"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="results">')
    assert asset.serial_number in response.text


def test_asset_list_sorts_descending(client, customer_admin, customer, site):
    AssetFactory(customer=customer, site=site, serial_number="A-1")
    AssetFactory(customer=customer, site=site, serial_number="Z-9")
    client.force_login(customer_admin)
    text = client.get(reverse("assets:asset_list"), {"sort": "-serial"}).text
    assert text.index("Z-9") < text.index("A-1")


@pytest.mark.parametrize("size", [5, 50])
def test_asset_list_query_count_is_constant(
    client, customer_admin, customer, site, size, django_assert_max_num_queries
):
    AssetFactory.create_batch(size, customer=customer, site=site)
    client.force_login(customer_admin)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("assets:asset_list"), {"per_page": 100})
    assert response.status_code == 200


def test_dashboard_counts_only_visible_assets(client, customer_admin, customer, site, other_asset):
    AssetFactory.create_batch(3, customer=customer, site=site)
    client.force_login(customer_admin)
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    tiles = {tile.template_name: tile.context for tile in response.context["tiles"]}
    assert tiles["assets/_dashboard_tiles.html"]["total"] == 3


def test_operator_sees_only_assets_of_their_sites(client, customer, make_member):
    own_site = SiteFactory(customer=customer)
    elsewhere = SiteFactory(customer=customer)
    mine = AssetFactory(customer=customer, site=own_site)
    not_mine = AssetFactory(customer=customer, site=elsewhere)
    operator = make_member(customer, Role.CUSTOMER_OPERATOR)
    own_site.operators.add(operator.membership)
    client.force_login(operator)
    text = client.get(reverse("assets:asset_list")).text
    assert mine.serial_number in text
    assert not_mine.serial_number not in text


def test_customer_admin_assigns_operators_to_a_site(client, customer_admin, customer, site, make_member):
    operator = make_member(customer, Role.CUSTOMER_OPERATOR)
    client.force_login(customer_admin)
    page = client.get(reverse("assets:site_detail", args=[site.pk]))
    assert operator.email in page.text
    response = client.post(reverse("assets:site_operators", args=[site.pk]), {"operators": [operator.membership.pk]})
    assert response.status_code == 302
    assert list(site.operators.all()) == [operator.membership]


def test_operators_of_another_customer_cannot_be_assigned(client, customer_admin, site, other_customer, make_member):
    stranger = make_member(other_customer, Role.CUSTOMER_OPERATOR)
    client.force_login(customer_admin)
    client.post(reverse("assets:site_operators", args=[site.pk]), {"operators": [stranger.membership.pk]})
    assert not site.operators.exists()


def test_site_operators_of_another_tenant_site_is_404(client, customer_admin, other_asset):
    client.force_login(customer_admin)
    response = client.post(reverse("assets:site_operators", args=[other_asset.site_id]), {"operators": []})
    assert response.status_code == 404


def test_customer_viewer_cannot_assign_operators(client, customer, site, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    client.force_login(viewer)
    assert client.post(reverse("assets:site_operators", args=[site.pk]), {"operators": []}).status_code == 404


def test_customer_admin_downloads_own_fleet_register_from_the_dashboard(client, customer_admin, customer, asset):
    client.force_login(customer_admin)
    register_url = reverse("assets:fleet_register_pdf", args=[customer.pk])
    assert register_url in client.get(reverse("portal:dashboard")).text
    response = client.get(register_url)
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_fleet_register_of_another_customer_is_404(client, customer_admin, other_customer):
    client.force_login(customer_admin)
    assert client.get(reverse("assets:fleet_register_pdf", args=[other_customer.pk])).status_code == 404


def test_customer_viewer_gets_no_fleet_register(client, customer, make_member):
    client.force_login(make_member(customer, Role.CUSTOMER_VIEWER))
    assert client.get(reverse("assets:fleet_register_pdf", args=[customer.pk])).status_code == 404


def test_asset_list_shows_costs_as_money_and_exports_them_plainly(client, customer_admin, asset):
    client.force_login(customer_admin)
    page = client.get(reverse("assets:asset_list"))
    assert "¥850,000" in page.text
    csv_text = b"".join(client.get(reverse("assets:asset_list"), {"format": "csv"}).streaming_content).decode()
    header, row = csv_text.lstrip("\ufeff").splitlines()[:2]
    assert header.endswith("Acquisition cost,Currency,Location")
    assert ",850000.00,JPY," in row
