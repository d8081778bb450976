"""The permission table of DESIGN.md §3: what each role sees and may change.

This table is the one source of permissions. Tenancy scoping (``fleet.tenancy``), portal navigation,
views, API permissions and the tenant-matrix test all read it; nothing else decides who may do what.
"""

from dataclasses import dataclass
from enum import StrEnum

from accounts.choices import Role


class Scope(StrEnum):
    """Which tenant rows a role sees."""

    PROVIDER = "provider"  # every customer of the provider
    ASSIGNED_CUSTOMERS = "assigned_customers"  # the customers the user manages as account manager
    ASSIGNED_WORK = "assigned_work"  # the work orders assigned to the user, and their assets and sites
    ORGANISATION = "organisation"  # the user's own customer organisation
    SITES = "sites"  # the assets of the user's sites within their organisation


class Capability(StrEnum):
    """What a role may change. Later apps check the capabilities that concern them."""

    MANAGE_CUSTOMERS = "manage_customers"
    MANAGE_CATALOGUE = "manage_catalogue"
    MANAGE_SITES = "manage_sites"
    MANAGE_ASSETS = "manage_assets"
    MOVE_ASSETS = "move_assets"
    MANAGE_USERS = "manage_users"
    DOWNLOAD_REPORTS = "download_reports"
    MANAGE_COLLECTOR_KEYS = "manage_collector_keys"
    HANDLE_ALERTS = "handle_alerts"
    DISPATCH_WORK = "dispatch_work"
    UPDATE_ASSIGNED_WORK = "update_assigned_work"
    REQUEST_SERVICE = "request_service"
    APPROVE_WORK = "approve_work"
    ENTER_METER_READS = "enter_meter_reads"
    PRE_USE_INSPECTIONS = "pre_use_inspections"
    MANAGE_CONTRACTS = "manage_contracts"
    MANAGE_PROPOSALS = "manage_proposals"
    DRAFT_INVOICES = "draft_invoices"
    VIEW_KPIS = "view_kpis"
    VIEW_SERVICE_KPIS = "view_service_kpis"
    RECORD_ACQUISITION_SPEND = "record_acquisition_spend"
    ANSWER_NPS = "answer_nps"


@dataclass(frozen=True)
class RolePolicy:
    """One row of the permission table."""

    scope: Scope
    sees_prices: bool
    sees_margins: bool
    capabilities: frozenset[Capability]

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities


ALL_CAPABILITIES = frozenset(Capability)

ROLE_POLICIES: dict[Role, RolePolicy] = {
    Role.PROVIDER_ADMIN: RolePolicy(
        scope=Scope.PROVIDER,
        sees_prices=True,
        sees_margins=True,
        capabilities=ALL_CAPABILITIES,
    ),
    Role.SERVICE_DESK: RolePolicy(
        scope=Scope.PROVIDER,
        sees_prices=False,
        sees_margins=False,
        capabilities=frozenset(
            {
                Capability.DISPATCH_WORK,
                Capability.HANDLE_ALERTS,
                Capability.UPDATE_ASSIGNED_WORK,
                Capability.VIEW_SERVICE_KPIS,
            }
        ),
    ),
    Role.ACCOUNT_MANAGER: RolePolicy(
        scope=Scope.ASSIGNED_CUSTOMERS,
        sees_prices=True,
        sees_margins=True,
        capabilities=frozenset(
            {
                Capability.MANAGE_CONTRACTS,
                Capability.MANAGE_PROPOSALS,
                Capability.DRAFT_INVOICES,
                Capability.VIEW_KPIS,
                Capability.VIEW_SERVICE_KPIS,
                Capability.DOWNLOAD_REPORTS,
            }
        ),
    ),
    Role.TECHNICIAN: RolePolicy(
        scope=Scope.ASSIGNED_WORK,
        sees_prices=False,
        sees_margins=False,
        capabilities=frozenset({Capability.UPDATE_ASSIGNED_WORK, Capability.ENTER_METER_READS}),
    ),
    Role.CUSTOMER_ADMIN: RolePolicy(
        scope=Scope.ORGANISATION,
        sees_prices=True,
        sees_margins=False,
        capabilities=frozenset(
            {
                Capability.MANAGE_USERS,
                Capability.MANAGE_COLLECTOR_KEYS,
                Capability.REQUEST_SERVICE,
                Capability.APPROVE_WORK,
                Capability.MOVE_ASSETS,
                Capability.ANSWER_NPS,
                Capability.VIEW_SERVICE_KPIS,
                Capability.DOWNLOAD_REPORTS,
            }
        ),
    ),
    Role.CUSTOMER_VIEWER: RolePolicy(
        scope=Scope.ORGANISATION,
        sees_prices=False,
        sees_margins=False,
        capabilities=frozenset({Capability.REQUEST_SERVICE, Capability.ENTER_METER_READS}),
    ),
    Role.CUSTOMER_OPERATOR: RolePolicy(
        scope=Scope.SITES,
        sees_prices=False,
        sees_margins=False,
        capabilities=frozenset({Capability.PRE_USE_INSPECTIONS, Capability.REQUEST_SERVICE}),
    ),
}
