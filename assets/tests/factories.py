"""factory_boy factories of the asset registry."""

import datetime
from decimal import Decimal

import factory

from accounts.tests.factories import CustomerFactory
from assets.choices import AssetCategory, AssetStatus, LifeUnit, Ownership, PartKind
from assets.models import Asset, AssetModel, Manufacturer, PartType, Site


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Site {n}")
    city = "Yokohama"
    postal_code = "220-0012"
    address_line1 = "1-1 Minatomirai"
    country = "JP"
    floor = "3F"


class ManufacturerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Manufacturer
        django_get_or_create = ("name",)

    name = factory.Iterator(["Ricoh", "Canon", "Toyota", "Kyocera"])


class AssetModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AssetModel
        django_get_or_create = ("manufacturer", "name")

    manufacturer = factory.SubFactory(ManufacturerFactory)
    name = factory.Sequence(lambda n: f"IM C{3000 + n}")
    category = AssetCategory.MFP
    rated_monthly_volume = 20000
    power_draw_watts = 1500


class PartTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartType

    code = factory.Sequence(lambda n: f"TNR-{n:04d}")
    name = factory.Sequence(lambda n: f"Black toner {n}")
    kind = PartKind.CONSUMABLE
    life_unit = LifeUnit.PAGES
    rated_life = 24000
    lead_time_days = 3
    unit_cost = Decimal("12000")
    currency = "JPY"


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset

    customer = factory.SubFactory(CustomerFactory)
    site = factory.SubFactory(SiteFactory, customer=factory.SelfAttribute("..customer"))
    asset_model = factory.SubFactory(AssetModelFactory)
    manufacturer = factory.SelfAttribute("asset_model.manufacturer")
    serial_number = factory.Sequence(lambda n: f"SN{n:07d}")
    asset_tag = factory.Sequence(lambda n: f"TAG-{n:05d}")
    status = AssetStatus.ACTIVE
    ownership = Ownership.FULL_MAINTENANCE_LEASE
    install_date = datetime.date(2023, 4, 1)
    acquisition_cost = Decimal("850000")
    currency = "JPY"
    expected_life_months = 60
