"""factory_boy factories of the meter ledger: readings, supply levels, diagnostic events, frozen boundaries."""

import datetime
from decimal import Decimal

import factory

from assets.tests.factories import AssetFactory
from telemetry.choices import Meter, ReadingSource, Severity, Supply
from telemetry.models import DiagnosticEvent, MeterBoundary, Reading, SupplyLevel

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


class ReadingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reading

    asset = factory.SubFactory(AssetFactory)
    meter = Meter.TOTAL_PAGES
    taken_at = factory.Sequence(lambda n: T0 + datetime.timedelta(hours=n))
    value = Decimal("1000")
    source = ReadingSource.DEVICE


class SupplyLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupplyLevel

    asset = factory.SubFactory(AssetFactory)
    supply = Supply.TONER_BLACK
    taken_at = factory.Sequence(lambda n: T0 + datetime.timedelta(hours=n))
    percent = Decimal("80")
    source = ReadingSource.DEVICE


class DiagnosticEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DiagnosticEvent

    asset = factory.SubFactory(AssetFactory)
    occurred_at = factory.Sequence(lambda n: T0 + datetime.timedelta(minutes=n))
    code = factory.Sequence(lambda n: f"SC{500 + n}")
    severity = Severity.WARNING
    message = "Fusing unit temperature abnormal"


class MeterBoundaryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MeterBoundary

    asset = factory.SubFactory(AssetFactory)
    meter = Meter.TOTAL_PAGES
    at = T0
    value = Decimal("1000")
    estimated = False
    reference = factory.Sequence(lambda n: f"INV-2024-{n:05d}")
