"""API serializers of reports: ledger rows and TCO breakdowns. Amounts are decimal strings with their currency."""

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Organisation
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from assets.models import Asset, Site
from fleet.tenancy import visible
from reports.choices import BreakdownGroup, CostCategory, CostView
from reports.ledger import months_between
from reports.models import AcquisitionSpend, CostEntry, CostRates, KpiSnapshot, ManualCost, NpsResponse, Proposal
from reports.selectors import MAX_MONTHS, RANGE_INVALID, RANGE_TOO_LONG


class CostEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = CostEntry
        fields = [
            "id",
            "customer",
            "month",
            "view",
            "category",
            "asset",
            "site",
            "contract",
            "amount",
            "currency",
            "quantity",
            "unit",
            "source",
            "source_id",
        ]
        read_only_fields = fields


class BreakdownQuerySerializer(serializers.Serializer):
    """``group_by``, ``from`` and ``to`` (months, YYYY-MM), ``view``, and optional ``customer``, ``site``,
    ``category`` (``from`` is a keyword in Python: the fields are declared in ``get_fields``)."""

    def get_fields(self):
        return {
            "group_by": serializers.ChoiceField(choices=BreakdownGroup.choices, default=BreakdownGroup.CATEGORY),
            "from": serializers.DateField(input_formats=["%Y-%m"], format="%Y-%m"),
            "to": serializers.DateField(input_formats=["%Y-%m"], format="%Y-%m"),
            "view": serializers.ChoiceField(choices=CostView.choices, default=CostView.CUSTOMER),
            "customer": serializers.IntegerField(required=False, min_value=1),
            "site": serializers.IntegerField(required=False, min_value=1),
            "category": serializers.ChoiceField(choices=CostCategory.choices, required=False),
        }


class BreakdownRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    detail = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    usage = serializers.DecimalField(max_digits=18, decimal_places=3, allow_null=True)
    unit = serializers.CharField()
    cost_per_unit = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True)


class BreakdownTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)


class BreakdownSerializer(serializers.Serializer):
    group_by = serializers.CharField()
    view = serializers.CharField()
    first = serializers.DateField(format="%Y-%m")
    last = serializers.DateField(format="%Y-%m")
    rows = BreakdownRowSerializer(many=True)
    totals = BreakdownTotalSerializer(many=True)


class ProposalSerializer(serializers.ModelSerializer):
    """A proposal and its state; ``summary`` holds its headline figures once ready (amounts as decimal strings)."""

    first_month = serializers.DateField(format="%Y-%m", read_only=True)
    last_month = serializers.DateField(format="%Y-%m", read_only=True)

    class Meta:
        model = Proposal
        fields = [
            "id",
            "customer",
            "requested_by",
            "language",
            "first_month",
            "last_month",
            "status",
            "error",
            "pages",
            "summary",
            "rendered_at",
            "created_at",
        ]
        read_only_fields = fields


class ProposalRequestSerializer(serializers.Serializer):
    """A proposal request: the customer, and optionally the months analysed (YYYY-MM) and the language."""

    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=visible(Organisation.objects.customers()))
    first_month = serializers.DateField(input_formats=["%Y-%m"], required=False, allow_null=True, default=None)
    last_month = serializers.DateField(input_formats=["%Y-%m"], required=False, allow_null=True, default=None)
    language = serializers.ChoiceField(choices=[code for code, _name in settings.LANGUAGES], required=False, default="")


class CostRatesSerializer(serializers.ModelSerializer):
    """Rates of the provider (``customer`` empty), a customer, or one of its sites. Writing a scope's rates replaces
    that scope's row."""

    customer = ScopedPrimaryKeyRelatedField(
        scoped_queryset=visible(Organisation.objects.customers()), required=False, allow_null=True
    )
    site = ScopedPrimaryKeyRelatedField(scoped_queryset=visible(Site.objects.all()), required=False, allow_null=True)

    class Meta:
        model = CostRates
        fields = ["id", "customer", "site", "currency", "energy_price_per_kwh", "downtime_cost_per_hour", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        validators = []  # one row per scope: the service replaces it (reports.services.cost_rates_save)


class ManualCostSerializer(serializers.ModelSerializer):
    """A cost entered by hand; ``month`` as YYYY-MM."""

    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=visible(Organisation.objects.customers()))
    site = ScopedPrimaryKeyRelatedField(scoped_queryset=visible(Site.objects.all()), required=False, allow_null=True)
    asset = ScopedPrimaryKeyRelatedField(scoped_queryset=visible(Asset.objects.all()), required=False, allow_null=True)
    month = serializers.DateField(input_formats=["%Y-%m"], format="%Y-%m")

    class Meta:
        model = ManualCost
        fields = ["id", "customer", "month", "site", "asset", "description", "amount", "currency", "created_by"]
        read_only_fields = ["id", "created_by"]


class AcquisitionSpendSerializer(serializers.ModelSerializer):
    """What the provider spent on winning customers in a month (``month`` as YYYY-MM): the numerator of CAC."""

    month = serializers.DateField(input_formats=["%Y-%m"], format="%Y-%m")

    class Meta:
        model = AcquisitionSpend
        fields = ["id", "month", "description", "amount", "currency", "created_by"]
        read_only_fields = ["id", "created_by"]


class KpiSnapshotSerializer(serializers.ModelSerializer):
    """A closed month's KPIs as reported: ``figures`` holds ``currencies`` (per currency: MRR, movements,
    customers, churn rate, ARPU, revenue, cost to serve, gross margin, LTV, usage revenue, acquisition spend, CAC),
    ``nps`` and ``service`` (uptime, MTTR, MTBF, first-time fix, PM compliance, SLA achievement); decimals as
    strings."""

    month = serializers.DateField(format="%Y-%m")

    class Meta:
        model = KpiSnapshot
        fields = ["id", "month", "taken_at", "figures"]
        read_only_fields = fields


class NpsResponseSerializer(serializers.ModelSerializer):
    """A survey answer; a customer's administrator posts ``score`` (0-10) and ``comment`` for their organisation."""

    score = serializers.IntegerField(min_value=0, max_value=10)

    class Meta:
        model = NpsResponse
        fields = ["id", "customer", "respondent", "score", "comment", "answered_at"]
        read_only_fields = ["id", "customer", "respondent", "answered_at"]


class NpsMonthSerializer(serializers.Serializer):
    month = serializers.DateField(format="%Y-%m")
    answers = serializers.IntegerField()
    promoters = serializers.IntegerField()
    passives = serializers.IntegerField()
    detractors = serializers.IntegerField()
    nps = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)


class NpsCustomerSerializer(serializers.Serializer):
    customer = serializers.IntegerField(source="customer_id")
    name = serializers.CharField()
    answers = serializers.IntegerField()
    nps = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)


class NpsSummarySerializer(serializers.Serializer):
    months = NpsMonthSerializer(many=True)
    total = NpsMonthSerializer()
    customers = NpsCustomerSerializer(many=True)


class MonthRangeQuerySerializer(serializers.Serializer):
    """``from`` and ``to`` (YYYY-MM), and optionally ``customer``."""

    def get_fields(self):
        return {
            "from": serializers.DateField(input_formats=["%Y-%m"]),
            "to": serializers.DateField(input_formats=["%Y-%m"]),
            "customer": serializers.IntegerField(required=False, min_value=1),
        }

    def validate(self, attrs):
        if attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"to": str(RANGE_INVALID)})
        if months_between(attrs["from"], attrs["to"]) >= MAX_MONTHS:
            raise serializers.ValidationError({"to": str(RANGE_TOO_LONG % {"months": MAX_MONTHS})})
        return attrs


class MrrMonthSerializer(serializers.Serializer):
    month = serializers.DateField(format="%Y-%m")
    currency = serializers.CharField()
    mrr = serializers.DecimalField(max_digits=16, decimal_places=2)
    new = serializers.DecimalField(max_digits=16, decimal_places=2, source="movements.new")
    expansion = serializers.DecimalField(max_digits=16, decimal_places=2, source="movements.expansion")
    contraction = serializers.DecimalField(max_digits=16, decimal_places=2, source="movements.contraction")
    churn = serializers.DecimalField(max_digits=16, decimal_places=2, source="movements.churn")
    customers_start = serializers.IntegerField()
    customers_end = serializers.IntegerField()
    customers_new = serializers.IntegerField()
    customers_lost = serializers.IntegerField()
    churn_rate = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    arpu = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    cost_to_serve = serializers.DecimalField(max_digits=16, decimal_places=2)
    gross_margin = serializers.DecimalField(max_digits=7, decimal_places=1, allow_null=True)
    ltv = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)


class MovementSerializer(serializers.Serializer):
    month = serializers.DateField(format="%Y-%m")
    customer = serializers.IntegerField(source="customer_id")
    name = serializers.CharField(source="customer_name")
    currency = serializers.CharField()
    previous = serializers.DecimalField(max_digits=16, decimal_places=2)
    current = serializers.DecimalField(max_digits=16, decimal_places=2)
    kind = serializers.CharField()


class MrrSerializer(serializers.Serializer):
    months = MrrMonthSerializer(many=True)
    movements = MovementSerializer(many=True)


# --- Service KPIs ---------------------------------------------------------------------------------------------------


def _rate(**kwargs):
    return serializers.DecimalField(max_digits=7, decimal_places=1, allow_null=True, **kwargs)


class ServiceFiguresSerializer(serializers.Serializer):
    """The service KPIs of one cell with the counts they are computed from (``reports.service``)."""

    uptime = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    covered_hours = serializers.SerializerMethodField()
    down_hours = serializers.DecimalField(max_digits=14, decimal_places=1)
    repairs = serializers.IntegerField()
    mttr_hours = serializers.DecimalField(max_digits=14, decimal_places=1, allow_null=True)
    failures = serializers.IntegerField()
    mtbf_hours = serializers.DecimalField(max_digits=14, decimal_places=1, allow_null=True)
    mcbf_pages = serializers.DecimalField(max_digits=16, decimal_places=0, allow_null=True)
    fixes = serializers.IntegerField()
    first_time_fixes = serializers.IntegerField()
    first_time_fix_rate = _rate()
    pm_due = serializers.IntegerField()
    pm_on_schedule = serializers.IntegerField()
    pm_compliance = _rate()
    responses = serializers.IntegerField()
    responses_met = serializers.IntegerField()
    response_achievement = _rate()
    resolutions = serializers.IntegerField()
    resolutions_met = serializers.IntegerField()
    resolution_achievement = _rate()

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=1))
    def get_covered_hours(self, figures) -> str:
        return str((Decimal(figures.covered_seconds) / 3600).quantize(Decimal("0.1")))


class ServiceMonthSerializer(serializers.Serializer):
    month = serializers.DateField(format="%Y-%m")
    figures = ServiceFiguresSerializer()


class TargetedSerializer(serializers.Serializer):
    """Service figures with the uptime the service level promises."""

    uptime_target = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    below_target = serializers.BooleanField()
    figures = ServiceFiguresSerializer()


class ServiceCustomerSerializer(TargetedSerializer):
    customer = serializers.IntegerField(source="customer_id")
    name = serializers.CharField(source="customer_name")


class OutcomeSerializer(serializers.Serializer):
    component = serializers.IntegerField(source="component_id")
    name = serializers.CharField()
    kind = serializers.CharField()
    meter = serializers.CharField()
    currency = serializers.CharField()
    promised = serializers.DecimalField(max_digits=20, decimal_places=3)
    measured = serializers.DecimalField(max_digits=20, decimal_places=3)
    achievement = _rate()


class ServiceContractSerializer(serializers.Serializer):
    contract = serializers.IntegerField(source="contract_id")
    number = serializers.CharField()
    customer_name = serializers.CharField()
    sla_achievement = _rate()
    uptime_target = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    months_below_target = serializers.IntegerField(help_text="Asset-months whose uptime fell below the target.")
    outcomes = OutcomeSerializer(many=True)
    figures = ServiceFiguresSerializer()


class ServiceAssetSerializer(TargetedSerializer):
    asset = serializers.IntegerField(source="asset_id")
    label = serializers.CharField()
    serial_number = serializers.CharField()
    site_name = serializers.CharField()


class ServiceKpiSerializer(serializers.Serializer):
    months = ServiceMonthSerializer(many=True)
    total = ServiceFiguresSerializer()
    customers = ServiceCustomerSerializer(many=True)
    contracts = ServiceContractSerializer(many=True)
    assets = ServiceAssetSerializer(many=True, allow_null=True, help_text="A customer's assets, when one is asked.")
