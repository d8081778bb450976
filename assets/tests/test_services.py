"""Business operations of the asset registry: registering, moving, status changes, edits and their permissions."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.choices import Role
from accounts.models import OrganisationSettings
from assets.choices import AssetEventKind, AssetStatus, Ownership
from assets.models import Asset, AssetEvent
from assets.services import (
    NOT_A_CUSTOMER,
    NOT_ALLOWED,
    SAME_STATUS,
    SERIAL_TAKEN,
    SITE_OF_OTHER_CUSTOMER,
    asset_change_status,
    asset_create,
    asset_move,
    asset_update,
    site_create,
)
from assets.tests.factories import AssetFactory, AssetModelFactory, ManufacturerFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ricoh_model():
    return AssetModelFactory(manufacturer=ManufacturerFactory(name="Ricoh"), name="IM C3010")


@pytest.fixture
def canon_model():
    return AssetModelFactory(manufacturer=ManufacturerFactory(name="Canon"), name="iR-ADV C5840")


def register(customer, site, asset_model, serial_number="3100R123456", **fields):
    return asset_create(
        customer=customer,
        site=site,
        asset_model=asset_model,
        serial_number=serial_number,
        ownership=Ownership.FULL_MAINTENANCE_LEASE,
        **fields,
    )


# asset_create


def test_asset_create_takes_the_manufacturer_from_the_model_and_records_registration(
    customer, site, ricoh_model, provider_admin
):
    asset = register(customer, site, ricoh_model, serial_number="  3100R123456 ", by=provider_admin)

    assert asset.manufacturer == ricoh_model.manufacturer
    assert asset.serial_number == "3100R123456"
    assert asset.currency == customer.currency
    event = AssetEvent.objects.get(asset=asset)
    assert (event.kind, event.to_site, event.to_status, event.by) == (
        AssetEventKind.REGISTERED,
        site,
        AssetStatus.ACTIVE,
        provider_admin,
    )


def test_asset_create_refuses_a_site_of_another_customer(customer, other_customer, ricoh_model):
    foreign_site = SiteFactory(customer=other_customer)

    with pytest.raises(ValidationError) as error:
        register(customer, foreign_site, ricoh_model)

    assert error.value.message_dict == {"site": [str(SITE_OF_OTHER_CUSTOMER)]}
    assert not Asset.objects.exists()


def test_asset_create_refuses_the_provider_as_owner(provider, site, ricoh_model):
    with pytest.raises(ValidationError) as error:
        register(provider, site, ricoh_model)

    assert error.value.message_dict == {"customer": [str(NOT_A_CUSTOMER)]}


def test_asset_create_refuses_a_serial_the_manufacturer_already_issued(customer, other_customer, site, ricoh_model):
    register(customer, site, ricoh_model, serial_number="3100R123456")
    same_maker_other_model = AssetModelFactory(manufacturer=ricoh_model.manufacturer, name="IM 2500")

    with pytest.raises(ValidationError) as error:
        register(
            other_customer, SiteFactory(customer=other_customer), same_maker_other_model, serial_number="3100R123456"
        )

    assert error.value.message_dict == {"serial_number": [str(SERIAL_TAKEN)]}
    assert Asset.objects.count() == 1


def test_asset_create_allows_the_same_serial_for_another_manufacturer(customer, site, ricoh_model, canon_model):
    register(customer, site, ricoh_model, serial_number="ABC0001")

    other = register(customer, site, canon_model, serial_number="ABC0001")

    assert other.manufacturer.name == "Canon"
    assert Asset.objects.filter(serial_number="ABC0001").count() == 2


def test_asset_create_defaults_the_expected_life_from_the_customer_settings(provider, customer, site, ricoh_model):
    OrganisationSettings.objects.filter(organisation=provider).update(default_expected_life_months=72)
    OrganisationSettings.objects.filter(organisation=customer).update(default_expected_life_months=48)

    assert register(customer, site, ricoh_model).expected_life_months == 48


def test_asset_create_defaults_the_expected_life_from_the_provider_settings(provider, customer, site, ricoh_model):
    OrganisationSettings.objects.filter(organisation=provider).update(default_expected_life_months=72)

    assert register(customer, site, ricoh_model).expected_life_months == 72


def test_asset_create_defaults_the_expected_life_to_the_built_in_default(customer, site, ricoh_model):
    assert register(customer, site, ricoh_model).expected_life_months == 60


def test_asset_create_keeps_a_given_expected_life(provider, customer, site, ricoh_model):
    OrganisationSettings.objects.filter(organisation=provider).update(default_expected_life_months=72)

    assert register(customer, site, ricoh_model, expected_life_months=36).expected_life_months == 36


def test_asset_create_refuses_a_negative_cost(customer, site, ricoh_model):
    with pytest.raises(ValidationError) as error:
        register(customer, site, ricoh_model, acquisition_cost=Decimal("-1"))

    assert "acquisition_cost" in error.value.message_dict


@pytest.mark.parametrize(
    ("organisation_fixture", "role"),
    [("customer", Role.CUSTOMER_VIEWER), ("customer", Role.CUSTOMER_ADMIN), ("provider", Role.SERVICE_DESK)],
)
def test_asset_create_refuses_roles_that_do_not_manage_assets(
    request, customer, site, ricoh_model, make_member, organisation_fixture, role
):
    by = make_member(request.getfixturevalue(organisation_fixture), role)

    with pytest.raises(ValidationError) as error:
        register(customer, site, ricoh_model, by=by)

    assert error.value.messages == [str(NOT_ALLOWED)]
    assert not Asset.objects.exists()


# asset_move


def test_asset_move_records_where_the_asset_came_from_and_went(customer, asset, customer_admin):
    depot = SiteFactory(customer=customer, name="Chiba depot")
    origin = asset.site

    asset_move(asset=asset, site=depot, location_note="Bay 4", by=customer_admin, note="Office moved")

    asset.refresh_from_db()
    assert (asset.site, asset.location_note) == (depot, "Bay 4")
    event = AssetEvent.objects.get(asset=asset, kind=AssetEventKind.MOVED)
    assert (event.from_site, event.to_site, event.by, event.note) == (origin, depot, customer_admin, "Office moved")


def test_asset_move_within_a_site_records_the_new_location(asset):
    asset_move(asset=asset, site=asset.site, location_note="2F copy room")

    event = AssetEvent.objects.get(asset=asset, kind=AssetEventKind.MOVED)
    assert (event.from_site, event.to_site, event.note) == (asset.site, asset.site, "2F copy room")


def test_asset_move_to_where_it_stands_records_nothing(asset):
    asset_move(asset=asset, site=asset.site)

    assert not AssetEvent.objects.filter(asset=asset).exists()


def test_asset_move_refuses_another_customers_site(asset, other_customer):
    foreign_site = SiteFactory(customer=other_customer)
    origin = asset.site

    with pytest.raises(ValidationError) as error:
        asset_move(asset=asset, site=foreign_site)

    assert error.value.message_dict == {"site": [str(SITE_OF_OTHER_CUSTOMER)]}
    asset.refresh_from_db()
    assert asset.site == origin


def test_asset_move_refuses_a_customer_viewer(asset, customer, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)

    with pytest.raises(ValidationError) as error:
        asset_move(asset=asset, site=SiteFactory(customer=customer), by=viewer)

    assert error.value.messages == [str(NOT_ALLOWED)]


# asset_change_status


def test_asset_change_status_records_from_and_to(asset, provider_admin):
    asset_change_status(asset=asset, status=AssetStatus.IN_REPAIR, by=provider_admin, note="Fuser jam")

    asset.refresh_from_db()
    assert asset.status == AssetStatus.IN_REPAIR
    event = AssetEvent.objects.get(asset=asset)
    assert (event.kind, event.from_status, event.to_status, event.note) == (
        AssetEventKind.STATUS_CHANGED,
        AssetStatus.ACTIVE,
        AssetStatus.IN_REPAIR,
        "Fuser jam",
    )


def test_asset_change_status_refuses_the_same_status(asset):
    with pytest.raises(ValidationError) as error:
        asset_change_status(asset=asset, status=AssetStatus.ACTIVE)

    assert error.value.message_dict == {"status": [str(SAME_STATUS)]}
    assert not AssetEvent.objects.exists()


def test_asset_change_status_refuses_an_unknown_status(asset):
    with pytest.raises(ValidationError) as error:
        asset_change_status(asset=asset, status="scrapped")

    assert "status" in error.value.message_dict


def test_asset_change_status_refuses_a_customer_viewer(asset, customer, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)

    with pytest.raises(ValidationError) as error:
        asset_change_status(asset=asset, status=AssetStatus.RETIRED, by=viewer)

    assert error.value.messages == [str(NOT_ALLOWED)]
    asset.refresh_from_db()
    assert asset.status == AssetStatus.ACTIVE


# asset_update


def test_asset_update_changes_fields_and_records_which(asset):
    asset_update(asset=asset, asset_tag="HQ-0001", install_date=datetime.date(2024, 1, 15))

    asset.refresh_from_db()
    assert (asset.asset_tag, asset.install_date) == ("HQ-0001", datetime.date(2024, 1, 15))
    assert AssetEvent.objects.get(asset=asset, kind=AssetEventKind.UPDATED).note == "asset_tag, install_date"


def test_asset_update_with_nothing_changed_records_nothing(asset):
    asset_update(asset=asset, asset_tag=asset.asset_tag)

    assert not AssetEvent.objects.exists()


def test_asset_update_of_the_model_follows_with_the_manufacturer(asset, canon_model):
    asset_update(asset=asset, asset_model=canon_model)

    asset.refresh_from_db()
    assert asset.manufacturer == canon_model.manufacturer


def test_asset_update_refuses_a_serial_taken_at_the_same_manufacturer(customer, site, ricoh_model):
    first = register(customer, site, ricoh_model, serial_number="SN-1")
    second = register(customer, site, ricoh_model, serial_number="SN-2")

    with pytest.raises(ValidationError) as error:
        asset_update(asset=second, serial_number=first.serial_number)

    assert error.value.message_dict == {"serial_number": [str(SERIAL_TAKEN)]}
    assert Asset.objects.get(pk=second.pk).serial_number == "SN-2"


@pytest.mark.parametrize("field", ["site", "status", "customer", "manufacturer", "last_seen_at"])
def test_asset_update_refuses_fields_it_does_not_own(asset, other_customer, field):
    with pytest.raises(ValidationError) as error:
        asset_update(asset=asset, **{field: None})

    assert list(error.value.message_dict) == [field]
    assert Asset.objects.get(pk=asset.pk).customer_id == asset.customer_id


def test_asset_update_refuses_a_customer_viewer(asset, customer, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)

    with pytest.raises(ValidationError) as error:
        asset_update(asset=asset, asset_tag="X", by=viewer)

    assert error.value.messages == [str(NOT_ALLOWED)]
    assert Asset.objects.get(pk=asset.pk).asset_tag != "X"


def test_services_allow_a_provider_admin(asset, customer, provider_admin):
    depot = SiteFactory(customer=customer)

    asset_update(asset=asset, asset_tag="HQ-9", by=provider_admin)
    asset_move(asset=asset, site=depot, by=provider_admin)
    asset_change_status(asset=asset, status=AssetStatus.STANDBY, by=provider_admin)

    assert AssetEvent.objects.filter(asset=asset, by=provider_admin).count() == 3


# site_create


def test_site_create_refuses_a_duplicate_name_for_the_same_customer(customer, other_customer, site):
    with pytest.raises(ValidationError):
        site_create(customer=customer, name=site.name)

    assert site_create(customer=other_customer, name=site.name).customer == other_customer


def test_site_create_refuses_a_customer_admin(customer, customer_admin):
    with pytest.raises(ValidationError) as error:
        site_create(customer=customer, name="Kobe plant", by=customer_admin)

    assert error.value.messages == [str(NOT_ALLOWED)]


def test_asset_factory_assets_are_consistent_with_services(customer, site):
    # The factories stand in for the services in other tests: they must build what the services would.
    asset = AssetFactory(customer=customer, site=site)

    assert asset.manufacturer_id == asset.asset_model.manufacturer_id
    assert asset.site.customer_id == asset.customer_id


def test_part_type_save_validates_and_sets_the_models_it_fits(provider_admin):
    from assets.services import part_type_save
    from assets.tests.factories import AssetModelFactory

    model = AssetModelFactory()
    part = part_type_save(
        by=provider_admin,
        code="DRM-1",
        name="Drum unit",
        kind="wear_part",
        life_unit="pages",
        rated_life=120000,
        unit_cost=Decimal("18000"),
        currency="JPY",
        asset_models=[model],
    )
    assert list(part.asset_models.all()) == [model]
    with pytest.raises(ValidationError) as error:
        part_type_save(instance=part, by=provider_admin, rated_life=0)
    assert "rated_life" in error.value.message_dict


def test_catalogue_is_maintained_by_provider_admins_only(customer_admin):
    from assets.services import manufacturer_save

    with pytest.raises(ValidationError):
        manufacturer_save(by=customer_admin, name="Konica Minolta")
