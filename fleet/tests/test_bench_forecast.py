"""bench.forecast at a tiny scale: it builds its own database, runs every phase, prints its last line, cleans up."""

import re

import pytest

from fleet.testing.bench import bench_database_url, database_exists, run_bench

LAST_LINE = re.compile(
    r"^assets=200 floor_s=\d+\.\d\d features_vs_floor=(\d+\.\d\d|-) total_s=(\d+\.\d\d|-) peak_mib=\d+$"
)


@pytest.mark.postgres
@pytest.mark.django_db
def test_bench_forecast_runs_at_a_tiny_scale_and_drops_its_database():
    url, name = bench_database_url("bench.forecast")
    result = run_bench("bench.forecast", "--assets", "200", "--days", "10", database_url=url)
    lines = result.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    assert f"dropped database {name}" in result.stderr
    assert not database_exists(name)
