"""The cost ledger: what each asset cost whom in each month, filled from its sources by ``reports.ledger``.

``CostEntry`` rows are derived data: ``reports.ledger.build_ledger`` replaces a customer's month whole, so a row is
never edited by hand and always says which source row it came from (``source``, ``source_id``) and, where a quantity
was priced (kWh, hours), how much. ``AssetMonthUsage`` keeps the meter deltas the cost per page and per operating
hour divide by. ``CostRates`` are the rates the ledger prices energy and downtime at: per site, per customer, or the
provider's default.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.roles import Capability, Scope
from fleet.models import TimeStampedModel
from fleet.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, Currency
from fleet.tenancy import ProviderTenantQuerySet, TenantQuerySet, access_for, scope_q
from reports.choices import CostCategory, CostSource, CostView, ProposalStatus
from telemetry.choices import Meter


class CostEntryQuerySet(TenantQuerySet):
    """Ledger rows a user may see: costs are prices, so only roles that see prices see any; the provider's cost to
    serve only roles that see margins (provider admins, account managers)."""

    def visible_to(self, user):
        access = access_for(user)
        if access is None or not access.sees_prices:
            return self.none()
        rows = self.filter(scope_q(self.model, access, tenant_path=self.tenant_path, site_path=self.site_path))
        if not (access.policy.sees_margins and access.is_provider_staff):
            rows = rows.filter(view=CostView.CUSTOMER)
        return rows


class CostEntry(models.Model):
    """One cost of one month: an asset's share of an invoice line, a month of depreciation, a work order's labour...

    ``asset`` is empty for a cost that belongs to no single asset (a contract-level fee, a credit note's line);
    ``amount`` is signed (credit notes lower the service fees) and rounded to the currency's minor unit."""

    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    view = models.CharField(_("view"), max_length=8, choices=CostView.choices)
    category = models.CharField(_("category"), max_length=24, choices=CostCategory.choices)
    asset = models.ForeignKey(
        "assets.Asset", verbose_name=_("asset"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    site = models.ForeignKey(
        "assets.Site", verbose_name=_("site"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    contract = models.ForeignKey(
        "contracts.Contract",
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    amount = models.DecimalField(_("amount"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    quantity = models.DecimalField(_("quantity"), max_digits=16, decimal_places=3, null=True, blank=True)
    unit = models.CharField(_("unit"), max_length=16, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=CostSource.choices)
    source_id = models.PositiveBigIntegerField(_("source id"))

    objects = CostEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("cost entry")
        verbose_name_plural = _("cost entries")
        ordering = ["-month", "category", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(month__day=1), name="%(app_label)s_%(class)s_month_first_day"),
            models.CheckConstraint(condition=Q(view__in=CostView.values), name="%(app_label)s_%(class)s_view_valid"),
            models.CheckConstraint(
                condition=Q(category__in=CostCategory.values), name="%(app_label)s_%(class)s_category_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "month", "view"], name="reports_cost_customer_month"),
            models.Index(fields=["asset", "month"], name="reports_cost_asset_month"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.category} {self.amount} {self.currency}"


class AssetMonthUsageQuerySet(TenantQuerySet):
    tenant_path = "asset__customer"
    site_path = "asset__site"


class AssetMonthUsage(models.Model):
    """One meter's usage of one asset over one month (``telemetry.usage``), kept with the ledger it divides."""

    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.CASCADE, related_name="+")
    month = models.DateField(_("month"))
    meter = models.CharField(_("meter"), max_length=16, choices=Meter.choices)
    usage = models.DecimalField(_("usage"), max_digits=16, decimal_places=3)
    estimated = models.BooleanField(_("estimated"), default=False)

    objects = AssetMonthUsageQuerySet.as_manager()

    class Meta:
        verbose_name = _("monthly usage")
        verbose_name_plural = _("monthly usage")
        constraints = [
            models.UniqueConstraint(fields=["asset", "month", "meter"], name="%(app_label)s_%(class)s_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.meter} {self.usage}"


class PricesOnly:
    """A queryset mixin for rows that are prices: none for the roles that do not see prices, else the base
    queryset's tenancy."""

    def visible_to(self, user):
        access = access_for(user)
        if access is None or not access.sees_prices:
            return self.none()
        return super().visible_to(user)


class CostRatesQuerySet(PricesOnly, ProviderTenantQuerySet):
    """The provider's defaults are seen by its staff who see prices; a customer's (or its site's) rates like any
    row of that customer."""

    provider_wide_scopes = frozenset({Scope.PROVIDER, Scope.ASSIGNED_CUSTOMERS})


class CostRates(TimeStampedModel):
    """The rates the ledger prices energy and downtime at. A row names the provider alone (its default), a
    customer, or a customer's site; the most specific row with a rate set wins, rate by rate."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    site = models.ForeignKey(
        "assets.Site", verbose_name=_("site"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    energy_price_per_kwh = models.DecimalField(
        _("energy price per kWh"),
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    downtime_cost_per_hour = models.DecimalField(
        _("downtime cost per hour"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("What an hour without the equipment costs the customer (lost output, stand-by staff)."),
    )

    objects = CostRatesQuerySet.as_manager()

    class Meta:
        verbose_name = _("cost rates")
        verbose_name_plural = _("cost rates")
        constraints = [
            models.UniqueConstraint(
                fields=["provider"],
                condition=Q(customer__isnull=True),
                name="%(app_label)s_%(class)s_one_default",
            ),
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(site__isnull=True, customer__isnull=False),
                name="%(app_label)s_%(class)s_one_per_customer",
            ),
            models.UniqueConstraint(
                fields=["site"], condition=Q(site__isnull=False), name="%(app_label)s_%(class)s_one_per_site"
            ),
            models.CheckConstraint(
                condition=Q(site__isnull=True) | Q(customer__isnull=False),
                name="%(app_label)s_%(class)s_site_has_customer",
            ),
            models.CheckConstraint(
                condition=(Q(energy_price_per_kwh__isnull=True) | Q(energy_price_per_kwh__gte=0))
                & (Q(downtime_cost_per_hour__isnull=True) | Q(downtime_cost_per_hour__gte=0)),
                name="%(app_label)s_%(class)s_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return str(self.site or self.customer or self.provider)


class ProposalQuerySet(TenantQuerySet):
    """Proposals are the account managers' documents: seen by the roles that make them (provider admins, and
    account managers for their customers)."""

    def visible_to(self, user):
        access = access_for(user)
        if access is None or not access.can(Capability.MANAGE_PROPOSALS):
            return self.none()
        return super().visible_to(user)


class Proposal(TimeStampedModel):
    """An improvement proposal for a customer: the analysis of ``first_month``..``last_month`` rendered as a PDF by a
    Celery task (``reports.proposals``), in the customer's language. ``summary`` keeps its headline figures."""

    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    requested_by = models.ForeignKey(
        "accounts.User", verbose_name=_("requested by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    language = models.CharField(_("language"), max_length=8)
    first_month = models.DateField(_("from month"))
    last_month = models.DateField(_("to month"))
    status = models.CharField(_("status"), max_length=12, choices=ProposalStatus.choices, default=ProposalStatus.QUEUED)
    error = models.CharField(_("error"), max_length=500, blank=True)
    pdf = models.FileField(_("PDF"), upload_to="proposals/%Y/%m/", blank=True)
    pages = models.PositiveIntegerField(_("pages"), null=True, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    rendered_at = models.DateTimeField(_("rendered at"), null=True, blank=True)

    objects = ProposalQuerySet.as_manager()

    class Meta:
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ProposalStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(first_month__lte=F("last_month")), name="%(app_label)s_%(class)s_months_in_order"
            ),
        ]
        indexes = [models.Index(fields=["customer", "-created_at"], name="reports_proposal_customer")]

    def __str__(self) -> str:
        return f"{self.customer} {self.first_month:%Y-%m}..{self.last_month:%Y-%m}"


class ManualCostQuerySet(PricesOnly, TenantQuerySet):
    """Costs entered by hand are prices: seen by the roles that see prices, of the customers they see."""

    site_path = "site"


class MonthAmount(TimeStampedModel):
    """An amount entered by hand for a month: what it was, how much, in which currency, and who entered it."""

    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    description = models.CharField(_("description"), max_length=200)
    amount = models.DecimalField(_("amount"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    created_by = models.ForeignKey(
        "accounts.User", verbose_name=_("entered by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.description}"


class ManualCost(MonthAmount):
    """A cost of the customer's equipment that no source records (an outside repair, insurance, paper), entered by
    hand for a month; the ledger carries it as *other costs* on its asset or site."""

    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    site = models.ForeignKey(
        "assets.Site", verbose_name=_("site"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    asset = models.ForeignKey(
        "assets.Asset", verbose_name=_("asset"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    objects = ManualCostQuerySet.as_manager()

    class Meta:
        verbose_name = _("manual cost")
        verbose_name_plural = _("manual costs")
        ordering = ["-month", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(month__day=1), name="%(app_label)s_%(class)s_month_first_day"),
            models.CheckConstraint(condition=~Q(amount=0), name="%(app_label)s_%(class)s_not_zero"),
        ]
        indexes = [models.Index(fields=["customer", "month"], name="reports_manual_customer_month")]


class NpsResponseQuerySet(TenantQuerySet):
    """Survey answers: the provider's staff who follow KPIs see their customers'; a customer's users their own
    organisation's."""

    def visible_to(self, user):
        access = access_for(user)
        if access is None:
            return self.none()
        if access.is_provider_staff and not access.can(Capability.VIEW_KPIS):
            return self.none()
        return super().visible_to(user)


class NpsResponse(models.Model):
    """One answer to "How likely are you to recommend us?" (0-10) by a customer's user, with an optional comment."""

    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    respondent = models.ForeignKey(
        "accounts.User", verbose_name=_("respondent"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    score = models.PositiveSmallIntegerField(_("score"), validators=[MinValueValidator(0), MaxValueValidator(10)])
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    answered_at = models.DateTimeField(_("answered at"), db_index=True)

    objects = NpsResponseQuerySet.as_manager()

    class Meta:
        verbose_name = _("NPS answer")
        verbose_name_plural = _("NPS answers")
        ordering = ["-answered_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=10), name="%(app_label)s_%(class)s_score"),
        ]
        indexes = [models.Index(fields=["customer", "answered_at"], name="reports_nps_customer_answered")]

    def __str__(self) -> str:
        return f"{self.customer} {self.score}"


class ProviderFiguresQuerySet(models.QuerySet):
    """The whole provider's figures (acquisition spend, KPI snapshots): seen by its staff who follow KPIs across every
    customer (provider admins), not by account managers, who see their customers only; never by customers or by
    another provider."""

    def visible_to(self, user):
        access = access_for(user)
        if access is None or not access.is_provider_staff or not access.can(Capability.VIEW_KPIS):
            return self.none()
        if access.policy.scope != Scope.PROVIDER:
            return self.none()
        return self.filter(provider_id=access.provider_id)


class AcquisitionSpend(MonthAmount):
    """What the provider spent in a month on winning customers (sales, marketing, proposals, trials): the numerator
    of CAC, which divides the month's spend by the customers won in it (``reports.kpis``)."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.CASCADE, related_name="+"
    )

    objects = ProviderFiguresQuerySet.as_manager()

    class Meta:
        verbose_name = _("acquisition spend")
        verbose_name_plural = _("acquisition spend")
        ordering = ["-month", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(month__day=1), name="%(app_label)s_%(class)s_month_first_day"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="%(app_label)s_%(class)s_positive"),
        ]
        indexes = [models.Index(fields=["provider", "month"], name="reports_spend_provider_month")]


class KpiSnapshot(models.Model):
    """A closed month's KPIs for the whole provider, as they were reported (``reports.snapshots``): per currency the
    recurring-business figures, and the month's NPS and service figures. Decimals are kept as strings."""

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.CASCADE, related_name="+"
    )
    month = models.DateField(_("month"))
    taken_at = models.DateTimeField(_("taken at"))
    figures = models.JSONField(_("figures"), default=dict)

    objects = ProviderFiguresQuerySet.as_manager()

    class Meta:
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")
        ordering = ["-month"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "month"], name="%(app_label)s_%(class)s_one_per_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="%(app_label)s_%(class)s_month_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}"
