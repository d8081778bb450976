"""Benchmark of the asset list at provider scale: page and API latency, query counts, serialisation rates.

    python -m bench.lists [--assets 100000] [--customers 1000] [--runs 3] [--requests 20] [--database-url URL]

Runs against PostgreSQL (``DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/fleet_bench_scale). When
the database holds no benchmark data it is created, migrated, seeded (``seed_demo``: the provider and its
admin) and filled (``generate_fleet --prefix bench``). Requests go through Django's test client, signed in
as the provider admin, who sees every asset. Each figure is measured in ``--runs`` runs: latencies are
percentiles of all timed requests, rates and ratios are medians of the runs. The last line reads
``page_p95_ms=... api_p95_ms=... export_vs_values=... queries_1=... queries_100=...`` (query counts of the
portal page; the API's are printed above it).
"""

import argparse
import io
import json
import os
import secrets
import statistics
import sys
import time
import warnings
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fleet_bench_scale"
BENCH_PREFIX = "bench"
PAGE_URL = "/assets/?per_page={size}&status=active&category=mfp&sort=-site"
API_URL = "/api/v1/assets/?page_size={size}&status=active&ordering=-site__name"
EXPORT_URL = "/assets/?format=csv"
CHUNK = 2000
SLOW_QUERY_MS = 20.0

TARGET_P95_MS = 300.0
TARGET_EXPORT_RATIO = 0.40


def configure(database_url: str) -> None:
    """Environment for the project's one settings module (production-like: DEBUG off), then django.setup()."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["SECRET_KEY"] = "bench-" + secrets.token_hex(24)  # throwaway: nothing signed here outlives the run
    os.environ["DEBUG"] = "0"
    os.environ["STATIC_MANIFEST"] = "0"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "fleet.settings"
    ensure_database(database_url)
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic needed here
    import django

    django.setup()


def ensure_database(database_url: str) -> None:
    """Create the PostgreSQL database named in the URL when it does not exist yet."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(f"bench.lists measures PostgreSQL; got a {parts.scheme!r} URL.")
    name = parts.path.lstrip("/")
    with psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def ensure_data(*, assets: int, customers: int) -> None:
    from django.core.management import call_command

    from accounts.models import Organisation
    from assets.models import Asset

    call_command("migrate", verbosity=0)
    if not Organisation.objects.filter(code__startswith=f"{BENCH_PREFIX}-c").exists():
        call_command("seed_demo", stdout=io.StringIO())
        call_command("generate_fleet", customers=customers, assets=assets, prefix=BENCH_PREFIX)
    total = Asset.objects.count()
    generated = Asset.objects.filter(customer__code__startswith=f"{BENCH_PREFIX}-c").count()
    print(f"data: {total} assets in all ({generated} generated), {Organisation.objects.customers().count()} customers")
    if generated != assets:
        print(f"note: the database holds {generated} generated assets, not {assets}; drop it to regenerate")


def provider_admin():
    from accounts.choices import Role
    from accounts.demo import PROVIDER_CODE
    from accounts.models import User

    user = User.objects.filter(
        membership__role=Role.PROVIDER_ADMIN, membership__organisation__code=PROVIDER_CODE, is_active=True
    ).first()
    if user is None:
        sys.exit("no provider admin of the demo provider: run manage.py seed_demo against this database")
    return user


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = fraction * (len(ordered) - 1)
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def timed_get(client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    if response.status_code != 200:
        sys.exit(f"GET {url} answered {response.status_code}")
    if response.streaming:
        for _chunk in response.streaming_content:
            pass
    else:
        _ = response.content
    return (time.perf_counter() - started) * 1000


def latencies(client, url: str, *, requests: int, runs: int) -> list[float]:
    for _ in range(2):  # warm: templates, connection, caches
        timed_get(client, url)
    return [timed_get(client, url) for _ in range(requests * runs)]


def query_count(client, url: str) -> tuple[int, list[dict]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        timed_get(client, url)
    return len(captured), list(captured.captured_queries)


def explain_slow(queries: list[dict], label: str) -> None:
    """EXPLAIN ANALYZE the queries of one request that took longer than SLOW_QUERY_MS."""
    from django.db import connection

    for query in queries:
        if float(query["time"]) * 1000 < SLOW_QUERY_MS or not query["sql"].lstrip().upper().startswith("SELECT"):
            continue
        print(f"\n-- {label}: {float(query['time']) * 1000:.1f} ms\n{query['sql']}")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            for (line,) in cursor.fetchall():
                print(f"   {line}")


def export_rate(client, rows: int) -> float:
    """Rows per second of the portal's CSV export, consuming the whole streamed response."""
    started = time.perf_counter()
    response = client.get(EXPORT_URL)
    lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
    elapsed = time.perf_counter() - started
    if lines - 1 != rows:
        sys.exit(f"the CSV export held {lines - 1} rows, expected {rows}")
    return rows / elapsed


def values_rate(queryset, fields: list[str]) -> float:
    """Rows per second of ``.values()`` + json.dumps over ``queryset``, in chunks like the exports read."""
    started = time.perf_counter()
    count = 0
    chunk: list[dict] = []
    for row in queryset.values(*fields).iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) == CHUNK:
            json.dumps(chunk, default=str)
            count += len(chunk)
            chunk = []
    json.dumps(chunk, default=str)
    count += len(chunk)
    return count / (time.perf_counter() - started)


def serializer_rate(queryset, access) -> float:
    """Rows per second of the API's AssetSerializer + JSON renderer over ``queryset``, in chunks."""
    from rest_framework.renderers import JSONRenderer

    from assets.api.serializers import AssetSerializer

    renderer = JSONRenderer()
    started = time.perf_counter()
    count = 0
    chunk = []
    for asset in queryset.iterator(chunk_size=CHUNK):
        chunk.append(asset)
        if len(chunk) == CHUNK:
            renderer.render(AssetSerializer(chunk, many=True, context={"access": access}).data)
            count += len(chunk)
            chunk = []
    renderer.render(AssetSerializer(chunk, many=True, context={"access": access}).data)
    count += len(chunk)
    return count / (time.perf_counter() - started)


# The ORM paths that give ``.values()`` the same data as AssetSerializer's fields.
SERIALIZER_VALUES = [
    "id", "customer_id", "customer__name", "site_id", "site__name", "asset_model_id", "asset_model__name",
    "manufacturer_id", "manufacturer__name", "asset_model__category", "serial_number", "asset_tag", "status",
    "ownership", "install_date", "acquisition_cost", "currency", "expected_life_months", "location_note",
    "network_address", "last_seen_at", "created_at", "updated_at",
]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lists", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per run and endpoint (20)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slow queries of each list")
    args = parser.parse_args(argv)

    configure(args.database_url)
    ensure_data(assets=args.assets, customers=args.customers)

    from django.test import Client

    from assets.selectors import asset_list
    from assets.views import AssetListView
    from fleet.tables import visible_columns
    from fleet.tenancy import access_for

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (other work on the machine skews latencies)")
    admin = provider_admin()
    access = access_for(admin)
    client = Client()
    client.force_login(admin)

    page = latencies(client, PAGE_URL.format(size=100), requests=args.requests, runs=args.runs)
    api = latencies(client, API_URL.format(size=100), requests=args.requests, runs=args.runs)
    page_p50, page_p95 = percentile(page, 0.5), percentile(page, 0.95)
    api_p50, api_p95 = percentile(api, 0.5), percentile(api, 0.95)
    print(f"page  {PAGE_URL.format(size=100)}: p50 {page_p50:.1f} ms, p95 {page_p95:.1f} ms ({len(page)} requests)")
    print(f"api   {API_URL.format(size=100)}: p50 {api_p50:.1f} ms, p95 {api_p95:.1f} ms ({len(api)} requests)")

    page_queries_1, _ = query_count(client, PAGE_URL.format(size=1))
    page_queries_100, page_sql = query_count(client, PAGE_URL.format(size=100))
    api_queries_1, _ = query_count(client, API_URL.format(size=1))
    api_queries_100, api_sql = query_count(client, API_URL.format(size=100))
    print(f"queries page: {page_queries_1} at 1 row, {page_queries_100} at 100 rows")
    print(f"queries api:  {api_queries_1} at 1 row, {api_queries_100} at 100 rows")
    for label, captured in (("page", page_sql), ("api", api_sql)):
        for query in captured:
            print(f"  {label} {float(query['time']) * 1000:7.1f} ms  {query['sql'][:110]}")
    if args.explain:
        explain_slow(page_sql, "page")
        explain_slow(api_sql, "api")

    queryset = asset_list(user=admin).order_by("serial_number", "pk")
    rows = queryset.count()
    csv_fields = [column.path for column in visible_columns(AssetListView.columns, sees_prices=access.sees_prices)]
    export_ratios, api_ratios = [], []
    for run in range(1, args.runs + 1):
        # The reference is measured just before and just after the path, and averaged, so that a change in
        # the machine's load during the run shifts both sides of the ratio alike.
        before = values_rate(queryset, csv_fields)
        csv_rate = export_rate(client, rows)
        csv_values = (before + values_rate(queryset, csv_fields)) / 2
        before = values_rate(queryset, SERIALIZER_VALUES)
        api_rate = serializer_rate(queryset, access)
        api_values = (before + values_rate(queryset, SERIALIZER_VALUES)) / 2
        export_ratios.append(csv_rate / csv_values)
        api_ratios.append(api_rate / api_values)
        print(
            f"run {run}: CSV export {csv_rate:,.0f} rows/s vs .values()+json.dumps {csv_values:,.0f} rows/s "
            f"({export_ratios[-1]:.2f}); AssetSerializer+JSON {api_rate:,.0f} rows/s vs .values()+json.dumps "
            f"{api_values:,.0f} rows/s ({api_ratios[-1]:.2f}) over {rows} rows"
        )
    export_ratio = statistics.median(export_ratios)
    api_ratio = statistics.median(api_ratios)
    print(f"api_serializer_vs_values={api_ratio:.2f} (median of {args.runs} runs)")

    misses = []
    if page_p95 >= TARGET_P95_MS:
        misses.append(f"page p95 {page_p95:.0f} ms >= {TARGET_P95_MS:.0f} ms")
    if api_p95 >= TARGET_P95_MS:
        misses.append(f"api p95 {api_p95:.0f} ms >= {TARGET_P95_MS:.0f} ms")
    if export_ratio < TARGET_EXPORT_RATIO:
        misses.append(f"export {export_ratio:.2f} of .values() < {TARGET_EXPORT_RATIO:.2f}")
    if (page_queries_1, api_queries_1) != (page_queries_100, api_queries_100):
        misses.append("query counts differ between page sizes 1 and 100")
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))
    print(
        f"page_p95_ms={page_p95:.1f} api_p95_ms={api_p95:.1f} export_vs_values={export_ratio:.2f} "
        f"queries_1={page_queries_1} queries_100={page_queries_100}"
    )


if __name__ == "__main__":
    main()
