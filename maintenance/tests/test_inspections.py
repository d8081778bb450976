"""Pre-use inspections: the checklist that fits a truck, submitting (all OK, a failed item, a failed critical item,
atomically), the portal pages and the per-operator report with its impact attribution."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.choices import Role
from accounts.tests.factories import ProviderFactory, member
from assets.choices import AssetCategory, AssetEventKind, AssetStatus
from assets.models import AssetEvent
from assets.tests.factories import AssetFactory, AssetModelFactory, SiteFactory
from maintenance import inspections
from maintenance.choices import ChecklistPurpose, Priority, WorkOrderKind, WorkOrderSource
from maintenance.inspections import PreUseAnswer, operator_report, pre_use_inspection_submit, pre_use_template_for
from maintenance.models import (
    ChecklistTemplate,
    ChecklistTemplateItem,
    PreUseInspection,
    PreUseInspectionItem,
    WorkOrder,
)
from telemetry.alerts import PRE_USE_CONDITION
from telemetry.choices import AlertStatus, Meter, Severity
from telemetry.models import Alert, AlertRule, DiagnosticEvent, Reading

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def forklift_model():
    return AssetModelFactory(name="8FBE15", category=AssetCategory.FORKLIFT, rated_monthly_volume=None)


@pytest.fixture
def truck(customer, site, forklift_model):
    return AssetFactory(customer=customer, site=site, asset_model=forklift_model, asset_tag="FL-001")


@pytest.fixture
def operator(customer, site):
    user = member(customer, Role.CUSTOMER_OPERATOR, email="driver@acme.example", last_name="Yamamoto")
    site.operators.add(user.membership)
    return user


@pytest.fixture
def checklist(provider):
    template = ChecklistTemplate.objects.create(
        provider=provider, name="Forklift pre-use", purpose=ChecklistPurpose.PRE_USE, category=AssetCategory.FORKLIFT
    )
    for position, (text, critical) in enumerate((("Brakes", True), ("Horn", False), ("Tyres", False)), 1):
        ChecklistTemplateItem.objects.create(template=template, position=position, text=text, critical=critical)
    return template


def answers(template, failed=(), notes=None):
    notes = notes or {}
    return [
        PreUseAnswer(item_id=item.pk, ok=item.text not in failed, note=notes.get(item.text, ""))
        for item in template.items.order_by("position")
    ]


def submit(truck, operator, checklist, failed=(), **kwargs):
    return pre_use_inspection_submit(asset=truck, operator=operator, answers=answers(checklist, failed), **kwargs)


# --- The checklist of a truck ---------------------------------------------------------------------------------


def test_template_for_prefers_model_then_category_then_generic(provider, truck, forklift_model, checklist):
    generic = ChecklistTemplate.objects.create(provider=provider, name="Any", purpose=ChecklistPurpose.PRE_USE)
    assert pre_use_template_for(asset=truck) == checklist
    own = ChecklistTemplate.objects.create(
        provider=provider, name="8FBE15", purpose=ChecklistPurpose.PRE_USE, asset_model=forklift_model
    )
    assert pre_use_template_for(asset=truck) == own
    own.active = False
    own.save()
    checklist.category = AssetCategory.REACH_TRUCK
    checklist.save()
    assert pre_use_template_for(asset=truck) == generic


def test_template_for_ignores_work_order_checklists_and_other_providers(truck, checklist):
    checklist.purpose = ChecklistPurpose.WORK_ORDER
    checklist.save()
    ChecklistTemplate.objects.create(
        provider=ProviderFactory(code="p2", name="Other"), name="Theirs", purpose=ChecklistPurpose.PRE_USE
    )
    assert pre_use_template_for(asset=truck) is None


# --- Submitting -------------------------------------------------------------------------------------------------


def test_all_ok_passes_and_opens_nothing(truck, operator, checklist):
    inspection = submit(truck, operator, checklist, hour_meter="1234.56", note=" fine ")
    assert inspection.passed and not inspection.critical_failure
    assert inspection.hour_meter == Decimal("1234.6")
    assert inspection.note == "fine"
    assert inspection.template == checklist
    assert list(inspection.items.values_list("text", "critical", "ok")) == [
        ("Brakes", True, True),
        ("Horn", False, True),
        ("Tyres", False, True),
    ]
    assert inspection.work_order is None and inspection.alert is None
    truck.refresh_from_db()
    assert truck.status == AssetStatus.ACTIVE
    assert not WorkOrder.objects.exists()
    # Operators may not enter meter reads: the hour meter stays on the inspection only.
    assert not Reading.objects.filter(asset=truck).exists()


def test_non_critical_failure_opens_one_p3_order_and_keeps_the_truck_in_service(truck, operator, checklist):
    inspection = pre_use_inspection_submit(
        asset=truck, operator=operator, answers=answers(checklist, {"Horn"}, {"Horn": "silent"})
    )
    assert not inspection.passed and not inspection.critical_failure
    work_order = inspection.work_order
    assert work_order.priority == Priority.P3
    assert work_order.kind == WorkOrderKind.CORRECTIVE
    assert work_order.source == WorkOrderSource.CUSTOMER_REQUEST
    assert work_order.asset == truck
    assert "Horn: silent" in work_order.description
    truck.refresh_from_db()
    assert truck.status == AssetStatus.ACTIVE
    assert inspection.alert is None

    again = submit(truck, operator, checklist, failed={"Horn"})
    assert again.work_order is None  # the open order of the first report covers it
    assert WorkOrder.objects.count() == 1


def test_critical_failure_takes_the_truck_out_of_service_raises_an_alert_and_opens_an_order(
    truck, operator, checklist, provider
):
    inspection = submit(truck, operator, checklist, failed={"Brakes", "Horn"})
    assert inspection.critical_failure and not inspection.passed
    truck.refresh_from_db()
    assert truck.status == AssetStatus.IN_REPAIR
    event = AssetEvent.objects.get(asset=truck, kind=AssetEventKind.STATUS_CHANGED)
    assert event.to_status == AssetStatus.IN_REPAIR and "Brakes" in event.note

    alert = inspection.alert
    assert alert.condition == PRE_USE_CONDITION
    assert alert.severity == Severity.ERROR
    assert alert.status == AlertStatus.OPEN
    assert alert.work_order_requested_at is not None  # the sweep does not ask again
    rule = AlertRule.objects.get(pk=alert.rule_id)
    assert rule.customer_id == truck.customer_id and rule.provider == provider

    work_order = inspection.work_order
    assert work_order.alert == alert
    assert work_order.priority == Priority.P2
    assert work_order.source == WorkOrderSource.ALERT
    assert work_order.kind == WorkOrderKind.CORRECTIVE
    assert WorkOrder.objects.count() == 1

    with pytest.raises(ValidationError) as refused:
        submit(truck, operator, checklist)
    assert inspections.TRUCK_NOT_IN_SERVICE in refused.value.messages


def test_a_second_critical_failure_repeats_the_open_alert(truck, operator, checklist):
    first = submit(truck, operator, checklist, failed={"Brakes"})
    truck.status = AssetStatus.ACTIVE  # put back in service by hand while the alert is still open
    truck.save()
    second = submit(truck, operator, checklist, failed={"Brakes"})
    assert second.alert == first.alert
    first.alert.refresh_from_db()
    assert first.alert.count == 2
    assert second.work_order is None  # the alert's order is still open
    assert Alert.objects.count() == 1 and WorkOrder.objects.count() == 1


def test_submission_is_atomic(truck, operator, checklist, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("work orders are down")

    monkeypatch.setattr(inspections, "work_order_create", broken)
    with pytest.raises(RuntimeError):
        submit(truck, operator, checklist, failed={"Brakes"})
    truck.refresh_from_db()
    assert truck.status == AssetStatus.ACTIVE
    assert not PreUseInspection.objects.exists()
    assert not PreUseInspectionItem.objects.exists()
    assert not Alert.objects.exists()
    assert not AlertRule.objects.exists()
    assert not AssetEvent.objects.filter(kind=AssetEventKind.STATUS_CHANGED).exists()


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda items: items[:-1], inspections.ANSWERS_INCOMPLETE),
        (lambda items: [*items, PreUseAnswer(item_id=999999, ok=True)], None),
        (lambda items: [*items, items[0]], None),
    ],
    ids=["missing", "unknown", "twice"],
)
def test_answers_must_cover_the_checklist_once(truck, operator, checklist, mangle, message):
    with pytest.raises(ValidationError) as refused:
        pre_use_inspection_submit(asset=truck, operator=operator, answers=mangle(answers(checklist)))
    assert "answers" in refused.value.message_dict
    if message:
        assert str(message) in refused.value.message_dict["answers"]
    assert not PreUseInspection.objects.exists()


def test_hour_meter_must_be_a_non_negative_number(truck, operator, checklist):
    for value, message in (("-1", inspections.HOUR_METER_NEGATIVE), ("abc", inspections.HOUR_METER_INVALID)):
        with pytest.raises(ValidationError) as refused:
            submit(truck, operator, checklist, hour_meter=value)
        assert refused.value.message_dict["hour_meter"] == [str(message)]


def test_no_checklist_is_refused(truck, operator):
    with pytest.raises(ValidationError) as refused:
        pre_use_inspection_submit(asset=truck, operator=operator, answers=[])
    assert inspections.NO_PRE_USE_CHECKLIST in refused.value.messages


def test_operator_may_not_inspect_a_truck_of_another_site(customer, forklift_model, operator, checklist):
    elsewhere = AssetFactory(customer=customer, site=SiteFactory(customer=customer), asset_model=forklift_model)
    with pytest.raises(ValidationError) as refused:
        submit(elsewhere, operator, checklist)
    assert inspections.NOT_ALLOWED_TO_INSPECT in refused.value.messages


def test_viewer_may_not_inspect(customer, truck, checklist):
    viewer = member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")
    with pytest.raises(ValidationError):
        submit(truck, viewer, checklist)


def test_hour_meter_becomes_a_meter_read_for_roles_that_may_enter_reads(truck, provider_admin, checklist):
    inspection = submit(truck, provider_admin, checklist, hour_meter="812.5")
    reading = Reading.objects.get(asset=truck, meter=Meter.HOURS_KEY_ON)
    assert reading.value == Decimal("812.5") and reading.taken_at == inspection.performed_at


# --- Pages ------------------------------------------------------------------------------------------------------


def _form_data(checklist, failed=(), **extra):
    data = {"hour_meter": "", "note": "", **extra}
    for item in checklist.items.all():
        data[f"item_{item.pk}"] = "failed" if item.text in failed else "ok"
        data[f"note_{item.pk}"] = ""
    return data


def test_operator_fills_the_checklist_on_the_phone_form(client, truck, operator, checklist):
    client.force_login(operator)
    url = reverse("maintenance:pre_use_create", args=[truck.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "Brakes" in page.text and 'type="radio"' in page.text
    response = client.post(url, _form_data(checklist, failed={"Brakes"}, hour_meter="100.5"))
    inspection = PreUseInspection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("maintenance:pre_use_detail", args=[inspection.pk])
    assert inspection.critical_failure and inspection.hour_meter == Decimal("100.5")
    detail = client.get(response["Location"])
    assert inspection.work_order.number in detail.text


def test_form_without_every_answer_shows_errors(client, truck, operator, checklist):
    client.force_login(operator)
    data = _form_data(checklist)
    del data[f"item_{checklist.items.first().pk}"]
    response = client.post(reverse("maintenance:pre_use_create", args=[truck.pk]), data)
    assert response.status_code == 200
    assert "Choose OK or not OK." in response.text
    assert not PreUseInspection.objects.exists()


def test_operator_gets_404_for_another_sites_truck(client, customer, forklift_model, operator, checklist):
    elsewhere = AssetFactory(customer=customer, site=SiteFactory(customer=customer), asset_model=forklift_model)
    client.force_login(operator)
    url = reverse("maintenance:pre_use_create", args=[elsewhere.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, _form_data(checklist)).status_code == 404
    assert client.get(reverse("maintenance:asset_scan", args=[elsewhere.pk])).status_code == 404
    assert not PreUseInspection.objects.exists()


def test_roles_without_the_capability_get_404(client, customer_admin, truck, checklist):
    client.force_login(customer_admin)
    assert client.get(reverse("maintenance:pre_use_create", args=[truck.pk])).status_code == 404


def test_scan_page_offers_inspection_and_problem_report(client, truck, operator):
    client.force_login(operator)
    response = client.get(reverse("maintenance:asset_scan", args=[truck.pk]))
    assert reverse("maintenance:pre_use_create", args=[truck.pk]) in response.text
    assert reverse("maintenance:service_request") in response.text


def test_list_shows_own_inspections_only_and_exports_csv(
    client, customer_admin, other_admin, truck, operator, checklist
):
    submit(truck, operator, checklist, failed={"Horn"})
    client.force_login(customer_admin)
    response = client.get(reverse("maintenance:pre_use_list"), {"result": "failed"})
    assert truck.serial_number in response.text
    csv = client.get(reverse("maintenance:pre_use_list"), {"format": "csv"})
    assert truck.serial_number in b"".join(csv.streaming_content).decode()
    client.force_login(other_admin)
    assert truck.serial_number not in client.get(reverse("maintenance:pre_use_list")).text
    inspection = PreUseInspection.objects.get()
    assert client.get(reverse("maintenance:pre_use_detail", args=[inspection.pk])).status_code == 404


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_does_not_grow(
    client, customer_admin, truck, operator, checklist, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        submit(truck, operator, checklist)
    client.force_login(customer_admin)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("maintenance:pre_use_list"), {"per_page": 50})
    assert response.status_code == 200


# --- The operator report ----------------------------------------------------------------------------------------


def _at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 3, day, hour, minute, tzinfo=TOKYO)


def _impact(truck, at, g="2.5", **fields):
    return DiagnosticEvent.objects.create(
        asset=truck, occurred_at=at, code=f"IMPACT-{at:%d%H%M}", g_force=Decimal(g), **fields
    )


@pytest.fixture
def report_data(customer, site, truck, forklift_model, operator, checklist):
    """Two operators sharing truck A on 10 March (Tokyo); operator 1 also drives truck B."""
    site.time_zone = "Asia/Tokyo"
    site.save()
    second = member(customer, Role.CUSTOMER_OPERATOR, email="second@acme.example", last_name="Kato")
    site.operators.add(second.membership)
    truck_b = AssetFactory(customer=customer, site=site, asset_model=forklift_model)
    submit(truck, operator, checklist, performed_at=_at(10, 8))
    submit(truck_b, operator, checklist, failed={"Horn"}, performed_at=_at(10, 8, 30))
    submit(truck, second, checklist, performed_at=_at(10, 12))
    submit(truck, operator, checklist, performed_at=_at(11, 23, 30))
    _impact(truck, _at(10, 7))  # before anyone inspected it that day: unattributed
    _impact(truck, _at(10, 10))  # operator 1
    _impact(truck, _at(10, 13))  # the second operator
    _impact(truck_b, _at(10, 9))  # operator 1
    _impact(truck, _at(12, 0, 30))  # next local day, no inspection yet: unattributed
    _impact(truck, _at(10, 14), cleared=True)  # a "cleared" report is no impact
    DiagnosticEvent.objects.create(asset=truck, occurred_at=_at(10, 15), code="E-21")  # no g-force
    return {"first": operator, "second": second}


def test_report_counts_inspections_and_attributes_impacts(customer_admin, report_data):
    report = operator_report(
        user=customer_admin, start=datetime.date(2026, 3, 1), end=datetime.date(2026, 3, 31), time_zone="Asia/Tokyo"
    )
    rows = {row.email: row for row in report.rows}
    first, second = rows["driver@acme.example"], rows["second@acme.example"]
    assert (first.inspections, first.failed, first.critical, first.trucks, first.impacts) == (3, 1, 0, 2, 2)
    assert (second.inspections, second.failed, second.critical, second.trucks, second.impacts) == (1, 0, 0, 1, 1)
    assert report.unattributed_impacts == 2


def test_report_period_limits_what_counts(customer_admin, report_data):
    report = operator_report(
        user=customer_admin, start=datetime.date(2026, 3, 11), end=datetime.date(2026, 3, 12), time_zone="Asia/Tokyo"
    )
    assert [(row.email, row.inspections, row.impacts) for row in report.rows] == [("driver@acme.example", 1, 0)]
    assert report.unattributed_impacts == 1


def test_report_shows_nothing_of_another_customer(other_admin, report_data):
    report = operator_report(user=other_admin, start=datetime.date(2026, 3, 1), end=datetime.date(2026, 3, 31))
    assert report.rows == [] and report.unattributed_impacts == 0


@pytest.mark.parametrize("extra_days", [0, 5])
def test_report_query_count_is_constant(
    customer_admin, report_data, truck, operator, checklist, extra_days, django_assert_max_num_queries
):
    for day in range(extra_days):
        submit(truck, operator, checklist, performed_at=_at(20 + day, 8))
        _impact(truck, _at(20 + day, 9))
    with django_assert_max_num_queries(4):
        operator_report(
            user=customer_admin,
            start=datetime.date(2026, 3, 1),
            end=datetime.date(2026, 3, 31),
            time_zone="Asia/Tokyo",
        )


def test_report_period_defaults_and_checks():
    today = datetime.date(2026, 3, 31)
    assert inspections.report_period(start=None, end=None, today=today) == (datetime.date(2026, 3, 2), today)
    with pytest.raises(ValidationError):
        inspections.report_period(start=today, end=datetime.date(2026, 3, 1), today=today)
    with pytest.raises(ValidationError):
        inspections.report_period(start=datetime.date(2024, 1, 1), end=today, today=today)


def test_report_page_for_admins_with_csv_and_404_for_operators(client, customer_admin, operator, report_data):
    client.force_login(customer_admin)
    url = reverse("maintenance:operator_report")
    response = client.get(url, {"start": "2026-03-01", "end": "2026-03-31"})
    assert response.status_code == 200
    assert "second@acme.example" in response.text
    assert "same day" in response.text  # the attribution rule is stated
    csv = client.get(url, {"start": "2026-03-01", "end": "2026-03-31", "format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    assert "driver@acme.example" in csv.content.decode()
    bad = client.get(url, {"start": "2026-03-31", "end": "2026-03-01"})
    assert bad.status_code == 200 and "The period ends before it starts." in bad.text
    client.force_login(operator)
    assert client.get(url).status_code == 404
