"""Serializers of the maintenance API: work orders, their timeline and the inputs of the work-order services."""

from rest_framework import serializers

from accounts.models import Organisation, User
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from assets.models import Asset, Site
from fleet.tenancy import visible
from maintenance.api.sla import WorkOrderSlaFields
from maintenance.choices import ErasureMethod, Priority, WorkOrderKind, WorkOrderStatus
from maintenance.filters import technicians_for
from maintenance.forms import organisation_id_of
from maintenance.models import WorkOrder, WorkOrderEvent


class WorkOrderSerializer(WorkOrderSlaFields, serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    site_name = serializers.CharField(source="site.name", read_only=True)
    asset_serial_number = serializers.CharField(
        source="asset.serial_number", read_only=True, allow_null=True, default=None
    )
    assigned_to_name = serializers.StringRelatedField(source="assigned_to", allow_null=True)

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
            "kind",
            "priority",
            "source",
            "status",
            "description",
            "assigned_to",
            "assigned_to_name",
            "response_due_at",
            "resolution_due_at",
            "responded_at",
            "completed_at",
            "closed_at",
            "completion_notes",
            "down_from",
            "down_until",
            "damage_avoidable",
            "billable",
            "signed_by_name",
            "signed_at",
            "sla_state",
            "time_left_seconds",
            "approval_status",
            "estimate_amount",
            "currency",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    # The estimate is a price: left out for roles that see no prices (``maintenance.approvals``).
    role_dependent_fields = ("estimate_amount", "currency")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        access = self.context.get("access")
        if access is None or not access.sees_prices:
            for name in self.role_dependent_fields:
                data.pop(name, None)
        return data


class WorkOrderEventSerializer(serializers.ModelSerializer):
    by = serializers.StringRelatedField(allow_null=True)
    from_status = serializers.ChoiceField(choices=WorkOrderStatus.choices, allow_blank=True, read_only=True)

    class Meta:
        model = WorkOrderEvent
        fields = ["id", "at", "by", "from_status", "to_status", "note"]
        read_only_fields = fields


_visible_customers = visible(Organisation.objects.customers())


_visible_sites = visible(Site.objects.all())


_visible_assets = visible(Asset.objects.all())


def _technicians(user):
    if user is None:
        return User.objects.none()
    return technicians_for(user)


class WorkOrderCreateSerializer(serializers.Serializer):
    """Input of ``work_order_create`` for dispatching staff."""

    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_customers)
    site = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_sites)
    asset = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_assets, required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=WorkOrderKind.choices)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default=Priority.P3)
    description = serializers.CharField(max_length=4000)


def _own_sites(user):
    return _visible_sites(user).filter(customer_id=organisation_id_of(user))


def _own_assets(user):
    return _visible_assets(user).filter(customer_id=organisation_id_of(user))


class ServiceRequestSerializer(serializers.Serializer):
    """Input of a customer's service request: the order is for the caller's own organisation."""

    site = ScopedPrimaryKeyRelatedField(scoped_queryset=_own_sites)
    asset = ScopedPrimaryKeyRelatedField(scoped_queryset=_own_assets, required=False, allow_null=True)
    description = serializers.CharField(max_length=4000)


class WorkOrderAssignSerializer(serializers.Serializer):
    technician = ScopedPrimaryKeyRelatedField(scoped_queryset=_technicians)


class WorkOrderTransitionSerializer(serializers.Serializer):
    to_status = serializers.ChoiceField(choices=WorkOrderStatus.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class WorkOrderCompleteSerializer(serializers.Serializer):
    notes = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    damage_avoidable = serializers.BooleanField(required=False, allow_null=True, default=None)
    down_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    down_until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    signature = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="The customer's signature: a PNG data URL."
    )
    signed_by_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    erasure_method = serializers.ChoiceField(
        choices=ErasureMethod.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required when an MFP or printer is removed.",
    )
    erasure_storage = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
