"""Billing: drafting a period's invoices, finalising them, credit notes, and the monthly run that drives both.

**Drafting** (``draft_customers``) rates a batch of customers (``contracts.rating``, a constant number of queries
for the batch) and stores, per customer and currency, one draft ``Invoice`` of kind invoice. The batch is saved in
one transaction and a constant number of statements (one commit, not one a customer) under locks on its customers'
rows, taken in id order in one statement, so two runs drafting the same customer take turns: the second replaces the
first draft's lines (the invoice row, its number-less identity and its events stay). When the batch's write fails on
one customer's data (an amount too large to store, say), the batch is written again one customer at a time, each
under its own savepoint, and only that customer fails. A currency whose invoice is already finalised is never
touched again (corrections are credit notes; late readings true up the next period). The unique constraint on
(customer, year, month, currency) for invoices is the last guard: whatever runs, retries or races, a period has at
most one invoice per customer and currency.

**Finalising** (``finalise_invoice``) takes the invoice's row lock, and if it is still a draft: takes the next
number of the provider's series for the year of issue (``INV-2026-000001``; credit notes ``CN-...``) under the
sequence row's lock, in the same transaction, so a rollback returns the number and the series stays gapless;
sets issue and due dates, freezes the parties, opens the ``Receivable``, and freezes the end counters the invoice
used (``telemetry.usage.freeze_boundaries``) so that the next period starts from them. After the commit the PDF
and the XML are rendered and the customer's admins are e-mailed, once (``invoice_deliver``). Finalising twice
changes nothing the second time.

**The run** (``billing_run_start``) is one ``BillingRun`` row per provider and period, with one
``BillingRunItem`` per customer to draft (pending, done, failed: the progress the portal shows). Its customers
are drafted in batches of ``settings.BILLING_BATCH_CUSTOMERS`` by Celery tasks (``contracts.tasks``); the batch that
drafts the last pending customer closes the drafting and, when the run was started with ``finalize``, finalises
the drafts. Otherwise the drafts wait for review: an account manager finalises them (one or all), or the daily
sweep does after the provider's review period. Starting a period again re-drafts its pending and failed
customers and every draft; finalised invoices stay.
"""

import datetime
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage, mailers
from django.db import DataError, IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.choices import OrganisationKind, Role
from accounts.models import Membership, Organisation, User
from accounts.validators import validate_tax_registration_number
from contracts.choices import (
    CREDIT_NOTE_PREFIX,
    INVOICE_PREFIX,
    BillingRunStatus,
    InvoiceKind,
    InvoiceStatus,
    RunItemStatus,
)
from contracts.models import (
    BillingRun,
    BillingRunItem,
    BillingSettings,
    CreditNoteSequence,
    Invoice,
    InvoiceDelivery,
    InvoiceEvent,
    InvoiceLine,
    InvoiceLineAsset,
    InvoiceSequence,
    InvoiceTax,
    Receivable,
)
from contracts.rating import (
    CustomerInputs,
    Period,
    RatedInvoice,
    RatedLine,
    billable_contracts,
    load_inputs,
    rate_customer,
    tax_totals,
)
from contracts.receivables import refresh_receivable
from fleet.bulk import bulk_load
from fleet.money import minor_units
from maintenance.services import next_number
from telemetry.usage import freeze_boundaries, time_zone

BAD_PERIOD = _("Enter a period as YYYY-MM.")
FINALIZE_NEEDS_WHOLE_PROVIDER = _(
    "Only staff who bill every customer may have a run finalise its invoices as soon as they are drafted."
)
RUN_NOT_IN_REVIEW = _("Only a run whose drafts are in review can be finalised.")
FUTURE_PERIOD = _("A period can be billed only once it has ended.")
NOT_A_DRAFT = _("Only a draft can be changed.")
NOT_FINAL = _("Only a finalised invoice can be corrected.")
NOTHING_TO_CREDIT = _("Choose at least one line to credit.")
LINE_OF_ANOTHER_INVOICE = _("This line is not on the invoice.")
OVER_CREDITED = _("The credit exceeds what remains of this line: %(left)s.")
REASON_REQUIRED = _("Say why the invoice is corrected.")
BAD_AMOUNT = _("Enter a positive amount with at most %(places)s decimal places.")


# --- Periods and parties ------------------------------------------------------------------------------------------


def parse_period(text: str) -> tuple[int, int]:
    """``"2026-10"`` → (2026, 10); anything else is a ValidationError."""
    try:
        year_text, month_text = text.strip().split("-")
        year, month = int(year_text), int(month_text)
    except (AttributeError, ValueError) as error:
        raise ValidationError({"period": BAD_PERIOD}) from error
    if not (2000 <= year <= 2999 and 1 <= month <= 12 and len(month_text) == 2):
        raise ValidationError({"period": BAD_PERIOD})
    return year, month


def previous_month(day: datetime.date) -> tuple[int, int]:
    first = day.replace(day=1) - datetime.timedelta(days=1)
    return first.year, first.month


def party_snapshot(organisation: Organisation, *, email: str = "") -> dict[str, str]:
    """A party of an invoice as it stands now: name, structured address, registration number."""
    return {
        "name": organisation.name,
        "address_line1": organisation.address_line1,
        "address_line2": organisation.address_line2,
        "city": organisation.city,
        "region": organisation.region,
        "postal_code": organisation.postal_code,
        "country": organisation.country,
        "tax_registration_number": organisation.tax_registration_number,
        "email": email,
    }


def billing_settings(provider_id: int) -> BillingSettings:
    """The provider's billing settings (defaults, unsaved, when it has none)."""
    return BillingSettings.objects.filter(provider_id=provider_id).first() or BillingSettings(provider_id=provider_id)


BILLING_SETTINGS_FIELDS = (
    "tax_rounding",
    "review_days",
    "reminder_interval_days",
    "payment_instructions",
    "bank_account",
)
REVIEW_TOO_LONG = _("A review period is at most %(days)s days: the month's invoices must go out that month.")
MAX_REVIEW_DAYS = 27


def billing_settings_update(*, provider: Organisation, by: User | None, **fields) -> BillingSettings:
    """Save the provider's billing settings (``BILLING_SETTINGS_FIELDS``), validated like a form would be."""
    unknown = set(fields) - set(BILLING_SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({name: _("This setting does not exist.") for name in sorted(unknown)})
    with transaction.atomic():
        row, _created = BillingSettings.objects.select_for_update().get_or_create(provider=provider)
        for name, value in fields.items():
            setattr(row, name, value)
        row.full_clean(exclude=["provider"])
        if row.review_days > MAX_REVIEW_DAYS:
            raise ValidationError({"review_days": REVIEW_TOO_LONG % {"days": MAX_REVIEW_DAYS}})
        row.save()
    return row


def _event(invoice: Invoice, action: str, *, by: User | None = None, changes: dict | None = None) -> None:
    InvoiceEvent.objects.create(invoice=invoice, action=action, by=by, changes=changes or {})


# --- Drafting -----------------------------------------------------------------------------------------------------


@dataclass
class DraftOutcome:
    customer_id: int
    invoices: list[Invoice]
    error: str = ""


def draft_customers(
    *,
    customers: Sequence[Organisation],
    year: int,
    month: int,
    run: BillingRun | None = None,
    by: User | None = None,
    now: datetime.datetime | None = None,
) -> list[DraftOutcome]:
    """Rate and store the drafts of a batch of customers of one provider for a month (see the module notes).

    A customer that fails (bad data, a race lost to a finalisation) is reported with its error; the others are
    kept. Returns one outcome per customer, in the given order.
    """
    if not customers:
        return []
    rounding = billing_settings(customers[0].provider_id).tax_rounding
    provider = Organisation.objects.get(pk=customers[0].provider_id)  # the seller of every invoice of the batch
    errors: dict[int, str] = {}
    rated = []
    inputs = load_inputs(customers=customers, year=year, month=month, now=now)
    for customer, customer_inputs in zip(customers, inputs, strict=True):
        try:
            rated.append(_Rated(customer, customer_inputs, rate_customer(customer_inputs, tax_rounding=rounding)))
        except (ValidationError, ArithmeticError) as error:
            errors[customer.pk] = _error_text(error)
    store = functools.partial(_store_drafts, provider=provider, run=run, by=by, tax_rounding=rounding)
    with transaction.atomic():
        _lock_customers(customers)
        try:
            with transaction.atomic():
                stored = store(rated, _period_invoices(customers, year=year, month=month))
        except (IntegrityError, DataError):  # one customer's data: store them one by one, each under a savepoint
            stored = {}
            existing = _period_invoices(customers, year=year, month=month)
            for entry in rated:
                try:
                    with transaction.atomic():
                        stored.update(store([entry], existing))
                except (IntegrityError, DataError) as error:
                    errors[entry.customer.pk] = _error_text(error)
    return [
        DraftOutcome(customer.pk, stored.get(customer.pk, []), errors.get(customer.pk, "")) for customer in customers
    ]


@dataclass
class _Rated:
    customer: Organisation
    inputs: CustomerInputs
    invoices: list[RatedInvoice]


def _lock_customers(customers: Sequence[Organisation]) -> None:
    """Lock the batch's customer rows, in id order and in one statement: two runs never wait on each other in a
    cycle. The lock lets other rows still refer to the customers (``FOR NO KEY UPDATE``)."""
    ids = [customer.pk for customer in customers]
    list(Organisation.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))


def _period_invoices(customers: Sequence[Organisation], *, year: int, month: int) -> dict[int, dict[str, Invoice]]:
    """The customers' invoices of the period, by customer and currency (read under their locks)."""
    existing: dict[int, dict[str, Invoice]] = {}
    invoices = Invoice.objects.filter(
        customer__in=customers, year=year, month=month, kind=InvoiceKind.INVOICE
    ).order_by()
    for invoice in invoices:
        existing.setdefault(invoice.customer_id, {})[invoice.currency] = invoice
    return existing


def _error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(str(message) for message in error.messages)
    return f"{type(error).__name__}: {error}"


def _store_drafts(
    entries: list[_Rated],
    existing: dict[int, dict[str, Invoice]],
    *,
    provider: Organisation,
    run: BillingRun | None,
    by: User | None,
    tax_rounding: str,
) -> dict[int, list[Invoice]]:
    """Store the drafts of customers whose rows are locked (``existing``: their invoices of the period by customer
    and currency) in a number of statements that does not grow with them: the new invoices, their events, lines,
    per-asset rows and taxes are each one statement. Returns the stored invoices by customer."""
    now = timezone.now()
    stored: dict[int, list[Invoice]] = {}
    created: list[Invoice] = []
    redrafted: list[tuple[Invoice, str]] = []
    written: list[tuple[Invoice, RatedInvoice]] = []
    stale: list[Invoice] = []
    for entry in entries:
        customer, period = entry.customer, entry.inputs.period
        theirs = dict(existing.get(customer.pk, {}))
        stored[customer.pk] = []
        for rated_invoice in entry.invoices:
            invoice = theirs.pop(rated_invoice.currency, None)
            if invoice is not None and invoice.is_final:
                continue
            values = {
                "provider_id": customer.provider_id,
                "run": run,
                "period_start": period.first,
                "period_end": period.last,
                "language": customer.language,
                "time_zone": customer.time_zone,
                "payment_terms_days": rated_invoice.payment_terms_days,
                "billing_day": rated_invoice.billing_day,
                "tax_rounding": tax_rounding,
                "net_total": rated_invoice.net_total,
                "tax_total": rated_invoice.tax_total,
                "total": rated_invoice.total,
                "seller": party_snapshot(provider),
                "buyer": party_snapshot(customer),
                "drafted_at": now,
            }
            if invoice is None:
                invoice = Invoice(
                    customer=customer,
                    kind=InvoiceKind.INVOICE,
                    year=period.year,
                    month=period.month,
                    currency=rated_invoice.currency,
                    **values,
                )
                created.append(invoice)
            else:
                redrafted.append((invoice, str(invoice.total)))
                for name, value in values.items():
                    setattr(invoice, name, value)
            written.append((invoice, rated_invoice))
            stored[customer.pk].append(invoice)
        stale.extend(invoice for invoice in theirs.values() if not invoice.is_final)  # a currency no longer billed
    Invoice.objects.bulk_create(created)
    if redrafted:  # a period drafted again: each invoice keeps its row and events
        Invoice.objects.bulk_update([invoice for invoice, _before in redrafted], fields=list(values))  # its keys
        ids = [invoice.pk for invoice, _before in redrafted]
        InvoiceLine.objects.filter(invoice_id__in=ids).delete()
        InvoiceTax.objects.filter(invoice_id__in=ids).delete()
    InvoiceEvent.objects.bulk_create(
        [
            *(
                InvoiceEvent(invoice=invoice, action="drafted", by=by, changes={"total": [None, str(invoice.total)]})
                for invoice in created
            ),
            *(
                InvoiceEvent(
                    invoice=invoice, action="redrafted", by=by, changes={"total": [before, str(invoice.total)]}
                )
                for invoice, before in redrafted
            ),
        ]
    )
    _store_lines([(invoice, rated_invoice.lines) for invoice, rated_invoice in written])
    InvoiceTax.objects.bulk_create(
        InvoiceTax(invoice=invoice, tax_category=tax.tax_category, rate=tax.rate, net=tax.net, tax=tax.tax)
        for invoice, rated_invoice in written
        for tax in rated_invoice.taxes
    )
    if stale:
        Invoice.objects.filter(pk__in=[invoice.pk for invoice in stale]).delete()
    return stored


def _store_lines(documents: list[tuple[Invoice, list[RatedLine]]]) -> None:
    """The lines of these invoices and credit notes, and their per-asset detail (three statements in all)."""
    rated_lines = [line for _invoice, lines in documents for line in lines]
    lines = InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            position=position,
            kind=line.kind,
            contract_id=line.contract_id,
            component_id=line.component_id,
            site_id=line.site_id,
            work_order_id=line.work_order_id,
            description=line.description[:300],
            service_start=line.service_start,
            service_end=line.service_end,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            amount=line.amount,
            tax_category=line.tax_category,
            detail=line.detail,
        )
        for invoice, lines in documents
        for position, line in enumerate(lines, start=1)
    )
    bulk_load(InvoiceLineAsset, LINE_ASSET_FIELDS, _line_asset_rows(lines, rated_lines))


# The per-asset detail: hundreds of rows an invoice, written by COPY on PostgreSQL.
LINE_ASSET_FIELDS = (
    "line_id",
    "asset_id",
    "days",
    "meter",
    "start_at",
    "end_at",
    "start_value",
    "end_value",
    "start_source",
    "end_source",
    "start_estimated",
    "end_estimated",
    "usage",
    "allowance",
    "overage",
    "resets",
    "no_data",
)


def _line_asset_rows(lines: list[InvoiceLine], rated_lines: list[RatedLine]) -> Iterator[tuple]:
    for stored, line in zip(lines, rated_lines, strict=True):
        for asset in line.assets:
            first = asset.intervals[0] if asset.intervals else None
            last = asset.intervals[-1] if asset.intervals else None
            yield (
                stored.pk,
                asset.asset_id,
                asset.days,
                asset.meter,
                first.start if first else None,
                last.end if last else None,
                first.start_value if first else None,
                last.end_value if last else None,
                first.start_source if first else "",
                last.end_source if last else "",
                first.start_estimated if first else False,
                last.end_estimated if last else False,
                asset.usage_total,
                asset.allowance,
                asset.overage,
                asset.resets,
                asset.no_data,
            )


# --- Finalising ---------------------------------------------------------------------------------------------------


def finalise_invoice(
    *, invoice_id: int, by: User | None = None, today: datetime.date | None = None, deliver: bool = True
) -> Invoice:
    """Number, date and freeze a draft (see the module notes); a finalised one is returned unchanged."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("provider", "customer").get(pk=invoice_id)
        if invoice.is_final:
            return invoice
        provider = invoice.provider
        if provider.tax_registration_number:  # printed on the invoice: it must be a valid number
            validate_tax_registration_number(provider.tax_registration_number, provider.country)
        issue_date = today or timezone.localdate(timezone=time_zone(provider.time_zone))
        credit_note = invoice.kind == InvoiceKind.CREDIT_NOTE
        invoice.number = next_number(
            sequence=CreditNoteSequence if credit_note else InvoiceSequence,
            prefix=CREDIT_NOTE_PREFIX if credit_note else INVOICE_PREFIX,
            provider_id=provider.pk,
            year=issue_date.year,
        )
        invoice.issue_date = issue_date
        invoice.due_date = issue_date + datetime.timedelta(days=invoice.payment_terms_days)
        invoice.seller = party_snapshot(provider)
        invoice.buyer = party_snapshot(invoice.customer)
        invoice.status = InvoiceStatus.FINALISED
        invoice.finalised_at = timezone.now()
        invoice.finalised_by = by
        invoice.save()
        if credit_note:
            refresh_receivable(invoice.corrects)  # what the corrected invoice still owes has changed
        else:
            Receivable.objects.create(invoice=invoice)
            _freeze_counters(invoice)
        InvoiceDelivery.objects.create(invoice=invoice)
        _event(invoice, "finalised", by=by, changes={"number": [None, invoice.number]})
        if deliver:
            transaction.on_commit(lambda: _deliver_later(invoice.pk))
    return invoice


def _deliver_later(invoice_id: int) -> None:
    from contracts.tasks import invoice_deliver_task

    invoice_deliver_task.delay(invoice_id)


def _freeze_counters(invoice: Invoice) -> None:
    """Freeze the end counters the invoice read at the period's end, so that the next period starts from them."""
    period = Period.of(invoice.year, invoice.month, invoice.time_zone)
    rows = InvoiceLineAsset.objects.filter(
        line__invoice=invoice, end_at=period.end_at, end_value__isnull=False
    ).values_list("asset_id", "meter", "end_value", "end_estimated")
    freeze_boundaries(
        ((asset_id, meter, period.end_at, value, estimated) for asset_id, meter, value, estimated in rows),
        reference=invoice.number,
    )


def invoice_documents(invoice: Invoice) -> Invoice:
    """Render the finalised invoice's PDF and XML once (they never change afterwards)."""
    from contracts.documents import render_invoice_pdf
    from contracts.einvoice import invoice_xml, with_document_data

    if not invoice.is_final:
        raise ValidationError(NOT_FINAL)
    if invoice.pdf and invoice.xml:
        return invoice
    loaded = with_document_data(invoice)  # one read of the lines, assets and taxes for both documents
    xml = invoice_xml(loaded)
    pdf = render_invoice_pdf(loaded)
    invoice.xml.save(f"{invoice.number}.xml", ContentFile(xml), save=False)
    invoice.pdf.save(f"{invoice.number}.pdf", ContentFile(pdf), save=False)
    Invoice.objects.filter(pk=invoice.pk).update(pdf=invoice.pdf.name, xml=invoice.xml.name)
    return invoice


def invoice_deliver(*, invoice_id: int) -> bool:
    """Render the documents and e-mail them to the customer's admins, once: the first caller claims the delivery
    row (a conditional update), later or concurrent callers send nothing. A failed send releases the claim."""
    invoice = Invoice.objects.select_related("customer", "provider").get(pk=invoice_id)
    invoice_documents(invoice)
    recipients = list(
        Membership.objects.filter(organisation_id=invoice.customer_id, role=Role.CUSTOMER_ADMIN, user__is_active=True)
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return False
    now = timezone.now()
    claimed = InvoiceDelivery.objects.filter(invoice_id=invoice.pk, emailed_at__isnull=True).update(
        emailed_at=now, recipients=recipients
    )
    if not claimed:
        return False
    try:
        mailers.default.send_messages([_invoice_message(invoice, recipients)])
    except Exception:
        InvoiceDelivery.objects.filter(invoice_id=invoice.pk, emailed_at=now).update(emailed_at=None, recipients=[])
        raise
    _event(invoice, "emailed", changes={"recipients": [None, ", ".join(recipients)]})
    return True


def _invoice_message(invoice: Invoice, recipients: list[str]) -> EmailMessage:
    from fleet.money import money_format

    with translation.override(invoice.language), timezone.override(invoice.time_zone):
        context = {
            "invoice": invoice,
            "total": money_format(invoice.total, invoice.currency),
            "customer": invoice.buyer.get("name", ""),
            "provider": invoice.seller.get("name", ""),
        }
        subject = " ".join(render_to_string("contracts/email/invoice_subject.txt", context).split())
        body = render_to_string("contracts/email/invoice.txt", context)
    message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients)
    message.attach(f"{invoice.number}.pdf", invoice.pdf.open("rb").read(), "application/pdf")
    invoice.pdf.close()
    return message


# --- Credit notes -------------------------------------------------------------------------------------------------


def credit_note_create(*, invoice: Invoice, lines: dict[int, Decimal], reason: str, by: User | None) -> Invoice:
    """A draft credit note for part of a finalised invoice: ``lines`` maps a line id to the amount to credit
    (net, positive, at most what earlier credit notes left of the line). The credit note carries the same items
    (description, service dates, tax category) and its own tax per rate; finalise it like an invoice."""
    errors = {}
    if not invoice.is_final or invoice.kind != InvoiceKind.INVOICE:
        raise ValidationError({"invoice": NOT_FINAL})
    if not reason.strip():
        errors["reason"] = REASON_REQUIRED
    if not lines:
        errors["lines"] = NOTHING_TO_CREDIT
    if errors:
        raise ValidationError(errors)
    places = minor_units(invoice.currency)
    with transaction.atomic():
        Invoice.objects.select_for_update().filter(pk=invoice.pk).values_list("pk", flat=True).get()
        originals = {line.pk: line for line in invoice.lines.filter(pk__in=list(lines))}
        credited = _credited_by_line(invoice)
        for line_id, amount in lines.items():
            line = originals.get(line_id)
            if line is None:
                raise ValidationError({"lines": LINE_OF_ANOTHER_INVOICE})
            if not isinstance(amount, Decimal) or amount <= 0 or amount != amount.quantize(Decimal(1).scaleb(-places)):
                raise ValidationError({"lines": BAD_AMOUNT % {"places": places}})
            left = line.amount - credited.get(line_id, Decimal(0))
            if amount > left:
                raise ValidationError({"lines": OVER_CREDITED % {"left": left}})
        rated = [
            RatedLine(
                kind=originals[line_id].kind,
                currency=invoice.currency,
                contract_id=originals[line_id].contract_id,
                component_id=originals[line_id].component_id,
                site_id=originals[line_id].site_id,
                work_order_id=originals[line_id].work_order_id,
                description=originals[line_id].description,
                service_start=originals[line_id].service_start,
                service_end=originals[line_id].service_end,
                quantity=Decimal(1),
                unit=originals[line_id].unit if amount == originals[line_id].amount else "C62",
                unit_price=amount,
                amount=amount,
                tax_category=originals[line_id].tax_category,
                detail={"credits_line": line_id, "credits_position": originals[line_id].position},
            )
            for line_id, amount in sorted(lines.items(), key=lambda item: originals[item[0]].position)
        ]
        taxes = tax_totals(rated, currency=invoice.currency, tax_rounding=invoice.tax_rounding)
        net = sum((tax.net for tax in taxes), Decimal(0))
        tax_total = sum((tax.tax for tax in taxes), Decimal(0))
        note = Invoice.objects.create(
            provider_id=invoice.provider_id,
            customer_id=invoice.customer_id,
            kind=InvoiceKind.CREDIT_NOTE,
            corrects=invoice,
            year=invoice.year,
            month=invoice.month,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            currency=invoice.currency,
            language=invoice.language,
            time_zone=invoice.time_zone,
            payment_terms_days=invoice.payment_terms_days,
            billing_day=invoice.billing_day,
            tax_rounding=invoice.tax_rounding,
            net_total=net,
            tax_total=tax_total,
            total=net + tax_total,
            seller=invoice.seller,
            buyer=invoice.buyer,
            note=reason.strip(),
            drafted_at=timezone.now(),
        )
        _store_lines([(note, rated)])
        InvoiceTax.objects.bulk_create(
            InvoiceTax(invoice=note, tax_category=tax.tax_category, rate=tax.rate, net=tax.net, tax=tax.tax)
            for tax in taxes
        )
        _event(note, "drafted", by=by, changes={"total": [None, str(note.total)], "corrects": [None, invoice.number]})
        _event(invoice, "credit_note_drafted", by=by, changes={"credit_note_total": [None, str(note.total)]})
    return note


def _credited_by_line(invoice: Invoice) -> dict[int, Decimal]:
    credited: dict[int, Decimal] = {}
    for detail, amount in InvoiceLine.objects.filter(
        invoice__corrects=invoice, invoice__kind=InvoiceKind.CREDIT_NOTE
    ).values_list("detail", "amount"):
        line_id = detail.get("credits_line")
        credited[line_id] = credited.get(line_id, Decimal(0)) + amount
    return credited


def draft_delete(*, invoice: Invoice, by: User | None) -> None:
    """Discard a draft credit note (drafts of a period's invoice are replaced by re-running the period)."""
    if invoice.is_final:
        raise ValidationError(NOT_A_DRAFT)
    invoice.delete()


# --- Runs ---------------------------------------------------------------------------------------------------------


def customers_to_bill(provider_id: int, year: int, month: int) -> list[int]:
    """The customers of a provider with a contract billing some day of the month (in any time zone)."""
    first = datetime.date(year, month, 1)
    last = (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
    return sorted(
        set(
            billable_contracts(
                Organisation.objects.filter(
                    provider_id=provider_id, kind=OrganisationKind.CUSTOMER, is_active=True
                ).values("pk"),
                first,
                last,
            ).values_list("customer_id", flat=True)
        )
    )


def billing_run_start(
    *,
    provider: Organisation,
    year: int,
    month: int,
    by: User | None = None,
    finalize: bool = False,
    today: datetime.date | None = None,
    customer_ids: Iterable[int] | None = None,
) -> BillingRun:
    """Open (or reopen) the provider's run of a month and queue its customers in batches; returns the run.

    Only an ended month can be billed. Re-starting a period re-drafts its customers' drafts (finalised invoices
    stay as they are). ``customer_ids`` limits what is (re)queued to those customers (an account manager's); the
    run's other customers keep their state, and such a start cannot have the run finalise as it drafts (that
    finalises every customer's invoice).
    """
    if finalize and customer_ids is not None:
        raise ValidationError({"finalize": FINALIZE_NEEDS_WHOLE_PROVIDER})
    today = today or timezone.localdate(timezone=time_zone(provider.time_zone))
    if (year, month) >= (today.year, today.month):
        raise ValidationError({"period": FUTURE_PERIOD})
    wanted = customers_to_bill(provider.pk, year, month)
    if customer_ids is not None:
        allowed = set(customer_ids)
        wanted = [customer_id for customer_id in wanted if customer_id in allowed]
    customer_ids = wanted
    with transaction.atomic():
        run, created = BillingRun.objects.select_for_update().get_or_create(
            provider=provider,
            year=year,
            month=month,
            defaults={"started_by": by, "started_at": timezone.now(), "finalize": finalize},
        )
        if not created:
            run.attempts += 1
            run.status = BillingRunStatus.RUNNING
            run.finalize = run.finalize or finalize
            run.started_by = by or run.started_by
            run.started_at = timezone.now()
            run.drafted_at = run.finished_at = None
            run.save()
        BillingRunItem.objects.bulk_create(
            [BillingRunItem(run=run, customer_id=customer_id) for customer_id in customer_ids],
            ignore_conflicts=True,
        )
        run.items.filter(customer_id__in=customer_ids).exclude(status=RunItemStatus.PENDING).update(
            status=RunItemStatus.PENDING, message=""
        )
        transaction.on_commit(lambda: _queue_batches(run.pk, customer_ids))
    return run


def _queue_batches(run_id: int, customer_ids: list[int]) -> None:
    from contracts.tasks import billing_draft_batch_task

    if not customer_ids:
        billing_run_close_drafting(run_id=run_id)
        return
    size = settings.BILLING_BATCH_CUSTOMERS
    for index in range(0, len(customer_ids), size):
        billing_draft_batch_task.delay(run_id, customer_ids[index : index + size])


def billing_run_draft_batch(*, run_id: int, customer_ids: Iterable[int]) -> int:
    """Draft the still-pending customers of a batch (a redelivered batch skips those already done); then close
    the drafting when no customer is pending. Returns how many customers this call drafted."""
    run = BillingRun.objects.select_related("started_by").get(pk=run_id)
    pending = list(
        run.items.filter(customer_id__in=list(customer_ids), status=RunItemStatus.PENDING).values_list(
            "customer_id", flat=True
        )
    )
    customers = list(Organisation.objects.filter(pk__in=pending).order_by("pk"))
    drafted = 0
    if customers:
        try:
            outcomes = draft_customers(customers=customers, year=run.year, month=run.month, run=run, by=run.started_by)
        except (ValidationError, ArithmeticError) as error:
            outcomes = [DraftOutcome(customer.pk, [], error=_error_text(error)) for customer in customers]
        done = [outcome.customer_id for outcome in outcomes if not outcome.error]
        BillingRunItem.objects.filter(run=run, customer_id__in=done).update(
            status=RunItemStatus.DONE, message="", updated_at=timezone.now()
        )
        for outcome in outcomes:  # failures are few, each with its own message
            if outcome.error:
                BillingRunItem.objects.filter(run=run, customer_id=outcome.customer_id).update(
                    status=RunItemStatus.FAILED, message=outcome.error[:2000], updated_at=timezone.now()
                )
        drafted = len(done)
    billing_run_close_drafting(run_id=run_id)
    return drafted


def billing_run_close_drafting(*, run_id: int) -> BillingRun:
    """When no customer of the run is pending: mark it drafted (or failed) and, if asked, finalise its drafts.
    Concurrent callers serialise on the run's row; only the first to see it finished marks it. A run started with
    ``finalize`` that is drafted or finalising is finalised (again) by any caller: a worker killed while finalising
    leaves it so, and the redelivered batch resumes the finalisation (``finalise_invoice`` skips what is final)."""
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run_id)
        if run.items.filter(status=RunItemStatus.PENDING).exists():
            return run
        if run.status == BillingRunStatus.RUNNING:
            run.drafted_at = timezone.now()
            failed = run.items.filter(status=RunItemStatus.FAILED).exists()
            run.status = BillingRunStatus.DRAFTED
            if failed and not run.invoices.exists():
                run.status = BillingRunStatus.FAILED
                run.finished_at = run.drafted_at
            run.save()
        finalize = run.finalize and run.status in (BillingRunStatus.DRAFTED, BillingRunStatus.FINALISING)
    if finalize:
        billing_run_finalise(run=run, by=run.started_by)
    return run


def billing_run_finalise_drafts(*, run: BillingRun, by: User, customer_ids: Iterable[int] | None) -> int | None:
    """Finalise a run's drafts in review as a user asks (the portal's button, the API's action): every customer's in
    the background when ``customer_ids`` is None (staff who bill every customer; returns None), else those
    customers' drafts now (an account manager's; returns how many). A run not in review is a ValidationError."""
    if run.status != BillingRunStatus.DRAFTED:
        raise ValidationError(RUN_NOT_IN_REVIEW)
    if customer_ids is None:
        from contracts.tasks import billing_run_finalise_task

        billing_run_finalise_task.delay(run.pk, by.pk)
        return None
    return billing_run_finalise(run=run, by=by, customer_ids=customer_ids)


def billing_run_finalise(
    *,
    run: BillingRun,
    by: User | None = None,
    today: datetime.date | None = None,
    customer_ids=None,
    deliver: bool = True,
) -> int:
    """Finalise the run's drafts (of ``customer_ids`` only, when given) with ``today`` as their issue date;
    returns how many were finalised. ``deliver=False`` leaves rendering and e-mail to a later call."""
    BillingRun.objects.filter(pk=run.pk, status=BillingRunStatus.DRAFTED).update(status=BillingRunStatus.FINALISING)
    drafts = Invoice.objects.filter(
        provider_id=run.provider_id,
        year=run.year,
        month=run.month,
        kind=InvoiceKind.INVOICE,
        status=InvoiceStatus.DRAFT,
    )
    if customer_ids is not None:
        drafts = drafts.filter(customer_id__in=list(customer_ids))
    finalised = 0
    for invoice_id in drafts.order_by("customer__name", "currency", "pk").values_list("pk", flat=True):
        finalise_invoice(invoice_id=invoice_id, by=by, today=today, deliver=deliver)
        finalised += 1
    _close_finalising(run.pk)
    return finalised


def _close_finalising(run_id: int) -> None:
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run_id)
        drafts_left = Invoice.objects.filter(
            provider_id=run.provider_id,
            year=run.year,
            month=run.month,
            status=InvoiceStatus.DRAFT,
            kind=InvoiceKind.INVOICE,
        ).exists()
        if run.status != BillingRunStatus.FINALISING:
            return
        if drafts_left:  # some customers were finalised, the others stay in review
            run.status = BillingRunStatus.DRAFTED
        else:
            failed = run.items.filter(status=RunItemStatus.FAILED).exists()
            run.status = BillingRunStatus.FAILED if failed else BillingRunStatus.FINALISED
            run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])


def billing_sweep(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """The daily beat sweep: start each provider's run of the month just ended (once), and finalise the drafts
    whose review period has passed and whose billing day has come. Idempotent."""
    now = now or timezone.now()
    started = finalised = 0
    for provider in Organisation.objects.filter(kind=OrganisationKind.PROVIDER, is_active=True).order_by("pk"):
        today = timezone.localdate(now, timezone=time_zone(provider.time_zone))
        year, month = previous_month(today)
        if not BillingRun.objects.filter(provider=provider, year=year, month=month).exists():
            billing_run_start(provider=provider, year=year, month=month, today=today)
            started += 1
        review = billing_settings(provider.pk).review_days
        due = Invoice.objects.filter(
            provider=provider,
            kind=InvoiceKind.INVOICE,
            status=InvoiceStatus.DRAFT,
            drafted_at__lte=now - datetime.timedelta(days=review),
            billing_day__lte=today.day,
            run__status=BillingRunStatus.DRAFTED,
        ).filter(Q(year__lt=today.year) | Q(year=today.year, month__lt=today.month))
        customers_by_run: dict[int, set[int]] = {}
        for run_id, customer_id in due.values_list("run_id", "customer_id"):
            customers_by_run.setdefault(run_id, set()).add(customer_id)
        for run_id, customer_ids in sorted(customers_by_run.items()):
            run = BillingRun.objects.get(pk=run_id)
            finalised += billing_run_finalise(run=run, today=today, customer_ids=sorted(customer_ids))
    return {"runs_started": started, "invoices_finalised": finalised}
