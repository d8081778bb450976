"""Work done on a work order: checklist, parts, labour, notes, photos, meter reads on site, the signature,
part installations and storage-erasure certificates.

Who may record work: the technician the order is assigned to, and the provider's dispatching staff, while the
order is being worked on (assigned, en route, in progress, on hold). A new order has nobody on it yet; a
completed, closed or cancelled one is finished. Prices (part costs, labour rates) are set and seen only by roles
whose policy sees prices: a technician records what was used and how long it took, never what it costs.

Uploaded files (photos, the signature) are checked with Pillow before anything is stored, kept under random
names, and served only through views that scope them like their work order.
"""

import base64
import binascii
import datetime
import io
import uuid
from decimal import Decimal
from typing import TypedDict

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

from accounts.choices import Role
from accounts.models import Membership, Organisation, User
from accounts.roles import Capability
from assets.choices import PRINT_CATEGORIES
from assets.models import Asset, PartType
from fleet.pdf import render_pdf
from fleet.tenancy import access_for
from maintenance.choices import (
    ChecklistPurpose,
    ChecklistResult,
    ErasureMethod,
    WorkOrderKind,
    WorkOrderStatus,
)
from maintenance.lives import LIFE_UNIT_METER
from maintenance.models import (
    ChecklistTemplate,
    ErasureCertificate,
    MaintenanceSettings,
    PartInstallation,
    WorkOrder,
    WorkOrderChecklistItem,
    WorkOrderEvent,
    WorkOrderLabour,
    WorkOrderMeterRead,
    WorkOrderPart,
    WorkOrderPhoto,
)
from maintenance.services import NOT_ALLOWED_TO_UPDATE, _dispatcher, _locked, _record
from telemetry.ingest import meter_read_enter, meters_for
from telemetry.models import Reading

# The statuses in which work is recorded on an order.
WORK_STATES = (
    WorkOrderStatus.ASSIGNED,
    WorkOrderStatus.EN_ROUTE,
    WorkOrderStatus.IN_PROGRESS,
    WorkOrderStatus.ON_HOLD,
)
MAX_PHOTOS = 20
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_PIXELS = 40_000_000
# Pillow format -> (content type, file extension): the only images a photo may be.
PHOTO_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
SIGNATURE_PREFIX = "data:image/png;base64,"
SIGNATURE_MAX_BYTES = 512 * 1024
SIGNATURE_MIN_SIDE, SIGNATURE_MAX_SIDE = 16, 4096
NOTE_MAX_LENGTH = 2000
CHECK_NOTE_MAX_LENGTH = 300
MAX_LABOUR_HOURS = Decimal(24)
# The meter a part's life counts on, by its life unit (days count on the calendar: no meter).
LIFE_METERS = {unit: meter for unit, meter in LIFE_UNIT_METER.items() if meter}
CERTIFICATE_PREFIX = "EC-"

WORK_NOT_OPEN = _("Work can be recorded only while the work order is assigned, en route, in progress or on hold.")
CHECK_RESULT_INVALID = _("Choose OK, failed or not applicable.")
NOTE_TOO_LONG = _("The note is longer than %(max)s characters.")
NOTE_EMPTY = _("Write a note.")
PART_NOT_NAMED = _("Choose a part type or describe the part.")
PART_NOT_COMPATIBLE = _("This part type does not fit the asset's model.")
QUANTITY_INVALID = _("The quantity must be more than zero.")
COST_NEGATIVE = _("The unit cost cannot be negative.")
PRICES_NOT_YOURS = _("Your role does not set prices.")
PART_INSTALLED = _("This part is already recorded as installed on the asset: it can no longer be removed.")
PART_NOT_ON_ORDER = _("The part is not on this work order.")
HOURS_OUT_OF_RANGE = _("Hours must be more than 0 and at most 24.")
DATE_IN_FUTURE = _("The date cannot be in the future.")
LABOUR_NEEDS_TECHNICIAN = _("Name the technician who did the work.")
LABOUR_OWN_ONLY = _("Technicians record their own hours only.")
LABOUR_NOT_A_TECHNICIAN = _("Labour is recorded for technicians of the work order's provider.")
RATE_NEGATIVE = _("The rate cannot be negative.")
TOO_MANY_PHOTOS = _("A work order holds at most %(max)s photos.")
PHOTO_TOO_LARGE = _("The photo is larger than 10 MB.")
PHOTO_EMPTY = _("The file is empty.")
PHOTO_NOT_IMAGE = _("The file is not a JPEG, PNG or WebP image.")
PHOTO_TOO_MANY_PIXELS = _("The photo has more than 40 megapixels.")
METER_NEEDS_ASSET = _("The work order has no asset to read a meter of.")
METER_NOT_OFFERED = _("This meter is not one of the asset's meters.")
SIGNATURE_INVALID = _("The signature is not a PNG image.")
SIGNATURE_TOO_LARGE = _("The signature is larger than 512 KB.")
SIGNATURE_SIZE = _("The signature's size is not sensible.")
ERASURE_REQUIRED = _(
    "Removing an MFP or printer needs the storage-erasure details: the erasure method and the storage erased."
)
ERASURE_METHOD_INVALID = _("Choose an erasure method.")


# --- Permissions --------------------------------------------------------------------------------------------------


def may_record_work(*, work_order: WorkOrder, user: User | None) -> bool:
    """Whether ``user`` may record work on the order now: the assigned technician or dispatching staff, while
    the order is worked on (the same rule the services apply, for pages that show or hide forms)."""
    if work_order.status not in WORK_STATES:
        return False
    try:
        _check_may_work(work_order=work_order, by=user)
    except ValidationError:
        return False
    return True


def _check_may_work(*, work_order: WorkOrder, by: User | None) -> None:
    if by is not None and _dispatcher(by, work_order.provider_id) is not None:
        return
    access = access_for(by)
    if access is not None and access.can(Capability.UPDATE_ASSIGNED_WORK) and work_order.assigned_to_id == by.pk:
        return
    raise ValidationError(NOT_ALLOWED_TO_UPDATE)


def _start(work_order: WorkOrder, by: User | None) -> None:
    """Check ``by`` may record work and the order is being worked on (its status read under a row lock)."""
    _check_may_work(work_order=work_order, by=by)
    _locked(work_order)
    if work_order.status not in WORK_STATES:
        raise ValidationError(WORK_NOT_OPEN)


def _sees_prices(user: User | None) -> bool:
    access = access_for(user)
    return access is not None and access.sees_prices


# --- Checklist ----------------------------------------------------------------------------------------------------


def checklist_template_for(*, work_order: WorkOrder) -> ChecklistTemplate | None:
    """The most specific active work-order template of the provider for this order: one for the asset's model
    before one for its category before a generic one; one for the order's kind before one for any kind."""
    templates = ChecklistTemplate.objects.filter(
        provider_id=work_order.provider_id, purpose=ChecklistPurpose.WORK_ORDER, active=True
    ).filter(Q(kind=work_order.kind) | Q(kind=""))
    generic = Q(asset_model__isnull=True, category="")
    if work_order.asset_id is None:
        templates = templates.filter(generic).annotate(rank=Value(2, output_field=IntegerField()))
    else:
        asset_model = work_order.asset.asset_model
        templates = templates.filter(
            Q(asset_model_id=asset_model.pk) | Q(asset_model__isnull=True, category=asset_model.category) | generic
        ).annotate(
            rank=Case(
                When(asset_model_id=asset_model.pk, then=Value(0)),
                When(category=asset_model.category, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
    templates = templates.annotate(
        kind_rank=Case(When(kind=work_order.kind, then=Value(0)), default=Value(1), output_field=IntegerField())
    )
    return templates.order_by("rank", "kind_rank", "pk").first()


def work_order_checklist_copy(
    *, work_order: WorkOrder, template: ChecklistTemplate | None = None
) -> list[WorkOrderChecklistItem]:
    """Copy the items of ``template`` (by default the most specific matching one) onto the order."""
    template = template or checklist_template_for(work_order=work_order)
    if template is None:
        return []
    return WorkOrderChecklistItem.objects.bulk_create(
        WorkOrderChecklistItem(work_order=work_order, position=item.position, text=item.text, critical=item.critical)
        for item in template.items.order_by("position", "pk")
    )


@transaction.atomic
def checklist_item_check(
    *, item: WorkOrderChecklistItem, result: str, by: User, note: str = ""
) -> WorkOrderChecklistItem:
    """Record an item's result (OK, failed, not applicable) with a note, who checked it and when. Setting it back
    to "not checked" clears who and when."""
    work_order = item.work_order
    _start(work_order, by)
    if result not in ChecklistResult.values:
        raise ValidationError({"result": CHECK_RESULT_INVALID})
    note = note.strip()
    if len(note) > CHECK_NOTE_MAX_LENGTH:
        raise ValidationError({"note": NOTE_TOO_LONG % {"max": CHECK_NOTE_MAX_LENGTH}})
    item.result = result
    item.note = note
    checked = result != ChecklistResult.PENDING
    item.checked_by = by if checked else None
    item.checked_at = timezone.now() if checked else None
    item.save(update_fields=["result", "note", "checked_by", "checked_at"])
    return item


# --- Parts --------------------------------------------------------------------------------------------------------


def part_types_for(*, asset: Asset | None) -> QuerySet[PartType]:
    """The catalogue's part types for an asset: those that fit its model, and those that name no model."""
    part_types = PartType.objects.all()
    if asset is not None:
        fitting = PartType.objects.filter(asset_models=asset.asset_model_id).values("pk")
        part_types = part_types.filter(Q(pk__in=fitting) | Q(asset_models__isnull=True)).distinct()
    return part_types.order_by("name", "pk")


@transaction.atomic
def work_order_part_add(
    *,
    work_order: WorkOrder,
    by: User,
    part_type: PartType | None = None,
    description: str = "",
    quantity: Decimal = Decimal(1),
    unit_cost: Decimal | None = None,
    replaces_installed: bool = True,
) -> WorkOrderPart:
    """A part used: a catalogue part type (costed at its unit cost unless a price role says otherwise) or a free
    description. A part type that replaces the installed one is recorded on the asset at completion."""
    _start(work_order, by)
    description = description.strip()
    if part_type is None and not description:
        raise ValidationError({"part_type": PART_NOT_NAMED})
    if (
        part_type is not None
        and work_order.asset_id is not None
        and not part_types_for(asset=work_order.asset).filter(pk=part_type.pk).exists()
    ):
        raise ValidationError({"part_type": PART_NOT_COMPATIBLE})
    if quantity is None or quantity <= 0:
        raise ValidationError({"quantity": QUANTITY_INVALID})
    currency = part_type.currency if part_type is not None else work_order.currency
    if unit_cost is not None:
        if not _sees_prices(by):
            raise ValidationError({"unit_cost": PRICES_NOT_YOURS})
        if unit_cost < 0:
            raise ValidationError({"unit_cost": COST_NEGATIVE})
    elif part_type is not None:
        unit_cost = part_type.unit_cost
    part = WorkOrderPart(
        work_order=work_order,
        part_type=part_type,
        description=description,
        quantity=quantity,
        unit_cost=unit_cost,
        currency=currency,
        replaces_installed=bool(replaces_installed and part_type is not None),
        added_by=by,
        added_at=timezone.now(),
    )
    part.full_clean(exclude=["work_order", "part_type", "added_by"])
    part.save()
    return part


@transaction.atomic
def work_order_part_remove(*, part: WorkOrderPart, by: User) -> None:
    """Take a part off the order, unless it is already recorded as installed on the asset."""
    _start(part.work_order, by)
    if PartInstallation.objects.filter(work_order_part=part).exists():
        raise ValidationError(PART_INSTALLED)
    part.delete()


# --- Labour -------------------------------------------------------------------------------------------------------


def labour_rate(customer: Organisation) -> tuple[Decimal | None, str | None]:
    """The labour rate (and its currency) of the customer's maintenance settings, else of its provider's."""
    rows = {
        row.organisation_id: row
        for row in MaintenanceSettings.objects.filter(organisation_id__in=[customer.pk, customer.provider_id])
    }
    for organisation_id in (customer.pk, customer.provider_id):
        row = rows.get(organisation_id)
        if row is not None and row.labour_rate is not None:
            return row.labour_rate, row.currency
    return None, None


def _is_provider_technician(user: User, provider_id: int) -> bool:
    return Membership.objects.filter(
        user=user, organisation_id=provider_id, role=Role.TECHNICIAN, user__is_active=True
    ).exists()


@transaction.atomic
def work_order_labour_add(
    *,
    work_order: WorkOrder,
    by: User,
    hours: Decimal,
    date: datetime.date | None = None,
    technician: User | None = None,
    rate: Decimal | None = None,
    note: str = "",
) -> WorkOrderLabour:
    """Hours worked on the order (more than 0, at most 24 a day) at the customer's (else the provider's) labour
    rate. Technicians record their own hours; dispatching staff may record a technician's."""
    _start(work_order, by)
    if hours is None or not Decimal(0) < hours <= MAX_LABOUR_HOURS:
        raise ValidationError({"hours": HOURS_OUT_OF_RANGE})
    access = access_for(by)
    by_technician = access is not None and access.role == Role.TECHNICIAN
    if technician is None:
        technician = by if by_technician else work_order.assigned_to
    if technician is None:
        raise ValidationError({"technician": LABOUR_NEEDS_TECHNICIAN})
    if by_technician and technician.pk != by.pk:
        raise ValidationError({"technician": LABOUR_OWN_ONLY})
    if not _is_provider_technician(technician, work_order.provider_id):
        raise ValidationError({"technician": LABOUR_NOT_A_TECHNICIAN})
    today = timezone.localdate()
    date = date or today
    if date > today:
        raise ValidationError({"date": DATE_IN_FUTURE})
    default_rate, rate_currency = labour_rate(work_order.customer)
    if rate is not None:
        if not _sees_prices(by):
            raise ValidationError({"rate": PRICES_NOT_YOURS})
        if rate < 0:
            raise ValidationError({"rate": RATE_NEGATIVE})
    else:
        rate = default_rate
    note = note.strip()
    if len(note) > CHECK_NOTE_MAX_LENGTH:
        raise ValidationError({"note": NOTE_TOO_LONG % {"max": CHECK_NOTE_MAX_LENGTH}})
    labour = WorkOrderLabour(
        work_order=work_order,
        technician=technician,
        date=date,
        hours=hours,
        rate=rate,
        currency=rate_currency or work_order.currency,
        note=note,
    )
    labour.full_clean(exclude=["work_order", "technician"])
    labour.save()
    return labour


# --- Notes --------------------------------------------------------------------------------------------------------


@transaction.atomic
def work_order_note_add(*, work_order: WorkOrder, by: User, note: str) -> WorkOrderEvent:
    """A note on the order's timeline (an event that keeps the status)."""
    _start(work_order, by)
    note = note.strip()
    if not note:
        raise ValidationError({"note": NOTE_EMPTY})
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationError({"note": NOTE_TOO_LONG % {"max": NOTE_MAX_LENGTH}})
    return _record(work_order=work_order, by=by, from_status=work_order.status, to_status=work_order.status, note=note)


# --- Photos -------------------------------------------------------------------------------------------------------


def photo_check(upload) -> tuple[str, str]:
    """The content type and file extension of an uploaded photo, or a ValidationError: a JPEG, PNG or WebP image
    of at most 10 MB and 40 megapixels that Pillow can open and verify."""
    size = upload.size
    if not size:
        raise ValidationError(PHOTO_EMPTY, code="empty")
    if size > PHOTO_MAX_BYTES:
        raise ValidationError(PHOTO_TOO_LARGE, code="too_large")
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            image_format = image.format
            width, height = image.size
            if image_format not in PHOTO_FORMATS:
                raise ValidationError(PHOTO_NOT_IMAGE, code="format")
            if width * height > PHOTO_MAX_PIXELS:
                raise ValidationError(PHOTO_TOO_MANY_PIXELS, code="pixels")
            image.verify()
    except ValidationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(PHOTO_NOT_IMAGE, code="format") from exc
    finally:
        upload.seek(0)
    return PHOTO_FORMATS[image_format]


@transaction.atomic
def work_order_photo_add(*, work_order: WorkOrder, by: User, image, caption: str = "") -> WorkOrderPhoto:
    """Store a checked photo under a random name (nothing is stored when it is refused)."""
    _start(work_order, by)
    if WorkOrderPhoto.objects.filter(work_order=work_order).count() >= MAX_PHOTOS:
        raise ValidationError(TOO_MANY_PHOTOS % {"max": MAX_PHOTOS})
    content_type, extension = photo_check(image)
    caption = caption.strip()
    photo = WorkOrderPhoto(
        work_order=work_order,
        content_type=content_type,
        size=image.size,
        caption=caption,
        uploaded_by=by,
        uploaded_at=timezone.now(),
    )
    photo.full_clean(exclude=["work_order", "image", "uploaded_by"])
    photo.image.save(f"{uuid.uuid4().hex}.{extension}", File(image), save=False)
    photo.save()
    return photo


# --- Meter reads on site ------------------------------------------------------------------------------------------


@transaction.atomic
def work_order_meter_read_add(
    *, work_order: WorkOrder, by: User, meter: str, value: Decimal, taken_at: datetime.datetime | None = None
) -> WorkOrderMeterRead:
    """A meter read taken on site, stored through the telemetry ingest like any manual read."""
    _start(work_order, by)
    if work_order.asset_id is None:
        raise ValidationError(METER_NEEDS_ASSET)
    asset = work_order.asset
    if meter not in dict(meters_for(asset=asset)):
        raise ValidationError({"meter": METER_NOT_OFFERED})
    reading = meter_read_enter(asset=asset, meter=meter, taken_at=taken_at or timezone.now(), value=value, by=by)
    return WorkOrderMeterRead.objects.create(work_order=work_order, reading=reading)


# --- Signature ----------------------------------------------------------------------------------------------------


def signature_decode(data_url: str) -> bytes:
    """The PNG bytes of a signature pad's data URL, or a ValidationError: a PNG of at most 512 KB whose sides
    are between 16 and 4096 pixels."""
    if not isinstance(data_url, str) or not data_url.startswith(SIGNATURE_PREFIX):
        raise ValidationError({"signature": SIGNATURE_INVALID})
    encoded = data_url[len(SIGNATURE_PREFIX) :]
    if len(encoded) > SIGNATURE_MAX_BYTES * 4 // 3 + 4:
        raise ValidationError({"signature": SIGNATURE_TOO_LARGE})
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError({"signature": SIGNATURE_INVALID}) from None
    if len(png) > SIGNATURE_MAX_BYTES:
        raise ValidationError({"signature": SIGNATURE_TOO_LARGE})
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.format != "PNG":
                raise ValidationError({"signature": SIGNATURE_INVALID})
            width, height = image.size
            image.verify()
    except ValidationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise ValidationError({"signature": SIGNATURE_INVALID}) from None
    if not (SIGNATURE_MIN_SIDE <= width <= SIGNATURE_MAX_SIDE and SIGNATURE_MIN_SIDE <= height <= SIGNATURE_MAX_SIDE):
        raise ValidationError({"signature": SIGNATURE_SIZE})
    return png


def work_order_signature_store(
    *, work_order: WorkOrder, png: bytes, signed_by_name: str, now: datetime.datetime
) -> WorkOrder:
    """Keep the customer's signature (checked by ``signature_decode``) on the order, under a random name."""
    work_order.signature.save(f"{uuid.uuid4().hex}.png", ContentFile(png), save=False)
    work_order.signed_by_name = signed_by_name.strip()
    work_order.signed_at = now
    work_order.save(update_fields=["signature", "signed_by_name", "signed_at", "updated_at"])
    return work_order


# --- Completion: part installations and the erasure certificate -----------------------------------------------------


def erasure_required(*, work_order: WorkOrder) -> bool:
    """Whether completing the order needs storage-erasure details: the removal of an MFP or printer."""
    return (
        work_order.kind == WorkOrderKind.REMOVAL
        and work_order.asset_id is not None
        and work_order.asset.asset_model.category in PRINT_CATEGORIES
    )


def _certificate_number(work_order: WorkOrder) -> str:
    """``EC-`` and the order's number without its ``WO-`` (``EC-2026-000123``); unique across providers."""
    number = CERTIFICATE_PREFIX + work_order.number.removeprefix("WO-")
    if ErasureCertificate.objects.filter(number=number).exclude(work_order=work_order).exists():
        number = f"{number}-{work_order.provider_id}"
    return number


def _latest_meter_value(asset_id: int, meter: str, now: datetime.datetime) -> Decimal | None:
    return (
        Reading.objects.valid()
        .filter(asset_id=asset_id, meter=meter, taken_at__lte=now)
        .order_by("-taken_at", "-pk")
        .values_list("value", flat=True)
        .first()
    )


def work_completion_record(
    *,
    work_order: WorkOrder,
    by: User,
    now: datetime.datetime,
    erasure_method: str = "",
    erasure_storage: str = "",
) -> None:
    """At completion: each part type used that replaces the installed one becomes a part installation on the
    asset (once: completing again after a reopen adds none), with the latest reading of the meter its life
    counts on; removing an MFP or printer issues its storage-erasure certificate (refused without the details)."""
    if (
        erasure_required(work_order=work_order)
        and not ErasureCertificate.objects.filter(work_order=work_order).exists()
    ):
        erasure_storage = erasure_storage.strip()
        if not erasure_method and not erasure_storage:
            raise ValidationError(ERASURE_REQUIRED)
        if erasure_method not in ErasureMethod.values:
            raise ValidationError({"erasure_method": ERASURE_METHOD_INVALID})
        if not erasure_storage:
            raise ValidationError({"erasure_storage": ERASURE_REQUIRED})
        certificate = ErasureCertificate(
            number=_certificate_number(work_order),
            asset_id=work_order.asset_id,
            work_order=work_order,
            method=erasure_method,
            performed_at=now,
            technician=by,
            storage_description=erasure_storage,
            notes=work_order.completion_notes,
        )
        certificate.full_clean(exclude=["asset", "work_order", "technician"])
        certificate.save()
    if work_order.asset_id is None:
        return
    parts = list(
        WorkOrderPart.objects.filter(
            work_order=work_order, part_type__isnull=False, replaces_installed=True, installation__isnull=True
        )
        .select_related("part_type")
        .order_by("pk")
    )
    meters = {LIFE_METERS.get(part.part_type.life_unit) for part in parts} - {None}
    values = {meter: _latest_meter_value(work_order.asset_id, meter, now) for meter in sorted(meters)}
    PartInstallation.objects.bulk_create(
        PartInstallation(
            asset_id=work_order.asset_id,
            part_type=part.part_type,
            installed_at=now,
            meter=LIFE_METERS.get(part.part_type.life_unit, ""),
            meter_value=values.get(LIFE_METERS.get(part.part_type.life_unit)),
            quantity=part.quantity,
            work_order=work_order,
            work_order_part=part,
        )
        for part in parts
    )


# --- The erasure certificate as a PDF -------------------------------------------------------------------------------

ERASURE_CERTIFICATE_TEMPLATE = "pdf/erasure_certificate.html"


class ErasureCertificateContext(TypedDict):
    """Everything the erasure certificate template reads."""

    number: str
    provider_name: str
    provider_address_lines: list[str]
    customer_name: str
    customer_address_lines: list[str]
    site_name: str
    site_address_lines: list[str]
    manufacturer: str
    asset_model: str
    serial_number: str
    asset_tag: str
    work_order_number: str
    method: str
    storage_description: str
    performed_at: datetime.datetime
    technician_name: str
    notes: str


def erasure_certificate_context(*, certificate: ErasureCertificate) -> ErasureCertificateContext:
    asset = certificate.asset
    customer = asset.customer
    provider = customer.provider
    technician = certificate.technician
    return {
        "number": certificate.number,
        "provider_name": provider.name if provider else "",
        "provider_address_lines": provider.address_lines if provider else [],
        "customer_name": customer.name,
        "customer_address_lines": customer.address_lines,
        "site_name": asset.site.name,
        "site_address_lines": asset.site.address_lines,
        "manufacturer": asset.manufacturer.name,
        "asset_model": asset.asset_model.name,
        "serial_number": asset.serial_number,
        "asset_tag": asset.asset_tag,
        "work_order_number": certificate.work_order.number if certificate.work_order else "",
        "method": str(ErasureMethod(certificate.method).label),
        "storage_description": certificate.storage_description,
        "performed_at": certificate.performed_at,
        "technician_name": technician.get_full_name() or technician.email,
        "notes": certificate.notes,
    }


def erasure_certificate_pdf_render(*, certificate: ErasureCertificate, language: str) -> bytes:
    """The certificate as a one-page PDF in ``language``, times in the customer's time zone."""
    return render_pdf(
        template_name=ERASURE_CERTIFICATE_TEMPLATE,
        context=erasure_certificate_context(certificate=certificate),
        language=language,
        time_zone=certificate.asset.customer.time_zone,
    )
