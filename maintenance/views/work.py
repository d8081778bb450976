"""Portal pages: work done on a work order (checklist, parts, labour, notes, photos, meter reads, signature).

The work-order page shows a work-done panel: read-only lists for everyone who sees the order, and small forms
for the assigned technician and dispatching staff while the order is worked on. Each form posts to a view here
that calls one service and redirects back to its section of the page with a message. Photos, the signature and
erasure certificates are files served only through the views below, which find them through the work order's
(or the asset's) tenancy: another tenant's file is a 404.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views import View

from accounts.models import User
from fleet.dashboard import Tile
from fleet.money import money_round
from fleet.tenancy import access_for
from fleet.views import PortalMixin
from maintenance import selectors, work
from maintenance.choices import ChecklistResult
from maintenance.filters import technicians_for
from maintenance.forms import DATETIME_WIDGET
from maintenance.models import (
    ErasureCertificate,
    PartInstallation,
    WorkOrder,
    WorkOrderChecklistItem,
    WorkOrderPart,
    WorkOrderPhoto,
)
from telemetry.ingest import meters_for

PANEL_ORDER = 30
ASSET_PANEL_ORDER = 60
FILE_CACHE_CONTROL = "private, max-age=3600"
CHECK_BUTTONS = (
    (ChecklistResult.OK, _("OK")),
    (ChecklistResult.FAILED, pgettext_lazy("inspection result", "Failed")),
    (ChecklistResult.NOT_APPLICABLE, _("N/A")),
)
DECIMAL_INPUT = {"inputmode": "decimal"}


# --- Forms of the panel -------------------------------------------------------------------------------------------


class ChecklistCheckForm(forms.Form):
    item = forms.IntegerField(widget=forms.HiddenInput)
    result = forms.ChoiceField(label=_("Result"), choices=ChecklistResult.choices)
    note = forms.CharField(label=_("Note"), max_length=work.CHECK_NOTE_MAX_LENGTH, required=False)


class PartAddForm(forms.Form):
    part_type = forms.ModelChoiceField(label=_("Part"), queryset=None, required=False, empty_label=_("Other part…"))
    description = forms.CharField(
        label=_("Description"), max_length=200, required=False, help_text=_("For a part not in the catalogue.")
    )
    quantity = forms.DecimalField(
        label=_("Quantity"), max_digits=10, decimal_places=2, initial=1, widget=forms.NumberInput(DECIMAL_INPUT)
    )
    unit_cost = forms.DecimalField(
        label=_("Unit cost"),
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text=_("Empty: the catalogue's unit cost."),
        widget=forms.NumberInput(DECIMAL_INPUT),
    )
    replaces_installed = forms.BooleanField(label=_("Replaces the installed part"), required=False, initial=True)

    def __init__(self, *args, work_order: WorkOrder, sees_prices: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["part_type"].queryset = work.part_types_for(asset=work_order.asset)
        if not sees_prices:
            del self.fields["unit_cost"]


class PartRemoveForm(forms.Form):
    part = forms.IntegerField(widget=forms.HiddenInput)


class LabourAddForm(forms.Form):
    hours = forms.DecimalField(
        label=_("Hours"),
        max_digits=6,
        decimal_places=2,
        widget=forms.NumberInput({**DECIMAL_INPUT, "step": "0.25"}),
    )
    date = forms.DateField(label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    technician = forms.ModelChoiceField(label=_("Technician"), queryset=User.objects.none(), required=False)
    rate = forms.DecimalField(
        label=_("Rate per hour"),
        max_digits=10,
        decimal_places=2,
        required=False,
        help_text=_("Empty: the labour rate of the customer's settings."),
        widget=forms.NumberInput(DECIMAL_INPUT),
    )
    note = forms.CharField(label=_("Note"), max_length=work.CHECK_NOTE_MAX_LENGTH, required=False)

    def __init__(self, *args, user, sees_prices: bool, **kwargs):
        super().__init__(*args, **kwargs)
        technicians = technicians_for(user)
        self.fields["technician"].queryset = technicians
        if not sees_prices:
            del self.fields["rate"]
        if not technicians.exists():
            del self.fields["technician"]  # a technician records their own hours


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=work.NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2}))


class PhotoForm(forms.Form):
    image = forms.FileField(
        label=_("Photo"),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment"}),
        help_text=_("JPEG, PNG or WebP; at most 10 MB."),
    )
    caption = forms.CharField(label=_("Caption"), max_length=200, required=False)


class MeterReadForm(forms.Form):
    meter = forms.ChoiceField(label=_("Meter"), choices=())
    value = forms.DecimalField(
        label=_("Value"), max_digits=16, decimal_places=2, min_value=0, widget=forms.NumberInput(DECIMAL_INPUT)
    )
    taken_at = forms.DateTimeField(
        label=_("Taken at"), required=False, widget=DATETIME_WIDGET, help_text=_("Empty: now.")
    )

    def __init__(self, *args, meters: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["meter"].choices = meters


# --- Panels -------------------------------------------------------------------------------------------------------


def work_order_work_panel(*, user, obj: WorkOrder) -> list[Tile]:
    """The work done on the order, with the forms to record more for those who may (a fixed number of queries)."""
    access = access_for(user)
    if access is None:
        return []
    work_order = obj
    sees_prices = access.sees_prices
    may_edit = work.may_record_work(work_order=work_order, user=user)
    parts = list(work_order.parts.select_related("part_type", "installation").order_by("added_at", "pk"))
    labour = list(work_order.labour.select_related("technician").order_by("date", "pk"))
    photos = list(work_order.photos.order_by("uploaded_at", "pk"))
    context = {
        "work_order": work_order,
        "may_edit": may_edit,
        "sees_prices": sees_prices,
        "checklist": list(work_order.checklist.select_related("checked_by").order_by("position", "pk")),
        "check_buttons": CHECK_BUTTONS,
        "parts": [(part, _amount(part.unit_cost, part.quantity, part.currency)) for part in parts],
        "labour": [(entry, _amount(entry.rate, entry.hours, entry.currency)) for entry in labour],
        "photos": photos,
        "may_add_photo": may_edit and len(photos) < work.MAX_PHOTOS,
        "max_photos": work.MAX_PHOTOS,
        "meter_reads": list(work_order.meter_reads.select_related("reading").order_by("reading__taken_at", "pk")),
        "certificate": ErasureCertificate.objects.filter(work_order=work_order).first(),
    }
    if may_edit:
        context.update(
            {
                "part_form": PartAddForm(work_order=work_order, sees_prices=sees_prices),
                "labour_form": LabourAddForm(user=user, sees_prices=sees_prices),
                "note_form": NoteForm(),
                "photo_form": PhotoForm(),
                "meter_form": (
                    MeterReadForm(meters=meters_for(asset=work_order.asset)) if work_order.asset_id else None
                ),
            }
        )
    return [Tile("maintenance/_wo_work.html", context, order=PANEL_ORDER)]


def _amount(price, quantity, currency: str):
    """A line's amount (quantity or hours times the price), rounded to the currency; None without a price."""
    return None if price is None else money_round(price * quantity, currency)


def asset_work_panel(*, user, obj) -> list[Tile]:
    """The asset page's part installations (the latest of each part type) and erasure certificates: two queries."""
    if access_for(user) is None:
        return []
    latest = (
        PartInstallation.objects.filter(asset_id=OuterRef("asset_id"), part_type_id=OuterRef("part_type_id"))
        .order_by("-installed_at", "-pk")
        .values("pk")[:1]
    )
    installations = list(
        PartInstallation.objects.visible_to(user)
        .filter(asset_id=obj.pk, pk=Subquery(latest))
        .select_related("part_type", "work_order")
        .order_by("part_type__name", "pk")
    )
    certificates = list(
        ErasureCertificate.objects.visible_to(user).filter(asset_id=obj.pk).order_by("-performed_at", "-pk")
    )
    if not installations and not certificates:
        return []
    context = {"asset": obj, "installations": installations, "certificates": certificates}
    return [Tile("maintenance/work/_asset_work.html", context, order=ASSET_PANEL_ORDER)]


# --- Writes -------------------------------------------------------------------------------------------------------


class WorkActionView(PortalMixin, View):
    """A POST from the work-done panel: one service call, a message, and back to the panel's section."""

    anchor = "work"
    success_message = ""

    def get_work_order(self, pk: int) -> WorkOrder:
        return get_object_or_404(
            selectors.work_order_list(user=self.request.user).select_related("asset__asset_model"), pk=pk
        )

    def get_form(self, work_order: WorkOrder) -> forms.Form:
        raise NotImplementedError

    def perform(self, work_order: WorkOrder, data: dict) -> None:
        raise NotImplementedError

    def post(self, request, pk: int):
        work_order = self.get_work_order(pk)
        form = self.get_form(work_order)
        if form.is_valid():
            try:
                self.perform(work_order, form.cleaned_data)
            except ValidationError as error:
                for message in error.messages:
                    messages.error(request, message)
            else:
                messages.success(request, self.success_message)
        else:
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else ""
                for message in errors:
                    messages.error(request, f"{label}: {message}" if label else message)
        return redirect(reverse("maintenance:work_order_detail", args=[work_order.pk]) + f"#{self.anchor}")


class ChecklistCheckView(WorkActionView):
    anchor = "work-checklist"
    success_message = _("The checklist item was recorded.")

    def get_form(self, work_order):
        return ChecklistCheckForm(self.request.POST)

    def perform(self, work_order, data):
        item = get_object_or_404(WorkOrderChecklistItem, work_order=work_order, pk=data["item"])
        item.work_order = work_order
        work.checklist_item_check(item=item, result=data["result"], note=data["note"], by=self.request.user)


class PartAddView(WorkActionView):
    anchor = "work-parts"
    success_message = _("The part was added.")

    def get_form(self, work_order):
        return PartAddForm(self.request.POST, work_order=work_order, sees_prices=self.access.sees_prices)

    def perform(self, work_order, data):
        work.work_order_part_add(work_order=work_order, by=self.request.user, **data)


class PartRemoveView(WorkActionView):
    anchor = "work-parts"
    success_message = _("The part was removed.")

    def get_form(self, work_order):
        return PartRemoveForm(self.request.POST)

    def perform(self, work_order, data):
        part = get_object_or_404(WorkOrderPart, work_order=work_order, pk=data["part"])
        part.work_order = work_order
        work.work_order_part_remove(part=part, by=self.request.user)


class LabourAddView(WorkActionView):
    anchor = "work-labour"
    success_message = _("The labour was recorded.")

    def get_form(self, work_order):
        return LabourAddForm(self.request.POST, user=self.request.user, sees_prices=self.access.sees_prices)

    def perform(self, work_order, data):
        work.work_order_labour_add(work_order=work_order, by=self.request.user, **data)


class NoteAddView(WorkActionView):
    anchor = "work-notes"
    success_message = _("The note was added.")

    def get_form(self, work_order):
        return NoteForm(self.request.POST)

    def perform(self, work_order, data):
        work.work_order_note_add(work_order=work_order, by=self.request.user, note=data["note"])


class PhotoAddView(WorkActionView):
    anchor = "work-photos"
    success_message = _("The photo was added.")

    def get_form(self, work_order):
        return PhotoForm(self.request.POST, self.request.FILES)

    def perform(self, work_order, data):
        work.work_order_photo_add(
            work_order=work_order, by=self.request.user, image=data["image"], caption=data["caption"]
        )


class MeterReadAddView(WorkActionView):
    anchor = "work-meters"
    success_message = _("The meter read was recorded.")

    def get_form(self, work_order):
        meters = meters_for(asset=work_order.asset) if work_order.asset_id else []
        return MeterReadForm(self.request.POST, meters=meters)

    def perform(self, work_order, data):
        work.work_order_meter_read_add(
            work_order=work_order,
            by=self.request.user,
            meter=data["meter"],
            value=data["value"],
            taken_at=data["taken_at"],
        )


# --- Files --------------------------------------------------------------------------------------------------------


def scoped_file_response(field_file, *, content_type: str, filename: str) -> FileResponse:
    """A stored upload, shown inline with its checked content type and never sniffed as anything else."""
    try:
        handle = field_file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404 from None
    response = FileResponse(handle, content_type=content_type, filename=filename)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = FILE_CACHE_CONTROL
    return response


def photo_for(*, user, pk: int) -> WorkOrderPhoto:
    """A photo of a work order the user may see, or 404."""
    visible = selectors.work_order_list(user=user).values("pk")
    return get_object_or_404(WorkOrderPhoto.objects.filter(work_order__in=visible), pk=pk)


def photo_response(photo: WorkOrderPhoto) -> FileResponse:
    extension = photo.image.name.rsplit(".", 1)[-1] if "." in photo.image.name else "img"
    return scoped_file_response(photo.image, content_type=photo.content_type, filename=f"photo-{photo.pk}.{extension}")


def signature_response(work_order: WorkOrder) -> FileResponse:
    if not work_order.signature:
        raise Http404
    return scoped_file_response(
        work_order.signature, content_type="image/png", filename=f"signature-{work_order.number}.png"
    )


def erasure_certificate_pdf_response(certificate: ErasureCertificate) -> HttpResponse:
    pdf = work.erasure_certificate_pdf_render(certificate=certificate, language=translation.get_language())
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{certificate.number}.pdf"'
    return response


def erasure_certificates_for(*, user):
    """The erasure certificates the user may see, with what the PDF prints."""
    return ErasureCertificate.objects.visible_to(user).select_related(
        "asset__customer__provider",
        "asset__site",
        "asset__asset_model",
        "asset__manufacturer",
        "technician",
        "work_order",
    )


class WorkOrderPhotoView(PortalMixin, View):
    def get(self, request, pk: int):
        return photo_response(photo_for(user=request.user, pk=pk))


class WorkOrderSignatureView(PortalMixin, View):
    def get(self, request, pk: int):
        return signature_response(get_object_or_404(selectors.work_order_list(user=request.user), pk=pk))


class ErasureCertificatePdfView(PortalMixin, View):
    def get(self, request, pk: int):
        certificate = get_object_or_404(erasure_certificates_for(user=request.user), pk=pk)
        return erasure_certificate_pdf_response(certificate)


urlpatterns = [
    path("work-orders/<int:pk>/work/checklist/", ChecklistCheckView.as_view(), name="work_order_checklist_check"),
    path("work-orders/<int:pk>/work/parts/", PartAddView.as_view(), name="work_order_part_add"),
    path("work-orders/<int:pk>/work/parts/remove/", PartRemoveView.as_view(), name="work_order_part_remove"),
    path("work-orders/<int:pk>/work/labour/", LabourAddView.as_view(), name="work_order_labour_add"),
    path("work-orders/<int:pk>/work/notes/", NoteAddView.as_view(), name="work_order_note_add"),
    path("work-orders/<int:pk>/work/photos/", PhotoAddView.as_view(), name="work_order_photo_add"),
    path("work-orders/<int:pk>/work/meter-reads/", MeterReadAddView.as_view(), name="work_order_meter_read_add"),
    path("work-orders/<int:pk>/signature/", WorkOrderSignatureView.as_view(), name="work_order_signature"),
    path("work-order-photos/<int:pk>/", WorkOrderPhotoView.as_view(), name="work_order_photo"),
    path("erasure-certificates/<int:pk>/pdf/", ErasureCertificatePdfView.as_view(), name="erasure_certificate_pdf"),
]
