"""``manage.py generate_fleet``: a provider-sized dataset, written in bulk (COPY on PostgreSQL)."""

import re
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from fleet.demo import ScaleContext, ScaleDataExists, scale_steps

PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,15}$")


class Command(BaseCommand):
    help = (
        "Generate a provider-sized fleet for benchmarks: --customers customers of the demo provider with about "
        "--sites-per-customer sites each and --assets assets spread over them, plus what later apps register "
        "(readings, work orders, contracts). Rows are written in bulk: COPY on PostgreSQL, large bulk_create "
        "batches elsewhere. Re-runnable with a distinct --prefix: the generated customer codes (<prefix>-c00001), "
        "and serial numbers start with it; a prefix already in use is refused and nothing is written. "
        "Everything is written in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1000, help="Customers to create (default 1000).")
        parser.add_argument("--assets", type=int, default=100_000, help="Assets to create (default 100000).")
        parser.add_argument("--sites-per-customer", type=int, default=3, help="Average sites per customer (3).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed: the same seed gives the same data.")
        parser.add_argument(
            "--prefix",
            default="gen",
            help="Lower-case letters and digits (at most 16) that mark this run's rows (default 'gen').",
        )

    def handle(self, *args, customers, assets, sites_per_customer, seed, prefix, **options):
        if not PREFIX_PATTERN.match(prefix):
            raise CommandError("--prefix takes 1 to 16 lower-case letters and digits, starting with a letter.")
        if customers < 1 or assets < 0 or sites_per_customer < 1:
            raise CommandError("--customers and --sites-per-customer must be at least 1, --assets at least 0.")
        context = ScaleContext(
            customers=customers,
            assets=assets,
            prefix=prefix,
            seed=seed,
            today=timezone.localdate(),
            sites_per_customer=sites_per_customer,
            log=lambda line: self.stdout.write(f"  {line}"),
        )
        started = time.perf_counter()
        try:
            with transaction.atomic():
                for step in scale_steps():
                    step_started = time.perf_counter()
                    before = context.total_rows
                    step.fn(context)
                    step_seconds = time.perf_counter() - step_started
                    self.stdout.write(f"  {step.name}: {context.total_rows - before} rows in {step_seconds:.2f} s")
        except ScaleDataExists as error:
            raise CommandError(
                f"Nothing written: {error}. Pass another --prefix (or --seed and --prefix) to add a distinct dataset."
            ) from error
        written = time.perf_counter() - started
        if connection.vendor == "postgresql":
            # Fresh planner statistics for every table (the catalogue too): stale ones turn the list queries'
            # hash joins into nested loops over every matching row.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        elapsed = time.perf_counter() - started
        for model, count in context.rows.items():
            self.stdout.write(f"  {model._meta.label}: {count}")
        rate = context.total_rows / written if written else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {context.total_rows} rows ({assets} assets, {customers} customers) on {connection.vendor} "
                f"in {elapsed:.1f} s ({written:.1f} s writing, {rate:,.0f} rows/s, "
                f"{assets / written if written else 0:,.0f} assets/s)."
            )
        )
