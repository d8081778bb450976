"""API: approvals of estimates against the not-to-exceed amount, and repair-versus-replace.

- ``POST /work-orders/{id}/estimate/``: dispatching staff enter an estimate (the desk without seeing amounts back);
- ``POST /work-orders/{id}/approval/``: the customer's admin decides (approved, replace, rejected);
- ``GET /work-orders/{id}/repair-or-replace/``: the facts and the recommendation (price-seeing roles);
- ``GET /approvals/``: work orders whose estimate waits for approval or was decided, pending first;
- ``GET/PUT /maintenance-settings/{organisation id}/`` (and the list): the approval limits.
"""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.models import Organisation
from accounts.roles import Capability
from fleet.api.views import TenantViewSetMixin
from fleet.money import Currency
from fleet.tenancy import access_for
from maintenance import approvals, selectors
from maintenance.choices import ApprovalStatus
from maintenance.models import WorkOrder

PRICE_FIELDS = ("estimate_amount", "replacement_quote", "currency")
NO_ASSET = _("The work order concerns no asset.")


def _amount(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(**{"max_digits": 12, "decimal_places": 2, **kwargs})


class ApprovalSerializer(serializers.ModelSerializer):
    """A work order's approval: the state for everyone who sees the order, amounts for price-seeing roles."""

    role_dependent_fields = PRICE_FIELDS
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    site_name = serializers.CharField(source="site.name", read_only=True)
    asset_serial_number = serializers.CharField(
        source="asset.serial_number", read_only=True, allow_null=True, default=None
    )
    approval_decided_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = WorkOrder
        fields = [
            "id",
            "number",
            "customer",
            "customer_name",
            "site",
            "site_name",
            "asset",
            "asset_serial_number",
            "status",
            "approval_status",
            "approval_decided_by",
            "approval_decided_at",
            "approval_note",
            "estimate_amount",
            "replacement_quote",
            "currency",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        access = self.context.get("access")
        if access is None or not access.sees_prices:
            for name in PRICE_FIELDS:
                data.pop(name, None)
        return data


class EstimateInputSerializer(serializers.Serializer):
    amount = _amount()
    replacement_quote = _amount(required=False, allow_null=True, default=None)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DecisionInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[(value, ApprovalStatus(value).label) for value in approvals.DECISIONS])
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class CostYearSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    currency = serializers.ChoiceField(choices=Currency.choices)
    parts = _amount(max_digits=20)
    labour = _amount(max_digits=20)
    total = _amount(max_digits=20)


class RepairOrReplaceSerializer(serializers.Serializer):
    work_order = serializers.IntegerField(source="work_order_id")
    currency = serializers.ChoiceField(choices=Currency.choices)
    estimate = _amount(allow_null=True)
    replacement_quote = _amount(allow_null=True)
    install_date = serializers.DateField(allow_null=True)
    age_months = serializers.IntegerField(allow_null=True)
    acquisition_cost = _amount(max_digits=14, allow_null=True)
    acquisition_currency = serializers.CharField(help_text="ISO 4217 currency of the acquisition cost.")
    expected_life_months = serializers.IntegerField(allow_null=True)
    past_expected_life = serializers.BooleanField()
    history = CostYearSerializer(many=True)
    repairs_last_12_months = _amount(max_digits=20)
    repair_total = _amount(max_digits=20)
    replace_above = _amount(max_digits=20, allow_null=True)
    recommendation = serializers.ChoiceField(
        choices=[approvals.RECOMMEND_REPAIR, approvals.RECOMMEND_REPLACE, approvals.RECOMMEND_NONE]
    )
    rule = serializers.CharField()


class WorkOrderApprovalViewSet(TenantViewSetMixin, viewsets.GenericViewSet):
    """The approval actions on a work order (its list and detail belong to ``WorkOrderViewSet``)."""

    queryset = WorkOrder.objects.none()
    selector = staticmethod(selectors.work_order_list)
    serializer_class = ApprovalSerializer
    write_capabilities = {"estimate": Capability.DISPATCH_WORK, "approval": Capability.APPROVE_WORK}

    def _read(self, work_order: WorkOrder) -> Response:
        fresh = approvals.approval_list(user=self.request.user).filter(pk=work_order.pk).first()
        if fresh is None:  # no approval needed: the order is not in the approvals list
            fresh = self.get_queryset().get(pk=work_order.pk)
        return Response(ApprovalSerializer(fresh, context=self.get_serializer_context()).data)

    @extend_schema(request=EstimateInputSerializer, responses={200: ApprovalSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def estimate(self, request, pk=None):
        work_order = self.get_object()
        serializer = EstimateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        approvals.work_order_estimate(work_order=work_order, by=request.user, **serializer.validated_data)
        return self._read(work_order)

    @extend_schema(request=DecisionInputSerializer, responses={200: ApprovalSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def approval(self, request, pk=None):
        work_order = self.get_object()
        serializer = DecisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        approvals.work_order_approval_decide(work_order=work_order, by=request.user, **serializer.validated_data)
        return self._read(work_order)

    @extend_schema(responses={200: RepairOrReplaceSerializer})
    @action(detail=True, methods=["get"], url_path="repair-or-replace", filter_backends=[])
    def repair_or_replace(self, request, pk=None):
        """The repair-or-replace facts; amounts only, so only for roles that see prices."""
        work_order = self.get_object()
        access = access_for(request.user)
        if access is None or not access.sees_prices:
            raise PermissionDenied
        facts = approvals.repair_or_replace(work_order=work_order)
        if facts is None:
            return Response({"detail": str(NO_ASSET)}, status=status.HTTP_404_NOT_FOUND)
        return Response(RepairOrReplaceSerializer(facts).data)


class ApprovalViewSet(TenantViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Work orders whose estimate waits for approval or was decided, pending first."""

    queryset = WorkOrder.objects.none()
    selector = staticmethod(approvals.approval_list)
    serializer_class = ApprovalSerializer
    filterset_class = approvals.ApprovalFilterSet
    ordering_fields = ["number", "approval_decided_at", "estimate_amount", "updated_at"]
    ordering = ["waiting", "-updated_at"]


class EffectiveSettingsSerializer(serializers.Serializer):
    currency = serializers.ChoiceField(choices=Currency.choices)
    not_to_exceed = _amount(allow_null=True)
    replace_review_above = _amount(allow_null=True)
    labour_rate = _amount(max_digits=10, allow_null=True)


class MaintenanceSettingsSerializer(serializers.Serializer):
    """An organisation's own approval limits (empty: inherited) and the values in effect."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.CharField(read_only=True)
    currency = serializers.ChoiceField(choices=Currency.choices, default=Currency.JPY)
    not_to_exceed = _amount(required=False, allow_null=True, default=None)
    replace_review_above = _amount(required=False, allow_null=True, default=None)
    labour_rate = _amount(max_digits=10, required=False, allow_null=True, default=None)
    effective = EffectiveSettingsSerializer(read_only=True)

    def to_representation(self, instance):
        own = getattr(instance, "own_settings", None)
        effective = self.context["resolved"][instance.pk]
        return {
            "id": instance.pk,
            "name": instance.name,
            "kind": instance.kind,
            "currency": own.currency if own is not None else effective.currency,
            "not_to_exceed": _text(own.not_to_exceed if own else None),
            "replace_review_above": _text(own.replace_review_above if own else None),
            "labour_rate": _text(own.labour_rate if own else None),
            "effective": {
                "currency": effective.currency,
                "not_to_exceed": _text(effective.not_to_exceed),
                "replace_review_above": _text(effective.replace_review_above),
                "labour_rate": _text(effective.labour_rate),
            },
        }


def _text(amount) -> str | None:
    return None if amount is None else format(amount, "f")


class MaintenanceSettingsViewSet(TenantViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Approval limits per organisation id: the provider's defaults and each customer's own.

    Provider admins and account managers (of their customers) read and set them; a customer's admin reads their
    own; roles that see no prices see none."""

    queryset = Organisation.objects.none()
    selector = staticmethod(approvals.maintenance_settings_organisations)
    serializer_class = MaintenanceSettingsSerializer
    filterset_class = approvals.MaintenanceSettingsFilterSet
    ordering_fields = ["name"]
    ordering = ["kind", "name"]
    http_method_names = ["get", "put", "head", "options"]
    write_capabilities = {"update": Capability.MANAGE_CONTRACTS}

    def _context(self, organisations) -> dict:
        organisations = list(organisations)
        for organisation in organisations:
            organisation.own_settings = _own(organisation)
        return {**self.get_serializer_context(), "resolved": approvals.maintenance_settings_for_many(organisations)}

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(
            MaintenanceSettingsSerializer(page, many=True, context=self._context(page)).data
        )

    def retrieve(self, request, pk=None):
        organisation = self.get_object()
        return Response(MaintenanceSettingsSerializer(organisation, context=self._context([organisation])).data)

    @extend_schema(request=MaintenanceSettingsSerializer, responses={200: MaintenanceSettingsSerializer})
    def update(self, request, pk=None):
        organisation = self.get_object()
        if not approvals.may_manage_settings(user=request.user, organisation=organisation):
            raise PermissionDenied
        serializer = MaintenanceSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = {key: value for key, value in serializer.validated_data.items() if key != "effective"}
        approvals.maintenance_settings_update(organisation=organisation, by=request.user, **data)
        fresh = self.get_queryset().get(pk=organisation.pk)
        return Response(MaintenanceSettingsSerializer(fresh, context=self._context([fresh])).data)


def _own(organisation: Organisation):
    try:
        return organisation.maintenance_settings
    except Organisation.maintenance_settings.RelatedObjectDoesNotExist:
        return None


router = SimpleRouter()
router.register("work-orders", WorkOrderApprovalViewSet, basename="workorder-approval")
router.register("approvals", ApprovalViewSet, basename="approval")
router.register("maintenance-settings", MaintenanceSettingsViewSet, basename="maintenance-settings")
urlpatterns = router.urls
