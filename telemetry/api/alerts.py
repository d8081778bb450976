"""API of telemetry: alerts (list, detail, occurrences, acknowledge, resolve) and alert rules."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.models import Organisation
from accounts.roles import Capability
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from assets.choices import AssetCategory
from assets.models import AssetModel
from fleet.api.views import TenantViewSetMixin
from fleet.tenancy import visible
from telemetry import alerts
from telemetry.choices import AlertRuleKind, Meter, Severity, Supply
from telemetry.filters import AlertFilterSet, AlertRuleFilterSet
from telemetry.models import Alert, AlertOccurrence, AlertRule

# --- Serializers ------------------------------------------------------------------------------------------------


class AlertSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    kind = serializers.CharField(source="rule.kind", read_only=True)
    asset_serial_number = serializers.CharField(source="asset.serial_number", read_only=True)
    asset_tag = serializers.CharField(source="asset.asset_tag", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    site = serializers.IntegerField(source="asset.site_id", read_only=True)
    site_name = serializers.CharField(source="asset.site.name", read_only=True)
    condition_label = serializers.SerializerMethodField()
    acknowledged_by = serializers.StringRelatedField(allow_null=True)
    resolved_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "rule_name",
            "kind",
            "asset",
            "asset_serial_number",
            "asset_tag",
            "customer",
            "customer_name",
            "site",
            "site_name",
            "condition",
            "condition_label",
            "severity",
            "status",
            "message",
            "first_seen_at",
            "last_seen_at",
            "count",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledgement_note",
            "resolved_at",
            "resolved_by",
            "resolution_note",
            "work_order_requested_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_condition_label(self, alert: Alert) -> str:
        return alerts.condition_label(alert.condition)


class AlertOccurrenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertOccurrence
        fields = ["id", "at", "message", "event"]
        read_only_fields = fields


class AlertAcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AlertResolveSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, help_text=_("How the alert was resolved."))


class AlertRuleSerializer(serializers.ModelSerializer):
    # Declared so that the schema says "" (the rule's kind uses no supply or meter) is a value.
    supply = serializers.ChoiceField(choices=Supply.choices, allow_blank=True, read_only=True)
    meter = serializers.ChoiceField(choices=Meter.choices, allow_blank=True, read_only=True)
    category = serializers.ChoiceField(choices=AssetCategory.choices, allow_blank=True, read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True, allow_null=True, default=None)
    asset_model_name = serializers.CharField(source="asset_model.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kind",
            "severity",
            "customer",
            "customer_name",
            "asset_model",
            "asset_model_name",
            "category",
            "code_pattern",
            "supply",
            "meter",
            "threshold",
            "silent_hours",
            "notify",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


_visible_customers = visible(Organisation.objects.customers())


class AlertRuleWriteSerializer(serializers.Serializer):
    """Input of ``alert_rule_create`` and ``alert_rule_update``; fields the kind does not use are emptied."""

    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=AlertRuleKind.choices)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_customers, required=False, allow_null=True)
    asset_model = serializers.PrimaryKeyRelatedField(queryset=AssetModel.objects.all(), required=False, allow_null=True)
    category = serializers.ChoiceField(choices=AssetCategory.choices, required=False, allow_blank=True)
    code_pattern = serializers.CharField(max_length=100, required=False, allow_blank=True)
    supply = serializers.ChoiceField(choices=Supply.choices, required=False, allow_blank=True)
    meter = serializers.ChoiceField(choices=Meter.choices, required=False, allow_blank=True)
    threshold = serializers.DecimalField(max_digits=16, decimal_places=3, required=False, allow_null=True)
    silent_hours = serializers.IntegerField(min_value=1, max_value=8760, required=False, allow_null=True)
    notify = serializers.BooleanField(required=False)


class AlertRuleActiveSerializer(serializers.Serializer):
    active = serializers.BooleanField()


# --- Views ------------------------------------------------------------------------------------------------------


class AlertViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Alerts of the assets the user may see; acknowledging and resolving them (alert handlers)."""

    queryset = Alert.objects.none()
    selector = staticmethod(alerts.alert_list)
    serializer_class = AlertSerializer
    filterset_class = AlertFilterSet
    ordering_fields = ["last_seen_at", "first_seen_at", "severity_rank", "status", "count", "customer__name"]
    ordering = ["-last_seen_at", "-id"]
    write_capabilities = {"acknowledge": Capability.HANDLE_ALERTS, "resolve": Capability.HANDLE_ALERTS}

    def _read(self, alert: Alert) -> Response:
        return Response(AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(request=AlertAcknowledgeSerializer, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = self.get_object()
        serializer = AlertAcknowledgeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alerts.alert_acknowledge(alert=alert, by=request.user, **serializer.validated_data)
        return self._read(alert)

    @extend_schema(request=AlertResolveSerializer, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        alert = self.get_object()
        serializer = AlertResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alerts.alert_resolve(alert=alert, by=request.user, **serializer.validated_data)
        return self._read(alert)

    @extend_schema(responses={200: AlertOccurrenceSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])  # the alert list's filters do not apply here
    def occurrences(self, request, pk=None):
        alert = self.get_object()
        page = self.paginate_queryset(alerts.alert_occurrence_list(alert=alert))
        return self.get_paginated_response(AlertOccurrenceSerializer(page, many=True).data)


class AlertRuleViewSet(
    TenantViewSetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Alert rules: read by everyone who sees alerts, maintained by provider admins."""

    queryset = AlertRule.objects.none()
    selector = staticmethod(alerts.alert_rule_list)
    serializer_class = AlertRuleSerializer
    filterset_class = AlertRuleFilterSet
    ordering_fields = ["name", "kind", "severity", "customer__name", "created_at"]
    ordering = ["name", "id"]
    # Rules decide how the provider watches its customers' assets: the provider-admin capability over assets.
    write_capabilities = {
        "create": Capability.MANAGE_ASSETS,
        "update": Capability.MANAGE_ASSETS,
        "partial_update": Capability.MANAGE_ASSETS,
        "set_active": Capability.MANAGE_ASSETS,
    }

    def get_serializer_class(self):
        return (
            AlertRuleWriteSerializer if self.action in ("create", "update", "partial_update") else AlertRuleSerializer
        )

    def _read(self, rule: AlertRule, code: int = status.HTTP_200_OK) -> Response:
        return Response(AlertRuleSerializer(self.get_queryset().get(pk=rule.pk)).data, status=code)

    @extend_schema(request=AlertRuleWriteSerializer, responses={201: AlertRuleSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = alerts.alert_rule_create(by=request.user, **serializer.validated_data)
        return self._read(rule, status.HTTP_201_CREATED)

    @extend_schema(request=AlertRuleWriteSerializer, responses={200: AlertRuleSerializer})
    def update(self, request, *args, **kwargs):
        rule = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        alerts.alert_rule_update(rule=rule, by=request.user, **serializer.validated_data)
        return self._read(rule)

    @extend_schema(request=AlertRuleActiveSerializer, responses={200: AlertRuleSerializer})
    @action(detail=True, methods=["post"], url_path="active")
    def set_active(self, request, pk=None):
        rule = self.get_object()
        serializer = AlertRuleActiveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alerts.alert_rule_set_active(rule=rule, by=request.user, active=serializer.validated_data["active"])
        return self._read(rule)


router = SimpleRouter()
router.register("alerts", AlertViewSet, basename="alert")
router.register("alert-rules", AlertRuleViewSet, basename="alertrule")
urlpatterns = router.urls
