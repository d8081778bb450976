"""Money: Decimal amounts with an ISO 4217 currency, rounded by the currency's minor unit.

Amounts are quantised when a line total is computed (``money_round``), never in templates. Rounding is
half-up unless a caller states otherwise; JPY has no minor unit.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db import models
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _


class Currency(models.TextChoices):
    """The currencies the portal bills in."""

    JPY = "JPY", _("Japanese yen")
    USD = "USD", _("US dollar")
    EUR = "EUR", _("Euro")
    GBP = "GBP", _("Pound sterling")


MINOR_UNITS = {Currency.JPY: 0, Currency.USD: 2, Currency.EUR: 2, Currency.GBP: 2}
SYMBOLS = {Currency.JPY: "¥", Currency.USD: "$", Currency.EUR: "€", Currency.GBP: "£"}

MONEY_MAX_DIGITS = 14
MONEY_DECIMAL_PLACES = 2


def minor_units(currency: str) -> int:
    """Digits after the decimal point for a currency (0 for JPY)."""
    return MINOR_UNITS[Currency(currency)]


def money_round(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round an amount to the currency's minor unit with an explicit rounding rule."""
    if not isinstance(amount, Decimal):
        raise TypeError("money must be a Decimal")
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=rounding)


def money_format(amount: Decimal | None, currency: str) -> str:
    """Format an amount for display in the active locale, e.g. "¥1,234" or "$1,234.50"."""
    if amount is None:
        return ""
    places = minor_units(currency)
    rounded = money_round(amount, currency)
    text = number_format(abs(rounded), decimal_pos=places, use_l10n=True, force_grouping=True)
    sign = "-" if rounded < 0 else ""  # "-$1,234.50", not "$-1,234.50"; an amount that rounds to zero has none
    return f"{sign}{SYMBOLS.get(Currency(currency), currency + ' ')}{text}"


RATE_MAX_PLACES = 4  # prices per unit (PriceComponent.amount, PriceTier.rate, InvoiceLine.unit_price) keep four


def rate_format(amount: Decimal | None, currency: str) -> str:
    """A price per unit in its currency with the decimals it has (at least the currency's minor unit, at most four),
    e.g. "¥0.85", "$0.0125", "-€12.50": unlike amounts, rates are not rounded to the minor unit."""
    if amount is None:
        return ""
    exponent = amount.normalize().as_tuple().exponent
    places = min(max(minor_units(currency), -exponent if isinstance(exponent, int) else 0), RATE_MAX_PLACES)
    text = number_format(abs(amount), decimal_pos=places, use_l10n=True, force_grouping=True)
    symbol = SYMBOLS.get(Currency(currency), currency + " ") if currency in Currency.values else currency + " "
    return f"{'-' if amount < 0 else ''}{symbol}{text}"
