# ruff: noqa: F811 - the fixtures imported from test_inspections are arguments of the tests
"""API of pre-use inspections, service links and the operator report: reads, writes, 400s and tenancy."""

import pytest

from accounts.choices import Role
from accounts.tests.factories import member
from assets.choices import AssetStatus
from maintenance.models import AssetServiceLink, PreUseInspection
from maintenance.tests.test_inspections import (  # noqa: F401 - fixtures
    answers,
    checklist,
    forklift_model,
    operator,
    submit,
    truck,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/pre-use-inspections/"


def _body(truck, checklist, failed=()):
    return {
        "asset": truck.pk,
        "answers": [{"item_id": a.item_id, "ok": a.ok, "note": a.note} for a in answers(checklist, failed)],
        "hour_meter": "1500.0",
        "note": "",
    }


def test_operator_records_an_inspection(api_client_for, truck, operator, checklist):
    response = api_client_for(operator).post(LIST, _body(truck, checklist, failed={"Brakes"}), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["critical_failure"] is True and data["passed"] is False
    assert [item["text"] for item in data["items"]] == ["Brakes", "Horn", "Tyres"]
    assert data["work_order_number"]
    truck.refresh_from_db()
    assert truck.status == AssetStatus.IN_REPAIR


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda body: body.update(answers=body["answers"][:-1]), "answers"),
        (lambda body: body["answers"].append({"item_id": 999999, "ok": True}), "answers"),
        (lambda body: body.update(answers=[]), "answers"),
        (lambda body: body["answers"][0].pop("ok"), "answers"),
        (lambda body: body.update(hour_meter="-5"), "hour_meter"),
        (lambda body: body.update(asset=None), "asset"),
    ],
    ids=["missing", "unknown", "empty", "no-ok", "negative-hours", "no-asset"],
)
def test_bad_input_is_a_400_with_field_messages(api_client_for, truck, operator, checklist, change, field):
    body = _body(truck, checklist)
    change(body)
    response = api_client_for(operator).post(LIST, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not PreUseInspection.objects.exists()


def test_another_customers_truck_is_a_400(api_client_for, checklist, other_asset, other_customer):
    stranger = member(other_customer, Role.CUSTOMER_OPERATOR, email="x@other.example")
    response = api_client_for(stranger).post(LIST, {**_body(other_asset, checklist), "asset": 0}, format="json")
    assert response.status_code == 400


def test_operator_of_another_site_cannot_name_the_truck(api_client_for, customer, truck, checklist):
    elsewhere = member(customer, Role.CUSTOMER_OPERATOR, email="elsewhere@acme.example")
    response = api_client_for(elsewhere).post(LIST, _body(truck, checklist), format="json")
    assert response.status_code == 400 and "asset" in response.json()


def test_roles_without_the_capability_may_not_post(api_client_for, truck, customer_admin, checklist):
    assert api_client_for(customer_admin).post(LIST, _body(truck, checklist), format="json").status_code == 403


def test_reads_are_scoped(api_client_for, truck, operator, checklist, customer_admin, other_admin):
    inspection = submit(truck, operator, checklist)
    own = api_client_for(customer_admin)
    assert [row["id"] for row in own.get(LIST).json()["results"]] == [inspection.pk]
    assert own.get(f"{LIST}{inspection.pk}/").status_code == 200
    other = api_client_for(other_admin)
    assert other.get(LIST).json()["results"] == []
    assert other.get(f"{LIST}{inspection.pk}/").status_code == 404
    assert other.get(f"{LIST}abc/").status_code == 404


@pytest.mark.parametrize("rows", [3, 20])
def test_list_query_count_is_constant(
    api_client_for, truck, operator, checklist, customer_admin, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        submit(truck, operator, checklist)
    client = api_client_for(customer_admin)
    with django_assert_max_num_queries(8):
        response = client.get(LIST, {"page_size": 50})
    assert len(response.json()["results"]) == rows


# --- Service links ----------------------------------------------------------------------------------------------


def test_service_link_read_and_rotate(api_client_for, asset, customer_admin, other_admin, customer):
    url = f"/api/v1/assets/{asset.pk}/service-link/"
    client = api_client_for(customer_admin)
    data = client.get(url).json()
    link = AssetServiceLink.objects.get(asset=asset)
    assert data["token"] == link.token and data["url"].endswith(f"/maintenance/s/{link.token}/")
    rotated = client.post(f"{url}rotate/").json()
    assert rotated["token"] != link.token and rotated["rotated_at"]

    viewer = api_client_for(member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example"))
    assert viewer.get(url).status_code == 200
    assert viewer.post(f"{url}rotate/").status_code == 403
    other = api_client_for(other_admin)
    assert other.get(url).status_code == 404
    assert other.post(f"{url}rotate/").status_code == 404
    assert AssetServiceLink.objects.get(asset=asset).token == rotated["token"]


def test_asset_routes_still_work_beside_the_service_link(api_client_for, asset, customer_admin):
    client = api_client_for(customer_admin)
    assert client.get(f"/api/v1/assets/{asset.pk}/").status_code == 200
    assert client.get(f"/api/v1/assets/{asset.pk}/history/").status_code == 200


# --- Operator report --------------------------------------------------------------------------------------------


def test_operator_report_api(api_client_for, truck, operator, checklist, customer_admin):
    submit(truck, operator, checklist, failed={"Horn"})
    client = api_client_for(customer_admin)
    data = client.get("/api/v1/operator-report/").json()
    assert [(row["email"], row["inspections"], row["failed"]) for row in data["rows"]] == [
        ("driver@acme.example", 1, 1)
    ]
    assert data["unattributed_impacts"] == 0
    bad = client.get("/api/v1/operator-report/", {"from": "2026-03-31", "to": "2026-03-01"})
    assert bad.status_code == 400 and "to" in bad.json()
    assert client.get("/api/v1/operator-report/", {"from": "yesterday"}).status_code == 400
    assert api_client_for(operator).get("/api/v1/operator-report/").status_code == 403
