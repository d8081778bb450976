"""Service KPIs on a crafted month of work orders with hand-computed figures; per asset, per contract, outcomes."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, UserFactory, member
from assets.tests.factories import AssetFactory, SiteFactory
from contracts.billing import draft_customers, finalise_invoice
from contracts.choices import ComponentKind, ContractStatus
from contracts.services import component_add, contract_create, contract_transition, coverage_add
from contracts.tests.billing_helpers import at, read
from maintenance.choices import ScheduleMode, WorkOrderKind, WorkOrderStatus
from maintenance.models import PlanOccurrence, PreventivePlan, WorkOrder, WorkOrderEvent, WorkOrderLabour
from maintenance.tests.factories import ServiceLevelFactory, WorkOrderFactory
from reports.models import AssetMonthUsage
from reports.service import asset_service, contract_service, service_report
from telemetry.choices import Meter

FEB, MAR = datetime.date(2025, 2, 1), datetime.date(2025, 3, 1)
NOW = at(2025, 4, 20)
DONE = WorkOrderStatus.COMPLETED


def order(asset, *, kind=WorkOrderKind.CORRECTIVE, status=DONE, labour_days=(), **times):
    """A work order on ``asset`` with the given times (created_at is set after creation, as it is automatic)."""
    made = WorkOrderFactory(asset=asset, kind=kind, status=status)
    WorkOrder.objects.filter(pk=made.pk).update(**times)
    if labour_days:
        technician = UserFactory()
        for day in labour_days:
            WorkOrderLabour.objects.create(work_order=made, technician=technician, date=day, hours=Decimal(1))
    return made


@pytest.fixture
def fleet(provider, customer, site):
    """Customer Acme (Tokyo) under one contract with a 98 % uptime target: printer A and forklift B covered from
    1 March 2025, printer C from 11 March. The work orders (Tokyo times):

    - WO1 on A: down 3 Mar 09:00-21:00 (12 h), answered in time, completed in time, labour on one day; but
      - WO2 on A, opened 5 Mar 09:00 (within 7 days of WO1's completion: WO1 is not a first-time fix), down
        09:00-15:00, answered an hour late, labour on two days;
      - WO3 on A (a service request) down 12:00-18:00 the same day, overlapping WO2: A is down 9 h that day.
    - WO4 on B: opened 27 Feb 08:00, down until 1 Mar 08:00 (48 h, 8 of them covered), put on hold.
    - WO5 on C: down from 30 Mar 00:00 and still open: 48 h of March; its resolution was due 31 Mar, missed.
    - WO6 on B: opened and fixed on 20 Mar, one visit, no down interval.
    - A cancelled order with a down interval, never counted.
    """
    level = ServiceLevelFactory(provider=provider, customer=customer, uptime_target_percent=Decimal("98.00"))
    a, b, c = (AssetFactory(customer=customer, site=site) for _index in range(3))
    contract = contract_create(customer=customer, title="Fleet", start_date=datetime.date(2025, 1, 1), by=None)
    contract.service_level = level
    contract.save(update_fields=["service_level"])
    for asset, start in ((a, MAR), (b, MAR), (c, datetime.date(2025, 3, 11))):
        coverage_add(contract=contract, asset=asset, start_date=start, by=None)
    contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=None)
    order(
        a, created_at=at(2025, 3, 3, 9), down_from=at(2025, 3, 3, 9), down_until=at(2025, 3, 3, 21),
        response_due_at=at(2025, 3, 3, 11), responded_at=at(2025, 3, 3, 10),
        resolution_due_at=at(2025, 3, 4, 9), completed_at=at(2025, 3, 3, 20),
        labour_days=[datetime.date(2025, 3, 3)],
    )  # fmt: skip
    order(
        a, created_at=at(2025, 3, 5, 9), down_from=at(2025, 3, 5, 9), down_until=at(2025, 3, 5, 15),
        response_due_at=at(2025, 3, 5, 10), responded_at=at(2025, 3, 5, 11),
        resolution_due_at=at(2025, 3, 6, 9), completed_at=at(2025, 3, 5, 15),
        labour_days=[datetime.date(2025, 3, 5), datetime.date(2025, 3, 6)],
    )  # fmt: skip
    order(
        a, kind=WorkOrderKind.SERVICE_REQUEST, created_at=at(2025, 3, 5, 12), down_from=at(2025, 3, 5, 12),
        down_until=at(2025, 3, 5, 18), completed_at=at(2025, 3, 5, 18),
    )  # fmt: skip
    wo4 = order(
        b, created_at=at(2025, 2, 27, 8), down_from=at(2025, 2, 27, 8), down_until=at(2025, 3, 1, 8),
        response_due_at=at(2025, 2, 27, 12), responded_at=at(2025, 2, 27, 9),
        resolution_due_at=at(2025, 2, 28, 8), completed_at=at(2025, 3, 1, 8),
        labour_days=[datetime.date(2025, 3, 1)],
    )  # fmt: skip
    WorkOrderEvent.objects.create(
        work_order=wo4, at=at(2025, 2, 28), from_status=WorkOrderStatus.IN_PROGRESS, to_status=WorkOrderStatus.ON_HOLD
    )
    order(
        c, status=WorkOrderStatus.IN_PROGRESS, created_at=at(2025, 3, 30), down_from=at(2025, 3, 30),
        response_due_at=at(2025, 3, 30, 1), responded_at=at(2025, 3, 30, 0), resolution_due_at=at(2025, 3, 31),
    )  # fmt: skip
    order(
        b, created_at=at(2025, 3, 20, 8), response_due_at=at(2025, 3, 20, 10), responded_at=at(2025, 3, 20, 9),
        resolution_due_at=at(2025, 3, 21, 8), completed_at=at(2025, 3, 20, 16),
        labour_days=[datetime.date(2025, 3, 20)],
    )  # fmt: skip
    order(
        c, status=WorkOrderStatus.CANCELLED, created_at=at(2025, 3, 12), down_from=at(2025, 3, 12),
        down_until=at(2025, 3, 14),
    )  # fmt: skip
    AssetMonthUsage.objects.create(asset=b, month=MAR, meter=Meter.HOURS_KEY_ON, usage=Decimal(150))
    AssetMonthUsage.objects.create(asset=a, month=MAR, meter=Meter.TOTAL_PAGES, usage=Decimal(3000))
    return a, b, c, contract


@pytest.fixture
def pm_plan(provider, customer, fleet):
    """Three March occurrences: done within the grace days, done too late, never done."""
    a = fleet[0]
    plan = PreventivePlan.objects.create(
        provider=provider, customer=customer, asset=a, name="Monthly service", kind=WorkOrderKind.PREVENTIVE,
        interval_days=30, schedule=ScheduleMode.FIXED, starts_on=datetime.date(2025, 1, 1),
    )  # fmt: skip
    for due_on, completed in (
        (datetime.date(2025, 3, 10), at(2025, 3, 17, 12)),  # 7 days late: within the grace days
        (datetime.date(2025, 3, 12), at(2025, 3, 25, 12)),
        (datetime.date(2025, 3, 28), None),
    ):
        work_order = None
        if completed is not None:
            work_order = order(a, kind=WorkOrderKind.PREVENTIVE, created_at=at(2025, 3, 1), completed_at=completed)
        PlanOccurrence.objects.create(plan=plan, asset=a, due_on=due_on, work_order=work_order)
    return plan


def test_service_kpis_of_a_crafted_month(provider_admin, fleet, pm_plan):
    report = service_report(user=provider_admin, first=FEB, last=MAR, now=NOW)

    february, march = report.by_month
    # Covered hours: A and B all March (744 h each), C from the 11th (504 h); down: A 12 + 9, B 8, C 48 = 77 h.
    assert (march.covered_seconds, march.down_seconds) == (1992 * 3600, 77 * 3600)
    assert march.uptime == Decimal("96.13")  # 1,915 / 1,992
    assert february.uptime is None  # nothing was covered in February
    # Down intervals ended in March: 12, 6, 6 and 48 h.
    assert (march.repairs, march.mttr_hours) == (4, Decimal("18.0"))
    # Failures: WO1, WO2, WO5 and WO6 in March; WO4 in February. Key-on hours of B over its one failure (WO6);
    # pages of A over its two.
    assert (february.failures, march.failures) == (1, 4)
    assert (march.mtbf_hours, march.mcbf_pages) == (Decimal("150.0"), Decimal(1500))
    # Completed corrective orders in March: WO1 (repeated), WO2 (two visits), WO4 (on hold), WO6 (first time).
    assert (march.fixes, march.first_time_fixes, march.first_time_fix_rate) == (4, 1, Decimal("25.0"))
    # Responses due in March: WO1, WO2 (late), WO5, WO6; resolutions: WO1, WO2, WO5 (open past due), WO6.
    assert (march.responses, march.responses_met, march.response_achievement) == (4, 3, Decimal("75.0"))
    assert (march.resolutions, march.resolutions_met, march.resolution_achievement) == (4, 3, Decimal("75.0"))
    # WO4's response was due in February (met), its resolution too (missed: completed 1 March).
    assert (february.responses_met, february.resolutions, february.resolutions_met) == (1, 1, 0)
    # PM: one of three on schedule.
    assert (march.pm_due, march.pm_on_schedule, march.pm_compliance) == (3, 1, Decimal("33.3"))
    (row,) = report.customers
    assert (row.customer_name, row.uptime_target, row.below_target) == ("Acme Office KK", Decimal("98.00"), True)
    assert report.total.failures == 5


def test_pm_occurrences_within_their_grace_days_are_not_counted_yet(provider_admin, fleet, pm_plan):
    report = service_report(user=provider_admin, first=MAR, last=MAR, now=at(2025, 4, 1))

    # The occurrence due on 28 March may still be done until 4 April.
    assert (report.total.pm_due, report.total.pm_on_schedule) == (2, 1)


def test_uptime_and_repairs_per_asset_least_available_first(provider_admin, customer, fleet):
    a, b, c, _contract = fleet

    rows = asset_service(user=provider_admin, first=MAR, last=MAR, customer_id=customer.pk, now=NOW)

    assert [(row.asset_id, row.figures.uptime, row.below_target) for row in rows] == [
        (c.pk, Decimal("90.48"), True),  # 48 of 504 h down
        (a.pk, Decimal("97.18"), True),  # 21 of 744
        (b.pk, Decimal("98.92"), False),  # 8 of 744
    ]
    assert [row.figures.failures for row in rows] == [1, 2, 1]


def test_sla_achievement_per_contract(provider_admin, fleet):
    *_assets, contract = fleet

    (row,) = contract_service(user=provider_admin, first=FEB, last=MAR, now=NOW)

    # WO4 was opened before B was covered: not the contract's. Responses 3 of 4, resolutions 3 of 4.
    assert (row.contract_id, row.figures.responses, row.figures.resolutions) == (contract.pk, 4, 4)
    assert row.sla_achievement == Decimal("75.0")
    assert (row.figures.uptime, row.uptime_target, row.months_below_target) == (Decimal("96.13"), Decimal(98), 2)


def test_other_customers_work_orders_are_not_seen(customer, fleet, provider):
    other = CustomerFactory(provider=provider, name="Other KK")
    other_asset = AssetFactory(customer=other, site=SiteFactory(customer=other))
    order(other_asset, created_at=at(2025, 3, 3), down_from=at(2025, 3, 3), down_until=at(2025, 3, 4))
    admin = member(customer, Role.CUSTOMER_ADMIN, email="kpi@acme.example")

    report = service_report(user=admin, first=MAR, last=MAR, now=NOW)

    assert [row.customer_name for row in report.customers] == ["Acme Office KK"]
    assert report.total.failures == 4
    assert asset_service(user=admin, first=MAR, last=MAR, customer_id=other.pk, now=NOW) == []


def test_the_report_costs_the_same_queries_for_one_customer_and_for_three(provider, provider_admin, fleet):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            service_report(user=provider_admin, first=FEB, last=MAR, now=NOW)
            contract_service(user=provider_admin, first=FEB, last=MAR, now=NOW)
        return len(captured)

    queries()  # warm the caches of the user's access
    before = queries()
    for name in ("Bravo", "Charlie"):
        other = CustomerFactory(provider=provider, name=name)
        asset = AssetFactory(customer=other, site=SiteFactory(customer=other))
        made = contract_create(customer=other, title="Fleet", start_date=datetime.date(2025, 1, 1), by=None)
        coverage_add(contract=made, asset=asset, start_date=MAR, by=None)
        contract_transition(contract=made, to=ContractStatus.ACTIVE, by=None)
        order(asset, created_at=at(2025, 3, 3), down_from=at(2025, 3, 3), down_until=at(2025, 3, 4))

    assert queries() == before


def test_outcome_achievement_compares_billed_output_with_the_promise(provider_admin, customer, site):
    """A pay-per-pick contract promising 10,000 picks a month: 8,000 picks measured in October = 80 %."""
    truck = AssetFactory(customer=customer, site=site)
    contract = contract_create(customer=customer, title="Picks", start_date=datetime.date(2025, 9, 1), by=None)
    component_add(
        contract=contract, by=None, kind=ComponentKind.OUTCOME_CHARGE, name="Per pick", meter=Meter.PICKS,
        amount=Decimal("2"), outcome_target=Decimal(10000),
    )  # fmt: skip
    coverage_add(contract=contract, asset=truck, start_date=datetime.date(2025, 9, 1), by=None)
    contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=None)
    for when, value in ((at(2025, 9, 30, 12), 1000), (at(2025, 10, 1), 1000), (at(2025, 11, 1), 9000)):
        read(truck, when, value, meter=Meter.PICKS)
    read(truck, at(2025, 11, 2), 9100, meter=Meter.PICKS)
    (drafted,) = draft_customers(customers=[customer], year=2025, month=10)
    finalise_invoice(invoice_id=drafted.invoices[0].pk, today=datetime.date(2025, 11, 1), deliver=False)

    october = datetime.date(2025, 10, 1)
    (row,) = contract_service(user=provider_admin, first=october, last=october)

    (outcome,) = row.outcomes
    assert (outcome.name, outcome.meter, outcome.promised, outcome.measured) == (
        "Per pick", Meter.PICKS, Decimal(10000), Decimal(8000)
    )  # fmt: skip
    assert outcome.achievement == Decimal("80.0")


def test_an_outcome_target_is_refused_on_other_components(customer):
    from django.core.exceptions import ValidationError

    contract = contract_create(customer=customer, title="Fees", start_date=datetime.date(2025, 9, 1), by=None)
    with pytest.raises(ValidationError) as error:
        component_add(
            contract=contract, by=None, kind=ComponentKind.FIXED_FEE, name="Fee", amount=Decimal(1),
            outcome_target=Decimal(5),
        )  # fmt: skip
    assert "outcome_target" in error.value.message_dict


# --- Page and API -------------------------------------------------------------------------------------------------


def test_the_page_shows_the_figures_by_month_customer_contract_and_asset(client, provider_admin, customer, fleet):
    *_assets, contract = fleet
    client.force_login(provider_admin)

    response = client.get(
        reverse("reports:service_kpis"), {"month_from": "2025-03", "month_to": "2025-03", "customer": customer.pk}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "96.13%" in html  # the month's and the customer's uptime
    assert "(3/4)" in html  # responses met
    assert contract.number in html
    assert len(response.context["assets"]) == 3
    assert "<polyline" in html or "<circle" in html


def test_a_customer_admin_sees_their_own_assets_without_choosing(client, customer, fleet):
    admin = member(customer, Role.CUSTOMER_ADMIN, email="kpis@acme.example")
    client.force_login(admin)

    response = client.get(reverse("reports:service_kpis"), {"month_from": "2025-03", "month_to": "2025-03"})

    assert response.status_code == 200
    assert [row.asset_id for row in response.context["assets"]] == [fleet[2].pk, fleet[0].pk, fleet[1].pk]


def test_technicians_have_no_service_kpis(client, provider):
    client.force_login(member(provider, Role.TECHNICIAN, email="tech@provider.example"))

    assert client.get(reverse("reports:service_kpis")).status_code == 404


def test_the_api_gives_the_figures_and_refuses_a_bad_range(provider_admin, customer, fleet):
    api = APIClient()
    api.force_authenticate(provider_admin)
    url = "/api/v1/kpis/service/"

    response = api.get(url, {"from": "2025-02", "to": "2025-03", "customer": customer.pk})

    assert response.status_code == 200
    body = response.json()
    march = body["months"][1]
    assert (march["month"], march["figures"]["uptime"], march["figures"]["mttr_hours"]) == ("2025-03", "96.13", "18.0")
    assert body["total"]["failures"] == 5
    assert body["contracts"][0]["sla_achievement"] == "75.0"
    assert [row["figures"]["uptime"] for row in body["assets"]] == ["90.48", "97.18", "98.92"]
    assert api.get(url, {"from": "2025-03", "to": "2025-02"}).status_code == 400
    too_long = api.get(url, {"from": "2020-01", "to": "2025-03"})
    assert too_long.status_code == 400 and "to" in too_long.json()


def test_a_month_that_changes_to_summer_time_has_its_true_length(provider, provider_admin):
    """Berlin moves its clocks forward on 30 March 2025: March has 743 hours there."""
    customer = CustomerFactory(provider=provider, name="Berlin GmbH", time_zone="Europe/Berlin")
    asset = AssetFactory(customer=customer, site=SiteFactory(customer=customer))
    made = contract_create(customer=customer, title="Fleet", start_date=datetime.date(2025, 1, 1), by=None)
    coverage_add(contract=made, asset=asset, start_date=MAR, by=None)
    contract_transition(contract=made, to=ContractStatus.ACTIVE, by=None)

    report = service_report(user=provider_admin, first=MAR, last=MAR, now=NOW)

    assert report.total.covered_seconds == 743 * 3600
