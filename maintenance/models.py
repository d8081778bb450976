"""Models of maintenance: service levels (SLA terms) and business calendars, work orders with their timeline,
numbering, work done (checklists, parts, labour, photos, meter reads, signature), part installations, erasure
certificates, preventive plans and statutory inspections, approvals, per-asset service links and pre-use
inspections."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.roles import Scope
from fleet.models import TimeStampedModel
from fleet.money import Currency
from fleet.tenancy import ProviderTenantQuerySet, TenantQuerySet
from maintenance.choices import (
    SUPPLY_ORDER_OPEN_STATES,
    WORK_ORDER_OPEN_STATES,
    ApprovalStatus,
    ChecklistPurpose,
    ChecklistResult,
    ErasureMethod,
    ForecastKind,
    ForecastMethod,
    InspectionResult,
    Priority,
    ScheduleMode,
    StatutoryInspection,
    SupplyOrderSource,
    SupplyOrderStatus,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)

# Service terms: the provider's defaults are seen by provider staff and customers' whole-organisation users (not
# technicians or operators); a customer's own terms by whoever sees that customer.
SERVICE_TERMS_SCOPES = frozenset({Scope.PROVIDER, Scope.ASSIGNED_CUSTOMERS, Scope.ORGANISATION})


class ServiceLevelQuerySet(ProviderTenantQuerySet):
    tenant_path = "customer"
    provider_wide_scopes = SERVICE_TERMS_SCOPES


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
    calendar = models.ForeignKey(
        "maintenance.BusinessCalendar",
        verbose_name=_("business calendar"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="service_levels",
        help_text=_("The business hours counted when a site has no calendar of its own."),
    )
    at_risk_percent = models.PositiveSmallIntegerField(
        _("at risk after (%)"),
        default=75,
        help_text=_("An open work order is at risk once this share of its resolution time has passed."),
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


class YearlySequence(models.Model):
    """The last number a provider issued in a year in one series; locked while a number is taken."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.CASCADE, related_name="+"
    )
    year = models.PositiveIntegerField(_("year"))
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        abstract = True
        ordering = ["provider", "year"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "year"], name="%(app_label)s_%(class)s_one_per_year"),
        ]

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class WorkOrderSequence(YearlySequence):
    class Meta(YearlySequence.Meta):
        verbose_name = _("work order sequence")
        verbose_name_plural = _("work order sequences")


class SupplyOrderSequence(YearlySequence):
    class Meta(YearlySequence.Meta):
        verbose_name = _("supply order sequence")
        verbose_name_plural = _("supply order sequences")


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
    # Service level: set by the sweep (``maintenance.sla``) or at completion, kept for SLA credits and KPIs.
    response_breached = models.BooleanField(_("response breached"), default=False)
    resolution_breached = models.BooleanField(_("resolution breached"), default=False)
    breach_notified_at = models.DateTimeField(_("breach notified at"), null=True, blank=True)
    # Approval of the estimate against the customer's not-to-exceed amount (``maintenance.approvals``).
    estimate_amount = models.DecimalField(_("estimate"), max_digits=12, decimal_places=2, null=True, blank=True)
    replacement_quote = models.DecimalField(
        _("replacement quote"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    approval_status = models.CharField(
        _("approval"), max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.NOT_REQUIRED
    )
    approval_decided_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("approval decided by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approval_decided_at = models.DateTimeField(_("approval decided at"), null=True, blank=True)
    approval_note = models.CharField(_("approval note"), max_length=500, blank=True)
    # The customer's signature captured at completion (a PNG, served only through a scoped view).
    signature = models.FileField(_("signature"), upload_to="work-orders/signatures/%Y/%m/", blank=True)
    signed_by_name = models.CharField(_("signed by"), max_length=200, blank=True)
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    completion_report_sent_at = models.DateTimeField(_("completion report sent at"), null=True, blank=True)
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
            models.CheckConstraint(
                condition=Q(approval_status__in=ApprovalStatus.values),
                name="%(app_label)s_%(class)s_approval_valid",
            ),
            models.CheckConstraint(
                condition=Q(estimate_amount__isnull=True) | Q(estimate_amount__gte=0),
                name="%(app_label)s_%(class)s_estimate_not_negative",
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


# --- Business calendars -------------------------------------------------------------------------------------------


class BusinessCalendarQuerySet(ProviderTenantQuerySet):
    tenant_path = "customer"
    provider_wide_scopes = SERVICE_TERMS_SCOPES


class BusinessCalendar(TimeStampedModel):
    """Opening hours per weekday, closures and (optionally) a country's public holidays: the business hours in
    which a service level counts. Times are local to the site a work order is on."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Leave empty for a calendar of the provider any customer's service level may use."),
    )
    name = models.CharField(_("name"), max_length=100)
    holiday_country = models.CharField(
        _("public holidays of"),
        max_length=2,
        blank=True,
        help_text=_("ISO country code whose public holidays are closed days (for example JP); empty for none."),
    )

    objects = BusinessCalendarQuerySet.as_manager()

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        ordering = ["provider", "name"]

    def __str__(self) -> str:
        return self.name


class BusinessHours(models.Model):
    """One opening interval of a weekday (0 = Monday). A day may have several; a day without any is closed."""

    calendar = models.ForeignKey(
        "maintenance.BusinessCalendar", verbose_name=_("calendar"), on_delete=models.CASCADE, related_name="hours"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), validators=[MaxValueValidator(6)])
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        verbose_name = _("business hours")
        verbose_name_plural = _("business hours")
        ordering = ["calendar", "weekday", "opens"]
        constraints = [
            models.CheckConstraint(condition=Q(opens__lt=F("closes")), name="%(app_label)s_%(class)s_ordered"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="%(app_label)s_%(class)s_weekday"),
        ]

    def __str__(self) -> str:
        return f"{self.weekday}: {self.opens}–{self.closes}"


class BusinessClosure(models.Model):
    """A day the calendar is closed besides public holidays (company holidays, year-end)."""

    calendar = models.ForeignKey(
        "maintenance.BusinessCalendar", verbose_name=_("calendar"), on_delete=models.CASCADE, related_name="closures"
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("closure")
        verbose_name_plural = _("closures")
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="%(app_label)s_%(class)s_one_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class SiteCalendar(models.Model):
    """The business calendar a site keeps (overrides the service level's calendar for its work orders)."""

    site = models.OneToOneField(
        "assets.Site", verbose_name=_("site"), on_delete=models.CASCADE, related_name="business_calendar"
    )
    calendar = models.ForeignKey(
        "maintenance.BusinessCalendar", verbose_name=_("calendar"), on_delete=models.PROTECT, related_name="sites"
    )

    class Meta:
        verbose_name = _("site calendar")
        verbose_name_plural = _("site calendars")

    def __str__(self) -> str:
        return f"{self.site}: {self.calendar}"


class MaintenanceSettings(TimeStampedModel):
    """Per-organisation maintenance settings; the provider's row holds the defaults, empty fields inherit them."""

    organisation = models.OneToOneField(
        "accounts.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="maintenance_settings",
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    not_to_exceed = models.DecimalField(
        _("not-to-exceed amount"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("A work order whose estimate passes this amount waits for the customer's approval."),
    )
    replace_review_above = models.DecimalField(
        _("repair-or-replace review above"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Above this estimate the approval offers replacing the asset instead of repairing it."),
    )
    labour_rate = models.DecimalField(_("labour rate per hour"), max_digits=10, decimal_places=2, null=True, blank=True)
    # Replacement forecasts (``maintenance.forecasts``): when a need enters the planning window, act on it.
    planning_window_days = models.PositiveSmallIntegerField(
        _("planning window (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(180)],
        help_text=_("A shipment or predictive work order is opened when its ship-by or replace-by date is this close."),
    )
    safety_margin_days = models.PositiveSmallIntegerField(
        _("safety margin (days)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(60)],
        help_text=_("Days added to a part's lead time before its ship-by date."),
    )
    risk_quantile = models.DecimalField(
        _("risk quantile"),
        max_digits=3,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.50")), MaxValueValidator(Decimal("0.99"))],
        help_text=_("How sure the plan must be to act before the part runs out: 0.90 acts on the early P10 date."),
    )

    class Meta:
        verbose_name = _("maintenance settings")
        verbose_name_plural = _("maintenance settings")
        ordering = ["organisation__name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(not_to_exceed__isnull=True) | Q(not_to_exceed__gte=0),
                name="%(app_label)s_%(class)s_nte_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(replace_review_above__isnull=True) | Q(replace_review_above__gte=0),
                name="%(app_label)s_%(class)s_replace_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return str(self.organisation)


# --- Work done ----------------------------------------------------------------------------------------------------


class ChecklistTemplate(TimeStampedModel):
    """The items to check for a kind of work (or a pre-use inspection), optionally for one asset model."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200)
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=ChecklistPurpose.choices, default=ChecklistPurpose.WORK_ORDER
    )
    kind = models.CharField(
        _("work order kind"),
        max_length=20,
        choices=WorkOrderKind.choices,
        blank=True,
        help_text=_("Empty: any kind."),
    )
    asset_model = models.ForeignKey(
        "assets.AssetModel",
        verbose_name=_("asset model"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty: any model (of the category, if one is set)."),
    )
    category = models.CharField(_("asset category"), max_length=16, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("checklist template")
        verbose_name_plural = _("checklist templates")
        ordering = ["provider", "purpose", "name"]

    def __str__(self) -> str:
        return self.name


class ChecklistTemplateItem(models.Model):
    template = models.ForeignKey(
        "maintenance.ChecklistTemplate", verbose_name=_("template"), on_delete=models.CASCADE, related_name="items"
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    text = models.CharField(_("text"), max_length=300)
    critical = models.BooleanField(
        _("critical"), default=False, help_text=_("A failed critical item takes the asset out of service.")
    )

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering = ["template", "position", "id"]

    def __str__(self) -> str:
        return self.text


class WorkOrderChecklistItem(models.Model):
    """One item to check on a work order, copied from its template when the order is created."""

    work_order = models.ForeignKey(
        "maintenance.WorkOrder", verbose_name=_("work order"), on_delete=models.CASCADE, related_name="checklist"
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    text = models.CharField(_("text"), max_length=300)
    critical = models.BooleanField(_("critical"), default=False)
    result = models.CharField(
        _("result"), max_length=8, choices=ChecklistResult.choices, default=ChecklistResult.PENDING
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    checked_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("checked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering = ["work_order", "position", "id"]

    def __str__(self) -> str:
        return self.text


class WorkOrderPart(models.Model):
    """A part or consumable used on a work order. Installed parts are recorded on the asset at completion."""

    work_order = models.ForeignKey(
        "maintenance.WorkOrder", verbose_name=_("work order"), on_delete=models.CASCADE, related_name="parts"
    )
    part_type = models.ForeignKey(
        "assets.PartType",
        verbose_name=_("part type"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    quantity = models.DecimalField(
        _("quantity"), max_digits=10, decimal_places=2, default=1, validators=[MinValueValidator(Decimal("0.01"))]
    )
    unit_cost = models.DecimalField(_("unit cost"), max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    replaces_installed = models.BooleanField(
        _("replaces the installed part"),
        default=True,
        help_text=_("Record a part installation on the asset when the work order is completed."),
    )
    added_by = models.ForeignKey(
        "accounts.User", verbose_name=_("added by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(_("added at"))

    class Meta:
        verbose_name = _("part used")
        verbose_name_plural = _("parts used")
        ordering = ["work_order", "added_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="%(app_label)s_%(class)s_quantity_positive"),
            models.CheckConstraint(
                condition=Q(unit_cost__isnull=True) | Q(unit_cost__gte=0),
                name="%(app_label)s_%(class)s_cost_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(part_type__isnull=False) | ~Q(description=""),
                name="%(app_label)s_%(class)s_named",
            ),
        ]

    def __str__(self) -> str:
        return self.description or str(self.part_type)


class WorkOrderLabour(models.Model):
    """Hours a technician worked on a work order, at a rate."""

    work_order = models.ForeignKey(
        "maintenance.WorkOrder", verbose_name=_("work order"), on_delete=models.CASCADE, related_name="labour"
    )
    technician = models.ForeignKey(
        "accounts.User", verbose_name=_("technician"), on_delete=models.PROTECT, related_name="+"
    )
    date = models.DateField(_("date"))
    hours = models.DecimalField(
        _("hours"), max_digits=6, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    rate = models.DecimalField(_("rate per hour"), max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("labour entry")
        verbose_name_plural = _("labour entries")
        ordering = ["work_order", "date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(hours__gt=0) & Q(hours__lte=24), name="%(app_label)s_%(class)s_hours_in_day"
            ),
            models.CheckConstraint(
                condition=Q(rate__isnull=True) | Q(rate__gte=0), name="%(app_label)s_%(class)s_rate_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.technician} {self.date} {self.hours} h"


class WorkOrderPhoto(models.Model):
    """A photo taken on a work order (validated image, served only through a scoped view)."""

    work_order = models.ForeignKey(
        "maintenance.WorkOrder", verbose_name=_("work order"), on_delete=models.CASCADE, related_name="photos"
    )
    image = models.FileField(_("image"), upload_to="work-orders/photos/%Y/%m/")
    content_type = models.CharField(_("content type"), max_length=40)
    size = models.PositiveIntegerField(_("size (bytes)"))
    caption = models.CharField(_("caption"), max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(_("uploaded at"))

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["work_order", "uploaded_at", "id"]

    def __str__(self) -> str:
        return self.caption or self.image.name


class WorkOrderMeterRead(models.Model):
    """A meter reading a technician took on site for a work order (the reading itself lives in telemetry)."""

    work_order = models.ForeignKey(
        "maintenance.WorkOrder", verbose_name=_("work order"), on_delete=models.CASCADE, related_name="meter_reads"
    )
    reading = models.OneToOneField(
        "telemetry.Reading", verbose_name=_("reading"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("meter read on site")
        verbose_name_plural = _("meter reads on site")
        ordering = ["work_order", "id"]

    def __str__(self) -> str:
        return f"{self.work_order}: {self.reading_id}"


class PartInstallationQuerySet(TenantQuerySet):
    tenant_path = "asset__customer"
    site_path = "asset__site"


class PartInstallation(TimeStampedModel):
    """A part or consumable put into an asset, with the meter value then: where its life starts counting."""

    asset = models.ForeignKey(
        "assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="part_installations"
    )
    part_type = models.ForeignKey(
        "assets.PartType", verbose_name=_("part type"), on_delete=models.PROTECT, related_name="installations"
    )
    installed_at = models.DateTimeField(_("installed at"))
    meter = models.CharField(_("meter"), max_length=32, blank=True)
    meter_value = models.DecimalField(_("meter value"), max_digits=16, decimal_places=2, null=True, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=2, default=1)
    work_order = models.ForeignKey(
        "maintenance.WorkOrder",
        verbose_name=_("work order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="part_installations",
    )
    work_order_part = models.OneToOneField(
        "maintenance.WorkOrderPart",
        verbose_name=_("part used"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="installation",
    )

    objects = PartInstallationQuerySet.as_manager()

    class Meta:
        verbose_name = _("part installation")
        verbose_name_plural = _("part installations")
        ordering = ["asset", "part_type", "-installed_at", "-id"]
        indexes = [models.Index(fields=["asset", "part_type", "-installed_at"], name="maintenance_install_latest")]

    def __str__(self) -> str:
        return f"{self.asset} · {self.part_type} · {self.installed_at:%Y-%m-%d}"


class ErasureCertificateQuerySet(TenantQuerySet):
    tenant_path = "asset__customer"
    site_path = "asset__site"


class ErasureCertificate(TimeStampedModel):
    """Proof that an MFP's storage was erased when it was removed; the customer downloads it as a PDF."""

    number = models.CharField(_("number"), max_length=30, unique=True)
    asset = models.ForeignKey(
        "assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="erasure_certificates"
    )
    work_order = models.OneToOneField(
        "maintenance.WorkOrder",
        verbose_name=_("work order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="erasure_certificate",
    )
    method = models.CharField(_("method"), max_length=16, choices=ErasureMethod.choices)
    performed_at = models.DateTimeField(_("performed at"))
    technician = models.ForeignKey(
        "accounts.User", verbose_name=_("technician"), on_delete=models.PROTECT, related_name="+"
    )
    storage_description = models.CharField(_("storage"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    objects = ErasureCertificateQuerySet.as_manager()

    class Meta:
        verbose_name = _("storage-erasure certificate")
        verbose_name_plural = _("storage-erasure certificates")
        ordering = ["-performed_at", "-id"]

    def __str__(self) -> str:
        return self.number


# --- Preventive plans and statutory inspections -------------------------------------------------------------------


class PreventivePlanQuerySet(ProviderTenantQuerySet):
    """Plans are the provider's planning: its staff see them (account managers those of their customers and the
    provider-wide ones); customers see the work orders and inspection records they produce instead."""

    tenant_path = "customer"
    provider_wide_scopes = customer_row_scopes = frozenset({Scope.PROVIDER, Scope.ASSIGNED_CUSTOMERS})


class PreventivePlan(TimeStampedModel):
    """Recurring work for an asset model (across a provider's or one customer's fleet) or one asset: every N days
    and/or every N units of a meter, whichever comes first."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="preventive_plans",
        help_text=_("Empty: the plan applies to the asset model across all the provider's customers."),
    )
    name = models.CharField(_("name"), max_length=200)
    asset_model = models.ForeignKey(
        "assets.AssetModel",
        verbose_name=_("asset model"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="preventive_plans",
    )
    asset = models.ForeignKey(
        "assets.Asset",
        verbose_name=_("asset"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="preventive_plans",
    )
    kind = models.CharField(
        _("work order kind"), max_length=20, choices=WorkOrderKind.choices, default=WorkOrderKind.PREVENTIVE
    )
    statutory = models.CharField(
        _("statutory inspection"), max_length=20, choices=StatutoryInspection.choices, blank=True
    )
    interval_days = models.PositiveIntegerField(_("every N days"), null=True, blank=True)
    meter = models.CharField(_("meter"), max_length=32, blank=True)
    interval_units = models.PositiveIntegerField(_("every N meter units"), null=True, blank=True)
    schedule = models.CharField(
        _("schedule"), max_length=10, choices=ScheduleMode.choices, default=ScheduleMode.FLOATING
    )
    starts_on = models.DateField(_("starts on"))
    lead_days = models.PositiveSmallIntegerField(_("lead time (days)"), default=14)
    priority = models.CharField(_("priority"), max_length=2, choices=Priority.choices, default=Priority.P3)
    checklist_template = models.ForeignKey(
        "maintenance.ChecklistTemplate",
        verbose_name=_("checklist template"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    active = models.BooleanField(_("active"), default=True)

    objects = PreventivePlanQuerySet.as_manager()

    class Meta:
        verbose_name = _("preventive plan")
        verbose_name_plural = _("preventive plans")
        ordering = ["provider", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(asset_model__isnull=False, asset__isnull=True)
                | Q(asset_model__isnull=True, asset__isnull=False),
                name="%(app_label)s_%(class)s_model_or_asset",
            ),
            models.CheckConstraint(
                condition=Q(interval_days__isnull=False) | Q(interval_units__isnull=False),
                name="%(app_label)s_%(class)s_has_interval",
            ),
            models.CheckConstraint(
                condition=Q(interval_units__isnull=True) | ~Q(meter=""),
                name="%(app_label)s_%(class)s_units_need_meter",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PlanOccurrenceQuerySet(TenantQuerySet):
    tenant_path = "asset__customer"
    site_path = "asset__site"


class PlanOccurrence(models.Model):
    """One due occurrence of a plan on an asset and the work order opened for it: never two for the same one."""

    plan = models.ForeignKey(
        "maintenance.PreventivePlan", verbose_name=_("plan"), on_delete=models.CASCADE, related_name="occurrences"
    )
    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.CASCADE, related_name="+")
    due_on = models.DateField(_("due on"))
    due_meter_value = models.DecimalField(_("due at meter"), max_digits=16, decimal_places=2, null=True, blank=True)
    basis = models.CharField(_("basis"), max_length=300, blank=True)
    work_order = models.OneToOneField(
        "maintenance.WorkOrder",
        verbose_name=_("work order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="plan_occurrence",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = PlanOccurrenceQuerySet.as_manager()

    class Meta:
        verbose_name = _("plan occurrence")
        verbose_name_plural = _("plan occurrences")
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "asset", "due_on"], name="%(app_label)s_%(class)s_once"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} · {self.asset} · {self.due_on}"


class InspectionRecordQuerySet(TenantQuerySet):
    tenant_path = "asset__customer"
    site_path = "asset__site"


class InspectionRecord(TimeStampedModel):
    """The record of a statutory inspection on an asset (and its certificate), with when the next one is due."""

    asset = models.ForeignKey(
        "assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="inspection_records"
    )
    kind = models.CharField(_("inspection"), max_length=20, choices=StatutoryInspection.choices)
    work_order = models.OneToOneField(
        "maintenance.WorkOrder",
        verbose_name=_("work order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inspection_record",
    )
    inspected_on = models.DateField(_("inspected on"))
    inspector = models.ForeignKey(
        "accounts.User", verbose_name=_("inspector"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    inspector_name = models.CharField(_("inspector name"), max_length=200)
    inspector_qualification = models.CharField(_("inspector qualification"), max_length=200, blank=True)
    result = models.CharField(_("result"), max_length=8, choices=InspectionResult.choices)
    findings = models.TextField(_("findings"), blank=True)
    certificate_number = models.CharField(_("certificate number"), max_length=40, blank=True)
    next_due_on = models.DateField(_("next due on"))

    objects = InspectionRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("inspection record")
        verbose_name_plural = _("inspection records")
        ordering = ["asset", "kind", "-inspected_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(kind=""), name="%(app_label)s_%(class)s_kind_set"),
            models.CheckConstraint(
                condition=Q(next_due_on__gt=F("inspected_on")), name="%(app_label)s_%(class)s_next_after"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} · {self.get_kind_display()} · {self.inspected_on}"


# --- Service links (QR) and pre-use inspections -------------------------------------------------------------------


class AssetServiceLink(models.Model):
    """The unguessable link on an asset's QR label: it can only open that asset's service-request form."""

    asset = models.OneToOneField(
        "assets.Asset", verbose_name=_("asset"), on_delete=models.CASCADE, related_name="service_link"
    )
    token = models.CharField(_("token"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    rotated_at = models.DateTimeField(_("rotated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("service link")
        verbose_name_plural = _("service links")

    def __str__(self) -> str:
        return str(self.asset)


class PreUseInspectionQuerySet(TenantQuerySet):
    tenant_path = "asset__customer"
    site_path = "asset__site"


class PreUseInspection(models.Model):
    """An operator's check of a truck before a shift (始業点検). A failed critical item takes it out of service."""

    asset = models.ForeignKey(
        "assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="pre_use_inspections"
    )
    operator = models.ForeignKey(
        "accounts.User", verbose_name=_("operator"), on_delete=models.PROTECT, related_name="pre_use_inspections"
    )
    template = models.ForeignKey(
        "maintenance.ChecklistTemplate",
        verbose_name=_("checklist"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    performed_at = models.DateTimeField(_("performed at"), db_index=True)
    hour_meter = models.DecimalField(_("hour meter"), max_digits=12, decimal_places=1, null=True, blank=True)
    passed = models.BooleanField(_("passed"))
    critical_failure = models.BooleanField(_("critical failure"), default=False)
    note = models.TextField(_("note"), blank=True)
    work_order = models.OneToOneField(
        "maintenance.WorkOrder",
        verbose_name=_("work order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pre_use_inspection",
    )
    alert = models.ForeignKey(
        "telemetry.Alert", verbose_name=_("alert"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = PreUseInspectionQuerySet.as_manager()

    class Meta:
        verbose_name = _("pre-use inspection")
        verbose_name_plural = _("pre-use inspections")
        ordering = ["-performed_at", "-id"]
        indexes = [models.Index(fields=["operator", "-performed_at"], name="maintenance_preuse_operator")]

    def __str__(self) -> str:
        return f"{self.asset} · {self.performed_at:%Y-%m-%d %H:%M}"


class PreUseInspectionItem(models.Model):
    inspection = models.ForeignKey(
        "maintenance.PreUseInspection", verbose_name=_("inspection"), on_delete=models.CASCADE, related_name="items"
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    text = models.CharField(_("text"), max_length=300)
    critical = models.BooleanField(_("critical"), default=False)
    ok = models.BooleanField(_("OK"))
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("pre-use inspection item")
        verbose_name_plural = _("pre-use inspection items")
        ordering = ["inspection", "position", "id"]

    def __str__(self) -> str:
        return self.text


# --- Replacement forecasts and supply orders ----------------------------------------------------------------------


class ReplacementForecastQuerySet(TenantQuerySet):
    tenant_path = "asset__customer"
    site_path = "asset__site"


class ReplacementForecast(models.Model):
    """The current forecast of one part or consumable on one asset, with its basis; recomputed every night."""

    asset = models.ForeignKey(
        "assets.Asset", verbose_name=_("asset"), on_delete=models.CASCADE, related_name="forecasts"
    )
    part_type = models.ForeignKey(
        "assets.PartType", verbose_name=_("part type"), on_delete=models.CASCADE, related_name="forecasts"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=ForecastKind.choices)
    method = models.CharField(_("method"), max_length=12, choices=ForecastMethod.choices)
    supply = models.CharField(_("supply"), max_length=32, blank=True)
    meter = models.CharField(_("meter"), max_length=32, blank=True)
    # The basis: where the current part or cartridge started, how fast it is used and how much is left.
    segment_started_at = models.DateTimeField(_("installed or refilled at"), null=True, blank=True)
    level_percent = models.DecimalField(_("level (%)"), max_digits=5, decimal_places=1, null=True, blank=True)
    rate_per_day = models.DecimalField(_("use per day"), max_digits=14, decimal_places=4)
    life_used = models.DecimalField(_("life used"), max_digits=16, decimal_places=2, null=True, blank=True)
    rated_life = models.DecimalField(_("life expected"), max_digits=16, decimal_places=2, null=True, blank=True)
    data_points = models.PositiveIntegerField(_("data points"), default=0)
    replacements_used = models.PositiveIntegerField(_("replacements observed"), default=0)
    # The forecast: the date it runs out or must be replaced (P50) with its range, and when to act.
    predicted_on = models.DateField(_("predicted on"))
    earliest_on = models.DateField(_("earliest (P10)"))
    latest_on = models.DateField(_("latest (P90)"))
    act_by = models.DateField(
        _("ship or replace by"), help_text=_("The risk-quantile date less the lead time and the safety margin.")
    )
    computed_at = models.DateTimeField(_("computed at"))

    objects = ReplacementForecastQuerySet.as_manager()

    class Meta:
        verbose_name = _("replacement forecast")
        verbose_name_plural = _("replacement forecasts")
        ordering = ["act_by", "asset", "part_type"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "part_type"], name="%(app_label)s_%(class)s_one_per_part"),
            models.CheckConstraint(
                condition=Q(earliest_on__lte=F("predicted_on")) & Q(predicted_on__lte=F("latest_on")),
                name="%(app_label)s_%(class)s_range_ordered",
            ),
        ]
        indexes = [models.Index(fields=["act_by"], name="maintenance_forecast_act_by")]

    def __str__(self) -> str:
        return f"{self.asset} · {self.part_type} · {self.predicted_on}"


class SupplyOrderQuerySet(TenantQuerySet):
    tenant_path = "customer"
    site_path = "site"

    def open(self):
        return self.filter(status__in=SUPPLY_ORDER_OPEN_STATES)


class SupplyOrder(TimeStampedModel):
    """A consumable sent to a customer's asset: opened by a forecast or ordered by hand, shipped, delivered."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+"
    )
    number = models.CharField(_("number"), max_length=20)
    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="supply_orders"
    )
    site = models.ForeignKey("assets.Site", verbose_name=_("site"), on_delete=models.PROTECT, related_name="+")
    asset = models.ForeignKey(
        "assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="supply_orders"
    )
    part_type = models.ForeignKey(
        "assets.PartType", verbose_name=_("part type"), on_delete=models.PROTECT, related_name="supply_orders"
    )
    quantity = models.PositiveSmallIntegerField(
        _("quantity"), default=1, validators=[MinValueValidator(1), MaxValueValidator(99)]
    )
    status = models.CharField(
        _("status"), max_length=12, choices=SupplyOrderStatus.choices, default=SupplyOrderStatus.REQUESTED
    )
    source = models.CharField(_("source"), max_length=12, choices=SupplyOrderSource.choices)
    needed_by = models.DateField(_("needed by"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    tracking = models.CharField(_("tracking number"), max_length=100, blank=True)
    requested_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    objects = SupplyOrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("supply order")
        verbose_name_plural = _("supply orders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "number"], name="%(app_label)s_%(class)s_number_unique"),
            models.UniqueConstraint(
                fields=["asset", "part_type"],
                condition=Q(status__in=SUPPLY_ORDER_OPEN_STATES),
                name="%(app_label)s_%(class)s_one_open_per_part",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SupplyOrderStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["customer", "status", "-created_at"], name="maintenance_supply_list")]

    def __str__(self) -> str:
        return self.number


class ReplacementNeed(models.Model):
    """One need a forecast acted on: this part on this asset, for the part or cartridge in place since
    ``segment_started_at``. Unique, so the nightly run never acts twice on the same need. The needs of one asset
    share its predictive work order (one visit); each consumable has its own supply order."""

    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.CASCADE, related_name="+")
    part_type = models.ForeignKey(
        "assets.PartType", verbose_name=_("part type"), on_delete=models.CASCADE, related_name="+"
    )
    segment_started_at = models.DateTimeField(_("installed or refilled at"))
    act_by = models.DateField(_("ship or replace by"))
    work_order = models.ForeignKey(
        "maintenance.WorkOrder",
        verbose_name=_("work order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replacement_needs",
    )
    supply_order = models.OneToOneField(
        "maintenance.SupplyOrder",
        verbose_name=_("supply order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replacement_need",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("replacement need")
        verbose_name_plural = _("replacement needs")
        ordering = ["act_by", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "part_type", "segment_started_at"], name="%(app_label)s_%(class)s_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} · {self.part_type} · {self.segment_started_at:%Y-%m-%d}"
