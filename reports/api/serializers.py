"""API serializers of reports: ledger rows and TCO breakdowns. Amounts are decimal strings with their currency."""

from rest_framework import serializers

from reports.choices import BreakdownGroup, CostCategory, CostView
from reports.models import CostEntry


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
