"""bench.forecast at a tiny scale: it builds its own database, runs every phase, prints its last line, cleans up."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(
    r"^assets=200 floor_s=\d+\.\d\d features_vs_floor=(\d+\.\d\d|-) total_s=(\d+\.\d\d|-) peak_mib=\d+$"
)


def bench_database_url() -> tuple[str, str]:
    """A database of the benchmark's own beside the test database (same server and user)."""
    settings = connection.settings_dict
    name = f"{settings['NAME']}_bench_forecast"[:63]
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{name}", name


@pytest.mark.postgres
@pytest.mark.django_db
def test_bench_forecast_runs_at_a_tiny_scale_and_drops_its_database():
    url, name = bench_database_url()
    result = subprocess.run(
        [sys.executable, "-m", "bench.forecast", "--assets", "200", "--days", "10", "--database-url", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    assert f"dropped database {name}" in result.stderr
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
        assert cursor.fetchone()[0] == 0
