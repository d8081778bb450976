"""The fleet register PDF: one customer's assets by site, in the customer's language, typed text escaped."""

from datetime import date

import pytest

from accounts.choices import OrganisationKind
from accounts.models import Organisation
from assets.choices import AssetCategory, AssetStatus, Ownership
from assets.documents import fleet_register_context, fleet_register_pdf_render
from assets.models import Asset, AssetModel, Manufacturer, Site
from fleet.testing.pdf import embedded_fonts, pdf_text, squash

pytestmark = pytest.mark.django_db


def make_customer(code: str, *, language: str = "en", name: str = "") -> Organisation:
    provider, _ = Organisation.objects.get_or_create(
        code="provider", defaults={"kind": OrganisationKind.PROVIDER, "name": "Fleet Services K.K."}
    )
    return Organisation.objects.create(
        kind=OrganisationKind.CUSTOMER, provider=provider, code=code, name=name or f"Customer {code}", language=language
    )


def make_asset(customer: Organisation, site: Site, serial: str, **fields) -> Asset:
    manufacturer, _ = Manufacturer.objects.get_or_create(name="Ricoh")
    asset_model, _ = AssetModel.objects.get_or_create(
        manufacturer=manufacturer, name="IM C3010", defaults={"category": AssetCategory.MFP}
    )
    fields.setdefault("ownership", Ownership.RENTAL)
    return Asset.objects.create(
        customer=customer, site=site, asset_model=asset_model, manufacturer=manufacturer, serial_number=serial, **fields
    )


@pytest.fixture
def fleet():
    """A customer with three assets over two sites, and another customer with one asset."""
    customer = make_customer("acme")
    head_office = Site.objects.create(customer=customer, name="Head office", city="Tokyo", postal_code="100-0005")
    warehouse = Site.objects.create(customer=customer, name="Warehouse", city="Osaka")
    make_asset(customer, head_office, "SN-HO-1", asset_tag="TAG-1", install_date=date(2024, 6, 2))
    make_asset(customer, head_office, "SN-HO-2", status=AssetStatus.IN_REPAIR)
    make_asset(customer, warehouse, "SN-WH-1", ownership=Ownership.CUSTOMER_OWNED)
    other = make_customer("other")
    other_site = Site.objects.create(customer=other, name="Other site")
    make_asset(other, other_site, "SN-OTHER-1")
    return customer


def test_fleet_register_lists_the_customers_assets_by_site(fleet, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        pdf = fleet_register_pdf_render(customer=fleet, assets=Asset.objects.filter(customer=fleet))

    text = pdf_text(pdf)
    for expected in ("SN-HO-1", "SN-HO-2", "SN-WH-1", "TAG-1", "Head office", "Warehouse", "Ricoh IM C3010"):
        assert expected in text
    assert "SN-OTHER-1" not in text
    assert "Other site" not in text


def test_fleet_register_narrows_a_broader_queryset_to_the_customer(fleet):
    text = pdf_text(fleet_register_pdf_render(customer=fleet, assets=Asset.objects.all()))

    assert "SN-WH-1" in text
    assert "SN-OTHER-1" not in text


def test_fleet_register_context_totals_per_site_and_status(fleet):
    context = fleet_register_context(customer=fleet)

    assert [(site["name"], site["total"]) for site in context["sites"]] == [("Head office", 2), ("Warehouse", 1)]
    assert [row["serial_number"] for row in context["sites"][0]["rows"]] == ["SN-HO-1", "SN-HO-2"]
    totals = {entry["status_code"]: entry["count"] for entry in context["status_totals"]}
    assert totals[AssetStatus.ACTIVE] == 2
    assert totals[AssetStatus.IN_REPAIR] == 1
    assert context["total_assets"] == 3


def test_fleet_register_of_a_japanese_customer_embeds_the_japanese_font():
    customer = make_customer("yamada", language="ja", name="山田製作所株式会社")
    site = Site.objects.create(customer=customer, name="東京本社", city="千代田区")
    make_asset(customer, site, "JP-0001", install_date=date(2024, 6, 2))

    pdf = fleet_register_pdf_render(customer=customer)

    text = pdf_text(pdf)
    assert "東京本社" in text
    assert "山田製作所株式会社" in text
    assert "2024/06/02" in text  # the Japanese short date format
    assert "IPAexGothic" in embedded_fonts(pdf)


def test_fleet_register_formats_dates_for_an_english_customer(fleet):
    assert "06/02/2024" in pdf_text(fleet_register_pdf_render(customer=fleet))


def test_fleet_register_prints_typed_markup_literally():
    customer = make_customer("mallory")
    site = Site.objects.create(customer=customer, name="<b>Site</b> & Co")
    make_asset(customer, site, "<script>alert(1)</script>", asset_tag='"><img src=x>')

    # Table cells wrap long values, so compare with all whitespace removed.
    text = squash(pdf_text(fleet_register_pdf_render(customer=customer)))

    assert squash("<script>alert(1)</script>") in text
    assert squash('"><img src=x>') in text
    assert squash("<b>Site</b> & Co") in text


def test_fleet_register_of_a_customer_without_assets_renders():
    customer = make_customer("empty")

    text = pdf_text(fleet_register_pdf_render(customer=customer))

    assert "Customer empty" in text
