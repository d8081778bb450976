"""QR labels and service links: tokens, replacing a label, the public request form and its limits, where a
signed-in visitor is sent, the label page, the PDF sheet and the asset page's panel."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.choices import Role
from accounts.tests.factories import member
from assets.choices import AssetCategory, AssetStatus
from assets.tests.factories import AssetFactory, AssetModelFactory
from maintenance import inspections
from maintenance.choices import Priority, WorkOrderKind, WorkOrderSource
from maintenance.inspections import service_link_for, service_link_lookup, service_link_rotate
from maintenance.models import AssetServiceLink, WorkOrder
from maintenance.views.inspections import qr_svg

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(asset):
    return service_link_for(asset=asset)


def _public_url(link):
    return reverse("maintenance:service_link", args=[link.token])


def _request(**fields):
    return {
        "name": "Taro Suzuki",
        "contact": "090-1234-5678",
        "description": "Paper jam on every copy",
        "priority": Priority.P3,
        "website": "",
        **fields,
    }


# --- Tokens -----------------------------------------------------------------------------------------------------


def test_link_is_created_once_with_an_unguessable_token(asset):
    first = service_link_for(asset=asset)
    assert len(first.token) >= 43
    assert service_link_for(asset=asset) == first
    assert AssetServiceLink.objects.count() == 1
    assert service_link_lookup(token=first.token).asset == asset
    assert service_link_lookup(token="not-a-token") is None


def test_rotation_invalidates_the_old_label(client, asset, link, customer_admin):
    old = link.token
    rotated = service_link_rotate(asset=asset, by=customer_admin)
    assert rotated.token != old and rotated.rotated_at is not None
    assert service_link_lookup(token=old) is None
    assert client.get(reverse("maintenance:service_link", args=[old])).status_code == 404
    assert client.get(_public_url(rotated)).status_code == 200


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.CUSTOMER_ADMIN, True),
        (Role.CUSTOMER_VIEWER, False),
        (Role.CUSTOMER_OPERATOR, False),
        (Role.PROVIDER_ADMIN, True),
        (Role.SERVICE_DESK, False),
    ],
)
def test_who_may_replace_a_label(asset, provider, customer, role, allowed):
    organisation = provider if role in (Role.PROVIDER_ADMIN, Role.SERVICE_DESK) else customer
    user = member(organisation, role)
    assert inspections.may_rotate_service_link(user=user, asset=asset) is allowed
    if not allowed:
        with pytest.raises(ValidationError):
            service_link_rotate(asset=asset, by=user)


def test_another_customers_admin_may_not_replace_a_label(asset, other_admin):
    assert not inspections.may_rotate_service_link(user=other_admin, asset=asset)


def test_retired_assets_link_is_gone(client, asset, link):
    asset.status = AssetStatus.RETIRED
    asset.save()
    assert client.get(_public_url(link)).status_code == 404


# --- The public form --------------------------------------------------------------------------------------------


def test_public_page_shows_only_model_tag_and_site(client, asset, link, customer):
    response = client.get(_public_url(link))
    assert response.status_code == 200
    assert asset.asset_model.name in response.text
    assert asset.asset_tag in response.text
    assert asset.site.name in response.text
    assert customer.name not in response.text
    assert asset.serial_number not in response.text


def test_public_form_creates_exactly_one_request_for_that_asset(client, asset, other_asset, link):
    response = client.post(_public_url(link), _request(priority=Priority.P2, asset=other_asset.pk))
    assert response.status_code == 302
    assert response["Location"] == reverse("maintenance:service_link_sent", args=[link.token])
    work_order = WorkOrder.objects.get()
    assert work_order.asset == asset and work_order.site == asset.site and work_order.customer == asset.customer
    assert work_order.kind == WorkOrderKind.SERVICE_REQUEST
    assert work_order.source == WorkOrderSource.CUSTOMER_REQUEST
    assert work_order.priority == Priority.P2
    assert work_order.created_by is None
    assert "Taro Suzuki" in work_order.description and "090-1234-5678" in work_order.description
    assert "Paper jam on every copy" in work_order.description
    assert not WorkOrder.objects.filter(asset=other_asset).exists()
    assert client.get(response["Location"]).status_code == 200


def test_public_form_offers_normal_and_high_priority_only(client, link):
    response = client.post(_public_url(link), _request(priority=Priority.P1))
    assert response.status_code == 200
    assert not WorkOrder.objects.exists()
    with pytest.raises(ValidationError):
        inspections.service_link_request_create(link=link, name="x", contact="y", description="z", priority=Priority.P1)


def test_public_requests_are_limited_per_link_and_hour(client, asset, link):
    for _ in range(inspections.PUBLIC_REQUESTS_PER_HOUR):
        assert client.post(_public_url(link), _request()).status_code == 302
    response = client.post(_public_url(link), _request())
    assert response.status_code == 429
    assert str(inspections.TOO_MANY_PUBLIC_REQUESTS)[:20] in response.text
    assert WorkOrder.objects.filter(asset=asset).count() == inspections.PUBLIC_REQUESTS_PER_HOUR


def test_signed_in_requests_do_not_count_against_the_public_limit(asset, link, customer_admin):
    from maintenance.services import work_order_create

    for _ in range(inspections.PUBLIC_REQUESTS_PER_HOUR):
        work_order_create(
            customer=asset.customer,
            site=asset.site,
            asset=asset,
            kind=WorkOrderKind.SERVICE_REQUEST,
            priority=Priority.P3,
            source=WorkOrderSource.CUSTOMER_REQUEST,
            description="From the portal",
            by=customer_admin,
        )
    inspections.service_link_request_create(link=link, name="x", contact="y", description="z")


def test_honeypot_drops_the_request(client, link):
    response = client.post(_public_url(link), _request(website="http://spam.example"))
    assert response.status_code == 302
    assert not WorkOrder.objects.exists()


def test_public_form_needs_csrf(link):
    client = Client(enforce_csrf_checks=True)
    assert client.post(_public_url(link), _request()).status_code == 403
    assert not WorkOrder.objects.exists()


def test_unknown_token_is_404(client):
    assert client.get(reverse("maintenance:service_link", args=["x" * 43])).status_code == 404
    assert client.post(reverse("maintenance:service_link", args=["x" * 43]), _request()).status_code == 404


# --- Signed-in visitors -----------------------------------------------------------------------------------------


def test_signed_in_customer_user_goes_to_the_request_form_for_the_asset(client, asset, link, customer_admin):
    client.force_login(customer_admin)
    response = client.get(_public_url(link))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("maintenance:service_request"))
    assert f"asset={asset.pk}" in response["Location"]


def test_signed_in_operator_gets_the_choice_page(client, customer, site, asset, link):
    operator = member(customer, Role.CUSTOMER_OPERATOR, email="driver@acme.example")
    site.operators.add(operator.membership)
    client.force_login(operator)
    response = client.get(_public_url(link))
    assert response["Location"] == reverse("maintenance:asset_scan", args=[asset.pk])


def test_operator_of_another_site_and_other_customers_get_the_public_form(client, customer, link, other_admin):
    stranger = member(customer, Role.CUSTOMER_OPERATOR, email="elsewhere@acme.example")
    for user in (stranger, other_admin):
        client.force_login(user)
        response = client.get(_public_url(link))
        assert response.status_code == 200
        assert 'name="contact"' in response.text


def test_provider_staff_go_to_the_asset_page(client, asset, link, provider_admin):
    client.force_login(provider_admin)
    assert client.get(_public_url(link))["Location"] == reverse("assets:asset_detail", args=[asset.pk])


# --- Labels -----------------------------------------------------------------------------------------------------


def test_qr_svg_is_plain_svg_markup():
    svg = qr_svg("https://portal.example/maintenance/s/abc/")
    assert svg.startswith("<svg") and "<path" in svg
    assert "style" not in svg and "<script" not in svg


def test_label_page_shows_the_qr_and_the_link(client, asset, customer_admin):
    client.force_login(customer_admin)
    response = client.get(reverse("maintenance:asset_qr_label", args=[asset.pk]))
    assert response.status_code == 200
    link = AssetServiceLink.objects.get(asset=asset)
    assert "<svg" in response.text
    assert f"http://testserver/maintenance/s/{link.token}/" in response.text
    assert asset.asset_tag in response.text and asset.serial_number in response.text
    assert reverse("maintenance:service_link_rotate", args=[asset.pk]) in response.text


def test_label_page_is_404_for_other_tenants_and_asks_anonymous_to_sign_in(client, asset, other_admin):
    url = reverse("maintenance:asset_qr_label", args=[asset.pk])
    assert client.get(url).status_code == 302
    client.force_login(other_admin)
    assert client.get(url).status_code == 404
    assert not AssetServiceLink.objects.exists()


def test_replacing_the_label_from_its_page(client, asset, link, customer, customer_admin):
    url = reverse("maintenance:service_link_rotate", args=[asset.pk])
    viewer = member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")
    client.force_login(viewer)
    assert client.post(url).status_code == 404
    client.force_login(customer_admin)
    assert client.post(url).status_code == 302
    assert AssetServiceLink.objects.get().token != link.token


def test_label_sheet_pdf_for_a_site(client, customer, site, customer_admin):
    AssetFactory.create_batch(4, customer=customer, site=site)
    client.force_login(customer_admin)
    response = client.get(reverse("maintenance:qr_labels_pdf"), {"site": site.pk})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert AssetServiceLink.objects.count() == 4


def test_label_sheet_refuses_other_tenants_assets(client, other_asset, customer_admin):
    client.force_login(customer_admin)
    url = reverse("maintenance:qr_labels_pdf")
    assert client.get(url, {"asset": other_asset.pk}).status_code == 404
    assert client.get(url, {"site": other_asset.site_id}).status_code == 400
    assert not AssetServiceLink.objects.exists()


def test_asset_page_panel_links_the_label_and_the_operators_inspection(client, customer, site):
    truck = AssetFactory(
        customer=customer, site=site, asset_model=AssetModelFactory(name="FB25", category=AssetCategory.FORKLIFT)
    )
    operator = member(customer, Role.CUSTOMER_OPERATOR, email="driver@acme.example")
    site.operators.add(operator.membership)
    client.force_login(operator)
    response = client.get(reverse("assets:asset_detail", args=[truck.pk]))
    assert reverse("maintenance:asset_qr_label", args=[truck.pk]) in response.text
    assert reverse("maintenance:pre_use_create", args=[truck.pk]) in response.text
    assert reverse("maintenance:service_request") in response.text
