"""Admin of maintenance."""

from django.contrib import admin

from maintenance.models import ServiceLevel, WorkOrder, WorkOrderEvent


@admin.register(ServiceLevel)
class ServiceLevelAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "customer", "uptime_target_percent", "business_hours_only"]
    list_select_related = ["provider", "customer"]


class WorkOrderEventInline(admin.TabularInline):
    model = WorkOrderEvent
    extra = 0
    readonly_fields = ["at", "by", "from_status", "to_status", "note"]


@admin.register(WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "site", "asset", "kind", "priority", "status", "assigned_to"]
    list_filter = ["status", "kind", "priority"]
    list_select_related = ["customer", "site", "asset", "assigned_to"]
    search_fields = ["number", "customer__name", "description"]
    raw_id_fields = ["asset", "alert", "assigned_to", "site"]
    inlines = [WorkOrderEventInline]
