"""``manage.py sla_sweep``: the SLA breach sweep that beat runs, for the embedded demo and cron (idempotent)."""

from django.core.management.base import BaseCommand

from maintenance.sla import sla_sweep


class Command(BaseCommand):
    help = "Flag work orders past their response or resolution time and e-mail the breach digests."

    def handle(self, *args, **options):
        result = sla_sweep()
        self.stdout.write(
            f"response_breaches={result.response_breaches} resolution_breaches={result.resolution_breaches} "
            f"notified={result.notified} emails_sent={result.emails_sent}"
        )
