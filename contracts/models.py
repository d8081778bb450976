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
    BillingRunStatus,
    ComponentKind,
    ContractStatus,
    InvoiceKind,
    InvoiceStatus,
    LineKind,
    PaymentSource,
    PaymentStatus,
    RunItemStatus,
    TaxCategory,
    TaxRounding,
    TierMode,
)
from fleet.models import TimeStampedModel
from fleet.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, Currency
from fleet.tenancy import TenantQuerySet, access_for
from maintenance.models import YearlySequence
from telemetry.choices import Meter
from telemetry.models import COUNTER_DECIMAL_PLACES, COUNTER_MAX_DIGITS

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
    tiers (``tier_mode``); ``minimum_charge`` is the least the component bills a month. An outcome charge or saving
    share may name its ``outcome_target``, the output or saving promised a month (``reports.service``).
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
    outcome_target = models.DecimalField(
        _("promised a month"),
        max_digits=16,
        decimal_places=3,
        null=True,
        blank=True,
        validators=NOT_NEGATIVE,
        help_text=_(
            "Outcome charges: the output promised a month (units of the meter); saving shares: the saving promised a "
            "month, in the contract's currency. The outcome achievement compares what was measured with it."
        ),
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


# --- Billing ------------------------------------------------------------------------------------------------------
#
# A ``BillingRun`` drafts one period (a calendar month) for every customer of a provider with a contract in force,
# one ``BillingRunItem`` per customer (its progress and error). Rating (``contracts.rating``) turns a customer's
# contracts into an ``Invoice`` per currency with ``InvoiceLine`` rows (each with its ``InvoiceLineAsset`` detail:
# the counters and usage behind it) and one ``InvoiceTax`` row per tax category. Finalisation
# (``contracts.billing``) numbers the invoice, freezes it, and freezes the end counters it used. From then on a
# database trigger refuses any change to its amounts, identity and lines (``contracts/migrations/0003``).
# Delivery and payment live apart, on ``Receivable`` and ``Payment``.


class BillingSettings(TimeStampedModel):
    """The provider's billing settings: tax rounding, the review period of drafts, payment instructions."""

    provider = models.OneToOneField(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.CASCADE, related_name="billing_settings"
    )
    tax_rounding = models.CharField(
        _("tax rounding"),
        max_length=16,
        choices=TaxRounding.choices,
        default=TaxRounding.DOWN,
        help_text=_("How the tax of each rate is rounded, once per rate on each invoice."),
    )
    review_days = models.PositiveSmallIntegerField(
        _("review period (days)"),
        default=3,
        help_text=_("Draft invoices are finalised automatically this many days after they were drafted."),
    )
    reminder_interval_days = models.PositiveSmallIntegerField(
        _("reminder interval (days)"),
        default=14,
        validators=[MinValueValidator(1)],
        help_text=_("An overdue invoice gets a payment reminder at most this often."),
    )
    payment_instructions = models.TextField(
        _("payment instructions"), blank=True, help_text=_("Printed on every invoice: bank, branch, account.")
    )
    bank_account = models.CharField(
        _("bank account identifier"), max_length=64, blank=True, help_text=_("The account customers pay into.")
    )

    class Meta:
        verbose_name = _("billing settings")
        verbose_name_plural = _("billing settings")

    def __str__(self) -> str:
        return str(self.provider)


class InvoiceSequence(YearlySequence):
    class Meta(YearlySequence.Meta):
        verbose_name = _("invoice sequence")
        verbose_name_plural = _("invoice sequences")


class CreditNoteSequence(YearlySequence):
    class Meta(YearlySequence.Meta):
        verbose_name = _("credit note sequence")
        verbose_name_plural = _("credit note sequences")


class BillingRunQuerySet(models.QuerySet):
    def visible_to(self, user):
        """A provider's runs, to its staff who see prices (account managers see only their customers' items)."""
        access = access_for(user)
        if access is None or not access.is_provider_staff or not access.sees_prices:
            return self.none()
        return self.filter(provider_id=access.provider_id)


class BillingRun(models.Model):
    """The drafting (and finalising) of one period for all of a provider's customers: one row per period."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+"
    )
    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"), validators=[MinValueValidator(1), MaxValueValidator(12)])
    status = models.CharField(
        _("status"), max_length=16, choices=BillingRunStatus.choices, default=BillingRunStatus.RUNNING
    )
    finalize = models.BooleanField(
        _("finalise when drafted"), default=False, help_text=_("Skip the review period: finalise once drafted.")
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    started_at = models.DateTimeField(_("started at"))
    drafted_at = models.DateTimeField(_("drafted at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("runs"), default=1, help_text=_("How many times the period was run."))

    objects = BillingRunQuerySet.as_manager()

    class Meta:
        verbose_name = _("billing run")
        verbose_name_plural = _("billing runs")
        ordering = ["-year", "-month", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "year", "month"], name="%(app_label)s_%(class)s_one_per_period"
            ),
            models.CheckConstraint(condition=Q(month__gte=1, month__lte=12), name="%(app_label)s_%(class)s_month"),
        ]

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d}"

    @property
    def period(self) -> str:
        return f"{self.year}-{self.month:02d}"


class BillingRunItemQuerySet(TenantQuerySet):
    tenant_path = "customer"


class BillingRunItem(models.Model):
    """One customer of a billing run: pending until its invoices are drafted (done) or drafting failed."""

    run = models.ForeignKey(BillingRun, verbose_name=_("billing run"), on_delete=models.CASCADE, related_name="items")
    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=16, choices=RunItemStatus.choices, default=RunItemStatus.PENDING)
    message = models.TextField(_("message"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = BillingRunItemQuerySet.as_manager()

    class Meta:
        verbose_name = _("billing run customer")
        verbose_name_plural = _("billing run customers")
        ordering = ["run", "customer__name"]
        constraints = [
            models.UniqueConstraint(fields=["run", "customer"], name="%(app_label)s_%(class)s_once_per_run"),
        ]
        indexes = [models.Index(fields=["run", "status"], name="contracts_runitem_status")]

    def __str__(self) -> str:
        return f"{self.run} · {self.customer_id} · {self.status}"


class InvoiceQuerySet(TenantQuerySet):
    tenant_path = "customer"

    def finalised(self):
        return self.filter(status=InvoiceStatus.FINALISED)


class Invoice(models.Model):
    """A consolidated invoice (or a credit note) of one customer, period and currency.

    Drafts are replaced whenever the period is re-rated; a finalised document never changes (a trigger guards
    the columns from ``number`` to ``total`` and every line). ``seller`` and ``buyer`` are the parties as they
    stood when the document was drafted or finalised: names, addresses, registration numbers.
    """

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="invoices"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE)
    status = models.CharField(_("status"), max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    run = models.ForeignKey(
        BillingRun,
        verbose_name=_("billing run"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    corrects = models.ForeignKey(
        "self",
        verbose_name=_("corrects invoice"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_notes",
    )
    number = models.CharField(_("number"), max_length=32, blank=True)
    year = models.PositiveSmallIntegerField(_("period year"))
    month = models.PositiveSmallIntegerField(_("period month"))
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period until"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    language = models.CharField(_("language"), max_length=8)
    time_zone = models.CharField(_("time zone"), max_length=64)
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    payment_terms_days = models.PositiveSmallIntegerField(_("payment terms (days)"))
    billing_day = models.PositiveSmallIntegerField(_("billing day"), default=1)
    tax_rounding = models.CharField(_("tax rounding"), max_length=16, choices=TaxRounding.choices)
    net_total = models.DecimalField(_("net total"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    tax_total = models.DecimalField(_("tax"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    total = models.DecimalField(_("total"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    seller = models.JSONField(_("seller"), default=dict)
    buyer = models.JSONField(_("buyer"), default=dict)
    note = models.TextField(_("note"), blank=True, help_text=_("Credit notes: the reason for the correction."))
    drafted_at = models.DateTimeField(_("drafted at"))
    finalised_at = models.DateTimeField(_("finalised at"), null=True, blank=True)
    finalised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("finalised by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The rendered documents: generated once after finalisation, served only through scoped views.
    pdf = models.FileField(_("PDF"), upload_to="invoices/%Y/%m/", blank=True)
    xml = models.FileField(_("e-invoice XML"), upload_to="invoices/%Y/%m/", blank=True)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-year", "-month", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "year", "month", "currency"],
                condition=Q(kind="invoice"),
                name="%(app_label)s_%(class)s_one_per_period",
            ),
            models.UniqueConstraint(
                fields=["provider", "number"], condition=~Q(number=""), name="%(app_label)s_%(class)s_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | (~Q(number="") & Q(issue_date__isnull=False) & Q(due_date__isnull=False)),
                name="%(app_label)s_%(class)s_finalised_is_numbered",
            ),
            models.CheckConstraint(
                condition=Q(kind="invoice") | Q(corrects__isnull=False),
                name="%(app_label)s_%(class)s_credit_note_corrects",
            ),
            models.CheckConstraint(
                condition=Q(total=F("net_total") + F("tax_total")), name="%(app_label)s_%(class)s_total"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-year", "-month"], name="contracts_invoice_customer"),
            models.Index(fields=["run", "status"], name="contracts_invoice_run"),
        ]

    def __str__(self) -> str:
        return self.number or f"{self.get_kind_display()} {self.year}-{self.month:02d} ({self.get_status_display()})"

    @property
    def is_final(self) -> bool:
        return self.status == InvoiceStatus.FINALISED

    @property
    def is_credit_note(self) -> bool:
        return self.kind == InvoiceKind.CREDIT_NOTE

    @property
    def period(self) -> str:
        return f"{self.year}-{self.month:02d}"


class InvoiceLineQuerySet(TenantQuerySet):
    tenant_path = "invoice__customer"


class InvoiceLine(models.Model):
    """One line of an invoice: ``quantity`` × ``unit_price`` rounded to the currency is ``amount`` (credits are
    negative). ``detail`` keeps how it was rated: proration days, allowance, overage, tier band, minimum."""

    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=16, choices=LineKind.choices)
    contract = models.ForeignKey(
        Contract, verbose_name=_("contract"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    component = models.ForeignKey(
        PriceComponent,
        verbose_name=_("price component"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    site = models.ForeignKey(
        "assets.Site", verbose_name=_("site"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    work_order = models.ForeignKey(
        "maintenance.WorkOrder",
        verbose_name=_("work order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    description = models.CharField(_("description"), max_length=300)
    service_start = models.DateField(_("service from"))
    service_end = models.DateField(_("service until"))
    quantity = models.DecimalField(_("quantity"), max_digits=16, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=16)
    unit_price = models.DecimalField(_("unit price"), max_digits=16, decimal_places=4)
    amount = models.DecimalField(_("amount"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    tax_category = models.CharField(_("tax category"), max_length=16, choices=TaxCategory.choices)
    detail = models.JSONField(_("detail"), default=dict)

    objects = InvoiceLineQuerySet.as_manager()

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="%(app_label)s_%(class)s_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} #{self.position} {self.description}"


class InvoiceLineAsset(models.Model):
    """The per-asset detail behind a line (the invoice's appendix): the days an asset was covered and, for usage,
    the counters at the start and end (how each was obtained), usage, allowance and overage."""

    line = models.ForeignKey(InvoiceLine, verbose_name=_("line"), on_delete=models.CASCADE, related_name="assets")
    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.PROTECT, related_name="+")
    days = models.PositiveSmallIntegerField(_("days covered"))
    meter = models.CharField(_("meter"), max_length=16, choices=Meter.choices, blank=True)
    start_at = models.DateTimeField(_("from"), null=True, blank=True)
    end_at = models.DateTimeField(_("until"), null=True, blank=True)
    start_value = models.DecimalField(
        _("start counter"), max_digits=COUNTER_MAX_DIGITS, decimal_places=COUNTER_DECIMAL_PLACES, null=True, blank=True
    )
    end_value = models.DecimalField(
        _("end counter"), max_digits=COUNTER_MAX_DIGITS, decimal_places=COUNTER_DECIMAL_PLACES, null=True, blank=True
    )
    start_source = models.CharField(_("start counter from"), max_length=16, blank=True)
    end_source = models.CharField(_("end counter from"), max_length=16, blank=True)
    start_estimated = models.BooleanField(_("start estimated"), default=False)
    end_estimated = models.BooleanField(_("end estimated"), default=False)
    usage = models.DecimalField(
        _("usage"), max_digits=COUNTER_MAX_DIGITS, decimal_places=COUNTER_DECIMAL_PLACES, default=Decimal(0)
    )
    allowance = models.DecimalField(_("allowance"), max_digits=16, decimal_places=3, default=Decimal(0))
    overage = models.DecimalField(_("overage"), max_digits=COUNTER_MAX_DIGITS, decimal_places=3, default=Decimal(0))
    resets = models.PositiveSmallIntegerField(_("resets"), default=0)
    no_data = models.BooleanField(_("no readings"), default=False)

    class Meta:
        verbose_name = _("invoice line asset")
        verbose_name_plural = _("invoice line assets")
        ordering = ["line", "asset_id", "meter"]

    def __str__(self) -> str:
        return f"{self.line_id} · {self.asset_id} {self.meter}"


class InvoiceTax(models.Model):
    """The tax of one category on an invoice: computed on the category's net total and rounded once."""

    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.CASCADE, related_name="taxes")
    tax_category = models.CharField(_("tax category"), max_length=16, choices=TaxCategory.choices)
    rate = models.DecimalField(_("rate (%)"), max_digits=5, decimal_places=2)
    net = models.DecimalField(_("net"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    tax = models.DecimalField(_("tax"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)

    class Meta:
        verbose_name = _("invoice tax")
        verbose_name_plural = _("invoice taxes")
        ordering = ["invoice", "-rate", "tax_category"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "tax_category"], name="%(app_label)s_%(class)s_once"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.tax_category} {self.tax}"


class InvoiceEventQuerySet(TenantQuerySet):
    tenant_path = "invoice__customer"


class InvoiceEvent(models.Model):
    """The audit trail of an invoice or credit note: drafted, re-rated, finalised, e-mailed, paid, credited."""

    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=32)
    changes = models.JSONField(_("changes"), default=dict)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)

    objects = InvoiceEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("invoice event")
        verbose_name_plural = _("invoice events")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.action}"


class InvoiceDelivery(models.Model):
    """How a finalised document reached the customer: e-mailed once, to whom."""

    invoice = models.OneToOneField(
        Invoice, verbose_name=_("invoice"), on_delete=models.CASCADE, related_name="delivery"
    )
    emailed_at = models.DateTimeField(_("e-mailed at"), null=True, blank=True)
    recipients = models.JSONField(_("recipients"), default=list)

    class Meta:
        verbose_name = _("invoice delivery")
        verbose_name_plural = _("invoice deliveries")

    def __str__(self) -> str:
        return f"{self.invoice} · {self.emailed_at or '-'}"


class ReceivableQuerySet(TenantQuerySet):
    tenant_path = "invoice__customer"


class Receivable(models.Model):
    """What a finalised invoice is owed and how it was delivered: kept apart from its frozen amounts."""

    invoice = models.OneToOneField(
        Invoice, verbose_name=_("invoice"), on_delete=models.CASCADE, related_name="receivable"
    )
    status = models.CharField(_("payment"), max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.OPEN)
    paid_amount = models.DecimalField(
        _("paid"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, default=Decimal(0)
    )
    last_reminder_at = models.DateTimeField(_("last reminder at"), null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(_("reminders sent"), default=0)

    objects = ReceivableQuerySet.as_manager()

    class Meta:
        verbose_name = _("receivable")
        verbose_name_plural = _("receivables")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice} · {self.status}"


class PaymentQuerySet(TenantQuerySet):
    tenant_path = "invoice__customer"


class Payment(models.Model):
    """Money received against an invoice, recorded by hand or imported from a bank statement."""

    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(_("amount"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    paid_on = models.DateField(_("paid on"))
    reference = models.CharField(_("reference"), max_length=140, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=PaymentSource.choices, default=PaymentSource.MANUAL)
    bank_transaction_id = models.CharField(
        _("bank transaction"), max_length=64, blank=True, help_text=_("Imported payments: the statement's own id.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-paid_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "bank_transaction_id"],
                condition=~Q(bank_transaction_id=""),
                name="%(app_label)s_%(class)s_imported_once",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="%(app_label)s_%(class)s_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice} {self.amount} {self.paid_on}"
