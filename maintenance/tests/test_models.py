"""Database constraints of maintenance."""

import datetime

import pytest
from django.db import IntegrityError

from maintenance.choices import WORK_ORDER_OPEN_STATES, WORK_ORDER_TRANSITIONS, Priority, WorkOrderStatus
from maintenance.tests.factories import ServiceLevelFactory, WorkOrderFactory


def test_the_transition_table_names_every_status():
    assert set(WORK_ORDER_TRANSITIONS) == set(WorkOrderStatus.values)
    assert all(set(targets) <= set(WorkOrderStatus.values) for targets in WORK_ORDER_TRANSITIONS.values())
    assert not WORK_ORDER_TRANSITIONS[WorkOrderStatus.CLOSED]
    assert not WORK_ORDER_TRANSITIONS[WorkOrderStatus.CANCELLED]
    assert WorkOrderStatus.COMPLETED not in WORK_ORDER_OPEN_STATES


def test_one_default_service_level_per_provider(provider):
    ServiceLevelFactory(provider=provider)

    with pytest.raises(IntegrityError):
        ServiceLevelFactory(provider=provider)


def test_one_service_level_per_customer(provider, customer):
    ServiceLevelFactory(provider=provider, customer=customer)

    with pytest.raises(IntegrityError):
        ServiceLevelFactory(provider=provider, customer=customer)


def test_service_level_hours_per_priority(provider):
    level = ServiceLevelFactory(provider=provider, response_hours_p3=12, resolution_hours_p3=48)

    assert (level.response_hours(Priority.P3), level.resolution_hours(Priority.P3)) == (12, 48)


def test_resolution_cannot_come_before_response(provider):
    with pytest.raises(IntegrityError):
        ServiceLevelFactory(provider=provider, response_hours_p1=10, resolution_hours_p1=5)


def test_work_order_number_is_unique_per_provider(asset):
    WorkOrderFactory(asset=asset, number="WO-2026-000001")

    with pytest.raises(IntegrityError):
        WorkOrderFactory(asset=asset, number="WO-2026-000001")


def test_downtime_cannot_end_before_it_starts(asset):
    with pytest.raises(IntegrityError):
        WorkOrderFactory(
            asset=asset,
            down_from=datetime.datetime(2026, 3, 2, 13, 0, tzinfo=datetime.UTC),
            down_until=datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC),
        )
