"""API: pre-use inspections, per-asset service links (QR labels) and the operator report."""

from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from accounts.roles import Capability
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from assets.models import Asset
from assets.selectors import asset_list
from fleet.api.permissions import RoleCapabilityPermission
from fleet.api.views import TenantViewSetMixin
from fleet.tenancy import access_for, visible
from maintenance import inspections
from maintenance.inspections import PreUseAnswer, PreUseInspectionFilterSet
from maintenance.models import AssetServiceLink, PreUseInspection, PreUseInspectionItem

# --- Serializers ------------------------------------------------------------------------------------------------


class PreUseInspectionItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = PreUseInspectionItem
        fields = ["id", "position", "text", "critical", "ok", "note"]
        read_only_fields = fields


class PreUseInspectionSerializer(serializers.ModelSerializer):
    asset_serial_number = serializers.CharField(source="asset.serial_number", read_only=True)
    asset_tag = serializers.CharField(source="asset.asset_tag", read_only=True)
    site = serializers.IntegerField(source="asset.site_id", read_only=True)
    site_name = serializers.CharField(source="asset.site.name", read_only=True)
    operator_name = serializers.StringRelatedField(source="operator")
    work_order_number = serializers.CharField(source="work_order.number", read_only=True, allow_null=True, default=None)
    items = PreUseInspectionItemSerializer(many=True, read_only=True)

    class Meta:
        model = PreUseInspection
        fields = [
            "id",
            "asset",
            "asset_serial_number",
            "asset_tag",
            "site",
            "site_name",
            "operator",
            "operator_name",
            "performed_at",
            "hour_meter",
            "passed",
            "critical_failure",
            "note",
            "work_order",
            "work_order_number",
            "alert",
            "items",
        ]
        read_only_fields = fields


class PreUseAnswerSerializer(serializers.Serializer):
    item_id = serializers.IntegerField(min_value=1)
    ok = serializers.BooleanField()
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


def _flat_messages(errors, prefix: str = "") -> list[str]:
    """Nested serializer errors as flat "where: message" lines (the API's 400s hold strings per field)."""
    if isinstance(errors, dict):
        return [line for key, value in errors.items() for line in _flat_messages(value, f"{prefix}{key}: ")]
    if isinstance(errors, list):
        return [line for value in errors for line in _flat_messages(value, prefix)]
    return [f"{prefix}{errors}"]


@extend_schema_field(PreUseAnswerSerializer(many=True))
class PreUseAnswersField(serializers.Field):
    """Every item of the checklist answered: ``[{item_id, ok, note}]``; errors come back as flat messages."""

    default_error_messages = {
        "not_a_list": _("Give the answers as a list of objects with item_id, ok and note."),
        "empty": _("Answer every item of the checklist."),
        "too_many": _("Give at most %(max)s answers."),
    }
    max_answers = 200

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        if len(data) > self.max_answers:
            raise serializers.ValidationError(self.error_messages["too_many"] % {"max": self.max_answers})
        answers, errors = [], []
        for position, raw in enumerate(data, 1):
            answer = PreUseAnswerSerializer(data=raw)
            if answer.is_valid():
                answers.append(answer.validated_data)
            else:
                errors.extend(_flat_messages(answer.errors, f"{position}: "))
        if errors:
            raise serializers.ValidationError(errors)
        return answers

    def to_representation(self, value):
        return value


class PreUseInspectionCreateSerializer(serializers.Serializer):
    """Input of ``pre_use_inspection_submit``: every item of the asset's checklist, OK or not."""

    asset = ScopedPrimaryKeyRelatedField(scoped_queryset=visible(Asset.objects.all()))
    answers = PreUseAnswersField()
    hour_meter = serializers.DecimalField(
        max_digits=12, decimal_places=1, min_value=0, required=False, allow_null=True, default=None
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ServiceLinkSerializer(serializers.Serializer):
    asset = serializers.IntegerField(source="asset_id")
    token = serializers.CharField()
    url = serializers.URLField()
    created_at = serializers.DateTimeField()
    rotated_at = serializers.DateTimeField(allow_null=True)


class OperatorReportRowSerializer(serializers.Serializer):
    operator = serializers.IntegerField(source="operator_id")
    name = serializers.CharField()
    email = serializers.EmailField()
    inspections = serializers.IntegerField()
    failed = serializers.IntegerField()
    critical = serializers.IntegerField()
    trucks = serializers.IntegerField()
    impacts = serializers.IntegerField()


class OperatorReportSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    time_zone = serializers.CharField()
    unattributed_impacts = serializers.IntegerField()
    rows = OperatorReportRowSerializer(many=True)


class OperatorReportQuerySerializer(serializers.Serializer):
    """``from`` and ``to`` (a keyword and a plain word in Python: declared in ``get_fields``)."""

    def get_fields(self):
        return {
            "from": serializers.DateField(required=False, allow_null=True, default=None),
            "to": serializers.DateField(required=False, allow_null=True, default=None),
        }


# --- Views ------------------------------------------------------------------------------------------------------


class PreUseInspectionViewSet(TenantViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Pre-use inspections the user may see; operators record them."""

    queryset = PreUseInspection.objects.none()
    selector = staticmethod(inspections.pre_use_inspection_list)
    serializer_class = PreUseInspectionSerializer
    filterset_class = PreUseInspectionFilterSet
    ordering_fields = ["performed_at", "asset__serial_number", "operator__email"]
    ordering = ["-performed_at", "-id"]
    write_capabilities = {"create": Capability.PRE_USE_INSPECTIONS}

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset.prefetch_related("items") if self.action in ("list", "retrieve") else queryset

    def get_serializer_class(self):
        return PreUseInspectionCreateSerializer if self.action == "create" else PreUseInspectionSerializer

    @extend_schema(request=PreUseInspectionCreateSerializer, responses={201: PreUseInspectionSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        inspection = inspections.pre_use_inspection_submit(
            asset=data["asset"],
            operator=request.user,
            answers=[PreUseAnswer(**answer) for answer in data["answers"]],
            hour_meter=data["hour_meter"],
            note=data["note"],
        )
        read = inspections.pre_use_inspection_list(user=request.user).prefetch_related("items").get(pk=inspection.pk)
        return Response(PreUseInspectionSerializer(read).data, status=status.HTTP_201_CREATED)


def _link_data(request, link: AssetServiceLink) -> dict:
    return {
        "asset_id": link.asset_id,
        "token": link.token,
        "url": request.build_absolute_uri(reverse("maintenance:service_link", args=[link.token])),
        "created_at": link.created_at,
        "rotated_at": link.rotated_at,
    }


class ServiceLinkPermission(RoleCapabilityPermission):
    """Replacing a label is for the customer's admins and provider staff who manage assets (no one capability)."""

    def has_object_permission(self, request, view, obj) -> bool:
        if view.action == "rotate":
            return inspections.may_rotate_service_link(user=request.user, asset=obj)
        return super().has_object_permission(request, view, obj)


class AssetServiceLinkViewSet(TenantViewSetMixin, viewsets.GenericViewSet):
    """The service link on an asset's QR label: read it (anyone who sees the asset may print the label), or
    replace it (the customer's admins and provider staff who manage assets)."""

    queryset = Asset.objects.none()
    selector = staticmethod(asset_list)
    serializer_class = ServiceLinkSerializer
    filter_backends: list = []
    pagination_class = None
    permission_classes = [ServiceLinkPermission]

    @extend_schema(responses={200: ServiceLinkSerializer})
    def retrieve(self, request, pk=None):
        asset = self.get_object()
        link = inspections.service_link_for(asset=asset)
        return Response(ServiceLinkSerializer(_link_data(request, link)).data)

    @extend_schema(request=None, responses={200: ServiceLinkSerializer})
    def rotate(self, request, pk=None):
        asset = self.get_object()
        link = inspections.service_link_rotate(asset=asset, by=request.user)
        return Response(ServiceLinkSerializer(_link_data(request, link)).data)


class OperatorReportView(APIView):
    """Per operator: inspections, failures, trucks and impacts over ``from``..``to`` (default: the last 30 days)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, OpenApiParameter.QUERY, description="First day (YYYY-MM-DD)."),
            OpenApiParameter("to", OpenApiTypes.DATE, OpenApiParameter.QUERY, description="Last day (YYYY-MM-DD)."),
        ],
        responses={200: OperatorReportSerializer},
    )
    def get(self, request):
        if access_for(request.user) is None:
            raise PermissionDenied
        if not inspections.may_see_operator_report(request.user):
            raise PermissionDenied
        query = OperatorReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        time_zone = inspections.report_time_zone(user=request.user)
        start, end = inspections.report_period(
            start=query.validated_data["from"],
            end=query.validated_data["to"],
            today=timezone.localdate(timezone=ZoneInfo(time_zone)),
        )
        report = inspections.operator_report(user=request.user, start=start, end=end, time_zone=time_zone)
        return Response(OperatorReportSerializer(report).data)


router = SimpleRouter()
router.register("pre-use-inspections", PreUseInspectionViewSet, basename="preuseinspection")
_link = AssetServiceLinkViewSet.as_view({"get": "retrieve"})
_rotate = AssetServiceLinkViewSet.as_view({"post": "rotate"})

urlpatterns = [
    path("assets/<str:pk>/service-link/", _link, name="asset-service-link"),
    path("assets/<str:pk>/service-link/rotate/", _rotate, name="asset-service-link-rotate"),
    path("operator-report/", OperatorReportView.as_view(), name="operator-report"),
    *router.urls,
]
