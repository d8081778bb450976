"""Improvement analysis: each rule on a crafted fleet with a hand-computed answer."""

import datetime
from decimal import Decimal

import pytest

from assets.choices import AssetCategory, Ownership
from assets.tests.factories import AssetFactory, AssetModelFactory, SiteFactory
from contracts.tests.billing_helpers import at, read
from reports.analysis import (
    REALLOCATE,
    REMOVE,
    REPLACE,
    RETAIN,
    AssetFinding,
    Growth,
    analyse,
    economic_life,
    equivalent_annual_cost,
    fit_growth,
    percentile,
    reallocation_targets,
    trucks_needed,
    utilisation_class,
)
from reports.choices import CATEGORY_VIEW, CostCategory, CostSource
from reports.models import AssetMonthUsage, CostEntry
from telemetry.choices import Meter

OCTOBER = datetime.date(2025, 10, 1)
TODAY = datetime.date(2025, 11, 15)


@pytest.mark.parametrize(
    ("utilisation", "past", "expected"),
    [
        (Decimal("0.05"), False, REMOVE),
        (Decimal("0.10"), False, REALLOCATE),
        (Decimal("0.39"), True, REALLOCATE),  # an idle asset is not replaced, whatever its age
        (Decimal("0.40"), False, RETAIN),
        (Decimal("1.10"), False, RETAIN),
        (Decimal("1.11"), False, REPLACE),
        (Decimal("0.70"), True, REPLACE),
        (None, False, RETAIN),
    ],
)
def test_utilisation_classes(utilisation, past, expected):
    assert utilisation_class(utilisation, past_economic_life=past) == expected


def test_nearest_rank_percentile_and_trucks_needed():
    assert percentile(list(range(1, 21)), 95) == 19  # ceil(0.95 x 20) = the 19th value
    assert percentile([5], 95) == 5
    # 20 days: 18 need two trucks (9 to 16 hours), one needs three, one needs four; the 95th percentile is three.
    days = [Decimal(9)] * 9 + [Decimal(16)] * 9 + [Decimal(17), Decimal(25)]
    assert trucks_needed(days) == 3


def test_economic_life_minimises_the_equivalent_annual_cost():
    # Undiscounted, no residual value: a ¥100 asset whose upkeep doubles each year (10, 20, 40, 80) costs
    # 110, 130/2 = 65, 170/3 = 56.7 and 250/4 = 62.5 a year kept 1 to 4 years: the economic life is three years.
    growth = Growth(first_year=Decimal(10), rate=Decimal(1), fitted=True)
    costs = [
        equivalent_annual_cost(Decimal(100), growth, n, life_years=Decimal(0), rate=Decimal(0)) for n in (1, 2, 3, 4)
    ]
    assert [cost.quantize(Decimal("0.1")) for cost in costs] == [110, 65, Decimal("56.7"), Decimal("62.5")]
    assert economic_life(Decimal(100), growth, life_years=Decimal(0), rate=Decimal(0)) == 3


def test_discounting_and_residual_value_follow_the_formula():
    # r = 10%, C = 1,000, upkeep 100 flat, a five-year life: kept one year, the residual is 800 and
    # EAC = (1,000 - 800/1.1 + 100/1.1) x 0.1 / (1 - 1/1.1) = (1,000 - 636.36) x 1.1 = 400.
    flat = Growth(first_year=Decimal(100), rate=Decimal(0), fitted=True)
    cost = equivalent_annual_cost(Decimal(1000), flat, 1, life_years=Decimal(5), rate=Decimal("0.1"))
    assert cost.quantize(Decimal("0.01")) == Decimal("400.00")


def test_growth_is_fitted_from_monthly_costs_by_age():
    # Monthly upkeep of 100 x 1.2^(age in years) over two years: a growth of 20% a year, and a first year of
    # 12 x 100 x (1.2 - 1) / ln 1.2 = 1,316.4.
    costs = {age: Decimal(100) * Decimal("1.2") ** (Decimal(age) / 12) for age in range(24)}
    growth = fit_growth(costs)
    assert growth.fitted and growth.rate.quantize(Decimal("0.0001")) == Decimal("0.2000")
    assert growth.first_year.quantize(Decimal("0.1")) == Decimal("1316.4")


def test_too_few_months_assume_the_default_growth():
    growth = fit_growth({0: Decimal(100), 5: Decimal(300), 7: Decimal(0)})
    assert (growth.fitted, growth.first_year, growth.rate) == (False, Decimal(2400), Decimal("0.15"))


def test_an_underused_asset_is_sent_to_the_busiest_site_of_its_kind():
    def finding(pk, site, unit, utilisation, recommendation):
        return AssetFinding(
            asset_id=pk, serial_number=f"S{pk}", model="M", category="mfp", site=site, floor="", age_months=None,
            unit=unit, monthly_usage=None, rated=None, utilisation=Decimal(utilisation), annual_cost=Decimal(0),
            currency="JPY", recommendation=recommendation,
        )  # fmt: skip

    idle = finding(1, "Osaka", "page", "0.25", REALLOCATE)
    findings = [
        idle,
        finding(2, "Tokyo", "page", "0.95", RETAIN),  # Tokyo's printers: 0.95 and 0.75, 85 % on average
        finding(3, "Tokyo", "page", "0.75", RETAIN),
        finding(4, "Nagoya", "page", "0.82", RETAIN),  # busy enough, but less than Tokyo
        finding(5, "Sapporo", "page", "1.50", REMOVE),  # leaving: not counted
        finding(6, "Sendai", "hour", "1.20", REPLACE),  # trucks are another kind
        finding(7, "Kobe", "page", "0.50", RETAIN),
    ]
    truck = finding(8, "Kobe", "hour", "0.20", REALLOCATE)  # a truck goes where the trucks work hardest

    reallocation_targets([*findings, truck])

    assert (idle.reallocate_to, idle.reallocate_to_utilisation) == ("Tokyo", Decimal("0.850"))
    assert (truck.reallocate_to, truck.reallocate_to_utilisation) == ("Sendai", Decimal("1.200"))
    quiet = finding(9, "Kobe", "page", "0.30", REALLOCATE)
    reallocation_targets([quiet, finding(10, "Nara", "page", "0.79", RETAIN)])
    assert quiet.reallocate_to == ""  # no other site runs at 80 %


# --- A crafted customer ----------------------------------------------------------------------------------------


def monthly(asset, pages=None, hours=None, cost=None, month=OCTOBER):
    if pages is not None:
        AssetMonthUsage.objects.create(asset=asset, month=month, meter=Meter.TOTAL_PAGES, usage=Decimal(pages))
    if hours is not None:
        AssetMonthUsage.objects.create(asset=asset, month=month, meter=Meter.HOURS_KEY_ON, usage=Decimal(hours))
    if cost is not None:
        CostEntry.objects.create(
            customer=asset.customer, month=month, view=CATEGORY_VIEW[CostCategory.SERVICE_FEES],
            category=CostCategory.SERVICE_FEES, asset=asset, amount=Decimal(cost), currency="JPY",
            source=CostSource.ASSET, source_id=asset.pk,
        )  # fmt: skip


def test_printers_on_one_floor_are_consolidated_and_the_savings_priced(customer):
    floor = SiteFactory(customer=customer, name="Osaka", floor="3F")
    model = AssetModelFactory(category=AssetCategory.MFP, rated_monthly_volume=10000)
    light = [
        AssetFactory(customer=customer, site=floor, asset_model=model, serial_number=f"L{n}", acquisition_cost=None)
        for n in (1, 2, 3)
    ]
    busy = AssetFactory(customer=customer, site=SiteFactory(customer=customer, name="Kobe"), asset_model=model,
                        serial_number="B1", acquisition_cost=None)  # fmt: skip
    for asset, pages, cost in zip([*light, busy], (1000, 2000, 3000, 6000), (3000, 4000, 5000, 9000), strict=True):
        monthly(asset, pages=pages, cost=cost)

    analysis = analyse(customer=customer, first=OCTOBER, last=OCTOBER, today=TODAY)

    by_serial = {finding.serial_number: finding for finding in analysis.findings}
    assert analysis.consolidations == [("Osaka", "3F", ["L1", "L2"], "L3")]  # 6,000 pages fit L3's 8,000 target
    assert {serial: by_serial[serial].recommendation for serial in by_serial} == {
        "L1": REMOVE, "L2": REMOVE, "L3": RETAIN, "B1": RETAIN
    }  # fmt: skip
    assert by_serial["L1"].utilisation == Decimal("0.100") and by_serial["B1"].utilisation == Decimal("0.600")
    # Kept: L3 and B1 cost 14,000 a month for 9,000 pages. L1 costs 3,000 and its 1,000 pages cost 1,555.6 there:
    # a saving of 1,444.4 a month, 17,333 a year; L2 saves (4,000 - 3,111.1) x 12 = 10,667.
    assert (by_serial["L1"].annual_saving, by_serial["L2"].annual_saving) == (Decimal(17333), Decimal(10667))
    assert analysis.annual_saving == Decimal(28000) and analysis.payback_months == Decimal(0)


def test_the_truck_fleet_is_sized_to_the_95th_percentile_of_daily_demand(customer):
    site = SiteFactory(customer=customer, name="DC")
    model = AssetModelFactory(category=AssetCategory.FORKLIFT, rated_monthly_duty_hours=200)
    trucks = [
        AssetFactory(customer=customer, site=site, asset_model=model, serial_number=f"F{n}", acquisition_cost=None)
        for n in range(4)
    ]
    # Every day of October, F0 and F1 run 7 hours each (two trucks' demand: 14 h / 8 h, rounded up); F2 runs one
    # hour on the 1st only, F3 never.
    for index, truck in enumerate(trucks):
        for day in range(1, 32):
            hours = {0: 7 * day, 1: 7 * day, 2: 1, 3: 0}[index]
            read(truck, at(2025, 10, day, 22), hours, meter=Meter.HOURS_KEY_ON)
        read(truck, at(2025, 9, 30, 22), 0, meter=Meter.HOURS_KEY_ON)
        read(truck, at(2025, 11, 1, 1), {0: 217, 1: 217, 2: 1, 3: 0}[index], meter=Meter.HOURS_KEY_ON)
        monthly(truck, hours={0: 217, 1: 217, 2: 1, 3: 0}[index], cost=50000)

    analysis = analyse(customer=customer, first=OCTOBER, last=OCTOBER, today=TODAY)

    (demand,) = analysis.demand
    assert (demand.site, demand.trucks, demand.needed) == ("DC", 4, 2)
    recommendations = {finding.serial_number: finding.recommendation for finding in analysis.findings}
    # F0 and F1 run 217 h of a rated 200 (108.5%, within the 110% kept), the other two are the surplus.
    assert recommendations == {"F0": RETAIN, "F1": RETAIN, "F2": REMOVE, "F3": REMOVE}
    assert analysis.count(REMOVE) == 2


def test_an_asset_past_its_economic_life_is_replaced_with_its_payback(customer, site):
    model = AssetModelFactory(category=AssetCategory.MFP, rated_monthly_volume=10000)
    asset = AssetFactory(
        customer=customer, site=site, asset_model=model, ownership=Ownership.CUSTOMER_OWNED,
        acquisition_cost=Decimal(600000), expected_life_months=60, install_date=datetime.date(2019, 10, 1),
    )  # fmt: skip
    monthly(asset, pages=6000, cost=20000)
    # Upkeep (labour) of 1,000 a month in its first year, doubling every year since: fitted over six years.
    for age in range(72):
        month = datetime.date(2019 + (9 + age) // 12, (9 + age) % 12 + 1, 1)
        CostEntry.objects.create(
            customer=customer, month=month, view="provider", category=CostCategory.LABOUR, asset=asset,
            amount=Decimal(1000) * 2 ** (age // 12), currency="JPY", source=CostSource.ASSET, source_id=asset.pk,
        )  # fmt: skip

    (finding,) = analyse(customer=customer, first=OCTOBER, last=OCTOBER, today=TODAY).findings

    assert finding.recommendation == REPLACE and finding.growth.fitted
    assert finding.economic_life_years < 6 and finding.replace_by < TODAY
    assert finding.investment == Decimal(600000) and finding.annual_saving > 0
