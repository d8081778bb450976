"""The completion report: its PDF (content, language, signature), the scoped downloads and the e-mail to admins."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from pypdf import PdfReader

from accounts.choices import Role
from assets.tests.factories import PartTypeFactory
from fleet.testing.pdf import embedded_fonts, pdf_text, squash
from maintenance import reports, services
from maintenance.choices import ChecklistResult, WorkOrderStatus
from maintenance.models import WorkOrder, WorkOrderChecklistItem, WorkOrderLabour, WorkOrderMeterRead, WorkOrderPart
from maintenance.tests.factories import WorkOrderFactory
from telemetry.choices import Meter, ReadingSource
from telemetry.models import Reading

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _png() -> bytes:
    image = Image.new("RGBA", (120, 40), (255, 255, 255, 0))
    for x in range(10, 110):
        image.putpixel((x, 20 + (x % 7)), (0, 0, 0, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _completed(asset, technician, *, status=WorkOrderStatus.COMPLETED, **fields) -> WorkOrder:
    now = timezone.now()
    work_order = WorkOrderFactory(
        asset=asset,
        assigned_to=technician,
        status=status,
        completed_at=now,
        closed_at=now if status == WorkOrderStatus.CLOSED else None,
        completion_notes="Replaced the pickup roller of tray 2 and cleaned the paper path.",
        down_from=now - datetime.timedelta(hours=3),
        down_until=now,
        signed_by_name="Naoko Ito",
        signed_at=now,
        **fields,
    )
    work_order.signature.save("signature.png", ContentFile(_png()), save=True)
    part_type = PartTypeFactory(name="Pickup roller", code="RLR-2")
    WorkOrderPart.objects.create(
        work_order=work_order, part_type=part_type, quantity=Decimal("2"), unit_cost=Decimal("4321.77"), added_at=now
    )
    WorkOrderLabour.objects.create(
        work_order=work_order, technician=technician, date=now.date(), hours=Decimal("1.5"), rate=Decimal("8765")
    )
    WorkOrderChecklistItem.objects.create(work_order=work_order, text="Paper path clean", result=ChecklistResult.OK)
    reading = Reading.objects.create(
        asset=asset, meter=Meter.TOTAL_PAGES, taken_at=now, value=Decimal("123456"), source=ReadingSource.TECHNICIAN
    )
    WorkOrderMeterRead.objects.create(work_order=work_order, reading=reading)
    return work_order


def _render(work_order, language="en") -> bytes:
    return reports.completion_report_pdf_render(
        work_order=reports.work_order_report_queryset().get(pk=work_order.pk), language=language
    )


def test_report_lists_work_done_parts_labour_readings_and_no_prices(asset, technician):
    work_order = _completed(asset, technician)

    pdf = _render(work_order)

    text = squash(pdf_text(pdf))
    for expected in (
        work_order.number,
        "Acme Office KK",
        "Tokyo HQ",
        asset.serial_number,
        "Replacedthepickuproller",
        "Pickuproller",
        "RLR-2",
        "Paperpathclean",
        "1.5",
        "123456",
        "NaokoIto",
    ):
        assert squash(expected) in text, expected
    # No prices on a customer's document (in yen 4,322 a unit and 8,644 for the two; the cents in other currencies).
    assert not any(price in text for price in ("4,321.77", "4321.77", "4,322", "8,643", "8,644"))
    assert "8765" not in text and "8,765" not in text
    assert "3.0h" in text  # downtime
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_report_embeds_the_signature_image(asset, technician):
    work_order = _completed(asset, technician)
    context = reports.completion_report_context(work_order=work_order)
    assert context["signature_data_uri"].startswith("data:image/png;base64,")
    assert b"/Subtype /Image" in _render(work_order) or b"/Subtype/Image" in _render(work_order)


def test_report_is_in_japanese_with_the_bundled_font(asset, technician):
    work_order = _completed(asset, technician)
    WorkOrder.objects.filter(pk=work_order.pk).update(completion_notes="給紙ローラーを交換しました。")

    pdf = _render(work_order, language="ja")

    text = squash(pdf_text(pdf))
    assert "給紙ローラーを交換しました。" in text
    assert any("IPAex" in font for font in embedded_fonts(pdf))


def test_report_defaults_to_the_customers_language(asset, technician, customer):
    customer.language = "ja"
    customer.save()
    work_order = _completed(asset, technician)
    assert reports.completion_report_language(work_order) == "ja"


def test_report_without_signature_or_work_still_renders(asset, technician):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.COMPLETED, completed_at=timezone.now())
    assert pdf_text(_render(work_order))


# --- Downloads --------------------------------------------------------------------------------------------------


def test_customer_admin_downloads_the_report(client, customer_admin, asset, technician):
    work_order = _completed(asset, technician, status=WorkOrderStatus.CLOSED)
    client.force_login(customer_admin)

    response = client.get(reverse("maintenance:work_order_report", args=[work_order.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert work_order.number in response["Content-Disposition"]


def test_report_of_another_tenant_is_not_found(client, other_admin, asset, technician):
    work_order = _completed(asset, technician)
    client.force_login(other_admin)
    assert client.get(reverse("maintenance:work_order_report", args=[work_order.pk])).status_code == 404


def test_report_before_completion_is_not_found(client, customer_admin, asset):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.IN_PROGRESS)
    client.force_login(customer_admin)
    assert client.get(reverse("maintenance:work_order_report", args=[work_order.pk])).status_code == 404


def test_api_report(api_client_for, customer_admin, other_admin, asset, technician):
    work_order = _completed(asset, technician)
    open_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.ASSIGNED)
    url = f"/api/v1/work-orders/{work_order.pk}/report/"

    response = api_client_for(customer_admin).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")

    assert api_client_for(other_admin).get(url).status_code == 404
    assert api_client_for(customer_admin).get(f"/api/v1/work-orders/{open_order.pk}/report/").status_code == 404
    assert api_client_for(customer_admin).get("/api/v1/work-orders/abc/report/").status_code == 404


def test_summary_page_shows_work_done_and_links_the_report(client, technician, asset):
    work_order = _completed(asset, technician)
    client.force_login(technician)

    response = client.get(reverse("maintenance:work_order_summary", args=[work_order.pk]))

    assert response.status_code == 200
    assert "Pickup roller" in response.text
    assert "data:image/png;base64," in response.text
    assert reverse("maintenance:work_order_report", args=[work_order.pk]) in response.text
    # No price (a factory's model name may hold the digits 4321, so the cents are what is looked for).
    assert not any(price in response.text for price in ("4,321.77", "4321.77", "4,322", "8,643", "8,644"))


def test_summary_of_another_tenant_is_not_found(client, other_admin, asset, technician):
    work_order = _completed(asset, technician)
    client.force_login(other_admin)
    assert client.get(reverse("maintenance:work_order_summary", args=[work_order.pk])).status_code == 404


def test_completing_leads_to_the_summary(client, technician, service_desk, asset):
    work_order = WorkOrderFactory(asset=asset)
    services.work_order_assign(work_order=work_order, technician=technician, by=service_desk)
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    client.force_login(technician)

    response = client.post(reverse("maintenance:work_order_complete", args=[work_order.pk]), {"notes": "Done"})

    assert response.status_code == 302
    assert response["Location"] == reverse("maintenance:work_order_summary", args=[work_order.pk])


# --- E-mail -----------------------------------------------------------------------------------------------------


def test_report_is_emailed_once_to_the_customers_admins_in_their_language(
    asset, technician, customer, make_member, customer_admin
):
    japanese = make_member(customer, Role.CUSTOMER_ADMIN, email="kanri@acme.example", language="ja")
    make_member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")
    make_member(customer, Role.CUSTOMER_ADMIN, email="gone@acme.example", is_active=False)
    work_order = _completed(asset, technician)

    reports.send_completion_report_task.delay(work_order.pk)
    reports.send_completion_report_task.delay(work_order.pk)

    assert sorted(message.to[0] for message in mail.outbox) == [customer_admin.email, japanese.email]
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert work_order.number in by_recipient[customer_admin.email].subject
    (name, content, mimetype) = by_recipient[japanese.email].attachments[0]
    assert mimetype == "application/pdf" and content.startswith(b"%PDF")
    work_order.refresh_from_db()
    assert work_order.completion_report_sent_at is not None


def test_report_is_not_emailed_before_completion(asset, customer_admin):
    work_order = WorkOrderFactory(asset=asset, status=WorkOrderStatus.IN_PROGRESS)
    assert reports.completion_report_send(work_order_id=work_order.pk) == 0
    assert mail.outbox == []


def test_a_failed_send_leaves_the_report_unsent(asset, technician, customer_admin, monkeypatch):
    work_order = _completed(asset, technician)

    def fail(*args, **kwargs):
        raise OSError("SMTP down")

    monkeypatch.setattr(reports, "_completion_report_message", fail)
    with pytest.raises(OSError):
        reports.completion_report_send(work_order_id=work_order.pk)
    work_order.refresh_from_db()
    assert work_order.completion_report_sent_at is None


def test_completing_enqueues_the_report_email(
    asset, technician, service_desk, customer_admin, django_capture_on_commit_callbacks
):
    work_order = WorkOrderFactory(asset=asset)
    services.work_order_assign(work_order=work_order, technician=technician, by=service_desk)
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)

    with django_capture_on_commit_callbacks(execute=True):
        services.work_order_complete(work_order=work_order, by=technician, notes="Cleaned the fuser.")

    assert [message.to for message in mail.outbox] == [[customer_admin.email]]
    assert "Cleaned the fuser." in mail.outbox[0].body
