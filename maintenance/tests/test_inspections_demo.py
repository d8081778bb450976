"""The demo's pre-use inspections: a forklift checklist, two weeks of the operator's checks, one critical failure."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from assets.choices import AssetStatus
from fleet.demo import DemoContext
from maintenance.choices import ChecklistPurpose, WorkOrderSource
from maintenance.demo.inspections import OPERATOR_EMAIL, seed_inspections
from maintenance.models import ChecklistTemplate, PreUseInspection

pytestmark = pytest.mark.django_db


def test_seed_demo_records_two_weeks_of_inspections_once():
    call_command("seed_demo", stdout=StringIO())
    template = ChecklistTemplate.objects.get(purpose=ChecklistPurpose.PRE_USE)
    assert template.items.count() == 9
    assert template.items.filter(critical=True).count() == 5
    inspections = PreUseInspection.objects.filter(operator__email=OPERATOR_EMAIL)
    days = {inspection.performed_at.date() for inspection in inspections}
    assert len(days) >= 13
    critical = inspections.get(critical_failure=True)
    assert critical.asset.status == AssetStatus.IN_REPAIR
    assert critical.work_order.source == WorkOrderSource.ALERT
    assert critical.alert is not None
    assert inspections.filter(passed=False, critical_failure=False).count() == 1

    before = PreUseInspection.objects.count()
    seed_inspections(DemoContext(today=timezone.localdate(), log=lambda line: None))
    assert PreUseInspection.objects.count() == before
