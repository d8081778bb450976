"""Users of the contracts app's tests, one per role that the contract and billing pages and API tell apart."""

import pytest

from accounts.choices import Role
from accounts.tests.factories import member


@pytest.fixture
def account_manager(provider, customer):
    user = member(provider, Role.ACCOUNT_MANAGER, email="am@provider.example")
    customer.account_managers.add(user)
    return user


@pytest.fixture
def other_manager(provider, other_customer):
    user = member(provider, Role.ACCOUNT_MANAGER, email="am2@provider.example")
    other_customer.account_managers.add(user)
    return user


@pytest.fixture
def service_desk(provider):
    return member(provider, Role.SERVICE_DESK, email="desk@provider.example")


@pytest.fixture
def technician(provider):
    return member(provider, Role.TECHNICIAN, email="tech@provider.example")


@pytest.fixture
def viewer(customer):
    return member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")


@pytest.fixture
def operator(customer, site):
    user = member(customer, Role.CUSTOMER_OPERATOR, email="op@acme.example")
    site.operators.add(user.membership)
    return user
