"""``manage.py forecast_run [--customer CODE] [--date YYYY-MM-DD]``: the nightly forecasts and their actions, by
hand (the demo has no beat)."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Organisation
from maintenance.replacements import replacements_run
from telemetry.usage import time_zone


class Command(BaseCommand):
    help = (
        "Recompute the replacement forecasts of every active customer (or one) and open the supply orders and "
        "predictive work orders now due, printing the counts. Safe to run again: a need is never acted on twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customer", help="The code of one customer; default every active customer.")
        parser.add_argument(
            "--date", help="Forecast as of the end of this day (YYYY-MM-DD, the customer's time zone); default now."
        )

    def handle(self, *args, **options):
        day = None
        if options["date"]:
            try:
                day = datetime.date.fromisoformat(options["date"])
            except ValueError as error:
                raise CommandError(f"Not a date: {options['date']} (use YYYY-MM-DD).") from error
        customers = Organisation.objects.customers().filter(is_active=True).order_by("code")
        if options["customer"]:
            customers = customers.filter(code=options["customer"])
            if not customers.exists():
                raise CommandError(f"No active customer with the code {options['customer']}.")
        totals: dict[str, int] = {}
        for customer in customers:
            as_of = timezone.now()
            if day is not None:
                end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min)
                as_of = end.replace(tzinfo=time_zone(customer.time_zone)) - datetime.timedelta(microseconds=1)
            counts = replacements_run(customer_id=customer.pk, as_of=as_of).as_dict()
            self.stdout.write(f"{customer.code}  " + "  ".join(f"{name}={value}" for name, value in counts.items()))
            for name, value in counts.items():
                totals[name] = totals.get(name, 0) + value
        self.stdout.write("total  " + "  ".join(f"{name}={value}" for name, value in totals.items()))
