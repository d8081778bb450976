"""Fixtures shared by every app's tests: a provider, two customers and users of every role."""

import shutil

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets.tests.factories import AssetFactory, SiteFactory

pytest_plugins = ["fleet.testing.browser"]


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on SQLite, and browser tests where Chromium is not installed."""
    from django.db import connection

    on_postgres = connection.vendor == "postgresql"
    has_chromium = shutil.which("chromium") is not None
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(pytest.mark.skip(reason="needs Debian's chromium"))


@pytest.fixture
def provider(db):
    return ProviderFactory()


@pytest.fixture
def customer(provider):
    return CustomerFactory(provider=provider, name="Acme Office KK", code="acme")


@pytest.fixture
def other_customer(provider):
    return CustomerFactory(provider=provider, name="Other Logistics KK", code="other")


@pytest.fixture
def make_member():
    return member


@pytest.fixture
def provider_admin(provider):
    return member(provider, Role.PROVIDER_ADMIN, email="admin@provider.example")


@pytest.fixture
def customer_admin(customer):
    return member(customer, Role.CUSTOMER_ADMIN, email="admin@acme.example")


@pytest.fixture
def other_admin(other_customer):
    return member(other_customer, Role.CUSTOMER_ADMIN, email="admin@other.example")


@pytest.fixture
def site(customer):
    return SiteFactory(customer=customer, name="Tokyo HQ")


@pytest.fixture
def asset(customer, site):
    return AssetFactory(customer=customer, site=site)


@pytest.fixture
def other_asset(other_customer):
    return AssetFactory(customer=other_customer)


@pytest.fixture
def api_client_for():
    """An API client authenticated with a real token of the given user."""

    def make(user):
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
