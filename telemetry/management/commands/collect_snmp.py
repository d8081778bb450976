"""``manage.py collect_snmp``: the SNMP collector of telemetry/snmp.py, run from the portal's own tree.

It takes the same options as the standalone agent (``python -m telemetry.snmp``) and posts to the ingest API
like any collector, with a collector key.
"""

import logging

from django.core.management.base import BaseCommand, CommandError

from telemetry import snmp


class Command(BaseCommand):
    help = "Poll printers over SNMP and post their meters, supply levels and events to the ingest API."

    def add_arguments(self, parser):
        snmp.add_arguments(parser)

    def handle(self, *args, **options):
        if options["verbosity"] >= 2:
            logging.getLogger(snmp.logger.name).setLevel(logging.INFO)
        try:
            ok = snmp.run_from_options(options, out=self.stdout)
        except snmp.CollectorError as error:
            raise CommandError(str(error)) from None
        if not ok:
            raise CommandError("The collector did not finish cleanly: see the lines above.")
