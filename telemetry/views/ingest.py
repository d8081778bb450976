"""Portal pages of telemetry: ingest. Collector keys (list, create with the key shown once, revoke), the CSV
upload of telemetry exports and manual meter reads, with the dashboard tile and asset panel that lead to them.

Every write goes through ``telemetry.keys`` and ``telemetry.ingest``; these views only collect the input.
"""

import csv
import zoneinfo

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView, TemplateView

from accounts.models import Organisation
from accounts.roles import Capability
from accounts.selectors import customer_list
from assets.imports import FILE_TOO_LARGE, FLEET_IMPORT_MAX_BYTES, fleet_import_decode
from assets.selectors import asset_list
from fleet.dashboard import Tile
from fleet.tables import Column
from fleet.tenancy import access_for
from fleet.views import FilteredListView, PortalMixin
from telemetry.choices import Meter, Supply
from telemetry.ingest import (
    CSV_COLUMNS,
    CSV_REQUIRED_COLUMNS,
    REJECTED,
    csv_template_rows,
    meter_read_enter,
    meters_for,
    telemetry_csv_ingest,
)
from telemetry.keys import CollectorKeyFilterSet, collector_key_create, collector_key_list, collector_key_revoke

NEW_KEY_SESSION = "telemetry_new_collector_key"
REPORT_MAX_LINES = 1000

# -- Collector keys ---------------------------------------------------------------------------------------------------

COLLECTOR_KEY_COLUMNS = (
    Column("name", _("Name"), "name", sort="name"),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("prefix", _("Prefix"), "prefix", sort="prefix"),
    Column("created", _("Created"), "created_at", sort="created_at", phone=False),
    Column("created_by", _("Created by"), "created_by__email", phone=False),
    Column("last_used", _("Last used"), "last_used_at", sort="last_used_at"),
    Column("revoked", _("Revoked"), "revoked_at", sort="revoked_at"),
)


class CollectorKeyListView(FilteredListView):
    required_capability = Capability.MANAGE_COLLECTOR_KEYS
    selector = staticmethod(collector_key_list)
    filterset_class = CollectorKeyFilterSet
    columns = COLLECTOR_KEY_COLUMNS
    default_sort = "customer"
    title = _("Collector keys")
    csv_filename = "collector-keys"
    create_url_name = "telemetry:collector_key_create"
    create_capability = Capability.MANAGE_COLLECTOR_KEYS
    row_actions_template = "telemetry/ingest/_collector_key_actions.html"


class CollectorKeyForm(forms.Form):
    customer = forms.ModelChoiceField(queryset=Organisation.objects.none(), label=_("Customer"))
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("Where the collector runs, e.g. Tokyo HQ print server.")
    )

    def __init__(self, *args, customers, access, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers
        if not access.is_provider_staff:  # a customer's admin creates keys of their own organisation
            self.fields["customer"].initial = access.organisation_id
            self.fields["customer"].widget = forms.HiddenInput()


class CollectorKeyCreateView(PortalMixin, FormView):
    """Create a key; the next page shows it once."""

    required_capability = Capability.MANAGE_COLLECTOR_KEYS
    form_class = CollectorKeyForm
    template_name = "telemetry/ingest/collector_key_form.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["customers"] = customer_list(user=self.request.user)
        kwargs["access"] = self.access
        return kwargs

    def form_valid(self, form):
        try:
            key, plaintext = collector_key_create(
                customer=form.cleaned_data["customer"], name=form.cleaned_data["name"], by=self.request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        # Kept in the session only until the next page shows it (and drops it).
        self.request.session[NEW_KEY_SESSION] = {"pk": key.pk, "key": plaintext}
        return redirect("telemetry:collector_key_created", pk=key.pk)


class CollectorKeyCreatedView(PortalMixin, TemplateView):
    """The new key, shown once: reloading the page shows it no more."""

    required_capability = Capability.MANAGE_COLLECTOR_KEYS
    template_name = "telemetry/ingest/collector_key_created.html"

    def get(self, request, pk: int):
        key = get_object_or_404(collector_key_list(user=request.user), pk=pk)
        new = request.session.get(NEW_KEY_SESSION)
        plaintext = ""
        if new and new.get("pk") == key.pk:
            plaintext = new["key"]
            del request.session[NEW_KEY_SESSION]
        response = self.render_to_response(self.get_context_data(key=key, plaintext=plaintext))
        response["Cache-Control"] = "no-store"
        return response


class CollectorKeyRevokeView(PortalMixin, View):
    required_capability = Capability.MANAGE_COLLECTOR_KEYS

    def post(self, request, pk: int):
        key = get_object_or_404(collector_key_list(user=request.user), pk=pk)
        try:
            collector_key_revoke(key=key, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request, _("The key %(name)s was revoked: collectors using it are refused.") % {"name": key.name}
            )
        return redirect("telemetry:collector_key_list")


# -- CSV upload -------------------------------------------------------------------------------------------------------


class TelemetryUploadForm(forms.Form):
    customer = forms.ModelChoiceField(queryset=Organisation.objects.none(), label=_("Customer"))
    file = forms.FileField(
        label=_("CSV file"), help_text=_("UTF-8 (Excel: CSV UTF-8) or Shift_JIS, at most 10 MB, with a header row.")
    )

    def __init__(self, *args, customers, access, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers
        if not access.is_provider_staff:
            self.fields["customer"].initial = access.organisation_id
            self.fields["customer"].widget = forms.HiddenInput()
        self.content = ""

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > FLEET_IMPORT_MAX_BYTES:
            raise forms.ValidationError(FILE_TOO_LARGE, code="too_large")
        self.content, _encoding = fleet_import_decode(data=upload.read(), filename=upload.name)
        return upload


def csv_column_help() -> list[tuple[str, bool, str]]:
    """What each column of an upload holds, in the active language, for the upload page."""
    texts = {
        "serial": _("The asset's serial number."),
        "manufacturer": _("The manufacturer, as in the catalogue. Needed when two of your assets share a serial."),
        "type": _("reading, supply or event."),
        "meter_or_supply_or_code": _(
            "For a reading the meter (%(meters)s); for a supply level the supply (%(supplies)s); for an event "
            "its code, e.g. E-301 or IMPACT."
        )
        % {"meters": ", ".join(Meter.values), "supplies": ", ".join(Supply.values)},
        "taken_at": _(
            "When it was read or happened: 2026-03-01 09:30, 2026/03/01 9:30 or ISO 8601. Without an offset the "
            "time is in the customer's time zone."
        ),
        "value": _("The counter (a reading, e.g. 1520.5) or the level in percent (a supply, 0 to 100)."),
        "severity": _("Events: info, warning, error or critical (empty: info)."),
        "message": _("Events: what the device said."),
        "g_force": _("Impact events: the measured g-force, e.g. 2.8."),
        "operator_id": _("Events: the operator's id, where the truck reports one."),
        "cleared": _("Events: true when the device reports the condition cleared (true/false, 1/0)."),
    }
    return [(name, name in CSV_REQUIRED_COLUMNS, texts[name]) for name in CSV_COLUMNS]


class TelemetryUploadView(PortalMixin, FormView):
    """Upload a telemetry export (forklift telematics and the like); every line's outcome is reported.

    Open to those who manage collector keys (customer admins for their organisation, provider admins): an upload
    writes a customer's telemetry just as a collector does.
    """

    required_capability = Capability.MANAGE_COLLECTOR_KEYS
    form_class = TelemetryUploadForm
    template_name = "telemetry/ingest/upload.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["customers"] = customer_list(user=self.request.user)
        kwargs["access"] = self.access
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["columns"] = csv_column_help()
        context["example"] = "\n".join(",".join(row) for row in csv_template_rows())
        context["max_lines"] = REPORT_MAX_LINES
        return context

    def form_valid(self, form):
        try:
            report = telemetry_csv_ingest(
                customer=form.cleaned_data["customer"], content=form.content, by=self.request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        if report.errors:
            for message in report.errors:
                form.add_error("file", message)
            return self.form_invalid(form)
        rejected = [line for line in report.lines if line.outcome == REJECTED]
        return self.render_to_response(
            self.get_context_data(
                form=TelemetryUploadForm(customers=customer_list(user=self.request.user), access=self.access),
                report=report,
                customer=form.cleaned_data["customer"],
                rejected_lines=rejected[:REPORT_MAX_LINES],
                shown_lines=report.lines[:REPORT_MAX_LINES],
            )
        )


class TelemetryUploadTemplateView(PortalMixin, View):
    """The upload's columns with three example lines, as a CSV file."""

    required_capability = Capability.MANAGE_COLLECTOR_KEYS

    def get(self, request):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="telemetry-upload-template.csv"'
        response.write("\ufeff")
        csv.writer(response).writerows(csv_template_rows())
        return response


# -- Manual meter reads -----------------------------------------------------------------------------------------------


class MeterReadForm(forms.Form):
    meter = forms.ChoiceField(label=_("Meter"))
    taken_at = forms.DateTimeField(
        label=_("Read at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    value = forms.DecimalField(label=_("Counter"), min_value=0, max_digits=16, decimal_places=3)

    def __init__(self, *args, meters, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["meter"].choices = meters


class MeterReadView(PortalMixin, FormView):
    """Enter a meter read of one asset by hand (a technician on site, or the customer's own count).

    The time is entered in the site's time zone. The read is stored with the source of the user's side
    (technician for the provider's staff, customer for the customer's users) and the user as its author.
    """

    required_capability = Capability.ENTER_METER_READS
    form_class = MeterReadForm
    template_name = "telemetry/ingest/meter_read.html"

    def get_asset(self):
        if not hasattr(self, "asset"):
            self.asset = get_object_or_404(asset_list(user=self.request.user), pk=self.kwargs["pk"])
        return self.asset

    def site_zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.get_asset().site.time_zone)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["meters"] = meters_for(asset=self.get_asset())
        return kwargs

    def get_initial(self):
        return {"taken_at": timezone.localtime(timezone.now(), self.site_zone()).strftime("%Y-%m-%dT%H:%M")}

    def post(self, request, *args, **kwargs):
        with timezone.override(self.site_zone()):  # the entered time is the site's local time
            return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["asset"] = self.get_asset()
        context["time_zone"] = self.get_asset().site.time_zone
        return context

    def form_valid(self, form):
        asset = self.get_asset()
        try:
            meter_read_enter(
                asset=asset,
                meter=form.cleaned_data["meter"],
                taken_at=form.cleaned_data["taken_at"],
                value=form.cleaned_data["value"],
                by=self.request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The meter read was saved."))
        return redirect("assets:asset_detail", pk=asset.pk)


# -- Dashboard tile and asset panel -----------------------------------------------------------------------------------


def ingest_tiles(*, user) -> list[Tile]:
    """Links to collector keys and the telemetry upload, for those who manage collector keys (no query)."""
    access = access_for(user)
    if access is None or not access.can(Capability.MANAGE_COLLECTOR_KEYS):
        return []
    return [Tile("telemetry/ingest/_dashboard_tile.html", order=60)]


def meter_read_panel(*, user, obj) -> list[Tile]:
    """The asset page's button to enter a meter read, for roles that may (no query)."""
    access = access_for(user)
    if access is None or not access.can(Capability.ENTER_METER_READS):
        return []
    return [Tile("telemetry/ingest/_asset_panel.html", {"asset": obj}, order=90)]


urlpatterns = [
    path("collector-keys/", CollectorKeyListView.as_view(), name="collector_key_list"),
    path("collector-keys/add/", CollectorKeyCreateView.as_view(), name="collector_key_create"),
    path("collector-keys/<int:pk>/created/", CollectorKeyCreatedView.as_view(), name="collector_key_created"),
    path("collector-keys/<int:pk>/revoke/", CollectorKeyRevokeView.as_view(), name="collector_key_revoke"),
    path("upload/", TelemetryUploadView.as_view(), name="ingest_upload"),
    path("upload/template.csv", TelemetryUploadTemplateView.as_view(), name="ingest_template"),
    path("assets/<int:pk>/meter-read/", MeterReadView.as_view(), name="meter_read"),
]
