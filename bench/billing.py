"""Benchmark of the monthly billing run at provider scale, against one SQL window aggregate (the floor).

    python -m bench.billing [--customers 2000] [--assets 100000] [--runs 3] [--month YYYY-MM] [--keep]
        [--profile] [--database-url URL]

Runs against PostgreSQL (``DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/fleet_billbench). The
database is created, migrated and filled, and dropped at the end unless ``--keep`` is given (a kept database of the
same size is reused; its billed month is the one its readings were made for):

- the fleet: ``generate_fleet --prefix bench`` (customers of the demo provider, their sites and assets);
- the contracts, written with ``bulk_create`` as the services would write them (numbered in the provider's
  contract series, active, each component checked by the services' own rules): every customer with printers gets
  an MPS contract (a fixed fee, a fee per covered asset, mono pages with a pooled allowance and graduated tiers,
  colour pages with a per-asset allowance, volume tiers and a minimum charge) and every customer with material
  handling equipment a full-maintenance contract (a fixed fee, a fee per asset, key-on hours with a per-asset
  allowance and a graduated tier); each covers the customer's in-service assets of its kind, about 2 % of them
  from a day within the billed month and 1 % until one;
- the readings, written by the database (``INSERT ... SELECT`` over ``generate_series``, as ``bench.forecast``):
  one a day per covered asset and meter (mono pages on printers, colour pages on 70 % of them, key-on hours on
  material handling), from five days before the billed month to five days after it; 0.5 % of the series reset
  within the month, 0.5 % fall silent in it (their end counter is extrapolated), 0.5 % start reporting in it.

Timed in the same process, ``--runs`` times each (the figures are medians):

1. the floor: one SQL aggregate with ``lag()`` over the readings of the month (and a day around it), the usage of
   every asset and meter as the sum of its positive steps (a drop counts the new value: a reset), every row fetched;
2. usage: ``contracts.rating.read_usage`` for every customer's contracts (the intervals their metered components
   read), with its queries captured; once more for a tenth of the customers, to show the count does not grow;
3. the run: ``contracts.billing.draft_customers`` over every customer in batches of ``BILLING_BATCH_CUSTOMERS``
   (as the run's tasks take them), the drafts deleted between runs; queries counted, the resident peak measured;
4. the PDF: ``contracts.documents.render_invoice_pdf`` of a one-page invoice (finalised: a Factur-X PDF/A-3b),
   warm, ten times, once the large run's contracts are dropped.

The last line reads ``assets=... floor_s=... usage_vs_floor=... run_vs_floor=... pdf_ms=...``.
"""

import argparse
import datetime
import gc
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from unittest import mock

from bench.forecast import (
    QueryCounter,
    drop_database,
    execute,
    indexes_drop,
    peak_mib,
    reset_peak,
    table_has_rows,
)
from bench.lists import BENCH_PREFIX, configure

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fleet_billbench"
TARGET_USAGE_VS_FLOOR = 3.0
TARGET_RUN_VS_FLOOR = 10.0
TARGET_PDF_MS = 150.0
MARGIN_DAYS = 5  # readings start this many days before the billed month and end this many after it
CONTRACT_MONTHS_BEFORE = 12  # contracts started this many months before the billed month
PDF_RENDERS = 10
PDF_WAIT_SECONDS = 1800
PDF_POLL_SECONDS = 30
DOCUMENTS_MODULE = Path(__file__).resolve().parents[1] / "contracts" / "documents.py"

# Coverage variants, by a hash of the asset id (per mille): from a day within the month, until one.
LATE_START_DAYS = (4, 9, 14, 19, 24)  # days after the month's first day
EARLY_END_DAYS = (9, 17, 25)

# One row per covered asset and meter: its daily rate, its value on day 0, its decimals, the hour of its daily
# reading (Tokyo time) and its variant (u3, per mille: < 5 resets, < 10 falls silent, < 15 starts late). Printers
# print 70 to 1,050 mono pages a day and, on 70 % of them, 20 to 420 colour pages; material handling runs 3 to 15
# key-on hours a day. Every counter is three to six years old.
METERS_SQL = """
CREATE TEMPORARY TABLE bench_meter AS
WITH covered AS (
    SELECT DISTINCT ca.asset_id, m.category,
           mod(abs(hashint8(ca.asset_id)), 100003) / 100003.0 AS u1,
           mod(abs(hashint8(ca.asset_id + 7777777)), 100003) / 100003.0 AS u2,
           mod(abs(hashint8(ca.asset_id + 99991)), 1000) AS u3,
           mod(abs(hashint8(ca.asset_id + 31337)), 24) AS hour
    FROM contracts_contractasset ca
    JOIN contracts_contract c ON c.id = ca.contract_id
    JOIN accounts_organisation o ON o.id = c.customer_id
    JOIN assets_asset a ON a.id = ca.asset_id
    JOIN assets_assetmodel m ON m.id = a.asset_model_id
    WHERE o.code LIKE %(customers)s
)
SELECT v.asset_id, v.u2, v.u3, v.hour, meter.name AS meter, meter.rate, meter.rate * (1000 + 1000 * v.u2) AS base,
       meter.places
FROM covered v
CROSS JOIN LATERAL (
    SELECT 'mono_pages' AS name, 70 + 980 * v.u1 AS rate, 0 AS places WHERE v.category IN ('mfp', 'printer')
    UNION ALL
    SELECT 'colour_pages', 20 + 400 * v.u2, 0 WHERE v.category IN ('mfp', 'printer') AND v.u2 < 0.7
    UNION ALL
    SELECT 'hours_key_on', 3 + 12 * v.u1, 1 WHERE v.category NOT IN ('mfp', 'printer')
) meter
"""

RESET_DAY = f"({MARGIN_DAYS} + 10 + mod(c.u3, 5))"
SILENT_AFTER = f"({MARGIN_DAYS} + 20)"
FIRST_REPORT = f"({MARGIN_DAYS} + 8)"
COUNTER = "round((c.base + c.rate * (d + 0.3 * sin(d * 0.9 + c.u2 * 6)))::numeric, c.places)"
AFTER_RESET = f"round((c.rate * (d - {RESET_DAY} + 0.5))::numeric, c.places)"
READINGS_SQL = f"""
INSERT INTO telemetry_reading (asset_id, meter, taken_at, value, source, received_at, invalidation_reason)
SELECT c.asset_id, c.meter, t.at,
       CASE WHEN c.u3 < 5 AND d >= {RESET_DAY} THEN {AFTER_RESET} ELSE {COUNTER} END,
       'device', t.at, ''
FROM bench_meter c
CROSS JOIN generate_series(0, %(days)s - 1) d
CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + d * interval '1 day' + c.hour * interval '1 hour' AS at) t
WHERE NOT (c.u3 >= 5 AND c.u3 < 10 AND d > {SILENT_AFTER})
  AND NOT (c.u3 >= 10 AND c.u3 < 15 AND d < {FIRST_REPORT})
"""

# The floor: per asset and meter, the sum of the positive steps of its valid readings in the month and a day
# around it (a drop is a reset: the counter restarted from zero, the step is the new value).
FLOOR_SQL = """
SELECT asset_id, meter, sum(CASE WHEN prev IS NULL THEN 0 WHEN value >= prev THEN value - prev ELSE value END),
       count(*)
FROM (
    SELECT asset_id, meter, value, lag(value) OVER (PARTITION BY asset_id, meter ORDER BY taken_at) AS prev
    FROM telemetry_reading
    WHERE invalidated_at IS NULL AND taken_at >= %s AND taken_at <= %s
) steps
GROUP BY asset_id, meter
"""

BILLING_TABLES = ("contracts_invoice", "contracts_billingrun", "telemetry_meterboundary")


# --- Data -----------------------------------------------------------------------------------------------------------


def previous_month(today: datetime.date) -> tuple[int, int]:
    first = today.replace(day=1) - datetime.timedelta(days=1)
    return first.year, first.month


def months_before(year: int, month: int, count: int) -> datetime.date:
    index = year * 12 + (month - 1) - count
    return datetime.date(index // 12, index % 12 + 1, 1)


def asset_bucket(asset_id: int) -> int:
    """A stable per-mille bucket of an asset (which coverage variant it gets)."""
    return (asset_id * 2654435761) % 2**32 % 1000


def data_state() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT a.customer_id) FROM assets_asset a "
            "JOIN accounts_organisation o ON o.id = a.customer_id WHERE o.code LIKE %s",
            [f"{BENCH_PREFIX}-c%"],
        )
        assets, customers = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM contracts_contract c JOIN accounts_organisation o ON o.id = c.customer_id "
            "WHERE o.code LIKE %s",
            [f"{BENCH_PREFIX}-c%"],
        )
        (contracts,) = cursor.fetchone()
        cursor.execute("SELECT min(taken_at), count(*) FROM telemetry_reading")
        first_reading, readings = cursor.fetchone()
    return {
        "assets": assets,
        "customers": customers,
        "contracts": contracts,
        "readings": readings,
        "first_reading": first_reading,
    }


def billed_month_of(first_reading: datetime.datetime) -> tuple[int, int]:
    """The month the readings were made for: they start MARGIN_DAYS before it (Tokyo time)."""
    from telemetry.usage import time_zone

    day = (first_reading + datetime.timedelta(days=MARGIN_DAYS + 1)).astimezone(time_zone("Asia/Tokyo"))
    return day.year, day.month


def generate_contracts(*, year: int, month: int, seed: int = 1) -> dict[str, int]:
    """The MPS and full-maintenance contracts of the generated customers (see the module notes), in bulk."""
    from django.db import transaction

    from accounts.models import Organisation
    from assets.choices import ASSET_IN_SERVICE_STATES, PRINT_CATEGORIES
    from assets.models import Asset
    from contracts.choices import AllowanceScope, ComponentKind, ContractStatus, TierMode
    from contracts.models import Contract, ContractAsset, ContractSequence, PriceComponent, PriceTier
    from contracts.services import CONTRACT_PREFIX, _check_component, _tiers
    from telemetry.choices import Meter

    rng = random.Random(seed)
    start = months_before(year, month, CONTRACT_MONTHS_BEFORE)
    period_first = datetime.date(year, month, 1)
    customers = list(
        Organisation.objects.filter(code__startswith=f"{BENCH_PREFIX}-c")
        .order_by("pk")
        .values_list("pk", "provider_id", "currency")
    )
    fleets: dict[int, dict[str, list[int]]] = {pk: {"mps": [], "mh": []} for pk, _provider, _currency in customers}
    for asset_id, customer_id, category in (
        Asset.objects.filter(customer__code__startswith=f"{BENCH_PREFIX}-c", status__in=ASSET_IN_SERVICE_STATES)
        .order_by("customer_id", "pk")
        .values_list("pk", "customer_id", "asset_model__category")
    ):
        fleets[customer_id]["mps" if category in PRINT_CATEGORIES else "mh"].append(asset_id)

    def mps_components(printers: int) -> list[tuple[dict, list]]:
        fee = Decimal(rng.choice((5, 10, 20, 30)) * 1000)
        per_asset = Decimal(rng.choice((2, 3, 4)) * 1000)
        mono = {
            "kind": ComponentKind.METER_CHARGE,
            "name": "モノクロ印刷",
            "meter": Meter.MONO_PAGES,
            "amount": Decimal("0.8"),
            "allowance": Decimal(3000 * printers),
            "allowance_scope": AllowanceScope.POOLED,
            "tier_mode": TierMode.GRADUATED,
        }
        colour = {
            "kind": ComponentKind.METER_CHARGE,
            "name": "カラー印刷",
            "meter": Meter.COLOUR_PAGES,
            "amount": Decimal(8),
            "allowance": Decimal(500),
            "allowance_scope": AllowanceScope.PER_ASSET,
            "tier_mode": TierMode.VOLUME,
            "minimum_charge": Decimal(2000),
        }
        return [
            ({"kind": ComponentKind.FIXED_FEE, "name": "基本料金", "amount": fee}, []),
            ({"kind": ComponentKind.ASSET_FEE, "name": "保守料（1台あたり）", "amount": per_asset}, []),
            (mono, [(Decimal(5000 * printers), Decimal("0.6")), (Decimal(20000 * printers), Decimal("0.4"))]),
            (colour, [(Decimal(2000), Decimal(6)), (Decimal(8000), Decimal(5))]),
        ]

    def mh_components() -> list[tuple[dict, list]]:
        per_asset = Decimal(rng.choice((18, 25, 32)) * 1000)
        hours = {
            "kind": ComponentKind.METER_CHARGE,
            "name": "稼働時間",
            "meter": Meter.HOURS_KEY_ON,
            "amount": Decimal(300),
            "allowance": Decimal(200),
            "allowance_scope": AllowanceScope.PER_ASSET,
            "tier_mode": TierMode.GRADUATED,
        }
        return [
            ({"kind": ComponentKind.FIXED_FEE, "name": "基本料金", "amount": Decimal(20000)}, []),
            ({"kind": ComponentKind.ASSET_FEE, "name": "フルメンテナンス料（1台あたり）", "amount": per_asset}, []),
            (hours, [(Decimal(100), Decimal(250))]),
        ]

    specs = []  # (customer, provider, currency, title, components, asset ids)
    for pk, provider_id, currency in customers:
        printers, material_handling = fleets[pk]["mps"], fleets[pk]["mh"]
        if printers:
            specs.append((pk, provider_id, currency, "MPS 複合機保守契約", mps_components(len(printers)), printers))
        if material_handling:
            title = "フォークリフト フルメンテナンス契約"
            specs.append((pk, provider_id, currency, title, mh_components(), material_handling))
    counts = {"contracts": 0, "components": 0, "tiers": 0, "coverages": 0}
    with transaction.atomic():
        numbers: dict[int, int] = {}
        for provider_id in sorted({spec[1] for spec in specs}):
            sequence, _created = ContractSequence.objects.select_for_update().get_or_create(
                provider_id=provider_id, year=start.year
            )
            numbers[provider_id] = sequence.last_number
            sequence.last_number += sum(1 for spec in specs if spec[1] == provider_id)
            sequence.save(update_fields=["last_number"])
        contracts = []
        for customer_id, provider_id, currency, title, _components, _assets in specs:
            numbers[provider_id] += 1
            contracts.append(
                Contract(
                    provider_id=provider_id,
                    customer_id=customer_id,
                    number=f"{CONTRACT_PREFIX}-{start.year}-{numbers[provider_id]:06d}",
                    title=title,
                    status=ContractStatus.ACTIVE,
                    start_date=start,
                    currency=currency,
                )
            )
        Contract.objects.bulk_create(contracts, batch_size=2000)
        components, bands = [], []
        for contract, (_customer, _provider, _currency, _title, component_specs, _assets) in zip(
            contracts, specs, strict=True
        ):
            for fields, tiers in component_specs:
                component = PriceComponent(contract=contract, valid_from=contract.start_date, **fields)
                checked = _tiers(tiers)
                _check_component(component, contract, checked)  # the services' own checks, no query
                components.append(component)
                bands.append(checked)
        PriceComponent.objects.bulk_create(components, batch_size=5000)
        tiers = [
            PriceTier(component=component, from_units=start_units, rate=rate)
            for component, checked in zip(components, bands, strict=True)
            for start_units, rate in checked
        ]
        PriceTier.objects.bulk_create(tiers, batch_size=5000)
        coverages = []
        for contract, (_customer, _provider, _currency, _title, _components, asset_ids) in zip(
            contracts, specs, strict=True
        ):
            for asset_id in asset_ids:
                bucket = asset_bucket(asset_id)
                start_date, end_date = contract.start_date, None
                if bucket < 20:  # joined within the month
                    start_date = period_first + datetime.timedelta(days=LATE_START_DAYS[asset_id % 5])
                elif bucket < 30:  # left within the month
                    end_date = period_first + datetime.timedelta(days=EARLY_END_DAYS[asset_id % 3])
                coverages.append(
                    ContractAsset(contract=contract, asset_id=asset_id, start_date=start_date, end_date=end_date)
                )
        ContractAsset.objects.bulk_create(coverages, batch_size=5000)
        # The model's own validation (fields, choices, constraints) on the first contract's rows.
        contracts[0].full_clean()
        for row in [*(c for c in components if c.contract_id == contracts[0].pk), coverages[0]]:
            row.full_clean()
    counts.update(contracts=len(contracts), components=len(components), tiers=len(tiers), coverages=len(coverages))
    return counts


def generate_readings(*, year: int, month: int) -> int:
    """Daily readings of every covered asset's meters over the month and MARGIN_DAYS around it (module notes)."""
    from django.db import transaction

    from contracts.rating import Period

    period = Period.of(year, month, "Asia/Tokyo")
    start = period.start_at - datetime.timedelta(days=MARGIN_DAYS)
    days = period.days + 2 * MARGIN_DAYS
    with transaction.atomic():
        execute("SET LOCAL session_replication_role = replica")  # consistent by construction: no FK triggers
        execute("SET LOCAL synchronous_commit = off")
        execute("SET LOCAL maintenance_work_mem = '512MB'")
        execute(METERS_SQL, {"customers": f"{BENCH_PREFIX}-c%"})
        started = time.perf_counter()
        rebuild = indexes_drop("telemetry_reading") if not table_has_rows("telemetry_reading") else []
        rows = execute(READINGS_SQL, {"days": days, "start": start})
        loaded = time.perf_counter() - started
        for statement in rebuild:
            execute(statement)
        elapsed = time.perf_counter() - started
        execute("DROP TABLE bench_meter")
    print(
        f"  readings: {rows:,} rows in {elapsed:.1f} s ({rows / elapsed if elapsed else 0:,.0f} rows/s; "
        f"indexes {elapsed - loaded:.1f} s)"
    )
    execute("VACUUM (ANALYZE) telemetry_reading")
    return rows


def ensure_data(*, customers: int, assets: int, month: tuple[int, int] | None) -> tuple[dict, int, int]:
    """The fleet, its contracts and readings (generated when missing); the state and the billed (year, month)."""
    import io

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    state = data_state()
    if state["assets"] == 0:
        started = time.perf_counter()
        call_command("generate_fleet", customers=customers, assets=assets, prefix=BENCH_PREFIX, stdout=io.StringIO())
        print(f"generate_fleet: {assets:,} assets of {customers:,} customers in {time.perf_counter() - started:.1f} s")
        state = data_state()
    if state["assets"] != assets or state["customers"] != customers:
        sys.exit(
            f"the database holds {state['assets']} generated assets of {state['customers']} customers, not {assets} "
            f"of {customers}: drop it (or pass another --database-url)"
        )
    if state["readings"]:
        year, month_number = billed_month_of(state["first_reading"])
        if month and month != (year, month_number):
            sys.exit(f"the database's readings are for {year}-{month_number:02d}: drop it to bill another month")
    else:
        year, month_number = month or previous_month(datetime.datetime.now(tz=datetime.UTC).date())
    if not state["contracts"]:
        started = time.perf_counter()
        counts = generate_contracts(year=year, month=month_number)
        print(
            f"contracts: {counts['contracts']:,} contracts, {counts['components']:,} components, "
            f"{counts['tiers']:,} tiers, {counts['coverages']:,} covered assets "
            f"in {time.perf_counter() - started:.1f} s"
        )
        execute("ANALYZE")
    if not state["readings"]:
        generate_readings(year=year, month=month_number)
    state = data_state()
    print(
        f"data: {state['assets']:,} assets of {state['customers']:,} customers, {state['contracts']:,} contracts, "
        f"{state['readings']:,} readings; billing {year}-{month_number:02d}"
    )
    return state, year, month_number


def reset_billing() -> None:
    """Empty the invoices, runs and frozen counters (the benchmark's database holds nothing else of value)."""
    from contracts.models import InvoiceSequence

    execute(f"TRUNCATE {', '.join(BILLING_TABLES)} CASCADE")
    InvoiceSequence.objects.all().delete()


# --- Measurements ---------------------------------------------------------------------------------------------------


def timed_fetch(sql: str, params, *, jit: bool) -> tuple[float, int, Decimal]:
    """Seconds to run ``sql`` and fetch every row, with PostgreSQL's JIT on or off; the number of rows and the sum
    of their third column."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL jit = {'on' if jit else 'off'}")
        started = time.perf_counter()
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        seconds = time.perf_counter() - started
    return seconds, len(rows), sum((row[2] for row in rows), Decimal(0))


def customer_batches(customers: list, size: int) -> list[list]:
    return [customers[index : index + size] for index in range(0, len(customers), size)]


def contract_inputs(customers: list, year: int, month: int) -> list[tuple]:
    """(contracts, period) of each customer as ``load_inputs`` builds them, without reading usage."""
    from contracts import rating

    with mock.patch.object(rating, "read_usage", lambda *args, **kwargs: {}):
        inputs = rating.load_inputs(customers=customers, year=year, month=month)
    return [(item.contracts, item.period) for item in inputs if item.contracts]


def usage_call(pairs: list[tuple]) -> tuple[float, int, int, dict]:
    """Seconds of one ``read_usage`` call, its queries, its distinct intervals, its result."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from contracts.choices import ComponentKind
    from contracts.rating import read_usage, usage_intervals

    intervals = {
        (start_at, end_at)
        for contracts, period in pairs
        for contract in contracts
        for component in contract.components
        if component.kind in (ComponentKind.METER_CHARGE, ComponentKind.OUTCOME_CHARGE)
        for _asset, start_at, end_at in usage_intervals(contract, component, period)
    }
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        usage = read_usage(pairs)
        seconds = time.perf_counter() - started
    return seconds, len(captured), len(intervals), usage


def draft_all(batches: list[list], year: int, month: int, counter: QueryCounter) -> dict:
    """Draft every batch as the run's tasks do; seconds, queries, outcomes, the resident peak's growth."""
    from django.db import connection

    from contracts.billing import draft_customers

    gc.collect()
    reset_peak()
    rss_before = current_rss_mib()
    queries_before = counter.count
    failed = drafted = invoices = 0
    batch_queries = []
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        for batch in batches:
            before = counter.count
            for outcome in draft_customers(customers=batch, year=year, month=month):
                failed += bool(outcome.error)
                drafted += not outcome.error
                invoices += len(outcome.invoices)
                if outcome.error and failed <= 3:
                    print(f"  customer {outcome.customer_id} failed: {outcome.error}")
            batch_queries.append(counter.count - before)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "queries": counter.count - queries_before,
        "batch_queries": batch_queries,
        "drafted": drafted,
        "failed": failed,
        "invoices": invoices,
        "rss_before": rss_before,
        "rss_growth": max(0.0, resident_peak_mib() - rss_before),
    }


def batch_heap_peaks(batches: list[list], year: int, month: int) -> list[tuple[int, int, float]]:
    """(customers, covered assets, Python heap peak in MiB) of drafting the batch with the fewest covered assets and
    the one with the most, each alone (``tracemalloc`` slows Python several times over: untimed)."""
    import tracemalloc

    from django.db.models import Count

    from contracts.billing import draft_customers
    from contracts.models import ContractAsset

    covered = dict(ContractAsset.objects.values_list("contract__customer_id").annotate(count=Count("pk")).order_by())
    sizes = sorted(
        (sum(covered.get(customer.pk, 0) for customer in batch), index) for index, batch in enumerate(batches)
    )
    peaks = []
    for assets, index in (sizes[0], sizes[-1]):
        reset_billing()
        tracemalloc.start()
        draft_customers(customers=batches[index], year=year, month=month)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        peaks.append((len(batches[index]), assets, peak))
    return peaks


def proc_status_mib(field: str) -> float | None:
    """A size from /proc/self/status in MiB (``VmRSS``: resident now; ``VmHWM``: its peak since the last reset)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def current_rss_mib() -> float:
    return proc_status_mib("VmRSS") or peak_mib()


def resident_peak_mib() -> float:
    """The resident peak since the last ``reset_peak`` (``ru_maxrss`` is not reset by it)."""
    return proc_status_mib("VmHWM") or peak_mib()


def stored_counts() -> str:
    from contracts.models import Invoice, InvoiceLine, InvoiceLineAsset

    return (
        f"{Invoice.objects.count():,} invoices, {InvoiceLine.objects.count():,} lines, "
        f"{InvoiceLineAsset.objects.count():,} line assets"
    )


def wait_for_documents(wait_seconds: int):
    """``contracts.documents.render_invoice_pdf``, once the module exists (polled up to ``wait_seconds``)."""
    import importlib

    deadline = time.monotonic() + wait_seconds
    while True:
        if DOCUMENTS_MODULE.exists():
            try:
                module = importlib.import_module("contracts.documents")
                return module.render_invoice_pdf
            except (ImportError, AttributeError) as error:
                problem = f"{type(error).__name__}: {error}"
        else:
            problem = "contracts/documents.py does not exist yet"
        if time.monotonic() >= deadline:
            return None
        print(f"pdf: {problem}; waiting {PDF_POLL_SECONDS} s")
        time.sleep(PDF_POLL_SECONDS)


PDF_CUSTOMER_CODE = "benchpdf"


def one_page_invoice(*, year: int, month: int):
    """A draft of a customer whose contract bills a fixed fee and a one-off charge: a one-page invoice (an invoice
    with covered assets carries their per-asset detail on a second page). The customer is made through the
    services, once; its draft is made again by each run (``reset_billing`` empties the invoices)."""
    from accounts.choices import OrganisationKind
    from accounts.demo import provider_ensure
    from accounts.models import Organisation
    from accounts.services import organisation_create
    from contracts.billing import draft_customers
    from contracts.choices import ComponentKind, ContractStatus
    from contracts.services import component_add, contract_create, contract_transition

    customer = Organisation.objects.filter(code=PDF_CUSTOMER_CODE).first()
    if customer is None:
        customer = organisation_create(
            kind=OrganisationKind.CUSTOMER, name="港湾物産株式会社", code=PDF_CUSTOMER_CODE, provider=provider_ensure(),
            language="ja", time_zone="Asia/Tokyo", currency="JPY", postal_code="231-0002", region="神奈川県",
            city="横浜市中区", address_line1="海岸通1-1", country="JP",
        )  # fmt: skip
        contract = contract_create(
            customer=customer, title="MPS 複合機保守契約", start_date=months_before(year, month, 12), by=None
        )
        component_add(contract=contract, by=None, kind=ComponentKind.FIXED_FEE, name="基本料金", amount=Decimal(48000))
        component_add(
            contract=contract, by=None, kind=ComponentKind.ONE_OFF, name="設置・設定作業",
            amount=Decimal(15000), charge_date=datetime.date(year, month, 12),
        )  # fmt: skip
        contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=None)
    (outcome,) = draft_customers(customers=[customer], year=year, month=month)
    if outcome.error:
        raise RuntimeError(outcome.error)
    return outcome.invoices[0]


def measure_pdf(render, *, year: int, month: int) -> tuple[float | None, str]:
    """Median milliseconds of PDF_RENDERS warm renders of a finalised one-page invoice; what was rendered (and, for
    comparison, the smallest invoice of the run: two pages with its per-asset detail)."""
    import io

    from django.db.models import Count
    from pypdf import PdfReader

    from contracts.billing import finalise_invoice
    from contracts.models import Invoice

    notes = []
    smallest = (
        Invoice.objects.filter(year=year, month=month, customer__code__startswith=f"{BENCH_PREFIX}-c")
        .annotate(details=Count("lines__assets"))
        .order_by("details", "pk")
        .first()
    )
    if smallest is not None:
        render(smallest)
        seconds = statistics.median(_render_seconds(render, smallest) for _ in range(3))
        pages = len(PdfReader(io.BytesIO(render(smallest))).pages)
        notes.append(
            f"the run's smallest invoice (draft, {smallest.lines.count()} lines, {smallest.details} asset rows, "
            f"{pages} pages) {1000 * seconds:.0f} ms"
        )
    invoice = finalise_invoice(invoice_id=one_page_invoice(year=year, month=month).pk, deliver=False)
    for _ in range(2):  # warm: fonts, templates
        render(invoice)
    samples = [1000 * _render_seconds(render, invoice) for _ in range(PDF_RENDERS)]
    pdf = render(invoice)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    notes.insert(
        0,
        f"{invoice.number} (finalised, Factur-X, {invoice.lines.count()} lines, {pages} page, {len(pdf):,} bytes): "
        + ", ".join(f"{sample:.0f}" for sample in samples)
        + " ms",
    )
    if pages != 1:
        return None, "; ".join([*notes, "not one page: not counted"])
    return statistics.median(samples), "; ".join(notes)


def _render_seconds(render, invoice) -> float:
    started = time.perf_counter()
    render(invoice)
    return time.perf_counter() - started


def profile(fn, *, top: int = 30) -> None:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(top)
    print(stream.getvalue())


# --- Main -----------------------------------------------------------------------------------------------------------


def parse_month(text: str) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in text.split("-"))
    except ValueError as error:
        raise argparse.ArgumentTypeError("a month is YYYY-MM") from error
    if not (2000 <= year <= 2999 and 1 <= month <= 12):
        raise argparse.ArgumentTypeError("a month is YYYY-MM")
    return year, month


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.billing", description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each phase (medians reported)")
    parser.add_argument("--month", type=parse_month, default=None, help="the billed month (default: the last one)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (a later run of the same size reuses it)"
    )
    parser.add_argument("--profile", action="store_true", help="print cProfile of one usage call and one run")
    parser.add_argument(
        "--pdf-wait", type=int, default=PDF_WAIT_SECONDS, help="seconds to wait for contracts.documents"
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    if args.customers < 1 or args.assets < args.customers or args.runs < 1:
        sys.exit("--customers takes at least 1, --assets at least as many, --runs at least 1")
    configure(args.database_url)
    try:
        run(args)
    finally:
        if not args.keep:
            drop_database(args.database_url)


def run(args) -> None:
    from django.conf import settings
    from django.db import connection

    from accounts.models import Organisation
    from contracts.rating import Period

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load}; PostgreSQL {connection.pg_version // 10000}")
    state, year, month = ensure_data(customers=args.customers, assets=args.assets, month=args.month)
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        jit = cursor.fetchone()[0]
    print(f"jit: {jit} for what is measured (the project's setting); the floor: the faster of on and off")
    reset_billing()
    period = Period.of(year, month, "Asia/Tokyo")
    window = [period.start_at - datetime.timedelta(days=1), period.end_at + datetime.timedelta(days=1)]
    customers = list(Organisation.objects.filter(code__startswith=f"{BENCH_PREFIX}-c").order_by("pk"))
    tenth = customers[: max(1, len(customers) // 10)]
    batch_size = settings.BILLING_BATCH_CUSTOMERS
    batches = customer_batches(customers, batch_size)
    print(f"{len(customers):,} customers in {len(batches):,} batches of {batch_size} (BILLING_BATCH_CUSTOMERS)")

    # Warm the cache: every timed pass then reads from memory alike.
    timed_fetch(FLOOR_SQL, window, jit=False)
    setup_mib = peak_mib()
    counter = QueryCounter()

    # Memory at a tenth of the customers first (the heap has not grown yet), then the timed runs.
    small = draft_all(customer_batches(tenth, batch_size), year, month, counter)
    reset_billing()
    print(
        f"run at {len(tenth):,} customers: {small['seconds']:.2f} s, resident {small['rss_before']:.0f} MiB before, "
        f"peak +{small['rss_growth']:.0f} MiB"
    )
    pairs = small_pairs = None
    floors, usages, runs, growths = [], [], [], []
    usage_queries = usage_intervals_count = 0
    for index in range(1, args.runs + 1):
        jit_off, floor_rows, floor_total = timed_fetch(FLOOR_SQL, window, jit=False)
        jit_on, _rows, _total = timed_fetch(FLOOR_SQL, window, jit=True)
        seconds = min(jit_off, jit_on)
        floors.append(seconds)
        print(
            f"run {index}: floor {seconds:.2f} s ({floor_rows:,} asset-meter rows, {floor_total:,.0f} units; "
            f"jit off {jit_off:.2f} s, on {jit_on:.2f} s)"
        )
        result = draft_all(batches, year, month, counter)
        runs.append(result["seconds"])
        growths.append(result["rss_growth"])
        per_batch = result["batch_queries"]
        print(
            f"run {index}: drafting {result['seconds']:.2f} s: {result['drafted']:,} customers drafted, "
            f"{result['failed']} failed, {result['invoices']:,} invoices; {result['queries']:,} queries "
            f"({min(per_batch)} to {max(per_batch)} per batch, {result['queries'] / len(customers):.1f} per "
            f"customer); resident {result['rss_before']:.0f} MiB before, peak +{result['rss_growth']:.0f} MiB"
        )
        if index == 1:
            print(f"  stored: {stored_counts()}")
        if index < args.runs:
            reset_billing()
        if pairs is None:
            pairs = contract_inputs(customers, year, month)
            small_pairs = contract_inputs(tenth, year, month)
        seconds, usage_queries, usage_intervals_count, usage = usage_call(pairs)
        usages.append(seconds)
        print(
            f"run {index}: usage {seconds:.2f} s for {len(usage):,} asset-meter intervals "
            f"({usage_intervals_count} distinct periods), {usage_queries} queries"
        )
        del usage

    small_seconds, small_queries, small_intervals, small_usage = usage_call(small_pairs)
    print(
        f"usage at {len(tenth):,} customers: {small_seconds:.2f} s for {len(small_usage):,} asset-meter intervals "
        f"({small_intervals} distinct periods), {small_queries} queries; at {len(customers):,}: {usage_queries} "
        f"queries ({usage_intervals_count} distinct periods)"
    )
    del small_usage

    if args.profile:
        print("profile of one usage call (all customers):")
        profile(lambda: usage_call(pairs))
        reset_billing()
        print(f"profile of drafting {min(len(batches), 8)} batches:")
        profile(lambda: draft_all(batches[:8], year, month, QueryCounter()))

    # A worker that renders invoices holds no provider's contracts: drop the large run's before timing the PDF (a
    # heap of millions of objects makes every full garbage collection during the render slower).
    pairs = small_pairs = None
    gc.collect()
    render = wait_for_documents(args.pdf_wait)
    pdf_ms, pdf_note = (None, "contracts.documents.render_invoice_pdf is missing")
    if render is not None:
        pdf_ms, pdf_note = measure_pdf(render, year=year, month=month)
    print(f"pdf: {pdf_note}")
    heaps = batch_heap_peaks(batches, year, month)
    print(
        "python heap peak of drafting one batch alone: "
        + "; ".join(f"{peak:.1f} MiB ({count} customers, {assets:,} covered assets)" for count, assets, peak in heaps)
    )

    floor_s = statistics.median(floors)
    usage_s = statistics.median(usages)
    run_s = statistics.median(runs)
    usage_vs_floor = usage_s / floor_s
    run_vs_floor = run_s / floor_s
    print(
        f"medians of {args.runs}: floor {floor_s:.2f} s, usage {usage_s:.2f} s, drafting {run_s:.2f} s; drafting "
        f"raised the resident size above its level at the start by {small['rss_growth']:.0f} MiB at "
        f"{len(tenth):,} customers, by "
        + ", ".join(f"{growth:.0f}" for growth in growths)
        + f" MiB at {len(customers):,}; process peak {peak_mib():.0f} MiB (setup {setup_mib:.0f} MiB)"
    )
    misses = []
    if usage_vs_floor > TARGET_USAGE_VS_FLOOR:
        misses.append(f"usage {usage_vs_floor:.1f}x the floor > {TARGET_USAGE_VS_FLOOR:.0f}x")
    if small_queries / max(small_intervals, 1) != usage_queries / max(usage_intervals_count, 1):
        misses.append("usage queries per distinct period differ between the two sizes")
    if run_vs_floor > TARGET_RUN_VS_FLOOR:
        misses.append(f"run {run_vs_floor:.1f}x the floor > {TARGET_RUN_VS_FLOOR:.0f}x")
    if pdf_ms is None or pdf_ms > TARGET_PDF_MS:
        misses.append("pdf not measured" if pdf_ms is None else f"pdf {pdf_ms:.0f} ms > {TARGET_PDF_MS:.0f} ms")
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))
    print(
        f"assets={state['assets']} floor_s={floor_s:.2f} usage_vs_floor={usage_vs_floor:.2f} "
        f"run_vs_floor={run_vs_floor:.2f} pdf_ms={'-' if pdf_ms is None else f'{pdf_ms:.0f}'}"
    )


if __name__ == "__main__":
    main()
