"""Tenancy: the one place that decides which rows a user may see (DESIGN.md §3).

Every tenant-owned model's queryset derives from ``TenantQuerySet`` and names the path from the model to
its customer organisation (and, for site-bound rows, to its site). ``visible_to(user)`` applies the
scope of the user's role from ``accounts.roles``. Selectors, portal views and API viewsets call it;
nothing filters by tenant by hand.

Technicians see the rows reachable from the work orders assigned to them. Work orders live in a later
app, so that app registers, per model, how to reach them (``register_technician_scope``) in its
``AppConfig.ready()``; until it does, a technician sees no rows of that model.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Q

from accounts.choices import OrganisationKind, Role
from accounts.roles import ROLE_POLICIES, Capability, RolePolicy, Scope

NOTHING = Q(pk__in=[])


@dataclass(frozen=True)
class Access:
    """What one authenticated user is: organisation, role, policy and (for operators) sites."""

    user_id: int
    organisation_id: int
    provider_id: int
    organisation_kind: str
    role: Role
    policy: RolePolicy
    site_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_provider_staff(self) -> bool:
        return self.organisation_kind == OrganisationKind.PROVIDER

    def can(self, capability: Capability) -> bool:
        return self.policy.can(capability)

    @property
    def sees_prices(self) -> bool:
        return self.policy.sees_prices


def access_for(user) -> Access | None:
    """The user's access, read once per request (memoised on the user object); None for no access."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    cached = getattr(user, "_fleet_access", False)
    if cached is not False:
        return cached
    from accounts.models import Membership

    membership = (
        Membership.objects.select_related("organisation").filter(user_id=user.pk, organisation__is_active=True).first()
    )
    access = None
    if membership is not None:
        organisation = membership.organisation
        site_ids: frozenset[int] = frozenset()
        if membership.role == Role.CUSTOMER_OPERATOR:
            site_ids = frozenset(membership.sites.values_list("pk", flat=True))
        access = Access(
            user_id=user.pk,
            organisation_id=organisation.pk,
            provider_id=organisation.pk if organisation.is_provider else organisation.provider_id,
            organisation_kind=organisation.kind,
            role=Role(membership.role),
            policy=ROLE_POLICIES[Role(membership.role)],
            site_ids=site_ids,
        )
    user._fleet_access = access
    return access


class ProviderViewer:
    """Whom a system task reads a provider's data as when no person asks: the view of the provider's
    administrators (every customer, prices and margins). Pass it where a selector takes ``user``; it is no user and
    can sign in nowhere (monthly KPI snapshots)."""

    is_authenticated = True
    is_active = True
    pk = None

    def __init__(self, provider_id: int):
        self._fleet_access = Access(
            user_id=0,
            organisation_id=provider_id,
            provider_id=provider_id,
            organisation_kind=OrganisationKind.PROVIDER,
            role=Role.PROVIDER_ADMIN,
            policy=ROLE_POLICIES[Role.PROVIDER_ADMIN],
        )


def forget_access(user) -> None:
    """Drop the memoised access (after a membership change in the same request)."""
    if hasattr(user, "_fleet_access"):
        del user._fleet_access


_technician_scopes: dict[str, Callable[[int], Q]] = {}


def register_technician_scope(model: type[models.Model], scope: Callable[[int], Q]) -> None:
    """Let a later app say which rows of ``model`` a technician (by user id) sees."""
    _technician_scopes[model._meta.label] = scope


def _prefixed(path: str, suffix: str) -> str:
    return suffix if path == "" else f"{path}__{suffix}"


def scope_q(model: type[models.Model], access: Access | None, *, tenant_path: str, site_path: str | None) -> Q:
    """The filter that limits ``model`` rows to what ``access`` may see."""
    if access is None:
        return NOTHING
    scope = access.policy.scope
    if scope == Scope.PROVIDER:
        return Q(**{_prefixed(tenant_path, "provider_id"): access.provider_id})
    if scope == Scope.ASSIGNED_CUSTOMERS:
        return Q(**{_prefixed(tenant_path, "provider_id"): access.provider_id}) & Q(
            **{f"{_prefixed(tenant_path, 'pk')}__in": managed_customer_ids(access)}
        )
    if scope == Scope.ASSIGNED_WORK:
        technician_scope = _technician_scopes.get(model._meta.label)
        return technician_scope(access.user_id) if technician_scope else NOTHING
    if scope == Scope.ORGANISATION:
        return Q(**{_prefixed(tenant_path, "pk"): access.organisation_id})
    if scope == Scope.SITES:
        if site_path is None:
            return NOTHING  # rows that belong to no site (contracts, invoices...) are not an operator's
        return Q(**{_prefixed(tenant_path, "pk"): access.organisation_id}) & Q(
            **{f"{_prefixed(site_path, 'pk')}__in": access.site_ids}
        )
    return NOTHING


def managed_customer_ids(access: Access) -> models.QuerySet:
    """The customers an account manager is assigned to, as a subquery."""
    from accounts.models import Organisation

    return Organisation.objects.filter(account_managers=access.user_id).values("pk")


class TenantQuerySet(models.QuerySet):
    """Base queryset of every tenant-owned model.

    ``tenant_path`` is the ORM path from the model to its customer ``Organisation`` ("" when the model is
    the organisation); ``site_path`` the path to its ``Site`` when rows belong to a site.
    """

    tenant_path: str = "customer"
    site_path: str | None = None

    def visible_to(self, user):
        return self.filter(
            scope_q(self.model, access_for(user), tenant_path=self.tenant_path, site_path=self.site_path)
        )


class ProviderTenantQuerySet(TenantQuerySet):
    """Rows of a provider that may name one customer (service levels, calendars, plans).

    A row naming a customer is seen like any tenant row (``scope_q``) by the roles whose scope is in
    ``customer_row_scopes``; a row naming none is the provider's own (a default for all its customers) and is
    seen by the provider's users whose scope is in ``provider_wide_scopes``. The model has ``provider`` and a
    nullable ``customer``.
    """

    provider_wide_scopes: frozenset[Scope] = frozenset(Scope)
    customer_row_scopes: frozenset[Scope] = frozenset(Scope)

    def visible_to(self, user):
        access = access_for(user)
        if access is None:
            return self.none()
        rows = Q(pk__in=[])
        if access.policy.scope in self.provider_wide_scopes:
            rows |= Q(customer__isnull=True)
        if access.policy.scope in self.customer_row_scopes:
            rows |= Q(customer__isnull=False) & scope_q(
                self.model, access, tenant_path=self.tenant_path, site_path=self.site_path
            )
        return self.filter(Q(provider_id=access.provider_id) & rows)


def organisations_visible_to(queryset: models.QuerySet, user) -> models.QuerySet:
    """Organisations: the user's own, plus the customers their role lets them see."""
    access = access_for(user)
    if access is None:
        return queryset.none()
    customers = scope_q(queryset.model, access, tenant_path="", site_path=None)
    if access.policy.scope in (Scope.SITES, Scope.ORGANISATION):
        return queryset.filter(pk=access.organisation_id)
    return queryset.filter(Q(pk=access.organisation_id) | (Q(kind=OrganisationKind.CUSTOMER) & customers))


def visible(queryset: models.QuerySet) -> Callable:
    """Rows of ``queryset`` the caller may see, as a callable for choice fields: django-filter passes the
    request (``queryset=visible(...)``), ``ScopedPrimaryKeyRelatedField`` passes the user. No user, no rows."""

    def rows(request_or_user) -> models.QuerySet:
        user = getattr(request_or_user, "user", request_or_user)
        return queryset.all().visible_to(user)

    return rows
