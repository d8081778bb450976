"""Monthly KPI snapshots: taken once per provider and month, as reported, by the daily task or by hand."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from contracts.choices import ComponentKind, ContractStatus
from contracts.services import component_add, contract_create, contract_transition
from reports.models import KpiSnapshot, NpsResponse
from reports.snapshots import snapshot_sweep, take_snapshot
from reports.tasks import kpi_snapshot_task

MARCH = datetime.date(2025, 3, 1)


@pytest.fixture
def subscribed(provider):
    """One customer on ¥50,000 a month since January 2025 and one survey answer (a promoter) in March."""
    customer = CustomerFactory(provider=provider, name="Alpha")
    made = contract_create(customer=customer, title="Fleet", start_date=datetime.date(2025, 1, 1), by=None)
    component_add(contract=made, by=None, kind=ComponentKind.FIXED_FEE, name="Fee", amount=Decimal(50000))
    contract_transition(contract=made, to=ContractStatus.ACTIVE, by=None)
    NpsResponse.objects.create(
        customer=customer, score=10, answered_at=datetime.datetime(2025, 3, 10, tzinfo=datetime.UTC)
    )
    return customer


def test_a_snapshot_keeps_the_months_figures_as_reported(provider, subscribed):
    snapshot = take_snapshot(provider_id=provider.pk, month=MARCH)

    figures = snapshot.figures
    assert figures["currencies"]["JPY"]["mrr"] == "50000"
    assert figures["currencies"]["JPY"]["customers_end"] == 1
    assert figures["nps"] == {"answers": 1, "promoters": 1, "detractors": 0, "nps": "100.0"}
    assert set(figures["service"]) >= {"uptime", "mttr_hours", "first_time_fix_rate", "response_achievement"}
    # The contract changes later; the snapshot does not, unless it is taken again on purpose.
    component_add(
        contract=subscribed.contracts.get(), by=None, kind=ComponentKind.FIXED_FEE, name="Upsell", amount=Decimal(1),
        valid_from=MARCH,
    )  # fmt: skip
    assert take_snapshot(provider_id=provider.pk, month=MARCH) is None
    assert KpiSnapshot.objects.get().figures["currencies"]["JPY"]["mrr"] == "50000"
    retaken = take_snapshot(provider_id=provider.pk, month=MARCH, replace=True)
    assert retaken.figures["currencies"]["JPY"]["mrr"] == "50001"
    assert KpiSnapshot.objects.count() == 1


@override_settings(KPI_SNAPSHOT_DAY=5)
def test_the_sweep_takes_the_last_month_once_from_the_snapshot_day(provider, subscribed):
    other = ProviderFactory(code="other", name="Other Fleet")

    assert snapshot_sweep(today=datetime.date(2025, 4, 4)) == 0  # too early: March's invoices may still change
    assert snapshot_sweep(today=datetime.date(2025, 4, 5)) == 2  # both providers
    assert snapshot_sweep(today=datetime.date(2025, 4, 6)) == 0  # taken already
    assert set(KpiSnapshot.objects.values_list("provider_id", "month")) == {(provider.pk, MARCH), (other.pk, MARCH)}


def test_the_task_runs_the_sweep(provider, subscribed, monkeypatch):
    monkeypatch.setattr("reports.snapshots.timezone.localdate", lambda: datetime.date(2025, 4, 20))

    kpi_snapshot_task.delay()

    assert KpiSnapshot.objects.filter(provider=provider, month=MARCH).exists()


def test_the_command_takes_a_month_and_refuses_the_current_one(provider, subscribed):
    out = StringIO()

    call_command("kpi_snapshot", "--month", "2025-03", stdout=out)
    call_command("kpi_snapshot", "--month", "2025-03", stdout=out)

    assert out.getvalue().splitlines() == ["month=2025-03 taken=1 kept=0", "month=2025-03 taken=0 kept=1"]
    with pytest.raises(CommandError):
        call_command("kpi_snapshot", "--month", "2999-01")
    with pytest.raises(CommandError):
        call_command("kpi_snapshot", "--month", "2025-13")


def test_only_staff_who_see_every_customer_read_snapshots(provider, subscribed, api_client_for):
    take_snapshot(provider_id=provider.pk, month=MARCH)
    admin = member(provider, Role.PROVIDER_ADMIN, email="boss@provider.example")
    manager = member(provider, Role.ACCOUNT_MANAGER, email="am@provider.example")
    other_admin = member(ProviderFactory(code="other"), Role.PROVIDER_ADMIN, email="boss@other.example")

    listed = api_client_for(admin).get("/api/v1/kpi-snapshots/")

    assert [row["month"] for row in listed.json()["results"]] == ["2025-03"]
    assert listed.json()["results"][0]["figures"]["currencies"]["JPY"]["mrr"] == "50000"
    for user in (manager, other_admin):
        assert api_client_for(user).get("/api/v1/kpi-snapshots/").json()["results"] == []
