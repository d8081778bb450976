"""The invoice document: the PDF of an invoice or credit note, a PDF/A-3b carrying its Factur-X XML.

``render_invoice_pdf`` renders ``templates/pdf/invoice.html`` through ``fleet.pdf.render_pdf`` in the invoice's
language (or the one asked for) and time zone. A finalised invoice becomes a Factur-X PDF: PDF/A-3b with
``contracts.einvoice.invoice_xml`` embedded as ``factur-x.xml`` (relationship *Alternative*) and the Factur-X XMP
extension schema stating the EN 16931 conformance level; WeasyPrint writes all of it in one pass. A draft renders
the same document marked as a draft, without an e-invoice (it has no number yet).

Everything the document reads is loaded by ``contracts.einvoice.invoice_document_queryset`` in four queries,
whatever the number of lines (the invoice with its provider's billing settings and the corrected invoice, the lines
with site, contract and work order, the lines' assets with model and site, the taxes). Amounts are printed as
stored: rating rounded them; the template never computes one.
"""

import base64
import datetime
from collections.abc import Iterable
from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext
from weasyprint import Attachment

from contracts.choices import TAX_RATES, TaxCategory
from contracts.einvoice import FACTURX_FILENAME, FACTURX_XMP_LEVEL, invoice_xml, with_document_data
from contracts.formats import lines_by_site_and_contract, quantity_format, unit_name
from contracts.models import BillingSettings, Invoice, InvoiceLine
from fleet.money import Currency, rate_format
from fleet.pdf import StaticFilesURLFetcher, render_pdf
from telemetry.choices import Meter

INVOICE_TEMPLATE = "pdf/invoice.html"
PDF_VARIANT = "pdf/a-3b"
UNTAXED = (TaxCategory.EXEMPT, TaxCategory.OUT_OF_SCOPE)

# The Factur-X metadata WeasyPrint adds to the document's XMP packet (beside its own PDF/A identification): the
# PDF/A extension schema that declares the fx: properties, and their values. Without the schema description a
# PDF/A-3 validator rejects the fx: properties.
FACTURX_XMP = f"""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
    xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"
    xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#"
    xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
  <rdf:Description rdf:about="">
    <fx:DocumentType>INVOICE</fx:DocumentType>
    <fx:DocumentFileName>{FACTURX_FILENAME}</fx:DocumentFileName>
    <fx:Version>1.0</fx:Version>
    <fx:ConformanceLevel>{FACTURX_XMP_LEVEL}</fx:ConformanceLevel>
  </rdf:Description>
  <rdf:Description rdf:about="">
    <pdfaExtension:schemas>
      <rdf:Bag>
        <rdf:li rdf:parseType="Resource">
          <pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
          <pdfaSchema:namespaceURI>urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#</pdfaSchema:namespaceURI>
          <pdfaSchema:prefix>fx</pdfaSchema:prefix>
          <pdfaSchema:property>
            <rdf:Seq>
              <rdf:li rdf:parseType="Resource">
                <pdfaProperty:name>DocumentFileName</pdfaProperty:name>
                <pdfaProperty:valueType>Text</pdfaProperty:valueType>
                <pdfaProperty:category>external</pdfaProperty:category>
                <pdfaProperty:description>The name of the embedded XML document</pdfaProperty:description>
              </rdf:li>
              <rdf:li rdf:parseType="Resource">
                <pdfaProperty:name>DocumentType</pdfaProperty:name>
                <pdfaProperty:valueType>Text</pdfaProperty:valueType>
                <pdfaProperty:category>external</pdfaProperty:category>
                <pdfaProperty:description>The type of the hybrid document in capital letters</pdfaProperty:description>
              </rdf:li>
              <rdf:li rdf:parseType="Resource">
                <pdfaProperty:name>Version</pdfaProperty:name>
                <pdfaProperty:valueType>Text</pdfaProperty:valueType>
                <pdfaProperty:category>external</pdfaProperty:category>
                <pdfaProperty:description>The version of the embedded XML standard</pdfaProperty:description>
              </rdf:li>
              <rdf:li rdf:parseType="Resource">
                <pdfaProperty:name>ConformanceLevel</pdfaProperty:name>
                <pdfaProperty:valueType>Text</pdfaProperty:valueType>
                <pdfaProperty:category>external</pdfaProperty:category>
                <pdfaProperty:description>The conformance level of the embedded XML document</pdfaProperty:description>
              </rdf:li>
            </rdf:Seq>
          </pdfaSchema:property>
        </rdf:li>
      </rdf:Bag>
    </pdfaExtension:schemas>
  </rdf:Description>
</rdf:RDF>""".encode()
# WeasyPrint reads extra XMP through the document's URL fetcher, which serves data: URLs.
FACTURX_XMP_URL = f"data:application/rdf+xml;base64,{base64.b64encode(FACTURX_XMP).decode()}"


class InvoiceParty(TypedDict):
    name: str
    address_lines: list[str]
    registration_number: str
    email: str


class InvoiceDocumentLine(TypedDict):
    position: int
    description: str
    kind: str
    service_start: datetime.date
    service_end: datetime.date
    work_order: str
    quantity: str
    unit: str
    unit_price: str
    amount: Decimal
    tax: str
    reduced: bool
    has_assets: bool


class InvoiceContractGroup(TypedDict):
    """The lines of one contract within a site (``number`` empty: lines under no contract)."""

    number: str
    title: str
    lines: list[InvoiceDocumentLine]


class InvoiceSiteGroup(TypedDict):
    """The lines of one site, or the contract-wide lines (``all_sites``), by contract."""

    name: str
    all_sites: bool
    address_lines: list[str]
    contracts: list[InvoiceContractGroup]


class InvoiceTaxRow(TypedDict):
    category: str
    rate: str
    net: Decimal
    tax: Decimal


class InvoiceAssetRow(TypedDict):
    asset: str
    serial_number: str
    site: str
    days: int
    meter: str
    start: str
    start_estimated: bool
    end: str
    end_estimated: bool
    usage: str
    allowance: str
    overage: str
    resets: int
    no_data: bool
    metered: bool


class InvoiceAssetGroup(TypedDict):
    """The per-asset detail of one line (the appendix)."""

    position: int
    description: str
    contract: str
    rows: list[InvoiceAssetRow]


class InvoiceDocumentContext(TypedDict):
    """Everything ``templates/pdf/invoice.html`` reads."""

    title: str
    is_credit_note: bool
    is_draft: bool
    number: str
    issue_date: datetime.date | None
    due_date: datetime.date | None
    period_start: datetime.date
    period_end: datetime.date
    currency: str
    currency_name: str
    seller: InvoiceParty
    buyer: InvoiceParty
    sites: list[InvoiceSiteGroup]
    taxes: list[InvoiceTaxRow]
    has_reduced: bool
    net_total: Decimal
    tax_total: Decimal
    total: Decimal
    corrects_number: str
    corrects_issue_date: datetime.date | None
    note: str
    payment_terms_days: int
    payment_instructions: str
    bank_account: str
    appendix: list[InvoiceAssetGroup]
    has_estimates: bool


def render_invoice_pdf(invoice: Invoice, *, language: str | None = None) -> bytes:
    """The PDF of an invoice or credit note: for a finalised one a Factur-X PDF/A-3b with its XML embedded.

    In ``language`` (default: the invoice's) and the invoice's time zone. The invoice is re-read through
    ``contracts.einvoice.invoice_document_queryset`` unless it was loaded by it, so rendering costs a fixed number
    of queries whatever the number of lines.
    """
    invoice = with_document_data(invoice)
    language = language or invoice.language or settings.LANGUAGE_CODE
    write_options: dict = {"pdf_variant": PDF_VARIANT}
    if invoice.is_final:
        xml = invoice_xml(invoice)
        write_options["attachments"] = [facturx_attachment(xml)]
        write_options["xmp_metadata"] = [FACTURX_XMP_URL]
    with translation.override(language):
        context = invoice_document_context(invoice)
    return render_pdf(
        template_name=INVOICE_TEMPLATE,
        context=context,
        language=language,
        time_zone=invoice.time_zone or None,
        write_options=write_options,
    )


def facturx_attachment(xml: bytes) -> Attachment:
    """The XML as the PDF's ``factur-x.xml`` attachment, typed ``text/xml`` as Factur-X asks, read from a data: URL
    through the static-only fetcher (nothing is fetched from anywhere)."""
    return Attachment(
        url=f"data:text/xml;base64,{base64.b64encode(xml).decode()}",
        url_fetcher=StaticFilesURLFetcher(),
        name=FACTURX_FILENAME,
        description="Factur-X invoice",
        relationship="Alternative",
    )


# --- Context ------------------------------------------------------------------------------------------------------


def invoice_document_context(invoice: Invoice) -> InvoiceDocumentContext:
    """The template's context, in the active language: lines by site and contract, taxes, totals, appendix."""
    currency = invoice.currency
    lines = sorted(invoice.lines.all(), key=lambda line: line.position)
    taxes = list(invoice.taxes.all())
    rates = {tax.tax_category: tax.rate for tax in taxes}
    billing = _billing_settings(invoice)
    corrected = invoice.corrects if invoice.is_credit_note else None
    appendix = _appendix(lines)
    return InvoiceDocumentContext(
        title=str(invoice.get_kind_display()),
        is_credit_note=invoice.is_credit_note,
        is_draft=not invoice.is_final,
        number=invoice.number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        currency=currency,
        currency_name=str(Currency(currency).label) if currency in Currency.values else currency,
        seller=_party(invoice.seller),
        buyer=_party(invoice.buyer),
        sites=_site_groups(lines, currency, rates),
        taxes=[
            InvoiceTaxRow(
                category=str(tax.get_tax_category_display()),
                rate="–" if tax.tax_category in UNTAXED else _percent(tax.rate, tax.tax_category),
                net=tax.net,
                tax=tax.tax,
            )
            for tax in sorted(taxes, key=lambda tax: (-tax.rate, tax.tax_category))
        ],
        has_reduced=any(line.tax_category == TaxCategory.REDUCED for line in lines),
        net_total=invoice.net_total,
        tax_total=invoice.tax_total,
        total=invoice.total,
        corrects_number=(corrected.number or str(corrected)) if corrected else "",
        corrects_issue_date=corrected.issue_date if corrected else None,
        note=invoice.note.strip(),
        payment_terms_days=invoice.payment_terms_days,
        payment_instructions=billing.payment_instructions.strip() if billing and not invoice.is_credit_note else "",
        bank_account=billing.bank_account.strip() if billing and not invoice.is_credit_note else "",
        appendix=appendix,
        has_estimates=any(
            row["start_estimated"] or row["end_estimated"] for group in appendix for row in group["rows"]
        ),
    )


def _billing_settings(invoice: Invoice) -> BillingSettings | None:
    try:
        return invoice.provider.billing_settings
    except BillingSettings.DoesNotExist:
        return None


def _party(snapshot: dict) -> InvoiceParty:
    locality = " ".join(
        part for part in (snapshot.get("postal_code"), snapshot.get("city"), snapshot.get("region")) if part
    )
    lines = [snapshot.get("address_line1"), snapshot.get("address_line2"), locality, snapshot.get("country")]
    return InvoiceParty(
        name=snapshot.get("name") or "",
        address_lines=[line for line in lines if line],
        registration_number=(snapshot.get("tax_registration_number") or "").strip(),
        email=(snapshot.get("email") or "").strip(),
    )


def _site_groups(lines: Iterable[InvoiceLine], currency: str, rates: dict[str, Decimal]) -> list[InvoiceSiteGroup]:
    """Lines by site (the contract-wide ones first, under "All sites"), then by contract, in line order."""
    return [
        InvoiceSiteGroup(
            name=site[0][0].site.name if site[0][0].site_id else gettext("All sites"),
            all_sites=site[0][0].site_id is None,
            address_lines=site[0][0].site.address_lines if site[0][0].site_id else [],
            contracts=[
                InvoiceContractGroup(
                    number=lines[0].contract.number if lines[0].contract_id else "",
                    title=lines[0].contract.title if lines[0].contract_id else "",
                    lines=[_line(line, currency, rates) for line in lines],
                )
                for lines in site
            ],
        )
        for site in lines_by_site_and_contract(lines)
    ]


def _line(line: InvoiceLine, currency: str, rates: dict[str, Decimal]) -> InvoiceDocumentLine:
    rate = rates.get(line.tax_category, TAX_RATES[line.tax_category])
    return InvoiceDocumentLine(
        position=line.position,
        description=line.description,
        kind=str(line.get_kind_display()),
        service_start=line.service_start,
        service_end=line.service_end,
        work_order=line.work_order.number if line.work_order_id else "",
        quantity=quantity_format(line.quantity),
        unit=unit_name(line.unit, line.quantity),
        unit_price=rate_format(line.unit_price, currency),
        amount=line.amount,
        tax=_percent(rate, line.tax_category),
        reduced=line.tax_category == TaxCategory.REDUCED,
        has_assets=bool(line.assets.all()),
    )


def _appendix(lines: Iterable[InvoiceLine]) -> list[InvoiceAssetGroup]:
    meters = dict(Meter.choices)
    groups = []
    for line in lines:
        details = sorted(line.assets.all(), key=lambda detail: (detail.asset.serial_number, detail.meter, detail.pk))
        if not details:
            continue
        rows = []
        for detail in details:
            asset = detail.asset
            metered = bool(detail.meter)
            rows.append(
                InvoiceAssetRow(
                    asset=f"{asset.asset_model.manufacturer.name} {asset.asset_model.name}",
                    serial_number=asset.serial_number,
                    site=asset.site.name,
                    days=detail.days,
                    meter=str(meters.get(detail.meter, detail.meter)) if metered else "",
                    start=quantity_format(detail.start_value),
                    start_estimated=metered and detail.start_estimated and not detail.no_data,
                    end=quantity_format(detail.end_value),
                    end_estimated=metered and detail.end_estimated and not detail.no_data,
                    usage=quantity_format(detail.usage) if metered else "",
                    allowance=quantity_format(detail.allowance) if metered else "",
                    overage=quantity_format(detail.overage) if metered else "",
                    resets=detail.resets,
                    no_data=detail.no_data,
                    metered=metered,
                )
            )
        groups.append(
            InvoiceAssetGroup(
                position=line.position,
                description=line.description,
                contract=line.contract.number if line.contract_id else "",
                rows=rows,
            )
        )
    return groups


# --- Formats ------------------------------------------------------------------------------------------------------


def _percent(rate: Decimal, category: str) -> str:
    """The rate a line shows: "10%", "8%"; the category's name where no tax is charged ("Exempt")."""
    if category in UNTAXED:
        return str(TaxCategory(category).label)
    return f"{rate.normalize() + 0:f}%"
