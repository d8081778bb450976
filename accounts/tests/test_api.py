"""API v1 of accounts: token sign-in, authentication answers, and the scoped organisation list."""

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.choices import OrganisationKind, Role
from accounts.tests.factories import TEST_PASSWORD, CustomerFactory, ProviderFactory, UserFactory
from assets.tests.factories import AssetFactory, SiteFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
ORGANISATIONS = "/api/v1/organisations/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """The token endpoint's throttle counts live in the cache; each test starts without any."""
    cache.clear()
    yield
    cache.clear()


# Token sign-in


def test_token_is_issued_for_email_and_password_and_authenticates(customer_admin, asset):
    response = APIClient().post(TOKEN, {"username": "admin@acme.example", "password": TEST_PASSWORD})
    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user=customer_admin).key == key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert ids(client.get("/api/v1/assets/")) == [asset.pk]


def test_token_request_returns_the_same_token_twice(customer_admin):
    client = APIClient()
    first = client.post(TOKEN, {"username": "admin@acme.example", "password": TEST_PASSWORD}).json()["token"]
    second = client.post(TOKEN, {"username": "admin@acme.example", "password": TEST_PASSWORD}).json()["token"]
    assert first == second
    assert Token.objects.count() == 1


def test_token_request_with_a_wrong_password_is_400_and_issues_nothing(customer_admin):
    response = APIClient().post(TOKEN, {"username": "admin@acme.example", "password": "not-the-password"})
    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]
    assert not Token.objects.exists()


def test_token_request_names_missing_fields(db):
    response = APIClient().post(TOKEN, {})
    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


def test_token_request_for_an_inactive_user_is_400(customer_admin):
    customer_admin.is_active = False
    customer_admin.save(update_fields=["is_active"])
    response = APIClient().post(TOKEN, {"username": "admin@acme.example", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert not Token.objects.exists()


def test_token_request_with_a_nul_byte_is_400(db):
    response = APIClient().post(TOKEN, {"username": "admin\x00@acme.example", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "username" in response.json()


def test_repeated_failed_token_requests_lock_the_address_out(customer_admin, settings):
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(TOKEN, {"username": "admin@acme.example", "password": "not-the-password"})
    response = client.post(TOKEN, {"username": "admin@acme.example", "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert not Token.objects.exists()


# Authentication answers


def test_api_without_credentials_is_401_with_the_token_scheme(db):
    response = APIClient().get(ORGANISATIONS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_api_with_an_unknown_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert client.get(ORGANISATIONS).status_code == 401


def test_a_user_without_membership_is_refused(api_client_for):
    assert api_client_for(UserFactory()).get(ORGANISATIONS).status_code == 403


def test_a_method_the_endpoint_does_not_offer_is_405(api_client_for, provider_admin, customer):
    client = api_client_for(provider_admin)
    assert client.post(ORGANISATIONS, {"name": "New"}).status_code == 405
    assert client.delete(f"{ORGANISATIONS}{customer.pk}/").status_code == 405


# Organisations


def test_provider_admin_sees_the_provider_and_its_customers(
    api_client_for, provider, provider_admin, customer, other_customer
):
    elsewhere = CustomerFactory(provider=ProviderFactory(code="p2", name="Second Fleet Services"))
    listed = ids(api_client_for(provider_admin).get(ORGANISATIONS))
    assert set(listed) == {provider.pk, customer.pk, other_customer.pk}
    assert elsewhere.pk not in listed


def test_customer_admin_sees_only_the_own_organisation(api_client_for, customer_admin, customer, other_customer):
    assert ids(api_client_for(customer_admin).get(ORGANISATIONS)) == [customer.pk]


def test_account_manager_sees_the_provider_and_the_assigned_customers(
    api_client_for, make_member, provider, customer, other_customer
):
    manager = make_member(provider, Role.ACCOUNT_MANAGER)
    customer.account_managers.add(manager)
    assert set(ids(api_client_for(manager).get(ORGANISATIONS))) == {provider.pk, customer.pk}


def test_organisation_detail_of_another_customer_is_404(api_client_for, customer_admin, other_customer):
    assert api_client_for(customer_admin).get(f"{ORGANISATIONS}{other_customer.pk}/").status_code == 404


def test_organisation_detail_counts_sites_and_assets(api_client_for, provider_admin, customer, site):
    SiteFactory(customer=customer)
    AssetFactory.create_batch(3, customer=customer, site=site)
    body = api_client_for(provider_admin).get(f"{ORGANISATIONS}{customer.pk}/").json()
    assert (body["name"], body["kind"], body["site_count"], body["asset_count"]) == (
        "Acme Office KK",
        OrganisationKind.CUSTOMER,
        2,
        3,
    )


def test_organisation_list_filters_by_kind_and_search(api_client_for, provider, provider_admin, customer):
    client = api_client_for(provider_admin)
    assert ids(client.get(ORGANISATIONS, {"kind": OrganisationKind.PROVIDER})) == [provider.pk]
    assert ids(client.get(ORGANISATIONS, {"q": "acme"})) == [customer.pk]


def test_organisation_search_with_a_nul_byte_is_400(api_client_for, provider_admin):
    response = api_client_for(provider_admin).get(ORGANISATIONS, {"q": "acme\x00"})
    assert response.status_code == 400
    assert list(response.json()) == ["q"]


def test_organisation_list_orders_by_the_requested_field(api_client_for, provider_admin, customer, other_customer):
    client = api_client_for(provider_admin)
    params = {"kind": OrganisationKind.CUSTOMER}
    assert ids(client.get(ORGANISATIONS, {**params, "ordering": "name"})) == [customer.pk, other_customer.pk]
    assert ids(client.get(ORGANISATIONS, {**params, "ordering": "-name"})) == [other_customer.pk, customer.pk]


def test_organisation_list_paginates(api_client_for, provider, provider_admin):
    CustomerFactory.create_batch(4, provider=provider)
    body = api_client_for(provider_admin).get(ORGANISATIONS, {"page_size": 2, "page": 3}).json()
    assert body["count"] == 5  # the provider and four customers
    assert len(body["results"]) == 1
    assert body["next"] is None


@pytest.mark.parametrize("size", [5, 50])
def test_organisation_list_query_count_does_not_grow_with_rows(
    api_client_for, provider, provider_admin, size, django_assert_max_num_queries
):
    for customer in CustomerFactory.create_batch(size, provider=provider):
        AssetFactory(customer=customer)
    client = api_client_for(provider_admin)
    with django_assert_max_num_queries(4):
        response = client.get(ORGANISATIONS, {"page_size": 100})
    assert len(response.json()["results"]) == size + 1
