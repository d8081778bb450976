"""MRR and its movements on a crafted contract history with hand-computed figures; the KPI page and API."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets.tests.factories import AssetFactory
from contracts.billing import draft_customers, finalise_invoice
from contracts.choices import ComponentKind, ContractStatus
from contracts.services import component_add, contract_create, contract_transition, coverage_add
from contracts.tests.billing_helpers import at, read
from reports import services
from reports.kpis import CHURN, CONTRACTION, EXPANSION, NEW, mrr_months
from reports.models import AcquisitionSpend, CostEntry
from telemetry.choices import Meter

JAN, FEB, MAR = datetime.date(2025, 1, 1), datetime.date(2025, 2, 1), datetime.date(2025, 3, 1)
OCTOBER = datetime.date(2025, 10, 1)


def contract(customer, start, *, end=None):
    made = contract_create(customer=customer, title="Service", start_date=start, by=None)
    contract_transition(contract=made, to=ContractStatus.ACTIVE, by=None)
    return made


def fee(made, amount, *, kind=ComponentKind.FIXED_FEE, valid_from=None, valid_to=None, **fields):
    return component_add(
        contract=made, by=None, kind=kind, name=str(kind), amount=Decimal(amount),
        valid_from=valid_from or made.start_date, valid_to=valid_to, **fields,
    )  # fmt: skip


@pytest.fixture
def history(provider):
    """Four customers over January to March 2025:
    - Alpha: ¥8,000 a month since 2024; from March ¥6,000 (a downsell): contraction of 2,000 in March.
    - Bravo: new in February with ¥10,000 and two covered assets at ¥1,000 each; in March a third asset and a
      metered component with a ¥3,000 minimum (cross-sell): expansion of 4,000 in March.
    - Charlie: ¥5,000 since 2024, ended on 15 March: churn of 5,000 in March.
    - Delta: a draft, never counted; and a one-off charge on Alpha's contract, never counted."""
    names = ("Alpha", "Bravo", "Charlie", "Delta")
    alpha, bravo, charlie, delta = (CustomerFactory(provider=provider, name=name) for name in names)
    a = contract(alpha, datetime.date(2024, 6, 1))
    fee(a, 8000, valid_to=datetime.date(2025, 2, 28))
    fee(a, 6000, valid_from=MAR)
    fee(a, 50000, kind=ComponentKind.ONE_OFF, charge_date=datetime.date(2025, 1, 10))
    b = contract(bravo, datetime.date(2025, 2, 10))
    fee(b, 10000)
    fee(b, 1000, kind=ComponentKind.ASSET_FEE)
    for start in (datetime.date(2025, 2, 10), datetime.date(2025, 2, 10), datetime.date(2025, 3, 5)):
        coverage_add(contract=b, asset=AssetFactory(customer=bravo), start_date=start, by=None)
    fee(b, 1, kind=ComponentKind.METER_CHARGE, meter=Meter.MONO_PAGES, minimum_charge=Decimal(3000), valid_from=MAR)
    c = contract(charlie, datetime.date(2024, 1, 1))
    fee(c, 5000)
    contract_transition(contract=c, to=ContractStatus.ENDED, by=None, end_date=datetime.date(2025, 3, 15))
    contract_create(customer=delta, title="Draft", start_date=JAN, by=None)
    return alpha, bravo, charlie


def test_mrr_and_its_movements_month_by_month(provider_admin, history):
    alpha, bravo, charlie = history

    rows, movements = mrr_months(user=provider_admin, first=JAN, last=MAR)

    figures = [(r.month, r.mrr, r.customers_start, r.customers_end, r.customers_new, r.customers_lost) for r in rows]
    assert figures == [
        (JAN, Decimal(13000), 2, 2, 0, 0),  # Alpha 8,000 + Charlie 5,000
        (FEB, Decimal(25000), 2, 3, 1, 0),  # + Bravo 10,000 + 2 x 1,000
        (MAR, Decimal(22000), 3, 2, 0, 1),  # Alpha 6,000 + Bravo 16,000; Charlie gone
    ]
    march = rows[2]
    assert march.movements == {NEW: 0, EXPANSION: Decimal(4000), CONTRACTION: Decimal(-2000), CHURN: Decimal(-5000)}
    assert rows[1].movements[NEW] == Decimal(12000)
    # Each month's MRR is the last one's plus its movements.
    assert rows[1].mrr + sum(march.movements.values()) == march.mrr
    assert (march.churn_rate, march.arpu) == (Decimal("33.3"), Decimal(11000))  # 1 of 3; 22,000 / 2
    assert (march.revenue, march.gross_margin, march.ltv) == (0, None, None)  # no ledger yet
    assert [(m.month, m.customer_name, m.previous, m.current, m.kind) for m in movements] == [
        (FEB, "Bravo", 0, Decimal(12000), NEW),
        (MAR, "Alpha", Decimal(8000), Decimal(6000), CONTRACTION),
        (MAR, "Bravo", Decimal(12000), Decimal(16000), EXPANSION),
        (MAR, "Charlie", Decimal(5000), 0, CHURN),
    ]


def test_an_account_manager_sees_the_mrr_of_the_customers_assigned(provider, history):
    alpha, _bravo, _charlie = history
    manager = member(provider, Role.ACCOUNT_MANAGER)
    alpha.account_managers.add(manager)

    rows, _movements = mrr_months(user=manager, first=MAR, last=MAR)

    assert [(r.mrr, r.customers_end) for r in rows] == [(Decimal(6000), 1)]


def test_kpi_page_and_api(client, api_client_for, provider_admin, customer_admin, history):
    client.force_login(provider_admin)

    page = client.get(reverse("reports:kpis"), {"month_from": "2025-01", "month_to": "2025-03"})
    drill = client.get(reverse("reports:kpis"), {"month_from": "2025-01", "month_to": "2025-03", "movement": "churn"})

    body = page.content.decode()
    assert page.status_code == 200 and "<svg" in body and "¥22,000" in body and "33.3" in body
    assert "Charlie" in drill.content.decode() and "Bravo" not in drill.content.decode().split("<h2")[-1]
    api = api_client_for(provider_admin).get("/api/v1/kpis/mrr/", {"from": "2025-01", "to": "2025-03"})
    assert api.status_code == 200
    assert [row["mrr"] for row in api.json()["months"]] == ["13000.00", "25000.00", "22000.00"]
    assert {row["kind"] for row in api.json()["movements"]} == {NEW, EXPANSION, CONTRACTION, CHURN}
    assert (
        api_client_for(customer_admin).get("/api/v1/kpis/mrr/", {"from": "2025-01", "to": "2025-03"}).status_code == 403
    )
    client.force_login(customer_admin)
    assert client.get(reverse("reports:kpis")).status_code == 404


def test_gross_margin_and_ltv_come_from_the_ledger(provider_admin, history):
    alpha, bravo, _charlie = history
    for customer, category, amount in ((alpha, "service_fees", 6000), (bravo, "service_fees", 16000),
                                       (bravo, "labour", 3500), (alpha, "parts", 2000)):  # fmt: skip
        view = "provider" if category in ("labour", "parts") else "customer"
        CostEntry.objects.create(
            customer=customer, month=MAR, view=view, category=category, amount=Decimal(amount), currency="JPY",
            source="manual", source_id=1,
        )  # fmt: skip

    rows, _movements = mrr_months(user=provider_admin, first=MAR, last=MAR)

    (march,) = rows
    # Fees 22,000 less 5,500 to serve: a 75% margin; ARPU 11,000 x 0.75 / (1 lost of 3) = 24,750.
    assert (march.revenue, march.cost_to_serve, march.gross_margin, march.ltv) == (
        Decimal(22000), Decimal(5500), Decimal("75.0"), Decimal(24750)
    )  # fmt: skip


# --- Usage revenue and CAC ----------------------------------------------------------------------------------------


def _metered_customer(provider, name: str, pages: int):
    """A customer from September 2025 on ¥10,000 a month and mono pages at ¥1 beyond 1,000 with a ¥500 minimum;
    ``pages`` printed in October, whose invoice is finalised."""
    customer = CustomerFactory(provider=provider, name=name)
    asset = AssetFactory(customer=customer)
    made = contract(customer, datetime.date(2025, 9, 1))
    fee(made, 10000)
    fee(made, 1, kind=ComponentKind.METER_CHARGE, meter=Meter.MONO_PAGES, allowance=Decimal(1000),
        minimum_charge=Decimal(500))  # fmt: skip
    coverage_add(contract=made, asset=asset, start_date=datetime.date(2025, 9, 1), by=None)
    for when, value in ((at(2025, 9, 30, 12), 0), (at(2025, 10, 1), 0), (at(2025, 11, 1), pages)):
        read(asset, when, value)
    read(asset, at(2025, 11, 2), pages)
    (drafted,) = draft_customers(customers=[customer], year=2025, month=10)
    finalise_invoice(invoice_id=drafted.invoices[0].pk, today=datetime.date(2025, 11, 1), deliver=False)
    return customer


def test_usage_revenue_is_what_was_billed_above_the_commitments(provider, provider_admin):
    _metered_customer(provider, "Heavy", 3000)  # 2,000 beyond the allowance: ¥2,000, of which ¥1,500 above ¥500
    _metered_customer(provider, "Light", 1100)  # ¥100, topped up to the ¥500 minimum: nothing above it

    (october,) = mrr_months(user=provider_admin, first=OCTOBER, last=OCTOBER)[0]

    assert (october.mrr, october.usage_revenue) == (Decimal(21000), Decimal(1500))


def test_cac_is_the_months_acquisition_spend_over_the_customers_won(provider, provider_admin, history):
    services.acquisition_spend_create(by=provider_admin, month=FEB, description="Trade fair", amount=Decimal(90000))
    services.acquisition_spend_create(by=provider_admin, month=FEB, description="Trial", amount=Decimal(30000))
    services.acquisition_spend_create(by=provider_admin, month=MAR, description="Ads", amount=Decimal(5000))

    rows, _movements = mrr_months(user=provider_admin, first=FEB, last=MAR)

    february, march = rows
    assert (february.customers_new, february.acquisition_spend, february.cac) == (1, Decimal(120000), 120000)
    assert (march.customers_new, march.acquisition_spend, march.cac) == (0, Decimal(5000), None)  # no one won


def test_only_the_providers_admins_record_acquisition_spend(provider, provider_admin):
    manager = member(provider, Role.ACCOUNT_MANAGER)
    with pytest.raises(ValidationError):
        services.acquisition_spend_create(by=manager, month=FEB, description="Lunch", amount=Decimal(100))
    with pytest.raises(ValidationError) as error:
        services.acquisition_spend_create(by=provider_admin, month=FEB, description="Ads", amount=Decimal("0.5"))
    assert "amount" in error.value.message_dict
    spend = services.acquisition_spend_create(by=provider_admin, month=FEB, description="Ads", amount=Decimal(1))
    # The spend is the whole provider's: its admins see it, account managers (their customers only) and another
    # provider do not.
    assert list(AcquisitionSpend.objects.visible_to(provider_admin)) == [spend]
    assert not AcquisitionSpend.objects.visible_to(manager).exists()
    other_admin = member(ProviderFactory(code="other"), Role.PROVIDER_ADMIN, email="admin@other.example")
    assert not AcquisitionSpend.objects.visible_to(other_admin).exists()


def test_acquisition_spend_pages_and_api(client, api_client_for, provider_admin, customer_admin):
    client.force_login(provider_admin)

    created = client.post(
        reverse("reports:acquisition_spend_create"),
        {"month": "2025-02", "description": "Trade fair", "amount": "90000", "currency": "JPY"},
    )
    refused = client.post(
        reverse("reports:acquisition_spend_create"),
        {"month": "2025-02", "description": "Nothing", "amount": "-1", "currency": "JPY"},
    )

    assert created.status_code == 302
    assert refused.status_code == 200 and refused.context["form"].errors["amount"]
    listing = client.get(reverse("reports:acquisition_spend_list"))
    assert "Trade fair" in listing.content.decode()
    api = api_client_for(provider_admin)
    posted = api.post("/api/v1/acquisition-spend/", {"month": "2025-03", "description": "Ads", "amount": "5000"})
    assert posted.status_code == 201 and posted.json()["month"] == "2025-03"
    assert (
        api.post("/api/v1/acquisition-spend/", {"month": "2025-03", "description": "x", "amount": "0"}).status_code
        == 400
    )
    assert api_client_for(customer_admin).get("/api/v1/acquisition-spend/").json()["results"] == []
    client.force_login(customer_admin)
    assert client.get(reverse("reports:acquisition_spend_list")).status_code == 404


def test_chart_labels_name_at_most_seven_months():
    from reports.ledger import months_from
    from reports.views import month_ticks

    year = months_from(datetime.date(2025, 12, 1), datetime.date(2026, 10, 1))  # eleven months
    assert [label for _index, label in month_ticks(year)] == [
        "2025-12", "2026-02", "2026-04", "2026-06", "2026-08", "2026-10"
    ]  # fmt: skip
    assert len(month_ticks(months_from(JAN, datetime.date(2029, 12, 1)))) == 7  # sixty months, every ninth
    assert [index for index, _label in month_ticks([JAN, FEB, MAR])] == [0, 1, 2]
