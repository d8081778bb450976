"""Supply orders on the portal and the API: lists per role, query counts, CSV, the page's buttons, ordering by hand,
the lifecycle actions and other tenants (404)."""

import csv
import io

import pytest
from django.urls import reverse

from accounts.choices import Role
from accounts.tests.factories import member
from assets.tests.factories import AssetFactory, PartTypeFactory, SiteFactory
from maintenance.choices import SupplyOrderSource, SupplyOrderStatus
from maintenance.models import SupplyOrder
from maintenance.supplies import supply_order_create, supply_order_ship

LIST = reverse("maintenance:supply_order_list")
CREATE = reverse("maintenance:supply_order_create")
API = "/api/v1/supply-orders/"


@pytest.fixture
def toner(asset):
    part_type = PartTypeFactory(code="TNR-K", name="Toner black")
    part_type.asset_models.add(asset.asset_model)
    return part_type


@pytest.fixture
def other_toner(other_asset):
    part_type = PartTypeFactory(code="OTH-K", name="Other black")
    part_type.asset_models.add(other_asset.asset_model)
    return part_type


@pytest.fixture
def mine(asset, toner, customer_admin):
    return supply_order_create(asset=asset, part_type=toner, source=SupplyOrderSource.MANUAL, by=customer_admin)


@pytest.fixture
def theirs(other_asset, other_toner):
    return supply_order_create(asset=other_asset, part_type=other_toner, source=SupplyOrderSource.FORECAST)


@pytest.fixture
def operator(customer, site):
    user = member(customer, Role.CUSTOMER_OPERATOR, email="op@acme.example")
    site.operators.add(user.membership)
    return user


def make_orders(customer, count):
    site = SiteFactory(customer=customer)
    for _ in range(count):
        asset = AssetFactory(customer=customer, site=site)
        part_type = PartTypeFactory()
        part_type.asset_models.add(asset.asset_model)
        supply_order_create(asset=asset, part_type=part_type, source=SupplyOrderSource.FORECAST)


# --- Portal ------------------------------------------------------------------------------------------------------


def test_customers_see_their_organisation_and_provider_staff_every_customer(
    client, mine, theirs, customer_admin, provider_admin
):
    client.force_login(customer_admin)
    response = client.get(LIST)
    assert response.status_code == 200
    assert mine.number in response.text
    assert theirs.number not in response.text
    client.force_login(provider_admin)
    response = client.get(LIST)
    assert mine.number in response.text
    assert theirs.number in response.text


def test_operators_see_their_sites_and_technicians_nothing(client, customer, asset, mine, operator, technician):
    elsewhere = AssetFactory(customer=customer, site=SiteFactory(customer=customer), asset_model=asset.asset_model)
    hidden = supply_order_create(asset=elsewhere, part_type=mine.part_type, source=SupplyOrderSource.FORECAST)
    client.force_login(operator)
    response = client.get(LIST)
    assert mine.number in response.text
    assert hidden.number not in response.text
    client.force_login(technician)
    response = client.get(LIST)
    assert response.status_code == 200
    assert mine.number not in response.text
    assert client.get(reverse("maintenance:supply_order_detail", args=[mine.pk])).status_code == 404


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_does_not_grow_with_rows(
    client, provider_admin, customer, rows, django_assert_max_num_queries
):
    make_orders(customer, rows)
    client.force_login(provider_admin)
    with django_assert_max_num_queries(9):
        response = client.get(LIST, {"per_page": 50})
    assert response.text.count("SO-") >= rows


def test_list_filters_and_csv(client, provider_admin, mine, theirs, service_desk):
    supply_order_ship(order=theirs, by=service_desk)
    client.force_login(provider_admin)
    response = client.get(LIST, {"status": "shipped"})
    assert theirs.number in response.text
    assert mine.number not in response.text
    response = client.get(LIST, {"source": "manual", "status": "open"})
    assert mine.number in response.text
    assert theirs.number not in response.text
    response = client.get(LIST, {"part_type": mine.part_type_id, "format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Number", "Customer", "Site"]
    assert [row[0] for row in rows[1:]] == [mine.number]
    assert "Requested" in rows[1]


def test_customer_filter_is_for_provider_staff(client, customer_admin, provider_admin, mine, other_customer):
    client.force_login(customer_admin)
    assert 'name="customer"' not in client.get(LIST).text
    client.force_login(provider_admin)
    assert 'name="customer"' in client.get(LIST).text
    assert mine.number not in client.get(LIST, {"customer": other_customer.pk}).text


def test_detail_shows_the_buttons_the_user_may_press(client, mine, customer_admin, service_desk, other_admin):
    url = reverse("maintenance:supply_order_detail", args=[mine.pk])
    client.force_login(service_desk)
    page = client.get(url).text
    assert reverse("maintenance:supply_order_ship", args=[mine.pk]) in page
    assert reverse("maintenance:supply_order_cancel", args=[mine.pk]) in page
    client.force_login(customer_admin)
    page = client.get(url).text
    assert reverse("maintenance:supply_order_ship", args=[mine.pk]) not in page
    assert reverse("maintenance:supply_order_cancel", args=[mine.pk]) in page
    client.force_login(other_admin)
    assert client.get(url).status_code == 404


def test_page_lifecycle_ship_deliver(client, mine, service_desk, customer_admin):
    client.force_login(service_desk)
    response = client.post(reverse("maintenance:supply_order_ship", args=[mine.pk]), {"tracking": "TRK-1"})
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.status, mine.tracking) == (SupplyOrderStatus.SHIPPED, "TRK-1")
    response = client.post(reverse("maintenance:supply_order_ship", args=[mine.pk]), follow=True)
    assert "Only a requested supply order can be shipped" in response.text
    client.force_login(customer_admin)
    client.post(reverse("maintenance:supply_order_deliver", args=[mine.pk]))
    mine.refresh_from_db()
    assert mine.status == SupplyOrderStatus.DELIVERED


def test_page_cancel_needs_a_reason_and_other_tenants_get_404(client, mine, customer_admin, other_admin):
    url = reverse("maintenance:supply_order_cancel", args=[mine.pk])
    client.force_login(other_admin)
    assert client.post(url, {"note": "no"}).status_code == 404
    client.force_login(customer_admin)
    client.post(url, {"note": ""})
    mine.refresh_from_db()
    assert mine.status == SupplyOrderStatus.REQUESTED
    client.post(url, {"note": "found a spare"})
    mine.refresh_from_db()
    assert mine.status == SupplyOrderStatus.CANCELLED


def test_order_form_preselects_the_asset_and_offers_the_parts_that_fit(client, customer_admin, asset, toner):
    unfitting = PartTypeFactory(code="ZZZ-K")
    client.force_login(customer_admin)
    response = client.get(CREATE, {"asset": asset.pk})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["asset"] == asset.pk
    assert list(form.fields["part_type"].queryset) == [toner]
    assert unfitting.code not in response.text
    response = client.get(CREATE)  # no asset chosen: the assets of the organisation, the parts that fit them
    assert response.status_code == 200
    assert asset.serial_number in response.text
    assert list(response.context["form"].fields["part_type"].queryset) == [toner]


def test_order_by_hand_on_the_page(
    client, customer_admin, asset, toner, service_desk, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(customer_admin)
    data = {"asset": asset.pk, "part_type": toner.pk, "quantity": 2, "needed_by": "", "note": "3F"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CREATE, data)
    created = SupplyOrder.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("maintenance:supply_order_detail", args=[created.pk])
    assert (created.quantity, created.requested_by, created.source) == (2, customer_admin, SupplyOrderSource.MANUAL)
    assert len(mailoutbox) == 1
    response = client.post(CREATE, data)  # the same part again: a form error, not a second order
    assert response.status_code == 200
    assert "is already open" in response.text
    assert SupplyOrder.objects.count() == 1


def test_order_form_refuses_other_tenants_assets_and_technicians(
    client, customer_admin, other_asset, other_toner, technician
):
    client.force_login(customer_admin)
    response = client.post(CREATE, {"asset": other_asset.pk, "part_type": other_toner.pk, "quantity": 1})
    assert response.status_code == 200
    assert response.context["form"].errors["asset"]
    assert not SupplyOrder.objects.exists()
    client.force_login(technician)
    assert client.get(CREATE).status_code == 404


def test_asset_page_shows_supplies_and_the_order_button(client, customer_admin, asset, mine, technician):
    client.force_login(customer_admin)
    page = client.get(reverse("assets:asset_detail", args=[asset.pk])).text
    assert mine.number in page
    assert f"{CREATE}?asset={asset.pk}" in page


# --- API ---------------------------------------------------------------------------------------------------------


def test_api_list_and_retrieve_are_scoped(api_client_for, customer_admin, mine, theirs):
    client = api_client_for(customer_admin)
    response = client.get(API)
    assert response.status_code == 200
    assert [row["number"] for row in response.json()["results"]] == [mine.number]
    assert client.get(f"{API}{mine.pk}/").json()["part_type_code"] == "TNR-K"
    assert client.get(f"{API}{theirs.pk}/").status_code == 404


@pytest.mark.parametrize("rows", [3, 30])
def test_api_list_query_count_does_not_grow(
    api_client_for, provider_admin, customer, rows, django_assert_max_num_queries
):
    make_orders(customer, rows)
    client = api_client_for(provider_admin)
    with django_assert_max_num_queries(5):
        response = client.get(API, {"page_size": 50})
    assert response.json()["count"] == rows


def test_api_create_by_hand(
    api_client_for, customer_admin, asset, toner, service_desk, mailoutbox, django_capture_on_commit_callbacks
):
    client = api_client_for(customer_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(API, {"asset": asset.pk, "part_type": toner.pk, "quantity": 2}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["source"], body["quantity"]) == ("requested", "manual", 2)
    assert len(mailoutbox) == 1
    response = client.post(API, {"asset": asset.pk, "part_type": toner.pk}, format="json")
    assert response.status_code == 400
    assert "is already open" in response.json()["part_type"][0]


def test_api_create_gives_field_messages(api_client_for, customer_admin, asset, other_asset, toner):
    client = api_client_for(customer_admin)
    unfitting = PartTypeFactory()
    response = client.post(API, {"asset": asset.pk, "part_type": toner.pk, "quantity": 0}, format="json")
    assert response.status_code == 400
    assert "quantity" in response.json()
    response = client.post(API, {"asset": asset.pk, "part_type": unfitting.pk}, format="json")
    assert response.json() == {"part_type": ["This part type does not fit the asset's model."]}
    response = client.post(API, {"asset": other_asset.pk, "part_type": toner.pk}, format="json")
    assert response.status_code == 400
    assert "asset" in response.json()
    assert client.post(API, {}, format="json").status_code == 400


def test_api_create_is_refused_to_roles_that_may_not_order(api_client_for, technician, provider, asset, toner):
    for user in (technician, member(provider, Role.ACCOUNT_MANAGER)):
        response = api_client_for(user).post(API, {"asset": asset.pk, "part_type": toner.pk}, format="json")
        assert response.status_code == 403


def test_api_lifecycle(api_client_for, mine, service_desk, customer_admin):
    desk, admin = api_client_for(service_desk), api_client_for(customer_admin)
    assert admin.post(f"{API}{mine.pk}/ship/", {}, format="json").status_code == 403
    assert admin.post(f"{API}{mine.pk}/deliver/", {}, format="json").status_code == 400  # not shipped yet
    response = desk.post(f"{API}{mine.pk}/ship/", {"tracking": "TRK-9"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["tracking"]) == ("shipped", "TRK-9")
    response = desk.post(f"{API}{mine.pk}/ship/", {}, format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert admin.post(f"{API}{mine.pk}/cancel/", {"note": "x"}, format="json").status_code == 400
    assert admin.post(f"{API}{mine.pk}/deliver/", {}, format="json").json()["status"] == "delivered"


def test_api_cancel_needs_a_note_and_other_tenants_get_404(api_client_for, mine, customer_admin, other_admin):
    assert api_client_for(other_admin).post(f"{API}{mine.pk}/cancel/", {"note": "x"}, format="json").status_code == 404
    assert api_client_for(other_admin).post(f"{API}{mine.pk}/ship/", {}, format="json").status_code == 404
    client = api_client_for(customer_admin)
    response = client.post(f"{API}{mine.pk}/cancel/", {}, format="json")
    assert response.status_code == 400
    assert "note" in response.json()
    response = client.post(f"{API}{mine.pk}/cancel/", {"note": "found a spare"}, format="json")
    assert response.json()["status"] == "cancelled"
