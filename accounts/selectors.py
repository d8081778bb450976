"""Reads of accounts: organisations, members and effective per-customer settings."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from accounts.models import Membership, Organisation, OrganisationSettings, User
from accounts.roles import Capability
from fleet.tenancy import access_for

# Provider-wide defaults that apply when neither the customer nor the provider has set a value.
SETTING_DEFAULTS = {"default_expected_life_months": 60, "silent_device_hours": 24}


@dataclass(frozen=True)
class EffectiveSettings:
    """A customer's settings after inheritance: customer row, then provider row, then built-in default."""

    default_expected_life_months: int
    silent_device_hours: int


def organisation_settings_effective(*, organisation: Organisation) -> EffectiveSettings:
    """Resolve a customer's settings against its provider's defaults in one query."""
    ids = [organisation.pk] + ([organisation.provider_id] if organisation.provider_id else [])
    rows = {row.organisation_id: row for row in OrganisationSettings.objects.filter(organisation_id__in=ids)}
    values = {}
    for name, default in SETTING_DEFAULTS.items():
        value = None
        for organisation_id in ids:
            row = rows.get(organisation_id)
            if row is not None and getattr(row, name) is not None:
                value = getattr(row, name)
                break
        values[name] = default if value is None else value
    return EffectiveSettings(**values)


def organisation_list(*, user: User) -> QuerySet[Organisation]:
    """Organisations the user may see, with their site and asset counts."""
    return (
        Organisation.objects.visible_to(user)
        .select_related("provider")
        .annotate(
            site_count=Count("sites", distinct=True),
            asset_count=Count("assets", distinct=True),
        )
        .order_by("kind", "name")
    )


def customer_list(*, user: User) -> QuerySet[Organisation]:
    """Customer organisations the user may see."""
    return Organisation.objects.visible_to(user).customers().order_by("name")


def member_list(*, user: User, organisation: Organisation | None = None) -> QuerySet[Membership]:
    """Members of the organisations the user may manage (their own, or for provider admins, all)."""
    access = access_for(user)
    if access is None or not access.can(Capability.MANAGE_USERS):
        return Membership.objects.none()
    memberships = Membership.objects.select_related("user", "organisation").prefetch_related("sites")
    if access.is_provider_staff:
        memberships = memberships.filter(
            Q(organisation_id=access.organisation_id) | Q(organisation__provider_id=access.organisation_id)
        )
    else:
        memberships = memberships.filter(organisation_id=access.organisation_id)
    if organisation is not None:
        memberships = memberships.filter(organisation=organisation)
    return memberships.order_by("organisation__name", "user__email")
