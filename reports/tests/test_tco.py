"""TCO breakdowns: figures on a crafted ledger, who sees which view, the page, its CSV, the API and the runs."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from accounts.tests.factories import member
from assets.choices import Ownership
from assets.tests.factories import AssetFactory, AssetModelFactory
from contracts.tests.billing_helpers import at, read
from reports.choices import BreakdownGroup, CostCategory, CostSource, CostView
from reports.models import AssetMonthUsage, CostEntry
from reports.selectors import tco_breakdown
from reports.tasks import ledger_sweep_task
from telemetry.choices import Meter

OCTOBER = datetime.date(2025, 10, 1)
NOVEMBER = datetime.date(2025, 11, 1)


def cost(customer, asset, category, amount, month=OCTOBER, currency="JPY"):
    from reports.choices import CATEGORY_VIEW

    return CostEntry.objects.create(
        customer=customer, month=month, view=CATEGORY_VIEW[category], category=category, asset=asset,
        site=asset.site if asset else None, amount=Decimal(amount), currency=currency, source=CostSource.ASSET,
        source_id=asset.pk if asset else 0,
    )  # fmt: skip


@pytest.fixture
def ledger(customer, site, other_customer):
    """Two printers of one model and a forklift for ``customer``, one printer for ``other_customer``; October and
    November costs, pages and hours."""
    printer_model = AssetModelFactory(name="MFP C3000")
    first = AssetFactory(customer=customer, site=site, asset_model=printer_model, serial_number="P-1")
    second = AssetFactory(customer=customer, site=site, asset_model=printer_model, serial_number="P-2")
    forklift = AssetFactory(
        customer=customer, site=site, serial_number="F-1", asset_model=AssetModelFactory(name="8FB")
    )
    theirs = AssetFactory(customer=other_customer, asset_model=printer_model, serial_number="O-1")
    cost(customer, first, CostCategory.SERVICE_FEES, 30000)
    cost(customer, first, CostCategory.ENERGY, 1000)
    cost(customer, second, CostCategory.SERVICE_FEES, 10000)
    cost(customer, first, CostCategory.SERVICE_FEES, 20000, month=NOVEMBER)
    cost(customer, forklift, CostCategory.LEASE, 50000)
    cost(customer, forklift, CostCategory.LABOUR, 8000)  # provider view
    cost(customer, None, CostCategory.SERVICE_FEES, -3000)  # a credit under no asset
    cost(other_customer, theirs, CostCategory.SERVICE_FEES, 99999)
    for asset, month, meter, usage in (
        (first, OCTOBER, Meter.TOTAL_PAGES, 10000),
        (first, NOVEMBER, Meter.TOTAL_PAGES, 5000),
        (second, OCTOBER, Meter.TOTAL_PAGES, 4000),
        (forklift, OCTOBER, Meter.HOURS_KEY_ON, 125),
    ):
        AssetMonthUsage.objects.create(asset=asset, month=month, meter=meter, usage=Decimal(usage))
    return first, second, forklift


def test_breakdown_by_category_adds_up_the_customer_view_of_the_users_customers(customer_admin, ledger):
    breakdown = tco_breakdown(user=customer_admin, group_by=BreakdownGroup.CATEGORY, first=OCTOBER, last=NOVEMBER)

    assert [(row.key, row.amount) for row in breakdown.rows] == [
        (CostCategory.SERVICE_FEES, Decimal(57000)),  # 30,000 + 10,000 + 20,000 - 3,000
        (CostCategory.LEASE, Decimal(50000)),
        (CostCategory.ENERGY, Decimal(1000)),
    ]
    assert breakdown.totals() == {"JPY": Decimal(108000)}


def test_breakdown_by_asset_gives_cost_per_page_and_per_operating_hour(customer_admin, ledger):
    first, second, forklift = ledger

    breakdown = tco_breakdown(user=customer_admin, group_by=BreakdownGroup.ASSET, first=OCTOBER, last=NOVEMBER)

    rows = {row.label: row for row in breakdown.rows}
    # P-1: ¥51,000 over 15,000 pages; P-2: ¥10,000 over 4,000 pages; F-1: ¥50,000 over 125 hours.
    assert (rows["P-1"].amount, rows["P-1"].usage, rows["P-1"].unit, rows["P-1"].cost_per_unit) == (
        Decimal(51000), Decimal(15000), "page", Decimal("3.4000")
    )  # fmt: skip
    assert (rows["P-2"].cost_per_unit, rows["F-1"].unit, rows["F-1"].cost_per_unit) == (
        Decimal("2.5000"), "hour", Decimal("400.0000")
    )  # fmt: skip
    unallocated = [row for row in breakdown.rows if row.key == ""]
    assert [(row.amount, row.cost_per_unit) for row in unallocated] == [(Decimal(-3000), None)]


def test_breakdown_by_model_and_month(customer_admin, ledger):
    by_model = tco_breakdown(user=customer_admin, group_by=BreakdownGroup.MODEL, first=OCTOBER, last=NOVEMBER)
    by_month = tco_breakdown(user=customer_admin, group_by=BreakdownGroup.MONTH, first=OCTOBER, last=NOVEMBER)

    model = next(row for row in by_model.rows if row.label == "MFP C3000")
    assert (model.amount, model.usage, model.cost_per_unit) == (Decimal(61000), Decimal(19000), Decimal("3.2105"))
    assert [(row.key, row.amount) for row in by_month.rows] == [
        ("2025-10", Decimal(88000)),
        ("2025-11", Decimal(20000)),
    ]


def test_provider_view_is_for_staff_who_see_margins_of_their_customers(
    provider, customer, customer_admin, ledger, provider_admin
):
    manager = member(provider, Role.ACCOUNT_MANAGER)
    customer.account_managers.add(manager)

    for user in (provider_admin, manager):
        breakdown = tco_breakdown(
            user=user, group_by=BreakdownGroup.CUSTOMER, first=OCTOBER, last=OCTOBER, view=CostView.PROVIDER
        )
        assert [(row.label, row.amount) for row in breakdown.rows] == [(customer.name, Decimal(8000))]
    with pytest.raises(ValidationError) as error:
        tco_breakdown(user=customer_admin, group_by="category", first=OCTOBER, last=OCTOBER, view=CostView.PROVIDER)
    assert "view" in error.value.message_dict


def test_an_account_manager_sees_only_the_customers_assigned(provider, customer, other_customer, ledger):
    manager = member(provider, Role.ACCOUNT_MANAGER)
    other_customer.account_managers.add(manager)

    breakdown = tco_breakdown(user=manager, group_by=BreakdownGroup.CUSTOMER, first=OCTOBER, last=NOVEMBER)

    assert [(row.label, row.amount) for row in breakdown.rows] == [(other_customer.name, Decimal(99999))]


def test_roles_without_prices_see_no_costs(customer, ledger, site):
    viewer = member(customer, Role.CUSTOMER_VIEWER)

    assert tco_breakdown(user=viewer, group_by="category", first=OCTOBER, last=NOVEMBER).rows == []
    assert not CostEntry.objects.visible_to(viewer).exists()


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [(NOVEMBER, OCTOBER, "to"), (datetime.date(2020, 1, 1), datetime.date(2025, 1, 1), "to")],
)
def test_a_backwards_or_too_long_range_is_refused(customer_admin, first, last, field):
    with pytest.raises(ValidationError) as error:
        tco_breakdown(user=customer_admin, group_by="category", first=first, last=last)
    assert field in error.value.message_dict


# --- API ------------------------------------------------------------------------------------------------------


def test_api_breakdown_and_its_errors(api_client_for, customer_admin, customer, ledger):
    client = api_client_for(customer_admin)

    response = client.get("/api/v1/tco/", {"from": "2025-10", "to": "2025-11", "group_by": "asset"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["totals"] == [{"currency": "JPY", "amount": "108000.00"}]
    assert {row["label"]: row["cost_per_unit"] for row in body["rows"]}["P-1"] == "3.4000"
    assert client.get("/api/v1/tco/", {"from": "2025-11", "to": "2025-10"}).json() == {
        "to": ["The first month must not be after the last."]
    }
    assert client.get("/api/v1/tco/", {"from": "2025-13", "to": "x", "group_by": "colour"}).status_code == 400
    assert set(client.get("/api/v1/tco/", {"from": "2025-10"}).json()) == {"to"}
    assert client.get("/api/v1/tco/", {"from": "2025-10", "to": "2025-10", "view": "provider"}).status_code == 400


def test_api_breakdown_needs_the_reports_capability(api_client_for, customer):
    viewer = member(customer, Role.CUSTOMER_VIEWER)
    assert api_client_for(viewer).get("/api/v1/tco/", {"from": "2025-10", "to": "2025-10"}).status_code == 403


def test_api_ledger_rows_filter_by_month_and_category(api_client_for, customer_admin, ledger):
    client = api_client_for(customer_admin)

    response = client.get("/api/v1/cost-entries/", {"month_from": "2025-11-01", "category": CostCategory.SERVICE_FEES})

    assert [(row["month"], row["amount"]) for row in response.json()["results"]] == [("2025-11-01", "20000.00")]
    views = {row["view"] for row in client.get("/api/v1/cost-entries/", {"per_page": 100}).json()["results"]}
    assert views == {CostView.CUSTOMER}  # the labour entry is the provider's


# --- Portal ---------------------------------------------------------------------------------------------------


def test_tco_page_shows_charts_and_table_and_exports_csv(client, customer_admin, ledger):
    client.force_login(customer_admin)
    url = reverse("reports:tco")

    response = client.get(url, {"group_by": "asset", "month_from": "2025-10", "month_to": "2025-11"})

    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("<svg") == 2 and "P-1" in body and "¥3.4 / " in body
    csv = client.get(url, {"group_by": "asset", "month_from": "2025-10", "month_to": "2025-11", "format": "csv"})
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Key,Name,Detail,Currency,Amount")
    assert any(line.startswith(f"{ledger[0].pk},P-1,") and ",51000," in line for line in lines)


def test_tco_page_shows_form_errors_for_a_bad_range(client, customer_admin):
    client.force_login(customer_admin)

    response = client.get(reverse("reports:tco"), {"month_from": "2025-11", "month_to": "2025-10"})

    assert response.status_code == 200
    assert "The first month must not be after the last." in response.content.decode()


def test_tco_page_is_not_there_for_roles_without_reports(client, customer):
    client.force_login(member(customer, Role.CUSTOMER_VIEWER))
    assert client.get(reverse("reports:tco")).status_code == 404


def test_tco_page_and_ledger_list_cost_the_same_queries_for_few_and_many_assets(client, customer_admin, customer):
    client.force_login(customer_admin)
    model = AssetModelFactory()

    def add(count):
        for _ in range(count):
            asset = AssetFactory(customer=customer, asset_model=model)
            cost(customer, asset, CostCategory.SERVICE_FEES, 100)
            AssetMonthUsage.objects.create(asset=asset, month=OCTOBER, meter=Meter.TOTAL_PAGES, usage=10)

    query = {"group_by": "asset", "month_from": "2025-10", "month_to": "2025-10"}
    add(2)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("reports:tco"), query)
        client.get(reverse("reports:cost_entry_list"))
    add(20)
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("reports:tco"), query).content.decode().count("¥10 / ") == 22
        client.get(reverse("reports:cost_entry_list"))

    assert len(many.captured_queries) == len(few.captured_queries)


# --- Runs -----------------------------------------------------------------------------------------------------


def test_build_ledger_command_builds_the_months_asked_and_refuses_bad_input(customer, site):
    asset = AssetFactory(
        customer=customer, site=site, ownership=Ownership.CUSTOMER_OWNED, acquisition_cost=Decimal(1200),
        expected_life_months=12, install_date=datetime.date(2025, 1, 1),
    )  # fmt: skip
    read(asset, at(2025, 9, 1), 0)

    out = io.StringIO()
    call_command("build_ledger", month="2025-10", months=3, customer=customer.code, stdout=out)

    assert out.getvalue().strip() == "customers=1 months=2025-08..2025-10 entries=3"
    months = sorted(CostEntry.objects.filter(asset=asset).values_list("month", "amount"))
    assert months == [(datetime.date(2025, m, 1), Decimal(100)) for m in (8, 9, 10)]
    with pytest.raises(CommandError, match="not a month"):
        call_command("build_ledger", month="2025-13")
    with pytest.raises(CommandError, match="no customer"):
        call_command("build_ledger", customer="nobody")
    with pytest.raises(CommandError, match="--months"):
        call_command("build_ledger", months=0)


def test_the_daily_sweep_builds_this_month_and_the_last_for_every_active_customer(customer, other_customer, settings):
    settings.LEDGER_BATCH_CUSTOMERS = 1
    for organisation in (customer, other_customer):
        AssetFactory(
            customer=organisation, ownership=Ownership.CUSTOMER_OWNED, acquisition_cost=Decimal(6000),
            expected_life_months=600, install_date=datetime.date(2020, 1, 1),
        )  # fmt: skip

    assert ledger_sweep_task() == 2  # batches queued (run eagerly here)

    built = set(CostEntry.objects.values_list("customer_id", "month"))
    this_month = timezone.localdate().replace(day=1)
    last_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
    assert built == {(c.pk, m) for c in (customer, other_customer) for m in (last_month, this_month)}


def test_tco_rows_drill_down_to_a_customers_assets_and_to_the_ledger_rows(client, provider_admin, customer, ledger):
    client.force_login(provider_admin)
    months = {"month_from": "2025-10", "month_to": "2025-11"}

    by_customer = client.get(reverse("reports:tco"), {"group_by": "customer", **months}).content.decode()
    by_category = client.get(reverse("reports:tco"), {"group_by": "category", "customer": customer.pk, **months})

    assert f"group_by=asset&amp;customer={customer.pk}" in by_customer
    link = f"{reverse('reports:cost_entry_list')}?month_from=2025-10-01&amp;month_to=2025-11-01&amp;view=customer"
    assert f"{link}&amp;customer={customer.pk}&amp;category=lease" in by_category.content.decode()
    rows = client.get(
        reverse("reports:cost_entry_list"),
        {"month_from": "2025-10-01", "month_to": "2025-11-01", "customer": customer.pk, "category": "lease"},
    )
    assert rows.context["page_obj"].paginator.count == 1
