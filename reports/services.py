"""Writes of reports: the cost rates the ledger prices energy and downtime at, costs entered by hand, and the
provider's acquisition spend (provider admins only, ``RECORD_ACQUISITION_SPEND``).

Provider admins and account managers (``MANAGE_CONTRACTS``) write them for the customers they see; the provider's
default rates (no customer) only staff who see every customer. The ledger picks a change up at its next build
(``reports.ledger``: daily for this month and the last, or ``manage.py build_ledger``).
"""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from accounts.roles import Capability, Scope
from assets.models import Asset, Site
from fleet.money import minor_units
from fleet.tenancy import access_for
from reports.models import AcquisitionSpend, CostRates, ManualCost

NOT_ALLOWED = _("You may not change the costs of this customer.")
DEFAULTS_NOT_ALLOWED = _("Only staff who see every customer set the provider's default rates.")
SITE_OF_ANOTHER_CUSTOMER = _("The site is not one of the customer's.")
ASSET_OF_ANOTHER_CUSTOMER = _("The asset is not one of the customer's.")
SITE_NEEDS_CUSTOMER = _("Rates of a site belong to its customer: choose the customer.")
NOTHING_SET = _("Set an energy price, a downtime cost, or both.")
NEGATIVE = _("Must not be negative.")
ZERO_AMOUNT = _("An amount of zero is no cost.")
TOO_PRECISE = _("The currency has %(places)s decimal places.")
SPEND_NOT_ALLOWED = _("Only the provider's administrators record acquisition spend.")
NOT_POSITIVE = _("Enter an amount above zero.")


def _manager(user: User):
    access = access_for(user)
    if access is None or not access.is_provider_staff or not access.can(Capability.MANAGE_CONTRACTS):
        raise ValidationError(NOT_ALLOWED)
    return access


def _check_customer(user: User, customer: Organisation | None) -> None:
    if customer is not None and not Organisation.objects.customers().visible_to(user).filter(pk=customer.pk).exists():
        raise ValidationError({"customer": NOT_ALLOWED})


def _amount_errors(amount: Decimal, currency: str, *, positive: bool) -> dict:
    """An amount entered by hand: not zero (above zero when ``positive``), in the currency's minor units."""
    if amount == 0:
        return {"amount": ZERO_AMOUNT}
    if positive and amount < 0:
        return {"amount": NOT_POSITIVE}
    if amount != amount.quantize(Decimal(1).scaleb(-minor_units(currency))):
        return {"amount": TOO_PRECISE % {"places": minor_units(currency)}}
    return {}


@transaction.atomic
def cost_rates_save(
    *,
    by: User,
    customer: Organisation | None = None,
    site: Site | None = None,
    currency: str = "JPY",
    energy_price_per_kwh: Decimal | None = None,
    downtime_cost_per_hour: Decimal | None = None,
) -> CostRates:
    """Set the rates of the provider (no customer), a customer, or a customer's site: the one row of that scope is
    created or replaced."""
    access = _manager(by)
    if customer is None and site is not None:
        raise ValidationError({"customer": SITE_NEEDS_CUSTOMER})
    if customer is None and access.policy.scope != Scope.PROVIDER:
        raise ValidationError({"customer": DEFAULTS_NOT_ALLOWED})
    _check_customer(by, customer)
    if site is not None and site.customer_id != customer.pk:
        raise ValidationError({"site": SITE_OF_ANOTHER_CUSTOMER})
    errors = {}
    if energy_price_per_kwh is None and downtime_cost_per_hour is None:
        errors["energy_price_per_kwh"] = NOTHING_SET
    for name, value in (
        ("energy_price_per_kwh", energy_price_per_kwh),
        ("downtime_cost_per_hour", downtime_cost_per_hour),
    ):
        if value is not None and value < 0:
            errors[name] = NEGATIVE
    if errors:
        raise ValidationError(errors)
    rates, _created = CostRates.objects.update_or_create(
        provider_id=access.provider_id,
        customer=customer,
        site=site,
        defaults={
            "currency": currency,
            "energy_price_per_kwh": energy_price_per_kwh,
            "downtime_cost_per_hour": downtime_cost_per_hour,
        },
    )
    rates.full_clean()
    return rates


def cost_rates_delete(*, rates: CostRates, by: User) -> None:
    access = _manager(by)
    if rates.customer_id is None and access.policy.scope != Scope.PROVIDER:
        raise ValidationError({"customer": DEFAULTS_NOT_ALLOWED})
    rates.delete()


@transaction.atomic
def manual_cost_create(
    *,
    by: User,
    customer: Organisation,
    month: datetime.date,
    description: str,
    amount: Decimal,
    currency: str = "JPY",
    site: Site | None = None,
    asset: Asset | None = None,
) -> ManualCost:
    """A cost entered by hand for a month, on the customer, one of its sites or one of its assets."""
    _manager(by)
    _check_customer(by, customer)
    errors = {}
    if site is not None and site.customer_id != customer.pk:
        errors["site"] = SITE_OF_ANOTHER_CUSTOMER
    if asset is not None and asset.customer_id != customer.pk:
        errors["asset"] = ASSET_OF_ANOTHER_CUSTOMER
    errors.update(_amount_errors(amount, currency, positive=False))
    if errors:
        raise ValidationError(errors)
    cost = ManualCost(
        customer=customer,
        month=month.replace(day=1),
        site=site if site is not None else (asset.site if asset is not None else None),
        asset=asset,
        description=description.strip(),
        amount=amount,
        currency=currency,
        created_by=by,
    )
    cost.full_clean()
    cost.save()
    return cost


def manual_cost_delete(*, cost: ManualCost, by: User) -> None:
    _manager(by)
    _check_customer(by, cost.customer)
    cost.delete()


def _spend_recorder(user: User):
    access = access_for(user)
    if access is None or not access.is_provider_staff or not access.can(Capability.RECORD_ACQUISITION_SPEND):
        raise ValidationError(SPEND_NOT_ALLOWED)
    return access


def acquisition_spend_create(
    *, by: User, month: datetime.date, description: str, amount: Decimal, currency: str = "JPY"
) -> AcquisitionSpend:
    """Record what the provider spent on winning customers in a month (the numerator of CAC)."""
    access = _spend_recorder(by)
    errors = _amount_errors(amount, currency, positive=True)
    if not description.strip():
        errors["description"] = _("Say what the spend was for.")
    if errors:
        raise ValidationError(errors)
    spend = AcquisitionSpend(
        provider_id=access.provider_id,
        month=month.replace(day=1),
        description=description.strip(),
        amount=amount,
        currency=currency,
        created_by=by,
    )
    spend.full_clean()
    spend.save()
    return spend


def acquisition_spend_delete(*, spend: AcquisitionSpend, by: User) -> None:
    access = _spend_recorder(by)
    if spend.provider_id != access.provider_id:
        raise ValidationError(SPEND_NOT_ALLOWED)
    spend.delete()
