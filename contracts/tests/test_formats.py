"""The invoice layout shared by the portal and the PDF."""

from decimal import Decimal
from types import SimpleNamespace

from contracts.formats import lines_by_site_and_contract, quantity_format


def line(position, site_id, contract_id):
    return SimpleNamespace(position=position, site_id=site_id, contract_id=contract_id)


def test_lines_group_by_site_contract_wide_first_then_by_contract_in_line_order():
    lines = [line(1, 7, 1), line(2, None, 1), line(3, 7, 2), line(4, 5, 1), line(5, 7, 1), line(6, None, 2)]

    groups = lines_by_site_and_contract(lines)

    positions = [[[item.position for item in contract] for contract in site] for site in groups]
    assert positions == [[[2], [6]], [[1, 5], [3]], [[4]]]


def test_quantities_take_the_strings_a_line_detail_holds():
    assert (quantity_format("1500.000"), quantity_format(Decimal("2.50")), quantity_format(None)) == (
        "1,500",
        "2.5",
        "",
    )
