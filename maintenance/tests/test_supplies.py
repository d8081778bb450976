"""Supply orders: who may order, the checks of the part, one open order per asset and part (also when two
requests race), the lifecycle, the refills the forecasts expect and the e-mail to the service desk."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.choices import Role
from accounts.tests.factories import member
from assets.choices import AssetStatus, PartKind
from assets.tests.factories import AssetFactory, PartTypeFactory, SiteFactory
from maintenance import supplies
from maintenance.choices import SupplyOrderSource, SupplyOrderStatus
from maintenance.models import SupplyOrder
from maintenance.supplies import (
    ALREADY_OPEN,
    expected_refills,
    supply_order_cancel,
    supply_order_create,
    supply_order_deliver,
    supply_order_ship,
)

MANUAL = SupplyOrderSource.MANUAL
FORECAST = SupplyOrderSource.FORECAST


@pytest.fixture
def toner(asset):
    part_type = PartTypeFactory(code="TNR-K", name="Toner black")
    part_type.asset_models.add(asset.asset_model)
    return part_type


@pytest.fixture
def cyan(asset):
    part_type = PartTypeFactory(code="TNR-C", name="Toner cyan")
    part_type.asset_models.add(asset.asset_model)
    return part_type


@pytest.fixture
def operator(customer, site):
    user = member(customer, Role.CUSTOMER_OPERATOR, email="op@acme.example")
    site.operators.add(user.membership)
    return user


@pytest.fixture
def viewer(customer):
    return member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")


@pytest.fixture
def account_manager(provider, customer):
    user = member(provider, Role.ACCOUNT_MANAGER, email="am@provider.example")
    customer.account_managers.add(user)
    return user


def order(asset, part_type, by=None, **kwargs):
    kwargs.setdefault("source", MANUAL if by is not None else FORECAST)
    return supply_order_create(asset=asset, part_type=part_type, by=by, **kwargs)


def messages_of(error: ValidationError) -> list[str]:
    return [str(message) for message in error.messages]


# --- Creating ----------------------------------------------------------------------------------------------------


def test_system_opens_a_numbered_forecast_order(asset, toner):
    needed_by = timezone.localdate() - datetime.timedelta(days=1)  # a late forecast may ask for yesterday
    created = supply_order_create(
        asset=asset, part_type=toner, quantity=1, source=FORECAST, needed_by=needed_by, by=None
    )
    assert created.number == f"SO-{timezone.localdate().year}-000001"
    assert (created.status, created.source, created.requested_by) == (SupplyOrderStatus.REQUESTED, FORECAST, None)
    assert (created.customer, created.site_id, created.provider_id) == (
        asset.customer,
        asset.site_id,
        asset.customer.provider_id,
    )
    magenta = PartTypeFactory()
    magenta.asset_models.add(asset.asset_model)
    assert order(asset, magenta).number.endswith("000002")


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.CUSTOMER_VIEWER])
def test_customer_users_order_for_their_organisation(customer, asset, toner, role):
    user = member(customer, role)
    created = order(asset, toner, by=user, quantity=3, note="  spare  ")
    assert (created.requested_by, created.quantity, created.note, created.source) == (user, 3, "spare", MANUAL)


def test_operator_orders_for_their_sites_only(customer, asset, toner, operator):
    assert order(asset, toner, by=operator).requested_by == operator
    elsewhere = AssetFactory(customer=customer, site=SiteFactory(customer=customer), asset_model=asset.asset_model)
    with pytest.raises(ValidationError) as error:
        order(elsewhere, toner, by=operator)
    assert messages_of(error.value) == [str(supplies.NOT_ALLOWED_TO_ORDER)]


def test_dispatching_staff_order_by_hand(asset, toner, service_desk, provider_admin, cyan):
    assert order(asset, toner, by=service_desk).requested_by == service_desk
    assert order(asset, cyan, by=provider_admin).requested_by == provider_admin


@pytest.mark.parametrize("who", ["technician", "account_manager", "other_admin"])
def test_others_may_not_order(request, asset, toner, who):
    with pytest.raises(ValidationError) as error:
        order(asset, toner, by=request.getfixturevalue(who))
    assert messages_of(error.value) == [str(supplies.NOT_ALLOWED_TO_ORDER)]
    assert not SupplyOrder.objects.exists()


def test_only_consumables_that_fit_the_model(asset, customer_admin):
    wear = PartTypeFactory(kind=PartKind.WEAR_PART)
    wear.asset_models.add(asset.asset_model)
    with pytest.raises(ValidationError) as error:
        order(asset, wear, by=customer_admin)
    assert error.value.message_dict == {"part_type": [str(supplies.NOT_A_CONSUMABLE)]}
    with pytest.raises(ValidationError) as error:
        order(asset, PartTypeFactory(), by=customer_admin)
    assert error.value.message_dict == {"part_type": [str(supplies.PART_DOES_NOT_FIT)]}


def test_refuses_retired_assets_bad_quantities_and_past_dates(asset, toner, customer_admin):
    with pytest.raises(ValidationError) as error:
        order(asset, toner, by=customer_admin, quantity=100)
    assert "quantity" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        order(asset, toner, by=customer_admin, needed_by=timezone.localdate() - datetime.timedelta(days=1))
    assert error.value.message_dict == {"needed_by": [str(supplies.NEEDED_BY_PAST)]}
    with pytest.raises(ValidationError) as error:
        order(asset, toner, source="bogus")
    assert "source" in error.value.message_dict
    asset.status = AssetStatus.RETIRED
    asset.save()
    with pytest.raises(ValidationError) as error:
        order(asset, toner, by=customer_admin)
    assert error.value.message_dict == {"asset": [str(supplies.ASSET_NOT_IN_SERVICE)]}
    assert not SupplyOrder.objects.exists()


def test_one_open_order_per_asset_and_part(asset, toner, cyan, customer_admin, service_desk):
    first = order(asset, toner)
    with pytest.raises(ValidationError) as error:
        order(asset, toner, by=customer_admin)
    assert error.value.message_dict == {"part_type": [str(ALREADY_OPEN % {"number": first.number})]}
    assert order(asset, cyan, by=customer_admin).part_type == cyan  # another part is another need
    supply_order_ship(order=first, by=service_desk)
    with pytest.raises(ValidationError):  # shipped is still open
        order(asset, toner)
    supply_order_deliver(order=first, by=customer_admin)
    second = order(asset, toner, by=customer_admin)
    supply_order_cancel(order=second, by=customer_admin, note="ordered twice")
    assert order(asset, toner).status == SupplyOrderStatus.REQUESTED


def test_a_lost_race_is_refused_by_the_database_with_the_same_message(asset, toner, monkeypatch):
    first = order(asset, toner)
    real = supplies._already_open
    calls = []

    def blind_first_look(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)  # the check ran before the other order committed

    monkeypatch.setattr(supplies, "_already_open", blind_first_look)
    with pytest.raises(ValidationError) as error:
        order(asset, toner)
    assert error.value.message_dict == {"part_type": [str(ALREADY_OPEN % {"number": first.number})]}
    assert len(calls) == 2
    assert SupplyOrder.objects.count() == 1  # and the transaction is still usable


# --- The lifecycle -----------------------------------------------------------------------------------------------


def test_ship_then_deliver(asset, toner, customer_admin, service_desk):
    created = order(asset, toner, by=customer_admin)
    shipped = supply_order_ship(order=created, by=service_desk, tracking=" 1234-5678 ")
    assert (shipped.status, shipped.tracking) == (SupplyOrderStatus.SHIPPED, "1234-5678")
    assert shipped.shipped_at is not None
    delivered = supply_order_deliver(order=shipped, by=customer_admin)
    created.refresh_from_db()
    assert (created.status, created.delivered_at) == (SupplyOrderStatus.DELIVERED, delivered.delivered_at)


@pytest.mark.parametrize("who", ["customer_admin", "technician", "account_manager", "other_admin"])
def test_only_dispatching_staff_ship(request, asset, toner, who):
    created = order(asset, toner)
    with pytest.raises(ValidationError) as error:
        supply_order_ship(order=created, by=request.getfixturevalue(who))
    assert messages_of(error.value) == [str(supplies.NOT_ALLOWED_TO_SHIP)]


def test_lifecycle_refuses_wrong_states(asset, toner, service_desk, customer_admin):
    created = order(asset, toner, by=customer_admin)
    with pytest.raises(ValidationError) as error:
        supply_order_deliver(order=created, by=customer_admin)
    assert messages_of(error.value) == [str(supplies.NOT_SHIPPED % {"status": "Requested"})]
    supply_order_ship(order=created, by=service_desk)
    with pytest.raises(ValidationError) as error:
        supply_order_ship(order=created, by=service_desk)
    assert messages_of(error.value) == [str(supplies.NOT_REQUESTED % {"status": "Shipped"})]
    with pytest.raises(ValidationError) as error:
        supply_order_cancel(order=created, by=service_desk, note="too late")
    assert messages_of(error.value) == [str(supplies.NOT_CANCELLABLE % {"status": "Shipped"})]


def test_a_stale_copy_is_refused_under_the_lock(asset, toner, service_desk):
    created = order(asset, toner)
    stale = SupplyOrder.objects.get(pk=created.pk)
    supply_order_ship(order=created, by=service_desk)
    with pytest.raises(ValidationError):
        supply_order_cancel(order=stale, by=service_desk, note="changed my mind")


@pytest.mark.parametrize(("who", "allowed"), [("operator", True), ("viewer", True), ("other_admin", False)])
def test_customer_users_confirm_delivery(request, asset, toner, service_desk, who, allowed):
    created = supply_order_ship(order=order(asset, toner), by=service_desk)
    user = request.getfixturevalue(who)
    if allowed:
        assert supply_order_deliver(order=created, by=user).status == SupplyOrderStatus.DELIVERED
    else:
        with pytest.raises(ValidationError):
            supply_order_deliver(order=created, by=user)


def test_technicians_do_not_confirm_delivery(asset, toner, service_desk, technician):
    created = supply_order_ship(order=order(asset, toner), by=service_desk)
    with pytest.raises(ValidationError) as error:
        supply_order_deliver(order=created, by=technician)
    assert messages_of(error.value) == [str(supplies.NOT_ALLOWED_TO_DELIVER)]


def test_cancel_by_the_orderer_or_provider_staff_with_a_reason(
    asset, toner, cyan, customer_admin, viewer, service_desk
):
    mine = order(asset, toner, by=customer_admin, note="for the 3F machine")
    with pytest.raises(ValidationError) as error:
        supply_order_cancel(order=mine, by=viewer, note="not needed")
    assert messages_of(error.value) == [str(supplies.NOT_ALLOWED_TO_CANCEL)]
    with pytest.raises(ValidationError) as error:
        supply_order_cancel(order=mine, by=customer_admin, note="  ")
    assert error.value.message_dict == {"note": [str(supplies.CANCEL_NOTE_MISSING)]}
    cancelled = supply_order_cancel(order=mine, by=customer_admin, note="found a spare")
    assert cancelled.status == SupplyOrderStatus.CANCELLED
    assert cancelled.cancelled_at is not None
    assert cancelled.note == "for the 3F machine\nCancelled: found a spare"
    forecast = order(asset, cyan)
    with pytest.raises(ValidationError):
        supply_order_cancel(order=forecast, by=customer_admin, note="we have one")  # not theirs
    assert supply_order_cancel(order=forecast, by=service_desk, note="customer has stock").status == "cancelled"


def test_allowed_actions_follow_role_and_state(asset, toner, customer_admin, service_desk, viewer):
    created = order(asset, toner, by=customer_admin)
    assert supplies.supply_order_allowed_actions(order=created, user=service_desk) == ["ship", "cancel"]
    assert supplies.supply_order_allowed_actions(order=created, user=customer_admin) == ["cancel"]
    assert supplies.supply_order_allowed_actions(order=created, user=viewer) == []
    supply_order_ship(order=created, by=service_desk)
    assert supplies.supply_order_allowed_actions(order=created, user=viewer) == ["deliver"]


# --- Expected refills --------------------------------------------------------------------------------------------


def test_expected_refills_are_the_latest_shipped_or_delivered_in_60_days(asset, toner, cyan, service_desk):
    now = timezone.now()
    other = AssetFactory(customer=asset.customer, site=asset.site, asset_model=asset.asset_model)
    old = supply_order_ship(order=order(asset, toner), by=service_desk)
    supply_order_deliver(order=old, by=service_desk)
    SupplyOrder.objects.filter(pk=old.pk).update(shipped_at=now - datetime.timedelta(days=20))
    latest = supply_order_ship(order=order(asset, toner), by=service_desk)
    ancient = supply_order_ship(order=order(asset, cyan), by=service_desk)
    SupplyOrder.objects.filter(pk=ancient.pk).update(shipped_at=now - datetime.timedelta(days=61))
    order(other, toner)  # requested, not shipped: no refill yet
    with CaptureQueriesContext(connection) as queries:
        refills = expected_refills(asset_ids=[asset.pk, other.pk])
    assert len(queries) == 1
    assert {key: found.pk for key, found in refills.items()} == {(asset.pk, toner.pk): latest.pk}
    assert expected_refills(asset_ids=[asset.pk], as_of=now - datetime.timedelta(days=10))[(asset.pk, toner.pk)] == old


# --- The e-mail to the service desk --------------------------------------------------------------------------------


def test_a_customer_hand_order_mails_the_service_desk_once(
    provider, asset, toner, customer_admin, service_desk, provider_admin, mailoutbox, django_capture_on_commit_callbacks
):
    other_desk = member(provider, Role.SERVICE_DESK, email="desk2@provider.example")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        created = order(asset, toner, by=customer_admin, quantity=2, note="urgent")
    assert len(callbacks) == 1
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert sorted(message.to) == sorted([service_desk.email, other_desk.email])
    assert created.number in message.subject
    assert "TNR-K" in message.body
    assert "urgent" in message.body


def test_no_mail_for_system_or_staff_orders(
    asset, toner, cyan, service_desk, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        order(asset, toner)
        order(asset, cyan, by=service_desk)
    assert callbacks == []
    assert mailoutbox == []


def test_mail_goes_to_the_provider_admins_without_a_service_desk(
    asset, toner, customer_admin, provider_admin, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order(asset, toner, by=customer_admin)
    assert [message.to for message in mailoutbox] == [[provider_admin.email]]


def test_a_refused_order_mails_nobody(
    asset, toner, customer_admin, service_desk, mailoutbox, django_capture_on_commit_callbacks
):
    order(asset, toner)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        order(asset, toner, by=customer_admin)
    assert mailoutbox == []


# --- The demo ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_step_orders_toner_by_hand_twice_and_is_idempotent():
    from fleet.demo import DemoContext, demo_steps

    context = DemoContext(today=timezone.localdate(), log=lambda line: None)
    steps = [step for step in demo_steps() if step.name in ("accounts", "assets", "maintenance_supplies")]
    for step in steps:
        step.fn(context)
    orders = SupplyOrder.objects.filter(customer__code="towa-shoji", source=MANUAL).order_by("pk")
    assert [order.status for order in orders] == [SupplyOrderStatus.DELIVERED, SupplyOrderStatus.SHIPPED]
    assert all(order.requested_by.email == "admin@towa-shoji.example" and order.tracking for order in orders)
    assert [order.part_type.code[-2:] for order in orders] == ["-K", "-C"]
    steps[-1].fn(context)
    assert SupplyOrder.objects.filter(customer__code="towa-shoji", source=MANUAL).count() == 2
