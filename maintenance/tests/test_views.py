"""Portal pages of maintenance: the work-order list, page and its forms, creating and requesting service."""

import pytest
from django.urls import reverse

from accounts.choices import Role
from assets.tests.factories import AssetFactory, SiteFactory
from maintenance import services
from maintenance.choices import WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.models import WorkOrder
from maintenance.tests.factories import WorkOrderFactory

pytestmark = pytest.mark.django_db


def _detail(work_order):
    return reverse("maintenance:work_order_detail", args=[work_order.pk])


def _assigned(work_order, technician, by):
    return services.work_order_assign(work_order=work_order, technician=technician, by=by)


def test_list_shows_own_customer_orders_only(client, customer_admin, asset, other_asset):
    own = WorkOrderFactory(asset=asset)
    other = WorkOrderFactory(asset=other_asset)
    client.force_login(customer_admin)
    response = client.get(reverse("maintenance:work_order_list"))
    assert response.status_code == 200
    assert own.number in response.text
    assert other.number not in response.text


@pytest.mark.parametrize("rows", [5, 50])
def test_list_query_count_does_not_grow_with_rows(
    client, provider_admin, customer, site, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        WorkOrderFactory(asset=AssetFactory(customer=customer, site=site))
    client.force_login(provider_admin)
    with django_assert_max_num_queries(16):
        response = client.get(reverse("maintenance:work_order_list"), {"per_page": 50})
    assert response.status_code == 200
    assert response.text.count("WO-2026-") >= rows


def test_list_filters_overdue_orders(client, provider_admin, asset):
    late = WorkOrderFactory(asset=asset, resolution_due_at="2020-01-01T00:00:00Z")
    on_time = WorkOrderFactory(asset=asset, resolution_due_at="2999-01-01T00:00:00Z")
    client.force_login(provider_admin)
    response = client.get(reverse("maintenance:work_order_list"), {"overdue": "true"})
    assert late.number in response.text
    assert on_time.number not in response.text


def test_list_exports_csv(client, provider_admin, asset):
    work_order = WorkOrderFactory(asset=asset)
    client.force_login(provider_admin)
    response = client.get(reverse("maintenance:work_order_list"), {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert work_order.number in b"".join(response.streaming_content).decode()


def test_detail_of_another_customer_is_not_found(client, customer_admin, other_asset):
    work_order = WorkOrderFactory(asset=other_asset)
    client.force_login(customer_admin)
    assert client.get(_detail(work_order)).status_code == 404


def test_detail_shows_overdue_badge_and_timeline(client, provider_admin, technician, asset):
    work_order = WorkOrderFactory(asset=asset, resolution_due_at="2020-01-01T00:00:00Z")
    _assigned(work_order, technician, provider_admin)
    client.force_login(provider_admin)
    response = client.get(_detail(work_order))
    assert 'class="badge overdue"' in response.text
    assert "Assigned to" in response.text  # the assignment on the timeline


def test_technician_sees_only_transitions_allowed_to_them(client, provider_admin, technician, asset):
    work_order = _assigned(WorkOrderFactory(asset=asset), technician, provider_admin)
    client.force_login(technician)
    response = client.get(_detail(work_order))
    buttons = response.context["buttons"]
    assert [value for value, _label in buttons] == [
        WorkOrderStatus.EN_ROUTE,
        WorkOrderStatus.IN_PROGRESS,
        WorkOrderStatus.ON_HOLD,
    ]
    assert 'value="cancelled"' not in response.text  # cancelling is the dispatcher's
    assert response.context["assign_form"] is None


def test_dispatcher_sees_cancel_and_assign_form_on_new_order(client, service_desk, asset):
    work_order = WorkOrderFactory(asset=asset)
    client.force_login(service_desk)
    response = client.get(_detail(work_order))
    assert [value for value, _label in response.context["buttons"]] == [WorkOrderStatus.CANCELLED]
    assert response.context["assign_form"] is not None
    assert not response.context["may_complete"]


def test_customer_viewer_sees_no_transition_buttons(client, customer, asset, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")
    work_order = WorkOrderFactory(asset=asset)
    client.force_login(viewer)
    response = client.get(_detail(work_order))
    assert response.context["buttons"] == []
    assert "transition-" not in response.text


def test_technician_starts_own_order(client, provider_admin, technician, asset):
    work_order = _assigned(WorkOrderFactory(asset=asset), technician, provider_admin)
    client.force_login(technician)
    response = client.post(
        reverse("maintenance:work_order_transition", args=[work_order.pk]),
        {"to_status": WorkOrderStatus.IN_PROGRESS, "note": "On site"},
    )
    assert response.status_code == 302
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.IN_PROGRESS
    assert work_order.responded_at is not None


def test_technician_cannot_start_another_technicians_order(client, provider_admin, technician, other_technician, asset):
    work_order = _assigned(WorkOrderFactory(asset=asset), other_technician, provider_admin)
    client.force_login(technician)
    response = client.post(
        reverse("maintenance:work_order_transition", args=[work_order.pk]), {"to_status": WorkOrderStatus.IN_PROGRESS}
    )
    assert response.status_code == 404
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.ASSIGNED


def test_refused_transition_shows_a_message(client, provider_admin, asset):
    work_order = WorkOrderFactory(asset=asset)
    client.force_login(provider_admin)
    response = client.post(
        reverse("maintenance:work_order_transition", args=[work_order.pk]),
        {"to_status": WorkOrderStatus.COMPLETED},
        follow=True,
    )
    assert response.status_code == 200
    assert "cannot move from New to Completed" in response.text
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.NEW


def test_dispatcher_assigns_a_technician(client, service_desk, technician, asset):
    work_order = WorkOrderFactory(asset=asset)
    client.force_login(service_desk)
    client.post(reverse("maintenance:work_order_assign", args=[work_order.pk]), {"technician": technician.pk})
    work_order.refresh_from_db()
    assert work_order.assigned_to == technician
    assert work_order.status == WorkOrderStatus.ASSIGNED


def test_technician_completes_own_order_with_downtime(client, provider_admin, technician, asset):
    work_order = _assigned(WorkOrderFactory(asset=asset), technician, provider_admin)
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    client.force_login(technician)
    client.post(
        reverse("maintenance:work_order_complete", args=[work_order.pk]),
        {
            "notes": "Fuser replaced",
            "damage_avoidable": "true",
            "down_from": "2026-03-01T09:00",
            "down_until": "2026-03-01T11:00",
        },
    )
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.COMPLETED
    assert work_order.billable is True
    assert work_order.completion_notes == "Fuser replaced"


def test_reversed_downtime_is_a_message_not_an_error(client, provider_admin, technician, asset):
    work_order = _assigned(WorkOrderFactory(asset=asset), technician, provider_admin)
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    client.force_login(technician)
    response = client.post(
        reverse("maintenance:work_order_complete", args=[work_order.pk]),
        {"notes": "Done", "down_from": "2026-03-01T11:00", "down_until": "2026-03-01T09:00"},
        follow=True,
    )
    assert "cannot end before it starts" in response.text
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.IN_PROGRESS


def test_dispatcher_creates_work_order(client, service_desk, customer, asset):
    client.force_login(service_desk)
    response = client.post(
        reverse("maintenance:work_order_create"),
        {
            "customer": customer.pk,
            "site": asset.site_id,
            "asset": asset.pk,
            "kind": WorkOrderKind.PREVENTIVE,
            "priority": "p2",
            "description": "Quarterly service",
        },
    )
    work_order = WorkOrder.objects.get()
    assert response.status_code == 302
    assert work_order.source == WorkOrderSource.MANUAL
    assert work_order.created_by == service_desk


def test_create_with_site_of_another_customer_is_a_form_error(client, service_desk, customer, other_customer):
    other_site = SiteFactory(customer=other_customer)
    client.force_login(service_desk)
    response = client.post(
        reverse("maintenance:work_order_create"),
        {"customer": customer.pk, "site": other_site.pk, "kind": "corrective", "priority": "p3", "description": "x"},
    )
    assert response.status_code == 200
    assert "does not belong to the customer" in response.text
    assert not WorkOrder.objects.exists()


def test_create_page_is_not_found_for_customer_users(client, customer_admin):
    client.force_login(customer_admin)
    assert client.get(reverse("maintenance:work_order_create")).status_code == 404


def test_customer_viewer_requests_service_for_own_organisation(client, customer, site, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")
    client.force_login(viewer)
    response = client.post(reverse("maintenance:service_request"), {"site": site.pk, "description": "No paper feed"})
    work_order = WorkOrder.objects.get()
    assert response.status_code == 302
    assert work_order.customer == customer
    assert work_order.kind == WorkOrderKind.SERVICE_REQUEST
    assert work_order.source == WorkOrderSource.CUSTOMER_REQUEST


def test_service_request_cannot_name_another_customers_site(client, customer_admin, other_customer):
    other_site = SiteFactory(customer=other_customer)
    client.force_login(customer_admin)
    response = client.post(reverse("maintenance:service_request"), {"site": other_site.pk, "description": "x"})
    assert response.status_code == 200
    assert not WorkOrder.objects.exists()


def test_service_request_offers_provider_staff_no_sites(client, provider_admin, site):
    client.force_login(provider_admin)
    response = client.post(reverse("maintenance:service_request"), {"site": site.pk, "description": "x"})
    assert response.status_code == 200
    assert not response.context["form"].fields["site"].queryset.exists()
    assert not WorkOrder.objects.exists()


def test_dashboard_counts_open_and_overdue_orders(client, provider_admin, asset, other_asset):
    WorkOrderFactory(asset=asset, resolution_due_at="2020-01-01T00:00:00Z")
    WorkOrderFactory(asset=other_asset)
    WorkOrderFactory(asset=asset, status=WorkOrderStatus.CLOSED, resolution_due_at="2020-01-01T00:00:00Z")
    client.force_login(provider_admin)
    response = client.get(reverse("portal:dashboard"))
    (tile,) = [tile for tile in response.context["tiles"] if tile.template_name == "maintenance/_dashboard_tiles.html"]
    assert (tile.context["total"], tile.context["overdue"]) == (2, 1)
    assert str(tile.context["title"]) == "Open work orders"


def test_dashboard_shows_a_technician_only_their_own_open_orders(
    client, provider_admin, technician, other_technician, asset
):
    _assigned(WorkOrderFactory(asset=asset), technician, provider_admin)
    _assigned(WorkOrderFactory(asset=asset), other_technician, provider_admin)
    client.force_login(technician)
    response = client.get(reverse("portal:dashboard"))
    (tile,) = [tile for tile in response.context["tiles"] if tile.template_name == "maintenance/_dashboard_tiles.html"]
    assert tile.context["total"] == 1
    assert str(tile.context["title"]) == "My open work orders"
    assert "My open work orders" in response.text
