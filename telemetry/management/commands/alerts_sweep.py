"""``manage.py alerts_sweep``: the alert sweep that beat runs, for the embedded demo and cron (idempotent)."""

from django.core.management.base import BaseCommand

from telemetry.alerts import alerts_sweep


class Command(BaseCommand):
    help = "Open and resolve silent-device alerts, ask for owed work orders and send the alert e-mail digests."

    def handle(self, *args, **options):
        result = alerts_sweep()
        self.stdout.write(
            f"silent_opened={result.silent_opened} silent_resolved={result.silent_resolved} "
            f"work_orders_requested={result.work_orders_requested} emails_sent={result.emails_sent}"
        )
