"""API of work done: the work-order endpoints, part installations and erasure certificates."""

from decimal import Decimal

import pytest

from accounts.choices import Role
from assets.choices import AssetCategory
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory
from maintenance import services, work
from maintenance.choices import ChecklistResult, ErasureMethod, WorkOrderKind
from maintenance.models import MaintenanceSettings, PartInstallation
from maintenance.tests.test_work_services import (
    image_bytes,
    in_progress,
    media_root,  # noqa: F401 - the autouse fixture: files go to a temporary MEDIA_ROOT
    stored_files,
    template,
    upload,
)
from telemetry.choices import Meter

pytestmark = pytest.mark.django_db


def _url(work_order, *parts) -> str:
    return f"/api/v1/work-orders/{work_order.pk}/" + "".join(f"{part}/" for part in parts)


@pytest.fixture
def order(provider, asset, technician):
    work_order = in_progress(asset, technician)
    work.work_order_checklist_copy(work_order=work_order, template=template(provider, items=("Rollers", "Fuser")))
    return work_order


def test_checklist_lists_and_checks_items(api_client_for, order, technician):
    client = api_client_for(technician)
    rows = client.get(_url(order, "checklist")).json()
    assert [row["text"] for row in rows] == ["Rollers", "Fuser"]
    response = client.patch(_url(order, "checklist", rows[0]["id"]), {"result": "failed", "note": "worn"})
    assert response.status_code == 200
    assert (response.json()["result"], response.json()["checked_by"]) == (ChecklistResult.FAILED, technician.pk)
    assert client.patch(_url(order, "checklist", rows[0]["id"]), {"result": "maybe"}).status_code == 400
    assert client.patch(_url(order, "checklist", 999999), {"result": "ok"}).status_code == 404
    assert client.patch(_url(order, "checklist", "x"), {"result": "ok"}).status_code == 404


def test_parts_hide_prices_from_technicians(api_client_for, order, technician, provider_admin):
    part_type = PartTypeFactory(unit_cost=Decimal("12000"))
    client = api_client_for(technician)
    response = client.post(_url(order, "parts"), {"part_type": part_type.pk, "quantity": "2"})
    assert response.status_code == 201
    assert "unit_cost" not in response.json() and "amount" not in response.json()
    assert client.post(_url(order, "parts"), {"description": "Cable", "unit_cost": "5"}).status_code == 400

    row = api_client_for(provider_admin).get(_url(order, "parts")).json()[0]
    assert (row["unit_cost"], row["amount"], row["part_type_name"]) == ("12000.00", "24000", part_type.name)

    assert client.delete(_url(order, "parts", row["id"])).status_code == 204
    assert client.get(_url(order, "parts")).json() == []


def test_labour_uses_the_customer_rate_and_hides_it(api_client_for, order, technician, customer, customer_admin):
    MaintenanceSettings.objects.create(organisation=customer, labour_rate=Decimal("9000"))
    response = api_client_for(technician).post(_url(order, "labour"), {"hours": "1.5"})
    assert response.status_code == 201
    assert "rate" not in response.json()
    assert api_client_for(technician).post(_url(order, "labour"), {"hours": "25"}).status_code == 400
    row = api_client_for(customer_admin).get(_url(order, "labour")).json()[0]
    assert (row["rate"], row["amount"], row["technician"]) == ("9000.00", "13500", technician.pk)


def test_notes_and_meter_reads(api_client_for, order, technician):
    client = api_client_for(technician)
    response = client.post(_url(order, "notes"), {"note": "Waiting for parts"})
    assert response.status_code == 201
    assert response.json()["from_status"] == response.json()["to_status"] == order.status
    assert client.post(_url(order, "notes"), {"note": ""}).status_code == 400
    response = client.post(_url(order, "meter-reads"), {"meter": Meter.TOTAL_PAGES, "value": "4321"})
    assert response.status_code == 201
    assert response.json()["value"] == "4321.00"
    assert client.post(_url(order, "meter-reads"), {"meter": Meter.HOURS_LIFT, "value": "1"}).status_code == 400
    assert len(client.get(_url(order, "meter-reads")).json()) == 1


def test_photos_upload_list_and_file(api_client_for, order, technician, customer_admin, other_admin, media_root):  # noqa: F811
    client = api_client_for(technician)
    response = client.post(
        _url(order, "photos"), {"image": upload(image_bytes("JPEG"), "a.jpg"), "caption": "Fuser"}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    photo = response.json()
    assert (photo["content_type"], photo["caption"]) == ("image/jpeg", "Fuser")

    listed = api_client_for(customer_admin).get(_url(order, "photos")).json()
    assert [row["id"] for row in listed] == [photo["id"]]
    file_response = api_client_for(customer_admin).get(_url(order, "photos", photo["id"]), HTTP_ACCEPT="image/*")
    assert file_response.status_code == 200
    assert (file_response["Content-Type"], file_response["X-Content-Type-Options"]) == ("image/jpeg", "nosniff")
    assert api_client_for(other_admin).get(_url(order, "photos", photo["id"])).status_code == 404

    bad = client.post(_url(order, "photos"), {"image": upload(b"not an image", "x.png")}, format="multipart")
    assert bad.status_code == 400
    assert str(work.PHOTO_NOT_IMAGE) in str(bad.json())
    assert len(stored_files(media_root)) == 1


def test_other_tenants_and_other_technicians_get_404(api_client_for, order, other_admin, other_technician):
    for user in (other_admin, other_technician):
        client = api_client_for(user)
        assert client.get(_url(order, "checklist")).status_code == 404
        assert client.post(_url(order, "notes"), {"note": "x"}).status_code == 404
        assert client.get(_url(order, "parts")).status_code == 404


def test_customers_read_work_but_may_not_write_it(api_client_for, order, customer_admin):
    client = api_client_for(customer_admin)
    assert client.get(_url(order, "labour")).status_code == 200
    assert client.post(_url(order, "notes"), {"note": "x"}).status_code == 403
    assert client.post(_url(order, "parts"), {"description": "x"}).status_code == 403


def test_anonymous_callers_are_refused(client, order):
    assert client.get(_url(order, "checklist")).status_code in (401, 403)


def test_completion_takes_the_signature_and_erasure_details(api_client_for, customer, site, technician):
    from maintenance.tests.test_work_services import signature_data_url

    mfp = AssetFactory(customer=customer, site=site, asset_model=AssetModelFactory(category=AssetCategory.MFP))
    removal = in_progress(mfp, technician, kind=WorkOrderKind.REMOVAL)
    client = api_client_for(technician)
    response = client.post(_url(removal, "complete"), {"notes": "Removed"})
    assert response.status_code == 400
    assert str(work.ERASURE_REQUIRED) in str(response.json())
    response = client.post(
        _url(removal, "complete"),
        {
            "notes": "Removed",
            "signature": signature_data_url(),
            "signed_by_name": "Ito",
            "erasure_method": ErasureMethod.OVERWRITE,
            "erasure_storage": "HDD",
        },
    )
    assert response.status_code == 200, response.json()
    removal.refresh_from_db()
    assert removal.signed_by_name == "Ito" and removal.erasure_certificate.method == ErasureMethod.OVERWRITE


@pytest.fixture
def certificate(customer, site, technician):
    mfp = AssetFactory(customer=customer, site=site, asset_model=AssetModelFactory(category=AssetCategory.MFP))
    removal = in_progress(mfp, technician, kind=WorkOrderKind.REMOVAL)
    services.work_order_complete(
        work_order=removal, by=technician, erasure_method=ErasureMethod.PHYSICAL, erasure_storage="HDD"
    )
    return removal.erasure_certificate


def test_erasure_certificates_list_retrieve_and_pdf(api_client_for, certificate, customer, make_member, other_admin):
    viewer = api_client_for(make_member(customer, Role.CUSTOMER_VIEWER))
    rows = viewer.get("/api/v1/erasure-certificates/").json()["results"]
    assert [row["number"] for row in rows] == [certificate.number]
    assert viewer.get(f"/api/v1/erasure-certificates/{certificate.pk}/").json()["method"] == ErasureMethod.PHYSICAL
    pdf = viewer.get(f"/api/v1/erasure-certificates/{certificate.pk}/pdf/", HTTP_ACCEPT="application/pdf")
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")
    assert pdf.content.startswith(b"%PDF")

    outsider = api_client_for(other_admin)
    assert outsider.get("/api/v1/erasure-certificates/").json()["results"] == []
    assert outsider.get(f"/api/v1/erasure-certificates/{certificate.pk}/").status_code == 404
    assert outsider.get(f"/api/v1/erasure-certificates/{certificate.pk}/pdf/").status_code == 404


def _installations(asset, technician, rows: int) -> None:
    for _ in range(rows):
        work_order = in_progress(asset, technician)
        work.work_order_part_add(work_order=work_order, by=technician, part_type=PartTypeFactory())
        services.work_order_complete(work_order=work_order, by=technician)


def test_part_installations_filter_by_asset_and_part_type(
    api_client_for, asset, technician, customer, site, customer_admin, other_admin
):
    _installations(asset, technician, 2)
    _installations(AssetFactory(customer=customer, site=site), technician, 1)
    part_type = PartInstallation.objects.filter(asset=asset).first().part_type

    reader = api_client_for(customer_admin)
    assert reader.get("/api/v1/part-installations/").json()["count"] == 3
    assert reader.get("/api/v1/part-installations/", {"asset": asset.pk}).json()["count"] == 2
    assert reader.get("/api/v1/part-installations/", {"part_type": part_type.pk}).json()["count"] == 1
    outsider = api_client_for(other_admin)
    assert outsider.get("/api/v1/part-installations/").json()["count"] == 0
    assert outsider.get("/api/v1/part-installations/", {"asset": asset.pk}).status_code == 400


@pytest.mark.parametrize("rows", [2, 12])
def test_list_endpoints_query_counts_do_not_grow(
    api_client_for, provider, order, technician, provider_admin, customer, site, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        work.work_order_part_add(work_order=order, by=technician, part_type=PartTypeFactory())
        work.work_order_labour_add(work_order=order, by=technician, hours=Decimal(1))
        work.work_order_photo_add(work_order=order, by=technician, image=upload(image_bytes()))
    _installations(AssetFactory(customer=customer, site=site), technician, rows)
    for _ in range(rows):
        mfp = AssetFactory(customer=customer, site=site, asset_model=AssetModelFactory(category=AssetCategory.MFP))
        services.work_order_complete(
            work_order=in_progress(mfp, technician, kind=WorkOrderKind.REMOVAL),
            by=technician,
            erasure_method=ErasureMethod.OVERWRITE,
            erasure_storage="HDD",
        )
    client = api_client_for(provider_admin)
    for url in (
        _url(order, "checklist"),
        _url(order, "parts"),
        _url(order, "labour"),
        _url(order, "photos"),
        _url(order, "meter-reads"),
        "/api/v1/part-installations/",
        "/api/v1/erasure-certificates/",
    ):
        with django_assert_max_num_queries(8):
            response = client.get(url)
        assert response.status_code == 200, url
