"""bench.billing at a tiny scale: it builds its own database, runs every phase, prints its last line, cleans up."""

import re

import pytest

from fleet.testing.bench import bench_database_url, database_exists, run_bench

LAST_LINE = re.compile(r"^assets=300 floor_s=\d+\.\d\d usage_vs_floor=\d+\.\d\d run_vs_floor=\d+\.\d\d pdf_ms=\d+$")


@pytest.mark.postgres
@pytest.mark.django_db
def test_bench_billing_runs_at_a_tiny_scale_and_drops_its_database():
    url, name = bench_database_url("bench.billing")
    arguments = ["--customers", "20", "--assets", "300", "--runs", "1", "--pdf-wait", "0"]
    result = run_bench("bench.billing", *arguments, database_url=url)
    lines = result.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    output = result.stdout
    # Every customer drafted, none failed; usage read in three queries per distinct period at both sizes; the PDF
    # measured on a one-page finalised invoice.
    assert re.search(r"run 1: drafting [\d.]+ s: 20 customers drafted, 0 failed, 20 invoices", output), output
    queries = re.search(r"\((\d+) distinct periods\), (\d+) queries; at 20: (\d+) queries \((\d+) distinct", output)
    assert queries, output
    small_periods, small_queries, queries_all, periods_all = (int(value) for value in queries.groups())
    assert (small_queries, queries_all) == (3 * small_periods, 3 * periods_all)
    assert re.search(r"pdf: INV-\d{4}-000001 \(finalised, Factur-X, 2 lines, 1 page", output), output
    assert f"dropped database {name}" in result.stderr
    assert not database_exists(name)
