"""API serializers of accounts."""

from rest_framework import serializers

from accounts.models import Organisation


class OrganisationSerializer(serializers.ModelSerializer):
    site_count = serializers.IntegerField(read_only=True)
    asset_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Organisation
        fields = [
            "id",
            "kind",
            "provider",
            "name",
            "code",
            "language",
            "time_zone",
            "currency",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "tax_registration_number",
            "is_active",
            "site_count",
            "asset_count",
        ]
        read_only_fields = fields
