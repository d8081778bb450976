"""Celery tasks of reports: thin wrappers over ``reports.ledger``, each idempotent (a build replaces its month).

The daily sweep queues one task per batch of customers (``LEDGER_BATCH_CUSTOMERS``); no task waits for another.
"""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from reports import ledger


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def ledger_build_batch_task(customer_ids: list[int], months: list[list[int]]) -> int:
    return ledger.build_ledgers(customer_ids=customer_ids, months=[(year, month) for year, month in months])


@shared_task(ignore_result=True, soft_time_limit=600, time_limit=660)
def ledger_sweep_task() -> int:
    """This month's and last month's ledgers of every active customer (late invoices, labour and readings land in
    the month just ended). Returns the number of batches queued."""
    months = ledger.months_back(timezone.localdate(), settings.LEDGER_SWEEP_MONTHS)
    queued = ledger.batches(ledger.sweep_customer_ids(), settings.LEDGER_BATCH_CUSTOMERS)
    for customer_ids in queued:
        ledger_build_batch_task.delay(customer_ids, [list(month) for month in months])
    return len(queued)


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def proposal_render_task(proposal_id: int) -> str:
    """Render one proposal (``reports.proposals.render_proposal``). Worker processes are recycled after
    ``CELERY_WORKER_MAX_TASKS_PER_CHILD`` tasks or past ``CELERY_WORKER_MAX_MEMORY_PER_CHILD``: WeasyPrint keeps
    the memory it used."""
    from reports.proposals import render_proposal

    return render_proposal(proposal_id)


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def kpi_snapshot_task() -> int:
    """The last month's KPI snapshot of every provider that has none, from ``KPI_SNAPSHOT_DAY`` on. Idempotent."""
    from reports.snapshots import snapshot_sweep

    return snapshot_sweep()
