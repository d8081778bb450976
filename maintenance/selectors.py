"""Reads of maintenance: work-order lists and timelines, and the rows a technician sees.

A technician sees every work order assigned to them (open or not: their own history), and the assets and sites
of their *open* work orders together with those assets' telemetry (readings, supply levels, diagnostic events,
alerts), part installations, erasure certificates and inspection records. Once an order is completed, closed
or cancelled, or handed to someone else, its asset drops out of the technician's view again: least access for
the time the job needs it.
"""

from django.db.models import Count, Q, QuerySet

from accounts.models import User
from maintenance.choices import WORK_ORDER_OPEN_STATES
from maintenance.models import (
    ErasureCertificate,
    InspectionRecord,
    PartInstallation,
    ReplacementForecast,
    WorkOrder,
    WorkOrderEvent,
)


def work_order_list(*, user: User) -> QuerySet[WorkOrder]:
    """The work orders ``user`` may see, with what a list shows."""
    return WorkOrder.objects.visible_to(user).select_related("customer", "site", "asset", "assigned_to")


def work_order_events(*, work_order: WorkOrder) -> QuerySet[WorkOrderEvent]:
    """The timeline of one work order, oldest first."""
    return WorkOrderEvent.objects.filter(work_order=work_order).select_related("by").order_by("at", "id")


def _technician_asset_ids(user_id: int) -> QuerySet:
    return WorkOrder.objects.open().filter(assigned_to_id=user_id, asset__isnull=False).values("asset_id")


def _technician_site_ids(user_id: int) -> QuerySet:
    return WorkOrder.objects.open().filter(assigned_to_id=user_id).values("site_id")


def register_technician_scopes() -> None:
    """Tell ``fleet.tenancy`` which rows a technician sees (called from ``MaintenanceConfig.ready``)."""
    from assets.models import Asset, Site
    from fleet.tenancy import register_technician_scope
    from telemetry.models import Alert, DiagnosticEvent, Reading, SupplyLevel

    register_technician_scope(WorkOrder, lambda user_id: Q(assigned_to_id=user_id))
    register_technician_scope(Asset, lambda user_id: Q(pk__in=_technician_asset_ids(user_id)))
    register_technician_scope(Site, lambda user_id: Q(pk__in=_technician_site_ids(user_id)))
    for model in (Reading, SupplyLevel, DiagnosticEvent, Alert, PartInstallation, ErasureCertificate, InspectionRecord):
        register_technician_scope(model, lambda user_id: Q(asset_id__in=_technician_asset_ids(user_id)))
    register_technician_scope(ReplacementForecast, lambda user_id: Q(asset_id__in=_technician_asset_ids(user_id)))


def work_order_counts(*, user, now) -> dict[str, int]:
    """The user's open work orders: in all, overdue, and per open status (one aggregate query)."""
    overdue = WorkOrder.objects.overdue(now).values("pk")
    return (
        WorkOrder.objects.visible_to(user)
        .open()
        .aggregate(
            total=Count("pk"),
            overdue=Count("pk", filter=Q(pk__in=overdue)),
            **{status: Count("pk", filter=Q(status=status)) for status in WORK_ORDER_OPEN_STATES},
        )
    )
