"""Business operations of accounts: organisations, users, roles and deactivation, with their permissions."""

import pytest
from django.core.exceptions import ValidationError

from accounts.choices import OrganisationKind, Role
from accounts.models import Membership, Organisation, OrganisationSettings, User
from accounts.services import (
    CANNOT_DEACTIVATE_SELF,
    EMAIL_TAKEN,
    NOT_ALLOWED_TO_MANAGE_USERS,
    PROVIDER_REQUIRED,
    ROLE_NOT_FOR_ORGANISATION,
    membership_change_role,
    organisation_create,
    user_create,
    user_set_active,
)
from accounts.tests.factories import CustomerFactory, ProviderFactory
from accounts.validators import INVALID_JP_REGISTRATION_NUMBER
from assets.tests.factories import SiteFactory
from fleet.tenancy import access_for

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "plum-blossom-kettle-41"


def test_organisation_create_makes_a_customer_with_an_empty_settings_row(provider):
    organisation = organisation_create(
        kind=OrganisationKind.CUSTOMER, name="Kansai Print KK", code="kp", provider=provider
    )

    assert organisation.provider == provider
    assert OrganisationSettings.objects.get(organisation=organisation).default_expected_life_months is None


def test_organisation_create_refuses_a_customer_without_provider():
    with pytest.raises(ValidationError) as error:
        organisation_create(kind=OrganisationKind.CUSTOMER, name="Orphan KK", code="orphan")

    assert error.value.message_dict == {"provider": [str(PROVIDER_REQUIRED)]}
    assert not Organisation.objects.filter(code="orphan").exists()


def test_organisation_create_validates_the_registration_number(provider):
    with pytest.raises(ValidationError) as error:
        organisation_create(
            kind=OrganisationKind.CUSTOMER,
            name="Typo KK",
            code="typo",
            provider=provider,
            country="JP",
            tax_registration_number="T5835678256247",
        )

    assert error.value.message_dict["tax_registration_number"] == [str(INVALID_JP_REGISTRATION_NUMBER)]
    assert not OrganisationSettings.objects.filter(organisation__code="typo").exists()


def test_user_create_with_password_validates_it_and_signs_in_by_e_mail(customer):
    user = user_create(
        organisation=customer, email="Taro@Acme.Example", role=Role.CUSTOMER_VIEWER, password=STRONG_PASSWORD
    )

    assert user.email == "taro@acme.example"
    assert user.check_password(STRONG_PASSWORD)
    assert user.membership.organisation == customer
    assert user.membership.role == Role.CUSTOMER_VIEWER


def test_user_create_refuses_a_password_shorter_than_twelve_characters(customer):
    with pytest.raises(ValidationError) as error:
        user_create(
            organisation=customer, email="short@acme.example", role=Role.CUSTOMER_VIEWER, password="k8#Lm2$pQz1"
        )

    assert "password" in error.value.message_dict
    assert not User.objects.filter(email="short@acme.example").exists()


def test_user_create_without_password_leaves_it_unusable(customer):
    user = user_create(organisation=customer, email="invited@acme.example", role=Role.CUSTOMER_VIEWER)

    assert not user.has_usable_password()


def test_user_create_refuses_a_provider_role_in_a_customer(customer):
    with pytest.raises(ValidationError) as error:
        user_create(organisation=customer, email="x@acme.example", role=Role.PROVIDER_ADMIN)

    assert error.value.message_dict == {"role": [str(ROLE_NOT_FOR_ORGANISATION)]}


def test_user_create_refuses_a_customer_role_in_the_provider(provider):
    with pytest.raises(ValidationError) as error:
        user_create(organisation=provider, email="x@provider.example", role=Role.CUSTOMER_ADMIN)

    assert error.value.message_dict == {"role": [str(ROLE_NOT_FOR_ORGANISATION)]}


def test_user_create_refuses_a_taken_e_mail_in_any_case(customer, other_admin):
    with pytest.raises(ValidationError) as error:
        user_create(organisation=customer, email="ADMIN@other.example", role=Role.CUSTOMER_VIEWER)

    assert error.value.message_dict == {"email": [str(EMAIL_TAKEN)]}


def test_user_create_assigns_an_operator_only_to_sites_of_their_organisation(customer, other_customer):
    own = SiteFactory(customer=customer)
    foreign = SiteFactory(customer=other_customer)

    user = user_create(
        organisation=customer, email="op@acme.example", role=Role.CUSTOMER_OPERATOR, site_ids=[own.pk, foreign.pk]
    )

    assert list(user.membership.sites.all()) == [own]


def test_customer_admin_may_add_users_to_their_own_organisation(customer, customer_admin):
    user = user_create(organisation=customer, email="new@acme.example", role=Role.CUSTOMER_VIEWER, by=customer_admin)

    assert user.membership.organisation == customer


def test_customer_admin_may_not_add_users_to_another_organisation(other_customer, customer_admin):
    with pytest.raises(ValidationError) as error:
        user_create(organisation=other_customer, email="x@other.example", role=Role.CUSTOMER_VIEWER, by=customer_admin)

    assert error.value.messages == [str(NOT_ALLOWED_TO_MANAGE_USERS)]


def test_provider_admin_may_add_users_to_its_customers(customer, provider_admin):
    user = user_create(organisation=customer, email="new@acme.example", role=Role.CUSTOMER_ADMIN, by=provider_admin)

    assert user.membership.role == Role.CUSTOMER_ADMIN


def test_provider_admin_may_not_add_users_to_another_providers_customer(provider_admin):
    foreign = CustomerFactory(provider=ProviderFactory(code="far", name="Far East Leasing"))

    with pytest.raises(ValidationError):
        user_create(organisation=foreign, email="x@far.example", role=Role.CUSTOMER_VIEWER, by=provider_admin)


@pytest.mark.parametrize(
    ("organisation_fixture", "role"),
    [
        ("provider", Role.SERVICE_DESK),
        ("provider", Role.ACCOUNT_MANAGER),
        ("provider", Role.TECHNICIAN),
        ("customer", Role.CUSTOMER_VIEWER),
        ("customer", Role.CUSTOMER_OPERATOR),
    ],
)
def test_roles_without_user_management_may_not_add_users(request, customer, organisation_fixture, role, make_member):
    by = make_member(request.getfixturevalue(organisation_fixture), role)

    with pytest.raises(ValidationError) as error:
        user_create(organisation=customer, email="x@acme.example", role=Role.CUSTOMER_VIEWER, by=by)

    assert error.value.messages == [str(NOT_ALLOWED_TO_MANAGE_USERS)]


def test_membership_change_role_takes_effect_for_the_changed_user(customer, customer_admin, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    assert access_for(viewer).role == Role.CUSTOMER_VIEWER

    membership_change_role(membership=viewer.membership, role=Role.CUSTOMER_ADMIN, by=customer_admin)

    assert Membership.objects.get(user=viewer).role == Role.CUSTOMER_ADMIN
    assert access_for(viewer).role == Role.CUSTOMER_ADMIN


def test_membership_change_role_refuses_a_provider_role_for_a_customer(customer, customer_admin, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)

    with pytest.raises(ValidationError) as error:
        membership_change_role(membership=viewer.membership, role=Role.PROVIDER_ADMIN, by=customer_admin)

    assert error.value.message_dict == {"role": [str(ROLE_NOT_FOR_ORGANISATION)]}
    assert Membership.objects.get(user=viewer).role == Role.CUSTOMER_VIEWER


def test_user_set_active_deactivates_and_reactivates(customer, customer_admin, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)

    user_set_active(user=viewer, active=False, by=customer_admin)
    assert not User.objects.get(pk=viewer.pk).is_active
    assert access_for(User.objects.get(pk=viewer.pk)) is None

    user_set_active(user=viewer, active=True, by=customer_admin)
    assert User.objects.get(pk=viewer.pk).is_active


def test_user_set_active_refuses_to_deactivate_oneself(customer_admin):
    with pytest.raises(ValidationError) as error:
        user_set_active(user=customer_admin, active=False, by=customer_admin)

    assert error.value.messages == [str(CANNOT_DEACTIVATE_SELF)]
    assert User.objects.get(pk=customer_admin.pk).is_active


def test_user_set_active_refuses_another_organisations_user(customer_admin, other_admin):
    with pytest.raises(ValidationError) as error:
        user_set_active(user=other_admin, active=False, by=customer_admin)

    assert error.value.messages == [str(NOT_ALLOWED_TO_MANAGE_USERS)]
    assert User.objects.get(pk=other_admin.pk).is_active
