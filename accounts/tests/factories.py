"""factory_boy factories of accounts: organisations, users and memberships."""

import factory

from accounts.choices import OrganisationKind, Role
from accounts.models import Membership, Organisation, OrganisationSettings, User

TEST_PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - test fixture


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    kind = OrganisationKind.PROVIDER
    name = "Nihon Fleet Services"
    code = "nfs"
    country = "JP"
    city = "Tokyo"
    tax_registration_number = "T5835678256246"
    settings = factory.RelatedFactory("accounts.tests.factories.OrganisationSettingsFactory", "organisation")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        skip_postgeneration_save = True

    kind = OrganisationKind.CUSTOMER
    provider = factory.SubFactory(ProviderFactory)
    name = factory.Sequence(lambda n: f"Customer {n} KK")
    code = factory.Sequence(lambda n: f"customer-{n}")
    country = "JP"
    city = "Osaka"
    settings = factory.RelatedFactory("accounts.tests.factories.OrganisationSettingsFactory", "organisation")


class OrganisationSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganisationSettings
        django_get_or_create = ("organisation",)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = "Hanako"
    last_name = factory.Sequence(lambda n: f"Sato{n}")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(CustomerFactory)
    role = Role.CUSTOMER_ADMIN


def member(organisation: Organisation, role: str, **user_fields) -> User:
    """A user with ``role`` in ``organisation``."""
    return MembershipFactory(organisation=organisation, role=role, user=UserFactory(**user_fields)).user
