"""Celery tasks of telemetry: the periodic alert sweep and the work orders that severe alerts ask for."""

from celery import shared_task

from telemetry import alerts


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=270)
def alerts_sweep_task() -> None:
    """Silent devices, work orders still owed, e-mail digests (beat, every few minutes). Idempotent."""
    alerts.alerts_sweep()


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def alert_request_work_orders_task(alert_ids: list[int]) -> None:
    """Ask for the work orders of newly opened severe alerts; an alert that already asked is left alone."""
    alerts.alerts_request_work_orders(alert_ids=alert_ids)
