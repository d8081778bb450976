"""Portal pages of telemetry: alerts (list, detail, acknowledge, resolve), alert rules (list, create, edit,
deactivate), the dashboard tiles of open alerts and silent devices, and the asset page's open-alerts panel."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views import View
from django.views.generic import FormView

from accounts.models import Organisation
from accounts.roles import Capability
from accounts.selectors import customer_list
from assets.choices import AssetCategory
from assets.models import AssetModel
from fleet.dashboard import Tile
from fleet.tables import Column
from fleet.tenancy import access_for
from fleet.views import FilteredListView, PortalMixin, TenantDetailView
from telemetry import alerts
from telemetry.choices import AlertRuleKind, AlertStatus, Meter, Severity, Supply
from telemetry.filters import AlertFilterSet, AlertRuleFilterSet
from telemetry.models import AlertRule

OCCURRENCES_SHOWN = 100
PANEL_ALERTS = 10

ALERT_COLUMNS = (
    Column("severity", _("Severity"), "severity", sort="severity_rank", choices=dict(Severity.choices)),
    Column("condition", _("Condition"), "condition", sort="condition", choices=alerts.CONDITION_LABELS, link=True),
    Column("asset", _("Asset"), "asset__serial_number", sort="asset__serial_number"),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("site", _("Site"), "asset__site__name", sort="asset__site__name", phone=False),
    Column("rule", _("Rule"), "rule__name", sort="rule__name", phone=False),
    Column("message", _("Message"), "message", phone=False),
    Column("count", _("Occurrences"), "count", sort="count", phone=False),
    Column("status", _("Status"), "status", sort="status", choices=dict(AlertStatus.choices)),
    Column("first_seen", _("First seen"), "first_seen_at", sort="first_seen_at", phone=False),
    Column("last_seen", pgettext_lazy("alert", "Last seen"), "last_seen_at", sort="last_seen_at"),
)

RULE_COLUMNS = (
    Column("name", _("Name"), "name", sort="name", link=True),
    Column("kind", _("Kind"), "kind", sort="kind", choices=dict(AlertRuleKind.choices)),
    Column("severity", _("Severity"), "severity", sort="severity", choices=dict(Severity.choices)),
    Column("customer", _("Customer"), "customer__name", sort="customer__name"),
    Column("model", _("Model"), "asset_model__name", sort="asset_model__name", phone=False),
    Column("category", _("Category"), "category", sort="category", choices=dict(AssetCategory.choices), phone=False),
    Column("pattern", _("Event code pattern"), "code_pattern", phone=False),
    Column("threshold", _("Threshold"), "threshold", phone=False),
    Column("silent_hours", _("Silent after (hours)"), "silent_hours", phone=False),
    Column("notify", _("E-mail notifications"), "notify", phone=False),
    Column("active", _("Active"), "is_active", sort="is_active"),
)


# --- Forms ------------------------------------------------------------------------------------------------------


class AlertAcknowledgeForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class AlertResolveForm(forms.Form):
    note = forms.CharField(label=_("How was it resolved?"), max_length=500)


class AlertRuleForm(forms.Form):
    """The fields of ``alert_rule_create``/``alert_rule_update``; the service empties those the kind ignores."""

    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=AlertRuleKind.choices)
    severity = forms.ChoiceField(
        label=_("Severity"),
        choices=Severity.choices,
        initial=Severity.WARNING,
        help_text=_("Error and critical alerts open a work order automatically."),
    )
    customer = forms.ModelChoiceField(
        label=_("Only customer"), queryset=Organisation.objects.none(), required=False, empty_label=_("All customers")
    )
    asset_model = forms.ModelChoiceField(
        label=_("Only model"),
        queryset=AssetModel.objects.select_related("manufacturer").order_by("manufacturer__name", "name"),
        required=False,
        empty_label=_("All models"),
    )
    category = forms.ChoiceField(
        label=_("Only category"), choices=[("", _("All categories")), *AssetCategory.choices], required=False
    )
    code_pattern = forms.CharField(
        label=_("Event code pattern"),
        max_length=100,
        required=False,
        help_text=_("Event code and impact rules: shell-style pattern of event codes, e.g. SC5* or E-0??."),
    )
    supply = forms.ChoiceField(label=_("Supply"), choices=[("", _("Any supply")), *Supply.choices], required=False)
    meter = forms.ChoiceField(label=_("Meter"), choices=[("", "—"), *Meter.choices], required=False)
    threshold = forms.DecimalField(
        label=_("Threshold"),
        max_digits=16,
        decimal_places=3,
        required=False,
        help_text=_("Percent for a supply, the counter value for a meter, g for an impact."),
    )
    silent_hours = forms.IntegerField(
        label=_("Silent after (hours)"),
        min_value=1,
        max_value=8760,
        required=False,
        help_text=_("Silent device rules. Empty: each customer's own setting."),
    )
    notify = forms.BooleanField(label=_("E-mail notifications"), required=False, initial=True)

    def __init__(self, *args, customers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers


# --- Alerts -----------------------------------------------------------------------------------------------------


class AlertListView(FilteredListView):
    selector = staticmethod(alerts.alert_list)
    filterset_class = AlertFilterSet
    columns = ALERT_COLUMNS
    default_sort = "-last_seen"
    title = _("Alerts")
    csv_filename = "alerts"
    detail_url_name = "telemetry:alert_detail"


def _status_context(alert, *, access, acknowledge_form=None, resolve_form=None) -> dict:
    """What the alert's handling block (the ``status`` partial) shows."""
    return {
        "alert": alert,
        "may_handle": access.can(Capability.HANDLE_ALERTS),
        "acknowledge_form": acknowledge_form or AlertAcknowledgeForm(auto_id="acknowledge_%s"),
        "resolve_form": resolve_form or AlertResolveForm(auto_id="resolve_%s"),
    }


class AlertDetailView(TenantDetailView):
    """An alert, its occurrence history and, for alert handlers, the acknowledge and resolve forms."""

    selector = staticmethod(alerts.alert_list)
    template_name = "telemetry/alerts/alert_detail.html"
    context_object_name = "alert"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(_status_context(self.object, access=self.access))
        context["condition_label"] = alerts.condition_label(self.object.condition)
        context["silent"] = self.object.rule.kind == AlertRuleKind.SILENT
        context["occurrences"] = alerts.alert_occurrence_list(alert=self.object)[:OCCURRENCES_SHOWN]
        context["occurrences_shown"] = OCCURRENCES_SHOWN
        return context


class AlertTransitionView(PortalMixin, View):
    """POST a note to change an alert's state. An htmx request gets the refreshed handling block back."""

    required_capability = Capability.HANDLE_ALERTS
    form_class: type[forms.Form] = AlertAcknowledgeForm
    form_name = ""
    service = None
    success_message = ""

    def post(self, request, pk: int):
        alert = get_object_or_404(alerts.alert_list(user=request.user), pk=pk)
        form = self.form_class(request.POST, auto_id=f"{self.form_name}_%s")
        if form.is_valid():
            try:
                type(self).service(alert=alert, by=request.user, note=form.cleaned_data["note"])
            except ValidationError as error:
                form.add_error(None, error)
        if request.headers.get("HX-Request"):
            fresh = alerts.alert_list(user=request.user).get(pk=alert.pk)
            context = _status_context(
                fresh, access=self.access, **({f"{self.form_name}_form": form} if form.errors else {})
            )
            context["notice"] = "" if form.errors else self.success_message
            return render(request, "telemetry/alerts/alert_detail.html#status", context)
        if form.errors:
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
        else:
            messages.success(request, self.success_message)
        return redirect("telemetry:alert_detail", pk=alert.pk)


class AlertAcknowledgeView(AlertTransitionView):
    form_class = AlertAcknowledgeForm
    form_name = "acknowledge"
    service = staticmethod(alerts.alert_acknowledge)
    success_message = _("The alert was acknowledged.")


class AlertResolveView(AlertTransitionView):
    form_class = AlertResolveForm
    form_name = "resolve"
    service = staticmethod(alerts.alert_resolve)
    success_message = _("The alert was resolved.")


# --- Rules ------------------------------------------------------------------------------------------------------


class AlertRuleListView(FilteredListView):
    required_capability = Capability.MANAGE_ASSETS
    selector = staticmethod(alerts.alert_rule_list)
    filterset_class = AlertRuleFilterSet
    columns = RULE_COLUMNS
    default_sort = "name"
    title = _("Alert rules")
    csv_filename = "alert-rules"
    detail_url_name = "telemetry:alert_rule_edit"
    create_url_name = "telemetry:alert_rule_create"
    create_capability = Capability.MANAGE_ASSETS


class AlertRuleFormView(PortalMixin, FormView):
    required_capability = Capability.MANAGE_ASSETS
    form_class = AlertRuleForm
    template_name = "telemetry/alerts/rule_form.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["customers"] = customer_list(user=self.request.user)
        return kwargs

    def save(self, data: dict) -> AlertRule:
        raise NotImplementedError

    def form_valid(self, form):
        try:
            rule = self.save(form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The alert rule was saved."))
        return redirect("telemetry:alert_rule_edit", pk=rule.pk)


class AlertRuleCreateView(AlertRuleFormView):
    extra_context = {"title": _("New alert rule")}

    def save(self, data: dict) -> AlertRule:
        return alerts.alert_rule_create(by=self.request.user, **data)


class AlertRuleEditView(AlertRuleFormView):
    def get_rule(self) -> AlertRule:
        if not hasattr(self, "rule"):
            self.rule = get_object_or_404(alerts.alert_rule_list(user=self.request.user), pk=self.kwargs["pk"])
        return self.rule

    def get_initial(self):
        rule = self.get_rule()
        return {name: getattr(rule, name) for name in alerts.RULE_EDITABLE_FIELDS}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rule"] = self.get_rule()
        context["title"] = self.get_rule().name
        return context

    def save(self, data: dict) -> AlertRule:
        return alerts.alert_rule_update(rule=self.get_rule(), by=self.request.user, **data)


class AlertRuleActiveView(PortalMixin, View):
    """Deactivate or activate a rule again (POST ``active=0|1``)."""

    required_capability = Capability.MANAGE_ASSETS

    def post(self, request, pk: int):
        rule = get_object_or_404(alerts.alert_rule_list(user=request.user), pk=pk)
        active = request.POST.get("active") == "1"
        try:
            alerts.alert_rule_set_active(rule=rule, active=active, by=request.user)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("The rule is active again.") if active else _("The rule was deactivated."))
        return redirect("telemetry:alert_rule_edit", pk=rule.pk)


# --- Dashboard tiles and the asset page's panel -----------------------------------------------------------------


def alert_tiles(*, user) -> list[Tile]:
    """Open alerts by severity (most severe first) and the count of silent devices."""
    if access_for(user) is None:
        return []
    counts = alerts.alert_counts(user=user)
    by_severity = [(value, label, counts["by_severity"][value]) for value, label in reversed(Severity.choices)]
    return [
        Tile(
            "telemetry/_alert_tiles.html",
            {"total": counts["total"], "by_severity": by_severity, "silent": counts["silent"]},
            order=12,
        )
    ]


def asset_alerts_panel(*, user, obj) -> list[Tile]:
    """The open alerts of one asset, most severe first (one query)."""
    shown = list(
        alerts.alert_list(user=user)
        .active()
        .filter(asset_id=obj.pk)
        .order_by("-severity_rank", "-last_seen_at", "-pk")[: PANEL_ALERTS + 1]
    )
    rows = [{"alert": alert, "condition": alerts.condition_label(alert.condition)} for alert in shown[:PANEL_ALERTS]]
    return [
        Tile("telemetry/_asset_alerts.html", {"rows": rows, "more": len(shown) > PANEL_ALERTS, "asset": obj}, order=40)
    ]


urlpatterns = [
    path("alerts/", AlertListView.as_view(), name="alert_list"),
    path("alerts/<int:pk>/", AlertDetailView.as_view(), name="alert_detail"),
    path("alerts/<int:pk>/acknowledge/", AlertAcknowledgeView.as_view(), name="alert_acknowledge"),
    path("alerts/<int:pk>/resolve/", AlertResolveView.as_view(), name="alert_resolve"),
    path("alert-rules/", AlertRuleListView.as_view(), name="alert_rule_list"),
    path("alert-rules/new/", AlertRuleCreateView.as_view(), name="alert_rule_create"),
    path("alert-rules/<int:pk>/", AlertRuleEditView.as_view(), name="alert_rule_edit"),
    path("alert-rules/<int:pk>/active/", AlertRuleActiveView.as_view(), name="alert_rule_active"),
]
