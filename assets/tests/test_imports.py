"""Fleet CSV import: the dry run, the atomic apply, the background task, the pages and the export round trip."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.choices import Role
from accounts.models import OrganisationSettings
from accounts.tests.factories import CustomerFactory, ProviderFactory
from assets import imports
from assets.choices import AssetEventKind, AssetStatus, FleetImportStatus, Ownership
from assets.imports import IMPORT_COLUMNS, fleet_import_create, fleet_import_start
from assets.models import Asset, AssetEvent, FleetImport
from assets.tasks import fleet_import_run_task
from assets.tests.factories import AssetFactory, AssetModelFactory, ManufacturerFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def model():
    return AssetModelFactory(manufacturer=ManufacturerFactory(name="Ricoh"), name="IM C3000")


def line(**cells) -> dict:
    """One line of an import file: a new rental MFP of Acme at Tokyo HQ, with ``cells`` changed."""
    return {
        "customer_code": "acme",
        "site": "Tokyo HQ",
        "manufacturer": "Ricoh",
        "model": "IM C3000",
        "serial_number": "NEW-0001",
        "asset_tag": "",
        "status": "active",
        "ownership": "rental",
        "install_date": "2024-04-01",
        "acquisition_cost": "450000",
        "currency": "JPY",
        "expected_life_months": "",
        "location_note": "2F copy room",
        "network_address": "",
        **cells,
    }


def csv_text(lines: list[dict], columns=IMPORT_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(lines)
    return out.getvalue()


def upload(user, lines, **kwargs) -> FleetImport:
    return fleet_import_create(by=user, filename="fleet.csv", content=csv_text(lines), **kwargs)


def located(fleet_import) -> set[tuple[int, str]]:
    return {(error["line"], error["field"]) for error in fleet_import.errors}


# -- Checking (dry run) --------------------------------------------------------------------------------------------


def test_dry_run_reports_every_bad_line_by_line_and_column_and_writes_nothing(
    provider_admin, customer, other_customer, site, model
):
    taken = AssetFactory(customer=other_customer, asset_model=model, serial_number="THEIRS-1")
    fleet_import = upload(
        provider_admin,
        [
            line(serial_number="OK-1"),  # line 2
            line(serial_number="A-3", model="IM C9999"),  # 3: unknown model
            line(serial_number="A-4", install_date="01/04/2024"),  # 4: bad date
            line(serial_number="A-5", acquisition_cost="-1"),  # 5: negative cost
            line(serial_number="A-6", site="Osaka Branch"),  # 6: unknown site
            line(serial_number="OK-1"),  # 7: repeats line 2
            line(serial_number="THEIRS-1"),  # 8: another customer's asset
        ],
    )

    assert fleet_import.status == FleetImportStatus.FAILED
    assert located(fleet_import) == {
        (3, "model"),
        (4, "install_date"),
        (5, "acquisition_cost"),
        (6, "site"),
        (7, "serial_number"),
        (8, "serial_number"),
    }
    messages = {error["line"]: error["message"] for error in fleet_import.errors}
    assert messages[7] == str(imports.SERIAL_REPEATED % {"line": 2})
    assert messages[8] == str(imports.SERIAL_OF_OTHER_CUSTOMER)
    assert list(Asset.objects.all()) == [taken]
    taken.refresh_from_db()
    assert taken.customer == other_customer
    assert not AssetEvent.objects.exists()


def test_header_problems_are_reported_once_at_line_one(provider_admin, customer, site, model):
    columns = [name for name in IMPORT_COLUMNS if name != "model"] + ["colour"]
    content = csv_text([line(serial_number=f"S-{n}") for n in range(5)], columns=columns)

    fleet_import = fleet_import_create(by=provider_admin, filename="fleet.csv", content=content)

    assert fleet_import.errors == [
        {"line": 1, "field": "colour", "message": str(imports.COLUMN_UNKNOWN)},
        {"line": 1, "field": "model", "message": str(imports.COLUMN_MISSING)},
    ]
    assert fleet_import.total_rows == 5


def test_dry_run_counts_what_applying_would_do_without_writing(provider_admin, customer, site, model):
    existing = AssetFactory(customer=customer, site=site, asset_model=model, serial_number="OLD-1")

    fleet_import = upload(
        provider_admin, [line(serial_number="OLD-1", location_note="Lobby"), line(serial_number="NEW-1")]
    )

    assert fleet_import.status == FleetImportStatus.PENDING
    assert (fleet_import.created_count, fleet_import.updated_count, fleet_import.unchanged_count) == (1, 1, 0)
    assert Asset.objects.count() == 1
    existing.refresh_from_db()
    assert existing.location_note != "Lobby"


def test_file_for_one_customer_needs_no_customer_code_column(provider_admin, customer, site, model):
    columns = [name for name in IMPORT_COLUMNS if name != "customer_code"]
    content = csv_text([line()], columns=columns)

    fleet_import = fleet_import_create(by=provider_admin, filename="fleet.csv", content=content, customer=customer)
    fleet_import_start(fleet_import=fleet_import, by=provider_admin)

    assert Asset.objects.get(serial_number="NEW-0001").customer == customer


def test_provider_admin_cannot_import_into_a_customer_of_another_provider(provider_admin, customer, site, model):
    other_provider = ProviderFactory(code="other-provider", name="Other Provider KK")
    foreign = CustomerFactory(provider=other_provider, code="foreign")
    SiteFactory(customer=foreign, name="Tokyo HQ")

    fleet_import = upload(provider_admin, [line(customer_code="foreign")])

    assert fleet_import.errors == [{"line": 2, "field": "customer_code", "message": str(imports.CUSTOMER_UNKNOWN)}]
    assert not Asset.objects.exists()


def test_shift_jis_file_from_excel_is_read(client, provider_admin, customer, model):
    SiteFactory(customer=customer, name="東京本社")
    data = csv_text([line(site="東京本社", location_note="3階 コピー室")]).encode("cp932")
    client.force_login(provider_admin)

    response = client.post(reverse("assets:import"), {"file": SimpleUploadedFile("fleet.csv", data), "dry_run": "on"})

    fleet_import = FleetImport.objects.get()
    assert response.status_code == 302
    assert fleet_import.encoding == "cp932"
    assert fleet_import.status == FleetImportStatus.PENDING


# -- Applying ------------------------------------------------------------------------------------------------------


def test_apply_creates_and_updates_assets_and_records_their_history(provider_admin, customer, site, model):
    OrganisationSettings.objects.filter(organisation=customer).update(default_expected_life_months=84)
    annex = SiteFactory(customer=customer, name="Annex")
    existing = AssetFactory(customer=customer, site=site, asset_model=model, serial_number="OLD-1")
    fleet_import = upload(
        provider_admin,
        [
            line(
                serial_number="OLD-1",
                site="Annex",
                status="in_repair",
                ownership="full_maintenance_lease",
                install_date="",
                acquisition_cost="1200.00",
            ),
            line(serial_number="NEW-1", acquisition_cost="", install_date=""),
        ],
    )

    fleet_import = fleet_import_start(fleet_import=fleet_import, by=provider_admin)

    assert fleet_import.status == FleetImportStatus.DONE
    assert (fleet_import.created_count, fleet_import.updated_count, fleet_import.processed_rows) == (1, 1, 2)
    existing.refresh_from_db()
    assert (existing.site, existing.status, existing.location_note) == (annex, AssetStatus.IN_REPAIR, "2F copy room")
    assert (existing.install_date, existing.acquisition_cost) == (None, Decimal("1200"))
    created = Asset.objects.get(serial_number="NEW-1")
    assert created.manufacturer == created.asset_model.manufacturer == model.manufacturer
    assert (created.ownership, created.expected_life_months) == (Ownership.RENTAL, 84)
    assert (created.acquisition_cost, created.install_date, created.currency) == (None, None, "JPY")
    registered = AssetEvent.objects.get(asset=created)
    assert (registered.kind, registered.by, registered.to_site) == (AssetEventKind.REGISTERED, provider_admin, site)
    imported = AssetEvent.objects.get(asset=existing)
    assert (imported.kind, imported.by) == (AssetEventKind.IMPORTED, provider_admin)
    assert (imported.from_site, imported.to_site) == (site, annex)
    assert (imported.from_status, imported.to_status) == (AssetStatus.ACTIVE, AssetStatus.IN_REPAIR)


def test_apply_is_all_or_nothing_when_the_database_refuses_a_batch(provider_admin, customer, site, model, monkeypatch):
    existing = AssetFactory(customer=customer, site=site, asset_model=model, serial_number="OLD-1")
    fleet_import = upload(
        provider_admin,
        [line(serial_number="OLD-1", location_note="Moved")] + [line(serial_number=f"NEW-{n}") for n in range(3)],
    )
    monkeypatch.setattr(imports, "WRITE_BATCH_SIZE", 2)
    original = AssetEvent.objects.bulk_create
    calls = []

    def refuse_second_batch(objs, *args, **kwargs):
        calls.append(len(objs))
        if len(calls) == 2:
            raise IntegrityError("assets_asset_unique_serial")
        return original(objs, *args, **kwargs)

    monkeypatch.setattr(AssetEvent.objects, "bulk_create", refuse_second_batch)

    with pytest.raises(imports.ValidationError):
        fleet_import_start(fleet_import=fleet_import, by=provider_admin)

    assert calls == [2, 2]  # the first batch was written before the second failed
    assert list(Asset.objects.all()) == [existing]
    existing.refresh_from_db()
    assert existing.location_note != "Moved"
    assert not AssetEvent.objects.exists()
    fleet_import.refresh_from_db()
    assert fleet_import.status == FleetImportStatus.FAILED
    assert fleet_import.errors[0]["message"] == str(imports.IMPORT_WRITE_FAILED)


def test_apply_checks_again_and_writes_nothing_when_data_changed_since_the_dry_run(
    provider_admin, customer, other_customer, site, model
):
    fleet_import = upload(provider_admin, [line(serial_number="NEW-1"), line(serial_number="NEW-2")])
    assert fleet_import.status == FleetImportStatus.PENDING
    AssetFactory(customer=other_customer, asset_model=model, serial_number="NEW-2")

    with pytest.raises(imports.ValidationError):
        fleet_import_start(fleet_import=fleet_import, by=provider_admin)

    fleet_import.refresh_from_db()
    assert fleet_import.status == FleetImportStatus.FAILED
    assert located(fleet_import) == {(3, "serial_number")}
    assert not Asset.objects.filter(serial_number="NEW-1").exists()


def test_large_file_is_applied_by_the_task_with_progress(
    provider_admin, customer, site, model, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.FLEET_IMPORT_ASYNC_ROWS = 3
    monkeypatch.setattr(imports, "WRITE_BATCH_SIZE", 2)
    progress = []
    original = imports.ProgressWriter.__call__

    def record(self, processed_rows):
        progress.append(processed_rows)
        original(self, processed_rows)

    monkeypatch.setattr(imports.ProgressWriter, "__call__", record)
    fleet_import = upload(provider_admin, [line(serial_number=f"NEW-{n}") for n in range(5)])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        fleet_import = fleet_import_start(fleet_import=fleet_import, by=provider_admin)
    assert fleet_import.status == FleetImportStatus.RUNNING
    assert not Asset.objects.exists()
    for callback in callbacks:
        callback()

    fleet_import.refresh_from_db()
    assert fleet_import.status == FleetImportStatus.DONE
    assert progress == [2, 4]
    assert (fleet_import.processed_rows, fleet_import.created_count) == (5, 5)
    assert Asset.objects.count() == 5


def test_task_applies_an_import_only_once(provider_admin, customer, site, model):
    fleet_import = upload(provider_admin, [line(serial_number="NEW-1")])
    FleetImport.objects.filter(pk=fleet_import.pk).update(applied_by=provider_admin)

    fleet_import_run_task(fleet_import.pk)
    fleet_import_run_task(fleet_import.pk)

    assert Asset.objects.count() == 1
    assert AssetEvent.objects.count() == 1
    assert FleetImport.objects.get(pk=fleet_import.pk).status == FleetImportStatus.DONE


def test_task_leaves_a_failed_import_alone(provider_admin, customer, site, model):
    fleet_import = upload(provider_admin, [line(model="IM C9999")])

    fleet_import_run_task(fleet_import.pk)

    assert FleetImport.objects.get(pk=fleet_import.pk).status == FleetImportStatus.FAILED
    assert not Asset.objects.exists()


def _queries(callable_) -> int:
    with CaptureQueriesContext(connection) as captured:
        callable_()
    return len(captured)


def _fleet_file(customer, site, model, size: int, prefix: str) -> str:
    for n in range(size // 2):
        AssetFactory(customer=customer, site=site, asset_model=model, serial_number=f"{prefix}-{n}")
    return csv_text([line(serial_number=f"{prefix}-{n}", location_note="Lobby") for n in range(size)])


def test_checking_and_applying_take_the_same_number_of_queries_for_5_and_50_rows(provider_admin, customer, site, model):
    counts = {}
    for size in (5, 50):
        content = _fleet_file(customer, site, model, size, prefix=f"Q{size}")
        fleet_import = FleetImport.objects.create(
            provider=provider_admin.membership.organisation, content=content, created_by=provider_admin
        )
        fresh = FleetImport.objects.get(pk=fleet_import.pk)
        check = _queries(lambda fresh=fresh: imports.fleet_import_validate(fleet_import=fresh))
        assert fresh.status == FleetImportStatus.PENDING
        apply = _queries(lambda fresh=fresh: imports.fleet_import_apply(fleet_import=fresh))
        assert (fresh.created_count, fresh.updated_count) == (size - size // 2, size // 2)
        counts[size] = (check, apply)

    assert counts[5] == counts[50]


# -- Pages ---------------------------------------------------------------------------------------------------------


def test_customer_admin_gets_404_on_the_import_pages(client, customer_admin, provider_admin, customer, site, model):
    fleet_import = upload(provider_admin, [line()])
    client.force_login(customer_admin)

    for name, args in (
        ("assets:import", []),
        ("assets:import_template", []),
        ("assets:import_export", []),
        ("assets:import_detail", [fleet_import.pk]),
        ("assets:import_errors_csv", [fleet_import.pk]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 404, name
    assert client.post(reverse("assets:import_apply", args=[fleet_import.pk])).status_code == 404
    assert not Asset.objects.exists()


def test_admin_of_another_provider_cannot_see_the_import(client, provider_admin, customer, site, model, make_member):
    fleet_import = upload(provider_admin, [line()])
    stranger = make_member(ProviderFactory(code="other-provider", name="Other Provider KK"), Role.PROVIDER_ADMIN)
    client.force_login(stranger)

    assert client.get(reverse("assets:import_detail", args=[fleet_import.pk])).status_code == 404
    assert client.post(reverse("assets:import_apply", args=[fleet_import.pk])).status_code == 404


def test_navigation_links_the_import_page_for_provider_admins(client, provider_admin):
    client.force_login(provider_admin)

    response = client.get(reverse("assets:asset_list"))

    assert reverse("assets:import") in response.text


def test_dry_run_upload_shows_the_result_and_the_confirm_step_applies_it(client, provider_admin, customer, site, model):
    client.force_login(provider_admin)
    data = csv_text([line(), line(serial_number="BAD", install_date="2024-13-01")]).encode()

    response = client.post(reverse("assets:import"), {"file": SimpleUploadedFile("fleet.csv", data), "dry_run": "on"})

    fleet_import = FleetImport.objects.get()
    page = client.get(response.url)
    assert 'data-label="Line">3<' in page.text
    assert "install_date" in page.text
    assert str(imports.DATE_INVALID) in page.text
    assert "Apply import" not in page.text
    assert not Asset.objects.exists()

    data = csv_text([line()]).encode()
    response = client.post(reverse("assets:import"), {"file": SimpleUploadedFile("fleet.csv", data), "dry_run": "on"})
    assert "Apply import" in client.get(response.url).text
    assert not Asset.objects.exists()
    fleet_import = FleetImport.objects.latest("pk")
    client.post(reverse("assets:import_apply", args=[fleet_import.pk]))
    fleet_import.refresh_from_db()
    assert fleet_import.status == FleetImportStatus.DONE
    assert Asset.objects.get().serial_number == "NEW-0001"


def test_upload_without_dry_run_applies_a_file_without_errors(client, provider_admin, customer, site, model):
    client.force_login(provider_admin)
    data = csv_text([line()]).encode("utf-8-sig")

    client.post(reverse("assets:import"), {"file": SimpleUploadedFile("fleet.csv", data)})

    assert FleetImport.objects.get().status == FleetImportStatus.DONE
    assert Asset.objects.get().serial_number == "NEW-0001"


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("fleet.xlsx", b"serial_number\nA\n", imports.FILE_NOT_CSV),
        ("fleet.csv", b"PK\x03\x04\x14\x00\x06\x00binary", imports.FILE_NOT_TEXT),
        ("fleet.csv", b"serial_number\n\x81 \n", imports.FILE_UNDECODABLE),
    ],
)
def test_upload_of_a_file_that_is_no_csv_text_is_a_form_error(client, provider_admin, filename, data, message):
    client.force_login(provider_admin)

    response = client.post(reverse("assets:import"), {"file": SimpleUploadedFile(filename, data), "dry_run": "on"})

    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [str(message)]
    assert not FleetImport.objects.exists()


def test_upload_larger_than_the_limit_is_a_form_error(client, provider_admin, monkeypatch):
    monkeypatch.setattr("assets.forms.FLEET_IMPORT_MAX_BYTES", 10)
    client.force_login(provider_admin)

    response = client.post(reverse("assets:import"), {"file": SimpleUploadedFile("fleet.csv", b"x" * 11)})

    assert response.context["form"].errors["file"] == [str(imports.FILE_TOO_LARGE)]


def test_import_page_polls_its_status_only_while_running(client, provider_admin, customer, site, model):
    fleet_import = upload(provider_admin, [line()])
    FleetImport.objects.filter(pk=fleet_import.pk).update(status=FleetImportStatus.RUNNING, processed_rows=0)
    client.force_login(provider_admin)
    url = reverse("assets:import_detail", args=[fleet_import.pk])

    running = client.get(url)
    partial = client.get(url, HTTP_HX_REQUEST="true")
    FleetImport.objects.filter(pk=fleet_import.pk).update(status=FleetImportStatus.DONE, processed_rows=1)
    finished = client.get(url, HTTP_HX_REQUEST="true")

    assert 'hx-trigger="every 2s"' in running.text
    assert partial.text.lstrip().startswith('<div id="import-status" hx-get=')
    assert "<progress" in partial.text
    assert "<html" not in partial.text
    assert "hx-trigger" not in finished.text


def test_errors_export_as_csv(client, provider_admin, customer, site, model):
    fleet_import = upload(provider_admin, [line(model="=HYPERLINK()")])
    client.force_login(provider_admin)

    response = client.get(reverse("assets:import_errors_csv", args=[fleet_import.pk]))

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [["line", "field", "message"], ["2", "model", str(imports.MODEL_UNKNOWN)]]


# -- Export round trip ---------------------------------------------------------------------------------------------


def test_template_header_is_exactly_the_importer_columns(client, provider_admin):
    client.force_login(provider_admin)

    response = client.get(reverse("assets:import_template"))

    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.splitlines() == [",".join(IMPORT_COLUMNS)]


def test_exported_assets_import_again_as_updates_and_create_nothing(client, provider_admin, customer, site, model):
    AssetFactory(customer=customer, site=site, asset_model=model, serial_number="RT-1", location_note="=SUM(1)")
    AssetFactory(
        customer=customer,
        site=site,
        asset_model=model,
        serial_number="RT-2",
        acquisition_cost=None,
        install_date=None,
        expected_life_months=None,
        asset_tag="",
    )
    AssetFactory(customer=customer, site=site, asset_model=model, serial_number="RT-3", install_date=date(2020, 2, 29))
    before = {asset.pk: asset for asset in Asset.objects.all()}
    client.force_login(provider_admin)

    exported = b"".join(client.get(reverse("assets:import_export")).streaming_content).decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(exported)))
    assert [row["serial_number"] for row in lines] == ["RT-1", "RT-2", "RT-3"]
    lines[2]["location_note"] = "Moved to 4F"
    edited = csv_text(lines).encode("utf-8-sig")
    client.post(reverse("assets:import"), {"file": SimpleUploadedFile("assets.csv", edited)})

    fleet_import = FleetImport.objects.get()
    assert fleet_import.errors == []
    assert (fleet_import.created_count, fleet_import.updated_count, fleet_import.unchanged_count) == (0, 1, 2)
    after = {asset.pk: asset for asset in Asset.objects.all()}
    assert after.keys() == before.keys()
    for pk, asset in after.items():
        old = before[pk]
        assert (
            (asset.location_note == "Moved to 4F")
            if asset.serial_number == "RT-3"
            else (asset.location_note == old.location_note)
        )
        assert (asset.acquisition_cost, asset.install_date, asset.expected_life_months, asset.asset_tag) == (
            old.acquisition_cost,
            old.install_date,
            old.expected_life_months,
            old.asset_tag,
        )
    assert Asset.objects.get(serial_number="RT-1").acquisition_cost == Decimal("850000")


def test_applying_a_done_import_again_writes_nothing(provider_admin, customer, site, model):
    fleet_import = upload(provider_admin, [line(serial_number="NEW-1")])
    fleet_import_start(fleet_import=fleet_import, by=provider_admin)

    again = imports.fleet_import_apply(fleet_import=FleetImport.objects.get(pk=fleet_import.pk))

    assert again.status == FleetImportStatus.DONE
    assert (Asset.objects.count(), AssetEvent.objects.count()) == (1, 1)
