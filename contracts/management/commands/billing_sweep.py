"""``manage.py billing_sweep``: the daily billing sweep by hand (what beat runs each morning).

Starts each provider's run of the month just ended (once) and finalises the drafts whose review period has passed
and whose billing day has come. Safe to run any number of times.
"""

from django.core.management.base import BaseCommand

from contracts.billing import billing_sweep


class Command(BaseCommand):
    help = "Start the runs of the month just ended and finalise the drafts whose review period has passed."

    def handle(self, *args, **options):
        result = billing_sweep()
        self.stdout.write(f"runs_started={result['runs_started']} invoices_finalised={result['invoices_finalised']}")
