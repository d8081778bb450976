"""How the portal and the invoice PDF print an invoice's units and quantities (one wording for both)."""

from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import npgettext


def unit_name(code: str, quantity: Decimal) -> str:
    """The name of a UN/ECE unit code (``contracts.rating``) for a quantity: "month", "days", "hours", "kWh"."""
    count = 1 if quantity == 1 else 2
    if code == "MON":
        return npgettext("invoice unit", "month", "months", count)
    if code == "DAY":
        return npgettext("invoice unit", "day", "days", count)
    if code == "HUR":
        return npgettext("invoice unit", "hour", "hours", count)
    if code == "C62":
        return npgettext("invoice unit", "unit", "units", count)
    if code == "KWH":
        return "kWh"
    return code


def quantity_format(value: Decimal | str | None) -> str:
    """A quantity or counter in the active locale, without trailing zeros: "1", "12.5", "1,234,567". Accepts the
    decimal strings a line's ``detail`` holds."""
    if value is None or value == "":
        return ""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return number_format(number.normalize() + 0, use_l10n=True, force_grouping=True)
