"""Every portal list page keeps a constant number of queries as its rows grow (no N+1)."""

import pytest
from django.urls import reverse

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, member
from assets.tests.factories import AssetFactory, SiteFactory

pytestmark = pytest.mark.django_db

MAX_QUERIES = 14


def _populate(provider, size: int):
    """``size`` customers, each with a site, an asset and a user."""
    for _ in range(size):
        customer = CustomerFactory(provider=provider)
        site = SiteFactory(customer=customer)
        AssetFactory(customer=customer, site=site)
        member(customer, Role.CUSTOMER_VIEWER)


LIST_PAGES = ["assets:asset_list", "assets:site_list", "accounts:organisation_list", "accounts:member_list"]


@pytest.mark.parametrize("url_name", LIST_PAGES)
@pytest.mark.parametrize("size", [5, 50])
def test_list_page_query_count_is_constant(
    client, provider, provider_admin, url_name, size, django_assert_max_num_queries
):
    _populate(provider, size)
    client.force_login(provider_admin)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse(url_name), {"per_page": 100})
    assert response.status_code == 200
    assert len(response.context["rows"]) >= size


@pytest.mark.parametrize("url_name", LIST_PAGES)
def test_list_page_csv_export_has_a_row_per_object(client, provider, provider_admin, url_name):
    _populate(provider, 3)
    client.force_login(provider_admin)
    response = client.get(reverse(url_name), {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode("utf-8-sig").strip().splitlines()
    listed = client.get(reverse(url_name)).context["page_obj"].paginator.count
    assert len(lines) == listed + 1  # header


def test_list_page_rejects_bad_filter_values_with_a_message(client, customer_admin):
    client.force_login(customer_admin)
    response = client.get(reverse("assets:asset_list"), {"status": "exploded", "site": "not-a-number"})
    assert response.status_code == 200
    assert response.context["page_obj"].paginator.count == 0
    assert response.context["filterset"].errors


def test_list_page_ignores_unknown_sort_keys(client, customer_admin, asset):
    client.force_login(customer_admin)
    response = client.get(reverse("assets:asset_list"), {"sort": "password"})
    assert response.status_code == 200
    assert response.context["sort"] == "serial"


def test_list_page_per_page_is_capped(client, customer_admin, customer, site, settings):
    settings.PORTAL_MAX_PAGE_SIZE = 3
    AssetFactory.create_batch(5, customer=customer, site=site)
    client.force_login(customer_admin)
    response = client.get(reverse("assets:asset_list"), {"per_page": 1000})
    assert len(response.context["rows"]) == 3


def test_large_site_select_narrows_to_the_chosen_customer(client, provider, provider_admin, monkeypatch):
    monkeypatch.setattr("fleet.filters.MAX_RENDERED_CHOICES", 2)
    first, second = CustomerFactory(provider=provider), CustomerFactory(provider=provider)
    first_sites = SiteFactory.create_batch(2, customer=first)
    second_site = SiteFactory(customer=second)
    AssetFactory(customer=second, site=second_site, serial_number="ONLY-AT-SECOND")
    client.force_login(provider_admin)

    unfiltered = client.get(reverse("assets:asset_list"))
    assert [value for value, _ in unfiltered.context["filterset"].form.fields["site"].widget.choices] == [""]

    narrowed = client.get(reverse("assets:asset_list"), {"customer": first.pk})
    shown = [value for value, _ in narrowed.context["filterset"].form.fields["site"].widget.choices]
    assert shown == ["", *sorted(site.pk for site in first_sites)]

    # What the select shows does not limit what the filter accepts.
    by_site = client.get(reverse("assets:asset_list"), {"site": second_site.pk})
    assert "ONLY-AT-SECOND" in by_site.text


def test_customer_users_get_no_customer_filter(client, customer_admin, provider_admin):
    client.force_login(customer_admin)
    assert "customer" not in client.get(reverse("assets:asset_list")).context["filterset"].form.fields
    client.force_login(provider_admin)
    assert "customer" in client.get(reverse("assets:asset_list")).context["filterset"].form.fields
