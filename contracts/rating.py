"""Rating: a customer's contracts over one billing period become invoice lines, with every figure traceable.

The period is a calendar month in the customer's time zone (``Period``); ``D`` below is its number of days.
Dates are inclusive. The rules (DESIGN.md §4 "Contracts"), decided in detail here:

- **Which contracts.** Every contract of the customer that is not a draft and whose dates overlap the period.
  Suspension holds service, not billing: a suspended contract bills like an active one. A contract bills the
  days its dates cover; a component bills the days its validity covers within them ("its days", ``d``).
- **Fixed fee** (per contract): ``amount × d / D``. A full month is one line of quantity 1 month; a partial
  month is ``d`` days at ``amount / D`` a day.
- **Fee per covered asset**: ``amount × Σ days / D`` over the assets covered within the component's days, one
  line per site (assets on their current site). Full months count assets; partial ones count asset-days.
- **Per-unit charge on a meter** and **outcome charge** (same rules, on a pick or output meter): usage of each
  covered asset over the days it was covered, from the telemetry usage service only (``usage_for_assets``;
  start and end counters, estimated or not, resets, frozen boundaries). The allowance is prorated to
  ``allowance × d / D`` (pooled: ``d`` are the component's days; per asset: the asset's covered days), rounded
  half-up to the counter's precision. Overage: pooled ``max(0, Σ usage − allowance)``; per asset
  ``Σ max(0, usage_i − allowance_i)``. The overage is priced at ``amount`` a unit, or by the tiers: *graduated*
  prices each band of the overage at its band's rate (below the first tier at ``amount``); *volume* prices every
  unit at the rate of the band the overage reaches. One line per band used (at least one line, which carries
  the per-asset detail even at zero). The minimum charge is prorated (``minimum × d / D``, rounded to the
  currency); when the lines fall short of it, a top-up line makes up the difference. An asset without readings
  is listed with ``no_data`` and no usage: no usage is invented.
- **One-off charge**: its amount, in the period of its charge date (within the contract's days).
- **Billable work**: a completed work order marked billable, with an estimate in the invoice's currency, that no
  one-off component charges already, is charged its estimate in the period it was completed, under the
  contract covering its asset then (or none).
- **Saving share**: ``share % × max(0, baseline × d / D − the contract's other charges of the period)``; the
  other charges are its fee, usage and one-off lines, before service credits (billable work is damage, not the
  cost of the operation).
- **Service credits**: a work order on an asset the contract covers counts as one breach in the period in which
  its first breached due time falls (response or resolution); each covered asset whose uptime over its covered
  time in the period fell below the service level's target counts as one more (down intervals of its work
  orders, merged, an open one counting to the period's end). The credit is ``min(breaches × credit %, cap %)``
  of the contract's fixed and per-asset fees of the period, one negative line per tax category of those fees.
- **Rounding.** Each line's amount is rounded half-up to the currency's minor unit (JPY: yen) from the exact
  product, never from a rounded unit price. Tax is computed per tax category on the invoice's net total of that
  category and rounded once, in the provider's rounding mode (``TaxRounding``). ``total = net + tax``.
- **Grouping.** One invoice per currency. Lines are ordered by site (contract-wide lines first), then contract,
  then component, with ``position`` 1, 2, ...

Everything here but ``load_inputs`` is pure: the same inputs in any order give the same invoices.
"""

import datetime
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from operator import attrgetter

from django.db.models import Q

from contracts.choices import (
    TAX_RATES,
    AllowanceScope,
    ComponentKind,
    ContractStatus,
    LineKind,
    TaxCategory,
    TaxRounding,
    TierMode,
)
from contracts.models import Contract, ContractAsset, PriceComponent
from fleet.money import money_round
from telemetry.choices import Meter
from telemetry.models import COUNTER_DECIMAL_PLACES
from telemetry.usage import Usage, month_bounds, time_zone, usage_for_assets

ZERO = Decimal(0)
HUNDRED = Decimal(100)
UNITS_QUANTUM = Decimal(1).scaleb(-COUNTER_DECIMAL_PLACES)
PRICE_QUANTUM = Decimal("0.0001")
ROUNDING = {TaxRounding.DOWN: ROUND_DOWN, TaxRounding.HALF_UP: ROUND_HALF_UP, TaxRounding.UP: ROUND_UP}

# UN/ECE Recommendation 20 unit codes (what the e-invoice carries); the portal and PDF name them.
UNIT_MONTH = "MON"
UNIT_DAY = "DAY"
UNIT_HOUR = "HUR"
UNIT_PIECE = "C62"
HOUR_METERS = {Meter.HOURS_KEY_ON, Meter.HOURS_TRAVEL, Meter.HOURS_LIFT}
ENERGY_UNIT = "KWH"


def meter_unit(meter: str) -> str:
    if meter in HOUR_METERS:
        return UNIT_HOUR
    if meter == Meter.ENERGY_KWH:
        return ENERGY_UNIT
    return UNIT_PIECE


# --- Inputs -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A calendar month in a time zone: first and last day, the number of days, and the instants that bound it."""

    year: int
    month: int
    tz_name: str
    first: datetime.date
    last: datetime.date
    days: int
    start_at: datetime.datetime
    end_at: datetime.datetime

    @classmethod
    def of(cls, year: int, month: int, tz_name: str) -> "Period":
        start_at, end_at = month_bounds(year, month, tz_name)
        first = start_at.date()
        last = (end_at - datetime.timedelta(days=1)).date()
        return cls(year, month, tz_name, first, last, (last - first).days + 1, start_at, end_at)

    def instant(self, day: datetime.date) -> datetime.datetime:
        """Midnight at the start of ``day`` in the period's time zone."""
        return _midnight(day, self.tz_name)

    def day_of(self, moment: datetime.datetime) -> datetime.date:
        return moment.astimezone(time_zone(self.tz_name)).date()


@functools.lru_cache(maxsize=4096)
def _midnight(day: datetime.date, tz_name: str) -> datetime.datetime:
    # A run asks for the same few dozen days of a month hundreds of thousands of times.
    return datetime.datetime.combine(day, datetime.time(), tzinfo=time_zone(tz_name))


@dataclass(frozen=True)
class Tier:
    from_units: Decimal
    rate: Decimal


@dataclass(frozen=True)
class Component:
    id: int
    kind: str
    name: str
    amount: Decimal
    meter: str
    allowance: Decimal
    allowance_scope: str
    tier_mode: str
    minimum_charge: Decimal
    share_percent: Decimal | None
    charge_date: datetime.date | None
    work_order_id: int | None
    tax_category: str
    valid_from: datetime.date
    valid_to: datetime.date | None
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True)
class Coverage:
    asset_id: int
    site_id: int
    start_date: datetime.date
    end_date: datetime.date | None


@dataclass(frozen=True)
class ContractTerms:
    id: int
    number: str
    title: str
    currency: str
    start_date: datetime.date
    end_date: datetime.date | None
    billing_day: int
    payment_terms_days: int
    credit_percent_per_breach: Decimal
    credit_cap_percent: Decimal
    baseline_monthly_cost: Decimal | None
    uptime_target_percent: Decimal | None
    components: tuple[Component, ...]
    coverage: tuple[Coverage, ...]


@dataclass(frozen=True)
class WorkOrderFacts:
    """What rating needs of a work order: billable work, breaches and down time."""

    id: int
    number: str
    asset_id: int | None
    site_id: int
    currency: str
    billable: bool
    estimate_amount: Decimal | None
    completed_at: datetime.datetime | None
    first_breach_at: datetime.datetime | None
    down_from: datetime.datetime | None
    down_until: datetime.datetime | None


@dataclass
class CustomerInputs:
    """Everything rating reads for one customer and period; ``usage`` maps (asset, meter, start, end) to usage."""

    customer_id: int
    period: Period
    contracts: list[ContractTerms]
    work_orders: list[WorkOrderFacts]
    usage: dict[tuple[int, str, datetime.datetime, datetime.datetime], Usage]
    charged_work_order_ids: frozenset[int] = frozenset()


# --- Outputs ------------------------------------------------------------------------------------------------------


@dataclass
class RatedAsset:
    asset_id: int
    days: int
    meter: str = ""
    usage: Usage | None = None
    usage_total: Decimal = ZERO
    allowance: Decimal = ZERO
    overage: Decimal = ZERO
    resets: int = 0
    no_data: bool = False
    intervals: list[Usage] = field(default_factory=list)


@dataclass
class RatedLine:
    kind: str
    currency: str
    contract_id: int | None
    component_id: int | None
    site_id: int | None
    work_order_id: int | None
    description: str
    service_start: datetime.date
    service_end: datetime.date
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    tax_category: str
    detail: dict = field(default_factory=dict)
    assets: list[RatedAsset] = field(default_factory=list)


@dataclass(frozen=True)
class TaxTotal:
    tax_category: str
    rate: Decimal
    net: Decimal
    tax: Decimal


@dataclass
class RatedInvoice:
    customer_id: int
    currency: str
    period: Period
    lines: list[RatedLine]
    taxes: list[TaxTotal]
    net_total: Decimal
    tax_total: Decimal
    total: Decimal
    payment_terms_days: int
    billing_day: int


# --- Rating -------------------------------------------------------------------------------------------------------


def rate_customer(inputs: CustomerInputs, *, tax_rounding: str) -> list[RatedInvoice]:
    """The invoices (one per currency with lines) of one customer for the period, rated by the module's rules."""
    period = inputs.period
    by_currency: dict[str, list[RatedLine]] = defaultdict(list)
    terms_of: dict[str, list[ContractTerms]] = defaultdict(list)
    charged = set(inputs.charged_work_order_ids)
    contracts = sorted(inputs.contracts, key=lambda contract: contract.id)
    for contract in contracts:
        terms_of[contract.currency].append(contract)
        by_currency[contract.currency].extend(_rate_contract(contract, inputs, charged))
    for line in _billable_work(contracts, inputs, charged):
        by_currency[line.currency].append(line)
    invoices = []
    for currency in sorted(by_currency):
        lines = by_currency[currency]
        if not lines:
            continue
        lines.sort(key=_line_order)
        taxes = tax_totals(lines, currency=currency, tax_rounding=tax_rounding)
        net = sum((tax.net for tax in taxes), ZERO)
        tax = sum((tax.tax for tax in taxes), ZERO)
        terms = terms_of.get(currency) or contracts
        invoices.append(
            RatedInvoice(
                customer_id=inputs.customer_id,
                currency=currency,
                period=period,
                lines=lines,
                taxes=taxes,
                net_total=net,
                tax_total=tax,
                total=net + tax,
                payment_terms_days=min(contract.payment_terms_days for contract in terms),
                billing_day=min(contract.billing_day for contract in terms),
            )
        )
    return invoices


def tax_totals(lines: Iterable[RatedLine], *, currency: str, tax_rounding: str) -> list[TaxTotal]:
    """Tax per category on the category's net total, rounded once per category (Japan's qualified-invoice rule)."""
    nets: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        nets[line.tax_category] += line.amount
    totals = []
    for category in sorted(nets, key=lambda name: (-TAX_RATES[name], name)):
        rate = TAX_RATES[category]
        tax = money_round(nets[category] * rate / HUNDRED, currency, ROUNDING[TaxRounding(tax_rounding)])
        totals.append(TaxTotal(category, rate, nets[category], tax))
    return totals


def _line_order(line: RatedLine):
    return (line.site_id is not None, line.site_id or 0, line.contract_id or 0, line.component_id or 0, line.kind)


def _overlap(first: datetime.date, last: datetime.date | None, period_first, period_last):
    """The inclusive overlap of [first, last] (open when ``last`` is None) with the period's days, or None."""
    start = max(first, period_first)
    end = min(last or period_last, period_last)
    return (start, end) if start <= end else None


def _days(span) -> int:
    return (span[1] - span[0]).days + 1


def _rate_contract(contract: ContractTerms, inputs: CustomerInputs, charged: set[int]) -> list[RatedLine]:
    period = inputs.period
    contract_span = _overlap(contract.start_date, contract.end_date, period.first, period.last)
    if contract_span is None:
        return []
    lines: list[RatedLine] = []
    shares = []
    for component in sorted(contract.components, key=lambda component: (component.valid_from, component.id)):
        if component.kind == ComponentKind.ONE_OFF:
            if component.charge_date and contract_span[0] <= component.charge_date <= contract_span[1]:
                lines.append(_one_off(contract, component))
                if component.work_order_id:
                    charged.add(component.work_order_id)
            continue
        span = _overlap(component.valid_from, component.valid_to, *contract_span)
        if span is None:
            continue
        if component.kind == ComponentKind.FIXED_FEE:
            lines.append(_fixed_fee(contract, component, span, period))
        elif component.kind == ComponentKind.ASSET_FEE:
            lines.extend(_asset_fees(contract, component, span, period))
        elif component.kind in (ComponentKind.METER_CHARGE, ComponentKind.OUTCOME_CHARGE):
            lines.extend(_metered(contract, component, span, inputs))
        elif component.kind == ComponentKind.SAVING_SHARE:
            shares.append((component, span))
    for component, span in shares:
        lines.append(_saving_share(contract, component, span, period, lines))
    lines.extend(_service_credits(contract, contract_span, inputs, lines))
    return lines


def _line(contract: ContractTerms, component: Component | None, **values) -> RatedLine:
    values.setdefault("detail", {})
    return RatedLine(
        currency=contract.currency,
        contract_id=contract.id,
        component_id=component.id if component else None,
        tax_category=values.pop("tax_category", component.tax_category if component else TaxCategory.STANDARD),
        **values,
    )


def _prorated_quantity(days: int, period_days: int, per_month: Decimal, units: int = 1):
    """(quantity, unit, unit price) of a monthly price over ``days`` (× ``units``): whole months, or days."""
    if days == period_days * units:
        return Decimal(units), UNIT_MONTH, per_month
    return Decimal(days), UNIT_DAY, (per_month / period_days).quantize(PRICE_QUANTUM, ROUND_HALF_UP)


def _fixed_fee(contract, component, span, period) -> RatedLine:
    days = _days(span)
    quantity, unit, unit_price = _prorated_quantity(days, period.days, component.amount)
    return _line(
        contract,
        component,
        kind=LineKind.FIXED_FEE,
        site_id=None,
        work_order_id=None,
        description=component.name,
        service_start=span[0],
        service_end=span[1],
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        amount=money_round(component.amount * days / period.days, contract.currency),
        detail={"days": days, "period_days": period.days, "monthly": str(component.amount)},
    )


def _covered_days(contract: ContractTerms, span) -> dict[int, tuple[int, list]]:
    """For each asset covered within ``span``: its site, and the inclusive day ranges it was covered."""
    covered: dict[int, tuple[int, list]] = {}
    for coverage in sorted(contract.coverage, key=attrgetter("asset_id", "start_date")):
        overlap = _overlap(coverage.start_date, coverage.end_date, *span)
        if overlap is None:
            continue
        covered.setdefault(coverage.asset_id, (coverage.site_id, []))[1].append(overlap)
    return covered


def _asset_fees(contract, component, span, period) -> list[RatedLine]:
    covered = _covered_days(contract, span)
    by_site: dict[int, list[RatedAsset]] = defaultdict(list)
    for asset_id, (site_id, ranges) in sorted(covered.items()):
        by_site[site_id].append(RatedAsset(asset_id=asset_id, days=sum(_days(r) for r in ranges)))
    lines = []
    for site_id in sorted(by_site):
        assets = by_site[site_id]
        asset_days = sum(asset.days for asset in assets)
        quantity, unit, unit_price = _prorated_quantity(asset_days, period.days, component.amount, len(assets))
        lines.append(
            _line(
                contract,
                component,
                kind=LineKind.ASSET_FEE,
                site_id=site_id,
                work_order_id=None,
                description=component.name,
                service_start=span[0],
                service_end=span[1],
                quantity=quantity,
                unit=unit,
                unit_price=unit_price,
                amount=money_round(component.amount * asset_days / period.days, contract.currency),
                detail={
                    "assets": len(assets),
                    "asset_days": asset_days,
                    "period_days": period.days,
                    "monthly": str(component.amount),
                },
                assets=assets,
            )
        )
    return lines


def _units(value: Decimal) -> Decimal:
    return value.quantize(UNITS_QUANTUM, ROUND_HALF_UP)


def usage_intervals(contract: ContractTerms, component: Component, period: Period):
    """The (asset, start instant, end instant) intervals a metered component reads usage over in the period."""
    span = _overlap(contract.start_date, contract.end_date, period.first, period.last)
    if span is None:
        return []
    span = _overlap(component.valid_from, component.valid_to, *span)
    if span is None:
        return []
    instants: dict[tuple, tuple] = {}  # most assets share a range: the contract's whole span
    intervals = []
    for asset_id, (_site, ranges) in _covered_days(contract, span).items():
        for day_range in ranges:
            if day_range not in instants:
                first, last = day_range
                instants[day_range] = (period.instant(first), period.instant(last + datetime.timedelta(days=1)))
            intervals.append((asset_id, *instants[day_range]))
    return intervals


def _metered(contract, component, span, inputs: CustomerInputs) -> list[RatedLine]:
    period = inputs.period
    days = _days(span)
    assets = []
    for asset_id, (_site_id, ranges) in sorted(_covered_days(contract, span).items()):
        asset = RatedAsset(asset_id=asset_id, days=sum(_days(r) for r in ranges), meter=component.meter)
        for first, last in ranges:
            key = (asset_id, component.meter, period.instant(first), period.instant(last + datetime.timedelta(days=1)))
            usage = inputs.usage.get(key)
            if usage is None:
                asset.no_data = True
                continue
            asset.intervals.append(usage)
            asset.usage_total += usage.usage
            asset.resets += usage.resets
        asset.usage = asset.intervals[0] if len(asset.intervals) == 1 else None
        assets.append(asset)
    usage_total = sum((asset.usage_total for asset in assets), ZERO)
    if component.allowance_scope == AllowanceScope.PER_ASSET:
        for asset in assets:
            asset.allowance = _units(component.allowance * asset.days / period.days)
            asset.overage = max(ZERO, asset.usage_total - asset.allowance)
        allowance = sum((asset.allowance for asset in assets), ZERO)
        overage = sum((asset.overage for asset in assets), ZERO)
    else:
        allowance = _units(component.allowance * days / period.days)
        overage = max(ZERO, usage_total - allowance)
    kind = LineKind.METER_CHARGE if component.kind == ComponentKind.METER_CHARGE else LineKind.OUTCOME_CHARGE
    unit = meter_unit(component.meter)
    common = {
        "usage": str(usage_total),
        "allowance": str(allowance),
        "overage": str(overage),
        "allowance_scope": component.allowance_scope,
        "days": days,
        "period_days": period.days,
        "meter": component.meter,
    }
    lines = []
    for band_from, band_to, quantity, rate in price_bands(overage, component):
        lines.append(
            _line(
                contract,
                component,
                kind=kind,
                site_id=None,
                work_order_id=None,
                description=component.name,
                service_start=span[0],
                service_end=span[1],
                quantity=quantity,
                unit=unit,
                unit_price=rate,
                amount=money_round(quantity * rate, contract.currency),
                detail={
                    **common,
                    "band_from": str(band_from),
                    "band_to": None if band_to is None else str(band_to),
                    "tier_mode": component.tier_mode if component.tiers else "",
                },
            )
        )
    lines[0].assets = assets
    minimum = money_round(component.minimum_charge * days / period.days, contract.currency)
    charged = sum((line.amount for line in lines), ZERO)
    if charged < minimum:
        lines.append(
            _line(
                contract,
                component,
                kind=LineKind.MINIMUM_TOP_UP,
                site_id=None,
                work_order_id=None,
                description=component.name,
                service_start=span[0],
                service_end=span[1],
                quantity=Decimal(1),
                unit=UNIT_PIECE,
                unit_price=minimum - charged,
                amount=minimum - charged,
                detail={**common, "minimum": str(minimum), "charged": str(charged)},
            )
        )
    return lines


def price_bands(overage: Decimal, component: Component) -> list[tuple[Decimal, Decimal | None, Decimal, Decimal]]:
    """The bands (from, to, quantity, rate) that price ``overage`` units: always at least one band."""
    tiers = sorted(component.tiers, key=lambda tier: tier.from_units)
    if not tiers:
        return [(ZERO, None, overage, component.amount)]
    starts = [(ZERO, component.amount)] if tiers[0].from_units > 0 else []
    starts += [(tier.from_units, tier.rate) for tier in tiers]
    if component.tier_mode == TierMode.VOLUME:
        band = max((start for start in starts if start[0] <= overage), key=lambda start: start[0], default=starts[0])
        index = starts.index(band)
        band_to = starts[index + 1][0] if index + 1 < len(starts) else None
        return [(band[0], band_to, overage, band[1])]
    bands = []
    for index, (start, rate) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else None
        if overage <= start and bands:
            break
        quantity = max(ZERO, min(overage, end) - start) if end is not None else max(ZERO, overage - start)
        bands.append((start, end, quantity, rate))
    return bands


def _one_off(contract, component) -> RatedLine:
    return _line(
        contract,
        component,
        kind=LineKind.ONE_OFF,
        site_id=None,
        work_order_id=component.work_order_id,
        description=component.name,
        service_start=component.charge_date,
        service_end=component.charge_date,
        quantity=Decimal(1),
        unit=UNIT_PIECE,
        unit_price=component.amount,
        amount=money_round(component.amount, contract.currency),
    )


def _saving_share(contract, component, span, period, lines: list[RatedLine]) -> RatedLine:
    days = _days(span)
    baseline = (contract.baseline_monthly_cost or ZERO) * days / period.days
    charges = sum((line.amount for line in lines if line.contract_id == contract.id), ZERO)
    saving = max(ZERO, baseline - charges)
    percent = component.share_percent or ZERO
    exact = saving * percent / HUNDRED
    return _line(
        contract,
        component,
        kind=LineKind.SAVING_SHARE,
        site_id=None,
        work_order_id=None,
        description=component.name,
        service_start=span[0],
        service_end=span[1],
        quantity=Decimal(1),
        unit=UNIT_PIECE,
        unit_price=exact.quantize(PRICE_QUANTUM, ROUND_HALF_UP),
        amount=money_round(exact, contract.currency),
        detail={
            "baseline": str(money_round(baseline, contract.currency)),
            "charges": str(charges),
            "saving": str(money_round(saving, contract.currency)),
            "share_percent": str(percent),
            "days": days,
            "period_days": period.days,
        },
    )


def _covering(contract: ContractTerms, asset_id: int | None, day: datetime.date) -> bool:
    if asset_id is None:
        return False
    return any(
        coverage.asset_id == asset_id
        and coverage.start_date <= day
        and (coverage.end_date is None or day <= coverage.end_date)
        for coverage in contract.coverage
    )


def _down_seconds(intervals: list[tuple[datetime.datetime, datetime.datetime]]) -> float:
    total = 0.0
    current_start = current_end = None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total


def _service_credits(contract, contract_span, inputs: CustomerInputs, lines: list[RatedLine]) -> list[RatedLine]:
    period = inputs.period
    if contract.credit_percent_per_breach <= 0:
        return []
    breached = sorted(
        work_order.number
        for work_order in inputs.work_orders
        if work_order.first_breach_at is not None
        and period.start_at <= work_order.first_breach_at < period.end_at
        and _covering(contract, work_order.asset_id, period.day_of(work_order.first_breach_at))
    )
    below_target = []
    if contract.uptime_target_percent is not None:
        down: dict[int, list] = defaultdict(list)
        for work_order in inputs.work_orders:
            if work_order.asset_id is None or work_order.down_from is None:
                continue
            down[work_order.asset_id].append((work_order.down_from, work_order.down_until or period.end_at))
        for asset_id, (_site, ranges) in sorted(_covered_days(contract, contract_span).items()):
            if asset_id not in down:
                continue
            covered = down_total = 0.0
            for first, last in ranges:
                start, end = period.instant(first), period.instant(last + datetime.timedelta(days=1))
                covered += (end - start).total_seconds()
                clipped = [(max(a, start), min(b, end)) for a, b in down[asset_id] if a < end and b > start]
                down_total += _down_seconds(clipped)
            uptime = Decimal(1) - Decimal(str(down_total)) / Decimal(str(covered))
            if uptime * HUNDRED < contract.uptime_target_percent:
                below_target.append(asset_id)
    breaches = len(breached) + len(below_target)
    if not breaches:
        return []
    percent = min(breaches * contract.credit_percent_per_breach, contract.credit_cap_percent)
    fees: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        if line.contract_id == contract.id and line.kind in (LineKind.FIXED_FEE, LineKind.ASSET_FEE):
            fees[line.tax_category] += line.amount
    credits = []
    for category in sorted(fees):
        if fees[category] <= 0 or percent <= 0:
            continue
        amount = -money_round(fees[category] * percent / HUNDRED, contract.currency)
        credits.append(
            _line(
                contract,
                None,
                kind=LineKind.SERVICE_CREDIT,
                site_id=None,
                work_order_id=None,
                description=contract.title,
                service_start=contract_span[0],
                service_end=contract_span[1],
                quantity=Decimal(1),
                unit=UNIT_PIECE,
                unit_price=amount,
                amount=amount,
                tax_category=category,
                detail={
                    "breached_work_orders": breached,
                    "assets_below_uptime": below_target,
                    "breaches": breaches,
                    "percent_per_breach": str(contract.credit_percent_per_breach),
                    "cap_percent": str(contract.credit_cap_percent),
                    "percent": str(percent),
                    "fees": str(fees[category]),
                },
            )
        )
    return credits


def _billable_work(contracts: Sequence[ContractTerms], inputs: CustomerInputs, charged: set[int]) -> list[RatedLine]:
    period = inputs.period
    currencies = {contract.currency for contract in contracts}
    lines = []
    for work_order in sorted(inputs.work_orders, key=lambda row: row.id):
        if (
            not work_order.billable
            or work_order.id in charged
            or work_order.estimate_amount is None
            or work_order.completed_at is None
            or not period.start_at <= work_order.completed_at < period.end_at
            or work_order.currency not in currencies
        ):
            continue
        day = period.day_of(work_order.completed_at)
        contract = next(
            (
                contract
                for contract in contracts
                if contract.currency == work_order.currency and _covering(contract, work_order.asset_id, day)
            ),
            None,
        )
        amount = money_round(work_order.estimate_amount, work_order.currency)
        lines.append(
            RatedLine(
                kind=LineKind.BILLABLE_WORK,
                currency=work_order.currency,
                contract_id=contract.id if contract else None,
                component_id=None,
                site_id=work_order.site_id,
                work_order_id=work_order.id,
                description=work_order.number,
                service_start=day,
                service_end=day,
                quantity=Decimal(1),
                unit=UNIT_PIECE,
                unit_price=amount,
                amount=amount,
                tax_category=TaxCategory.STANDARD,
                detail={"work_order": work_order.number},
            )
        )
    return lines


# --- Loading ------------------------------------------------------------------------------------------------------


def billable_contracts(customer_ids: Sequence[int], first: datetime.date, last: datetime.date):
    """Contracts of these customers that bill some day of [first, last]: not drafts, dates overlapping."""
    return (
        Contract.objects.filter(customer_id__in=customer_ids, start_date__lte=last)
        .exclude(status=ContractStatus.DRAFT)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=first))
    )


def load_inputs(
    *, customers: Sequence, year: int, month: int, now: datetime.datetime | None = None
) -> list[CustomerInputs]:
    """The rating inputs of several customers for one month, in a number of queries that does not grow with them.

    ``customers`` are ``Organisation`` rows (their ``time_zone`` sets the period). Usage is read once per distinct
    interval (most covered assets share the whole month) for all assets and meters of the batch.
    """
    from maintenance.models import WorkOrder

    periods = {customer.pk: Period.of(year, month, customer.time_zone) for customer in customers}
    if not periods:
        return []
    first = min(period.first for period in periods.values()) - datetime.timedelta(days=1)
    last = max(period.last for period in periods.values()) + datetime.timedelta(days=1)
    contracts = list(
        billable_contracts(list(periods), first, last).select_related("service_level").order_by("customer_id", "pk")
    )
    contract_ids = [contract.pk for contract in contracts]
    components: dict[int, list[Component]] = defaultdict(list)
    for component in (
        PriceComponent.objects.filter(contract_id__in=contract_ids)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=first), valid_from__lte=last)
        .prefetch_related("tiers")
        .order_by("pk")
    ):
        components[component.contract_id].append(
            Component(
                id=component.pk,
                kind=component.kind,
                name=component.name,
                amount=component.amount,
                meter=component.meter,
                allowance=component.allowance,
                allowance_scope=component.allowance_scope,
                tier_mode=component.tier_mode,
                minimum_charge=component.minimum_charge,
                share_percent=component.share_percent,
                charge_date=component.charge_date,
                work_order_id=component.work_order_id,
                tax_category=component.tax_category,
                valid_from=component.valid_from,
                valid_to=component.valid_to,
                tiers=tuple(Tier(tier.from_units, tier.rate) for tier in component.tiers.all()),
            )
        )
    coverage: dict[int, list[Coverage]] = defaultdict(list)
    for contract_id, asset_id, site_id, start_date, end_date in (
        ContractAsset.objects.filter(contract_id__in=contract_ids, start_date__lte=last)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=first))
        .order_by("pk")
        .values_list("contract_id", "asset_id", "asset__site_id", "start_date", "end_date")
    ):
        coverage[contract_id].append(Coverage(asset_id, site_id, start_date, end_date))
    terms: dict[int, list[ContractTerms]] = defaultdict(list)
    for contract in contracts:
        level = contract.service_level
        terms[contract.customer_id].append(
            ContractTerms(
                id=contract.pk,
                number=contract.number,
                title=contract.title,
                currency=contract.currency,
                start_date=contract.start_date,
                end_date=contract.end_date,
                billing_day=contract.billing_day,
                payment_terms_days=contract.payment_terms_days,
                credit_percent_per_breach=contract.credit_percent_per_breach,
                credit_cap_percent=contract.credit_cap_percent,
                baseline_monthly_cost=contract.baseline_monthly_cost,
                uptime_target_percent=level.uptime_target_percent if level else None,
                components=tuple(components[contract.pk]),
                coverage=tuple(coverage[contract.pk]),
            )
        )
    start_at = min(period.start_at for period in periods.values())
    end_at = max(period.end_at for period in periods.values())
    work_orders: dict[int, list[WorkOrderFacts]] = defaultdict(list)
    rows = (
        WorkOrder.objects.filter(customer_id__in=list(terms))
        .filter(
            Q(billable=True, completed_at__gte=start_at, completed_at__lt=end_at)
            | Q(response_breached=True, response_due_at__gte=start_at, response_due_at__lt=end_at)
            | Q(resolution_breached=True, resolution_due_at__gte=start_at, resolution_due_at__lt=end_at)
            | (Q(down_from__lt=end_at) & (Q(down_until__isnull=True) | Q(down_until__gt=start_at)))
        )
        .order_by("pk")
        .values_list(
            "pk",
            "customer_id",
            "number",
            "asset_id",
            "site_id",
            "currency",
            "billable",
            "estimate_amount",
            "completed_at",
            "response_breached",
            "response_due_at",
            "resolution_breached",
            "resolution_due_at",
            "down_from",
            "down_until",
        )
    )
    for (
        pk,
        customer_id,
        number,
        asset_id,
        site_id,
        currency,
        billable,
        estimate,
        completed_at,
        response_breached,
        response_due_at,
        resolution_breached,
        resolution_due_at,
        down_from,
        down_until,
    ) in rows:
        breaches = [
            due
            for breached, due in ((response_breached, response_due_at), (resolution_breached, resolution_due_at))
            if breached and due is not None
        ]
        work_orders[customer_id].append(
            WorkOrderFacts(
                id=pk,
                number=number,
                asset_id=asset_id,
                site_id=site_id,
                currency=currency,
                billable=billable,
                estimate_amount=estimate,
                completed_at=completed_at,
                first_breach_at=min(breaches) if breaches else None,
                down_from=down_from,
                down_until=down_until,
            )
        )
    charged = frozenset(
        PriceComponent.objects.filter(
            contract__customer_id__in=list(terms), kind=ComponentKind.ONE_OFF, work_order__isnull=False
        ).values_list("work_order_id", flat=True)
    )
    usage = read_usage(
        [(terms[customer_id], periods[customer_id]) for customer_id in terms],
        now=now,
    )
    return [
        CustomerInputs(
            customer_id=customer.pk,
            period=periods[customer.pk],
            contracts=terms.get(customer.pk, []),
            work_orders=work_orders.get(customer.pk, []),
            usage=usage,
            charged_work_order_ids=charged,
        )
        for customer in customers
    ]


def read_usage(
    contracts_and_periods: Iterable[tuple[list[ContractTerms], Period]], *, now: datetime.datetime | None = None
) -> dict[tuple[int, str, datetime.datetime, datetime.datetime], Usage]:
    """Usage of every metered interval of these contracts: one bulk call (three queries) per distinct
    interval."""
    wanted: dict[tuple[datetime.datetime, datetime.datetime], set[tuple[int, str]]] = {}
    for contracts, period in contracts_and_periods:
        for contract in contracts:
            for component in contract.components:
                if component.kind not in (ComponentKind.METER_CHARGE, ComponentKind.OUTCOME_CHARGE):
                    continue
                for asset_id, start_at, end_at in usage_intervals(contract, component, period):
                    wanted.setdefault((start_at, end_at), set()).add((asset_id, component.meter))
    usage = {}
    for (start_at, end_at), pairs in sorted(wanted.items()):
        found = usage_for_assets(
            asset_ids=sorted({asset_id for asset_id, _meter in pairs}),
            meters=sorted({meter for _asset_id, meter in pairs}),
            start=start_at,
            end=end_at,
            now=now,
            pairs=pairs,
        )
        for (asset_id, meter), value in found.items():
            usage[(asset_id, meter, start_at, end_at)] = value
    return usage
