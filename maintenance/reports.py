"""The completion report of a work order: its PDF and the e-mail to the customer's admins.

A report exists once a work order is completed (or closed). It is rendered by ``fleet.pdf.render_pdf`` in the
customer's language and time zone, lists the work done, checklist, parts (quantities, never prices: the report
goes to the customer, prices belong on invoices), labour hours, meter readings taken on site, downtime and the
customer's signature (embedded as a ``data:`` URI, as the PDF fetcher serves static files only).

``send_completion_report_task`` e-mails it to the customer's active admins, each in their language, once:
``WorkOrder.completion_report_sent_at`` is read under a row lock and set only after the mail went out, so a
retried or duplicated task sends nothing the second time.
"""

import base64
import datetime
import logging
import mimetypes
from decimal import Decimal
from typing import TypedDict
from zoneinfo import ZoneInfo

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.choices import Role
from accounts.models import Membership, User
from fleet.pdf import render_pdf
from maintenance.choices import ChecklistResult, WorkOrderStatus
from maintenance.models import (
    WorkOrder,
    WorkOrderChecklistItem,
    WorkOrderLabour,
    WorkOrderMeterRead,
    WorkOrderPart,
)
from telemetry.choices import Meter

logger = logging.getLogger(__name__)

REPORT_TEMPLATE = "pdf/work_order_report.html"
EMAIL_SUBJECT_TEMPLATE = "maintenance/email/completion_report_subject.txt"
EMAIL_BODY_TEMPLATE = "maintenance/email/completion_report.txt"
# The states in which a work order has a completion report.
REPORTABLE_STATES = (WorkOrderStatus.COMPLETED, WorkOrderStatus.CLOSED)
# A signature larger than this is not embedded (a pad's PNG is a few kilobytes).
SIGNATURE_MAX_BYTES = 2 * 1024 * 1024


class ReportChecklistItem(TypedDict):
    text: str
    critical: bool
    result: str
    result_code: str
    note: str


class ReportPart(TypedDict):
    name: str
    code: str
    quantity: Decimal


class ReportLabour(TypedDict):
    technician: str
    date: datetime.date
    hours: Decimal
    note: str


class ReportReading(TypedDict):
    meter: str
    value: Decimal
    taken_at: datetime.datetime


class CompletionReportContext(TypedDict):
    """Everything the completion report template reads."""

    provider_name: str
    provider_address_lines: list[str]
    customer_name: str
    customer_address_lines: list[str]
    site_name: str
    site_address_lines: list[str]
    asset: str
    asset_serial_number: str
    asset_tag: str
    number: str
    kind: str
    priority: str
    status: str
    description: str
    created_at: datetime.datetime
    responded_at: datetime.datetime | None
    completed_at: datetime.datetime | None
    closed_at: datetime.datetime | None
    technician: str
    completion_notes: str
    checklist: list[ReportChecklistItem]
    parts: list[ReportPart]
    labour: list[ReportLabour]
    labour_hours: Decimal
    readings: list[ReportReading]
    down_from: datetime.datetime | None
    down_until: datetime.datetime | None
    downtime_hours: Decimal | None
    signature_data_uri: str
    signed_by_name: str
    signed_at: datetime.datetime | None
    generated_at: datetime.datetime


# --- Reads --------------------------------------------------------------------------------------------------------


def work_order_report_queryset(queryset: QuerySet[WorkOrder] | None = None) -> QuerySet[WorkOrder]:
    """Work orders with everything their report reads, in a fixed number of queries."""
    queryset = WorkOrder.objects.all() if queryset is None else queryset
    return queryset.select_related(
        "provider", "customer", "site", "asset__asset_model__manufacturer", "assigned_to"
    ).prefetch_related(
        Prefetch("checklist", queryset=WorkOrderChecklistItem.objects.order_by("position", "id")),
        Prefetch("parts", queryset=WorkOrderPart.objects.select_related("part_type").order_by("added_at", "id")),
        Prefetch("labour", queryset=WorkOrderLabour.objects.select_related("technician").order_by("date", "id")),
        Prefetch("meter_reads", queryset=WorkOrderMeterRead.objects.select_related("reading").order_by("id")),
    )


def work_order_reportable(queryset: QuerySet[WorkOrder]) -> QuerySet[WorkOrder]:
    """The work orders of ``queryset`` that have a completion report (completed or closed)."""
    return work_order_report_queryset(queryset.filter(status__in=REPORTABLE_STATES))


# --- Rendering ----------------------------------------------------------------------------------------------------


def signature_data_uri(work_order: WorkOrder) -> str:
    """The stored signature as a ``data:`` URI, or "" when there is none (or it cannot be read)."""
    if not work_order.signature:
        return ""
    try:
        with work_order.signature.open("rb") as handle:
            content = handle.read(SIGNATURE_MAX_BYTES + 1)
    except OSError:
        logger.warning("Signature of work order %s could not be read", work_order.pk)
        return ""
    if not content or len(content) > SIGNATURE_MAX_BYTES:
        return ""
    content_type = mimetypes.guess_type(work_order.signature.name)[0] or "image/png"
    if not content_type.startswith("image/"):
        return ""
    return f"data:{content_type};base64,{base64.b64encode(content).decode('ascii')}"


def _downtime_hours(work_order: WorkOrder) -> Decimal | None:
    if work_order.down_from is None or work_order.down_until is None:
        return None
    seconds = Decimal((work_order.down_until - work_order.down_from).total_seconds())
    return (seconds / Decimal(3600)).quantize(Decimal("0.1"))


def _person(user: User | None) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.email


def completion_report_context(*, work_order: WorkOrder) -> CompletionReportContext:
    """The report's context, with labels in the active language (call inside its override).

    ``work_order`` should come from ``work_order_report_queryset`` (otherwise each section is one query)."""
    asset = work_order.asset
    checklist = [
        ReportChecklistItem(
            text=item.text,
            critical=item.critical,
            result=str(ChecklistResult(item.result).label),
            result_code=item.result,
            note=item.note,
        )
        for item in work_order.checklist.all()
    ]
    parts = [
        ReportPart(
            name=part.description or (part.part_type.name if part.part_type else ""),
            code=part.part_type.code if part.part_type else "",
            quantity=part.quantity,
        )
        for part in work_order.parts.all()
    ]
    labour = [
        ReportLabour(technician=_person(entry.technician), date=entry.date, hours=entry.hours, note=entry.note)
        for entry in work_order.labour.all()
    ]
    meter_labels = dict(Meter.choices)
    readings = [
        ReportReading(
            meter=str(meter_labels.get(read.reading.meter, read.reading.meter)),
            value=read.reading.value,
            taken_at=read.reading.taken_at,
        )
        for read in work_order.meter_reads.all()
    ]
    return CompletionReportContext(
        provider_name=work_order.provider.name,
        provider_address_lines=work_order.provider.address_lines,
        customer_name=work_order.customer.name,
        customer_address_lines=work_order.customer.address_lines,
        site_name=work_order.site.name,
        site_address_lines=work_order.site.address_lines,
        asset=f"{asset.asset_model.manufacturer.name} {asset.asset_model.name}" if asset else "",
        asset_serial_number=asset.serial_number if asset else "",
        asset_tag=asset.asset_tag if asset else "",
        number=work_order.number,
        kind=str(work_order.get_kind_display()),
        priority=str(work_order.get_priority_display()),
        status=str(work_order.get_status_display()),
        description=work_order.description,
        created_at=work_order.created_at,
        responded_at=work_order.responded_at,
        completed_at=work_order.completed_at,
        closed_at=work_order.closed_at,
        technician=_person(work_order.assigned_to),
        completion_notes=work_order.completion_notes,
        checklist=checklist,
        parts=parts,
        labour=labour,
        labour_hours=sum((entry["hours"] for entry in labour), Decimal("0")),
        readings=readings,
        down_from=work_order.down_from,
        down_until=work_order.down_until,
        downtime_hours=_downtime_hours(work_order),
        signature_data_uri=signature_data_uri(work_order),
        signed_by_name=work_order.signed_by_name,
        signed_at=work_order.signed_at,
        generated_at=timezone.now(),
    )


def completion_report_language(work_order: WorkOrder) -> str:
    """The language of the customer (the organisation's language field)."""
    return work_order.customer.language or settings.LANGUAGE_CODE


def completion_report_pdf_render(*, work_order: WorkOrder, language: str | None = None) -> bytes:
    """The one-page completion report of a completed or closed work order as PDF bytes.

    In ``language`` (default: the customer's) and the site's time zone."""
    language = language or completion_report_language(work_order)
    with translation.override(language):
        context = completion_report_context(work_order=work_order)
    return render_pdf(
        template_name=REPORT_TEMPLATE,
        context=context,
        language=language,
        time_zone=work_order.site.time_zone or work_order.customer.time_zone,
    )


def completion_report_filename(work_order: WorkOrder) -> str:
    return f"work-order-report-{work_order.number}.pdf"


# --- E-mail -------------------------------------------------------------------------------------------------------


def completion_report_recipients(work_order: WorkOrder) -> list[Membership]:
    """The customer's active admins with an e-mail address."""
    return list(
        Membership.objects.filter(
            organisation_id=work_order.customer_id,
            role=Role.CUSTOMER_ADMIN,
            user__is_active=True,
            organisation__is_active=True,
        )
        .exclude(user__email="")
        .select_related("user", "organisation")
        .order_by("user__email")
    )


def _completion_report_message(
    *, work_order: WorkOrder, membership: Membership, pdfs: dict[str, bytes]
) -> EmailMessage:
    """One e-mail with the report attached, in the recipient's language and the site's time zone."""
    user, organisation = membership.user, membership.organisation
    language = user.language or organisation.language or settings.LANGUAGE_CODE
    if language not in pdfs:
        pdfs[language] = completion_report_pdf_render(work_order=work_order, language=language)
    zone = ZoneInfo(work_order.site.time_zone or organisation.time_zone)
    with translation.override(language), timezone.override(zone):
        context = {
            "number": work_order.number,
            "kind": work_order.get_kind_display(),
            "customer": organisation.name,
            "provider": work_order.provider.name,
            "site": work_order.site.name,
            "asset": (
                f"{work_order.asset.asset_model.name} {work_order.asset.serial_number}" if work_order.asset else ""
            ),
            "completed_at": work_order.completed_at,
            "technician": _person(work_order.assigned_to),
            "notes": work_order.completion_notes,
            "recipient": _person(user),
        }
        subject = " ".join(render_to_string(EMAIL_SUBJECT_TEMPLATE, context).split())
        body = render_to_string(EMAIL_BODY_TEMPLATE, context)
    message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])
    message.attach(completion_report_filename(work_order), pdfs[language], "application/pdf")
    return message


def completion_report_send(*, work_order_id: int) -> int:
    """E-mail the completion report to the customer's admins once; returns the e-mails sent.

    The work order is locked while the report is sent; ``completion_report_sent_at`` is set only after the
    mail went out, so a failure sends again next time and a second call sends nothing. A work order that is
    not (or no longer) completed or closed, or that was already reported, is left alone."""
    with transaction.atomic():
        locked = (
            WorkOrder.objects.select_for_update(of=("self",))
            .filter(pk=work_order_id, status__in=REPORTABLE_STATES, completion_report_sent_at__isnull=True)
            .values_list("pk", flat=True)
            .first()
        )
        if locked is None:
            return 0
        work_order = work_order_report_queryset().get(pk=locked)
        pdfs: dict[str, bytes] = {}
        messages = [
            _completion_report_message(work_order=work_order, membership=membership, pdfs=pdfs)
            for membership in completion_report_recipients(work_order)
        ]
        if messages:
            mailers.default.send_messages(messages)
        WorkOrder.objects.filter(pk=locked).update(completion_report_sent_at=timezone.now())
    return len(messages)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=120, time_limit=150)
def send_completion_report_task(work_order_id: int) -> None:
    """E-mail a completed work order's report to the customer's admins. Idempotent: sends at most once."""
    completion_report_send(work_order_id=work_order_id)
