"""API of service levels and business calendars, and the SLA fields and filter of the work-order API."""

import datetime

import pytest
from django.utils import timezone

from accounts.tests.factories import ProviderFactory
from maintenance.choices import SlaState
from maintenance.models import BusinessCalendar, ServiceLevel, WorkOrder
from maintenance.tests.factories import ServiceLevelFactory, WorkOrderFactory

pytestmark = pytest.mark.django_db

LEVELS = "/api/v1/service-levels/"
CALENDARS = "/api/v1/business-calendars/"
HOUR = datetime.timedelta(hours=1)

CALENDAR_BODY = {
    "name": "JP office",
    "holiday_country": "JP",
    "hours": [
        {"weekday": 0, "opens": "09:00", "closes": "12:00"},
        {"weekday": 0, "opens": "13:00", "closes": "18:00"},
    ],
    "closures": [{"date": "2026-12-31", "name": "Year end"}],
}


def test_provider_admin_creates_and_patches_a_service_level(api_client_for, provider_admin, customer):
    client = api_client_for(provider_admin)
    response = client.post(LEVELS, {"name": "Gold", "customer": customer.pk, "response_hours_p1": 2})
    assert response.status_code == 201, response.json()
    assert response.json()["customer_name"] == customer.name
    level_id = response.json()["id"]
    response = client.patch(f"{LEVELS}{level_id}/", {"business_hours_only": True, "at_risk_percent": 80})
    assert response.status_code == 200
    assert ServiceLevel.objects.get(pk=level_id).at_risk_percent == 80


def test_service_level_rules_are_field_messages(api_client_for, provider_admin, provider):
    client = api_client_for(provider_admin)
    response = client.post(LEVELS, {"name": "Odd", "response_hours_p2": 30, "resolution_hours_p2": 10})
    assert response.status_code == 400
    assert "resolution_hours_p2" in response.json()
    ServiceLevelFactory(provider=provider)
    response = client.post(LEVELS, {"name": "Second default"})
    assert response.status_code == 400 and "customer" in response.json()
    response = client.post(LEVELS, {"name": "Bad", "at_risk_percent": 0, "uptime_target_percent": "120"})
    assert response.status_code == 400


def test_non_managers_read_but_do_not_write(api_client_for, service_desk, customer_admin, provider, customer):
    level = ServiceLevelFactory(provider=provider, customer=customer)
    for user in (service_desk, customer_admin):
        client = api_client_for(user)
        assert client.get(f"{LEVELS}{level.pk}/").status_code == 200
        assert client.patch(f"{LEVELS}{level.pk}/", {"name": "Mine"}).status_code == 403
        assert client.post(LEVELS, {"name": "Mine"}).status_code == 403
    assert client.put(f"{LEVELS}{level.pk}/", {"name": "Mine"}).status_code == 405


def test_other_tenants_service_levels_are_not_found(api_client_for, provider, other_customer, customer_admin):
    other = ServiceLevelFactory(provider=provider, customer=other_customer)
    foreign = ServiceLevelFactory(provider=ProviderFactory(code="p2"))
    client = api_client_for(customer_admin)
    assert client.get(f"{LEVELS}{other.pk}/").status_code == 404
    assert client.get(f"{LEVELS}{foreign.pk}/").status_code == 404
    assert client.get(f"{LEVELS}abc/").status_code == 404
    assert {row["id"] for row in client.get(LEVELS).json()["results"]} == set()


def test_calendar_is_written_with_its_hours_and_closures(api_client_for, provider_admin):
    client = api_client_for(provider_admin)
    response = client.post(CALENDARS, CALENDAR_BODY)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [row["opens"] for row in body["hours"]] == ["09:00:00", "13:00:00"]
    assert body["closures"] == [{"date": "2026-12-31", "name": "Year end"}]
    response = client.patch(
        f"{CALENDARS}{body['id']}/", {"hours": [{"weekday": 1, "opens": "08:00", "closes": "16:00"}]}
    )
    assert response.status_code == 200
    calendar = BusinessCalendar.objects.get(pk=body["id"])
    assert list(calendar.hours.values_list("weekday", flat=True)) == [1]
    assert calendar.closures.count() == 1 and calendar.name == "JP office"


def test_calendar_bad_input_is_a_400_and_changes_nothing(api_client_for, provider_admin):
    client = api_client_for(provider_admin)
    overlapping = {
        **CALENDAR_BODY,
        "hours": [*CALENDAR_BODY["hours"], {"weekday": 0, "opens": "11:00", "closes": "14:00"}],
    }
    response = client.post(CALENDARS, overlapping)
    assert response.status_code == 400 and "hours" in response.json()
    response = client.post(CALENDARS, {**CALENDAR_BODY, "hours": [{"weekday": 7, "opens": "18:00", "closes": "09:00"}]})
    assert response.status_code == 400 and "hours" in response.json()
    response = client.post(CALENDARS, {**CALENDAR_BODY, "holiday_country": "XX"})
    assert response.status_code == 400 and "holiday_country" in response.json()
    doubled = {**CALENDAR_BODY, "closures": CALENDAR_BODY["closures"] * 2}
    assert client.post(CALENDARS, doubled).status_code == 400
    assert not BusinessCalendar.objects.exists()


def test_other_providers_calendar_is_not_found(api_client_for, provider_admin):
    theirs = BusinessCalendar.objects.create(provider=ProviderFactory(code="p2"), name="Theirs")
    client = api_client_for(provider_admin)
    assert client.get(f"{CALENDARS}{theirs.pk}/").status_code == 404
    assert client.patch(f"{CALENDARS}{theirs.pk}/", {"name": "Mine"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_work_order_api_has_sla_state_and_time_left_and_filters(
    api_client_for, provider_admin, provider, customer, asset
):
    level = ServiceLevelFactory(provider=provider, customer=customer)
    now = timezone.now()
    late = WorkOrderFactory(asset=asset, service_level=level, response_due_at=now - HOUR, resolution_due_at=now + HOUR)
    fine = WorkOrderFactory(
        asset=asset, service_level=level, response_due_at=now + 5 * HOUR, resolution_due_at=now + 50 * HOUR
    )
    client = api_client_for(provider_admin)
    rows = {row["id"]: row for row in client.get("/api/v1/work-orders/").json()["results"]}
    assert rows[late.pk]["sla_state"] == SlaState.BREACHED
    assert rows[late.pk]["time_left_seconds"] < 0
    assert rows[fine.pk]["sla_state"] == SlaState.ON_TRACK
    assert 4 * 3600 < rows[fine.pk]["time_left_seconds"] <= 5 * 3600
    filtered = client.get("/api/v1/work-orders/", {"sla_state": SlaState.BREACHED}).json()["results"]
    assert [row["id"] for row in filtered] == [late.pk]
    assert client.get("/api/v1/work-orders/", {"sla_state": "nonsense"}).status_code == 400
    detail = client.get(f"/api/v1/work-orders/{fine.pk}/").json()
    assert detail["sla_state"] == SlaState.ON_TRACK
    assert WorkOrder.objects.count() == 2
