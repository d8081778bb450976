"""Cost rates and costs entered by hand: who sets them, their checks, the ledger using them, API and pages."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.choices import Role
from accounts.tests.factories import member
from assets.choices import Ownership
from assets.tests.factories import AssetFactory, AssetModelFactory, SiteFactory
from contracts.tests.billing_helpers import at, read
from reports.choices import CostCategory, CostSource
from reports.ledger import build_ledger
from reports.models import CostEntry, CostRates, ManualCost
from reports.services import cost_rates_save, manual_cost_create
from telemetry.choices import Meter

OCTOBER = datetime.date(2025, 10, 1)


@pytest.fixture
def manager(provider, customer):
    user = member(provider, Role.ACCOUNT_MANAGER, email="am@provider.example")
    customer.account_managers.add(user)
    return user


def test_a_scopes_rates_are_one_row_that_a_second_save_replaces(manager, customer, site):
    first = cost_rates_save(by=manager, customer=customer, site=site, energy_price_per_kwh=Decimal(30))
    again = cost_rates_save(by=manager, customer=customer, site=site, downtime_cost_per_hour=Decimal(4000))

    assert again.pk == first.pk
    assert (again.energy_price_per_kwh, again.downtime_cost_per_hour) == (None, Decimal(4000))
    assert CostRates.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"energy_price_per_kwh": Decimal(1)}, "customer"),  # an account manager may not set the provider's default
        ({"customer": "customer", "energy_price_per_kwh": Decimal(-1)}, "energy_price_per_kwh"),
        ({"customer": "customer"}, "energy_price_per_kwh"),  # nothing to set
        ({"customer": "customer", "site": "other_site", "energy_price_per_kwh": Decimal(1)}, "site"),
        ({"customer": "other_customer", "energy_price_per_kwh": Decimal(1)}, "customer"),  # not the manager's
    ],
)
def test_rates_are_refused_with_the_field_at_fault(manager, customer, other_customer, kwargs, field):
    objects = {
        "customer": customer,
        "other_customer": other_customer,
        "other_site": SiteFactory(customer=other_customer),
    }
    arguments = {key: objects.get(value, value) if isinstance(value, str) else value for key, value in kwargs.items()}

    with pytest.raises(ValidationError) as error:
        cost_rates_save(by=manager, **arguments)

    assert field in error.value.message_dict
    assert not CostRates.objects.exists()


def test_the_provider_admin_sets_the_default_and_customers_set_nothing(provider_admin, customer_admin, customer):
    default = cost_rates_save(by=provider_admin, energy_price_per_kwh=Decimal("31.5"))
    assert (default.customer_id, default.provider_id) == (None, customer.provider_id)
    with pytest.raises(ValidationError):
        cost_rates_save(by=customer_admin, customer=customer, energy_price_per_kwh=Decimal(1))


def test_the_ledger_prices_energy_at_the_rates_saved_and_carries_costs_entered_by_hand(manager, customer, site):
    forklift = AssetFactory(
        customer=customer, site=site, ownership=Ownership.RENTAL, acquisition_cost=None,
        asset_model=AssetModelFactory(power_draw_watts=1000),
    )  # fmt: skip
    read(forklift, at(2025, 10, 1), 0, meter=Meter.HOURS_KEY_ON)
    read(forklift, at(2025, 11, 1), 40, meter=Meter.HOURS_KEY_ON)
    cost_rates_save(by=manager, customer=customer, site=site, energy_price_per_kwh=Decimal(25))
    by_hand = manual_cost_create(
        by=manager, customer=customer, month=datetime.date(2025, 10, 17), description="Insurance",
        amount=Decimal(12000), asset=forklift,
    )  # fmt: skip

    build_ledger(customer=customer, year=2025, month=10, now=at(2026, 1, 1))

    rows = {row.category: row for row in CostEntry.objects.filter(customer=customer, month=OCTOBER)}
    assert rows[CostCategory.ENERGY].amount == Decimal(1000)  # 40 h x 1 kW x ¥25
    other = rows[CostCategory.OTHER]
    assert (other.amount, other.source, other.source_id, other.asset_id, other.site_id) == (
        Decimal(12000), CostSource.MANUAL, by_hand.pk, forklift.pk, site.pk
    )  # fmt: skip
    assert by_hand.month == OCTOBER


@pytest.mark.parametrize(
    ("amount", "on_other", "field"),
    [(Decimal(0), False, "amount"), (Decimal("10.5"), False, "amount"), (Decimal(10), True, "asset")],
)
def test_costs_by_hand_are_checked(manager, customer, other_customer, amount, on_other, field):
    asset = AssetFactory(customer=other_customer) if on_other else None

    with pytest.raises(ValidationError) as error:
        manual_cost_create(by=manager, customer=customer, month=OCTOBER, description="X", amount=amount, asset=asset)

    assert field in error.value.message_dict
    assert not ManualCost.objects.exists()


# --- API and portal -------------------------------------------------------------------------------------------


def test_api_sets_rates_and_enters_and_deletes_costs(api_client_for, manager, customer, site):
    client = api_client_for(manager)

    created = client.post("/api/v1/cost-rates/", {"customer": customer.pk, "downtime_cost_per_hour": "6000"})
    replaced = client.post("/api/v1/cost-rates/", {"customer": customer.pk, "downtime_cost_per_hour": "7000"})
    refused = client.post("/api/v1/cost-rates/", {"customer": customer.pk, "downtime_cost_per_hour": "-1"})

    assert created.status_code == 201, created.content
    assert replaced.json()["id"] == created.json()["id"]
    assert replaced.json()["downtime_cost_per_hour"] == "7000.00"
    assert refused.status_code == 400 and "downtime_cost_per_hour" in refused.json()
    cost = client.post(
        "/api/v1/manual-costs/",
        {"customer": customer.pk, "month": "2025-10", "description": "Paper", "amount": "3500", "site": site.pk},
    )
    assert cost.status_code == 201, cost.content
    assert cost.json()["month"] == "2025-10"
    assert client.delete(f"/api/v1/manual-costs/{cost.json()['id']}/").status_code == 204
    assert client.delete(f"/api/v1/cost-rates/{created.json()['id']}/").status_code == 204
    assert not ManualCost.objects.exists() and not CostRates.objects.exists()


def test_api_refuses_customers_writes(api_client_for, customer_admin, customer):
    client = api_client_for(customer_admin)
    assert client.post("/api/v1/cost-rates/", {"customer": customer.pk, "energy_price_per_kwh": "1"}).status_code == 403
    assert client.get("/api/v1/manual-costs/").status_code == 200


def test_portal_forms_set_rates_and_enter_a_cost_by_serial_number(client, manager, customer, site):
    asset = AssetFactory(customer=customer, site=site, serial_number="MFP-77")
    client.force_login(manager)

    rates = client.post(
        reverse("reports:cost_rates_create"),
        {"customer": customer.pk, "site": site.pk, "currency": "JPY", "energy_price_per_kwh": "28.4"},
    )
    unknown = client.post(
        reverse("reports:manual_cost_create"),
        {"customer": customer.pk, "month": "2025-10", "description": "Repair", "amount": "9000", "currency": "JPY",
         "serial_number": "NOPE"},
    )  # fmt: skip
    entered = client.post(
        reverse("reports:manual_cost_create"),
        {"customer": customer.pk, "month": "2025-10", "description": "Repair", "amount": "9000", "currency": "JPY",
         "serial_number": "MFP-77"},
    )  # fmt: skip

    assert rates.status_code == 302 and CostRates.objects.get().energy_price_per_kwh == Decimal("28.4")
    assert "The customer has no asset with this serial number." in unknown.content.decode()
    assert entered.status_code == 302 and ManualCost.objects.get().asset == asset
    listing = client.get(reverse("reports:manual_cost_list")).content.decode()
    assert "Repair" in listing and "MFP-77" in listing
    edit = client.get(reverse("reports:cost_rates_edit", args=[CostRates.objects.get().pk])).content.decode()
    assert 'value="28.4' in edit
    client.post(reverse("reports:manual_cost_delete", args=[ManualCost.objects.get().pk]))
    assert not ManualCost.objects.exists()


def test_cost_pages_are_not_there_for_customers(client, customer_admin):
    client.force_login(customer_admin)
    assert client.get(reverse("reports:cost_rates_list")).status_code == 404
    assert client.get(reverse("reports:manual_cost_list")).status_code == 404
