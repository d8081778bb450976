"""Portal pages of the asset registry: asset and site lists and details, moving an asset, fleet CSV import."""

import csv

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView

from accounts.roles import Capability
from accounts.selectors import customer_list
from assets import imports, selectors, services
from assets.choices import AssetCategory, AssetStatus, FleetImportStatus, Ownership
from assets.documents import fleet_register_pdf_render
from assets.filters import AssetFilterSet, SiteFilterSet
from assets.forms import AssetMoveForm, FleetImportForm, SiteOperatorsForm
from assets.models import Asset
from fleet.money import Currency
from fleet.panels import panels_for
from fleet.tables import Column, csv_cell, csv_response
from fleet.views import FilteredListView, PortalMixin, TenantDetailView

ASSET_COLUMNS = (
    Column("serial", _("Serial number"), "serial_number", sort="serial_number", link=True),
    Column("tag", _("Asset tag"), "asset_tag", sort="asset_tag", phone=False),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("site", _("Site"), "site__name", sort="site__name"),
    Column("manufacturer", _("Manufacturer"), "manufacturer__name", sort="manufacturer__name", phone=False),
    Column("model", _("Model"), "asset_model__name", sort="asset_model__name"),
    Column(
        "category",
        _("Category"),
        "asset_model__category",
        sort="asset_model__category",
        choices=dict(AssetCategory.choices),
        phone=False,
    ),
    Column("status", _("Status"), "status", sort="status", choices=dict(AssetStatus.choices)),
    Column("ownership", _("Ownership"), "ownership", sort="ownership", choices=dict(Ownership.choices), phone=False),
    Column("installed", _("Installed"), "install_date", sort="install_date", phone=False),
    Column(
        "cost",
        _("Acquisition cost"),
        "acquisition_cost",
        sort="acquisition_cost",
        price=True,
        phone=False,
        currency_path="currency",
    ),
    Column("currency", _("Currency"), "currency", price=True, html=False),
    Column("location", _("Location"), "location_note"),
)

SITE_COLUMNS = (
    Column("name", _("Name"), "name", sort="name", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("city", _("City"), "city", sort="city"),
    Column("building", _("Building"), "building"),
    Column("floor", _("Floor"), "floor"),
    Column("assets", _("Assets in service"), "asset_count", sort="asset_count"),
)


class AssetListView(FilteredListView):
    selector = staticmethod(selectors.asset_list)
    filterset_class = AssetFilterSet
    columns = ASSET_COLUMNS
    default_sort = "serial"
    title = _("Assets")
    csv_filename = "assets"
    detail_url_name = "assets:asset_detail"


class AssetDetailView(TenantDetailView):
    selector = staticmethod(selectors.asset_list)
    template_name = "assets/asset_detail.html"
    context_object_name = "asset"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["history"] = selectors.asset_history(asset=self.object)[:50]
        context["panels"] = panels_for("asset", user=self.request.user, obj=self.object)
        context["may_move"] = self.access.can(Capability.MOVE_ASSETS)
        return context


class SiteListView(FilteredListView):
    selector = staticmethod(selectors.site_list)
    filterset_class = SiteFilterSet
    columns = SITE_COLUMNS
    default_sort = "customer"
    title = _("Sites")
    csv_filename = "sites"
    detail_url_name = "assets:site_detail"


class SiteDetailView(TenantDetailView):
    selector = staticmethod(selectors.site_list)
    template_name = "assets/site_detail.html"
    context_object_name = "site"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["assets"] = (
            selectors.asset_list(user=self.request.user).filter(site=self.object).order_by("serial_number")[:200]
        )
        if self.access.can(Capability.MANAGE_USERS):
            context["operators_form"] = SiteOperatorsForm(
                candidates=selectors.site_operator_candidates(site=self.object),
                initial={"operators": list(self.object.operators.values_list("pk", flat=True))},
            )
        return context


class SiteOperatorsView(PortalMixin, View):
    """A customer admin (or provider admin) says which customer operators work at a site."""

    required_capability = Capability.MANAGE_USERS

    def post(self, request, pk: int):
        site = get_object_or_404(selectors.site_list(user=request.user), pk=pk)
        form = SiteOperatorsForm(request.POST, candidates=selectors.site_operator_candidates(site=site))
        if form.is_valid():
            try:
                services.site_set_operators(
                    site=site, memberships=list(form.cleaned_data["operators"]), by=request.user
                )
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(request, _("The site's operators were saved."))
        else:
            messages.error(request, _("Choose operators from the list."))
        return redirect("assets:site_detail", pk=site.pk)


class AssetMoveView(PortalMixin, FormView):
    """Change an asset's site or where it stands within it (customer admins and provider admins)."""

    required_capability = Capability.MOVE_ASSETS
    form_class = AssetMoveForm
    template_name = "assets/asset_move.html"

    def get_asset(self):
        if not hasattr(self, "asset"):
            self.asset = get_object_or_404(selectors.asset_list(user=self.request.user), pk=self.kwargs["pk"])
        return self.asset

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        asset = self.get_asset()
        kwargs["sites"] = selectors.site_list(user=self.request.user).filter(customer_id=asset.customer_id)
        kwargs["initial"] = {"site": asset.site, "location_note": asset.location_note}
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["asset"] = self.get_asset()
        return context

    def form_valid(self, form):
        asset = self.get_asset()
        try:
            services.asset_move(
                asset=asset,
                site=form.cleaned_data["site"],
                location_note=form.cleaned_data["location_note"],
                note=form.cleaned_data["note"],
                by=self.request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The asset's location was saved."))
        return redirect("assets:asset_detail", pk=asset.pk)


class FleetRegisterPdfView(PortalMixin, View):
    """The fleet register of one customer as a PDF, built from the assets the user may see."""

    required_capability = Capability.DOWNLOAD_REPORTS

    def get(self, request, pk: int):
        customer = get_object_or_404(customer_list(user=request.user), pk=pk)
        assets = selectors.asset_list(user=request.user).filter(customer=customer)
        pdf = fleet_register_pdf_render(customer=customer, assets=assets)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="fleet-register-{customer.code}.pdf"'
        return response


def import_column_help() -> dict[str, str]:
    """What each column of a fleet import holds, in the active language, for the upload page."""
    statuses, ownerships = ", ".join(AssetStatus.values), ", ".join(Ownership.values)
    return {
        "customer_code": _("The customer's code. Required unless you choose one customer for the whole file."),
        "site": _("The name of one of the customer's sites."),
        "manufacturer": _("As named in the catalogue, e.g. Ricoh."),
        "model": _("A model of that manufacturer in the catalogue."),
        "serial_number": _("With the manufacturer it finds the asset to update; a new serial number adds an asset."),
        "asset_tag": _("The customer's own label."),
        "status": _("One of: %(values)s. Empty: unchanged (new assets: active).") % {"values": statuses},
        "ownership": _("One of: %(values)s. Required for a new asset.") % {"values": ownerships},
        "install_date": _("YYYY-MM-DD."),
        "acquisition_cost": _("A number of at least 0, without separators or currency signs."),
        "currency": _("One of: %(values)s. Empty: unchanged (new assets: the customer's currency).")
        % {"values": ", ".join(Currency.values)},
        "expected_life_months": _("Whole months. Empty: unchanged (new assets: the customer's default)."),
        "location_note": _("Where it stands on the site, e.g. 3F copy room."),
        "network_address": _("IP address or host name, for the collector."),
    }


class FleetImportUploadView(PortalMixin, FormView):
    """Upload a fleet CSV; it is checked first and, unless it is a dry run, applied when it has no errors."""

    required_capability = Capability.MANAGE_ASSETS
    form_class = FleetImportForm
    template_name = "assets/import.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["customers"] = customer_list(user=self.request.user)
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        required = {"customer_code", *imports.REQUIRED_COLUMNS}
        help_texts = import_column_help()
        context["columns"] = [(name, name in required, help_texts[name]) for name in imports.IMPORT_COLUMNS]
        context["recent_imports"] = imports.fleet_import_list(user=self.request.user)[:10]
        context["async_rows"] = settings.FLEET_IMPORT_ASYNC_ROWS
        return context

    def form_valid(self, form):
        content, encoding = form.decoded
        try:
            fleet_import = imports.fleet_import_create(
                by=self.request.user,
                filename=form.cleaned_data["file"].name,
                content=content,
                encoding=encoding,
                customer=form.cleaned_data["customer"],
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        if not form.cleaned_data["dry_run"] and fleet_import.status == FleetImportStatus.PENDING:
            _start_import(self.request, fleet_import)
        return redirect("assets:import_detail", pk=fleet_import.pk)


def _start_import(request, fleet_import) -> None:
    """Apply a checked import; the import's page then shows the outcome (done, running, or failed and why)."""
    try:
        imports.fleet_import_start(fleet_import=fleet_import, by=request.user)
    except ValidationError as error:
        if fleet_import.status != FleetImportStatus.FAILED:  # a failed import's page lists the reasons
            messages.error(request, " ".join(error.messages))


class FleetImportDetailView(TenantDetailView):
    """The result of checking or applying an import: every bad line by column, the counts, the progress.

    While the import is being checked or applied, its status block polls this page with htmx every two seconds.
    """

    required_capability = Capability.MANAGE_ASSETS
    selector = staticmethod(imports.fleet_import_list)
    template_name = "assets/import_detail.html"
    context_object_name = "fleet_import"
    errors_per_page = 100

    def get_template_names(self):
        if self.request.headers.get("HX-Request") and not self.request.headers.get("HX-Boosted"):
            return [f"{self.template_name}#status"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        fleet_import = self.object
        context["running"] = fleet_import.status in (FleetImportStatus.VALIDATING, FleetImportStatus.RUNNING)
        context["page_obj"] = Paginator(fleet_import.errors, self.errors_per_page).get_page(
            self.request.GET.get("page")
        )
        context["query"] = ""
        return context


class FleetImportApplyView(PortalMixin, View):
    """Apply a checked import (the confirm step after a dry run)."""

    required_capability = Capability.MANAGE_ASSETS

    def post(self, request, pk: int):
        fleet_import = get_object_or_404(imports.fleet_import_list(user=request.user), pk=pk)
        _start_import(request, fleet_import)
        return redirect("assets:import_detail", pk=fleet_import.pk)


class FleetImportErrorsCsvView(PortalMixin, View):
    """The errors of an import as CSV: line, column, problem."""

    required_capability = Capability.MANAGE_ASSETS

    def get(self, request, pk: int):
        fleet_import = get_object_or_404(imports.fleet_import_list(user=request.user), pk=pk)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{fleet_import.pk}-errors.csv"'
        response.write("\ufeff")
        writer = csv.writer(response)
        writer.writerow(["line", "field", "message"])
        for error in fleet_import.errors:
            writer.writerow([error["line"] or "", csv_cell(error["field"]), error["message"]])
        return response


class FleetImportTemplateView(PortalMixin, View):
    """An empty import file: the header row with exactly the importer's columns."""

    required_capability = Capability.MANAGE_ASSETS

    def get(self, request):
        return csv_response(Asset.objects.none(), list(imports.IMPORT_CSV_COLUMNS), "fleet-import-template")


class FleetImportExportView(PortalMixin, View):
    """The (filtered) asset list in the importer's columns: edit it in a spreadsheet and import it again."""

    required_capability = Capability.MANAGE_ASSETS

    def get(self, request):
        filterset = AssetFilterSet(
            request.GET or None, queryset=selectors.asset_list(user=request.user), request=request
        )
        assets = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
        if filterset.is_bound and not filterset.is_valid():
            assets = assets.none()
        assets = assets.order_by("customer__code", "manufacturer__name", "serial_number", "pk")
        return csv_response(assets, list(imports.IMPORT_CSV_COLUMNS), "fleet-assets")
