"""Celery tasks of the asset registry: applying large fleet imports."""

from celery import shared_task
from django.core.exceptions import ValidationError

from assets import imports
from assets.choices import FleetImportStatus
from assets.models import FleetImport


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, soft_time_limit=3300, time_limit=3600)
def fleet_import_run_task(import_id: int) -> None:
    """Apply one checked fleet import; a done import (or a second delivery of this task) changes nothing."""
    fleet_import = FleetImport.objects.filter(pk=import_id).first()
    if fleet_import is None or fleet_import.status == FleetImportStatus.DONE:
        return
    try:
        imports.fleet_import_apply(fleet_import=fleet_import)
    except ValidationError:
        return  # the reasons are recorded on the import, which the portal shows
