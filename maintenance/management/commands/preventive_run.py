"""``manage.py preventive_run [--date YYYY-MM-DD]``: the daily preventive-plan run, by hand (the demo has no beat)."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from maintenance.plans import preventive_plans_run


class Command(BaseCommand):
    help = (
        "Open the preventive and inspection work orders that active plans have due within their lead time, and "
        "print them. Safe to run again: an occurrence already opened is never opened twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="The day to run for (YYYY-MM-DD); default today.")

    def handle(self, *args, **options):
        today = timezone.localdate()
        if options["date"]:
            try:
                today = datetime.date.fromisoformat(options["date"])
            except ValueError as error:
                raise CommandError(f"Not a date: {options['date']} (use YYYY-MM-DD).") from error
        opened = preventive_plans_run(today=today)
        for occurrence in opened:
            self.stdout.write(
                f"{occurrence.work_order.number if occurrence.work_order else '-'}  {occurrence.plan.name}  "
                f"{occurrence.asset.serial_number}  due {occurrence.due_on.isoformat()}  ({occurrence.basis})"
            )
        self.stdout.write(f"{len(opened)} work order(s) opened for {today.isoformat()}.")
