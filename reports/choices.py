"""Choices of the reports app: the cost ledger's views and categories."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CostView(models.TextChoices):
    """Whose cost a ledger entry is (DESIGN.md §4 "Cost views")."""

    CUSTOMER = "customer", _("Customer TCO")
    PROVIDER = "provider", _("Provider cost to serve")


class CostCategory(models.TextChoices):
    """What a ledger entry counts. Each category belongs to one view (``CATEGORY_VIEW``)."""

    SERVICE_FEES = "service_fees", _("Service fees")
    DEPRECIATION = "depreciation", _("Depreciation")
    LEASE = "lease", _("Lease payments")
    ENERGY = "energy", _("Energy")
    DOWNTIME = "downtime", _("Downtime")
    OTHER = "other", _("Other costs")
    LABOUR = "labour", _("Labour")
    PARTS = "parts", _("Parts")
    CONSUMABLES = "consumables", _("Consumables shipped")
    PROVIDER_DEPRECIATION = "provider_depreciation", _("Depreciation of provider-owned assets")


CATEGORY_VIEW: dict[str, str] = {
    CostCategory.SERVICE_FEES: CostView.CUSTOMER,
    CostCategory.DEPRECIATION: CostView.CUSTOMER,
    CostCategory.LEASE: CostView.CUSTOMER,
    CostCategory.ENERGY: CostView.CUSTOMER,
    CostCategory.DOWNTIME: CostView.CUSTOMER,
    CostCategory.OTHER: CostView.CUSTOMER,
    CostCategory.LABOUR: CostView.PROVIDER,
    CostCategory.PARTS: CostView.PROVIDER,
    CostCategory.CONSUMABLES: CostView.PROVIDER,
    CostCategory.PROVIDER_DEPRECIATION: CostView.PROVIDER,
}


class CostSource(models.TextChoices):
    """The row a ledger entry was computed from (``source_id`` names it)."""

    INVOICE_LINE = "invoice_line", _("Invoice line")
    ASSET = "asset", _("Asset")
    WORK_ORDER = "work_order", _("Work order")
    WORK_ORDER_LABOUR = "labour", _("Labour entry")
    WORK_ORDER_PART = "part", _("Part used")
    SUPPLY_ORDER = "supply_order", _("Supply order")
    MANUAL = "manual", _("Entered by hand")


class BreakdownGroup(models.TextChoices):
    """What a TCO breakdown groups by."""

    CATEGORY = "category", _("Category")
    ASSET = "asset", _("Asset")
    MODEL = "model", _("Model")
    SITE = "site", _("Site")
    CUSTOMER = "customer", _("Customer")
    MONTH = "month", _("Month")


class ProposalStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RENDERING = "rendering", _("Rendering")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")
