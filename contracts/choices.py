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
