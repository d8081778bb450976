"""Tenancy: what ``visible_to(user)`` returns for every role of the permission table (DESIGN.md §3)."""

import datetime
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q

from accounts.choices import Role
from accounts.models import Organisation, User
from accounts.tests.factories import CustomerFactory, ProviderFactory, UserFactory, member
from assets.models import Asset, AssetEvent, Site
from assets.tests.factories import AssetFactory, SiteFactory
from fleet import tenancy
from fleet.tenancy import access_for, forget_access, register_technician_scope

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def world(provider, customer, other_customer):
    """Provider "nfs" with customers acme (two sites) and other; a second provider "far" with one customer."""
    foreign_provider = ProviderFactory(code="far", name="Far East Leasing", tax_registration_number="")
    foreign_customer = CustomerFactory(provider=foreign_provider, name="Foreign Trading KK", code="foreign")
    sites = {
        "acme-hq": SiteFactory(customer=customer, name="Tokyo HQ"),
        "acme-depot": SiteFactory(customer=customer, name="Chiba depot"),
        "other-hq": SiteFactory(customer=other_customer, name="Osaka HQ"),
        "foreign-hq": SiteFactory(customer=foreign_customer, name="Nagoya HQ"),
    }
    assets = {
        "acme-hq-1": AssetFactory(customer=customer, site=sites["acme-hq"]),
        "acme-hq-2": AssetFactory(customer=customer, site=sites["acme-hq"]),
        "acme-depot-1": AssetFactory(customer=customer, site=sites["acme-depot"]),
        "other-hq-1": AssetFactory(customer=other_customer, site=sites["other-hq"]),
        "foreign-hq-1": AssetFactory(customer=foreign_customer, site=sites["foreign-hq"]),
    }
    organisations = {
        "nfs": provider,
        "acme": customer,
        "other": other_customer,
        "far": foreign_provider,
        "foreign": foreign_customer,
    }
    return SimpleNamespace(organisations=organisations, sites=sites, assets=assets)


def keys(queryset, named: dict) -> set[str]:
    by_pk = {obj.pk: key for key, obj in named.items()}
    return {by_pk[pk] for pk in queryset.values_list("pk", flat=True)}


def visible(world, user) -> tuple[set[str], set[str], set[str]]:
    return (
        keys(Asset.objects.visible_to(user), world.assets),
        keys(Site.objects.visible_to(user), world.sites),
        keys(Organisation.objects.visible_to(user), world.organisations),
    )


ALL_NFS_ASSETS = {"acme-hq-1", "acme-hq-2", "acme-depot-1", "other-hq-1"}
ALL_NFS_SITES = {"acme-hq", "acme-depot", "other-hq"}
ACME_ASSETS = {"acme-hq-1", "acme-hq-2", "acme-depot-1"}
ACME_SITES = {"acme-hq", "acme-depot"}


@pytest.mark.parametrize("role", [Role.PROVIDER_ADMIN, Role.SERVICE_DESK])
def test_provider_admin_and_service_desk_see_every_customer_of_their_provider_only(world, role):
    user = member(world.organisations["nfs"], role)

    assets, sites, organisations = visible(world, user)

    assert assets == ALL_NFS_ASSETS
    assert sites == ALL_NFS_SITES
    assert organisations == {"nfs", "acme", "other"}


def test_provider_admin_of_another_provider_sees_only_its_own_customers(world):
    user = member(world.organisations["far"], Role.PROVIDER_ADMIN)

    assert visible(world, user) == ({"foreign-hq-1"}, {"foreign-hq"}, {"far", "foreign"})


def test_account_manager_sees_only_assigned_customers(world):
    user = member(world.organisations["nfs"], Role.ACCOUNT_MANAGER)
    world.organisations["acme"].account_managers.add(user)

    assert visible(world, user) == (ACME_ASSETS, ACME_SITES, {"nfs", "acme"})


def test_account_manager_without_assignments_sees_only_their_own_organisation(world):
    user = member(world.organisations["nfs"], Role.ACCOUNT_MANAGER)

    assert visible(world, user) == (set(), set(), {"nfs"})


def test_account_manager_assigned_to_another_providers_customer_still_sees_nothing_of_it(world):
    user = member(world.organisations["nfs"], Role.ACCOUNT_MANAGER)
    world.organisations["foreign"].account_managers.add(user)

    assert visible(world, user) == (set(), set(), {"nfs"})


@pytest.fixture
def restore_technician_scopes():
    saved = dict(tenancy._technician_scopes)
    yield
    tenancy._technician_scopes.clear()
    tenancy._technician_scopes.update(saved)


def test_technician_sees_no_assets_or_sites_without_a_registered_scope(world, restore_technician_scopes):
    tenancy._technician_scopes.pop(Asset._meta.label, None)
    tenancy._technician_scopes.pop(Site._meta.label, None)
    user = member(world.organisations["nfs"], Role.TECHNICIAN)

    assert visible(world, user) == (set(), set(), {"nfs"})


def test_register_technician_scope_decides_what_a_technician_sees(world, restore_technician_scopes):
    technician = member(world.organisations["nfs"], Role.TECHNICIAN)
    colleague = member(world.organisations["nfs"], Role.TECHNICIAN)
    assigned = {technician.pk: [world.assets["other-hq-1"].pk, world.assets["foreign-hq-1"].pk]}

    register_technician_scope(Asset, lambda user_id: Q(pk__in=assigned.get(user_id, [])))
    register_technician_scope(Site, lambda user_id: Q(assets__pk__in=assigned.get(user_id, [])))

    # The registered scope is the whole rule for technicians: it is trusted as given.
    assert keys(Asset.objects.visible_to(technician), world.assets) == {"other-hq-1", "foreign-hq-1"}
    assert keys(Site.objects.visible_to(technician), world.sites) == {"other-hq", "foreign-hq"}
    assert keys(Asset.objects.visible_to(colleague), world.assets) == set()
    # Another model with no registered scope stays empty.
    assert not AssetEvent.objects.visible_to(technician).exists()


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.CUSTOMER_VIEWER])
def test_customer_admin_and_viewer_see_their_own_organisation_only(world, role):
    user = member(world.organisations["acme"], role)

    assert visible(world, user) == (ACME_ASSETS, ACME_SITES, {"acme"})


def test_customer_operator_sees_only_the_assets_and_sites_they_work_at(world):
    user = member(world.organisations["acme"], Role.CUSTOMER_OPERATOR)
    world.sites["acme-hq"].operators.add(user.membership)

    assert visible(world, user) == ({"acme-hq-1", "acme-hq-2"}, {"acme-hq"}, {"acme"})


def test_customer_operator_assigned_to_another_customers_site_sees_nothing_of_it(world):
    user = member(world.organisations["acme"], Role.CUSTOMER_OPERATOR)
    world.sites["other-hq"].operators.add(user.membership)

    assert visible(world, user) == (set(), set(), {"acme"})


def test_customer_operator_history_follows_their_sites(world):
    user = member(world.organisations["acme"], Role.CUSTOMER_OPERATOR)
    world.sites["acme-depot"].operators.add(user.membership)
    AssetEvent.objects.create(asset=world.assets["acme-depot-1"], kind="updated", at=AT)
    AssetEvent.objects.create(asset=world.assets["acme-hq-1"], kind="updated", at=AT)

    events = AssetEvent.objects.visible_to(user)

    assert list(events.values_list("asset_id", flat=True)) == [world.assets["acme-depot-1"].pk]


def test_user_without_membership_sees_nothing(world):
    user = UserFactory()

    assert access_for(user) is None
    assert visible(world, user) == (set(), set(), set())


def test_inactive_user_sees_nothing(world):
    user = member(world.organisations["nfs"], Role.PROVIDER_ADMIN, is_active=False)

    assert visible(world, user) == (set(), set(), set())


def test_anonymous_user_sees_nothing(world):
    assert visible(world, AnonymousUser()) == (set(), set(), set())
    assert visible(world, None) == (set(), set(), set())


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.CUSTOMER_VIEWER, Role.CUSTOMER_OPERATOR])
def test_users_of_a_deactivated_customer_see_nothing(world, role):
    user = member(world.organisations["acme"], role)
    world.sites["acme-hq"].operators.add(user.membership)
    Organisation.objects.filter(pk=world.organisations["acme"].pk).update(is_active=False)

    assert visible(world, User.objects.get(pk=user.pk)) == (set(), set(), set())


def test_users_of_a_deactivated_provider_see_nothing(world):
    user = member(world.organisations["nfs"], Role.PROVIDER_ADMIN)
    Organisation.objects.filter(pk=world.organisations["nfs"].pk).update(is_active=False)

    assert visible(world, User.objects.get(pk=user.pk)) == (set(), set(), set())


def test_access_is_read_once_per_user_object_until_forgotten(world, django_assert_num_queries):
    user = member(world.organisations["acme"], Role.CUSTOMER_ADMIN)
    access_for(user)

    with django_assert_num_queries(0):
        assert access_for(user).role == Role.CUSTOMER_ADMIN

    user.membership.role = Role.CUSTOMER_VIEWER
    user.membership.save()
    assert access_for(user).role == Role.CUSTOMER_ADMIN
    forget_access(user)
    assert access_for(user).role == Role.CUSTOMER_VIEWER
