"""Celery tasks of receivables: the payment reminder sweep (``contracts.receivables.send_payment_reminders``)."""

from celery import shared_task

from contracts import receivables


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=1800, time_limit=1900)
def payment_reminders_task() -> int:
    """Mark unpaid invoices past due as overdue and e-mail the reminders owed (beat, daily). Idempotent: a
    reminder is claimed before it is sent, so a redelivered or concurrent run sends nothing twice."""
    return receivables.send_payment_reminders()
