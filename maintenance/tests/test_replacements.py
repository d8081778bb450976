"""The nightly replacement run: its actions (a supply order per consumable, one predictive work order per asset for
its wear parts, joined by later needs while it is open; once per need, never while an open order covers it, within
the planning window), the fan-out task and the command.
"""

import datetime
import io
import threading
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import CustomerFactory
from assets.choices import AssetStatus, LifeUnit, PartKind
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory, SiteFactory
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
    WorkOrderEvent,
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
def fuser(mfp_model):
    part = PartTypeFactory(
        code="FSR-1",
        name="Fuser unit",
        kind=PartKind.WEAR_PART,
        life_unit=LifeUnit.PAGES,
        rated_life=150_000,
        lead_time_days=7,
    )
    part.asset_models.add(mfp_model)
    return part


@pytest.fixture
def belt(mfp_model):
    part = PartTypeFactory(
        code="BLT-T",
        name="Transfer belt",
        kind=PartKind.WEAR_PART,
        life_unit=LifeUnit.PAGES,
        rated_life=200_000,
        lead_time_days=10,
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


def act(customer, *, as_of: datetime.datetime = AS_OF) -> replacements.RunCounts:
    return replacements.replacements_act(customer_id=customer.pk, as_of=as_of)


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


# --- One visit per asset -------------------------------------------------------------------------------------------


def _paragraphs(work_order: WorkOrder) -> list[str]:
    return work_order.description.split("\n\n")


def test_two_due_wear_parts_of_one_asset_share_one_work_order(customer, mfp, drum, fuser):
    forecast(mfp, drum, act_by=days(5))
    forecast(mfp, fuser, act_by=days(2))

    counts = act(customer)

    assert (counts.due, counts.work_orders, counts.joined) == (2, 1, 0)
    work_order = WorkOrder.objects.get()
    assert (work_order.kind, work_order.source, work_order.asset) == (
        WorkOrderKind.PREDICTIVE,
        WorkOrderSource.FORECAST,
        mfp,
    )
    fuser_paragraph, drum_paragraph = _paragraphs(work_order)  # the earliest act_by first
    assert fuser_paragraph.startswith("Predictive replacement of Fuser unit (FSR-1).")
    assert f"replace by {days(2).isoformat()}" in fuser_paragraph
    assert drum_paragraph.startswith("Predictive replacement of Drum unit (DRM-K).")
    assert f"replace by {days(5).isoformat()}" in drum_paragraph
    assert sorted(ReplacementNeed.objects.values_list("part_type__code", "work_order")) == [
        ("DRM-K", work_order.pk),
        ("FSR-1", work_order.pk),
    ]
    assert set(work_order.replacement_needs.values_list("part_type", flat=True)) == {drum.pk, fuser.pk}


def test_a_part_due_on_a_later_night_joins_the_open_work_order(customer, mfp, drum, fuser, belt):
    forecast(mfp, drum, act_by=days(2))
    forecast(mfp, fuser, act_by=days(3))
    act(customer)
    work_order = WorkOrder.objects.get()
    WorkOrder.objects.filter(pk=work_order.pk).update(status=WorkOrderStatus.ASSIGNED)
    forecast(mfp, belt, act_by=days(20))  # due a week later

    counts = act(customer, as_of=AS_OF + datetime.timedelta(days=7))

    assert (counts.work_orders, counts.joined, counts.already_handled) == (0, 1, 2)
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.ASSIGNED
    assert [paragraph.split(".")[0] for paragraph in _paragraphs(work_order)] == [
        "Predictive replacement of Drum unit (DRM-K)",
        "Predictive replacement of Fuser unit (FSR-1)",
        "Predictive replacement of Transfer belt (BLT-T)",
    ]
    assert ReplacementNeed.objects.get(part_type=belt).work_order == work_order
    note = WorkOrderEvent.objects.filter(work_order=work_order).latest("at", "id")
    assert (note.by, note.from_status, note.to_status) == (None, WorkOrderStatus.ASSIGNED, WorkOrderStatus.ASSIGNED)
    assert note.note == "Added by the replacement forecasts: Transfer belt (BLT-T)."
    assert WorkOrder.objects.count() == 1


@pytest.mark.parametrize("status", [WorkOrderStatus.COMPLETED, WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED])
def test_once_the_work_order_is_no_longer_open_a_new_need_opens_a_new_one(customer, mfp, drum, fuser, status):
    forecast(mfp, drum, act_by=days(2))
    act(customer)
    first = WorkOrder.objects.get()
    WorkOrder.objects.filter(pk=first.pk).update(status=status)
    forecast(mfp, fuser, act_by=days(4))

    counts = act(customer)

    assert (counts.work_orders, counts.joined) == (1, 0)
    second = WorkOrder.objects.exclude(pk=first.pk).get()
    assert ReplacementNeed.objects.get(part_type=fuser).work_order == second
    assert "Fuser unit" in second.description and "Fuser unit" not in WorkOrder.objects.get(pk=first.pk).description


def test_other_open_work_orders_of_the_asset_are_not_joined(customer, mfp, drum):
    corrective = WorkOrderFactory(asset=mfp, status=WorkOrderStatus.ASSIGNED)
    by_hand = WorkOrderFactory(asset=mfp, kind=WorkOrderKind.PREDICTIVE, source=WorkOrderSource.MANUAL)
    forecast(mfp, drum, act_by=days(2))

    counts = act(customer)

    assert (counts.work_orders, counts.joined) == (1, 0)
    assert ReplacementNeed.objects.get().work_order not in (corrective, by_hand)
    assert WorkOrder.objects.count() == 3


def test_parts_on_two_assets_open_two_work_orders(customer, site, mfp_model, mfp, drum, fuser):
    other = AssetFactory(customer=customer, site=site, asset_model=mfp_model)
    forecast(mfp, drum, act_by=days(2))
    forecast(other, drum, act_by=days(1))
    forecast(other, fuser, act_by=days(3))

    counts = act(customer)

    assert (counts.work_orders, counts.joined) == (2, 0)
    by_asset = {
        work_order.asset_id: sorted(work_order.replacement_needs.values_list("part_type__code", flat=True))
        for work_order in WorkOrder.objects.all()
    }
    assert by_asset == {mfp.pk: ["DRM-K"], other.pk: ["DRM-K", "FSR-1"]}


def test_running_twice_opens_nothing_new(customer, mfp, toner, drum, fuser):
    forecast(mfp, toner, act_by=days(1))
    forecast(mfp, drum, act_by=days(2))
    forecast(mfp, fuser, act_by=days(3))
    first = act(customer)
    description = WorkOrder.objects.get().description
    second = act(customer)
    assert (first.supply_orders, first.work_orders, first.joined) == (1, 1, 0)
    assert (second.supply_orders, second.work_orders, second.joined, second.already_handled) == (0, 0, 0, 3)
    assert (SupplyOrder.objects.count(), WorkOrder.objects.count(), ReplacementNeed.objects.count()) == (1, 1, 3)
    assert WorkOrder.objects.get().description == description


def test_a_need_another_run_recorded_first_is_already_handled_and_not_linked(customer, mfp, drum, fuser, monkeypatch):
    forecast(mfp, drum, act_by=days(2))
    forecast(mfp, fuser, act_by=days(3))
    visit = replacements._visit

    def another_run_first(**kwargs):
        # Recorded after this run read the handled needs, before it acts on the asset.
        ReplacementNeed.objects.create(asset=mfp, part_type=drum, segment_started_at=STARTED, act_by=days(2))
        visit(**kwargs)

    monkeypatch.setattr(replacements, "_visit", another_run_first)
    counts = act(customer)

    assert (counts.already_handled, counts.work_orders, counts.failed) == (1, 1, 0)
    work_order = WorkOrder.objects.get()
    assert ReplacementNeed.objects.get(part_type=drum).work_order is None
    assert ReplacementNeed.objects.get(part_type=fuser).work_order == work_order
    assert "Drum unit" not in work_order.description and "Fuser unit" in work_order.description


def test_when_another_run_recorded_every_need_of_the_asset_no_work_order_opens(customer, mfp, drum, monkeypatch):
    forecast(mfp, drum, act_by=days(2))
    visit = replacements._visit

    def another_run_first(**kwargs):
        ReplacementNeed.objects.create(asset=mfp, part_type=drum, segment_started_at=STARTED, act_by=days(2))
        visit(**kwargs)

    monkeypatch.setattr(replacements, "_visit", another_run_first)
    counts = act(customer)

    assert (counts.already_handled, counts.work_orders, counts.joined) == (1, 0, 0)
    assert not WorkOrder.objects.exists()


def test_a_refused_work_order_leaves_no_needs_and_other_assets_go_on(
    customer, other_customer, site, mfp_model, mfp, drum, fuser, caplog
):
    # The asset's site belongs to another customer: work_order_create refuses the order.
    misplaced = AssetFactory(customer=customer, site=SiteFactory(customer=other_customer), asset_model=mfp_model)
    forecast(misplaced, drum, act_by=days(1))
    forecast(misplaced, fuser, act_by=days(2))
    forecast(mfp, drum, act_by=days(3))

    counts = act(customer)

    assert (counts.failed, counts.work_orders) == (2, 1)
    assert list(ReplacementNeed.objects.values_list("asset", flat=True)) == [mfp.pk]
    assert WorkOrder.objects.get().asset == mfp
    assert f"on asset {misplaced.pk} was refused" in caplog.text
    assert act(customer).failed == 2  # tried again on the next run


def test_open_actions_show_the_shared_work_order_for_each_of_its_parts(customer, mfp, drum, fuser):
    forecast(mfp, drum, act_by=days(2))
    forecast(mfp, fuser, act_by=days(3))
    act(customer)
    number = WorkOrder.objects.get().number

    rows = replacements.with_open_actions(ReplacementForecast.objects.order_by("part_type__code"))

    assert [(row.part_type.code, row.open_work_order_number) for row in rows] == [
        ("DRM-K", number),
        ("FSR-1", number),
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_concurrent_run_on_the_same_asset_joins_the_other_runs_work_order(customer, mfp, drum, fuser):
    """Another run holds the asset while it opens its work order for the drum; this run's fuser waits and joins."""
    forecast(mfp, fuser, act_by=days(3))
    locked = threading.Event()

    def other_run():
        try:
            with transaction.atomic():
                replacements.Asset.objects.select_for_update(no_key=True).get(pk=mfp.pk)
                work_order = WorkOrderFactory(
                    asset=mfp, kind=WorkOrderKind.PREDICTIVE, source=WorkOrderSource.FORECAST, description="Drum"
                )
                ReplacementNeed.objects.create(
                    asset=mfp, part_type=drum, segment_started_at=STARTED, act_by=days(2), work_order=work_order
                )
                locked.set()
                time.sleep(1)  # this run reaches the asset's lock meanwhile
        finally:
            connection.close()

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert locked.wait(10)
        counts = act(customer)
    finally:
        thread.join()
    assert (counts.work_orders, counts.joined) == (0, 1)
    work_order = WorkOrder.objects.get()
    assert set(work_order.replacement_needs.values_list("part_type", flat=True)) == {drum.pk, fuser.pk}


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
    """The engine's recompute, recorded: the run's order of work is what is tested here."""
    calls = []

    def refresh(*, customer_id=None, customer_ids=None, as_of, lives=None):
        calls.append(("refresh", customer_id, customer_ids, as_of, lives))
        return 1

    monkeypatch.setattr(forecasts, "forecasts_refresh", refresh)
    return calls


def test_run_recomputes_then_acts(customer, mfp, drum, engine):
    forecast(mfp, drum, act_by=days(1))
    counts = replacements.replacements_run(customer_id=customer.pk, as_of=AS_OF)
    assert engine == [("refresh", customer.pk, None, AS_OF, None)]
    assert (counts.forecasts, counts.work_orders) == (1, 1)


def test_nightly_task_recomputes_in_batches_and_acts_per_active_customer(
    customer, other_customer, provider, mfp, drum, engine, monkeypatch
):
    CustomerFactory(provider=provider, is_active=False)
    forecast(mfp, drum, act_by=days(1))
    acted = []
    act = replacements.replacements_act

    def record(*, customer_id, as_of):
        acted.append((customer_id, as_of))
        return act(customer_id=customer_id, as_of=as_of)

    monkeypatch.setattr(replacements, "replacements_act", record)
    assert replacements.forecasts_nightly_task.delay(AS_OF.isoformat()) is not None
    # One batch (both customers together are far below FORECAST_BATCH_ASSETS), the provider's lives handed over.
    assert [(name, ids, as_of) for name, _one, ids, as_of, _lives in engine] == [
        ("refresh", sorted([customer.pk, other_customer.pk]), AS_OF)
    ]
    assert engine[0][4] == {}  # no part type has enough recorded lives: every distribution is the catalogue's
    assert sorted(acted) == sorted([(customer.pk, AS_OF), (other_customer.pk, AS_OF)])
    assert WorkOrder.objects.filter(asset=mfp, kind=WorkOrderKind.PREDICTIVE).count() == 1


def test_batches_hold_at_most_the_asset_limit(customer, other_customer, provider, mfp, drum):
    AssetFactory.create_batch(2, customer=other_customer)
    AssetFactory(customer=other_customer, status=AssetStatus.RETIRED)  # not in service: not counted
    third = CustomerFactory(provider=provider)
    ids = [third.pk, other_customer.pk, customer.pk]
    # In id order: 1 asset, then 2 (over the limit of 2 together: a new batch), then none (fits).
    assert replacements.forecast_batches(ids, max_assets=2) == [[customer.pk], [other_customer.pk, third.pk]]
    assert replacements.forecast_batches(ids, max_assets=3) == [[customer.pk, other_customer.pk, third.pk]]
    # A customer larger than the limit is a batch of its own.
    assert replacements.forecast_batches(ids, max_assets=1) == [[customer.pk], [other_customer.pk], [third.pk]]


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
    as_of = engine[0][3]
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
