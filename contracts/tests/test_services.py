"""Contracts, coverage, components and amendments: validated, atomic, numbered and audited."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets.tests.factories import AssetFactory
from contracts.choices import AuditAction, ComponentKind, ContractStatus, TaxCategory, TierMode
from contracts.models import AuditEntry, Contract, ContractAsset, PriceComponent
from contracts.services import (
    component_add,
    contract_amend,
    contract_create,
    contract_transition,
    contract_update,
    coverage_add,
    coverage_end,
)
from telemetry.choices import Meter

START = datetime.date(2026, 4, 1)


@pytest.fixture
def admin(provider):
    return member(provider, Role.PROVIDER_ADMIN)


@pytest.fixture
def contract(customer, admin):
    return contract_create(customer=customer, title="MPS all-in", start_date=START, by=admin)


def test_create_numbers_per_provider_and_year_and_audits(customer, other_customer, admin):
    first = contract_create(customer=customer, title="MPS", start_date=START, by=admin)
    second = contract_create(customer=other_customer, title="Fleet", start_date=START, by=admin)
    foreign = contract_create(
        customer=CustomerFactory(provider=ProviderFactory(code="elsewhere", tax_registration_number="")),
        title="X",
        start_date=START,
        by=None,
    )
    assert (first.number, second.number, foreign.number) == ("CT-2026-000001", "CT-2026-000002", "CT-2026-000001")
    assert (first.status, first.currency, first.provider_id) == (ContractStatus.DRAFT, "JPY", customer.provider_id)
    entry = AuditEntry.objects.get(contract=first)
    assert (entry.action, entry.by, entry.changes["title"]) == (AuditAction.CREATED, admin, [None, "MPS"])


def test_create_refuses_a_provider_and_bad_dates(provider, customer, admin):
    with pytest.raises(ValidationError) as error:
        contract_create(customer=provider, title="Self", start_date=START, by=admin)
    assert "customer" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        contract_create(customer=customer, title="Back", start_date=START, end_date=START.replace(month=3), by=admin)
    assert "end_date" in error.value.message_dict
    assert not Contract.objects.exists()


def test_update_records_before_and_after_and_refuses_the_status(contract, admin):
    contract_update(contract=contract, by=admin, title="MPS all-in 2026", payment_terms_days=45)
    entry = AuditEntry.objects.filter(contract=contract, action=AuditAction.CHANGED).get()
    assert entry.changes == {"title": ["MPS all-in", "MPS all-in 2026"], "payment_terms_days": ["30", "45"]}
    with pytest.raises(ValidationError) as error:
        contract_update(contract=contract, by=admin, status=ContractStatus.ENDED)
    assert "status" in error.value.message_dict
    contract_update(contract=contract, by=admin, title="MPS all-in 2026")  # no change: no entry
    assert AuditEntry.objects.filter(contract=contract, action=AuditAction.CHANGED).count() == 1


def test_transitions_follow_the_table(contract, admin):
    with pytest.raises(ValidationError):
        contract_transition(contract=contract, to=ContractStatus.SUSPENDED, by=admin)
    contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=admin)
    contract_transition(contract=contract, to=ContractStatus.SUSPENDED, by=admin)
    ended = contract_transition(
        contract=contract, to=ContractStatus.ENDED, by=admin, end_date=datetime.date(2026, 9, 30)
    )
    assert (ended.status, ended.end_date) == (ContractStatus.ENDED, datetime.date(2026, 9, 30))
    with pytest.raises(ValidationError):
        contract_update(contract=ended, by=admin, title="Again")
    statuses = [
        entry.changes["status"]
        for entry in AuditEntry.objects.filter(contract=contract, content_type__model="contract").order_by("pk")[1:]
    ]
    assert statuses == [["draft", "active"], ["active", "suspended"], ["suspended", "ended"]]


def test_ending_a_contract_ends_its_coverage_and_components(contract, customer, site, admin):
    fee = component_add(contract=contract, by=admin, kind=ComponentKind.FIXED_FEE, name="Fee", amount=Decimal("1"))
    later = component_add(
        contract=contract,
        by=admin,
        kind=ComponentKind.FIXED_FEE,
        name="Later",
        amount=Decimal("2"),
        valid_from=datetime.date(2026, 12, 1),
    )
    link = coverage_add(contract=contract, asset=AssetFactory(customer=customer, site=site), start_date=START, by=admin)
    contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=admin)
    contract_transition(contract=contract, to=ContractStatus.ENDED, by=admin, end_date=datetime.date(2026, 9, 30))
    for row in (fee, later, link):
        row.refresh_from_db()
    assert (fee.valid_to, link.end_date) == (datetime.date(2026, 9, 30), datetime.date(2026, 9, 30))
    assert later.valid_to is None  # starts after the end: never priced, left as it was
    changed = AuditEntry.objects.filter(
        contract=contract, content_type__model="contractasset", action=AuditAction.CHANGED
    )
    assert [entry.changes["end_date"] for entry in changed] == [[None, "2026-09-30"]]


def test_coverage_joins_and_leaves_mid_term(contract, customer, site, admin):
    asset = AssetFactory(customer=customer, site=site)
    link = coverage_add(contract=contract, asset=asset, start_date=datetime.date(2026, 5, 10), by=admin)
    assert list(ContractAsset.objects.on(datetime.date(2026, 5, 9))) == []
    assert list(ContractAsset.objects.on(datetime.date(2026, 5, 10))) == [link]
    with pytest.raises(ValidationError) as error:
        coverage_add(contract=contract, asset=asset, start_date=datetime.date(2026, 7, 1), by=admin)
    assert "asset" in error.value.message_dict
    coverage_end(coverage=link, end_date=datetime.date(2026, 6, 20), by=admin)
    assert list(ContractAsset.objects.on(datetime.date(2026, 6, 21))) == []
    again = coverage_add(contract=contract, asset=asset, start_date=datetime.date(2026, 7, 1), by=admin)
    assert ContractAsset.objects.filter(contract=contract, asset=asset).count() == 2
    assert again.end_date is None


def test_coverage_refuses_another_customers_asset_and_dates_outside(contract, other_asset, customer, site, admin):
    with pytest.raises(ValidationError) as error:
        coverage_add(contract=contract, asset=other_asset, start_date=START, by=admin)
    assert "asset" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        coverage_add(
            contract=contract,
            asset=AssetFactory(customer=customer, site=site),
            start_date=START.replace(month=3),
            by=admin,
        )
    assert "start_date" in error.value.message_dict


def test_components_are_checked_by_kind(contract, admin):
    fee = component_add(
        contract=contract, by=admin, kind=ComponentKind.FIXED_FEE, name="Service fee", amount=Decimal("50000")
    )
    assert fee.valid_from == START and fee.tax_category == TaxCategory.STANDARD
    cases = [
        ({"kind": ComponentKind.METER_CHARGE, "name": "Clicks"}, "meter"),
        ({"kind": ComponentKind.FIXED_FEE, "name": "Fee", "meter": Meter.TOTAL_PAGES}, "meter"),
        ({"kind": ComponentKind.ONE_OFF, "name": "Install"}, "charge_date"),
        ({"kind": ComponentKind.SAVING_SHARE, "name": "Saving", "share_percent": Decimal("30")}, "share_percent"),
        ({"kind": ComponentKind.FIXED_FEE, "name": "Early", "valid_from": START.replace(month=3)}, "valid_from"),
        ({"kind": ComponentKind.FIXED_FEE, "name": "Fee", "amount": Decimal("-1")}, "amount"),
    ]
    for fields, field in cases:
        with pytest.raises(ValidationError) as error:
            component_add(contract=contract, by=admin, **fields)
        assert field in error.value.message_dict, fields
    with pytest.raises(ValidationError) as error:
        component_add(contract=contract, by=admin, kind=ComponentKind.FIXED_FEE, name="Fee", tiers=[(0, 1)])
    assert "tiers" in error.value.message_dict
    assert PriceComponent.objects.filter(contract=contract).count() == 1


def test_metered_component_with_tiers(contract, admin):
    clicks = component_add(
        contract=contract,
        by=admin,
        kind=ComponentKind.METER_CHARGE,
        name="Colour clicks",
        meter=Meter.COLOUR_PAGES,
        amount=Decimal("12"),
        allowance=Decimal("5000"),
        tier_mode=TierMode.VOLUME,
        minimum_charge=Decimal("10000"),
        tiers=[(0, "12"), (10000, "10.5"), (50000, "9")],
    )
    assert [(tier.from_units, tier.rate) for tier in clicks.tiers.all()] == [
        (Decimal("0.000"), Decimal("12.0000")),
        (Decimal("10000.000"), Decimal("10.5000")),
        (Decimal("50000.000"), Decimal("9.0000")),
    ]
    created = AuditEntry.objects.get(
        content_type=ContentType.objects.get_for_model(PriceComponent), object_id=clicks.pk, action=AuditAction.CREATED
    )
    assert created.changes["tiers"][1] == ("0.000+ @ 12.0000; 10000.000+ @ 10.5000; 50000.000+ @ 9.0000")
    with pytest.raises(ValidationError) as error:
        component_add(
            contract=contract,
            by=admin,
            kind=ComponentKind.METER_CHARGE,
            name="Bad",
            meter=Meter.MONO_PAGES,
            tiers=[(100, 1), (50, 2)],
        )
    assert "tiers" in error.value.message_dict


def test_an_amendment_ends_and_starts_components_and_moves_assets_at_once(contract, customer, site, admin):
    old = component_add(
        contract=contract, by=admin, kind=ComponentKind.ASSET_FEE, name="Per asset", amount=Decimal("8000")
    )
    leaving = coverage_add(
        contract=contract, asset=AssetFactory(customer=customer, site=site), start_date=START, by=admin
    )
    joining = AssetFactory(customer=customer, site=site)
    effective = datetime.date(2026, 7, 15)
    amendment = contract_amend(
        contract=contract,
        effective_date=effective,
        description="Upsell: higher per-asset fee, one MFP swapped",
        by=admin,
        ends=[old],
        adds=[{"kind": ComponentKind.ASSET_FEE, "name": "Per asset", "amount": Decimal("9500")}],
        assets_in=[joining],
        assets_out=[leaving],
    )
    old.refresh_from_db()
    leaving.refresh_from_db()
    new = PriceComponent.objects.get(amendment=amendment)
    assert (amendment.number, old.valid_to, new.valid_from) == (1, datetime.date(2026, 7, 14), effective)
    assert [c.amount for c in PriceComponent.objects.valid_on(effective)] == [Decimal("9500.0000")]
    assert [c.amount for c in PriceComponent.objects.valid_on(datetime.date(2026, 7, 14))] == [Decimal("8000.0000")]
    assert leaving.end_date == datetime.date(2026, 7, 14)
    assert ContractAsset.objects.get(asset=joining).start_date == effective
    second = contract_amend(
        contract=contract,
        effective_date=effective,
        description="Two",
        by=admin,
        assets_in=[AssetFactory(customer=customer, site=site)],
    )
    assert second.number == 2


def test_a_failing_amendment_changes_nothing(contract, customer, other_asset, admin):
    old = component_add(contract=contract, by=admin, kind=ComponentKind.FIXED_FEE, name="Fee", amount=Decimal("1000"))
    entries = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        contract_amend(
            contract=contract,
            effective_date=datetime.date(2026, 8, 1),
            description="Bad",
            by=admin,
            ends=[old],
            assets_in=[other_asset],  # another customer's asset: the whole amendment is refused
        )
    old.refresh_from_db()
    assert old.valid_to is None and not contract.amendments.exists() and AuditEntry.objects.count() == entries
    with pytest.raises(ValidationError):
        contract_amend(contract=contract, effective_date=datetime.date(2026, 8, 1), description="Empty", by=admin)


def test_the_database_refuses_what_the_services_refuse(contract):
    with pytest.raises(IntegrityError), transaction.atomic():
        PriceComponent.objects.create(contract=contract, kind=ComponentKind.METER_CHARGE, name="x", valid_from=START)
    with pytest.raises(IntegrityError), transaction.atomic():
        Contract.objects.filter(pk=contract.pk).update(end_date=datetime.date(2026, 1, 1))


def test_visibility_follows_the_customer(contract, customer, other_customer, customer_admin, other_admin, admin, site):
    coverage_add(contract=contract, asset=AssetFactory(customer=customer, site=site), start_date=START, by=admin)
    assert list(Contract.objects.visible_to(customer_admin)) == [contract]
    assert list(Contract.objects.visible_to(other_admin)) == []
    assert ContractAsset.objects.visible_to(other_admin).count() == 0
    assert AuditEntry.objects.visible_to(customer_admin).count() == 2
    assert AuditEntry.objects.visible_to(other_admin).count() == 0
    operator = member(customer, Role.CUSTOMER_OPERATOR)
    assert list(Contract.objects.visible_to(operator)) == []  # contracts belong to no site: not an operator's


def test_a_contract_names_a_default_service_level_or_its_customers_own(contract, customer, other_customer, admin):
    from maintenance.models import ServiceLevel

    default = ServiceLevel.objects.create(provider_id=customer.provider_id, name="Standard")
    own = ServiceLevel.objects.create(provider_id=customer.provider_id, customer=customer, name="Acme")
    foreign = ServiceLevel.objects.create(provider_id=customer.provider_id, customer=other_customer, name="Other")
    assert contract_update(contract=contract, by=admin, service_level=default).service_level == default
    assert contract_update(contract=contract, by=admin, service_level=own).service_level == own
    with pytest.raises(ValidationError) as error:
        contract_update(contract=contract, by=admin, service_level=foreign)
    assert "service_level" in error.value.message_dict
    with pytest.raises(ValidationError):
        contract_create(customer=customer, title="X", start_date=START, service_level=foreign, by=admin)
    contract.refresh_from_db()
    assert contract.service_level == own
