"""Contracts: what a customer pays for, from which date, on which assets (DESIGN.md §4 "Contracts").

A ``Contract`` belongs to one customer of one provider and bills in one currency. Its ``PriceComponent`` rows are
the prices, each valid from a date (and until one, when an amendment replaced it), so that the price of any day
is known; ``PriceTier`` rows band a metered component beyond its allowance. ``ContractAsset`` rows say which
assets the contract covers over which dates (assets join and leave mid-term). A ``ContractAmendment`` records a
change that takes effect on a date (upsell, downsell, assets added) and the component rows it ended or started.
Every change to a contract, a component, a coverage or an amendment leaves an ``AuditEntry`` (who, when, the
fields before and after), written by the services (``contracts.services``), never by the models.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from contracts.choices import (
    AllowanceScope,
    AuditAction,
    ComponentKind,
    ContractStatus,
    TaxCategory,
    TierMode,
)
from fleet.models import TimeStampedModel
from fleet.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, Currency
from fleet.tenancy import TenantQuerySet
from maintenance.models import YearlySequence
from telemetry.choices import Meter

PERCENT = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))]
NOT_NEGATIVE = [MinValueValidator(Decimal(0))]


class ContractQuerySet(TenantQuerySet):
    tenant_path = "customer"

    def in_force_on(self, day):
        """Contracts active or suspended that have started by ``day`` and not ended before it."""
        return self.filter(status__in=[ContractStatus.ACTIVE, ContractStatus.SUSPENDED], start_date__lte=day).filter(
            Q(end_date__isnull=True) | Q(end_date__gte=day)
        )


class Contract(TimeStampedModel):
    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="contracts"
    )
    number = models.CharField(_("number"), max_length=32)
    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(_("status"), max_length=16, choices=ContractStatus.choices, default=ContractStatus.DRAFT)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True, help_text=_("Empty: until ended."))
    billing_day = models.PositiveSmallIntegerField(
        _("billing day"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text=_("Day of the month the invoice for the month before is issued."),
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    payment_terms_days = models.PositiveSmallIntegerField(
        _("payment terms (days)"), default=30, help_text=_("Days from the invoice date to its due date.")
    )
    auto_renew = models.BooleanField(_("renews automatically"), default=True)
    renewal_months = models.PositiveSmallIntegerField(
        _("renewal term (months)"), default=12, validators=[MinValueValidator(1)]
    )
    notice_days = models.PositiveSmallIntegerField(
        _("notice period (days)"), default=90, help_text=_("Notice needed before the end date to stop a renewal.")
    )
    service_level = models.ForeignKey(
        "maintenance.ServiceLevel",
        verbose_name=_("service level"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contracts",
    )
    credit_percent_per_breach = models.DecimalField(
        _("service credit per breach (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=PERCENT,
        help_text=_("Of the month's fixed fees, for each work order that breached its service level."),
    )
    credit_cap_percent = models.DecimalField(
        _("service credit cap (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=PERCENT,
        help_text=_("The most the month's service credits may reach, as a share of its fixed fees."),
    )
    baseline_monthly_cost = models.DecimalField(
        _("baseline monthly cost"),
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=MONEY_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=NOT_NEGATIVE,
        help_text=_("What the operation cost the customer a month before the contract: the saving is measured on it."),
    )
    notes = models.TextField(_("notes"), blank=True)

    objects = ContractQuerySet.as_manager()

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["-start_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "number"], name="%(app_label)s_%(class)s_number_unique"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="%(app_label)s_%(class)s_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(billing_day__gte=1, billing_day__lte=28), name="%(app_label)s_%(class)s_billing_day"
            ),
            models.CheckConstraint(
                condition=Q(credit_percent_per_breach__gte=0, credit_percent_per_breach__lte=100)
                & Q(credit_cap_percent__gte=0, credit_cap_percent__lte=100),
                name="%(app_label)s_%(class)s_credit_percents",
            ),
        ]
        indexes = [models.Index(fields=["customer", "status"], name="contracts_customer_status")]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class ContractSequence(YearlySequence):
    class Meta(YearlySequence.Meta):
        verbose_name = _("contract sequence")
        verbose_name_plural = _("contract sequences")


class ContractAssetQuerySet(TenantQuerySet):
    tenant_path = "contract__customer"
    site_path = "asset__site"

    def on(self, day):
        """Coverages that include ``day``."""
        return self.filter(start_date__lte=day).filter(Q(end_date__isnull=True) | Q(end_date__gte=day))


class ContractAsset(TimeStampedModel):
    """An asset covered by a contract from ``start_date`` to ``end_date`` (inclusive; empty: open)."""

    contract = models.ForeignKey(
        Contract, verbose_name=_("contract"), on_delete=models.CASCADE, related_name="coverage"
    )
    asset = models.ForeignKey(
        "assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="contract_coverage"
    )
    start_date = models.DateField(_("covered from"))
    end_date = models.DateField(_("covered until"), null=True, blank=True)

    objects = ContractAssetQuerySet.as_manager()

    class Meta:
        verbose_name = _("covered asset")
        verbose_name_plural = _("covered assets")
        ordering = ["contract", "start_date", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "asset", "start_date"], name="%(app_label)s_%(class)s_once_per_start"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="%(app_label)s_%(class)s_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract.number} · {self.asset}"


class PriceComponentQuerySet(TenantQuerySet):
    tenant_path = "contract__customer"

    def valid_on(self, day):
        """Components whose validity includes ``day``."""
        return self.filter(valid_from__lte=day).filter(Q(valid_to__isnull=True) | Q(valid_to__gte=day))


class PriceComponent(TimeStampedModel):
    """One price of a contract, valid from ``valid_from`` to ``valid_to`` (inclusive; empty: open).

    ``amount`` is the monthly fee (fixed and asset fees), the rate per unit (meter and outcome charges), the amount
    charged once on ``charge_date`` (one-off) or, for a saving share, unused (``share_percent`` is the share).
    Metered components read ``meter``; their first ``allowance`` units a month are included (pooled across the
    contract or per asset), the units beyond are priced at ``amount`` or, when the component has tiers, by its
    tiers (``tier_mode``); ``minimum_charge`` is the least the component bills a month.
    """

    contract = models.ForeignKey(
        Contract, verbose_name=_("contract"), on_delete=models.CASCADE, related_name="components"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=ComponentKind.choices)
    name = models.CharField(_("name"), max_length=200)
    amount = models.DecimalField(
        _("amount or rate"), max_digits=16, decimal_places=4, default=Decimal(0), validators=NOT_NEGATIVE
    )
    meter = models.CharField(_("meter"), max_length=32, choices=Meter.choices, blank=True)
    allowance = models.DecimalField(
        _("included units a month"), max_digits=16, decimal_places=3, default=Decimal(0), validators=NOT_NEGATIVE
    )
    allowance_scope = models.CharField(
        _("allowance"), max_length=16, choices=AllowanceScope.choices, default=AllowanceScope.POOLED
    )
    tier_mode = models.CharField(_("tiers"), max_length=16, choices=TierMode.choices, default=TierMode.GRADUATED)
    minimum_charge = models.DecimalField(
        _("minimum charge a month"),
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=MONEY_DECIMAL_PLACES,
        default=Decimal(0),
        validators=NOT_NEGATIVE,
    )
    share_percent = models.DecimalField(
        _("share of the saving (%)"), max_digits=5, decimal_places=2, null=True, blank=True, validators=PERCENT
    )
    charge_date = models.DateField(_("charged on"), null=True, blank=True, help_text=_("One-off charges only."))
    work_order = models.ForeignKey(
        "maintenance.WorkOrder",
        verbose_name=_("billable work order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="charges",
    )
    tax_category = models.CharField(
        _("tax category"), max_length=16, choices=TaxCategory.choices, default=TaxCategory.STANDARD
    )
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid until"), null=True, blank=True)
    amendment = models.ForeignKey(
        "contracts.ContractAmendment",
        verbose_name=_("introduced by amendment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="components",
    )

    objects = PriceComponentQuerySet.as_manager()

    class Meta:
        verbose_name = _("price component")
        verbose_name_plural = _("price components")
        ordering = ["contract", "valid_from", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")),
                name="%(app_label)s_%(class)s_valid_range",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["meter_charge", "outcome_charge"]) | ~Q(meter=""),
                name="%(app_label)s_%(class)s_metered_has_meter",
            ),
            models.CheckConstraint(
                condition=~Q(kind="one_off") | Q(charge_date__isnull=False),
                name="%(app_label)s_%(class)s_one_off_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(kind="saving_share") | Q(share_percent__isnull=False),
                name="%(app_label)s_%(class)s_share_has_percent",
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(allowance__gte=0) & Q(minimum_charge__gte=0),
                name="%(app_label)s_%(class)s_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract.number} · {self.name}"


class PriceTier(models.Model):
    """A band of a metered component: the units beyond the allowance from ``from_units`` on cost ``rate``."""

    component = models.ForeignKey(
        PriceComponent, verbose_name=_("price component"), on_delete=models.CASCADE, related_name="tiers"
    )
    from_units = models.DecimalField(_("from units"), max_digits=16, decimal_places=3, validators=NOT_NEGATIVE)
    rate = models.DecimalField(_("rate per unit"), max_digits=16, decimal_places=4, validators=NOT_NEGATIVE)

    class Meta:
        verbose_name = _("price tier")
        verbose_name_plural = _("price tiers")
        ordering = ["component", "from_units"]
        constraints = [
            models.UniqueConstraint(fields=["component", "from_units"], name="%(app_label)s_%(class)s_band_once"),
            models.CheckConstraint(
                condition=Q(from_units__gte=0) & Q(rate__gte=0), name="%(app_label)s_%(class)s_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.component} · {self.from_units}+ @ {self.rate}"


class ContractAmendmentQuerySet(TenantQuerySet):
    tenant_path = "contract__customer"


class ContractAmendment(TimeStampedModel):
    """A change to a contract that takes effect on ``effective_date``: numbered per contract."""

    contract = models.ForeignKey(
        Contract, verbose_name=_("contract"), on_delete=models.CASCADE, related_name="amendments"
    )
    number = models.PositiveSmallIntegerField(_("number"))
    effective_date = models.DateField(_("effective from"))
    description = models.TextField(_("description"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )

    objects = ContractAmendmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("contract amendment")
        verbose_name_plural = _("contract amendments")
        ordering = ["contract", "number"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "number"], name="%(app_label)s_%(class)s_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.contract.number} #{self.number}"


class AuditEntryQuerySet(TenantQuerySet):
    tenant_path = "contract__customer"


class AuditEntry(models.Model):
    """One change to a contract or what hangs off it: who, when, and each field's value before and after.

    ``changes`` maps a field name to ``[before, after]`` (as text; ``null`` where there was no value, e.g. before a
    creation). ``contract`` is the contract the object belongs to, so that its page lists every change."""

    contract = models.ForeignKey(Contract, verbose_name=_("contract"), on_delete=models.CASCADE, related_name="audit")
    content_type = models.ForeignKey(ContentType, verbose_name=_("object type"), on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField(_("object id"))
    object_repr = models.CharField(_("object"), max_length=200)
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    changes = models.JSONField(_("changes"), default=dict)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["contract", "-at"], name="contracts_audit_contract_at")]

    def __str__(self) -> str:
        return f"{self.object_repr} {self.action} {self.at:%Y-%m-%d %H:%M}"
