"""Choices of the maintenance app: work-order kinds, priorities, sources, statuses and the transition table."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class WorkOrderKind(models.TextChoices):
    CORRECTIVE = "corrective", _("Corrective")
    PREVENTIVE = "preventive", _("Preventive")
    PREDICTIVE = "predictive", _("Predictive")
    INSTALLATION = "installation", _("Installation")
    REMOVAL = "removal", _("Removal")
    INSPECTION = "inspection", _("Inspection")
    SERVICE_REQUEST = "service_request", _("Service request")


class Priority(models.TextChoices):
    P1 = "p1", _("P1 – critical")
    P2 = "p2", _("P2 – high")
    P3 = "p3", _("P3 – normal")
    P4 = "p4", _("P4 – low")


class WorkOrderSource(models.TextChoices):
    ALERT = "alert", _("Alert")
    FORECAST = "forecast", _("Forecast")
    PREVENTIVE_PLAN = "preventive_plan", _("Preventive plan")
    CUSTOMER_REQUEST = "customer_request", _("Customer request")
    MANUAL = "manual", _("Manual")


class WorkOrderStatus(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    EN_ROUTE = "en_route", _("En route")
    IN_PROGRESS = "in_progress", _("In progress")
    ON_HOLD = "on_hold", _("On hold")
    COMPLETED = "completed", _("Completed")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


S = WorkOrderStatus

# The one table of allowed status changes: from-status -> the statuses it may move to.
WORK_ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.ASSIGNED, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.EN_ROUTE, S.IN_PROGRESS, S.ON_HOLD, S.CANCELLED, S.NEW}),
    S.EN_ROUTE: frozenset({S.IN_PROGRESS, S.ON_HOLD}),
    S.IN_PROGRESS: frozenset({S.ON_HOLD, S.COMPLETED}),
    S.ON_HOLD: frozenset({S.IN_PROGRESS, S.ASSIGNED}),
    S.COMPLETED: frozenset({S.CLOSED, S.IN_PROGRESS}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}

WORK_ORDER_OPEN_STATES = (S.NEW, S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.ON_HOLD)
# The moves that mean someone has started to respond: the first one records ``responded_at``.
WORK_ORDER_RESPONSE_STATES = (S.EN_ROUTE, S.IN_PROGRESS)
# Moves only dispatching staff make (unassign, cancel, close); technicians move their own orders otherwise.
WORK_ORDER_DISPATCH_STATES = (S.NEW, S.CANCELLED, S.CLOSED)

del S


class SlaState(models.TextChoices):
    """Where an open work order stands against its service level (``selectors.with_sla_state``)."""

    NONE = "none", _("No service level")
    ON_TRACK = "on_track", _("On track")
    AT_RISK = "at_risk", _("At risk")
    BREACHED = "breached", _("Breached")


class ApprovalStatus(models.TextChoices):
    NOT_REQUIRED = "not_required", _("Not required")
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    REPLACE = "replace", _("Replace instead")
    REJECTED = "rejected", _("Rejected")


class ChecklistResult(models.TextChoices):
    PENDING = "pending", _("Not checked")
    OK = "ok", _("OK")
    FAILED = "failed", pgettext_lazy("inspection result", "Failed")
    NOT_APPLICABLE = "na", _("Not applicable")


class ChecklistPurpose(models.TextChoices):
    WORK_ORDER = "work_order", _("Work order")
    PRE_USE = "pre_use", _("Pre-use inspection")


class ScheduleMode(models.TextChoices):
    FIXED = "fixed", _("Fixed (from the plan's start)")
    FLOATING = "floating", _("Floating (from the last completion)")


class StatutoryInspection(models.TextChoices):
    NONE = "", _("None")
    ANNUAL_SPECIFIC = "annual_specific", _("Annual specific self-inspection (特定自主検査)")
    MONTHLY_SELF = "monthly_self", _("Monthly self-inspection (月次点検)")


class InspectionResult(models.TextChoices):
    PASSED = "passed", _("Passed")
    FAILED = "failed", pgettext_lazy("inspection result", "Failed")


class ErasureMethod(models.TextChoices):
    OVERWRITE = "overwrite", _("Overwrite (NIST 800-88 clear)")
    CRYPTOGRAPHIC = "cryptographic", _("Cryptographic erase")
    SECURE_ERASE = "secure_erase", _("Drive secure erase (purge)")
    PHYSICAL = "physical", _("Physical destruction")


class ForecastKind(models.TextChoices):
    CONSUMABLE = "consumable", _("Consumable (from its level)")
    WEAR_PART = "wear_part", _("Wear part (from its life used)")


class ForecastMethod(models.TextChoices):
    LEVEL_TREND = "level_trend", _("Level trend since the last refill")
    CATALOGUE = "catalogue", _("Catalogue life at the asset's usage rate")
    EMPIRICAL = "empirical", _("Observed lives of this part on this model")
    WEIBULL = "weibull", _("Weibull fit of observed lives")


class SupplyOrderStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")


SUPPLY_ORDER_OPEN_STATES = (SupplyOrderStatus.REQUESTED, SupplyOrderStatus.SHIPPED)


class SupplyOrderSource(models.TextChoices):
    FORECAST = "forecast", _("Forecast")
    MANUAL = "manual", _("Ordered by hand")
