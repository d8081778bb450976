"""Choices of the contracts app: contract states, price component kinds and tax categories."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ContractStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", pgettext_lazy("contract status", "Active")
    SUSPENDED = "suspended", _("Suspended")
    ENDED = "ended", _("Ended")


# Moves a contract may make: draft -> active; active <-> suspended; active or suspended -> ended.
CONTRACT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    ContractStatus.DRAFT: (ContractStatus.ACTIVE,),
    ContractStatus.ACTIVE: (ContractStatus.SUSPENDED, ContractStatus.ENDED),
    ContractStatus.SUSPENDED: (ContractStatus.ACTIVE, ContractStatus.ENDED),
    ContractStatus.ENDED: (),
}


class ComponentKind(models.TextChoices):
    """The price components of DESIGN.md §4."""

    FIXED_FEE = "fixed_fee", _("Fixed monthly fee per contract")
    ASSET_FEE = "asset_fee", _("Fixed monthly fee per covered asset")
    METER_CHARGE = "meter_charge", _("Per-unit charge on a meter")
    OUTCOME_CHARGE = "outcome_charge", _("Outcome-based charge per unit of output")
    SAVING_SHARE = "saving_share", _("Share of the measured saving")
    ONE_OFF = "one_off", _("One-off charge")


METERED_KINDS = (ComponentKind.METER_CHARGE, ComponentKind.OUTCOME_CHARGE)
RECURRING_KINDS = (ComponentKind.FIXED_FEE, ComponentKind.ASSET_FEE)
OUTCOME_KINDS = (ComponentKind.OUTCOME_CHARGE, ComponentKind.SAVING_SHARE)


class AllowanceScope(models.TextChoices):
    POOLED = "pooled", _("Pooled across the contract")
    PER_ASSET = "per_asset", _("Per asset")


class TierMode(models.TextChoices):
    """How tiers price the units beyond the allowance: graduated (each band at its own rate) or volume (every
    unit at the rate of the band the total reaches)."""

    GRADUATED = "graduated", _("Graduated")
    VOLUME = "volume", _("Volume")


class TaxCategory(models.TextChoices):
    """Japanese consumption tax categories (and the EN 16931 codes they map to): standard 10 %, reduced 8 %,
    exempt, and outside the scope of tax."""

    STANDARD = "standard", _("Standard rate (10%)")
    REDUCED = "reduced", _("Reduced rate (8%)")
    EXEMPT = "exempt", _("Exempt")
    OUT_OF_SCOPE = "out_of_scope", _("Outside the scope of tax")


TAX_RATES: dict[str, Decimal] = {
    TaxCategory.STANDARD: Decimal("10"),
    TaxCategory.REDUCED: Decimal("8"),
    TaxCategory.EXEMPT: Decimal("0"),
    TaxCategory.OUT_OF_SCOPE: Decimal("0"),
}


class AuditAction(models.TextChoices):
    CREATED = "created", pgettext_lazy("audit action", "Created")
    CHANGED = "changed", _("Changed")
    DELETED = "deleted", _("Deleted")


# --- Billing ------------------------------------------------------------------------------------------------------


class TaxRounding(models.TextChoices):
    """How the tax of each rate is rounded to the currency's minor unit (once per rate, on the invoice)."""

    DOWN = "down", _("Round down (truncate)")
    HALF_UP = "half_up", _("Round half up")
    UP = "up", _("Round up")


TAX_ROUNDING_MODES = {"down": "ROUND_DOWN", "half_up": "ROUND_HALF_UP", "up": "ROUND_UP"}

# EN 16931 VAT category codes (UNTDID 5305) of the tax categories: S standard, E exempt, O outside the scope.
TAX_CATEGORY_CODES: dict[str, str] = {
    TaxCategory.STANDARD: "S",
    TaxCategory.REDUCED: "S",
    TaxCategory.EXEMPT: "E",
    TaxCategory.OUT_OF_SCOPE: "O",
}


class BillingRunStatus(models.TextChoices):
    RUNNING = "running", _("Drafting")
    DRAFTED = "drafted", _("In review")
    FINALISING = "finalising", _("Finalising")
    FINALISED = "finalised", pgettext_lazy("billing run status", "Finalised")
    FAILED = "failed", _("Finished with errors")


class RunItemStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


# Number prefixes of the two gapless series (per provider and year of issue): INV-2026-000001, CN-2026-000001.
INVOICE_PREFIX = "INV"
CREDIT_NOTE_PREFIX = "CN"


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", pgettext_lazy("document kind", "Invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("invoice status", "Draft")
    FINALISED = "finalised", pgettext_lazy("invoice status", "Finalised")


class LineKind(models.TextChoices):
    """What an invoice line bills: the component kinds, billable work and service credits."""

    FIXED_FEE = "fixed_fee", _("Fixed fee")
    ASSET_FEE = "asset_fee", _("Fee per asset")
    METER_CHARGE = "meter_charge", _("Usage charge")
    OUTCOME_CHARGE = "outcome_charge", _("Outcome charge")
    MINIMUM_TOP_UP = "minimum_top_up", _("Minimum charge top-up")
    SAVING_SHARE = "saving_share", _("Saving share")
    ONE_OFF = "one_off", _("One-off charge")
    BILLABLE_WORK = "billable_work", _("Billable work")
    SERVICE_CREDIT = "service_credit", _("Service credit")


class PaymentStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("payment status", "Open")
    PARTLY_PAID = "partly_paid", _("Partly paid")
    PAID = "paid", _("Paid")
    OVERDUE = "overdue", _("Overdue")


class PaymentSource(models.TextChoices):
    MANUAL = "manual", _("Recorded by hand")
    BANK_CSV = "bank_csv", _("Bank statement import")
