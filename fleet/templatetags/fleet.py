"""Template helpers of the portal: money formatting and table cells."""

import datetime
from decimal import Decimal

from django import template
from django.utils import formats, timezone

from fleet.money import money_format, rate_format

register = template.Library()


@register.filter
def index(sequence, position: int):
    """The item at ``position`` of a list (``columns|index:forloop.counter0``)."""
    return sequence[position]


@register.filter
def money(amount: Decimal | str | None, currency: str) -> str:
    """``{{ asset.acquisition_cost|money:asset.currency }}``: the amount in the active locale (a decimal string, as
    JSON keeps amounts, too)."""
    return money_format(Decimal(amount) if isinstance(amount, str) else amount, currency)


@register.filter
def rate(amount: Decimal | None, currency: str) -> str:
    """``{{ price|rate:currency }}``: a price per unit with the decimals it has (``fleet.money.rate_format``)."""
    return rate_format(amount, currency)


@register.filter
def percent(value: Decimal | str | None) -> str:
    """``{{ row.uptime|percent }}``: "97.5%" in the active locale (a decimal string too), or a dash without one."""
    if value is None or value == "":
        return "–"
    return f"{formats.number_format(Decimal(value), use_l10n=True)}%"


@register.filter
def cell(value) -> str:
    """A value as a table cell shows it: dates per locale, empty for None."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime.datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, datetime.date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, bool):
        return "✓" if value else "—"
    if isinstance(value, Decimal):
        return formats.number_format(value, use_l10n=True, force_grouping=True)
    return value
