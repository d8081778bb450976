"""Models of maintenance: service levels (SLA terms), work orders, their timeline and numbering."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fleet.models import TimeStampedModel
from fleet.tenancy import TenantQuerySet
from maintenance.choices import (
    WORK_ORDER_OPEN_STATES,
    Priority,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)


class ServiceLevelQuerySet(TenantQuerySet):
    tenant_path = "customer"


class ServiceLevel(TimeStampedModel):
    """SLA terms: response and resolution hours per priority. Without a customer, the provider's default."""

    name = models.CharField(_("name"), max_length=100)
    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="service_levels"
    )
    customer = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customer_service_levels",
        help_text=_("Leave empty for the provider's default service level."),
    )
    response_hours_p1 = models.PositiveIntegerField(_("response hours P1"), default=4)
    response_hours_p2 = models.PositiveIntegerField(_("response hours P2"), default=8)
    response_hours_p3 = models.PositiveIntegerField(_("response hours P3"), default=24)
    response_hours_p4 = models.PositiveIntegerField(_("response hours P4"), default=72)
    resolution_hours_p1 = models.PositiveIntegerField(_("resolution hours P1"), default=8)
    resolution_hours_p2 = models.PositiveIntegerField(_("resolution hours P2"), default=24)
    resolution_hours_p3 = models.PositiveIntegerField(_("resolution hours P3"), default=72)
    resolution_hours_p4 = models.PositiveIntegerField(_("resolution hours P4"), default=168)
    uptime_target_percent = models.DecimalField(_("uptime target (%)"), max_digits=5, decimal_places=2, default="98.00")
    business_hours_only = models.BooleanField(
        _("business hours only"),
        default=False,
        help_text=_("Count response and resolution times in business hours only."),
    )

    objects = ServiceLevelQuerySet.as_manager()

    class Meta:
        verbose_name = _("service level")
        verbose_name_plural = _("service levels")
        ordering = ["provider", "customer", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider"], condition=Q(customer__isnull=True), name="%(app_label)s_%(class)s_one_default"
            ),
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(customer__isnull=False),
                name="%(app_label)s_%(class)s_one_per_customer",
            ),
            models.CheckConstraint(
                condition=Q(uptime_target_percent__gte=0, uptime_target_percent__lte=100),
                name="%(app_label)s_%(class)s_uptime_percent",
            ),
            models.CheckConstraint(
                condition=Q(resolution_hours_p1__gte=F("response_hours_p1"))
                & Q(resolution_hours_p2__gte=F("response_hours_p2"))
                & Q(resolution_hours_p3__gte=F("response_hours_p3"))
                & Q(resolution_hours_p4__gte=F("response_hours_p4")),
                name="%(app_label)s_%(class)s_resolution_after_response",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def response_hours(self, priority: str) -> int:
        return getattr(self, f"response_hours_{Priority(priority).value}")

    def resolution_hours(self, priority: str) -> int:
        return getattr(self, f"resolution_hours_{Priority(priority).value}")


class WorkOrderSequence(models.Model):
    """The last work-order number a provider issued in a year; locked while a number is taken."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.CASCADE, related_name="+"
    )
    year = models.PositiveIntegerField(_("year"))
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("work order sequence")
        verbose_name_plural = _("work order sequences")
        ordering = ["provider", "year"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "year"], name="%(app_label)s_%(class)s_one_per_year"),
        ]

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class WorkOrderQuerySet(TenantQuerySet):
    tenant_path = "customer"
    site_path = "site"

    def open(self):
        return self.filter(status__in=WORK_ORDER_OPEN_STATES)

    def overdue(self, now):
        """Open orders past their resolution time, or still without response past their response time.

        ``WorkOrder.overdue_flags`` is the same rule for one order."""
        return self.open().filter(Q(resolution_due_at__lt=now) | Q(responded_at__isnull=True, response_due_at__lt=now))


class WorkOrder(TimeStampedModel):
    """A job on a customer's site (and usually one asset): dispatched, worked on, completed and closed."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+"
    )
    number = models.CharField(_("number"), max_length=20)
    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="work_orders"
    )
    site = models.ForeignKey(
        "assets.Site", verbose_name=_("site"), on_delete=models.PROTECT, related_name="work_orders"
    )
    asset = models.ForeignKey(
        "assets.Asset",
        verbose_name=_("asset"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="work_orders",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=WorkOrderKind.choices)
    priority = models.CharField(_("priority"), max_length=2, choices=Priority.choices, default=Priority.P3)
    source = models.CharField(_("source"), max_length=20, choices=WorkOrderSource.choices)
    alert = models.ForeignKey(
        "telemetry.Alert",
        verbose_name=_("alert"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="work_orders",
    )
    description = models.TextField(_("description"), blank=True)
    assigned_to = models.ForeignKey(
        "accounts.User",
        verbose_name=_("technician"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_work_orders",
    )
    status = models.CharField(_("status"), max_length=16, choices=WorkOrderStatus.choices, default=WorkOrderStatus.NEW)
    service_level = models.ForeignKey(
        "maintenance.ServiceLevel",
        verbose_name=_("service level"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="work_orders",
    )
    response_due_at = models.DateTimeField(_("response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    responded_at = models.DateTimeField(_("responded at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    completion_notes = models.TextField(_("completion notes"), blank=True)
    down_from = models.DateTimeField(_("down from"), null=True, blank=True)
    down_until = models.DateTimeField(_("down until"), null=True, blank=True)
    damage_avoidable = models.BooleanField(
        _("damage avoidable"),
        null=True,
        blank=True,
        help_text=_("Whether the damage could have been avoided by the customer (then the work is billable)."),
    )
    billable = models.BooleanField(_("billable"), default=False)
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = WorkOrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "number"], name="%(app_label)s_%(class)s_number_unique"),
            models.UniqueConstraint(
                fields=["alert"], condition=Q(alert__isnull=False), name="%(app_label)s_%(class)s_one_per_alert"
            ),
            models.CheckConstraint(
                condition=Q(status__in=WorkOrderStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(priority__in=Priority.values), name="%(app_label)s_%(class)s_priority_valid"
            ),
            models.CheckConstraint(
                condition=Q(down_from__isnull=True) | Q(down_until__isnull=True) | Q(down_from__lte=F("down_until")),
                name="%(app_label)s_%(class)s_downtime_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "status", "-created_at"], name="maintenance_wo_list"),
            models.Index(fields=["assigned_to", "status"], name="maintenance_wo_technician"),
        ]

    def __str__(self) -> str:
        return self.number

    def overdue_flags(self, now) -> dict[str, bool]:
        """Whether this open order's response and resolution are past due (``WorkOrderQuerySet.overdue``)."""
        is_open = self.status in WORK_ORDER_OPEN_STATES
        return {
            "response": bool(
                is_open and self.responded_at is None and self.response_due_at and self.response_due_at < now
            ),
            "resolution": bool(is_open and self.resolution_due_at and self.resolution_due_at < now),
        }


class WorkOrderEvent(models.Model):
    """One entry of a work order's timeline: a status change or a note, who made it and when."""

    work_order = models.ForeignKey(
        "maintenance.WorkOrder", verbose_name=_("work order"), on_delete=models.CASCADE, related_name="events"
    )
    at = models.DateTimeField(_("at"))
    by = models.ForeignKey(
        "accounts.User", verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(_("from status"), max_length=16, choices=WorkOrderStatus.choices, blank=True)
    to_status = models.CharField(_("to status"), max_length=16, choices=WorkOrderStatus.choices)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("work order event")
        verbose_name_plural = _("work order events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.work_order}: {self.from_status or '-'} → {self.to_status}"
