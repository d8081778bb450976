"""Portal pages of QR labels, per-asset service links and pre-use inspections.

The service link (``s/<token>/``) is the one public page of the portal: it asks for no sign-in, shows only the
asset's model, tag and site, and can only send a service request for that asset. Everything else is a
signed-in page on the shared bases, reading through the scoped selectors.
"""

import csv
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import segno
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views import View
from django.views.generic import FormView, TemplateView

from accounts.choices import Role
from accounts.roles import Capability
from assets.choices import AssetCategory
from assets.filters import AssetFilterSet
from assets.models import Asset
from assets.selectors import asset_list
from fleet.dashboard import Tile
from fleet.pdf import render_pdf
from fleet.tables import Column, csv_cell
from fleet.tenancy import access_for
from fleet.views import FilteredListView, PortalMixin, TenantDetailView
from maintenance import inspections
from maintenance.choices import Priority
from maintenance.inspections import PreUseAnswer, PreUseInspectionFilterSet
from maintenance.models import AssetServiceLink

# Trucks the asset page offers a pre-use inspection for.
PRE_USE_CATEGORIES = (AssetCategory.FORKLIFT, AssetCategory.REACH_TRUCK)
QR_LABELS_PER_ROW = 3
QR_LABELS_MAX = 480  # twenty A4 sheets of 3 x 8 labels

PRE_USE_COLUMNS = (
    Column("performed", _("Performed"), "performed_at", sort="performed_at", link=True),
    Column("asset", _("Asset"), "asset__serial_number", sort="asset__serial_number"),
    Column("tag", _("Asset tag"), "asset__asset_tag", sort="asset__asset_tag", phone=False),
    Column("customer", _("Customer"), "asset__customer__name", sort="asset__customer__name", provider_only=True),
    Column("site", _("Site"), "asset__site__name", sort="asset__site__name", phone=False),
    Column("operator", _("Operator"), "operator__email", sort="operator__email"),
    Column(
        "passed",
        _("Result"),
        "passed",
        sort="passed",
        choices={True: _("Passed"), False: pgettext_lazy("inspection result", "Failed")},
    ),
    Column("critical", _("Critical failure"), "critical_failure", sort="critical_failure"),
    Column("hours", _("Hour meter"), "hour_meter", sort="hour_meter", phone=False),
    Column("work_order", _("Work order"), "work_order__number", sort="work_order__number", phone=False),
)


def qr_svg(url: str, *, scale: int = 4) -> str:
    """The QR code of ``url`` as inline SVG markup (presentation attributes only: no style, no script)."""
    return segno.make(url, error="m").svg_inline(scale=scale, omitsize=True, svgclass="qr", lineclass="qr-line")


def qr_data_uri(url: str) -> str:
    """The QR code of ``url`` as an SVG ``data:`` URI (what the PDF's static-only fetcher accepts)."""
    return segno.make(url, error="m").svg_data_uri(scale=4, border=2)


def service_link_url(request, link: AssetServiceLink) -> str:
    return request.build_absolute_uri(reverse("maintenance:service_link", args=[link.token]))


def _provider_name(asset: Asset) -> str:
    provider = asset.customer.provider
    return provider.name if provider is not None else ""


# --- The asset page's panel -------------------------------------------------------------------------------------


def asset_qr_panel(*, user, obj) -> list[Tile]:
    """The asset page's QR label link, and the operator's and the requester's buttons (no query)."""
    access = access_for(user)
    if access is None:
        return []
    asset = obj
    context = {
        "asset": asset,
        "may_inspect": access.can(Capability.PRE_USE_INSPECTIONS)
        and access.role == Role.CUSTOMER_OPERATOR
        and asset.asset_model.category in PRE_USE_CATEGORIES,
        "request_url": ""
        if access.is_provider_staff or not access.can(Capability.REQUEST_SERVICE)
        else _service_request_url(asset),
    }
    return [Tile("maintenance/_asset_qr.html", context, order=85)]


def _service_request_url(asset: Asset) -> str:
    return f"{reverse('maintenance:service_request')}?{urlencode({'asset': asset.pk, 'site': asset.site_id})}"


# --- QR labels --------------------------------------------------------------------------------------------------


class AssetMixin:
    """The asset of the URL, found among those the user sees (another tenant's is a 404)."""

    def get_asset(self) -> Asset:
        if not hasattr(self, "asset"):
            self.asset = get_object_or_404(
                asset_list(user=self.request.user).select_related("customer__provider"), pk=self.kwargs["pk"]
            )
        return self.asset


class AssetQrLabelView(AssetMixin, PortalMixin, TemplateView):
    """A printable label for one asset: its QR code with tag, serial number, model, site and provider."""

    template_name = "maintenance/inspections/asset_qr_label.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        asset = self.get_asset()
        link = inspections.service_link_for(asset=asset)
        url = service_link_url(self.request, link)
        context.update(
            {
                "asset": asset,
                "link": link,
                "url": url,
                "qr_svg": mark_safe(qr_svg(url)),  # noqa: S308 - segno's markup of our own URL, no typed text
                "provider_name": _provider_name(asset),
                "may_rotate": inspections.may_rotate_service_link(user=self.request.user, asset=asset),
                "site_labels_url": f"{reverse('maintenance:qr_labels_pdf')}?{urlencode({'site': asset.site_id})}",
                "asset_label_url": f"{reverse('maintenance:qr_labels_pdf')}?{urlencode({'asset': asset.pk})}",
            }
        )
        return context


class ServiceLinkRotateView(AssetMixin, PortalMixin, View):
    """Replace the asset's service link: the printed label stops working."""

    def post(self, request, pk: int):
        asset = self.get_asset()
        if not inspections.may_rotate_service_link(user=request.user, asset=asset):
            raise Http404
        inspections.service_link_rotate(asset=asset, by=request.user)
        messages.success(request, _("The QR label was replaced. Print the new label: the old one no longer works."))
        return redirect("maintenance:asset_qr_label", pk=asset.pk)


class QrLabelsPdfView(PortalMixin, View):
    """An A4 sheet (3 x 8) of QR labels: one asset (``?asset=``), or the assets of the asset list's filters."""

    def get(self, request):
        assets = asset_list(user=request.user).select_related("customer__provider")
        one = request.GET.get("asset", "")
        if one:
            if not one.isdigit():
                raise Http404
            assets = assets.filter(pk=one)
        else:
            filterset = AssetFilterSet(request.GET or None, queryset=assets, request=request)
            if filterset.is_bound and not filterset.is_valid():
                return HttpResponse(_("Check the filters."), status=400, content_type="text/plain; charset=utf-8")
            assets = filterset.qs if filterset.is_bound else assets
        rows = list(assets.order_by("site__name", "asset_tag", "serial_number", "pk")[: QR_LABELS_MAX + 1])
        if not rows and one:
            raise Http404
        if len(rows) > QR_LABELS_MAX:
            message = _("More than %(max)s labels: choose a site or another filter.") % {"max": QR_LABELS_MAX}
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        links = {link.asset_id: link for link in AssetServiceLink.objects.filter(asset__in=rows)}
        for asset in rows:
            if asset.pk not in links:
                links[asset.pk] = inspections.service_link_for(asset=asset)
        labels = [
            {
                "qr": qr_data_uri(service_link_url(request, links[asset.pk])),
                "tag": asset.asset_tag,
                "serial": asset.serial_number,
                "model": f"{asset.manufacturer.name} {asset.asset_model.name}",
                "site": asset.site.name,
                "provider": _provider_name(asset),
            }
            for asset in rows
        ]
        pdf = render_pdf(
            template_name="pdf/qr_labels.html",
            context={
                "rows": [
                    labels[start : start + QR_LABELS_PER_ROW] for start in range(0, len(labels), QR_LABELS_PER_ROW)
                ]
            },
            language=translation.get_language(),
        )
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = 'attachment; filename="qr-labels.pdf"'
        return response


# --- The public service link ------------------------------------------------------------------------------------


class PublicServiceRequestForm(forms.Form):
    """What someone who scanned a label may send: who they are, how to reach them, the problem, how urgent."""

    name = forms.CharField(label=_("Your name"), max_length=100)
    contact = forms.CharField(label=_("Phone or e-mail"), max_length=200)
    description = forms.CharField(
        label=_("What is the problem?"), widget=forms.Textarea(attrs={"rows": 4}), max_length=2000
    )
    priority = forms.ChoiceField(
        label=_("How urgent is it?"),
        choices=[(Priority.P3, _("Normal")), (Priority.P2, _("High: the equipment cannot be used"))],
        initial=Priority.P3,
        widget=forms.RadioSelect,
    )
    # A field people do not see and bots fill in: a request with it is dropped.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )


def _signed_in_destination(request, asset: Asset) -> str | None:
    """Where a signed-in user who sees the asset goes instead of the public form; None for the public form."""
    access = access_for(request.user)
    if access is None or not Asset.objects.visible_to(request.user).filter(pk=asset.pk).exists():
        return None
    if access.is_provider_staff:
        return reverse("assets:asset_detail", args=[asset.pk])
    if access.role == Role.CUSTOMER_OPERATOR:
        return reverse("maintenance:asset_scan", args=[asset.pk])
    if access.can(Capability.REQUEST_SERVICE):
        return _service_request_url(asset)
    return reverse("assets:asset_detail", args=[asset.pk])


class ServiceLinkView(FormView):
    """What a scanned QR label opens. No sign-in needed; unknown or replaced tokens are a 404."""

    template_name = "maintenance/inspections/service_link.html"
    form_class = PublicServiceRequestForm

    def dispatch(self, request, *args, **kwargs):
        self.link = inspections.service_link_lookup(token=kwargs["token"])
        if self.link is None:
            raise Http404
        if request.method == "GET" and request.user.is_authenticated:
            destination = _signed_in_destination(request, self.link.asset)
            if destination is not None:
                return redirect(destination)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        asset = self.link.asset
        context.update(
            {"model_name": asset.asset_model.name, "asset_tag": asset.asset_tag, "site_name": asset.site.name}
        )
        return context

    def form_valid(self, form):
        data = form.cleaned_data
        if data["website"]:
            return redirect("maintenance:service_link_sent", token=self.link.token)  # a bot: say nothing
        try:
            inspections.service_link_request_create(
                link=self.link,
                name=data["name"],
                contact=data["contact"],
                description=data["description"],
                priority=data["priority"],
            )
        except ValidationError as error:
            form.add_error(None, error)
            response = self.form_invalid(form)
            if error.code == "rate_limited":
                response.status_code = 429
            return response
        return redirect("maintenance:service_link_sent", token=self.link.token)


class ServiceLinkSentView(TemplateView):
    template_name = "maintenance/inspections/service_link_sent.html"

    def get(self, request, *args, **kwargs):
        link = inspections.service_link_lookup(token=kwargs["token"])
        if link is None:
            raise Http404
        return self.render_to_response({"site_name": link.asset.site.name, "token": link.token})


# --- Pre-use inspections ----------------------------------------------------------------------------------------


class AssetScanView(AssetMixin, PortalMixin, TemplateView):
    """An operator scanned a truck's label: inspect it before use, or report a problem."""

    required_capability = Capability.PRE_USE_INSPECTIONS
    template_name = "maintenance/inspections/asset_scan.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        asset = self.get_asset()
        context.update(
            {
                "asset": asset,
                "request_url": _service_request_url(asset) if self.access.can(Capability.REQUEST_SERVICE) else "",
                "out_of_service": asset.status not in inspections.INSPECTABLE_STATES,
            }
        )
        return context


OK, FAILED = "ok", "failed"


class PreUseInspectionForm(forms.Form):
    """Every checklist item OK or not OK (with a note), the hour meter and a note."""

    hour_meter = forms.DecimalField(label=_("Hour meter"), required=False, min_value=0, max_digits=12, decimal_places=1)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, items, **kwargs):
        super().__init__(*args, **kwargs)
        self.items = items
        for item in items:
            self.fields[f"item_{item.pk}"] = forms.ChoiceField(
                label=item.text,
                choices=[(OK, _("OK")), (FAILED, _("Not OK"))],
                widget=forms.RadioSelect,
                error_messages={"required": _("Choose OK or not OK.")},
            )
            self.fields[f"note_{item.pk}"] = forms.CharField(label=_("What is wrong?"), required=False, max_length=300)

    def item_rows(self):
        return [(item, self[f"item_{item.pk}"], self[f"note_{item.pk}"]) for item in self.items]

    def answers(self) -> list[PreUseAnswer]:
        return [
            PreUseAnswer(
                item_id=item.pk,
                ok=self.cleaned_data[f"item_{item.pk}"] == OK,
                note=self.cleaned_data[f"note_{item.pk}"],
            )
            for item in self.items
        ]


class PreUseInspectionCreateView(AssetMixin, PortalMixin, FormView):
    """The phone-first checklist of a truck, filled by its operator before a shift."""

    required_capability = Capability.PRE_USE_INSPECTIONS
    template_name = "maintenance/inspections/pre_use_form.html"
    form_class = PreUseInspectionForm

    def get_template(self):
        if not hasattr(self, "template"):
            self.template = inspections.pre_use_template_for(asset=self.get_asset())
        return self.template

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        template = self.get_template()
        kwargs["items"] = inspections.pre_use_items(template=template) if template is not None else []
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        asset = self.get_asset()
        context.update(
            {
                "asset": asset,
                "checklist": self.get_template(),
                "out_of_service": asset.status not in inspections.INSPECTABLE_STATES,
            }
        )
        return context

    def form_valid(self, form):
        asset = self.get_asset()
        try:
            inspection = inspections.pre_use_inspection_submit(
                asset=asset,
                operator=self.request.user,
                answers=form.answers(),
                hour_meter=form.cleaned_data["hour_meter"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            _add_errors(form, error)
            return self.form_invalid(form)
        if inspection.critical_failure:
            messages.error(
                self.request,
                _("Do not use this truck: it is out of service. Your service provider has been told."),
            )
        elif not inspection.passed:
            messages.warning(self.request, _("Inspection saved. The problems were reported to your service provider."))
        else:
            messages.success(self.request, _("Inspection saved: the truck is ready for use."))
        return redirect("maintenance:pre_use_detail", pk=inspection.pk)


def _add_errors(form, error: ValidationError) -> None:
    """A service's errors on the form: its own fields' under them, the others' (``answers``) above it."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


class PreUseInspectionListView(FilteredListView):
    selector = staticmethod(inspections.pre_use_inspection_list)
    filterset_class = PreUseInspectionFilterSet
    columns = PRE_USE_COLUMNS
    default_sort = "-performed"
    title = _("Pre-use inspections")
    csv_filename = "pre-use-inspections"
    detail_url_name = "maintenance:pre_use_detail"


class PreUseInspectionDetailView(TenantDetailView):
    selector = staticmethod(inspections.pre_use_inspection_list)
    template_name = "maintenance/inspections/pre_use_detail.html"
    context_object_name = "inspection"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["items"] = inspections.pre_use_inspection_items(inspection=self.object)
        return context


# --- The operator report ----------------------------------------------------------------------------------------


class OperatorReportForm(forms.Form):
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


REPORT_CSV_HEADER = (
    _("Operator"),
    _("E-mail"),
    _("Inspections"),
    pgettext_lazy("inspection result", "Failed"),
    _("Critical failures"),
    _("Trucks"),
    _("Impacts"),
)


class OperatorReportView(PortalMixin, TemplateView):
    """Per operator: inspections, failures, trucks and the impacts attributed to them (``?format=csv``)."""

    template_name = "maintenance/inspections/operator_report.html"
    required_capability = Capability.DOWNLOAD_REPORTS

    def get(self, request, *args, **kwargs):
        time_zone = inspections.report_time_zone(user=request.user)
        today = timezone.localdate(timezone=ZoneInfo(time_zone))
        form = OperatorReportForm(request.GET)
        report = None
        if form.is_valid():
            try:
                start, end = inspections.report_period(
                    start=form.cleaned_data["start"], end=form.cleaned_data["end"], today=today
                )
            except ValidationError as error:
                for name, errors in error.message_dict.items():
                    form.add_error("start" if name == "from" else "end", errors)
            else:
                report = inspections.operator_report(user=request.user, start=start, end=end, time_zone=time_zone)
                if request.GET.get("format") == "csv":
                    return _report_csv(report)
        return self.render_to_response(self.get_context_data(form=form, report=report))


def _report_csv(report: inspections.OperatorReport) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="operator-report-{report.start}-{report.end}.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow([csv_cell(label) for label in REPORT_CSV_HEADER])
    for row in report.rows:
        writer.writerow(
            [
                csv_cell(value)
                for value in (row.name, row.email, row.inspections, row.failed, row.critical, row.trucks, row.impacts)
            ]
        )
    return response


urlpatterns = [
    path("s/<str:token>/", ServiceLinkView.as_view(), name="service_link"),
    path("s/<str:token>/sent/", ServiceLinkSentView.as_view(), name="service_link_sent"),
    path("assets/<int:pk>/qr-label/", AssetQrLabelView.as_view(), name="asset_qr_label"),
    path("assets/<int:pk>/qr-label/replace/", ServiceLinkRotateView.as_view(), name="service_link_rotate"),
    path("qr-labels.pdf", QrLabelsPdfView.as_view(), name="qr_labels_pdf"),
    path("assets/<int:pk>/scan/", AssetScanView.as_view(), name="asset_scan"),
    path("assets/<int:pk>/pre-use/", PreUseInspectionCreateView.as_view(), name="pre_use_create"),
    path("pre-use-inspections/", PreUseInspectionListView.as_view(), name="pre_use_list"),
    path("pre-use-inspections/<int:pk>/", PreUseInspectionDetailView.as_view(), name="pre_use_detail"),
    path("operator-report/", OperatorReportView.as_view(), name="operator_report"),
]
