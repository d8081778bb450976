"""``manage.py backtest_forecasts``: replay history and measure the replacement forecasts against the baseline."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organisation
from maintenance.backtest import DEFAULT_POINTS, backtest_run

COLUMNS = (
    ("part type", "<", 18),
    ("events", ">", 6),
    ("points", ">", 6),
    ("MAE d", ">", 7),
    ("bias d", ">", 7),
    ("base MAE", ">", 8),
    ("base bias", ">", 9),
    ("in window", ">", 9),
    ("base in w.", ">", 10),
    ("stock-outs", ">", 10),
    ("base s-o", ">", 8),
    ("wasted %", ">", 8),
    ("base w. %", ">", 9),
)


def _points(value: str) -> tuple[int, ...]:
    try:
        points = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError as error:
        raise CommandError(f"--points takes days as integers separated by commas, not {value!r}.") from error
    if not points or any(point < 1 for point in points):
        raise CommandError("--points takes one or more positive numbers of days, e.g. 60,30,14,7.")
    return points


def _since(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--since takes a date as YYYY-MM-DD, not {value!r}.") from error


def _cell(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


class Command(BaseCommand):
    help = (
        "Replay the recorded refills and replacements: at each replay point before each, forecast with only the "
        "data known then and compare with what happened. Prints per part type the forecast's mean absolute error "
        "and bias in days, the share forecast within the planning window, stock-outs and life wasted, beside the "
        "naive baseline (catalogue life at the average rate); the last line sums up all parts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customer", metavar="CODE", help="Only this customer's assets (organisation code).")
        parser.add_argument("--since", type=_since, metavar="YYYY-MM-DD", help="Only events on or after this day.")
        parser.add_argument(
            "--points",
            type=_points,
            default=DEFAULT_POINTS,
            metavar="DAYS",
            help="Days before each event to forecast from (default 60,30,14,7).",
        )

    def handle(self, *args, **options):
        code = options["customer"]
        if code and not Organisation.objects.filter(code=code, provider__isnull=False).exists():
            raise CommandError(f"No customer with the code {code!r}.")
        result = backtest_run(customer_code=code, since=options["since"], points=options["points"])
        header = "  ".join(f"{title:{align}{width}}" for title, align, width in COLUMNS)
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for summary in [*result.parts, result.overall]:
            cells = (
                summary.code,
                summary.events,
                summary.compared_points,
                _cell(summary.forecast_mae),
                _cell(summary.forecast_bias),
                _cell(summary.baseline_mae),
                _cell(summary.baseline_bias),
                _cell(summary.within_window, 2),
                _cell(summary.baseline_within_window, 2),
                summary.stockouts,
                summary.baseline_stockouts,
                _cell(summary.wasted_percent),
                _cell(summary.baseline_wasted_percent),
            )
            if summary is result.overall:
                self.stdout.write("-" * len(header))
            self.stdout.write(
                "  ".join(
                    f"{_cell(cell):{align}{width}}" for cell, (_t, align, width) in zip(cells, COLUMNS, strict=True)
                )
            )
        self.stdout.write(
            f"{len(result.events)} refills and replacements found, {result.overall.events} replayed on "
            f"{result.replay_days} days; MAE and bias in days (positive: late) over the replay points both forecast."
        )
        self.stdout.write(result.summary_line())
