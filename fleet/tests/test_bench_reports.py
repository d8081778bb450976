"""bench.reports at a tiny scale: it builds its own database, times every grouping, renders the proposal and the
plain table, prints its last line, cleans up."""

import re

import pytest

from fleet.testing.bench import bench_database_url, database_exists, run_bench

LAST_LINE = re.compile(r"^tco_ms=\d+ proposal_pages=\d+ proposal_s=\d+\.\d\d per_page_vs_plain=\d+\.\d\d peak_mib=\d+$")


@pytest.mark.postgres
@pytest.mark.django_db
def test_bench_reports_runs_at_a_tiny_scale_and_drops_its_database():
    url, name = bench_database_url("bench.reports")
    result = run_bench("bench.reports", "--assets", "120", "--months", "2", "--runs", "1", database_url=url)
    lines = result.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    output = result.stdout
    # Two months of three customer costs on each of 120 assets and labour on one in four; every grouping timed.
    assert re.search(r"ledger: [\d,]+ rows over 2 months", output), output
    for group in ("category", "asset", "model", "site", "customer", "month"):
        assert re.search(rf"tco by {group}: \d+ rows, median \d+ ms of 1", output), group
    assert re.search(r"tco by asset: 120 rows", output) and re.search(r"tco by month: 2 rows", output), output
    assert re.search(r"proposal: \d+ pages, [\d,]+ bytes", output), output
    # Every other asset has two corrective work orders; the service KPIs are timed three ways.
    assert "service data: 120 work orders, every asset covered" in output, output
    for table in ("by month and customer", "by contract", "by asset"):
        assert re.search(rf"service {table}: median \d+ ms of 1", output), table
    assert f"dropped database {name}" in result.stderr
    assert not database_exists(name)
