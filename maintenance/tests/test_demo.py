"""The demo's work: the technician has work orders (and so sees their assets), and seeding again adds none."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User
from assets.models import Asset
from maintenance.choices import WorkOrderKind, WorkOrderStatus
from maintenance.demo import SERVICE_REQUEST
from maintenance.models import WorkOrder

pytestmark = pytest.mark.django_db


def test_seed_demo_gives_the_technician_work_and_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    technician = User.objects.get(email="tech@nihon-fleet.example")
    mine = WorkOrder.objects.filter(assigned_to=technician)

    assert mine.filter(status=WorkOrderStatus.IN_PROGRESS).count() == 1
    assert mine.filter(status=WorkOrderStatus.EN_ROUTE).count() == 1
    assert WorkOrder.objects.filter(kind=WorkOrderKind.SERVICE_REQUEST, description=SERVICE_REQUEST).count() == 1
    assert set(Asset.objects.visible_to(technician)) == {order.asset for order in mine}

    before = WorkOrder.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert WorkOrder.objects.count() == before
