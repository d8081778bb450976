"""Invoice documents: the Factur-X XML (XSD and EN 16931 schematron) and the PDF/A-3b that carries it."""

import datetime
import re
import shutil
import subprocess
from decimal import Decimal
from io import BytesIO, StringIO
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from lxml import etree
from pypdf import PdfReader

from accounts.tests.factories import CustomerFactory, ProviderFactory
from assets.tests.factories import AssetFactory, SiteFactory
from contracts.billing import credit_note_create, draft_customers, finalise_invoice
from contracts.choices import ComponentKind, ContractStatus, InvoiceKind, LineKind, TaxCategory
from contracts.documents import render_invoice_pdf
from contracts.einvoice import check_xml_xsd, invoice_document_queryset, invoice_xml
from contracts.formats import quantity_format, unit_name
from contracts.models import BillingSettings, Contract, Invoice, InvoiceLine, InvoiceLineAsset, InvoiceTax
from contracts.schematron import check_xml_schematron
from contracts.services import component_add, contract_create, contract_transition, coverage_add
from fleet.money import rate_format as price_format
from fleet.pdf import StaticFilesURLFetcher
from fleet.testing.pdf import embedded_fonts, pdf_text, squash
from maintenance.tests.factories import WorkOrderFactory
from telemetry.choices import Meter, ReadingSource
from telemetry.models import Reading

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
APRIL_1, APRIL_30 = datetime.date(2026, 4, 1), datetime.date(2026, 4, 30)
ISSUED, DUE = datetime.date(2026, 5, 1), datetime.date(2026, 5, 31)
FINALISED_AT = datetime.datetime(2026, 5, 1, 0, 30, tzinfo=datetime.UTC)
TYPED = '<img src="file:///etc/passwd"> <b>x</b>'
FONT_URL = f"{settings.STATIC_URL}fonts/ipaexg.ttf"

SELLER_JP = {
    "name": "日本フリートサービス株式会社",
    "address_line1": "丸の内1-1-1",
    "address_line2": "丸の内ビル10階",
    "city": "千代田区",
    "region": "東京都",
    "postal_code": "100-0005",
    "country": "JP",
    "tax_registration_number": "T5835678256246",
    "email": "billing@nfs.example",
}
BUYER_JP = {
    "name": "アクメ事務機株式会社",
    "address_line1": "梅田2-2-2",
    "address_line2": "",
    "city": "大阪市北区",
    "region": "大阪府",
    "postal_code": "530-0001",
    "country": "JP",
    "tax_registration_number": "",
    "email": "",
}


def xpath(xml: bytes, path: str) -> list[str]:
    return [str(value).strip() for value in etree.fromstring(xml).xpath(path, namespaces=NS)]


@pytest.fixture
def contract(provider, customer):
    return Contract.objects.create(
        provider=provider,
        customer=customer,
        number="CT-2026-000007",
        title="マネージドプリント",
        start_date=datetime.date(2025, 4, 1),
    )


def draft(provider, customer, *, currency="JPY", language="ja", kind=InvoiceKind.INVOICE, corrects=None, **fields):
    values = {
        "provider": provider,
        "customer": customer,
        "kind": kind,
        "corrects": corrects,
        "year": 2026,
        "month": 4,
        "period_start": APRIL_1,
        "period_end": APRIL_30,
        "currency": currency,
        "language": language,
        "time_zone": "Asia/Tokyo",
        "payment_terms_days": 30,
        "tax_rounding": "down",
        "net_total": Decimal(0),
        "tax_total": Decimal(0),
        "total": Decimal(0),
        "seller": SELLER_JP,
        "buyer": BUYER_JP,
        "drafted_at": FINALISED_AT,
    }
    return Invoice.objects.create(**{**values, **fields})


def add_line(invoice, position, *, kind, description, quantity, unit, price, amount, category, **fields):
    return InvoiceLine.objects.create(
        invoice=invoice,
        position=position,
        kind=kind,
        description=description,
        service_start=fields.pop("service_start", APRIL_1),
        service_end=fields.pop("service_end", APRIL_30),
        quantity=Decimal(quantity),
        unit=unit,
        unit_price=Decimal(price),
        amount=Decimal(amount),
        tax_category=category,
        **fields,
    )


def finalise(invoice, *, rates, number="INV-2026-000001"):
    """Add the tax rows (category: (net, tax)) and totals, then finalise as the billing service would."""
    for category, (net, tax) in rates.items():
        InvoiceTax.objects.create(
            invoice=invoice, tax_category=category, rate=RATE[category], net=Decimal(net), tax=Decimal(tax)
        )
    net = sum((Decimal(net) for net, _ in rates.values()), Decimal(0))
    tax = sum((Decimal(tax) for _, tax in rates.values()), Decimal(0))
    Invoice.objects.filter(pk=invoice.pk).update(net_total=net, tax_total=tax, total=net + tax)
    Invoice.objects.filter(pk=invoice.pk).update(
        status="finalised", number=number, issue_date=ISSUED, due_date=DUE, finalised_at=FINALISED_AT
    )
    return Invoice.objects.get(pk=invoice.pk)


RATE = {
    TaxCategory.STANDARD: Decimal("10"),
    TaxCategory.REDUCED: Decimal("8"),
    TaxCategory.EXEMPT: Decimal("0"),
    TaxCategory.OUT_OF_SCOPE: Decimal("0"),
}


@pytest.fixture
def tokyo(customer):
    return SiteFactory(customer=customer, name="東京本社", city="千代田区", postal_code="100-0001")


@pytest.fixture
def osaka(customer):
    return SiteFactory(customer=customer, name="大阪倉庫", city="大阪市", postal_code="530-0001")


@pytest.fixture
def jpy_invoice(provider, customer, contract, tokyo, osaka):
    """(a) JPY, Japanese seller: standard, reduced and exempt lines, a negative service credit, billable work.

    Standard 10 %: 50,000 + 9,876 + 15,000 − 2,500 = 72,376 → tax 7,237.6 rounded down 7,237.
    Reduced 8 %: 3,600 → 288. Exempt: 2,000 → 0. Net 77,976, tax 7,525, total 85,501."""
    BillingSettings.objects.create(
        provider=provider,
        payment_instructions="三菱UFJ銀行 丸の内支店\n普通 1234567 ニホンフリートサービス（カ",
        bank_account="0005-001-1234567",
    )
    invoice = draft(provider, customer)
    add_line(
        invoice,
        1,
        kind=LineKind.FIXED_FEE,
        description="月額基本料金",
        quantity="1",
        unit="MON",
        price="50000",
        amount="50000",
        category=TaxCategory.STANDARD,
        contract=contract,
    )
    add_line(
        invoice,
        2,
        kind=LineKind.SERVICE_CREDIT,
        description="SLAサービスクレジット",
        quantity="1",
        unit="C62",
        price="-2500",
        amount="-2500",
        category=TaxCategory.STANDARD,
        contract=contract,
    )
    mono = add_line(
        invoice,
        3,
        kind=LineKind.METER_CHARGE,
        description="モノクロ印刷",
        quantity="12345",
        unit="C62",
        price="0.8",
        amount="9876",
        category=TaxCategory.STANDARD,
        contract=contract,
        site=tokyo,
    )
    add_line(
        invoice,
        4,
        kind=LineKind.ONE_OFF,
        description="来客用軽食（飲食料品）",
        quantity="3",
        unit="C62",
        price="1200",
        amount="3600",
        category=TaxCategory.REDUCED,
        contract=contract,
        site=tokyo,
    )
    add_line(
        invoice,
        5,
        kind=LineKind.ASSET_FEE,
        description="動産総合保険料",
        quantity="1",
        unit="MON",
        price="2000",
        amount="2000",
        category=TaxCategory.EXEMPT,
        contract=contract,
        site=osaka,
    )
    work_order = WorkOrderFactory(asset=AssetFactory(customer=customer, site=osaka), number="WO-2026-000042")
    add_line(
        invoice,
        6,
        kind=LineKind.BILLABLE_WORK,
        description="フォーク破損修理",
        quantity="1",
        unit="C62",
        price="15000",
        amount="15000",
        category=TaxCategory.STANDARD,
        site=osaka,
        work_order=work_order,
        service_start=datetime.date(2026, 4, 14),
        service_end=datetime.date(2026, 4, 14),
    )
    reporting = AssetFactory(customer=customer, site=tokyo, serial_number="RICOH-0001")
    silent = AssetFactory(customer=customer, site=tokyo, serial_number="RICOH-0002")
    InvoiceLineAsset.objects.create(
        line=mono,
        asset=reporting,
        days=30,
        meter=Meter.MONO_PAGES,
        start_value=Decimal("100000"),
        end_value=Decimal("112345"),
        start_source="reading",
        end_source="extrapolated",
        end_estimated=True,
        usage=Decimal("12345"),
        allowance=Decimal("0"),
        overage=Decimal("12345"),
    )
    InvoiceLineAsset.objects.create(
        line=mono, asset=silent, days=30, meter=Meter.MONO_PAGES, no_data=True, allowance=Decimal("0")
    )
    return finalise(
        invoice,
        rates={
            TaxCategory.STANDARD: ("72376", "7237"),
            TaxCategory.REDUCED: ("3600", "288"),
            TaxCategory.EXEMPT: ("2000", "0"),
        },
    )


@pytest.fixture
def eur_invoice(contract):
    """(b) EUR, a seller and a buyer with EU VAT identifiers, prices with four decimals and hours.

    Standard 10 %: 250.00 + 154.31 + 112.50 − 12.50 = 504.31 → tax 50.431 rounded half up 50.43."""
    provider = ProviderFactory(code="flotte", name="Flotten Service GmbH", country="DE", tax_registration_number="")
    customer = CustomerFactory(provider=provider, name="Client SARL", country="FR")
    seller = {
        **SELLER_JP,
        "name": "Flotten Service GmbH",
        "address_line1": "Hafenstraße 1",
        "address_line2": "",
        "city": "Hamburg",
        "region": "",
        "postal_code": "20457",
        "country": "DE",
        "tax_registration_number": "DE123456789",
        "email": "",
    }
    buyer = {
        **BUYER_JP,
        "name": "Client SARL",
        "address_line1": "1 rue de la Paix",
        "city": "Paris",
        "region": "",
        "postal_code": "75002",
        "country": "FR",
        "tax_registration_number": "FR32123456789",
    }
    fleet = Contract.objects.create(
        provider=provider,
        customer=customer,
        number="CT-2026-000001",
        title="Fleet care",
        start_date=APRIL_1,
        currency="EUR",
    )
    invoice = draft(
        provider,
        customer,
        currency="EUR",
        language="en",
        seller=seller,
        buyer=buyer,
        time_zone="Europe/Berlin",
        tax_rounding="half_up",
    )
    add_line(
        invoice,
        1,
        kind=LineKind.FIXED_FEE,
        description="Monthly fee",
        quantity="1",
        unit="MON",
        price="250",
        amount="250.00",
        category=TaxCategory.STANDARD,
        contract=fleet,
    )
    add_line(
        invoice,
        2,
        kind=LineKind.SERVICE_CREDIT,
        description="Service credit",
        quantity="1",
        unit="C62",
        price="-12.5",
        amount="-12.50",
        category=TaxCategory.STANDARD,
        contract=fleet,
    )
    add_line(
        invoice,
        3,
        kind=LineKind.METER_CHARGE,
        description="Colour pages",
        quantity="12345",
        unit="C62",
        price="0.0125",
        amount="154.31",
        category=TaxCategory.STANDARD,
        contract=fleet,
    )
    add_line(
        invoice,
        4,
        kind=LineKind.OUTCOME_CHARGE,
        description="Lift hours",
        quantity="2.5",
        unit="HUR",
        price="45",
        amount="112.50",
        category=TaxCategory.STANDARD,
        contract=fleet,
    )
    return finalise(invoice, rates={TaxCategory.STANDARD: ("504.31", "50.43")}, number="INV-2026-000101")


@pytest.fixture
def credit_note(jpy_invoice, provider, customer, contract, tokyo):
    """(c) A credit note of the JPY invoice: 1,000 pages over-counted and one reduced-rate item, as positive amounts.

    Standard: 800 → 80. Reduced: 1,200 → 96. Net 2,000, tax 176, total 2,176."""
    note = draft(
        provider,
        customer,
        kind=InvoiceKind.CREDIT_NOTE,
        corrects=jpy_invoice,
        note="検針値の再確認により、過大計上分を減額します。",
        buyer={**BUYER_JP, "tax_registration_number": "T1234567890123", "email": "keiri@acme.example"},
    )
    add_line(
        note,
        1,
        kind=LineKind.METER_CHARGE,
        description="モノクロ印刷（過大計上分）",
        quantity="1000",
        unit="C62",
        price="0.8",
        amount="800",
        category=TaxCategory.STANDARD,
        contract=contract,
        site=tokyo,
    )
    add_line(
        note,
        2,
        kind=LineKind.ONE_OFF,
        description="来客用軽食（飲食料品）",
        quantity="1",
        unit="C62",
        price="1200",
        amount="1200",
        category=TaxCategory.REDUCED,
        contract=contract,
        site=tokyo,
    )
    return finalise(
        note,
        rates={TaxCategory.STANDARD: ("800", "80"), TaxCategory.REDUCED: ("1200", "96")},
        number="CN-2026-000001",
    )


def out_of_scope_invoice(provider, customer, contract, *, with_standard: bool, number: str):
    invoice = draft(
        provider,
        customer,
        month=6 if with_standard else 5,
        period_start=datetime.date(2026, 5, 1),
        period_end=datetime.date(2026, 5, 31),
    )
    add_line(
        invoice,
        1,
        kind=LineKind.ONE_OFF,
        description="立替金（収入印紙）",
        quantity="1",
        unit="C62",
        price="200",
        amount="200",
        category=TaxCategory.OUT_OF_SCOPE,
        contract=contract,
        service_start=datetime.date(2026, 5, 1),
        service_end=datetime.date(2026, 5, 31),
    )
    rates = {TaxCategory.OUT_OF_SCOPE: ("200", "0")}
    if with_standard:
        add_line(
            invoice,
            2,
            kind=LineKind.FIXED_FEE,
            description="月額基本料金",
            quantity="1",
            unit="MON",
            price="1000",
            amount="1000",
            category=TaxCategory.STANDARD,
            contract=contract,
            service_start=datetime.date(2026, 5, 1),
            service_end=datetime.date(2026, 5, 31),
        )
        rates[TaxCategory.STANDARD] = ("1000", "100")
    return finalise(invoice, rates=rates, number=number)


# --- The XML ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["jpy_invoice", "eur_invoice", "credit_note"])
def test_xml_is_valid_against_the_xsd_and_the_en16931_schematron(request, which):
    xml = invoice_xml(request.getfixturevalue(which))

    assert check_xml_xsd(xml) == []
    assert check_xml_schematron(xml) == []


def test_jpy_xml_carries_the_parties_the_period_and_amounts_without_decimals(jpy_invoice):
    xml = invoice_xml(jpy_invoice)

    doc = "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument"
    agreement = "//ram:ApplicableHeaderTradeAgreement"
    settlement = "//ram:ApplicableHeaderTradeSettlement"
    assert xpath(xml, f"{doc}/ram:ID/text()") == ["INV-2026-000001"]
    assert xpath(xml, f"{doc}/ram:TypeCode/text()") == ["380"]
    assert xpath(xml, f"{doc}/ram:IssueDateTime/udt:DateTimeString/text()") == ["20260501"]
    assert xpath(xml, f"{agreement}/ram:SellerTradeParty/ram:Name/text()") == ["日本フリートサービス株式会社"]
    assert xpath(xml, f"{agreement}/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/@schemeID") == ["FC"]
    assert xpath(xml, f"{agreement}/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()") == [
        "T5835678256246"
    ]
    assert xpath(xml, f"{agreement}/ram:SellerTradeParty/ram:PostalTradeAddress/ram:CountryID/text()") == ["JP"]
    assert xpath(xml, f"{agreement}/ram:BuyerTradeParty/ram:Name/text()") == ["アクメ事務機株式会社"]
    assert xpath(xml, f"{agreement}/ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID/text()") == ["JP"]
    assert xpath(xml, f"{settlement}/ram:InvoiceCurrencyCode/text()") == ["JPY"]
    assert xpath(xml, f"{settlement}/ram:BillingSpecifiedPeriod//udt:DateTimeString/text()") == [
        "20260401",
        "20260430",
    ]
    assert xpath(xml, f"{settlement}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString/text()") == [
        "20260531"
    ]
    assert xpath(xml, f"{settlement}//ram:PayeePartyCreditorFinancialAccount/ram:ProprietaryID/text()") == [
        "0005-001-1234567"
    ]
    # Tax per category from the InvoiceTax rows (7,237 = 72,376 × 10 % rounded down once), not per line.
    breakdown = [
        (category, rate, basis, tax)
        for category, rate, basis, tax in zip(
            xpath(xml, f"{settlement}/ram:ApplicableTradeTax/ram:CategoryCode/text()"),
            xpath(xml, f"{settlement}/ram:ApplicableTradeTax/ram:RateApplicablePercent/text()"),
            xpath(xml, f"{settlement}/ram:ApplicableTradeTax/ram:BasisAmount/text()"),
            xpath(xml, f"{settlement}/ram:ApplicableTradeTax/ram:CalculatedAmount/text()"),
            strict=True,
        )
    ]
    assert breakdown == [("S", "10", "72376", "7237"), ("S", "8", "3600", "288"), ("E", "0", "2000", "0")]
    assert xpath(xml, f"{settlement}/ram:ApplicableTradeTax[ram:CategoryCode='E']/ram:ExemptionReason/text()")
    totals = f"{settlement}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
    assert [
        xpath(xml, f"{totals}/ram:{name}/text()")[0]
        for name in (
            "LineTotalAmount",
            "TaxBasisTotalAmount",
            "TaxTotalAmount",
            "GrandTotalAmount",
            "TotalPrepaidAmount",
            "DuePayableAmount",
        )
    ] == ["77976", "77976", "7525", "85501", "0", "85501"]


def test_xml_lines_carry_quantity_unit_price_amount_and_category_and_credits_a_negative_quantity(jpy_invoice):
    xml = invoice_xml(jpy_invoice)

    items = etree.fromstring(xml).xpath("//ram:IncludedSupplyChainTradeLineItem", namespaces=NS)
    rows = [
        (
            item.findtext(".//ram:LineID", namespaces=NS),
            item.findtext(".//ram:SpecifiedTradeProduct/ram:Name", namespaces=NS),
            item.findtext(".//ram:BilledQuantity", namespaces=NS),
            item.find(".//ram:BilledQuantity", namespaces=NS).get("unitCode"),
            item.findtext(".//ram:NetPriceProductTradePrice/ram:ChargeAmount", namespaces=NS),
            item.findtext(".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount", namespaces=NS),
            item.findtext(".//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode", namespaces=NS),
            item.findtext(".//ram:ApplicableTradeTax/ram:RateApplicablePercent", namespaces=NS),
        )
        for item in items
    ]
    assert rows == [
        ("1", "月額基本料金", "1", "MON", "50000", "50000", "S", "10"),
        ("2", "SLAサービスクレジット", "-1", "C62", "2500", "-2500", "S", "10"),
        ("3", "モノクロ印刷", "12345", "C62", "0.8", "9876", "S", "10"),
        ("4", "来客用軽食（飲食料品）", "3", "C62", "1200", "3600", "S", "8"),
        ("5", "動産総合保険料", "1", "MON", "2000", "2000", "E", "0"),
        ("6", "フォーク破損修理", "1", "C62", "15000", "15000", "S", "10"),
    ]
    notes = [item.findtext(".//ram:IncludedNote/ram:Content", namespaces=NS) for item in items]
    assert notes[5] == "大阪倉庫 · WO-2026-000042"
    assert notes[0] == "CT-2026-000007 マネージドプリント"


def test_eur_xml_prints_two_decimals_keeps_price_decimals_and_names_vat_identifiers(eur_invoice):
    xml = invoice_xml(eur_invoice)

    assert xpath(xml, "//ram:NetPriceProductTradePrice/ram:ChargeAmount/text()") == [
        "250.00",
        "12.50",
        "0.0125",
        "45.00",
    ]
    assert xpath(xml, "//ram:BilledQuantity/text()") == ["1", "-1", "12345", "2.5"]
    assert xpath(xml, "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount/text()") == [
        "250.00",
        "-12.50",
        "154.31",
        "112.50",
    ]
    assert xpath(xml, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']/text()") == [
        "DE123456789"
    ]
    assert xpath(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']/text()") == [
        "FR32123456789"
    ]
    assert xpath(xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount/text()") == [
        "50.43"
    ]
    assert xpath(xml, "//ram:GrandTotalAmount/text()") == ["554.74"]


def test_credit_note_xml_is_type_381_and_references_the_invoice_it_corrects(credit_note):
    xml = invoice_xml(credit_note)

    assert xpath(xml, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode/text()") == ["381"]
    reference = "//ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument"
    assert xpath(xml, f"{reference}/ram:IssuerAssignedID/text()") == ["INV-2026-000001"]
    assert xpath(xml, f"{reference}/ram:FormattedIssueDateTime/*/text()") == ["20260501"]
    # A registered Japanese buyer: its number is its identifier (BT-46), not a VAT identifier; its e-mail BT-49.
    assert xpath(xml, "//ram:BuyerTradeParty/ram:ID/text()") == ["T1234567890123"]
    assert xpath(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration") == []
    assert xpath(xml, "//ram:BuyerTradeParty/ram:URIUniversalCommunication/ram:URIID/@schemeID") == ["EM"]
    assert xpath(xml, "//ram:LineTotalAmount/text()") == ["800", "1200", "2000"]
    assert xpath(xml, "//ram:DuePayableAmount/text()") == ["2176"]
    assert xpath(xml, "//ram:SpecifiedTradeSettlementPaymentMeans") == []  # not the account invoices are paid to
    assert xpath(xml, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:IncludedNote/ram:Content/text()") == [
        "検針値の再確認により、過大計上分を減額します。"
    ]


def test_an_invoice_only_outside_the_scope_of_tax_passes_but_en16931_refuses_mixing_it(provider, customer, contract):
    alone = invoice_xml(out_of_scope_invoice(provider, customer, contract, with_standard=False, number="INV-1"))
    mixed = invoice_xml(out_of_scope_invoice(provider, customer, contract, with_standard=True, number="INV-2"))

    assert check_xml_xsd(alone) == [] and check_xml_schematron(alone) == []
    assert xpath(alone, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:ExemptionReasonCode/text()")
    assert xpath(alone, "//ram:ApplicableTradeTax/ram:RateApplicablePercent") == []
    # EN 16931 allows category O only alone on an invoice (BR-O-11); the XML states the facts and the check says so.
    assert check_xml_xsd(mixed) == []
    failures = check_xml_schematron(mixed)
    assert any(failure.startswith("[BR-O-11]") for failure in failures)
    assert all(failure.startswith("[BR-O-") for failure in failures), failures


def test_a_draft_has_no_e_invoice(provider, customer):
    with pytest.raises(ValueError, match="finalised"):
        invoice_xml(draft(provider, customer))


def test_checks_report_a_broken_xml(jpy_invoice):
    xml = invoice_xml(jpy_invoice).replace(b"<ram:TypeCode>380</ram:TypeCode>", b"<ram:TypeCode>999</ram:TypeCode>")
    broken_total = invoice_xml(jpy_invoice).replace(b"<ram:GrandTotalAmount>85501", b"<ram:GrandTotalAmount>85502")

    assert check_xml_xsd(xml) == []  # the code list is the schematron's business, not the XSD's
    assert any("ram:TypeCode" in failure for failure in check_xml_schematron(xml))
    assert any("BR-CO-15" in failure for failure in check_xml_schematron(broken_total))
    assert check_xml_xsd(b"<rsm:CrossIndustryInvoice xmlns:rsm='" + NS["rsm"].encode() + b"'/>")


def test_invoices_and_credit_notes_drafted_and_finalised_by_billing_are_conformant(customer, asset, provider_admin):
    """End to end: rating, the party snapshots and finalisation of ``contracts.billing``, then the e-invoice."""
    contract = contract_create(customer=customer, title="MPS", start_date=datetime.date(2025, 9, 1), by=None)
    component_add(contract=contract, by=None, kind=ComponentKind.FIXED_FEE, name="Monthly fee", amount=Decimal(10000))
    component_add(
        contract=contract,
        by=None,
        kind=ComponentKind.METER_CHARGE,
        name="Mono pages",
        meter=Meter.MONO_PAGES,
        amount=Decimal("0.8"),
        allowance=Decimal(1000),
    )
    coverage_add(contract=contract, asset=asset, start_date=datetime.date(2025, 9, 1), by=None)
    contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=None)
    for when, value in (
        (datetime.datetime(2025, 11, 1, tzinfo=TOKYO), 5000),
        (datetime.datetime(2025, 12, 1, tzinfo=TOKYO), 8123),
    ):
        Reading.objects.create(
            asset=asset, meter=Meter.MONO_PAGES, taken_at=when, value=Decimal(value), source=ReadingSource.DEVICE
        )
    (outcome,) = draft_customers(customers=[customer], year=2025, month=11)
    invoice = finalise_invoice(invoice_id=outcome.invoices[0].pk, today=datetime.date(2025, 12, 1), deliver=False)
    fee = invoice.lines.get(kind=LineKind.FIXED_FEE)
    note = credit_note_create(invoice=invoice, lines={fee.pk: Decimal(4000)}, reason="Fee waived", by=provider_admin)
    note = finalise_invoice(invoice_id=note.pk, today=datetime.date(2025, 12, 2), deliver=False)

    for document in (invoice, note):
        xml = invoice_xml(document)
        assert check_xml_xsd(xml) == []
        assert check_xml_schematron(xml) == []
    # 10,000 + 2,123 pages beyond 1,000 at 0.8 = 1,698.4 → 1,698; tax 10 % of 11,698 = 1,169.8 → 1,169 (down).
    assert xpath(invoice_xml(invoice), "//ram:GrandTotalAmount/text()") == ["12867"]
    assert xpath(invoice_xml(note), "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()") == [invoice.number]


# --- The PDF ------------------------------------------------------------------------------------------------------


def attachments(pdf: bytes) -> dict[str, tuple[bytes, str, str]]:
    """name: (content, relationship, subtype) of each embedded file."""
    reader = PdfReader(BytesIO(pdf))
    names = reader.trailer["/Root"]["/Names"]["/EmbeddedFiles"]["/Names"]
    found = {}
    for name, spec in zip(names[::2], names[1::2], strict=True):
        spec = spec.get_object()
        stream = spec["/EF"]["/F"].get_object()
        found[str(name)] = (stream.get_data(), str(spec["/AFRelationship"]), str(stream["/Subtype"]))
    return found


def names_reference(catalog) -> int:
    """The object number of the (only) file specification in the catalog's embedded files."""
    return catalog["/Names"]["/EmbeddedFiles"]["/Names"][1].idnum


def xmp(pdf: bytes) -> str:
    reader = PdfReader(BytesIO(pdf))
    return reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()


def test_pdf_is_pdf_a_3b_with_the_factur_x_xml_and_its_xmp_metadata(jpy_invoice, tmp_path):
    pdf = render_invoice_pdf(jpy_invoice)

    files = attachments(pdf)
    assert list(files) == ["factur-x.xml"]
    content, relationship, subtype = files["factur-x.xml"]
    assert content == invoice_xml(jpy_invoice)
    assert relationship == "/Alternative"
    assert subtype == "/text/xml"  # written /text#2Fxml, as Factur-X asks
    catalog = PdfReader(BytesIO(pdf)).trailer["/Root"]
    # The XML is associated with the document (WeasyPrint lists the one file specification twice in /AF).
    assert {(entry.idnum, entry.get_object()["/F"]) for entry in catalog["/AF"]} == {
        (names_reference(catalog), "factur-x.xml")
    }
    metadata = xmp(pdf)
    assert re.search(r'pdfaid:part="3"|<pdfaid:part>3</pdfaid:part>', metadata)
    assert re.search(r'pdfaid:conformance="B"|<pdfaid:conformance>B</pdfaid:conformance>', metadata)
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in metadata
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in metadata
    assert "<pdfaSchema:prefix>fx</pdfaSchema:prefix>" in metadata
    etree.fromstring(metadata.split("?>", 1)[1].rsplit("<?xpacket", 1)[0].encode())  # well-formed XMP
    assert "/OutputIntents" in catalog
    assert "IPAexGothic" in embedded_fonts(pdf)


@pytest.mark.skipif(shutil.which("qpdf") is None or shutil.which("pdffonts") is None, reason="needs qpdf, poppler")
def test_pdf_passes_qpdf_check_and_embeds_its_font(jpy_invoice, tmp_path):
    path = tmp_path / "invoice.pdf"
    path.write_bytes(render_invoice_pdf(jpy_invoice))

    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, check=False)  # noqa: S603, S607
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No syntax or stream encoding errors" in check.stdout
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout  # noqa: S603, S607
    rows = [line.split() for line in fonts.splitlines()[2:]]
    assert rows and all(row[0].endswith("IPAexGothic") for row in rows)
    assert all(row[-5] == "yes" for row in rows)  # the "emb" column


def test_japanese_pdf_shows_what_a_qualified_invoice_needs(jpy_invoice):
    text = pdf_text(render_invoice_pdf(jpy_invoice))
    flat = squash(text)

    for expected in (
        "日本フリートサービス株式会社",
        "登録番号T5835678256246",  # the seller's registration number, labelled
        "アクメ事務機株式会社",
        "INV-2026-000001",
        "2026年5月1日",  # issue date
        "2026年5月31日",  # due date
        "2026年4月1日–2026年4月30日",  # billing period
        "全拠点",  # the contract-wide lines come first, under "All sites"
        "東京本社",
        "大阪倉庫",
        "CT-2026-000007マネージドプリント",
        "月額基本料金",
        "SLAサービスクレジット",
        "-¥2,500",
        "来客用軽食（飲食料品）",
        "¥0.8",  # the unit price keeps its decimals
        "WO-2026-000042",
        "標準税率（10%）10%¥72,376¥7,237",  # tax per rate: net and tax
        "軽減税率（8%）8%¥3,600¥288",
        "非課税–¥2,000¥0",  # no rate on the exempt row
        "合計¥85,501",
        "¥7,525",
        "2026年5月31日",
        "請求書番号INV-2026-000001をご記入のうえ、2026年5月31日までに",  # pay by the due date, quoting the number
        "三菱UFJ銀行丸の内支店",
        "0005-001-1234567",
        "RICOH-0001",
        "100,000",
        "112,345",
    ):
        assert expected in flat, expected
    assert flat.index("全拠点") < flat.index("東京本社") < flat.index("大阪倉庫")
    assert "※" in flat  # reduced-rate lines are marked


def test_english_pdf_shows_the_same_items_in_english(jpy_invoice):
    flat = squash(pdf_text(render_invoice_pdf(jpy_invoice, language="en")))

    for expected in (
        "Invoice",
        "TaxregistrationnumberT5835678256246",
        "May1,2026",
        "May31,2026",
        "April1,2026–April30,2026",
        "Allsites",
        "Standardrate(10%)10%¥72,376¥7,237",
        "Reducedrate(8%)8%¥3,600¥288",
        "Exempt",
        "Total¥85,501",
        "12,345units",
        "1month",
        "Per-assetdetail",
        "112,345est.",
        "noreadings",
    ):
        assert expected in flat, expected


def test_eur_pdf_prints_cents_and_the_price_decimals(eur_invoice):
    flat = squash(pdf_text(render_invoice_pdf(eur_invoice)))

    for expected in (
        "FlottenServiceGmbH",
        "TaxregistrationnumberDE123456789",
        "ClientSARL",
        "INV-2026-000101",
        "€0.0125",
        "€154.31",
        "-€12.50",
        "2.5hours",
        "Standardrate(10%)10%€504.31€50.43",
        "Total€554.74",
    ):
        assert expected in flat, expected


def test_credit_note_pdf_names_the_corrected_invoice_and_the_reason(credit_note):
    flat = squash(pdf_text(render_invoice_pdf(credit_note, language="en")))

    for expected in (
        "Creditnote",
        "CN-2026-000001",
        "CorrectsinvoiceINV-2026-000001",
        "検針値の再確認により",
        "Total¥2,176",
    ):
        assert expected in flat, expected
    assert "Payment" not in flat and "0005-001-1234567" not in flat
    assert invoice_xml(credit_note) == attachments(render_invoice_pdf(credit_note))["factur-x.xml"][0]


def test_a_draft_renders_marked_as_a_draft_without_an_e_invoice(provider, customer, contract):
    invoice = draft(provider, customer)
    add_line(
        invoice,
        1,
        kind=LineKind.FIXED_FEE,
        description="月額基本料金",
        quantity="1",
        unit="MON",
        price="1000",
        amount="1000",
        category=TaxCategory.STANDARD,
        contract=contract,
    )

    pdf = render_invoice_pdf(invoice, language="en")

    assert "Draft" in pdf_text(pdf)
    assert "/EmbeddedFiles" not in str(PdfReader(BytesIO(pdf)).trailer["/Root"].get("/Names", {}))


def test_typed_text_is_printed_literally_and_fetches_nothing(provider, customer, monkeypatch):
    fetched: list[str] = []
    original = StaticFilesURLFetcher.fetch

    def spy(self, url, headers=None):
        fetched.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(StaticFilesURLFetcher, "fetch", spy)
    invoice = draft(
        provider,
        customer,
        month=6,
        buyer={**BUYER_JP, "name": TYPED},
        note=TYPED,
        period_start=datetime.date(2026, 6, 1),
        period_end=datetime.date(2026, 6, 30),
    )
    add_line(
        invoice,
        1,
        kind=LineKind.FIXED_FEE,
        description=TYPED,
        quantity="1",
        unit="MON",
        price="1000",
        amount="1000",
        category=TaxCategory.STANDARD,
        service_start=datetime.date(2026, 6, 1),
        service_end=datetime.date(2026, 6, 30),
    )
    invoice = finalise(invoice, rates={TaxCategory.STANDARD: ("1000", "100")}, number="INV-2026-000002")

    pdf = render_invoice_pdf(invoice, language="en")

    assert squash(pdf_text(pdf)).count(squash(TYPED)) == 3  # the buyer, the note and the line
    # The bundled font (fetched once per thread: the font configuration is kept) and data: URLs (the XML, the XMP).
    assert {url for url in fetched if not url.startswith("data:")} <= {FONT_URL}
    xml = invoice_xml(invoice)
    assert xpath(xml, "//ram:BuyerTradeParty/ram:Name/text()") == [TYPED]
    assert xpath(xml, "//ram:SpecifiedTradeProduct/ram:Name/text()") == [TYPED]


def test_rendering_reads_a_fixed_number_of_queries_whatever_the_number_of_lines(provider, customer, contract, tokyo):
    counts = []
    for size, number in ((2, "INV-2026-000011"), (20, "INV-2026-000012")):
        invoice = draft(provider, customer, month=size, period_start=APRIL_1, period_end=APRIL_30)
        for position in range(1, size + 1):
            line = add_line(
                invoice,
                position,
                kind=LineKind.METER_CHARGE,
                description=f"Line {position}",
                quantity="10",
                unit="C62",
                price="10",
                amount="100",
                category=TaxCategory.STANDARD,
                contract=contract,
                site=tokyo,
            )
            InvoiceLineAsset.objects.create(
                line=line,
                asset=AssetFactory(customer=customer, site=tokyo),
                days=30,
                meter=Meter.MONO_PAGES,
                usage=Decimal(10),
            )
        total = str(100 * size)
        invoice = finalise(invoice, rates={TaxCategory.STANDARD: (total, str(10 * size))}, number=number)
        invoice = Invoice.objects.get(pk=invoice.pk)
        with CaptureQueriesContext(connection) as queries:
            pdf = render_invoice_pdf(invoice)
        assert f"Line {size}" in pdf_text(pdf)
        counts.append(len(queries))
    assert counts == [4, 4]  # the invoice (with billing settings, corrected invoice), lines, their assets, taxes


def test_the_document_queryset_loads_everything_up_front(jpy_invoice, django_assert_num_queries):
    with django_assert_num_queries(4):
        invoice = invoice_document_queryset().get(pk=jpy_invoice.pk)
    with django_assert_num_queries(0):
        invoice_xml(invoice)
        render_invoice_pdf(invoice, language="en")


# --- Formats ------------------------------------------------------------------------------------------------------


def test_units_quantities_and_prices_read_as_people_write_them(settings):
    assert [unit_name(code, Decimal(1)) for code in ("MON", "DAY", "HUR", "C62", "KWH")] == [
        "month",
        "day",
        "hour",
        "unit",
        "kWh",
    ]
    assert [unit_name(code, Decimal(3)) for code in ("MON", "DAY", "HUR", "C62")] == [
        "months",
        "days",
        "hours",
        "units",
    ]
    assert quantity_format(Decimal("12345.000")) == "12,345"
    assert quantity_format(Decimal("2.500")) == "2.5"
    assert price_format(Decimal("0.8000"), "JPY") == "¥0.8"
    assert price_format(Decimal("50000.0000"), "JPY") == "¥50,000"
    assert price_format(Decimal("-12.5000"), "EUR") == "-€12.50"
    assert price_format(Decimal("0.0125"), "EUR") == "€0.0125"


# --- The check command --------------------------------------------------------------------------------------------


def test_check_einvoice_command_reports_valid_invoices_and_failing_files(jpy_invoice, credit_note, tmp_path):
    out = StringIO()
    call_command("check_einvoice", "INV-2026-000001", "CN-2026-000001", stdout=out)
    assert out.getvalue().splitlines() == [
        "CN-2026-000001: valid (XSD and EN 16931 schematron)",
        "INV-2026-000001: valid (XSD and EN 16931 schematron)",
    ]

    broken = tmp_path / "broken.xml"
    broken.write_bytes(
        invoice_xml(jpy_invoice).replace(b"<ram:TaxBasisTotalAmount>77976", b"<ram:TaxBasisTotalAmount>1")
    )
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1 e-invoices fail"):
        call_command("check_einvoice", "--file", str(broken), stdout=out)
    assert "BR-CO-13" in out.getvalue()
    with pytest.raises(CommandError, match="INV-404"):
        call_command("check_einvoice", "INV-404")
