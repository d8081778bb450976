"""Approvals in the portal and the API: the approvals page, the work-order panel, the dashboard tile, the limits
pages, and the estimate, decision, repair-or-replace, approvals and maintenance-settings endpoints."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.choices import Role
from assets.tests.factories import AssetFactory
from maintenance import approvals, services
from maintenance.choices import ApprovalStatus, WorkOrderStatus
from maintenance.models import MaintenanceSettings, WorkOrder
from maintenance.tests.factories import WorkOrderFactory

pytestmark = pytest.mark.django_db

APPROVALS = "/api/v1/approvals/"
SETTINGS = "/api/v1/maintenance-settings/"


@pytest.fixture
def limits(provider, customer):
    MaintenanceSettings.objects.create(
        organisation=provider,
        not_to_exceed=Decimal("50000"),
        replace_review_above=Decimal("300000"),
        labour_rate=Decimal("8000"),
    )
    return MaintenanceSettings.objects.create(organisation=customer, not_to_exceed=Decimal("100000"))


@pytest.fixture
def pending(limits, asset, service_desk):
    order = WorkOrderFactory(asset=asset)
    return approvals.work_order_estimate(
        work_order=order, amount=Decimal("480000"), replacement_quote=Decimal("3600000"), by=service_desk
    )


@pytest.fixture
def viewer(customer, make_member):
    return make_member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")


def _url(work_order, action):
    return f"/api/v1/work-orders/{work_order.pk}/{action}/"


# --- Portal ------------------------------------------------------------------------------------------------------


def test_approvals_page_shows_pending_first_with_the_decision_form_and_the_facts(
    client, pending, customer_admin, asset
):
    decided = WorkOrderFactory(asset=asset, approval_status=ApprovalStatus.APPROVED, estimate_amount=Decimal("1"))
    client.force_login(customer_admin)
    response = client.get(reverse("maintenance:approval_list"))
    assert response.status_code == 200
    text = response.text
    assert text.index(pending.number) < text.index(decided.number)
    assert "¥480,000" in text and "¥100,000" in text  # the estimate and the customer's own limit
    assert reverse("maintenance:work_order_approval_decide", args=[pending.pk]) in text
    assert 'value="replace"' in text  # above the review amount
    assert "Repair or replace?" in text


def test_approvals_page_hides_amounts_from_the_desk(client, pending, service_desk):
    client.force_login(service_desk)
    response = client.get(reverse("maintenance:approval_list"))
    assert response.status_code == 200
    assert pending.number in response.text
    assert "480,000" not in response.text and "¥" not in response.text
    assert "work_order_approval_decide" not in response.text


def test_approvals_page_of_another_customer_lists_nothing(client, pending, other_admin):
    client.force_login(other_admin)
    assert pending.number not in client.get(reverse("maintenance:approval_list")).text


def test_approvals_page_exports_csv(client, pending, customer_admin):
    client.force_login(customer_admin)
    response = client.get(reverse("maintenance:approval_list"), {"format": "csv"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert pending.number in body and "480000.00" in body and "pending" not in body.split("\n")[0]


@pytest.mark.parametrize("rows", [3, 30])
def test_approvals_page_query_count_does_not_grow(
    client, limits, customer, site, service_desk, customer_admin, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        order = WorkOrderFactory(asset=AssetFactory(customer=customer, site=site))
        approvals.work_order_estimate(
            work_order=order, amount=Decimal("400000"), replacement_quote=Decimal("900000"), by=service_desk
        )
    client.force_login(customer_admin)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("maintenance:approval_list"), {"per_page": 50})
    assert response.text.count("Repair or replace?") == rows


def test_customer_admin_decides_from_the_approvals_page(client, pending, customer_admin):
    client.force_login(customer_admin)
    response = client.post(
        reverse("maintenance:work_order_approval_decide", args=[pending.pk]),
        {"decision": "approved", "note": "OK", "next": "approvals"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("maintenance:approval_list")
    pending.refresh_from_db()
    assert pending.approval_status == ApprovalStatus.APPROVED


def test_decision_on_another_customers_order_is_not_found(client, pending, other_admin):
    client.force_login(other_admin)
    url = reverse("maintenance:work_order_approval_decide", args=[pending.pk])
    assert client.post(url, {"decision": "approved"}).status_code == 404


def test_viewer_cannot_decide(client, pending, viewer):
    client.force_login(viewer)
    url = reverse("maintenance:work_order_approval_decide", args=[pending.pk])
    assert client.post(url, {"decision": "approved"}).status_code == 404
    pending.refresh_from_db()
    assert pending.approval_status == ApprovalStatus.PENDING


def test_desk_enters_an_estimate_on_the_work_order_page(client, limits, asset, service_desk):
    order = WorkOrderFactory(asset=asset)
    client.force_login(service_desk)
    page = client.get(reverse("maintenance:work_order_detail", args=[order.pk]))
    assert reverse("maintenance:work_order_estimate", args=[order.pk]) in page.text
    client.post(reverse("maintenance:work_order_estimate", args=[order.pk]), {"amount": "150000"})
    order.refresh_from_db()
    assert order.approval_status == ApprovalStatus.PENDING
    page = client.get(reverse("maintenance:work_order_detail", args=[order.pk]))
    assert "Waiting for approval" in page.text and "150,000" not in page.text


def test_negative_estimate_comes_back_as_an_error(client, limits, asset, service_desk):
    order = WorkOrderFactory(asset=asset)
    client.force_login(service_desk)
    response = client.post(reverse("maintenance:work_order_estimate", args=[order.pk]), {"amount": "-5"}, follow=True)
    assert str(approvals.NEGATIVE_AMOUNT) in response.text


def test_work_order_panel_shows_amounts_and_decision_to_the_customer_admin(client, pending, customer_admin):
    client.force_login(customer_admin)
    page = client.get(reverse("maintenance:work_order_detail", args=[pending.pk]))
    assert "¥480,000" in page.text and "¥3,600,000" in page.text
    assert reverse("maintenance:work_order_approval_decide", args=[pending.pk]) in page.text
    assert reverse("maintenance:work_order_estimate", args=[pending.pk]) not in page.text


def test_technician_sees_the_state_without_amounts(client, pending, technician, service_desk):
    services.work_order_assign(work_order=pending, technician=technician, by=service_desk)
    client.force_login(technician)
    page = client.get(reverse("maintenance:work_order_detail", args=[pending.pk]))
    assert "Waiting for approval" in page.text and "480,000" not in page.text
    assert "transition-in_progress" not in page.text


def test_dashboard_tile_counts_orders_waiting_for_the_admin(client, pending, customer_admin):
    client.force_login(customer_admin)
    response = client.get(reverse("portal:dashboard"))
    assert "1 work order waits for your approval." in response.text


def test_limits_page_sets_a_customers_limit_and_shows_form_errors(client, limits, provider_admin, customer):
    client.force_login(provider_admin)
    listing = client.get(reverse("maintenance:approval_settings"))
    assert listing.status_code == 200 and customer.name in listing.text
    url = reverse("maintenance:approval_settings_edit", args=[customer.pk])
    response = client.post(url, {"currency": "JPY", "not_to_exceed": "80000", "replace_review_above": "70000"})
    assert response.status_code == 200
    assert str(approvals.REPLACE_BELOW_LIMIT) in response.text
    response = client.post(url, {"currency": "JPY", "not_to_exceed": "-1"})
    assert str(approvals.NEGATIVE_AMOUNT) in response.text
    response = client.post(url, {"currency": "JPY", "not_to_exceed": "80000"})
    assert response.status_code == 302
    assert approvals.maintenance_settings_for(customer=customer).not_to_exceed == Decimal("80000")


def test_limits_pages_are_not_found_for_customer_admins_and_the_desk(
    client, limits, customer, customer_admin, service_desk
):
    for user in (customer_admin, service_desk):
        client.force_login(user)
        assert client.get(reverse("maintenance:approval_settings")).status_code == 404
        assert client.get(reverse("maintenance:approval_settings_edit", args=[customer.pk])).status_code == 404


# --- API ---------------------------------------------------------------------------------------------------------


def test_api_estimate_by_the_desk_returns_the_state_without_amounts(api_client_for, limits, asset, service_desk):
    order = WorkOrderFactory(asset=asset)
    response = api_client_for(service_desk).post(_url(order, "estimate"), {"amount": "150000"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["approval_status"] == ApprovalStatus.PENDING
    assert "estimate_amount" not in response.json()


def test_api_estimate_bad_input_is_a_400_with_field_messages(api_client_for, limits, asset, service_desk):
    order = WorkOrderFactory(asset=asset)
    client = api_client_for(service_desk)
    response = client.post(_url(order, "estimate"), {"amount": "-1"}, format="json")
    assert response.status_code == 400 and "amount" in response.json()
    response = client.post(_url(order, "estimate"), {"amount": "abc"}, format="json")
    assert response.status_code == 400 and "amount" in response.json()


def test_api_estimate_by_a_customer_admin_is_forbidden(api_client_for, limits, asset, customer_admin):
    order = WorkOrderFactory(asset=asset)
    response = api_client_for(customer_admin).post(_url(order, "estimate"), {"amount": "1"}, format="json")
    assert response.status_code == 403


def test_api_decision(api_client_for, pending, customer_admin):
    response = api_client_for(customer_admin).post(
        _url(pending, "approval"), {"decision": "replace", "note": "Buy new"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["approval_status"] == ApprovalStatus.REPLACE
    assert response.json()["estimate_amount"] == "480000.00"


def test_api_decision_refusals(api_client_for, pending, other_admin, viewer, customer_admin):
    assert api_client_for(other_admin).post(_url(pending, "approval"), {"decision": "approved"}).status_code == 404
    assert api_client_for(viewer).post(_url(pending, "approval"), {"decision": "approved"}).status_code == 403
    response = api_client_for(customer_admin).post(_url(pending, "approval"), {"decision": "maybe"})
    assert response.status_code == 400 and "decision" in response.json()


def test_api_repair_or_replace(api_client_for, pending, customer_admin, service_desk, other_admin):
    response = api_client_for(customer_admin).get(_url(pending, "repair-or-replace"))
    assert response.status_code == 200
    body = response.json()
    assert (body["estimate"], body["replace_above"], body["recommendation"]) == ("480000.00", "1800000.00", "repair")
    assert api_client_for(service_desk).get(_url(pending, "repair-or-replace")).status_code == 403
    assert api_client_for(other_admin).get(_url(pending, "repair-or-replace")).status_code == 404


def test_api_approvals_list_is_scoped_and_hides_prices(
    api_client_for, pending, customer_admin, other_admin, service_desk
):
    rows = api_client_for(customer_admin).get(APPROVALS).json()["results"]
    assert [(row["id"], row["estimate_amount"]) for row in rows] == [(pending.pk, "480000.00")]
    assert api_client_for(other_admin).get(APPROVALS).json()["results"] == []
    desk_rows = api_client_for(service_desk).get(APPROVALS, {"approval_status": "pending"}).json()["results"]
    assert [row["id"] for row in desk_rows] == [pending.pk] and "estimate_amount" not in desk_rows[0]


@pytest.mark.parametrize("rows", [3, 30])
def test_api_approvals_list_query_count_does_not_grow(
    api_client_for, limits, customer, site, service_desk, provider_admin, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        order = WorkOrderFactory(asset=AssetFactory(customer=customer, site=site))
        approvals.work_order_estimate(work_order=order, amount=Decimal("400000"), by=service_desk)
    client = api_client_for(provider_admin)
    with django_assert_max_num_queries(8):
        response = client.get(APPROVALS, {"page_size": 50})
    assert response.json()["count"] == rows


def test_api_work_order_shows_the_approval_state_and_the_estimate_to_price_roles(
    api_client_for, pending, customer_admin, service_desk
):
    mine = api_client_for(customer_admin).get(f"/api/v1/work-orders/{pending.pk}/").json()
    assert (mine["approval_status"], mine["estimate_amount"], mine["currency"]) == ("pending", "480000.00", "JPY")
    desk = api_client_for(service_desk).get(f"/api/v1/work-orders/{pending.pk}/").json()
    assert desk["approval_status"] == "pending" and "estimate_amount" not in desk and "currency" not in desk


def test_api_settings_read_and_update(api_client_for, limits, provider, customer, provider_admin, customer_admin):
    client = api_client_for(provider_admin)
    body = client.get(f"{SETTINGS}{customer.pk}/").json()
    assert body["not_to_exceed"] == "100000.00" and body["replace_review_above"] is None
    assert body["effective"]["replace_review_above"] == "300000.00"
    response = client.put(
        f"{SETTINGS}{customer.pk}/",
        {"currency": "JPY", "not_to_exceed": "120000", "replace_review_above": "100000"},
        format="json",
    )
    assert response.status_code == 400 and "replace_review_above" in response.json()
    response = client.put(f"{SETTINGS}{customer.pk}/", {"currency": "JPY", "not_to_exceed": "120000"}, format="json")
    assert response.status_code == 200 and response.json()["effective"]["not_to_exceed"] == "120000.00"
    ids = {row["id"] for row in client.get(SETTINGS).json()["results"]}
    assert {provider.pk, customer.pk} <= ids
    own = api_client_for(customer_admin)
    assert own.get(f"{SETTINGS}{customer.pk}/").json()["effective"]["not_to_exceed"] == "120000.00"
    assert own.put(f"{SETTINGS}{customer.pk}/", {"currency": "JPY"}, format="json").status_code == 403


def test_api_settings_of_others_are_not_found(api_client_for, limits, customer, provider, other_admin, service_desk):
    assert api_client_for(other_admin).get(f"{SETTINGS}{customer.pk}/").status_code == 404
    assert api_client_for(other_admin).put(f"{SETTINGS}{customer.pk}/", {"currency": "JPY"}).status_code == 404
    assert api_client_for(service_desk).get(f"{SETTINGS}{provider.pk}/").status_code == 404
    assert api_client_for(service_desk).get(SETTINGS).json()["results"] == []


def test_pending_state_blocks_the_api_transition(api_client_for, pending, technician, service_desk):
    services.work_order_assign(work_order=pending, technician=technician, by=service_desk)
    response = api_client_for(technician).post(_url(pending, "transition"), {"to_status": WorkOrderStatus.IN_PROGRESS})
    assert response.status_code == 400
    assert WorkOrder.objects.get(pk=pending.pk).status == WorkOrderStatus.ASSIGNED
