"""Portal pages of work done: the work-order panel and its forms, scoped files, the asset panel, the certificate."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.choices import Role
from assets.choices import AssetCategory
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory
from maintenance import services, work
from maintenance.choices import ChecklistResult, ErasureMethod, WorkOrderKind, WorkOrderStatus
from maintenance.models import ErasureCertificate, PartInstallation, WorkOrderPhoto
from maintenance.tests.factories import WorkOrderFactory
from maintenance.tests.test_work_services import (
    image_bytes,
    in_progress,
    media_root,  # noqa: F401 - the autouse fixture: files go to a temporary MEDIA_ROOT
    signature_data_url,
    stored_files,
    template,
    upload,
)
from telemetry.choices import Meter

pytestmark = pytest.mark.django_db


def _detail(work_order):
    return reverse("maintenance:work_order_detail", args=[work_order.pk])


@pytest.fixture
def order(provider, asset, technician):
    work_order = in_progress(asset, technician)
    work.work_order_checklist_copy(work_order=work_order, template=template(provider, items=("Rollers", "Fuser")))
    return work_order


def test_technician_sees_the_forms_without_prices(client, order, technician):
    work.work_order_part_add(work_order=order, by=technician, part_type=PartTypeFactory(unit_cost=Decimal("12345")))
    client.force_login(technician)
    response = client.get(_detail(order))
    assert response.status_code == 200
    text = response.text
    for name in ("checklist_check", "part_add", "labour_add", "note_add", "photo_add", "meter_read_add"):
        assert reverse(f"maintenance:work_order_{name}", args=[order.pk]) in text
    assert 'accept="image/*"' in text and 'capture="environment"' in text
    assert "12,345" not in text and "12345" not in text
    assert 'name="unit_cost"' not in text and 'name="rate"' not in text
    assert "js/signature.js" in text  # the completion form's signature pad


def test_customer_sees_work_read_only_with_prices(client, order, technician, customer_admin):
    work.work_order_part_add(work_order=order, by=technician, part_type=PartTypeFactory(unit_cost=Decimal("12345")))
    client.force_login(customer_admin)
    text = client.get(_detail(order)).text
    assert "12,345" in text
    assert reverse("maintenance:work_order_part_add", args=[order.pk]) not in text
    assert 'name="result"' not in text


def test_closed_order_shows_no_forms(client, asset, technician):
    work_order = WorkOrderFactory(asset=asset, assigned_to=technician, status=WorkOrderStatus.COMPLETED)
    client.force_login(technician)
    text = client.get(_detail(work_order)).text
    assert reverse("maintenance:work_order_note_add", args=[work_order.pk]) not in text


def test_checklist_quick_check_redirects_to_its_section(client, order, technician):
    item = order.checklist.order_by("position").first()
    client.force_login(technician)
    response = client.post(
        reverse("maintenance:work_order_checklist_check", args=[order.pk]),
        {"item": item.pk, "result": ChecklistResult.OK, "note": ""},
    )
    assert response.status_code == 302
    assert response["Location"].endswith("#work-checklist")
    item.refresh_from_db()
    assert (item.result, item.checked_by) == (ChecklistResult.OK, technician)


def test_forms_record_parts_labour_notes_and_meter_reads(client, order, technician):
    part_type = PartTypeFactory()
    client.force_login(technician)
    client.post(
        reverse("maintenance:work_order_part_add", args=[order.pk]),
        {"part_type": part_type.pk, "quantity": "1", "replaces_installed": "on"},
    )
    client.post(reverse("maintenance:work_order_labour_add", args=[order.pk]), {"hours": "1.5"})
    client.post(reverse("maintenance:work_order_note_add", args=[order.pk]), {"note": "Rollers worn"})
    response = client.post(
        reverse("maintenance:work_order_meter_read_add", args=[order.pk]),
        {"meter": Meter.TOTAL_PAGES, "value": "54321"},
    )
    assert response["Location"].endswith("#work-meters")
    assert order.parts.get().part_type == part_type
    assert order.labour.get().hours == Decimal("1.5")
    assert order.events.filter(note="Rollers worn").exists()
    assert order.meter_reads.get().reading.value == Decimal("54321")

    part = order.parts.get()
    client.post(reverse("maintenance:work_order_part_remove", args=[order.pk]), {"part": part.pk})
    assert not order.parts.exists()


def test_form_errors_come_back_as_messages(client, order, technician):
    client.force_login(technician)
    response = client.post(reverse("maintenance:work_order_labour_add", args=[order.pk]), {"hours": "30"}, follow=True)
    assert str(work.HOURS_OUT_OF_RANGE) in response.text
    assert not order.labour.exists()


def test_photo_upload_rejects_a_fake_image_with_a_message(client, order, technician, media_root):  # noqa: F811
    client.force_login(technician)
    response = client.post(
        reverse("maintenance:work_order_photo_add", args=[order.pk]),
        {"image": upload(b"GIF89a not really", name="x.jpg")},
        follow=True,
    )
    assert str(work.PHOTO_NOT_IMAGE) in response.text
    assert stored_files(media_root) == []


def test_photo_is_served_only_through_the_scoped_view(client, order, technician, customer_admin, other_admin):
    client.force_login(technician)
    client.post(reverse("maintenance:work_order_photo_add", args=[order.pk]), {"image": upload(image_bytes())})
    photo = WorkOrderPhoto.objects.get()
    url = reverse("maintenance:work_order_photo", args=[photo.pk])
    assert url in client.get(_detail(order)).text

    client.force_login(customer_admin)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")

    client.force_login(other_admin)
    assert client.get(url).status_code == 404


def test_signature_is_served_only_through_the_scoped_view(client, order, technician, customer_admin, other_admin):
    client.force_login(technician)
    response = client.post(
        reverse("maintenance:work_order_complete", args=[order.pk]),
        {"notes": "Done", "signature": signature_data_url(), "signed_by_name": "Ito"},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == WorkOrderStatus.COMPLETED and order.signed_by_name == "Ito"
    url = reverse("maintenance:work_order_signature", args=[order.pk])

    client.force_login(customer_admin)
    assert url in client.get(_detail(order)).text
    response = client.get(url)
    assert (response.status_code, response["Content-Type"]) == (200, "image/png")
    client.force_login(other_admin)
    assert client.get(url).status_code == 404
    unsigned = WorkOrderFactory(asset=order.asset)
    client.force_login(customer_admin)
    assert client.get(reverse("maintenance:work_order_signature", args=[unsigned.pk])).status_code == 404


@pytest.fixture
def certificate(customer, site, technician):
    mfp = AssetFactory(customer=customer, site=site, asset_model=AssetModelFactory(category=AssetCategory.MFP))
    removal = in_progress(mfp, technician, kind=WorkOrderKind.REMOVAL)
    services.work_order_complete(
        work_order=removal, by=technician, erasure_method=ErasureMethod.CRYPTOGRAPHIC, erasure_storage="SSD 128 GB"
    )
    return ErasureCertificate.objects.get()


def test_completion_form_refuses_a_removal_without_erasure_details(client, customer, site, technician):
    mfp = AssetFactory(customer=customer, site=site, asset_model=AssetModelFactory(category=AssetCategory.MFP))
    removal = in_progress(mfp, technician, kind=WorkOrderKind.REMOVAL)
    client.force_login(technician)
    response = client.post(
        reverse("maintenance:work_order_complete", args=[removal.pk]), {"notes": "Removed"}, follow=True
    )
    assert str(work.ERASURE_REQUIRED) in response.text
    removal.refresh_from_db()
    assert removal.status == WorkOrderStatus.IN_PROGRESS


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.CUSTOMER_VIEWER])
def test_customer_downloads_the_erasure_certificate(client, certificate, customer, make_member, role):
    client.force_login(make_member(customer, role))
    response = client.get(reverse("maintenance:erasure_certificate_pdf", args=[certificate.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert certificate.number in response["Content-Disposition"]


def test_erasure_certificate_is_a_404_for_another_customer(client, certificate, other_admin):
    client.force_login(other_admin)
    assert client.get(reverse("maintenance:erasure_certificate_pdf", args=[certificate.pk])).status_code == 404


def test_asset_page_shows_installations_and_certificates(client, certificate, customer_admin):
    client.force_login(customer_admin)
    text = client.get(reverse("assets:asset_detail", args=[certificate.asset_id])).text
    assert reverse("maintenance:erasure_certificate_pdf", args=[certificate.pk]) in text
    assert certificate.number in text


@pytest.mark.parametrize("rows", [2, 12])
def test_work_order_page_queries_do_not_grow_with_work(
    client, order, technician, provider_admin, rows, django_assert_max_num_queries
):
    for number in range(rows):
        work.work_order_part_add(work_order=order, by=technician, part_type=PartTypeFactory())
        work.work_order_labour_add(work_order=order, by=technician, hours=Decimal(1))
        work.work_order_photo_add(work_order=order, by=technician, image=upload(image_bytes()))
        work.work_order_meter_read_add(
            work_order=order, by=technician, meter=Meter.TOTAL_PAGES, value=Decimal(1000 + number),
            taken_at=order.created_at.replace(microsecond=number),
        )  # fmt: skip
    client.force_login(provider_admin)
    with django_assert_max_num_queries(30):
        response = client.get(_detail(order))
    assert response.status_code == 200


@pytest.mark.parametrize("rows", [2, 12])
def test_asset_panel_queries_do_not_grow_with_installations(
    client, asset, technician, customer_admin, rows, django_assert_max_num_queries
):
    from maintenance.views.work import asset_work_panel

    part_types = [PartTypeFactory(), PartTypeFactory()]
    for _ in range(rows):
        work_order = in_progress(asset, technician)
        for part_type in part_types:
            work.work_order_part_add(work_order=work_order, by=technician, part_type=part_type)
        services.work_order_complete(work_order=work_order, by=technician)
    assert PartInstallation.objects.count() == 2 * rows
    customer_admin.refresh_from_db()
    with django_assert_max_num_queries(3):
        tiles = asset_work_panel(user=customer_admin, obj=asset)
    installations = tiles[0].context["installations"]
    assert {row.part_type for row in installations} == set(part_types)  # the latest of each part type only
    assert {row.work_order for row in installations} == {work_order}
