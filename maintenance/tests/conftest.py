"""Fixtures of the maintenance tests: dispatching staff and technicians of the provider."""

import pytest

from accounts.choices import Role


@pytest.fixture
def service_desk(provider, make_member):
    return make_member(provider, Role.SERVICE_DESK, email="desk@provider.example")


@pytest.fixture
def technician(provider, make_member):
    return make_member(provider, Role.TECHNICIAN, email="tech@provider.example")


@pytest.fixture
def other_technician(provider, make_member):
    return make_member(provider, Role.TECHNICIAN, email="tech2@provider.example")
