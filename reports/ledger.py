"""The cost ledger: each customer's costs per asset and month, computed from their sources (DESIGN.md §4).

``build_ledger(customer=..., year=..., month=...)`` replaces the customer's month in one transaction, in a fixed
number of queries whatever the fleet's size, so running it again (a retried task, the daily sweep) gives the same
rows. Every entry names its source row. The rules, each with its method:

Customer TCO (``CostView.CUSTOMER``):
- **Service fees**: the lines of the customer's finalised invoices of the month (net of tax: the tax is recovered),
  credit notes negative. A line that lists assets (its per-asset detail) is split between them by their usage when
  it has any, else by their days covered; a line of billable work goes to the work order's asset; a contract's
  other lines (its flat fee, a credit note's lines) are split between the assets the contract covered in the
  line's service dates, by days covered; what is left (charges under no contract) stays on its site, with no
  asset. Splits are rounded to the currency's minor unit by the largest remainder, so each line's shares add up to
  the line, to the yen.
- **Depreciation** of customer-owned assets and **lease payments** of assets the customer leases from a third
  party: the acquisition cost spread straight-line over the expected life from the month of installation; month
  ``k`` of ``n`` carries ``round(cost × k / n) - round(cost × (k - 1) / n)``, so the months add up to the cost.
- **Energy**: the month's kWh meter, else key-on hours × the model's power draw; priced at the site's energy price
  (``CostRates``: the site's, else the customer's, else the provider's).
- **Downtime**: the hours of each work order's down interval inside the month (an interval still open counts up to
  now), at the customer's downtime cost per hour (``CostRates`` as above).
- **Other costs**: what was entered by hand for the month (``ManualCost``), as entered.

Provider cost to serve (``CostView.PROVIDER``, seen by provider admins and account managers only):
- **Labour**: hours logged in the month × the entry's rate (else the customer's or provider's labour rate).
- **Parts**: parts added to work orders in the month × their unit cost (else the part type's).
- **Consumables**: supply orders shipped in the month × quantity × the part type's unit cost.
- **Depreciation of provider-owned assets** (rentals, full-maintenance leases), straight-line as above.

Costs with no rate or no price (an asset without acquisition cost, a site without an energy price) are left out, and
``LedgerSummary.skipped`` counts them by reason: a figure the provider has not priced is not a zero cost.
"""

import datetime
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.choices import OrganisationKind
from accounts.models import Organisation
from assets.choices import Ownership
from assets.models import Asset
from contracts.choices import InvoiceKind, InvoiceStatus
from contracts.models import ContractAsset, InvoiceLine, InvoiceLineAsset
from fleet.money import minor_units, money_round
from maintenance.choices import SupplyOrderStatus
from maintenance.models import SupplyOrder, WorkOrder, WorkOrderLabour, WorkOrderPart
from maintenance.plans import add_months
from maintenance.work import labour_rate
from reports.choices import CATEGORY_VIEW, CostCategory, CostSource
from reports.models import AssetMonthUsage, CostEntry, CostRates, ManualCost
from telemetry.choices import Meter
from telemetry.usage import month_bounds, usage_for_assets

#: The meters whose monthly usage the ledger keeps: pages for cost per page, key-on hours for cost per operating
#: hour (and energy from power draw), kWh for energy.
USAGE_METERS = (Meter.TOTAL_PAGES, Meter.HOURS_KEY_ON, Meter.ENERGY_KWH)
ASSET_COST_CATEGORY = {
    Ownership.CUSTOMER_OWNED: CostCategory.DEPRECIATION,
    Ownership.LEASE: CostCategory.LEASE,
    Ownership.RENTAL: CostCategory.PROVIDER_DEPRECIATION,
    Ownership.FULL_MAINTENANCE_LEASE: CostCategory.PROVIDER_DEPRECIATION,
}
HOUR = Decimal(3600)
QUANTITY_PLACES = Decimal("0.001")


@dataclass
class LedgerSummary:
    """What one build wrote: entries and usage rows, and the costs it could not price, by reason."""

    customer_id: int
    month: datetime.date
    entries: int = 0
    usage_rows: int = 0
    skipped: Counter = field(default_factory=Counter)


def month_start(year: int, month: int) -> datetime.date:
    return datetime.date(year, month, 1)


def months_from(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    """The first days of the months from ``first``'s to ``last``'s, inclusive."""
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def months_between(first: datetime.date, last: datetime.date) -> int:
    """Whole months from ``first``'s month to ``last``'s (0 for the same month)."""
    return (last.year - first.year) * 12 + last.month - first.month


def allocate(amount: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """``amount`` split in proportion to ``weights`` (equally when they add up to nothing), each share rounded to
    the currency's minor unit so that the shares add up to ``amount`` exactly: every share is first rounded down,
    then the units left go one each to the shares with the largest remainders (the earlier share on a tie)."""
    if not weights:
        return []
    quantum = Decimal(1).scaleb(-minor_units(currency))
    total = sum(weights, Decimal(0))
    if total <= 0:
        weights, total = [Decimal(1)] * len(weights), Decimal(len(weights))
    exact = [amount * weight / total for weight in weights]
    shares = [share.quantize(quantum, rounding=ROUND_FLOOR) for share in exact]
    left = int((amount - sum(shares, Decimal(0))) / quantum)
    by_remainder = sorted(range(len(shares)), key=lambda index: (shares[index] - exact[index], index))
    for index in by_remainder[:left]:
        shares[index] += quantum
    return shares


def straight_line(cost: Decimal, life_months: int, month_number: int, currency: str) -> Decimal:
    """Month ``month_number`` (1-based) of a cost spread evenly over ``life_months``; nothing outside the life."""
    if not 1 <= month_number <= life_months:
        return Decimal(0)
    return money_round(cost * month_number / life_months, currency) - money_round(
        cost * (month_number - 1) / life_months, currency
    )


class _Entries:
    """The entries of one build, collected before they are written."""

    def __init__(self, customer: Organisation, month: datetime.date, skipped: Counter) -> None:
        self.customer = customer
        self.month = month
        self.rows: list[CostEntry] = []
        self.skipped = skipped

    def add_priced(
        self,
        category: str,
        quantity: Decimal,
        price: Decimal | None,
        currency: str,
        source: str,
        source_id: int,
        *,
        unpriced: str,
        **fields,
    ) -> None:
        """``quantity × price`` rounded to the currency, or, without a price, one more cost left out for
        ``unpriced`` (a reason counted in ``LedgerSummary.skipped``)."""
        if price is None:
            self.skipped[unpriced] += 1
            return
        self.add(category, money_round(quantity * price, currency), currency, source, source_id, quantity=quantity,
                 **fields)  # fmt: skip

    def add(self, category: str, amount: Decimal, currency: str, source: str, source_id: int, **fields) -> None:
        if amount == 0:
            return
        self.rows.append(
            CostEntry(
                customer=self.customer,
                month=self.month,
                view=CATEGORY_VIEW[category],
                category=category,
                amount=amount,
                currency=currency,
                source=source,
                source_id=source_id,
                **fields,
            )
        )


@transaction.atomic
def build_ledger(
    *, customer: Organisation, year: int, month: int, now: datetime.datetime | None = None
) -> LedgerSummary:
    """Replace the customer's ledger and monthly usage of the month with what their sources say now. Builds of one
    customer wait for each other (a row lock on the customer), so two at once leave one month's rows, not two."""
    list(Organisation.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True))
    now = now or timezone.now()
    first_day = month_start(year, month)
    start, end = month_bounds(year, month, customer.time_zone)
    summary = LedgerSummary(customer_id=customer.pk, month=first_day)
    entries = _Entries(customer, first_day, summary.skipped)
    assets = list(
        Asset.objects.filter(customer=customer)
        .select_related("asset_model")
        .only(
            "pk",
            "site_id",
            "ownership",
            "install_date",
            "acquisition_cost",
            "currency",
            "expected_life_months",
            "asset_model__power_draw_watts",
        )
    )
    rates = _rates(customer)
    usage = (
        usage_for_assets(
            asset_ids=[asset.pk for asset in assets], meters=USAGE_METERS, start=start, end=min(end, now), now=now
        )
        if start < now
        else {}
    )

    _service_fees(entries, customer, year, month)
    _asset_costs(entries, assets, first_day)
    _energy(entries, assets, usage, rates)
    _downtime(entries, customer, start, min(end, now), rates)
    _labour(entries, customer, first_day)
    _parts(entries, customer, start, end)
    _consumables(entries, customer, start, end)
    _manual(entries, customer, first_day)

    CostEntry.objects.filter(customer=customer, month=first_day).delete()
    CostEntry.objects.bulk_create(entries.rows, batch_size=2000)
    AssetMonthUsage.objects.filter(asset__customer=customer, month=first_day).delete()
    usage_rows = [
        AssetMonthUsage(
            asset_id=asset_id,
            month=first_day,
            meter=meter,
            usage=figure.usage,
            estimated=figure.start_estimated or figure.end_estimated,
        )
        for (asset_id, meter), figure in sorted(usage.items())
    ]
    AssetMonthUsage.objects.bulk_create(usage_rows, batch_size=2000)
    summary.entries, summary.usage_rows = len(entries.rows), len(usage_rows)
    return summary


# --- Customer TCO -------------------------------------------------------------------------------------------------


def _service_fees(entries: _Entries, customer: Organisation, year: int, month: int) -> None:
    lines = list(
        InvoiceLine.objects.filter(
            invoice__customer=customer,
            invoice__status=InvoiceStatus.FINALISED,
            invoice__year=year,
            invoice__month=month,
        )
        .order_by("pk")
        .values_list(
            "pk",
            "amount",
            "site_id",
            "contract_id",
            "work_order__asset_id",
            "service_start",
            "service_end",
            "invoice__kind",
            "invoice__currency",
        )
    )
    detail = _line_asset_weights([line[0] for line in lines])
    coverage = _coverage(
        {line[3] for line in lines if line[0] not in detail and line[3] is not None and line[4] is None},
        min((line[5] for line in lines), default=None),
        max((line[6] for line in lines), default=None),
    )
    for line_id, amount, site_id, contract_id, work_order_asset_id, first, last, kind, currency in lines:
        signed = -amount if kind == InvoiceKind.CREDIT_NOTE else amount
        fields = {"contract_id": contract_id, "source": CostSource.INVOICE_LINE, "source_id": line_id}
        weights = detail.get(line_id)
        if weights is None and work_order_asset_id is None and contract_id in coverage:
            weights = _covered_days(coverage[contract_id], first, last)
        if not weights:
            entries.add(
                CostCategory.SERVICE_FEES, signed, currency, asset_id=work_order_asset_id, site_id=site_id, **fields
            )
            continue
        assets = list(weights)
        for (asset_id, asset_site_id), share in zip(
            assets, allocate(signed, [weights[asset] for asset in assets], currency), strict=True
        ):
            entries.add(CostCategory.SERVICE_FEES, share, currency, asset_id=asset_id, site_id=asset_site_id, **fields)


def _line_asset_weights(line_ids: list[int]) -> dict[int, dict[tuple[int, int], Decimal]]:
    """Per line with a per-asset detail: each (asset, site)'s weight, its usage when the line's assets used
    anything, else its days covered."""
    usage: dict[int, dict[tuple[int, int], Decimal]] = defaultdict(dict)
    days: dict[int, dict[tuple[int, int], Decimal]] = defaultdict(dict)
    for line_id, asset_id, site_id, covered, used in (
        InvoiceLineAsset.objects.filter(line_id__in=line_ids)
        .order_by("line_id", "asset_id", "pk")
        .values_list("line_id", "asset_id", "asset__site_id", "days", "usage")
    ):
        key = (asset_id, site_id)
        usage[line_id][key] = usage[line_id].get(key, Decimal(0)) + (used or 0)
        days[line_id][key] = max(days[line_id].get(key, Decimal(0)), Decimal(covered))
    return {line_id: usage[line_id] if sum(usage[line_id].values()) > 0 else days[line_id] for line_id in days}


def _coverage(contract_ids: set[int], first: datetime.date | None, last: datetime.date | None) -> dict[int, list]:
    """The coverage rows of the contracts that overlap [first, last], per contract, in a fixed order."""
    if not contract_ids or first is None:
        return {}
    rows: dict[int, list] = defaultdict(list)
    for contract_id, asset_id, site_id, start, end in (
        ContractAsset.objects.filter(contract_id__in=contract_ids, start_date__lte=last)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=first))
        .order_by("contract_id", "asset_id", "pk")
        .values_list("contract_id", "asset_id", "asset__site_id", "start_date", "end_date")
    ):
        rows[contract_id].append((asset_id, site_id, start, end))
    return rows


def _covered_days(rows: list, first: datetime.date, last: datetime.date) -> dict[tuple[int, int], Decimal]:
    """Each covered (asset, site)'s days of coverage within [first, last] (a contract-wide line's weights)."""
    weights: dict[tuple[int, int], Decimal] = {}
    for asset_id, site_id, start, end in rows:
        days = ((min(end or last, last) - max(start, first)).days + 1) if start <= last else 0
        if days > 0:
            weights[(asset_id, site_id)] = weights.get((asset_id, site_id), Decimal(0)) + days
    return weights


def _asset_costs(entries: _Entries, assets: Iterable[Asset], first_day: datetime.date) -> None:
    for asset in assets:
        category = ASSET_COST_CATEGORY.get(asset.ownership)
        if category is None:
            continue
        if asset.acquisition_cost is None or not asset.expected_life_months or asset.install_date is None:
            entries.skipped["asset without cost, life or install date"] += 1
            continue
        month_number = months_between(asset.install_date, first_day) + 1
        amount = straight_line(asset.acquisition_cost, asset.expected_life_months, month_number, asset.currency)
        entries.add(
            category,
            amount,
            asset.currency,
            CostSource.ASSET,
            asset.pk,
            asset_id=asset.pk,
            site_id=asset.site_id,
            quantity=Decimal(month_number),
            unit="month",
        )


def _energy(entries: _Entries, assets: Iterable[Asset], usage: dict, rates: "_Rates") -> None:
    for asset in assets:
        kwh = None
        metered = usage.get((asset.pk, Meter.ENERGY_KWH))
        hours = usage.get((asset.pk, Meter.HOURS_KEY_ON))
        if metered is not None:
            kwh = metered.usage
        elif hours is not None and asset.asset_model.power_draw_watts:
            kwh = (hours.usage * asset.asset_model.power_draw_watts / 1000).quantize(QUANTITY_PLACES)
        if not kwh:
            continue
        price, currency = rates.energy(asset.site_id)
        entries.add_priced(
            CostCategory.ENERGY, kwh, price, currency, CostSource.ASSET, asset.pk,
            unpriced="energy without a price", asset_id=asset.pk, site_id=asset.site_id, unit="kWh",
        )  # fmt: skip


def _downtime(
    entries: _Entries,
    customer: Organisation,
    start: datetime.datetime,
    end: datetime.datetime,
    rates: "_Rates",
) -> None:
    if end <= start:
        return
    work_orders = (
        WorkOrder.objects.filter(customer=customer, down_from__lt=end)
        .filter(Q(down_until__isnull=True) | Q(down_until__gt=start))
        .order_by("pk")
        .values_list("pk", "asset_id", "site_id", "down_from", "down_until")
    )
    for work_order_id, asset_id, site_id, down_from, down_until in work_orders:
        seconds = (min(down_until or end, end) - max(down_from, start)).total_seconds()
        if seconds <= 0:
            continue
        hours = (Decimal(int(seconds)) / HOUR).quantize(QUANTITY_PLACES)
        price, currency = rates.downtime(site_id)
        entries.add_priced(
            CostCategory.DOWNTIME, hours, price, currency, CostSource.WORK_ORDER, work_order_id,
            unpriced="downtime without a cost per hour", asset_id=asset_id, site_id=site_id, unit="h",
        )  # fmt: skip


def _manual(entries: _Entries, customer: Organisation, first_day: datetime.date) -> None:
    for cost_id, asset_id, site_id, amount, currency in (
        ManualCost.objects.filter(customer=customer, month=first_day)
        .order_by("pk")
        .values_list("pk", "asset_id", "site_id", "amount", "currency")
    ):
        entries.add(
            CostCategory.OTHER, amount, currency, CostSource.MANUAL, cost_id, asset_id=asset_id, site_id=site_id
        )


# --- Provider cost to serve ---------------------------------------------------------------------------------------


def _labour(entries: _Entries, customer: Organisation, first_day: datetime.date) -> None:
    default_rate, default_currency = labour_rate(customer)
    next_month = add_months(first_day, 1)
    for labour_id, asset_id, site_id, hours, rate, currency in (
        WorkOrderLabour.objects.filter(work_order__customer=customer, date__gte=first_day, date__lt=next_month)
        .order_by("pk")
        .values_list("pk", "work_order__asset_id", "work_order__site_id", "hours", "rate", "currency")
    ):
        if rate is None:
            rate, currency = default_rate, default_currency
        entries.add_priced(
            CostCategory.LABOUR, hours, rate, currency, CostSource.WORK_ORDER_LABOUR, labour_id,
            unpriced="labour without a rate", asset_id=asset_id, site_id=site_id, unit="h",
        )  # fmt: skip


def _parts(
    entries: _Entries,
    customer: Organisation,
    start: datetime.datetime,
    end: datetime.datetime,
) -> None:
    for part_id, asset_id, site_id, quantity, unit_cost, currency, type_cost, type_currency in (
        WorkOrderPart.objects.filter(work_order__customer=customer, added_at__gte=start, added_at__lt=end)
        .order_by("pk")
        .values_list(
            "pk",
            "work_order__asset_id",
            "work_order__site_id",
            "quantity",
            "unit_cost",
            "currency",
            "part_type__unit_cost",
            "part_type__currency",
        )
    ):
        if unit_cost is None:
            unit_cost, currency = type_cost, type_currency
        entries.add_priced(
            CostCategory.PARTS, quantity, unit_cost, currency, CostSource.WORK_ORDER_PART, part_id,
            unpriced="part without a cost", asset_id=asset_id, site_id=site_id,
        )  # fmt: skip


def _consumables(
    entries: _Entries,
    customer: Organisation,
    start: datetime.datetime,
    end: datetime.datetime,
) -> None:
    for order_id, asset_id, site_id, quantity, unit_cost, currency in (
        SupplyOrder.objects.filter(customer=customer, shipped_at__gte=start, shipped_at__lt=end)
        .exclude(status=SupplyOrderStatus.CANCELLED)
        .order_by("pk")
        .values_list("pk", "asset_id", "site_id", "quantity", "part_type__unit_cost", "part_type__currency")
    ):
        entries.add_priced(
            CostCategory.CONSUMABLES, Decimal(quantity), unit_cost, currency, CostSource.SUPPLY_ORDER, order_id,
            unpriced="consumable without a cost", asset_id=asset_id, site_id=site_id,
        )  # fmt: skip


# --- Rates --------------------------------------------------------------------------------------------------------


class _Rates:
    """The customer's cost rates, most specific first: the site's row, the customer's, the provider's default."""

    def __init__(self, rows: list[CostRates], customer_id: int) -> None:
        self.by_site = {row.site_id: row for row in rows if row.site_id is not None}
        self.general = sorted(
            (row for row in rows if row.site_id is None), key=lambda row: row.customer_id != customer_id
        )

    def _pick(self, site_id: int | None, attribute: str) -> tuple[Decimal | None, str]:
        candidates = [self.by_site[site_id]] if site_id in self.by_site else []
        for row in [*candidates, *self.general]:
            value = getattr(row, attribute)
            if value is not None:
                return value, row.currency
        return None, ""

    def energy(self, site_id: int | None) -> tuple[Decimal | None, str]:
        return self._pick(site_id, "energy_price_per_kwh")

    def downtime(self, site_id: int | None) -> tuple[Decimal | None, str]:
        return self._pick(site_id, "downtime_cost_per_hour")


def _rates(customer: Organisation) -> _Rates:
    rows = list(
        CostRates.objects.filter(
            Q(customer=customer) | Q(provider_id=customer.provider_id, customer__isnull=True)
        ).order_by("pk")
    )
    return _Rates(rows, customer.pk)


# --- Runs ---------------------------------------------------------------------------------------------------------


def build_ledgers(*, customer_ids: Iterable[int], months: Sequence[tuple[int, int]], now=None) -> int:
    """Build each customer's ledger of each month (one transaction per customer and month); the entries written."""
    written = 0
    for customer in Organisation.objects.filter(pk__in=list(customer_ids)).order_by("pk"):
        for year, month in months:
            written += build_ledger(customer=customer, year=year, month=month, now=now).entries
    return written


def sweep_customer_ids(provider_id: int | None = None) -> list[int]:
    """The active customers whose ledgers the sweep builds (every provider's, or one's)."""
    customers = Organisation.objects.filter(kind=OrganisationKind.CUSTOMER, is_active=True)
    if provider_id is not None:
        customers = customers.filter(provider_id=provider_id)
    return list(customers.order_by("pk").values_list("pk", flat=True))


def months_back(today: datetime.date, count: int) -> list[tuple[int, int]]:
    """The ``count`` months up to and including ``today``'s, oldest first."""
    first = add_months(today.replace(day=1), 1 - count)
    return [(month.year, month.month) for month in months_from(first, today)]


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[index : index + size]) for index in range(0, len(ids), size)]
