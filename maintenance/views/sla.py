"""Portal pages: service levels, business calendars (and which site keeps which), the dispatch board, the
dashboard tile of orders at risk and the work-order page's SLA panel."""

import datetime

import django_filters
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView, TemplateView

from accounts.models import Organisation
from accounts.roles import Capability
from accounts.selectors import customer_list
from assets.models import Site
from fleet.dashboard import Tile
from fleet.filters import SearchFilterSet
from fleet.tables import Column
from fleet.tenancy import access_for, visible
from fleet.views import FilteredListView, PortalMixin
from maintenance import sla
from maintenance.choices import WORK_ORDER_OPEN_STATES, Priority, SlaState
from maintenance.filters import WorkOrderFilterSet, technicians_for
from maintenance.models import BusinessCalendar, ServiceLevel

BOARD_PAGE_SIZE = 50
# The filters the board offers: the rest of the work-order list's filters make no sense on it.
BOARD_FILTERS = ("q", "customer", "site", "priority", "sla_state")
SITE_CALENDARS_SHOWN = 200

SERVICE_LEVEL_COLUMNS = (
    Column("name", _("Name"), "name", sort="name", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name"),
    Column("p1", _("P1 response / resolution (h)"), "response_hours_p1", phone=False),
    Column("business_hours", _("Business hours only"), "business_hours_only", sort="business_hours_only"),
    Column("calendar", _("Business calendar"), "calendar__name", sort="calendar__name", phone=False),
    Column("uptime", _("Uptime target (%)"), "uptime_target_percent", phone=False),
)

CALENDAR_COLUMNS = (
    Column("name", _("Name"), "name", sort="name", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name"),
    Column("holidays", _("Public holidays of"), "holiday_country", sort="holiday_country"),
)


# --- Filters ------------------------------------------------------------------------------------------------------

_visible_customers = visible(Organisation.objects.customers())


class ServiceLevelFilterSet(SearchFilterSet):
    search_fields = ("name", "customer__name")
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    business_hours_only = django_filters.BooleanFilter(label=_("Business hours only"))

    class Meta:
        model = ServiceLevel
        fields = ["customer", "business_hours_only"]


class BusinessCalendarFilterSet(SearchFilterSet):
    search_fields = ("name", "customer__name", "holiday_country")
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))

    class Meta:
        model = BusinessCalendar
        fields = ["customer"]


# --- Forms --------------------------------------------------------------------------------------------------------


class ServiceLevelForm(forms.Form):
    """The terms of a service level; the rules across fields are the service's (shown as field errors)."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(forms.fields_for_model(ServiceLevel, fields=sla.SERVICE_LEVEL_FIELDS))
        self.fields["customer"].queryset = customer_list(user=user)
        self.fields["customer"].empty_label = _("— the provider's default —")
        self.fields["calendar"].queryset = sla.business_calendar_list(user=user)
        at_risk = self.fields["at_risk_percent"]
        self.fields["at_risk_percent"] = forms.IntegerField(
            label=at_risk.label, help_text=at_risk.help_text, initial=at_risk.initial, min_value=1, max_value=100
        )


class BusinessCalendarForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    customer = forms.ModelChoiceField(
        label=_("Customer"),
        queryset=None,
        required=False,
        empty_label=_("— any customer —"),
        help_text=_("Leave empty for a calendar any customer's service level may use."),
    )
    holiday_country = forms.CharField(
        label=_("Public holidays of"),
        max_length=2,
        required=False,
        help_text=_("ISO country code whose public holidays are closed days (for example JP); empty for none."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customer_list(user=user)


class BusinessHoursForm(forms.Form):
    weekday = forms.TypedChoiceField(
        label=_("Weekday"), choices=[("", "—"), *sorted(WEEKDAYS.items())], coerce=int, empty_value=None
    )
    opens = forms.TimeField(label=_("Opens"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    closes = forms.TimeField(label=_("Closes"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))

    def clean(self):
        data = super().clean()
        if data.get("opens") and data.get("closes") and data["opens"] >= data["closes"]:
            self.add_error("closes", sla.HOURS_REVERSED)
        return data


class BusinessClosureForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(label=_("Name"), max_length=100, required=False)


HoursFormSet = forms.formset_factory(BusinessHoursForm, extra=2, can_delete=True)
ClosureFormSet = forms.formset_factory(BusinessClosureForm, extra=2, can_delete=True)


def _formset_rows(formset) -> list[dict]:
    return [
        {key: value for key, value in form.cleaned_data.items() if key != "DELETE"}
        for form in formset.forms
        if form.has_changed() and form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


class SiteCalendarForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=None)
    calendar = forms.ModelChoiceField(
        label=_("Business calendar"),
        queryset=None,
        required=False,
        empty_label=_("— the service level's calendar —"),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = (
            Site.objects.visible_to(user).select_related("customer").order_by("customer__name", "name")
        )
        self.fields["site"].label_from_instance = lambda site: f"{site.customer.name} · {site.name}"
        self.fields["calendar"].queryset = sla.business_calendar_list(user=user)


# --- Service levels -----------------------------------------------------------------------------------------------


class ServiceLevelListView(FilteredListView):
    required_capability = Capability.MANAGE_CUSTOMERS
    selector = staticmethod(sla.service_level_list)
    filterset_class = ServiceLevelFilterSet
    columns = SERVICE_LEVEL_COLUMNS
    default_sort = "customer"
    title = _("Service levels")
    csv_filename = "service-levels"
    detail_url_name = "maintenance:service_level_edit"
    create_url_name = "maintenance:service_level_create"
    create_capability = Capability.MANAGE_CUSTOMERS


class ServiceLevelFormView(PortalMixin, FormView):
    required_capability = Capability.MANAGE_CUSTOMERS
    form_class = ServiceLevelForm
    template_name = "portal/form.html"
    extra_context = {"cancel_url_name": "maintenance:service_level_list"}

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def save(self, data: dict) -> ServiceLevel:
        raise NotImplementedError

    def form_valid(self, form):
        try:
            level = self.save(form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The service level was saved."))
        return redirect("maintenance:service_level_edit", pk=level.pk)


class ServiceLevelCreateView(ServiceLevelFormView):
    extra_context = {**ServiceLevelFormView.extra_context, "title": _("New service level")}

    def save(self, data: dict) -> ServiceLevel:
        return sla.service_level_create(by=self.request.user, **data)


class ServiceLevelEditView(ServiceLevelFormView):
    def get_level(self) -> ServiceLevel:
        if not hasattr(self, "level"):
            self.level = get_object_or_404(sla.service_level_list(user=self.request.user), pk=self.kwargs["pk"])
        return self.level

    def get_initial(self):
        level = self.get_level()
        return {name: getattr(level, name) for name in sla.SERVICE_LEVEL_FIELDS}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = self.get_level().name
        return context

    def save(self, data: dict) -> ServiceLevel:
        return sla.service_level_update(service_level=self.get_level(), by=self.request.user, **data)


# --- Business calendars -------------------------------------------------------------------------------------------


class BusinessCalendarListView(FilteredListView):
    required_capability = Capability.MANAGE_CUSTOMERS
    selector = staticmethod(sla.business_calendar_list)
    filterset_class = BusinessCalendarFilterSet
    columns = CALENDAR_COLUMNS
    default_sort = "name"
    title = _("Business calendars")
    csv_filename = "business-calendars"
    detail_url_name = "maintenance:business_calendar_edit"
    create_url_name = "maintenance:business_calendar_create"
    create_capability = Capability.MANAGE_CUSTOMERS


class BusinessCalendarFormView(PortalMixin, TemplateView):
    """A calendar with its opening hours and closures in one form; the service saves them together."""

    required_capability = Capability.MANAGE_CUSTOMERS
    template_name = "maintenance/sla/calendar_form.html"
    calendar: BusinessCalendar | None = None

    def get_calendar(self) -> BusinessCalendar | None:
        return None

    def _forms(self, data=None):
        calendar = self.get_calendar()
        initial, hours, closures = {}, [], []
        if calendar is not None:
            initial = {
                "name": calendar.name,
                "customer": calendar.customer_id,
                "holiday_country": calendar.holiday_country,
            }
            hours = [{"weekday": row.weekday, "opens": row.opens, "closes": row.closes} for row in calendar.hours.all()]
            closures = [{"date": row.date, "name": row.name} for row in calendar.closures.all()]
        return (
            BusinessCalendarForm(data, initial=initial, user=self.request.user),
            HoursFormSet(data, initial=hours, prefix="hours"),
            ClosureFormSet(data, initial=closures, prefix="closures"),
        )

    def render_forms(self, form, hours, closures):
        calendar = self.get_calendar()
        return self.render_to_response(
            self.get_context_data(
                form=form,
                hours_formset=hours,
                closures_formset=closures,
                calendar=calendar,
                title=calendar.name if calendar else _("New business calendar"),
            )
        )

    def get(self, request, *args, **kwargs):
        return self.render_forms(*self._forms())

    def post(self, request, *args, **kwargs):
        form, hours, closures = self._forms(request.POST)
        if not (form.is_valid() and hours.is_valid() and closures.is_valid()):
            return self.render_forms(form, hours, closures)
        try:
            calendar = sla.business_calendar_save(
                by=request.user,
                calendar=self.get_calendar(),
                hours=_formset_rows(hours),
                closures=_formset_rows(closures),
                **form.cleaned_data,
            )
        except ValidationError as error:
            for name, messages_ in error.message_dict.items():
                for message in messages_:
                    form.add_error(name if name in form.fields else None, message)
            return self.render_forms(form, hours, closures)
        messages.success(request, _("The business calendar was saved."))
        return redirect("maintenance:business_calendar_edit", pk=calendar.pk)


class BusinessCalendarEditView(BusinessCalendarFormView):
    def get_calendar(self) -> BusinessCalendar:
        if self.calendar is None:
            self.calendar = get_object_or_404(sla.business_calendar_list(user=self.request.user), pk=self.kwargs["pk"])
        return self.calendar


class SiteCalendarView(PortalMixin, FormView):
    """Which sites keep their own calendar; the form gives a site one (or takes it away)."""

    required_capability = Capability.MANAGE_CUSTOMERS
    form_class = SiteCalendarForm
    template_name = "maintenance/sla/site_calendars.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = _("Site calendars")
        context["site_calendars"] = sla.site_calendar_list(user=self.request.user)[:SITE_CALENDARS_SHOWN]
        return context

    def form_valid(self, form):
        try:
            sla.site_calendar_set(by=self.request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The site's calendar was saved."))
        return redirect("maintenance:site_calendars")


# --- The dispatch board -------------------------------------------------------------------------------------------


class DispatchBoardView(PortalMixin, TemplateView):
    """Unassigned, at-risk and breached open orders, most urgent first, each with an assign form."""

    required_capability = Capability.DISPATCH_WORK
    template_name = "maintenance/sla/board.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        filterset = WorkOrderFilterSet(
            self.request.GET or None,
            queryset=sla.dispatch_board(user=self.request.user, now=now),
            request=self.request,
        )
        for name in list(filterset.filters):
            if name not in BOARD_FILTERS:
                del filterset.filters[name]
        queryset = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
        if filterset.is_bound and not filterset.is_valid():
            queryset = queryset.none()
        filterset.narrow_choices()
        page = Paginator(queryset, BOARD_PAGE_SIZE).get_page(self.request.GET.get("page"))
        context.update(
            {
                "title": _("Dispatch board"),
                "filterset": filterset,
                "page_obj": page,
                "rows": [(order, sla.time_left_label(order, now=now)) for order in page.object_list],
                "technicians": list(technicians_for(self.request.user)),
                "sla_labels": dict(SlaState.choices),
                "here": self.request.get_full_path(),
                "query": self._query_without_page(),
                "filtered": any(value for name, value in self.request.GET.items() if name in filterset.filters),
            }
        )
        return context

    def _query_without_page(self) -> str:
        params = self.request.GET.copy()
        params.pop("page", None)
        return params.urlencode()


# --- Dashboard tile and work-order panel --------------------------------------------------------------------------


def sla_tiles(*, user) -> list[Tile]:
    """For dispatching staff: how many open orders are at risk and how many breached (one query)."""
    access = access_for(user)
    if access is None or not access.is_provider_staff or not access.can(Capability.DISPATCH_WORK):
        return []
    counts = sla.sla_counts(user=user, now=timezone.now())
    return [Tile("maintenance/sla/_tiles.html", {**counts, "states": SlaState}, order=15)]


def _downtime(work_order) -> datetime.timedelta | None:
    if work_order.down_from and work_order.down_until:
        return work_order.down_until - work_order.down_from
    return None


def sla_work_order_panel(*, user, obj) -> list[Tile]:
    """The work-order page's service level: due times in the site's time, time left, business hours, downtime."""
    now = timezone.now()
    level = obj.service_level
    calendar = sla.calendar_for(site=obj.site, service_level=level) if level is not None else None
    downtime = _downtime(obj)
    context = {
        "work_order": obj,
        "service_level": level,
        "state": SlaState(sla.sla_state_of(obj, now=now)),
        "time_left": sla.time_left_label(obj, now=now),
        "business_hours": bool(level and level.business_hours_only),
        "calendar": calendar,
        "tz": obj.site.time_zone,
        "priority": Priority(obj.priority).label,
        "downtime": sla.format_duration(downtime) if downtime is not None else "",
        "is_open": obj.status in WORK_ORDER_OPEN_STATES,
    }
    return [Tile("maintenance/_wo_sla.html", context, order=10)]


urlpatterns = [
    path("work-orders/board/", DispatchBoardView.as_view(), name="dispatch_board"),
    path("service-levels/", ServiceLevelListView.as_view(), name="service_level_list"),
    path("service-levels/new/", ServiceLevelCreateView.as_view(), name="service_level_create"),
    path("service-levels/<int:pk>/", ServiceLevelEditView.as_view(), name="service_level_edit"),
    path("business-calendars/", BusinessCalendarListView.as_view(), name="business_calendar_list"),
    path("business-calendars/new/", BusinessCalendarFormView.as_view(), name="business_calendar_create"),
    path("business-calendars/<int:pk>/", BusinessCalendarEditView.as_view(), name="business_calendar_edit"),
    path("business-calendars/sites/", SiteCalendarView.as_view(), name="site_calendars"),
]
