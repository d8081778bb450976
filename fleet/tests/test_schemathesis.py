"""The whole API fuzzed against its own OpenAPI schema: no 5xx, and every response conforms to the schema.

Users' operations run with a provider admin's token; the ingest endpoint with a collector key of one customer,
whose items are pointed at that customer's assets so that batches are stored and evaluated, not only rejected.
"""

import datetime
from decimal import Decimal

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from accounts.choices import Role
from accounts.models import Organisation
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets import services
from assets.choices import AssetStatus
from assets.models import Asset, AssetModel, Manufacturer, PartType, Site
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory, SiteFactory
from contracts import billing
from contracts import services as contracts
from contracts.choices import ComponentKind, ContractStatus
from contracts.models import BillingRun, Contract, Invoice
from fleet.wsgi import application
from maintenance import approvals, plans, supplies
from maintenance.choices import (
    ChecklistPurpose,
    ErasureMethod,
    ForecastKind,
    ForecastMethod,
    InspectionResult,
    StatutoryInspection,
    SupplyOrderSource,
    WorkOrderStatus,
)
from maintenance.inspections import PreUseAnswer, pre_use_inspection_submit
from maintenance.models import (
    BusinessCalendar,
    ChecklistTemplate,
    ChecklistTemplateItem,
    ErasureCertificate,
    InspectionRecord,
    MaintenanceSettings,
    PreUseInspection,
    PreventivePlan,
    ReplacementForecast,
    ServiceLevel,
    SupplyOrder,
    WorkOrder,
)
from maintenance.tests.factories import ServiceLevelFactory, WorkOrderFactory
from telemetry import keys
from telemetry.choices import AlertRuleKind, Meter, Severity
from telemetry.models import Alert, AlertRule, CollectorKey, Reading
from telemetry.tests.alert_factories import AlertFactory, AlertOccurrenceFactory, AlertRuleFactory
from telemetry.tests.reading_factories import DiagnosticEventFactory, ReadingFactory

SEED = 20240601
MAX_EXAMPLES = 12

config = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"deterministic": True, "database": "none", "max-examples": MAX_EXAMPLES},
        # The coverage phase walks every boundary of every parameter and has no example bound: positive values
        # only keep the run short. Schema-violating input comes from the fuzzing phase.
        "phases": {"coverage": {"generation": {"mode": "positive"}}},
        # A schema cannot say which ids exist: a schema-valid id of no visible row is rightly a 400 or 404.
        # DRF is lenient where the schema is strict (a number for a decimal string, an unparsable page_size
        # falls back to the default), so schema-violating input may rightly succeed.
        "checks": {"positive_data_acceptance": {"enabled": False}, "negative_data_rejection": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application, config=config)

INGEST_PATH = "/api/v1/telemetry/"
# Query parameters that name a row, with the collection of its ids: filters and the usage query reach real rows.
QUERY_IDS = {
    "asset": "assets",
    "customer": "organisations",
    "site": "sites",
    "rule": "alert-rules",
    "assigned_to": "technicians",
    "part_type": "part-types",
    "run": "billing-runs",
}
# Path parameters of a row nested in the one that "id" names, with the collection of each parent's child ids.
CHILD_IDS = {"coverage_id": "contract-coverage"}
# Instants of the usage query and of ingest items, and the year of the registry's readings.
INSTANT_FIELDS = ("start", "end", "taken_at", "occurred_at")
READINGS_YEAR = 2024


def _existing(value, choices: list[int]):
    """A generated non-negative integer (or digit string) mapped onto ``choices``; anything else unchanged."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if choices and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return choices[value % len(choices)]
    return value


def _near_readings(value):
    """A generated instant moved into the year of the registry's readings, unless its year leaves 3 divided by 4.

    Generated instants lie anywhere between years 1 and 9999, where no reading is: usage would never be computed
    and every ingest item would be rejected as out of range. A quarter keep their year, so that out-of-range
    instants are still sent; text that is no instant stays as generated.
    """
    if not isinstance(value, str):
        return value
    try:
        instant = datetime.datetime.fromisoformat(value)
    except ValueError:
        return value
    if instant.year % 4 == 3:
        return value
    return instant.replace(year=READINGS_YEAR).isoformat()


def _ordered_period(query: dict) -> None:
    """A usage period whose instants came in the wrong order is turned round; one instant for both (what the
    coverage phase sends) becomes a month from it."""
    try:
        start = datetime.datetime.fromisoformat(query["start"])
        end = datetime.datetime.fromisoformat(query["end"])
        order = (end > start) - (end < start)
    except (KeyError, TypeError, ValueError):  # missing, not text, not an instant, or naive against aware
        return
    if order < 0:
        query["start"], query["end"] = query["end"], query["start"]
    elif order == 0:
        query["end"] = (start + datetime.timedelta(days=31)).isoformat()


def reach_existing_row(case, ids: dict[str, list[int] | dict[int, list[int]]]) -> None:
    """Point generated non-negative integer ids at existing rows, so writes and actions run on real objects.

    Path ids, the nested path ids of ``CHILD_IDS`` (onto the rows of the parent that the mapped ``id`` names), the
    query parameters of ``QUERY_IDS`` and the assets that ingest items name are mapped (an item naming none gets
    one), and instants are moved near the readings (``_near_readings``). Every phase (examples, coverage, fuzzing)
    goes through here. Negative and malformed ids stay as generated: they exercise the 404 and rejection paths.
    """
    collection = case.path.removeprefix("/api/v1/").split("/")[0]
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = _existing(case.path_parameters["id"], ids.get(collection, []))
        for name, target in CHILD_IDS.items():
            if name in case.path_parameters:
                children = ids[target].get(case.path_parameters["id"], [])
                case.path_parameters[name] = _existing(case.path_parameters[name], children)
    if isinstance(case.query, dict):
        for name, target in QUERY_IDS.items():
            if name in case.query:
                case.query[name] = _existing(case.query[name], ids[target])
        for name in INSTANT_FIELDS:
            if name in case.query:
                case.query[name] = _near_readings(case.query[name])
        _ordered_period(case.query)
    if case.path == INGEST_PATH and isinstance(case.body, list):
        for item in case.body:
            if not isinstance(item, dict):
                continue
            if "asset" in item:
                item["asset"] = _existing(item["asset"], ids["ingest-assets"])
            elif "serial" not in item:  # named by nothing: given an asset, so that the other fields are checked
                item["asset"] = ids["ingest-assets"][0]
            for name in INSTANT_FIELDS:
                if name in item:
                    item[name] = _near_readings(item[name])


@pytest.fixture
def wsgi_keeps_test_connection():
    """Calls through the WSGI application keep the test's database connection, as Django's test client does.

    After each request Django closes a connection that is inside a transaction; the test's own transaction
    must survive every generated request, so the signal handler is off for the duration of the test.
    Throttle counts of the token endpoint live in the cache, so it is emptied afterwards.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
    cache.clear()


def _telemetry(provider, customers: list[Organisation]) -> None:
    """Readings, events, alert rules (for every customer, for one), alerts with occurrences, collector keys."""
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    for number, asset in enumerate(Asset.objects.order_by("pk")):
        for day in range(0, 366, 30):  # a reading a month through the readings year
            ReadingFactory(
                asset=asset, taken_at=start + datetime.timedelta(days=day), value=Decimal(1000 + day * 40 * number)
            )
        DiagnosticEventFactory(asset=asset)
    # A meter replaced: the counter goes down.
    ReadingFactory(
        asset=Asset.objects.order_by("pk").first(), taken_at=start + datetime.timedelta(days=40), value=Decimal(5)
    )
    supply = AlertRuleFactory(provider=provider)
    events = AlertRuleFactory(
        provider=provider,
        customer=customers[0],
        kind=AlertRuleKind.EVENT_CODE,
        supply="",
        threshold=None,
        code_pattern="SC5*",
        severity=Severity.ERROR,
    )
    AlertRuleFactory(provider=provider, kind=AlertRuleKind.SILENT, supply="", threshold=None, silent_hours=24)
    for rule, asset in ((supply, Asset.objects.order_by("pk").last()), (events, customers[0].assets.first())):
        alert = AlertFactory(rule=rule, asset=asset, condition="SC542" if rule == events else "toner_black")
        AlertOccurrenceFactory.create_batch(2, alert=alert)
    for customer in customers:
        keys.collector_key_create(customer=customer, name=f"{customer.name} collector")


def _maintenance(provider, customers: list[Organisation], admin, technician) -> None:
    """Work orders (assigned ones, one waiting for approval, a completed one), service levels and calendars, plans,
    statutory inspections, an erasure certificate, a replacement forecast and a pre-use inspection."""
    calendar = BusinessCalendar.objects.create(provider=provider, name="Fuzz hours", holiday_country="JP")
    ServiceLevelFactory(provider=provider, customer=customers[0], calendar=calendar)
    MaintenanceSettings.objects.create(organisation=provider, not_to_exceed=Decimal("50000"))
    assets = list(Asset.objects.filter(customer__in=customers).order_by("pk")[:4])
    orders = [
        WorkOrderFactory(asset=asset, assigned_to=technician, status=WorkOrderStatus.ASSIGNED) for asset in assets
    ]
    approvals.work_order_estimate(work_order=orders[0], amount=Decimal("80000"), by=admin, notify=False)
    WorkOrderFactory(
        asset=assets[1], assigned_to=technician, status=WorkOrderStatus.COMPLETED, completed_at=timezone.now()
    )
    ErasureCertificate.objects.create(
        number="EC-FUZZ-1",
        asset=assets[2],
        method=ErasureMethod.OVERWRITE,
        performed_at=timezone.now(),
        technician=technician,
        storage_description="HDD 320 GB",
    )
    PreventivePlan.objects.create(
        provider=provider,
        name="Fuzz quarterly",
        asset_model=assets[0].asset_model,
        interval_days=90,
        meter="total_pages",
        interval_units=100_000,
        starts_on=datetime.date(2024, 1, 1),
    )
    plans.inspection_record_create(
        asset=assets[0],
        kind=StatutoryInspection.ANNUAL_SPECIFIC,
        inspected_on=datetime.date(2024, 1, 10),
        inspector=None,
        inspector_name="Fuzz inspector",
        result=InspectionResult.PASSED,
        by=None,
    )
    # A toner forecast to act on tomorrow: inside the list's default horizon.
    forecast_toner = PartTypeFactory(code="FUZZ-FC-TNR-K")
    forecast_toner.asset_models.add(assets[0].asset_model)
    today = timezone.localdate()
    ReplacementForecast.objects.create(
        asset=assets[0],
        part_type=forecast_toner,
        kind=ForecastKind.CONSUMABLE,
        method=ForecastMethod.LEVEL_TREND,
        supply="toner_black",
        segment_started_at=timezone.now() - datetime.timedelta(days=20),
        level_percent=Decimal("12.0"),
        rate_per_day=Decimal("1.5000"),
        data_points=20,
        predicted_on=today + datetime.timedelta(days=8),
        earliest_on=today + datetime.timedelta(days=6),
        latest_on=today + datetime.timedelta(days=12),
        act_by=today + datetime.timedelta(days=1),
        computed_at=timezone.now(),
    )
    checklist = ChecklistTemplate.objects.create(
        provider=provider, name="Fuzz pre-use", purpose=ChecklistPurpose.PRE_USE
    )
    item = ChecklistTemplateItem.objects.create(template=checklist, text="Brakes")
    pre_use_inspection_submit(
        asset=Asset.objects.filter(customer__in=customers, status=AssetStatus.ACTIVE).first(),
        operator=admin,
        answers=[PreUseAnswer(item_id=item.pk, ok=True)],
    )


def _supplies(customers: list[Organisation], admin) -> None:
    """Supply orders: a toner that fits two assets, one order requested and one shipped."""
    assets = list(Asset.objects.filter(customer__in=customers, status=AssetStatus.ACTIVE).order_by("pk")[:2])
    toner = PartTypeFactory(code="FUZZ-TNR-K")
    toner.asset_models.add(*{asset.asset_model_id for asset in assets})
    for number, asset in enumerate(assets):
        order = supplies.supply_order_create(asset=asset, part_type=toner, source=SupplyOrderSource.FORECAST)
        if number:
            supplies.supply_order_ship(order=order, by=admin, tracking="FUZZ-1")


def _contracts(customers: list[Organisation], admin) -> None:
    """Contracts: for each customer an active one with every kind of price component (a metered one with tiers),
    its assets covered (one coverage ended) and an amendment, and a draft one without prices covering one asset
    (every contract has coverage, which ``CHILD_IDS`` reaches)."""
    start = datetime.date(2024, 1, 1)
    for customer in customers:
        contract = contracts.contract_create(
            customer=customer,
            title=f"{customer.name} managed print",
            start_date=start,
            baseline_monthly_cost=Decimal("120000"),
            by=admin,
        )
        for kind, fields in (
            (ComponentKind.FIXED_FEE, {"amount": Decimal("30000")}),
            (ComponentKind.ASSET_FEE, {"amount": Decimal("1500")}),
            (ComponentKind.SAVING_SHARE, {"share_percent": Decimal("20")}),
            (ComponentKind.ONE_OFF, {"amount": Decimal("50000"), "charge_date": start}),
        ):
            contracts.component_add(contract=contract, kind=kind, name=f"Fuzz {kind}", by=admin, **fields)
        contracts.component_add(
            contract=contract,
            kind=ComponentKind.METER_CHARGE,
            name="Fuzz colour pages",
            meter=Meter.COLOUR_PAGES,
            amount=Decimal("8.5"),
            allowance=Decimal("1000"),
            tiers=[(Decimal("0"), Decimal("8.5")), (Decimal("5000"), Decimal("6"))],
            by=admin,
        )
        assets = list(customer.assets.order_by("pk"))
        coverages = [
            contracts.coverage_add(contract=contract, asset=asset, start_date=start, by=admin) for asset in assets
        ]
        contracts.coverage_end(coverage=coverages[-1], end_date=datetime.date(2024, 6, 30), by=admin)
        contracts.contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=admin)
        contracts.contract_amend(
            contract=contract,
            effective_date=datetime.date(2024, 7, 1),
            description="Fuzz: a second asset fee",
            adds=[{"kind": ComponentKind.ASSET_FEE, "name": "Fuzz asset fee 2", "amount": Decimal("500")}],
            by=admin,
        )
        draft = contracts.contract_create(customer=customer, title=f"{customer.name} draft", start_date=start, by=admin)
        contracts.coverage_add(contract=draft, asset=assets[0], start_date=start, by=admin)


def _billing(provider, customers: list[Organisation], admin) -> None:
    """Billing: the run of March 2024 drafts both customers; the first customer's invoice is finalised and a draft
    credit note corrects it, the second's stays a draft in review (the run is in review: it may be finalised)."""
    run = billing.billing_run_start(provider=provider, year=2024, month=3, by=admin)
    billing.billing_run_draft_batch(run_id=run.pk, customer_ids=[customer.pk for customer in customers])
    first = Invoice.objects.filter(run=run, customer=customers[0]).order_by("pk").first()
    invoice = billing.finalise_invoice(invoice_id=first.pk, by=admin, today=datetime.date(2024, 4, 2), deliver=False)
    line = invoice.lines.filter(amount__gte=Decimal(1000)).order_by("position").first()
    billing.credit_note_create(invoice=invoice, lines={line.pk: Decimal(1000)}, reason="Fuzz goodwill", by=admin)


@pytest.fixture
def registry(db, wsgi_keeps_test_connection, settings, tmp_path):
    """A populated registry, real credentials (a provider admin's token, a collector key) and the ids of its rows."""
    provider = ProviderFactory()
    admin = member(provider, Role.PROVIDER_ADMIN, email="fuzz-admin@provider.example")
    customers = []
    for name in ("Fuzz Office KK", "Fuzz Logistics KK"):
        customer = CustomerFactory(provider=provider, name=name)
        customers.append(customer)
        for _ in range(2):
            site = SiteFactory(customer=customer)
            AssetFactory.create_batch(2, customer=customer, site=site)
    # History written by system callers (imports, commands) has no author.
    services.asset_change_status(asset=Asset.objects.first(), status=AssetStatus.STANDBY, by=None)
    part_type = PartTypeFactory()
    part_type.asset_models.add(AssetModelFactory())
    _telemetry(provider, customers)
    technician = member(provider, Role.TECHNICIAN, email="fuzz-technician@provider.example")
    _maintenance(provider, customers, admin, technician)
    _supplies(customers, admin)
    _contracts(customers, admin)
    _billing(provider, customers, admin)
    settings.MEDIA_ROOT = tmp_path  # invoice documents rendered on demand
    # The ingest key is left out of the collector-key ids, so that no generated revoke locks the ingest out.
    ingest_key, plaintext = keys.collector_key_create(customer=customers[0], name="Fuzz ingest")
    token = Token.objects.create(user=admin)
    return {
        "headers": {"Authorization": f"Token {token.key}"},
        "ingest_headers": {"Authorization": f"{keys.AUTH_KEYWORD} {plaintext}"},
        "ids": {
            "assets": list(Asset.objects.values_list("pk", flat=True)),
            "sites": list(Site.objects.values_list("pk", flat=True)),
            "organisations": list(Organisation.objects.values_list("pk", flat=True)),
            "manufacturers": list(Manufacturer.objects.values_list("pk", flat=True)),
            "asset-models": list(AssetModel.objects.values_list("pk", flat=True)),
            "part-types": list(PartType.objects.values_list("pk", flat=True)),
            "readings": list(Reading.objects.values_list("pk", flat=True)),
            "alerts": list(Alert.objects.values_list("pk", flat=True)),
            "alert-rules": list(AlertRule.objects.values_list("pk", flat=True)),
            "collector-keys": list(CollectorKey.objects.exclude(pk=ingest_key.pk).values_list("pk", flat=True)),
            "ingest-assets": list(customers[0].assets.values_list("pk", flat=True)),
            "work-orders": list(WorkOrder.objects.values_list("pk", flat=True)),
            "service-levels": list(ServiceLevel.objects.values_list("pk", flat=True)),
            "business-calendars": list(BusinessCalendar.objects.values_list("pk", flat=True)),
            "maintenance-settings": list(Organisation.objects.values_list("pk", flat=True)),
            "preventive-plans": list(PreventivePlan.objects.values_list("pk", flat=True)),
            "inspection-records": list(InspectionRecord.objects.values_list("pk", flat=True)),
            "erasure-certificates": list(ErasureCertificate.objects.values_list("pk", flat=True)),
            "pre-use-inspections": list(PreUseInspection.objects.values_list("pk", flat=True)),
            "supply-orders": list(SupplyOrder.objects.values_list("pk", flat=True)),
            "replacement-forecasts": list(ReplacementForecast.objects.values_list("pk", flat=True)),
            "technicians": [technician.pk],
            "contracts": list(Contract.objects.values_list("pk", flat=True)),
            "invoices": list(Invoice.objects.values_list("pk", flat=True)),
            "billing-runs": list(BillingRun.objects.values_list("pk", flat=True)),
            "contract-coverage": {
                contract.pk: [coverage.pk for coverage in contract.coverage.all()]
                for contract in Contract.objects.prefetch_related("coverage")
            },
        },
    }


@pytest.mark.django_db(transaction=False)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case, registry):
    reach_existing_row(case, registry["ids"])
    case.call_and_validate(headers=registry["ingest_headers" if case.path == INGEST_PATH else "headers"])
