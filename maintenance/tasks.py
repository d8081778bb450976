"""Celery tasks of maintenance. The tasks live beside their services; importing the modules registers them."""

from maintenance import approvals, plans, reports, sla, work  # noqa: F401
