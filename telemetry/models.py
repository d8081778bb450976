"""The meter ledger and diagnostics: readings, supply levels, events, frozen boundaries, collector keys,
ingest requests, alert rules and alerts.

Readings are append-only facts: one row per asset, meter, time and source (the database refuses a second),
never edited; a bad read is invalidated with a reason and then ignored everywhere. The table is indexed for
"latest reading per asset and meter" and for per-period usage, and is ready for monthly range partitioning
on PostgreSQL (see telemetry/README.md).
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.utils.translation import gettext_lazy as _

from fleet.models import TimeStampedModel
from fleet.tenancy import TenantQuerySet
from telemetry.choices import (
    ALERT_ACTIVE_STATES,
    ALERT_WORK_ORDER_SEVERITIES,
    AlertRuleKind,
    AlertStatus,
    Meter,
    ReadingSource,
    Severity,
    Supply,
)

COUNTER_MAX_DIGITS = 16
COUNTER_DECIMAL_PLACES = 3

# At one instant a manual read wins: technician, then customer, then device (lower wins).
SOURCE_PRIORITY = {ReadingSource.TECHNICIAN: 0, ReadingSource.CUSTOMER: 1, ReadingSource.DEVICE: 2}
MANUAL_FIRST = Case(  # orders the readings of one instant: the winner first
    *(When(source=source, then=Value(rank)) for source, rank in SOURCE_PRIORITY.items()),
    default=Value(len(SOURCE_PRIORITY)),
    output_field=IntegerField(),
)


def manual_first_sql(alias: str) -> str:
    """``MANUAL_FIRST`` in raw SQL over the readings aliased ``alias``, in the form the series index is built with,
    so that PostgreSQL matches the index to a raw query's ``ORDER BY``."""
    whens = " ".join(f"WHEN {alias}.source = '{source}' THEN {rank}" for source, rank in SOURCE_PRIORITY.items())
    return f"CASE {whens} ELSE {len(SOURCE_PRIORITY)} END"


def epoch_micros_sql(column: str) -> str:
    """A timestamp column in raw SQL as whole microseconds since 1970 (SQLite: to within its float precision)."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
    return f"CAST(ROUND((julianday({column}) - 2440587.5) * 86400000000) AS INTEGER)"


class AssetRowQuerySet(TenantQuerySet):
    """Rows that belong to an asset: tenancy follows the asset's customer and site."""

    tenant_path = "asset__customer"
    site_path = "asset__site"


class ReadingQuerySet(AssetRowQuerySet):
    def valid(self):
        return self.filter(invalidated_at__isnull=True)


class Reading(models.Model):
    """A cumulative meter value of an asset at a moment (pages, hours, picks, cycles, kWh)."""

    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="+")
    meter = models.CharField(_("meter"), max_length=16, choices=Meter.choices)
    taken_at = models.DateTimeField(_("taken at"))
    value = models.DecimalField(_("value"), max_digits=COUNTER_MAX_DIGITS, decimal_places=COUNTER_DECIMAL_PLACES)
    source = models.CharField(_("source"), max_length=16, choices=ReadingSource.choices, default=ReadingSource.DEVICE)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    entered_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("entered by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    invalidated_at = models.DateTimeField(_("invalidated at"), null=True, blank=True)
    invalidated_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("invalidated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    invalidation_reason = models.CharField(_("invalidation reason"), max_length=200, blank=True)

    objects = ReadingQuerySet.as_manager()

    class Meta:
        verbose_name = _("reading")
        verbose_name_plural = _("readings")
        # No default ordering: a ledger of millions of rows is read by explicit, indexed orders only.
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "meter", "taken_at", "source"], name="%(app_label)s_%(class)s_unique_read"
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="%(app_label)s_%(class)s_value_not_negative"),
            models.CheckConstraint(condition=Q(meter__in=Meter.values), name="%(app_label)s_%(class)s_meter_valid"),
        ]
        # The unique constraint's index (asset, meter, taken_at, source) serves "latest reading per asset and
        # meter". The series index serves usage (telemetry.usage): the valid readings of one asset and meter in
        # time order, the winner of an instant first, with what usage reads (an index-only scan, no sort).
        indexes = [
            models.Index(
                F("asset"),
                F("meter"),
                F("taken_at"),
                MANUAL_FIRST,
                include=["value", "source"],
                condition=Q(invalidated_at__isnull=True),
                name="telemetry_reading_series",
            )
        ]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.meter} {self.value} @ {self.taken_at:%Y-%m-%d %H:%M}"


class SupplyLevel(models.Model):
    """A supply's remaining level in percent (toner, drum, waste toner, battery charge)."""

    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="+")
    supply = models.CharField(_("supply"), max_length=16, choices=Supply.choices)
    taken_at = models.DateTimeField(_("taken at"))
    percent = models.DecimalField(
        _("percent"), max_digits=5, decimal_places=2, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    source = models.CharField(_("source"), max_length=16, choices=ReadingSource.choices, default=ReadingSource.DEVICE)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    objects = AssetRowQuerySet.as_manager()

    class Meta:
        verbose_name = _("supply level")
        verbose_name_plural = _("supply levels")
        # No default ordering, as for readings.
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "supply", "taken_at", "source"], name="%(app_label)s_%(class)s_unique_level"
            ),
            models.CheckConstraint(
                condition=Q(percent__gte=0) & Q(percent__lte=100), name="%(app_label)s_%(class)s_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.supply} {self.percent}% @ {self.taken_at:%Y-%m-%d %H:%M}"


class DiagnosticEvent(models.Model):
    """Something a device reported: a service call, a jam, a fault code, an impact."""

    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(_("occurred at"))
    code = models.CharField(_("code"), max_length=40)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices, default=Severity.INFO)
    message = models.CharField(_("message"), max_length=500, blank=True)
    g_force = models.DecimalField(_("g-force"), max_digits=6, decimal_places=2, null=True, blank=True)
    operator_id = models.CharField(_("operator"), max_length=64, blank=True)
    cleared = models.BooleanField(
        _("cleared"), default=False, help_text=_("The device reports that the condition has cleared.")
    )
    raw = models.JSONField(_("raw payload"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    objects = AssetRowQuerySet.as_manager()

    class Meta:
        verbose_name = _("diagnostic event")
        verbose_name_plural = _("diagnostic events")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "code", "occurred_at"], name="%(app_label)s_%(class)s_unique_event"
            ),
        ]
        indexes = [models.Index(fields=["asset", "-occurred_at"], name="telemetry_event_asset_time")]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.code} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class MeterBoundary(models.Model):
    """A counter value frozen at a period boundary (by a finalised invoice): the next period starts from it."""

    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="+")
    meter = models.CharField(_("meter"), max_length=16, choices=Meter.choices)
    at = models.DateTimeField(_("at"))
    value = models.DecimalField(_("value"), max_digits=COUNTER_MAX_DIGITS, decimal_places=COUNTER_DECIMAL_PLACES)
    estimated = models.BooleanField(_("estimated"), default=False)
    reference = models.CharField(_("frozen by"), max_length=100, help_text=_("The document that froze it."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = AssetRowQuerySet.as_manager()

    class Meta:
        verbose_name = _("frozen meter boundary")
        verbose_name_plural = _("frozen meter boundaries")
        ordering = ["asset_id", "meter", "at"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "meter", "at"], name="%(app_label)s_%(class)s_unique_boundary"),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.meter} {self.value} @ {self.at:%Y-%m-%d}"


class CollectorKeyQuerySet(TenantQuerySet):
    tenant_path = "customer"

    def active(self):
        return self.filter(revoked_at__isnull=True)


class CollectorKey(TimeStampedModel):
    """A secret that lets a collector (an SNMP agent, a telematics gateway) write one customer's telemetry.

    Only a hash is stored; the key is shown once, when it is created. ``prefix`` finds the row.
    """

    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="collector_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True)
    key_hash = models.CharField(_("key hash"), max_length=64)
    created_by = models.ForeignKey(
        "accounts.User", verbose_name=_("created by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    objects = CollectorKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("collector key")
        verbose_name_plural = _("collector keys")
        ordering = ["customer__name", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IngestRequestQuerySet(TenantQuerySet):
    tenant_path = "collector_key__customer"


class IngestRequest(models.Model):
    """One batch posted with an ``Idempotency-Key``: a replay answers the stored response and writes nothing."""

    collector_key = models.ForeignKey(
        "telemetry.CollectorKey", verbose_name=_("collector key"), on_delete=models.CASCADE, related_name="requests"
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=128)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    accepted = models.PositiveIntegerField(_("accepted"), default=0)
    duplicates = models.PositiveIntegerField(_("duplicates"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    response = models.JSONField(_("response"), default=dict)

    objects = IngestRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("ingest request")
        verbose_name_plural = _("ingest requests")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["collector_key", "idempotency_key"], name="%(app_label)s_%(class)s_unique_idempotency_key"
            ),
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class AlertRuleQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def visible_to(self, user):
        """The provider's rules that watch assets the user may see.

        Rules for every customer are visible to all of the provider's users and customers (they name no
        customer); a rule of one customer only to those who see that customer: provider-wide roles, the
        customer's account managers and the customer's own users. Technicians see the general rules only.
        """
        from accounts.roles import Scope
        from fleet.tenancy import access_for, scope_q

        access = access_for(user)
        if access is None:
            return self.none()
        rules = self.filter(provider_id=access.provider_id)
        if access.policy.scope == Scope.PROVIDER:
            return rules
        if access.policy.scope in (Scope.ORGANISATION, Scope.SITES):
            own_customer = Q(customer_id=access.organisation_id)
        else:
            own_customer = scope_q(self.model, access, tenant_path="customer", site_path=None)
        return rules.filter(Q(customer__isnull=True) | own_customer)


class AlertRule(TimeStampedModel):
    """When telemetry raises an alert: a condition, the assets it watches, and what follows.

    Scope: all assets of the provider's customers, or those of one customer, one model or one category.
    """

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=AlertRuleKind.choices)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices, default=Severity.WARNING)
    customer = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("only customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
    )
    asset_model = models.ForeignKey(
        "assets.AssetModel",
        verbose_name=_("only model"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    category = models.CharField(_("only category"), max_length=16, blank=True)
    code_pattern = models.CharField(
        _("event code pattern"),
        max_length=100,
        blank=True,
        help_text=_("Shell-style pattern of event codes, e.g. SC5* or E-0??."),
    )
    supply = models.CharField(_("supply"), max_length=16, choices=Supply.choices, blank=True)
    meter = models.CharField(_("meter"), max_length=16, choices=Meter.choices, blank=True)
    threshold = models.DecimalField(_("threshold"), max_digits=16, decimal_places=3, null=True, blank=True)
    silent_hours = models.PositiveIntegerField(_("silent after (hours)"), null=True, blank=True)
    notify = models.BooleanField(_("e-mail notifications"), default=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = AlertRuleQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AlertRuleKind.values), name="%(app_label)s_%(class)s_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AlertQuerySet(TenantQuerySet):
    tenant_path = "customer"
    site_path = "asset__site"

    def active(self):
        from telemetry.choices import ALERT_ACTIVE_STATES

        return self.filter(status__in=ALERT_ACTIVE_STATES)


class Alert(TimeStampedModel):
    """A condition on one asset that needs attention. One active alert per asset, rule and condition."""

    rule = models.ForeignKey(
        "telemetry.AlertRule", verbose_name=_("rule"), on_delete=models.PROTECT, related_name="alerts"
    )
    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="+"
    )
    condition = models.CharField(
        _("condition"), max_length=100, help_text=_("What the alert is about, e.g. the event code or the supply.")
    )
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    status = models.CharField(_("status"), max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    message = models.CharField(_("message"), max_length=500, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"))
    count = models.PositiveIntegerField(_("occurrences"), default=1)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("resolved by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acknowledgement_note = models.CharField(_("acknowledgement note"), max_length=500, blank=True)
    resolution_note = models.CharField(_("note"), max_length=500, blank=True)
    work_order_requested_at = models.DateTimeField(_("work order requested at"), null=True, blank=True)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "rule", "condition"],
                condition=Q(status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]),
                name="%(app_label)s_%(class)s_one_active_per_condition",
            ),
            models.CheckConstraint(
                condition=Q(status__in=AlertStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "status", "-last_seen_at"], name="telemetry_alert_list"),
            # What the sweep still has to e-mail about, and the severe alerts still waiting for a work order.
            models.Index(fields=["id"], condition=Q(notified_at__isnull=True), name="telemetry_alert_to_notify"),
            models.Index(
                fields=["id"],
                condition=Q(
                    work_order_requested_at__isnull=True,
                    severity__in=ALERT_WORK_ORDER_SEVERITIES,
                    status__in=ALERT_ACTIVE_STATES,
                ),
                name="telemetry_alert_wo_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.condition} on {self.asset_id}"


class AlertOccurrence(models.Model):
    """One time an alert's condition was seen (its event history)."""

    alert = models.ForeignKey(
        "telemetry.Alert", verbose_name=_("alert"), on_delete=models.CASCADE, related_name="occurrences"
    )
    at = models.DateTimeField(_("at"))
    message = models.CharField(_("message"), max_length=500, blank=True)
    event = models.ForeignKey(
        "telemetry.DiagnosticEvent",
        verbose_name=_("event"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("alert occurrence")
        verbose_name_plural = _("alert occurrences")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.alert_id} @ {self.at:%Y-%m-%d %H:%M}"
