"""Monthly KPI snapshots: each closed month's figures for the whole provider, as they were reported.

The KPI pages recompute every figure from the contracts, invoices, ledger, survey answers and work orders, so a
month's gross margin moves when its ledger is built again and its service figures when a late work order lands. A
snapshot keeps what the month looked like when it was closed: per currency MRR and its movements, customers, churn
rate, ARPU, revenue, cost to serve, gross margin, LTV, usage revenue, acquisition spend and CAC (``reports.kpis``);
the month's NPS (``reports.nps``); and its service figures (``reports.service``). All are computed as the
provider's administrators see them (``fleet.tenancy.ProviderViewer``).

Celery beat runs ``kpi_snapshot_task`` daily; from ``KPI_SNAPSHOT_DAY`` of a month on (after the billing run and
the review days, once the last month's invoices are final) it takes the last month's snapshot of every provider that
has none. The unique (provider, month) constraint makes a second run, a retried task or two at once take one
snapshot. ``manage.py kpi_snapshot --month YYYY-MM [--replace]`` takes (or retakes) one by hand.
"""

import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.choices import OrganisationKind
from accounts.models import Organisation
from fleet.tenancy import ProviderViewer
from maintenance.plans import add_months
from reports import kpis, nps, service
from reports.models import KpiSnapshot

MONEY_FIGURES = (
    "mrr", "customers_start", "customers_end", "customers_new", "customers_lost", "churn_rate", "arpu", "revenue",
    "cost_to_serve", "gross_margin", "ltv", "usage_revenue", "acquisition_spend", "cac",
)  # fmt: skip
SERVICE_FIGURES = (
    "uptime", "mttr_hours", "failures", "mtbf_hours", "mcbf_pages", "first_time_fix_rate", "pm_compliance",
    "response_achievement", "resolution_achievement",
)  # fmt: skip


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


def month_figures(*, provider_id: int, month: datetime.date, now: datetime.datetime | None = None) -> dict:
    """The month's KPIs of the provider as a JSON-ready dict (decimals as strings, None where there is no figure)."""
    viewer = ProviderViewer(provider_id)
    month = month.replace(day=1)
    rows, _movements = kpis.mrr_months(user=viewer, first=month, last=month)
    currencies = {}
    for row in rows:
        figures = {name: _plain(getattr(row, name)) for name in MONEY_FIGURES}
        figures["movements"] = {kind: _plain(amount) for kind, amount in row.movements.items()}
        currencies[row.currency] = figures
    (nps_month,), _total = nps.nps_by_month(user=viewer, first=month, last=month)
    report = service.service_report(user=viewer, first=month, last=month, now=now)
    return {
        "currencies": currencies,
        "nps": {
            "answers": nps_month.answers,
            "promoters": nps_month.promoters,
            "detractors": nps_month.detractors,
            "nps": _plain(nps_month.nps),
        },
        "service": {name: _plain(getattr(report.total, name)) for name in SERVICE_FIGURES},
    }


def take_snapshot(
    *, provider_id: int, month: datetime.date, replace: bool = False, now: datetime.datetime | None = None
) -> KpiSnapshot | None:
    """The provider's snapshot of ``month``: taken when it has none (or replaced with ``replace``); None when one
    already existed and was kept."""
    now = now or timezone.now()
    month = month.replace(day=1)
    figures = month_figures(provider_id=provider_id, month=month, now=now)
    if replace:
        snapshot, _created = KpiSnapshot.objects.update_or_create(
            provider_id=provider_id, month=month, defaults={"figures": figures, "taken_at": now}
        )
        return snapshot
    try:
        with transaction.atomic():
            return KpiSnapshot.objects.create(provider_id=provider_id, month=month, figures=figures, taken_at=now)
    except IntegrityError:  # taken already, by an earlier run or one running at the same time
        return None


def snapshot_due_month(today: datetime.date) -> datetime.date | None:
    """The month whose snapshot is due on ``today``: the last one, from ``KPI_SNAPSHOT_DAY`` on."""
    if today.day < settings.KPI_SNAPSHOT_DAY:
        return None
    return add_months(today.replace(day=1), -1)


def snapshot_sweep(*, today: datetime.date | None = None) -> int:
    """Take the due month's snapshot of every active provider that has none; the number taken."""
    month = snapshot_due_month(today or timezone.localdate())
    if month is None:
        return 0
    taken = KpiSnapshot.objects.filter(month=month).values_list("provider_id", flat=True)
    providers = (
        Organisation.objects.filter(kind=OrganisationKind.PROVIDER, is_active=True)
        .exclude(pk__in=taken)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return sum(take_snapshot(provider_id=provider_id, month=month) is not None for provider_id in providers)
