"""The fleet portal project: settings, URLs, the Celery app and the pieces every app shares."""

from fleet.celery import app as celery_app

__all__ = ["celery_app"]
