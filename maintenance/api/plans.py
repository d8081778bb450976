"""API: preventive plans (CRUD for provider admins, read for provider staff who see them, the schedule per asset)
and statutory inspection records (list, create, retrieve, certificate PDF).

Plans are provider-side: customers' users and technicians see no plans (an empty list, a 404 for an id), but
they see the inspection records of the assets they see."""

import django_filters
from django.http import HttpResponse
from django.utils import timezone, translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.models import Organisation
from accounts.roles import Capability
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from assets.models import Asset, AssetModel
from fleet.api.views import TenantViewSetMixin
from fleet.tenancy import access_for, visible
from maintenance import plans
from maintenance.choices import InspectionResult, StatutoryInspection
from maintenance.models import ChecklistTemplate, InspectionRecord, PreventivePlan, WorkOrder
from maintenance.views.plans import InspectionRecordFilterSet, PreventivePlanFilterSet
from telemetry.choices import Meter

_visible_customers = visible(Organisation.objects.customers())
_visible_assets = visible(Asset.objects.all())
_visible_work_orders = visible(WorkOrder.objects.all())


def _asset_models(user):
    return AssetModel.objects.all() if user is not None else AssetModel.objects.none()


def _checklist_templates(user):
    access = access_for(user)
    if access is None or not access.is_provider_staff:
        return ChecklistTemplate.objects.none()
    return ChecklistTemplate.objects.filter(provider_id=access.provider_id)


class PreventivePlanSerializer(serializers.ModelSerializer):
    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_customers, required=False, allow_null=True)
    asset_model = ScopedPrimaryKeyRelatedField(scoped_queryset=_asset_models, required=False, allow_null=True)
    asset = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_assets, required=False, allow_null=True)
    checklist_template = ScopedPrimaryKeyRelatedField(
        scoped_queryset=_checklist_templates, required=False, allow_null=True
    )
    meter = serializers.ChoiceField(choices=Meter.choices, required=False, allow_blank=True, default="")
    customer_name = serializers.CharField(source="customer.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = PreventivePlan
        fields = ["id", *plans.PLAN_FIELDS, "customer_name", "created_at", "updated_at"]
        read_only_fields = ["id", "customer_name", "created_at", "updated_at"]


class PlanDueSerializer(serializers.Serializer):
    asset = serializers.IntegerField(source="asset.pk")
    asset_serial_number = serializers.CharField(source="asset.serial_number")
    customer = serializers.IntegerField(source="asset.customer_id")
    due_on = serializers.DateField(allow_null=True)
    due_meter_value = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    basis = serializers.CharField()
    open_work_order = serializers.IntegerField(source="open_work_order.pk", allow_null=True, default=None)


class PreventivePlanViewSet(TenantViewSetMixin, viewsets.ModelViewSet):
    """Preventive plans of the caller's provider: provider admins create, change and delete them (a plan that
    opened work orders is deactivated instead); other provider staff who see plans read them."""

    queryset = PreventivePlan.objects.none()
    selector = staticmethod(plans.preventive_plan_list)
    serializer_class = PreventivePlanSerializer
    filterset_class = PreventivePlanFilterSet
    ordering_fields = ["name", "starts_on", "created_at"]
    ordering = ["name", "id"]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    write_capabilities = {
        "create": Capability.MANAGE_CUSTOMERS,
        "update": Capability.MANAGE_CUSTOMERS,
        "partial_update": Capability.MANAGE_CUSTOMERS,
        "destroy": Capability.MANAGE_CUSTOMERS,
    }

    def _read(self, plan: PreventivePlan, code: int = status.HTTP_200_OK) -> Response:
        return Response(PreventivePlanSerializer(self.get_queryset().get(pk=plan.pk)).data, status=code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = plans.preventive_plan_create(by=request.user, **serializer.validated_data)
        return self._read(plan, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        plan = self.get_object()
        serializer = self.get_serializer(plan, data=request.data, partial=kwargs.pop("partial", False))
        serializer.is_valid(raise_exception=True)
        plans.preventive_plan_update(plan=plan, by=request.user, **serializer.validated_data)
        return self._read(plan)

    def destroy(self, request, *args, **kwargs):
        plans.preventive_plan_delete(plan=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: PlanDueSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])
    def schedule(self, request, pk=None):
        """When the plan is next due on each asset it covers, and why (paginated by asset)."""
        plan = self.get_object()
        page = self.paginate_queryset(plans.plan_assets(plan))
        due = plans.plan_schedule(plan=plan, today=timezone.localdate(), assets=page)
        return self.get_paginated_response(PlanDueSerializer(due, many=True).data)


class InspectionRecordSerializer(serializers.ModelSerializer):
    asset_serial_number = serializers.CharField(source="asset.serial_number", read_only=True)
    work_order_number = serializers.CharField(source="work_order.number", read_only=True, allow_null=True, default=None)

    class Meta:
        model = InspectionRecord
        fields = [
            "id",
            "asset",
            "asset_serial_number",
            "kind",
            "work_order",
            "work_order_number",
            "inspected_on",
            "inspector",
            "inspector_name",
            "inspector_qualification",
            "result",
            "findings",
            "certificate_number",
            "next_due_on",
            "created_at",
        ]
        read_only_fields = fields


class InspectionRecordCreateSerializer(serializers.Serializer):
    """Input of ``inspection_record_create``; the caller is the inspector unless another name is given."""

    asset = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_assets)
    kind = serializers.ChoiceField(choices=StatutoryInspection.choices)
    work_order = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_work_orders, required=False, allow_null=True)
    inspected_on = serializers.DateField()
    inspector_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    qualification = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    result = serializers.ChoiceField(choices=InspectionResult.choices)
    findings = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class InspectionRecordApiFilterSet(InspectionRecordFilterSet):
    asset = django_filters.NumberFilter(field_name="asset_id")
    work_order = django_filters.NumberFilter(field_name="work_order_id")

    class Meta(InspectionRecordFilterSet.Meta):
        fields = [*InspectionRecordFilterSet.Meta.fields, "asset", "work_order"]


class InspectionRecordViewSet(
    TenantViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Statutory inspection records of the assets the caller sees; dispatching staff record them, technicians
    on the inspection work orders assigned to them."""

    queryset = InspectionRecord.objects.none()
    selector = staticmethod(plans.inspection_record_list)
    serializer_class = InspectionRecordSerializer
    filterset_class = InspectionRecordApiFilterSet
    ordering_fields = ["inspected_on", "next_due_on", "created_at"]
    ordering = ["-inspected_on", "-id"]
    write_capabilities = {"create": Capability.UPDATE_ASSIGNED_WORK}

    def get_serializer_class(self):
        return InspectionRecordCreateSerializer if self.action == "create" else InspectionRecordSerializer

    @extend_schema(request=InspectionRecordCreateSerializer, responses={201: InspectionRecordSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = plans.inspection_record_create(inspector=request.user, by=request.user, **serializer.validated_data)
        record = self.get_queryset().filter(pk=record.pk).first() or record
        return Response(InspectionRecordSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The certificate PDF.")}
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def certificate(self, request, pk=None):
        """The record's PDF: a certificate for a passed annual specific self-inspection."""
        record = self.get_object()
        pdf = plans.inspection_certificate_render(record=record, language=translation.get_language())
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{plans.inspection_certificate_filename(record)}"'
        return response


router = SimpleRouter()
router.register("preventive-plans", PreventivePlanViewSet, basename="preventiveplan")
router.register("inspection-records", InspectionRecordViewSet, basename="inspectionrecord")

urlpatterns = router.urls
