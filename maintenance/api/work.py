"""API: work done on a work order: checklist, parts, labour, notes, photos, meter reads, signature, certificates.

The work-order endpoints live under ``/api/v1/work-orders/{id}/``: the order is found through the caller's
tenancy first (another tenant's, or another technician's, answers 404), then a write needs the capability to
update assigned work (403 without it), and the service decides the rest (400 with field messages). Prices (part
costs, labour rates, amounts) are left out for roles that see no prices. Part installations and erasure
certificates are collections of their own, scoped through the asset.
"""

from decimal import Decimal

import django_filters
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.routers import SimpleRouter

from accounts.models import User
from accounts.roles import Capability
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from assets.models import Asset, PartType
from fleet.api.views import TenantViewSetMixin
from fleet.money import money_round
from fleet.tenancy import access_for, visible
from maintenance import selectors, work
from maintenance.api.serializers import WorkOrderEventSerializer
from maintenance.choices import ChecklistResult
from maintenance.filters import technicians_for
from maintenance.models import (
    ErasureCertificate,
    PartInstallation,
    WorkOrder,
    WorkOrderChecklistItem,
    WorkOrderLabour,
    WorkOrderMeterRead,
    WorkOrderPart,
    WorkOrderPhoto,
)
from maintenance.views.work import erasure_certificate_pdf_response, photo_response
from telemetry.choices import Meter

PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
# A line amount in the schema: a decimal string, or null without a price.
AMOUNT_FIELD = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)


# --- Serializers --------------------------------------------------------------------------------------------------


class PriceHidingSerializer(serializers.ModelSerializer):
    """Leaves ``role_dependent_fields`` (prices) out for roles that see no prices (DESIGN.md §3)."""

    role_dependent_fields: tuple[str, ...] = ()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        access = self.context.get("access")
        if access is None or not access.sees_prices:
            for name in self.role_dependent_fields:
                data.pop(name, None)
        return data


class ChecklistItemSerializer(serializers.ModelSerializer):
    checked_by_name = serializers.StringRelatedField(source="checked_by", allow_null=True)

    class Meta:
        model = WorkOrderChecklistItem
        fields = ["id", "position", "text", "critical", "result", "note", "checked_by", "checked_by_name", "checked_at"]
        read_only_fields = fields


class ChecklistCheckSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=ChecklistResult.choices)
    note = serializers.CharField(max_length=work.CHECK_NOTE_MAX_LENGTH, required=False, allow_blank=True, default="")


class WorkOrderPartSerializer(PriceHidingSerializer):
    role_dependent_fields = ("unit_cost", "amount")
    part_type_name = serializers.CharField(source="part_type.name", read_only=True, allow_null=True, default=None)
    part_type_code = serializers.CharField(source="part_type.code", read_only=True, allow_null=True, default=None)
    amount = serializers.SerializerMethodField()
    installed_at = serializers.DateTimeField(
        source="installation.installed_at", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = WorkOrderPart
        fields = [
            "id",
            "part_type",
            "part_type_name",
            "part_type_code",
            "description",
            "quantity",
            "unit_cost",
            "currency",
            "amount",
            "replaces_installed",
            "installed_at",
            "added_by",
            "added_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AMOUNT_FIELD)
    def get_amount(self, part) -> str | None:
        if part.unit_cost is None:
            return None
        return str(money_round(part.unit_cost * part.quantity, part.currency))


class PartAddSerializer(serializers.Serializer):
    part_type = serializers.PrimaryKeyRelatedField(queryset=PartType.objects.all(), required=False, allow_null=True)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    quantity = serializers.DecimalField(max_digits=10, decimal_places=2, required=False, default=Decimal(1))
    unit_cost = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        help_text="Only roles that see prices set it; empty: the part type's unit cost.",
    )
    replaces_installed = serializers.BooleanField(required=False, default=True)


class WorkOrderLabourSerializer(PriceHidingSerializer):
    role_dependent_fields = ("rate", "amount")
    technician_name = serializers.StringRelatedField(source="technician")
    amount = serializers.SerializerMethodField()

    class Meta:
        model = WorkOrderLabour
        fields = ["id", "technician", "technician_name", "date", "hours", "rate", "currency", "amount", "note"]
        read_only_fields = fields

    @extend_schema_field(AMOUNT_FIELD)
    def get_amount(self, entry) -> str | None:
        if entry.rate is None:
            return None
        return str(money_round(entry.rate * entry.hours, entry.currency))


def _labour_technicians(user):
    """Dispatchers name any technician of their provider; anybody else only themselves."""
    if user is None:
        return User.objects.none()
    return technicians_for(user) | User.objects.filter(pk=user.pk)


class LabourAddSerializer(serializers.Serializer):
    hours = serializers.DecimalField(max_digits=6, decimal_places=2)
    date = serializers.DateField(required=False, allow_null=True, default=None)
    technician = ScopedPrimaryKeyRelatedField(
        scoped_queryset=_labour_technicians, required=False, allow_null=True, default=None
    )
    rate = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        help_text="Only roles that see prices set it; empty: the customer's labour rate.",
    )
    note = serializers.CharField(max_length=work.CHECK_NOTE_MAX_LENGTH, required=False, allow_blank=True, default="")


class NoteAddSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=work.NOTE_MAX_LENGTH)


class WorkOrderPhotoSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = WorkOrderPhoto
        fields = ["id", "url", "content_type", "size", "caption", "uploaded_by", "uploaded_at"]
        read_only_fields = fields

    def get_url(self, photo) -> str:
        return reverse(
            "work-order-photo-file",
            kwargs={"id": photo.work_order_id, "photo_id": photo.pk},
            request=self.context.get("request"),
        )


class PhotoAddSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="A JPEG, PNG or WebP image of at most 10 MB and 40 megapixels.")
    caption = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class WorkOrderMeterReadSerializer(serializers.ModelSerializer):
    meter = serializers.CharField(source="reading.meter", read_only=True)
    value = serializers.DecimalField(source="reading.value", max_digits=16, decimal_places=2, read_only=True)
    taken_at = serializers.DateTimeField(source="reading.taken_at", read_only=True)
    source = serializers.CharField(source="reading.source", read_only=True)

    class Meta:
        model = WorkOrderMeterRead
        fields = ["id", "reading", "meter", "value", "taken_at", "source"]
        read_only_fields = fields


class MeterReadAddSerializer(serializers.Serializer):
    meter = serializers.ChoiceField(choices=Meter.choices)
    value = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=0)
    taken_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class PartInstallationSerializer(serializers.ModelSerializer):
    asset_serial_number = serializers.CharField(source="asset.serial_number", read_only=True)
    part_type_name = serializers.CharField(source="part_type.name", read_only=True)
    work_order_number = serializers.CharField(source="work_order.number", read_only=True, allow_null=True, default=None)

    class Meta:
        model = PartInstallation
        fields = [
            "id",
            "asset",
            "asset_serial_number",
            "part_type",
            "part_type_name",
            "installed_at",
            "meter",
            "meter_value",
            "quantity",
            "work_order",
            "work_order_number",
        ]
        read_only_fields = fields


class ErasureCertificateSerializer(serializers.ModelSerializer):
    asset_serial_number = serializers.CharField(source="asset.serial_number", read_only=True)
    work_order_number = serializers.CharField(source="work_order.number", read_only=True, allow_null=True, default=None)
    technician_name = serializers.StringRelatedField(source="technician")

    class Meta:
        model = ErasureCertificate
        fields = [
            "id",
            "number",
            "asset",
            "asset_serial_number",
            "work_order",
            "work_order_number",
            "method",
            "storage_description",
            "performed_at",
            "technician",
            "technician_name",
            "notes",
        ]
        read_only_fields = fields


# --- Work-order endpoints -----------------------------------------------------------------------------------------


class HasAccess(BasePermission):
    """A signed-in user with a membership; what they may do with an order is decided after finding it."""

    def has_permission(self, request, view) -> bool:
        return access_for(request.user) is not None


class FirstRendererNegotiation(BaseContentNegotiation):
    """File endpoints answer their file, or a JSON error, whatever the client's Accept header asks for."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _pk(value) -> int:
    """A path id, or a 404 for anything that is not a positive whole number."""
    text = str(value)
    if not text.isdigit() or len(text) > 18 or int(text) == 0:
        raise NotFound
    return int(text)


WORK_ORDER_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The work order's id.")


def _child_id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.INT, OpenApiParameter.PATH, description=f"The {what}'s id.")


class WorkOrderWorkView(GenericAPIView):
    """The base of the work-order endpoints: the order through the caller's tenancy, then the write capability."""

    permission_classes = [HasAccess]
    pagination_class = None
    filter_backends: list = []
    queryset = WorkOrder.objects.none()
    write_capability = Capability.UPDATE_ASSIGNED_WORK

    def get_work_order(self) -> WorkOrder:
        pk = _pk(self.kwargs["id"])
        work_order = (
            selectors.work_order_list(user=self.request.user).select_related("asset__asset_model").filter(pk=pk).first()
        )
        if work_order is None:
            raise NotFound
        if self.request.method not in SAFE_METHODS and not access_for(self.request.user).can(self.write_capability):
            raise PermissionDenied
        return work_order

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["access"] = access_for(self.request.user)
        return context

    def read(self, serializer_class, instance, code: int = status.HTTP_200_OK, many: bool = False) -> Response:
        return Response(serializer_class(instance, many=many, context=self.get_serializer_context()).data, status=code)

    def valid_input(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class ChecklistView(WorkOrderWorkView):
    serializer_class = ChecklistItemSerializer

    @extend_schema(parameters=[WORK_ORDER_ID], responses={200: ChecklistItemSerializer(many=True)})
    def get(self, request, id):
        work_order = self.get_work_order()
        items = work_order.checklist.select_related("checked_by").order_by("position", "pk")
        return self.read(ChecklistItemSerializer, items, many=True)


class ChecklistItemView(WorkOrderWorkView):
    serializer_class = ChecklistItemSerializer

    @extend_schema(
        parameters=[WORK_ORDER_ID, _child_id("item_id", "checklist item")],
        request=ChecklistCheckSerializer,
        responses={200: ChecklistItemSerializer},
    )
    def patch(self, request, id, item_id):
        work_order = self.get_work_order()
        item = work_order.checklist.filter(pk=_pk(item_id)).first()
        if item is None:
            raise NotFound
        item.work_order = work_order
        data = self.valid_input(ChecklistCheckSerializer)
        work.checklist_item_check(item=item, by=request.user, **data)
        return self.read(ChecklistItemSerializer, item)


def _parts(work_order: WorkOrder):
    return work_order.parts.select_related("part_type", "installation").order_by("added_at", "pk")


class PartsView(WorkOrderWorkView):
    serializer_class = WorkOrderPartSerializer

    @extend_schema(parameters=[WORK_ORDER_ID], responses={200: WorkOrderPartSerializer(many=True)})
    def get(self, request, id):
        return self.read(WorkOrderPartSerializer, _parts(self.get_work_order()), many=True)

    @extend_schema(parameters=[WORK_ORDER_ID], request=PartAddSerializer, responses={201: WorkOrderPartSerializer})
    def post(self, request, id):
        work_order = self.get_work_order()
        part = work.work_order_part_add(work_order=work_order, by=request.user, **self.valid_input(PartAddSerializer))
        return self.read(WorkOrderPartSerializer, _parts(work_order).get(pk=part.pk), status.HTTP_201_CREATED)


class PartView(WorkOrderWorkView):
    serializer_class = WorkOrderPartSerializer

    @extend_schema(parameters=[WORK_ORDER_ID, _child_id("part_id", "part")], responses={204: None})
    def delete(self, request, id, part_id):
        work_order = self.get_work_order()
        part = work_order.parts.filter(pk=_pk(part_id)).first()
        if part is None:
            raise NotFound
        part.work_order = work_order
        work.work_order_part_remove(part=part, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabourView(WorkOrderWorkView):
    serializer_class = WorkOrderLabourSerializer

    @extend_schema(parameters=[WORK_ORDER_ID], responses={200: WorkOrderLabourSerializer(many=True)})
    def get(self, request, id):
        entries = self.get_work_order().labour.select_related("technician").order_by("date", "pk")
        return self.read(WorkOrderLabourSerializer, entries, many=True)

    @extend_schema(parameters=[WORK_ORDER_ID], request=LabourAddSerializer, responses={201: WorkOrderLabourSerializer})
    def post(self, request, id):
        work_order = self.get_work_order()
        entry = work.work_order_labour_add(
            work_order=work_order, by=request.user, **self.valid_input(LabourAddSerializer)
        )
        return self.read(WorkOrderLabourSerializer, entry, status.HTTP_201_CREATED)


class NotesView(WorkOrderWorkView):
    serializer_class = WorkOrderEventSerializer

    @extend_schema(parameters=[WORK_ORDER_ID], request=NoteAddSerializer, responses={201: WorkOrderEventSerializer})
    def post(self, request, id):
        work_order = self.get_work_order()
        event = work.work_order_note_add(work_order=work_order, by=request.user, **self.valid_input(NoteAddSerializer))
        return self.read(WorkOrderEventSerializer, event, status.HTTP_201_CREATED)


class PhotosView(WorkOrderWorkView):
    serializer_class = WorkOrderPhotoSerializer
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(parameters=[WORK_ORDER_ID], responses={200: WorkOrderPhotoSerializer(many=True)})
    def get(self, request, id):
        photos = self.get_work_order().photos.order_by("uploaded_at", "pk")
        return self.read(WorkOrderPhotoSerializer, photos, many=True)

    @extend_schema(
        parameters=[WORK_ORDER_ID],
        request={"multipart/form-data": PhotoAddSerializer},
        responses={201: WorkOrderPhotoSerializer},
    )
    def post(self, request, id):
        work_order = self.get_work_order()
        data = self.valid_input(PhotoAddSerializer)
        photo = work.work_order_photo_add(
            work_order=work_order, by=request.user, image=data["image"], caption=data["caption"]
        )
        return self.read(WorkOrderPhotoSerializer, photo, status.HTTP_201_CREATED)


class PhotoFileView(WorkOrderWorkView):
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        parameters=[WORK_ORDER_ID, _child_id("photo_id", "photo")],
        responses={(200, content_type): OpenApiTypes.BINARY for content_type in PHOTO_TYPES},
    )
    def get(self, request, id, photo_id) -> HttpResponse:
        """The photo itself (inline, with its checked content type)."""
        work_order = self.get_work_order()
        photo = work_order.photos.filter(pk=_pk(photo_id)).first()
        if photo is None:
            raise NotFound
        return photo_response(photo)


class MeterReadsView(WorkOrderWorkView):
    serializer_class = WorkOrderMeterReadSerializer

    @extend_schema(parameters=[WORK_ORDER_ID], responses={200: WorkOrderMeterReadSerializer(many=True)})
    def get(self, request, id):
        links = self.get_work_order().meter_reads.select_related("reading").order_by("reading__taken_at", "pk")
        return self.read(WorkOrderMeterReadSerializer, links, many=True)

    @extend_schema(
        parameters=[WORK_ORDER_ID], request=MeterReadAddSerializer, responses={201: WorkOrderMeterReadSerializer}
    )
    def post(self, request, id):
        work_order = self.get_work_order()
        link = work.work_order_meter_read_add(
            work_order=work_order, by=request.user, **self.valid_input(MeterReadAddSerializer)
        )
        return self.read(WorkOrderMeterReadSerializer, link, status.HTTP_201_CREATED)


# --- Part installations and erasure certificates -------------------------------------------------------------------

_visible_assets = visible(Asset.objects.all())


def part_installation_list(*, user):
    """The part installations on assets the user may see."""
    return PartInstallation.objects.visible_to(user).select_related("asset", "part_type", "work_order")


def erasure_certificate_list(*, user):
    """The erasure certificates of assets the user may see, with what the PDF prints."""
    return ErasureCertificate.objects.visible_to(user).select_related(
        "asset__customer__provider",
        "asset__site",
        "asset__asset_model",
        "asset__manufacturer",
        "technician",
        "work_order",
    )


class PartInstallationFilterSet(django_filters.FilterSet):
    asset = django_filters.ModelChoiceFilter(queryset=_visible_assets)
    part_type = django_filters.ModelChoiceFilter(queryset=PartType.objects.all())

    class Meta:
        model = PartInstallation
        fields = ["asset", "part_type"]


class ErasureCertificateFilterSet(django_filters.FilterSet):
    asset = django_filters.ModelChoiceFilter(queryset=_visible_assets)

    class Meta:
        model = ErasureCertificate
        fields = ["asset"]


class PartInstallationViewSet(TenantViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Parts put into assets (by completed work orders): where each part's life starts counting."""

    queryset = PartInstallation.objects.none()
    selector = staticmethod(part_installation_list)
    serializer_class = PartInstallationSerializer
    filterset_class = PartInstallationFilterSet
    ordering_fields = ["installed_at"]
    ordering = ["-installed_at", "-id"]


class ErasureCertificateViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Storage-erasure certificates of removed MFPs and printers, and each one as a PDF."""

    queryset = ErasureCertificate.objects.none()
    selector = staticmethod(erasure_certificate_list)
    serializer_class = ErasureCertificateSerializer
    filterset_class = ErasureCertificateFilterSet
    ordering_fields = ["performed_at", "number"]
    ordering = ["-performed_at", "-id"]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], filter_backends=[], content_negotiation_class=FirstRendererNegotiation)
    def pdf(self, request, pk=None) -> HttpResponse:
        """The certificate as a PDF, in the language of the request."""
        return erasure_certificate_pdf_response(self.get_object())


router = SimpleRouter()
router.register("part-installations", PartInstallationViewSet, basename="partinstallation")
router.register("erasure-certificates", ErasureCertificateViewSet, basename="erasurecertificate")

WORK_ORDER = "work-orders/<str:id>/"
urlpatterns = [
    path(f"{WORK_ORDER}checklist/", ChecklistView.as_view(), name="work-order-checklist"),
    path(f"{WORK_ORDER}checklist/<str:item_id>/", ChecklistItemView.as_view(), name="work-order-checklist-item"),
    path(f"{WORK_ORDER}parts/", PartsView.as_view(), name="work-order-parts"),
    path(f"{WORK_ORDER}parts/<str:part_id>/", PartView.as_view(), name="work-order-part"),
    path(f"{WORK_ORDER}labour/", LabourView.as_view(), name="work-order-labour"),
    path(f"{WORK_ORDER}notes/", NotesView.as_view(), name="work-order-notes"),
    path(f"{WORK_ORDER}photos/", PhotosView.as_view(), name="work-order-photos"),
    path(f"{WORK_ORDER}photos/<str:photo_id>/", PhotoFileView.as_view(), name="work-order-photo-file"),
    path(f"{WORK_ORDER}meter-reads/", MeterReadsView.as_view(), name="work-order-meter-reads"),
    *router.urls,
]
