"""The technician's day (page and API), the moves it offers, the dashboard tile and the asset page's panel."""

import datetime

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from assets.tests.factories import AssetFactory, SiteFactory
from maintenance.choices import Priority, WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.models import WorkOrder
from maintenance.tests.factories import WorkOrderFactory
from maintenance.views.technician import my_day_work_orders

pytestmark = pytest.mark.django_db

MY_DAY = "/api/v1/work-orders/my-day/"


def _due(hours: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(hours=hours)


def _order(technician, customer, *, status=WorkOrderStatus.ASSIGNED, site=None, **fields) -> WorkOrder:
    site = site or SiteFactory(customer=customer, address_line1="丸の内1-6-5", city="千代田区", postal_code="100-0005")
    return WorkOrderFactory(
        asset=AssetFactory(customer=customer, site=site), assigned_to=technician, status=status, **fields
    )


def test_my_day_orders_by_resolution_due_then_priority_with_none_last(technician, customer):
    later = _order(technician, customer, resolution_due_at=_due(48), priority=Priority.P1)
    no_due = _order(technician, customer, resolution_due_at=None, priority=Priority.P1)
    soon = _due(2)
    soon_p3 = _order(technician, customer, resolution_due_at=soon, priority=Priority.P3)
    soon_p1 = _order(technician, customer, resolution_due_at=soon, priority=Priority.P1)
    done_today = _order(technician, customer, status=WorkOrderStatus.COMPLETED, completed_at=timezone.now())
    _order(
        technician, customer, status=WorkOrderStatus.CLOSED, completed_at=timezone.now() - datetime.timedelta(days=3)
    )
    _order(technician, customer, status=WorkOrderStatus.CANCELLED)

    orders = list(my_day_work_orders(user=technician, now=timezone.now()))

    assert orders == [soon_p1, soon_p3, later, no_due, done_today]


def test_my_day_leaves_out_other_technicians_orders(client, technician, other_technician, customer):
    mine = _order(technician, customer, description="Mine")
    theirs = _order(other_technician, customer, description="Theirs")
    unassigned = WorkOrderFactory(asset=AssetFactory(customer=customer))

    client.force_login(technician)
    response = client.get(reverse("maintenance:my_day"))

    assert response.status_code == 200
    assert mine.number in response.text
    assert theirs.number not in response.text
    assert unassigned.number not in response.text


def test_my_day_card_shows_address_asset_due_time_in_site_zone_and_next_move(client, technician, customer):
    site = SiteFactory(
        customer=customer, name="Osaka branch", address_line1="梅田3-1-1", city="大阪市", time_zone="Asia/Tokyo"
    )
    due = datetime.datetime(2030, 5, 1, 1, 30, tzinfo=datetime.UTC)  # 10:30 in Tokyo
    work_order = _order(technician, customer, site=site, resolution_due_at=due)

    client.force_login(technician)
    response = client.get(reverse("maintenance:my_day"))

    text = response.text
    assert "Osaka branch" in text and "梅田3-1-1" in text
    assert "https://maps.google.com/?q=" in text
    assert work_order.asset.serial_number in text and work_order.asset.asset_model.name in text
    assert "10:30" in text
    assert f'action="{reverse("maintenance:work_order_transition", args=[work_order.pk])}"' in text
    assert 'value="en_route"' in text
    assert f'name="next" value="{reverse("maintenance:my_day")}"' in text


def test_next_move_from_my_day_returns_to_my_day(client, technician, customer):
    work_order = _order(technician, customer)
    client.force_login(technician)

    response = client.post(
        reverse("maintenance:work_order_transition", args=[work_order.pk]),
        {"to_status": WorkOrderStatus.EN_ROUTE, "note": "", "next": reverse("maintenance:my_day")},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("maintenance:my_day")
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.EN_ROUTE


def test_transition_ignores_a_next_that_leaves_the_site(client, technician, customer):
    work_order = _order(technician, customer)
    client.force_login(technician)

    response = client.post(
        reverse("maintenance:work_order_transition", args=[work_order.pk]),
        {"to_status": WorkOrderStatus.EN_ROUTE, "next": "https://evil.example/"},
    )

    assert response["Location"] == reverse("maintenance:work_order_detail", args=[work_order.pk])


@pytest.mark.parametrize("rows", [3, 30])
def test_my_day_query_count_does_not_grow(client, technician, customer, rows, django_assert_max_num_queries):
    site = SiteFactory(customer=customer)
    for number in range(rows):
        _order(technician, customer, site=site, resolution_due_at=_due(number))
    _order(technician, customer, status=WorkOrderStatus.COMPLETED, completed_at=timezone.now())
    client.force_login(technician)

    with django_assert_max_num_queries(10):
        response = client.get(reverse("maintenance:my_day"))

    assert response.status_code == 200
    assert response.text.count("wo-card priority-") == rows


def test_my_day_is_not_a_customer_page(client, customer_admin):
    client.force_login(customer_admin)
    assert client.get(reverse("maintenance:my_day")).status_code == 404


def test_technician_dashboard_links_to_my_day(client, technician, customer):
    _order(technician, customer)
    client.force_login(technician)

    response = client.get("/")

    (tile,) = [t for t in response.context["tiles"] if t.template_name == "maintenance/technician/_my_day_tile.html"]
    assert tile.context["count"] == 1
    assert reverse("maintenance:my_day") in response.text


def test_customer_dashboard_has_no_my_day_tile(client, customer_admin):
    client.force_login(customer_admin)
    response = client.get("/")
    assert not [t for t in response.context["tiles"] if "my_day" in t.template_name]


# --- API ----------------------------------------------------------------------------------------------------------


def test_api_my_day_lists_own_orders_in_order(api_client_for, technician, other_technician, customer):
    later = _order(technician, customer, resolution_due_at=_due(10))
    sooner = _order(technician, customer, resolution_due_at=_due(1))
    _order(other_technician, customer, resolution_due_at=_due(0.5))

    response = api_client_for(technician).get(MY_DAY)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [sooner.pk, later.pk]
    assert rows[0]["next_status"] == WorkOrderStatus.EN_ROUTE
    assert rows[0]["maps_url"].startswith("https://maps.google.com/?q=")
    assert "丸の内1-6-5" in rows[0]["site_address_lines"]


def test_api_my_day_is_empty_for_a_customer(api_client_for, customer_admin, technician, customer):
    _order(technician, customer)
    response = api_client_for(customer_admin).get(MY_DAY)
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize("rows", [3, 30])
def test_api_my_day_query_count_does_not_grow(
    api_client_for, technician, customer, rows, django_assert_max_num_queries
):
    site = SiteFactory(customer=customer)
    for _ in range(rows):
        _order(technician, customer, site=site)
    client = api_client_for(technician)
    with django_assert_max_num_queries(8):
        response = client.get(MY_DAY)
    assert len(response.json()["results"]) == rows


def test_api_my_day_needs_sign_in(client):
    assert client.get(MY_DAY).status_code in (401, 403)


# --- Asset page: recent work orders and requesting service ----------------------------------------------------------


def test_asset_page_lists_recent_work_orders_and_offers_a_service_request(client, customer_admin, asset):
    orders = [WorkOrderFactory(asset=asset) for _ in range(12)]
    client.force_login(customer_admin)

    response = client.get(reverse("assets:asset_detail", args=[asset.pk]))

    assert response.status_code == 200
    assert orders[-1].number in response.text
    assert orders[0].number not in response.text  # only the latest ten
    assert f"{reverse('maintenance:service_request')}?asset={asset.pk}" in response.text


def test_asset_page_offers_no_service_request_to_provider_staff(client, provider_admin, asset):
    client.force_login(provider_admin)
    response = client.get(reverse("assets:asset_detail", args=[asset.pk]))
    assert f"{reverse('maintenance:service_request')}?asset=" not in response.text


@pytest.mark.parametrize("rows", [2, 12])
def test_asset_page_work_orders_query_count(client, customer_admin, asset, rows, django_assert_max_num_queries):
    for _ in range(rows):
        WorkOrderFactory(asset=asset)
    client.force_login(customer_admin)
    with django_assert_max_num_queries(40):
        response = client.get(reverse("assets:asset_detail", args=[asset.pk]))
    assert response.status_code == 200


def test_service_request_form_preselects_the_asset_and_its_site(client, customer_admin, asset, other_asset):
    client.force_login(customer_admin)

    response = client.get(reverse("maintenance:service_request"), {"asset": asset.pk})
    assert response.context["form"].initial == {"asset": asset.pk, "site": asset.site_id}

    response = client.get(reverse("maintenance:service_request"), {"asset": other_asset.pk})
    assert "asset" not in response.context["form"].initial


def test_service_request_from_the_asset_page_opens_a_request_for_it(client, customer_admin, asset):
    client.force_login(customer_admin)
    response = client.post(
        f"{reverse('maintenance:service_request')}?asset={asset.pk}",
        {"site": asset.site_id, "asset": asset.pk, "description": "Toner light blinks"},
    )
    assert response.status_code == 302
    work_order = WorkOrder.objects.get(asset=asset)
    assert (work_order.kind, work_order.source) == (WorkOrderKind.SERVICE_REQUEST, WorkOrderSource.CUSTOMER_REQUEST)


def test_technician_work_order_page_has_big_move_buttons(client, technician, customer):
    work_order = _order(technician, customer)
    client.force_login(technician)
    response = client.get(reverse("maintenance:work_order_detail", args=[work_order.pk]))
    assert 'class="big-button transition-en_route"' in response.text
    assert reverse("maintenance:my_day") in response.text


# --- Demo history ---------------------------------------------------------------------------------------------------


def test_demo_history_has_every_kind_and_status_and_seeds_once():
    from io import StringIO

    from django.core.management import call_command

    call_command("seed_demo", stdout=StringIO())
    orders = WorkOrder.objects.all()
    assert set(orders.values_list("kind", flat=True)) == set(WorkOrderKind.values)
    assert set(orders.values_list("status", flat=True)) == set(WorkOrderStatus.values)
    assert orders.filter(resolution_breached=True).exists()
    assert orders.exclude(down_from=None).exists()
    closed = orders.filter(status=WorkOrderStatus.CLOSED).exclude(signature="")
    assert closed.exists()
    old = timezone.now() - datetime.timedelta(days=60)
    assert orders.filter(created_at__lt=old, events__at__lt=old).exists()  # back-dated with its timeline
    assert not orders.filter(completed_at__lt=F("created_at")).exists()

    before = orders.count()
    call_command("seed_demo", stdout=StringIO())
    assert WorkOrder.objects.count() == before
