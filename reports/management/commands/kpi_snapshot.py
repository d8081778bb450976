"""``manage.py kpi_snapshot``: take a month's KPI snapshot by hand (what the daily task does for the last month)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.choices import OrganisationKind
from accounts.models import Organisation
from maintenance.plans import add_months
from reports.management.commands.build_ledger import _month
from reports.snapshots import take_snapshot


class Command(BaseCommand):
    help = "Take the KPI snapshot of a month (default: the last) for every active provider, or one."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="the month, YYYY-MM (default: the last month)")
        parser.add_argument("--provider", help="one provider's code (default: every active provider)")
        parser.add_argument("--replace", action="store_true", help="take it again where one exists")

    def handle(self, *args, month=None, provider=None, replace=False, **options):
        chosen = _month(month) if month else add_months(timezone.localdate().replace(day=1), -1)
        if chosen >= timezone.localdate().replace(day=1):
            raise CommandError("only a month that has ended can be snapshotted")
        providers = Organisation.objects.filter(kind=OrganisationKind.PROVIDER, is_active=True)
        if provider:
            providers = providers.filter(code=provider)
            if not providers.exists():
                raise CommandError(f"no provider has the code {provider!r}")
        taken = kept = 0
        for provider_id in providers.order_by("pk").values_list("pk", flat=True):
            if take_snapshot(provider_id=provider_id, month=chosen, replace=replace) is None:
                kept += 1
            else:
                taken += 1
        self.stdout.write(f"month={chosen:%Y-%m} taken={taken} kept={kept}")
