"""Benchmark of the nightly replacement forecasts at provider scale, against one SQL aggregate (the floor).

    python -m bench.forecast [--assets 100000] [--customers N] [--days 90] [--keep] [--database-url URL]

Runs against PostgreSQL (``DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/fleet_forecast_bench). The
database is created, migrated and filled (``generate_fleet --prefix bench``, then the telemetry of the run, see
below), and dropped at the end unless ``--keep`` is given; a kept database of the same size is reused.

The telemetry is written by the benchmark, set-based (``INSERT ... SELECT`` over ``generate_series``): one reading
per asset, meter and day for ``--days`` days before the run's instant (pages on printers; key-on hours and lift
cycles on trucks and AGVs), the daily toner levels of every printer (black, and cyan, magenta and yellow where
the model takes colour toner; a saw-tooth with a refill jump at every empty cartridge), and the installations of
every wear part that fits each asset (the current one about 60 days back, at the counter value of that day, and
for half of the assets the one before it, a life earlier).

The customers are taken as the nightly task takes them: per provider, in batches of at most
``FORECAST_BATCH_ASSETS`` in-service assets (``maintenance.replacements.forecast_batches``). Timed in the same run,
on a warm cache:

1. the floor: one aggregate over the readings of the window (``GROUP BY asset, meter``: growth and count), fetched,
   before and after the features (their mean); the same over the supply levels (the floor of the segments);
2. the features, per batch and summed: ``lives.provider_lives`` (once per provider), the toner segments
   (``consumable_segment_chunks``, a chunk at a time) and ``wear_features`` (the per-asset usage features: rates
   and life used: the target, within 3x the readings floor);
3. the math on them: ``consumable_estimates`` per chunk of segments, ``wear_estimates`` per batch;
4. the nightly run: ``forecasts_refresh`` (compute and write, streamed) for every batch.

Queries are counted per call and phase, and compared, with ``CaptureQueriesContext``, for the customer with the
smallest fleet and the one with the largest. Memory: the process's peak resident size (``ru_maxrss``) and the
Python heap's peak (``tracemalloc``) of the largest customer's nightly run. The last line reads
``assets=... floor_s=... features_vs_floor=... total_s=... peak_mib=...``.
"""

import argparse
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from bench.lists import BENCH_PREFIX, configure

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fleet_forecast_bench"
RISK_QUANTILE = 0.90
TARGET_FEATURES_VS_FLOOR = 3.0
INSTALLED_DAYS_AGO = 60  # the current wear parts went in about this long ago (50 to 70 days)

# Per asset, deterministic "random" numbers in [0, 1) from its id (hashint8 is PostgreSQL's integer hash).
U1 = "mod(abs(hashint8(a.id)), 100003) / 100003.0"
U2 = "mod(abs(hashint8(a.id + 7777777)), 100003) / 100003.0"

PARAMS_SQL = f"""
CREATE TEMPORARY TABLE bench_asset AS
SELECT a.id AS asset_id, a.asset_model_id, m.category,
       {U1} AS u1, {U2} AS u2, 6 + floor({U2} * 12)::int AS hour
FROM assets_asset a
JOIN assets_assetmodel m ON m.id = a.asset_model_id
JOIN accounts_organisation o ON o.id = a.customer_id
WHERE o.code LIKE %(customers)s
"""

# One row per counter of each asset: the meter, its daily rate, its value on day 0 and its decimals. Printers
# print 100 to 1,500 pages a day; trucks and AGVs run 3 to 15 key-on hours and 30 to 180 lift cycles a day.
# Every counter is three to six years old on day 0.
METERS_SQL = """
CREATE TEMPORARY TABLE bench_meter AS
SELECT b.asset_id, b.hour, b.u2, meter.name AS meter, meter.rate, meter.rate * (1000 + 1000 * b.u2) AS base,
       meter.places
FROM bench_asset b
CROSS JOIN LATERAL (
    SELECT 'total_pages' AS name, 100 + 1400 * b.u1 AS rate, 0 AS places
    WHERE b.category IN ('mfp', 'printer')
    UNION ALL
    SELECT 'hours_key_on', 3 + 12 * b.u1, 1 WHERE b.category IN ('forklift', 'reach_truck', 'agv')
    UNION ALL
    SELECT 'lift_cycles', 30 + 150 * b.u1, 0 WHERE b.category IN ('forklift', 'reach_truck', 'agv')
) meter
"""


def counter_sql(day: str) -> str:
    """The counter of ``bench_meter c`` on ``day`` (a number of days, may be fractional): monotonic, wavy."""
    return f"round((c.base + c.rate * (({day}) + 0.3 * sin(({day}) * 0.9 + c.u2 * 6)))::numeric, c.places)"


READINGS_SQL = f"""
INSERT INTO telemetry_reading (asset_id, meter, taken_at, value, source, received_at, invalidation_reason)
SELECT c.asset_id, c.meter, t.at, {counter_sql("d")}, 'device', t.at, ''
FROM bench_meter c
CROSS JOIN generate_series(0, %(days)s - 1) d
CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + d * interval '1 day' + c.hour * interval '1 hour' AS at) t
"""

# Toner levels: black on every printer, cyan, magenta and yellow where the model takes a colour toner (a
# consumable part type whose code ends in -C). 0.8 to 3.3 % a day; the cartridge is replaced when it is empty
# (the level jumps back to 100); a little noise.
LEVELS_SQL = """
INSERT INTO telemetry_supplylevel (asset_id, supply, taken_at, percent, source, received_at)
SELECT b.asset_id, s.supply, t.at,
       round(
           least(100, greatest(0, 100 - (x.used - 100 * floor(x.used / 100)) + 0.6 * sin(d * 2.1 + s.k)))::numeric, 2
       ),
       'device', t.at
FROM bench_asset b
CROSS JOIN LATERAL (
    SELECT 'toner_black' AS supply, 0 AS k
    UNION ALL
    SELECT colour.supply, colour.k
    FROM (VALUES ('toner_cyan', 1), ('toner_magenta', 2), ('toner_yellow', 3)) colour (supply, k)
    WHERE EXISTS (
        SELECT 1 FROM assets_parttype_asset_models fits JOIN assets_parttype p ON p.id = fits.parttype_id
        WHERE fits.assetmodel_id = b.asset_model_id AND p.kind = 'consumable' AND p.code LIKE '%%-C'
    )
) s
CROSS JOIN LATERAL (
    SELECT mod(abs(hashint8(b.asset_id * 4 + s.k)), 100003) / 100003.0 AS u
) r
CROSS JOIN generate_series(0, %(days)s - 1) d
CROSS JOIN LATERAL (
    SELECT r.u * 100 + (0.8 + 2.5 * r.u) * d AS used
) x
CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + d * interval '1 day' + b.hour * interval '1 hour' AS at) t
WHERE b.category IN ('mfp', 'printer')
"""

# The meter a wear part's life is counted on, by life unit ('' for days: calendar time); a battery's charge cycles
# on key-on hours, 8 hours a cycle (rated lives below in the meter's units).
LIFE_METER_SQL = """
CASE p.life_unit WHEN 'pages' THEN 'total_pages' WHEN 'hours' THEN 'hours_key_on' WHEN 'cycles' THEN 'hours_key_on'
ELSE '' END
"""

# Every wear part that fits the asset's model, installed 50 to 70 days back (within the window) at that day's
# counter; for the assets with u2 < 0.5 also the one before it, 0.7 to 1.2 rated lives earlier (on the counter,
# or in days), where that counter is still positive.
INSTALLATIONS_SQL = f"""
INSERT INTO maintenance_partinstallation
    (asset_id, part_type_id, installed_at, meter, meter_value, quantity, created_at, updated_at)
WITH fitted AS (
    SELECT b.asset_id, b.hour, b.u1, b.u2, p.id AS part_type_id, {LIFE_METER_SQL} AS meter,
           p.rated_life * CASE p.life_unit WHEN 'cycles' THEN 8 ELSE 1 END AS rated_life,
           greatest(0, %(days)s - 1 - (50 + mod(abs(hashint8(b.asset_id * 64 + p.id)), 21)::int)) AS day
    FROM bench_asset b
    JOIN assets_parttype_asset_models fits ON fits.assetmodel_id = b.asset_model_id
    JOIN assets_parttype p ON p.id = fits.parttype_id AND p.kind = 'wear_part'
), current AS (
    SELECT f.*, %(start)s::timestamptz + f.day * interval '1 day' + f.hour * interval '1 hour' AS at,
           CASE WHEN f.meter = '' THEN NULL ELSE {counter_sql("f.day")} END AS value,
           f.rated_life * (0.7 + 0.5 * (mod(abs(hashint8(f.asset_id * 64 + f.part_type_id)), 1009) / 1009.0)) AS life,
           c.rate
    FROM fitted f
    LEFT JOIN bench_meter c ON c.asset_id = f.asset_id AND c.meter = f.meter
    WHERE f.meter = '' OR c.asset_id IS NOT NULL
)
SELECT asset_id, part_type_id, at, meter, value, 1, now(), now() FROM current
UNION ALL
SELECT asset_id, part_type_id,
       at - CASE WHEN meter = '' THEN life ELSE life / rate END * interval '1 day',
       meter, CASE WHEN meter = '' THEN NULL ELSE value - round(life::numeric, 2) END, 1, now(), now()
FROM current
WHERE u2 < 0.5 AND (meter = '' OR value - life > 0)
"""

FLOOR_READINGS_SQL = """
SELECT asset_id, meter, max(value) - min(value), count(*)
FROM telemetry_reading
WHERE taken_at >= %s AND taken_at < %s AND invalidated_at IS NULL
GROUP BY asset_id, meter
"""
FLOOR_LEVELS_SQL = """
SELECT asset_id, supply, max(percent) - min(percent), count(*)
FROM telemetry_supplylevel
WHERE taken_at >= %s AND taken_at < %s
GROUP BY asset_id, supply
"""


def peak_mib() -> float:
    """The process's peak resident set size so far, in MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Reset the peak resident size to the current one (Linux), so that the setup's peak is not counted."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def execute(sql: str, params=None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def data_state() -> dict:
    """What the database holds: generated customers and assets, readings, and the instant of the data."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT a.customer_id) FROM assets_asset a "
            "JOIN accounts_organisation o ON o.id = a.customer_id WHERE o.code LIKE %s",
            [f"{BENCH_PREFIX}-c%"],
        )
        assets, customers = cursor.fetchone()
        cursor.execute("SELECT min(taken_at), max(taken_at), count(*) FROM telemetry_reading")
        first, last, readings = cursor.fetchone()
    state = {"assets": assets, "customers": customers, "readings": readings}
    if readings:
        start = first.replace(hour=0, minute=0, second=0, microsecond=0)
        as_of = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        state.update(start=start, as_of=as_of, days=(as_of - start).days)
    return state


def table_has_rows(table: str) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {connection.ops.quote_name(table)})")  # noqa: S608
        return cursor.fetchone()[0]


def indexes_drop(table: str) -> list[str]:
    """Drop the table's indexes and unique constraints but its primary key; the statements that restore them."""
    from django.db import connection

    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname, "
            "pg_get_constraintdef(c.oid) "
            "FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
            [table],
        )
        found = cursor.fetchall()
    restore = []
    for index, index_sql, constraint, constraint_sql in found:
        if constraint:
            execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(constraint)}")
            restore.append(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(constraint)} {constraint_sql}")
        else:
            execute(f"DROP INDEX {index}")
            restore.append(index_sql)
    return restore


def generate_telemetry(*, days: int, as_of: datetime) -> None:
    """Readings, supply levels and part installations of the generated assets, in one transaction."""
    from django.db import transaction

    start = as_of - timedelta(days=days)
    params = {"customers": f"{BENCH_PREFIX}-c%", "days": days, "start": start}
    with transaction.atomic():
        # The rows are consistent by construction: skip the per-row foreign-key triggers (their deferred
        # checks would queue one event per row until the commit).
        execute("SET LOCAL session_replication_role = replica")
        execute("SET LOCAL synchronous_commit = off")
        execute("SET LOCAL maintenance_work_mem = '512MB'")
        execute(PARAMS_SQL, params)
        execute(METERS_SQL)
        for label, table, sql in (
            ("readings", "telemetry_reading", READINGS_SQL),
            ("supply levels", "telemetry_supplylevel", LEVELS_SQL),
            ("part installations", "maintenance_partinstallation", INSTALLATIONS_SQL),
        ):
            started = time.perf_counter()
            # Into an empty table, building the secondary indexes afterwards is about twice as fast as keeping
            # them up to date row by row.
            rebuild = indexes_drop(table) if not table_has_rows(table) else []
            rows = execute(sql, params)
            loaded = time.perf_counter() - started
            for statement in rebuild:
                execute(statement)
            elapsed = time.perf_counter() - started
            print(
                f"  {label}: {rows:,} rows in {elapsed:.1f} s ({rows / elapsed if elapsed else 0:,.0f} rows/s; "
                f"indexes {elapsed - loaded:.1f} s)"
            )
        execute("DROP TABLE bench_meter")
        execute("DROP TABLE bench_asset")
    started = time.perf_counter()
    for table in ("telemetry_reading", "telemetry_supplylevel", "maintenance_partinstallation"):
        execute(f"VACUUM (ANALYZE) {table}")
    print(f"  vacuum and analyze: {time.perf_counter() - started:.1f} s")


def ensure_data(*, assets: int, customers: int, days: int) -> dict:
    """The fleet and its telemetry (generated when the database is new); the state of the data."""
    import io

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    state = data_state()
    if state["assets"] == 0:
        started = time.perf_counter()
        call_command("generate_fleet", customers=customers, assets=assets, prefix=BENCH_PREFIX, stdout=io.StringIO())
        print(f"generate_fleet: {assets:,} assets of {customers:,} customers in {time.perf_counter() - started:.1f} s")
        as_of = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        generate_telemetry(days=days, as_of=as_of)
        state = data_state()
    if state["assets"] != assets or state.get("days") != days:
        sys.exit(
            f"the database holds {state['assets']} generated assets and {state.get('days', 0)} days of readings, "
            f"not {assets} and {days}: drop it (or pass another --database-url)"
        )
    print(
        f"data: {state['assets']:,} assets of {state['customers']:,} customers, {state['readings']:,} readings over "
        f"{state['days']} days up to {state['as_of']:%Y-%m-%d %H:%M} UTC"
    )
    return state


def drop_database(database_url: str) -> None:
    import psycopg
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    parts = urlsplit(database_url)
    with psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(parts.path.lstrip("/"))))
    # On stderr: the last line on stdout stays the benchmark's figures.
    print(f"dropped database {parts.path.lstrip('/')} (--keep keeps it)", file=sys.stderr)


def timed_fetch(sql: str, params) -> tuple[float, int]:
    """Seconds to run ``sql`` and fetch every row; the number of rows."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return time.perf_counter() - started, len(rows)


class QueryCounter:
    """Counts the queries run through Django's connection (a wrapper: no SQL kept, unlike the debug cursor)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class Phase:
    """A timed phase summed over its calls: seconds, queries per call (min and max), items produced."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seconds = 0.0
        self.items = 0
        self.queries: list[int] = []

    def run(self, fn, counter: QueryCounter):
        before = counter.count
        started = time.perf_counter()
        result = fn()
        self.seconds += time.perf_counter() - started
        self.queries.append(counter.count - before)
        try:
            self.items += len(result)
        except TypeError:
            self.items += int(result or 0)
        return result

    def describe(self) -> str:
        if not self.queries:
            return f"{self.name}: no calls"
        queries = (
            f"{min(self.queries)}"
            if min(self.queries) == max(self.queries)
            else (f"{min(self.queries)} to {max(self.queries)}")
        )
        return (
            f"{self.name}: {self.seconds:.2f} s, {self.items:,} items, {queries} queries per call "
            f"({sum(self.queries):,} in {len(self.queries):,} calls)"
        )


def customers_by_fleet() -> list[tuple[int, int, int, bool]]:
    """(customer id, provider id, assets in service, mixed fleet) of the generated customers, smallest first.

    A mixed fleet holds printers and other assets: every kind of forecast has work to do.
    """
    from django.db.models import Count, Q

    from accounts.models import Organisation
    from assets.choices import ASSET_IN_SERVICE_STATES, PRINT_CATEGORIES

    in_service = Q(assets__status__in=ASSET_IN_SERVICE_STATES)
    printers = Q(assets__asset_model__category__in=PRINT_CATEGORIES)
    rows = (
        Organisation.objects.filter(code__startswith=f"{BENCH_PREFIX}-c")
        .annotate(fleet=Count("assets", filter=in_service), prints=Count("assets", filter=in_service & printers))
        .order_by("fleet", "pk")
        .values_list("pk", "provider_id", "fleet", "prints")
    )
    return [(pk, provider_id, fleet, 0 < prints < fleet) for pk, provider_id, fleet, prints in rows]


def captured_queries(fn) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.forecast", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument(
        "--customers", type=int, default=None, help="customers the assets are spread over (assets / 100, 1 to 1000)"
    )
    parser.add_argument("--days", type=int, default=90, help="days of daily readings before the run (90)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (a later run of the same size reuses it)"
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # a long run: show each line as it comes, also into a file
    if args.assets < 1 or args.days < 2:
        sys.exit("--assets takes at least 1 asset and --days at least 2 days")
    customers = args.customers or min(1000, max(1, args.assets // 100))

    configure(args.database_url)
    try:
        run(args, customers=customers)
    finally:
        if not args.keep:
            drop_database(args.database_url)


def run(args, *, customers: int) -> None:
    import tracemalloc

    from django.conf import settings
    from django.db import connection
    from django.db.models import Count

    from assets.models import PartType
    from maintenance import forecasts, lives
    from maintenance.models import ReplacementForecast
    from maintenance.replacements import forecast_batches

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load}; PostgreSQL {connection.pg_version // 10000}")
    state = ensure_data(assets=args.assets, customers=customers, days=args.days)
    as_of, start = state["as_of"], state["start"]
    window = [start, as_of]
    fleets = customers_by_fleet()
    by_provider: dict[int, list[int]] = {}
    for customer_id, provider_id, _fleet, _mixed in fleets:
        by_provider.setdefault(provider_id, []).append(customer_id)
    batches = [
        (provider_id, batch)
        for provider_id, customer_ids in by_provider.items()
        for batch in forecast_batches(customer_ids, max_assets=settings.FORECAST_BATCH_ASSETS)
    ]
    in_service = sum(fleet for _pk, _provider, fleet, _mixed in fleets)
    print(
        f"as of {as_of:%Y-%m-%d %H:%M} UTC: {len(fleets):,} customers, {in_service:,} assets in service, "
        f"{len(batches):,} batches of at most {settings.FORECAST_BATCH_ASSETS:,} assets (FORECAST_BATCH_ASSETS)"
    )

    # Warm the cache: every timed pass then reads from memory alike.
    timed_fetch(FLOOR_READINGS_SQL, window)
    timed_fetch(FLOOR_LEVELS_SQL, window)
    floors, level_floors = [], []
    floor_rows = level_rows = 0

    def measure_floors() -> None:
        nonlocal floor_rows, level_rows
        seconds, floor_rows = timed_fetch(FLOOR_READINGS_SQL, window)
        floors.append(seconds)
        seconds, level_rows = timed_fetch(FLOOR_LEVELS_SQL, window)
        level_floors.append(seconds)

    counter = QueryCounter()
    lives_phase, segments_phase, wear_phase = Phase("provider_lives"), Phase("segments"), Phase("wear_features")
    consumable_math, wear_math = Phase("consumable_estimates"), Phase("wear_estimates")
    nightly_phase = Phase("forecasts_refresh")
    # The migrations and the data load are setup: the peak counts from here (where the system allows a reset).
    setup_mib = peak_mib()
    reset = reset_peak()
    baseline_mib = peak_mib()

    # 1 and 2: the floor, the features per batch (and the math on them), the floor again. The segments come a
    # chunk at a time (as the nightly run takes them); their math runs on each chunk.
    measure_floors()
    fitted: dict[int, dict] = {}
    rated = {pk: float(life) for pk, life in PartType.objects.values_list("pk", "rated_life")}
    with connection.execute_wrapper(counter):
        for provider_id in by_provider:
            fitted[provider_id] = lives_phase.run(
                lambda p=provider_id: lives.provider_lives(provider_id=p, as_of=as_of), counter
            )
        for provider_id, batch in batches:
            chunks = forecasts.consumable_segment_chunks(customer_ids=batch, as_of=as_of)
            before = counter.count
            while True:
                started = time.perf_counter()
                segments = next(chunks, None)
                segments_phase.seconds += time.perf_counter() - started
                if segments is None:
                    break
                segments_phase.items += len(segments)
                consumable_math.run(
                    lambda s=segments: forecasts.consumable_estimates(s, risk_quantile=RISK_QUANTILE, as_of=as_of),
                    counter,
                )
            segments_phase.queries.append(counter.count - before)
            features = wear_phase.run(lambda b=batch: forecasts.wear_features(customer_ids=b, as_of=as_of), counter)

            def wear_math_run(features=features, known=fitted[provider_id]):
                keys = {(feature.asset_model_id, feature.part_type_id) for feature in features} - set(known)
                distributions = {**known, **lives.life_distributions(list(keys), observed={}, rated_lives=rated)}
                return forecasts.wear_estimates(features, distributions, risk_quantile=RISK_QUANTILE)

            wear_math.run(wear_math_run, counter)
            del features
    measure_floors()
    features_mib = peak_mib()

    # 3: the nightly run: every batch recomputed and written (forecasts_refresh), the provider's lives handed over.
    existing = ReplacementForecast.objects.count()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        for provider_id, batch in batches:
            nightly_phase.run(
                lambda b=batch, p=provider_id: forecasts.forecasts_refresh(
                    customer_ids=b, as_of=as_of, lives=fitted[p]
                ),
                counter,
            )
    nightly_s = time.perf_counter() - started
    nightly_mib = peak_mib()

    floor_s = sum(floors) / len(floors)
    level_floor_s = sum(level_floors) / len(level_floors)
    print(
        f"floor: readings aggregate {', '.join(f'{s:.2f}' for s in floors)} s ({floor_rows:,} asset-meter rows); "
        f"levels aggregate {', '.join(f'{s:.2f}' for s in level_floors)} s ({level_rows:,} asset-supply rows)"
    )
    for phase in (lives_phase, segments_phase, wear_phase, consumable_math, wear_math, nightly_phase):
        print(phase.describe())
    items = consumable_math.items + wear_math.items
    seconds = consumable_math.seconds + wear_math.seconds
    print(f"math: {seconds:.2f} s for {items:,} estimates ({seconds / items * 1e6 if items else 0:.0f} us each)")
    written = ReplacementForecast.objects.count()
    methods = ReplacementForecast.objects.order_by().values("method").annotate(rows=Count("pk"))
    by_method = dict(methods.values_list("method", "rows"))
    print(
        f"nightly run: {nightly_s:.2f} s for {len(fleets):,} customers in {len(batches):,} batches, "
        f"{nightly_phase.items:,} forecasts written ({'over' if existing else 'into'} a table of {existing:,}; now "
        f"{written:,}: " + ", ".join(f"{method} {count:,}" for method, count in sorted(by_method.items())) + ")"
    )

    # Queries at two sizes (one customer each), and the Python heap peak of the largest batch's run (untimed).
    # The two customers compared both have printers and other assets (where there are two such), so that no
    # phase skips a query for want of work on one side only.
    mixed = [customer for customer in fleets if customer[3]]
    smallest, largest = (mixed[0], mixed[-1]) if len(mixed) >= 2 else (fleets[0], fleets[-1])
    sizes = []
    checks = (  # (name, the most queries it may take: its constant number, conditional ones included, call)
        ("consumable_segments", 3, lambda c: forecasts.consumable_segments(customer_id=c, as_of=as_of)),
        ("wear_features", 6, lambda c: forecasts.wear_features(customer_id=c, as_of=as_of)),
        ("forecasts_compute", 14, lambda c: forecasts.forecasts_compute(customer_id=c, as_of=as_of)),
    )
    constant = True
    for name, most, fn in checks:
        small, large = (captured_queries(lambda c=customer[0], f=fn: f(c)) for customer in (smallest, largest))
        constant = constant and max(small, large) <= most
        sizes.append(f"{name} {small}/{large} (at most {most})")
    print(
        f"queries at {smallest[2]:,} and {largest[2]:,} assets in service (the smallest and the largest "
        f"{'mixed ' if len(mixed) >= 2 else ''}fleet, one customer each): " + ", ".join(sizes)
    )
    # tracemalloc slows Python several times over: the heap is traced on the largest customer's run, the
    # batch's memory shows in the resident peak after the nightly run.
    largest = fleets[-1]
    tracemalloc.start()
    forecasts.forecasts_refresh(customer_id=largest[0], as_of=as_of, lives=fitted[largest[1]])
    heap_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"python heap peak of the largest customer's run ({largest[2]:,} assets): {heap_mib:.1f} MiB")
    print(
        f"peak resident memory: {setup_mib:.0f} MiB during the setup (migrations, load; "
        f"{'not counted' if reset else 'counted: no peak reset on this system'}), {baseline_mib:.0f} MiB "
        f"before the timed phases, {features_mib:.0f} MiB after the features, "
        f"{nightly_mib:.0f} MiB after the nightly run"
    )

    features_vs_floor = wear_phase.seconds / floor_s
    segments_vs_floor = segments_phase.seconds / level_floor_s
    misses = []
    if features_vs_floor > TARGET_FEATURES_VS_FLOOR:
        misses.append(f"wear features {features_vs_floor:.1f}x the readings floor > {TARGET_FEATURES_VS_FLOOR:.0f}x")
    if not constant:
        misses.append("more queries than the constant bound")
    print(
        f"segments_vs_level_floor={segments_vs_floor:.2f} (reported, no target) targets: "
        + ("all met" if not misses else "MISSED: " + "; ".join(misses))
    )
    print(
        f"assets={state['assets']} floor_s={floor_s:.2f} features_vs_floor={features_vs_floor:.2f} "
        f"total_s={nightly_s:.2f} peak_mib={peak_mib():.0f}"
    )


if __name__ == "__main__":
    main()
