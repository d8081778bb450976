"""API of maintenance: work-order lists scoped per tenant, creating, requesting service, and the actions."""

import pytest

from accounts.choices import Role
from assets.tests.factories import AssetFactory, SiteFactory
from maintenance import services
from maintenance.choices import WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.models import WorkOrder
from maintenance.tests.factories import WorkOrderFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/work-orders/"


def _url(work_order, action=""):
    return f"{LIST}{work_order.pk}/" + (f"{action}/" if action else "")


def test_list_shows_own_customer_orders_only(api_client_for, customer_admin, asset, other_asset):
    own = WorkOrderFactory(asset=asset)
    WorkOrderFactory(asset=other_asset)
    response = api_client_for(customer_admin).get(LIST)
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [own.pk]


@pytest.mark.parametrize("rows", [5, 50])
def test_list_query_count_does_not_grow_with_rows(
    api_client_for, provider_admin, customer, site, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        WorkOrderFactory(asset=AssetFactory(customer=customer, site=site))
    client = api_client_for(provider_admin)
    with django_assert_max_num_queries(8):
        response = client.get(LIST, {"page_size": 50})
    assert response.status_code == 200
    assert response.json()["count"] == rows


def test_list_filters_by_status(api_client_for, provider_admin, asset):
    WorkOrderFactory(asset=asset)
    closed = WorkOrderFactory(asset=asset, status=WorkOrderStatus.CLOSED)
    response = api_client_for(provider_admin).get(LIST, {"status": "closed"})
    assert [row["id"] for row in response.json()["results"]] == [closed.pk]


def test_detail_of_another_customer_is_not_found(api_client_for, customer_admin, other_asset):
    work_order = WorkOrderFactory(asset=other_asset)
    assert api_client_for(customer_admin).get(_url(work_order)).status_code == 404


def test_dispatcher_creates_work_order(api_client_for, service_desk, customer, asset):
    response = api_client_for(service_desk).post(
        LIST,
        {"customer": customer.pk, "site": asset.site_id, "asset": asset.pk, "kind": "corrective", "description": "Jam"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["number"].startswith("WO-")
    assert response.json()["source"] == WorkOrderSource.MANUAL


def test_create_naming_another_providers_customer_is_refused(api_client_for, service_desk, site):
    from accounts.tests.factories import CustomerFactory, ProviderFactory

    foreign = CustomerFactory(provider=ProviderFactory(code="p9", name="Elsewhere"))
    foreign_site = SiteFactory(customer=foreign)
    response = api_client_for(service_desk).post(
        LIST, {"customer": foreign.pk, "site": foreign_site.pk, "kind": "corrective", "description": "x"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"customer", "site"}


def test_customer_admin_may_not_create_dispatch_orders(api_client_for, customer_admin, customer, site):
    response = api_client_for(customer_admin).post(
        LIST, {"customer": customer.pk, "site": site.pk, "kind": "corrective", "description": "x"}, format="json"
    )
    assert response.status_code == 403


def test_customer_viewer_requests_service_for_own_organisation(api_client_for, customer, site, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")
    response = api_client_for(viewer).post(f"{LIST}request/", {"site": site.pk, "description": "Broken"}, format="json")
    assert response.status_code == 201
    work_order = WorkOrder.objects.get()
    assert work_order.customer == customer
    assert work_order.kind == WorkOrderKind.SERVICE_REQUEST


def test_service_request_naming_another_customers_site_is_refused(api_client_for, customer_admin, other_customer):
    other_site = SiteFactory(customer=other_customer)
    response = api_client_for(customer_admin).post(
        f"{LIST}request/", {"site": other_site.pk, "description": "x"}, format="json"
    )
    assert response.status_code == 400
    assert not WorkOrder.objects.exists()


def test_dispatcher_assigns_technician(api_client_for, service_desk, technician, asset):
    work_order = WorkOrderFactory(asset=asset)
    response = api_client_for(service_desk).post(_url(work_order, "assign"), {"technician": technician.pk})
    assert response.status_code == 200
    assert response.json()["assigned_to"] == technician.pk
    assert response.json()["status"] == WorkOrderStatus.ASSIGNED


def test_assign_to_a_customer_user_is_refused(api_client_for, service_desk, customer_admin, asset):
    work_order = WorkOrderFactory(asset=asset)
    response = api_client_for(service_desk).post(_url(work_order, "assign"), {"technician": customer_admin.pk})
    assert response.status_code == 400


def test_technician_starts_own_order_but_not_anothers(
    api_client_for, provider_admin, technician, other_technician, asset
):
    own = services.work_order_assign(work_order=WorkOrderFactory(asset=asset), technician=technician, by=provider_admin)
    theirs = services.work_order_assign(
        work_order=WorkOrderFactory(asset=asset), technician=other_technician, by=provider_admin
    )
    client = api_client_for(technician)
    assert client.post(_url(own, "transition"), {"to_status": "in_progress"}).status_code == 200
    assert client.post(_url(theirs, "transition"), {"to_status": "in_progress"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == WorkOrderStatus.ASSIGNED


def test_refused_transition_is_a_400(api_client_for, provider_admin, asset):
    work_order = WorkOrderFactory(asset=asset)
    response = api_client_for(provider_admin).post(_url(work_order, "transition"), {"to_status": "completed"})
    assert response.status_code == 400


def test_complete_and_timeline(api_client_for, provider_admin, technician, asset):
    work_order = services.work_order_assign(
        work_order=WorkOrderFactory(asset=asset), technician=technician, by=provider_admin
    )
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    client = api_client_for(technician)
    response = client.post(
        _url(work_order, "complete"), {"notes": "Drum replaced", "damage_avoidable": False}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == WorkOrderStatus.COMPLETED
    timeline = client.get(_url(work_order, "timeline")).json()["results"]
    assert [event["to_status"] for event in timeline] == ["assigned", "in_progress", "completed"]
