"""API serializers of contracts: read serializers (amounts as decimal strings beside their currency) and small
input serializers for the services in ``contracts.services``."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Organisation
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from assets.models import Asset
from contracts.models import AuditEntry, Contract, ContractAmendment, ContractAsset, PriceComponent, PriceTier
from contracts.selectors import FEES_DECIMAL_PLACES, contract_customers, contract_service_levels
from fleet.money import MONEY_MAX_DIGITS, Currency
from fleet.tenancy import visible
from maintenance.api.sla import RowsField
from maintenance.models import ServiceLevel
from telemetry.choices import Meter

_visible_assets = visible(Asset.objects.all())


def _contract_customers(user) -> QuerySet[Organisation]:
    return contract_customers(user=user)


def _service_levels(user) -> QuerySet[ServiceLevel]:
    return contract_service_levels(user=user)


CONTRACT_TERMS = [
    "title",
    "start_date",
    "end_date",
    "billing_day",
    "currency",
    "payment_terms_days",
    "auto_renew",
    "renewal_months",
    "notice_days",
    "service_level",
    "credit_percent_per_breach",
    "credit_cap_percent",
    "baseline_monthly_cost",
    "notes",
]

COMPONENT_INPUT_FIELDS = [
    "kind",
    "name",
    "amount",
    "meter",
    "allowance",
    "allowance_scope",
    "tier_mode",
    "minimum_charge",
    "share_percent",
    "charge_date",
    "tax_category",
    "valid_from",
    "valid_to",
]


# --- Read -------------------------------------------------------------------------------------------------------


class PriceTierSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriceTier
        fields = ["from_units", "rate"]
        read_only_fields = fields


class PriceComponentSerializer(serializers.ModelSerializer):
    """A price of the contract; ``amount``, ``minimum_charge`` and the tiers' rates are in ``currency``."""

    currency = serializers.ChoiceField(source="contract.currency", choices=Currency.choices, read_only=True)
    meter = serializers.ChoiceField(choices=Meter.choices, allow_blank=True, read_only=True)
    tiers = PriceTierSerializer(many=True, read_only=True)
    amendment_number = serializers.IntegerField(
        source="amendment.number", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = PriceComponent
        fields = [
            "id",
            "contract",
            "kind",
            "name",
            "amount",
            "meter",
            "allowance",
            "allowance_scope",
            "tier_mode",
            "minimum_charge",
            "share_percent",
            "charge_date",
            "work_order",
            "tax_category",
            "valid_from",
            "valid_to",
            "currency",
            "tiers",
            "amendment",
            "amendment_number",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CoverageSerializer(serializers.ModelSerializer):
    """An asset covered by the contract from ``start_date`` to ``end_date`` (inclusive; empty: open)."""

    asset_serial_number = serializers.CharField(source="asset.serial_number", read_only=True)
    asset_tag = serializers.CharField(source="asset.asset_tag", read_only=True)

    class Meta:
        model = ContractAsset
        fields = [
            "id",
            "contract",
            "asset",
            "asset_serial_number",
            "asset_tag",
            "start_date",
            "end_date",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AmendmentSerializer(serializers.ModelSerializer):
    created_by_name = serializers.StringRelatedField(source="created_by", allow_null=True)

    class Meta:
        model = ContractAmendment
        fields = ["id", "contract", "number", "effective_date", "description", "created_by_name", "created_at"]
        read_only_fields = fields


class ContractSerializer(serializers.ModelSerializer):
    """A contract's terms, as lists show them; ``baseline_monthly_cost`` is in ``currency``."""

    customer_name = serializers.CharField(source="customer.name", read_only=True)
    service_level_name = serializers.CharField(
        source="service_level.name", read_only=True, allow_null=True, default=None
    )
    covered_assets = serializers.IntegerField(read_only=True, help_text="Assets covered today.")
    monthly_fixed_fees = serializers.DecimalField(
        max_digits=MONEY_MAX_DIGITS + 4,
        decimal_places=FEES_DECIMAL_PLACES,
        read_only=True,
        help_text="Today's fixed monthly fees plus per-asset fees times the covered assets, in currency.",
    )

    class Meta:
        model = Contract
        fields = [
            "id",
            "number",
            "provider",
            "customer",
            "customer_name",
            "status",
            *CONTRACT_TERMS,
            "service_level_name",
            "covered_assets",
            "monthly_fixed_fees",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContractDetailSerializer(ContractSerializer):
    """A contract with its price components (and their tiers), coverage and amendments; the audit trail is
    ``GET contracts/{id}/audit/``."""

    components = PriceComponentSerializer(many=True, read_only=True)
    coverage = CoverageSerializer(many=True, read_only=True)
    amendments = AmendmentSerializer(many=True, read_only=True)

    class Meta(ContractSerializer.Meta):
        fields = [*ContractSerializer.Meta.fields, "components", "coverage", "amendments"]
        read_only_fields = fields


class AuditEntrySerializer(serializers.ModelSerializer):
    """One change: ``changes`` maps each field to ``[before, after]`` as text (``null``: no value)."""

    object_type = serializers.CharField(source="content_type.model", read_only=True)
    by_name = serializers.StringRelatedField(source="by", allow_null=True)
    changes = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "by_name", "action", "object_type", "object_id", "object_repr", "changes"]
        read_only_fields = fields

    @extend_schema_field(
        serializers.DictField(child=serializers.ListField(child=serializers.CharField(allow_null=True)))
    )
    def get_changes(self, entry: AuditEntry) -> dict:
        return entry.changes


# --- Input ------------------------------------------------------------------------------------------------------


class ContractCreateSerializer(serializers.ModelSerializer):
    """Input of ``contract_create``: a draft contract of an active customer the user manages contracts for
    (``contract_customers``); the currency defaults to the customer's."""

    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=_contract_customers)
    service_level = ScopedPrimaryKeyRelatedField(scoped_queryset=_service_levels, required=False, allow_null=True)

    class Meta:
        model = Contract
        fields = ["customer", *CONTRACT_TERMS]
        validators: list = []  # the service checks the combined rules


class ContractUpdateSerializer(serializers.ModelSerializer):
    """Input of ``contract_update`` (PATCH): the terms given change; the currency only while a draft."""

    service_level = ScopedPrimaryKeyRelatedField(scoped_queryset=_service_levels, required=False, allow_null=True)

    class Meta:
        model = Contract
        fields = CONTRACT_TERMS
        validators: list = []


class ContractEndSerializer(serializers.Serializer):
    end_date = serializers.DateField(required=False, help_text="The contract's last day (default: today).")


class PriceTierInputSerializer(serializers.Serializer):
    from_units = serializers.DecimalField(max_digits=16, decimal_places=3, min_value=0)
    rate = serializers.DecimalField(max_digits=16, decimal_places=4, min_value=0)


class ComponentInputSerializer(serializers.ModelSerializer):
    """Input of ``component_add``: a price component and, for metered kinds, its tiers (``from_units`` beyond the
    allowance, ascending; ``rate`` per unit). ``valid_from`` defaults to the contract's start."""

    tiers = RowsField(child=PriceTierInputSerializer(), required=False)

    class Meta:
        model = PriceComponent
        fields = [*COMPONENT_INPUT_FIELDS, "tiers"]
        extra_kwargs = {"valid_from": {"required": False}}

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        values["tiers"] = [(tier["from_units"], tier["rate"]) for tier in values.get("tiers", [])]
        return values


class CoverageInputSerializer(serializers.Serializer):
    """Input of ``coverage_add``: an asset of the contract's customer, from ``start_date`` (until ``end_date``)."""

    asset = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_assets)
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True, default=None)


class CoverageEndSerializer(serializers.Serializer):
    end_date = serializers.DateField(help_text="The last day the asset is covered.")


class AmendmentInputSerializer(serializers.Serializer):
    """Input of ``contract_amend``: ``ends`` (component ids of this contract) stop the day before
    ``effective_date``, ``adds`` (components) start on it, ``assets_in`` (asset ids) join on it and
    ``assets_out`` (coverage ids of this contract) end the day before. Needs the contract in the context."""

    effective_date = serializers.DateField()
    description = serializers.CharField()
    ends = serializers.PrimaryKeyRelatedField(many=True, queryset=PriceComponent.objects.none(), required=False)
    adds = RowsField(child=ComponentInputSerializer(), required=False)
    assets_in = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_assets, many=True, required=False)
    assets_out = serializers.PrimaryKeyRelatedField(many=True, queryset=ContractAsset.objects.none(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        contract = self.context.get("contract")
        if contract is not None:
            self.fields["ends"].child_relation.queryset = PriceComponent.objects.filter(contract=contract)
            self.fields["assets_out"].child_relation.queryset = ContractAsset.objects.filter(contract=contract)
