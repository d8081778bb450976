"""Services of work done: checklist, parts, labour, notes, photos, meter reads, signature, completion records."""

import base64
import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from accounts.choices import Role
from assets.choices import AssetCategory, LifeUnit
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory
from maintenance import services, work
from maintenance.choices import (
    ChecklistPurpose,
    ChecklistResult,
    ErasureMethod,
    Priority,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)
from maintenance.models import (
    ChecklistTemplate,
    ChecklistTemplateItem,
    ErasureCertificate,
    MaintenanceSettings,
    PartInstallation,
    WorkOrderEvent,
    WorkOrderPhoto,
)
from maintenance.tests.factories import WorkOrderFactory
from telemetry.choices import Meter, ReadingSource
from telemetry.models import Reading

pytestmark = pytest.mark.django_db


# --- Helpers shared by the work tests (imported by test_work_views and test_work_api) ------------------------------


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "white").save(buffer, format=image_format)
    return buffer.getvalue()


def upload(content: bytes, name: str = "photo.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def signature_data_url(size: tuple[int, int] = (300, 120), image_format: str = "PNG") -> str:
    return "data:image/png;base64," + base64.b64encode(image_bytes(image_format, size)).decode()


def stored_files(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def in_progress(asset, technician, **fields):
    return WorkOrderFactory(asset=asset, assigned_to=technician, status=WorkOrderStatus.IN_PROGRESS, **fields)


def template(provider, name="T", *, kind="", asset_model=None, category="", items=("Check A",), **fields):
    created = ChecklistTemplate.objects.create(
        provider=provider, name=name, kind=kind, asset_model=asset_model, category=category, **fields
    )
    for position, text in enumerate(items):
        ChecklistTemplateItem.objects.create(template=created, position=position, text=text, critical=position == 0)
    return created


@pytest.fixture
def order(asset, technician):
    return in_progress(asset, technician)


# --- Permissions and open states ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [WorkOrderStatus.NEW, WorkOrderStatus.COMPLETED, WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED]
)
def test_work_is_refused_on_orders_not_being_worked_on(asset, technician, status):
    work_order = WorkOrderFactory(asset=asset, assigned_to=technician, status=status)
    with pytest.raises(ValidationError) as error:
        work.work_order_note_add(work_order=work_order, by=technician, note="Done")
    assert error.value.messages == [str(work.WORK_NOT_OPEN)]


def test_work_is_refused_to_other_technicians_and_customers(order, other_technician, customer_admin):
    for user in (other_technician, customer_admin):
        with pytest.raises(ValidationError) as error:
            work.work_order_note_add(work_order=order, by=user, note="Done")
        assert error.value.messages == [str(services.NOT_ALLOWED_TO_UPDATE)]


def test_dispatching_staff_may_record_work(order, service_desk):
    event = work.work_order_note_add(work_order=order, by=service_desk, note="Customer called")
    assert event.by == service_desk


def test_may_record_work_follows_the_service_rule(order, technician, other_technician, customer_admin):
    assert work.may_record_work(work_order=order, user=technician)
    assert not work.may_record_work(work_order=order, user=other_technician)
    assert not work.may_record_work(work_order=order, user=customer_admin)
    order.status = WorkOrderStatus.COMPLETED
    assert not work.may_record_work(work_order=order, user=technician)


# --- Checklist ----------------------------------------------------------------------------------------------------


def test_work_order_create_copies_the_most_specific_template(provider, customer, site, asset, provider_admin):
    template(provider, "Generic", items=("Generic",))
    template(provider, "Category", category=asset.asset_model.category, items=("Category",))
    template(provider, "Model any kind", asset_model=asset.asset_model, items=("Model any",))
    template(
        provider, "Model corrective", asset_model=asset.asset_model, kind=WorkOrderKind.CORRECTIVE, items=("M1", "M2")
    )
    template(provider, "Model removal", asset_model=asset.asset_model, kind=WorkOrderKind.REMOVAL, items=("R",))
    template(provider, "Inactive", asset_model=asset.asset_model, kind=WorkOrderKind.CORRECTIVE, active=False)
    template(provider, "Pre-use", asset_model=asset.asset_model, purpose=ChecklistPurpose.PRE_USE)
    template(provider, "Other model", asset_model=AssetModelFactory(), kind=WorkOrderKind.CORRECTIVE)

    work_order = services.work_order_create(
        customer=customer,
        site=site,
        asset=asset,
        kind=WorkOrderKind.CORRECTIVE,
        priority=Priority.P3,
        source=WorkOrderSource.MANUAL,
        description="Noise",
        by=provider_admin,
    )

    items = list(work_order.checklist.order_by("position"))
    assert [item.text for item in items] == ["M1", "M2"]
    assert items[0].critical and not items[1].critical
    assert {item.result for item in items} == {ChecklistResult.PENDING}


def test_checklist_falls_back_to_category_then_generic(provider, asset):
    work_order = WorkOrderFactory(asset=asset, kind=WorkOrderKind.PREVENTIVE)
    template(provider, "Generic", items=("Generic",))
    assert work.checklist_template_for(work_order=work_order).name == "Generic"
    template(provider, "Forklifts", category=AssetCategory.FORKLIFT)
    template(provider, "MFPs", category=asset.asset_model.category, kind=WorkOrderKind.PREVENTIVE)
    assert work.checklist_template_for(work_order=work_order).name == "MFPs"


def test_order_without_asset_gets_a_generic_template_only(provider, customer, site):
    template(provider, "MFPs", category=AssetCategory.MFP)
    work_order = WorkOrderFactory(asset=None, customer=customer, site=site, provider=provider)
    assert work.work_order_checklist_copy(work_order=work_order) == []
    template(provider, "Any")
    assert len(work.work_order_checklist_copy(work_order=work_order)) == 1


def test_checklist_item_check_records_who_and_when(provider, order, technician):
    work.work_order_checklist_copy(work_order=order, template=template(provider, items=("Rollers",)))
    item = order.checklist.get()

    work.checklist_item_check(item=item, result=ChecklistResult.FAILED, note=" worn ", by=technician)

    item.refresh_from_db()
    assert (item.result, item.note, item.checked_by) == (ChecklistResult.FAILED, "worn", technician)
    assert item.checked_at is not None
    work.checklist_item_check(item=item, result=ChecklistResult.PENDING, by=technician)
    item.refresh_from_db()
    assert item.checked_by is None and item.checked_at is None


def test_checklist_item_check_rejects_unknown_results_and_long_notes(provider, order, technician):
    work.work_order_checklist_copy(work_order=order, template=template(provider))
    item = order.checklist.get()
    with pytest.raises(ValidationError) as error:
        work.checklist_item_check(item=item, result="maybe", by=technician)
    assert error.value.message_dict == {"result": [str(work.CHECK_RESULT_INVALID)]}
    with pytest.raises(ValidationError):
        work.checklist_item_check(item=item, result=ChecklistResult.OK, note="x" * 301, by=technician)


# --- Parts --------------------------------------------------------------------------------------------------------


def test_part_add_costs_a_part_type_at_its_unit_cost(order, technician):
    part_type = PartTypeFactory(unit_cost=Decimal("12000"))
    part = work.work_order_part_add(work_order=order, by=technician, part_type=part_type, quantity=Decimal(2))
    assert (part.unit_cost, part.currency, part.quantity, part.replaces_installed) == (
        Decimal("12000"),
        "JPY",
        Decimal(2),
        True,
    )
    assert part.added_by == technician


def test_technicians_never_set_prices_but_price_roles_may(order, technician, provider_admin):
    with pytest.raises(ValidationError) as error:
        work.work_order_part_add(work_order=order, by=technician, description="Cable", unit_cost=Decimal(10))
    assert error.value.message_dict == {"unit_cost": [str(work.PRICES_NOT_YOURS)]}
    part = work.work_order_part_add(work_order=order, by=provider_admin, description="Cable", unit_cost=Decimal("980"))
    assert part.unit_cost == Decimal("980")
    assert part.replaces_installed is False  # a free description is never installed on the asset


def test_part_add_refuses_part_types_of_other_models_and_nameless_parts(order, technician):
    other = PartTypeFactory()
    other.asset_models.add(AssetModelFactory())
    with pytest.raises(ValidationError) as error:
        work.work_order_part_add(work_order=order, by=technician, part_type=other)
    assert error.value.message_dict == {"part_type": [str(work.PART_NOT_COMPATIBLE)]}
    with pytest.raises(ValidationError) as error:
        work.work_order_part_add(work_order=order, by=technician, description="  ")
    assert error.value.message_dict == {"part_type": [str(work.PART_NOT_NAMED)]}
    with pytest.raises(ValidationError) as error:
        work.work_order_part_add(work_order=order, by=technician, description="Fuse", quantity=Decimal(0))
    assert error.value.message_dict == {"quantity": [str(work.QUANTITY_INVALID)]}


def test_part_types_for_offers_fitting_and_generic_part_types(asset):
    fitting, generic, other = PartTypeFactory(), PartTypeFactory(), PartTypeFactory()
    fitting.asset_models.add(asset.asset_model)
    other.asset_models.add(AssetModelFactory())
    assert set(work.part_types_for(asset=asset)) == {fitting, generic}


def test_part_remove_takes_the_part_off_unless_installed(order, technician):
    part = work.work_order_part_add(work_order=order, by=technician, part_type=PartTypeFactory())
    work.work_order_part_remove(part=part, by=technician)
    assert not order.parts.exists()


# --- Labour -------------------------------------------------------------------------------------------------------


def test_labour_uses_the_customer_rate_else_the_provider_rate(order, technician, customer, provider):
    MaintenanceSettings.objects.create(organisation=provider, labour_rate=Decimal("8000"))
    entry = work.work_order_labour_add(work_order=order, by=technician, hours=Decimal("1.5"))
    assert (entry.technician, entry.rate, entry.date) == (technician, Decimal("8000"), timezone.localdate())
    MaintenanceSettings.objects.create(organisation=customer, labour_rate=Decimal("9500"))
    entry = work.work_order_labour_add(work_order=order, by=technician, hours=Decimal(1))
    assert entry.rate == Decimal("9500")


@pytest.mark.parametrize("hours", [Decimal(0), Decimal("-1"), Decimal("24.01")])
def test_labour_hours_are_within_a_day(order, technician, hours):
    with pytest.raises(ValidationError) as error:
        work.work_order_labour_add(work_order=order, by=technician, hours=hours)
    assert error.value.message_dict == {"hours": [str(work.HOURS_OUT_OF_RANGE)]}


def test_labour_refuses_future_dates_and_other_technicians(order, technician, other_technician, service_desk):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as error:
        work.work_order_labour_add(work_order=order, by=technician, hours=Decimal(1), date=tomorrow)
    assert error.value.message_dict == {"date": [str(work.DATE_IN_FUTURE)]}
    with pytest.raises(ValidationError) as error:
        work.work_order_labour_add(work_order=order, by=technician, hours=Decimal(1), technician=other_technician)
    assert error.value.message_dict == {"technician": [str(work.LABOUR_OWN_ONLY)]}
    entry = work.work_order_labour_add(work_order=order, by=service_desk, hours=Decimal(2), technician=other_technician)
    assert entry.technician == other_technician
    with pytest.raises(ValidationError) as error:
        work.work_order_labour_add(work_order=order, by=service_desk, hours=Decimal(2), technician=service_desk)
    assert error.value.message_dict == {"technician": [str(work.LABOUR_NOT_A_TECHNICIAN)]}


def test_labour_rate_is_set_by_price_roles_only(order, technician, provider_admin):
    with pytest.raises(ValidationError):
        work.work_order_labour_add(work_order=order, by=technician, hours=Decimal(1), rate=Decimal(1))
    entry = work.work_order_labour_add(work_order=order, by=provider_admin, hours=Decimal(1), rate=Decimal("7000"))
    assert (entry.technician, entry.rate) == (order.assigned_to, Decimal("7000"))


# --- Notes --------------------------------------------------------------------------------------------------------


def test_note_adds_a_timeline_event_that_keeps_the_status(order, technician):
    event = work.work_order_note_add(work_order=order, by=technician, note="  Waiting for the key  ")
    assert (event.from_status, event.to_status, event.note) == (
        WorkOrderStatus.IN_PROGRESS,
        WorkOrderStatus.IN_PROGRESS,
        "Waiting for the key",
    )
    with pytest.raises(ValidationError):
        work.work_order_note_add(work_order=order, by=technician, note="   ")
    assert WorkOrderEvent.objects.filter(work_order=order).count() == 1


# --- Photos -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("image_format", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_photo_add_stores_a_checked_image(order, technician, media_root, image_format, content_type):
    content = image_bytes(image_format)
    photo = work.work_order_photo_add(
        work_order=order, by=technician, image=upload(content, name="../../evil.php"), caption="Fuser"
    )
    assert (photo.content_type, photo.size, photo.caption) == (content_type, len(content), "Fuser")
    assert "evil" not in photo.image.name and photo.image.name.startswith("work-orders/photos/")
    assert len(stored_files(media_root)) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<?php echo 'not an image'; ?>", work.PHOTO_NOT_IMAGE),
        (image_bytes("GIF"), work.PHOTO_NOT_IMAGE),
        (image_bytes("PNG")[:60], work.PHOTO_NOT_IMAGE),
        (b"", work.PHOTO_EMPTY),
        (b"\x89PNG" + b"0" * (10 * 1024 * 1024), work.PHOTO_TOO_LARGE),
        (image_bytes("PNG", size=(8000, 6000), mode="1"), work.PHOTO_TOO_MANY_PIXELS),
    ],
    ids=["fake", "gif", "truncated", "empty", "too-large", "too-many-pixels"],
)
def test_photo_add_refuses_bad_files_and_stores_nothing(order, technician, media_root, content, message):
    with pytest.raises(ValidationError) as error:
        work.work_order_photo_add(work_order=order, by=technician, image=upload(content))
    assert error.value.messages == [str(message)]
    assert not WorkOrderPhoto.objects.exists()
    assert stored_files(media_root) == []


def test_photo_add_stops_at_the_limit(order, technician, monkeypatch):
    monkeypatch.setattr(work, "MAX_PHOTOS", 2)
    for _ in range(2):
        work.work_order_photo_add(work_order=order, by=technician, image=upload(image_bytes()))
    with pytest.raises(ValidationError):
        work.work_order_photo_add(work_order=order, by=technician, image=upload(image_bytes()))
    assert order.photos.count() == 2


# --- Meter reads --------------------------------------------------------------------------------------------------


def test_meter_read_goes_through_the_ingest_and_is_linked(order, technician):
    taken_at = timezone.now() - datetime.timedelta(minutes=5)
    link = work.work_order_meter_read_add(
        work_order=order, by=technician, meter=Meter.TOTAL_PAGES, value=Decimal(123456), taken_at=taken_at
    )
    reading = link.reading
    assert (reading.asset_id, reading.meter, reading.value, reading.source, reading.entered_by) == (
        order.asset_id,
        Meter.TOTAL_PAGES,
        Decimal(123456),
        ReadingSource.TECHNICIAN,
        technician,
    )


def test_meter_read_refuses_meters_the_asset_has_not(order, technician, customer, site):
    with pytest.raises(ValidationError) as error:
        work.work_order_meter_read_add(work_order=order, by=technician, meter=Meter.HOURS_LIFT, value=Decimal(1))
    assert error.value.message_dict == {"meter": [str(work.METER_NOT_OFFERED)]}
    without_asset = WorkOrderFactory(
        asset=None, customer=customer, site=site, provider=customer.provider, assigned_to=technician,
        status=WorkOrderStatus.IN_PROGRESS,
    )  # fmt: skip
    with pytest.raises(ValidationError):
        work.work_order_meter_read_add(
            work_order=without_asset, by=technician, meter=Meter.TOTAL_PAGES, value=Decimal(1)
        )
    assert not Reading.objects.exists()


# --- Signature ----------------------------------------------------------------------------------------------------


def test_signature_decode_returns_the_png():
    png = work.signature_decode(signature_data_url())
    assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("data_url", "message"),
    [
        ("not a data url", work.SIGNATURE_INVALID),
        ("data:image/png;base64,@@@", work.SIGNATURE_INVALID),
        ("data:image/png;base64," + base64.b64encode(image_bytes("JPEG")).decode(), work.SIGNATURE_INVALID),
        ("data:image/svg+xml;base64," + base64.b64encode(b"<svg/>").decode(), work.SIGNATURE_INVALID),
        (signature_data_url(size=(8, 8)), work.SIGNATURE_SIZE),
        (signature_data_url(size=(5000, 20)), work.SIGNATURE_SIZE),
        ("data:image/png;base64," + "A" * (700 * 1024), work.SIGNATURE_TOO_LARGE),
    ],
    ids=["text", "base64", "jpeg", "svg", "tiny", "huge", "too-large"],
)
def test_signature_decode_refuses_what_is_not_a_sensible_png(data_url, message):
    with pytest.raises(ValidationError) as error:
        work.signature_decode(data_url)
    assert error.value.message_dict == {"signature": [str(message)]}


# --- Completion ---------------------------------------------------------------------------------------------------


def _reading(asset, meter, value, days_ago):
    return Reading.objects.create(
        asset=asset, meter=meter, value=Decimal(value), taken_at=timezone.now() - datetime.timedelta(days=days_ago)
    )


def test_completion_records_part_installations_once_with_the_meter_value(order, technician, asset):
    toner = PartTypeFactory(life_unit=LifeUnit.PAGES)
    kit = PartTypeFactory(life_unit=LifeUnit.DAYS)
    _reading(asset, Meter.TOTAL_PAGES, 1000, 10)
    _reading(asset, Meter.TOTAL_PAGES, 1500, 1)
    _reading(asset, Meter.MONO_PAGES, 9999, 0)
    work.work_order_part_add(work_order=order, by=technician, part_type=toner, quantity=Decimal(2))
    work.work_order_part_add(work_order=order, by=technician, part_type=kit)
    work.work_order_part_add(work_order=order, by=technician, part_type=PartTypeFactory(), replaces_installed=False)
    work.work_order_part_add(work_order=order, by=technician, description="Screws")

    services.work_order_complete(work_order=order, by=technician, notes="Replaced")

    installations = {row.part_type: row for row in PartInstallation.objects.all()}
    assert set(installations) == {toner, kit}
    assert (installations[toner].meter, installations[toner].meter_value) == (Meter.TOTAL_PAGES, Decimal(1500))
    assert (installations[toner].quantity, installations[toner].installed_at) == (Decimal(2), order.completed_at)
    assert (installations[kit].meter, installations[kit].meter_value) == ("", None)

    services.work_order_transition(work_order=order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    part = order.parts.get(part_type=toner)
    with pytest.raises(ValidationError) as error:
        work.work_order_part_remove(part=part, by=technician)
    assert error.value.messages == [str(work.PART_INSTALLED)]
    services.work_order_complete(work_order=order, by=technician, notes="Again")
    assert PartInstallation.objects.count() == 2


def test_completion_stores_the_signature(order, technician, media_root):
    services.work_order_complete(
        work_order=order, by=technician, notes="Done", signature=signature_data_url(), signed_by_name=" Ito Naoko "
    )
    order.refresh_from_db()
    assert order.signature.name.startswith("work-orders/signatures/")
    assert (order.signed_by_name, order.signed_at) == ("Ito Naoko", order.completed_at)
    assert order.signature.read().startswith(b"\x89PNG")


def test_completion_refuses_a_bad_signature_or_one_without_a_name(order, technician, media_root):
    with pytest.raises(ValidationError):
        services.work_order_complete(work_order=order, by=technician, signature="data:image/png;base64,xx")
    with pytest.raises(ValidationError) as error:
        services.work_order_complete(work_order=order, by=technician, signature=signature_data_url())
    assert error.value.message_dict == {"signed_by_name": [str(services.SIGNER_NAME_MISSING)]}
    order.refresh_from_db()
    assert order.status == WorkOrderStatus.IN_PROGRESS
    assert stored_files(media_root) == []


@pytest.fixture
def removal(customer, site, technician):
    asset = AssetFactory(customer=customer, site=site, asset_model=AssetModelFactory(category=AssetCategory.MFP))
    return in_progress(asset, technician, kind=WorkOrderKind.REMOVAL, number="WO-2026-000123")


def test_removal_of_an_mfp_needs_erasure_details(removal, technician):
    with pytest.raises(ValidationError) as error:
        services.work_order_complete(work_order=removal, by=technician, notes="Removed")
    assert error.value.messages == [str(work.ERASURE_REQUIRED)]
    with pytest.raises(ValidationError) as error:
        services.work_order_complete(work_order=removal, by=technician, erasure_method=ErasureMethod.OVERWRITE)
    assert "erasure_storage" in error.value.message_dict
    removal.refresh_from_db()
    assert removal.status == WorkOrderStatus.IN_PROGRESS
    assert not ErasureCertificate.objects.exists()


def test_removal_of_an_mfp_issues_its_erasure_certificate_once(removal, technician):
    services.work_order_complete(
        work_order=removal,
        by=technician,
        notes="Removed",
        erasure_method=ErasureMethod.OVERWRITE,
        erasure_storage="HDD 320 GB",
    )
    certificate = ErasureCertificate.objects.get()
    assert certificate.number == "EC-2026-000123"
    assert (certificate.asset_id, certificate.work_order, certificate.technician) == (
        removal.asset_id,
        removal,
        technician,
    )
    assert (certificate.method, certificate.storage_description) == (ErasureMethod.OVERWRITE, "HDD 320 GB")
    assert certificate.performed_at == removal.completed_at

    services.work_order_transition(work_order=removal, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    services.work_order_complete(work_order=removal, by=technician, notes="Again")  # no details needed again
    assert ErasureCertificate.objects.count() == 1


def test_certificate_numbers_stay_unique_across_providers(removal, technician, make_member):
    from accounts.tests.factories import CustomerFactory, ProviderFactory

    other_provider = ProviderFactory(code="p2", name="Second")
    other_customer = CustomerFactory(provider=other_provider)
    other_technician = make_member(other_provider, Role.TECHNICIAN, email="t@p2.example")
    other_asset = AssetFactory(customer=other_customer, asset_model=AssetModelFactory(category=AssetCategory.MFP))
    other = in_progress(other_asset, other_technician, kind=WorkOrderKind.REMOVAL, number="WO-2026-000123")
    details = {"erasure_method": ErasureMethod.PHYSICAL, "erasure_storage": "SSD"}
    services.work_order_complete(work_order=removal, by=technician, **details)
    services.work_order_complete(work_order=other, by=other_technician, **details)
    assert sorted(ErasureCertificate.objects.values_list("number", flat=True)) == [
        "EC-2026-000123",
        f"EC-2026-000123-{other_provider.pk}",
    ]


def test_removal_of_a_forklift_needs_no_certificate(customer, site, technician):
    truck = AssetFactory(customer=customer, site=site, asset_model=AssetModelFactory(category=AssetCategory.FORKLIFT))
    work_order = in_progress(truck, technician, kind=WorkOrderKind.REMOVAL)
    services.work_order_complete(work_order=work_order, by=technician, notes="Collected")
    assert not ErasureCertificate.objects.exists()


def test_erasure_certificate_pdf_renders(removal, technician):
    services.work_order_complete(
        work_order=removal, by=technician, erasure_method=ErasureMethod.OVERWRITE, erasure_storage="HDD"
    )
    certificate = ErasureCertificate.objects.get()
    for language in ("en", "ja"):
        assert work.erasure_certificate_pdf_render(certificate=certificate, language=language).startswith(b"%PDF")
    context = work.erasure_certificate_context(certificate=certificate)
    assert (context["number"], context["serial_number"]) == ("EC-2026-000123", removal.asset.serial_number)
