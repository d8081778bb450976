"""FilterSets of telemetry: one per list, shared by the portal page, the API and the selectors."""

import django_filters
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from assets.choices import AssetCategory
from assets.models import Site
from fleet.filters import SearchFilterSet
from fleet.tenancy import visible
from telemetry.choices import ALERT_ACTIVE_STATES, AlertRuleKind, AlertStatus, Severity
from telemetry.models import Alert, AlertRule

ALERT_STATUS_ACTIVE = "active"


_visible_customers = visible(Organisation.objects.customers())


_visible_sites = visible(Site.objects.all())


_visible_rules = visible(AlertRule.objects.all())


class AlertFilterSet(SearchFilterSet):
    search_fields = ("condition", "message", "asset__serial_number", "asset__asset_tag", "rule__name")
    narrowed_by = {"site": "customer"}
    provider_only_filters = ("customer",)
    status = django_filters.ChoiceFilter(
        choices=[(ALERT_STATUS_ACTIVE, _("Open or acknowledged")), *AlertStatus.choices],
        method="filter_status",
        label=_("Status"),
    )
    severity = django_filters.ChoiceFilter(choices=Severity.choices, label=_("Severity"))
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    site = django_filters.ModelChoiceFilter(field_name="asset__site", queryset=_visible_sites, label=_("Site"))
    rule = django_filters.ModelChoiceFilter(queryset=_visible_rules, label=_("Rule"))
    kind = django_filters.ChoiceFilter(field_name="rule__kind", choices=AlertRuleKind.choices, label=_("Kind"))

    class Meta:
        model = Alert
        fields = ["status", "severity", "customer", "site", "rule", "kind"]

    def filter_status(self, queryset, name, value):
        if value == ALERT_STATUS_ACTIVE:
            return queryset.filter(status__in=ALERT_ACTIVE_STATES)
        return queryset.filter(status=value)


class AlertRuleFilterSet(SearchFilterSet):
    search_fields = ("name", "code_pattern")
    provider_only_filters = ("customer",)
    kind = django_filters.ChoiceFilter(choices=AlertRuleKind.choices, label=_("Kind"))
    severity = django_filters.ChoiceFilter(choices=Severity.choices, label=_("Severity"))
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    category = django_filters.ChoiceFilter(choices=AssetCategory.choices, label=_("Category"))
    is_active = django_filters.BooleanFilter(label=_("Active"))

    class Meta:
        model = AlertRule
        fields = ["kind", "severity", "customer", "category", "is_active"]
