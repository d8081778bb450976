"""Reads of reports: the ledger's rows and its TCO breakdowns, scoped to the user (``CostEntry.visible_to``).

A breakdown is one GROUP BY over the ledger (and, for cost per page or per operating hour, one over the monthly
usage): two queries whatever the fleet's size, no loop over rows in Python.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from assets.models import Asset, AssetModel, Site
from fleet.money import money_round
from fleet.tenancy import access_for
from reports.choices import BreakdownGroup, CostCategory, CostView
from reports.models import (
    AcquisitionSpend,
    AssetMonthUsage,
    CostEntry,
    CostRates,
    KpiSnapshot,
    ManualCost,
    NpsResponse,
    Proposal,
)
from telemetry.choices import Meter

MAX_MONTHS = 60
RANGE_INVALID = _("The first month must not be after the last.")
RANGE_TOO_LONG = _("Choose at most %(months)s months.")
VIEW_NOT_YOURS = _("Only the provider's staff who see margins see the cost to serve.")

#: The ledger column each grouping aggregates by: the group's key. Labels are looked up afterwards, for the groups
#: only (``_labels``), so that the aggregate joins no table it does not group by.
GROUP_KEYS: dict[str, str] = {
    BreakdownGroup.CATEGORY: "category",
    BreakdownGroup.ASSET: "asset_id",
    BreakdownGroup.MODEL: "asset__asset_model_id",
    BreakdownGroup.SITE: "site_id",
    BreakdownGroup.CUSTOMER: "customer_id",
    BreakdownGroup.MONTH: "month",
}
#: The same group's key in the monthly usage (``None``: cost per unit is not given for this grouping).
USAGE_GROUP_KEY: dict[str, str | None] = {
    BreakdownGroup.ASSET: "asset_id",
    BreakdownGroup.MODEL: "asset__asset_model_id",
    BreakdownGroup.CATEGORY: None,
    BreakdownGroup.SITE: None,
    BreakdownGroup.CUSTOMER: None,
    BreakdownGroup.MONTH: None,
}
QUANTITY_PLACES = Decimal("0.001")
UNIT_METERS = {Meter.TOTAL_PAGES: "page", Meter.HOURS_KEY_ON: "hour"}


def cost_entry_list(*, user: User) -> QuerySet[CostEntry]:
    """The ledger rows the user may see, with what their pages and API show."""
    return CostEntry.objects.visible_to(user).select_related("customer", "asset", "site", "contract")


def cost_rates_list(*, user: User) -> QuerySet[CostRates]:
    """The cost rates the user may see: the provider's defaults and the rates of the customers they see."""
    return CostRates.objects.visible_to(user).select_related("customer", "site")


def manual_cost_list(*, user: User) -> QuerySet[ManualCost]:
    return ManualCost.objects.visible_to(user).select_related("customer", "site", "asset", "created_by")


def acquisition_spend_list(*, user: User) -> QuerySet[AcquisitionSpend]:
    """The provider's acquisition spend, for its staff who follow KPIs."""
    return AcquisitionSpend.objects.visible_to(user).select_related("created_by")


def kpi_snapshot_list(*, user: User) -> QuerySet[KpiSnapshot]:
    """The provider's monthly KPI snapshots, for its staff who follow KPIs across every customer."""
    return KpiSnapshot.objects.visible_to(user)


def nps_answers(*, user: User) -> QuerySet[NpsResponse]:
    """The survey answers the user sees, newest first."""
    return NpsResponse.objects.visible_to(user).select_related("customer", "respondent").order_by("-answered_at", "-id")


def proposal_list(*, user: User) -> QuerySet[Proposal]:
    """The proposals the user may see (those of the customers they make proposals for)."""
    return Proposal.objects.visible_to(user).select_related("customer", "requested_by")


def may_see_cost_to_serve(user: User) -> bool:
    access = access_for(user)
    return access is not None and access.policy.sees_margins and access.is_provider_staff


@dataclass(frozen=True)
class BreakdownRow:
    """One group of a breakdown in one currency: its cost, and for assets and models the cost per page or per
    operating hour (the cost divided by the meter's usage over the same months)."""

    key: str
    label: str
    detail: str
    currency: str
    amount: Decimal
    usage: Decimal | None = None
    unit: str = ""
    cost_per_unit: Decimal | None = None


@dataclass(frozen=True)
class Breakdown:
    group_by: str
    view: str
    first: datetime.date
    last: datetime.date
    rows: list[BreakdownRow]

    def totals(self) -> dict[str, Decimal]:
        """The breakdown's total per currency."""
        totals: dict[str, Decimal] = {}
        for row in self.rows:
            totals[row.currency] = totals.get(row.currency, Decimal(0)) + row.amount
        return dict(sorted(totals.items()))


def check_range(first: datetime.date, last: datetime.date) -> None:
    if first > last:
        raise ValidationError({"to": RANGE_INVALID})
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise ValidationError({"to": RANGE_TOO_LONG % {"months": MAX_MONTHS}})


def tco_breakdown(
    *,
    user: User,
    group_by: str,
    first: datetime.date,
    last: datetime.date,
    view: str = CostView.CUSTOMER,
    customer_id: int | None = None,
    site_id: int | None = None,
    category: str | None = None,
) -> Breakdown:
    """The user's visible ledger from ``first``'s month to ``last``'s, in one view, grouped, largest first.

    Raises ``ValidationError`` for a range backwards or longer than ``MAX_MONTHS``, or the provider's view asked by
    a user who may not see it."""
    first, last = first.replace(day=1), last.replace(day=1)
    check_range(first, last)
    if view == CostView.PROVIDER and not may_see_cost_to_serve(user):
        raise ValidationError({"view": VIEW_NOT_YOURS})
    rows = CostEntry.objects.visible_to(user).filter(view=view, month__gte=first, month__lte=last)
    usage = AssetMonthUsage.objects.visible_to(user).filter(month__gte=first, month__lte=last)
    if customer_id is not None:
        rows = rows.filter(customer_id=customer_id)
        usage = usage.filter(asset__customer_id=customer_id)
    if site_id is not None:
        rows = rows.filter(site_id=site_id)
        usage = usage.filter(asset__site_id=site_id)
    if category:
        rows = rows.filter(category=category)
    key = GROUP_KEYS[group_by]
    grouped = _labelled(group_by, rows.values(key, "currency").annotate(amount=Sum("amount")).order_by())
    per_unit = _usage_by_group(usage, USAGE_GROUP_KEY[group_by])
    result = []
    for group, currency, total, label, detail in grouped:
        used, unit = per_unit.get(group, (None, ""))
        # The sum is exact on PostgreSQL; SQLite's raw cursor answers a number, read back through its text.
        amount = money_round(total if isinstance(total, Decimal) else Decimal(str(total)), currency)
        if group_by == BreakdownGroup.CATEGORY:
            label = str(CostCategory(group).label)
        elif group_by == BreakdownGroup.MONTH:
            group = label = _month_text(group)
        elif group is None:
            label = str(_("Not allocated to one"))
        result.append(
            BreakdownRow(
                key="" if group is None else str(group),
                label=label or "",
                detail=detail or "",
                currency=currency,
                amount=amount,
                usage=used,
                unit=unit,
                cost_per_unit=(amount / used).quantize(Decimal("0.0001")) if used else None,
            )
        )
    return Breakdown(group_by=group_by, view=view, first=first, last=last, rows=result)


def _usage_by_group(usage: QuerySet, key: str | None) -> dict:
    """Per group: the usage of the meter that prices it (pages, else key-on hours) and the unit's name."""
    if key is None:
        return {}
    found: dict = {}
    for values in (
        usage.filter(meter__in=list(UNIT_METERS))
        .values(key, "meter")
        .annotate(total=Sum("usage"))
        .order_by(key, "meter")
    ):
        meter, group = values["meter"], values[key]
        if group not in found or meter == Meter.TOTAL_PAGES:
            found[group] = (values["total"].quantize(QUANTITY_PLACES), UNIT_METERS[meter])
    return found


def _month_text(month) -> str:
    """A month as YYYY-MM (SQLite hands the aggregate's date back as text)."""
    return month.strftime("%Y-%m") if isinstance(month, datetime.date) else str(month)[:7]


#: Per grouping: the tables joined to the aggregated groups for their label and second line (``g.group_key``).
LABEL_JOINS: dict[str, tuple[str, str, str]] = {
    BreakdownGroup.ASSET: (
        f"LEFT JOIN {Asset._meta.db_table} a ON a.id = g.group_key LEFT JOIN {AssetModel._meta.db_table} m "
        "ON m.id = a.asset_model_id",
        "a.serial_number",
        "m.name",
    ),
    BreakdownGroup.MODEL: (f"LEFT JOIN {AssetModel._meta.db_table} m ON m.id = g.group_key", "m.name", "NULL"),
    BreakdownGroup.SITE: (f"LEFT JOIN {Site._meta.db_table} s ON s.id = g.group_key", "s.name", "NULL"),
    BreakdownGroup.CUSTOMER: (f"LEFT JOIN {Organisation._meta.db_table} o ON o.id = g.group_key", "o.name", "NULL"),
    BreakdownGroup.CATEGORY: ("", "NULL", "NULL"),
    BreakdownGroup.MONTH: ("", "NULL", "NULL"),
}


def _labelled(group_by: str, grouped: QuerySet) -> list[tuple]:
    """The aggregate's rows (key, currency, amount) with each group's label and second line, largest first: the
    scoped aggregate runs as a subquery and only its groups are joined to the tables that name them."""
    if grouped.query.is_empty():  # nothing is visible: no SQL to wrap
        return []
    sql, params = grouped.query.sql_with_params()
    joins, label, detail = LABEL_JOINS[group_by]
    wrapped = (
        f"SELECT g.group_key, g.currency, g.amount, {label}, {detail} "  # noqa: S608 - fixed SQL around the ORM's own
        f"FROM (SELECT sub.*, sub.{_column(grouped)} AS group_key FROM ({sql}) sub) g {joins} "
        "ORDER BY g.amount DESC, g.group_key, g.currency"
    )
    with connection.cursor() as cursor:
        cursor.execute(wrapped, params)
        return cursor.fetchall()


def _column(grouped: QuerySet) -> str:
    """The alias of the aggregate's group column (the first of ``values()``)."""
    return connection.ops.quote_name(next(iter(grouped.query.values_select)))


def monthly_totals(
    *,
    user: User,
    first: datetime.date,
    last: datetime.date,
    view: str,
    customer_id: int | None = None,
    site_id: int | None = None,
) -> list[tuple[datetime.date, str, Decimal]]:
    """Per month and currency, the view's total (the trend line); one query."""
    rows = CostEntry.objects.visible_to(user).filter(
        view=view, month__gte=first.replace(day=1), month__lte=last.replace(day=1)
    )
    if customer_id is not None:
        rows = rows.filter(customer_id=customer_id)
    if site_id is not None:
        rows = rows.filter(site_id=site_id)
    return [
        (values["month"], values["currency"], money_round(values["amount"], values["currency"]))
        for values in rows.values("month", "currency").annotate(amount=Sum("amount")).order_by("month", "currency")
    ]
