"""The asset registry: sites, manufacturers, asset models, part types, assets, their history and fleet imports."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.choices import TIME_ZONE_CHOICES
from assets.choices import (
    AssetCategory,
    AssetEventKind,
    AssetStatus,
    FleetImportStatus,
    LifeUnit,
    Ownership,
    PartKind,
)
from fleet.models import AddressModel, TimeStampedModel
from fleet.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, Currency
from fleet.tenancy import TenantQuerySet


class SiteQuerySet(TenantQuerySet):
    tenant_path = "customer"
    site_path = ""


class Site(AddressModel, TimeStampedModel):
    """A customer's location where assets stand: an office, a warehouse, a plant."""

    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="sites"
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(_("code"), max_length=40, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="Asia/Tokyo")
    building = models.CharField(_("building"), max_length=100, blank=True)
    floor = models.CharField(_("floor"), max_length=40, blank=True)
    operators = models.ManyToManyField(
        "accounts.Membership",
        verbose_name=_("operators"),
        blank=True,
        related_name="sites",
        help_text=_("Customer operators who work at this site and see its assets."),
    )

    objects = SiteQuerySet.as_manager()

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["customer__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "name"], name="%(app_label)s_%(class)s_unique_name"),
        ]
        indexes = [models.Index(fields=["name"], name="assets_site_name")]  # lists sorted by site

    def __str__(self) -> str:
        return self.name


class Manufacturer(TimeStampedModel):
    """A maker of equipment (the serial numbers it issues are unique)."""

    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("manufacturer")
        verbose_name_plural = _("manufacturers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AssetModel(TimeStampedModel):
    """A product model, with the ratings that utilisation and energy analysis compare against."""

    manufacturer = models.ForeignKey(
        "assets.Manufacturer", verbose_name=_("manufacturer"), on_delete=models.PROTECT, related_name="asset_models"
    )
    name = models.CharField(_("name"), max_length=100)
    category = models.CharField(_("category"), max_length=16, choices=AssetCategory.choices)
    rated_monthly_volume = models.PositiveIntegerField(_("rated monthly volume (pages)"), null=True, blank=True)
    rated_monthly_duty_hours = models.PositiveIntegerField(_("rated monthly duty hours"), null=True, blank=True)
    power_draw_watts = models.PositiveIntegerField(_("power draw (W)"), null=True, blank=True)

    class Meta:
        verbose_name = _("asset model")
        verbose_name_plural = _("asset models")
        ordering = ["manufacturer__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["manufacturer", "name"], name="%(app_label)s_%(class)s_unique_name"),
            models.CheckConstraint(
                condition=Q(category__in=AssetCategory.values), name="%(app_label)s_%(class)s_category_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PartType(TimeStampedModel):
    """A consumable or wear part with its rated life, lead time and unit cost."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=PartKind.choices)
    life_unit = models.CharField(_("life unit"), max_length=8, choices=LifeUnit.choices)
    rated_life = models.PositiveIntegerField(_("rated life"), validators=[MinValueValidator(1)])
    lead_time_days = models.PositiveSmallIntegerField(_("lead time (days)"), default=3)
    unit_cost = models.DecimalField(
        _("unit cost"),
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=MONEY_DECIMAL_PLACES,
        validators=[MinValueValidator(0)],
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    asset_models = models.ManyToManyField(
        "assets.AssetModel", verbose_name=_("fits models"), blank=True, related_name="part_types"
    )

    class Meta:
        verbose_name = _("part type")
        verbose_name_plural = _("part types")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(rated_life__gt=0), name="%(app_label)s_%(class)s_rated_life_positive"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="%(app_label)s_%(class)s_cost_not_negative"),
            models.CheckConstraint(condition=Q(kind__in=PartKind.values), name="%(app_label)s_%(class)s_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class AssetQuerySet(TenantQuerySet):
    tenant_path = "customer"
    site_path = "site"

    def in_service(self):
        from assets.choices import ASSET_IN_SERVICE_STATES

        return self.filter(status__in=ASSET_IN_SERVICE_STATES)


class Asset(TimeStampedModel):
    """One machine of a customer's fleet: where it stands, what it is, who owns it, what it cost."""

    customer = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="assets"
    )
    site = models.ForeignKey("assets.Site", verbose_name=_("site"), on_delete=models.PROTECT, related_name="assets")
    asset_model = models.ForeignKey(
        "assets.AssetModel", verbose_name=_("model"), on_delete=models.PROTECT, related_name="assets"
    )
    # Kept equal to asset_model.manufacturer by the services, so that the database can hold serials unique.
    manufacturer = models.ForeignKey(
        "assets.Manufacturer", verbose_name=_("manufacturer"), on_delete=models.PROTECT, related_name="assets"
    )
    serial_number = models.CharField(_("serial number"), max_length=64)
    asset_tag = models.CharField(_("asset tag"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=AssetStatus.choices, default=AssetStatus.ACTIVE)
    ownership = models.CharField(_("ownership"), max_length=32, choices=Ownership.choices)
    install_date = models.DateField(_("install date"), null=True, blank=True)
    acquisition_cost = models.DecimalField(
        _("acquisition cost"),
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=MONEY_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    expected_life_months = models.PositiveSmallIntegerField(_("expected life (months)"), null=True, blank=True)
    location_note = models.CharField(_("location"), max_length=200, blank=True)
    network_address = models.CharField(_("network address"), max_length=255, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)

    objects = AssetQuerySet.as_manager()

    class Meta:
        verbose_name = _("asset")
        verbose_name_plural = _("assets")
        ordering = ["serial_number", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["manufacturer", "serial_number"], name="%(app_label)s_%(class)s_unique_serial"
            ),
            models.CheckConstraint(
                condition=Q(acquisition_cost__isnull=True) | Q(acquisition_cost__gte=0),
                name="%(app_label)s_%(class)s_cost_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(status__in=AssetStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(ownership__in=Ownership.values), name="%(app_label)s_%(class)s_ownership_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "status"], name="assets_asset_customer_status"),
            models.Index(fields=["site", "status"], name="assets_asset_site_status"),
            models.Index(fields=["serial_number", "id"], name="assets_asset_serial_id"),  # the default order
        ]

    def __str__(self) -> str:
        return self.asset_tag or self.serial_number


class AssetEventQuerySet(TenantQuerySet):
    tenant_path = "asset__customer"
    site_path = "asset__site"


class AssetEvent(models.Model):
    """One entry of an asset's lifecycle history: registration, a move, a status change, an edit."""

    asset = models.ForeignKey("assets.Asset", verbose_name=_("asset"), on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(_("kind"), max_length=16, choices=AssetEventKind.choices)
    at = models.DateTimeField(_("at"), db_index=True)
    by = models.ForeignKey(
        "accounts.User", verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_site = models.ForeignKey(
        "assets.Site", verbose_name=_("from site"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_site = models.ForeignKey(
        "assets.Site", verbose_name=_("to site"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(_("from status"), max_length=16, choices=AssetStatus.choices, blank=True)
    to_status = models.CharField(_("to status"), max_length=16, choices=AssetStatus.choices, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    objects = AssetEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("asset event")
        verbose_name_plural = _("asset events")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.kind} {self.at:%Y-%m-%d}"


class FleetImportQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Imports of the user's provider, for roles that manage assets (an import may span customers)."""
        from accounts.roles import Capability
        from fleet.tenancy import access_for

        access = access_for(user)
        if access is None or not access.is_provider_staff or not access.can(Capability.MANAGE_ASSETS):
            return self.none()
        return self.filter(provider_id=access.provider_id)


class FleetImport(TimeStampedModel):
    """One uploaded fleet CSV: its text, the result of checking it and the progress of applying it.

    The file's text is kept in the database (never under a public media URL), so that any worker can apply it.
    """

    provider = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fleet_imports",
        help_text=_("Empty: each row names its customer in the customer_code column."),
    )
    filename = models.CharField(_("file name"), max_length=255)
    encoding = models.CharField(_("encoding"), max_length=16, default="utf-8")
    content = models.TextField(_("content"))
    status = models.CharField(
        _("status"), max_length=16, choices=FleetImportStatus.choices, default=FleetImportStatus.VALIDATING
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("processed rows"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True, help_text=_("[{line, field, message}]"))
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    applied_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("applied by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = FleetImportQuerySet.as_manager()

    class Meta:
        verbose_name = _("fleet import")
        verbose_name_plural = _("fleet imports")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=FleetImportStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(processed_rows__lte=models.F("total_rows")),
                name="%(app_label)s_%(class)s_processed_within_total",
            ),
        ]

    def __str__(self) -> str:
        return self.filename
