"""Selectors and tenancy of maintenance: who sees which work orders, and what a technician sees through them."""

import datetime

import pytest

from assets.models import Asset, Site
from assets.tests.factories import AssetFactory
from maintenance.choices import WorkOrderStatus
from maintenance.models import WorkOrder
from maintenance.selectors import work_order_events, work_order_list
from maintenance.tests.factories import WorkOrderFactory
from telemetry.models import Alert, Reading, SupplyLevel
from telemetry.tests.alert_factories import AlertFactory
from telemetry.tests.reading_factories import ReadingFactory, SupplyLevelFactory


@pytest.fixture
def assigned(asset, technician):
    return WorkOrderFactory(asset=asset, status=WorkOrderStatus.ASSIGNED, assigned_to=technician)


def test_technician_sees_the_work_order_asset_and_site_assigned_to_them(assigned, asset, site, other_asset, technician):
    WorkOrderFactory(asset=other_asset)

    assert list(work_order_list(user=technician)) == [assigned]
    assert list(Asset.objects.visible_to(technician)) == [asset]
    assert list(Site.objects.visible_to(technician)) == [site]


def test_technician_sees_telemetry_of_assigned_assets_only(assigned, asset, other_asset, technician):
    alert = AlertFactory(asset=asset)
    AlertFactory(asset=other_asset)
    reading = ReadingFactory(asset=asset)
    ReadingFactory(asset=other_asset)
    supply = SupplyLevelFactory(asset=asset)
    SupplyLevelFactory(asset=other_asset)

    assert list(Alert.objects.visible_to(technician)) == [alert]
    assert list(Reading.objects.visible_to(technician)) == [reading]
    assert list(SupplyLevel.objects.visible_to(technician)) == [supply]


def test_another_technician_sees_nothing(assigned, asset, other_technician):
    AlertFactory(asset=asset)

    assert not work_order_list(user=other_technician).exists()
    assert not Asset.objects.visible_to(other_technician).exists()
    assert not Site.objects.visible_to(other_technician).exists()
    assert not Alert.objects.visible_to(other_technician).exists()


def test_technician_loses_the_asset_once_the_order_is_closed_but_keeps_the_order(assigned, technician):
    WorkOrder.objects.filter(pk=assigned.pk).update(status=WorkOrderStatus.CLOSED)

    assert list(work_order_list(user=technician)) == [assigned]
    assert not Asset.objects.visible_to(technician).exists()
    assert not Site.objects.visible_to(technician).exists()


def test_customer_sees_only_own_work_orders(asset, other_asset, customer_admin, other_admin, provider_admin):
    own = WorkOrderFactory(asset=asset)
    theirs = WorkOrderFactory(asset=other_asset)

    assert list(work_order_list(user=customer_admin)) == [own]
    assert list(work_order_list(user=other_admin)) == [theirs]
    assert set(work_order_list(user=provider_admin)) == {own, theirs}


def test_operator_sees_work_orders_of_their_sites_only(customer, site, asset, make_member):
    from accounts.choices import Role
    from accounts.models import Membership

    operator = make_member(customer, Role.CUSTOMER_OPERATOR)
    Membership.objects.get(user=operator).sites.add(site)
    here = WorkOrderFactory(asset=asset)
    WorkOrderFactory(asset=AssetFactory(customer=customer))

    assert list(work_order_list(user=operator)) == [here]


def test_open_and_overdue(asset):
    now = datetime.datetime(2026, 3, 2, 12, 0, tzinfo=datetime.UTC)
    hour = datetime.timedelta(hours=1)
    late = WorkOrderFactory(asset=asset, resolution_due_at=now - hour, response_due_at=now - 2 * hour)
    unanswered = WorkOrderFactory(asset=asset, response_due_at=now - hour, resolution_due_at=now + hour)
    answered = WorkOrderFactory(
        asset=asset, response_due_at=now - hour, resolution_due_at=now + hour, responded_at=now - 2 * hour
    )
    on_time = WorkOrderFactory(asset=asset, response_due_at=now + hour, resolution_due_at=now + 2 * hour)
    done = WorkOrderFactory(asset=asset, status=WorkOrderStatus.COMPLETED, resolution_due_at=now - hour)

    assert set(WorkOrder.objects.open()) == {late, unanswered, answered, on_time}
    assert set(WorkOrder.objects.overdue(now)) == {late, unanswered}
    assert done not in WorkOrder.objects.overdue(now)


def test_work_order_events_are_oldest_first(customer, site, asset, provider_admin, technician):
    from maintenance import services
    from maintenance.choices import Priority, WorkOrderKind, WorkOrderSource

    work_order = services.work_order_create(
        customer=customer,
        site=site,
        asset=asset,
        kind=WorkOrderKind.INSPECTION,
        priority=Priority.P4,
        source=WorkOrderSource.MANUAL,
        description="Yearly inspection",
        by=provider_admin,
    )
    services.work_order_assign(work_order=work_order, technician=technician, by=provider_admin)
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.CANCELLED, by=provider_admin)

    assert [event.to_status for event in work_order_events(work_order=work_order)] == [
        WorkOrderStatus.NEW,
        WorkOrderStatus.ASSIGNED,
        WorkOrderStatus.CANCELLED,
    ]
