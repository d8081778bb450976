"""Statutory inspections (特定自主検査 and monthly self-inspection): recording, next due, certificate numbers,
overdue rules, the certificate PDF; and the pages and API of plans and inspections with their tenancy."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from accounts.tests.factories import ProviderFactory
from assets.choices import AssetCategory
from assets.tests.factories import AssetFactory, AssetModelFactory
from fleet.testing.pdf import pdf_text, squash
from maintenance import plans
from maintenance.choices import (
    InspectionResult,
    ScheduleMode,
    StatutoryInspection,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)
from maintenance.models import InspectionRecord, PlanOccurrence, PreventivePlan
from maintenance.tests.factories import WorkOrderFactory

ANNUAL = StatutoryInspection.ANNUAL_SPECIFIC
MONTHLY = StatutoryInspection.MONTHLY_SELF
TODAY = timezone.localdate()


@pytest.fixture
def forklift_model(db):
    return AssetModelFactory(name="8FBE15", category=AssetCategory.FORKLIFT, rated_monthly_volume=None)


@pytest.fixture
def forklift(customer, site, forklift_model):
    return AssetFactory(customer=customer, site=site, asset_model=forklift_model)


@pytest.fixture
def other_forklift(other_customer, forklift_model):
    return AssetFactory(customer=other_customer, asset_model=forklift_model)


def statutory_plan(provider, model, kind, *, days, starts_on=None, **fields):
    return PreventivePlan.objects.create(
        provider=provider,
        name=f"{kind} plan",
        asset_model=model,
        kind=WorkOrderKind.INSPECTION,
        statutory=kind,
        interval_days=days,
        schedule=ScheduleMode.FLOATING,
        starts_on=starts_on or TODAY - datetime.timedelta(days=10),
        lead_days=7,
        **fields,
    )


def record(asset, kind=ANNUAL, *, on, result=InspectionResult.PASSED, by=None, work_order=None, inspector=None):
    return plans.inspection_record_create(
        asset=asset,
        kind=kind,
        work_order=work_order,
        inspected_on=on,
        inspector=inspector,
        inspector_name="佐藤 一郎",
        qualification="検査者",
        result=result,
        findings="異常なし",
        by=by,
    )


# --- Recording ---------------------------------------------------------------------------------------------------


def test_annual_is_due_a_year_later_with_a_certificate_number(forklift, service_desk):
    first = record(forklift, on=datetime.date(2025, 6, 10), by=service_desk)
    assert first.next_due_on == datetime.date(2026, 6, 10)
    assert first.certificate_number == f"SJ-2025-{forklift.pk}-1"
    second = record(forklift, on=datetime.date(2025, 12, 1), by=service_desk)
    assert second.certificate_number == f"SJ-2025-{forklift.pk}-2"


def test_monthly_is_due_a_calendar_month_later_without_certificate(forklift, service_desk):
    monthly = record(forklift, MONTHLY, on=datetime.date(2026, 1, 31), by=service_desk)
    assert monthly.next_due_on == datetime.date(2026, 2, 28)
    assert monthly.certificate_number == ""


def test_failed_annual_gets_no_certificate(forklift, service_desk):
    failed = record(forklift, on=datetime.date(2026, 1, 5), result=InspectionResult.FAILED, by=service_desk)
    assert failed.certificate_number == ""


def test_inspection_cannot_be_in_the_future(forklift, service_desk):
    with pytest.raises(ValidationError) as error:
        record(forklift, on=TODAY + datetime.timedelta(days=1), by=service_desk)
    assert "inspected_on" in error.value.message_dict


def test_technician_records_on_their_assigned_inspection_only(forklift, technician, other_technician):
    assigned = WorkOrderFactory(
        asset=forklift, kind=WorkOrderKind.INSPECTION, assigned_to=technician, status=WorkOrderStatus.IN_PROGRESS
    )
    with pytest.raises(ValidationError):
        record(forklift, on=TODAY, by=technician)  # not on a work order
    with pytest.raises(ValidationError):
        record(forklift, on=TODAY, by=other_technician, work_order=assigned)
    done = record(forklift, on=TODAY, by=technician, work_order=assigned, inspector=technician)
    assert done.work_order == assigned
    with pytest.raises(ValidationError) as error:
        record(forklift, on=TODAY, by=technician, work_order=assigned)
    assert "work_order" in error.value.message_dict


def test_customers_may_not_record(forklift, customer_admin):
    with pytest.raises(ValidationError):
        record(forklift, on=TODAY, by=customer_admin)


def test_work_order_must_be_an_inspection_of_the_asset(forklift, service_desk, asset):
    corrective = WorkOrderFactory(asset=forklift)
    other = WorkOrderFactory(asset=asset, kind=WorkOrderKind.INSPECTION)
    for work_order in (corrective, other):
        with pytest.raises(ValidationError) as error:
            record(forklift, on=TODAY, by=service_desk, work_order=work_order)
        assert "work_order" in error.value.message_dict


def test_a_record_moves_the_statutory_plan_due_date(provider, forklift, forklift_model, service_desk):
    plan = statutory_plan(provider, forklift_model, MONTHLY, days=30)
    record(forklift, MONTHLY, on=TODAY - datetime.timedelta(days=3), by=service_desk)
    (due,) = plans.plan_schedule(plan=plan, today=TODAY)
    assert due.due_on == plans.add_months(TODAY - datetime.timedelta(days=3), 1)
    assert "inspected on" in due.basis


# --- Overdue -----------------------------------------------------------------------------------------------------


def test_overdue_rules(provider, customer, forklift_model, service_desk, provider_admin):
    statutory_plan(provider, forklift_model, MONTHLY, days=30, starts_on=TODAY - datetime.timedelta(days=100))
    statutory_plan(provider, forklift_model, ANNUAL, days=365, starts_on=TODAY - datetime.timedelta(days=100))
    late = AssetFactory(customer=customer, asset_model=forklift_model, serial_number="LATE")
    fine = AssetFactory(customer=customer, asset_model=forklift_model, serial_number="FINE")
    AssetFactory(customer=customer, asset_model=forklift_model, serial_number="NEVER")
    AssetFactory(customer=customer, serial_number="MFP")  # covered by no statutory plan
    record(late, MONTHLY, on=TODAY - datetime.timedelta(days=40), by=service_desk)
    record(fine, MONTHLY, on=TODAY - datetime.timedelta(days=5), by=service_desk)
    rows = {row.serial_number: row for row in plans.inspection_status_list(user=provider_admin, today=TODAY)}
    assert set(rows) == {"LATE", "FINE", "NEVER"}
    assert rows["LATE"].monthly_overdue and rows["LATE"].overdue
    assert not rows["FINE"].monthly_overdue
    assert rows["NEVER"].monthly_overdue  # no record, the monthly plan started more than 30 days ago
    assert not rows["NEVER"].annual_overdue  # the annual plan started less than a year ago
    counts = plans.inspection_overdue_counts(user=provider_admin, today=TODAY)
    assert counts == {"covered": 3, "annual": 0, "monthly": 2, "overdue": 2}


def test_overdue_is_scoped_to_the_user(provider, forklift, other_forklift, forklift_model, customer_admin):
    statutory_plan(provider, forklift_model, MONTHLY, days=30, starts_on=TODAY - datetime.timedelta(days=100))
    rows = list(plans.inspection_status_list(user=customer_admin, today=TODAY))
    assert rows == [forklift]


# --- Certificate -------------------------------------------------------------------------------------------------


def test_certificate_pdf_in_japanese_and_english(forklift, service_desk):
    annual = record(forklift, on=datetime.date(2026, 1, 15), by=service_desk)
    japanese = squash(pdf_text(plans.inspection_certificate_render(record=annual, language="ja")))
    assert annual.certificate_number in japanese
    assert "佐藤一郎" in japanese and forklift.serial_number in japanese and "2027-01-15" in japanese
    english = squash(pdf_text(plans.inspection_certificate_render(record=annual, language="en")))
    assert "Inspectioncertificate" in english and "Passed" in english
    monthly = record(forklift, MONTHLY, on=datetime.date(2026, 1, 15), by=service_desk)
    assert "Inspectionrecord" in squash(pdf_text(plans.inspection_certificate_render(record=monthly, language="en")))


# --- Pages -------------------------------------------------------------------------------------------------------


def test_plan_pages_for_provider_admin(client, provider, provider_admin, forklift, forklift_model):
    plan = statutory_plan(provider, forklift_model, MONTHLY, days=30, starts_on=TODAY - datetime.timedelta(days=25))
    client.force_login(provider_admin)
    assert plan.name in client.get(reverse("maintenance:plan_list")).content.decode()
    page = client.get(reverse("maintenance:plan_detail", args=[plan.pk])).content.decode()
    assert forklift.serial_number in page and "30 days from the plan&#x27;s start" in page
    assert client.get(reverse("maintenance:plan_list"), {"format": "csv"}).status_code == 200


@pytest.mark.parametrize("size", [2, 10])
def test_plan_page_takes_constant_queries(
    client, provider, provider_admin, customer, forklift_model, size, django_assert_max_num_queries
):
    plan = statutory_plan(provider, forklift_model, MONTHLY, days=30)
    for _index in range(size):
        AssetFactory(customer=customer, asset_model=forklift_model)
    plans.preventive_plans_run(today=TODAY + datetime.timedelta(days=25))
    client.force_login(provider_admin)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("maintenance:plan_detail", args=[plan.pk]))
    assert response.status_code == 200


def test_plan_create_form_shows_field_errors(client, provider_admin, forklift, forklift_model):
    client.force_login(provider_admin)
    url = reverse("maintenance:plan_create")
    assert client.get(url).status_code == 200
    base = {"name": "Monthly", "kind": "inspection", "schedule": "floating", "starts_on": "2026-01-01"}
    base.update({"lead_days": 7, "priority": "p3"})
    response = client.post(url, {**base, "asset_model": forklift_model.pk, "asset_serial": forklift.serial_number})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() >= {"asset_serial", "interval_days"}
    response = client.post(url, {**base, "asset_model": forklift_model.pk, "statutory": MONTHLY, "interval_days": 30})
    plan = PreventivePlan.objects.get(name="Monthly")
    assert response.status_code == 302 and plan.statutory == MONTHLY
    response = client.post(reverse("maintenance:plan_active", args=[plan.pk]), {"active": "0"})
    plan.refresh_from_db()
    assert plan.active is False


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.TECHNICIAN])
def test_plan_pages_show_nothing_to_customers_and_technicians(
    client, provider, customer, make_member, role, forklift_model
):
    plan = statutory_plan(provider, forklift_model, MONTHLY, days=30)
    client.force_login(make_member(customer if role == Role.CUSTOMER_ADMIN else provider, role))
    listed = client.get(reverse("maintenance:plan_list"))
    assert listed.status_code == 200 and plan.name not in listed.content.decode()
    assert client.get(reverse("maintenance:plan_detail", args=[plan.pk])).status_code == 404


def test_plan_of_another_provider_is_not_found(client, forklift_model, make_member, provider_admin):
    other_provider = ProviderFactory(code="p2", name="Other Provider")
    plan = statutory_plan(other_provider, forklift_model, MONTHLY, days=30)
    client.force_login(provider_admin)
    assert client.get(reverse("maintenance:plan_detail", args=[plan.pk])).status_code == 404
    assert client.get(reverse("maintenance:plan_edit", args=[plan.pk])).status_code == 404
    assert client.post(reverse("maintenance:plan_active", args=[plan.pk]), {"active": "0"}).status_code == 404


def test_inspection_list_overdue_filter_and_csv(client, provider, customer_admin, forklift, forklift_model):
    statutory_plan(provider, forklift_model, MONTHLY, days=30, starts_on=TODAY - datetime.timedelta(days=100))
    client.force_login(customer_admin)
    response = client.get(reverse("maintenance:inspection_list"), {"overdue": "true"})
    assert forklift.serial_number in response.content.decode()
    csv = b"".join(client.get(reverse("maintenance:inspection_list"), {"format": "csv"}).streaming_content)
    assert forklift.serial_number.encode() in csv
    dashboard = client.get(reverse("portal:dashboard")).content.decode()
    assert "1 statutory inspection overdue" in dashboard


def test_asset_panel_shows_latest_per_kind_and_overdue(
    client, provider, provider_admin, forklift, forklift_model, service_desk
):
    statutory_plan(provider, forklift_model, MONTHLY, days=30, starts_on=TODAY - datetime.timedelta(days=100))
    annual = record(forklift, on=TODAY - datetime.timedelta(days=20), by=service_desk)
    client.force_login(provider_admin)
    page = client.get(reverse("assets:asset_detail", args=[forklift.pk])).content.decode()
    assert annual.certificate_number in page
    assert 'class="badge overdue"' in page


def test_certificate_download_is_scoped(client, forklift, other_forklift, customer_admin, service_desk):
    mine = record(forklift, on=TODAY, by=service_desk)
    theirs = record(other_forklift, on=TODAY, by=service_desk)
    client.force_login(customer_admin)
    response = client.get(reverse("maintenance:inspection_certificate", args=[mine.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert client.get(reverse("maintenance:inspection_certificate", args=[theirs.pk])).status_code == 404
    records = client.get(reverse("maintenance:inspection_record_list")).content.decode()
    assert mine.certificate_number in records and theirs.certificate_number not in records


def test_technician_records_from_the_work_order_page(
    client, provider, forklift, forklift_model, technician, service_desk
):
    plan = statutory_plan(provider, forklift_model, ANNUAL, days=365, starts_on=TODAY - datetime.timedelta(days=360))
    (occurrence,) = plans.preventive_plans_run(today=TODAY)
    work_order = occurrence.work_order
    from maintenance.services import work_order_assign

    work_order_assign(work_order=work_order, technician=technician, by=service_desk)
    client.force_login(technician)
    page = client.get(reverse("maintenance:work_order_detail", args=[work_order.pk])).content.decode()
    assert plan.name in page and "Record inspection" in page
    response = client.post(
        reverse("maintenance:work_order_inspection_record", args=[work_order.pk]),
        {"kind": ANNUAL, "inspected_on": TODAY.isoformat(), "result": "passed", "qualification": "検査者"},
    )
    assert response.status_code == 302
    saved = InspectionRecord.objects.get(work_order=work_order)
    assert saved.inspector == technician and saved.certificate_number
    page = client.get(reverse("maintenance:work_order_detail", args=[work_order.pk])).content.decode()
    assert saved.certificate_number in page and "Record inspection" not in page


def test_other_tenant_cannot_record_on_a_work_order(client, forklift, other_admin):
    work_order = WorkOrderFactory(asset=forklift, kind=WorkOrderKind.INSPECTION)
    client.force_login(other_admin)
    response = client.post(
        reverse("maintenance:work_order_inspection_record", args=[work_order.pk]),
        {"kind": ANNUAL, "inspected_on": TODAY.isoformat(), "result": "passed"},
    )
    assert response.status_code == 404
    assert not InspectionRecord.objects.exists()


# --- API ---------------------------------------------------------------------------------------------------------


def test_api_plan_crud_for_provider_admin(api_client_for, provider_admin, forklift_model, forklift):
    api = api_client_for(provider_admin)
    body = {
        "name": "Monthly",
        "asset_model": forklift_model.pk,
        "kind": "inspection",
        "statutory": MONTHLY,
        "interval_days": 30,
        "starts_on": "2026-01-01",
    }
    response = api.post("/api/v1/preventive-plans/", body, format="json")
    assert response.status_code == 201, response.json()
    plan_id = response.json()["id"]
    assert api.patch(f"/api/v1/preventive-plans/{plan_id}/", {"lead_days": 3}, format="json").json()["lead_days"] == 3
    schedule = api.get(f"/api/v1/preventive-plans/{plan_id}/schedule/").json()
    assert schedule["results"][0]["asset_serial_number"] == forklift.serial_number
    assert schedule["results"][0]["due_on"] == "2026-01-31"
    bad = api.post("/api/v1/preventive-plans/", {**body, "asset": forklift.pk}, format="json")
    assert bad.status_code == 400 and "asset" in bad.json()
    bad = api.post("/api/v1/preventive-plans/", {**body, "interval_days": None, "statutory": ""}, format="json")
    assert bad.status_code == 400 and "interval_days" in bad.json()
    assert api.delete(f"/api/v1/preventive-plans/{plan_id}/").status_code == 204


def test_api_plans_are_provider_side(
    api_client_for, provider, customer_admin, service_desk, forklift_model, technician
):
    plan = statutory_plan(provider, forklift_model, MONTHLY, days=30)
    for user in (customer_admin, technician):
        api = api_client_for(user)
        assert api.get("/api/v1/preventive-plans/").json()["results"] == []
        assert api.get(f"/api/v1/preventive-plans/{plan.pk}/").status_code == 404
    desk = api_client_for(service_desk)
    assert desk.get(f"/api/v1/preventive-plans/{plan.pk}/").status_code == 200
    assert desk.patch(f"/api/v1/preventive-plans/{plan.pk}/", {"lead_days": 1}, format="json").status_code == 403


def test_api_plan_of_another_provider_is_not_found(api_client_for, forklift_model, provider_admin):
    plan = statutory_plan(ProviderFactory(code="p2", name="P2"), forklift_model, MONTHLY, days=30)
    api = api_client_for(provider_admin)
    assert api.get(f"/api/v1/preventive-plans/{plan.pk}/").status_code == 404
    assert api.get(f"/api/v1/preventive-plans/{plan.pk}/schedule/").status_code == 404
    assert api.delete(f"/api/v1/preventive-plans/{plan.pk}/").status_code == 404


def test_api_inspection_records(api_client_for, service_desk, customer_admin, other_admin, forklift, other_forklift):
    desk = api_client_for(service_desk)
    body = {"asset": forklift.pk, "kind": ANNUAL, "inspected_on": TODAY.isoformat(), "result": "passed"}
    created = desk.post("/api/v1/inspection-records/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["certificate_number"].startswith("SJ-") and data["inspector_name"]
    assert desk.post("/api/v1/inspection-records/", {**body, "kind": "x"}, format="json").status_code == 400
    future = {**body, "inspected_on": (TODAY + datetime.timedelta(days=3)).isoformat()}
    assert "inspected_on" in desk.post("/api/v1/inspection-records/", future, format="json").json()
    customer = api_client_for(customer_admin)
    assert [row["id"] for row in customer.get("/api/v1/inspection-records/").json()["results"]] == [data["id"]]
    pdf = customer.get(f"/api/v1/inspection-records/{data['id']}/certificate/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert customer.post("/api/v1/inspection-records/", body, format="json").status_code == 403
    other = api_client_for(other_admin)
    assert other.get("/api/v1/inspection-records/").json()["results"] == []
    assert other.get(f"/api/v1/inspection-records/{data['id']}/").status_code == 404
    assert other.get(f"/api/v1/inspection-records/{data['id']}/certificate/").status_code == 404
    refused = desk.post("/api/v1/inspection-records/", {**body, "asset": other_forklift.pk + 10_000}, format="json")
    assert refused.status_code == 400


def test_api_technician_records_on_assigned_inspection(api_client_for, technician, forklift):
    work_order = WorkOrderFactory(
        asset=forklift,
        kind=WorkOrderKind.INSPECTION,
        source=WorkOrderSource.PREVENTIVE_PLAN,
        assigned_to=technician,
        status=WorkOrderStatus.IN_PROGRESS,
    )
    api = api_client_for(technician)
    body = {
        "asset": forklift.pk,
        "kind": MONTHLY,
        "work_order": work_order.pk,
        "inspected_on": TODAY.isoformat(),
        "result": "passed",
    }
    response = api.post("/api/v1/inspection-records/", body, format="json")
    assert response.status_code == 201, response.json()
    assert PlanOccurrence.objects.count() == 0


def test_other_customer_is_not_covered_by_a_customer_plan(provider, customer, forklift_model, other_forklift, forklift):
    plan = statutory_plan(provider, forklift_model, MONTHLY, days=30, customer=customer)
    assert list(plans.plan_assets(plan)) == [forklift]
