"""API serializers of the asset registry: output serializers and small input serializers for services."""

from rest_framework import serializers

from accounts.models import Organisation
from assets.choices import AssetStatus, Ownership
from assets.models import Asset, AssetEvent, AssetModel, Manufacturer, PartType, Site
from fleet.money import Currency
from fleet.tenancy import visible

PRICE_FIELDS = ("acquisition_cost", "unit_cost")


class PriceHidingMixin:
    """Drops price fields for roles that see no prices (DESIGN.md §3)."""

    role_dependent_fields = PRICE_FIELDS  # the API schema does not require them (fleet.api.schema)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        access = self.context.get("access")
        if access is None or not access.sees_prices:
            for name in PRICE_FIELDS:
                data.pop(name, None)
        return data


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related id that must name a row the requesting user may see; any other id is a 400."""

    def __init__(self, *, scoped_queryset, **kwargs):
        self.scoped_queryset = scoped_queryset
        super().__init__(queryset=scoped_queryset(None), **kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        return self.scoped_queryset(request.user if request else None)


_visible_customers = visible(Organisation.objects.customers())


_visible_sites = visible(Site.objects.all())


class SiteSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    asset_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Site
        fields = [
            "id",
            "customer",
            "customer_name",
            "name",
            "code",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "time_zone",
            "building",
            "floor",
            "asset_count",
        ]
        read_only_fields = ["id", "customer_name", "asset_count"]


class SiteWriteSerializer(serializers.ModelSerializer):
    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_customers)

    class Meta:
        model = Site
        fields = [
            "customer",
            "name",
            "code",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "time_zone",
            "building",
            "floor",
        ]
        validators = []  # uniqueness is checked by the service, which owns the write


class ManufacturerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Manufacturer
        fields = ["id", "name"]


class AssetModelSerializer(serializers.ModelSerializer):
    manufacturer_name = serializers.CharField(source="manufacturer.name", read_only=True)

    class Meta:
        model = AssetModel
        fields = [
            "id",
            "manufacturer",
            "manufacturer_name",
            "name",
            "category",
            "rated_monthly_volume",
            "rated_monthly_duty_hours",
            "power_draw_watts",
        ]
        read_only_fields = ["id", "manufacturer_name"]


class PartTypeSerializer(PriceHidingMixin, serializers.ModelSerializer):
    asset_models = serializers.PrimaryKeyRelatedField(many=True, queryset=AssetModel.objects.all(), required=False)

    class Meta:
        model = PartType
        fields = [
            "id",
            "code",
            "name",
            "kind",
            "life_unit",
            "rated_life",
            "lead_time_days",
            "unit_cost",
            "currency",
            "asset_models",
        ]
        read_only_fields = ["id"]


class AssetSerializer(PriceHidingMixin, serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    site_name = serializers.CharField(source="site.name", read_only=True)
    manufacturer_name = serializers.CharField(source="manufacturer.name", read_only=True)
    model_name = serializers.CharField(source="asset_model.name", read_only=True)
    category = serializers.CharField(source="asset_model.category", read_only=True)

    class Meta:
        model = Asset
        fields = [
            "id",
            "customer",
            "customer_name",
            "site",
            "site_name",
            "asset_model",
            "model_name",
            "manufacturer",
            "manufacturer_name",
            "category",
            "serial_number",
            "asset_tag",
            "status",
            "ownership",
            "install_date",
            "acquisition_cost",
            "currency",
            "expected_life_months",
            "location_note",
            "network_address",
            "last_seen_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AssetCreateSerializer(serializers.Serializer):
    """Input of ``asset_create``."""

    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_customers)
    site = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_sites)
    asset_model = serializers.PrimaryKeyRelatedField(queryset=AssetModel.objects.all())
    serial_number = serializers.CharField(max_length=64)
    asset_tag = serializers.CharField(max_length=64, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=AssetStatus.choices, required=False)
    ownership = serializers.ChoiceField(choices=Ownership.choices)
    install_date = serializers.DateField(required=False, allow_null=True)
    acquisition_cost = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    currency = serializers.ChoiceField(choices=Currency.choices, required=False)
    expected_life_months = serializers.IntegerField(min_value=1, max_value=600, required=False, allow_null=True)
    location_note = serializers.CharField(max_length=200, required=False, allow_blank=True)
    network_address = serializers.CharField(max_length=255, required=False, allow_blank=True)


class AssetUpdateSerializer(serializers.Serializer):
    """Input of ``asset_update``: descriptive fields only (site and status have their own actions)."""

    asset_model = serializers.PrimaryKeyRelatedField(queryset=AssetModel.objects.all(), required=False)
    serial_number = serializers.CharField(max_length=64, required=False)
    asset_tag = serializers.CharField(max_length=64, required=False, allow_blank=True)
    ownership = serializers.ChoiceField(choices=Ownership.choices, required=False)
    install_date = serializers.DateField(required=False, allow_null=True)
    acquisition_cost = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    currency = serializers.ChoiceField(choices=Currency.choices, required=False)
    expected_life_months = serializers.IntegerField(min_value=1, max_value=600, required=False, allow_null=True)
    location_note = serializers.CharField(max_length=200, required=False, allow_blank=True)
    network_address = serializers.CharField(max_length=255, required=False, allow_blank=True)


class AssetMoveSerializer(serializers.Serializer):
    site = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_sites)
    location_note = serializers.CharField(max_length=200, required=False, allow_blank=True)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AssetStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AssetStatus.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AssetEventSerializer(serializers.ModelSerializer):
    by = serializers.StringRelatedField(allow_null=True)  # empty for events written by imports and commands

    class Meta:
        model = AssetEvent
        fields = ["id", "kind", "at", "by", "from_site", "to_site", "from_status", "to_status", "note"]
        read_only_fields = fields
