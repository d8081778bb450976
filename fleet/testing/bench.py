"""Running a benchmark of ``bench/`` at a tiny scale from a test, on a database of its own beside the test database."""

import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def bench_database_url(module: str) -> tuple[str, str]:
    """The URL and name of the benchmark's database: the test database's name with the module's (same server and
    user)."""
    settings = connection.settings_dict
    name = f"{settings['NAME']}_{module.replace('.', '_')}"[:63]
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{name}", name


def run_bench(module: str, *arguments: str, database_url: str) -> subprocess.CompletedProcess:
    """``python -m <module> <arguments> --database-url <url>`` from the project's root; fails the test when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", module, *arguments, "--database-url", database_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def database_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone()[0] > 0
