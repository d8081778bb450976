"""Preventive plans: due dates (fixed and floating, days and meter, whichever first), the daily run (lead window,
idempotency, an open occurrence blocks the next, the unique constraint under a race) and query counts."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.choices import Role
from assets.choices import AssetStatus
from assets.tests.factories import AssetFactory, AssetModelFactory, SiteFactory
from maintenance import plans
from maintenance.choices import (
    ScheduleMode,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)
from maintenance.models import (
    ChecklistTemplate,
    ChecklistTemplateItem,
    PlanOccurrence,
    PreventivePlan,
    WorkOrder,
)
from maintenance.tests.factories import WorkOrderFactory
from telemetry.choices import Meter
from telemetry.models import Reading

D = datetime.date(2026, 3, 1)


def make_plan(provider, **fields) -> PreventivePlan:
    defaults = {
        "name": "Quarterly service",
        "kind": WorkOrderKind.PREVENTIVE,
        "interval_days": 90,
        "schedule": ScheduleMode.FLOATING,
        "starts_on": D,
        "lead_days": 14,
    }
    defaults.update(fields)
    return PreventivePlan.objects.create(provider=provider, **defaults)


def readings(asset, *, per_day: int, days: int = 120, start_value: int = 10_000, meter=Meter.TOTAL_PAGES) -> None:
    """Daily readings up to today growing by ``per_day``."""
    now = timezone.now().replace(microsecond=0)
    Reading.objects.bulk_create(
        Reading(
            asset=asset,
            meter=meter,
            taken_at=now - datetime.timedelta(days=days - offset),
            value=Decimal(start_value + per_day * offset),
        )
        for offset in range(0, days + 1, 5)
    )


def complete(work_order: WorkOrder, on: datetime.date) -> None:
    at = timezone.make_aware(datetime.datetime.combine(on, datetime.time(12)))
    WorkOrder.objects.filter(pk=work_order.pk).update(status=WorkOrderStatus.COMPLETED, completed_at=at)


def occurrence(plan, asset, due_on, *, status=WorkOrderStatus.COMPLETED, completed_on=None, due_meter=None):
    work_order = WorkOrderFactory(asset=asset, kind=plan.kind, source=WorkOrderSource.PREVENTIVE_PLAN, status=status)
    if completed_on is not None:
        complete(work_order, completed_on)
    return PlanOccurrence.objects.create(
        plan=plan, asset=asset, due_on=due_on, work_order=work_order, due_meter_value=due_meter
    )


def due_for(plan, asset, today) -> plans.Due:
    (due,) = [due for due in plans.plan_schedule(plan=plan, today=today) if due.asset.pk == asset.pk]
    return due


# --- Due computation ---------------------------------------------------------------------------------------------


def test_floating_first_due_is_one_interval_after_the_start(provider, asset):
    plan = make_plan(provider, asset=asset, customer=asset.customer)
    due = due_for(plan, asset, today=D)
    assert due.due_on == D + datetime.timedelta(days=90)
    assert "90 days from the plan's start on 2026-03-01" in due.basis


def test_floating_counts_from_the_last_completion(provider, asset):
    plan = make_plan(provider, asset=asset, customer=asset.customer)
    occurrence(plan, asset, D + datetime.timedelta(days=90), completed_on=D + datetime.timedelta(days=100))
    due = due_for(plan, asset, today=D + datetime.timedelta(days=101))
    assert due.due_on == D + datetime.timedelta(days=190)
    assert "last completed on 2026-06-09" in due.basis


def test_fixed_counts_from_the_start_whatever_the_completion(provider, asset):
    plan = make_plan(provider, asset=asset, customer=asset.customer, schedule=ScheduleMode.FIXED)
    occurrence(plan, asset, D + datetime.timedelta(days=90), completed_on=D + datetime.timedelta(days=100))
    due = due_for(plan, asset, today=D + datetime.timedelta(days=101))
    assert due.due_on == D + datetime.timedelta(days=180)
    assert due.basis == "every 90 days from 2026-03-01"


def test_fixed_collapses_missed_slots_into_the_latest(provider, asset):
    plan = make_plan(provider, asset=asset, customer=asset.customer, schedule=ScheduleMode.FIXED)
    due = due_for(plan, asset, today=D + datetime.timedelta(days=400))
    assert due.due_on == D + datetime.timedelta(days=360)


def test_cancelled_occurrence_counts_from_its_due_date(provider, asset):
    plan = make_plan(provider, asset=asset, customer=asset.customer)
    occurrence(plan, asset, D + datetime.timedelta(days=90), status=WorkOrderStatus.CANCELLED)
    due = due_for(plan, asset, today=D + datetime.timedelta(days=95))
    assert due.due_on == D + datetime.timedelta(days=180)


def test_meter_trigger_first_when_usage_is_high(provider, asset):
    today = timezone.localdate()
    plan = make_plan(
        provider,
        asset=asset,
        customer=asset.customer,
        starts_on=today - datetime.timedelta(days=30),
        meter=Meter.TOTAL_PAGES,
        interval_units=50_000,
    )
    readings(asset, per_day=1_000)
    due = due_for(plan, asset, today=today)
    # Counter at the start ~ 10,000 + 90 * 1,000 = 100,000; due at ~150,000; now ~130,000; 1,000 a day -> ~20 days.
    assert today + datetime.timedelta(days=17) <= due.due_on <= today + datetime.timedelta(days=23)
    assert due.due_on < today + datetime.timedelta(days=60)
    assert due.due_meter_value is not None
    assert due.basis.startswith("at ") and "Total pages: ≈" in due.basis and "/day" in due.basis
    assert due.basis.endswith("(whichever comes first)")


def test_days_trigger_first_when_usage_is_low(provider, asset):
    today = timezone.localdate()
    plan = make_plan(
        provider,
        asset=asset,
        customer=asset.customer,
        starts_on=today - datetime.timedelta(days=30),
        meter=Meter.TOTAL_PAGES,
        interval_units=50_000,
    )
    readings(asset, per_day=10)
    due = due_for(plan, asset, today=today)
    assert due.due_on == today + datetime.timedelta(days=60)
    assert due.basis.startswith("90 days from the plan's start")


def test_no_usage_data_ignores_the_meter_trigger(provider, asset):
    today = timezone.localdate()
    plan = make_plan(
        provider, asset=asset, customer=asset.customer, starts_on=today, meter=Meter.TOTAL_PAGES, interval_units=500
    )
    due = due_for(plan, asset, today=today)
    assert due.due_on == today + datetime.timedelta(days=90)
    assert "no usage data for Total pages: the meter trigger is ignored" in due.basis


def test_meter_only_plan_without_data_has_no_due_date(provider, asset):
    plan = make_plan(
        provider, asset=asset, customer=asset.customer, interval_days=None, meter=Meter.TOTAL_PAGES, interval_units=500
    )
    due = due_for(plan, asset, today=timezone.localdate())
    assert due.due_on is None
    assert plans.preventive_plans_run(today=timezone.localdate()) == []


def test_meter_reached_is_due_today(provider, asset):
    today = timezone.localdate()
    plan = make_plan(
        provider,
        asset=asset,
        customer=asset.customer,
        interval_days=None,
        starts_on=today - datetime.timedelta(days=100),
        meter=Meter.TOTAL_PAGES,
        interval_units=1_000,
    )
    readings(asset, per_day=100)
    due = due_for(plan, asset, today=today)
    assert due.due_on == today
    assert "reached" in due.basis


def test_model_plan_covers_in_service_assets_of_its_customer(provider, customer, other_customer):
    model = AssetModelFactory()
    mine = AssetFactory(customer=customer, asset_model=model)
    AssetFactory(customer=customer, asset_model=model, status=AssetStatus.RETIRED)
    theirs = AssetFactory(customer=other_customer, asset_model=model)
    AssetFactory(customer=customer)  # another model
    plan = make_plan(provider, asset_model=model, customer=customer)
    assert list(plans.plan_assets(plan)) == [mine]
    plan.customer = None
    assert set(plans.plan_assets(plan)) == {mine, theirs}


# --- The daily run -----------------------------------------------------------------------------------------------


def test_run_opens_within_the_lead_window_only(provider, customer):
    model = AssetModelFactory()
    asset = AssetFactory(customer=customer, asset_model=model)
    plan = make_plan(provider, asset=asset, customer=customer, lead_days=14)
    due_on = D + datetime.timedelta(days=90)
    assert plans.preventive_plans_run(today=due_on - datetime.timedelta(days=15)) == []
    (opened,) = plans.preventive_plans_run(today=due_on - datetime.timedelta(days=14))
    assert opened.due_on == due_on
    work_order = opened.work_order
    assert work_order.kind == WorkOrderKind.PREVENTIVE
    assert work_order.source == WorkOrderSource.PREVENTIVE_PLAN
    assert work_order.created_by is None
    assert work_order.asset == asset
    assert "Quarterly service" in work_order.description and plan.name in work_order.description


def test_running_twice_creates_nothing_new(provider, customer):
    model = AssetModelFactory()
    for _index in range(3):
        AssetFactory(customer=customer, asset_model=model)
    make_plan(provider, asset_model=model)
    today = D + datetime.timedelta(days=85)
    assert len(plans.preventive_plans_run(today=today)) == 3
    counts = (WorkOrder.objects.count(), PlanOccurrence.objects.count())
    assert plans.preventive_plans_run(today=today) == []
    assert plans.preventive_plans_run(today=today + datetime.timedelta(days=3)) == []
    assert (WorkOrder.objects.count(), PlanOccurrence.objects.count()) == counts


def test_an_open_occurrence_blocks_the_next(provider, asset):
    make_plan(provider, asset=asset, customer=asset.customer, schedule=ScheduleMode.FIXED, interval_days=30)
    (first,) = plans.preventive_plans_run(today=D + datetime.timedelta(days=25))
    # The next slot (day 60) is within the lead time on day 50, but the first order is still open.
    assert plans.preventive_plans_run(today=D + datetime.timedelta(days=50)) == []
    complete(first.work_order, D + datetime.timedelta(days=51))
    (second,) = plans.preventive_plans_run(today=D + datetime.timedelta(days=52))
    assert second.due_on == D + datetime.timedelta(days=60)


def test_inactive_plans_open_nothing(provider, asset):
    make_plan(provider, asset=asset, customer=asset.customer, active=False)
    assert plans.preventive_plans_run(today=D + datetime.timedelta(days=90)) == []


def test_existing_occurrence_is_returned_not_opened_again(provider, asset):
    """The race: another run inserted the occurrence first; the unique constraint answers, nothing is opened."""
    plan = make_plan(provider, asset=asset, customer=asset.customer)
    due_on = D + datetime.timedelta(days=90)
    existing = PlanOccurrence.objects.create(plan=plan, asset=asset, due_on=due_on, basis="other run")
    due = plans.Due(plan_id=plan.pk, asset=asset, due_on=due_on, due_meter_value=None, basis="this run")
    found, created = plans.plan_occurrence_open(plan=plan, due=due)
    assert (found, created) == (existing, False)
    assert WorkOrder.objects.count() == 0


def test_plan_checklist_is_added_to_the_work_order(provider, asset):
    template = ChecklistTemplate.objects.create(provider=provider, name="MFP service")
    ChecklistTemplateItem.objects.create(template=template, position=0, text="Clean the feed rollers")
    ChecklistTemplateItem.objects.create(template=template, position=1, text="Check the fuser", critical=True)
    make_plan(provider, asset=asset, customer=asset.customer, checklist_template=template)
    (opened,) = plans.preventive_plans_run(today=D + datetime.timedelta(days=90))
    texts = list(opened.work_order.checklist.values_list("text", flat=True))
    assert "Clean the feed rollers" in texts and "Check the fuser" in texts
    assert len(texts) == len(set(texts))


def test_run_keeps_going_when_one_asset_is_refused(provider, customer, monkeypatch):
    model = AssetModelFactory()
    assets = [AssetFactory(customer=customer, asset_model=model) for _index in range(2)]
    make_plan(provider, asset_model=model)
    real = plans.plan_occurrence_open

    def flaky(*, plan, due):
        if due.asset.pk == assets[0].pk:
            raise ValidationError("refused")
        return real(plan=plan, due=due)

    monkeypatch.setattr(plans, "plan_occurrence_open", flaky)
    opened = plans.preventive_plans_run(today=D + datetime.timedelta(days=90))
    assert [occurrence.asset for occurrence in opened] == [assets[1]]


def _world(provider, size: int):
    customer_model = AssetModelFactory()
    site = SiteFactory()
    for _index in range(size):
        asset = AssetFactory(customer=site.customer, site=site, asset_model=customer_model)
        readings(asset, per_day=200, days=60)
    return make_plan(
        provider,
        asset_model=customer_model,
        starts_on=timezone.localdate() - datetime.timedelta(days=80),
        meter=Meter.TOTAL_PAGES,
        interval_units=100_000,
    )


@pytest.mark.parametrize("size", [2, 8])
def test_schedule_and_repeated_run_take_constant_queries(provider, size):
    plan = _world(provider, size)
    today = timezone.localdate()
    assert len(plans.preventive_plans_run(today=today)) == size
    with CaptureQueriesContext(connection) as schedule_queries:
        schedule = plans.plan_schedule(plan=plan, today=today)
    assert len(schedule) == size
    with CaptureQueriesContext(connection) as run_queries:
        assert plans.preventive_plans_run(today=today) == []
    assert len(schedule_queries) <= 6, [q["sql"][:120] for q in schedule_queries]
    assert len(run_queries) <= 10, [q["sql"][:120] for q in run_queries]


def test_preventive_run_command_prints_what_it_opened(provider, asset):
    make_plan(provider, asset=asset, customer=asset.customer)
    out = StringIO()
    call_command("preventive_run", "--date", "2026-05-30", stdout=out)
    output = out.getvalue()
    assert "Quarterly service" in output and asset.serial_number in output and "1 work order(s) opened" in output
    out = StringIO()
    call_command("preventive_run", "--date", "2026-05-30", stdout=out)
    assert "0 work order(s) opened" in out.getvalue()


def test_task_is_idempotent(provider, asset):
    make_plan(provider, asset=asset, customer=asset.customer)
    assert plans.preventive_plans_task("2026-05-30") == 1
    assert plans.preventive_plans_task("2026-05-30") == 0


# --- Plan services -----------------------------------------------------------------------------------------------


def test_plan_create_checks_its_rules_as_field_errors(provider_admin, asset):
    with pytest.raises(ValidationError) as error:
        plans.preventive_plan_create(by=provider_admin, name="x", kind=WorkOrderKind.PREVENTIVE, starts_on=D)
    assert set(error.value.message_dict) == {"asset_model", "interval_days"}
    with pytest.raises(ValidationError) as error:
        plans.preventive_plan_create(
            by=provider_admin,
            name="x",
            kind=WorkOrderKind.PREVENTIVE,
            asset=asset,
            asset_model=asset.asset_model,
            interval_units=100,
            starts_on=D,
        )
    assert set(error.value.message_dict) == {"asset", "meter"}
    plan = plans.preventive_plan_create(
        by=provider_admin, name="x", kind=WorkOrderKind.PREVENTIVE, asset=asset, interval_days=30, starts_on=D
    )
    assert plan.customer == asset.customer


def test_statutory_plan_must_be_an_inspection_with_days(provider_admin, asset):
    with pytest.raises(ValidationError) as error:
        plans.preventive_plan_create(
            by=provider_admin,
            name="x",
            kind=WorkOrderKind.PREVENTIVE,
            statutory="monthly_self",
            asset=asset,
            meter=Meter.HOURS_KEY_ON,
            interval_units=100,
            starts_on=D,
        )
    assert set(error.value.message_dict) == {"kind", "interval_days"}


@pytest.mark.parametrize("role", [Role.SERVICE_DESK, Role.TECHNICIAN, Role.CUSTOMER_ADMIN])
def test_only_provider_admins_manage_plans(provider, customer, make_member, role, asset):
    user = make_member(provider if role != Role.CUSTOMER_ADMIN else customer, role)
    with pytest.raises(ValidationError):
        plans.preventive_plan_create(
            by=user, name="x", kind=WorkOrderKind.PREVENTIVE, asset=asset, interval_days=30, starts_on=D
        )


def test_plan_with_work_orders_cannot_be_deleted(provider_admin, provider, asset):
    plan = make_plan(provider, asset=asset, customer=asset.customer)
    plans.preventive_plans_run(today=D + datetime.timedelta(days=90))
    with pytest.raises(ValidationError):
        plans.preventive_plan_delete(plan=plan, by=provider_admin)
    plans.preventive_plan_set_active(plan=plan, by=provider_admin, active=False)
    plan.refresh_from_db()
    assert plan.active is False


def test_plan_dates_stay_within_the_calendar(provider_admin, asset):
    with pytest.raises(ValidationError) as error:
        plans.preventive_plan_create(
            by=provider_admin,
            name="x",
            kind=WorkOrderKind.PREVENTIVE,
            asset=asset,
            interval_days=2_000_000_000,
            lead_days=30_000,
            starts_on=datetime.date(9999, 12, 31),
        )
    assert set(error.value.message_dict) == {"interval_days", "lead_days", "starts_on"}


def test_a_meter_forecast_beyond_ten_years_is_no_due_date(provider, asset):
    today = timezone.localdate()
    plan = make_plan(
        provider,
        asset=asset,
        customer=asset.customer,
        interval_days=None,
        starts_on=today,
        meter=Meter.TOTAL_PAGES,
        interval_units=100_000_000,
    )
    readings(asset, per_day=1)
    due = due_for(plan, asset, today=today)
    assert due.due_on is None and "not within 3660 days" in due.basis
