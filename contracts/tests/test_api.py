"""The contracts API: who reads and writes which contracts, nested reads, the audit trail, input errors as field
messages without half writes, amounts as decimal strings beside their currency, and a list in constant queries."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets.tests.factories import AssetFactory
from contracts import services
from contracts.choices import AuditAction, ComponentKind, ContractStatus
from contracts.models import AuditEntry, Contract, ContractAmendment, ContractAsset, PriceComponent
from contracts.services import SERVICE_LEVEL_OF_ANOTHER_CUSTOMER
from maintenance.tests.factories import ServiceLevelFactory
from telemetry.choices import Meter

pytestmark = pytest.mark.django_db

CONTRACTS = "/api/v1/contracts/"
TODAY = timezone.localdate()
START = TODAY - datetime.timedelta(days=120)
DAY = datetime.timedelta(days=1)


def url(contract: Contract, suffix: str = "") -> str:
    return f"{CONTRACTS}{contract.pk}/{suffix}"


@pytest.fixture
def manager(provider, customer):
    """An account manager assigned to ``customer``."""
    user = member(provider, Role.ACCOUNT_MANAGER, email="manager@provider.example")
    customer.account_managers.add(user)
    return user


@pytest.fixture
def stranger_manager(provider, other_customer):
    """An account manager assigned to ``other_customer`` only."""
    user = member(provider, Role.ACCOUNT_MANAGER, email="stranger@provider.example")
    other_customer.account_managers.add(user)
    return user


@pytest.fixture
def users(provider_admin, manager, stranger_manager, customer_admin, other_admin, service_desk, viewer):
    return {
        "provider_admin": provider_admin,
        "manager": manager,
        "stranger_manager": stranger_manager,
        "customer_admin": customer_admin,
        "other_admin": other_admin,
        "service_desk": service_desk,
        "viewer": viewer,
        "anonymous": None,
    }


@pytest.fixture
def client_of(users, api_client_for):
    def make(role: str) -> APIClient:
        user = users[role]
        return APIClient() if user is None else api_client_for(user)

    return make


@pytest.fixture
def contract(customer, provider_admin):
    return services.contract_create(
        customer=customer,
        title="MPS all-in",
        start_date=START,
        by=provider_admin,
        baseline_monthly_cost=Decimal("250000"),
    )


@pytest.fixture
def other_contract(other_customer, provider_admin):
    return services.contract_create(customer=other_customer, title="Fleet care", start_date=START, by=provider_admin)


@pytest.fixture
def active(contract, provider_admin):
    """``contract``, active, with a fixed fee and a metered component with tiers, and one asset covered."""
    services.contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=provider_admin)
    contract.refresh_from_db()
    return contract


@pytest.fixture
def fee(active, provider_admin):
    return services.component_add(
        contract=active, by=provider_admin, kind=ComponentKind.FIXED_FEE, name="Base fee", amount=Decimal("30000")
    )


@pytest.fixture
def pages(active, provider_admin):
    return services.component_add(
        contract=active,
        by=provider_admin,
        kind=ComponentKind.METER_CHARGE,
        name="Mono pages",
        meter=Meter.TOTAL_PAGES,
        amount=Decimal("1.2"),
        allowance=Decimal("5000"),
        tiers=[(Decimal(0), Decimal("1.2")), (Decimal(10000), Decimal("0.9"))],
    )


@pytest.fixture
def covered(active, asset, provider_admin):
    return services.coverage_add(contract=active, asset=asset, start_date=START, by=provider_admin)


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- Reads --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        ("provider_admin", {"mine", "other"}),
        ("manager", {"mine"}),
        ("stranger_manager", {"other"}),
        ("customer_admin", {"mine"}),
        ("other_admin", {"other"}),
        ("service_desk", set()),
        ("viewer", set()),
    ],
)
def test_list_shows_price_seeing_roles_the_contracts_of_their_scope(client_of, contract, other_contract, role, sees):
    names = {contract.pk: "mine", other_contract.pk: "other"}
    assert {names[pk] for pk in ids(client_of(role).get(CONTRACTS))} == sees


def test_anonymous_callers_are_refused_everywhere(client_of, active, covered):
    client = client_of("anonymous")
    for path in (CONTRACTS, url(active), url(active, "audit/")):
        assert client.get(path).status_code == 401
    for suffix in (
        "activate/",
        "suspend/",
        "end/",
        "components/",
        "coverage/",
        f"coverage/{covered.pk}/end/",
        "amend/",
    ):
        assert client.post(url(active, suffix), {}).status_code == 401
    assert client.post(CONTRACTS, {}).status_code == 401
    assert client.patch(url(active), {"title": "Mine"}).status_code == 401
    assert Contract.objects.get(pk=active.pk).title == "MPS all-in"


def test_list_filters_by_status_customer_and_search(client_of, contract, other_contract, provider_admin, customer):
    services.contract_transition(contract=other_contract, to=ContractStatus.ACTIVE, by=provider_admin)
    client = client_of("provider_admin")
    assert ids(client.get(CONTRACTS, {"status": "active"})) == {other_contract.pk}
    assert ids(client.get(CONTRACTS, {"status": "draft"})) == {contract.pk}
    assert ids(client.get(CONTRACTS, {"customer": customer.pk})) == {contract.pk}
    assert ids(client.get(CONTRACTS, {"q": "fleet"})) == {other_contract.pk}
    assert ids(client.get(CONTRACTS, {"q": contract.number})) == {contract.pk}
    assert client.get(CONTRACTS, {"status": "signed"}).status_code == 400
    # A customer the caller does not see is no choice.
    assert client_of("manager").get(CONTRACTS, {"customer": other_contract.customer_id}).status_code == 400


def test_list_rows_carry_amounts_as_strings_with_their_currency(client_of, active, fee, covered, asset, customer):
    services.component_add(
        contract=active,
        by=None,
        kind=ComponentKind.ASSET_FEE,
        name="Per device",
        amount=Decimal("1500.5"),
    )
    row = client_of("customer_admin").get(CONTRACTS).json()["results"][0]
    assert (row["number"], row["customer"], row["customer_name"]) == (active.number, customer.pk, customer.name)
    assert (row["status"], row["currency"], row["covered_assets"]) == ("active", "JPY", 1)
    # 30000 + 1 asset x 1500.5, rounded to whole yen.
    assert row["monthly_fixed_fees"] == "31501.00"
    assert row["baseline_monthly_cost"] == "250000.00"


def test_detail_nests_components_with_tiers_coverage_and_amendments(client_of, active, fee, pages, covered, asset):
    services.contract_amend(
        contract=active,
        effective_date=TODAY,
        description="Colour added",
        by=None,
        adds=[{"kind": ComponentKind.FIXED_FEE, "name": "Colour fee", "amount": Decimal("5000")}],
    )
    response = client_of("manager").get(url(active))
    assert response.status_code == 200
    body = response.json()
    assert (body["number"], body["status"], body["currency"]) == (active.number, "active", "JPY")
    components = {row["name"]: row for row in body["components"]}
    assert set(components) == {"Base fee", "Mono pages", "Colour fee"}
    metered = components["Mono pages"]
    assert (metered["amount"], metered["currency"], metered["meter"]) == ("1.2000", "JPY", Meter.TOTAL_PAGES)
    assert metered["allowance"] == "5000.000"
    assert metered["tiers"] == [
        {"from_units": "0.000", "rate": "1.2000"},
        {"from_units": "10000.000", "rate": "0.9000"},
    ]
    assert (components["Colour fee"]["amendment_number"], components["Base fee"]["amendment"]) == (1, None)
    assert [(row["asset"], row["asset_serial_number"], row["end_date"]) for row in body["coverage"]] == [
        (asset.pk, asset.serial_number, None)
    ]
    assert [(row["number"], row["description"]) for row in body["amendments"]] == [(1, "Colour added")]


@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("provider_admin", 200),
        ("manager", 200),
        ("customer_admin", 200),
        ("stranger_manager", 404),
        ("other_admin", 404),
        ("service_desk", 404),
        ("viewer", 404),
    ],
)
def test_detail_and_audit_are_read_by_price_seeing_roles_of_the_customer(client_of, active, role, code):
    client = client_of(role)
    assert client.get(url(active)).status_code == code
    assert client.get(url(active, "audit/")).status_code == code


def test_another_providers_contract_and_malformed_ids_are_not_found(client_of, contract):
    foreign_customer = CustomerFactory(provider=ProviderFactory(code="elsewhere", tax_registration_number=""))
    foreign = services.contract_create(customer=foreign_customer, title="Theirs", start_date=START, by=None)
    client = client_of("provider_admin")
    assert client.get(url(foreign)).status_code == 404
    assert client.post(url(foreign, "activate/")).status_code == 404
    assert client.get(f"{CONTRACTS}abc/").status_code == 404
    assert client.post(f"{CONTRACTS}0.5/activate/").status_code == 404
    assert Contract.objects.get(pk=foreign.pk).status == ContractStatus.DRAFT


def test_audit_trail_is_paginated_newest_first_with_before_and_after(client_of, contract, provider_admin):
    services.contract_update(contract=contract, by=provider_admin, title="MPS all-in 2026")
    services.contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=provider_admin)
    client = client_of("customer_admin")
    body = client.get(url(contract, "audit/")).json()
    assert body["count"] == 3
    assert [row["action"] for row in body["results"]] == ["changed", "changed", "created"]
    newest, changed = body["results"][0], body["results"][1]
    assert newest["changes"] == {"status": ["draft", "active"]}
    assert changed["changes"] == {"title": ["MPS all-in", "MPS all-in 2026"]}
    assert (newest["object_type"], newest["object_id"], newest["by_name"]) == (
        "contract",
        contract.pk,
        str(provider_admin),
    )
    page = client.get(url(contract, "audit/"), {"page_size": 1, "page": 2}).json()
    assert [row["id"] for row in page["results"]] == [changed["id"]]
    assert client.get(url(contract, "audit/"), {"page": 9}).status_code == 404


@pytest.mark.parametrize("size", [1, 5])
def test_list_takes_the_same_queries_for_one_or_five_contracts(client_of, customer, site, size):
    for number in range(size):
        contract = services.contract_create(customer=customer, title=f"C{number}", start_date=START, by=None)
        services.component_add(contract=contract, by=None, kind=ComponentKind.ASSET_FEE, name="Fee", amount=1)
        services.coverage_add(
            contract=contract, asset=AssetFactory(customer=customer, site=site), start_date=START, by=None
        )
    client = client_of("provider_admin")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CONTRACTS)
    assert len(response.json()["results"]) == size
    # Token and user, membership (access), the page's count, the page.
    assert len(queries) == 4, [query["sql"] for query in queries]


@pytest.mark.parametrize("size", [1, 4])
def test_detail_takes_the_same_queries_whatever_it_nests(client_of, active, customer, site, size):
    for number in range(size):
        services.component_add(
            contract=active,
            by=None,
            kind=ComponentKind.METER_CHARGE,
            name=f"Meter {number}",
            meter=Meter.TOTAL_PAGES,
            tiers=[(0, 1), (100, 2)],
        )
        asset = AssetFactory(customer=customer, site=site)
        services.coverage_add(contract=active, asset=asset, start_date=START, by=None)
        fee = {"kind": ComponentKind.FIXED_FEE, "name": f"Fee {number}"}
        services.contract_amend(contract=active, effective_date=TODAY, description=str(number), by=None, adds=[fee])
    client = client_of("provider_admin")
    with CaptureQueriesContext(connection) as queries:
        body = client.get(url(active)).json()
    assert (len(body["components"]), len(body["coverage"]), len(body["amendments"])) == (2 * size, size, size)
    # Token and user, membership, the contract, its components, their tiers, coverage, amendments.
    assert len(queries) == 7, [query["sql"] for query in queries]


# --- Create and update --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("provider_admin", 201),
        ("manager", 201),
        ("stranger_manager", 400),  # the customer is not one they see
        ("customer_admin", 403),
        ("other_admin", 403),
        ("service_desk", 403),
        ("viewer", 403),
    ],
)
def test_create_is_for_contract_managers_of_the_customer(client_of, customer, role, code):
    body = {"customer": customer.pk, "title": "Print fleet", "start_date": str(START), "payment_terms_days": 45}
    response = client_of(role).post(CONTRACTS, body)
    assert response.status_code == code, response.content
    if code == 201:
        data = response.json()
        contract = Contract.objects.get()
        assert (data["id"], data["status"], data["currency"]) == (contract.pk, "draft", "JPY")
        assert data["number"] == f"CT-{START.year}-000001"
        assert (contract.payment_terms_days, contract.title) == (45, "Print fleet")
        assert data["components"] == [] and data["coverage"] == []
        assert AuditEntry.objects.filter(contract=contract, action=AuditAction.CREATED).count() == 1
    else:
        assert not Contract.objects.exists()
    if code == 400:
        assert "customer" in response.json()


def test_create_bad_input_is_a_400_with_field_messages_and_writes_nothing(
    client_of, provider, customer, other_customer
):
    client = client_of("provider_admin")
    base = {"customer": customer.pk, "title": "Print fleet", "start_date": str(START)}
    response = client.post(CONTRACTS, {**base, "end_date": str(START - DAY)})
    assert response.status_code == 400 and "end_date" in response.json()
    response = client.post(CONTRACTS, {**base, "billing_day": 31, "credit_cap_percent": "120"})
    assert response.status_code == 400 and {"billing_day", "credit_cap_percent"} <= set(response.json())
    assert client.post(CONTRACTS, {**base, "customer": provider.pk}).status_code == 400
    foreign = CustomerFactory(provider=ProviderFactory(code="elsewhere", tax_registration_number=""))
    response = client.post(CONTRACTS, {**base, "customer": foreign.pk})
    assert response.status_code == 400 and "customer" in response.json()
    theirs = ServiceLevelFactory(provider=provider, customer=other_customer)
    response = client.post(CONTRACTS, {**base, "service_level": theirs.pk})
    assert response.json() == {"service_level": [str(SERVICE_LEVEL_OF_ANOTHER_CUSTOMER)]}
    assert client.post(CONTRACTS, {"title": "No customer"}).status_code == 400
    closed = CustomerFactory(provider=provider, code="closed", is_active=False)
    response = client.post(CONTRACTS, {**base, "customer": closed.pk})
    assert response.status_code == 400 and "customer" in response.json()
    assert not Contract.objects.exists() and not AuditEntry.objects.exists()


def test_create_takes_the_default_or_the_customers_service_level(client_of, provider, customer):
    default = ServiceLevelFactory(provider=provider)
    own = ServiceLevelFactory(provider=provider, customer=customer)
    client = client_of("manager")
    for level in (default, own):
        body = {"customer": customer.pk, "title": level.name, "start_date": str(START), "service_level": level.pk}
        response = client.post(CONTRACTS, body)
        assert response.status_code == 201
        assert response.json()["service_level_name"] == level.name


@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("provider_admin", 200),
        ("manager", 200),
        ("stranger_manager", 404),
        ("customer_admin", 403),
        ("other_admin", 404),
        ("service_desk", 404),
        ("viewer", 404),
    ],
)
def test_patch_changes_the_terms_for_managers_only(client_of, contract, role, code):
    response = client_of(role).patch(url(contract), {"title": "MPS 2027", "notice_days": 60})
    assert response.status_code == code
    contract.refresh_from_db()
    if code == 200:
        assert (contract.title, contract.notice_days) == ("MPS 2027", 60)
        assert response.json()["title"] == "MPS 2027"
        entry = AuditEntry.objects.filter(contract=contract, action=AuditAction.CHANGED).get()
        assert entry.changes == {"title": ["MPS all-in", "MPS 2027"], "notice_days": ["90", "60"]}
    else:
        assert (contract.title, contract.notice_days) == ("MPS all-in", 90)


def test_patch_refuses_what_the_service_refuses(client_of, active, provider_admin, other_customer, provider):
    client = client_of("provider_admin")
    response = client.patch(url(active), {"currency": "USD", "title": "Dollars"})
    assert response.status_code == 400 and "currency" in response.json()
    response = client.patch(url(active), {"end_date": str(START - DAY)})
    assert response.status_code == 400 and "end_date" in response.json()
    theirs = ServiceLevelFactory(provider=provider, customer=other_customer)
    assert "service_level" in client.patch(url(active), {"service_level": theirs.pk}).json()
    assert client.put(url(active), {"title": "Put"}).status_code == 405
    active.refresh_from_db()
    assert (active.currency, active.title, active.end_date, active.service_level) == ("JPY", "MPS all-in", None, None)
    services.contract_transition(contract=active, to=ContractStatus.ENDED, by=provider_admin, end_date=TODAY)
    response = client.patch(url(active), {"title": "Again"})
    assert response.status_code == 400 and "non_field_errors" in response.json()


def test_patch_changes_the_currency_of_a_draft(client_of, contract):
    response = client_of("provider_admin").patch(url(contract), {"currency": "USD"})
    assert response.status_code == 200 and response.json()["currency"] == "USD"


# --- Status moves -------------------------------------------------------------------------------------------------


def test_activate_suspend_and_end_follow_the_transitions(client_of, contract):
    client = client_of("manager")
    assert client.post(url(contract, "suspend/")).status_code == 400
    response = client.post(url(contract, "activate/"))
    assert response.status_code == 200 and response.json()["status"] == "active"
    assert client.post(url(contract, "suspend/")).json()["status"] == "suspended"
    response = client.post(url(contract, "end/"), {"end_date": str(START - DAY)})
    assert response.status_code == 400 and "end_date" in response.json()
    response = client.post(url(contract, "end/"), {"end_date": str(TODAY)})
    assert (response.json()["status"], response.json()["end_date"]) == ("ended", str(TODAY))
    response = client.post(url(contract, "activate/"))
    assert response.status_code == 400 and "non_field_errors" in response.json()
    contract.refresh_from_db()
    assert (contract.status, contract.end_date) == (ContractStatus.ENDED, TODAY)


def test_end_without_a_date_ends_today(client_of, active):
    assert client_of("provider_admin").post(url(active, "end/")).json()["end_date"] == str(TODAY)


@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("stranger_manager", 404),
        ("customer_admin", 403),
        ("other_admin", 404),
        ("service_desk", 404),
        ("viewer", 404),
    ],
)
def test_status_moves_are_refused_to_other_roles(client_of, active, role, code):
    client = client_of(role)
    for suffix in ("suspend/", "end/", "activate/"):
        assert client.post(url(active, suffix)).status_code == code
    active.refresh_from_db()
    assert active.status == ContractStatus.ACTIVE


# --- Components, coverage, amendments -----------------------------------------------------------------------------

METERED = {
    "kind": "meter_charge",
    "name": "Colour pages",
    "meter": Meter.TOTAL_PAGES,
    "amount": "8.5",
    "allowance": "1000",
    "tier_mode": "volume",
    "tiers": [{"from_units": "0", "rate": "8.5"}, {"from_units": "5000", "rate": "6.25"}],
}


def test_components_adds_a_priced_component_with_its_tiers(client_of, active):
    response = client_of("manager").post(url(active, "components/"), METERED, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    component = PriceComponent.objects.get(pk=body["id"])
    assert (body["amount"], body["currency"], body["tier_mode"]) == ("8.5000", "JPY", "volume")
    assert body["valid_from"] == str(active.start_date)
    assert [row["rate"] for row in body["tiers"]] == ["8.5000", "6.2500"]
    assert list(component.tiers.values_list("from_units", "rate")) == [
        (Decimal("0.000"), Decimal("8.5000")),
        (Decimal("5000.000"), Decimal("6.2500")),
    ]


def test_component_bad_input_is_a_400_and_adds_nothing(client_of, active):
    client = client_of("provider_admin")
    path = url(active, "components/")
    cases = [
        ({**METERED, "tiers": [{"from_units": "10", "rate": "1"}, {"from_units": "5", "rate": "1"}]}, "tiers"),
        ({**METERED, "kind": "fixed_fee", "meter": ""}, "tiers"),
        ({**METERED, "meter": ""}, "meter"),
        ({**METERED, "amount": "-1"}, "amount"),
        ({"kind": "one_off", "name": "Setup", "amount": "20000"}, "charge_date"),
        ({**METERED, "valid_from": str(START - DAY)}, "valid_from"),
    ]
    for body, field in cases:
        response = client.post(path, body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.content)
    # Row errors are flat messages, as every error response.
    response = client.post(path, {**METERED, "tiers": [{"from_units": "0", "rate": "x"}]}, format="json")
    assert response.status_code == 400
    assert all(isinstance(message, str) for message in response.json()["tiers"])
    assert not PriceComponent.objects.exists()


def test_coverage_covers_and_ends_an_asset(client_of, active, asset):
    client = client_of("manager")
    response = client.post(url(active, "coverage/"), {"asset": asset.pk, "start_date": str(START)})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["asset"], body["asset_serial_number"], body["end_date"]) == (asset.pk, asset.serial_number, None)
    response = client.post(url(active, f"coverage/{body['id']}/end/"), {"end_date": str(TODAY)})
    assert response.status_code == 200 and response.json()["end_date"] == str(TODAY)
    assert ContractAsset.objects.get(pk=body["id"]).end_date == TODAY


def test_coverage_refuses_assets_and_coverages_outside_the_contract(
    client_of, active, other_contract, other_asset, customer, site, covered, provider_admin
):
    client = client_of("provider_admin")
    # An asset the caller sees, of another customer: the service's message.
    response = client.post(url(active, "coverage/"), {"asset": other_asset.pk, "start_date": str(START)})
    assert response.json() == {"asset": [str(services.ASSET_OF_ANOTHER_CUSTOMER)]}
    # An asset the caller does not see: no such choice.
    foreign = AssetFactory(
        customer=CustomerFactory(provider=ProviderFactory(code="elsewhere", tax_registration_number=""))
    )
    response = client.post(url(active, "coverage/"), {"asset": foreign.pk, "start_date": str(START)})
    assert response.status_code == 400 and response.json()["asset"] != [str(services.ASSET_OF_ANOTHER_CUSTOMER)]
    # An account manager does not see the other customer's asset: the same answer as for no asset at all.
    manager = client_of("manager")
    response = manager.post(url(active, "coverage/"), {"asset": other_asset.pk, "start_date": str(START)})
    missing = manager.post(url(active, "coverage/"), {"asset": 10**9, "start_date": str(START)})
    assert response.status_code == missing.status_code == 400
    assert response.json()["asset"][0].replace(str(other_asset.pk), "N") == missing.json()["asset"][0].replace(
        str(10**9), "N"
    )
    fresh = AssetFactory(customer=customer, site=site)
    response = client.post(url(active, "coverage/"), {"asset": fresh.pk, "start_date": str(START - DAY)})
    assert response.status_code == 400 and "start_date" in response.json()
    assert ContractAsset.objects.count() == 1
    # Coverage end: a coverage of another contract, or no coverage id, is not found; a date before its start is 400.
    theirs = services.coverage_add(contract=other_contract, asset=other_asset, start_date=START, by=None)
    assert client.post(url(active, f"coverage/{theirs.pk}/end/"), {"end_date": str(TODAY)}).status_code == 404
    for other_id in ("x1", "²", "-1", "99999999999999999999999"):
        assert client.post(url(active, f"coverage/{other_id}/end/"), {"end_date": str(TODAY)}).status_code == 404
    response = client.post(url(active, "amend/"), {"effective_date": str(TODAY), "description": "Big", "ends": [2**70]})
    assert response.status_code == 400 and "ends" in response.json()
    response = client.post(url(active, f"coverage/{covered.pk}/end/"), {"end_date": str(START - DAY)})
    assert response.status_code == 400 and "end_date" in response.json()
    assert client.post(url(active, f"coverage/{covered.pk}/end/"), {}).status_code == 400
    assert not ContractAsset.objects.exclude(end_date=None).exists()


@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("stranger_manager", 404),
        ("customer_admin", 403),
        ("other_admin", 404),
        ("service_desk", 404),
        ("viewer", 404),
    ],
)
def test_components_coverage_and_amendments_are_refused_to_other_roles(
    client_of, active, covered, fee, asset, role, code
):
    client = client_of(role)
    assert client.post(url(active, "components/"), METERED, format="json").status_code == code
    assert client.post(url(active, "coverage/"), {"asset": asset.pk, "start_date": str(TODAY)}).status_code == code
    end = {"end_date": str(TODAY)}
    assert client.post(url(active, f"coverage/{covered.pk}/end/"), end).status_code == code
    amendment = {"effective_date": str(TODAY), "description": "Down", "ends": [fee.pk]}
    assert client.post(url(active, "amend/"), amendment, format="json").status_code == code
    assert (PriceComponent.objects.count(), ContractAsset.objects.get().end_date) == (1, None)
    assert not ContractAmendment.objects.exists()


def test_amend_ends_adds_and_moves_assets_in_one_amendment(client_of, active, fee, covered, customer, site):
    newcomer = AssetFactory(customer=customer, site=site)
    body = {
        "effective_date": str(TODAY),
        "description": "Upsell: colour, one device swapped",
        "ends": [fee.pk],
        "adds": [{"kind": "fixed_fee", "name": "Base fee 2", "amount": "35000"}, METERED],
        "assets_in": [newcomer.pk],
        "assets_out": [covered.pk],
    }
    response = client_of("manager").post(url(active, "amend/"), body, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["number"], response.json()["effective_date"]) == (1, str(TODAY))
    amendment = ContractAmendment.objects.get()
    fee.refresh_from_db()
    covered.refresh_from_db()
    assert fee.valid_to == covered.end_date == TODAY - DAY
    added = PriceComponent.objects.filter(amendment=amendment).order_by("pk")
    assert [(row.name, row.valid_from) for row in added] == [("Base fee 2", TODAY), ("Colour pages", TODAY)]
    assert added[1].tiers.count() == 2
    assert ContractAsset.objects.get(asset=newcomer).start_date == TODAY
    second = client_of("provider_admin").post(
        url(active, "amend/"), {**body, "ends": [], "adds": [], "assets_out": []}, format="json"
    )
    assert second.status_code == 400 and "asset" in second.json()  # the newcomer is already covered
    body = {"effective_date": str(TODAY), "description": "Again", "adds": [{"kind": "fixed_fee", "name": "X"}]}
    assert client_of("provider_admin").post(url(active, "amend/"), body, format="json").json()["number"] == 2


def test_amend_bad_input_is_a_400_without_half_writes(client_of, active, fee, covered, other_contract, other_asset):
    theirs = services.component_add(
        contract=other_contract, by=None, kind=ComponentKind.FIXED_FEE, name="Theirs", amount=Decimal(1)
    )
    their_coverage = services.coverage_add(contract=other_contract, asset=other_asset, start_date=START, by=None)
    client = client_of("provider_admin")
    path = url(active, "amend/")
    base = {"effective_date": str(TODAY), "description": "Change"}
    entries = AuditEntry.objects.count()
    cases = [
        ({**base, "ends": [theirs.pk]}, "ends"),
        ({**base, "assets_out": [their_coverage.pk]}, "assets_out"),
        ({**base, "assets_in": [other_asset.pk]}, "asset"),
        ({**base, "ends": [fee.pk], "adds": [{"kind": "fixed_fee"}]}, "adds"),
        # Valid as input; the service refuses the metered component without a meter after ending the fee.
        ({**base, "ends": [fee.pk], "adds": [{**METERED, "meter": ""}]}, "meter"),
        ({**base, "effective_date": str(START - DAY), "ends": [fee.pk]}, "effective_date"),
        (base, "non_field_errors"),
        ({"description": "No date", "ends": [fee.pk]}, "effective_date"),
    ]
    for body, field in cases:
        response = client.post(path, body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.content)
    fee.refresh_from_db()
    covered.refresh_from_db()
    assert (fee.valid_to, covered.end_date) == (None, None)
    assert not ContractAmendment.objects.exists()
    assert PriceComponent.objects.filter(contract=active).count() == 1
    assert AuditEntry.objects.count() == entries


def test_amendments_and_components_are_refused_on_an_ended_contract(client_of, active, fee, provider_admin):
    services.contract_transition(contract=active, to=ContractStatus.ENDED, by=provider_admin, end_date=TODAY)
    client = client_of("provider_admin")
    response = client.post(url(active, "components/"), METERED, format="json")
    assert response.status_code == 400 and response.json() == {"non_field_errors": [str(services.ENDED_CONTRACT)]}
    body = {"effective_date": str(TODAY), "description": "Late", "ends": [fee.pk]}
    assert client.post(url(active, "amend/"), body, format="json").status_code == 400
    assert PriceComponent.objects.count() == 1 and not ContractAmendment.objects.exists()
