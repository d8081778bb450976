"""The backtest on the demo history: seed_demo's replacements give observed lives, and the forecaster beats the
catalogue baseline."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from fleet.demo import DemoContext
from maintenance import lives
from maintenance.demo.forecasts import seed_forecasts
from maintenance.models import PartInstallation, ReplacementForecast

pytestmark = pytest.mark.django_db

SUMMARY = re.compile(
    r"^parts=(?P<parts>\d+) forecast_mae_days=(?P<forecast>\d+\.\d) baseline_mae_days=(?P<baseline>\d+\.\d) "
    r"within_window=(?P<within>\d\.\d\d) stockouts=(?P<stockouts>\d+)$"
)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """seed_demo once for the module, inside a transaction rolled back afterwards."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", stdout=StringIO())
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def printed(seeded, django_db_blocker):
    """The backtest of the demo's last four months (the whole year takes twice as long and says the same)."""
    since = timezone.localdate() - timedelta(days=120)
    with django_db_blocker.unblock():
        out = StringIO()
        call_command("backtest_forecasts", since=since, stdout=out)
        return out.getvalue().strip().splitlines()


def test_demo_history_has_enough_lives_for_experience_to_replace_the_catalogue(seeded):
    observed = lives.observed_lives(as_of=timezone.now())
    counts = sorted(len(values) for values in observed.values())

    assert len(counts) >= 20
    assert sum(count >= lives.EMPIRICAL_MIN for count in counts) >= 15
    assert sum(count >= lives.WEIBULL_MIN for count in counts) >= 5


def test_demo_forecasts_are_seeded(seeded):
    methods = set(ReplacementForecast.objects.values_list("method", flat=True))

    assert {"level_trend", "weibull"} <= methods


def test_seeding_again_adds_no_installation(seeded):
    count = PartInstallation.objects.count()

    seed_forecasts(DemoContext(today=timezone.localdate(), log=lambda line: None))

    assert PartInstallation.objects.count() == count


def test_the_forecaster_beats_the_catalogue_baseline_on_the_demo_history(printed):
    summary = SUMMARY.match(printed[-1])

    assert summary, printed[-1]
    assert int(summary["parts"]) >= 100
    assert float(summary["forecast"]) < float(summary["baseline"])
    assert float(summary["within"]) >= 0.5


def test_the_table_has_a_row_per_part_type_and_one_for_all(printed):
    rows = {line.split()[0] for line in printed[2:-2] if line and not line.startswith("-")}

    assert {"RIC-IMC-K", "RIC-IMC-DRUM", "FLT-BRAKE-SHOE", "all"} <= rows
