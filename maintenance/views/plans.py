"""Portal pages: preventive plans (list, page with the schedule, create, edit, deactivate) and statutory
inspections (status list with the overdue filter, records, certificates, recording on a work order), with the
work-order and asset panels and the dashboard tile."""

import django_filters
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView

from accounts.choices import Role
from accounts.models import Organisation
from accounts.roles import Capability, Scope
from assets.models import Asset, AssetModel, Site
from fleet.dashboard import Tile
from fleet.filters import SearchFilterSet
from fleet.tables import Column
from fleet.tenancy import access_for, visible
from fleet.views import FilteredListView, PortalMixin, TenantDetailView
from maintenance import plans
from maintenance.choices import (
    InspectionResult,
    ScheduleMode,
    StatutoryInspection,
    WorkOrderKind,
    WorkOrderSource,
)
from maintenance.models import ChecklistTemplate, InspectionRecord, PlanOccurrence, PreventivePlan, WorkOrder
from telemetry.choices import Meter

PLAN_PAGE_ASSETS = 50
PLAN_PAGE_OCCURRENCES = 50
YES_NO = {True: _("Yes"), False: _("No")}
OVERDUE_LABELS = {True: _("Overdue"), False: ""}

_visible_customers = visible(Organisation.objects.customers())
_visible_sites = visible(Site.objects.all())


def sees_plans(access) -> bool:
    """Plans are provider-side: provider admins, the service desk and account managers see them."""
    return (
        access is not None
        and access.is_provider_staff
        and access.policy.scope in (Scope.PROVIDER, Scope.ASSIGNED_CUSTOMERS)
    )


class PlanPagesMixin:
    """Pages of plans exist only for those who see plans (a 404 for everyone else)."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not sees_plans(access_for(request.user)):
            raise Http404
        return super().dispatch(request, *args, **kwargs)


# --- Filters -------------------------------------------------------------------------------------------------------


class PreventivePlanFilterSet(SearchFilterSet):
    search_fields = ("name", "asset_model__name", "asset__serial_number", "customer__name")
    kind = django_filters.ChoiceFilter(choices=WorkOrderKind.choices, label=_("Kind"))
    statutory = django_filters.ChoiceFilter(
        choices=StatutoryInspection.choices[1:], label=_("Statutory inspection"), empty_label=_("Any")
    )
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    active = django_filters.BooleanFilter(label=_("Active"))

    class Meta:
        model = PreventivePlan
        fields = ["kind", "statutory", "customer", "active"]


class InspectionStatusFilterSet(SearchFilterSet):
    """The statutory-inspection status list: covered assets, filtered by customer, site, kind and overdue."""

    search_fields = ("serial_number", "asset_tag", "site__name", "customer__name")
    narrowed_by = {"site": "customer"}
    provider_only_filters = ("customer",)
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    site = django_filters.ModelChoiceFilter(queryset=_visible_sites, label=_("Site"))
    inspection = django_filters.ChoiceFilter(
        choices=StatutoryInspection.choices[1:], method="filter_inspection", label=_("Inspection")
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("Overdue"))

    class Meta:
        model = Asset
        fields = ["customer", "site", "inspection", "overdue"]

    def filter_inspection(self, queryset, name, value):
        prefix = "annual" if value == StatutoryInspection.ANNUAL_SPECIFIC else "monthly"
        return queryset.filter(**{f"{prefix}_covered": True})

    def filter_overdue(self, queryset, name, value):
        return queryset.filter(overdue=value)


class InspectionRecordFilterSet(SearchFilterSet):
    search_fields = ("asset__serial_number", "asset__asset_tag", "certificate_number", "inspector_name")
    provider_only_filters = ("customer",)
    kind = django_filters.ChoiceFilter(choices=StatutoryInspection.choices[1:], label=_("Inspection"))
    result = django_filters.ChoiceFilter(choices=InspectionResult.choices, label=_("Result"))
    customer = django_filters.ModelChoiceFilter(
        field_name="asset__customer", queryset=_visible_customers, label=_("Customer")
    )

    class Meta:
        model = InspectionRecord
        fields = ["kind", "result", "customer"]


# --- Forms ---------------------------------------------------------------------------------------------------------


class PreventivePlanForm(forms.ModelForm):
    """A plan for an asset model (optionally of one customer) or for one asset, named by its serial number."""

    asset_serial = forms.CharField(
        label=_("Asset (serial number)"),
        required=False,
        max_length=64,
        help_text=_("For a plan of one asset; leave the asset model empty then."),
    )

    class Meta:
        model = PreventivePlan
        fields = [
            "name",
            "customer",
            "asset_model",
            "kind",
            "statutory",
            "interval_days",
            "meter",
            "interval_units",
            "schedule",
            "starts_on",
            "lead_days",
            "priority",
            "checklist_template",
        ]
        widgets = {"starts_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        access = access_for(user)
        self.fields["customer"].queryset = _visible_customers(user).order_by("name")
        self.fields["asset_model"].queryset = AssetModel.objects.select_related("manufacturer")
        self.fields["asset_model"].required = False
        self.fields["meter"] = forms.ChoiceField(label=_("Meter"), choices=[("", "—"), *Meter.choices], required=False)
        self.fields["checklist_template"].queryset = ChecklistTemplate.objects.filter(
            provider_id=access.provider_id if access else None, active=True
        )
        self.fields["checklist_template"].required = False
        field_order = ["name", "customer", "asset_model", "asset_serial"]
        self.order_fields(field_order)
        if self.instance.pk and self.instance.asset_id:
            self.fields["asset_serial"].initial = self.instance.asset.serial_number

    def validate_unique(self):
        """The plan's rules (and the database's constraints) are checked by the service, as field errors."""

    def validate_constraints(self):
        """Checked by the service (see ``validate_unique``)."""

    def clean_asset_serial(self):
        serial = self.cleaned_data["asset_serial"].strip()
        if not serial:
            return None
        matches = list(Asset.objects.visible_to(self.user).filter(serial_number=serial).select_related("customer")[:2])
        if len(matches) != 1:
            raise ValidationError(_("No asset with this serial number (or more than one)."))
        return matches[0]

    def plan_fields(self) -> dict:
        data = {name: self.cleaned_data.get(name) for name in self.Meta.fields}
        data["asset"] = self.cleaned_data.get("asset_serial")
        data["meter"] = data["meter"] or ""
        data["statutory"] = data["statutory"] or ""
        return data


class InspectionRecordForm(forms.Form):
    """Recording a statutory inspection done on a work order."""

    kind = forms.ChoiceField(label=_("Inspection"), choices=StatutoryInspection.choices[1:])
    inspected_on = forms.DateField(
        label=_("Inspected on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    inspector_name = forms.CharField(label=_("Inspector"), max_length=200, required=False)
    qualification = forms.CharField(
        label=_("Qualification"),
        max_length=200,
        required=False,
        help_text=_("E.g. the inspector's registration under the Industrial Safety and Health Act."),
    )
    result = forms.ChoiceField(label=_("Result"), choices=InspectionResult.choices)
    findings = forms.CharField(label=_("Findings"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


# --- Plans ---------------------------------------------------------------------------------------------------------

PLAN_COLUMNS = (
    Column("name", _("Name"), "name", sort="name", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name"),
    Column("model", _("Asset model"), "asset_model__name", sort="asset_model__name", phone=False),
    Column("asset", _("Asset"), "asset__serial_number", sort="asset__serial_number", phone=False),
    Column("kind", _("Kind"), "kind", sort="kind", choices=dict(WorkOrderKind.choices)),
    Column("statutory", _("Statutory"), "statutory", sort="statutory", choices=dict(StatutoryInspection.choices)),
    Column("days", _("Every N days"), "interval_days", sort="interval_days"),
    Column("units", _("Every N units"), "interval_units", sort="interval_units", phone=False),
    Column("meter", _("Meter"), "meter", choices=dict(Meter.choices), phone=False),
    Column("schedule", _("Schedule"), "schedule", choices=dict(ScheduleMode.choices), phone=False),
    Column("active", _("Active"), "active", sort="active", choices=YES_NO),
)


class PreventivePlanListView(FilteredListView):
    """The plans the user sees: an empty list for those who see no plans (customers' users, technicians)."""

    selector = staticmethod(plans.preventive_plan_list)
    filterset_class = PreventivePlanFilterSet
    columns = PLAN_COLUMNS
    default_sort = "name"
    title = _("Preventive plans")
    csv_filename = "preventive-plans"
    detail_url_name = "maintenance:plan_detail"
    create_url_name = "maintenance:plan_create"
    create_capability = Capability.MANAGE_CUSTOMERS


class PreventivePlanDetailView(PlanPagesMixin, TenantDetailView):
    """A plan: its rules, the assets it covers with their next due date and basis (a page at a time), and the
    occurrences it opened."""

    selector = staticmethod(plans.preventive_plan_list)
    template_name = "maintenance/plans/plan_detail.html"
    context_object_name = "plan"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        plan = self.object
        paginator = Paginator(plans.plan_assets(plan), PLAN_PAGE_ASSETS)
        page = paginator.get_page(self.request.GET.get("page"))
        today = timezone.localdate()
        occurrences = (
            PlanOccurrence.objects.filter(plan=plan)
            .select_related("asset", "work_order")
            .order_by("-due_on", "-id")[:PLAN_PAGE_OCCURRENCES]
        )
        context.update(
            {
                "schedule": plans.plan_schedule(plan=plan, today=today, assets=page.object_list),
                "page_obj": page,
                "occurrences": occurrences,
                "today": today,
                "may_manage": self.access.can(Capability.MANAGE_CUSTOMERS),
            }
        )
        return context


class PreventivePlanFormView(PlanPagesMixin, PortalMixin, FormView):
    required_capability = Capability.MANAGE_CUSTOMERS
    template_name = "maintenance/plans/plan_form.html"
    form_class = PreventivePlanForm
    plan = None

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        if self.plan is not None:
            kwargs["instance"] = self.plan
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["plan"] = self.plan
        context["title"] = _("Edit preventive plan") if self.plan else _("New preventive plan")
        return context

    def form_valid(self, form):
        try:
            if self.plan is None:
                plan = plans.preventive_plan_create(by=self.request.user, **form.plan_fields())
            else:
                plan = plans.preventive_plan_update(plan=self.plan, by=self.request.user, **form.plan_fields())
        except ValidationError as error:
            if hasattr(error, "error_dict") and "asset" in error.error_dict:
                error.error_dict["asset_serial"] = error.error_dict.pop("asset")
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The plan %(name)s was saved.") % {"name": plan.name})
        return redirect("maintenance:plan_detail", pk=plan.pk)


class PreventivePlanCreateView(PreventivePlanFormView):
    pass


class PreventivePlanEditView(PreventivePlanFormView):
    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.plan = get_object_or_404(plans.preventive_plan_list(user=request.user), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)


class PreventivePlanActiveView(PlanPagesMixin, PortalMixin, View):
    """POST ``active=0`` deactivates a plan, ``active=1`` reactivates it."""

    required_capability = Capability.MANAGE_CUSTOMERS

    def post(self, request, pk: int):
        plan = get_object_or_404(plans.preventive_plan_list(user=request.user), pk=pk)
        active = request.POST.get("active") == "1"
        try:
            plans.preventive_plan_set_active(plan=plan, by=request.user, active=active)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("The plan was activated.") if active else _("The plan was deactivated."))
        return redirect("maintenance:plan_detail", pk=plan.pk)


# --- Statutory inspections -----------------------------------------------------------------------------------------

INSPECTION_COLUMNS = (
    Column("serial", _("Serial number"), "serial_number", sort="serial_number", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("site", _("Site"), "site__name", sort="site__name", phone=False),
    Column("model", _("Model"), "asset_model__name", sort="asset_model__name", phone=False),
    Column("annual_last", _("Annual inspection"), "annual_last", sort="annual_last", phone=False),
    Column("annual_next", _("Annual due"), "annual_next", sort="annual_next"),
    Column("monthly_last", _("Monthly inspection"), "monthly_last", sort="monthly_last", phone=False),
    Column("monthly_next", _("Monthly due"), "monthly_next", sort="monthly_next"),
    Column("overdue", _("Overdue"), "overdue", sort="overdue", choices=OVERDUE_LABELS),
)

RECORD_COLUMNS = (
    Column("inspected_on", _("Inspected on"), "inspected_on", sort="inspected_on"),
    Column("asset", _("Asset"), "asset__serial_number", sort="asset__serial_number"),
    Column("customer", _("Customer"), "asset__customer__name", sort="asset__customer__name", provider_only=True),
    Column("kind", _("Inspection"), "kind", sort="kind", choices=dict(StatutoryInspection.choices)),
    Column("result", _("Result"), "result", sort="result", choices=dict(InspectionResult.choices)),
    Column("inspector", _("Inspector"), "inspector_name", phone=False),
    Column("certificate", _("Certificate"), "certificate_number", sort="certificate_number", phone=False),
    Column("next_due", _("Next due"), "next_due_on", sort="next_due_on"),
)


class InspectionListView(FilteredListView):
    """Assets under statutory inspection plans with their last and next inspections; ``?overdue=true``."""

    selector = staticmethod(plans.inspection_status_list)
    filterset_class = InspectionStatusFilterSet
    columns = INSPECTION_COLUMNS
    default_sort = "serial"
    title = _("Statutory inspections")
    csv_filename = "statutory-inspections"
    detail_url_name = "assets:asset_detail"


class InspectionRecordListView(FilteredListView):
    """Inspection records of the assets the user sees, with their certificates."""

    selector = staticmethod(plans.inspection_record_list)
    filterset_class = InspectionRecordFilterSet
    columns = RECORD_COLUMNS
    default_sort = "-inspected_on"
    title = _("Inspection records")
    csv_filename = "inspection-records"
    row_actions_template = "maintenance/plans/_record_actions.html"


class InspectionCertificateView(PortalMixin, View):
    """The PDF of one inspection record, in the reader's language; another tenant's record is a 404."""

    def get(self, request, pk: int):
        record = get_object_or_404(plans.inspection_record_list(user=request.user), pk=pk)
        pdf = plans.inspection_certificate_render(record=record, language=translation.get_language())
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{plans.inspection_certificate_filename(record)}"'
        return response


class WorkOrderInspectionRecordView(PortalMixin, View):
    """Record the statutory inspection done on an inspection work order (technician assigned, or dispatcher)."""

    def post(self, request, pk: int):
        from maintenance.selectors import work_order_list

        work_order = get_object_or_404(work_order_list(user=request.user).select_related("asset__customer"), pk=pk)
        form = InspectionRecordForm(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
            return redirect("maintenance:work_order_detail", pk=work_order.pk)
        if work_order.asset is None:
            raise Http404
        data = form.cleaned_data
        try:
            plans.inspection_record_create(
                asset=work_order.asset,
                kind=data["kind"],
                work_order=work_order,
                inspected_on=data["inspected_on"],
                inspector=request.user,
                inspector_name=data["inspector_name"],
                qualification=data["qualification"],
                result=data["result"],
                findings=data["findings"],
                by=request.user,
            )
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("The inspection was recorded."))
        return redirect("maintenance:work_order_detail", pk=work_order.pk)


# --- Panels and tiles ----------------------------------------------------------------------------------------------


def work_order_plan_panel(*, user, obj: WorkOrder) -> list[Tile]:
    """On a work order opened by a plan (or any inspection order): the plan, due date and basis, and for
    statutory inspections the record or the form to record it."""
    if obj.source != WorkOrderSource.PREVENTIVE_PLAN and obj.kind != WorkOrderKind.INSPECTION:
        return []  # no query for the other orders
    occurrence = PlanOccurrence.objects.filter(work_order=obj).select_related("plan").first()
    if occurrence is None and obj.kind != WorkOrderKind.INSPECTION:
        return []
    plan = occurrence.plan if occurrence is not None else None
    record = None
    form = None
    if obj.kind == WorkOrderKind.INSPECTION and obj.asset_id is not None:
        record = InspectionRecord.objects.filter(work_order=obj).first()
        if record is None and plans.inspection_may_record(user=user, work_order=obj):
            form = InspectionRecordForm(
                initial={
                    "kind": (plan.statutory if plan and plan.statutory else StatutoryInspection.MONTHLY_SELF),
                    "inspected_on": timezone.localdate(),
                    "inspector_name": user.get_full_name(),
                }
            )
    if occurrence is None and record is None and form is None:
        return []
    context = {
        "occurrence": occurrence,
        "plan": plan,
        "plan_link": plan is not None and sees_plans(access_for(user)),
        "record": record,
        "form": form,
        "work_order": obj,
    }
    return [Tile("maintenance/_wo_inspection.html", context, order=35)]


def asset_inspections_panel(*, user, obj: Asset) -> list[Tile]:
    """On an asset page: the latest statutory inspection of each kind, when the next is due, overdue in red."""
    today = timezone.localdate()
    row = plans.with_inspection_status(Asset.objects.visible_to(user).filter(pk=obj.pk), today=today).first()
    if row is None or not (row.annual_covered or row.monthly_covered or row.annual_last or row.monthly_last):
        return []
    kinds = [
        {
            "label": StatutoryInspection(kind).label,
            "covered": getattr(row, f"{prefix}_covered"),
            "last": getattr(row, f"{prefix}_last"),
            "result": getattr(row, f"{prefix}_result"),
            "result_label": InspectionResult(getattr(row, f"{prefix}_result")).label
            if getattr(row, f"{prefix}_result")
            else "",
            "certificate": getattr(row, f"{prefix}_certificate"),
            "record_id": getattr(row, f"{prefix}_record"),
            "next": getattr(row, f"{prefix}_next"),
            "overdue": getattr(row, f"{prefix}_overdue"),
        }
        for prefix, kind in plans.STATUTORY_KINDS.items()
    ]
    return [Tile("maintenance/_asset_inspections.html", {"asset": obj, "kinds": kinds}, order=45)]


TILE_ROLES = (Role.PROVIDER_ADMIN, Role.SERVICE_DESK, Role.ACCOUNT_MANAGER, Role.CUSTOMER_ADMIN)


def inspection_tiles(*, user) -> list[Tile]:
    """ "N statutory inspections overdue", for provider staff (not technicians) and customer admins with assets
    under statutory plans."""
    access = access_for(user)
    if access is None or access.role not in TILE_ROLES:
        return []
    counts = plans.inspection_overdue_counts(user=user)
    if not counts["covered"]:
        return []
    return [Tile("maintenance/plans/_dashboard_tile.html", counts, order=16)]


urlpatterns = [
    path("plans/", PreventivePlanListView.as_view(), name="plan_list"),
    path("plans/new/", PreventivePlanCreateView.as_view(), name="plan_create"),
    path("plans/<int:pk>/", PreventivePlanDetailView.as_view(), name="plan_detail"),
    path("plans/<int:pk>/edit/", PreventivePlanEditView.as_view(), name="plan_edit"),
    path("plans/<int:pk>/active/", PreventivePlanActiveView.as_view(), name="plan_active"),
    path("statutory-inspections/", InspectionListView.as_view(), name="inspection_list"),
    path("statutory-inspections/records/", InspectionRecordListView.as_view(), name="inspection_record_list"),
    path(
        "statutory-inspections/records/<int:pk>/certificate.pdf",
        InspectionCertificateView.as_view(),
        name="inspection_certificate",
    ),
    path(
        "work-orders/<int:pk>/inspection-record/",
        WorkOrderInspectionRecordView.as_view(),
        name="work_order_inspection_record",
    ),
]
