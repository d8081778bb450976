"""Portal pages of the asset registry: asset and site lists and details, moving an asset."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView

from accounts.roles import Capability
from assets import selectors, services
from assets.choices import AssetCategory, AssetStatus, Ownership
from assets.filters import AssetFilterSet, SiteFilterSet
from assets.forms import AssetMoveForm
from fleet.tables import Column
from fleet.views import FilteredListView, PortalMixin, TenantDetailView

ASSET_COLUMNS = (
    Column("serial", _("Serial number"), "serial_number", sort="serial_number", link=True),
    Column("tag", _("Asset tag"), "asset_tag", sort="asset_tag"),
    Column("customer", _("Customer"), "customer__name", sort="customer__name"),
    Column("site", _("Site"), "site__name", sort="site__name"),
    Column("manufacturer", _("Manufacturer"), "manufacturer__name", sort="manufacturer__name"),
    Column("model", _("Model"), "asset_model__name", sort="asset_model__name"),
    Column(
        "category",
        _("Category"),
        "asset_model__category",
        sort="asset_model__category",
        choices=dict(AssetCategory.choices),
    ),
    Column("status", _("Status"), "status", sort="status", choices=dict(AssetStatus.choices)),
    Column("ownership", _("Ownership"), "ownership", sort="ownership", choices=dict(Ownership.choices)),
    Column("installed", _("Installed"), "install_date", sort="install_date"),
    Column("cost", _("Acquisition cost"), "acquisition_cost", sort="acquisition_cost", price=True),
    Column("currency", _("Currency"), "currency", price=True),
    Column("location", _("Location"), "location_note"),
)

SITE_COLUMNS = (
    Column("name", _("Name"), "name", sort="name", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name"),
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
        return context


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
