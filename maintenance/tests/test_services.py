"""Services of maintenance: creating, assigning, moving and completing work orders."""

import datetime
import itertools

import pytest
from django.core.exceptions import ValidationError

from accounts.choices import Role
from assets.tests.factories import AssetFactory, SiteFactory
from maintenance import services
from maintenance.choices import WORK_ORDER_TRANSITIONS, Priority, WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.models import ServiceLevel, WorkOrder
from maintenance.tests.factories import ServiceLevelFactory, WorkOrderFactory
from telemetry import hooks
from telemetry.choices import Severity
from telemetry.tests.alert_factories import AlertFactory, AlertRuleFactory

ALL_MOVES = list(itertools.product(WorkOrderStatus.values, repeat=2))


def _create(customer, site, asset=None, *, by=None, **fields):
    values = {
        "kind": WorkOrderKind.CORRECTIVE,
        "priority": Priority.P2,
        "source": WorkOrderSource.MANUAL,
        "description": "Fuser error SC542",
    }
    values.update(fields)
    return services.work_order_create(customer=customer, site=site, asset=asset, by=by, **values)


def _messages(excinfo) -> list[str]:
    return excinfo.value.messages


# --- Service levels and due times ------------------------------------------------------------------------------


def test_service_level_for_prefers_the_customers_own_over_the_provider_default(provider, customer, other_customer):
    default = ServiceLevelFactory(provider=provider, name="Standard")
    own = ServiceLevelFactory(provider=provider, customer=customer, name="Premium")

    assert services.service_level_for(customer=customer) == own
    assert services.service_level_for(customer=other_customer) == default


def test_service_level_for_is_none_without_any_level(customer):
    assert services.service_level_for(customer=customer) is None


def test_service_levels_for_many_customers_in_one_query(provider, customer, other_customer, django_assert_num_queries):
    default = ServiceLevelFactory(provider=provider, name="Standard")
    own = ServiceLevelFactory(provider=provider, customer=customer, name="Premium")
    customers = {customer.pk: provider.pk, other_customer.pk: provider.pk}

    with django_assert_num_queries(1):
        levels = services.service_levels_for(customers=customers)

    assert levels == {customer.pk: own, other_customer.pk: default}
    # Read from the levels given (a user's view): without the default, the other customer has none.
    assert services.service_levels_for(customers=customers, levels=ServiceLevel.objects.exclude(pk=default.pk)) == {
        customer.pk: own, other_customer.pk: None
    }  # fmt: skip


def test_create_takes_due_times_from_the_provider_default(provider, customer, site, asset, service_desk):
    ServiceLevelFactory(provider=provider, response_hours_p2=8, resolution_hours_p2=24)

    work_order = _create(customer, site, asset, by=service_desk, priority=Priority.P2)

    assert work_order.response_due_at == work_order.created_at + datetime.timedelta(hours=8)
    assert work_order.resolution_due_at == work_order.created_at + datetime.timedelta(hours=24)


def test_create_takes_due_times_from_the_customers_own_level(provider, customer, site, asset, service_desk):
    ServiceLevelFactory(provider=provider, response_hours_p1=4, resolution_hours_p1=8)
    premium = ServiceLevelFactory(provider=provider, customer=customer, response_hours_p1=2, resolution_hours_p1=4)

    work_order = _create(customer, site, asset, by=service_desk, priority=Priority.P1)

    assert work_order.service_level == premium
    assert work_order.response_due_at == work_order.created_at + datetime.timedelta(hours=2)
    assert work_order.resolution_due_at == work_order.created_at + datetime.timedelta(hours=4)


def test_create_without_a_service_level_has_no_due_times(customer, site, asset, service_desk):
    work_order = _create(customer, site, asset, by=service_desk)

    assert work_order.service_level is None
    assert work_order.response_due_at is None
    assert work_order.resolution_due_at is None


# --- Creating ----------------------------------------------------------------------------------------------------


def test_create_numbers_orders_per_provider_and_year(customer, site, asset, service_desk):
    first = _create(customer, site, asset, by=service_desk)
    second = _create(customer, site, asset, by=service_desk)

    year = first.created_at.year
    assert first.number == f"WO-{year}-000001"
    assert second.number == f"WO-{year}-000002"


def test_create_records_the_new_order_on_its_timeline(customer, site, asset, service_desk):
    work_order = _create(customer, site, asset, by=service_desk)

    events = list(work_order.events.all())
    assert [(event.from_status, event.to_status, event.by) for event in events] == [
        ("", WorkOrderStatus.NEW, service_desk)
    ]


def test_create_rejects_an_asset_of_another_site(customer, site, service_desk):
    elsewhere = AssetFactory(customer=customer, site=SiteFactory(customer=customer))

    with pytest.raises(ValidationError) as excinfo:
        _create(customer, site, elsewhere, by=service_desk)

    assert _messages(excinfo) == [services.ASSET_NOT_ON_SITE]


def test_create_rejects_an_asset_of_another_customer(customer, site, other_asset, service_desk):
    with pytest.raises(ValidationError) as excinfo:
        _create(customer, site, other_asset, by=service_desk)

    assert _messages(excinfo) == [services.ASSET_NOT_ON_SITE]


def test_create_rejects_a_site_of_another_customer(customer, other_customer, service_desk):
    with pytest.raises(ValidationError) as excinfo:
        _create(customer, SiteFactory(customer=other_customer), by=service_desk)

    assert _messages(excinfo) == [services.SITE_NOT_OF_CUSTOMER]


def test_customer_viewer_requests_service_for_own_organisation(customer, site, asset, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)

    work_order = _create(
        customer,
        site,
        asset,
        by=viewer,
        kind=WorkOrderKind.SERVICE_REQUEST,
        source=WorkOrderSource.CUSTOMER_REQUEST,
        priority=Priority.P3,
    )

    assert work_order.status == WorkOrderStatus.NEW
    assert work_order.created_by == viewer


def test_customer_viewer_may_not_request_service_for_another_organisation(other_customer, customer, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    other_site = SiteFactory(customer=other_customer)

    with pytest.raises(ValidationError) as excinfo:
        _create(
            other_customer,
            other_site,
            by=viewer,
            kind=WorkOrderKind.SERVICE_REQUEST,
            source=WorkOrderSource.CUSTOMER_REQUEST,
        )

    assert _messages(excinfo) == [services.NOT_ALLOWED_TO_CREATE]
    assert not WorkOrder.objects.exists()


def test_customer_viewer_may_only_request_service_not_dispatch_other_work(customer, site, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)

    with pytest.raises(ValidationError) as excinfo:
        _create(customer, site, by=viewer, kind=WorkOrderKind.CORRECTIVE, source=WorkOrderSource.MANUAL)

    assert _messages(excinfo) == [services.NOT_ALLOWED_TO_CREATE]


def test_technician_may_not_create_work_orders(customer, site, technician):
    with pytest.raises(ValidationError) as excinfo:
        _create(customer, site, by=technician)

    assert _messages(excinfo) == [services.NOT_ALLOWED_TO_CREATE]


# --- Assigning ---------------------------------------------------------------------------------------------------


def test_assign_gives_a_new_order_to_the_technician(customer, site, asset, service_desk, technician):
    work_order = _create(customer, site, asset, by=service_desk)

    services.work_order_assign(work_order=work_order, technician=technician, by=service_desk)

    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.ASSIGNED
    assert work_order.assigned_to == technician
    last = work_order.events.last()
    assert (last.from_status, last.to_status, last.by) == (WorkOrderStatus.NEW, WorkOrderStatus.ASSIGNED, service_desk)


def test_assign_hands_an_assigned_order_to_another_technician(asset, service_desk, technician, other_technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.ASSIGNED, assigned_to=technician)

    services.work_order_assign(work_order=work_order, technician=other_technician, by=service_desk)

    work_order.refresh_from_db()
    assert work_order.assigned_to == other_technician
    assert work_order.status == WorkOrderStatus.ASSIGNED


@pytest.mark.parametrize("role", [Role.SERVICE_DESK, Role.PROVIDER_ADMIN, Role.ACCOUNT_MANAGER])
def test_assign_refuses_provider_staff_who_are_not_technicians(provider, asset, service_desk, make_member, role):
    work_order = WorkOrderFactory(asset=asset)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_assign(work_order=work_order, technician=make_member(provider, role), by=service_desk)

    assert _messages(excinfo) == [services.NOT_A_TECHNICIAN]


def test_assign_refuses_a_technician_of_another_provider(asset, service_desk, make_member):
    from accounts.tests.factories import ProviderFactory

    foreign = make_member(ProviderFactory(code="elsewhere", name="Elsewhere Services"), Role.TECHNICIAN)
    work_order = WorkOrderFactory(asset=asset)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_assign(work_order=work_order, technician=foreign, by=service_desk)

    assert _messages(excinfo) == [services.NOT_A_TECHNICIAN]


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.ACCOUNT_MANAGER])
def test_assign_refuses_users_who_may_not_dispatch(provider, asset, technician, make_member, role):
    work_order = WorkOrderFactory(asset=asset)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_assign(work_order=work_order, technician=technician, by=make_member(provider, role))

    assert _messages(excinfo) == [services.NOT_ALLOWED_TO_DISPATCH]


def test_assign_refuses_a_closed_order(asset, service_desk, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.CLOSED)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_assign(work_order=work_order, technician=technician, by=service_desk)

    assert _messages(excinfo) == [services.WORK_ORDER_NOT_OPEN]


# --- Transitions -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("from_status", "to_status"), ALL_MOVES)
def test_transition_follows_the_table(asset, provider_admin, technician, from_status, to_status):
    work_order = WorkOrderFactory(asset=asset, status=from_status, assigned_to=technician)

    if to_status in WORK_ORDER_TRANSITIONS[from_status]:
        services.work_order_transition(work_order=work_order, to_status=to_status, by=provider_admin)
        work_order.refresh_from_db()
        assert work_order.status == to_status
        last = work_order.events.last()
        assert (last.from_status, last.to_status) == (from_status, to_status)
    else:
        with pytest.raises(ValidationError) as excinfo:
            services.work_order_transition(work_order=work_order, to_status=to_status, by=provider_admin)
        assert excinfo.value.message == services.TRANSITION_NOT_ALLOWED
        work_order.refresh_from_db()
        assert work_order.status == from_status
        assert not work_order.events.exists()


def test_refused_transition_names_both_statuses(asset, provider_admin):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.CLOSED)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=provider_admin)

    assert _messages(excinfo) == ["A work order cannot move from Closed to In progress."]


def test_technician_moves_own_order_and_the_first_move_records_the_response(asset, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.ASSIGNED, assigned_to=technician)

    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.EN_ROUTE, by=technician)
    responded_at = work_order.responded_at
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)

    work_order.refresh_from_db()
    assert responded_at is not None
    assert work_order.responded_at == responded_at
    assert [event.to_status for event in work_order.events.all()] == [
        WorkOrderStatus.EN_ROUTE,
        WorkOrderStatus.IN_PROGRESS,
    ]


def test_technician_may_not_move_someone_elses_order(asset, technician, other_technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.ASSIGNED, assigned_to=other_technician)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.EN_ROUTE, by=technician)

    assert _messages(excinfo) == [services.NOT_ALLOWED_TO_UPDATE]


@pytest.mark.parametrize("to_status", [WorkOrderStatus.CANCELLED, WorkOrderStatus.NEW])
def test_technician_may_not_cancel_or_unassign_own_order(asset, technician, to_status):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.ASSIGNED, assigned_to=technician)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_transition(work_order=work_order, to_status=to_status, by=technician)

    assert _messages(excinfo) == [services.NOT_ALLOWED_TO_UPDATE]


def test_customer_admin_may_not_move_work_orders(asset, customer_admin, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.ASSIGNED, assigned_to=technician)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.CANCELLED, by=customer_admin)

    assert _messages(excinfo) == [services.NOT_ALLOWED_TO_UPDATE]


def test_unassigning_returns_the_order_to_new_without_technician(asset, service_desk, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.ASSIGNED, assigned_to=technician)

    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.NEW, by=service_desk, note="Sick")

    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.NEW
    assert work_order.assigned_to is None
    assert work_order.events.last().note == "Sick"


def test_closing_records_closed_at(asset, service_desk, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.COMPLETED, assigned_to=technician)

    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.CLOSED, by=service_desk)

    work_order.refresh_from_db()
    assert work_order.closed_at is not None


def test_technician_may_not_close_an_order(asset, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.COMPLETED, assigned_to=technician)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.CLOSED, by=technician)

    assert _messages(excinfo) == [services.NOT_ALLOWED_TO_UPDATE]


# --- Completing --------------------------------------------------------------------------------------------------


def test_complete_records_downtime_and_completion(asset, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.IN_PROGRESS, assigned_to=technician)
    down_from = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    down_until = datetime.datetime(2026, 3, 2, 13, 30, tzinfo=datetime.UTC)

    services.work_order_complete(
        work_order=work_order, by=technician, notes="Replaced fuser unit", down_from=down_from, down_until=down_until
    )

    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.COMPLETED
    assert work_order.completed_at is not None
    assert (work_order.down_from, work_order.down_until) == (down_from, down_until)
    assert work_order.completion_notes == "Replaced fuser unit"
    assert work_order.billable is False
    last = work_order.events.last()
    assert (last.to_status, last.note, last.by) == (WorkOrderStatus.COMPLETED, "Replaced fuser unit", technician)


def test_complete_rejects_downtime_that_ends_before_it_starts(asset, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.IN_PROGRESS, assigned_to=technician)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_complete(
            work_order=work_order,
            by=technician,
            down_from=datetime.datetime(2026, 3, 2, 13, 0, tzinfo=datetime.UTC),
            down_until=datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC),
        )

    assert _messages(excinfo) == [services.DOWNTIME_REVERSED]
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.IN_PROGRESS


@pytest.mark.parametrize(("damage_avoidable", "billable"), [(True, True), (False, False), (None, False)])
def test_complete_makes_avoidable_damage_billable(asset, technician, damage_avoidable, billable):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.IN_PROGRESS, assigned_to=technician)

    services.work_order_complete(work_order=work_order, by=technician, damage_avoidable=damage_avoidable)

    work_order.refresh_from_db()
    assert work_order.damage_avoidable is damage_avoidable
    assert work_order.billable is billable


def test_complete_refuses_an_order_not_in_progress(asset, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.ASSIGNED, assigned_to=technician)

    with pytest.raises(ValidationError) as excinfo:
        services.work_order_complete(work_order=work_order, by=technician)

    assert excinfo.value.message == services.TRANSITION_NOT_ALLOWED


def test_reopening_a_completed_order_clears_its_completion(asset, service_desk, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.IN_PROGRESS, assigned_to=technician)
    services.work_order_complete(work_order=work_order, by=technician)

    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=service_desk)

    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.IN_PROGRESS
    assert work_order.completed_at is None


# --- The alert opener --------------------------------------------------------------------------------------------


@pytest.fixture
def only_our_opener(monkeypatch):
    monkeypatch.setattr(hooks, "_work_order_openers", [services.work_order_open_for_alert])


@pytest.mark.parametrize(("severity", "priority"), [(Severity.CRITICAL, Priority.P1), (Severity.ERROR, Priority.P2)])
def test_severe_alert_opens_one_corrective_work_order_even_when_asked_twice(
    provider, asset, only_our_opener, severity, priority
):
    ServiceLevelFactory(provider=provider)
    alert = AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider, severity=severity), message="SC542")

    assert hooks.request_work_order(alert) is True
    assert hooks.request_work_order(alert) is False
    services.work_order_open_for_alert(alert)  # asked directly again, it returns the same order

    work_order = WorkOrder.objects.get()
    assert work_order.alert == alert
    assert (work_order.kind, work_order.source, work_order.priority) == (
        WorkOrderKind.CORRECTIVE,
        WorkOrderSource.ALERT,
        priority,
    )
    assert (work_order.customer, work_order.site, work_order.asset) == (asset.customer, asset.site, asset)
    assert work_order.response_due_at is not None


def test_alert_opener_works_without_any_service_level(provider, asset, only_our_opener):
    alert = AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider, severity=Severity.CRITICAL))

    hooks.request_work_order(alert)

    work_order = WorkOrder.objects.get(alert=alert)
    assert work_order.service_level is None


def test_the_app_registers_its_alert_opener():
    assert services.work_order_open_for_alert in hooks._work_order_openers
