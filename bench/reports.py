"""Benchmark of reports: the TCO breakdown of a 10,000-asset customer and a thirty-page improvement proposal.

    python -m bench.reports [--assets 10000] [--months 12] [--runs 5] [--keep] [--database-url URL]

On PostgreSQL (default postgres://postgres@127.0.0.1:5432/fleet_reportbench, created and dropped unless ``--keep``):
``generate_fleet`` makes one customer with ``--assets`` assets; its cost ledger of ``--months`` months is written in
bulk (service fees, energy and depreciation on every asset, labour on one in four, and pages or key-on hours), as
``reports.ledger`` would leave it. Then, in the same run:

1. ``tco_ms``: ``reports.selectors.tco_breakdown`` of the customer over the months, as its account manager, grouped
   by category, asset, model, site and month: the median of ``--runs`` runs per grouping; the slowest is reported
   (target: under 1 s). SQL aggregates: the rows never reach Python.
2. The proposal: ``reports.proposals.render_proposal`` of the customer (the analysis and the PDF, as the Celery task
   runs it), its pages and seconds, and the resident peak it added to the process.
   ``peak_mib`` is the process's resident peak while the proposal was analysed and rendered (the figure a worker's
   ``CELERY_WORKER_MAX_MEMORY_PER_CHILD`` is set against: WeasyPrint keeps what it used).
3. The plain document: a 2,000-row table in ``templates/pdf/base.html`` (the same fonts and styles) rendered by
   ``fleet.pdf.render_pdf``; ``per_page_vs_plain`` is the proposal's seconds per page over the plain document's
   (target: at most 1.5).
4. The service KPIs (``reports.service``) of the customer over the months, as its account manager, with every asset
   under one contract and two corrective work orders with down intervals for every other asset (written in bulk):
   the report by month and customer, per contract, and per asset; the median of ``--runs`` runs each (printed,
   no target in the issue).

The last line reads ``tco_ms=... proposal_pages=... proposal_s=... per_page_vs_plain=... peak_mib=...``.
"""

import argparse
import datetime
import io
import os
import statistics
import sys
import time

from bench.billing import proc_status_mib
from bench.forecast import drop_database, execute, peak_mib, reset_peak
from bench.lists import BENCH_PREFIX, configure

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fleet_reportbench"
TARGET_TCO_MS = 1000.0
TARGET_PER_PAGE_RATIO = 1.5
PLAIN_ROWS = 2000

PLAIN_TABLE = """{% extends "pdf/base.html" %}
{% block title %}Plain table{% endblock %}
{% block header %}<h1 class="doc-title">Plain table</h1>{% endblock %}
{% block content %}<table class="data"><thead><tr><th>No.</th><th>Serial</th><th>Model</th><th>Site</th>
<th class="num">Amount</th></tr></thead><tbody>{% for row in rows %}<tr><td>{{ row.0 }}</td><td>{{ row.1 }}</td>
<td>{{ row.2 }}</td><td>{{ row.3 }}</td><td class="num">{{ row.4 }}</td></tr>{% endfor %}</tbody></table>
{% endblock %}"""


def ensure_data(*, assets: int, months: int) -> tuple[object, datetime.date, datetime.date]:
    """The customer (generated when missing) and its ledger's first and last months."""
    from django.core.management import call_command

    from accounts.models import Organisation
    from maintenance.plans import add_months
    from reports.models import CostEntry
    from reports.proposals import default_months

    call_command("migrate", verbosity=0)
    customer = Organisation.objects.filter(code__startswith=f"{BENCH_PREFIX}-c").first()
    if customer is None:
        started = time.perf_counter()
        call_command("generate_fleet", customers=1, assets=assets, prefix=BENCH_PREFIX, stdout=io.StringIO())
        print(f"generate_fleet: {assets:,} assets of one customer in {time.perf_counter() - started:.1f} s")
        customer = Organisation.objects.get(code__startswith=f"{BENCH_PREFIX}-c")
    _first, last = default_months(datetime.date.today())  # noqa: DTZ011 - the bench's months, any zone
    first = add_months(last, 1 - months)
    if not CostEntry.objects.filter(customer=customer).exists():
        started = time.perf_counter()
        rows = write_ledger(customer.pk, first, last)
        execute("ANALYZE")
        print(f"ledger: {rows:,} rows over {months} months in {time.perf_counter() - started:.1f} s")
    count = CostEntry.objects.filter(customer=customer).count()
    assets = customer.assets.count()
    print(f"data: {assets:,} assets of {customer.name}, {count:,} ledger rows, {first:%Y-%m}..{last:%Y-%m}")
    return customer, first, last


def write_ledger(customer_id: int, first: datetime.date, last: datetime.date) -> int:
    """The customer's ledger and monthly usage, written by SQL (deterministic amounts per asset and month)."""
    rows = execute(
        """
        INSERT INTO reports_costentry (customer_id, month, view, category, asset_id, site_id, amount, currency,
                                       unit, source, source_id)
        SELECT a.customer_id, m.month::date, c.view, c.category, a.id, a.site_id,
               (c.base + (a.id * 37 + extract(month FROM m.month)::int * 101) %% c.spread)::numeric, 'JPY', '',
               'asset', a.id
        FROM assets_asset a
        CROSS JOIN generate_series(%s::date, %s::date, interval '1 month') AS m(month)
        CROSS JOIN (VALUES ('customer', 'service_fees', 8000, 12000), ('customer', 'energy', 300, 900),
                           ('customer', 'depreciation', 5000, 3000), ('provider', 'labour', 1000, 6000))
                   AS c(view, category, base, spread)
        WHERE a.customer_id = %s AND (c.category <> 'labour' OR a.id %% 4 = 0)
        """,
        [first, last, customer_id],
    )
    rows += execute(
        """
        INSERT INTO reports_assetmonthusage (asset_id, month, meter, usage, estimated)
        SELECT a.id, m.month::date,
               CASE WHEN am.category IN ('mfp', 'printer') THEN 'total_pages' ELSE 'hours_key_on' END,
               CASE WHEN am.category IN ('mfp', 'printer') THEN 500 + (a.id * 53) %% 9000
                    ELSE 10 + (a.id * 7) %% 180 END, false
        FROM assets_asset a
        JOIN assets_assetmodel am ON am.id = a.asset_model_id
        CROSS JOIN generate_series(%s::date, %s::date, interval '1 month') AS m(month)
        WHERE a.customer_id = %s
        """,
        [first, last, customer_id],
    )
    return rows


def resident_mib(field: str) -> float:
    """Resident size now (``VmRSS``) or its peak since ``reset_peak`` (``VmHWM``), in MiB."""
    return proc_status_mib(field) or peak_mib()


def account_manager(customer):
    """A provider account manager assigned to the customer (made once)."""
    from accounts.choices import Role
    from accounts.models import Membership, User

    email = "bench-manager@reports.example"
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=None)
        Membership.objects.create(user=user, organisation=customer.provider, role=Role.ACCOUNT_MANAGER)
    customer.account_managers.add(user)
    return user


def measure_tco(user, customer, first, last, runs: int) -> dict[str, float]:
    from reports.choices import BreakdownGroup
    from reports.selectors import tco_breakdown

    medians = {}
    for group in BreakdownGroup.values:
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            breakdown = tco_breakdown(user=user, group_by=group, first=first, last=last, customer_id=customer.pk)
            samples.append(1000 * (time.perf_counter() - started))
        medians[group] = statistics.median(samples)
        print(f"tco by {group}: {len(breakdown.rows):,} rows, median {medians[group]:.0f} ms of {runs}")
    return medians


def measure_proposal(user, customer, first, last) -> tuple[float, int, float]:
    from reports.models import Proposal
    from reports.proposals import render_proposal

    proposal = Proposal.objects.create(
        customer=customer, requested_by=user, language="ja", first_month=first, last_month=last
    )
    reset = reset_peak()
    before = resident_mib("VmRSS")
    started = time.perf_counter()
    status = render_proposal(proposal.pk)
    seconds = time.perf_counter() - started
    proposal.refresh_from_db()
    if status != "ready":
        sys.exit(f"the proposal failed: {proposal.error}")
    peak = resident_mib("VmHWM") if reset else peak_mib()
    print(
        f"proposal: {proposal.pages} pages, {proposal.pdf.size:,} bytes in {seconds:.2f} s "
        f"({1000 * seconds / proposal.pages:.0f} ms a page); resident peak {peak:.0f} MiB, {peak - before:+.0f} MiB "
        f"over the process before it; summary {proposal.summary}"
    )
    return seconds, proposal.pages, peak


def measure_plain() -> tuple[float, int]:
    from django.conf import settings
    from django.test.utils import override_settings
    from pypdf import PdfReader

    from fleet.pdf import render_pdf

    engine = {**settings.TEMPLATES[0], "APP_DIRS": False}
    engine["OPTIONS"] = {
        **engine["OPTIONS"],
        "loaders": [
            ("django.template.loaders.locmem.Loader", {"bench/plain_table.html": PLAIN_TABLE}),
            "django.template.loaders.filesystem.Loader",
            "django.template.loaders.app_directories.Loader",
        ],
    }
    rows = [
        (n, f"SN{n:07d}", "imageRUNNER ADVANCE DX C5840F", "埼玉加須物流センター", f"¥{n * 137:,}")
        for n in range(PLAIN_ROWS)
    ]
    with override_settings(TEMPLATES=[engine]):
        render_pdf(template_name="bench/plain_table.html", context={"rows": rows[:10]}, language="ja")  # warm
        started = time.perf_counter()
        pdf = render_pdf(template_name="bench/plain_table.html", context={"rows": rows}, language="ja")
        seconds = time.perf_counter() - started
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    print(f"plain: {PLAIN_ROWS:,} rows, {pages} pages in {seconds:.2f} s ({1000 * seconds / pages:.0f} ms a page)")
    return seconds, pages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database (a later run reuses it)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    if args.assets < 1 or not 1 <= args.months <= 60 or args.runs < 1:
        sys.exit("--assets takes at least 1, --months 1 to 60, --runs at least 1")
    configure(args.database_url)
    try:
        run(args)
    finally:
        if not args.keep:
            drop_database(args.database_url)


def ensure_service_data(customer, first: datetime.date, last: datetime.date) -> int:
    """One contract covering every asset from before ``first``, and for every other asset two corrective work orders
    inside the months, each down a few hours and answered in time or late; the work orders' count."""
    from django.db.models import F
    from django.utils import timezone

    from contracts.choices import ContractStatus
    from contracts.models import Contract, ContractAsset
    from maintenance.choices import WorkOrderKind, WorkOrderSource, WorkOrderStatus
    from maintenance.models import WorkOrder

    existing = WorkOrder.objects.filter(customer=customer).count()
    if existing:
        return existing
    contract = Contract.objects.create(
        provider_id=customer.provider_id, customer=customer, number="BENCH-SERVICE", title="Bench",
        status=ContractStatus.ACTIVE, start_date=first - datetime.timedelta(days=31),
    )  # fmt: skip
    assets = list(customer.assets.order_by("pk").values_list("pk", "site_id"))
    ContractAsset.objects.bulk_create(
        ContractAsset(contract=contract, asset_id=pk, start_date=contract.start_date) for pk, _site in assets
    )
    days = (last - first).days + 28
    start = timezone.make_aware(datetime.datetime.combine(first, datetime.time(9)))
    orders = []
    for index, (pk, site_id) in enumerate(assets[::2]):
        for repeat in range(2):
            opened = start + datetime.timedelta(days=(index * 7 + repeat * 97) % days, hours=index % 8)
            down = datetime.timedelta(hours=2 + index % 30)
            orders.append(
                WorkOrder(
                    provider_id=customer.provider_id,
                    number=f"BENCH-{index:06d}-{repeat}",
                    customer=customer,
                    site_id=site_id,
                    asset_id=pk,
                    kind=WorkOrderKind.CORRECTIVE,
                    source=WorkOrderSource.MANUAL,
                    status=WorkOrderStatus.COMPLETED,
                    down_from=opened,
                    down_until=opened + down,
                    response_due_at=opened + datetime.timedelta(hours=4),
                    responded_at=opened + datetime.timedelta(hours=1 + index % 6),
                    resolution_due_at=opened + datetime.timedelta(hours=24),
                    completed_at=opened + down,
                )  # fmt: skip
            )
    WorkOrder.objects.bulk_create(orders, batch_size=2000)
    WorkOrder.objects.filter(customer=customer).update(created_at=F("down_from"))
    execute("ANALYZE")
    return len(orders)


def measure_service(user, customer, first, last, runs: int) -> dict[str, float]:
    """Median milliseconds of the service report, its contract table and its asset table."""
    from reports import service

    started = time.perf_counter()
    orders = ensure_service_data(customer, first, last)
    print(f"service data: {orders:,} work orders, every asset covered, in {time.perf_counter() - started:.1f} s")
    scope = {"user": user, "first": first, "last": last, "customer_id": customer.pk}
    medians = {}
    for name, report in (
        ("by month and customer", service.service_report),
        ("by contract", service.contract_service),
        ("by asset", service.asset_service),
    ):
        samples = []
        for _run in range(runs):
            started = time.perf_counter()
            report(**scope)
            samples.append(1000 * (time.perf_counter() - started))
        medians[name] = statistics.median(samples)
        print(f"service {name}: median {medians[name]:.0f} ms of {runs}")
    return medians


def run(args) -> None:
    customer, first, last = ensure_data(assets=args.assets, months=args.months)
    user = account_manager(customer)
    tco = measure_tco(user, customer, first, last, args.runs)
    measure_service(user, customer, first, last, args.runs)
    plain_s, plain_pages = measure_plain()
    proposal_s, proposal_pages, peak = measure_proposal(user, customer, first, last)
    tco_ms = max(tco.values())
    ratio = (proposal_s / proposal_pages) / (plain_s / plain_pages)
    misses = []
    if tco_ms > TARGET_TCO_MS:
        misses.append(f"tco {tco_ms:.0f} ms > {TARGET_TCO_MS:.0f} ms")
    if ratio > TARGET_PER_PAGE_RATIO:
        misses.append(f"per page {ratio:.2f}x > {TARGET_PER_PAGE_RATIO}x")
    print(f"targets: {'MISSED: ' + '; '.join(misses) if misses else 'all met'}")
    print(
        f"tco_ms={tco_ms:.0f} proposal_pages={proposal_pages} proposal_s={proposal_s:.2f} "
        f"per_page_vs_plain={ratio:.2f} peak_mib={peak:.0f}"
    )


if __name__ == "__main__":
    main()
