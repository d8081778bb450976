"""PDF documents of the asset registry: the fleet register of one customer."""

from collections import Counter
from datetime import date
from typing import TypedDict
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from accounts.models import Organisation
from assets.choices import AssetCategory, AssetStatus, Ownership
from assets.models import Asset
from fleet.charts import bar_chart_svg
from fleet.pdf import render_pdf

FLEET_REGISTER_TEMPLATE = "pdf/fleet_register.html"


class FleetRegisterRow(TypedDict):
    """One asset line of the register."""

    model: str
    category: str
    serial_number: str
    asset_tag: str
    status: str
    status_code: str
    ownership: str
    install_date: date | None


class FleetRegisterStatusCount(TypedDict):
    """How many assets have one status."""

    status: str
    status_code: str
    count: int


class FleetRegisterSite(TypedDict):
    """One site of the register with its assets and its totals."""

    name: str
    code: str
    address_lines: list[str]
    rows: list[FleetRegisterRow]
    status_counts: list[FleetRegisterStatusCount]
    total: int


class FleetRegisterContext(TypedDict):
    """Everything the fleet register template reads."""

    customer_name: str
    customer_address_lines: list[str]
    provider_name: str
    generated_on: date
    sites: list[FleetRegisterSite]
    statuses: list[str]
    status_totals: list[FleetRegisterStatusCount]
    total_assets: int
    category_chart_svg: SafeString


def fleet_register_assets(*, customer: Organisation, assets: QuerySet[Asset] | None = None) -> QuerySet[Asset]:
    """The assets a customer's register lists, in register order (by site, then serial number).

    ``assets`` is a queryset the caller has already scoped (for example to what a user may see); it is
    narrowed to the customer, so a register never shows another customer's asset.
    """
    queryset = Asset.objects.all() if assets is None else assets
    return (
        queryset.filter(customer=customer)
        .select_related("site", "asset_model", "manufacturer")
        .order_by("site__name", "site_id", "serial_number", "id")
    )


def _status_counts(counter: Counter[str]) -> list[FleetRegisterStatusCount]:
    return [
        FleetRegisterStatusCount(status=str(status.label), status_code=status.value, count=counter[status.value])
        for status in AssetStatus
    ]


def fleet_register_context(*, customer: Organisation, assets: QuerySet[Asset] | None = None) -> FleetRegisterContext:
    """The context of the fleet register, with labels in the active language (call inside its override)."""
    sites: list[FleetRegisterSite] = []
    site_counters: list[Counter[str]] = []
    status_totals: Counter[str] = Counter()
    category_totals: Counter[str] = Counter()
    current_site_id = None
    status_labels = dict(AssetStatus.choices)
    ownership_labels = dict(Ownership.choices)
    category_labels = dict(AssetCategory.choices)

    for asset in fleet_register_assets(customer=customer, assets=assets):
        if asset.site_id != current_site_id:
            current_site_id = asset.site_id
            site = asset.site
            sites.append(
                FleetRegisterSite(
                    name=site.name,
                    code=site.code,
                    address_lines=site.address_lines,
                    rows=[],
                    status_counts=[],
                    total=0,
                )
            )
            site_counters.append(Counter())
        category = asset.asset_model.category
        sites[-1]["rows"].append(
            FleetRegisterRow(
                model=f"{asset.manufacturer.name} {asset.asset_model.name}",
                category=str(category_labels.get(category, category)),
                serial_number=asset.serial_number,
                asset_tag=asset.asset_tag,
                status=str(status_labels.get(asset.status, asset.status)),
                status_code=asset.status,
                ownership=str(ownership_labels.get(asset.ownership, asset.ownership)),
                install_date=asset.install_date,
            )
        )
        site_counters[-1][asset.status] += 1
        status_totals[asset.status] += 1
        category_totals[str(category_labels.get(category, category))] += 1

    for site, counter in zip(sites, site_counters, strict=True):
        site["status_counts"] = _status_counts(counter)
        site["total"] = len(site["rows"])

    chart_data = sorted(category_totals.items(), key=lambda item: (-item[1], item[0]))
    return FleetRegisterContext(
        customer_name=customer.name,
        customer_address_lines=customer.address_lines,
        provider_name=customer.provider.name if customer.provider_id else "",
        generated_on=timezone.localdate(timezone=ZoneInfo(customer.time_zone)),
        sites=sites,
        statuses=[str(label) for label in AssetStatus.labels],
        status_totals=_status_counts(status_totals),
        total_assets=sum(status_totals.values()),
        category_chart_svg=bar_chart_svg(
            chart_data,
            orientation="horizontal",
            category_axis_label=gettext("Category"),
            value_axis_label=gettext("Number of assets"),
            width=640,
            empty_text=gettext("No assets"),
        ),
    )


def fleet_register_pdf_render(*, customer: Organisation, assets: QuerySet[Asset] | None = None) -> bytes:
    """The fleet register of one customer as PDF bytes, in the customer's language and time zone.

    Lists the assets by site (name, address) with model, serial number, asset tag, status, ownership and
    install date, totals per site and status, and a chart of assets by category. ``assets`` may be a
    queryset the caller has already scoped; it is narrowed to ``customer``.
    """
    with translation.override(customer.language):
        context = fleet_register_context(customer=customer, assets=assets)
    return render_pdf(
        template_name=FLEET_REGISTER_TEMPLATE,
        context=context,
        language=customer.language,
        time_zone=customer.time_zone,
    )
