"""``manage.py send_payment_reminders``: the payment reminder sweep that beat runs, for the demo and cron."""

from django.core.management.base import BaseCommand

from contracts.receivables import send_payment_reminders


class Command(BaseCommand):
    help = "Mark unpaid invoices past their due date as overdue and e-mail the payment reminders owed."

    def handle(self, *args, **options):
        sent = send_payment_reminders()
        self.stdout.write(f"reminders_emailed={sent}")
