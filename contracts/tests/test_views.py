"""Contract pages: who sees them (prices only, tenancy), the list's annotations, filters, CSV and query counts, the
contract's page, and the forms and buttons that change contracts through the services (errors on the forms, no
half writes)."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assets.choices import AssetStatus
from assets.tests.factories import AssetFactory, SiteFactory
from contracts import forms as contract_forms
from contracts import services
from contracts.choices import AuditAction, ComponentKind, ContractStatus, TaxCategory
from contracts.models import AuditEntry, Contract, ContractAmendment, ContractAsset, PriceComponent, PriceTier
from contracts.selectors import contract_list
from fleet.money import rate_format
from maintenance.tests.factories import ServiceLevelFactory
from telemetry.choices import Meter

LIST = reverse("contracts:contract_list")
CREATE = reverse("contracts:contract_create")
TODAY = timezone.localdate()
START = TODAY.replace(day=1) - datetime.timedelta(days=90)


def detail(contract) -> str:
    return reverse("contracts:contract_detail", args=[contract.pk])


def url(name: str, contract, *args) -> str:
    return reverse(f"contracts:{name}", args=[contract.pk, *args])


def csv_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


# --- Fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture
def second_asset(customer, site):
    return AssetFactory(customer=customer, site=site, serial_number="SN-SECOND")


@pytest.fixture
def contract(customer, provider_admin, asset, second_asset):
    """Customer A's active contract: ¥50,000 a month, ¥1,000 per covered asset (two covered now, one asset left
    before today), a page charge with tiers, and a fixed fee that ended before today."""
    contract = services.contract_create(customer=customer, title="MPS all-in", start_date=START, by=provider_admin)
    services.contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=provider_admin)
    services.component_add(
        contract=contract, by=provider_admin, kind=ComponentKind.FIXED_FEE, name="Service fee", amount=Decimal(50000)
    )
    services.component_add(
        contract=contract, by=provider_admin, kind=ComponentKind.ASSET_FEE, name="Per device", amount=Decimal(1000)
    )
    services.component_add(
        contract=contract,
        by=provider_admin,
        kind=ComponentKind.METER_CHARGE,
        name="Mono pages",
        amount=Decimal("0.85"),
        meter=Meter.MONO_PAGES,
        allowance=Decimal(1000),
        tiers=[(Decimal(0), Decimal("0.85")), (Decimal(10000), Decimal("0.6"))],
    )
    services.component_add(
        contract=contract,
        by=provider_admin,
        kind=ComponentKind.FIXED_FEE,
        name="Old fee",
        amount=Decimal(99999),
        valid_to=START + datetime.timedelta(days=20),
    )
    services.coverage_add(contract=contract, asset=asset, start_date=START, by=provider_admin)
    services.coverage_add(contract=contract, asset=second_asset, start_date=START, by=provider_admin)
    gone = AssetFactory(customer=customer, site=asset.site, serial_number="SN-GONE")
    services.coverage_add(
        contract=contract, asset=gone, start_date=START, end_date=START + datetime.timedelta(days=10), by=provider_admin
    )
    return contract


@pytest.fixture
def other_contract(other_customer, provider_admin):
    return services.contract_create(customer=other_customer, title="Forklifts", start_date=START, by=provider_admin)


def make_contracts(customer, by, count):
    site = SiteFactory(customer=customer)
    for index in range(count):
        contract = services.contract_create(customer=customer, title=f"Bulk {index}", start_date=START, by=by)
        services.component_add(contract=contract, by=by, kind=ComponentKind.FIXED_FEE, name="Fee", amount=Decimal(1000))
        services.component_add(
            contract=contract, by=by, kind=ComponentKind.ASSET_FEE, name="Per asset", amount=Decimal(10)
        )
        services.coverage_add(
            contract=contract, asset=AssetFactory(customer=customer, site=site), start_date=START, by=by
        )


# --- Who sees what -----------------------------------------------------------------------------------------------


def test_provider_admin_sees_every_customers_contracts(client, provider_admin, contract, other_contract):
    client.force_login(provider_admin)
    response = client.get(LIST)
    assert response.status_code == 200
    assert contract.number in response.text
    assert other_contract.number in response.text
    assert contract.customer.name in response.text  # the customer column is the provider's
    assert reverse("contracts:contract_list") in response.text  # the navigation link


def test_account_manager_sees_the_assigned_customers_only(
    client, account_manager, other_manager, contract, other_contract
):
    client.force_login(account_manager)
    response = client.get(LIST)
    assert contract.number in response.text
    assert other_contract.number not in response.text
    assert client.get(detail(contract)).status_code == 200
    assert client.get(detail(other_contract)).status_code == 404
    client.force_login(other_manager)
    assert client.get(detail(contract)).status_code == 404
    assert contract.number not in client.get(LIST).text


def test_customer_admin_sees_their_own_contracts_without_the_customer_column(
    client, customer_admin, other_admin, contract, other_contract
):
    client.force_login(customer_admin)
    response = client.get(LIST)
    assert contract.number in response.text
    assert other_contract.number not in response.text
    assert 'name="customer"' not in response.text
    assert ">Customer<" not in response.text
    assert client.get(detail(contract)).status_code == 200
    assert client.get(detail(other_contract)).status_code == 404
    client.force_login(other_admin)
    assert client.get(detail(contract)).status_code == 404
    assert contract.number not in client.get(LIST).text


@pytest.mark.parametrize("role_fixture", ["service_desk", "technician", "viewer", "operator"])
def test_roles_that_see_no_prices_see_no_contract(client, request, role_fixture, contract):
    user = request.getfixturevalue(role_fixture)
    client.force_login(user)
    response = client.get(LIST)
    assert response.status_code == 200  # like every list: the rows the role may see, here none
    assert response.context["page_obj"].paginator.count == 0
    assert contract.number not in response.text
    assert contract.number not in "".join(",".join(row) for row in csv_of(client.get(LIST, {"format": "csv"})))
    assert client.get(detail(contract)).status_code == 404
    assert client.get(CREATE).status_code == 404
    assert client.post(url("contract_transition", contract), {"to": "suspended"}).status_code == 404
    assert reverse("contracts:contract_list") not in client.get(reverse("portal:dashboard")).text
    assert list(contract_list(user=user)) == []
    contract.refresh_from_db()
    assert contract.status == ContractStatus.ACTIVE


def test_anonymous_callers_are_sent_to_the_login(client, contract):
    coverage = contract.coverage.first()
    urls = [
        LIST,
        CREATE,
        detail(contract),
        url("contract_edit", contract),
        url("component_add", contract),
        url("coverage_add", contract),
        url("amendment_create", contract),
    ]
    for page in urls:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response.url.startswith(reverse("accounts:login")), page
    for page in [url("contract_transition", contract), url("coverage_end", contract)]:
        response = client.post(page, {"to": "suspended", "coverage": coverage.pk, "end_date": TODAY.isoformat()})
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:login"))
    contract.refresh_from_db()
    assert contract.status == ContractStatus.ACTIVE


@pytest.mark.parametrize("role_fixture", ["customer_admin", "other_manager"])
def test_writes_are_refused_to_customers_and_unassigned_managers(client, request, role_fixture, contract, asset):
    client.force_login(request.getfixturevalue(role_fixture))
    coverage = contract.coverage.get(asset=asset)
    audit_before = AuditEntry.objects.count()
    for page in [
        url("contract_edit", contract),
        url("component_add", contract),
        url("coverage_add", contract),
        url("amendment_create", contract),
    ]:
        assert client.get(page).status_code == 404, page
        assert client.post(page, {"title": "Taken", "name": "X", "kind": "fixed_fee"}).status_code == 404, page
    assert client.post(url("contract_transition", contract), {"to": "suspended"}).status_code == 404
    ending = {"coverage": coverage.pk, "end_date": TODAY.isoformat()}
    assert client.post(url("coverage_end", contract), ending).status_code == 404
    assert AuditEntry.objects.count() == audit_before
    coverage.refresh_from_db()
    assert coverage.end_date is None


def test_customer_admin_sees_no_manage_buttons(client, customer_admin, contract):
    client.force_login(customer_admin)
    page = client.get(detail(contract)).text
    assert url("contract_edit", contract) not in page
    assert url("contract_transition", contract) not in page
    assert url("amendment_create", contract) not in page
    assert 'href="/contracts/new/"' not in client.get(LIST).text


# --- List --------------------------------------------------------------------------------------------------------


def test_list_annotates_coverage_and_monthly_fixed_fees_of_today(provider_admin, contract, other_contract):
    rows = {row.pk: row for row in contract_list(user=provider_admin)}
    # 50,000 fixed + 1,000 x 2 covered now; the old fee and the asset that left are not counted.
    assert (rows[contract.pk].covered_assets, rows[contract.pk].monthly_fixed_fees) == (2, Decimal(52000))
    assert (rows[other_contract.pk].covered_assets, rows[other_contract.pk].monthly_fixed_fees) == (0, Decimal(0))
    services.contract_transition(
        contract=contract, to=ContractStatus.ENDED, by=provider_admin, end_date=TODAY - datetime.timedelta(days=1)
    )
    ended = contract_list(user=provider_admin).get(pk=contract.pk)
    assert (ended.covered_assets, ended.monthly_fixed_fees) == (0, Decimal(0))


def test_list_fees_are_rounded_to_the_currency(provider_admin, other_customer):
    dollars = services.contract_create(
        customer=other_customer, title="USD", start_date=START, currency="USD", by=provider_admin
    )
    services.component_add(
        contract=dollars, by=provider_admin, kind=ComponentKind.FIXED_FEE, name="Fee", amount=Decimal("10.4567")
    )
    yen = services.contract_create(customer=other_customer, title="JPY", start_date=START, by=provider_admin)
    services.component_add(
        contract=yen, by=provider_admin, kind=ComponentKind.FIXED_FEE, name="Fee", amount=Decimal("10.5")
    )
    rows = {row.pk: row.monthly_fixed_fees for row in contract_list(user=provider_admin)}
    assert rows[dollars.pk] == Decimal("10.46")
    assert rows[yen.pk] == Decimal("11")


def test_list_shows_money_and_the_page_links(client, provider_admin, contract):
    client.force_login(provider_admin)
    page = client.get(LIST).text
    assert "¥52,000" in page
    assert f'href="{detail(contract)}"' in page
    assert 'href="/contracts/new/"' in page


def test_list_filters_and_sorts(client, provider_admin, contract, other_contract, other_customer):
    client.force_login(provider_admin)
    response = client.get(LIST, {"status": "draft"})
    assert other_contract.number in response.text
    assert contract.number not in response.text
    response = client.get(LIST, {"customer": other_customer.pk})
    assert other_contract.number in response.text
    assert contract.number not in response.text
    response = client.get(LIST, {"q": "forklift"})
    assert other_contract.number in response.text
    assert contract.number not in response.text
    response = client.get(LIST, {"q": contract.number})
    assert contract.number in response.text
    assert other_contract.number not in response.text
    page = client.get(LIST, {"sort": "-monthly_fixed_fees"}).text
    assert page.index(contract.number) < page.index(other_contract.number)
    page = client.get(LIST, {"sort": "monthly_fixed_fees"}).text
    assert page.index(other_contract.number) < page.index(contract.number)


def test_list_csv(client, provider_admin, account_manager, contract, other_contract):
    client.force_login(provider_admin)
    rows = csv_of(client.get(LIST, {"format": "csv", "sort": "number"}))
    assert rows[0] == [
        "Number",
        "Customer",
        "Title",
        "Status",
        "Start",
        "End",
        "Currency",
        "Covered assets now",
        "Monthly fixed fees now",
    ]
    by_number = {row[0]: row for row in rows[1:]}
    assert set(by_number) == {contract.number, other_contract.number}
    mine = by_number[contract.number]
    assert mine[1:4] == ["Acme Office KK", "MPS all-in", "Active"]
    assert (mine[4], mine[6], mine[7]) == (START.isoformat(), "JPY", "2")
    assert Decimal(mine[8]) == Decimal(52000)
    client.force_login(account_manager)
    rows = csv_of(client.get(LIST, {"format": "csv"}))
    assert [row[0] for row in rows[1:]] == [contract.number]


def test_list_query_count_does_not_grow_with_contracts(client, provider_admin, customer):
    client.force_login(provider_admin)
    make_contracts(customer, provider_admin, 1)
    client.get(LIST)  # warm the session and content type caches
    with CaptureQueriesContext(connection) as one:
        assert client.get(LIST, {"per_page": 50}).text.count("CT-") >= 1
    make_contracts(customer, provider_admin, 4)
    with CaptureQueriesContext(connection) as five:
        assert client.get(LIST, {"per_page": 50}).text.count("CT-") >= 5
    assert len(five) == len(one)
    with CaptureQueriesContext(connection) as csv_queries:
        assert len(csv_of(client.get(LIST, {"format": "csv"}))) == 6
    assert len(csv_queries) <= len(one)


# --- The contract's page -----------------------------------------------------------------------------------------


def test_detail_shows_terms_components_coverage_amendments_and_changes(
    client, provider_admin, contract, asset, second_asset
):
    services.contract_amend(
        contract=contract,
        effective_date=TODAY,
        description="Colour pages from today",
        by=provider_admin,
        adds=[
            {
                "kind": ComponentKind.METER_CHARGE,
                "name": "Colour pages",
                "amount": Decimal("4.5"),
                "meter": Meter.COLOUR_PAGES,
                "tax_category": TaxCategory.REDUCED,
            }
        ],
    )
    client.force_login(provider_admin)
    page = client.get(detail(contract)).text
    assert "MPS all-in" in page
    assert "¥50,000 a month" in page
    assert "¥0.85 per unit" in page
    assert "from 10,000 units: ¥0.6 per unit" in page  # a rate keeps its own decimals
    assert "1,000 units a month included" in page
    assert "Reduced rate (8%)" in page
    assert "amendment #1" in page
    assert "Past price components" in page and "Old fee" in page
    assert f'href="{reverse("assets:asset_detail", args=[asset.pk])}"' in page
    assert f'href="{reverse("assets:asset_detail", args=[second_asset.pk])}"' in page
    assert "Assets covered before" in page and "SN-GONE" in page
    assert "Colour pages from today" in page
    assert "Status: Draft → Active" in page
    assert "¥52,000" in page
    assert url("contract_edit", contract) in page
    assert url("contract_transition", contract) in page


def test_detail_words_every_kind_of_component(client, customer_admin, provider_admin, contract):
    services.contract_update(contract=contract, by=provider_admin, baseline_monthly_cost=Decimal(400000))
    services.component_add(
        contract=contract,
        by=provider_admin,
        kind=ComponentKind.SAVING_SHARE,
        name="Gain share",
        share_percent=Decimal(30),
    )
    services.component_add(
        contract=contract,
        by=provider_admin,
        kind=ComponentKind.ONE_OFF,
        name="Installation",
        amount=Decimal(120000),
        charge_date=TODAY,
        tax_category=TaxCategory.EXEMPT,
    )
    services.component_add(
        contract=contract,
        by=provider_admin,
        kind=ComponentKind.OUTCOME_CHARGE,
        name="Picks",
        amount=Decimal("2.5"),
        meter=Meter.PICKS,
        allowance=Decimal(200),
        allowance_scope="per_asset",
        minimum_charge=Decimal(5000),
    )
    client.force_login(customer_admin)
    page = client.get(detail(contract)).text
    assert "30.00% of the saving" in page
    assert "¥120,000" in page and "Exempt" in page
    assert "¥2.5 per unit" in page
    assert "200 units a month included (Per asset)" in page
    assert "minimum ¥5,000 a month" in page
    assert "¥400,000" in page  # the baseline
    assert "Baseline monthly cost: — → 400000" in page


def test_detail_caps_the_changes_at_fifty_newest_first(client, provider_admin, contract):
    entry = AuditEntry.objects.filter(contract=contract).first()
    AuditEntry.objects.bulk_create(
        AuditEntry(
            contract=contract,
            content_type_id=entry.content_type_id,
            object_id=contract.pk,
            object_repr=f"change {index:02d}",
            action=AuditAction.CHANGED,
            changes={"title": [f"t{index}", f"t{index + 1}"]},
        )
        for index in range(60)
    )
    client.force_login(provider_admin)
    page = client.get(detail(contract)).text
    assert "The latest 50 changes are shown." in page
    assert page.index("change 59") < page.index("change 58")
    assert "change 10" in page
    assert "change 09" not in page


@pytest.mark.parametrize("amendments", [0, 3])
def test_detail_query_count_does_not_grow_with_rows(
    client, provider_admin, contract, customer, site, amendments, django_assert_max_num_queries
):
    for index in range(amendments):
        services.contract_amend(
            contract=contract,
            effective_date=TODAY,
            description=f"Amendment {index}",
            by=provider_admin,
            adds=[{"kind": ComponentKind.FIXED_FEE, "name": f"Fee {index}", "amount": Decimal(100)}],
            assets_in=[AssetFactory(customer=customer, site=site)],
        )
    client.force_login(provider_admin)
    client.get(detail(contract))
    with django_assert_max_num_queries(10):
        page = client.get(detail(contract)).text
    assert page.count('data-label="Number">#') == amendments


# --- Create and edit ---------------------------------------------------------------------------------------------


def test_account_manager_creates_a_draft_in_the_customers_currency(client, account_manager, customer):
    client.force_login(account_manager)
    response = client.get(CREATE)
    assert response.status_code == 200
    response = client.post(
        CREATE,
        {
            "customer": customer.pk,
            "title": "Forklift fleet",
            "start_date": "2026-04-01",
            "billing_day": 1,
            "payment_terms_days": 30,
            "auto_renew": "on",
            "renewal_months": 12,
            "notice_days": 90,
            "credit_percent_per_breach": "2",
            "credit_cap_percent": "10",
        },
    )
    contract = Contract.objects.get()
    assert response.status_code == 302
    assert response.url == detail(contract)
    assert (contract.customer, contract.status, contract.currency) == (customer, ContractStatus.DRAFT, "JPY")
    assert contract.credit_percent_per_breach == Decimal(2)
    assert AuditEntry.objects.get(contract=contract).by == account_manager
    assert "was created" in client.get(response.url).text


def test_create_refuses_an_unassigned_customer_and_bad_dates(client, account_manager, customer, other_customer):
    client.force_login(account_manager)
    base = {
        "title": "X",
        "start_date": "2026-04-01",
        "billing_day": 1,
        "payment_terms_days": 30,
        "renewal_months": 12,
        "notice_days": 90,
        "credit_percent_per_breach": "0",
        "credit_cap_percent": "0",
    }
    response = client.post(CREATE, {**base, "customer": other_customer.pk})
    assert response.status_code == 200
    assert "customer" in response.context["form"].errors
    response = client.post(CREATE, {**base, "customer": customer.pk, "end_date": "2026-03-01"})
    assert response.status_code == 200
    assert response.context["form"].errors["end_date"] == [str(services.ENDS_BEFORE_START)]
    response = client.post(CREATE, {**base, "customer": customer.pk, "billing_day": 31})
    assert "billing_day" in response.context["form"].errors
    assert not Contract.objects.exists()
    assert not AuditEntry.objects.exists()


def test_edit_terms_saves_and_audits(client, account_manager, contract):
    client.force_login(account_manager)
    form = client.get(url("contract_edit", contract)).context["form"]
    assert "currency" not in form.fields  # active: the currency is fixed
    data = {name: form.initial[name] for name in form.fields if form.initial.get(name) is not None}
    data.update({"title": "MPS all-in 2026", "payment_terms_days": 45, "auto_renew": "on"})
    response = client.post(url("contract_edit", contract), data)
    assert response.status_code == 302
    contract.refresh_from_db()
    assert (contract.title, contract.payment_terms_days) == ("MPS all-in 2026", 45)
    entry = AuditEntry.objects.filter(contract=contract, by=account_manager).get()
    assert entry.changes == {"title": ["MPS all-in", "MPS all-in 2026"], "payment_terms_days": ["30", "45"]}


def test_edit_terms_refuses_bad_input_without_writing(client, provider_admin, contract):
    client.force_login(provider_admin)
    form = client.get(url("contract_edit", contract)).context["form"]
    data = {name: form.initial[name] for name in form.fields if form.initial.get(name) is not None}
    audit_before = AuditEntry.objects.count()
    response = client.post(url("contract_edit", contract), {**data, "credit_cap_percent": "150", "title": "Y"})
    assert response.status_code == 200
    assert "credit_cap_percent" in response.context["form"].errors
    response = client.post(url("contract_edit", contract), {**data, "end_date": (START - datetime.timedelta(1))})
    assert response.context["form"].errors["end_date"] == [str(services.ENDS_BEFORE_START)]
    contract.refresh_from_db()
    assert contract.title == "MPS all-in"
    assert AuditEntry.objects.count() == audit_before


def test_service_levels_offered_are_the_providers_and_the_customers_own(
    client, account_manager, provider, contract, customer, other_customer
):
    default = ServiceLevelFactory(provider=provider, name="Provider standard")
    own = ServiceLevelFactory(provider=provider, customer=customer, name="Acme gold")
    foreign = ServiceLevelFactory(provider=provider, customer=other_customer, name="Other gold")
    client.force_login(account_manager)
    assert set(client.get(CREATE).context["form"].fields["service_level"].queryset) == {default}
    form = client.get(url("contract_edit", contract)).context["form"]
    assert set(form.fields["service_level"].queryset) == {default, own}
    data = {name: form.initial[name] for name in form.fields if form.initial.get(name) is not None}
    response = client.post(url("contract_edit", contract), {**data, "service_level": foreign.pk})
    assert "service_level" in response.context["form"].errors
    response = client.post(url("contract_edit", contract), {**data, "service_level": own.pk})
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.service_level == own


def test_transitions_through_the_buttons(client, provider_admin, contract):
    client.force_login(provider_admin)
    response = client.post(url("contract_transition", contract), {"to": "suspended"})
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.status == ContractStatus.SUSPENDED
    last_day = TODAY + datetime.timedelta(days=30)
    client.post(url("contract_transition", contract), {"to": "ended", "end_date": last_day.isoformat()})
    contract.refresh_from_db()
    assert (contract.status, contract.end_date) == (ContractStatus.ENDED, last_day)
    response = client.post(url("contract_transition", contract), {"to": "active"}, follow=True)
    assert "A contract that is Ended cannot become Active." in response.text
    contract.refresh_from_db()
    assert contract.status == ContractStatus.ENDED
    page = client.get(detail(contract)).text
    assert url("contract_edit", contract) not in page
    response = client.get(url("contract_edit", contract), follow=True)
    assert str(services.ENDED_CONTRACT) in response.text


def test_a_move_the_table_forbids_comes_back_as_a_message(client, provider_admin, other_contract):
    client.force_login(provider_admin)
    response = client.post(url("contract_transition", other_contract), {"to": "suspended"}, follow=True)
    assert "A contract that is Draft cannot become Suspended." in response.text
    response = client.post(url("contract_transition", other_contract), {"to": "nonsense"}, follow=True)
    assert response.status_code == 200
    other_contract.refresh_from_db()
    assert other_contract.status == ContractStatus.DRAFT


# --- Components --------------------------------------------------------------------------------------------------


def component_data(**overrides):
    data = {
        "kind": ComponentKind.METER_CHARGE,
        "name": "Colour pages",
        "amount": "4.5",
        "meter": Meter.COLOUR_PAGES,
        "allowance": "500",
        "allowance_scope": "pooled",
        "tier_mode": "graduated",
        "tax_category": TaxCategory.STANDARD,
        "tier_1_from": "0",
        "tier_1_rate": "4.5",
        "tier_2_from": "5000",
        "tier_2_rate": "3.2",
    }
    data.update(overrides)
    return data


def test_add_a_metered_component_with_tiers(client, account_manager, contract):
    client.force_login(account_manager)
    assert client.get(url("component_add", contract)).status_code == 200
    response = client.post(url("component_add", contract), component_data())
    assert response.status_code == 302
    component = PriceComponent.objects.get(contract=contract, name="Colour pages")
    assert (component.amount, component.allowance, component.valid_from) == (
        Decimal("4.5"),
        Decimal(500),
        contract.start_date,
    )
    assert [(tier.from_units, tier.rate) for tier in component.tiers.order_by("from_units")] == [
        (Decimal(0), Decimal("4.5")),
        (Decimal(5000), Decimal("3.2")),
    ]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"tier_2_from": "0"}, "tier_1_from", services.TIERS_NOT_INCREASING),
        ({"meter": ""}, "meter", services.METER_REQUIRED),
        ({"kind": ComponentKind.FIXED_FEE, "meter": ""}, "tier_1_from", services.TIERS_ONLY_METERED),
        ({"tier_3_rate": "1"}, "tier_3_from", contract_forms.TIER_INCOMPLETE),
        ({"amount": "-1"}, "amount", None),
        ({"valid_from": (START - datetime.timedelta(days=1)).isoformat()}, "valid_from", services.OUTSIDE_CONTRACT),
    ],
)
def test_a_bad_component_is_refused_on_its_field_without_writing(
    client, provider_admin, contract, overrides, field, message
):
    client.force_login(provider_admin)
    components, tiers = PriceComponent.objects.count(), PriceTier.objects.count()
    response = client.post(url("component_add", contract), component_data(**overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    if message is not None:
        assert str(message) in errors[field]
    assert (PriceComponent.objects.count(), PriceTier.objects.count()) == (components, tiers)


# --- Coverage ----------------------------------------------------------------------------------------------------


def test_cover_an_asset_and_end_the_coverage(client, provider_admin, contract, customer, site):
    newcomer = AssetFactory(customer=customer, site=site, serial_number="SN-NEW")
    retired = AssetFactory(customer=customer, site=site, serial_number="SN-RETIRED", status=AssetStatus.RETIRED)
    client.force_login(provider_admin)
    form = client.get(url("coverage_add", contract)).context["form"]
    offered = set(form.fields["asset"].queryset.values_list("serial_number", flat=True))
    assert "SN-NEW" in offered and "SN-GONE" in offered  # the asset that left may join again
    assert {"SN-RETIRED", "SN-SECOND"}.isdisjoint(offered)  # retired; already covered without an end
    response = client.post(url("coverage_add", contract), {"asset": newcomer.pk, "start_date": TODAY.isoformat()})
    assert response.status_code == 302
    link = ContractAsset.objects.get(contract=contract, asset=newcomer)
    assert (link.start_date, link.end_date) == (TODAY, None)
    response = client.post(
        url("coverage_end", contract), {"coverage": link.pk, "end_date": TODAY.isoformat()}, follow=True
    )
    link.refresh_from_db()
    assert link.end_date == TODAY
    assert "is covered until" in response.text
    assert retired.pk not in set(ContractAsset.objects.values_list("asset_id", flat=True))


def test_coverage_refuses_another_customers_asset_and_dates_outside(
    client, provider_admin, contract, customer, site, other_asset
):
    newcomer = AssetFactory(customer=customer, site=site)
    client.force_login(provider_admin)
    before = ContractAsset.objects.count()
    response = client.post(url("coverage_add", contract), {"asset": other_asset.pk, "start_date": TODAY.isoformat()})
    assert "asset" in response.context["form"].errors
    response = client.post(
        url("coverage_add", contract),
        {"asset": newcomer.pk, "start_date": (START - datetime.timedelta(days=1)).isoformat()},
    )
    assert response.context["form"].errors["start_date"] == [str(services.OUTSIDE_CONTRACT)]
    response = client.post(
        url("coverage_add", contract),
        {"asset": newcomer.pk, "start_date": TODAY.isoformat(), "end_date": START.isoformat()},
    )
    assert response.context["form"].errors["end_date"] == [str(services.ENDS_BEFORE_START)]
    assert ContractAsset.objects.count() == before


def test_ending_a_coverage_badly_is_a_message(client, provider_admin, contract, asset, other_contract):
    link = contract.coverage.get(asset=asset)
    client.force_login(provider_admin)
    end = url("coverage_end", contract)
    too_early = (START - datetime.timedelta(days=1)).isoformat()
    response = client.post(end, {"coverage": link.pk, "end_date": too_early}, follow=True)
    assert str(services.ENDS_BEFORE_START) in response.text
    response = client.post(end, {"coverage": link.pk, "end_date": "not a date"}, follow=True)
    assert "Enter a valid date." in response.text
    # Another contract's page does not end this contract's coverage.
    response = client.post(
        url("coverage_end", other_contract), {"coverage": link.pk, "end_date": TODAY.isoformat()}, follow=True
    )
    assert "Select a valid choice." in response.text
    link.refresh_from_db()
    assert link.end_date is None


def test_many_assets_are_picked_by_serial_number(client, provider_admin, contract, customer, site, monkeypatch):
    monkeypatch.setattr(contract_forms, "MAX_RENDERED_CHOICES", 1)
    AssetFactory(customer=customer, site=site, serial_number="SN-A")
    AssetFactory(customer=customer, site=site, serial_number="SN-B")
    client.force_login(provider_admin)
    response = client.post(url("coverage_add", contract), {"asset": "SN-NONE", "start_date": TODAY.isoformat()})
    assert response.context["form"].errors["asset"] == [
        "No asset of this customer has the serial number or asset tag SN-NONE."
    ]
    response = client.post(url("coverage_add", contract), {"asset": "SN-A", "start_date": TODAY.isoformat()})
    assert response.status_code == 302
    assert contract.coverage.filter(asset__serial_number="SN-A").exists()


# --- Amendments --------------------------------------------------------------------------------------------------


def test_an_amendment_ends_adds_and_moves_assets_at_once(client, account_manager, contract, customer, site, asset):
    newcomer = AssetFactory(customer=customer, site=site, serial_number="SN-NEW")
    fee = PriceComponent.objects.get(contract=contract, name="Service fee")
    leaving = contract.coverage.get(asset=asset)
    client.force_login(account_manager)
    form = client.get(url("amendment_create", contract)).context["form"]
    assert "Old fee" not in {component.name for component in form.fields["ends"].queryset}
    data = {
        "effective_date": TODAY.isoformat(),
        "description": "Upsell: higher fee, one more device",
        "ends": [fee.pk],
        "assets_in": [newcomer.pk],
        "assets_out": [leaving.pk],
        "add_component": "on",
        "new-kind": ComponentKind.FIXED_FEE,
        "new-name": "Service fee 2",
        "new-amount": "60000",
        "new-allowance_scope": "pooled",
        "new-tier_mode": "graduated",
        "new-tax_category": TaxCategory.STANDARD,
    }
    response = client.post(url("amendment_create", contract), data)
    assert response.status_code == 302
    amendment = ContractAmendment.objects.get(contract=contract)
    fee.refresh_from_db()
    leaving.refresh_from_db()
    day_before = TODAY - datetime.timedelta(days=1)
    assert (amendment.number, fee.valid_to, leaving.end_date) == (1, day_before, day_before)
    added = PriceComponent.objects.get(contract=contract, name="Service fee 2")
    assert (added.valid_from, added.amendment, added.amount) == (TODAY, amendment, Decimal(60000))
    assert contract.coverage.get(asset=newcomer).start_date == TODAY
    row = contract_list(user=account_manager).get(pk=contract.pk)
    assert (row.covered_assets, row.monthly_fixed_fees) == (2, Decimal(62000))


def test_a_bad_amendment_writes_nothing(client, provider_admin, contract):
    fee = PriceComponent.objects.get(contract=contract, name="Service fee")
    client.force_login(provider_admin)
    audit_before = AuditEntry.objects.count()
    data = {
        "effective_date": TODAY.isoformat(),
        "description": "Add colour",
        "ends": [fee.pk],
        "add_component": "on",
        "new-kind": ComponentKind.METER_CHARGE,
        "new-name": "Colour",
        "new-amount": "4",
        "new-allowance_scope": "pooled",
        "new-tier_mode": "graduated",
        "new-tax_category": TaxCategory.STANDARD,
    }
    response = client.post(url("amendment_create", contract), data)
    assert response.status_code == 200
    assert response.context["component_form"].errors["meter"] == [str(services.METER_REQUIRED)]
    response = client.post(url("amendment_create", contract), {**data, "add_component": "", "ends": []})
    assert response.context["form"].non_field_errors() == [str(services.EMPTY_AMENDMENT)]
    assert response.context["component_form"].errors == {}  # not added: not checked
    response = client.post(
        url("amendment_create", contract),
        {**data, "new-meter": Meter.COLOUR_PAGES, "effective_date": (START - datetime.timedelta(days=5)).isoformat()},
    )
    assert response.context["form"].errors["effective_date"] == [str(services.OUTSIDE_CONTRACT)]
    fee.refresh_from_db()
    assert fee.valid_to is None
    assert not ContractAmendment.objects.exists()
    assert not PriceComponent.objects.filter(name="Colour").exists()
    assert AuditEntry.objects.count() == audit_before


# --- Formatting --------------------------------------------------------------------------------------------------


def test_rates_keep_their_decimals():
    assert rate_format(Decimal("0.8500"), "JPY") == "¥0.85"
    assert rate_format(Decimal("12.0000"), "JPY") == "¥12"
    assert rate_format(Decimal("0.0125"), "USD") == "$0.0125"
    assert rate_format(Decimal("3.5"), "EUR") == "€3.50"
