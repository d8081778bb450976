"""Improvement analysis of a customer's fleet: utilisation, right-sizing, replacement timing and savings.

Every figure states its method; the constants below are the assumptions a proposal prints. The analysis reads the
cost ledger and its monthly usage (``reports.ledger``) over a window of whole months, and daily key-on hours for the
forklift fleet's demand, in a fixed number of queries; the arithmetic is in ``Decimal``.

- **Utilisation**: the asset's average monthly usage in the window (pages for printers and MFPs, key-on hours for
  trucks) against its model's rated monthly volume or duty hours.
- **Class**: *remove* below ``REMOVE_BELOW`` utilisation; *reallocate* below ``REALLOCATE_BELOW`` (move it where the
  work is); *replace* when it runs above ``REPLACE_ABOVE`` or is at or past its economic life; otherwise *retain*.
- **Where to reallocate**: to the customer's other site whose assets of the same kind (printers by pages, trucks by
  key-on hours) that stay run busiest on average, provided that average reaches ``REALLOCATE_TO_ABOVE``; without
  such a site the asset is only said to be underused where it stands.
- **Consolidation** (printers): on one site and floor, devices each below ``REALLOCATE_BELOW`` whose combined volume
  fits in the busiest one at no more than ``CONSOLIDATED_TARGET`` of its rating: keep that one, remove the others.
- **Fleet size** (forklifts and reach trucks): per site and day, concurrent demand is the day's key-on hours of all
  trucks divided by ``SHIFT_HOURS``, rounded up; the fleet needed is the 95th percentile of the days (nearest rank).
  Trucks beyond it, least used first, are classed *remove*.
- **Economic life**: yearly maintenance cost (labour, parts, consumables and downtime from the ledger) fitted as
  ``m(t) = m₁ · (1 + g)^(t - 1)`` for year of age ``t`` by least squares on its logarithm; the equivalent annual cost
  of keeping the asset ``n`` years, ``EAC(n) = [C - S(n)/(1+r)^n + Σ m(t)/(1+r)^t] × r / (1 - (1+r)^-n)`` with
  ``S(n)`` the straight-line residual value over the expected life and ``r`` = ``DISCOUNT_RATE``, is lowest at the
  economic life. Assets with fewer than ``MIN_FIT_MONTHS`` months of maintenance costs use ``DEFAULT_GROWTH``.
- **Savings**: removing an asset saves its annual cost less its volume carried by the assets kept, priced at their
  average cost per unit; replacing saves the maintenance of its age less that of a new one's first year, and pays
  back its acquisition cost in ``12 × cost / saving`` months.
"""

import datetime
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from django.db.models import Sum

from accounts.models import Organisation
from assets.choices import PRINT_CATEGORIES, AssetCategory
from assets.models import Asset
from fleet.money import money_round
from reports.choices import CostCategory, CostView
from reports.models import AssetMonthUsage, CostEntry
from telemetry.choices import Meter
from telemetry.usage import month_bounds, usage_series

REMOVE_BELOW = Decimal("0.10")
REALLOCATE_BELOW = Decimal("0.40")
REPLACE_ABOVE = Decimal("1.10")
REALLOCATE_TO_ABOVE = Decimal("0.80")
CONSOLIDATED_TARGET = Decimal("0.80")
SHIFT_HOURS = Decimal(8)
DEMAND_PERCENTILE = 95
DISCOUNT_RATE = Decimal("0.05")
DEFAULT_GROWTH = Decimal("0.15")
MIN_FIT_MONTHS = 6
MAX_LIFE_YEARS = 20
WORKING_PRECISION = 16  # significant digits of the fits and discounting (money is rounded from them)
TRUCK_CATEGORIES = (AssetCategory.FORKLIFT, AssetCategory.REACH_TRUCK)  # what the fleet-size rule counts
MAINTENANCE_CATEGORIES = (CostCategory.LABOUR, CostCategory.PARTS, CostCategory.CONSUMABLES, CostCategory.DOWNTIME)
TWELVE = Decimal(12)

RETAIN, REPLACE, REALLOCATE, REMOVE = "retain", "replace", "reallocate", "remove"


# --- Pure rules (crafted fleets test these with hand-computed answers) --------------------------------------------


def utilisation_class(utilisation: Decimal | None, *, past_economic_life: bool = False) -> str:
    if utilisation is not None and utilisation < REMOVE_BELOW:
        return REMOVE
    if utilisation is not None and utilisation < REALLOCATE_BELOW:
        return REALLOCATE
    if past_economic_life or (utilisation is not None and utilisation > REPLACE_ABOVE):
        return REPLACE
    return RETAIN


def percentile(values: Sequence[Decimal | int], rank: int) -> Decimal:
    """The nearest-rank percentile: the smallest value with at least ``rank``% of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return Decimal(0)
    position = max(1, math.ceil(Decimal(rank) / 100 * len(ordered)))
    return Decimal(ordered[position - 1])


def trucks_needed(daily_hours: Sequence[Decimal]) -> int:
    """The fleet that covers the ``DEMAND_PERCENTILE`` of days' concurrent demand (hours / shift, rounded up)."""
    demand = [math.ceil(hours / SHIFT_HOURS) for hours in daily_hours]
    return int(percentile(demand, DEMAND_PERCENTILE))


@dataclass(frozen=True)
class Growth:
    """Yearly maintenance cost ``first_year`` at age one, growing by ``rate`` a year; ``fitted`` or assumed."""

    first_year: Decimal
    rate: Decimal
    fitted: bool

    def cost(self, year: int) -> Decimal:
        return self.first_year * (1 + self.rate) ** (year - 1)


def fit_growth(monthly_costs: dict[int, Decimal]) -> Growth:
    """``m(t) = m₁(1+g)^(t-1)`` fitted to maintenance costs by month of age (0-based), by least squares on
    ``ln(monthly cost)`` against age in years; costs of zero are left out (a log has none). Fewer than
    ``MIN_FIT_MONTHS`` months: the average month × 12 at ``DEFAULT_GROWTH``."""
    points = [(Decimal(age) / TWELVE, cost) for age, cost in sorted(monthly_costs.items()) if cost > 0]
    if len(points) < MIN_FIT_MONTHS:
        average = sum((cost for _age, cost in points), Decimal(0)) / len(points) if points else Decimal(0)
        return Growth(first_year=average * TWELVE, rate=DEFAULT_GROWTH, fitted=False)
    with localcontext() as context:
        context.prec = WORKING_PRECISION
        xs = [x for x, _cost in points]
        ys = [cost.ln() for _x, cost in points]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        spread = sum((x - mean_x) ** 2 for x in xs)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0
        intercept = mean_y - slope * mean_x
        # Monthly cost at age x years is e^(intercept + slope x); a year of age t spans x in [t-1, t): its cost is
        # the integral of twelve months, which for the first year is 12 e^intercept (e^slope - 1) / slope.
        monthly_at_birth = intercept.exp()
        first_year = TWELVE * monthly_at_birth * ((slope.exp() - 1) / slope if slope else Decimal(1))
        return Growth(first_year=+first_year, rate=slope.exp() - 1, fitted=True)


def equivalent_annual_costs(
    cost: Decimal, growth: Growth, *, life_years: Decimal, rate: Decimal = DISCOUNT_RATE, years: int = MAX_LIFE_YEARS
) -> list[Decimal]:
    """EAC of buying at ``cost`` and keeping the asset 1, 2, ... ``years`` years (see the module notes), each from the
    last: the discount factor and the present value of the upkeep accumulate year by year."""
    costs = []
    with localcontext() as context:
        context.prec = WORKING_PRECISION
        discount, factor, upkeep, present_upkeep = 1 + rate, Decimal(1), growth.first_year, Decimal(0)
        for kept in range(1, years + 1):
            factor *= discount
            present_upkeep += upkeep / factor
            upkeep *= 1 + growth.rate
            residual = cost * max(Decimal(0), 1 - Decimal(kept) / life_years) if life_years > 0 else Decimal(0)
            present = cost - residual / factor + present_upkeep
            costs.append(present / kept if rate == 0 else present * rate / (1 - 1 / factor))
    return costs


def equivalent_annual_cost(
    cost: Decimal, growth: Growth, years: int, *, life_years: Decimal, rate: Decimal = DISCOUNT_RATE
) -> Decimal:
    """EAC of buying at ``cost`` and keeping the asset ``years`` years."""
    return equivalent_annual_costs(cost, growth, life_years=life_years, rate=rate, years=years)[-1]


def economic_life(cost: Decimal, growth: Growth, *, life_years: Decimal, rate: Decimal = DISCOUNT_RATE) -> int:
    """The whole number of years that minimises the equivalent annual cost (the earlier one on a tie)."""
    costs = equivalent_annual_costs(cost, growth, life_years=life_years, rate=rate)
    return min(range(len(costs)), key=lambda index: (costs[index], index)) + 1


# --- The customer's analysis ----------------------------------------------------------------------------------


@dataclass
class AssetFinding:
    asset_id: int
    serial_number: str
    model: str
    category: str
    site: str
    floor: str
    age_months: int | None
    unit: str  # "page" or "hour"
    monthly_usage: Decimal | None
    rated: int | None
    utilisation: Decimal | None
    annual_cost: Decimal
    currency: str
    acquisition_cost: Decimal | None = None
    recommendation: str = RETAIN
    reason: str = ""
    economic_life_years: int | None = None
    replace_by: datetime.date | None = None
    growth: Growth | None = None
    annual_saving: Decimal = Decimal(0)
    investment: Decimal = Decimal(0)
    reallocate_to: str = ""  # the site it should move to (reallocate only)
    reallocate_to_utilisation: Decimal | None = None  # that site's average utilisation of its kind


@dataclass
class SiteDemand:
    site: str
    trucks: int
    needed: int
    days: int


@dataclass
class Analysis:
    customer: Organisation
    first: datetime.date
    last: datetime.date
    months: int
    currency: str
    findings: list[AssetFinding]
    demand: list[SiteDemand] = field(default_factory=list)
    consolidations: list[tuple[str, str, list[str], str]] = field(default_factory=list)  # site, floor, removed, kept
    costs_by_category: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def annual_saving(self) -> Decimal:
        return sum((finding.annual_saving for finding in self.findings), Decimal(0))

    @property
    def investment(self) -> Decimal:
        return sum((finding.investment for finding in self.findings), Decimal(0))

    @property
    def payback_months(self) -> Decimal | None:
        """Months of savings that repay the investment (0: nothing to invest); None when nothing is saved."""
        if self.annual_saving <= 0:
            return None
        return (self.investment * TWELVE / self.annual_saving).quantize(Decimal("0.1"))

    def count(self, recommendation: str) -> int:
        return sum(1 for finding in self.findings if finding.recommendation == recommendation)


def analyse(*, customer: Organisation, first: datetime.date, last: datetime.date, today: datetime.date) -> Analysis:
    """The improvement analysis of the customer's active assets over the months ``first``..``last`` (inclusive)."""
    first, last = first.replace(day=1), last.replace(day=1)
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    assets = list(
        Asset.objects.filter(customer=customer)
        .exclude(status="retired")
        .select_related("asset_model", "site")
        .order_by("site__name", "serial_number", "pk")
    )
    usage = _usage(assets, first, last)
    costs = _annual_costs(customer, first, last, months)
    maintenance = _maintenance_by_age(customer, assets)
    currency = customer.currency
    findings = [
        _finding(asset, usage.get(asset.pk), costs.get(asset.pk, Decimal(0)), months, currency, today)
        for asset in assets
    ]
    for finding, asset in zip(findings, assets, strict=True):
        _replacement(finding, asset, maintenance.get(asset.pk, {}), today)
    analysis = Analysis(customer=customer, first=first, last=last, months=months, currency=currency, findings=findings)
    analysis.consolidations = _consolidate(findings)
    analysis.demand = _truck_demand(customer, findings, assets, first, last)
    reallocation_targets(findings)
    _savings(analysis)
    analysis.costs_by_category = [
        (row["category"], money_round(row["amount"], currency))
        for row in CostEntry.objects.filter(
            customer=customer, view=CostView.CUSTOMER, month__gte=first, month__lte=last, currency=currency
        )
        .values("category")
        .annotate(amount=Sum("amount"))
        .order_by("-amount", "category")
    ]
    return analysis


def _usage(assets: list[Asset], first: datetime.date, last: datetime.date) -> dict[int, tuple[str, Decimal]]:
    """Per asset: its unit and total usage in the window (pages, else key-on hours)."""
    found: dict[int, tuple[str, Decimal]] = {}
    for row in (
        AssetMonthUsage.objects.filter(
            asset__in=[asset.pk for asset in assets],
            month__gte=first,
            month__lte=last,
            meter__in=[Meter.TOTAL_PAGES, Meter.HOURS_KEY_ON],
        )
        .values("asset_id", "meter")
        .annotate(total=Sum("usage"))
        .order_by("asset_id", "meter")
    ):
        unit = "page" if row["meter"] == Meter.TOTAL_PAGES else "hour"
        if row["asset_id"] not in found or unit == "page":
            found[row["asset_id"]] = (unit, row["total"])
    return found


def _annual_costs(customer: Organisation, first, last, months: int) -> dict[int, Decimal]:
    rows = (
        CostEntry.objects.filter(
            customer=customer, view=CostView.CUSTOMER, month__gte=first, month__lte=last, asset__isnull=False
        )
        .values("asset_id")
        .annotate(amount=Sum("amount"))
        .order_by()
    )
    return {row["asset_id"]: row["amount"] * TWELVE / months for row in rows}


def _maintenance_by_age(customer: Organisation, assets: list[Asset]) -> dict[int, dict[int, Decimal]]:
    installs = {asset.pk: asset.install_date for asset in assets if asset.install_date}
    by_asset: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for row in (
        CostEntry.objects.filter(customer=customer, category__in=MAINTENANCE_CATEGORIES, asset__isnull=False)
        .values("asset_id", "month")
        .annotate(amount=Sum("amount"))
        .order_by()
    ):
        installed = installs.get(row["asset_id"])
        if installed is None or row["month"] < installed.replace(day=1):
            continue
        age = (row["month"].year - installed.year) * 12 + row["month"].month - installed.month
        by_asset[row["asset_id"]][age] = row["amount"]
    return by_asset


def _finding(asset: Asset, usage, annual_cost: Decimal, months: int, currency: str, today) -> AssetFinding:
    model = asset.asset_model
    unit, total = usage or ("page" if model.category in PRINT_CATEGORIES else "hour", None)
    rated = model.rated_monthly_volume if unit == "page" else model.rated_monthly_duty_hours
    monthly = (total / months).quantize(Decimal("0.1")) if total is not None else None
    utilisation = (monthly / rated).quantize(Decimal("0.001")) if monthly is not None and rated else None
    age = None
    if asset.install_date:
        age = (today.year - asset.install_date.year) * 12 + today.month - asset.install_date.month
    return AssetFinding(
        asset_id=asset.pk,
        serial_number=asset.serial_number,
        model=model.name,
        category=model.category,
        site=asset.site.name,
        floor=asset.site.floor,
        age_months=age,
        unit=unit,
        monthly_usage=monthly,
        rated=rated,
        utilisation=utilisation,
        annual_cost=money_round(annual_cost, currency),
        currency=currency,
        acquisition_cost=asset.acquisition_cost,
    )


def _replacement(finding: AssetFinding, asset: Asset, maintenance: dict[int, Decimal], today) -> None:
    if not (asset.acquisition_cost and asset.expected_life_months and asset.install_date):
        finding.recommendation = utilisation_class(finding.utilisation)
        return
    growth = fit_growth(maintenance)
    years = economic_life(asset.acquisition_cost, growth, life_years=Decimal(asset.expected_life_months) / TWELVE)
    finding.growth = growth
    finding.economic_life_years = years
    finding.replace_by = asset.install_date.replace(year=asset.install_date.year + years)
    finding.recommendation = utilisation_class(finding.utilisation, past_economic_life=finding.replace_by <= today)


def _consolidate(findings: list[AssetFinding]) -> list[tuple[str, str, list[str], str]]:
    groups: dict[tuple[str, str], list[AssetFinding]] = defaultdict(list)
    for finding in findings:
        if finding.category in PRINT_CATEGORIES and finding.utilisation is not None and finding.rated:
            groups[(finding.site, finding.floor)].append(finding)
    plans = []
    for (site, floor), members in groups.items():
        light = [finding for finding in members if finding.utilisation < REALLOCATE_BELOW]
        if len(light) < 2:
            continue
        kept = max(light, key=lambda finding: (finding.rated, finding.monthly_usage, -finding.asset_id))
        volume = sum((finding.monthly_usage for finding in light), Decimal(0))
        if volume > kept.rated * CONSOLIDATED_TARGET:
            continue
        removed = [finding for finding in light if finding is not kept]
        for finding in removed:
            finding.recommendation = REMOVE
            finding.reason = "consolidate"
        kept.recommendation, kept.reason = RETAIN, "consolidate"
        plans.append((site, floor, [finding.serial_number for finding in removed], kept.serial_number))
    return plans


def reallocation_targets(findings: list[AssetFinding]) -> None:
    """Name the site each asset classed *reallocate* should move to: the busiest other site of its kind (by the
    average utilisation of the assets staying there) at or above ``REALLOCATE_TO_ABOVE``."""
    staying: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for finding in findings:
        if finding.recommendation in (RETAIN, REPLACE) and finding.utilisation is not None:
            staying[(finding.unit, finding.site)].append(finding.utilisation)
    busy = {key: (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.001")) for key, values in staying.items()}
    for finding in findings:
        if finding.recommendation != REALLOCATE:
            continue
        candidates = [
            (average, site)
            for (unit, site), average in busy.items()
            if unit == finding.unit and site != finding.site and average >= REALLOCATE_TO_ABOVE
        ]
        if candidates:
            average, site = min(candidates, key=lambda candidate: (-candidate[0], candidate[1]))  # busiest; by name
            finding.reallocate_to, finding.reallocate_to_utilisation = site, average


def _truck_demand(customer, findings, assets, first, last) -> list[SiteDemand]:
    trucks = [asset for asset in assets if asset.asset_model.category in TRUCK_CATEGORIES]
    if not trucks:
        return []
    start, _end = month_bounds(first.year, first.month, customer.time_zone)
    _start, end = month_bounds(last.year, last.month, customer.time_zone)
    days = []
    day = start
    while day < end:
        days.append(day)
        day = (day + datetime.timedelta(days=1, hours=2)).replace(hour=0)  # the next midnight, across DST
    days.append(end)
    series = usage_series(asset_ids=[truck.pk for truck in trucks], meters=[Meter.HOURS_KEY_ON], boundaries=days)
    by_site: dict[str, list[Asset]] = defaultdict(list)
    for truck in trucks:
        by_site[truck.site.name].append(truck)
    by_id = {finding.asset_id: finding for finding in findings}
    demand = []
    for site, site_trucks in sorted(by_site.items()):
        daily = [Decimal(0)] * (len(days) - 1)
        for truck in site_trucks:
            for index, period in enumerate(series.get((truck.pk, Meter.HOURS_KEY_ON), [])):
                if period is not None:
                    daily[index] += period.usage
        reported = [hours for hours in daily if hours > 0]
        if not reported:
            continue
        needed = trucks_needed(reported)
        demand.append(SiteDemand(site=site, trucks=len(site_trucks), needed=needed, days=len(reported)))
        surplus = sorted(
            (by_id[truck.pk] for truck in site_trucks),
            key=lambda finding: (finding.utilisation is not None, finding.utilisation or 0, finding.asset_id),
        )[: max(0, len(site_trucks) - needed)]
        for finding in surplus:
            finding.recommendation, finding.reason = REMOVE, "fleet size"
    return demand


def _savings(analysis: Analysis) -> None:
    """Annual savings and investment per finding (see the module notes), in the customer's currency."""
    kept_cost: dict[str, Decimal] = defaultdict(Decimal)
    kept_usage: dict[str, Decimal] = defaultdict(Decimal)
    for finding in analysis.findings:
        if finding.recommendation != REMOVE and finding.monthly_usage:
            kept_cost[finding.unit] += finding.annual_cost
            kept_usage[finding.unit] += finding.monthly_usage * TWELVE
    for finding in analysis.findings:
        if finding.recommendation == REMOVE:
            carried = Decimal(0)
            if finding.monthly_usage and kept_usage[finding.unit]:
                carried = finding.monthly_usage * TWELVE * kept_cost[finding.unit] / kept_usage[finding.unit]
            finding.annual_saving = money_round(max(finding.annual_cost - carried, Decimal(0)), analysis.currency)
        elif finding.recommendation == REPLACE and finding.growth is not None and finding.age_months is not None:
            year_of_age = finding.age_months // 12 + 1
            saving = finding.growth.cost(year_of_age) - finding.growth.cost(1)
            if saving > 0:
                finding.annual_saving = money_round(saving, analysis.currency)
                finding.investment = money_round(finding.acquisition_cost or Decimal(0), analysis.currency)
