"""``manage.py run_billing --period YYYY-MM [--finalize] [--provider CODE]``: the monthly run by hand.

Does what the beat sweep does for one period: opens (or re-opens) the run of each provider (or the one named),
drafts its customers in batches (on the workers when a broker is configured, here otherwise), and with
``--finalize`` finalises the drafts at once instead of leaving them for review. Running it again is safe: it
re-drafts drafts and leaves finalised invoices as they are.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.choices import OrganisationKind
from accounts.models import Organisation
from contracts.billing import billing_run_start, parse_period
from contracts.models import BillingRun


class Command(BaseCommand):
    help = "Draft (and with --finalize, finalise) the invoices of a month for every customer."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month to bill, as YYYY-MM.")
        parser.add_argument("--finalize", action="store_true", help="Finalise the drafts without a review period.")
        parser.add_argument("--provider", help="Only this provider (its code).")

    def handle(self, *args, period: str, finalize: bool, provider: str | None, **options):
        try:
            year, month = parse_period(period)
        except ValidationError as error:
            raise CommandError(f"--period: {' '.join(error.messages)} (got {period!r})") from error
        providers = Organisation.objects.filter(kind=OrganisationKind.PROVIDER, is_active=True).order_by("pk")
        if provider:
            providers = providers.filter(code=provider)
            if not providers.exists():
                raise CommandError(f"No active provider with the code {provider!r}.")
        for organisation in providers:
            try:
                run = billing_run_start(provider=organisation, year=year, month=month, finalize=finalize)
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from error
            run = BillingRun.objects.get(pk=run.pk)
            counts = {status: run.items.filter(status=status).count() for status in ("pending", "done", "failed")}
            invoices = run.invoices.count()
            self.stdout.write(
                f"{organisation.code} {run.period}: {run.get_status_display()}; customers done={counts['done']} "
                f"failed={counts['failed']} pending={counts['pending']}; invoices={invoices}"
            )
            for item in run.items.filter(status="failed").select_related("customer"):
                self.stdout.write(f"  failed: {item.customer.name}: {item.message}")
