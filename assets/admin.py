"""Admin of the asset registry."""

from django.contrib import admin

from assets.models import Asset, AssetEvent, AssetModel, Manufacturer, PartType, Site


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "customer", "city", "building", "floor"]
    list_select_related = ["customer"]
    search_fields = ["name", "customer__name", "city"]


@admin.register(Manufacturer)
class ManufacturerAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(AssetModel)
class AssetModelAdmin(admin.ModelAdmin):
    list_display = ["name", "manufacturer", "category", "rated_monthly_volume", "rated_monthly_duty_hours"]
    list_filter = ["category", "manufacturer"]
    list_select_related = ["manufacturer"]


@admin.register(PartType)
class PartTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "life_unit", "rated_life", "unit_cost", "currency"]
    list_filter = ["kind", "life_unit"]
    filter_horizontal = ["asset_models"]


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["serial_number", "asset_tag", "customer", "site", "asset_model", "status", "ownership"]
    list_filter = ["status", "ownership", "asset_model__category"]
    list_select_related = ["customer", "site", "asset_model"]
    search_fields = ["serial_number", "asset_tag"]
    raw_id_fields = ["customer", "site", "asset_model", "manufacturer"]


@admin.register(AssetEvent)
class AssetEventAdmin(admin.ModelAdmin):
    list_display = ["asset", "kind", "at", "by"]
    list_filter = ["kind"]
    raw_id_fields = ["asset", "by", "from_site", "to_site"]
