"""Choices of the asset registry: categories, statuses, ownership, part kinds and life units."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AssetCategory(models.TextChoices):
    MFP = "mfp", _("Multifunction printer")
    PRINTER = "printer", _("Printer")
    FORKLIFT = "forklift", _("Forklift")
    REACH_TRUCK = "reach_truck", _("Reach truck")
    AGV = "agv", _("AGV")
    BATTERY = "battery", _("Battery")
    CHARGER = "charger", _("Charger")


PRINT_CATEGORIES = (AssetCategory.MFP, AssetCategory.PRINTER)
MATERIAL_HANDLING_CATEGORIES = (
    AssetCategory.FORKLIFT,
    AssetCategory.REACH_TRUCK,
    AssetCategory.AGV,
    AssetCategory.BATTERY,
    AssetCategory.CHARGER,
)


class AssetStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    STANDBY = "standby", _("Standby")
    IN_REPAIR = "in_repair", _("In repair")
    IN_STORAGE = "in_storage", _("In storage")
    RETIRED = "retired", _("Retired")


ASSET_IN_SERVICE_STATES = (AssetStatus.ACTIVE, AssetStatus.STANDBY, AssetStatus.IN_REPAIR)


class Ownership(models.TextChoices):
    CUSTOMER_OWNED = "customer_owned", _("Customer-owned")
    RENTAL = "rental", _("Rental")
    LEASE = "lease", _("Lease")
    FULL_MAINTENANCE_LEASE = "full_maintenance_lease", _("Full-maintenance lease")


class PartKind(models.TextChoices):
    CONSUMABLE = "consumable", _("Consumable")
    WEAR_PART = "wear_part", _("Wear part")


class LifeUnit(models.TextChoices):
    PAGES = "pages", _("Pages")
    HOURS = "hours", _("Operating hours")
    CYCLES = "cycles", _("Cycles")
    DAYS = "days", _("Days")


class AssetEventKind(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    MOVED = "moved", _("Moved")
    STATUS_CHANGED = "status_changed", _("Status changed")
    UPDATED = "updated", _("Details updated")
    IMPORTED = "imported", _("Updated by import")


class FleetImportStatus(models.TextChoices):
    PENDING = "pending", _("Checked, ready to apply")
    VALIDATING = "validating", _("Checking")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


FLEET_IMPORT_APPLICABLE_STATES = (FleetImportStatus.PENDING, FleetImportStatus.RUNNING)
FLEET_IMPORT_FINISHED_STATES = (FleetImportStatus.DONE, FleetImportStatus.FAILED)
