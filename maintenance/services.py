"""Business operations of maintenance: service levels, creating, assigning, moving and completing work orders.

Every change of a work order writes one ``WorkOrderEvent`` (its timeline). The allowed status changes are the
one table ``choices.WORK_ORDER_TRANSITIONS``.

Due times are the response and resolution hours of the priority in the customer's service level, counted from
creation by ``maintenance.sla.due_times``: in business hours of the site's (or the service level's) calendar and
the site's time zone when the service level says so, else in calendar hours. A work order whose customer has no
service level (neither its own nor a provider default) has no due times, so an alert still opens one. Completing
an order late flags its breaches (``sla.work_order_mark_breaches``); the beat sweep flags open ones.
"""

import datetime
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from accounts.models import Organisation, User
from accounts.roles import Capability
from assets.models import Asset, Site
from fleet.tenancy import Access, access_for
from maintenance import sla
from maintenance.choices import (
    WORK_ORDER_DISPATCH_STATES,
    WORK_ORDER_OPEN_STATES,
    WORK_ORDER_RESPONSE_STATES,
    WORK_ORDER_TRANSITIONS,
    ApprovalStatus,
    Priority,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)
from maintenance.models import ServiceLevel, WorkOrder, WorkOrderEvent, WorkOrderSequence, YearlySequence
from maintenance.reports import send_completion_report_task
from telemetry.choices import Severity
from telemetry.models import Alert

NOT_ALLOWED_TO_CREATE = _("You may not create work orders for this customer.")
NOT_ALLOWED_TO_DISPATCH = _("You may not dispatch this work order.")
NOT_ALLOWED_TO_UPDATE = _("You may not change this work order.")
SITE_NOT_OF_CUSTOMER = _("The site does not belong to the customer.")
ASSET_NOT_ON_SITE = _("The asset does not belong to the customer and site of the work order.")
NOT_A_TECHNICIAN = _("Work orders can only be assigned to a technician of the customer's service provider.")
WORK_ORDER_NOT_OPEN = _("The work order is no longer open.")
TRANSITION_NOT_ALLOWED = _("A work order cannot move from %(from)s to %(to)s.")
ASSIGN_NEEDS_TECHNICIAN = _("Assign a technician to the work order first.")
DOWNTIME_REVERSED = _("The downtime cannot end before it starts.")
SIGNER_NAME_MISSING = _("Give the name of the person who signed.")
WAITING_FOR_APPROVAL = _("The estimate waits for the customer's approval: the work order cannot move to %(to)s yet.")
ESTIMATE_REJECTED = _("The customer rejected the estimate: revise it, put the work order on hold or cancel it.")
# Moves that start or finish the work: refused while the estimate waits for approval or was rejected.
APPROVAL_GATED_STATES = (WorkOrderStatus.EN_ROUTE, WorkOrderStatus.IN_PROGRESS, WorkOrderStatus.COMPLETED)

NUMBER_PREFIX = "WO"
ALERT_PRIORITIES = {Severity.CRITICAL: Priority.P1, Severity.ERROR: Priority.P2}


# --- Service levels ----------------------------------------------------------------------------------------------


def service_level_for(*, customer: Organisation) -> ServiceLevel | None:
    """The customer's own service level, else its provider's default; None when neither exists."""
    return service_levels_for(customers={customer.pk: customer.provider_id})[customer.pk]


def service_levels_for(
    *, customers: Mapping[int, int], levels: QuerySet[ServiceLevel] | None = None
) -> dict[int, ServiceLevel | None]:
    """``service_level_for`` of many customers (customer id -> provider id) in one query, read from ``levels``
    (default: every service level; a report passes the ones its user sees)."""
    levels = ServiceLevel.objects.all() if levels is None else levels
    own, default = {}, {}
    for level in levels.filter(
        Q(customer_id__in=list(customers)) | Q(customer__isnull=True, provider_id__in=set(customers.values()))
    ):
        if level.customer_id is None:
            default[level.provider_id] = level
        else:
            own[level.customer_id] = level
    return {
        customer_id: own.get(customer_id, default.get(provider_id)) for customer_id, provider_id in customers.items()
    }


# --- Permissions -------------------------------------------------------------------------------------------------


def _dispatcher(by: User | None, work_order_provider_id: int) -> Access | None:
    """``by``'s access when they are provider staff of this provider who may dispatch work; else None."""
    access = access_for(by)
    if (
        access is not None
        and access.is_provider_staff
        and access.provider_id == work_order_provider_id
        and access.can(Capability.DISPATCH_WORK)
    ):
        return access
    return None


def _check_may_create(*, by: User | None, customer: Organisation, site: Site, kind: str, source: str) -> None:
    if by is None:  # the system itself: an alert, a forecast or a preventive plan
        return
    if _dispatcher(by, customer.provider_id) is not None:
        return
    access = access_for(by)
    if (
        access is not None
        and access.can(Capability.REQUEST_SERVICE)
        and access.organisation_id == customer.pk
        and kind == WorkOrderKind.SERVICE_REQUEST
        and source == WorkOrderSource.CUSTOMER_REQUEST
        and (access.role != Role.CUSTOMER_OPERATOR or site.pk in access.site_ids)
    ):
        return
    raise ValidationError(NOT_ALLOWED_TO_CREATE)


def _check_may_move(*, work_order: WorkOrder, by: User, to_status: str) -> None:
    # The approval of the estimate (``maintenance.approvals``): shared by ``_move`` and the allowed transitions.
    if to_status in APPROVAL_GATED_STATES and work_order.approval_status == ApprovalStatus.PENDING:
        raise ValidationError(WAITING_FOR_APPROVAL, params={"to": WorkOrderStatus(to_status).label})
    if to_status in APPROVAL_GATED_STATES and work_order.approval_status == ApprovalStatus.REJECTED:
        raise ValidationError(ESTIMATE_REJECTED)
    if _dispatcher(by, work_order.provider_id) is not None:
        return
    access = access_for(by)
    if (
        to_status not in WORK_ORDER_DISPATCH_STATES
        and access is not None
        and access.can(Capability.UPDATE_ASSIGNED_WORK)
        and work_order.assigned_to_id == by.pk
    ):
        return
    raise ValidationError(NOT_ALLOWED_TO_UPDATE)


def work_order_allowed_transitions(*, work_order: WorkOrder, user: User) -> list[str]:
    """The statuses ``user`` may move ``work_order`` to now (the transition table and the same permission
    rule ``work_order_transition`` applies), in the order of the status choices."""
    allowed = []
    for status in WorkOrderStatus.values:
        if status not in WORK_ORDER_TRANSITIONS[work_order.status]:
            continue
        if status == WorkOrderStatus.ASSIGNED and work_order.assigned_to_id is None:
            continue
        try:
            _check_may_move(work_order=work_order, by=user, to_status=status)
        except ValidationError:
            continue
        allowed.append(status)
    return allowed


# --- Work orders -------------------------------------------------------------------------------------------------


def next_number(*, sequence: type[YearlySequence], prefix: str, provider_id: int, year: int) -> str:
    """The provider's next number of the year in ``sequence`` (``WO-2026-000123``), taken under a row lock so
    two creators never share one."""
    sequence.objects.get_or_create(provider_id=provider_id, year=year)
    row = sequence.objects.select_for_update().get(provider_id=provider_id, year=year)
    row.last_number += 1
    row.save(update_fields=["last_number"])
    return f"{prefix}-{year}-{row.last_number:06d}"


def _record(
    *, work_order: WorkOrder, by: User | None, from_status: str, to_status: str, note: str = ""
) -> WorkOrderEvent:
    return WorkOrderEvent.objects.create(
        work_order=work_order,
        at=timezone.now(),
        by=by,
        from_status=from_status,
        to_status=to_status,
        note=note.strip(),
    )


def _locked(work_order: WorkOrder) -> WorkOrder:
    """Re-read the status and the approval under a row lock, so two concurrent changes see each other."""
    work_order.status, work_order.approval_status = (
        WorkOrder.objects.select_for_update().values_list("status", "approval_status").get(pk=work_order.pk)
    )
    return work_order


@transaction.atomic
def work_order_create(
    *,
    customer: Organisation,
    site: Site,
    asset: Asset | None = None,
    kind: str,
    priority: str,
    source: str,
    description: str,
    by: User | None = None,
    alert: Alert | None = None,
) -> WorkOrder:
    """Open a work order with the next number and the due times of the customer's service level."""
    _check_may_create(by=by, customer=customer, site=site, kind=kind, source=source)
    if site.customer_id != customer.pk:
        raise ValidationError(SITE_NOT_OF_CUSTOMER)
    if asset is not None and (asset.customer_id != customer.pk or asset.site_id != site.pk):
        raise ValidationError(ASSET_NOT_ON_SITE)
    service_level = service_level_for(customer=customer)
    now = timezone.now()
    work_order = WorkOrder(
        provider_id=customer.provider_id,
        number=next_number(
            sequence=WorkOrderSequence,
            prefix=NUMBER_PREFIX,
            provider_id=customer.provider_id,
            year=timezone.localdate(now).year,
        ),
        customer=customer,
        site=site,
        asset=asset,
        kind=kind,
        priority=priority,
        source=source,
        alert=alert,
        description=description.strip(),
        service_level=service_level,
        created_by=by,
    )
    work_order.full_clean()
    work_order.save()
    if service_level is not None:
        work_order.response_due_at, work_order.resolution_due_at = sla.due_times(work_order=work_order)
        work_order.save(update_fields=["response_due_at", "resolution_due_at"])
    _record(work_order=work_order, by=by, from_status="", to_status=WorkOrderStatus.NEW)
    from maintenance.work import work_order_checklist_copy  # work done builds on this module

    work_order_checklist_copy(work_order=work_order)
    return work_order


@transaction.atomic
def work_order_assign(*, work_order: WorkOrder, technician: User, by: User) -> WorkOrder:
    """Give the order to a technician of the provider: a new order becomes assigned, an open one changes hands."""
    if _dispatcher(by, work_order.provider_id) is None:
        raise ValidationError(NOT_ALLOWED_TO_DISPATCH)
    technician_access = access_for(technician)
    if (
        technician_access is None
        or technician_access.role != Role.TECHNICIAN
        or not technician_access.is_provider_staff
        or technician_access.provider_id != work_order.provider_id
    ):
        raise ValidationError(NOT_A_TECHNICIAN)
    _locked(work_order)
    if work_order.status not in WORK_ORDER_OPEN_STATES:
        raise ValidationError(WORK_ORDER_NOT_OPEN)
    from_status = work_order.status
    if from_status == WorkOrderStatus.NEW:
        work_order.status = WorkOrderStatus.ASSIGNED
    work_order.assigned_to = technician
    work_order.save(update_fields=["status", "assigned_to", "updated_at"])
    _record(
        work_order=work_order,
        by=by,
        from_status=from_status,
        to_status=work_order.status,
        note=str(_("Assigned to %(technician)s.") % {"technician": technician.get_full_name() or technician.email}),
    )
    return work_order


def _move(*, work_order: WorkOrder, to_status: str, by: User, note: str, fields: list[str]) -> WorkOrder:
    """Check and apply one status change from the table, stamp its times, save ``fields`` and record it."""
    from_status = work_order.status
    if to_status not in WORK_ORDER_TRANSITIONS[from_status]:
        raise ValidationError(
            TRANSITION_NOT_ALLOWED,
            params={"from": WorkOrderStatus(from_status).label, "to": WorkOrderStatus(to_status).label},
        )
    _check_may_move(work_order=work_order, by=by, to_status=to_status)
    if to_status == WorkOrderStatus.ASSIGNED and work_order.assigned_to_id is None:
        raise ValidationError(ASSIGN_NEEDS_TECHNICIAN)
    now = timezone.now()
    work_order.status = to_status
    fields = [*fields, "status", "updated_at"]
    if to_status == WorkOrderStatus.NEW:  # unassigned
        work_order.assigned_to = None
        fields.append("assigned_to")
    if to_status in WORK_ORDER_RESPONSE_STATES and work_order.responded_at is None:
        work_order.responded_at = now
        fields.append("responded_at")
    if to_status == WorkOrderStatus.COMPLETED:
        work_order.completed_at = now
        fields.append("completed_at")
        fields.extend(sla.work_order_mark_breaches(work_order=work_order, now=now))
    if from_status == WorkOrderStatus.COMPLETED and to_status == WorkOrderStatus.IN_PROGRESS:  # reopened
        work_order.completed_at = None
        fields.append("completed_at")
    if to_status == WorkOrderStatus.CLOSED:
        work_order.closed_at = now
        fields.append("closed_at")
    work_order.save(update_fields=fields)
    _record(work_order=work_order, by=by, from_status=from_status, to_status=to_status, note=note)
    return work_order


@transaction.atomic
def work_order_transition(*, work_order: WorkOrder, to_status: str, by: User, note: str = "") -> WorkOrder:
    """Move the order to ``to_status`` if the transition table allows it and ``by`` may make that move."""
    _locked(work_order)
    return _move(work_order=work_order, to_status=to_status, by=by, note=note, fields=[])


@transaction.atomic
def work_order_complete(
    *,
    work_order: WorkOrder,
    by: User,
    notes: str = "",
    damage_avoidable: bool | None = None,
    down_from: datetime.datetime | None = None,
    down_until: datetime.datetime | None = None,
    signature: str = "",
    signed_by_name: str = "",
    erasure_method: str = "",
    erasure_storage: str = "",
) -> WorkOrder:
    """Finish the work: record notes and downtime; damage the customer could have avoided makes it billable.

    ``signature`` is the customer's signature as a PNG data URL (with ``signed_by_name``); completing also records
    the part installations and, for the removal of an MFP or printer, the storage-erasure certificate
    (``maintenance.work.work_completion_record``)."""
    from maintenance.work import signature_decode, work_completion_record, work_order_signature_store

    if down_from is not None and down_until is not None and down_from > down_until:
        raise ValidationError(DOWNTIME_REVERSED)
    png = signature_decode(signature) if signature else None
    if png is not None and not signed_by_name.strip():
        raise ValidationError({"signed_by_name": SIGNER_NAME_MISSING})
    _locked(work_order)
    work_order.completion_notes = notes.strip()
    work_order.damage_avoidable = damage_avoidable
    work_order.down_from = down_from
    work_order.down_until = down_until
    work_order.billable = work_order.billable or bool(damage_avoidable)
    _move(
        work_order=work_order,
        to_status=WorkOrderStatus.COMPLETED,
        by=by,
        note=notes,
        fields=["completion_notes", "damage_avoidable", "down_from", "down_until", "billable"],
    )
    work_completion_record(
        work_order=work_order,
        by=by,
        now=work_order.completed_at,
        erasure_method=erasure_method,
        erasure_storage=erasure_storage,
    )
    if png is not None:
        work_order_signature_store(
            work_order=work_order, png=png, signed_by_name=signed_by_name, now=work_order.completed_at
        )
    transaction.on_commit(lambda: send_completion_report_task.delay(work_order.pk))
    return work_order


def work_order_open_for_alert(alert: Alert) -> WorkOrder:
    """The ``telemetry.hooks`` opener: a corrective work order for a severe alert, at most one per alert."""
    existing = WorkOrder.objects.filter(alert_id=alert.pk).first()
    if existing is not None:
        return existing
    asset = Asset.objects.select_related("site", "customer").get(pk=alert.asset_id)
    return work_order_create(
        customer=asset.customer,
        site=asset.site,
        asset=asset,
        kind=WorkOrderKind.CORRECTIVE,
        priority=ALERT_PRIORITIES.get(alert.severity, Priority.P3),
        source=WorkOrderSource.ALERT,
        description=f"{alert.condition}: {alert.message}" if alert.message else alert.condition,
        alert=alert,
    )
