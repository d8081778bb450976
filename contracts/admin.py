"""Contracts in the admin site: read-mostly views for support; the portal and the services do the writing."""

from django.contrib import admin

from contracts.models import (
    AuditEntry,
    BillingRun,
    BillingSettings,
    Contract,
    ContractAmendment,
    ContractAsset,
    Invoice,
    InvoiceEvent,
    PriceComponent,
    PriceTier,
)


class PriceTierInline(admin.TabularInline):
    model = PriceTier
    extra = 0


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "customer", "status", "start_date", "end_date", "currency"]
    list_filter = ["status", "currency"]
    search_fields = ["number", "title", "customer__name"]
    raw_id_fields = ["customer", "provider", "service_level"]


@admin.register(PriceComponent)
class PriceComponentAdmin(admin.ModelAdmin):
    list_display = ["contract", "name", "kind", "amount", "meter", "valid_from", "valid_to"]
    list_filter = ["kind", "tax_category"]
    raw_id_fields = ["contract", "work_order", "amendment"]
    inlines = [PriceTierInline]


@admin.register(ContractAsset)
class ContractAssetAdmin(admin.ModelAdmin):
    list_display = ["contract", "asset", "start_date", "end_date"]
    raw_id_fields = ["contract", "asset"]


@admin.register(ContractAmendment)
class ContractAmendmentAdmin(admin.ModelAdmin):
    list_display = ["contract", "number", "effective_date"]
    raw_id_fields = ["contract", "created_by"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["contract", "object_repr", "action", "by", "at"]
    list_filter = ["action"]
    raw_id_fields = ["contract", "by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Billing records are written by the billing services only; the admin site shows them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BillingSettings)
class BillingSettingsAdmin(admin.ModelAdmin):
    list_display = ["provider", "tax_rounding", "review_days", "reminder_interval_days"]
    raw_id_fields = ["provider"]


@admin.register(BillingRun)
class BillingRunAdmin(ReadOnlyAdmin):
    list_display = ["provider", "year", "month", "status", "attempts", "started_at", "finished_at"]
    list_filter = ["status"]


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["number", "kind", "customer", "year", "month", "currency", "total", "status"]
    list_filter = ["status", "kind", "currency"]
    search_fields = ["number", "customer__name"]


@admin.register(InvoiceEvent)
class InvoiceEventAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "action", "by", "at"]
    list_filter = ["action"]
