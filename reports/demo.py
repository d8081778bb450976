"""Demo data of reports: the provider's cost rates and twelve months of cost ledger for every demo customer,
proposals, a year of survey answers, the provider's acquisition spend and the KPI snapshots of the closed months."""

import datetime
from decimal import Decimal

from django.utils import timezone

from accounts.choices import Role
from accounts.demo import PROVIDER_CODE
from accounts.models import Membership, Organisation
from fleet.demo import DemoContext
from maintenance.plans import add_months
from reports.ledger import build_ledgers, months_back, sweep_customer_ids
from reports.models import AcquisitionSpend, CostEntry, CostRates, KpiSnapshot, ManualCost, NpsResponse, Proposal
from reports.proposals import proposal_request
from reports.snapshots import take_snapshot

DEMO_LEDGER_MONTHS = 13  # the twelve invoiced months and the current one
ENERGY_PRICE_PER_KWH = Decimal("31.0000")  # a Japanese business tariff, yen per kWh
DOWNTIME_COST_PER_HOUR = Decimal("6000.00")  # an idle operator and lost output, yen per hour
INSURANCE_PER_ASSET = Decimal(450)  # yen a month
INSURANCE = ("Equipment insurance", "動産総合保険")


def seed_ledger(context: DemoContext) -> None:
    """The provider's default energy price and downtime cost, each customer's equipment insurance entered by hand,
    then the ledger of each demo customer for the months the demo invoiced and the current one. Building replaces a
    month, so running the step again changes nothing."""
    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    if provider is None:
        return
    CostRates.objects.get_or_create(
        provider=provider,
        customer=None,
        defaults={"energy_price_per_kwh": ENERGY_PRICE_PER_KWH, "downtime_cost_per_hour": DOWNTIME_COST_PER_HOUR},
    )
    customer_ids = sweep_customer_ids(provider.pk)
    months = months_back(context.today, DEMO_LEDGER_MONTHS)
    for customer in Organisation.objects.filter(pk__in=customer_ids).order_by("pk"):
        # The customer's own insurance of its equipment: a cost no source records, entered by hand each month.
        premium = INSURANCE_PER_ASSET * customer.assets.count()
        if not premium:  # no equipment of its own to insure
            continue
        for year, month in months:
            ManualCost.objects.get_or_create(
                customer=customer,
                month=datetime.date(year, month, 1),
                description=INSURANCE[customer.language == "ja"],
                defaults={"amount": premium, "currency": customer.currency},
            )
    build_ledgers(customer_ids=customer_ids, months=months)
    context.log(
        f"ledger: {CostEntry.objects.filter(customer_id__in=customer_ids).count()} cost entries, "
        f"{len(customer_ids)} customers over {DEMO_LEDGER_MONTHS} months"
    )


def seed_proposals(context: DemoContext) -> None:
    """One improvement proposal for each demo customer, requested by its account manager (rendered when the demo's
    data is committed; Celery runs eagerly in the demo). A customer that has one keeps it."""
    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    manager = (
        Membership.objects.filter(organisation=provider, role=Role.ACCOUNT_MANAGER).select_related("user").first()
        if provider
        else None
    )
    if manager is None:
        return
    requested = 0
    for customer in Organisation.objects.customers().filter(account_managers=manager.user).order_by("pk"):
        if not Proposal.objects.filter(customer=customer).exists():
            proposal_request(customer=customer, by=manager.user, today=context.today)
            requested += 1
    context.log(f"proposals: {requested} requested")


NPS_SCORES = {"ja": (8, 9, 7, 9), "en": (6, 8, 9, 10)}  # a customer's four answers of the year, oldest first


def seed_nps(context: DemoContext) -> None:
    """A year of survey answers: each demo customer's admin answered every three months. Kept when present."""
    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    if provider is None or NpsResponse.objects.filter(customer__provider=provider).exists():
        return
    admins = Membership.objects.filter(organisation__provider=provider, role=Role.CUSTOMER_ADMIN).select_related(
        "organisation", "user"
    )
    now = timezone.now()
    answers = [
        NpsResponse(
            customer=admin.organisation,
            respondent=admin.user,
            score=score,
            comment="",
            answered_at=now - datetime.timedelta(days=95 * (3 - index) + 10),
        )
        for admin in admins
        for index, score in enumerate(NPS_SCORES["ja" if admin.organisation.language == "ja" else "en"])
    ]
    NpsResponse.objects.bulk_create(answers)
    context.log(f"nps: {len(answers)} answers")


# What the provider spends on winning customers (marketing every month; a trade fair and a trial in the months given,
# as months ago), over the months since the first demo contract was signed.
ACQUISITION_SPEND_MONTHS = 15
MONTHLY_SPEND = ("Web advertising and lead generation", Decimal(180_000))
EVENT_SPEND = {
    14: ("Logistics trade fair booth", Decimal(650_000)),
    8: ("Print pilot proposal and set-up", Decimal(420_000)),
}
SNAPSHOT_MONTHS = 12


def seed_acquisition_spend(context: DemoContext) -> None:
    """The provider's acquisition spend of the last fifteen months (the numerator of CAC). Kept when present."""
    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    if provider is None or AcquisitionSpend.objects.filter(provider=provider).exists():
        return
    this_month = context.today.replace(day=1)
    rows = []
    for months_ago in range(ACQUISITION_SPEND_MONTHS - 1, -1, -1):
        month = add_months(this_month, -months_ago)
        for description, amount in [MONTHLY_SPEND, *([EVENT_SPEND[months_ago]] if months_ago in EVENT_SPEND else [])]:
            rows.append(AcquisitionSpend(provider=provider, month=month, description=description, amount=amount))
    AcquisitionSpend.objects.bulk_create(rows)
    context.log(f"acquisition spend: {len(rows)} entries over {ACQUISITION_SPEND_MONTHS} months")


def seed_kpi_snapshots(context: DemoContext) -> None:
    """The KPI snapshots of the twelve closed months, as the daily task would have taken them. A month that has one
    keeps it."""
    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    if provider is None:
        return
    this_month = context.today.replace(day=1)
    taken = 0
    for months_ago in range(SNAPSHOT_MONTHS, 0, -1):
        taken += take_snapshot(provider_id=provider.pk, month=add_months(this_month, -months_ago)) is not None
    context.log(f"kpi snapshots: {taken} taken, {KpiSnapshot.objects.filter(provider=provider).count()} in all")
