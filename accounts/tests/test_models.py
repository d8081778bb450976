"""Models of accounts: the registration-number rule, the organisation invariants and e-mail users."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts.choices import OrganisationKind
from accounts.models import Organisation, User
from accounts.tests.factories import CustomerFactory
from accounts.validators import INVALID_JP_REGISTRATION_NUMBER

pytestmark = pytest.mark.django_db

VALID_NUMBER = "T5835678256246"  # a corporate number with a valid check digit


@pytest.mark.parametrize("number", [VALID_NUMBER, "T7123456789012", "T7000012050002"])
def test_japanese_registration_number_with_valid_check_digit_is_accepted(provider, number):
    organisation = CustomerFactory.build(provider=provider, country="JP", tax_registration_number=number)

    organisation.full_clean()


@pytest.mark.parametrize(
    "number",
    [
        "T5835678256247",  # wrong check digit
        "5835678256246",  # no T
        "t5835678256246",  # lower-case t
        "T583567825624",  # 12 digits
        "T58356782562460",  # 14 digits
        "TX835678256246",  # not a digit
        "T5-8356-7825-6246",  # separators are not part of the number printed on invoices
        "T5835 678256246",
        "T５８３５６７８２５６２４６",  # full-width digits
        " T5835678256246",
    ],
)
def test_japanese_registration_number_is_rejected_unless_t_and_13_digits_with_check_digit(provider, number):
    organisation = CustomerFactory.build(provider=provider, country="JP", tax_registration_number=number)

    with pytest.raises(ValidationError) as error:
        organisation.full_clean()

    assert error.value.message_dict["tax_registration_number"] == [str(INVALID_JP_REGISTRATION_NUMBER)]


def test_registration_number_outside_japan_is_not_checked_against_the_japanese_rule(provider):
    organisation = CustomerFactory.build(provider=provider, country="DE", tax_registration_number="DE123456789")

    organisation.full_clean()


def test_empty_registration_number_is_allowed(provider):
    CustomerFactory.build(provider=provider, country="JP", tax_registration_number="").full_clean()


def test_country_must_be_an_iso_code(provider):
    organisation = CustomerFactory.build(provider=provider, country="jp")

    with pytest.raises(ValidationError) as error:
        organisation.full_clean()

    assert "country" in error.value.message_dict


def test_database_refuses_a_customer_without_provider():
    with pytest.raises(IntegrityError):
        Organisation.objects.create(kind=OrganisationKind.CUSTOMER, name="Orphan KK", code="orphan")


def test_database_refuses_a_provider_with_a_provider(provider):
    with pytest.raises(IntegrityError):
        Organisation.objects.create(kind=OrganisationKind.PROVIDER, name="Sub", code="sub", provider=provider)


def test_address_lines_skip_empty_parts(provider):
    organisation = CustomerFactory.build(
        provider=provider, address_line1="1-2-3 Marunouchi", postal_code="100-0005", city="Chiyoda-ku", region=""
    )

    assert organisation.address_lines == ["1-2-3 Marunouchi", "100-0005 Chiyoda-ku", "JP"]


def test_users_sign_in_by_lower_cased_e_mail():
    user = User.objects.create_user("Hanako.Sato@Example.COM", password="a-long-enough-passphrase")

    assert user.email == "hanako.sato@example.com"
    assert user.check_password("a-long-enough-passphrase")
    assert User.USERNAME_FIELD == "email"


def test_user_without_password_cannot_sign_in_with_any():
    user = User.objects.create_user("invited@example.com")

    assert not user.has_usable_password()


def test_superuser_is_staff():
    user = User.objects.create_superuser("root@example.com", password="a-long-enough-passphrase")

    assert user.is_staff and user.is_superuser


def test_user_needs_an_e_mail_address():
    with pytest.raises(ValueError):
        User.objects.create_user("")
