"""List columns and the CSV export: formulas neutralised, Decimals as plain text, choices as labels, a BOM."""

import csv
import io
from decimal import Decimal

import pytest
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from assets.choices import AssetStatus
from assets.models import Asset
from assets.tests.factories import AssetFactory
from fleet.tables import Column, csv_cell, csv_response, csv_rows, visible_columns

COLUMNS = [
    Column("serial", _("Serial number"), "serial_number"),
    Column("tag", _("Asset tag"), "asset_tag"),
    Column("site", _("Site"), "site__name"),
    Column("status", _("Status"), "status", choices=dict(AssetStatus.choices)),
    Column("cost", _("Acquisition cost"), "acquisition_cost", price=True),
    Column("note", _("Location"), "location_note"),
]


def read_csv(response) -> tuple[bytes, list[list[str]]]:
    raw = b"".join(response.streaming_content)
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.5", "-12.5"),  # a plain number stays a number
        ("+81", "+81"),
        ("Tokyo HQ", "Tokyo HQ"),
        ("3F = third floor", "3F = third floor"),
        ("", ""),
    ],
)
def test_csv_cell_neutralises_spreadsheet_formulas(text, expected):
    assert csv_cell(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("850000.00"), "850000.00"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-12.50"), "-12.50"),
        (Decimal("0.000001"), "0.000001"),
        (None, ""),
        (42, "42"),
        (-3, "-3"),
    ],
)
def test_csv_cell_writes_numbers_as_plain_text(value, expected):
    assert csv_cell(value) == expected


def test_csv_cell_translates_lazy_labels():
    with translation.override("en"):
        assert csv_cell(_("Retired")) == "Retired"


def test_visible_columns_hide_prices_from_roles_that_see_none():
    keys = [column.key for column in visible_columns(COLUMNS, sees_prices=False)]

    assert "cost" not in keys
    assert [column.key for column in visible_columns(COLUMNS, sees_prices=True)] == [c.key for c in COLUMNS]


def test_column_value_follows_relations_and_stops_at_none():
    column = Column("manager", "Manager", "site__customer__provider__name")

    class Row:
        site = None

    assert column.value(Row()) is None


def test_column_display_shows_choice_labels():
    column = COLUMNS[3]

    assert column.display(AssetStatus.IN_REPAIR) == AssetStatus.IN_REPAIR.label
    assert column.display(None) == ""


@pytest.mark.django_db
def test_csv_export_writes_labels_plain_decimals_and_neutralised_text(customer, site):
    AssetFactory(
        customer=customer,
        site=site,
        serial_number="=cmd|' /C calc'!A0",
        asset_tag="@TAG",
        status=AssetStatus.IN_REPAIR,
        acquisition_cost=Decimal("850000.50"),
        location_note="-1+1",
    )

    with translation.override("en"):
        raw, rows = read_csv(csv_response(Asset.objects.all(), COLUMNS, "assets"))

    assert raw.startswith("\ufeff".encode())
    assert rows[0] == ["Serial number", "Asset tag", "Site", "Status", "Acquisition cost", "Location"]
    assert rows[1] == ["'=cmd|' /C calc'!A0", "'@TAG", "Tokyo HQ", "In repair", "850000.50", "'-1+1"]


@pytest.mark.django_db
def test_csv_export_of_japanese_text_opens_in_spreadsheets(customer, site):
    AssetFactory(customer=customer, site=site, serial_number="SN-1", location_note="東京本社 3階")

    with translation.override("ja"):
        raw, rows = read_csv(csv_response(Asset.objects.all(), COLUMNS, "assets"))

    assert raw[:3] == b"\xef\xbb\xbf"
    assert rows[1][-1] == "東京本社 3階"


@pytest.mark.django_db
def test_csv_response_is_a_utf8_attachment(customer, site):
    response = csv_response(Asset.objects.none(), COLUMNS, "fleet-2026")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="fleet-2026.csv"'


@pytest.mark.django_db
def test_csv_rows_reads_every_row_in_one_query_and_leaves_empty_relations_blank(
    customer, site, django_assert_num_queries
):
    AssetFactory.create_batch(3, customer=customer, site=site, acquisition_cost=None)

    with django_assert_num_queries(1):
        rows = list(csv_rows(Asset.objects.order_by("pk"), COLUMNS))

    assert len(rows) == 4
    assert all(row[4] == "" for row in rows[1:])


def test_visible_columns_hide_provider_only_columns_from_customer_users():
    columns = (
        Column("serial", "Serial", "serial_number"),
        Column("customer", "Customer", "customer__name", provider_only=True),
    )
    assert [c.key for c in visible_columns(columns, sees_prices=True, is_provider_staff=False)] == ["serial"]
    assert [c.key for c in visible_columns(columns, sees_prices=True, is_provider_staff=True)] == ["serial", "customer"]
