"""The cost ledger: each rule on crafted data with hand-computed amounts, and reconciliation with its sources."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from accounts.choices import Role
from accounts.tests.factories import member
from assets.choices import Ownership
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory
from contracts.billing import credit_note_create, draft_customers, finalise_invoice
from contracts.models import Invoice
from contracts.tests.billing_helpers import at, mps_contract, read
from maintenance.choices import SupplyOrderSource, SupplyOrderStatus
from maintenance.models import MaintenanceSettings, SupplyOrder, WorkOrderLabour, WorkOrderPart
from maintenance.tests.factories import WorkOrderFactory
from reports.choices import CostCategory, CostSource, CostView
from reports.ledger import allocate, build_ledger, straight_line
from reports.models import AssetMonthUsage, CostEntry, CostRates
from telemetry.choices import Meter

NOW = at(2026, 1, 15)
OCTOBER = datetime.date(2025, 10, 1)


def entries(customer, category=None):
    rows = CostEntry.objects.filter(customer=customer, month=OCTOBER)
    return rows.filter(category=category) if category else rows


def total(rows) -> Decimal:
    return rows.aggregate(total=Sum("amount"))["total"] or Decimal(0)


# --- Allocation and straight-line spreading -------------------------------------------------------------------


def test_allocate_gives_the_units_left_to_the_largest_remainders():
    # 100 yen by 1:1:1 is 33.33 each: floors of 33, and the one yen left goes to the first of the equal remainders.
    assert allocate(Decimal(100), [Decimal(1)] * 3, "JPY") == [Decimal(34), Decimal(33), Decimal(33)]
    # 10 yen by 1:2:7 is 1, 2 and 7 exactly.
    assert allocate(Decimal(10), [Decimal(1), Decimal(2), Decimal(7)], "JPY") == [1, 2, 7]
    # 1,000 yen by 0.2:0.35:0.45 is 200, 350, 450; a credit of -100 by 1:2 is -33.33 and -66.67: -33, -67.
    assert allocate(Decimal(-100), [Decimal(1), Decimal(2)], "JPY") == [Decimal(-33), Decimal(-67)]
    # Cents: 10.00 dollars by three is 3.34, 3.33, 3.33.
    assert allocate(Decimal("10.00"), [Decimal(1)] * 3, "USD") == [Decimal("3.34"), Decimal("3.33"), Decimal("3.33")]


def test_allocate_splits_equally_when_the_weights_add_up_to_nothing():
    assert allocate(Decimal(5), [Decimal(0), Decimal(0)], "JPY") == [Decimal(3), Decimal(2)]


@given(
    amount=st.integers(min_value=-(10**9), max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30),
)
def test_allocate_always_adds_up_and_stays_within_a_unit_of_the_exact_share(amount, weights):
    shares = allocate(Decimal(amount), [Decimal(weight) for weight in weights], "JPY")

    assert sum(shares) == amount
    weight_total = sum(weights) or len(weights)
    for share, weight in zip(shares, weights if sum(weights) else [1] * len(weights), strict=True):
        assert abs(share - Decimal(amount) * weight / weight_total) < 1


def test_straight_line_months_add_up_to_the_cost():
    # 100,000 yen over 3 months: round(33,333.33) = 33,333; round(66,666.67) - 33,333 = 33,334; then 33,333.
    assert [straight_line(Decimal(100000), 3, k, "JPY") for k in (0, 1, 2, 3, 4)] == [0, 33333, 33334, 33333, 0]
    assert sum(straight_line(Decimal("850000"), 60, k, "JPY") for k in range(1, 61)) == Decimal("850000")


# --- Service fees ---------------------------------------------------------------------------------------------


@pytest.fixture
def billed_october(customer, site):
    """Two printers under one MPS contract (¥10,000 a month, mono pages at ¥1 beyond 1,000 pooled), read so that
    October has 3,000 pages on the first and 1,000 on the second, and October's invoice finalised."""
    first = AssetFactory(customer=customer, site=site, ownership=Ownership.RENTAL)
    second = AssetFactory(customer=customer, site=site, ownership=Ownership.RENTAL)
    contract = mps_contract(customer, first)
    from contracts.services import coverage_add

    coverage_add(contract=contract, asset=second, start_date=datetime.date(2025, 9, 1), by=None)
    for asset, pages in ((first, 3000), (second, 1000)):
        read(asset, at(2025, 9, 30, 12), 10000)
        read(asset, at(2025, 10, 1, 0), 10000)
        read(asset, at(2025, 11, 1, 0), 10000 + pages)
        read(asset, at(2025, 11, 2, 12), 10000 + pages)
    (outcome,) = draft_customers(customers=[customer], year=2025, month=10)
    invoice = finalise_invoice(invoice_id=outcome.invoices[0].pk, today=datetime.date(2025, 11, 1), deliver=False)
    return invoice, first, second, contract


def test_service_fees_reconcile_with_the_finalised_invoice_to_the_yen(customer, billed_october):
    invoice, first, second, contract = billed_october

    build_ledger(customer=customer, year=2025, month=10, now=NOW)

    fees = entries(customer, CostCategory.SERVICE_FEES)
    assert total(fees) == invoice.net_total
    # Overage is 4,000 - 1,000 pages at ¥1 = ¥3,000, split by usage 3:1; the contract's ¥10,000 fee between the
    # assets it covered, by days (the whole month each).
    by_asset = {row["asset"]: row["amount"] for row in fees.values("asset").annotate(amount=Sum("amount"))}
    assert by_asset == {first.pk: Decimal(5000 + 2250), second.pk: Decimal(5000 + 750)}
    assert set(fees.values_list("view", "source", "contract", "currency").distinct()) == {
        (CostView.CUSTOMER, CostSource.INVOICE_LINE, contract.pk, "JPY")
    }


def test_a_credit_note_lowers_the_service_fees_of_its_month(customer, billed_october):
    invoice, *_ = billed_october
    fee_line = invoice.lines.get(position=1)
    credit = credit_note_create(invoice=invoice, lines={fee_line.pk: Decimal(1000)}, reason="Outage", by=None)
    finalise_invoice(invoice_id=credit.pk, today=datetime.date(2025, 11, 5), deliver=False)

    build_ledger(customer=customer, year=2025, month=10, now=NOW)

    assert total(entries(customer, CostCategory.SERVICE_FEES)) == invoice.net_total - 1000
    credited = entries(customer, CostCategory.SERVICE_FEES).filter(amount__lt=0)
    assert sorted(credited.values_list("amount", flat=True)) == [Decimal(-500), Decimal(-500)]
    assert None not in set(credited.values_list("asset", flat=True))


def test_draft_invoices_are_not_costs_yet(customer, site):
    asset = AssetFactory(customer=customer, site=site, ownership=Ownership.RENTAL, acquisition_cost=None)
    mps_contract(customer, asset)
    draft_customers(customers=[customer], year=2025, month=10)
    assert Invoice.objects.filter(customer=customer).exists()

    build_ledger(customer=customer, year=2025, month=10, now=NOW)

    assert not entries(customer, CostCategory.SERVICE_FEES).exists()


# --- Assets, energy and downtime ------------------------------------------------------------------------------


def test_owned_leased_and_provider_assets_depreciate_straight_line_from_their_install_month(customer, site):
    owned = AssetFactory(
        customer=customer, site=site, ownership=Ownership.CUSTOMER_OWNED, acquisition_cost=Decimal(120000),
        expected_life_months=12, install_date=datetime.date(2025, 6, 15),
    )  # fmt: skip
    leased = AssetFactory(
        customer=customer, site=site, ownership=Ownership.LEASE, acquisition_cost=Decimal(100000),
        expected_life_months=3, install_date=datetime.date(2025, 9, 1),
    )  # fmt: skip
    rented = AssetFactory(
        customer=customer, site=site, ownership=Ownership.RENTAL, acquisition_cost=Decimal(600000),
        expected_life_months=60, install_date=datetime.date(2020, 11, 1),
    )  # fmt: skip
    ended = AssetFactory(
        customer=customer, site=site, ownership=Ownership.CUSTOMER_OWNED, acquisition_cost=Decimal(1000),
        expected_life_months=2, install_date=datetime.date(2025, 1, 1),
    )  # fmt: skip
    AssetFactory(customer=customer, site=site, ownership=Ownership.CUSTOMER_OWNED, acquisition_cost=None)

    summary = build_ledger(customer=customer, year=2025, month=10, now=NOW)

    rows = {row.asset_id: row for row in entries(customer)}
    assert (rows[owned.pk].category, rows[owned.pk].amount, rows[owned.pk].quantity) == (
        CostCategory.DEPRECIATION,
        Decimal(10000),
        Decimal(5),
    )  # fmt: skip  (June is month 1: October is month 5 of 12)
    assert (rows[leased.pk].category, rows[leased.pk].amount) == (CostCategory.LEASE, Decimal(33334))  # month 2
    assert (rows[rented.pk].category, rows[rented.pk].view, rows[rented.pk].amount) == (
        CostCategory.PROVIDER_DEPRECIATION,
        CostView.PROVIDER,
        Decimal(10000),
    )  # fmt: skip  (November 2020 is month 1: October 2025 is month 60, the last)
    assert ended.pk not in rows
    assert summary.skipped == {"asset without cost, life or install date": 1}


@pytest.fixture
def forklift(customer, site):
    return AssetFactory(
        customer=customer, site=site, ownership=Ownership.RENTAL, acquisition_cost=None,
        asset_model=AssetModelFactory(power_draw_watts=2000),
    )  # fmt: skip


def test_energy_is_key_on_hours_times_power_draw_at_the_sites_price(customer, site, forklift, provider):
    read(forklift, at(2025, 10, 1), 1000, meter=Meter.HOURS_KEY_ON)
    read(forklift, at(2025, 11, 1), 1050, meter=Meter.HOURS_KEY_ON)
    CostRates.objects.create(provider=provider, energy_price_per_kwh=Decimal("20"))
    CostRates.objects.create(provider=provider, customer=customer, site=site, energy_price_per_kwh=Decimal("30.5"))

    build_ledger(customer=customer, year=2025, month=10, now=NOW)

    energy = entries(customer, CostCategory.ENERGY).get()
    # 50 h x 2,000 W = 100 kWh at the site's ¥30.5 = ¥3,050.
    assert (energy.quantity, energy.unit, energy.amount, energy.asset_id) == (
        Decimal(100), "kWh", Decimal(3050), forklift.pk
    )  # fmt: skip
    usage = AssetMonthUsage.objects.get(asset=forklift, month=OCTOBER)
    assert (usage.meter, usage.usage) == (Meter.HOURS_KEY_ON, Decimal(50))


def test_a_kwh_meter_wins_over_power_draw_and_the_providers_price_is_the_fallback(customer, forklift, provider):
    for meter, start, end in ((Meter.HOURS_KEY_ON, 0, 50), (Meter.ENERGY_KWH, 500, 540)):
        read(forklift, at(2025, 10, 1), start, meter=meter)
        read(forklift, at(2025, 11, 1), end, meter=meter)
    CostRates.objects.create(provider=provider, energy_price_per_kwh=Decimal("25"))

    build_ledger(customer=customer, year=2025, month=10, now=NOW)

    energy = entries(customer, CostCategory.ENERGY).get()
    assert (energy.quantity, energy.amount) == (Decimal(40), Decimal(1000))


def test_energy_without_a_price_is_left_out_and_counted(customer, forklift):
    read(forklift, at(2025, 10, 1), 0, meter=Meter.HOURS_KEY_ON)
    read(forklift, at(2025, 11, 1), 50, meter=Meter.HOURS_KEY_ON)

    summary = build_ledger(customer=customer, year=2025, month=10, now=NOW)

    assert not entries(customer, CostCategory.ENERGY).exists()
    assert summary.skipped["energy without a price"] == 1


def test_downtime_counts_the_hours_of_each_down_interval_inside_the_month(customer, site, forklift, provider):
    CostRates.objects.create(provider=provider, customer=customer, downtime_cost_per_hour=Decimal(5000))
    across = WorkOrderFactory(asset=forklift, down_from=at(2025, 10, 31, 22), down_until=at(2025, 11, 1, 4))
    inside = WorkOrderFactory(asset=forklift, down_from=at(2025, 10, 10, 9), down_until=at(2025, 10, 10, 10))
    still_down = WorkOrderFactory(asset=forklift, down_from=at(2026, 1, 15, 0) - datetime.timedelta(minutes=90))
    WorkOrderFactory(asset=forklift, down_from=at(2025, 9, 1), down_until=at(2025, 9, 2))

    build_ledger(customer=customer, year=2025, month=10, now=NOW)
    build_ledger(customer=customer, year=2025, month=11, now=NOW)
    build_ledger(customer=customer, year=2026, month=1, now=NOW)

    october = {row.source_id: (row.quantity, row.amount) for row in entries(customer, CostCategory.DOWNTIME)}
    assert october == {across.pk: (Decimal(2), Decimal(10000)), inside.pk: (Decimal(1), Decimal(5000))}
    november = CostEntry.objects.get(customer=customer, month=datetime.date(2025, 11, 1), category="downtime")
    assert (november.source_id, november.quantity) == (across.pk, Decimal(4))
    january = CostEntry.objects.get(customer=customer, month=datetime.date(2026, 1, 1), category="downtime")
    assert (january.source_id, january.quantity, january.amount) == (still_down.pk, Decimal("1.5"), Decimal(7500))


# --- Provider cost to serve -----------------------------------------------------------------------------------


def test_labour_parts_and_shipped_consumables_reconcile_with_the_work_orders_and_shipments(customer, site, provider):
    asset = AssetFactory(customer=customer, site=site, ownership=Ownership.CUSTOMER_OWNED, acquisition_cost=None)
    work_order = WorkOrderFactory(asset=asset)
    technician = member(provider, Role.TECHNICIAN)
    MaintenanceSettings.objects.create(organisation=provider, labour_rate=Decimal(6000))
    priced = WorkOrderLabour.objects.create(
        work_order=work_order, technician=technician, date=datetime.date(2025, 10, 3), hours=Decimal("1.5"),
        rate=Decimal(8000),
    )  # fmt: skip
    unpriced = WorkOrderLabour.objects.create(
        work_order=work_order, technician=technician, date=datetime.date(2025, 10, 31), hours=Decimal(2)
    )
    WorkOrderLabour.objects.create(
        work_order=work_order, technician=technician, date=datetime.date(2025, 11, 1), hours=Decimal(3), rate=1
    )
    toner = PartTypeFactory(unit_cost=Decimal(12000))
    own_cost = WorkOrderPart.objects.create(
        work_order=work_order, part_type=toner, quantity=Decimal(2), unit_cost=Decimal(9000), added_at=at(2025, 10, 3)
    )
    catalogue_cost = WorkOrderPart.objects.create(
        work_order=work_order, part_type=toner, quantity=Decimal(1), added_at=at(2025, 10, 31, 23)
    )
    WorkOrderPart.objects.create(work_order=work_order, part_type=toner, added_at=at(2025, 11, 1, 0))
    shipped = SupplyOrder.objects.create(
        provider=provider, number="SO-1", customer=customer, site=site, asset=asset, part_type=toner, quantity=3,
        status=SupplyOrderStatus.DELIVERED, source=SupplyOrderSource.MANUAL, shipped_at=at(2025, 10, 20),
    )  # fmt: skip
    SupplyOrder.objects.create(
        provider=provider, number="SO-2", customer=customer, site=site, asset=asset, part_type=toner,
        status=SupplyOrderStatus.REQUESTED, source=SupplyOrderSource.MANUAL,
    )  # fmt: skip

    build_ledger(customer=customer, year=2025, month=10, now=NOW)

    amounts = {(row.category, row.source_id): row.amount for row in entries(customer)}
    assert amounts == {
        (CostCategory.LABOUR, priced.pk): Decimal(12000),  # 1.5 h x ¥8,000
        (CostCategory.LABOUR, unpriced.pk): Decimal(12000),  # 2 h x the provider's ¥6,000
        (CostCategory.PARTS, own_cost.pk): Decimal(18000),  # 2 x ¥9,000 on the work order
        (CostCategory.PARTS, catalogue_cost.pk): Decimal(12000),  # the part type's cost
        (CostCategory.CONSUMABLES, shipped.pk): Decimal(36000),  # 3 x ¥12,000
    }
    assert set(entries(customer).values_list("view", flat=True)) == {CostView.PROVIDER}


# --- Runs -----------------------------------------------------------------------------------------------------


def test_building_again_replaces_the_month_and_leaves_other_months_and_customers(
    customer, other_customer, billed_october
):
    invoice, *_ = billed_october
    AssetFactory(customer=other_customer, install_date=datetime.date(2025, 1, 1))
    build_ledger(customer=other_customer, year=2025, month=10, now=NOW)
    build_ledger(customer=customer, year=2025, month=9, now=NOW)
    build_ledger(customer=customer, year=2025, month=10, now=NOW)
    before = sorted(entries(customer).values_list("category", "asset", "amount", "source_id"))
    others = CostEntry.objects.exclude(customer=customer, month=OCTOBER).count()

    build_ledger(customer=customer, year=2025, month=10, now=NOW)

    assert sorted(entries(customer).values_list("category", "asset", "amount", "source_id")) == before
    assert CostEntry.objects.exclude(customer=customer, month=OCTOBER).count() == others > 0
    assert total(entries(customer, CostCategory.SERVICE_FEES)) == invoice.net_total


def test_a_build_costs_the_same_queries_for_two_assets_and_for_twelve(customer, site, provider):
    CostRates.objects.create(provider=provider, energy_price_per_kwh=Decimal(20), downtime_cost_per_hour=Decimal(1))

    def fleet(count):
        for _ in range(count):
            asset = AssetFactory(customer=customer, site=site, asset_model=AssetModelFactory(power_draw_watts=100))
            read(asset, at(2025, 10, 1), 0, meter=Meter.HOURS_KEY_ON)
            read(asset, at(2025, 11, 1), 10, meter=Meter.HOURS_KEY_ON)
            WorkOrderFactory(asset=asset, down_from=at(2025, 10, 2), down_until=at(2025, 10, 3))

    fleet(2)
    with CaptureQueriesContext(connection) as small:
        build_ledger(customer=customer, year=2025, month=10, now=NOW)
    fleet(10)
    with CaptureQueriesContext(connection) as large:
        summary = build_ledger(customer=customer, year=2025, month=10, now=NOW)

    assert summary.entries == 12 * 3  # provider depreciation, energy and downtime of each
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_builds_of_one_month_at_once_leave_one_months_rows(customer, site):
    import threading

    from django.db import connections

    for _ in range(30):
        AssetFactory(customer=customer, site=site, install_date=datetime.date(2025, 1, 1))
    build_ledger(customer=customer, year=2025, month=10, now=NOW)
    expected = sorted(entries(customer).values_list("asset", "category", "amount"))
    barrier, errors = threading.Barrier(2), []

    def build():
        try:
            barrier.wait()
            build_ledger(customer=customer, year=2025, month=10, now=NOW)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(entries(customer).values_list("asset", "category", "amount")) == expected
