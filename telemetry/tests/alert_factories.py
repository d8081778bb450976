"""factory_boy factories of alert rules and alerts."""

import datetime
from decimal import Decimal

import factory

from accounts.tests.factories import ProviderFactory
from assets.tests.factories import AssetFactory
from telemetry.choices import AlertRuleKind, AlertStatus, Severity, Supply
from telemetry.models import Alert, AlertOccurrence, AlertRule

T0 = datetime.datetime(2024, 6, 3, 9, 0, tzinfo=datetime.UTC)


class AlertRuleFactory(factory.django.DjangoModelFactory):
    """A supply rule by default: black toner under 10 %."""

    class Meta:
        model = AlertRule

    provider = factory.SubFactory(ProviderFactory)
    name = factory.Sequence(lambda n: f"Black toner low {n}")
    kind = AlertRuleKind.SUPPLY_BELOW
    severity = Severity.WARNING
    supply = Supply.TONER_BLACK
    threshold = Decimal("10")


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    asset = factory.SubFactory(AssetFactory)
    customer = factory.SelfAttribute("asset.customer")
    rule = factory.SubFactory(AlertRuleFactory, provider=factory.SelfAttribute("..customer.provider"))
    condition = Supply.TONER_BLACK
    severity = factory.SelfAttribute("rule.severity")
    status = AlertStatus.OPEN
    message = "4%"
    first_seen_at = T0
    last_seen_at = T0
    count = 1


class AlertOccurrenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertOccurrence

    alert = factory.SubFactory(AlertFactory)
    at = factory.SelfAttribute("alert.last_seen_at")
    message = factory.SelfAttribute("alert.message")
