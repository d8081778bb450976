"""Celery tasks of billing: thin wrappers over ``contracts.billing``, each idempotent.

Batches carry tens of customers (``BILLING_BATCH_CUSTOMERS``); progress lives in the run's item rows, so no task
waits for another (no chord). ``acks_late`` with ``task_reject_on_worker_lost`` (settings) makes a batch that a
killed worker held run again on another worker; it drafts only the customers still pending.
"""

from celery import shared_task

from accounts.models import Organisation, User
from contracts import (
    billing,
    tasks_receivables,  # noqa: F401 - registers payment_reminders_task with the workers
)
from contracts.models import BillingRun


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def billing_draft_batch_task(run_id: int, customer_ids: list[int]) -> int:
    return billing.billing_run_draft_batch(run_id=run_id, customer_ids=customer_ids)


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def billing_run_start_task(provider_id: int, year: int, month: int, user_id: int | None, finalize: bool) -> int:
    provider = Organisation.objects.get(pk=provider_id)
    user = User.objects.filter(pk=user_id).first() if user_id else None
    return billing.billing_run_start(provider=provider, year=year, month=month, by=user, finalize=finalize).pk


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=3600, time_limit=3700)
def billing_run_finalise_task(run_id: int, user_id: int | None = None) -> int:
    user = User.objects.filter(pk=user_id).first() if user_id else None
    return billing.billing_run_finalise(run=BillingRun.objects.get(pk=run_id), by=user)


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=600, time_limit=660)
def invoice_deliver_task(invoice_id: int) -> bool:
    return billing.invoice_deliver(invoice_id=invoice_id)


@shared_task(ignore_result=True, soft_time_limit=3000, time_limit=3300)
def billing_sweep_task() -> dict[str, int]:
    return billing.billing_sweep()
