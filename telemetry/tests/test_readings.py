"""Readings: invalidation, the selectors of an asset's history, the readings page, the asset panel and the API."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from accounts.tests.factories import ProviderFactory, member
from assets.tests.factories import AssetFactory
from fleet import panels
from fleet.charts import line_chart_svg
from fleet.tenancy import access_for
from telemetry import readings
from telemetry.choices import Meter, ReadingSource, Supply
from telemetry.models import Reading
from telemetry.tests.reading_factories import (
    DiagnosticEventFactory,
    ReadingFactory,
    SupplyLevelFactory,
)
from telemetry.usage import usage_for_period
from telemetry.views.readings import asset_panel

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2024, 6, 15, 3, tzinfo=datetime.UTC)


@pytest.fixture
def service_desk(provider):
    return member(provider, Role.SERVICE_DESK, email="desk@provider.example")


@pytest.fixture
def reading(asset):
    return ReadingFactory(asset=asset, taken_at=NOW - datetime.timedelta(days=1), value=Decimal("1500"))


def days_ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


# --- reading_invalidate -----------------------------------------------------------------------------------------


def test_invalidate_keeps_the_reading_with_who_when_and_why(reading, service_desk):
    readings.reading_invalidate(reading=reading, reason="  Counter misread after a board swap ", by=service_desk)

    stored = Reading.objects.get(pk=reading.pk)
    assert stored.invalidated_at is not None
    assert stored.invalidated_by == service_desk
    assert stored.invalidation_reason == "Counter misread after a board swap"
    assert stored.value == Decimal("1500")


def test_invalidated_reading_no_longer_counts_for_usage(asset, provider_admin):
    ReadingFactory(asset=asset, taken_at=days_ago(20), value=Decimal("1000"))
    spike = ReadingFactory(asset=asset, taken_at=days_ago(10), value=Decimal("90000"))
    ReadingFactory(asset=asset, taken_at=days_ago(0), value=Decimal("1200"))
    before = usage_for_period(asset=asset, meter=Meter.TOTAL_PAGES, start=days_ago(20), end=NOW, now=NOW)

    readings.reading_invalidate(reading=spike, reason="Spike", by=provider_admin)

    after = usage_for_period(asset=asset, meter=Meter.TOTAL_PAGES, start=days_ago(20), end=NOW, now=NOW)
    assert (before.usage, before.resets) == (Decimal("90000") - Decimal("1000") + Decimal("1200"), 1)
    assert (after.usage, after.resets) == (Decimal("200"), 0)


def test_invalidate_requires_a_reason(reading, service_desk):
    with pytest.raises(ValidationError) as error:
        readings.reading_invalidate(reading=reading, reason="   ", by=service_desk)

    assert error.value.message_dict == {"reason": [str(readings.REASON_REQUIRED)]}
    assert Reading.objects.get(pk=reading.pk).invalidated_at is None


def test_invalidate_rejects_a_reason_longer_than_the_field(reading, service_desk):
    with pytest.raises(ValidationError) as error:
        readings.reading_invalidate(reading=reading, reason="x" * 201, by=service_desk)

    assert "reason" in error.value.message_dict


def test_invalidate_refuses_a_reading_already_invalidated(reading, service_desk, provider_admin):
    readings.reading_invalidate(reading=reading, reason="Misread", by=service_desk)

    with pytest.raises(ValidationError) as error:
        readings.reading_invalidate(reading=Reading.objects.get(pk=reading.pk), reason="Again", by=provider_admin)

    assert error.value.messages == [str(readings.ALREADY_INVALIDATED)]
    assert Reading.objects.get(pk=reading.pk).invalidation_reason == "Misread"


def test_invalidate_refuses_a_stale_copy_of_an_invalidated_reading(reading, service_desk):
    stale = Reading.objects.get(pk=reading.pk)
    readings.reading_invalidate(reading=reading, reason="Misread", by=service_desk)

    with pytest.raises(ValidationError):
        readings.reading_invalidate(reading=stale, reason="Again", by=service_desk)


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.CUSTOMER_VIEWER])
def test_customer_users_may_not_invalidate(reading, customer, role):
    user = member(customer, role)

    with pytest.raises(ValidationError) as error:
        readings.reading_invalidate(reading=reading, reason="Too many pages", by=user)

    assert error.value.messages == [str(readings.NOT_ALLOWED)]


def test_account_managers_and_technicians_may_not_invalidate(reading, provider):
    for role in (Role.ACCOUNT_MANAGER, Role.TECHNICIAN):
        with pytest.raises(ValidationError):
            readings.reading_invalidate(reading=reading, reason="Misread", by=member(provider, role))


def test_system_caller_may_invalidate(reading):
    readings.reading_invalidate(reading=reading, reason="Duplicate import", by=None)

    assert Reading.objects.get(pk=reading.pk).invalidated_by is None
    assert Reading.objects.get(pk=reading.pk).invalidated_at is not None


# --- Selectors ----------------------------------------------------------------------------------------------------


def test_asset_readings_are_scoped_to_the_user(asset, reading, customer_admin, other_admin):
    assert list(readings.asset_readings(user=customer_admin, asset=asset)) == [reading]
    assert list(readings.asset_readings(user=other_admin, asset=asset)) == []


def test_latest_reading_per_meter_prefers_manual_reads_and_skips_invalidated(
    asset, customer_admin, django_assert_num_queries
):
    ReadingFactory(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=days_ago(3), value=Decimal("900"))
    ReadingFactory(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=days_ago(1), value=Decimal("1000"))
    manual = ReadingFactory(
        asset=asset,
        meter=Meter.TOTAL_PAGES,
        taken_at=days_ago(1),
        value=Decimal("1001"),
        source=ReadingSource.TECHNICIAN,
    )
    ReadingFactory(
        asset=asset,
        meter=Meter.TOTAL_PAGES,
        taken_at=days_ago(0),
        value=Decimal("5"),
        invalidated_at=NOW,
        invalidation_reason="Misread",
    )
    colour = ReadingFactory(asset=asset, meter=Meter.COLOUR_PAGES, taken_at=days_ago(2), value=Decimal("40"))
    ReadingFactory(asset=AssetFactory(customer=asset.customer, site=asset.site), taken_at=days_ago(0))

    with django_assert_num_queries(2):  # the access, then the readings
        latest = readings.asset_latest_readings(user=customer_admin, asset=asset)

    assert latest == [manual, colour]


def test_supply_history_keeps_the_lowest_level_of_each_local_day(asset, customer_admin):
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    # 2024-06-10 23:30 and 2024-06-11 01:00 in Tokyo: two local days although both are 10 June in UTC
    SupplyLevelFactory(asset=asset, taken_at=datetime.datetime(2024, 6, 10, 14, 30, tzinfo=datetime.UTC), percent=40)
    SupplyLevelFactory(asset=asset, taken_at=datetime.datetime(2024, 6, 10, 16, 0, tzinfo=datetime.UTC), percent=38)
    SupplyLevelFactory(asset=asset, taken_at=datetime.datetime(2024, 6, 10, 20, 0, tzinfo=datetime.UTC), percent=97)
    SupplyLevelFactory(asset=asset, supply=Supply.DRUM, taken_at=days_ago(5), percent=70)
    SupplyLevelFactory(asset=asset, taken_at=days_ago(200), percent=5)  # before the window

    history = readings.asset_supply_history(user=customer_admin, asset=asset, since=days_ago(90), tz=tokyo)

    assert history[Supply.TONER_BLACK] == [
        (datetime.date(2024, 6, 10), Decimal("40")),
        (datetime.date(2024, 6, 11), Decimal("38")),
    ]
    assert list(history) == [Supply.TONER_BLACK, Supply.DRUM]


def test_recent_events_are_the_last_ten_newest_first(asset, customer_admin):
    events = [DiagnosticEventFactory(asset=asset, occurred_at=days_ago(n)) for n in range(12)]
    DiagnosticEventFactory(asset=AssetFactory(customer=asset.customer, site=asset.site), occurred_at=NOW)

    assert readings.asset_recent_events(user=customer_admin, asset=asset) == events[:10]


def test_monthly_usage_runs_by_calendar_month_in_the_customers_time_zone(asset):
    asset.customer.time_zone = "Asia/Tokyo"
    # 1 June 00:00 in Tokyo is 31 May 15:00 UTC
    ReadingFactory(asset=asset, taken_at=datetime.datetime(2024, 5, 1, 15, tzinfo=datetime.UTC), value=Decimal("0"))
    ReadingFactory(asset=asset, taken_at=datetime.datetime(2024, 5, 31, 15, tzinfo=datetime.UTC), value=Decimal("600"))
    ReadingFactory(asset=asset, taken_at=datetime.datetime(2024, 6, 14, 15, tzinfo=datetime.UTC), value=Decimal("800"))

    (monthly,) = readings.asset_monthly_usage(asset=asset, meters=[Meter.TOTAL_PAGES], now=NOW)

    assert len(monthly.months) == 12
    first_start, first = monthly.months[0]
    assert first_start == datetime.datetime(2023, 6, 30, 15, tzinfo=datetime.UTC)
    assert first is None
    may_start, may = monthly.months[-2]
    assert may_start == datetime.datetime(2024, 4, 30, 15, tzinfo=datetime.UTC)
    assert may.usage == Decimal("600")  # the ledger starts on 2 May (Tokyo), the counter reads 600 at 1 June
    _june_start, june = monthly.months[-1]
    assert june.end == NOW
    assert june.usage == Decimal("207.143")  # 200 to 15 June 00:00 (Tokyo), then 12 hours at 200 per 14 days


# --- Filters ----------------------------------------------------------------------------------------------------


def _filtered(data, user, asset):
    request = RequestFactory().get("/")
    request.user = user
    filterset = readings.ReadingFilterSet(
        data, queryset=readings.asset_readings(user=user, asset=asset), request=request
    )
    assert filterset.is_valid(), filterset.errors
    return set(filterset.qs)


def test_filters_hide_invalidated_readings_unless_asked(asset, customer_admin):
    valid = ReadingFactory(asset=asset, taken_at=days_ago(2))
    invalid = ReadingFactory(asset=asset, taken_at=days_ago(1), invalidated_at=NOW, invalidation_reason="Misread")

    assert _filtered({}, customer_admin, asset) == {valid}
    assert _filtered({"show_invalidated": "true"}, customer_admin, asset) == {valid, invalid}


def test_filters_by_meter_source_and_day(asset, customer_admin, settings):
    settings.TIME_ZONE = "UTC"
    pages = ReadingFactory(
        asset=asset, meter=Meter.TOTAL_PAGES, taken_at=datetime.datetime(2024, 6, 1, 23, 59, tzinfo=datetime.UTC)
    )
    colour = ReadingFactory(
        asset=asset, meter=Meter.COLOUR_PAGES, taken_at=datetime.datetime(2024, 6, 2, 0, 0, tzinfo=datetime.UTC)
    )
    manual = ReadingFactory(
        asset=asset, taken_at=datetime.datetime(2024, 6, 3, tzinfo=datetime.UTC), source=ReadingSource.CUSTOMER
    )

    assert _filtered({"meter": Meter.COLOUR_PAGES}, customer_admin, asset) == {colour}
    assert _filtered({"source": ReadingSource.CUSTOMER}, customer_admin, asset) == {manual}
    assert _filtered({"taken_before": "2024-06-01"}, customer_admin, asset) == {pages}
    assert _filtered({"taken_after": "2024-06-02", "taken_before": "2024-06-02"}, customer_admin, asset) == {colour}
    assert _filtered({"taken_after": "0001-01-01", "taken_before": "9999-12-31"}, customer_admin, asset) == {
        pages,
        colour,
        manual,
    }


# --- The readings page --------------------------------------------------------------------------------------------


def readings_url(asset) -> str:
    return reverse("telemetry:asset_readings", kwargs={"pk": asset.pk})


def test_readings_page_lists_the_assets_valid_readings(client, asset, customer_admin):
    shown = ReadingFactory(asset=asset, value=Decimal("1234"))
    ReadingFactory(asset=asset, value=Decimal("99999"), invalidated_at=NOW, invalidation_reason="Misread")
    ReadingFactory(asset=AssetFactory(customer=asset.customer, site=asset.site), value=Decimal("4321"))
    client.force_login(customer_admin)

    response = client.get(readings_url(asset))

    assert response.status_code == 200
    assert [obj for obj, _cells in response.context["rows"]] == [shown]
    assert "/invalidate/" not in response.content.decode()  # customers cannot invalidate


def test_readings_page_shows_invalidated_readings_on_request(client, asset, customer_admin):
    ReadingFactory(asset=asset, invalidated_at=NOW, invalidation_reason="Misread board")
    client.force_login(customer_admin)

    response = client.get(readings_url(asset), {"show_invalidated": "on"})

    assert response.context["page_obj"].paginator.count == 1
    assert "Misread board" in response.content.decode()


def test_readings_page_of_another_customers_asset_is_not_found(client, other_asset, customer_admin):
    ReadingFactory(asset=other_asset)
    client.force_login(customer_admin)

    assert client.get(readings_url(other_asset)).status_code == 404


def test_readings_page_needs_a_sign_in(client, asset):
    response = client.get(readings_url(asset))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("size", [5, 60])
def test_readings_page_query_count_is_constant(client, asset, service_desk, size, django_assert_max_num_queries):
    for n in range(size):
        ReadingFactory(asset=asset, taken_at=days_ago(n), value=Decimal(1000 + n))
    client.force_login(service_desk)

    with django_assert_max_num_queries(9):
        response = client.get(readings_url(asset), {"per_page": 100})

    assert len(response.context["rows"]) == size


def test_readings_page_exports_csv(client, asset, customer_admin):
    ReadingFactory(asset=asset, taken_at=days_ago(1), value=Decimal("1500.5"), source=ReadingSource.TECHNICIAN)
    ReadingFactory(asset=asset, taken_at=days_ago(2), value=Decimal("1400"))
    client.force_login(customer_admin)

    response = client.get(readings_url(asset), {"format": "csv"})

    lines = b"".join(response.streaming_content).decode("utf-8-sig").strip().splitlines()
    assert lines[0].startswith("Taken at,Meter,Value,Source")
    assert len(lines) == 3
    assert "Total pages,1500.500,Technician" in lines[1]
    assert response["Content-Disposition"] == f'attachment; filename="readings-{asset.pk}.csv"'


def test_readings_page_filters_by_htmx_with_the_results_only(client, asset, customer_admin):
    ReadingFactory(asset=asset)
    client.force_login(customer_admin)

    response = client.get(readings_url(asset), {"meter": Meter.TOTAL_PAGES}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="results">')
    assert "<html" not in body


def test_service_desk_sees_an_invalidate_form_per_valid_reading(client, asset, service_desk):
    reading = ReadingFactory(asset=asset)
    client.force_login(service_desk)

    body = client.get(readings_url(asset)).content.decode()

    assert reverse("telemetry:reading_invalidate", kwargs={"pk": reading.pk}) in body


def test_service_desk_invalidates_a_reading_from_the_page(client, reading, service_desk):
    client.force_login(service_desk)

    response = client.post(reverse("telemetry:reading_invalidate", kwargs={"pk": reading.pk}), {"reason": "Misread"})

    assert response.status_code == 302
    assert response["Location"] == readings_url(reading.asset)
    reading.refresh_from_db()
    assert (reading.invalidation_reason, reading.invalidated_by) == ("Misread", service_desk)


def test_invalidating_without_a_reason_says_so_and_changes_nothing(client, reading, service_desk):
    client.force_login(service_desk)

    response = client.post(
        reverse("telemetry:reading_invalidate", kwargs={"pk": reading.pk}), {"reason": ""}, follow=True
    )

    assert [str(message) for message in response.context["messages"]]
    reading.refresh_from_db()
    assert reading.invalidated_at is None


def test_invalidating_twice_shows_the_error(client, reading, service_desk):
    readings.reading_invalidate(reading=reading, reason="Misread", by=service_desk)
    client.force_login(service_desk)

    response = client.post(
        reverse("telemetry:reading_invalidate", kwargs={"pk": reading.pk}), {"reason": "Again"}, follow=True
    )

    assert str(readings.ALREADY_INVALIDATED) in [str(message) for message in response.context["messages"]]


def test_customer_admin_cannot_invalidate_from_the_portal(client, reading, customer_admin):
    client.force_login(customer_admin)

    response = client.post(reverse("telemetry:reading_invalidate", kwargs={"pk": reading.pk}), {"reason": "Mine"})

    assert response.status_code == 404
    reading.refresh_from_db()
    assert reading.invalidated_at is None


def test_another_providers_service_desk_cannot_invalidate(client, reading):
    outsider = member(ProviderFactory(code="p2", name="Second Fleet"), Role.SERVICE_DESK)
    client.force_login(outsider)

    response = client.post(reverse("telemetry:reading_invalidate", kwargs={"pk": reading.pk}), {"reason": "X"})

    assert response.status_code == 404
    reading.refresh_from_db()
    assert reading.invalidated_at is None


# --- The asset panel ----------------------------------------------------------------------------------------------


def _populate_history(asset, size: int):
    now = timezone.now()
    for n in range(size):
        at = now - datetime.timedelta(days=n * 3)
        ReadingFactory(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=at, value=Decimal(100000 - n * 300))
        ReadingFactory(asset=asset, meter=Meter.COLOUR_PAGES, taken_at=at, value=Decimal(20000 - n * 50))
        SupplyLevelFactory(asset=asset, taken_at=at, percent=Decimal(max(0, 90 - n)))
        SupplyLevelFactory(asset=asset, supply=Supply.TONER_CYAN, taken_at=at, percent=Decimal(50))
        DiagnosticEventFactory(asset=asset, occurred_at=at, message=f"Jam in tray {n}")


@pytest.mark.parametrize("size", [3, 60])
def test_asset_page_panel_keeps_a_fixed_number_of_queries(
    client, asset, customer_admin, size, django_assert_max_num_queries
):
    _populate_history(asset, size)
    client.force_login(customer_admin)

    with django_assert_max_num_queries(20):
        response = client.get(reverse("assets:asset_detail", kwargs={"pk": asset.pk}))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Telemetry" in body
    assert body.count('class="bar-chart"') == 2
    assert 'class="line-chart"' in body
    assert body.count("Jam in tray") == min(size, readings.RECENT_EVENTS)
    assert reverse("telemetry:asset_readings", kwargs={"pk": asset.pk}) in body


def test_asset_panel_is_registered_and_its_queries_do_not_grow_with_history(
    customer, site, customer_admin, django_assert_num_queries
):
    small, large = AssetFactory(customer=customer, site=site), AssetFactory(customer=customer, site=site)
    _populate_history(small, 2)
    _populate_history(large, 40)
    access_for(customer_admin)  # read once per request, before the panels

    assert asset_panel in panels._providers["asset"]
    for asset in (small, large):
        with django_assert_num_queries(6):  # three of them the usage service's
            (tile,) = asset_panel(user=customer_admin, obj=asset)
    assert len(tile.context["latest"]) == 2
    assert len(tile.context["events"]) == readings.RECENT_EVENTS


def test_asset_panel_shows_latest_counters_and_escapes_event_text(client, asset, customer_admin):
    ReadingFactory(asset=asset, taken_at=timezone.now() - datetime.timedelta(hours=2), value=Decimal("123456"))
    DiagnosticEventFactory(asset=asset, occurred_at=timezone.now(), code="SC<542>", message="<script>alert(1)</script>")
    client.force_login(customer_admin)

    body = client.get(reverse("assets:asset_detail", kwargs={"pk": asset.pk})).content.decode()

    assert "123,456" in body
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "SC&lt;542&gt;" in body


def test_asset_panel_without_telemetry_says_so(client, asset, customer_admin):
    client.force_login(customer_admin)

    body = client.get(reverse("assets:asset_detail", kwargs={"pk": asset.pk})).content.decode()

    assert "No readings yet." in body
    assert "No events reported." in body
    assert 'class="bar-chart"' not in body


# --- The API ----------------------------------------------------------------------------------------------------


def test_api_lists_only_visible_valid_readings(api_client_for, asset, other_asset, customer_admin):
    mine = ReadingFactory(asset=asset)
    ReadingFactory(asset=asset, invalidated_at=NOW, invalidation_reason="Misread")
    ReadingFactory(asset=other_asset)

    response = api_client_for(customer_admin).get("/api/v1/readings/")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_api_filters_readings_by_asset_meter_and_time(api_client_for, asset, provider_admin):
    other = AssetFactory(customer=asset.customer, site=asset.site)
    wanted = ReadingFactory(
        asset=asset, meter=Meter.COLOUR_PAGES, taken_at=datetime.datetime(2024, 3, 5, tzinfo=datetime.UTC)
    )
    ReadingFactory(asset=asset, meter=Meter.TOTAL_PAGES, taken_at=datetime.datetime(2024, 3, 5, tzinfo=datetime.UTC))
    ReadingFactory(asset=asset, meter=Meter.COLOUR_PAGES, taken_at=datetime.datetime(2024, 4, 5, tzinfo=datetime.UTC))
    ReadingFactory(asset=other, meter=Meter.COLOUR_PAGES, taken_at=datetime.datetime(2024, 3, 5, tzinfo=datetime.UTC))

    response = api_client_for(provider_admin).get(
        "/api/v1/readings/",
        {"asset": asset.pk, "meter": Meter.COLOUR_PAGES, "taken_after": "2024-03-01", "taken_before": "2024-03-31"},
    )

    assert [row["id"] for row in response.json()["results"]] == [wanted.pk]
    assert response.json()["results"][0]["value"] == "1000.000"


def test_api_refuses_to_filter_by_another_customers_asset(api_client_for, other_asset, customer_admin):
    ReadingFactory(asset=other_asset)

    response = api_client_for(customer_admin).get("/api/v1/readings/", {"asset": other_asset.pk})

    assert response.status_code == 400


def test_api_pages_readings_newest_first_by_cursor(api_client_for, asset, customer_admin):
    created = [ReadingFactory(asset=asset, taken_at=days_ago(n)) for n in range(5)]
    client = api_client_for(customer_admin)

    first = client.get("/api/v1/readings/", {"page_size": 3}).json()
    second = client.get(first["next"]).json()

    assert [row["id"] for row in first["results"] + second["results"]] == [r.pk for r in created]
    assert client.get("/api/v1/readings/", {"cursor": "not-a-cursor"}).status_code == 404


@pytest.mark.parametrize("size", [5, 80])
def test_api_reading_list_query_count_is_constant(
    api_client_for, asset, customer_admin, size, django_assert_max_num_queries
):
    for n in range(size):
        ReadingFactory(asset=asset, taken_at=days_ago(n))
    client = api_client_for(customer_admin)

    with django_assert_max_num_queries(5):
        response = client.get("/api/v1/readings/", {"page_size": 100})

    assert len(response.json()["results"]) == size


def test_api_detail_finds_an_invalidated_reading(api_client_for, asset, customer_admin):
    reading = ReadingFactory(asset=asset, invalidated_at=NOW, invalidation_reason="Misread")

    response = api_client_for(customer_admin).get(f"/api/v1/readings/{reading.pk}/")

    assert response.status_code == 200
    assert response.json()["invalidation_reason"] == "Misread"


def test_api_invalidate_by_the_service_desk(api_client_for, reading, service_desk):
    response = api_client_for(service_desk).post(f"/api/v1/readings/{reading.pk}/invalidate/", {"reason": "Misread"})

    assert response.status_code == 200
    assert response.json()["invalidation_reason"] == "Misread"
    assert response.json()["invalidated_at"] is not None


def test_api_invalidate_twice_is_a_400(api_client_for, reading, service_desk):
    client = api_client_for(service_desk)
    client.post(f"/api/v1/readings/{reading.pk}/invalidate/", {"reason": "Misread"})

    response = client.post(f"/api/v1/readings/{reading.pk}/invalidate/", {"reason": "Again"})

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [str(readings.ALREADY_INVALIDATED)]}


def test_api_invalidate_without_a_reason_is_a_400(api_client_for, reading, service_desk):
    response = api_client_for(service_desk).post(f"/api/v1/readings/{reading.pk}/invalidate/", {"reason": ""})

    assert response.status_code == 400
    assert "reason" in response.json()


def test_api_invalidate_is_forbidden_to_customer_users(api_client_for, reading, customer_admin):
    response = api_client_for(customer_admin).post(f"/api/v1/readings/{reading.pk}/invalidate/", {"reason": "Mine"})

    assert response.status_code == 403
    reading.refresh_from_db()
    assert reading.invalidated_at is None


def test_api_invalidate_of_another_tenants_reading_is_not_found(api_client_for, other_asset):
    reading = ReadingFactory(asset=other_asset)
    outsider = member(ProviderFactory(code="p2", name="Second Fleet"), Role.SERVICE_DESK)

    response = api_client_for(outsider).post(f"/api/v1/readings/{reading.pk}/invalidate/", {"reason": "X"})

    assert response.status_code == 404


def test_api_usage_answers_the_usage_figures(api_client_for, asset, customer_admin):
    ReadingFactory(asset=asset, taken_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC), value=Decimal("1000"))
    ReadingFactory(asset=asset, taken_at=datetime.datetime(2024, 1, 11, tzinfo=datetime.UTC), value=Decimal("2000"))

    response = api_client_for(customer_admin).get(
        "/api/v1/usage/",
        {"asset": asset.pk, "meter": Meter.TOTAL_PAGES, "start": "2024-01-06T00:00:00Z", "end": "2024-01-11T00:00:00Z"},
    )

    assert response.status_code == 200
    assert response.json() == {
        "asset": asset.pk,
        "meter": "total_pages",
        "start": "2024-01-06T00:00:00Z",
        "end": "2024-01-11T00:00:00Z",
        "has_data": True,
        "start_value": "1500.000",
        "end_value": "2000.000",
        "start_estimated": False,
        "end_estimated": False,
        "start_source": "interpolated",
        "end_source": "reading",
        "usage": "500.000",
        "resets": 0,
        "readings_used": 2,
    }


def test_api_usage_without_readings_says_there_is_no_data(api_client_for, asset, customer_admin):
    response = api_client_for(customer_admin).get(
        "/api/v1/usage/",
        {
            "asset": asset.pk,
            "meter": Meter.TOTAL_PAGES,
            "start": "2024-01-01T00:00:00+09:00",
            "end": "2024-02-01T00:00:00+09:00",
        },
    )

    assert response.status_code == 200
    assert response.json()["has_data"] is False
    assert response.json()["usage"] is None


JANUARY = {"start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"meter": "total_pages", **JANUARY},
        {"asset": "x", "meter": "total_pages", **JANUARY},
        {"asset": "ASSET", "meter": "pages", **JANUARY},
        {"asset": "ASSET", "meter": "total_pages", "start": "2024-02-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
        {"asset": "ASSET", "meter": "total_pages", "start": "0001-01-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
        {"asset": "ASSET", "meter": "total_pages", "start": "yesterday", "end": "2024-01-01T00:00:00Z"},
    ],
)
def test_api_usage_rejects_bad_parameters(api_client_for, asset, customer_admin, params):
    params = {name: asset.pk if value == "ASSET" else value for name, value in params.items()}

    response = api_client_for(customer_admin).get("/api/v1/usage/", params)

    assert response.status_code == 400


def test_api_usage_of_an_invisible_asset_is_not_found(api_client_for, other_asset, customer_admin):
    ReadingFactory(asset=other_asset)

    response = api_client_for(customer_admin).get(
        "/api/v1/usage/",
        {
            "asset": other_asset.pk,
            "meter": "total_pages",
            "start": "2024-01-01T00:00:00Z",
            "end": "2024-02-01T00:00:00Z",
        },
    )

    assert response.status_code == 404


def test_api_usage_needs_authentication(client, asset):
    response = client.get("/api/v1/usage/", {"asset": asset.pk})

    assert response.status_code == 401


def test_api_schema_declares_the_readings_operations_and_their_errors(client):
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()

    usage = schema["paths"]["/api/v1/usage/"]["get"]
    assert {"200", "400", "401", "403", "404"} <= set(usage["responses"])
    assert {"404"} <= set(schema["paths"]["/api/v1/readings/"]["get"]["responses"])
    assert "post" in schema["paths"]["/api/v1/readings/{id}/invalidate/"]


# --- The line chart ----------------------------------------------------------------------------------------------


def test_line_chart_escapes_every_text_and_draws_a_line_per_series():
    svg = line_chart_svg(
        [("<b>Black</b>", [(0, 90), (10, 40), (20, 100)]), ("Cyan & co", [(5, 30)])],
        x_max=30,
        x_ticks=[(0, "<1 Jun>")],
        y_max=100,
        title='Levels "now"',
    )

    assert "<b>" not in svg and "&lt;b&gt;Black&lt;/b&gt;" in svg
    assert "Cyan &amp; co" in svg and "&lt;1 Jun&gt;" in svg
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1  # one point draws a dot
    assert 'aria-label="Levels &quot;now&quot;"' in svg


def test_line_chart_breaks_its_line_at_gaps():
    svg = line_chart_svg([("NPS", [(0, 40), (1, 50), (2, None), (3, 60), (4, 70), (5, None), (6, 10)])], x_max=6)

    # Two runs of two points each are lines, the last point alone is a dot: nothing is drawn at zero for a gap.
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 1
    assert line_chart_svg([("NPS", [(0, None)])], x_max=1, empty_text="None yet").count("None yet") == 1


def test_line_chart_without_points_shows_the_empty_text():
    svg = line_chart_svg([], x_max=90, empty_text="No data <yet>")

    assert "No data &lt;yet&gt;" in svg
    assert "<polyline" not in svg


def test_line_chart_rejects_bad_colours_and_negative_values():
    with pytest.raises(ValueError):
        line_chart_svg([("a", [(0, 1)])], x_max=1, colours=["red;x"])
    with pytest.raises(ValueError):
        line_chart_svg([("a", [(0, -1)])], x_max=1)
