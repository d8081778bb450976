"""API serializers of contracts: read serializers (amounts as decimal strings beside their currency) and small
input serializers for the services in ``contracts.services``."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Organisation
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from assets.models import Asset
from contracts.billing import parse_period
from contracts.choices import PaymentStatus, RunItemStatus
from contracts.models import (
    AuditEntry,
    BillingRun,
    BillingRunItem,
    Contract,
    ContractAmendment,
    ContractAsset,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    InvoiceLineAsset,
    InvoiceTax,
    Payment,
    PriceComponent,
    PriceTier,
)
from contracts.selectors import FEES_DECIMAL_PLACES, billing_run_items, contract_customers, contract_service_levels
from fleet.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, Currency
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
    "outcome_target",
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
            "outcome_target",
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


# --- Billing ------------------------------------------------------------------------------------------------------

DUE_DIGITS = MONEY_MAX_DIGITS + 4
LINE_TWICE = _("Name each line once.")


class InvoiceSerializer(serializers.ModelSerializer):
    """An invoice or credit note as lists show it; amounts are decimal strings in ``currency``. ``number`` is
    empty on a draft. ``payment_status`` and ``outstanding`` (total less finalised credit notes and payments) are
    null on drafts and credit notes."""

    customer_name = serializers.CharField(source="customer.name", read_only=True)
    period = serializers.CharField(read_only=True, help_text="The billing month, YYYY-MM.")
    payment_status = serializers.ChoiceField(choices=PaymentStatus.choices, read_only=True, allow_null=True)
    outstanding = serializers.DecimalField(
        source="due_amount",
        max_digits=DUE_DIGITS,
        decimal_places=MONEY_DECIMAL_PLACES,
        read_only=True,
        allow_null=True,
    )

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "kind",
            "status",
            "customer",
            "customer_name",
            "corrects",
            "run",
            "period",
            "year",
            "month",
            "period_start",
            "period_end",
            "currency",
            "issue_date",
            "due_date",
            "payment_terms_days",
            "net_total",
            "tax_total",
            "total",
            "payment_status",
            "outstanding",
            "note",
            "drafted_at",
            "finalised_at",
        ]
        read_only_fields = fields


class InvoiceLineAssetSerializer(serializers.ModelSerializer):
    """An asset behind a line: the days it was covered and, for usage, the counters at the start and end (how
    each was obtained: ``frozen``, ``reading``, ``interpolated``, ``extrapolated``), usage, allowance, overage;
    ``no_data`` when it had no readings (no usage charged)."""

    asset_serial_number = serializers.CharField(source="asset.serial_number", read_only=True)
    meter = serializers.ChoiceField(choices=Meter.choices, allow_blank=True, read_only=True)

    class Meta:
        model = InvoiceLineAsset
        fields = [
            "asset",
            "asset_serial_number",
            "days",
            "meter",
            "start_at",
            "end_at",
            "start_value",
            "end_value",
            "start_source",
            "end_source",
            "start_estimated",
            "end_estimated",
            "usage",
            "allowance",
            "overage",
            "resets",
            "no_data",
        ]
        read_only_fields = fields


class InvoiceLineSerializer(serializers.ModelSerializer):
    """A line: ``quantity`` × ``unit_price`` rounded is ``amount`` (negative for credits); ``unit`` is a UN/ECE
    code; ``detail`` says how it was rated (proration days, allowance, overage, price band, minimum, saving,
    service credits)."""

    site_name = serializers.CharField(source="site.name", read_only=True, allow_null=True, default=None)
    contract_number = serializers.CharField(source="contract.number", read_only=True, allow_null=True, default=None)
    work_order_number = serializers.CharField(source="work_order.number", read_only=True, allow_null=True, default=None)
    detail = serializers.DictField(read_only=True)
    assets = InvoiceLineAssetSerializer(many=True, read_only=True)

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "position",
            "kind",
            "site",
            "site_name",
            "contract",
            "contract_number",
            "component",
            "work_order",
            "work_order_number",
            "description",
            "service_start",
            "service_end",
            "quantity",
            "unit",
            "unit_price",
            "amount",
            "tax_category",
            "detail",
            "assets",
        ]
        read_only_fields = fields


class InvoiceTaxSerializer(serializers.ModelSerializer):
    """The tax of one category: ``rate`` percent of ``net``, rounded once."""

    class Meta:
        model = InvoiceTax
        fields = ["tax_category", "rate", "net", "tax"]
        read_only_fields = fields


class InvoiceEventSerializer(serializers.ModelSerializer):
    """One step of the audit trail: ``changes`` maps each field to ``[before, after]`` as text."""

    by_name = serializers.StringRelatedField(source="by", allow_null=True)
    changes = serializers.SerializerMethodField()

    class Meta:
        model = InvoiceEvent
        fields = ["id", "action", "at", "by_name", "changes"]
        read_only_fields = fields

    @extend_schema_field(
        serializers.DictField(child=serializers.ListField(child=serializers.CharField(allow_null=True)))
    )
    def get_changes(self, event: InvoiceEvent) -> dict:
        return {
            name: [None if value is None else str(value) for value in values]
            if isinstance(values, list)
            else [None, str(values)]
            for name, values in (event.changes or {}).items()
        }


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "amount", "paid_on", "reference", "source", "created_at"]
        read_only_fields = fields


class InvoiceDetailSerializer(InvoiceSerializer):
    """An invoice with its parties (as frozen on it), lines (with their assets), taxes per rate, audit trail,
    the credit notes the caller sees and the payments."""

    seller = serializers.SerializerMethodField()
    buyer = serializers.SerializerMethodField()
    lines = InvoiceLineSerializer(many=True, read_only=True)
    taxes = InvoiceTaxSerializer(many=True, read_only=True)
    events = InvoiceEventSerializer(many=True, read_only=True)
    credit_notes = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    payments = PaymentSerializer(many=True, read_only=True)

    class Meta(InvoiceSerializer.Meta):
        fields = [
            *InvoiceSerializer.Meta.fields,
            "seller",
            "buyer",
            "lines",
            "taxes",
            "events",
            "credit_notes",
            "payments",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.CharField(allow_blank=True)))
    def get_seller(self, invoice: Invoice) -> dict:
        return {name: str(value) for name, value in (invoice.seller or {}).items() if value is not None}

    @extend_schema_field(serializers.DictField(child=serializers.CharField(allow_blank=True)))
    def get_buyer(self, invoice: Invoice) -> dict:
        return {name: str(value) for name, value in (invoice.buyer or {}).items() if value is not None}


class CreditNoteLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="A line of the invoice.")
    amount = serializers.DecimalField(
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=MONEY_DECIMAL_PLACES,
        help_text="The net amount to credit: positive, at most what earlier credit notes left of the line.",
    )


class CreditNoteInputSerializer(serializers.Serializer):
    """Input of ``credit_note_create``: the lines to credit, each once, and why."""

    lines = RowsField(child=CreditNoteLineInputSerializer())
    reason = serializers.CharField(max_length=2000)

    def validate_lines(self, rows: list[dict]) -> dict:
        lines = {}
        for row in rows:
            if row["line"] in lines:
                raise serializers.ValidationError(str(LINE_TWICE))
            lines[row["line"]] = row["amount"]
        return lines


class BillingRunItemSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)

    class Meta:
        model = BillingRunItem
        fields = ["customer", "customer_name", "status", "message", "updated_at"]
        read_only_fields = fields


class BillingRunSerializer(serializers.ModelSerializer):
    """A billing run with its progress over the customers the caller sees: ``items_done`` drafted,
    ``items_failed``, ``items_pending`` of ``items_total``; ``invoices_count`` invoices, ``drafts_count`` of the
    period still in review."""

    period = serializers.CharField(read_only=True, help_text="The billed month, YYYY-MM.")
    started_by_name = serializers.StringRelatedField(source="started_by", allow_null=True)
    items_total = serializers.IntegerField(read_only=True)
    items_done = serializers.IntegerField(read_only=True)
    items_failed = serializers.IntegerField(read_only=True)
    items_pending = serializers.IntegerField(read_only=True)
    invoices_count = serializers.IntegerField(read_only=True)
    drafts_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = BillingRun
        fields = [
            "id",
            "period",
            "year",
            "month",
            "status",
            "finalize",
            "started_by_name",
            "started_at",
            "drafted_at",
            "finished_at",
            "attempts",
            "items_total",
            "items_done",
            "items_failed",
            "items_pending",
            "invoices_count",
            "drafts_count",
        ]
        read_only_fields = fields


class BillingRunDetailSerializer(BillingRunSerializer):
    """A run with the customers that failed (those the caller sees) and why."""

    failed_items = serializers.SerializerMethodField()

    class Meta(BillingRunSerializer.Meta):
        fields = [*BillingRunSerializer.Meta.fields, "failed_items"]
        read_only_fields = fields

    @extend_schema_field(BillingRunItemSerializer(many=True))
    def get_failed_items(self, run: BillingRun) -> list:
        items = billing_run_items(user=self.context["request"].user, run=run).filter(status=RunItemStatus.FAILED)
        return BillingRunItemSerializer(items, many=True).data


class BillingRunCreateSerializer(serializers.Serializer):
    """Input of ``billing_run_start``: an ended month, and whether to finalise its invoices once drafted."""

    period = serializers.CharField(max_length=7, help_text="The month to bill, YYYY-MM.")
    finalize = serializers.BooleanField(default=False, help_text="Finalise the invoices as soon as drafted.")

    def validate_period(self, value: str) -> tuple[int, int]:
        try:
            return parse_period(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict["period"]) from None
