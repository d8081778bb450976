"""``manage.py build_ledger``: build the cost ledger by hand (what the daily sweep does for the last two months)."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Organisation
from reports.ledger import build_ledgers, months_back, sweep_customer_ids


def _month(text: str) -> datetime.date:
    try:
        year, month = (int(part) for part in text.split("-"))
        return datetime.date(year, month, 1)
    except ValueError as error:
        raise CommandError(f"{text!r} is not a month (YYYY-MM)") from error


class Command(BaseCommand):
    help = "Build the cost ledger of the given months (default: this month and the last) for every active customer."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="the last month to build, YYYY-MM (default: this month)")
        parser.add_argument("--months", type=int, default=2, help="how many months up to --month (default 2)")
        parser.add_argument("--customer", help="one customer's code (default: every active customer)")

    def handle(self, *args, month=None, months=2, customer=None, **options):
        last = _month(month) if month else timezone.localdate()
        if not 1 <= months <= 120:
            raise CommandError("--months takes 1 to 120")
        if customer:
            found = Organisation.objects.filter(code=customer, kind="customer").values_list("pk", flat=True)
            if not found:
                raise CommandError(f"no customer has the code {customer!r}")
            customer_ids = list(found)
        else:
            customer_ids = sweep_customer_ids()
        periods = months_back(last, months)
        written = build_ledgers(customer_ids=customer_ids, months=periods)
        first = f"{periods[0][0]}-{periods[0][1]:02d}"
        self.stdout.write(f"customers={len(customer_ids)} months={first}..{last:%Y-%m} entries={written}")
