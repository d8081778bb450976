"""generate_fleet: bulk-written customers, sites and assets of the requested size, refused for a used prefix."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F

from accounts.models import Organisation, OrganisationSettings
from assets.models import Asset, AssetEvent, Site

pytestmark = pytest.mark.django_db


def generate(**options) -> str:
    out = StringIO()
    call_command("generate_fleet", stdout=out, **options)
    return out.getvalue()


def test_generate_fleet_writes_the_requested_customers_sites_and_assets():
    output = generate(customers=3, assets=30, prefix="t", seed=7)
    customers = Organisation.objects.filter(code__startswith="t-c")
    assert customers.count() == 3
    assert set(customers.values_list("provider__code", flat=True)) == {"nfs"}
    assert OrganisationSettings.objects.filter(organisation__in=customers).count() == 3
    assets = Asset.objects.filter(customer__in=customers)
    assert assets.count() == 30
    assert not assets.exclude(site__customer=F("customer")).exists()
    assert not assets.exclude(manufacturer=F("asset_model__manufacturer")).exists()
    assert all(serial.startswith("T-") for serial in assets.values_list("serial_number", flat=True))
    per_customer = dict(assets.values_list("customer").annotate(n=Count("pk")).order_by())
    assert len(per_customer) == 3 and min(per_customer.values()) >= 1
    assert 3 <= Site.objects.filter(customer__in=customers).count() <= 15
    assert AssetEvent.objects.filter(asset__in=assets, kind="registered").count() == 30
    assert "rows/s" in output


def test_generate_fleet_refuses_a_used_prefix_and_writes_nothing():
    generate(customers=3, assets=30, prefix="t")
    before = (Organisation.objects.count(), Site.objects.count(), Asset.objects.count())
    with pytest.raises(CommandError, match="another --prefix"):
        generate(customers=2, assets=10, prefix="t")
    assert (Organisation.objects.count(), Site.objects.count(), Asset.objects.count()) == before


def test_generate_fleet_adds_a_distinct_dataset_under_another_prefix():
    generate(customers=3, assets=30, prefix="t")
    generate(customers=2, assets=12, prefix="u")
    assert Asset.objects.filter(customer__code__startswith="u-c").count() == 12
    assert Asset.objects.count() == 42
    assert AssetEvent.objects.count() == 42


def test_generate_fleet_same_seed_gives_the_same_fleet():
    generate(customers=3, assets=30, prefix="t", seed=3)
    generate(customers=3, assets=30, prefix="u", seed=3)

    def shape(prefix):
        rows = Asset.objects.filter(customer__code__startswith=f"{prefix}-c").order_by("serial_number")
        return [(row.status, row.ownership, row.asset_model_id, row.acquisition_cost) for row in rows]

    assert shape("t") == shape("u")


def test_generate_fleet_rejects_a_prefix_that_is_not_a_plain_word():
    with pytest.raises(CommandError, match="--prefix"):
        generate(customers=1, assets=1, prefix="bad-prefix")
