"""API v1 of the asset registry: scoped reads, filters, ordering, pagination, writes through services, prices."""

import datetime
from decimal import Decimal

import pytest
from django.db.models import Q

from accounts.choices import Role
from accounts.tests.factories import ProviderFactory
from assets import services
from assets.choices import AssetCategory, AssetEventKind, AssetStatus, Ownership
from assets.models import Asset, AssetModel, Manufacturer, PartType, Site
from assets.tests.factories import (
    AssetFactory,
    AssetModelFactory,
    ManufacturerFactory,
    PartTypeFactory,
    SiteFactory,
)
from fleet import tenancy

pytestmark = pytest.mark.django_db

ASSETS = "/api/v1/assets/"
SITES = "/api/v1/sites/"
MANUFACTURERS = "/api/v1/manufacturers/"
ASSET_MODELS = "/api/v1/asset-models/"
PART_TYPES = "/api/v1/part-types/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def osaka(customer):
    return SiteFactory(customer=customer, name="Osaka Depot", city="Osaka")


@pytest.fixture
def fleet(customer, site, osaka, other_asset):
    """Two assets of one customer at two sites, of two categories and statuses, and one of another customer."""
    mfp_model = AssetModelFactory(manufacturer=ManufacturerFactory(name="Ricoh"), name="IM C4500")
    forklift_model = AssetModelFactory(
        manufacturer=ManufacturerFactory(name="Toyota"), name="8FBE15", category=AssetCategory.FORKLIFT
    )
    mfp = AssetFactory(customer=customer, site=site, asset_model=mfp_model, serial_number="MFP-0001")
    forklift = AssetFactory(
        customer=customer,
        site=osaka,
        asset_model=forklift_model,
        serial_number="FL-0001",
        status=AssetStatus.IN_REPAIR,
        location_note="Loading dock 3",
    )
    return {"mfp": mfp, "forklift": forklift, "other": other_asset, "tokyo": site, "osaka": osaka}


def asset_payload(customer, site, asset_model, **fields):
    return {
        "customer": customer.pk,
        "site": site.pk,
        "asset_model": asset_model.pk,
        "serial_number": "NEW-0001",
        "ownership": Ownership.RENTAL,
        "acquisition_cost": "1200000.00",
        **fields,
    }


# Reads: scoping, filters, ordering, pagination


def test_asset_list_shows_only_assets_of_the_users_customer(api_client_for, customer_admin, asset, other_asset):
    assert ids(api_client_for(customer_admin).get(ASSETS)) == [asset.pk]


def test_provider_admin_lists_assets_of_every_customer(api_client_for, provider_admin, asset, other_asset):
    assert set(ids(api_client_for(provider_admin).get(ASSETS))) == {asset.pk, other_asset.pk}


def test_asset_detail_shows_the_asset_with_its_names(api_client_for, customer_admin, asset):
    response = api_client_for(customer_admin).get(f"{ASSETS}{asset.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["serial_number"] == asset.serial_number
    assert body["site_name"] == "Tokyo HQ"
    assert body["customer_name"] == "Acme Office KK"
    assert body["category"] == AssetCategory.MFP


def test_asset_detail_of_another_customer_is_404(api_client_for, customer_admin, other_asset):
    assert api_client_for(customer_admin).get(f"{ASSETS}{other_asset.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (lambda f: {"customer": f["mfp"].customer_id}, {"mfp", "forklift"}),
        (lambda f: {"site": f["osaka"].pk}, {"forklift"}),
        (lambda f: {"category": AssetCategory.FORKLIFT}, {"forklift"}),
        (lambda f: {"status": AssetStatus.IN_REPAIR}, {"forklift"}),
        (lambda f: {"asset_model": f["mfp"].asset_model_id}, {"mfp"}),
        (lambda f: {"q": "DOCK"}, {"forklift"}),
        (lambda f: {"q": "osaka"}, {"forklift"}),
        (lambda f: {"q": "mfp-0001"}, {"mfp"}),
        (lambda f: {"status": AssetStatus.ACTIVE, "category": AssetCategory.MFP}, {"mfp", "other"}),
    ],
    ids=["customer", "site", "category", "status", "asset_model", "q_location", "q_site", "q_serial", "combined"],
)
def test_asset_list_filters(api_client_for, provider_admin, fleet, params, expected):
    response = api_client_for(provider_admin).get(ASSETS, params(fleet))
    assert set(ids(response)) == {fleet[name].pk for name in expected}


def test_asset_filter_naming_another_customers_site_is_400(api_client_for, customer_admin, asset, other_asset):
    response = api_client_for(customer_admin).get(ASSETS, {"site": other_asset.site_id})
    assert response.status_code == 400
    assert "site" in response.json()


def test_asset_filter_with_unknown_status_is_400(api_client_for, customer_admin, asset):
    response = api_client_for(customer_admin).get(ASSETS, {"status": "lost"})
    assert response.status_code == 400
    assert "status" in response.json()


def test_asset_search_with_nul_byte_is_400(api_client_for, customer_admin, asset):
    response = api_client_for(customer_admin).get(ASSETS, {"q": "SN\x00"})
    assert response.status_code == 400
    assert "q" in response.json()


@pytest.mark.parametrize(
    ("url", "parameter"),
    [(ASSETS, "q"), (SITES, "q"), (ASSET_MODELS, "q"), (PART_TYPES, "q"), (MANUFACTURERS, "name")],
)
def test_text_filters_with_a_nul_byte_are_400_on_every_list(api_client_for, provider_admin, url, parameter):
    response = api_client_for(provider_admin).get(url, {parameter: "a\x00b"})
    assert response.status_code == 400
    assert list(response.json()) == [parameter]


@pytest.mark.parametrize("malformed", ["0.5", "abc", "%00"])
def test_a_malformed_id_is_the_apis_json_404(api_client_for, customer_admin, malformed):
    response = api_client_for(customer_admin).get(f"{ASSETS}{malformed}/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_asset_list_orders_by_the_requested_field(api_client_for, provider_admin, fleet):
    client = api_client_for(provider_admin)
    ascending = ids(client.get(ASSETS, {"ordering": "serial_number", "customer": fleet["mfp"].customer_id}))
    descending = ids(client.get(ASSETS, {"ordering": "-serial_number", "customer": fleet["mfp"].customer_id}))
    assert ascending == [fleet["forklift"].pk, fleet["mfp"].pk]
    assert descending == [fleet["mfp"].pk, fleet["forklift"].pk]


def test_asset_list_orders_by_site_name(api_client_for, customer_admin, fleet):
    response = api_client_for(customer_admin).get(ASSETS, {"ordering": "site__name"})
    assert ids(response) == [fleet["forklift"].pk, fleet["mfp"].pk]  # Osaka Depot before Tokyo HQ


def test_asset_list_paginates_with_the_requested_page_size(api_client_for, customer_admin, customer, site):
    AssetFactory.create_batch(5, customer=customer, site=site)
    client = api_client_for(customer_admin)
    first = client.get(ASSETS, {"page_size": 2}).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert "page=2" in first["next"]
    last = client.get(ASSETS, {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1
    assert last["next"] is None


def test_asset_list_page_past_the_end_is_404(api_client_for, customer_admin, asset):
    assert api_client_for(customer_admin).get(ASSETS, {"page": 2}).status_code == 404


# Writes: registration


def test_provider_admin_registers_an_asset(api_client_for, provider_admin, customer, site):
    model = AssetModelFactory()
    response = api_client_for(provider_admin).post(ASSETS, asset_payload(customer, site, model))
    assert response.status_code == 201, response.content
    asset = Asset.objects.get(pk=response.json()["id"])
    assert (asset.customer, asset.site, asset.serial_number) == (customer, site, "NEW-0001")
    assert asset.manufacturer_id == model.manufacturer_id
    assert asset.acquisition_cost == Decimal("1200000.00")
    assert asset.expected_life_months == 60  # the provider-wide default
    assert response.json()["acquisition_cost"] == "1200000.00"
    event = asset.history.get()
    assert (event.kind, event.to_site, event.by) == (AssetEventKind.REGISTERED, site, provider_admin)


def test_customer_admin_may_not_register_an_asset(api_client_for, customer_admin, customer, site):
    response = api_client_for(customer_admin).post(ASSETS, asset_payload(customer, site, AssetModelFactory()))
    assert response.status_code == 403
    assert not Asset.objects.exists()


def test_asset_registration_naming_another_providers_customer_and_site_is_400(
    api_client_for, make_member, customer, site
):
    second_provider = ProviderFactory(code="p2", name="Second Fleet Services")
    second_admin = make_member(second_provider, Role.PROVIDER_ADMIN, email="admin@p2.example")
    response = api_client_for(second_admin).post(ASSETS, asset_payload(customer, site, AssetModelFactory()))
    assert response.status_code == 400
    assert set(response.json()) == {"customer", "site"}
    assert not Asset.objects.exists()


def test_asset_registration_at_a_site_of_another_customer_is_400(
    api_client_for, provider_admin, customer, other_customer
):
    elsewhere = SiteFactory(customer=other_customer)
    response = api_client_for(provider_admin).post(ASSETS, asset_payload(customer, elsewhere, AssetModelFactory()))
    assert response.status_code == 400
    assert response.json() == {"site": [str(services.SITE_OF_OTHER_CUSTOMER)]}
    assert not Asset.objects.exists()


def test_asset_registration_with_a_taken_serial_is_400_with_the_field_message(
    api_client_for, provider_admin, customer, site, asset
):
    payload = asset_payload(customer, site, asset.asset_model, serial_number=asset.serial_number)
    response = api_client_for(provider_admin).post(ASSETS, payload)
    assert response.status_code == 400
    assert response.json() == {"serial_number": [str(services.SERIAL_TAKEN)]}
    assert Asset.objects.count() == 1


def test_asset_registration_with_a_nul_byte_is_400(api_client_for, provider_admin, customer, site):
    payload = asset_payload(customer, site, AssetModelFactory(), serial_number="SN\x00001")
    response = api_client_for(provider_admin).post(ASSETS, payload)
    assert response.status_code == 400
    assert "serial_number" in response.json()
    assert not Asset.objects.exists()


def test_asset_registration_without_required_fields_names_them(api_client_for, provider_admin):
    response = api_client_for(provider_admin).post(ASSETS, {})
    assert response.status_code == 400
    assert {"customer", "site", "asset_model", "serial_number", "ownership"} <= set(response.json())


# Writes: edits, moves, status changes


def test_provider_admin_edits_descriptive_fields(api_client_for, provider_admin, asset):
    response = api_client_for(provider_admin).patch(
        f"{ASSETS}{asset.pk}/", {"asset_tag": "ACME-77", "acquisition_cost": "900000.00"}
    )
    assert response.status_code == 200, response.content
    asset.refresh_from_db()
    assert (asset.asset_tag, asset.acquisition_cost) == ("ACME-77", Decimal("900000.00"))
    assert response.json()["asset_tag"] == "ACME-77"
    assert asset.history.get().kind == AssetEventKind.UPDATED


def test_customer_admin_may_not_edit_an_asset(api_client_for, customer_admin, asset):
    response = api_client_for(customer_admin).patch(f"{ASSETS}{asset.pk}/", {"asset_tag": "MINE"})
    assert response.status_code == 403
    asset.refresh_from_db()
    assert asset.asset_tag != "MINE"


def test_edit_to_a_serial_taken_by_another_asset_is_400(api_client_for, provider_admin, customer, site):
    first = AssetFactory(customer=customer, site=site)
    second = AssetFactory(customer=customer, site=site, asset_model=first.asset_model)
    response = api_client_for(provider_admin).patch(f"{ASSETS}{second.pk}/", {"serial_number": first.serial_number})
    assert response.status_code == 400
    assert response.json() == {"serial_number": [str(services.SERIAL_TAKEN)]}


def test_customer_admin_moves_an_asset_between_own_sites(api_client_for, customer_admin, asset, osaka):
    response = api_client_for(customer_admin).post(
        f"{ASSETS}{asset.pk}/move/", {"site": osaka.pk, "location_note": "2F copy room"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["site_name"] == "Osaka Depot"
    asset.refresh_from_db()
    assert (asset.site, asset.location_note) == (osaka, "2F copy room")
    event = asset.history.get()
    assert (event.kind, event.from_site.name, event.to_site, event.by) == (
        AssetEventKind.MOVED,
        "Tokyo HQ",
        osaka,
        customer_admin,
    )


def test_customer_admin_moving_to_another_customers_site_is_400_on_site(
    api_client_for, customer_admin, asset, other_asset
):
    response = api_client_for(customer_admin).post(f"{ASSETS}{asset.pk}/move/", {"site": other_asset.site_id})
    assert response.status_code == 400
    assert list(response.json()) == ["site"]
    asset.refresh_from_db()
    assert asset.site.name == "Tokyo HQ"
    assert not asset.history.exists()


def test_provider_admin_moving_to_another_customers_site_gets_the_service_message(
    api_client_for, provider_admin, asset, other_asset
):
    response = api_client_for(provider_admin).post(f"{ASSETS}{asset.pk}/move/", {"site": other_asset.site_id})
    assert response.status_code == 400
    assert response.json() == {"site": [str(services.SITE_OF_OTHER_CUSTOMER)]}
    asset.refresh_from_db()
    assert asset.site.name == "Tokyo HQ"


def test_customer_admin_cannot_move_another_customers_asset(api_client_for, customer_admin, other_asset, osaka):
    response = api_client_for(customer_admin).post(f"{ASSETS}{other_asset.pk}/move/", {"site": osaka.pk})
    assert response.status_code == 404


def test_customer_viewer_may_not_move_an_asset(api_client_for, make_member, customer, asset, osaka):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    response = api_client_for(viewer).post(f"{ASSETS}{asset.pk}/move/", {"site": osaka.pk})
    assert response.status_code == 403
    asset.refresh_from_db()
    assert asset.site.name == "Tokyo HQ"


def test_provider_admin_changes_an_assets_status(api_client_for, provider_admin, asset):
    response = api_client_for(provider_admin).post(
        f"{ASSETS}{asset.pk}/status/", {"status": AssetStatus.IN_REPAIR, "note": "Fuser fault"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == AssetStatus.IN_REPAIR
    event = asset.history.get()
    assert (event.from_status, event.to_status, event.note) == (
        AssetStatus.ACTIVE,
        AssetStatus.IN_REPAIR,
        "Fuser fault",
    )


def test_status_change_to_the_same_status_is_400(api_client_for, provider_admin, asset):
    response = api_client_for(provider_admin).post(f"{ASSETS}{asset.pk}/status/", {"status": AssetStatus.ACTIVE})
    assert response.status_code == 400
    assert response.json() == {"status": [str(services.SAME_STATUS)]}


def test_customer_admin_may_not_change_an_assets_status(api_client_for, customer_admin, asset):
    response = api_client_for(customer_admin).post(f"{ASSETS}{asset.pk}/status/", {"status": AssetStatus.RETIRED})
    assert response.status_code == 403
    asset.refresh_from_db()
    assert asset.status == AssetStatus.ACTIVE


def test_asset_history_lists_events_newest_first(api_client_for, provider_admin, customer_admin, asset, osaka):
    services.asset_move(asset=asset, site=osaka, by=customer_admin)
    services.asset_change_status(asset=asset, status=AssetStatus.STANDBY, by=provider_admin)
    response = api_client_for(customer_admin).get(f"{ASSETS}{asset.pk}/history/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["kind"] for row in rows] == [AssetEventKind.STATUS_CHANGED, AssetEventKind.MOVED]
    assert rows[1]["to_site"] == osaka.pk
    assert rows[0]["by"] == str(provider_admin)


def test_asset_history_of_a_system_change_has_no_author(api_client_for, customer_admin, asset):
    services.asset_change_status(asset=asset, status=AssetStatus.STANDBY, by=None)
    rows = api_client_for(customer_admin).get(f"{ASSETS}{asset.pk}/history/").json()["results"]
    assert rows[0]["by"] is None


def test_asset_history_of_another_customers_asset_is_404(api_client_for, customer_admin, other_asset):
    assert api_client_for(customer_admin).get(f"{ASSETS}{other_asset.pk}/history/").status_code == 404


# Prices: acquisition cost and unit cost only for the roles that see prices


@pytest.fixture
def member_seeing(make_member, provider, customer, site, asset, monkeypatch):
    """A user of the given role who sees ``asset`` (operators work at its site, technicians are assigned it)."""

    def make(role):
        organisation = (
            provider
            if role in (Role.PROVIDER_ADMIN, Role.SERVICE_DESK, Role.ACCOUNT_MANAGER, Role.TECHNICIAN)
            else customer
        )
        user = make_member(organisation, role)
        if role == Role.CUSTOMER_OPERATOR:
            user.membership.sites.add(site)
        if role == Role.ACCOUNT_MANAGER:
            customer.account_managers.add(user)
        if role == Role.TECHNICIAN:
            monkeypatch.setattr(tenancy, "_technician_scopes", {})
            tenancy.register_technician_scope(Asset, lambda user_id: Q(pk=asset.pk))
        return user

    return make


PRICE_VISIBILITY = [
    (Role.CUSTOMER_VIEWER, False),
    (Role.CUSTOMER_OPERATOR, False),
    (Role.TECHNICIAN, False),
    (Role.SERVICE_DESK, False),
    (Role.CUSTOMER_ADMIN, True),
    (Role.ACCOUNT_MANAGER, True),
    (Role.PROVIDER_ADMIN, True),
]


@pytest.mark.parametrize(("role", "sees_prices"), PRICE_VISIBILITY)
def test_acquisition_cost_is_shown_only_to_roles_that_see_prices(
    api_client_for, member_seeing, asset, role, sees_prices
):
    client = api_client_for(member_seeing(role))
    listed = client.get(ASSETS).json()["results"]
    assert [row["id"] for row in listed] == [asset.pk]
    detail = client.get(f"{ASSETS}{asset.pk}/").json()
    assert ("acquisition_cost" in listed[0]) is sees_prices
    assert ("acquisition_cost" in detail) is sees_prices
    if sees_prices:
        assert detail["acquisition_cost"] == "850000.00"


@pytest.mark.parametrize(("role", "sees_prices"), PRICE_VISIBILITY)
def test_part_type_unit_cost_is_shown_only_to_roles_that_see_prices(api_client_for, member_seeing, role, sees_prices):
    part_type = PartTypeFactory(unit_cost=Decimal("12000"))
    client = api_client_for(member_seeing(role))
    listed = client.get(PART_TYPES).json()["results"]
    detail = client.get(f"{PART_TYPES}{part_type.pk}/").json()
    assert ("unit_cost" in listed[0]) is sees_prices
    assert ("unit_cost" in detail) is sees_prices
    if sees_prices:
        assert detail["unit_cost"] == "12000.00"


# Sites


def test_site_list_shows_only_sites_of_the_users_customer(api_client_for, customer_admin, site, osaka, other_asset):
    assert set(ids(api_client_for(customer_admin).get(SITES))) == {site.pk, osaka.pk}


def test_site_list_counts_assets_in_service(api_client_for, customer_admin, customer, site):
    AssetFactory.create_batch(2, customer=customer, site=site)
    AssetFactory(customer=customer, site=site, status=AssetStatus.RETIRED)
    row = api_client_for(customer_admin).get(SITES).json()["results"][0]
    assert row["asset_count"] == 2


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (lambda s: {"customer": s["tokyo"].customer_id}, {"tokyo", "osaka"}),
        (lambda s: {"q": "depot"}, {"osaka"}),
        (lambda s: {"q": "yokohama"}, {"tokyo", "other"}),  # the city
    ],
    ids=["customer", "q_name", "q_city"],
)
def test_site_list_filters(api_client_for, provider_admin, fleet, params, expected):
    sites = {"tokyo": fleet["tokyo"], "osaka": fleet["osaka"], "other": fleet["other"].site}
    response = api_client_for(provider_admin).get(SITES, params(sites))
    assert set(ids(response)) == {sites[name].pk for name in expected}


def test_site_list_orders_by_name(api_client_for, customer_admin, site, osaka):
    client = api_client_for(customer_admin)
    assert ids(client.get(SITES, {"ordering": "name"})) == [osaka.pk, site.pk]
    assert ids(client.get(SITES, {"ordering": "-name"})) == [site.pk, osaka.pk]


def test_site_detail_shows_the_site_with_its_customer(api_client_for, customer_admin, site):
    body = api_client_for(customer_admin).get(f"{SITES}{site.pk}/").json()
    assert (body["id"], body["name"], body["customer_name"]) == (site.pk, "Tokyo HQ", "Acme Office KK")


def test_site_detail_of_another_customer_is_404(api_client_for, customer_admin, other_asset):
    assert api_client_for(customer_admin).get(f"{SITES}{other_asset.site_id}/").status_code == 404


def site_payload(customer, **fields):
    return {"customer": customer.pk, "name": "Nagoya Plant", "city": "Nagoya", "country": "JP", **fields}


def test_provider_admin_creates_a_site(api_client_for, provider_admin, customer):
    response = api_client_for(provider_admin).post(SITES, site_payload(customer))
    assert response.status_code == 201, response.content
    assert response.json()["customer_name"] == "Acme Office KK"
    assert Site.objects.get(pk=response.json()["id"]).customer == customer


def test_customer_admin_may_not_create_a_site(api_client_for, customer_admin, customer):
    response = api_client_for(customer_admin).post(SITES, site_payload(customer))
    assert response.status_code == 403
    assert not Site.objects.exists()


def test_site_creation_for_another_providers_customer_is_400(api_client_for, make_member, customer):
    second_provider = ProviderFactory(code="p2", name="Second Fleet Services")
    second_admin = make_member(second_provider, Role.PROVIDER_ADMIN, email="admin@p2.example")
    response = api_client_for(second_admin).post(SITES, site_payload(customer))
    assert response.status_code == 400
    assert list(response.json()) == ["customer"]
    assert not Site.objects.exists()


def test_site_creation_with_a_taken_name_is_400(api_client_for, provider_admin, customer, site):
    response = api_client_for(provider_admin).post(SITES, site_payload(customer, name=site.name))
    assert response.status_code == 400
    assert Site.objects.count() == 1


def test_provider_admin_renames_a_site(api_client_for, provider_admin, site):
    response = api_client_for(provider_admin).patch(f"{SITES}{site.pk}/", {"name": "Tokyo Head Office"})
    assert response.status_code == 200, response.content
    site.refresh_from_db()
    assert site.name == "Tokyo Head Office"


def test_a_site_cannot_move_to_another_customer(api_client_for, provider_admin, site, other_customer):
    response = api_client_for(provider_admin).patch(f"{SITES}{site.pk}/", {"customer": other_customer.pk})
    assert response.status_code == 400
    assert list(response.json()) == ["customer"]
    site.refresh_from_db()
    assert site.customer.code == "acme"


def test_customer_admin_may_not_edit_a_site(api_client_for, customer_admin, site):
    response = api_client_for(customer_admin).patch(f"{SITES}{site.pk}/", {"name": "Renamed"})
    assert response.status_code == 403


# Catalogue: manufacturers, asset models, part types


def test_every_signed_in_role_reads_the_catalogue(api_client_for, make_member, customer):
    model = AssetModelFactory()
    operator = make_member(customer, Role.CUSTOMER_OPERATOR)
    client = api_client_for(operator)
    assert ids(client.get(MANUFACTURERS)) == [model.manufacturer_id]
    assert ids(client.get(ASSET_MODELS)) == [model.pk]


def test_catalogue_details_name_their_entries(api_client_for, customer_admin):
    model = AssetModelFactory(manufacturer=ManufacturerFactory(name="Canon"), name="iR-ADV C5840")
    part_type = PartTypeFactory(name="Cyan toner")
    part_type.asset_models.add(model)
    client = api_client_for(customer_admin)
    assert client.get(f"{MANUFACTURERS}{model.manufacturer_id}/").json() == {
        "id": model.manufacturer_id,
        "name": "Canon",
    }
    model_body = client.get(f"{ASSET_MODELS}{model.pk}/").json()
    assert (model_body["name"], model_body["manufacturer_name"]) == ("iR-ADV C5840", "Canon")
    part_body = client.get(f"{PART_TYPES}{part_type.pk}/").json()
    assert (part_body["name"], part_body["asset_models"]) == ("Cyan toner", [model.pk])


def test_manufacturer_list_filters_and_orders(api_client_for, customer_admin):
    canon = ManufacturerFactory(name="Canon")
    ricoh = ManufacturerFactory(name="Ricoh")
    client = api_client_for(customer_admin)
    assert ids(client.get(MANUFACTURERS, {"name": "Ricoh"})) == [ricoh.pk]
    assert ids(client.get(MANUFACTURERS, {"ordering": "-name"})) == [ricoh.pk, canon.pk]


def test_provider_admin_adds_a_manufacturer_and_a_duplicate_is_400(api_client_for, provider_admin):
    client = api_client_for(provider_admin)
    assert client.post(MANUFACTURERS, {"name": "Konica Minolta"}).status_code == 201
    response = client.post(MANUFACTURERS, {"name": "Konica Minolta"})
    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert Manufacturer.objects.filter(name="Konica Minolta").count() == 1


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.SERVICE_DESK, Role.ACCOUNT_MANAGER, Role.TECHNICIAN])
def test_only_provider_admins_maintain_the_catalogue(api_client_for, make_member, provider, customer, role):
    organisation = customer if role == Role.CUSTOMER_ADMIN else provider
    model = AssetModelFactory(name="IM C2000")
    client = api_client_for(make_member(organisation, role))
    assert client.post(MANUFACTURERS, {"name": "Brother"}).status_code == 403
    assert client.patch(f"{ASSET_MODELS}{model.pk}/", {"name": "Renamed"}).status_code == 403
    assert client.post(PART_TYPES, {"code": "X", "name": "X"}).status_code == 403
    assert not Manufacturer.objects.filter(name="Brother").exists()
    model.refresh_from_db()
    assert model.name == "IM C2000"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (lambda m: {"manufacturer": m["forklift"].manufacturer_id}, {"forklift"}),
        (lambda m: {"category": AssetCategory.MFP}, {"mfp"}),
        (lambda m: {"q": "toyota"}, {"forklift"}),  # the manufacturer's name
        (lambda m: {"q": "c45"}, {"mfp"}),
    ],
    ids=["manufacturer", "category", "q_manufacturer", "q_name"],
)
def test_asset_model_list_filters(api_client_for, customer_admin, params, expected):
    models = {
        "mfp": AssetModelFactory(manufacturer=ManufacturerFactory(name="Ricoh"), name="IM C4500"),
        "forklift": AssetModelFactory(
            manufacturer=ManufacturerFactory(name="Toyota"), name="8FBE15", category=AssetCategory.FORKLIFT
        ),
    }
    response = api_client_for(customer_admin).get(ASSET_MODELS, params(models))
    assert set(ids(response)) == {models[name].pk for name in expected}


def test_asset_model_list_orders_by_manufacturer_then_name(api_client_for, customer_admin):
    ricoh = AssetModelFactory(manufacturer=ManufacturerFactory(name="Ricoh"), name="A")
    canon = AssetModelFactory(manufacturer=ManufacturerFactory(name="Canon"), name="Z")
    client = api_client_for(customer_admin)
    assert ids(client.get(ASSET_MODELS)) == [canon.pk, ricoh.pk]
    assert ids(client.get(ASSET_MODELS, {"ordering": "name"})) == [ricoh.pk, canon.pk]


def test_provider_admin_adds_an_asset_model(api_client_for, provider_admin):
    maker = ManufacturerFactory(name="Kyocera")
    response = api_client_for(provider_admin).post(
        ASSET_MODELS, {"manufacturer": maker.pk, "name": "TASKalfa 3554ci", "category": AssetCategory.MFP}
    )
    assert response.status_code == 201, response.content
    assert response.json()["manufacturer_name"] == "Kyocera"
    assert AssetModel.objects.get(name="TASKalfa 3554ci").manufacturer == maker


def test_asset_model_with_a_taken_name_for_the_manufacturer_is_400(api_client_for, provider_admin):
    model = AssetModelFactory()
    response = api_client_for(provider_admin).post(
        ASSET_MODELS, {"manufacturer": model.manufacturer_id, "name": model.name, "category": AssetCategory.MFP}
    )
    assert response.status_code == 400
    assert AssetModel.objects.count() == 1


def test_part_type_list_filters_by_kind_model_and_search(api_client_for, provider_admin):
    model = AssetModelFactory()
    toner = PartTypeFactory(name="Black toner", code="TNR-K")
    drum = PartTypeFactory(name="Drum unit", code="DRM-1", kind="wear_part", life_unit="pages")
    drum.asset_models.add(model)
    client = api_client_for(provider_admin)
    assert ids(client.get(PART_TYPES, {"kind": "wear_part"})) == [drum.pk]
    assert ids(client.get(PART_TYPES, {"asset_model": model.pk})) == [drum.pk]
    assert ids(client.get(PART_TYPES, {"q": "tnr"})) == [toner.pk]
    assert ids(client.get(PART_TYPES, {"ordering": "-name"})) == [drum.pk, toner.pk]


def test_provider_admin_adds_a_part_type_fitting_models(api_client_for, provider_admin):
    model = AssetModelFactory()
    response = api_client_for(provider_admin).post(
        PART_TYPES,
        {
            "code": "FSR-01",
            "name": "Fuser unit",
            "kind": "wear_part",
            "life_unit": "pages",
            "rated_life": 150000,
            "unit_cost": "38000",
            "currency": "JPY",
            "asset_models": [model.pk],
        },
    )
    assert response.status_code == 201, response.content
    part_type = PartType.objects.get(code="FSR-01")
    assert part_type.unit_cost == Decimal("38000")
    assert list(part_type.asset_models.all()) == [model]


def test_part_type_with_a_negative_cost_is_400(api_client_for, provider_admin):
    response = api_client_for(provider_admin).post(
        PART_TYPES,
        {"code": "BAD", "name": "Bad", "kind": "consumable", "life_unit": "pages", "rated_life": 1, "unit_cost": "-1"},
    )
    assert response.status_code == 400
    assert list(response.json()) == ["unit_cost"]
    assert not PartType.objects.exists()


# Query counts: every list endpoint reads in a constant number of queries


def _assets(n, *, customer, site, user):
    AssetFactory.create_batch(n, customer=customer, site=site)
    return ASSETS


def _sites(n, *, customer, site, user):
    for asset_site in SiteFactory.create_batch(n, customer=customer):
        AssetFactory(customer=customer, site=asset_site)
    return SITES


def _manufacturers(n, *, customer, site, user):
    for number in range(n):
        ManufacturerFactory(name=f"Maker {number}")
    return MANUFACTURERS


def _asset_models(n, *, customer, site, user):
    AssetModelFactory.create_batch(n)
    return ASSET_MODELS


def _part_types(n, *, customer, site, user):
    models = AssetModelFactory.create_batch(2)
    for part_type in PartTypeFactory.create_batch(n):
        part_type.asset_models.set(models)
    return PART_TYPES


def _history(n, *, customer, site, user):
    asset = AssetFactory(customer=customer, site=site)
    statuses = [AssetStatus.STANDBY, AssetStatus.ACTIVE]
    for number in range(n):
        services.asset_change_status(asset=asset, status=statuses[number % 2], by=user)
    return f"{ASSETS}{asset.pk}/history/"


LIST_ENDPOINTS = {  # name: (rows maker, query bound at every size)
    "assets": (_assets, 4),
    "sites": (_sites, 4),
    "manufacturers": (_manufacturers, 4),
    "asset_models": (_asset_models, 4),
    "part_types": (_part_types, 5),
    "asset_history": (_history, 5),
}


@pytest.mark.parametrize("size", [5, 50])
@pytest.mark.parametrize("endpoint", sorted(LIST_ENDPOINTS))
def test_list_endpoint_query_count_does_not_grow_with_rows(
    api_client_for, provider_admin, customer, site, endpoint, size, django_assert_max_num_queries
):
    make_rows, max_queries = LIST_ENDPOINTS[endpoint]
    url = make_rows(size, customer=customer, site=site, user=provider_admin)
    client = api_client_for(provider_admin)
    with django_assert_max_num_queries(max_queries):
        response = client.get(url, {"page_size": 100})
    assert response.status_code == 200
    assert len(response.json()["results"]) >= size


def test_install_date_is_reported_as_iso_date(api_client_for, customer_admin, customer, site):
    asset = AssetFactory(customer=customer, site=site, install_date=datetime.date(2024, 2, 29))
    assert api_client_for(customer_admin).get(f"{ASSETS}{asset.pk}/").json()["install_date"] == "2024-02-29"
