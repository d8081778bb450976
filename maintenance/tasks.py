"""Celery tasks of maintenance. The tasks live beside their services; importing the modules registers them."""

from maintenance import approvals, plans, replacements, reports, sla, supplies, work  # noqa: F401
