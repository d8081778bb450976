"""Demo work: the provider's default service level and a technician's day of work orders.

A few of the demo's open alerts become corrective work orders assigned to the demo technician (one on the
way, one in progress), and one customer asks for service. Idempotent: alerts that already have a work
order, and a request already made, are left as they are.
"""

from django.db.models import Case, IntegerField, Value, When

from accounts.choices import Role
from accounts.demo import PROVIDER_CODE
from accounts.models import Membership, Organisation
from fleet.demo import DemoContext
from maintenance.choices import Priority, WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.models import ServiceLevel, WorkOrder
from maintenance.services import work_order_assign, work_order_create, work_order_transition
from telemetry.alerts import condition_label
from telemetry.choices import AlertRuleKind
from telemetry.models import Alert

DEMO_WORK_ORDERS = 5
SERVICE_REQUEST = "複合機の紙詰まりが頻発しています。点検をお願いします。"


def seed_maintenance(context: DemoContext) -> None:
    provider = Organisation.objects.get(code=PROVIDER_CODE)
    ServiceLevel.objects.get_or_create(provider=provider, customer=None, defaults={"name": "Standard"})
    memberships = Membership.objects.filter(organisation=provider).select_related("user")
    technician = memberships.filter(role=Role.TECHNICIAN).order_by("pk").first().user  # the first: tech@
    dispatcher = memberships.get(role=Role.SERVICE_DESK).user

    alerts = (
        Alert.objects.active()
        .filter(customer__provider=provider, work_orders__isnull=True)
        .exclude(rule__kind=AlertRuleKind.SILENT)
        .select_related("asset__site", "asset__customer")
        .annotate(
            first=Case(
                When(rule__kind=AlertRuleKind.IMPACT_ABOVE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("first", "-last_seen_at", "pk")
    )
    already = WorkOrder.objects.filter(provider=provider, source=WorkOrderSource.ALERT).count()
    created = 0
    for number, alert in enumerate(alerts[: max(0, DEMO_WORK_ORDERS - already)]):
        work_order = work_order_create(
            customer=alert.asset.customer,
            site=alert.asset.site,
            asset=alert.asset,
            kind=WorkOrderKind.CORRECTIVE,
            priority=Priority.P2 if number == 0 else Priority.P3,
            source=WorkOrderSource.ALERT,
            description=f"{condition_label(alert.condition)} {alert.message}".strip(),
            alert=alert,
            by=dispatcher,
        )
        work_order_assign(work_order=work_order, technician=technician, by=dispatcher)
        if number == 0:
            work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
        elif number == 1:
            work_order_transition(work_order=work_order, to_status=WorkOrderStatus.EN_ROUTE, by=technician)
        created += 1

    requester = (
        Membership.objects.filter(role=Role.CUSTOMER_ADMIN, organisation__provider=provider)
        .select_related("user", "organisation")
        .order_by("organisation__code")
        .first()
    )
    if (
        requester
        and not WorkOrder.objects.filter(customer=requester.organisation, description=SERVICE_REQUEST).exists()
    ):
        site = requester.organisation.sites.order_by("name").first()
        work_order_create(
            customer=requester.organisation,
            site=site,
            kind=WorkOrderKind.SERVICE_REQUEST,
            priority=Priority.P3,
            source=WorkOrderSource.CUSTOMER_REQUEST,
            description=SERVICE_REQUEST,
            by=requester.user,
        )
        created += 1
    context.log(f"maintenance: {created} work orders created")
