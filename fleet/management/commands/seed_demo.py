"""``manage.py seed_demo``: the demo data of every app, idempotently, then the demo logins."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from fleet.demo import DemoContext, demo_steps


class Command(BaseCommand):
    help = (
        "Load the demo data: a provider, three customers with sites and fleets, the catalogue and a user of every "
        "role, plus what later apps register. Safe to run again: existing rows are kept, nothing is duplicated, "
        "and demo users get their demo password back. Prints the demo logins (demo passwords: never run this on "
        "a reachable server)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--skip",
            action="append",
            default=[],
            metavar="STEP",
            help="Leave out a step (e.g. --skip telemetry for a quick start). Steps: "
            + ", ".join(step.name for step in demo_steps()),
        )

    def handle(self, *args, **options):
        names = {step.name for step in demo_steps()}
        unknown = set(options["skip"]) - names
        if unknown:
            raise CommandError(f"Unknown step(s): {', '.join(sorted(unknown))}. Steps: {', '.join(sorted(names))}.")
        started = time.perf_counter()
        context = DemoContext(today=timezone.localdate(), log=lambda line: self.stdout.write(f"  {line}"))
        with transaction.atomic():
            for step in demo_steps():
                if step.name not in options["skip"]:
                    step.fn(context)
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {elapsed:.1f} s."))
        self._print_logins(context)

    def _print_logins(self, context: DemoContext) -> None:
        header = ("Role", "E-mail", "Password", "Organisation")
        rows = [header] + [(str(x.role), x.email, x.password, x.organisation) for x in context.logins]
        widths = [max(len(row[index]) for row in rows) for index in range(3)]
        self.stdout.write("")
        for number, row in enumerate(rows):
            cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)] + [row[3]]
            self.stdout.write("  ".join(cells))
            if number == 0:
                self.stdout.write("  ".join("-" * width for width in [*widths, len(header[3])]))
