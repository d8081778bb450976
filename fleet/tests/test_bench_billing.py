"""bench.billing at a tiny scale: it builds its own database, runs every phase, prints its last line, cleans up."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(r"^assets=300 floor_s=\d+\.\d\d usage_vs_floor=\d+\.\d\d run_vs_floor=\d+\.\d\d pdf_ms=\d+$")


def bench_database_url() -> tuple[str, str]:
    """A database of the benchmark's own beside the test database (same server and user)."""
    settings = connection.settings_dict
    name = f"{settings['NAME']}_bench_billing"[:63]
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{name}", name


@pytest.mark.postgres
@pytest.mark.django_db
def test_bench_billing_runs_at_a_tiny_scale_and_drops_its_database():
    url, name = bench_database_url()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.billing",
            "--customers",
            "20",
            "--assets",
            "300",
            "--runs",
            "1",
            "--pdf-wait",
            "0",
            "--database-url",
            url,
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    output = result.stdout
    # Every customer drafted, none failed; usage read in two queries per distinct period at both sizes; the PDF
    # measured on a one-page finalised invoice.
    assert re.search(r"run 1: drafting [\d.]+ s: 20 customers drafted, 0 failed, 20 invoices", output), output
    queries = re.search(r"\((\d+) distinct periods\), (\d+) queries; at 20: (\d+) queries \((\d+) distinct", output)
    assert queries, output
    small_periods, small_queries, queries_all, periods_all = (int(value) for value in queries.groups())
    assert (small_queries, queries_all) == (2 * small_periods, 2 * periods_all)
    assert re.search(r"pdf: INV-\d{4}-000001 \(finalised, Factur-X, 2 lines, 1 page", output), output
    assert f"dropped database {name}" in result.stderr
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
        assert cursor.fetchone()[0] == 0
