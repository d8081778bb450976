"""The demo's work done: checklist templates, checklists on open orders, work on the job in progress."""

from io import StringIO

import pytest
from django.core.management import call_command

from maintenance.choices import ChecklistResult, WorkOrderStatus
from maintenance.models import ChecklistTemplate, WorkOrder, WorkOrderPart

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_templates_and_work_once(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", stdout=StringIO())
    assert (
        ChecklistTemplate.objects.filter(
            name__in=["複合機 修理点検", "複合機 定期点検", "フォークリフト 定期点検"]
        ).count()
        == 3
    )
    in_progress = WorkOrder.objects.get(
        assigned_to__email="tech@nihon-fleet.example", status=WorkOrderStatus.IN_PROGRESS
    )
    assert in_progress.checklist.filter(result=ChecklistResult.OK).count() == 2
    assert in_progress.parts.count() == 1

    before = (ChecklistTemplate.objects.count(), WorkOrderPart.objects.count())
    call_command("seed_demo", stdout=StringIO())
    assert (ChecklistTemplate.objects.count(), WorkOrderPart.objects.count()) == before
