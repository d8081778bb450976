"""factory_boy factories of maintenance: service levels and work orders."""

from decimal import Decimal

import factory

from accounts.tests.factories import ProviderFactory
from assets.tests.factories import AssetFactory
from maintenance.choices import Priority, WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.models import ServiceLevel, WorkOrder


class ServiceLevelFactory(factory.django.DjangoModelFactory):
    """The provider's default service level unless a customer is given."""

    class Meta:
        model = ServiceLevel

    name = factory.Sequence(lambda n: f"Standard {n}")
    provider = factory.SubFactory(ProviderFactory)
    customer = None
    response_hours_p1 = 4
    response_hours_p2 = 8
    response_hours_p3 = 24
    response_hours_p4 = 72
    resolution_hours_p1 = 8
    resolution_hours_p2 = 24
    resolution_hours_p3 = 72
    resolution_hours_p4 = 168
    uptime_target_percent = Decimal("98.00")


class WorkOrderFactory(factory.django.DjangoModelFactory):
    """A plain corrective order on one asset; use the services to move it along."""

    class Meta:
        model = WorkOrder

    asset = factory.SubFactory(AssetFactory)
    customer = factory.SelfAttribute("asset.customer")
    site = factory.SelfAttribute("asset.site")
    provider = factory.SelfAttribute("customer.provider")
    number = factory.Sequence(lambda n: f"WO-2026-{n + 900000:06d}")
    kind = WorkOrderKind.CORRECTIVE
    priority = Priority.P3
    source = WorkOrderSource.MANUAL
    description = "Paper jam in tray 2"
    status = WorkOrderStatus.NEW
