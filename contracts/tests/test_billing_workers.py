"""The billing run on real Celery workers (prefork, three processes) with RabbitMQ and PostgreSQL.

Concurrent starts of one period and a worker killed in the middle of a run must both end with exactly one finalised
invoice per customer, numbered without a gap. The worker is another process: the data is committed
(``transactional_db``) and the worker reads the test database (``contracts/tests/worker_fixtures.py``). Skipped
when the database is not PostgreSQL or RabbitMQ (amqp://guest:guest@127.0.0.1:5672//) is unreachable.
"""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Count
from django.utils import timezone

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets.tests.factories import AssetFactory, AssetModelFactory, SiteFactory
from contracts.billing import previous_month
from contracts.choices import BillingRunStatus, ComponentKind, ContractStatus, InvoiceStatus, RunItemStatus
from contracts.models import BillingRun, Invoice, InvoiceDelivery, InvoiceEvent, InvoiceSequence
from contracts.rating import Period
from contracts.services import component_add, contract_create, contract_transition, coverage_add
from contracts.tests.worker_fixtures import FAILED, RECEIVED, SUCCEEDED, celery_worker_fixture, wait_for  # noqa: F401
from telemetry.choices import Meter, ReadingSource
from telemetry.models import Reading

pytestmark = pytest.mark.postgres

TOKYO = ZoneInfo("Asia/Tokyo")
START_TASK = "contracts.tasks.billing_run_start_task"
BATCH_TASK = "contracts.tasks.billing_draft_batch_task"


def billed_period() -> Period:
    """The month just ended, in Tokyo (the providers' and customers' time zone): the latest a run may bill."""
    year, month = previous_month(timezone.localdate(timezone=TOKYO))
    return Period.of(year, month, "Asia/Tokyo")


def issue_year() -> int:
    return timezone.localdate(timezone=TOKYO).year


def with_tax(net: int) -> Decimal:
    """The total of a net amount in yen with 10 % tax, rounded down (the default rounding)."""
    return Decimal(net + net // 10)


def midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), tzinfo=TOKYO)


def mps_customer(provider, name: str, period: Period, *, assets: int, allowance: int):
    """A customer with an admin (who is e-mailed the invoice), one site, ``assets`` printers and an active contract
    since well before the period: 10,000 yen a month and 1 yen a mono page beyond ``allowance`` (pooled)."""
    customer = CustomerFactory(provider=provider, name=name)
    member(customer, Role.CUSTOMER_ADMIN, email=f"admin@{customer.code}.example")
    site = SiteFactory(customer=customer)
    model = AssetModelFactory()
    printers = [AssetFactory(customer=customer, site=site, asset_model=model) for _ in range(assets)]
    start = (period.first - datetime.timedelta(days=60)).replace(day=1)
    contract = contract_create(customer=customer, title="MPS", start_date=start, by=None)
    component_add(contract=contract, by=None, kind=ComponentKind.FIXED_FEE, name="Monthly fee", amount=Decimal(10000))
    component_add(
        contract=contract,
        by=None,
        kind=ComponentKind.METER_CHARGE,
        name="Mono pages",
        meter=Meter.MONO_PAGES,
        amount=Decimal(1),
        allowance=Decimal(allowance),
    )
    for printer in printers:
        coverage_add(contract=contract, asset=printer, start_date=start, by=None)
    contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=None)
    return customer, printers


def run_of(provider, period: Period) -> BillingRun | None:
    return BillingRun.objects.filter(provider=provider, year=period.year, month=period.month).first()


def assert_one_final_invoice_each(provider, period: Period, customers: list, expected_totals: dict) -> list[Invoice]:
    invoices = list(Invoice.objects.filter(provider=provider, year=period.year, month=period.month))
    assert sorted(invoice.customer_id for invoice in invoices) == sorted(customer.pk for customer in customers)
    assert {invoice.status for invoice in invoices} == {InvoiceStatus.FINALISED}
    year = issue_year()
    # Numbered 1..N in the provider's series of the year of issue: no gap, no number used twice.
    assert sorted(invoice.number for invoice in invoices) == [
        f"INV-{year}-{number:06d}" for number in range(1, len(customers) + 1)
    ]
    assert InvoiceSequence.objects.get(provider=provider, year=year).last_number == len(customers)
    assert {invoice.customer_id: invoice.total for invoice in invoices} == expected_totals
    return invoices


def test_three_concurrent_starts_of_a_period_finalise_each_customer_once(celery_worker):
    period = billed_period()
    provider = ProviderFactory()
    customers, expected = [], {}
    for index in range(6):
        customer, (printer,) = mps_customer(provider, f"Concurrent {index} KK", period, assets=1, allowance=1000)
        # (index + 1) × 1,000 pages in the month, the first 1,000 included: 10,000 + index × 1,000 yen, + 10 % tax
        # (11,000, 12,100, ... 16,500 yen).
        for when, value in ((period.start_at, 5000), (period.end_at, 5000 + 1000 * (index + 1))):
            Reading.objects.create(
                asset=printer, meter=Meter.MONO_PAGES, taken_at=when, value=Decimal(value), source=ReadingSource.DEVICE
            )
        customers.append(customer)
        expected[customer.pk] = with_tax(10000 + 1000 * index)
    worker = celery_worker.start(BILLING_BATCH_CUSTOMERS="2")

    for _ in range(3):  # three starts of the same period, run at once by the three pool processes
        celery_worker.send(START_TASK, provider.pk, period.year, period.month, None, True)

    def finished():
        run = run_of(provider, period)
        delivered = InvoiceDelivery.objects.filter(
            invoice__provider=provider, invoice__year=period.year, emailed_at__isnull=False
        ).count()
        return run is not None and run.status == BillingRunStatus.FINALISED and delivered == len(customers)

    wait_for(finished, timeout=60, interval=0.2, what="the run finalised and every invoice e-mailed")
    wait_for(lambda: celery_worker.waiting() == 0, timeout=30, what="the queue to drain")
    worker.kill()

    assert not worker.tasks(FAILED), worker.log()[-4000:]
    assert len(worker.tasks(SUCCEEDED, START_TASK)) == 3
    run = run_of(provider, period)
    assert (run.status, run.attempts, run.finalize) == (BillingRunStatus.FINALISED, 3, True)
    assert set(run.items.values_list("status", flat=True)) == {RunItemStatus.DONE}
    assert run.items.count() == len(customers)
    invoices = assert_one_final_invoice_each(provider, period, customers, expected)
    for invoice in invoices:
        # Rendered and e-mailed once, to the customer's admin, whichever start finalised it.
        assert invoice.pdf.name.endswith(f"{invoice.number}.pdf") and invoice.xml.name.endswith(".xml")
        assert invoice.delivery.recipients == [f"admin@{invoice.customer.code}.example"]
        assert InvoiceEvent.objects.filter(invoice=invoice, action="emailed").count() == 1
        assert InvoiceEvent.objects.filter(invoice=invoice, action="finalised").count() == 1


def test_a_worker_killed_mid_run_leaves_a_run_that_the_next_worker_completes(celery_worker):
    period = billed_period()
    provider = ProviderFactory()
    customers, expected = [], {}
    days = period.days
    for index in range(24):
        customer, printers = mps_customer(provider, f"Killed {index:02d} KK", period, assets=8, allowance=50000)
        # Printer j of customer i prints 100 × (j + 1) + i pages a day; one reading at every midnight from two days
        # before the month to two days after it. The month's usage is days × (3,600 + 8 i) pages (the sum over
        # the eight printers), 50,000 of them included: 10,000 + days × (3,600 + 8 i) − 50,000 yen, + 10 % tax rounded
        # down (in a 31-day month: 74,080 yen + 7,408 = 81,488 yen for customer 10).
        Reading.objects.bulk_create(
            Reading(
                asset=printer,
                meter=Meter.MONO_PAGES,
                taken_at=midnight(period.first + datetime.timedelta(days=day)),
                value=Decimal(100000 + (100 * (position + 1) + index) * day),
                source=ReadingSource.DEVICE,
            )
            for position, printer in enumerate(printers)
            for day in range(-2, days + 3)
        )
        customers.append(customer)
        expected[customer.pk] = with_tax(10000 + days * (3600 + 8 * index) - 50000)

    # One customer per batch: 24 batch tasks, three at a time.
    first = celery_worker.start(BILLING_BATCH_CUSTOMERS="1")
    celery_worker.send(START_TASK, provider.pk, period.year, period.month, None, True)

    def some_drafted():
        run = run_of(provider, period)
        return run is not None and run.items.filter(status=RunItemStatus.DONE).exists()

    wait_for(some_drafted, timeout=60, interval=0.005, what="a first customer drafted")
    first.kill()  # the main process and its pool, mid-run: their unacknowledged batches go back to the queue

    held = set(first.tasks(RECEIVED, BATCH_TASK)) - set(first.tasks(SUCCEEDED, BATCH_TASK))
    run = run_of(provider, period)
    pending_at_kill = run.items.filter(status=RunItemStatus.PENDING).count()
    assert run.status == BillingRunStatus.RUNNING
    assert pending_at_kill > 0
    assert held, "no batch was in progress when the worker was killed"

    second = celery_worker.start(BILLING_BATCH_CUSTOMERS="1")
    wait_for(
        lambda: run_of(provider, period).status == BillingRunStatus.FINALISED,
        timeout=90,
        interval=0.2,
        what="the run to be finalised by the second worker",
    )
    second.kill()

    # Every batch the killed worker held came back to the new one.
    assert held <= set(second.tasks(RECEIVED, BATCH_TASK))
    assert not first.tasks(FAILED) and not second.tasks(FAILED), second.log()[-4000:]
    run = run_of(provider, period)
    statuses = dict(run.items.values_list("status").annotate(count=Count("pk")).order_by())
    assert statuses == {RunItemStatus.DONE: len(customers)}
    assert_one_final_invoice_each(provider, period, customers, expected)
