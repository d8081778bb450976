"""Benchmark of the telemetry ingest: raw COPY, the ingest's write step, the whole API path and a re-send.

    python -m bench.ingest [--rows 1000000] [--batch 5000] [--runs 3] [--assets 20000] [--customers 200]
                           [--database-url URL]

Runs against PostgreSQL (``DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/fleet_ingest_bench). When
the database holds no benchmark data it is created, migrated, seeded (``seed_demo``) and filled
(``generate_fleet --prefix bench``). The readings go to the assets of the generated customer with the largest
fleet, through one collector key of that customer: each asset reports two counters per poll (pages on
printers, hours elsewhere), polls an hour apart, in batches of ``--batch`` readings.

Each run loads the same ``--rows`` readings four ways, each into an empty table, and times it:

1. the reference: psycopg ``COPY ... FROM STDIN`` of the rows, all at once, into a table made
   ``LIKE telemetry_reading INCLUDING ALL`` (the same columns, indexes and checks; no foreign keys);
2. the write step alone: ``telemetry.ingest.ingest_write`` of the already checked rows, one transaction per batch;
3. the whole API path: each batch as a JSON body posted to ``/api/v1/telemetry/`` through Django's test client
   with the collector key (parsing, checks, asset resolution, write, last-seen, alert rules, response);
4. the same bodies posted again: every reading is a duplicate and nothing may be stored.

``telemetry_reading`` is emptied before steps 2 and 3 (the benchmark database is the benchmark's own). Rates are
readings per second; ratios are to the reference of the same run; the figures printed last are medians of the
runs. The queries of one API request are counted at 10 and at ``--batch`` items. The last line reads
``copy_rows_s=... write_vs_copy=... api_vs_copy=... resend_vs_copy=... resend_new_rows=...``.
"""

import argparse
import gc
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.lists import BENCH_PREFIX, configure, ensure_data

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fleet_ingest_bench"
REFERENCE_TABLE = "bench_ingest_reference"
INGEST_URL = "/api/v1/telemetry/"
START = datetime(2025, 1, 6, tzinfo=UTC)  # long past, so that no reading is "in the future"

TARGET_WRITE = 0.30
TARGET_API = 0.20
TARGET_RESEND = 0.30


def bench_customer():
    """The generated customer with the most assets, and its assets (id, category)."""
    from django.db.models import Count

    from accounts.models import Organisation
    from assets.models import Asset

    customer = (
        Organisation.objects.filter(code__startswith=f"{BENCH_PREFIX}-c")
        .annotate(fleet=Count("assets"))
        .order_by("-fleet", "code")
        .first()
    )
    if customer is None:
        sys.exit("no generated customers: drop the database and run again")
    assets = list(
        Asset.objects.filter(customer=customer)
        .order_by("pk")
        .values_list("pk", "asset_model__category", "serial_number")
    )
    return customer, assets


def generate_rows(assets, rows: int) -> list[tuple]:
    """``rows`` readings (asset_id, meter, taken_at, value): every asset's two counters per hourly poll."""
    from assets.choices import PRINT_CATEGORIES
    from telemetry.choices import Meter

    per_asset = []
    for index, (pk, category, _serial) in enumerate(assets):
        if category in PRINT_CATEGORIES:
            per_asset.append(
                (pk, Meter.TOTAL_PAGES.value, Meter.MONO_PAGES.value, 1000 + index, 17 + index % 40, False)
            )
        else:
            per_asset.append((pk, Meter.HOURS_KEY_ON.value, Meter.HOURS_TRAVEL.value, 500 + index, 1, True))
    out: list[tuple] = []
    poll = 0
    while len(out) < rows:
        at = START + timedelta(hours=poll)
        for pk, first, second, base, rate, hours in per_asset:
            if hours:  # hour meters in tenths of an hour
                total = Decimal(base * 10 + poll * rate * 10).scaleb(-1)
                out.append((pk, first, at, total))
                out.append((pk, second, at, (total * Decimal("0.6")).quantize(Decimal("0.1"))))
            else:
                total = base * 100 + poll * rate
                out.append((pk, first, at, total))
                out.append((pk, second, at, total * 3 // 4))
            if len(out) >= rows:
                break
        poll += 1
    return out[:rows]


def batches_of(rows: list[tuple], size: int) -> list[list[tuple]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def json_body(batch: list[tuple]) -> bytes:
    """A collector's body: the items as a device sends them (numbers as JSON numbers, times with an offset)."""
    items = [
        {"type": "reading", "asset": pk, "meter": meter, "taken_at": at.isoformat(), "value": value}
        for pk, meter, at, value in batch
    ]
    return json.dumps(items, default=float, separators=(",", ":")).encode()


def truncate(*tables: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")


def reading_count() -> int:
    from telemetry.models import Reading

    return Reading.objects.count()


def create_reference_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {REFERENCE_TABLE}")
        cursor.execute(f"CREATE TABLE {REFERENCE_TABLE} (LIKE telemetry_reading INCLUDING ALL)")


def copy_reference(rows: list[tuple]) -> float:
    """Seconds to COPY every row (with the constant columns the ingest writes too) and commit."""
    from django.db import connection, transaction

    truncate(REFERENCE_TABLE)
    received_at = datetime.now(tz=UTC)
    columns = "asset_id, meter, taken_at, value, source, received_at, entered_by_id, invalidation_reason"
    started = time.perf_counter()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.copy(f"COPY {REFERENCE_TABLE} ({columns}) FROM STDIN") as copy,
    ):
        write_row = copy.write_row
        for pk, meter, at, value in rows:
            write_row((pk, meter, at, value, "device", received_at, None, ""))
    return time.perf_counter() - started


def staged_rows(batch: list[tuple]):
    from telemetry.ingest import StagedRows

    return StagedRows(
        readings={(pk, meter, at): (index, (value,)) for index, (pk, meter, at, value) in enumerate(batch)}
    )


def write_step(batches: list[list[tuple]]) -> float:
    """Seconds of ``ingest_write`` over the batches (each checked beforehand), one transaction per batch."""
    from django.db import transaction

    from telemetry.choices import ReadingSource
    from telemetry.ingest import ingest_write

    truncate("telemetry_reading")
    elapsed = 0.0
    stored = 0
    for batch in batches:
        rows = staged_rows(batch)
        received_at = datetime.now(tz=UTC)
        started = time.perf_counter()
        with transaction.atomic():
            written = ingest_write(rows=rows, source=ReadingSource.DEVICE, received_at=received_at)
        elapsed += time.perf_counter() - started
        stored += len(written.readings)
    expected = sum(len(batch) for batch in batches)
    if stored != expected:
        sys.exit(f"the write step stored {stored} readings, expected {expected}")
    return elapsed


def post_all(client, bodies: list[bytes], key: str) -> tuple[float, int, int]:
    """Seconds to post every body; the readings accepted and the duplicates the answers count."""
    elapsed = 0.0
    accepted = duplicates = 0
    for body in bodies:
        started = time.perf_counter()
        response = client.post(INGEST_URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Collector {key}")
        elapsed += time.perf_counter() - started
        if response.status_code != 200:
            sys.exit(f"POST {INGEST_URL} answered {response.status_code}: {response.content[:300]!r}")
        answer = response.json()
        if answer["rejected"]:
            sys.exit(f"the API rejected readings: {answer['errors'][:3]}")
        accepted += answer["accepted"]
        duplicates += answer["duplicates"]
    return elapsed, accepted, duplicates


def queries_per_request(client, key: str, assets, size: int, poll: int) -> int:
    """Queries of one API request with ``size`` new readings (times from a later ``poll``)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    items = []
    for number in range(size):
        pk = assets[number % len(assets)][0]
        items.append((pk, "total_pages", START + timedelta(hours=poll, seconds=number // len(assets)), number))
    body = json_body(items)
    with CaptureQueriesContext(connection) as captured:
        response = client.post(INGEST_URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Collector {key}")
    if response.status_code != 200 or response.json()["accepted"] != size:
        sys.exit(f"query count request failed: {response.status_code} {response.content[:300]!r}")
    return len(captured)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000, help="readings per API request (5000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--assets", type=int, default=20_000, help="assets generate_fleet makes when the data is missing"
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= 10_000:
        sys.exit("--batch takes 1 to 10000 readings")

    configure(args.database_url)
    ensure_data(assets=args.assets, customers=args.customers)

    from django.db import connection
    from django.test import Client

    from assets.models import Asset
    from telemetry.keys import collector_key_create

    customer, assets = bench_customer()
    key, plaintext = collector_key_create(customer=customer, name=f"bench {datetime.now(tz=UTC):%Y-%m-%d %H:%M:%S}")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load}; PostgreSQL {connection.pg_version // 10000}")
    print(f"customer {customer.code}: {len(assets)} assets; collector key {key.prefix}")

    started = time.perf_counter()
    rows = generate_rows(assets, args.rows)
    batches = batches_of(rows, args.batch)
    bodies = [json_body(batch) for batch in batches]
    megabytes = sum(len(body) for body in bodies) / 1e6
    print(
        f"prepared {len(rows)} readings in {len(batches)} batches of up to {args.batch} "
        f"({megabytes:.0f} MB of JSON) in {time.perf_counter() - started:.1f} s"
    )
    create_reference_table()
    client = Client()
    # Warm up (the first request imports the URL configuration and every view module), then keep the prepared
    # data out of the garbage collector's way: it is the client's, a server would not hold it.
    post_all(client, [b"[]"], plaintext)
    gc.collect()
    gc.freeze()

    results = []
    copy_rates: list[float] = []
    for run in range(1, args.runs + 1):
        # The reference is measured before and after each path, and each path is compared with the mean of the
        # two, so that a change in the machine's load during the run shifts both sides of a ratio alike.
        copies = [len(rows) / copy_reference(rows)]
        write = len(rows) / write_step(batches)
        copies.append(len(rows) / copy_reference(rows))
        truncate("telemetry_reading")
        Asset.objects.filter(customer=customer).update(last_seen_at=None)
        api_s, accepted, _duplicates = post_all(client, bodies, plaintext)
        copies.append(len(rows) / copy_reference(rows))
        before = reading_count()
        resend_s, resend_accepted, resend_duplicates = post_all(client, bodies, plaintext)
        new_rows = reading_count() - before
        copies.append(len(rows) / copy_reference(rows))
        if accepted != len(rows) or resend_duplicates != len(rows):
            sys.exit(f"run {run}: accepted {accepted}, re-send duplicates {resend_duplicates}, expected {len(rows)}")
        api, resend = len(rows) / api_s, len(rows) / resend_s
        result = {
            "copy": statistics.median(copies),
            "write": write,
            "api": api,
            "resend": resend,
            "write_ratio": write / statistics.mean(copies[0:2]),
            "api_ratio": api / statistics.mean(copies[1:3]),
            "resend_ratio": resend / statistics.mean(copies[2:4]),
            "new_rows": new_rows + resend_accepted,
        }
        results.append(result)
        copy_rates.extend(copies)
        print(
            f"run {run}: COPY {', '.join(f'{rate:,.0f}' for rate in copies)} readings/s; "
            f"write step {write:,.0f} ({result['write_ratio']:.2f}); API {api:,.0f} ({result['api_ratio']:.2f}); "
            f"re-send {resend:,.0f} ({result['resend_ratio']:.2f}), {result['new_rows']} new rows"
        )

    last_poll = len(rows) // (2 * len(assets)) + 1
    queries_small = queries_per_request(client, plaintext, assets, 10, poll=last_poll + 1)
    queries_large = queries_per_request(client, plaintext, assets, args.batch, poll=last_poll + 2)
    print(f"queries per API request: {queries_small} at 10 readings, {queries_large} at {args.batch}")

    copy_rate = statistics.median(copy_rates)
    write_ratio = statistics.median(result["write_ratio"] for result in results)
    api_ratio = statistics.median(result["api_ratio"] for result in results)
    resend_ratio = statistics.median(result["resend_ratio"] for result in results)
    resend_new = max(result["new_rows"] for result in results)
    print(f"median COPY    {copy_rate:>10,.0f} readings/s (all {len(copy_rates)} measurements)")
    for name, ratio in (("write", write_ratio), ("api", api_ratio), ("resend", resend_ratio)):
        median = statistics.median(result[name] for result in results)
        print(f"median {name:<7} {median:>10,.0f} readings/s, {ratio:.2f} of the COPY around it")

    misses = []
    if write_ratio < TARGET_WRITE:
        misses.append(f"write step {write_ratio:.2f} of COPY < {TARGET_WRITE:.2f}")
    if api_ratio < TARGET_API:
        misses.append(f"API path {api_ratio:.2f} of COPY < {TARGET_API:.2f}")
    if resend_ratio < TARGET_RESEND:
        misses.append(f"re-send {resend_ratio:.2f} of COPY < {TARGET_RESEND:.2f}")
    if resend_new:
        misses.append(f"the re-send stored {resend_new} rows")
    if queries_small != queries_large:
        misses.append(f"queries differ: {queries_small} at 10, {queries_large} at {args.batch}")
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))
    print(
        f"copy_rows_s={copy_rate:.0f} write_vs_copy={write_ratio:.2f} api_vs_copy={api_ratio:.2f} "
        f"resend_vs_copy={resend_ratio:.2f} resend_new_rows={resend_new}"
    )


if __name__ == "__main__":
    main()
