"""Drafting, finalising, numbering, freezing and re-running a period, on the database, with hand-computed amounts."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Organisation
from accounts.tests.factories import CustomerFactory, member
from assets.tests.factories import AssetFactory, SiteFactory
from contracts.billing import (
    FINALIZE_NEEDS_WHOLE_PROVIDER,
    billing_run_draft_batch,
    billing_run_finalise,
    billing_run_start,
    billing_sweep,
    credit_note_create,
    draft_customers,
    finalise_invoice,
    parse_period,
    previous_month,
)
from contracts.choices import (
    BillingRunStatus,
    InvoiceKind,
    InvoiceStatus,
    LineKind,
    RunItemStatus,
)
from contracts.models import (
    BillingRun,
    Contract,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    InvoiceLineAsset,
    InvoiceSequence,
    Receivable,
)
from contracts.tests.billing_helpers import TOKYO, at, mps_contract, read
from telemetry.choices import Meter
from telemetry.models import MeterBoundary, Reading

DEC_1 = datetime.date(2025, 12, 1)


@pytest.fixture
def printer(customer, site):
    return AssetFactory(customer=customer, site=site)


@pytest.fixture
def billed(customer, printer):
    """A customer with one MPS contract: 10,000 a month and 1 yen a page beyond 1,000; 3,000 pages in November."""
    read(printer, at(2025, 11, 1), 5000)
    read(printer, at(2025, 12, 1), 8000)
    return mps_contract(customer, printer)


def nov_invoice(customer) -> Invoice:
    (outcome,) = draft_customers(customers=[customer], year=2025, month=11)
    assert not outcome.error
    (invoice,) = outcome.invoices
    return invoice


def test_draft_rates_and_stores_lines_assets_and_taxes(customer, printer, billed):
    invoice = nov_invoice(customer)
    # 10,000 fee + (3,000 − 1,000 pages) × 1 yen = 12,000; tax 10 % = 1,200.
    assert (invoice.status, invoice.number, invoice.currency) == (InvoiceStatus.DRAFT, "", "JPY")
    assert (invoice.net_total, invoice.tax_total, invoice.total) == (Decimal(12000), Decimal(1200), Decimal(13200))
    assert (invoice.period_start, invoice.period_end) == (datetime.date(2025, 11, 1), datetime.date(2025, 11, 30))
    fee, pages = invoice.lines.order_by("position")
    assert (fee.kind, fee.amount, pages.kind, pages.quantity, pages.amount) == (
        LineKind.FIXED_FEE,
        Decimal(10000),
        LineKind.METER_CHARGE,
        Decimal(2000),
        Decimal(2000),
    )
    (detail,) = pages.assets.all()
    # A pooled allowance belongs to the contract, not to an asset: the asset's row shows its usage only.
    assert (detail.asset_id, detail.start_value, detail.end_value, detail.usage, detail.overage) == (
        printer.pk,
        Decimal(5000),
        Decimal(8000),
        Decimal(3000),
        Decimal(0),
    )
    assert (pages.detail["usage"], pages.detail["allowance"], pages.detail["overage"]) == (
        "3000.000",
        "1000.000",
        "2000.000",
    )
    assert (detail.start_source, detail.end_source, detail.end_estimated) == ("reading", "reading", False)
    assert detail.end_at == at(2025, 12, 1)
    assert [(tax.tax_category, tax.net, tax.tax) for tax in invoice.taxes.all()] == [
        ("standard", Decimal(12000), Decimal(1200))
    ]
    assert invoice.seller["tax_registration_number"] == "T5835678256246"
    assert invoice.buyer["name"] == customer.name


def test_redrafting_replaces_the_draft_in_place(customer, printer, billed):
    first = nov_invoice(customer)
    read(printer, at(2025, 11, 20), 6000, meter=Meter.MONO_PAGES)  # changes nothing: interpolation is exact
    Reading.objects.filter(asset=printer, taken_at=at(2025, 12, 1)).update(value=Decimal(9000))
    second = nov_invoice(customer)
    assert second.pk == first.pk
    assert Invoice.objects.count() == 1
    assert second.total == Decimal(14300)  # 10,000 + 3,000 pages over = 13,000 + 10 %
    assert list(InvoiceEvent.objects.filter(invoice=first).values_list("action", flat=True).order_by("pk")) == [
        "drafted",
        "redrafted",
    ]


def test_redrafting_drops_the_draft_of_a_currency_no_longer_billed(customer, printer, billed):
    jpy = nov_invoice(customer)
    Contract.objects.filter(pk=billed.pk).update(currency="USD")

    usd = nov_invoice(customer)

    assert usd.currency == "USD"
    assert list(Invoice.objects.values_list("pk", "currency")) == [(usd.pk, "USD")]
    assert not Invoice.objects.filter(pk=jpy.pk).exists()


@pytest.mark.postgres  # SQLite stores an overflowing number as it is
def test_a_customer_that_cannot_be_stored_fails_alone(customer, other_customer, billed):
    """2,000 pages over the allowance at a billion yen a page: more than an invoice total holds. The batch's one
    write fails, and the batch is stored again one customer at a time, each under its own savepoint."""
    press = AssetFactory(customer=other_customer, site=SiteFactory(customer=other_customer))
    read(press, at(2025, 11, 1), 5000)
    read(press, at(2025, 12, 1), 8000)
    mps_contract(other_customer, press, rate="999999999")

    stored, failed = draft_customers(customers=[customer, other_customer], year=2025, month=11)

    assert (stored.customer_id, stored.error, [invoice.total for invoice in stored.invoices]) == (
        customer.pk,
        "",
        [Decimal(13200)],
    )
    assert (failed.customer_id, failed.invoices) == (other_customer.pk, [])
    assert failed.error.startswith("DataError")
    assert list(Invoice.objects.values_list("customer_id", flat=True)) == [customer.pk]
    assert list(InvoiceEvent.objects.values_list("invoice__customer_id", "action")) == [(customer.pk, "drafted")]
    assert Invoice.objects.get().lines.count() == 2


def test_finalising_numbers_dates_freezes_and_is_idempotent(customer, other_customer, printer, billed):
    invoice = nov_invoice(customer)
    final = finalise_invoice(invoice_id=invoice.pk, today=DEC_1, deliver=False)
    assert (final.number, final.issue_date, final.due_date) == ("INV-2025-000001", DEC_1, datetime.date(2025, 12, 31))
    assert Receivable.objects.get(invoice=final).status == "open"
    boundary = MeterBoundary.objects.get(asset=printer, meter=Meter.MONO_PAGES)
    assert (boundary.at, boundary.value, boundary.estimated, boundary.reference) == (
        at(2025, 12, 1),
        Decimal(8000),
        False,
        "INV-2025-000001",
    )
    again = finalise_invoice(invoice_id=invoice.pk, today=datetime.date(2026, 1, 5), deliver=False)
    assert (again.number, again.issue_date) == ("INV-2025-000001", DEC_1)
    assert InvoiceSequence.objects.get(provider=customer.provider, year=2025).last_number == 1
    # The next invoice of the provider takes the next number.
    other = mps_contract(other_customer, AssetFactory(customer=other_customer))
    assert other.pk
    (outcome,) = draft_customers(customers=[other_customer], year=2025, month=11)
    second = finalise_invoice(invoice_id=outcome.invoices[0].pk, today=DEC_1, deliver=False)
    assert second.number == "INV-2025-000002"


def test_a_finalised_invoice_cannot_be_altered_even_by_sql(customer, printer, billed):
    invoice = finalise_invoice(invoice_id=nov_invoice(customer).pk, today=DEC_1, deliver=False)
    fee, pages = invoice.lines.order_by("position")
    details = InvoiceLineAsset.objects.filter(line__invoice=invoice)
    assert details.count() == 1
    attempts = [
        lambda: Invoice.objects.filter(pk=invoice.pk).update(total=Decimal(1), net_total=Decimal(-1199)),
        lambda: Invoice.objects.filter(pk=invoice.pk).update(number="INV-2025-999999"),
        lambda: Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.DRAFT),
        lambda: InvoiceLine.objects.filter(invoice=invoice).update(amount=Decimal(1)),
        lambda: InvoiceLine.objects.filter(invoice=invoice).delete(),
        lambda: InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, position=3, amount=Decimal(1))]),
        lambda: invoice.taxes.update(tax=Decimal(0)),
        lambda: invoice.taxes.all().delete(),
        lambda: details.update(usage=Decimal(1)),
        lambda: details.delete(),
        lambda: InvoiceLineAsset.objects.bulk_create([InvoiceLineAsset(line=fee, asset=printer, days=30)]),
        lambda: Invoice.objects.filter(pk=invoice.pk).delete(),
    ]
    for attempt in attempts:
        with pytest.raises(IntegrityError), transaction.atomic():
            attempt()
    invoice.refresh_from_db()
    assert (invoice.number, invoice.total, invoice.lines.count()) == ("INV-2025-000001", Decimal(13200), 2)
    assert (details.get().usage, invoice.taxes.get().tax) == (Decimal(3000), Decimal(1200))
    # Delivery is not frozen: the rendered files may be attached.
    Invoice.objects.filter(pk=invoice.pk).update(pdf="invoices/x.pdf")


def test_rerunning_a_finalised_period_changes_nothing(customer, printer, billed):
    invoice = finalise_invoice(invoice_id=nov_invoice(customer).pk, today=DEC_1, deliver=False)
    read(printer, at(2025, 11, 30), 9500)  # a late reading: it trues up December, not November
    (outcome,) = draft_customers(customers=[customer], year=2025, month=11)
    assert (outcome.invoices, outcome.error) == ([], "")
    assert Invoice.objects.get().total == invoice.total


def test_the_next_period_starts_from_the_frozen_counter_and_late_readings_true_up(customer, printer):
    read(printer, at(2025, 11, 1), 5000)
    read(printer, at(2025, 11, 21), 7000)  # then silent: December 1 is extrapolated at 100 pages a day
    mps_contract(customer, printer, fee=0, allowance=0)
    november = nov_invoice(customer)
    (detail,) = november.lines.get(kind=LineKind.METER_CHARGE).assets.all()
    assert (detail.end_value, detail.end_estimated, detail.usage) == (Decimal(8000), True, Decimal(3000))
    finalise_invoice(invoice_id=november.pk, today=DEC_1, deliver=False)
    # The device reports late: 7,600 on December 1 (not the estimated 8,000), then 10,600 on January 1.
    read(printer, at(2025, 12, 1), 7600)
    read(printer, at(2026, 1, 1), 10600)
    (outcome,) = draft_customers(customers=[customer], year=2025, month=12)
    (detail,) = outcome.invoices[0].lines.get(kind=LineKind.METER_CHARGE).assets.all()
    # December: 10,600 − 7,600 = 3,000 grown, minus the 400 November over-billed = 2,600; 3,000 + 2,600 = 5,600 in
    # all, which is exactly 10,600 − 5,000: nothing billed twice, nothing lost.
    assert (detail.start_value, detail.start_source, detail.usage) == (Decimal(8000), "frozen", Decimal(2600))


def test_credit_notes_have_their_own_series_and_cannot_over_credit(customer, billed, provider_admin):
    invoice = finalise_invoice(invoice_id=nov_invoice(customer).pk, today=DEC_1, deliver=False)
    fee = invoice.lines.get(kind=LineKind.FIXED_FEE)
    with pytest.raises(ValidationError) as error:
        credit_note_create(invoice=invoice, lines={fee.pk: Decimal(10001)}, reason="Fee waived", by=provider_admin)
    assert "lines" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        credit_note_create(invoice=invoice, lines={fee.pk: Decimal(1)}, reason=" ", by=provider_admin)
    assert "reason" in error.value.message_dict
    note = credit_note_create(invoice=invoice, lines={fee.pk: Decimal(4000)}, reason="Fee waived", by=provider_admin)
    assert (note.kind, note.corrects, note.net_total, note.tax_total, note.total) == (
        InvoiceKind.CREDIT_NOTE,
        invoice,
        Decimal(4000),
        Decimal(400),
        Decimal(4400),
    )
    (line,) = note.lines.all()
    assert (line.description, line.tax_category, line.amount) == (fee.description, fee.tax_category, Decimal(4000))
    final = finalise_invoice(invoice_id=note.pk, today=DEC_1, deliver=False)
    assert final.number == "CN-2025-000001"
    assert not Receivable.objects.filter(invoice=final).exists()
    # 6,000 of the fee line is left to credit.
    with pytest.raises(ValidationError):
        credit_note_create(invoice=invoice, lines={fee.pk: Decimal(6001)}, reason="Again", by=provider_admin)
    credit_note_create(invoice=invoice, lines={fee.pk: Decimal(6000)}, reason="Again", by=provider_admin)


def test_run_with_finalize_drafts_and_numbers_every_customer(
    provider, customer, other_customer, printer, billed, django_capture_on_commit_callbacks, mailoutbox
):
    mps_contract(other_customer, AssetFactory(customer=other_customer, site=SiteFactory(customer=other_customer)))
    CustomerFactory(provider=provider)  # no contract: not billed
    with django_capture_on_commit_callbacks(execute=True):
        run = billing_run_start(provider=provider, year=2025, month=11, finalize=True, today=DEC_1)
    run.refresh_from_db()
    assert run.status == BillingRunStatus.FINALISED
    assert sorted(run.items.values_list("status", flat=True)) == [RunItemStatus.DONE, RunItemStatus.DONE]
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    year = timezone.localdate(timezone=TOKYO).year  # issued today
    assert numbers == [f"INV-{year}-000001", f"INV-{year}-000002"]
    # Running the period again: one invoice per customer still, no new number.
    with django_capture_on_commit_callbacks(execute=True):
        again = billing_run_start(provider=provider, year=2025, month=11, finalize=True, today=DEC_1)
    again.refresh_from_db()
    assert (again.pk, again.attempts, again.status) == (run.pk, 2, BillingRunStatus.FINALISED)
    assert sorted(Invoice.objects.values_list("number", flat=True)) == numbers


def test_run_without_finalize_waits_for_review_then_the_sweep_finalises(
    provider, customer, printer, django_capture_on_commit_callbacks
):
    read(printer, at(2025, 11, 1), 5000)
    read(printer, at(2025, 12, 1), 8000)
    # Ends with November 2025, so that the month the sweep itself starts (the one before today) bills nobody.
    mps_contract(customer, printer, end_date=datetime.date(2025, 11, 30))
    with django_capture_on_commit_callbacks(execute=True):
        run = billing_run_start(provider=provider, year=2025, month=11, today=DEC_1)
    run.refresh_from_db()
    assert run.status == BillingRunStatus.DRAFTED
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.DRAFT
    # Within the review period (3 days by default) the sweep leaves it.
    soon = invoice.drafted_at + datetime.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert billing_sweep(now=soon)["invoices_finalised"] == 0
    later = invoice.drafted_at + datetime.timedelta(days=3, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert billing_sweep(now=later)["invoices_finalised"] == 1
    invoice.refresh_from_db()
    run.refresh_from_db()
    assert (invoice.status, run.status) == (InvoiceStatus.FINALISED, BillingRunStatus.FINALISED)


def test_a_failed_customer_is_reported_and_the_others_kept(
    provider, customer, other_customer, billed, monkeypatch, django_capture_on_commit_callbacks
):
    mps_contract(other_customer, AssetFactory(customer=other_customer))
    from contracts import billing

    real = billing.rate_customer

    def failing(inputs, **kwargs):
        if inputs.customer_id == other_customer.pk:
            raise ValidationError("Broken contract data")
        return real(inputs, **kwargs)

    monkeypatch.setattr(billing, "rate_customer", failing)
    with django_capture_on_commit_callbacks(execute=True):
        run = billing_run_start(provider=provider, year=2025, month=11, today=DEC_1)
    items = {item.customer_id: item for item in run.items.all()}
    assert (items[customer.pk].status, items[other_customer.pk].status) == (RunItemStatus.DONE, RunItemStatus.FAILED)
    assert items[other_customer.pk].message == "Broken contract data"
    assert BillingRun.objects.get().status == BillingRunStatus.DRAFTED
    assert Invoice.objects.get().customer == customer


def test_only_an_ended_month_can_be_billed(provider):
    with pytest.raises(ValidationError) as error:
        billing_run_start(provider=provider, year=2025, month=12, today=DEC_1)
    assert "period" in error.value.message_dict


@pytest.mark.parametrize("text", ["2025-13", "2025-1", "26-01", "x", ""])
def test_bad_periods_are_refused(text):
    with pytest.raises(ValidationError):
        parse_period(text)


@pytest.mark.postgres  # a transactional test: SQLite's flush would DELETE the finalised invoice, which is refused
@pytest.mark.django_db(transaction=True)
def test_run_billing_command(provider, customer, billed):
    output = StringIO()
    call_command("run_billing", "--period", "2025-11", "--finalize", stdout=output)
    assert "invoices=1" in output.getvalue()
    assert Invoice.objects.get().status == InvoiceStatus.FINALISED
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("run_billing", "--period", "November")
    with pytest.raises(CommandError, match="provider"):
        call_command("run_billing", "--period", "2025-11", "--provider", "nobody")


def test_finalising_part_of_a_run_keeps_the_rest_in_review(
    provider, customer, other_customer, billed, django_capture_on_commit_callbacks
):
    mps_contract(other_customer, AssetFactory(customer=other_customer))
    with django_capture_on_commit_callbacks(execute=True):
        run = billing_run_start(provider=provider, year=2025, month=11, today=DEC_1)
    admin = member(provider, Role.PROVIDER_ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        assert billing_run_finalise(run=run, by=admin, today=DEC_1, customer_ids=[customer.pk]) == 1
    run.refresh_from_db()
    assert run.status == BillingRunStatus.DRAFTED
    assert Invoice.objects.get(customer=customer).finalised_by == admin
    assert Invoice.objects.get(customer=other_customer).status == InvoiceStatus.DRAFT


def test_an_invalid_registration_number_stops_finalisation(customer, billed):
    invoice = nov_invoice(customer)
    type(customer.provider).objects.filter(pk=customer.provider_id).update(tax_registration_number="T5835678256247")
    with pytest.raises(ValidationError) as error:
        finalise_invoice(invoice_id=invoice.pk, today=DEC_1, deliver=False)
    assert "tax_registration_number" in error.value.message_dict
    invoice.refresh_from_db()
    assert (invoice.status, invoice.number) == (InvoiceStatus.DRAFT, "")
    assert not InvoiceSequence.objects.filter(last_number__gt=0).exists()


def test_a_fully_credited_invoice_owes_nothing(customer, billed, provider_admin):
    invoice = finalise_invoice(invoice_id=nov_invoice(customer).pk, today=DEC_1, deliver=False)
    lines = {line.pk: line.amount for line in invoice.lines.all()}
    note = credit_note_create(invoice=invoice, lines=lines, reason="Billed in error", by=provider_admin)
    assert note.total == invoice.total
    assert Receivable.objects.get(invoice=invoice).status == "open"  # a draft credit note changes nothing
    finalise_invoice(invoice_id=note.pk, today=DEC_1, deliver=False)
    assert Receivable.objects.get(invoice=invoice).status == "paid"


def test_billing_sweep_command_starts_the_month_just_ended(
    provider, customer, billed, django_capture_on_commit_callbacks
):
    output = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("billing_sweep", stdout=output)
    assert output.getvalue().strip() == "runs_started=1 invoices_finalised=0"
    year, month = previous_month(timezone.localdate(timezone=TOKYO))
    assert BillingRun.objects.filter(provider=provider, year=year, month=month).exists()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("billing_sweep", stdout=output)
    assert BillingRun.objects.count() == 1  # once per month


def test_a_batch_redelivered_after_a_kill_during_finalisation_finishes_the_run(
    provider, customer, other_customer, billed, monkeypatch
):
    """A worker killed while it finalised the run's drafts (the batch that closed the drafting) leaves the run
    finalising with drafts left; the redelivered batch, which has nobody left to draft, finalises the rest."""
    mps_contract(other_customer, AssetFactory(customer=other_customer))
    from contracts import billing

    monkeypatch.setattr(billing, "_queue_batches", lambda run_id, customer_ids: None)  # the test plays the worker
    run = billing_run_start(provider=provider, year=2025, month=11, finalize=True, today=DEC_1)
    customer_ids = list(run.items.values_list("customer_id", flat=True))
    real = billing.finalise_invoice
    calls = []

    def killed_at_the_second(**kwargs):
        calls.append(kwargs["invoice_id"])
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(billing, "finalise_invoice", killed_at_the_second)
    with pytest.raises(SystemExit):
        billing_run_draft_batch(run_id=run.pk, customer_ids=customer_ids)
    monkeypatch.setattr(billing, "finalise_invoice", real)
    assert BillingRun.objects.get().status == BillingRunStatus.FINALISING
    assert sorted(Invoice.objects.values_list("status", flat=True)) == [InvoiceStatus.DRAFT, InvoiceStatus.FINALISED]
    billing_run_draft_batch(run_id=run.pk, customer_ids=customer_ids)  # the redelivered batch
    assert BillingRun.objects.get().status == BillingRunStatus.FINALISED
    year = timezone.localdate(timezone=TOKYO).year  # a run's finalisation issues its invoices today
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [f"INV-{year}-000001", f"INV-{year}-000002"]


def test_a_run_started_for_some_customers_cannot_finalise_as_it_drafts(customer, billed):
    provider = Organisation.objects.get(pk=customer.provider_id)
    with pytest.raises(ValidationError) as error:
        billing_run_start(provider=provider, year=2025, month=11, finalize=True, customer_ids=[customer.pk])
    assert error.value.message_dict == {"finalize": [str(FINALIZE_NEEDS_WHOLE_PROVIDER)]}
    assert not BillingRun.objects.exists()
