"""Reads of accounts: members an admin manages, organisations with counts, and inherited settings."""

import pytest

from accounts.choices import Role
from accounts.models import OrganisationSettings
from accounts.selectors import (
    SETTING_DEFAULTS,
    customer_list,
    member_list,
    organisation_list,
    organisation_settings_effective,
)
from accounts.tests.factories import CustomerFactory, ProviderFactory, UserFactory, member
from assets.tests.factories import AssetFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(provider, customer, other_customer):
    foreign_provider = ProviderFactory(code="far", name="Far East Leasing", tax_registration_number="")
    foreign_customer = CustomerFactory(provider=foreign_provider, code="foreign")
    return {
        "provider_admin": member(provider, Role.PROVIDER_ADMIN),
        "service_desk": member(provider, Role.SERVICE_DESK),
        "account_manager": member(provider, Role.ACCOUNT_MANAGER),
        "technician": member(provider, Role.TECHNICIAN),
        "acme_admin": member(customer, Role.CUSTOMER_ADMIN),
        "acme_viewer": member(customer, Role.CUSTOMER_VIEWER),
        "acme_operator": member(customer, Role.CUSTOMER_OPERATOR),
        "other_admin": member(other_customer, Role.CUSTOMER_ADMIN),
        "foreign_admin": member(foreign_provider, Role.PROVIDER_ADMIN),
        "foreign_customer_admin": member(foreign_customer, Role.CUSTOMER_ADMIN),
    }


def emails(memberships) -> set[str]:
    return {membership.user.email for membership in memberships}


def test_member_list_of_provider_admin_covers_provider_and_its_customers_only(people):
    listed = emails(member_list(user=people["provider_admin"]))

    expected = {
        people[key].email
        for key in (
            "provider_admin",
            "service_desk",
            "account_manager",
            "technician",
            "acme_admin",
            "acme_viewer",
            "acme_operator",
            "other_admin",
        )
    }
    assert listed == expected


def test_member_list_of_customer_admin_covers_their_organisation_only(people):
    listed = emails(member_list(user=people["acme_admin"]))

    assert listed == {people[key].email for key in ("acme_admin", "acme_viewer", "acme_operator")}


@pytest.mark.parametrize("key", ["service_desk", "account_manager", "technician", "acme_viewer", "acme_operator"])
def test_member_list_is_empty_for_roles_that_do_not_manage_users(people, key):
    assert not member_list(user=people[key]).exists()


def test_member_list_is_empty_without_membership_or_when_inactive(people):
    people["acme_admin"].is_active = False

    assert not member_list(user=people["acme_admin"]).exists()
    assert not member_list(user=UserFactory()).exists()


def test_member_list_narrows_to_one_organisation(people, other_customer):
    listed = emails(member_list(user=people["provider_admin"], organisation=other_customer))

    assert listed == {people["other_admin"].email}


def test_member_list_of_customer_admin_ignores_another_organisation_asked_for(people, other_customer):
    assert not member_list(user=people["acme_admin"], organisation=other_customer).exists()


def test_organisation_list_counts_sites_and_assets(people, customer, other_customer):
    hq = SiteFactory(customer=customer)
    SiteFactory(customer=customer)
    AssetFactory.create_batch(3, customer=customer, site=hq)

    rows = {row.code: row for row in organisation_list(user=people["provider_admin"])}

    assert (rows["acme"].site_count, rows["acme"].asset_count) == (2, 3)
    assert (rows["other"].site_count, rows["other"].asset_count) == (0, 0)
    assert "foreign" not in rows


def test_customer_list_leaves_out_the_provider(people, provider):
    codes = set(customer_list(user=people["provider_admin"]).values_list("code", flat=True))

    assert codes == {"acme", "other"}


def set_settings(organisation, **values) -> None:
    OrganisationSettings.objects.update_or_create(organisation=organisation, defaults=values)


def test_effective_settings_take_the_customers_own_value_first(provider, customer):
    set_settings(provider, default_expected_life_months=72, silent_device_hours=48)
    set_settings(customer, default_expected_life_months=36, silent_device_hours=6)

    effective = organisation_settings_effective(organisation=customer)

    assert (effective.default_expected_life_months, effective.silent_device_hours) == (36, 6)


def test_effective_settings_inherit_the_providers_value_where_the_customer_has_none(provider, customer):
    set_settings(provider, default_expected_life_months=72, silent_device_hours=48)
    set_settings(customer, default_expected_life_months=None, silent_device_hours=12)

    effective = organisation_settings_effective(organisation=customer)

    assert (effective.default_expected_life_months, effective.silent_device_hours) == (72, 12)


def test_effective_settings_fall_back_to_the_built_in_defaults(provider, customer):
    set_settings(provider, default_expected_life_months=None, silent_device_hours=None)
    OrganisationSettings.objects.filter(organisation=customer).delete()

    effective = organisation_settings_effective(organisation=customer)

    assert effective.default_expected_life_months == SETTING_DEFAULTS["default_expected_life_months"] == 60
    assert effective.silent_device_hours == SETTING_DEFAULTS["silent_device_hours"] == 24


def test_effective_settings_keep_a_customers_zero(provider, customer):
    set_settings(provider, silent_device_hours=48)
    set_settings(customer, silent_device_hours=0)

    assert organisation_settings_effective(organisation=customer).silent_device_hours == 0


def test_effective_settings_of_the_provider_itself(provider, django_assert_num_queries):
    set_settings(provider, default_expected_life_months=84)

    with django_assert_num_queries(1):
        effective = organisation_settings_effective(organisation=provider)

    assert (effective.default_expected_life_months, effective.silent_device_hours) == (84, 24)
