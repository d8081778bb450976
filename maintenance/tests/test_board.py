"""The dispatch board and the SLA pages: who may open them, what they show, assignment from the board, the
query count, the dashboard tile and the work-order page's SLA panel."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets.tests.factories import AssetFactory, SiteFactory
from maintenance import sla
from maintenance.choices import Priority, SlaState, WorkOrderStatus
from maintenance.models import BusinessCalendar, ServiceLevel, SiteCalendar, WorkOrder
from maintenance.tests.factories import ServiceLevelFactory, WorkOrderFactory

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)
BOARD = "maintenance:dispatch_board"


def _order(asset, level, *, created, resolution_due, response_due=None, **fields):
    order = WorkOrderFactory(
        asset=asset,
        service_level=level,
        response_due_at=response_due or resolution_due,
        resolution_due_at=resolution_due,
        **fields,
    )
    WorkOrder.objects.filter(pk=order.pk).update(created_at=created)
    return order


@pytest.fixture
def board_orders(provider, customer, asset, technician):
    now = timezone.now()
    level = ServiceLevelFactory(provider=provider, customer=customer)
    return {
        "new": _order(asset, level, created=now - HOUR, resolution_due=now + 20 * HOUR),
        "breached": _order(
            asset,
            level,
            created=now - 9 * HOUR,
            resolution_due=now - HOUR,
            assigned_to=technician,
            status=WorkOrderStatus.ASSIGNED,
        ),
        "at_risk": _order(
            asset,
            level,
            created=now - 9 * HOUR,
            response_due=now - 8 * HOUR,
            resolution_due=now + HOUR,
            responded_at=now - 8 * HOUR,
            assigned_to=technician,
            status=WorkOrderStatus.IN_PROGRESS,
        ),
        "on_track_assigned": _order(
            asset,
            level,
            created=now - HOUR,
            resolution_due=now + 20 * HOUR,
            assigned_to=technician,
            status=WorkOrderStatus.ASSIGNED,
        ),
        "closed": _order(
            asset, level, created=now - 9 * HOUR, resolution_due=now - HOUR, status=WorkOrderStatus.CLOSED
        ),
    }


def test_board_lists_unassigned_and_urgent_orders_most_urgent_first(client, service_desk, board_orders):
    client.force_login(service_desk)
    response = client.get(reverse(BOARD))
    assert response.status_code == 200
    shown = [order.number for order, _left in response.context["rows"]]
    assert shown == [board_orders[name].number for name in ("breached", "at_risk", "new")]
    assert board_orders["on_track_assigned"].number not in response.text
    assert board_orders["closed"].number not in response.text


def test_board_filters_by_sla_state_and_priority(client, service_desk, board_orders):
    client.force_login(service_desk)
    response = client.get(reverse(BOARD), {"sla_state": SlaState.AT_RISK})
    assert [order.pk for order, _left in response.context["rows"]] == [board_orders["at_risk"].pk]
    response = client.get(reverse(BOARD), {"priority": Priority.P1})
    assert response.context["rows"] == []


def test_board_is_for_dispatchers_only(client, customer_admin, technician, provider_admin, board_orders):
    for user in (customer_admin, technician):
        client.force_login(user)
        assert client.get(reverse(BOARD)).status_code == 404
    client.force_login(provider_admin)
    assert client.get(reverse(BOARD)).status_code == 200


def test_board_hides_other_providers_orders(client, board_orders):
    other_desk = member(ProviderFactory(code="p2"), Role.SERVICE_DESK, email="desk@p2.example")
    client.force_login(other_desk)
    response = client.get(reverse(BOARD))
    assert response.context["rows"] == []
    assert board_orders["breached"].number not in response.text


def test_assign_from_the_board_comes_back_to_it(client, service_desk, technician, board_orders):
    client.force_login(service_desk)
    board = reverse(BOARD) + "?sla_state=on_track"
    order = board_orders["new"]
    response = client.post(
        reverse("maintenance:work_order_assign", args=[order.pk]), {"technician": technician.pk, "next": board}
    )
    assert response.status_code == 302 and response["Location"] == board
    order.refresh_from_db()
    assert order.assigned_to == technician and order.status == WorkOrderStatus.ASSIGNED


def test_assign_ignores_a_next_to_another_site(client, service_desk, technician, board_orders):
    client.force_login(service_desk)
    order = board_orders["new"]
    response = client.post(
        reverse("maintenance:work_order_assign", args=[order.pk]),
        {"technician": technician.pk, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("maintenance:work_order_detail", args=[order.pk])


@pytest.mark.parametrize("rows", [3, 30])
def test_board_query_count_does_not_grow_with_rows(
    client, service_desk, provider, customer, technician, rows, django_assert_max_num_queries
):
    level = ServiceLevelFactory(provider=provider, customer=customer)
    now = timezone.now()
    for _ in range(rows):
        site = SiteFactory(customer=customer)
        _order(AssetFactory(customer=customer, site=site), level, created=now - 9 * HOUR, resolution_due=now - HOUR)
    client.force_login(service_desk)
    with django_assert_max_num_queries(12):
        response = client.get(reverse(BOARD), {"customer": customer.pk})
    assert len(response.context["rows"]) == rows


def test_dashboard_tile_counts_for_dispatchers(client, service_desk, customer_admin, board_orders):
    client.force_login(service_desk)
    response = client.get(reverse("portal:dashboard"))
    assert reverse(BOARD) in response.text
    client.force_login(customer_admin)
    response = client.get(reverse("portal:dashboard"))
    assert "?sla_state=breached" not in response.text


def test_work_order_page_shows_the_sla_panel(client, customer_admin, board_orders):
    client.force_login(customer_admin)
    order = board_orders["breached"]
    response = client.get(reverse("maintenance:work_order_detail", args=[order.pk]))
    assert response.status_code == 200
    assert 'id="sla-title"' in response.text
    assert order.service_level.name in response.text
    assert str(SlaState.BREACHED.label) in response.text


def test_work_order_list_filters_and_shows_sla_state(client, service_desk, board_orders):
    client.force_login(service_desk)
    response = client.get(reverse("maintenance:work_order_list"), {"sla_state": SlaState.BREACHED})
    assert board_orders["breached"].number in response.text
    assert board_orders["new"].number not in response.text
    csv = client.get(reverse("maintenance:work_order_list"), {"format": "csv"})
    assert str(SlaState.AT_RISK.label) in b"".join(csv.streaming_content).decode()


# --- Service levels and calendars in the portal -----------------------------------------------------------------


def _level_post(**fields) -> dict:
    data = {"name": "Gold", "customer": "", "uptime_target_percent": "99.00", "at_risk_percent": "75", "calendar": ""}
    for priority, (response, resolution) in zip(Priority.values, ((2, 4), (4, 8), (8, 24), (24, 72)), strict=True):
        data[f"response_hours_{priority}"] = response
        data[f"resolution_hours_{priority}"] = resolution
    return {**data, **fields}


def test_provider_admin_creates_and_edits_a_service_level(client, provider_admin, customer):
    client.force_login(provider_admin)
    response = client.post(reverse("maintenance:service_level_create"), _level_post(customer=customer.pk))
    level = ServiceLevel.objects.get(customer=customer)
    assert response.status_code == 302
    response = client.post(
        reverse("maintenance:service_level_edit", args=[level.pk]),
        _level_post(customer=customer.pk, name="Platinum", business_hours_only="on"),
    )
    level.refresh_from_db()
    assert level.name == "Platinum" and level.business_hours_only
    listing = client.get(reverse("maintenance:service_level_list"))
    assert "Platinum" in listing.text


def test_service_level_form_shows_the_rules_as_field_errors(client, provider_admin, customer, provider):
    client.force_login(provider_admin)
    response = client.post(
        reverse("maintenance:service_level_create"), _level_post(response_hours_p3=30, resolution_hours_p3=10)
    )
    assert response.status_code == 200
    assert response.context["form"].errors["resolution_hours_p3"] == [str(sla.RESOLUTION_BEFORE_RESPONSE)]
    ServiceLevelFactory(provider=provider)
    response = client.post(reverse("maintenance:service_level_create"), _level_post())
    assert response.context["form"].errors["customer"] == [str(sla.DEFAULT_EXISTS)]
    assert ServiceLevel.objects.count() == 1


def test_sla_pages_are_for_provider_admins(client, service_desk, customer_admin, provider):
    level = ServiceLevelFactory(provider=provider)
    for user in (service_desk, customer_admin):
        client.force_login(user)
        for url in (
            reverse("maintenance:service_level_list"),
            reverse("maintenance:service_level_edit", args=[level.pk]),
            reverse("maintenance:business_calendar_list"),
            reverse("maintenance:site_calendars"),
        ):
            assert client.get(url).status_code == 404


def test_other_providers_service_level_and_calendar_are_not_found(client, provider_admin):
    p2 = ProviderFactory(code="p2")
    level = ServiceLevelFactory(provider=p2)
    calendar = BusinessCalendar.objects.create(provider=p2, name="Theirs")
    client.force_login(provider_admin)
    assert client.get(reverse("maintenance:service_level_edit", args=[level.pk])).status_code == 404
    assert client.get(reverse("maintenance:business_calendar_edit", args=[calendar.pk])).status_code == 404
    response = client.post(reverse("maintenance:business_calendar_edit", args=[calendar.pk]), {"name": "Mine"})
    assert response.status_code == 404
    calendar.refresh_from_db()
    assert calendar.name == "Theirs"


def _calendar_post(**fields) -> dict:
    data = {
        "name": "JP office",
        "customer": "",
        "holiday_country": "JP",
        "hours-TOTAL_FORMS": "3",
        "hours-INITIAL_FORMS": "0",
        "hours-0-weekday": "0",
        "hours-0-opens": "09:00",
        "hours-0-closes": "12:00",
        "hours-1-weekday": "0",
        "hours-1-opens": "13:00",
        "hours-1-closes": "18:00",
        "hours-2-weekday": "",
        "hours-2-opens": "",
        "hours-2-closes": "",
        "closures-TOTAL_FORMS": "1",
        "closures-INITIAL_FORMS": "0",
        "closures-0-date": "2026-12-31",
        "closures-0-name": "Year end",
    }
    return {**data, **fields}


def test_provider_admin_saves_a_calendar_with_hours_and_closures(client, provider_admin):
    client.force_login(provider_admin)
    response = client.post(reverse("maintenance:business_calendar_create"), _calendar_post())
    assert response.status_code == 302
    calendar = BusinessCalendar.objects.get()
    assert calendar.hours.count() == 2 and calendar.closures.count() == 1
    response = client.get(reverse("maintenance:business_calendar_edit", args=[calendar.pk]))
    assert response.status_code == 200 and "JP office" in response.text


def test_calendar_form_errors(client, provider_admin):
    client.force_login(provider_admin)
    response = client.post(
        reverse("maintenance:business_calendar_create"), _calendar_post(**{"hours-1-opens": "11:00"})
    )
    assert response.status_code == 200
    assert str(sla.HOURS_OVERLAP) in response.text
    response = client.post(reverse("maintenance:business_calendar_create"), _calendar_post(holiday_country="XX"))
    assert str(sla.UNKNOWN_COUNTRY) in response.text
    assert not BusinessCalendar.objects.exists()


def test_provider_admin_gives_a_site_its_calendar(client, provider_admin, provider, site):
    calendar = BusinessCalendar.objects.create(provider=provider, name="Site hours")
    client.force_login(provider_admin)
    response = client.post(reverse("maintenance:site_calendars"), {"site": site.pk, "calendar": calendar.pk})
    assert response.status_code == 302
    assert SiteCalendar.objects.get(site=site).calendar == calendar
    assert "Site hours" in client.get(reverse("maintenance:site_calendars")).text
    client.post(reverse("maintenance:site_calendars"), {"site": site.pk, "calendar": ""})
    assert not SiteCalendar.objects.exists()


def test_site_of_another_provider_cannot_be_given_a_calendar(client, provider_admin, provider):
    customer2 = CustomerFactory(provider=ProviderFactory(code="p2"))
    site2 = SiteFactory(customer=customer2)
    calendar = BusinessCalendar.objects.create(provider=provider, name="Ours")
    client.force_login(provider_admin)
    response = client.post(reverse("maintenance:site_calendars"), {"site": site2.pk, "calendar": calendar.pk})
    assert response.status_code == 200
    assert not SiteCalendar.objects.exists()
