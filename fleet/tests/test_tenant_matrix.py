"""Tenant isolation matrix: every API operation and every portal URL that takes an id, probed by outsiders.

World A is the tenant under test: customer "ALPHAMARK" of provider P1, with two sites, an asset with history, its
users, a fleet import of P1 for it, a meter reading, a diagnostic event, an alert rule of its own with an alert and
its occurrence, a collector key, a service level and a business calendar of its own, a preventive plan and a
statutory inspection record, a part installation, an erasure certificate, a pre-use inspection by its operator, a
supply order and a replacement forecast of its asset's toner, a contract (with price components, an amendment and
coverage of its asset), its billing (P1's run of January 2024, the finalised invoice it drafted, a draft credit note
of it, and February's draft invoice), and three work orders assigned to a world A technician of P1: one being worked
on (with a checklist item, a part, a photo and a signature), one whose estimate waits for the customer's approval
(which keeps it from moving on), and one completed (it has a completion report). The probers are everyone who must
not reach it: each role of customer B (same provider), a P1 technician with no work orders (who sees only the work
orders assigned to them), a P1 account manager assigned to customer B only, a provider admin and a service desk
agent of a second provider P2, anonymous callers, and a collector key of customer B (API only: it may use the ingest
endpoint, where naming world A's asset must be rejected, and is anonymous to every other operation).

Every API operation of the OpenAPI schema and every URL pattern with a parameter is listed in a table that says
how it is probed: which object of world A fills the id and what a write sends. A schema operation or URL that
the tables do not list fails ``test_every_api_operation_is_in_the_matrix`` or
``test_every_portal_url_with_a_parameter_is_in_the_matrix``: every later endpoint must join the matrix.

What the matrix asserts (DESIGN.md §3): another tenant's object answers 404, never 403; a list answers 200
without any of world A's rows; a write changes no row; anonymous callers get 401/403 from the API and the
login redirect from the portal; pages that create rows refuse world A's customer and change nothing; reports
name none of world A's people. As a control, P1's provider admin reaches every object, list row and report line
that the probers are refused (for My day, which lists the caller's own assignments, world A's technician does).
The catalogue (manufacturers, asset models, part types) is not tenant-owned: every signed-in user reads it and
only roles with the catalogue capability write it (their writes, which the role table allows, are not probed).
The OpenAPI schema and its viewers are public documentation.
"""

import datetime
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlencode, urlsafe_base64_encode
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.models import Membership, Organisation, User
from accounts.roles import ROLE_POLICIES, Capability
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets import services
from assets.choices import AssetCategory, AssetStatus, FleetImportStatus, Ownership
from assets.models import Asset, AssetModel, FleetImport, Manufacturer, PartType, Site
from assets.tests.factories import AssetFactory, AssetModelFactory, ManufacturerFactory, PartTypeFactory, SiteFactory
from contracts import billing
from contracts import services as contract_services
from contracts.choices import (
    AllowanceScope,
    BillingRunStatus,
    ComponentKind,
    ContractStatus,
    InvoiceKind,
    InvoiceStatus,
    RunItemStatus,
    TaxCategory,
    TierMode,
)
from contracts.models import BillingRun, Contract, ContractAsset, Invoice
from fleet.views import FilteredListView
from maintenance import approvals as maintenance_approvals
from maintenance import plans as maintenance_plans
from maintenance import services as maintenance_services
from maintenance import supplies as maintenance_supplies
from maintenance import work as maintenance_work
from maintenance.choices import (
    ApprovalStatus,
    ChecklistPurpose,
    ErasureMethod,
    ForecastKind,
    ForecastMethod,
    InspectionResult,
    Priority,
    StatutoryInspection,
    SupplyOrderSource,
    WorkOrderKind,
    WorkOrderSource,
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
    PartInstallation,
    PreUseInspection,
    PreventivePlan,
    ReplacementForecast,
    ServiceLevel,
    SiteCalendar,
    SupplyOrder,
    WorkOrder,
    WorkOrderPhoto,
)
from reports.choices import CostCategory, CostSource, CostView
from reports.ledger import build_ledger
from reports.models import AcquisitionSpend, CostEntry, CostRates, KpiSnapshot, ManualCost, NpsResponse, Proposal
from reports.proposals import render_proposal
from reports.snapshots import take_snapshot
from telemetry import alerts, keys
from telemetry.choices import AlertRuleKind, Meter, Severity, Supply
from telemetry.models import Alert, AlertOccurrence, AlertRule, CollectorKey, DiagnosticEvent, Reading

MARKER = "ALPHAMARK"  # in every name of world A, so a leak shows up in any body

# Who probes, and with which role (None: no user). Each must be kept out of world A entirely.
PROBERS: dict[str, Role | None] = {
    "customer_b_admin": Role.CUSTOMER_ADMIN,
    "customer_b_viewer": Role.CUSTOMER_VIEWER,
    "customer_b_operator": Role.CUSTOMER_OPERATOR,
    "technician_unassigned": Role.TECHNICIAN,
    "account_manager_of_b": Role.ACCOUNT_MANAGER,
    "p2_admin": Role.PROVIDER_ADMIN,
    "p2_service_desk": Role.SERVICE_DESK,
    "anonymous": None,
    "collector_key_b": None,
}
# Probers that send a collector key: the ingest endpoint's callers. The portal does not read their header.
COLLECTOR_PROBERS = ("collector_key_b",)
PORTAL_PROBERS = [name for name in PROBERS if name not in COLLECTOR_PROBERS]
READING_AT = datetime.datetime(2024, 1, 15, tzinfo=datetime.UTC)
CONTRACT_START = datetime.date(2024, 1, 1)
COVERAGE_END = datetime.date(2024, 12, 31)


@dataclass
class World:
    """World A (the objects under test), the shared catalogue, and the probers' users and tokens."""

    customer_a: Organisation
    site_a: Site
    site_a2: Site
    asset_a: Asset
    membership_a: Membership
    spare_operator_a: Membership  # a customer A operator who works at no site yet
    fleet_import_a: FleetImport
    manufacturer: Manufacturer
    asset_model: AssetModel
    part_type: PartType
    a_admin: User
    p1_admin: User  # the control: sees all of world A
    reading_a: Reading
    alert_rule_a: AlertRule
    alert_a: Alert
    collector_key_a: CollectorKey
    technician_a: User  # world A's technician: My day's control
    work_order_a: WorkOrder  # assigned and being worked on: moves and work done are probed on it
    approval_work_order_a: WorkOrder  # assigned, its estimate waits for customer A's approval
    completed_work_order_a: WorkOrder  # completed: it has a completion report
    service_level_a: ServiceLevel
    calendar_a: BusinessCalendar
    plan_a: PreventivePlan
    inspection_record_a: InspectionRecord
    photo_a: WorkOrderPhoto
    part_installation_a: PartInstallation
    erasure_certificate_a: ErasureCertificate
    pre_use_item_a: ChecklistTemplateItem
    pre_use_inspection_a: PreUseInspection
    supply_order_a: SupplyOrder  # toner for asset_a, ordered by hand by customer A's admin
    forecast_a: ReplacementForecast  # asset_a's black toner runs out within the lists' default horizon
    contract_a: Contract  # active, with a fixed fee, asset_a covered through 2024 and an amendment adding a fee
    coverage_a: ContractAsset  # contract_a's coverage of asset_a (2024)
    run_a: BillingRun  # P1's run of January 2024: customer A is its only customer (drafted; in review)
    invoice_a: Invoice  # January 2024's invoice, drafted by run_a and finalised (numbered, open receivable)
    credit_note_a: Invoice  # a draft credit note of invoice_a (¥1,000 of its fee)
    draft_invoice_a: Invoice  # February 2024's invoice, a draft in review
    cost_entry_a: CostEntry  # a service-fee entry of January 2024's ledger (built from invoice_a)
    proposal_a: Proposal  # an improvement proposal of January 2024, rendered (ready)
    cost_rates_a: CostRates  # customer A's energy price and downtime cost
    manual_cost_a: ManualCost  # a cost of January 2024 entered by hand on asset_a
    nps_response_a: NpsResponse  # customer A's admin's survey answer of a few days ago
    acquisition_spend_a: AcquisitionSpend  # P1's spend on winning customers in January 2024 (P1's admins only)
    kpi_snapshot_a: KpiSnapshot  # P1's KPI snapshot of January 2024 (P1's admins only)
    # The ids of world A's child rows that fill the second parameter of nested API paths ("{item_id}": pk).
    child_ids: dict[str, int] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    authorizations: dict[str, str] = field(default_factory=dict)  # prober -> Authorization header

    def a_ids(self, collection: str) -> set[int]:
        """World A's ids in an API collection."""
        return {
            "organisations": {self.customer_a.pk},
            "sites": {self.site_a.pk, self.site_a2.pk},
            "assets": {self.asset_a.pk},
            "readings": {self.reading_a.pk},
            "alerts": {self.alert_a.pk},
            "alert-rules": {self.alert_rule_a.pk},
            "collector-keys": {self.collector_key_a.pk},
            "work-orders": {self.work_order_a.pk, self.approval_work_order_a.pk, self.completed_work_order_a.pk},
            # My day: the open orders assigned to world A's technician (a completed one shows only on its day).
            "my-day": {self.work_order_a.pk, self.approval_work_order_a.pk},
            "approvals": {self.approval_work_order_a.pk},
            "service-levels": {self.service_level_a.pk},
            "business-calendars": {self.calendar_a.pk},
            "preventive-plans": {self.plan_a.pk},
            "inspection-records": {self.inspection_record_a.pk},
            "part-installations": {self.part_installation_a.pk},
            "erasure-certificates": {self.erasure_certificate_a.pk},
            "pre-use-inspections": {self.pre_use_inspection_a.pk},
            "supply-orders": {self.supply_order_a.pk},
            "replacement-forecasts": {self.forecast_a.pk},
            "contracts": {self.contract_a.pk},
            "invoices": {self.invoice_a.pk, self.credit_note_a.pk, self.draft_invoice_a.pk},
            "billing-runs": {self.run_a.pk},
            "cost-entries": set(CostEntry.objects.filter(customer=self.customer_a).values_list("pk", flat=True)),
            "proposals": {self.proposal_a.pk},
            "cost-rates": {self.cost_rates_a.pk},
            "manual-costs": {self.manual_cost_a.pk},
            "nps-responses": {self.nps_response_a.pk},
            "acquisition-spend": {self.acquisition_spend_a.pk},
            "kpi-snapshots": {self.kpi_snapshot_a.pk},
        }[collection]


def _png() -> bytes:
    """A small white PNG: a photo or a signature."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 16), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def build_world() -> World:
    p1 = ProviderFactory()
    customer_a = CustomerFactory(provider=p1, name=f"{MARKER} Printing KK", code="alphamark")
    site_a = SiteFactory(customer=customer_a, name=f"{MARKER} HQ")
    site_a2 = SiteFactory(customer=customer_a, name=f"{MARKER} Annex")
    maker = ManufacturerFactory(name="Ricoh")
    model = AssetModelFactory(manufacturer=maker, name="IM C4500", category=AssetCategory.MFP)
    part_type = PartTypeFactory(name="Black toner", code="TNR-K")
    part_type.asset_models.add(model)
    p1_admin = member(p1, Role.PROVIDER_ADMIN, email="admin@p1.example")
    a_admin = member(customer_a, Role.CUSTOMER_ADMIN, email="admin@alphamark.example", last_name=MARKER)
    a_viewer = member(customer_a, Role.CUSTOMER_VIEWER, email="viewer@alphamark.example", last_name=MARKER)
    a_operator = member(customer_a, Role.CUSTOMER_OPERATOR, email="operator@alphamark.example", last_name=MARKER)
    site_a.operators.add(a_operator.membership)
    spare_operator = member(customer_a, Role.CUSTOMER_OPERATOR, email="spare@alphamark.example", last_name=MARKER)
    asset_a = services.asset_create(
        customer=customer_a,
        site=site_a,
        asset_model=model,
        serial_number=f"{MARKER}-0001",
        ownership=Ownership.FULL_MAINTENANCE_LEASE,
        by=p1_admin,
    )
    services.asset_move(asset=asset_a, site=site_a, location_note=f"{MARKER} copy room", by=a_admin)
    fleet_import_a = FleetImport.objects.create(
        provider=p1,
        customer=customer_a,
        filename=f"{MARKER}.csv",
        content="serial_number\n",
        status=FleetImportStatus.PENDING,
        created_by=p1_admin,
    )
    reading_a = Reading.objects.create(asset=asset_a, meter=Meter.TOTAL_PAGES, taken_at=READING_AT, value=1500)
    event_a = DiagnosticEvent.objects.create(
        asset=asset_a, occurred_at=READING_AT, code="SC542", severity=Severity.ERROR, message=f"{MARKER} fuser"
    )
    # A rule of customer A only: a rule for every customer is rightly visible to customer B.
    alert_rule_a = AlertRule.objects.create(
        provider=p1,
        customer=customer_a,
        name=f"{MARKER} toner",
        kind=AlertRuleKind.SUPPLY_BELOW,
        supply=Supply.TONER_BLACK,
        threshold=10,
    )
    alert_a = Alert.objects.create(
        rule=alert_rule_a,
        asset=asset_a,
        customer=customer_a,
        condition=Supply.TONER_BLACK,
        severity=Severity.WARNING,
        message=f"{MARKER} 4%",
        first_seen_at=READING_AT,
        last_seen_at=READING_AT,
    )
    AlertOccurrence.objects.create(alert=alert_a, at=READING_AT, message=MARKER, event=event_a)
    collector_key_a, _plaintext = keys.collector_key_create(
        customer=customer_a, name=f"{MARKER} print server", by=a_admin
    )
    # Customer A's own service level and business hours (set before its work orders, which take their due times).
    calendar_a = BusinessCalendar.objects.create(
        provider=p1, customer=customer_a, name=f"{MARKER} hours", holiday_country="JP"
    )
    service_level_a = ServiceLevel.objects.create(
        provider=p1, customer=customer_a, name=f"{MARKER} SLA", business_hours_only=True, calendar=calendar_a
    )
    SiteCalendar.objects.create(site=site_a, calendar=calendar_a)
    # Assigned to a technician of world A: the prober technician of P1 is not assigned and must not reach them.
    technician_a = member(p1, Role.TECHNICIAN, email="technician@p1.example", last_name=MARKER)
    work_orders = []
    for priority, description in ((Priority.P2, "fuser noise"), (Priority.P2, "paper jams"), (Priority.P3, "smear")):
        work_order = maintenance_services.work_order_create(
            customer=customer_a,
            site=site_a,
            asset=asset_a,
            kind=WorkOrderKind.CORRECTIVE,
            priority=priority,
            source=WorkOrderSource.MANUAL,
            description=f"{MARKER} {description}",
            by=p1_admin,
        )
        maintenance_services.work_order_assign(work_order=work_order, technician=technician_a, by=p1_admin)
        work_orders.append(work_order)
    work_order_a, approval_work_order_a, completed_work_order_a = work_orders
    # Work done on work_order_a: a checklist item, a part, a photo and the customer's signature.
    checklist_item_a = work_order_a.checklist.create(text=f"{MARKER} check the fuser")
    part_a = maintenance_work.work_order_part_add(work_order=work_order_a, by=technician_a, description=MARKER)
    photo_a = maintenance_work.work_order_photo_add(
        work_order=work_order_a, by=technician_a, image=SimpleUploadedFile("fuser.png", _png()), caption=MARKER
    )
    maintenance_work.work_order_signature_store(
        work_order=work_order_a, png=_png(), signed_by_name=f"{MARKER} signer", now=READING_AT
    )
    # The second order's estimate waits for customer A's approval (above P1's not-to-exceed amount of ¥50,000).
    MaintenanceSettings.objects.create(organisation=p1, not_to_exceed=Decimal("50000"))
    maintenance_approvals.work_order_estimate(
        work_order=approval_work_order_a, amount=Decimal("80000"), by=p1_admin, note=f"{MARKER} estimate", notify=False
    )
    # The third is completed: its completion report exists.
    maintenance_services.work_order_transition(
        work_order=completed_work_order_a, to_status=WorkOrderStatus.IN_PROGRESS, by=technician_a
    )
    maintenance_services.work_order_complete(
        work_order=completed_work_order_a, by=technician_a, notes=f"{MARKER} drum replaced"
    )
    part_installation_a = PartInstallation.objects.create(
        asset=asset_a, part_type=part_type, installed_at=READING_AT, work_order=completed_work_order_a
    )
    erasure_certificate_a = ErasureCertificate.objects.create(
        number=f"EC-{MARKER}",
        asset=asset_a,
        method=ErasureMethod.OVERWRITE,
        performed_at=READING_AT,
        technician=technician_a,
        storage_description=f"{MARKER} HDD",
    )
    # A statutory plan of customer A only (a provider-wide plan is rightly visible to all of P1's plan readers).
    plan_a = PreventivePlan.objects.create(
        provider=p1,
        customer=customer_a,
        asset=asset_a,
        name=f"{MARKER} monthly inspection",
        kind=WorkOrderKind.INSPECTION,
        statutory=StatutoryInspection.MONTHLY_SELF,
        interval_days=30,
        starts_on=datetime.date(2024, 1, 1),
    )
    inspection_record_a = maintenance_plans.inspection_record_create(
        asset=asset_a,
        kind=StatutoryInspection.ANNUAL_SPECIFIC,
        inspected_on=datetime.date(2024, 1, 10),
        inspector=None,
        inspector_name=f"{MARKER} inspector",
        result=InspectionResult.PASSED,
        by=None,
    )
    # The forecast of asset_a's black toner: to act on tomorrow, so that the default 30-day horizon lists it.
    today = timezone.localdate()
    forecast_a = ReplacementForecast.objects.create(
        asset=asset_a,
        part_type=part_type,
        kind=ForecastKind.CONSUMABLE,
        method=ForecastMethod.LEVEL_TREND,
        supply=Supply.TONER_BLACK,
        segment_started_at=READING_AT,
        level_percent=Decimal("12.0"),
        rate_per_day=Decimal("1.5000"),
        data_points=20,
        predicted_on=today + datetime.timedelta(days=8),
        earliest_on=today + datetime.timedelta(days=6),
        latest_on=today + datetime.timedelta(days=12),
        act_by=today + datetime.timedelta(days=1),
        computed_at=timezone.now(),
    )
    # A pre-use inspection by customer A's operator, on the day of the reading (the operator report's period).
    pre_use_checklist = ChecklistTemplate.objects.create(
        provider=p1, name=f"{MARKER} pre-use", purpose=ChecklistPurpose.PRE_USE
    )
    pre_use_item_a = ChecklistTemplateItem.objects.create(
        template=pre_use_checklist, text=f"{MARKER} brakes", critical=True
    )
    pre_use_inspection_a = pre_use_inspection_submit(
        asset=asset_a,
        operator=a_operator,
        answers=[PreUseAnswer(item_id=pre_use_item_a.pk, ok=True)],
        note=MARKER,
        performed_at=READING_AT,
    )

    supply_order_a = maintenance_supplies.supply_order_create(
        asset=asset_a, part_type=part_type, source=SupplyOrderSource.MANUAL, by=a_admin, note=MARKER
    )
    # Customer A's contract: a fixed fee, asset_a covered through 2024 (so that new coverage from 2025 is probed
    # as a change that would succeed), active, and amended with a per-asset fee.
    contract_a = contract_services.contract_create(
        customer=customer_a, title=f"{MARKER} managed print", start_date=CONTRACT_START, by=p1_admin
    )
    contract_services.component_add(
        contract=contract_a,
        kind=ComponentKind.FIXED_FEE,
        name=f"{MARKER} base fee",
        amount=Decimal("30000"),
        by=p1_admin,
    )
    coverage_a = contract_services.coverage_add(
        contract=contract_a, asset=asset_a, start_date=CONTRACT_START, end_date=COVERAGE_END, by=p1_admin
    )
    contract_services.contract_transition(contract=contract_a, to=ContractStatus.ACTIVE, by=p1_admin)
    contract_services.contract_amend(
        contract=contract_a,
        effective_date=datetime.date(2024, 7, 1),
        description=f"{MARKER} per-asset fee",
        adds=[{"kind": ComponentKind.ASSET_FEE, "name": f"{MARKER} asset fee", "amount": Decimal("1500")}],
        by=p1_admin,
    )
    contract_a.refresh_from_db()
    # Customer A's billing: P1's run of January 2024 drafts customer A (its only customer with a contract); the
    # drafting that the run queues after its commit is done here by hand (the world is built in one transaction).
    run_a = billing.billing_run_start(provider=p1, year=2024, month=1, by=p1_admin)
    billing.billing_run_draft_batch(run_id=run_a.pk, customer_ids=[customer_a.pk])
    run_a.refresh_from_db()
    invoice_a = billing.finalise_invoice(
        invoice_id=Invoice.objects.get(run=run_a).pk, by=p1_admin, today=datetime.date(2024, 2, 5), deliver=False
    )
    credit_note_a = billing.credit_note_create(
        invoice=invoice_a,
        lines={invoice_a.lines.get(position=1).pk: Decimal("1000")},
        reason=f"{MARKER} goodwill",
        by=p1_admin,
    )
    (february,) = billing.draft_customers(customers=[customer_a], year=2024, month=2, by=p1_admin)
    draft_invoice_a = february.invoices[0]
    # Customer A's cost ledger: January 2024 built from its invoice, and a cost of this month (the TCO page's
    # default months) on its asset.
    build_ledger(customer=customer_a, year=2024, month=1)
    cost_entry_a = CostEntry.objects.filter(customer=customer_a, category=CostCategory.SERVICE_FEES).first()
    CostEntry.objects.create(
        customer=customer_a, month=timezone.localdate().replace(day=1), view=CostView.CUSTOMER,
        category=CostCategory.ENERGY, asset=asset_a, site=site_a, amount=Decimal(1234), currency="JPY",
        source=CostSource.ASSET, source_id=asset_a.pk,
    )  # fmt: skip
    proposal_a = Proposal.objects.create(
        customer=customer_a, requested_by=p1_admin, language="en", first_month=datetime.date(2024, 1, 1),
        last_month=datetime.date(2024, 1, 1),
    )  # fmt: skip
    render_proposal(proposal_a.pk)
    cost_rates_a = CostRates.objects.create(
        provider=p1, customer=customer_a, energy_price_per_kwh=Decimal(30), downtime_cost_per_hour=Decimal(5000)
    )
    manual_cost_a = ManualCost.objects.create(
        customer=customer_a, month=datetime.date(2024, 1, 1), site=site_a, asset=asset_a,
        description=f"{MARKER} insurance", amount=Decimal(2000), created_by=p1_admin,
    )  # fmt: skip
    nps_response_a = NpsResponse.objects.create(
        customer=customer_a, respondent=a_admin, score=9, comment=f"{MARKER} is well served",
        answered_at=timezone.now() - datetime.timedelta(days=3),
    )  # fmt: skip
    acquisition_spend_a = AcquisitionSpend.objects.create(
        provider=p1, month=datetime.date(2024, 1, 1), description=f"{MARKER} trade fair", amount=Decimal(90000),
        created_by=p1_admin,
    )  # fmt: skip
    kpi_snapshot_a = take_snapshot(provider_id=p1.pk, month=datetime.date(2024, 1, 1))
    KpiSnapshot.objects.filter(pk=kpi_snapshot_a.pk).update(
        figures={**kpi_snapshot_a.figures, "note": f"{MARKER} as reported"}
    )

    customer_b = CustomerFactory(provider=p1, name="Bravo Logistics KK", code="bravo")
    site_b = SiteFactory(customer=customer_b, name="Bravo Depot")
    AssetFactory(customer=customer_b, site=site_b, asset_model=model)
    p2 = ProviderFactory(code="p2", name="Second Fleet Services")
    customer_c = CustomerFactory(provider=p2, name="Charlie Foods KK", code="charlie")
    AssetFactory(customer=customer_c, site=SiteFactory(customer=customer_c, name="Charlie Plant"), asset_model=model)

    world = World(
        customer_a=customer_a,
        site_a=site_a,
        site_a2=site_a2,
        asset_a=asset_a,
        membership_a=a_viewer.membership,
        spare_operator_a=spare_operator.membership,
        fleet_import_a=fleet_import_a,
        manufacturer=maker,
        asset_model=model,
        part_type=part_type,
        a_admin=a_admin,
        p1_admin=p1_admin,
        reading_a=reading_a,
        alert_rule_a=alert_rule_a,
        alert_a=alert_a,
        collector_key_a=collector_key_a,
        technician_a=technician_a,
        work_order_a=work_order_a,
        approval_work_order_a=approval_work_order_a,
        completed_work_order_a=completed_work_order_a,
        service_level_a=service_level_a,
        calendar_a=calendar_a,
        plan_a=plan_a,
        inspection_record_a=inspection_record_a,
        photo_a=photo_a,
        part_installation_a=part_installation_a,
        erasure_certificate_a=erasure_certificate_a,
        pre_use_item_a=pre_use_item_a,
        pre_use_inspection_a=pre_use_inspection_a,
        supply_order_a=supply_order_a,
        forecast_a=forecast_a,
        contract_a=contract_a,
        coverage_a=coverage_a,
        run_a=run_a,
        invoice_a=invoice_a,
        credit_note_a=credit_note_a,
        draft_invoice_a=draft_invoice_a,
        cost_entry_a=cost_entry_a,
        proposal_a=proposal_a,
        cost_rates_a=cost_rates_a,
        manual_cost_a=manual_cost_a,
        nps_response_a=nps_response_a,
        acquisition_spend_a=acquisition_spend_a,
        kpi_snapshot_a=kpi_snapshot_a,
        child_ids={
            "{item_id}": checklist_item_a.pk,
            "{part_id}": part_a.pk,
            "{photo_id}": photo_a.pk,
            "{coverage_id}": coverage_a.pk,
        },
    )
    organisations = {"customer_b": customer_b, "p1": p1, "p2": p2}
    homes = {
        "customer_b_admin": "customer_b",
        "customer_b_viewer": "customer_b",
        "customer_b_operator": "customer_b",
        "technician_unassigned": "p1",
        "account_manager_of_b": "p1",
        "p2_admin": "p2",
        "p2_service_desk": "p2",
    }
    for name, home in homes.items():
        user = member(organisations[home], PROBERS[name], email=f"{name}@probe.example")
        world.users[name] = user
        world.authorizations[name] = f"Token {Token.objects.create(user=user).key}"
    _key_b, plaintext_b = keys.collector_key_create(customer=customer_b, name="Bravo print server")
    world.authorizations["collector_key_b"] = f"{keys.AUTH_KEYWORD} {plaintext_b}"
    world.users["customer_b_operator"].membership.sites.add(site_b)
    customer_b.account_managers.add(world.users["account_manager_of_b"])
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """World A, built once for the module inside a transaction that is rolled back at its end (its photo and
    signature files in a temporary media folder)."""
    media = tmp_path_factory.mktemp("media")
    with override_settings(MEDIA_ROOT=media), django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


def snapshot(*, ignore: tuple[str, ...] = ()) -> dict[str, list[dict]]:
    """Every row of the project's own models (and API tokens), to compare before and after a write attempt.

    ``ignore`` names fields ("app.Model.field") left out: bookkeeping that a refused request may rightly touch.
    """
    project_apps = {config.label for config in apps.get_app_configs() if Path(config.path).parent == settings.BASE_DIR}
    models = [model for model in apps.get_models(include_auto_created=True) if model._meta.app_label in project_apps]
    models.append(Token)
    rows = {model._meta.label: list(model.objects.order_by("pk").values()) for model in models}
    for name in ignore:
        label, column = name.rsplit(".", 1)
        for row in rows[label]:
            del row[column]
    return rows


# --- API ------------------------------------------------------------------------------------------------------

READ = "read"  # a world A object: 404
WRITE = "write"  # a change to a world A object: 404, nothing changes
LIST = "list"  # 200 without world A's rows; filters naming world A's rows: 400 or still none of them
CREATE = "create"  # a new row naming world A's customer or site: 403 without the capability, else 400
CATALOGUE_READ = "catalogue read"  # not tenant-owned: 200 for every signed-in user
CATALOGUE_WRITE = "catalogue write"  # 403 without the catalogue capability
SIGN_IN = "sign in"  # public: world A's address with a wrong password is 400 and issues no token
INGEST = "ingest"  # collector keys only (users 403): items naming world A's asset are each rejected, none stored
REPORT = "report"  # 200 naming none of world A's people, 403 without the capability


@dataclass(frozen=True)
class ApiProbe:
    kind: str
    target: str = ""  # the World attribute whose pk fills {id}
    body: Callable[[World], dict | list] | None = None
    query: Callable[[World], dict] | None = None  # query parameters of the request
    collection: str = ""  # LIST: which of world A's ids must be absent
    filters: tuple[tuple[str, str], ...] = ()  # LIST: (query parameter, World attribute) naming world A's rows
    # CREATE, CATALOGUE_WRITE and REPORT: what the call needs (a tuple: any one of its capabilities)
    capability: Capability | tuple[Capability, ...] | None = None
    control: str = "p1_admin"  # the World attribute of the user who reaches the rows (the control check)


def _asset_body(world: World) -> dict:
    return {
        "customer": world.customer_a.pk,
        "site": world.site_a.pk,
        "asset_model": world.asset_model.pk,
        "serial_number": "PROBE-0001",
        "ownership": Ownership.RENTAL,
    }


def _preventive_plan_body(world: World) -> dict:
    return {
        "name": "Probe plan",
        "customer": world.customer_a.pk,
        "asset": world.asset_a.pk,
        "kind": WorkOrderKind.PREVENTIVE,
        "interval_days": 30,
        "starts_on": "2024-01-01",
    }


def _inspection_record_body(world: World) -> dict:
    return {
        "asset": world.asset_a.pk,
        "kind": StatutoryInspection.MONTHLY_SELF,
        "inspected_on": "2024-02-01",
        "result": InspectionResult.PASSED,
    }


def _site_body(world: World) -> dict:
    return {"customer": world.customer_a.pk, "name": "Probe site", "country": "JP"}


def _asset_model_body(world: World) -> dict:
    return {"manufacturer": world.manufacturer.pk, "name": "Probe model", "category": AssetCategory.PRINTER}


def _ingest_items(world: World) -> list[dict]:
    """Telemetry for asset_a, addressed by id, by serial, and by manufacturer and serial."""
    asset = world.asset_a
    taken_at = "2024-02-01T09:00:00+09:00"
    return [
        {"type": "reading", "asset": asset.pk, "meter": Meter.TOTAL_PAGES, "taken_at": taken_at, "value": 2000},
        {
            "type": "reading",
            "serial": asset.serial_number,
            "meter": Meter.TOTAL_PAGES,
            "taken_at": taken_at,
            "value": 1,
        },
        {
            "type": "supply",
            "manufacturer": world.manufacturer.name,
            "serial": asset.serial_number,
            "supply": Supply.TONER_BLACK,
            "taken_at": taken_at,
            "percent": 3,
        },
        {"type": "event", "asset": asset.pk, "code": "SC542", "occurred_at": taken_at, "severity": Severity.CRITICAL},
        {"type": "event", "serial": asset.serial_number, "code": "SC542", "occurred_at": taken_at, "cleared": True},
    ]


def _usage_query(world: World) -> dict:
    return {
        "asset": world.asset_a.pk,
        "meter": Meter.TOTAL_PAGES,
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-02-01T00:00:00Z",
    }


def _alert_rule_body(world: World) -> dict:
    return {"name": "Probe rule", "kind": AlertRuleKind.SILENT, "customer": world.customer_a.pk}


def _work_order_body(world: World) -> dict:
    return {
        "customer": world.customer_a.pk,
        "site": world.site_a.pk,
        "asset": world.asset_a.pk,
        "kind": WorkOrderKind.CORRECTIVE,
        "priority": Priority.P3,
        "description": "Probe",
    }


def _part_type_body(world: World) -> dict:
    return {
        "code": "PROBE",
        "name": "Probe part",
        "kind": "consumable",
        "life_unit": "pages",
        "rated_life": 1000,
        "unit_cost": "1.00",
    }


API_OPERATIONS: dict[tuple[str, str], ApiProbe] = {
    ("POST", "/api/v1/auth/token/"): ApiProbe(
        SIGN_IN, body=lambda w: {"username": w.a_admin.email, "password": "not-the-password"}
    ),
    ("GET", "/api/v1/organisations/"): ApiProbe(LIST, collection="organisations"),
    ("GET", "/api/v1/organisations/{id}/"): ApiProbe(READ, target="customer_a"),
    ("GET", "/api/v1/sites/"): ApiProbe(LIST, collection="sites", filters=(("customer", "customer_a"),)),
    ("POST", "/api/v1/sites/"): ApiProbe(CREATE, body=_site_body, capability=Capability.MANAGE_SITES),
    ("GET", "/api/v1/sites/{id}/"): ApiProbe(READ, target="site_a"),
    ("PUT", "/api/v1/sites/{id}/"): ApiProbe(WRITE, target="site_a", body=lambda w: {**_site_body(w), "name": "X"}),
    ("PATCH", "/api/v1/sites/{id}/"): ApiProbe(WRITE, target="site_a", body=lambda w: {"name": "Probed"}),
    ("GET", "/api/v1/assets/"): ApiProbe(
        LIST, collection="assets", filters=(("customer", "customer_a"), ("site", "site_a"))
    ),
    ("POST", "/api/v1/assets/"): ApiProbe(CREATE, body=_asset_body, capability=Capability.MANAGE_ASSETS),
    ("GET", "/api/v1/assets/{id}/"): ApiProbe(READ, target="asset_a"),
    ("PATCH", "/api/v1/assets/{id}/"): ApiProbe(WRITE, target="asset_a", body=lambda w: {"asset_tag": "PROBED"}),
    ("GET", "/api/v1/assets/{id}/history/"): ApiProbe(READ, target="asset_a"),
    ("POST", "/api/v1/assets/{id}/move/"): ApiProbe(
        WRITE, target="asset_a", body=lambda w: {"site": w.site_a2.pk, "location_note": "Probed"}
    ),
    ("POST", "/api/v1/assets/{id}/status/"): ApiProbe(
        WRITE, target="asset_a", body=lambda w: {"status": AssetStatus.RETIRED}
    ),
    ("GET", "/api/v1/manufacturers/"): ApiProbe(CATALOGUE_READ),
    ("POST", "/api/v1/manufacturers/"): ApiProbe(
        CATALOGUE_WRITE, body=lambda w: {"name": "Probe maker"}, capability=Capability.MANAGE_CATALOGUE
    ),
    ("GET", "/api/v1/manufacturers/{id}/"): ApiProbe(CATALOGUE_READ, target="manufacturer"),
    ("PUT", "/api/v1/manufacturers/{id}/"): ApiProbe(
        CATALOGUE_WRITE,
        target="manufacturer",
        body=lambda w: {"name": "Probed"},
        capability=Capability.MANAGE_CATALOGUE,
    ),
    ("PATCH", "/api/v1/manufacturers/{id}/"): ApiProbe(
        CATALOGUE_WRITE,
        target="manufacturer",
        body=lambda w: {"name": "Probed"},
        capability=Capability.MANAGE_CATALOGUE,
    ),
    ("GET", "/api/v1/asset-models/"): ApiProbe(CATALOGUE_READ),
    ("POST", "/api/v1/asset-models/"): ApiProbe(
        CATALOGUE_WRITE, body=_asset_model_body, capability=Capability.MANAGE_CATALOGUE
    ),
    ("GET", "/api/v1/asset-models/{id}/"): ApiProbe(CATALOGUE_READ, target="asset_model"),
    ("PUT", "/api/v1/asset-models/{id}/"): ApiProbe(
        CATALOGUE_WRITE, target="asset_model", body=_asset_model_body, capability=Capability.MANAGE_CATALOGUE
    ),
    ("PATCH", "/api/v1/asset-models/{id}/"): ApiProbe(
        CATALOGUE_WRITE,
        target="asset_model",
        body=lambda w: {"name": "Probed"},
        capability=Capability.MANAGE_CATALOGUE,
    ),
    ("GET", "/api/v1/part-types/"): ApiProbe(CATALOGUE_READ),
    ("POST", "/api/v1/part-types/"): ApiProbe(
        CATALOGUE_WRITE, body=_part_type_body, capability=Capability.MANAGE_CATALOGUE
    ),
    ("GET", "/api/v1/part-types/{id}/"): ApiProbe(CATALOGUE_READ, target="part_type"),
    ("PUT", "/api/v1/part-types/{id}/"): ApiProbe(
        CATALOGUE_WRITE, target="part_type", body=_part_type_body, capability=Capability.MANAGE_CATALOGUE
    ),
    ("PATCH", "/api/v1/part-types/{id}/"): ApiProbe(
        CATALOGUE_WRITE,
        target="part_type",
        body=lambda w: {"unit_cost": "0.01"},
        capability=Capability.MANAGE_CATALOGUE,
    ),
    ("POST", "/api/v1/telemetry/"): ApiProbe(INGEST, body=_ingest_items),
    ("GET", "/api/v1/collector-keys/"): ApiProbe(
        LIST, collection="collector-keys", filters=(("customer", "customer_a"),)
    ),
    ("POST", "/api/v1/collector-keys/"): ApiProbe(
        CREATE,
        body=lambda w: {"customer": w.customer_a.pk, "name": "Probe key"},
        capability=Capability.MANAGE_COLLECTOR_KEYS,
    ),
    ("GET", "/api/v1/collector-keys/{id}/"): ApiProbe(READ, target="collector_key_a"),
    ("POST", "/api/v1/collector-keys/{id}/revoke/"): ApiProbe(WRITE, target="collector_key_a"),
    ("GET", "/api/v1/readings/"): ApiProbe(LIST, collection="readings", filters=(("asset", "asset_a"),)),
    ("GET", "/api/v1/readings/{id}/"): ApiProbe(READ, target="reading_a"),
    ("POST", "/api/v1/readings/{id}/invalidate/"): ApiProbe(
        WRITE, target="reading_a", body=lambda w: {"reason": "Probed"}
    ),
    ("GET", "/api/v1/usage/"): ApiProbe(READ, query=_usage_query),
    ("GET", "/api/v1/alerts/"): ApiProbe(
        LIST,
        collection="alerts",
        filters=(("customer", "customer_a"), ("site", "site_a"), ("rule", "alert_rule_a")),
    ),
    ("GET", "/api/v1/alerts/{id}/"): ApiProbe(READ, target="alert_a"),
    ("GET", "/api/v1/alerts/{id}/occurrences/"): ApiProbe(READ, target="alert_a"),
    ("POST", "/api/v1/alerts/{id}/acknowledge/"): ApiProbe(WRITE, target="alert_a", body=lambda w: {"note": "Probed"}),
    ("POST", "/api/v1/alerts/{id}/resolve/"): ApiProbe(WRITE, target="alert_a", body=lambda w: {"note": "Probed"}),
    ("GET", "/api/v1/alert-rules/"): ApiProbe(LIST, collection="alert-rules", filters=(("customer", "customer_a"),)),
    ("POST", "/api/v1/alert-rules/"): ApiProbe(CREATE, body=_alert_rule_body, capability=Capability.MANAGE_ASSETS),
    ("GET", "/api/v1/alert-rules/{id}/"): ApiProbe(READ, target="alert_rule_a"),
    ("PUT", "/api/v1/alert-rules/{id}/"): ApiProbe(
        WRITE, target="alert_rule_a", body=lambda w: {"name": "Probed", "kind": AlertRuleKind.SILENT}
    ),
    ("PATCH", "/api/v1/alert-rules/{id}/"): ApiProbe(WRITE, target="alert_rule_a", body=lambda w: {"name": "Probed"}),
    ("POST", "/api/v1/alert-rules/{id}/active/"): ApiProbe(
        WRITE, target="alert_rule_a", body=lambda w: {"active": False}
    ),
    ("GET", "/api/v1/work-orders/"): ApiProbe(
        LIST, collection="work-orders", filters=(("customer", "customer_a"), ("site", "site_a"))
    ),
    ("POST", "/api/v1/work-orders/"): ApiProbe(CREATE, body=_work_order_body, capability=Capability.DISPATCH_WORK),
    ("POST", "/api/v1/work-orders/request/"): ApiProbe(
        CREATE,
        body=lambda w: {"site": w.site_a.pk, "asset": w.asset_a.pk, "description": "Probe"},
        capability=Capability.REQUEST_SERVICE,
    ),
    ("GET", "/api/v1/work-orders/{id}/"): ApiProbe(READ, target="work_order_a"),
    ("GET", "/api/v1/work-orders/{id}/timeline/"): ApiProbe(READ, target="work_order_a"),
    ("POST", "/api/v1/work-orders/{id}/assign/"): ApiProbe(
        WRITE, target="work_order_a", body=lambda w: {"technician": w.users["technician_unassigned"].pk}
    ),
    ("POST", "/api/v1/work-orders/{id}/transition/"): ApiProbe(
        WRITE, target="work_order_a", body=lambda w: {"to_status": WorkOrderStatus.IN_PROGRESS, "note": "Probed"}
    ),
    ("POST", "/api/v1/work-orders/{id}/complete/"): ApiProbe(
        WRITE, target="work_order_a", body=lambda w: {"notes": "Probed"}
    ),
    # Service levels and business calendars
    ("GET", "/api/v1/service-levels/"): ApiProbe(LIST, collection="service-levels"),
    ("POST", "/api/v1/service-levels/"): ApiProbe(
        CREATE,
        body=lambda w: {"name": "Probe SLA", "customer": w.customer_a.pk},
        capability=Capability.MANAGE_CUSTOMERS,
    ),
    ("GET", "/api/v1/service-levels/{id}/"): ApiProbe(READ, target="service_level_a"),
    ("PATCH", "/api/v1/service-levels/{id}/"): ApiProbe(
        WRITE, target="service_level_a", body=lambda w: {"name": "Probed"}
    ),
    ("GET", "/api/v1/business-calendars/"): ApiProbe(LIST, collection="business-calendars"),
    ("POST", "/api/v1/business-calendars/"): ApiProbe(
        CREATE, body=lambda w: {"name": "Probe", "customer": w.customer_a.pk}, capability=Capability.MANAGE_CUSTOMERS
    ),
    ("GET", "/api/v1/business-calendars/{id}/"): ApiProbe(READ, target="calendar_a"),
    ("PATCH", "/api/v1/business-calendars/{id}/"): ApiProbe(
        WRITE, target="calendar_a", body=lambda w: {"name": "Probed"}
    ),
    # Work done on a work order; {item_id}, {part_id} and {photo_id} are work_order_a's own (World.child_ids)
    ("GET", "/api/v1/work-orders/{id}/checklist/"): ApiProbe(READ, target="work_order_a"),
    ("PATCH", "/api/v1/work-orders/{id}/checklist/{item_id}/"): ApiProbe(
        WRITE, target="work_order_a", body=lambda w: {"result": "ok", "note": "Probed"}
    ),
    ("GET", "/api/v1/work-orders/{id}/parts/"): ApiProbe(READ, target="work_order_a"),
    ("POST", "/api/v1/work-orders/{id}/parts/"): ApiProbe(
        WRITE, target="work_order_a", body=lambda w: {"part_type": w.part_type.pk, "quantity": "1"}
    ),
    ("DELETE", "/api/v1/work-orders/{id}/parts/{part_id}/"): ApiProbe(WRITE, target="work_order_a"),
    ("GET", "/api/v1/work-orders/{id}/labour/"): ApiProbe(READ, target="work_order_a"),
    ("POST", "/api/v1/work-orders/{id}/labour/"): ApiProbe(WRITE, target="work_order_a", body=lambda w: {"hours": "1"}),
    ("POST", "/api/v1/work-orders/{id}/notes/"): ApiProbe(
        WRITE, target="work_order_a", body=lambda w: {"note": "Probed"}
    ),
    ("GET", "/api/v1/work-orders/{id}/photos/"): ApiProbe(READ, target="work_order_a"),
    ("POST", "/api/v1/work-orders/{id}/photos/"): ApiProbe(
        WRITE, target="work_order_a", body=lambda w: {"caption": "Probed"}
    ),
    ("GET", "/api/v1/work-orders/{id}/photos/{photo_id}/"): ApiProbe(READ, target="work_order_a"),
    ("GET", "/api/v1/work-orders/{id}/meter-reads/"): ApiProbe(READ, target="work_order_a"),
    ("POST", "/api/v1/work-orders/{id}/meter-reads/"): ApiProbe(
        WRITE, target="work_order_a", body=lambda w: {"meter": Meter.TOTAL_PAGES, "value": "2000"}
    ),
    ("GET", "/api/v1/part-installations/"): ApiProbe(
        LIST, collection="part-installations", filters=(("asset", "asset_a"), ("part_type", "part_type"))
    ),
    ("GET", "/api/v1/erasure-certificates/"): ApiProbe(
        LIST, collection="erasure-certificates", filters=(("asset", "asset_a"),)
    ),
    ("GET", "/api/v1/erasure-certificates/{id}/"): ApiProbe(READ, target="erasure_certificate_a"),
    ("GET", "/api/v1/erasure-certificates/{id}/pdf/"): ApiProbe(READ, target="erasure_certificate_a"),
    # The technician's day and the completion report
    ("GET", "/api/v1/work-orders/my-day/"): ApiProbe(LIST, collection="my-day", control="technician_a"),
    ("GET", "/api/v1/work-orders/{id}/report/"): ApiProbe(READ, target="completed_work_order_a"),
    # Approvals
    ("POST", "/api/v1/work-orders/{id}/estimate/"): ApiProbe(
        WRITE, target="approval_work_order_a", body=lambda w: {"amount": "100000", "note": "Probed"}
    ),
    ("POST", "/api/v1/work-orders/{id}/approval/"): ApiProbe(
        WRITE, target="approval_work_order_a", body=lambda w: {"decision": "approved", "note": "Probed"}
    ),
    ("GET", "/api/v1/work-orders/{id}/repair-or-replace/"): ApiProbe(READ, target="approval_work_order_a"),
    ("GET", "/api/v1/approvals/"): ApiProbe(LIST, collection="approvals", filters=(("customer", "customer_a"),)),
    ("GET", "/api/v1/maintenance-settings/"): ApiProbe(LIST, collection="organisations"),
    ("GET", "/api/v1/maintenance-settings/{id}/"): ApiProbe(READ, target="customer_a"),
    ("PUT", "/api/v1/maintenance-settings/{id}/"): ApiProbe(
        WRITE, target="customer_a", body=lambda w: {"currency": "JPY", "not_to_exceed": "1"}
    ),
    # Preventive plans and statutory inspections
    ("GET", "/api/v1/preventive-plans/"): ApiProbe(
        LIST, collection="preventive-plans", filters=(("customer", "customer_a"),)
    ),
    ("POST", "/api/v1/preventive-plans/"): ApiProbe(
        CREATE, body=_preventive_plan_body, capability=Capability.MANAGE_CUSTOMERS
    ),
    ("GET", "/api/v1/preventive-plans/{id}/"): ApiProbe(READ, target="plan_a"),
    ("PUT", "/api/v1/preventive-plans/{id}/"): ApiProbe(WRITE, target="plan_a", body=_preventive_plan_body),
    ("PATCH", "/api/v1/preventive-plans/{id}/"): ApiProbe(WRITE, target="plan_a", body=lambda w: {"lead_days": 1}),
    ("DELETE", "/api/v1/preventive-plans/{id}/"): ApiProbe(WRITE, target="plan_a"),
    ("GET", "/api/v1/preventive-plans/{id}/schedule/"): ApiProbe(READ, target="plan_a"),
    ("GET", "/api/v1/inspection-records/"): ApiProbe(
        LIST, collection="inspection-records", filters=(("customer", "customer_a"), ("asset", "asset_a"))
    ),
    ("POST", "/api/v1/inspection-records/"): ApiProbe(
        CREATE, body=_inspection_record_body, capability=Capability.UPDATE_ASSIGNED_WORK
    ),
    ("GET", "/api/v1/inspection-records/{id}/"): ApiProbe(READ, target="inspection_record_a"),
    ("GET", "/api/v1/inspection-records/{id}/certificate/"): ApiProbe(READ, target="inspection_record_a"),
    # QR labels, pre-use inspections and the operator report
    ("GET", "/api/v1/pre-use-inspections/"): ApiProbe(
        LIST,
        collection="pre-use-inspections",
        filters=(("customer", "customer_a"), ("site", "site_a"), ("asset", "asset_a")),
    ),
    ("POST", "/api/v1/pre-use-inspections/"): ApiProbe(
        CREATE,
        body=lambda w: {"asset": w.asset_a.pk, "answers": [{"item_id": w.pre_use_item_a.pk, "ok": False}]},
        capability=Capability.PRE_USE_INSPECTIONS,
    ),
    ("GET", "/api/v1/pre-use-inspections/{id}/"): ApiProbe(READ, target="pre_use_inspection_a"),
    ("GET", "/api/v1/assets/{id}/service-link/"): ApiProbe(READ, target="asset_a"),
    ("POST", "/api/v1/assets/{id}/service-link/rotate/"): ApiProbe(WRITE, target="asset_a"),
    # The month of world A's pre-use inspection: its operator is a line of P1's report.
    ("GET", "/api/v1/operator-report/"): ApiProbe(
        REPORT, query=lambda w: {"from": "2024-01-01", "to": "2024-01-31"}, capability=Capability.DOWNLOAD_REPORTS
    ),
    # Supply orders: customers (REQUEST_SERVICE) and dispatching staff (DISPATCH_WORK) order by hand
    ("GET", "/api/v1/supply-orders/"): ApiProbe(
        LIST,
        collection="supply-orders",
        filters=(("customer", "customer_a"), ("site", "site_a"), ("asset", "asset_a"), ("part_type", "part_type")),
    ),
    ("POST", "/api/v1/supply-orders/"): ApiProbe(
        CREATE,
        body=lambda w: {"asset": w.asset_a.pk, "part_type": w.part_type.pk, "quantity": 1},
        capability=(Capability.REQUEST_SERVICE, Capability.DISPATCH_WORK),
    ),
    ("GET", "/api/v1/supply-orders/{id}/"): ApiProbe(READ, target="supply_order_a"),
    ("POST", "/api/v1/supply-orders/{id}/ship/"): ApiProbe(
        WRITE, target="supply_order_a", body=lambda w: {"tracking": "PROBED"}
    ),
    ("POST", "/api/v1/supply-orders/{id}/deliver/"): ApiProbe(WRITE, target="supply_order_a"),
    ("POST", "/api/v1/supply-orders/{id}/cancel/"): ApiProbe(
        WRITE, target="supply_order_a", body=lambda w: {"note": "Probed"}
    ),
    # Replacement forecasts (read only: the nightly run writes them)
    ("GET", "/api/v1/replacement-forecasts/"): ApiProbe(
        LIST,
        collection="replacement-forecasts",
        filters=(("customer", "customer_a"), ("site", "site_a"), ("asset", "asset_a"), ("part_type", "part_type")),
    ),
    ("GET", "/api/v1/replacement-forecasts/{id}/"): ApiProbe(READ, target="forecast_a"),
    # Contracts: prices, read by the roles that see prices; every write needs MANAGE_CONTRACTS. {coverage_id} is
    # contract_a's coverage of asset_a (World.child_ids).
    ("GET", "/api/v1/contracts/"): ApiProbe(LIST, collection="contracts", filters=(("customer", "customer_a"),)),
    ("POST", "/api/v1/contracts/"): ApiProbe(
        CREATE,
        body=lambda w: {"customer": w.customer_a.pk, "title": "Probe", "start_date": "2024-01-01"},
        capability=Capability.MANAGE_CONTRACTS,
    ),
    ("GET", "/api/v1/contracts/{id}/"): ApiProbe(READ, target="contract_a"),
    ("PATCH", "/api/v1/contracts/{id}/"): ApiProbe(
        WRITE, target="contract_a", body=lambda w: {"title": "Probed", "payment_terms_days": 90}
    ),
    ("GET", "/api/v1/contracts/{id}/audit/"): ApiProbe(READ, target="contract_a"),
    ("POST", "/api/v1/contracts/{id}/activate/"): ApiProbe(WRITE, target="contract_a"),
    ("POST", "/api/v1/contracts/{id}/suspend/"): ApiProbe(WRITE, target="contract_a"),
    ("POST", "/api/v1/contracts/{id}/end/"): ApiProbe(
        WRITE, target="contract_a", body=lambda w: {"end_date": "2024-12-31"}
    ),
    ("POST", "/api/v1/contracts/{id}/components/"): ApiProbe(
        WRITE,
        target="contract_a",
        body=lambda w: {"kind": ComponentKind.FIXED_FEE, "name": "Probe fee", "amount": "1"},
    ),
    ("POST", "/api/v1/contracts/{id}/coverage/"): ApiProbe(
        WRITE, target="contract_a", body=lambda w: {"asset": w.asset_a.pk, "start_date": "2025-01-01"}
    ),
    ("POST", "/api/v1/contracts/{id}/coverage/{coverage_id}/end/"): ApiProbe(
        WRITE, target="contract_a", body=lambda w: {"end_date": "2024-06-30"}
    ),
    ("POST", "/api/v1/contracts/{id}/amend/"): ApiProbe(
        WRITE,
        target="contract_a",
        body=lambda w: {
            "effective_date": "2024-10-01",
            "description": "Probed",
            "adds": [{"kind": ComponentKind.ONE_OFF, "name": "Probe", "amount": "1", "charge_date": "2024-10-01"}],
        },
    ),
    # Billing: invoices are prices (customer admins: their own finalised ones); billing runs are P1's, seen by its
    # staff who draft invoices (an account manager: the runs of their customers). Writes need DRAFT_INVOICES.
    ("GET", "/api/v1/invoices/"): ApiProbe(LIST, collection="invoices", filters=(("customer", "customer_a"),)),
    ("GET", "/api/v1/invoices/{id}/"): ApiProbe(READ, target="invoice_a"),
    ("GET", "/api/v1/invoices/{id}/pdf/"): ApiProbe(READ, target="invoice_a"),
    ("GET", "/api/v1/invoices/{id}/xml/"): ApiProbe(READ, target="invoice_a"),
    ("POST", "/api/v1/invoices/{id}/finalise/"): ApiProbe(WRITE, target="draft_invoice_a"),
    ("POST", "/api/v1/invoices/{id}/credit-notes/"): ApiProbe(
        WRITE, target="invoice_a", body=lambda w: {"lines": [{"line": _fee_line(w), "amount": "1"}], "reason": "Probed"}
    ),
    ("GET", "/api/v1/billing-runs/"): ApiProbe(LIST, collection="billing-runs"),
    # A run names no customer: the probe asks for a month that has not ended, which the service refuses (400) to
    # every role that may start runs, and nothing is written; contracts/tests/test_billing_api.py starts real runs.
    ("POST", "/api/v1/billing-runs/"): ApiProbe(
        CREATE, body=lambda w: {"period": "2999-01"}, capability=Capability.DRAFT_INVOICES
    ),
    ("GET", "/api/v1/billing-runs/{id}/"): ApiProbe(READ, target="run_a"),
    ("POST", "/api/v1/billing-runs/{id}/finalise/"): ApiProbe(WRITE, target="run_a"),
    # The cost ledger and TCO (reports): roles that see no prices get no rows, the reports capability the breakdown.
    ("GET", "/api/v1/cost-entries/"): ApiProbe(LIST, collection="cost-entries", filters=(("customer", "customer_a"),)),
    ("GET", "/api/v1/cost-entries/{id}/"): ApiProbe(READ, target="cost_entry_a"),
    ("GET", "/api/v1/proposals/"): ApiProbe(LIST, collection="proposals", filters=(("customer", "customer_a"),)),
    ("POST", "/api/v1/proposals/"): ApiProbe(
        CREATE, body=lambda w: {"customer": w.customer_a.pk}, capability=Capability.MANAGE_PROPOSALS
    ),
    ("GET", "/api/v1/proposals/{id}/"): ApiProbe(READ, target="proposal_a"),
    ("GET", "/api/v1/proposals/{id}/pdf/"): ApiProbe(READ, target="proposal_a"),
    ("POST", "/api/v1/proposals/{id}/regenerate/"): ApiProbe(WRITE, target="proposal_a"),
    ("GET", "/api/v1/cost-rates/"): ApiProbe(LIST, collection="cost-rates", filters=(("customer", "customer_a"),)),
    ("POST", "/api/v1/cost-rates/"): ApiProbe(
        CREATE,
        body=lambda w: {"customer": w.customer_a.pk, "energy_price_per_kwh": "1"},
        capability=Capability.MANAGE_CONTRACTS,
    ),
    ("GET", "/api/v1/cost-rates/{id}/"): ApiProbe(READ, target="cost_rates_a"),
    ("DELETE", "/api/v1/cost-rates/{id}/"): ApiProbe(WRITE, target="cost_rates_a"),
    ("GET", "/api/v1/manual-costs/"): ApiProbe(LIST, collection="manual-costs", filters=(("customer", "customer_a"),)),
    ("POST", "/api/v1/manual-costs/"): ApiProbe(
        CREATE,
        body=lambda w: {"customer": w.customer_a.pk, "month": "2024-01", "description": "Probe", "amount": "1"},
        capability=Capability.MANAGE_CONTRACTS,
    ),
    ("GET", "/api/v1/manual-costs/{id}/"): ApiProbe(READ, target="manual_cost_a"),
    ("DELETE", "/api/v1/manual-costs/{id}/"): ApiProbe(WRITE, target="manual_cost_a"),
    ("GET", "/api/v1/nps-responses/"): ApiProbe(LIST, collection="nps-responses"),
    # An answer goes to the caller's own organisation: no body names world A. The probe sends a score out of range,
    # which those who may answer get as a 400 and the others as a 403; nothing is written either way.
    ("POST", "/api/v1/nps-responses/"): ApiProbe(
        CREATE, body=lambda w: {"score": 11}, capability=Capability.ANSWER_NPS
    ),
    ("GET", "/api/v1/nps-responses/{id}/"): ApiProbe(READ, target="nps_response_a"),
    ("GET", "/api/v1/nps/"): ApiProbe(
        REPORT,
        query=lambda w: {
            "from": f"{timezone.localdate() - datetime.timedelta(days=3):%Y-%m}",
            "to": f"{timezone.localdate():%Y-%m}",
        },
        capability=Capability.VIEW_KPIS,
    ),
    # World A's contract starts in January 2024: a new customer of P1's MRR that month.
    ("GET", "/api/v1/kpis/mrr/"): ApiProbe(
        REPORT, query=lambda w: {"from": "2024-01", "to": "2024-01"}, capability=Capability.VIEW_KPIS
    ),
    ("GET", "/api/v1/acquisition-spend/"): ApiProbe(LIST, collection="acquisition-spend"),
    # Spend names no customer: the probe sends an amount of zero, which those who may record get as a 400.
    ("POST", "/api/v1/acquisition-spend/"): ApiProbe(
        CREATE,
        body=lambda w: {"month": "2024-01", "description": "Probe", "amount": "0"},
        capability=Capability.RECORD_ACQUISITION_SPEND,
    ),
    ("GET", "/api/v1/acquisition-spend/{id}/"): ApiProbe(READ, target="acquisition_spend_a"),
    ("DELETE", "/api/v1/acquisition-spend/{id}/"): ApiProbe(WRITE, target="acquisition_spend_a"),
    ("GET", "/api/v1/kpi-snapshots/"): ApiProbe(LIST, collection="kpi-snapshots"),
    ("GET", "/api/v1/kpi-snapshots/{id}/"): ApiProbe(READ, target="kpi_snapshot_a"),
    # World A's work orders and contract from 2024 to today, asked by naming world A's customer.
    ("GET", "/api/v1/kpis/service/"): ApiProbe(
        REPORT,
        query=lambda w: {"from": "2024-01", "to": f"{timezone.localdate():%Y-%m}", "customer": w.customer_a.pk},
        capability=Capability.VIEW_SERVICE_KPIS,
    ),
    ("GET", "/api/v1/tco/"): ApiProbe(
        REPORT,
        query=lambda w: {"from": "2024-01", "to": "2024-01", "group_by": "customer"},
        capability=Capability.DOWNLOAD_REPORTS,
    ),
}


def _fee_line(world: World) -> int:
    """The id of invoice_a's fee line (the line the credit-note probes credit)."""
    return world.invoice_a.lines.get(position=1).pk


def may(prober: str, capability: Capability | tuple[Capability, ...] | None) -> bool:
    """Whether the prober's role has the capability (any of them, for a tuple)."""
    role = PROBERS[prober]
    capabilities = capability if isinstance(capability, tuple) else (capability,)
    return role is not None and any(c is not None and ROLE_POLICIES[role].can(c) for c in capabilities)


def expected_api_statuses(probe: ApiProbe, prober: str) -> set[int]:
    if probe.kind == SIGN_IN:
        return {400}
    if probe.kind == INGEST:
        if prober in COLLECTOR_PROBERS:
            return {200}  # the batch is taken; each item naming world A's asset is rejected (checked below)
        return {401} if PROBERS[prober] is None else {403}
    if PROBERS[prober] is None:
        return {401, 403}
    if probe.kind in (READ, WRITE):
        return {404}
    if probe.kind == REPORT:
        return {200} if may(prober, probe.capability) else {403}
    if probe.kind in (LIST, CATALOGUE_READ):
        return {200}
    return {400} if may(prober, probe.capability) else {403}


API_CASES = [
    pytest.param(operation, prober, id=f"{operation[0]} {operation[1]} as {prober}")
    for operation, probe in API_OPERATIONS.items()
    for prober in PROBERS
    # The catalogue is shared by design: a role that may maintain it is not an outsider to it.
    if not (probe.kind == CATALOGUE_WRITE and may(prober, probe.capability))
]


def api_url(world: World, operation: tuple[str, str]) -> str:
    """The operation's path with world A's ids filled in, and its query."""
    probe = API_OPERATIONS[operation]
    url = operation[1].replace("{id}", str(getattr(world, probe.target).pk)) if probe.target else operation[1]
    for placeholder, child_pk in world.child_ids.items():
        url = url.replace(placeholder, str(child_pk))
    if probe.query:
        url = f"{url}?{urlencode(probe.query(world))}"
    return url


def api_client(world: World, prober: str) -> APIClient:
    client = APIClient()
    if prober in world.authorizations:
        client.credentials(HTTP_AUTHORIZATION=world.authorizations[prober])
    return client


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path) for path, operations in schema["paths"].items() for method in operations}


def test_every_api_operation_is_in_the_matrix():
    operations = schema_operations()
    missing = sorted(operations - set(API_OPERATIONS))
    stale = sorted(set(API_OPERATIONS) - operations)
    assert not missing, (
        "These API operations are not in the tenant matrix; add each to API_OPERATIONS with how it is probed: "
        + ", ".join(f"{method} {path}" for method, path in missing)
    )
    assert not stale, "API_OPERATIONS lists operations the schema no longer has: " + ", ".join(map(str, stale))


@pytest.mark.django_db
@pytest.mark.parametrize(("operation", "prober"), API_CASES)
def test_api_operation_keeps_world_a_out_of_reach(world, operation, prober):
    method = operation[0]
    probe = API_OPERATIONS[operation]
    url = api_url(world, operation)
    body = json.dumps(probe.body(world)) if probe.body else ""
    if probe.kind == SIGN_IN:
        cache.clear()  # throttle counts of earlier tests must not turn the answer into a 429
    # A collector's batch records when its key was last used, whatever became of the items.
    ignore = ("telemetry.CollectorKey.last_used_at",) if probe.kind == INGEST else ()
    before = snapshot(ignore=ignore) if method != "GET" else None

    response = api_client(world, prober).generic(method, url, body, content_type="application/json")

    expected = expected_api_statuses(probe, prober)
    assert response.status_code in expected, (
        f"{prober}: {method} {url} answered {response.status_code}, expected {sorted(expected)}: "
        f"{response.content[:300]!r}"
    )
    assert MARKER not in response.content.decode("utf-8").upper()
    if before is not None:
        assert snapshot(ignore=ignore) == before, f"{prober}: {method} {url} changed rows"
    if probe.kind == INGEST and response.status_code == 200:
        outcome = response.json()
        assert (outcome["accepted"], outcome["duplicates"]) == (0, 0), outcome
        assert outcome["rejected"] == len(probe.body(world)), outcome
        assert Reading.objects.filter(asset=world.asset_a).count() == 1
    if probe.kind == LIST and response.status_code == 200:
        assert not {row["id"] for row in response.json()["results"]} & world.a_ids(probe.collection)
        for parameter, attribute in probe.filters:
            filtered = api_client(world, prober).get(url, {parameter: getattr(world, attribute).pk})
            assert filtered.status_code in (200, 400), f"{prober}: {url}?{parameter}= answered {filtered.status_code}"
            if filtered.status_code == 200:
                assert not {row["id"] for row in filtered.json()["results"]} & world.a_ids(probe.collection)


# --- Portal ---------------------------------------------------------------------------------------------------


def _contract_terms_body(world: World) -> dict:
    """The contract terms form, complete."""
    return {
        "title": "Probed",
        "start_date": "2024-01-01",
        "billing_day": 1,
        "payment_terms_days": 60,
        "auto_renew": "on",
        "renewal_months": 12,
        "notice_days": 90,
        "credit_percent_per_breach": "0",
        "credit_cap_percent": "0",
    }


def _component_form_body(world: World) -> dict:
    """The price component form: a one-off charge."""
    return {
        "kind": ComponentKind.ONE_OFF,
        "name": "Probe charge",
        "amount": "1",
        "charge_date": "2024-10-01",
        "allowance_scope": AllowanceScope.POOLED,
        "tier_mode": TierMode.GRADUATED,
        "tax_category": TaxCategory.STANDARD,
    }


@dataclass(frozen=True)
class PortalProbe:
    target: str  # the World attribute whose pk fills <pk>
    methods: tuple[str, ...] = ("GET",)
    body: Callable[[World], dict] | None = None


# Every portal URL that takes an object id: each prober gets 404, anonymous callers the login redirect.
PORTAL_URLS: dict[str, PortalProbe] = {
    "accounts:organisation_detail": PortalProbe("customer_a"),
    "accounts:member_active": PortalProbe("membership_a", methods=("POST",), body=lambda w: {"active": "0"}),
    "assets:asset_detail": PortalProbe("asset_a"),
    "assets:asset_move": PortalProbe(
        "asset_a",
        methods=("GET", "POST"),
        body=lambda w: {"site": w.site_a2.pk, "location_note": "Probed", "note": ""},
    ),
    "assets:site_detail": PortalProbe("site_a"),
    "assets:site_operators": PortalProbe(
        "site_a", methods=("POST",), body=lambda w: {"operators": [w.spare_operator_a.pk]}
    ),
    "assets:fleet_register_pdf": PortalProbe("customer_a"),
    "assets:import_detail": PortalProbe("fleet_import_a"),
    "assets:import_apply": PortalProbe("fleet_import_a", methods=("POST",)),
    "assets:import_errors_csv": PortalProbe("fleet_import_a"),
    "telemetry:collector_key_created": PortalProbe("collector_key_a"),
    "telemetry:collector_key_revoke": PortalProbe("collector_key_a", methods=("POST",)),
    "telemetry:meter_read": PortalProbe(
        "asset_a",
        methods=("GET", "POST"),
        body=lambda w: {"meter": Meter.TOTAL_PAGES, "taken_at": "2024-02-01T09:00", "value": "2000"},
    ),
    "telemetry:asset_readings": PortalProbe("asset_a"),
    "telemetry:reading_invalidate": PortalProbe("reading_a", methods=("POST",), body=lambda w: {"reason": "Probed"}),
    "telemetry:alert_detail": PortalProbe("alert_a"),
    "telemetry:alert_acknowledge": PortalProbe("alert_a", methods=("POST",), body=lambda w: {"note": "Probed"}),
    "telemetry:alert_resolve": PortalProbe("alert_a", methods=("POST",), body=lambda w: {"note": "Probed"}),
    "telemetry:alert_rule_edit": PortalProbe(
        "alert_rule_a",
        methods=("GET", "POST"),
        body=lambda w: {"name": "Probed", "kind": AlertRuleKind.SILENT, "severity": Severity.WARNING},
    ),
    "telemetry:alert_rule_active": PortalProbe("alert_rule_a", methods=("POST",), body=lambda w: {"active": "0"}),
    "maintenance:work_order_detail": PortalProbe("work_order_a"),
    "maintenance:work_order_transition": PortalProbe(
        "work_order_a", methods=("POST",), body=lambda w: {"to_status": WorkOrderStatus.IN_PROGRESS, "note": "Probed"}
    ),
    "maintenance:work_order_assign": PortalProbe(
        "work_order_a", methods=("POST",), body=lambda w: {"technician": w.users["technician_unassigned"].pk}
    ),
    "maintenance:work_order_complete": PortalProbe(
        "work_order_a", methods=("POST",), body=lambda w: {"notes": "Probed"}
    ),
    # Service levels and business calendars
    "maintenance:service_level_edit": PortalProbe(
        "service_level_a", methods=("GET", "POST"), body=lambda w: {"name": "Probed"}
    ),
    "maintenance:business_calendar_edit": PortalProbe(
        "calendar_a", methods=("GET", "POST"), body=lambda w: {"name": "Probed", **_calendar_formsets()}
    ),
    # Work done
    "maintenance:work_order_checklist_check": PortalProbe(
        "work_order_a", methods=("POST",), body=lambda w: {"item": w.child_ids["{item_id}"], "result": "ok"}
    ),
    "maintenance:work_order_part_add": PortalProbe(
        "work_order_a", methods=("POST",), body=lambda w: {"part_type": w.part_type.pk, "quantity": "1"}
    ),
    "maintenance:work_order_part_remove": PortalProbe(
        "work_order_a", methods=("POST",), body=lambda w: {"part": w.child_ids["{part_id}"]}
    ),
    "maintenance:work_order_labour_add": PortalProbe("work_order_a", methods=("POST",), body=lambda w: {"hours": "1"}),
    "maintenance:work_order_note_add": PortalProbe(
        "work_order_a", methods=("POST",), body=lambda w: {"note": "Probed"}
    ),
    "maintenance:work_order_photo_add": PortalProbe(
        "work_order_a", methods=("POST",), body=lambda w: {"caption": "Probed"}
    ),
    "maintenance:work_order_meter_read_add": PortalProbe(
        "work_order_a", methods=("POST",), body=lambda w: {"meter": Meter.TOTAL_PAGES, "value": "2000"}
    ),
    "maintenance:work_order_signature": PortalProbe("work_order_a"),
    "maintenance:work_order_photo": PortalProbe("photo_a"),
    "maintenance:erasure_certificate_pdf": PortalProbe("erasure_certificate_a"),
    # The completion summary and report
    "maintenance:work_order_summary": PortalProbe("work_order_a"),
    "maintenance:work_order_report": PortalProbe("completed_work_order_a"),
    # Approvals
    "maintenance:work_order_estimate": PortalProbe(
        "approval_work_order_a", methods=("POST",), body=lambda w: {"amount": "100000", "note": "Probed"}
    ),
    "maintenance:work_order_approval_decide": PortalProbe(
        "approval_work_order_a", methods=("POST",), body=lambda w: {"decision": "approved", "note": "Probed"}
    ),
    "maintenance:work_order_convert_replacement": PortalProbe("approval_work_order_a", methods=("POST",)),
    "maintenance:approval_settings_edit": PortalProbe(
        "customer_a", methods=("GET", "POST"), body=lambda w: {"currency": "JPY", "not_to_exceed": "1"}
    ),
    # Preventive plans and statutory inspections
    "maintenance:plan_detail": PortalProbe("plan_a"),
    "maintenance:plan_edit": PortalProbe("plan_a", methods=("GET", "POST"), body=lambda w: _plan_form_body(w)),
    "maintenance:plan_active": PortalProbe("plan_a", methods=("POST",), body=lambda w: {"active": "0"}),
    "maintenance:inspection_certificate": PortalProbe("inspection_record_a"),
    "maintenance:work_order_inspection_record": PortalProbe(
        "work_order_a",
        methods=("POST",),
        body=lambda w: {
            "kind": StatutoryInspection.MONTHLY_SELF,
            "inspected_on": "2024-02-01",
            "result": InspectionResult.PASSED,
        },
    ),
    # QR labels and pre-use inspections
    "maintenance:asset_qr_label": PortalProbe("asset_a"),
    "maintenance:service_link_rotate": PortalProbe("asset_a", methods=("POST",)),
    "maintenance:asset_scan": PortalProbe("asset_a"),
    "maintenance:pre_use_create": PortalProbe(
        "asset_a", methods=("GET", "POST"), body=lambda w: {f"item_{w.pre_use_item_a.pk}": "failed"}
    ),
    "maintenance:pre_use_detail": PortalProbe("pre_use_inspection_a"),
    # Supply orders
    "maintenance:supply_order_detail": PortalProbe("supply_order_a"),
    "maintenance:supply_order_ship": PortalProbe(
        "supply_order_a", methods=("POST",), body=lambda w: {"tracking": "PROBED"}
    ),
    "maintenance:supply_order_deliver": PortalProbe("supply_order_a", methods=("POST",)),
    "maintenance:supply_order_cancel": PortalProbe(
        "supply_order_a", methods=("POST",), body=lambda w: {"note": "Probed"}
    ),
    # Contracts (the forms and buttons need MANAGE_CONTRACTS; every body is one P1's admin may send)
    "contracts:contract_detail": PortalProbe("contract_a"),
    "contracts:contract_edit": PortalProbe("contract_a", methods=("GET", "POST"), body=_contract_terms_body),
    "contracts:contract_transition": PortalProbe(
        "contract_a", methods=("POST",), body=lambda w: {"to": ContractStatus.SUSPENDED}
    ),
    "contracts:component_add": PortalProbe("contract_a", methods=("GET", "POST"), body=_component_form_body),
    "contracts:coverage_add": PortalProbe(
        "contract_a", methods=("GET", "POST"), body=lambda w: {"asset": w.asset_a.pk, "start_date": "2025-01-01"}
    ),
    "contracts:coverage_end": PortalProbe(
        "contract_a", methods=("POST",), body=lambda w: {"coverage": w.coverage_a.pk, "end_date": "2024-06-30"}
    ),
    "contracts:amendment_create": PortalProbe(
        "contract_a",
        methods=("GET", "POST"),
        body=lambda w: {
            "effective_date": "2024-10-01",
            "description": "Probed",
            "add_component": "on",
            **{f"new-{name}": value for name, value in _component_form_body(w).items() if name != "valid_from"},
        },
    ),
    # Billing (the buttons and forms need DRAFT_INVOICES; every body is one P1's admin may send)
    "contracts:invoice_detail": PortalProbe("invoice_a"),
    "contracts:invoice_pdf": PortalProbe("invoice_a"),
    "contracts:invoice_xml": PortalProbe("invoice_a"),
    "contracts:invoice_lines_csv": PortalProbe("invoice_a"),
    "reports:proposal_pdf": PortalProbe("proposal_a"),
    "reports:cost_rates_edit": PortalProbe(
        "cost_rates_a",
        methods=("GET", "POST"),
        body=lambda w: {"customer": w.customer_a.pk, "currency": "JPY", "energy_price_per_kwh": "1"},
    ),
    "reports:cost_rates_delete": PortalProbe("cost_rates_a", methods=("POST",)),
    "reports:manual_cost_delete": PortalProbe("manual_cost_a", methods=("POST",)),
    "reports:acquisition_spend_delete": PortalProbe("acquisition_spend_a", methods=("POST",)),
    "reports:proposal_regenerate": PortalProbe("proposal_a", methods=("POST",)),
    "contracts:invoice_finalise": PortalProbe("draft_invoice_a", methods=("GET", "POST")),
    "contracts:credit_note_create": PortalProbe(
        "invoice_a", methods=("GET", "POST"), body=lambda w: {f"line_{_fee_line(w)}": "1", "reason": "Probed"}
    ),
    "contracts:credit_note_discard": PortalProbe("credit_note_a", methods=("GET", "POST")),
    "contracts:payment_record": PortalProbe(
        "invoice_a", methods=("GET", "POST"), body=lambda w: {"amount": "1", "paid_on": "2024-02-10"}
    ),
    "contracts:billing_run_detail": PortalProbe("run_a"),
    "contracts:billing_run_progress": PortalProbe("run_a"),
    "contracts:billing_run_finalise": PortalProbe("run_a", methods=("GET", "POST")),
}

# URLs with parameters that name no tenant object, each with the reason and the test that covers it.
EXEMPT_URLS: dict[str, str] = {
    "accounts:password_reset_confirm": "a signed one-time token, no object id (test_password_reset_link_...)",
    "api-schema": "public API documentation naming no tenant data (test_api_schema_is_public_...)",
    "api-swagger-ui": "public API documentation viewer",
    "api-redoc": "public API documentation viewer",
    "maintenance:service_link": "a per-asset unguessable token, public by design (maintenance/tests/test_qr.py)",
    "maintenance:service_link_sent": "the same token's thank-you page, showing the site name only (test_qr.py)",
}
EXEMPT_NAMESPACES: dict[str, str] = {
    "admin": "staff only: every portal user is sent to the admin's login (test_admin_is_closed_...)",
}

# Pages that list tenant rows without an id: each prober sees none of world A's (or the page is a 404 for a
# role without its capability). Every FilteredListView without parameters must be here (one with parameters is
# in PORTAL_URLS); other pages that show rows join too, such as forms offering a choice of customers.
PORTAL_LISTS: tuple[str, ...] = (
    "portal:dashboard",
    "accounts:organisation_list",
    "accounts:member_list",
    "assets:asset_list",
    "assets:site_list",
    "assets:import",
    "assets:import_export",
    "telemetry:collector_key_list",
    "telemetry:collector_key_create",
    "telemetry:ingest_upload",
    "telemetry:alert_list",
    "telemetry:alert_rule_list",
    "telemetry:alert_rule_create",
    "maintenance:work_order_list",
    "maintenance:work_order_create",
    "maintenance:service_request",
    "maintenance:dispatch_board",
    "maintenance:service_level_list",
    "maintenance:service_level_create",
    "maintenance:business_calendar_list",
    "maintenance:business_calendar_create",
    "maintenance:site_calendars",
    "maintenance:my_day",
    "maintenance:approval_list",
    "maintenance:approval_settings",
    "maintenance:plan_list",
    "maintenance:plan_create",
    "maintenance:inspection_list",
    "maintenance:inspection_record_list",
    "maintenance:pre_use_list",
    "maintenance:operator_report",
    "maintenance:supply_order_list",
    "maintenance:replacement_list",
    "contracts:contract_list",
    "contracts:contract_create",
    "contracts:invoice_list",
    "contracts:receivables_ageing",
    "contracts:billing_run_list",
    "reports:tco",
    "reports:cost_entry_list",
    "reports:proposal_list",
    "reports:proposal_request",
    "reports:cost_rates_list",
    "reports:cost_rates_create",
    "reports:nps",
    "reports:nps_answer",
    "reports:kpis",
    "reports:service_kpis",
    "reports:acquisition_spend_list",
    "reports:acquisition_spend_create",
    "reports:manual_cost_list",
    "reports:manual_cost_create",
    # Left out: contracts:payment_import (a bank statement's upload, for staff who bill every customer: no list of
    # rows; contracts/tests/test_billing_views.py covers who may use it).
    # Left out: maintenance:qr_labels_pdf (a PDF; maintenance/tests/test_qr.py covers its tenancy).
    # Left out: maintenance:supply_order_create (no single required capability: customers with REQUEST_SERVICE
    # and dispatching staff may order; maintenance/tests/test_supplies_web.py covers its tenancy).
)


def _calendar_formsets() -> dict:
    """The business calendar form's empty formsets of opening hours and closures."""
    return {
        "hours-TOTAL_FORMS": "0",
        "hours-INITIAL_FORMS": "0",
        "closures-TOTAL_FORMS": "0",
        "closures-INITIAL_FORMS": "0",
    }


def _plan_form_body(world: World) -> dict:
    return {
        "name": "Probe plan",
        "customer": world.customer_a.pk,
        "asset_model": world.asset_model.pk,
        "kind": WorkOrderKind.PREVENTIVE,
        "schedule": "floating",
        "interval_days": 30,
        "starts_on": "2024-01-01",
        "lead_days": 14,
        "priority": Priority.P3,
    }


def _telemetry_csv(world: World) -> SimpleUploadedFile:
    """An upload naming asset_a by its serial (and manufacturer)."""
    serial, maker = world.asset_a.serial_number, world.manufacturer.name
    content = (
        "serial,manufacturer,type,meter_or_supply_or_code,taken_at,value\n"
        f"{serial},,reading,total_pages,2024-02-01 09:00,2000\n"
        f"{serial},{maker},supply,toner_black,2024-02-01 09:00,3\n"
    )
    return SimpleUploadedFile("telemetry.csv", content.encode(), content_type="text/csv")


# Pages without an id that create rows for a customer they are told: given world A's customer, a prober whose
# role may use the page gets the form back with an error, every other prober a 404; no row changes.
PORTAL_CREATES: dict[str, Callable[[World], dict]] = {
    "telemetry:collector_key_create": lambda w: {"customer": w.customer_a.pk, "name": "Probe key"},
    "telemetry:ingest_upload": lambda w: {"customer": w.customer_a.pk, "file": _telemetry_csv(w)},
    "telemetry:alert_rule_create": lambda w: {**_alert_rule_body(w), "severity": Severity.WARNING},
    "maintenance:work_order_create": _work_order_body,
    "reports:proposal_request": lambda w: {"customer": w.customer_a.pk},
    "reports:cost_rates_create": lambda w: {
        "customer": w.customer_a.pk,
        "currency": "JPY",
        "energy_price_per_kwh": "1",
    },
    "reports:manual_cost_create": lambda w: {
        "customer": w.customer_a.pk,
        "month": "2024-01",
        "description": "Probe",
        "amount": "1",
        "currency": "JPY",
    },
    "maintenance:service_request": lambda w: {"site": w.site_a.pk, "asset": w.asset_a.pk, "description": "Probe"},
    "maintenance:site_calendars": lambda w: {"site": w.site_a.pk, "calendar": ""},
    "maintenance:service_level_create": lambda w: {"name": "Probe", "customer": w.customer_a.pk},
    "maintenance:business_calendar_create": lambda w: {
        "name": "Probe",
        "customer": w.customer_a.pk,
        **_calendar_formsets(),
    },
    "maintenance:plan_create": _plan_form_body,
    "contracts:contract_create": lambda w: {**_contract_terms_body(w), "customer": w.customer_a.pk},
}


def url_patterns(resolver=None, prefix: str = "", namespace: str = "", parameters: bool = False):
    """Every URL pattern: (route, qualified name, pattern, whether the route takes parameters)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        takes = parameters or bool(getattr(entry.pattern, "converters", None)) or entry.pattern.regex.groups > 0
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry, prefix + str(entry.pattern), inner, takes)
        else:
            yield prefix + str(entry.pattern), f"{namespace}{entry.name or ''}", entry, takes


def api_schema_callbacks() -> set:
    """The view callbacks behind the API schema's operations (the API matrix covers those)."""
    operations = schema_operations()
    return {
        callback
        for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints()
        if (method.upper(), path.replace("{pk}", "{id}")) in operations
    }


def test_every_portal_url_with_a_parameter_is_in_the_matrix():
    in_schema = api_schema_callbacks()
    missing = []
    for route, name, pattern, takes_parameters in url_patterns():
        if not (takes_parameters or route.startswith("api/")) or pattern.callback in in_schema:
            continue
        namespace = name.split(":")[0] if ":" in name else ""
        if name in PORTAL_URLS or name in EXEMPT_URLS or namespace in EXEMPT_NAMESPACES:
            continue
        missing.append(f"{name or '(unnamed)'} ({route})")
    assert not missing, (
        "These URLs take parameters but are not in the tenant matrix; add each to PORTAL_URLS with the world A "
        "object that fills it (or to EXEMPT_URLS with the reason): " + ", ".join(missing)
    )
    stale = set(PORTAL_URLS) - {name for _route, name, _pattern, _takes in url_patterns()}
    assert not stale, f"PORTAL_URLS lists URLs that no longer exist: {sorted(stale)}"


def test_every_portal_list_is_in_the_matrix():
    lists = {
        name
        for _route, name, pattern, takes_parameters in url_patterns()
        if not takes_parameters  # a list of one object's rows is probed with that object in PORTAL_URLS
        and isinstance(getattr(pattern.callback, "view_class", None), type)
        and issubclass(pattern.callback.view_class, FilteredListView)
    }
    missing = sorted(lists - set(PORTAL_LISTS))
    assert not missing, f"These list pages are not in PORTAL_LISTS of the tenant matrix: {missing}"


def portal_client(world: World, prober: str) -> Client:
    client = Client()
    if prober in world.users:
        client.force_login(world.users[prober])
    return client


def assert_login_redirect(response, what: str) -> None:
    assert response.status_code == 302, f"anonymous: {what} answered {response.status_code}"
    assert response["Location"].startswith(reverse(settings.LOGIN_URL)), response["Location"]


PORTAL_CASES = [
    pytest.param(name, method, prober, id=f"{method} {name} as {prober}")
    for name, probe in PORTAL_URLS.items()
    for method in probe.methods
    for prober in PORTAL_PROBERS
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "prober"), PORTAL_CASES)
def test_portal_url_keeps_world_a_out_of_reach(world, name, method, prober):
    probe = PORTAL_URLS[name]
    url = reverse(name, kwargs={"pk": getattr(world, probe.target).pk})
    client = portal_client(world, prober)
    before = snapshot() if method == "POST" else None

    body = probe.body(world) if probe.body else {}
    response = client.post(url, body) if method == "POST" else client.get(url)

    if PROBERS[prober] is None:
        assert_login_redirect(response, f"{method} {url}")
    else:
        assert response.status_code == 404, f"{prober}: {method} {url} answered {response.status_code}"
    if before is not None:
        assert snapshot() == before, f"{prober}: {method} {url} changed rows"


def required_capability(url: str) -> Capability | None:
    return getattr(get_resolver().resolve(url).func.view_class, "required_capability", None)


@pytest.mark.django_db
@pytest.mark.parametrize("prober", PORTAL_PROBERS)
@pytest.mark.parametrize("name", PORTAL_LISTS)
def test_portal_list_shows_none_of_world_a(world, name, prober):
    url = reverse(name)
    response = portal_client(world, prober).get(url)
    if PROBERS[prober] is None:
        assert_login_redirect(response, url)
        return
    capability = required_capability(url)
    expected = 404 if capability and not may(prober, capability) else 200
    assert response.status_code == expected, f"{prober}: {url} answered {response.status_code}"
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert MARKER not in content.decode("utf-8-sig").upper()


def test_every_portal_create_is_a_page_of_the_matrix():
    names = {name for _route, name, _pattern, _takes in url_patterns()}
    assert set(PORTAL_CREATES) <= names & set(PORTAL_LISTS)


@pytest.mark.django_db
@pytest.mark.parametrize("prober", PORTAL_PROBERS)
@pytest.mark.parametrize("name", PORTAL_CREATES)
def test_portal_create_refuses_world_a_customer(world, name, prober):
    url = reverse(name)
    client = portal_client(world, prober)  # signing in sets last_login: before the snapshot
    before = snapshot()

    response = client.post(url, PORTAL_CREATES[name](world))

    if PROBERS[prober] is None:
        assert_login_redirect(response, f"POST {url}")
    else:
        capability = required_capability(url)
        expected = 200 if capability is None or may(prober, capability) else 404
        assert response.status_code == expected, f"{prober}: POST {url} answered {response.status_code}"
        if expected == 200:
            assert response.context["form"].errors, f"{prober}: POST {url} accepted world A's customer"
        assert MARKER not in response.content.decode().upper()
    assert snapshot() == before, f"{prober}: POST {url} changed rows"


# Probers whose role may upload telemetry, each for a customer of their own.
UPLOADERS = [name for name in PORTAL_PROBERS if may(name, Capability.MANAGE_COLLECTOR_KEYS)]


@pytest.mark.django_db
@pytest.mark.parametrize("prober", UPLOADERS)
def test_upload_for_own_customer_rejects_every_line_naming_world_a_asset(world, prober):
    user = world.users[prober]
    own_customer = Organisation.objects.visible_to(user).customers().order_by("pk").first()
    client = portal_client(world, prober)
    before = snapshot()

    response = client.post(
        reverse("telemetry:ingest_upload"), {"customer": own_customer.pk, "file": _telemetry_csv(world)}
    )

    assert response.status_code == 200
    report = response.context["report"]
    assert (report.accepted, report.duplicates, report.rejected) == (0, 0, 2)
    # The report repeats the serial the prober sent; nothing else of world A may show.
    assert MARKER not in response.content.decode().upper().replace(world.asset_a.serial_number.upper(), "")
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("prober", [name for name, role in PROBERS.items() if role is not None])
def test_dashboard_alert_counts_leave_out_world_a(world, prober):
    # World A holds the only alert: its own admin counts it, every prober's dashboard none.
    assert alerts.alert_counts(user=world.a_admin)["total"] == 1
    counts = alerts.alert_counts(user=world.users[prober])
    assert (counts["total"], counts["silent"]) == (0, 0)


# --- The control: world A's own provider reaches what the probers are refused ---------------------------------

CONTROL_OPERATIONS = [operation for operation, probe in API_OPERATIONS.items() if probe.kind in (READ, LIST, REPORT)]
CONTROL_PAGES = [name for name, probe in PORTAL_URLS.items() if "GET" in probe.methods]


@pytest.mark.django_db
@pytest.mark.parametrize("operation", CONTROL_OPERATIONS, ids=" ".join)
def test_api_probe_aims_at_rows_that_p1_admin_reaches(world, operation):
    method = operation[0]
    probe = API_OPERATIONS[operation]
    url = api_url(world, operation)
    client = APIClient()
    client.force_authenticate(getattr(world, probe.control))

    response = client.generic(method, url)

    assert response.status_code == 200, f"{url}: {response.status_code} {response.content[:300]!r}"
    if probe.kind == REPORT:
        assert MARKER in response.content.decode("utf-8").upper(), f"{url} names none of world A"
    if probe.kind == LIST:
        assert world.a_ids(probe.collection) <= {row["id"] for row in response.json()["results"]}
        for parameter, attribute in probe.filters:
            filtered = client.get(url, {parameter: getattr(world, attribute).pk})
            assert world.a_ids(probe.collection) <= {row["id"] for row in filtered.json()["results"]}, parameter


@pytest.mark.django_db
@pytest.mark.parametrize("name", CONTROL_PAGES)
def test_portal_probe_aims_at_a_page_that_p1_admin_opens(world, name):
    url = reverse(name, kwargs={"pk": getattr(world, PORTAL_URLS[name].target).pk})
    client = Client()
    client.force_login(world.p1_admin)

    assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_world_a_work_orders_are_in_the_states_their_probes_need(world):
    # Work done and moves are probed on an order its technician may work on now; the approval decision on an
    # estimate that waits for one; the completion report on a completed order.
    work_order_a = WorkOrder.objects.get(pk=world.work_order_a.pk)
    assert maintenance_work.may_record_work(work_order=work_order_a, user=world.technician_a)
    assert work_order_a.approval_status != ApprovalStatus.PENDING
    approval = WorkOrder.objects.get(pk=world.approval_work_order_a.pk)
    assert (approval.status, approval.approval_status) == (WorkOrderStatus.ASSIGNED, ApprovalStatus.PENDING)
    assert WorkOrder.objects.get(pk=world.completed_work_order_a.pk).status == WorkOrderStatus.COMPLETED


@pytest.mark.django_db
def test_world_a_contract_is_open_to_the_changes_probed_on_it(world):
    # Suspend, end, new components and amendments are probed on an active contract; new coverage of asset_a after
    # its coverage through 2024 ends, and that coverage's end moved into 2024.
    contract = Contract.objects.get(pk=world.contract_a.pk)
    assert contract.status == ContractStatus.ACTIVE
    assert contract.components.count() == 2 and contract.amendments.count() == 1
    coverage = ContractAsset.objects.get(pk=world.coverage_a.pk)
    assert (coverage.contract_id, coverage.asset_id, coverage.end_date) == (contract.pk, world.asset_a.pk, COVERAGE_END)


@pytest.mark.django_db
def test_world_a_billing_is_in_the_states_its_probes_need(world):
    # Documents, credit notes and payments are probed on a finalised invoice with something left to credit and to
    # pay; finalising on a draft; discarding on a draft credit note; finalising the run on a run in review whose
    # only customer is customer A.
    invoice = Invoice.objects.get(pk=world.invoice_a.pk)
    assert (invoice.kind, invoice.status, invoice.customer_id) == (
        InvoiceKind.INVOICE,
        InvoiceStatus.FINALISED,
        world.customer_a.pk,
    )
    assert invoice.total == Decimal("33000") and invoice.receivable.paid_amount == 0
    note = Invoice.objects.get(pk=world.credit_note_a.pk)
    assert (note.kind, note.status, note.corrects_id, note.total) == (
        InvoiceKind.CREDIT_NOTE,
        InvoiceStatus.DRAFT,
        invoice.pk,
        Decimal("1100"),
    )
    draft = Invoice.objects.get(pk=world.draft_invoice_a.pk)
    assert (draft.kind, draft.status, draft.month) == (InvoiceKind.INVOICE, InvoiceStatus.DRAFT, 2)
    run = BillingRun.objects.get(pk=world.run_a.pk)
    assert run.status == BillingRunStatus.DRAFTED
    assert list(run.items.values_list("customer_id", "status")) == [(world.customer_a.pk, RunItemStatus.DONE)]


@pytest.mark.django_db
def test_world_a_supply_order_is_open_to_the_actions_probed_on_it(world):
    # Ship and cancel are probed on an order that P1's staff may ship or cancel now.
    order = SupplyOrder.objects.get(pk=world.supply_order_a.pk)
    actions = maintenance_supplies.supply_order_allowed_actions(order=order, user=world.p1_admin)
    assert {"ship", "cancel"} <= set(actions)


# --- Exempt URLs, each with its own check ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("prober", [name for name, role in PROBERS.items() if role is not None])
def test_admin_is_closed_to_portal_users(world, prober):
    url = reverse("admin:assets_asset_change", args=[world.asset_a.pk])
    response = portal_client(world, prober).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_password_reset_link_with_a_wrong_token_offers_no_password_form(world):
    uid = urlsafe_base64_encode(force_bytes(world.a_admin.pk))
    response = Client().get(reverse("accounts:password_reset_confirm", args=[uid, "set-password"]))
    assert response.status_code == 200
    assert "new_password1" not in response.content.decode()
    assert MARKER not in response.content.decode().upper()


@pytest.mark.django_db
def test_api_schema_is_public_and_names_no_tenant_data(world):
    for name in ("api-schema", "api-swagger-ui", "api-redoc"):
        response = Client().get(reverse(name))
        assert response.status_code == 200, name
        assert MARKER not in response.content.decode().upper()
