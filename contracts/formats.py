"""How the portal and the invoice PDF lay out an invoice: its line groups, units and quantities (one way for both)."""

from collections.abc import Iterable
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


def lines_by_site_and_contract(lines: Iterable) -> list[list[list]]:
    """Invoice lines by site (the contract-wide ones first), then by contract, in line order: a list of sites, each a
    list of contracts, each a non-empty list of lines (their first line names the site and the contract)."""
    sites: dict[int | None, list[list]] = {}
    contracts: dict[tuple[int | None, int | None], list] = {}
    for line in sorted(lines, key=lambda line: (line.site_id is not None, line.position)):
        key = (line.site_id, line.contract_id)
        if key not in contracts:
            contracts[key] = []
            sites.setdefault(line.site_id, []).append(contracts[key])
        contracts[key].append(line)
    return list(sites.values())
