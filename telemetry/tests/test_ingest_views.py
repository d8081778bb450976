"""Portal pages of the ingest: collector keys, the CSV upload and manual meter reads."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.choices import Role
from telemetry import ingest, keys
from telemetry.choices import Meter, ReadingSource
from telemetry.models import CollectorKey, DiagnosticEvent, Reading, SupplyLevel

pytestmark = pytest.mark.django_db

CSV_HEADER = (
    "serial,manufacturer,type,meter_or_supply_or_code,taken_at,value,severity,message,g_force,operator_id,cleared\n"
)


@pytest.fixture(autouse=True)
def no_alert_rules(monkeypatch):
    monkeypatch.setattr(ingest, "alerts_evaluate_ingest", lambda *, batch: None)


@pytest.fixture
def viewer(customer, make_member):
    return make_member(customer, Role.CUSTOMER_VIEWER)


# Collector keys


def test_customer_admin_lists_their_keys_only(client, customer, other_customer, customer_admin):
    keys.collector_key_create(customer=customer, name="Tokyo print server")
    keys.collector_key_create(customer=other_customer, name="Osaka gateway")
    client.force_login(customer_admin)

    response = client.get(reverse("telemetry:collector_key_list"))

    assert response.status_code == 200
    assert [obj.name for obj, _cells in response.context["rows"]] == ["Tokyo print server"]
    assert "Osaka gateway" not in response.content.decode()


@pytest.mark.parametrize("role", [Role.CUSTOMER_VIEWER, Role.CUSTOMER_OPERATOR, Role.SERVICE_DESK])
def test_roles_that_do_not_manage_keys_get_no_key_pages(client, customer, provider, make_member, role):
    user = make_member(provider if role == Role.SERVICE_DESK else customer, role)
    client.force_login(user)
    for name in ("telemetry:collector_key_list", "telemetry:collector_key_create", "telemetry:ingest_upload"):
        assert client.get(reverse(name)).status_code == 404, name


@pytest.mark.parametrize("size", [1, 20])
def test_key_list_query_count_is_constant(client, customer, provider_admin, size, django_assert_max_num_queries):
    for number in range(size):
        keys.collector_key_create(customer=customer, name=f"Key {number}", by=provider_admin)
    client.force_login(provider_admin)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("telemetry:collector_key_list"))
    assert len(response.context["rows"]) == size


def test_creating_a_key_shows_it_once(client, customer, customer_admin):
    client.force_login(customer_admin)

    response = client.post(reverse("telemetry:collector_key_create"), {"customer": customer.pk, "name": "Gateway"})

    key = CollectorKey.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("telemetry:collector_key_created", args=[key.pk])
    shown = client.get(response["Location"])
    plaintext = shown.context["plaintext"]
    assert plaintext.startswith(f"{key.prefix}.") and plaintext in shown.content.decode()
    assert shown["Cache-Control"] == "no-store"
    assert keys.collector_key_authenticate(credentials=plaintext) == key
    again = client.get(response["Location"])
    assert again.status_code == 200
    assert plaintext not in again.content.decode()


def test_customer_admin_cannot_create_a_key_for_another_customer(client, customer_admin, other_customer):
    client.force_login(customer_admin)
    response = client.post(reverse("telemetry:collector_key_create"), {"customer": other_customer.pk, "name": "X"})
    assert response.status_code == 200
    assert response.context["form"].errors["customer"]
    assert not CollectorKey.objects.exists()


def test_provider_admin_picks_the_customer(client, provider_admin, customer, other_customer):
    client.force_login(provider_admin)
    page = client.get(reverse("telemetry:collector_key_create"))
    assert set(page.context["form"].fields["customer"].queryset) == {customer, other_customer}
    client.post(reverse("telemetry:collector_key_create"), {"customer": other_customer.pk, "name": "Gateway"})
    assert CollectorKey.objects.get().customer == other_customer


def test_another_tenants_new_key_page_is_a_404(client, customer, other_admin):
    key, _plaintext = keys.collector_key_create(customer=customer, name="Gateway")
    client.force_login(other_admin)
    assert client.get(reverse("telemetry:collector_key_created", args=[key.pk])).status_code == 404


def test_revoking_a_key_from_the_list(client, customer, customer_admin):
    key, _plaintext = keys.collector_key_create(customer=customer, name="Gateway")
    client.force_login(customer_admin)
    response = client.post(reverse("telemetry:collector_key_revoke", args=[key.pk]))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == customer_admin


def test_another_tenants_key_cannot_be_revoked(client, customer, other_admin):
    key, _plaintext = keys.collector_key_create(customer=customer, name="Gateway")
    client.force_login(other_admin)
    assert client.post(reverse("telemetry:collector_key_revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


# CSV upload


def upload(client, customer, content: str, name: str = "export.csv"):
    file = SimpleUploadedFile(name, content.encode(), content_type="text/csv")
    return client.post(reverse("telemetry:ingest_upload"), {"customer": customer.pk, "file": file})


def test_csv_upload_with_a_bad_line_reports_it_and_keeps_the_rest(client, customer, customer_admin, asset):
    client.force_login(customer_admin)
    serial = asset.serial_number
    content = CSV_HEADER + (
        f"{serial},,reading,hours_key_on,2026/03/01 9:30,1520.5,,,,,\n"
        f"{serial},,supply,battery_soc,2026-03-01 09:30,64,,,,,\n"
        f"{serial},,reading,hours_key_on,yesterday,1600,,,,,\n"
        f"{serial},,event,IMPACT,2026-03-01 10:12,,warning,Impact,2.8,OP-117,0\n"
    )

    response = upload(client, customer, content)

    assert response.status_code == 200
    report = response.context["report"]
    assert (report.accepted, report.duplicates, report.rejected) == (3, 0, 1)
    assert [line.line for line in response.context["rejected_lines"]] == [4]
    page = response.content.decode()
    assert str(ingest.CSV_TIME_INVALID) in page
    assert (Reading.objects.count(), SupplyLevel.objects.count(), DiagnosticEvent.objects.count()) == (1, 1, 1)


def test_uploading_the_same_file_again_reports_duplicates(client, customer, customer_admin, asset):
    client.force_login(customer_admin)
    content = CSV_HEADER + f"{asset.serial_number},,reading,hours_key_on,2026-03-01 09:30,10,,,,,\n"
    upload(client, customer, content)
    report = upload(client, customer, content).context["report"]
    assert (report.accepted, report.duplicates) == (0, 1)


def test_a_file_with_a_bad_header_is_refused_whole(client, customer, customer_admin, asset):
    client.force_login(customer_admin)
    response = upload(client, customer, "serial,type,when\nX,reading,2026-03-01\n")
    assert response.status_code == 200
    assert "report" not in response.context
    assert response.context["form"].errors["file"]
    assert not Reading.objects.exists()


def test_a_customer_admin_cannot_upload_for_another_customer(client, customer_admin, other_customer, other_asset):
    client.force_login(customer_admin)
    content = CSV_HEADER + f"{other_asset.serial_number},,reading,total_pages,2026-03-01 09:30,10,,,,,\n"
    response = upload(client, other_customer, content)
    assert response.context["form"].errors["customer"]
    assert not Reading.objects.exists()


def test_provider_admin_uploads_for_a_chosen_customer(client, provider_admin, other_customer, other_asset):
    client.force_login(provider_admin)
    content = CSV_HEADER + f"{other_asset.serial_number},,reading,total_pages,2026-03-01 09:30,10,,,,,\n"
    assert upload(client, other_customer, content).context["report"].accepted == 1
    assert Reading.objects.get().asset == other_asset


def test_upload_page_documents_the_columns_and_offers_the_template(client, customer_admin):
    client.force_login(customer_admin)
    page = client.get(reverse("telemetry:ingest_upload")).content.decode()
    for column in ingest.CSV_COLUMNS:
        assert f"<code>{column}</code>" in page
    template = client.get(reverse("telemetry:ingest_template"))
    lines = template.content.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(ingest.CSV_COLUMNS)
    assert len(lines) == 4


# Manual meter reads


def test_customer_viewer_enters_a_read_of_their_asset(client, viewer, asset):
    client.force_login(viewer)
    url = reverse("telemetry:meter_read", args=[asset.pk])
    assert client.get(url).status_code == 200

    response = client.post(url, {"meter": Meter.TOTAL_PAGES, "taken_at": "2026-03-02T09:30", "value": "15234"})

    assert response.status_code == 302
    assert response["Location"] == reverse("assets:asset_detail", args=[asset.pk])
    read = Reading.objects.get()
    assert (read.source, read.entered_by, read.value) == (ReadingSource.CUSTOMER, viewer, Decimal("15234"))
    # The time is the site's local time (Asia/Tokyo).
    assert read.taken_at == datetime.datetime(2026, 3, 2, 0, 30, tzinfo=datetime.UTC)


def test_a_meter_read_of_another_tenants_asset_is_a_404(client, viewer, other_asset):
    client.force_login(viewer)
    url = reverse("telemetry:meter_read", args=[other_asset.pk])
    assert client.get(url).status_code == 404
    response = client.post(url, {"meter": Meter.TOTAL_PAGES, "taken_at": "2026-03-02T09:30", "value": "1"})
    assert response.status_code == 404
    assert not Reading.objects.exists()


def test_customer_admins_do_not_enter_meter_reads(client, customer_admin, asset):
    client.force_login(customer_admin)
    assert client.get(reverse("telemetry:meter_read", args=[asset.pk])).status_code == 404


def test_the_same_read_twice_shows_the_reason(client, viewer, asset):
    client.force_login(viewer)
    url = reverse("telemetry:meter_read", args=[asset.pk])
    data = {"meter": Meter.TOTAL_PAGES, "taken_at": "2026-03-02T09:30", "value": "15234"}
    client.post(url, data)
    response = client.post(url, data)
    assert response.status_code == 200
    assert str(ingest.READ_EXISTS) in response.content.decode()
    assert Reading.objects.count() == 1


def test_a_negative_read_is_refused_by_the_form(client, viewer, asset):
    client.force_login(viewer)
    url = reverse("telemetry:meter_read", args=[asset.pk])
    response = client.post(url, {"meter": Meter.TOTAL_PAGES, "taken_at": "2026-03-02T09:30", "value": "-3"})
    assert response.status_code == 200 and response.context["form"].errors["value"]
    assert not Reading.objects.exists()


def test_meters_offered_are_those_of_the_asset(client, viewer, asset):
    client.force_login(viewer)
    choices = dict(client.get(reverse("telemetry:meter_read", args=[asset.pk])).context["form"].fields["meter"].choices)
    assert Meter.TOTAL_PAGES in choices and Meter.HOURS_KEY_ON not in choices


def test_asset_page_links_to_meter_reads_for_those_who_may(client, viewer, customer_admin, asset):
    url = reverse("assets:asset_detail", args=[asset.pk])
    link = reverse("telemetry:meter_read", args=[asset.pk])
    client.force_login(viewer)
    assert link in client.get(url).content.decode()
    client.force_login(customer_admin)
    assert link not in client.get(url).content.decode()


def test_dashboard_links_to_keys_and_upload_for_key_managers(client, customer_admin, viewer):
    client.force_login(customer_admin)
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert reverse("telemetry:collector_key_list") in page and reverse("telemetry:ingest_upload") in page
    client.force_login(viewer)
    assert reverse("telemetry:collector_key_list") not in client.get(reverse("portal:dashboard")).content.decode()
