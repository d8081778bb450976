"""Recurring-business KPIs: MRR and its movements, customers, churn rate and ARPU, per month and currency.

MRR is the contracted recurring revenue of a month, read at its last day from the contracts' own history (the
components' validity dates, the coverage dates, the contract's dates): fixed monthly fees per contract, fees per
covered asset times the assets covered that day, and the minimum charges of per-unit and outcome components (the
commitment); one-off charges and usage above the minimums are not in it. A contract counts from its start to its
end, drafts never. Between two month ends each customer's MRR (per currency) is *new* (from nothing), *expansion*
(up), *contraction* (down) or *churn* (to nothing). Customers at a month's end are those with MRR; the churn rate is
the customers lost in the month over those at its start; ARPU is MRR over the customers at the end. The gross
margin is the month's service fees in the cost ledger less its cost to serve, over the fees; LTV is ARPU × gross
margin / churn rate.

Beside MRR, not in it: the **usage revenue** of the month, what its finalised invoices billed above the
commitments (per metered or outcome component and invoice, the usage lines less the prorated minimum when they
exceed it, nothing when a top-up made up the minimum; and the saving shares), credit notes left out; and **CAC**,
the acquisition spend recorded for the month (``AcquisitionSpend``) over the customers won in it (new MRR).

Every figure is recomputed from the contracts, the invoices and the ledger, so a month reads the same whenever it
is asked (until the ledger is built again); in a fixed number of queries. ``reports.snapshots`` keeps each closed
month's figures as they were reported.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, Sum

from accounts.models import User
from contracts.choices import ComponentKind, ContractStatus
from contracts.models import Contract, ContractAsset, PriceComponent
from fleet.money import money_round
from maintenance.plans import add_months
from reports.ledger import months_from

NEW, EXPANSION, CONTRACTION, CHURN = "new", "expansion", "contraction", "churn"
MOVEMENTS = (NEW, EXPANSION, CONTRACTION, CHURN)
COMMITTED_KINDS = (ComponentKind.FIXED_FEE, ComponentKind.ASSET_FEE, ComponentKind.METER_CHARGE,
                   ComponentKind.OUTCOME_CHARGE)  # fmt: skip


def month_end(month: datetime.date) -> datetime.date:
    return add_months(month.replace(day=1), 1) - datetime.timedelta(days=1)


@dataclass(frozen=True)
class Movement:
    """One customer's MRR change between two month ends, in one currency."""

    month: datetime.date
    customer_id: int
    customer_name: str
    currency: str
    previous: Decimal
    current: Decimal
    kind: str

    @property
    def amount(self) -> Decimal:
        return self.current - self.previous


@dataclass
class MrrMonth:
    month: datetime.date
    currency: str
    mrr: Decimal = Decimal(0)
    movements: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(MOVEMENTS, Decimal(0)))
    customers_start: int = 0
    customers_end: int = 0
    customers_new: int = 0
    customers_lost: int = 0
    revenue: Decimal = Decimal(0)  # the month's service fees in the ledger (invoiced, net of credit notes)
    cost_to_serve: Decimal = Decimal(0)  # the month's provider cost to serve in the ledger
    usage_revenue: Decimal = Decimal(0)  # billed above the commitments (usage beyond minimums, saving shares)
    acquisition_spend: Decimal = Decimal(0)

    @property
    def cac(self) -> Decimal | None:
        """The month's acquisition spend over the customers won in it; None without either."""
        if not self.customers_new or not self.acquisition_spend:
            return None
        return money_round(self.acquisition_spend / self.customers_new, self.currency)

    @property
    def gross_margin(self) -> Decimal | None:
        """The month's service fees less its cost to serve, over the fees, in percent (one decimal, half up)."""
        if self.revenue <= 0:
            return None
        margin = Decimal(100) * (self.revenue - self.cost_to_serve) / self.revenue
        return margin.quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def ltv(self) -> Decimal | None:
        """ARPU × gross margin / monthly churn rate (both as exact fractions, the result rounded to the currency):
        what a customer brings over the months they stay. None while no customer is lost, or without revenue."""
        if self.arpu is None or self.revenue <= 0 or not self.customers_lost or not self.customers_start:
            return None
        margin = (self.revenue - self.cost_to_serve) / self.revenue
        return money_round(self.arpu * margin * self.customers_start / self.customers_lost, self.currency)

    @property
    def churn_rate(self) -> Decimal | None:
        """Customers lost over customers at the start, in percent (one decimal, half up)."""
        if not self.customers_start:
            return None
        return (Decimal(100) * self.customers_lost / self.customers_start).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def arpu(self) -> Decimal | None:
        if not self.customers_end:
            return None
        return money_round(self.mrr / self.customers_end, self.currency)


def _contracts(user: User, first_end: datetime.date, last_end: datetime.date) -> list[tuple]:
    return list(
        Contract.objects.visible_to(user)
        .exclude(status=ContractStatus.DRAFT)
        .filter(start_date__lte=last_end)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=first_end))
        .order_by("pk")
        .values_list("pk", "customer_id", "customer__name", "currency", "start_date", "end_date")
    )


def customer_mrr(*, user: User, days: list[datetime.date]) -> dict[datetime.date, dict[tuple, Decimal]]:
    """Per day: each (customer, name, currency)'s MRR that day, from the contracts the user sees. Three queries."""
    contracts = _contracts(user, min(days), max(days))
    ids = [row[0] for row in contracts]
    components = defaultdict(list)
    for contract_id, kind, amount, minimum, valid_from, valid_to in (
        PriceComponent.objects.filter(contract_id__in=ids, kind__in=COMMITTED_KINDS, valid_from__lte=max(days))
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=min(days)))
        .values_list("contract_id", "kind", "amount", "minimum_charge", "valid_from", "valid_to")
    ):
        components[contract_id].append((kind, amount, minimum, valid_from, valid_to))
    coverage = defaultdict(list)
    for contract_id, start, end in (
        ContractAsset.objects.filter(contract_id__in=ids, start_date__lte=max(days))
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=min(days)))
        .values_list("contract_id", "start_date", "end_date")
    ):
        coverage[contract_id].append((start, end))
    result: dict[datetime.date, dict[tuple, Decimal]] = {}
    for day in days:
        totals: dict[tuple, Decimal] = defaultdict(Decimal)
        for contract_id, customer_id, name, currency, start, end in contracts:
            if not (start <= day and (end is None or end >= day)):
                continue
            covered = None
            for kind, amount, minimum, valid_from, valid_to in components.get(contract_id, ()):
                if not (valid_from <= day and (valid_to is None or valid_to >= day)):
                    continue
                if kind == ComponentKind.FIXED_FEE:
                    totals[(customer_id, name, currency)] += amount
                elif kind == ComponentKind.ASSET_FEE:
                    if covered is None:
                        covered = sum(
                            1 for s, e in coverage.get(contract_id, ()) if s <= day and (e is None or e >= day)
                        )
                    totals[(customer_id, name, currency)] += amount * covered
                elif minimum:
                    totals[(customer_id, name, currency)] += minimum
        result[day] = {key: money_round(value, key[2]) for key, value in totals.items() if value}
    return result


def mrr_months(*, user: User, first: datetime.date, last: datetime.date) -> tuple[list[MrrMonth], list[Movement]]:
    """Per month and currency from ``first``'s to ``last``'s: MRR, its movements and the customer counts; and every
    customer's movement (the drill-down)."""
    months = months_from(first, last)
    before = months[0] - datetime.timedelta(days=1)
    days = [before, *(month_end(month) for month in months)]
    by_day = customer_mrr(user=user, days=days)
    rows: list[MrrMonth] = []
    movements: list[Movement] = []
    for month, previous_day, day in zip(months, days[:-1], days[1:], strict=True):
        previous, current = by_day[previous_day], by_day[day]
        currencies = sorted({key[2] for key in (*previous, *current)})
        for currency in currencies:
            row = MrrMonth(month=month, currency=currency)
            row.mrr = sum((value for key, value in current.items() if key[2] == currency), Decimal(0))
            row.customers_start = sum(1 for key in previous if key[2] == currency)
            row.customers_end = sum(1 for key in current if key[2] == currency)
            for key in sorted({*previous, *current}, key=lambda key: (key[1], key[0])):
                if key[2] != currency:
                    continue
                before_value, now_value = previous.get(key, Decimal(0)), current.get(key, Decimal(0))
                if before_value == now_value:
                    continue
                kind = (
                    NEW if not before_value else CHURN if not now_value else EXPANSION if now_value > before_value
                    else CONTRACTION
                )  # fmt: skip
                row.movements[kind] += now_value - before_value
                row.customers_new += kind == NEW
                row.customers_lost += kind == CHURN
                movements.append(Movement(month, key[0], key[1], currency, before_value, now_value, kind))
            rows.append(row)
    _add_spend_months(user, rows, months)
    _margins(user, rows)
    _usage_revenue(user, rows)
    _acquisition_spend(user, rows)
    return rows, movements


def _add_spend_months(user: User, rows: list[MrrMonth], months: list[datetime.date]) -> None:
    """A month and currency with spend but no MRR still gets its row (spend without customers yet)."""
    from reports.models import AcquisitionSpend

    have = {(row.month, row.currency) for row in rows}
    for month, currency in (
        AcquisitionSpend.objects.visible_to(user)
        .filter(month__gte=months[0], month__lte=months[-1])
        .values_list("month", "currency")
        .distinct()
        .order_by()
    ):
        if (month, currency) not in have:
            rows.append(MrrMonth(month=month, currency=currency))
            have.add((month, currency))
    rows.sort(key=lambda row: (row.month, row.currency))


def _margins(user: User, rows: list[MrrMonth]) -> None:
    """Each month's revenue (service fees) and cost to serve from the ledger the user sees; one query."""
    if not rows:
        return
    from reports.choices import CostCategory, CostView
    from reports.models import CostEntry

    sums = defaultdict(Decimal)
    for values in (
        CostEntry.objects.visible_to(user)
        .filter(month__gte=rows[0].month, month__lte=rows[-1].month)
        .filter(Q(category=CostCategory.SERVICE_FEES) | Q(view=CostView.PROVIDER))
        .values("month", "currency", "view")
        .annotate(amount=Sum("amount"))
        .order_by()
    ):
        sums[(values["month"], values["currency"], values["view"])] += values["amount"]
    for row in rows:
        row.revenue = sums[(row.month, row.currency, CostView.CUSTOMER)]
        row.cost_to_serve = sums[(row.month, row.currency, CostView.PROVIDER)]


def _usage_revenue(user: User, rows: list[MrrMonth]) -> None:
    """What the finalised invoices of each month billed above the commitments; one query."""
    if not rows:
        return
    from contracts.choices import InvoiceKind, InvoiceStatus, LineKind
    from contracts.models import InvoiceLine

    by_component: dict[tuple, list] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])  # usage, top-up, min
    saving: dict[tuple, Decimal] = defaultdict(Decimal)
    lines = (
        InvoiceLine.objects.visible_to(user)
        .filter(
            invoice__kind=InvoiceKind.INVOICE,
            invoice__status=InvoiceStatus.FINALISED,
            invoice__period_start__gte=rows[0].month,
            invoice__period_start__lte=rows[-1].month,
            kind__in=(LineKind.METER_CHARGE, LineKind.OUTCOME_CHARGE, LineKind.MINIMUM_TOP_UP, LineKind.SAVING_SHARE),
        )
        .order_by()
        .values_list(
            "invoice__period_start",
            "invoice__currency",
            "invoice_id",
            "component_id",
            "kind",
            "amount",
            "component__minimum_charge",
            "detail",
        )  # fmt: skip
    )
    for month, currency, invoice_id, component_id, kind, amount, minimum, detail in lines:
        if kind == LineKind.SAVING_SHARE:
            saving[(month, currency)] += amount
            continue
        figures = by_component[(month, currency, invoice_id, component_id)]
        if kind == LineKind.MINIMUM_TOP_UP:
            figures[1] += amount
        else:
            figures[0] += amount
        if minimum and detail.get("period_days"):
            figures[2] = money_round(minimum * Decimal(detail["days"]) / Decimal(detail["period_days"]), currency)
    above: dict[tuple, Decimal] = defaultdict(Decimal, saving)
    for (month, currency, _invoice, _component), (usage, top_up, minimum) in by_component.items():
        if not top_up and usage > minimum:
            above[(month, currency)] += usage - minimum
    for row in rows:
        row.usage_revenue = above[(row.month, row.currency)]


def _acquisition_spend(user: User, rows: list[MrrMonth]) -> None:
    """Each month's recorded acquisition spend; one query."""
    if not rows:
        return
    from reports.models import AcquisitionSpend

    spend = {
        (month, currency): amount
        for month, currency, amount in AcquisitionSpend.objects.visible_to(user)
        .filter(month__gte=rows[0].month, month__lte=rows[-1].month)
        .values("month", "currency")
        .annotate(amount=Sum("amount"))
        .order_by()
        .values_list("month", "currency", "amount")
    }
    for row in rows:
        row.acquisition_spend = spend.get((row.month, row.currency), Decimal(0))
