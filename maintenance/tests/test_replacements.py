"""The nightly replacement run: its actions (a supply order per consumable, a predictive work order per wear part,
once per need, never while an open order covers it, within the planning window), the fan-out task and the command.
"""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import CustomerFactory
from assets.choices import LifeUnit, PartKind
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory
from maintenance import forecasts, replacements
from maintenance.choices import (
    ForecastKind,
    ForecastMethod,
    SupplyOrderSource,
    SupplyOrderStatus,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)
from maintenance.models import (
    MaintenanceSettings,
    ReplacementForecast,
    ReplacementNeed,
    SupplyOrder,
    WorkOrder,
    WorkOrderPart,
)
from maintenance.supplies import supply_order_create
from maintenance.tests.factories import WorkOrderFactory

AS_OF = datetime.datetime(2026, 3, 10, 3, 0, tzinfo=datetime.UTC)  # 12:00 in Tokyo, the customers' time zone
TODAY = datetime.date(2026, 3, 10)
STARTED = datetime.datetime(2026, 1, 20, 0, 0, tzinfo=datetime.UTC)


def days(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


@pytest.fixture
def mfp_model(db):
    return AssetModelFactory(name="IM C3000")


@pytest.fixture
def toner(mfp_model):
    part = PartTypeFactory(code="TNR-K", name="Black toner", kind=PartKind.CONSUMABLE, lead_time_days=3)
    part.asset_models.add(mfp_model)
    return part


@pytest.fixture
def drum(mfp_model):
    part = PartTypeFactory(
        code="DRM-K",
        name="Drum unit",
        kind=PartKind.WEAR_PART,
        life_unit=LifeUnit.PAGES,
        rated_life=100_000,
        lead_time_days=5,
    )
    part.asset_models.add(mfp_model)
    return part


@pytest.fixture
def mfp(customer, site, mfp_model):
    return AssetFactory(customer=customer, site=site, asset_model=mfp_model)


def forecast(asset, part_type, *, act_by, started=STARTED, **fields) -> ReplacementForecast:
    """A stored forecast as the engine writes it; the dates run from ``act_by``."""
    consumable = part_type.kind == PartKind.CONSUMABLE
    risk = act_by + datetime.timedelta(days=part_type.lead_time_days + 2)
    values = {
        "kind": ForecastKind.CONSUMABLE if consumable else ForecastKind.WEAR_PART,
        "method": ForecastMethod.LEVEL_TREND if consumable else ForecastMethod.CATALOGUE,
        "supply": "toner_black" if consumable else "",
        "meter": "" if consumable else "total_pages",
        "segment_started_at": started,
        "level_percent": Decimal("18.0") if consumable else None,
        "rate_per_day": Decimal("1.2000") if consumable else Decimal("450.0000"),
        "life_used": None if consumable else Decimal("91000"),
        "rated_life": None if consumable else Decimal("100000"),
        "data_points": 40,
        "predicted_on": risk + datetime.timedelta(days=4),
        "earliest_on": risk,
        "latest_on": risk + datetime.timedelta(days=9),
        "act_by": act_by,
        "computed_at": AS_OF,
    }
    values.update(fields)
    row, _created = ReplacementForecast.objects.update_or_create(asset=asset, part_type=part_type, defaults=values)
    return row


def act(customer) -> replacements.RunCounts:
    return replacements.replacements_act(customer_id=customer.pk, as_of=AS_OF)


# --- Actions -------------------------------------------------------------------------------------------------------


def test_consumable_due_opens_one_supply_order_needed_by_the_risk_date(customer, mfp, toner):
    forecast(mfp, toner, act_by=days(5))

    counts = act(customer)

    assert (counts.due, counts.supply_orders, counts.work_orders) == (1, 1, 0)
    order = SupplyOrder.objects.get()
    assert (order.asset, order.part_type, order.source) == (mfp, toner, SupplyOrderSource.FORECAST)
    assert order.needed_by == days(5 + 3 + 2)  # act_by + lead time + the default safety margin
    assert order.requested_by is None
    need = ReplacementNeed.objects.get()
    assert (need.supply_order, need.work_order, need.segment_started_at) == (order, None, STARTED)


def test_wear_part_due_opens_one_predictive_work_order(customer, mfp, drum):
    forecast(mfp, drum, act_by=days(3))

    counts = act(customer)

    assert (counts.supply_orders, counts.work_orders) == (0, 1)
    work_order = WorkOrder.objects.get()
    assert (work_order.kind, work_order.source, work_order.created_by) == (
        WorkOrderKind.PREDICTIVE,
        WorkOrderSource.FORECAST,
        None,
    )
    assert (work_order.asset, work_order.site, work_order.customer) == (mfp, mfp.site, customer)
    assert "Drum unit (DRM-K)" in work_order.description
    assert "91,000 of 100,000 pages used" in work_order.description
    assert days(3).isoformat() in work_order.description
    assert ReplacementNeed.objects.get().work_order == work_order


def test_running_twice_acts_once(customer, mfp, toner, drum):
    forecast(mfp, toner, act_by=days(1))
    forecast(mfp, drum, act_by=days(2))
    first = act(customer)
    second = act(customer)
    assert (first.supply_orders, first.work_orders) == (1, 1)
    assert (second.supply_orders, second.work_orders, second.already_handled) == (0, 0, 2)
    assert (SupplyOrder.objects.count(), WorkOrder.objects.count(), ReplacementNeed.objects.count()) == (1, 1, 2)


def test_a_recorded_need_is_never_acted_on_again_even_once_its_order_is_closed(customer, mfp, drum):
    forecast(mfp, drum, act_by=days(2))
    act(customer)
    WorkOrder.objects.update(status=WorkOrderStatus.CANCELLED)
    assert act(customer).already_handled == 1
    assert WorkOrder.objects.count() == 1


def test_a_new_cartridge_is_a_new_need(customer, mfp, toner):
    forecast(mfp, toner, act_by=days(1))
    act(customer)
    SupplyOrder.objects.update(status=SupplyOrderStatus.DELIVERED)
    forecast(mfp, toner, act_by=days(4), started=STARTED + datetime.timedelta(days=40))
    assert act(customer).supply_orders == 1
    assert SupplyOrder.objects.count() == 2 and ReplacementNeed.objects.count() == 2


@pytest.mark.parametrize(("offset", "acts"), [(-3, True), (14, True), (15, False)])
def test_planning_window_boundary_with_the_default_of_14_days(customer, mfp, drum, offset, acts):
    forecast(mfp, drum, act_by=days(offset))
    counts = act(customer)
    assert (counts.due, counts.work_orders) == ((1, 1) if acts else (0, 0))


def test_planning_window_comes_from_the_customer_else_the_provider(customer, provider, mfp, drum):
    forecast(mfp, drum, act_by=days(25))
    MaintenanceSettings.objects.create(organisation=provider, planning_window_days=30, safety_margin_days=4)
    MaintenanceSettings.objects.create(organisation=customer, planning_window_days=20)
    assert act(customer).due == 0
    MaintenanceSettings.objects.filter(organisation=customer).update(planning_window_days=None)
    assert act(customer).work_orders == 1


def test_never_while_an_open_work_order_lists_the_part(customer, mfp, drum):
    forecast(mfp, drum, act_by=days(2))
    open_order = WorkOrderFactory(asset=mfp, status=WorkOrderStatus.ASSIGNED)
    WorkOrderPart.objects.create(work_order=open_order, part_type=drum, added_at=AS_OF)

    counts = act(customer)

    assert (counts.covered, counts.work_orders) == (1, 0)
    assert not ReplacementNeed.objects.exists()
    open_order.status = WorkOrderStatus.CANCELLED
    open_order.save(update_fields=["status"])
    assert act(customer).work_orders == 1


def test_an_open_work_order_of_another_asset_or_part_does_not_cover(customer, mfp, drum, toner, site, mfp_model):
    forecast(mfp, drum, act_by=days(2))
    other = WorkOrderFactory(asset=AssetFactory(customer=customer, site=site, asset_model=mfp_model))
    WorkOrderPart.objects.create(work_order=other, part_type=drum, added_at=AS_OF)
    WorkOrderPart.objects.create(work_order=WorkOrderFactory(asset=mfp), part_type=toner, added_at=AS_OF)
    assert act(customer).work_orders == 1


def test_never_while_the_predictive_order_of_an_earlier_need_is_open(customer, mfp, drum):
    forecast(mfp, drum, act_by=days(2))
    act(customer)
    # The part was not replaced yet, but its start moved (a corrected installation date): a new need, still covered.
    forecast(mfp, drum, act_by=days(2), started=STARTED + datetime.timedelta(days=1))
    counts = act(customer)
    assert (counts.covered, counts.work_orders) == (1, 0)
    assert WorkOrder.objects.count() == 1


def test_never_while_a_supply_order_for_the_part_is_open(customer, mfp, toner):
    manual = supply_order_create(asset=mfp, part_type=toner, source=SupplyOrderSource.MANUAL, by=None)
    forecast(mfp, toner, act_by=days(2))

    counts = act(customer)

    assert (counts.covered, counts.supply_orders) == (1, 0)
    assert list(SupplyOrder.objects.all()) == [manual]


def test_a_refused_order_is_logged_and_leaves_no_need(customer, mfp, toner, mfp_model):
    toner.asset_models.remove(mfp_model)  # the part no longer fits the model: the supply order is refused
    forecast(mfp, toner, act_by=days(2))
    assert act(customer).failed == 1
    assert not ReplacementNeed.objects.exists()


def test_only_the_customers_own_forecasts_are_acted_on(customer, other_customer, mfp, drum, mfp_model):
    other = AssetFactory(customer=other_customer, asset_model=mfp_model)
    forecast(other, drum, act_by=days(1))
    forecast(mfp, drum, act_by=days(1))
    assert act(customer).work_orders == 1
    assert WorkOrder.objects.get().customer == customer


def _queries(customer) -> int:
    with CaptureQueriesContext(connection) as context:
        act(customer)
    return len(context.captured_queries)


def test_reads_take_the_same_queries_for_any_number_of_assets(customer, site, mfp_model, toner, drum):
    def add(count: int) -> None:
        for _index in range(count):
            asset = AssetFactory(customer=customer, site=site, asset_model=mfp_model)
            forecast(asset, toner, act_by=days(1))
            forecast(asset, drum, act_by=days(90))  # not due
            WorkOrderPart.objects.create(work_order=WorkOrderFactory(asset=asset), part_type=toner, added_at=AS_OF)

    add(2)
    small = _queries(customer)
    add(8)
    assert _queries(customer) == small  # every due need is covered: reads only


def test_acted_on_needs_cost_no_queries_on_later_nights(customer, site, mfp_model, drum):
    for _index in range(3):
        forecast(AssetFactory(customer=customer, site=site, asset_model=mfp_model), drum, act_by=days(1))
    act(customer)
    few = _queries(customer)
    for _index in range(6):
        forecast(AssetFactory(customer=customer, site=site, asset_model=mfp_model), drum, act_by=days(1))
    act(customer)
    assert _queries(customer) == few


# --- The run, the task and the command -----------------------------------------------------------------------------


@pytest.fixture
def engine(monkeypatch):
    """The engine's compute and write, recorded: the run's order of work is what is tested here."""
    calls = []

    def compute(*, customer_id, as_of):
        calls.append(("compute", customer_id, as_of))
        return ["row"]

    def write(rows, *, customer_id):
        calls.append(("write", customer_id, rows))
        return len(rows)

    monkeypatch.setattr(forecasts, "forecasts_compute", compute)
    monkeypatch.setattr(forecasts, "forecasts_write", write)
    return calls


def test_run_computes_writes_then_acts(customer, mfp, drum, engine):
    forecast(mfp, drum, act_by=days(1))
    counts = replacements.replacements_run(customer_id=customer.pk, as_of=AS_OF)
    assert engine == [("compute", customer.pk, AS_OF), ("write", customer.pk, ["row"])]
    assert (counts.forecasts, counts.work_orders) == (1, 1)


def test_nightly_task_fans_out_one_task_per_active_customer(customer, other_customer, provider, monkeypatch):
    CustomerFactory(provider=provider, is_active=False)
    seen = []

    def run(*, customer_id, as_of):
        seen.append((customer_id, as_of))
        return replacements.RunCounts()

    monkeypatch.setattr(replacements, "replacements_run", run)
    assert replacements.forecasts_nightly_task.delay(AS_OF.isoformat()) is not None
    assert sorted(seen) == sorted([(customer.pk, AS_OF), (other_customer.pk, AS_OF)])


def test_customer_task_is_idempotent(customer, mfp, drum, engine):
    forecast(mfp, drum, act_by=days(1))
    first = replacements.forecasts_customer_task.delay(customer.pk, AS_OF.isoformat()).get()
    second = replacements.forecasts_customer_task.delay(customer.pk, AS_OF.isoformat()).get()
    assert (first["work_orders"], second["work_orders"], second["already_handled"]) == (1, 0, 1)


def test_forecast_run_command_prints_counts(customer, other_customer, mfp, drum, engine):
    forecast(mfp, drum, act_by=days(1))
    out = io.StringIO()
    call_command("forecast_run", "--customer", customer.code, "--date", TODAY.isoformat(), stdout=out)
    text = out.getvalue()
    assert f"{customer.code}  forecasts=1  due=1  supply_orders=0  work_orders=1" in text
    assert other_customer.code not in text
    as_of = engine[0][2]
    assert as_of.date() == TODAY and as_of.utcoffset() == datetime.timedelta(hours=9)
    assert "total  forecasts=1" in text


def test_forecast_run_command_rejects_a_bad_date_or_customer(customer):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Not a date"):
        call_command("forecast_run", "--date", "10/03/2026")
    with pytest.raises(CommandError, match="No active customer"):
        call_command("forecast_run", "--customer", "nobody")


def test_nightly_run_end_to_end_ships_a_falling_toner_once(customer, mfp, toner):
    """The engine and the actions together: 25 days of falling black toner, about ten days left."""
    from telemetry.models import SupplyLevel

    start = AS_OF - datetime.timedelta(days=25)
    SupplyLevel.objects.bulk_create(
        SupplyLevel(
            asset=mfp, supply="toner_black", taken_at=start + datetime.timedelta(days=day), percent=70 - 2 * day
        )
        for day in range(26)
    )

    first = replacements.replacements_run(customer_id=customer.pk, as_of=AS_OF)
    second = replacements.replacements_run(customer_id=customer.pk, as_of=AS_OF + datetime.timedelta(days=1))

    row = ReplacementForecast.objects.get(asset=mfp, part_type=toner)
    assert row.kind == ForecastKind.CONSUMABLE and days(5) <= row.predicted_on <= days(15)
    assert (first.forecasts, first.supply_orders) == (1, 1)
    assert (second.supply_orders, second.already_handled) == (0, 1)
    assert SupplyOrder.objects.get().needed_by is not None
