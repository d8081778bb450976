"""Rating rules on hand-built inputs, with hand-computed amounts (no database: rating is pure)."""

import dataclasses
import datetime
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.choices import AllowanceScope, ComponentKind, LineKind, TaxCategory, TaxRounding, TierMode
from contracts.rating import (
    Component,
    ContractTerms,
    Coverage,
    CustomerInputs,
    Period,
    Tier,
    WorkOrderFacts,
    price_bands,
    rate_customer,
    usage_intervals,
)
from telemetry.choices import Meter
from telemetry.usage import Usage

NOV = Period.of(2026, 11, "Asia/Tokyo")  # 30 days
D = datetime.date
JAN = D(2026, 1, 1)


def component(kind=ComponentKind.FIXED_FEE, **values) -> Component:
    defaults = {
        "id": 1,
        "kind": kind,
        "name": kind,
        "amount": Decimal(0),
        "meter": Meter.MONO_PAGES if kind in (ComponentKind.METER_CHARGE, ComponentKind.OUTCOME_CHARGE) else "",
        "allowance": Decimal(0),
        "allowance_scope": AllowanceScope.POOLED,
        "tier_mode": TierMode.GRADUATED,
        "minimum_charge": Decimal(0),
        "share_percent": None,
        "charge_date": None,
        "work_order_id": None,
        "tax_category": TaxCategory.STANDARD,
        "valid_from": D(2026, 1, 1),
        "valid_to": None,
        "tiers": (),
    }
    return Component(**{**defaults, **values})


def contract(*components, coverage=(), **values) -> ContractTerms:
    defaults = {
        "id": 10,
        "number": "CT-2026-000001",
        "title": "MPS",
        "currency": "JPY",
        "start_date": D(2026, 1, 1),
        "end_date": None,
        "billing_day": 1,
        "payment_terms_days": 30,
        "credit_percent_per_breach": Decimal(0),
        "credit_cap_percent": Decimal(0),
        "baseline_monthly_cost": None,
        "uptime_target_percent": None,
        "components": tuple(components),
        "coverage": tuple(coverage),
    }
    return ContractTerms(**{**defaults, **values})


def covered(asset_id, start=JAN, end=None, site_id=100) -> Coverage:
    return Coverage(asset_id=asset_id, site_id=site_id, start_date=start, end_date=end)


def usage(asset_id, amount, *, meter=Meter.MONO_PAGES, start=None, end=None, estimated=False) -> Usage:
    start = start or NOV.start_at
    end = end or NOV.end_at
    return Usage(
        asset_id=asset_id,
        meter=meter,
        start=start,
        end=end,
        start_value=Decimal(1000),
        end_value=Decimal(1000) + Decimal(amount),
        start_estimated=False,
        end_estimated=estimated,
        start_source="reading",
        end_source="extrapolated" if estimated else "interpolated",
        usage=Decimal(amount),
        resets=0,
        readings_used=3,
    )


def inputs(*contracts, usages=(), work_orders=(), charged=frozenset(), period=NOV) -> CustomerInputs:
    return CustomerInputs(
        customer_id=1,
        period=period,
        contracts=list(contracts),
        work_orders=list(work_orders),
        usage={(u.asset_id, u.meter, u.start, u.end): u for u in usages},
        charged_work_order_ids=charged,
    )


def rate(*contracts, rounding=TaxRounding.DOWN, **kwargs):
    invoices = rate_customer(inputs(*contracts, **kwargs), tax_rounding=rounding)
    assert len(invoices) <= 1
    return invoices[0] if invoices else None


def amounts(invoice, kind=None):
    return [line.amount for line in invoice.lines if kind is None or line.kind == kind]


# --- Fees and proration --------------------------------------------------------------------------------------------


def test_fixed_fee_full_month_and_prorated_start():
    full = rate(contract(component(amount=Decimal(30000))))
    (line,) = full.lines
    assert (line.quantity, line.unit, line.unit_price, line.amount) == (1, "MON", Decimal(30000), Decimal(30000))
    # Starts on 11 November: 20 of 30 days; 30,000 × 20 / 30 = 20,000.
    partial = rate(contract(component(amount=Decimal(30000)), start_date=D(2026, 11, 11)))
    (line,) = partial.lines
    assert (line.quantity, line.unit, line.unit_price, line.amount) == (20, "DAY", Decimal(1000), Decimal(20000))
    assert (line.service_start, line.service_end) == (D(2026, 11, 11), D(2026, 11, 30))
    assert (partial.net_total, partial.tax_total, partial.total) == (Decimal(20000), Decimal(2000), Decimal(22000))


def test_fixed_fee_ending_mid_month_rounds_half_up_per_line():
    # Ends on 10 November: 10 days of 10,000 a month = 3,333.33... → 3,333 yen.
    invoice = rate(contract(component(amount=Decimal(10000)), end_date=D(2026, 11, 10)))
    assert amounts(invoice) == [Decimal(3333)]
    # 20 days of 10,000 = 6,666.66... → 6,667 yen (half up).
    invoice = rate(contract(component(amount=Decimal(10000)), end_date=D(2026, 11, 20)))
    assert amounts(invoice) == [Decimal(6667)]


def test_contract_outside_the_period_bills_nothing():
    assert rate(contract(component(amount=Decimal(100)), end_date=D(2026, 10, 31))) is None
    assert rate(contract(component(amount=Decimal(100)), start_date=D(2026, 12, 1))) is None


def test_asset_fee_counts_asset_days_by_site():
    fee = component(ComponentKind.ASSET_FEE, amount=Decimal(3000))
    terms = contract(
        fee,
        coverage=[covered(1), covered(2), covered(3, start=D(2026, 11, 16)), covered(4, site_id=200)],
    )
    invoice = rate(terms)
    site_100, site_200 = invoice.lines
    # Site 100: 30 + 30 + 15 asset-days = 75; 3,000 × 75 / 30 = 7,500, priced per day at 100.
    assert (site_100.site_id, site_100.quantity, site_100.unit, site_100.unit_price) == (100, 75, "DAY", Decimal(100))
    assert site_100.amount == Decimal(7500)
    assert [(asset.asset_id, asset.days) for asset in site_100.assets] == [(1, 30), (2, 30), (3, 15)]
    # Site 200: one asset the whole month: 1 × 3,000.
    assert (site_200.site_id, site_200.quantity, site_200.unit, site_200.amount) == (200, 1, "MON", Decimal(3000))


def test_a_component_valid_part_of_the_month_bills_its_days():
    old = component(id=1, amount=Decimal(30000), valid_to=D(2026, 11, 15))
    new = component(id=2, amount=Decimal(45000), valid_from=D(2026, 11, 16))
    invoice = rate(contract(old, new))
    # 15 days at 30,000 = 15,000 and 15 days at 45,000 = 22,500.
    assert amounts(invoice) == [Decimal(15000), Decimal(22500)]


# --- Metered charges ------------------------------------------------------------------------------------------------


def metered(**values):
    return component(ComponentKind.METER_CHARGE, **{"amount": Decimal("1.5"), **values})


def test_pooled_allowance_against_per_asset_allowance():
    usages = [usage(1, 6000), usage(2, 7000)]
    pooled = rate(
        contract(metered(allowance=Decimal(10000)), coverage=[covered(1), covered(2)]),
        usages=usages,
    )
    # Pooled: 13,000 used, 10,000 included: 3,000 × 1.5 = 4,500.
    (line,) = pooled.lines
    assert (line.quantity, line.unit_price, line.amount) == (Decimal(3000), Decimal("1.5"), Decimal(4500))
    detail = line.detail
    assert (detail["usage"], detail["allowance"], detail["overage"]) == ("13000", "10000.000", "3000.000")
    per_asset = rate(
        contract(
            metered(allowance=Decimal(6500), allowance_scope=AllowanceScope.PER_ASSET),
            coverage=[covered(1), covered(2)],
        ),
        usages=usages,
    )
    # Per asset: asset 1 uses 6,000 of its 6,500; asset 2 is 500 over: 500 × 1.5 = 750 (pooled 13,000 would be 0).
    (line,) = per_asset.lines
    assert line.amount == Decimal(750)
    assert [(a.asset_id, a.usage_total, a.allowance, a.overage) for a in line.assets] == [
        (1, Decimal(6000), Decimal(6500), Decimal(0)),
        (2, Decimal(7000), Decimal(6500), Decimal(500)),
    ]


def test_allowance_prorates_with_coverage_days():
    # Asset covered from 16 November (15 of 30 days): its per-asset allowance of 1,000 becomes 500.
    terms = contract(
        metered(allowance=Decimal(1000), allowance_scope=AllowanceScope.PER_ASSET),
        coverage=[covered(1, start=D(2026, 11, 16))],
    )
    start = NOV.instant(D(2026, 11, 16))
    invoice = rate(terms, usages=[usage(1, 800, start=start)])
    (line,) = invoice.lines
    assert (line.assets[0].allowance, line.assets[0].overage, line.amount) == (
        Decimal(500),
        Decimal(300),
        Decimal(450),
    )
    assert usage_intervals(terms, terms.components[0], NOV) == [(1, start, NOV.end_at)]


def test_graduated_and_volume_tiers():
    tiers = (Tier(Decimal(1000), Decimal("1.5")), Tier(Decimal(5000), Decimal(1)))
    graduated = rate(contract(metered(amount=Decimal(2), tiers=tiers), coverage=[covered(1)]), usages=[usage(1, 6000)])
    # Bands of the 6,000 overage: 0–1,000 at 2 (2,000), 1,000–5,000 at 1.5 (6,000), 5,000+ at 1 (1,000).
    assert [(line.quantity, line.unit_price, line.amount) for line in graduated.lines] == [
        (Decimal(1000), Decimal(2), Decimal(2000)),
        (Decimal(4000), Decimal("1.5"), Decimal(6000)),
        (Decimal(1000), Decimal(1), Decimal(1000)),
    ]
    assert graduated.lines[0].assets and not graduated.lines[1].assets
    volume = rate(
        contract(metered(amount=Decimal(2), tiers=tiers, tier_mode=TierMode.VOLUME), coverage=[covered(1)]),
        usages=[usage(1, 6000)],
    )
    # Volume: all 6,000 at the rate of the band reached (5,000+): 6,000.
    assert [(line.quantity, line.unit_price, line.amount) for line in volume.lines] == [
        (Decimal(6000), Decimal(1), Decimal(6000))
    ]


@pytest.mark.parametrize(
    ("overage", "mode", "expected"),
    [
        (Decimal(0), TierMode.GRADUATED, [(Decimal(0), Decimal(0), Decimal(2))]),
        (Decimal(999), TierMode.GRADUATED, [(Decimal(0), Decimal(999), Decimal(2))]),
        (Decimal(1000), TierMode.GRADUATED, [(Decimal(0), Decimal(1000), Decimal(2))]),
        (Decimal(999), TierMode.VOLUME, [(Decimal(0), Decimal(999), Decimal(2))]),
        (Decimal(1000), TierMode.VOLUME, [(Decimal(1000), Decimal(1000), Decimal("1.5"))]),
    ],
)
def test_band_edges(overage, mode, expected):
    priced = component(
        ComponentKind.METER_CHARGE, amount=Decimal(2), tier_mode=mode, tiers=(Tier(Decimal(1000), Decimal("1.5")),)
    )
    assert [(start, quantity, rate) for start, _end, quantity, rate in price_bands(overage, priced)] == expected


def test_minimum_charge_prorated_tops_up():
    terms = contract(
        metered(minimum_charge=Decimal(5000)), coverage=[covered(1, start=D(2026, 11, 11))], start_date=D(2026, 11, 11)
    )
    invoice = rate(terms, usages=[usage(1, 400, start=NOV.instant(D(2026, 11, 11)))])
    # 400 × 1.5 = 600 charged; the minimum for 20 of 30 days is 5,000 × 20/30 = 3,333.33 → 3,333: top-up 2,733.
    assert [(line.kind, line.amount) for line in invoice.lines] == [
        (LineKind.METER_CHARGE, Decimal(600)),
        (LineKind.MINIMUM_TOP_UP, Decimal(2733)),
    ]


def test_an_asset_without_readings_is_listed_with_no_usage():
    invoice = rate(contract(metered(), coverage=[covered(1), covered(2)]), usages=[usage(1, 100)])
    (line,) = invoice.lines
    assert [(a.asset_id, a.no_data, a.usage_total) for a in line.assets] == [
        (1, False, Decimal(100)),
        (2, True, Decimal(0)),
    ]
    assert line.amount == Decimal(150)


def test_outcome_charge_per_pick_with_an_estimated_end():
    picks = component(ComponentKind.OUTCOME_CHARGE, meter=Meter.PICKS, amount=Decimal("3.2"))
    invoice = rate(contract(picks, coverage=[covered(7)]), usages=[usage(7, 12345, meter=Meter.PICKS, estimated=True)])
    (line,) = invoice.lines
    # 12,345 picks × 3.2 = 39,504.
    assert (line.kind, line.unit, line.amount) == (LineKind.OUTCOME_CHARGE, "C62", Decimal(39504))
    assert line.assets[0].usage.end_estimated is True


def test_hour_meter_lines_are_in_hours():
    hours = component(ComponentKind.METER_CHARGE, meter=Meter.HOURS_KEY_ON, amount=Decimal(250))
    invoice = rate(
        contract(hours, coverage=[covered(7)]), usages=[usage(7, Decimal("120.500"), meter=Meter.HOURS_KEY_ON)]
    )
    (line,) = invoice.lines
    # 120.5 h × 250 = 30,125.
    assert (line.unit, line.quantity, line.amount) == ("HUR", Decimal("120.500"), Decimal(30125))


# --- One-offs, billable work, saving share, credits -----------------------------------------------------------------


def test_one_off_in_its_month_only():
    charge = component(ComponentKind.ONE_OFF, amount=Decimal(8000), charge_date=D(2026, 11, 5))
    assert amounts(rate(contract(charge))) == [Decimal(8000)]
    later = component(ComponentKind.ONE_OFF, amount=Decimal(8000), charge_date=D(2026, 12, 5))
    assert rate(contract(later)) is None


def work_order(id, **values) -> WorkOrderFacts:
    defaults = {
        "number": f"WO-2026-{id:06d}",
        "asset_id": 1,
        "site_id": 100,
        "currency": "JPY",
        "billable": False,
        "estimate_amount": None,
        "completed_at": None,
        "first_breach_at": None,
        "down_from": None,
        "down_until": None,
    }
    return WorkOrderFacts(id=id, **{**defaults, **values})


def test_billable_work_is_charged_once_in_its_month():
    done = NOV.instant(D(2026, 11, 12))
    orders = [
        work_order(1, billable=True, estimate_amount=Decimal("12345"), completed_at=done),
        work_order(2, billable=True, estimate_amount=Decimal("500"), completed_at=done),  # charged by a one-off
        work_order(3, billable=True, estimate_amount=Decimal("700"), completed_at=NOV.end_at),  # December
        work_order(4, billable=False, estimate_amount=Decimal("900"), completed_at=done),
    ]
    invoice = rate(
        contract(component(amount=Decimal(1000)), coverage=[covered(1)]), work_orders=orders, charged=frozenset({2})
    )
    (work,) = [line for line in invoice.lines if line.kind == LineKind.BILLABLE_WORK]
    assert (work.work_order_id, work.amount, work.contract_id, work.site_id) == (1, Decimal(12345), 10, 100)


def test_saving_share_of_the_measured_saving():
    terms = contract(
        component(id=1, amount=Decimal(60000)),
        metered(id=2, amount=Decimal(1)),
        component(id=3, kind=ComponentKind.SAVING_SHARE, share_percent=Decimal(50)),
        coverage=[covered(1)],
        baseline_monthly_cost=Decimal(100000),
    )
    invoice = rate(terms, usages=[usage(1, 10000)])
    # Baseline 100,000 − charges (60,000 + 10,000) = 30,000 saved; half is 15,000.
    (share,) = [line for line in invoice.lines if line.kind == LineKind.SAVING_SHARE]
    assert (share.amount, share.detail["saving"]) == (Decimal(15000), "30000")
    # No saving, no share (never negative).
    costly = dataclasses.replace(terms, baseline_monthly_cost=Decimal(50000))
    (share,) = [line for line in rate(costly, usages=[usage(1, 10000)]).lines if line.kind == LineKind.SAVING_SHARE]
    assert share.amount == 0


def credited_contract(**values):
    defaults = {
        "credit_percent_per_breach": Decimal(5),
        "credit_cap_percent": Decimal(12),
        "uptime_target_percent": Decimal(98),
        "coverage": [covered(1), covered(2)],
    }
    return contract(component(amount=Decimal(100000)), **{**defaults, **values})


def test_service_credits_per_breach_capped():
    breach = NOV.instant(D(2026, 11, 3))
    orders = [work_order(i, asset_id=1, first_breach_at=breach) for i in (1, 2, 3)]
    invoice = rate(credited_contract(), work_orders=orders)
    # 3 breaches × 5 % = 15 %, capped at 12 % of the 100,000 fee: −12,000.
    (credit,) = [line for line in invoice.lines if line.kind == LineKind.SERVICE_CREDIT]
    assert (credit.amount, credit.detail["breaches"], credit.detail["percent"]) == (Decimal(-12000), 3, "12")
    assert invoice.net_total == Decimal(88000)


def test_breaches_count_in_the_month_of_the_first_breach_and_only_on_covered_assets():
    orders = [
        work_order(1, asset_id=1, first_breach_at=NOV.instant(D(2026, 11, 3))),
        work_order(2, asset_id=1, first_breach_at=NOV.start_at - datetime.timedelta(seconds=1)),  # October
        work_order(3, asset_id=99, first_breach_at=NOV.instant(D(2026, 11, 3))),  # not covered
    ]
    (credit,) = [
        line for line in rate(credited_contract(), work_orders=orders).lines if line.kind == LineKind.SERVICE_CREDIT
    ]
    assert (credit.detail["breached_work_orders"], credit.amount) == (["WO-2026-000001"], Decimal(-5000))


def test_downtime_below_the_uptime_target_is_a_breach():
    # Asset 2 is down a whole day (and two overlapping intervals count once): 29/30 = 96.7 % < 98 %.
    day = NOV.instant(D(2026, 11, 10))
    orders = [
        work_order(1, asset_id=2, down_from=day, down_until=day + datetime.timedelta(hours=20)),
        work_order(
            2, asset_id=2, down_from=day + datetime.timedelta(hours=10), down_until=day + datetime.timedelta(days=1)
        ),
        # Asset 1 down 10 hours: 99.86 % — above target.
        work_order(3, asset_id=1, down_from=day, down_until=day + datetime.timedelta(hours=10)),
    ]
    (credit,) = [
        line for line in rate(credited_contract(), work_orders=orders).lines if line.kind == LineKind.SERVICE_CREDIT
    ]
    assert (credit.detail["assets_below_uptime"], credit.amount) == ([2], Decimal(-5000))
    # 14 hours down (0.98 × 720 h = 705.6 h up needed; 706 h up) is exactly enough.
    orders = [work_order(1, asset_id=2, down_from=day, down_until=day + datetime.timedelta(hours=14))]
    assert not [
        line for line in rate(credited_contract(), work_orders=orders).lines if line.kind == LineKind.SERVICE_CREDIT
    ]


# --- Tax ------------------------------------------------------------------------------------------------------------


def test_tax_is_rounded_once_per_rate_in_the_providers_mode():
    terms = contract(
        component(id=1, amount=Decimal(1005)),
        component(id=2, amount=Decimal(1005)),
        component(id=3, amount=Decimal(999), tax_category=TaxCategory.REDUCED),
        component(id=4, amount=Decimal(777), tax_category=TaxCategory.EXEMPT),
    )
    invoice = rate(terms, rounding=TaxRounding.DOWN)
    # Standard: (1,005 + 1,005) × 10 % = 201 (per line it would be 100 + 100); reduced 999 × 8 % = 79.92 → 79.
    assert [(tax.tax_category, tax.net, tax.tax) for tax in invoice.taxes] == [
        (TaxCategory.STANDARD, Decimal(2010), Decimal(201)),
        (TaxCategory.REDUCED, Decimal(999), Decimal(79)),
        (TaxCategory.EXEMPT, Decimal(777), Decimal(0)),
    ]
    assert (invoice.net_total, invoice.tax_total, invoice.total) == (Decimal(3786), Decimal(280), Decimal(4066))
    up = rate(terms, rounding=TaxRounding.UP)
    assert [tax.tax for tax in up.taxes] == [Decimal(201), Decimal(80), Decimal(0)]
    half = rate(contract(component(amount=Decimal(1005)), currency="USD"), rounding=TaxRounding.HALF_UP)
    assert (half.taxes[0].tax, half.total) == (Decimal("100.50"), Decimal("1105.50"))


def test_one_invoice_per_currency():
    invoices = rate_customer(
        inputs(
            contract(component(amount=Decimal(1000))),
            contract(component(id=2, amount=Decimal("99.99")), id=11, currency="EUR"),
        ),
        tax_rounding=TaxRounding.DOWN,
    )
    assert [(invoice.currency, invoice.net_total) for invoice in invoices] == [
        ("EUR", Decimal("99.99")),
        ("JPY", Decimal(1000)),
    ]


# --- Properties -----------------------------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=500000, places=2)
days = st.integers(min_value=1, max_value=30)


@st.composite
def customer_inputs(draw):
    contracts, usages, orders = [], [], []
    next_id = iter(range(1, 10_000))
    for index in range(draw(st.integers(min_value=1, max_value=3))):
        start = D(2026, 11, draw(days)) if draw(st.booleans()) else D(2026, 1, 1)
        end = D(2026, 11, draw(st.integers(min_value=start.day if start.month == 11 else 1, max_value=30)))
        end = end if draw(st.booleans()) else None
        asset_ids = list(range(index * 10 + 1, index * 10 + 1 + draw(st.integers(min_value=0, max_value=4))))
        coverage = [
            covered(asset_id, start=D(2026, 11, draw(days)) if draw(st.booleans()) else D(2026, 1, 1))
            for asset_id in asset_ids
        ]
        components = []
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            kind = draw(st.sampled_from([ComponentKind.FIXED_FEE, ComponentKind.ASSET_FEE, ComponentKind.METER_CHARGE]))
            tiers = ()
            if kind == ComponentKind.METER_CHARGE and draw(st.booleans()):
                tiers = (Tier(Decimal(draw(st.integers(0, 5000))), draw(st.decimals(0, 5, places=4))),)
            components.append(
                component(
                    kind,
                    id=next(next_id),
                    amount=draw(st.decimals(min_value=0, max_value=100000, places=4)),
                    allowance=Decimal(draw(st.integers(0, 20000))),
                    allowance_scope=draw(st.sampled_from(list(AllowanceScope))),
                    tier_mode=draw(st.sampled_from(list(TierMode))),
                    minimum_charge=draw(money),
                    tax_category=draw(st.sampled_from(list(TaxCategory))),
                    tiers=tiers,
                )
            )
        terms = contract(
            *components,
            id=100 + index,
            start_date=start,
            end_date=end,
            coverage=coverage,
            currency=draw(st.sampled_from(["JPY", "EUR"])),
            credit_percent_per_breach=Decimal(draw(st.integers(0, 10))),
            credit_cap_percent=Decimal(draw(st.integers(0, 30))),
        )
        contracts.append(terms)
        for component_terms in components:
            if component_terms.kind == ComponentKind.METER_CHARGE:
                for asset_id, start_at, end_at in usage_intervals(terms, component_terms, NOV):
                    if draw(st.booleans()):
                        usages.append(usage(asset_id, draw(st.integers(0, 50000)), start=start_at, end=end_at))
        for asset_id in asset_ids:
            if draw(st.booleans()):
                orders.append(work_order(next(next_id), asset_id=asset_id, first_breach_at=NOV.instant(D(2026, 11, 5))))
    return inputs(*contracts, usages=usages, work_orders=orders)


def snapshot(invoices):
    return [
        (
            invoice.currency,
            invoice.net_total,
            invoice.tax_total,
            invoice.total,
            [(tax.tax_category, tax.net, tax.tax) for tax in invoice.taxes],
            [
                (
                    line.kind,
                    line.contract_id,
                    line.component_id,
                    line.site_id,
                    line.quantity,
                    line.unit_price,
                    line.amount,
                )
                for line in invoice.lines
            ],
        )
        for invoice in invoices
    ]


@settings(max_examples=150, deadline=None)
@given(customer_inputs(), st.sampled_from(list(TaxRounding)), st.randoms(use_true_random=False))
def test_properties_of_rating(rated_inputs, rounding, shuffler: random.Random):
    invoices = rate_customer(rated_inputs, tax_rounding=rounding)
    for invoice in invoices:
        # The sum of the lines is the net total, per category and overall; total = net + tax.
        assert sum(line.amount for line in invoice.lines) == invoice.net_total
        for tax in invoice.taxes:
            assert sum(line.amount for line in invoice.lines if line.tax_category == tax.tax_category) == tax.net
        assert invoice.total == invoice.net_total + invoice.tax_total
        assert invoice.tax_total == sum(tax.tax for tax in invoice.taxes)
        places = 0 if invoice.currency == "JPY" else 2
        assert all(-line.amount.as_tuple().exponent <= places for line in invoice.lines)
        assert all(line.amount >= 0 or line.kind == LineKind.SERVICE_CREDIT for line in invoice.lines)
    # Re-rating the same input gives the same output.
    assert snapshot(rate_customer(rated_inputs, tax_rounding=rounding)) == snapshot(invoices)
    # The order of the input does not matter.
    shuffled_contracts = []
    for terms in rated_inputs.contracts:
        components, coverage = list(terms.components), list(terms.coverage)
        shuffler.shuffle(components)
        shuffler.shuffle(coverage)
        shuffled_contracts.append(dataclasses.replace(terms, components=tuple(components), coverage=tuple(coverage)))
    shuffler.shuffle(shuffled_contracts)
    orders = list(rated_inputs.work_orders)
    shuffler.shuffle(orders)
    shuffled = dataclasses.replace(
        rated_inputs,
        contracts=shuffled_contracts,
        work_orders=orders,
        usage=dict(reversed(list(rated_inputs.usage.items()))),
    )
    assert snapshot(rate_customer(shuffled, tax_rounding=rounding)) == snapshot(invoices)
