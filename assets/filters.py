"""FilterSets of the asset registry: one per list, shared by the portal page, the API and the selectors."""

import django_filters
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from assets.choices import AssetCategory, AssetStatus, LifeUnit, Ownership, PartKind
from assets.models import Asset, AssetModel, Manufacturer, PartType, Site
from fleet.filters import SearchFilterSet
from fleet.tenancy import visible

_visible_customers = visible(Organisation.objects.customers())


_visible_sites = visible(Site.objects.all())


class SiteFilterSet(SearchFilterSet):
    search_fields = ("name", "code", "city", "building")
    provider_only_filters = ("customer",)
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))

    class Meta:
        model = Site
        fields = ["customer"]


class AssetFilterSet(SearchFilterSet):
    search_fields = ("serial_number", "asset_tag", "asset_model__name", "location_note", "site__name")
    narrowed_by = {"site": "customer"}
    provider_only_filters = ("customer",)
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    site = django_filters.ModelChoiceFilter(queryset=_visible_sites, label=_("Site"))
    category = django_filters.ChoiceFilter(
        field_name="asset_model__category", choices=AssetCategory.choices, label=_("Category")
    )
    status = django_filters.ChoiceFilter(choices=AssetStatus.choices, label=_("Status"))
    ownership = django_filters.ChoiceFilter(choices=Ownership.choices, label=_("Ownership"))
    asset_model = django_filters.ModelChoiceFilter(
        queryset=AssetModel.objects.select_related("manufacturer"), label=_("Model")
    )

    class Meta:
        model = Asset
        fields = ["customer", "site", "category", "status", "ownership", "asset_model"]


class AssetModelFilterSet(SearchFilterSet):
    search_fields = ("name", "manufacturer__name")
    manufacturer = django_filters.ModelChoiceFilter(queryset=Manufacturer.objects.all(), label=_("Manufacturer"))
    category = django_filters.ChoiceFilter(choices=AssetCategory.choices, label=_("Category"))

    class Meta:
        model = AssetModel
        fields = ["manufacturer", "category"]


class PartTypeFilterSet(SearchFilterSet):
    search_fields = ("name", "code")
    kind = django_filters.ChoiceFilter(choices=PartKind.choices, label=_("Kind"))
    life_unit = django_filters.ChoiceFilter(choices=LifeUnit.choices, label=_("Life unit"))
    asset_model = django_filters.ModelChoiceFilter(
        field_name="asset_models", queryset=AssetModel.objects.all(), label=_("Fits model")
    )

    class Meta:
        model = PartType
        fields = ["kind", "life_unit", "asset_model"]
