"""Upcoming replacements in the portal and the API: horizon and filters, scoping (other tenants absent or 404,
technicians through their work orders), CSV, the asset panel with its chart, the dashboard tile, query counts."""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from assets.choices import LifeUnit, PartKind
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory
from maintenance.choices import ForecastKind, ForecastMethod, SupplyOrderSource, WorkOrderStatus
from maintenance.models import ReplacementForecast
from maintenance.supplies import supply_order_create
from maintenance.tests.factories import WorkOrderFactory
from maintenance.views.replacements import asset_forecasts_panel, replacement_tiles
from telemetry.models import SupplyLevel

TODAY = timezone.localdate()
NOW = timezone.now()
LIST_URL = reverse("maintenance:replacement_list")
API_URL = "/api/v1/replacement-forecasts/"


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
        code="DRM-K", name="Drum unit", kind=PartKind.WEAR_PART, life_unit=LifeUnit.PAGES, rated_life=100_000
    )
    part.asset_models.add(mfp_model)
    return part


@pytest.fixture
def mfp(customer, site, mfp_model):
    return AssetFactory(customer=customer, site=site, asset_model=mfp_model, serial_number="ACME-0001")


@pytest.fixture
def other_mfp(other_customer, mfp_model):
    return AssetFactory(customer=other_customer, asset_model=mfp_model, serial_number="OTHER-0001")


def forecast(asset, part_type, *, act_by, predicted_on=None, **fields) -> ReplacementForecast:
    consumable = part_type.kind == PartKind.CONSUMABLE
    predicted_on = predicted_on or act_by + datetime.timedelta(days=10)
    values = {
        "kind": ForecastKind.CONSUMABLE if consumable else ForecastKind.WEAR_PART,
        "method": ForecastMethod.LEVEL_TREND if consumable else ForecastMethod.WEIBULL,
        "supply": "toner_black" if consumable else "",
        "meter": "" if consumable else "total_pages",
        "segment_started_at": NOW - datetime.timedelta(days=30),
        "level_percent": Decimal("24.0") if consumable else None,
        "rate_per_day": Decimal("2.5000") if consumable else Decimal("500.0000"),
        "life_used": None if consumable else Decimal("80000"),
        "rated_life": None if consumable else Decimal("100000"),
        "data_points": 30,
        "replacements_used": 0 if consumable else 12,
        "predicted_on": predicted_on,
        "earliest_on": predicted_on - datetime.timedelta(days=3),
        "latest_on": predicted_on + datetime.timedelta(days=5),
        "act_by": act_by,
        "computed_at": NOW,
    }
    values.update(fields)
    return ReplacementForecast.objects.create(asset=asset, part_type=part_type, **values)


def csv_text(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


# --- The list page -------------------------------------------------------------------------------------------------


def test_provider_staff_see_every_customer_within_the_horizon(client, provider_admin, mfp, other_mfp, toner, drum):
    forecast(mfp, toner, act_by=days(5))
    forecast(other_mfp, drum, act_by=days(70), predicted_on=days(80))
    client.force_login(provider_admin)

    page = client.get(LIST_URL).content.decode()
    assert "ACME-0001" in page and "OTHER-0001" not in page  # 30 days by default
    page = client.get(LIST_URL, {"horizon": "90"}).content.decode()
    assert "ACME-0001" in page and "OTHER-0001" in page
    page = client.get(LIST_URL, {"horizon": "90", "kind": "wear_part"}).content.decode()
    assert "ACME-0001" not in page and "OTHER-0001" in page


def test_the_horizon_reads_the_predicted_date_too(client, provider_admin, mfp, toner):
    forecast(mfp, toner, act_by=days(45), predicted_on=days(20))
    client.force_login(provider_admin)
    assert "ACME-0001" in client.get(LIST_URL).content.decode()


def test_a_horizon_outside_the_choices_is_a_form_error_not_a_500(client, provider_admin, mfp, toner):
    forecast(mfp, toner, act_by=days(5))
    client.force_login(provider_admin)
    response = client.get(LIST_URL, {"horizon": "45"})
    assert response.status_code == 200 and "ACME-0001" not in response.content.decode()


def test_filters_by_customer_site_part_type_and_method(client, provider_admin, customer, mfp, other_mfp, toner, drum):
    forecast(mfp, toner, act_by=days(5))
    forecast(other_mfp, drum, act_by=days(5))
    client.force_login(provider_admin)
    for query, expected in (
        ({"customer": customer.pk}, "ACME-0001"),
        ({"site": other_mfp.site_id}, "OTHER-0001"),
        ({"part_type": drum.pk}, "OTHER-0001"),
        ({"method": ForecastMethod.LEVEL_TREND}, "ACME-0001"),
        ({"q": "TNR-K"}, "ACME-0001"),
    ):
        page = client.get(LIST_URL, query).content.decode()
        assert expected in page and ({"ACME-0001", "OTHER-0001"} - {expected}).pop() not in page, query


def test_customers_see_their_own_only(client, customer_admin, other_admin, mfp, other_mfp, toner):
    forecast(mfp, toner, act_by=days(5))
    forecast(other_mfp, toner, act_by=days(5))
    client.force_login(customer_admin)
    page = client.get(LIST_URL).content.decode()
    assert "ACME-0001" in page and "OTHER-0001" not in page
    assert 'name="customer"' not in page  # provider staff only
    client.force_login(other_admin)
    assert "ACME-0001" not in client.get(LIST_URL, {"site": mfp.site_id}).content.decode()


def test_technicians_see_the_forecasts_of_their_open_work_orders_assets(client, technician, mfp, other_mfp, toner):
    forecast(mfp, toner, act_by=days(5))
    forecast(other_mfp, toner, act_by=days(5))
    client.force_login(technician)
    assert "ACME-0001" not in client.get(LIST_URL).content.decode()
    WorkOrderFactory(asset=mfp, assigned_to=technician, status=WorkOrderStatus.ASSIGNED)
    page = client.get(LIST_URL).content.decode()
    assert "ACME-0001" in page and "OTHER-0001" not in page


def test_the_open_order_is_linked(client, provider_admin, mfp, toner, drum):
    forecast(mfp, toner, act_by=days(5))
    forecast(mfp, drum, act_by=days(6))
    order = supply_order_create(asset=mfp, part_type=toner, source=SupplyOrderSource.FORECAST, by=None)
    work_order = WorkOrderFactory(asset=mfp)
    work_order.parts.create(part_type=drum, added_at=NOW)
    client.force_login(provider_admin)
    page = client.get(LIST_URL).content.decode()
    assert reverse("maintenance:work_order_detail", args=[work_order.pk]) in page and work_order.number in page
    assert order.number in page


def test_csv_lists_the_basis_dates_and_open_order(client, provider_admin, mfp, toner, drum):
    forecast(mfp, toner, act_by=days(5))
    forecast(mfp, drum, act_by=days(6))
    order = supply_order_create(asset=mfp, part_type=toner, source=SupplyOrderSource.FORECAST, by=None)
    client.force_login(provider_admin)
    response = client.get(LIST_URL, {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    lines = csv_text(response).splitlines()
    assert lines[0].startswith("Asset,Customer,Site,Part,Kind,Level (%),Life used (%),Predicted,Earliest (P10)")
    assert "Open order" in lines[0] and len(lines) == 3
    toner_line = next(line for line in lines if "Black toner" in line)
    assert order.number in toner_line and days(5).isoformat() in toner_line and "24.0" in toner_line
    drum_line = next(line for line in lines if "Drum unit" in line)
    assert re.search(r",80(\.0)?,", drum_line)  # life used in percent (SQLite drops the decimal of a whole number)
    assert "Weibull fit of observed lives" in drum_line and ",12," in drum_line


@pytest.mark.parametrize("size", [2, 12])
def test_list_takes_constant_queries(
    client, provider_admin, customer, site, mfp_model, toner, size, django_assert_max_num_queries
):
    for _index in range(size):
        asset = AssetFactory(customer=customer, site=site, asset_model=mfp_model)
        forecast(asset, toner, act_by=days(3))
        supply_order_create(asset=asset, part_type=toner, source=SupplyOrderSource.MANUAL, by=None)
    client.force_login(provider_admin)
    with django_assert_max_num_queries(12):
        response = client.get(LIST_URL)
    assert response.status_code == 200
    with django_assert_max_num_queries(6):
        assert len(csv_text(client.get(LIST_URL, {"format": "csv"})).splitlines()) == size + 1


def test_nav_links_the_page(client, customer_admin):
    client.force_login(customer_admin)
    assert LIST_URL in client.get(reverse("portal:dashboard")).content.decode()


# --- API -----------------------------------------------------------------------------------------------------------


def test_api_lists_and_retrieves_within_scope(api_client_for, customer_admin, mfp, other_mfp, toner, drum):
    mine = forecast(mfp, toner, act_by=days(5))
    later = forecast(mfp, drum, act_by=days(80), predicted_on=days(85))
    theirs = forecast(other_mfp, toner, act_by=days(5))
    client = api_client_for(customer_admin)

    body = client.get(API_URL).json()
    assert [row["id"] for row in body["results"]] == [mine.pk]
    row = body["results"][0]
    assert row["asset_serial_number"] == "ACME-0001" and row["kind"] == "consumable"
    assert row["act_by"] == days(5).isoformat() and row["open_supply_order"] is None
    assert {row["id"] for row in client.get(API_URL, {"horizon": "90"}).json()["results"]} == {mine.pk, later.pk}
    assert client.get(f"{API_URL}{later.pk}/").status_code == 200  # beyond the horizon: still readable by id
    assert client.get(f"{API_URL}{theirs.pk}/").status_code == 404
    assert client.get(API_URL, {"asset": other_mfp.pk}).json()["results"] == []
    assert client.get(API_URL, {"horizon": "45"}).status_code == 400


def test_api_is_read_only(api_client_for, provider_admin, mfp, toner):
    row = forecast(mfp, toner, act_by=days(5))
    client = api_client_for(provider_admin)
    assert client.post(API_URL, {}).status_code == 405
    assert client.patch(f"{API_URL}{row.pk}/", {"act_by": "2030-01-01"}).status_code == 405
    assert client.delete(f"{API_URL}{row.pk}/").status_code == 405


@pytest.mark.parametrize("size", [2, 12])
def test_api_takes_constant_queries(
    api_client_for, provider_admin, customer, site, mfp_model, toner, size, django_assert_max_num_queries
):
    for _index in range(size):
        forecast(AssetFactory(customer=customer, site=site, asset_model=mfp_model), toner, act_by=days(3))
    client = api_client_for(provider_admin)
    with django_assert_max_num_queries(6):
        body = client.get(API_URL).json()
    assert body["count"] == size


# --- Asset panel and dashboard tile --------------------------------------------------------------------------------


def test_asset_page_shows_each_forecast_with_its_basis_and_a_chart(client, customer_admin, mfp, toner, drum):
    forecast(mfp, toner, act_by=days(5))
    forecast(mfp, drum, act_by=days(40), predicted_on=days(50))
    for day in range(0, 30, 3):
        SupplyLevel.objects.create(
            asset=mfp, supply="toner_black", taken_at=NOW - datetime.timedelta(days=29 - day), percent=90 - 2 * day
        )
    client.force_login(customer_admin)
    page = client.get(reverse("assets:asset_detail", args=[mfp.pk])).content.decode()
    assert "Replacement forecasts" in page
    assert "Level 24% falling 2.50% a day" in page
    assert "80,000 of 100,000 pages used at 500 a day (Weibull fit of observed lives from 12 replacements" in page
    assert page.count("Projected to empty") == 1  # one chart: the consumable's (the telemetry panel has its own)


def test_asset_panel_is_absent_without_forecasts_and_for_other_tenants(mfp, toner, other_admin, customer_admin):
    assert asset_forecasts_panel(user=customer_admin, obj=mfp) == []
    forecast(mfp, toner, act_by=days(5))
    assert asset_forecasts_panel(user=other_admin, obj=mfp) == []
    assert len(asset_forecasts_panel(user=customer_admin, obj=mfp)) == 1


@pytest.mark.parametrize("levels", [3, 30])
def test_asset_panel_takes_constant_queries(customer_admin, mfp, toner, drum, levels, django_assert_max_num_queries):
    forecast(mfp, toner, act_by=days(5))
    forecast(mfp, drum, act_by=days(9))
    for index in range(levels):
        SupplyLevel.objects.create(
            asset=mfp, supply="toner_black", taken_at=NOW - datetime.timedelta(hours=index * 5), percent=30 + index
        )
    with django_assert_max_num_queries(4):
        tiles = asset_forecasts_panel(user=customer_admin, obj=mfp)
    assert "<polyline" in tiles[0].context["items"][0]["chart"]


def test_dashboard_tile_counts_the_next_14_days(client, customer_admin, mfp, other_mfp, toner, drum, technician):
    forecast(mfp, toner, act_by=days(-2))
    forecast(mfp, drum, act_by=days(14))
    forecast(other_mfp, toner, act_by=days(3))
    [tile] = replacement_tiles(user=customer_admin)
    assert (tile.context["total"], tile.context["shipments"], tile.context["replacements"]) == (2, 1, 1)
    assert tile.context["overdue"] == 1
    assert replacement_tiles(user=technician) == []
    client.force_login(customer_admin)
    assert "needs to ship or replace within 14 days" in client.get(reverse("portal:dashboard")).content.decode()


def test_tile_roles(provider, make_member, customer, mfp, toner):
    forecast(mfp, toner, act_by=days(1))
    assert (
        replacement_tiles(user=make_member(provider, Role.SERVICE_DESK, email="d@p.example"))[0].context["total"] == 1
    )
    assert replacement_tiles(user=make_member(customer, Role.CUSTOMER_VIEWER, email="v@c.example")) == []
