"""Business operations on the asset registry: sites, catalogue entries and assets with their history."""

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.choices import OrganisationKind, Role
from accounts.models import Membership, Organisation, User
from accounts.roles import Capability
from accounts.selectors import organisation_settings_effective
from assets.choices import AssetEventKind, AssetStatus
from assets.models import Asset, AssetEvent, AssetModel, Manufacturer, PartType, Site
from fleet.tenancy import access_for

SITE_OF_OTHER_CUSTOMER = _("The site belongs to another customer.")
NOT_A_CUSTOMER = _("Assets and sites belong to a customer organisation.")
SERIAL_TAKEN = _("An asset with this serial number already exists for this manufacturer.")
NOT_ALLOWED = _("You may not change this.")
SAME_STATUS = _("The asset already has this status.")
NOT_AN_OPERATOR_HERE = _("Only customer operators of the site's customer can be assigned to it.")

# Fields of an asset that ``asset_update`` may change; site and status have their own operations.
ASSET_EDITABLE_FIELDS = (
    "asset_model",
    "serial_number",
    "asset_tag",
    "ownership",
    "install_date",
    "acquisition_cost",
    "currency",
    "expected_life_months",
    "location_note",
    "network_address",
)


def _require(user: User | None, capability: Capability) -> None:
    """Services called on behalf of a user check the permission table; system callers pass no user."""
    if user is None:
        return
    access = access_for(user)
    if access is None or not access.can(capability):
        raise ValidationError(NOT_ALLOWED)


def _check_customer(customer: Organisation) -> None:
    if customer.kind != OrganisationKind.CUSTOMER:
        raise ValidationError({"customer": NOT_A_CUSTOMER})


@transaction.atomic
def site_create(*, customer: Organisation, name: str, by: User | None = None, **fields) -> Site:
    _require(by, Capability.MANAGE_SITES)
    _check_customer(customer)
    site = Site(customer=customer, name=name, **fields)
    site.full_clean()
    site.save()
    return site


@transaction.atomic
def site_update(*, site: Site, by: User | None = None, **fields) -> Site:
    _require(by, Capability.MANAGE_SITES)
    for name, value in fields.items():
        setattr(site, name, value)
    site.full_clean()
    site.save()
    return site


def _catalogue_save(instance, *, by: User | None, fields: dict, many: dict | None = None):
    """Create or change a catalogue entry (provider admins): validated, saved, its many-to-many set."""
    _require(by, Capability.MANAGE_CATALOGUE)
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.full_clean()
    instance.save()
    for name, values in (many or {}).items():
        getattr(instance, name).set(values)
    return instance


@transaction.atomic
def manufacturer_save(*, instance: Manufacturer | None = None, by: User | None = None, **fields) -> Manufacturer:
    return _catalogue_save(instance or Manufacturer(), by=by, fields=fields)


@transaction.atomic
def asset_model_save(*, instance: AssetModel | None = None, by: User | None = None, **fields) -> AssetModel:
    return _catalogue_save(instance or AssetModel(), by=by, fields=fields)


@transaction.atomic
def part_type_save(
    *, instance: PartType | None = None, by: User | None = None, asset_models: list[AssetModel] | None = None, **fields
) -> PartType:
    many = {"asset_models": asset_models} if asset_models is not None else None
    return _catalogue_save(instance or PartType(), by=by, fields=fields, many=many)


@transaction.atomic
def site_set_operators(*, site: Site, memberships: list[Membership], by: User | None = None) -> Site:
    """Say which customer operators work at a site (they see its assets and nothing else)."""
    _require(by, Capability.MANAGE_USERS)
    for membership in memberships:
        if membership.organisation_id != site.customer_id or membership.role != Role.CUSTOMER_OPERATOR:
            raise ValidationError({"operators": NOT_AN_OPERATOR_HERE})
    site.operators.set(memberships)
    return site


def _record(asset: Asset, kind: str, by: User | None, **fields) -> AssetEvent:
    return AssetEvent.objects.create(asset=asset, kind=kind, at=timezone.now(), by=by, **fields)


def _validate_asset(asset: Asset) -> None:
    if asset.site_id and asset.site.customer_id != asset.customer_id:
        raise ValidationError({"site": SITE_OF_OTHER_CUSTOMER})
    duplicate = Asset.objects.filter(manufacturer_id=asset.manufacturer_id, serial_number=asset.serial_number)
    if asset.pk:
        duplicate = duplicate.exclude(pk=asset.pk)
    if duplicate.exists():
        raise ValidationError({"serial_number": SERIAL_TAKEN})
    asset.full_clean(validate_unique=False, validate_constraints=False)


@transaction.atomic
def asset_create(
    *,
    customer: Organisation,
    site: Site,
    asset_model: AssetModel,
    serial_number: str,
    ownership: str,
    by: User | None = None,
    status: str = AssetStatus.ACTIVE,
    install_date: date | None = None,
    acquisition_cost: Decimal | None = None,
    currency: str | None = None,
    expected_life_months: int | None = None,
    **fields,
) -> Asset:
    """Register an asset at a site of its customer; the history starts with its registration."""
    _require(by, Capability.MANAGE_ASSETS)
    _check_customer(customer)
    if expected_life_months is None:
        expected_life_months = organisation_settings_effective(organisation=customer).default_expected_life_months
    asset = Asset(
        customer=customer,
        site=site,
        asset_model=asset_model,
        manufacturer_id=asset_model.manufacturer_id,
        serial_number=serial_number.strip(),
        ownership=ownership,
        status=status,
        install_date=install_date,
        acquisition_cost=acquisition_cost,
        currency=currency or customer.currency,
        expected_life_months=expected_life_months,
        **fields,
    )
    _validate_asset(asset)
    asset.save()
    _record(asset, AssetEventKind.REGISTERED, by, to_site=site, to_status=asset.status)
    return asset


@transaction.atomic
def asset_update(*, asset: Asset, by: User | None = None, note: str = "", **fields) -> Asset:
    """Change an asset's descriptive fields (not its site or status)."""
    _require(by, Capability.MANAGE_ASSETS)
    unknown = set(fields) - set(ASSET_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in sorted(unknown)})
    changed = [name for name, value in fields.items() if getattr(asset, name) != value]
    for name in changed:
        setattr(asset, name, fields[name])
    if "asset_model" in changed:
        asset.manufacturer_id = asset.asset_model.manufacturer_id
    if not changed:
        return asset
    _validate_asset(asset)
    asset.save()
    _record(asset, AssetEventKind.UPDATED, by, note=note or ", ".join(sorted(changed)))
    return asset


@transaction.atomic
def asset_move(
    *, asset: Asset, site: Site, location_note: str | None = None, by: User | None = None, note: str = ""
) -> Asset:
    """Move an asset to another site of the same customer, or change where it stands within a site."""
    _require(by, Capability.MOVE_ASSETS)
    if site.customer_id != asset.customer_id:
        raise ValidationError({"site": SITE_OF_OTHER_CUSTOMER})
    from_site = asset.site
    moved = site.pk != asset.site_id
    relocated = location_note is not None and location_note != asset.location_note
    if not moved and not relocated:
        return asset
    asset.site = site
    if location_note is not None:
        asset.location_note = location_note
    asset.full_clean(validate_unique=False, validate_constraints=False)
    asset.save(update_fields=["site", "location_note", "updated_at"])
    _record(asset, AssetEventKind.MOVED, by, from_site=from_site, to_site=site, note=note or asset.location_note)
    return asset


@transaction.atomic
def asset_change_status(*, asset: Asset, status: str, by: User | None = None, note: str = "") -> Asset:
    """Put an asset into another lifecycle status (standby, in repair, in storage, retired...)."""
    _require(by, Capability.MANAGE_ASSETS)
    if status not in AssetStatus.values:
        raise ValidationError({"status": _("Unknown status.")})
    if status == asset.status:
        raise ValidationError({"status": SAME_STATUS})
    from_status = asset.status
    asset.status = status
    asset.save(update_fields=["status", "updated_at"])
    _record(asset, AssetEventKind.STATUS_CHANGED, by, from_status=from_status, to_status=status, note=note)
    return asset
