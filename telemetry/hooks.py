"""Hooks that later apps connect to telemetry, so that no import runs against the order of the apps.

An alert of a severe condition asks for a work order (DESIGN.md §1). Work orders live in ``maintenance``,
which comes after telemetry: it registers its opener here in its ``AppConfig.ready()``::

    from telemetry.hooks import register_work_order_opener
    register_work_order_opener(work_order_open_for_alert)

The opener is called as ``opener(alert)`` inside the transaction that marks the alert, so a failing opener
leaves the alert unmarked and the next sweep asks again. Until an opener is registered, asking only records
``Alert.work_order_requested_at``.
"""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from telemetry.models import Alert

_work_order_openers: list[Callable[[Alert], object]] = []


def register_work_order_opener(fn: Callable[[Alert], object]) -> None:
    """Register ``fn(alert)``, called once for every alert that asks for a work order."""
    if fn not in _work_order_openers:
        _work_order_openers.append(fn)


def request_work_order(alert: Alert) -> bool:
    """Ask for a work order for ``alert``, at most once in its life; False when it had already asked.

    The conditional update is the guard: of two workers asking at once, one marks the alert and calls the
    openers, the other finds it marked and does nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = Alert.objects.filter(pk=alert.pk, work_order_requested_at__isnull=True).update(
            work_order_requested_at=now
        )
        if not claimed:
            return False
        alert.work_order_requested_at = now
        for opener in _work_order_openers:
            opener(alert)
    return True
