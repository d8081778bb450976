"""seed_demo: idempotent demo data, users of every role who sign in with the printed passwords, fleets over sites."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from stdnum.jp import cn

from accounts.choices import OrganisationKind, Role
from accounts.demo import DEMO_PASSWORDS, PROVIDER_CODE, USERS
from accounts.models import Membership, Organisation, OrganisationSettings, User
from assets.choices import MATERIAL_HANDLING_CATEGORIES, PRINT_CATEGORIES
from assets.models import Asset, AssetEvent, AssetModel, Manufacturer, PartType, Site
from fleet.tenancy import access_for

pytestmark = pytest.mark.django_db

COUNTED = (
    Organisation,
    OrganisationSettings,
    User,
    Membership,
    Site,
    Asset,
    AssetEvent,
    Manufacturer,
    AssetModel,
    PartType,
    Site.operators.through,
    PartType.asset_models.through,
    Organisation.account_managers.through,
)


def seed() -> str:
    """The accounts and assets steps (telemetry has its own module-scoped tests: its history takes seconds)."""
    out = StringIO()
    call_command("seed_demo", "--skip", "telemetry", stdout=out)
    return out.getvalue()


def test_seed_demo_refuses_an_unknown_step():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown step"):
        call_command("seed_demo", "--skip", "nonsense", stdout=StringIO())


def login_rows(output: str) -> list[tuple[str, str]]:
    """(e-mail, password) pairs read from the printed table: the cells that look like an address, then the next."""
    pairs = []
    for line in output.splitlines():
        cells = line.split()
        emails = [index for index, cell in enumerate(cells) if "@" in cell]
        if emails:
            pairs.append((cells[emails[0]], cells[emails[0] + 1]))
    return pairs


def counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in COUNTED}


@pytest.mark.smoke
def test_seed_demo_twice_creates_no_duplicates_and_changes_nothing():
    seed()
    first = counts()
    stamps = (
        list(Asset.objects.order_by("pk").values_list("updated_at", flat=True)),
        list(PartType.objects.order_by("pk").values_list("updated_at", flat=True)),
        list(User.objects.order_by("pk").values_list("password", flat=True)),
    )
    output = seed()
    assert counts() == first
    assert (
        list(Asset.objects.order_by("pk").values_list("updated_at", flat=True)),
        list(PartType.objects.order_by("pk").values_list("updated_at", flat=True)),
        list(User.objects.order_by("pk").values_list("password", flat=True)),
    ) == stamps
    assert "0 users created" in output
    assert "0 assets created" in output


def test_seed_demo_prints_a_login_of_every_role_that_signs_in(client):
    output = seed()
    pairs = login_rows(output)
    assert len(pairs) == len(USERS)
    users = {user.email: user for user in User.objects.select_related("membership")}
    assert {users[email].membership.role for email, _password in pairs} == set(Role.values)
    for email, password in pairs:
        assert password == DEMO_PASSWORDS[Role(users[email].membership.role)]
        response = client.post(reverse("accounts:login"), {"username": email, "password": password})
        assert response.status_code == 302, email
        assert client.session["_auth_user_id"] == str(users[email].pk)
        client.logout()


def test_seed_demo_puts_back_a_changed_demo_password():
    seed()
    user = User.objects.get(email="admin@towa-shoji.example")
    user.set_password("Someone-Else-Chose-This-1")
    user.save()
    seed()
    user.refresh_from_db()
    assert user.check_password(DEMO_PASSWORDS[Role.CUSTOMER_ADMIN])


def test_seed_demo_provider_is_japanese_with_a_valid_registration_number():
    seed()
    provider = Organisation.objects.get(code=PROVIDER_CODE)
    assert provider.kind == OrganisationKind.PROVIDER
    assert provider.country == "JP"
    number = provider.tax_registration_number
    assert number.startswith("T") and len(number) == 14
    assert cn.is_valid(number[1:])
    provider.full_clean()


def test_seed_demo_customers_have_their_fleets_over_the_stated_sites():
    seed()
    expected_sites = {
        "towa-shoji": {"東京本社", "大阪支店", "名古屋営業所"},
        "minato-logistics": {"埼玉加須物流センター", "神戸六甲アイランド倉庫"},
        "nordwerk-japan": {"Utsunomiya Plant", "Yokohama Office"},
    }
    for code, site_names in expected_sites.items():
        customer = Organisation.objects.get(code=code)
        assert set(customer.sites.values_list("name", flat=True)) == site_names
        assert set(customer.assets.values_list("site__name", flat=True)) == site_names  # every site has assets
        assert not Asset.objects.filter(customer=customer).exclude(site__customer=customer).exists()
    office = Asset.objects.filter(customer__code="towa-shoji")
    logistics = Asset.objects.filter(customer__code="minato-logistics")
    mixed = Asset.objects.filter(customer__code="nordwerk-japan")
    assert 55 <= office.count() <= 65
    assert set(office.values_list("asset_model__category", flat=True)) <= set(PRINT_CATEGORIES)
    assert office.exclude(network_address="").count() == office.count()
    assert 40 <= logistics.exclude(asset_model__category__in=("battery", "charger")).count() <= 45
    assert set(logistics.values_list("asset_model__category", flat=True)) <= set(MATERIAL_HANDLING_CATEGORIES)
    categories = set(mixed.values_list("asset_model__category", flat=True))
    assert categories & set(PRINT_CATEGORIES) and categories & set(MATERIAL_HANDLING_CATEGORIES)
    assert Organisation.objects.get(code="nordwerk-japan").language == "en"
    assert Asset.objects.filter(acquisition_cost__isnull=True).count() == 0
    assert Asset.objects.values("status").distinct().count() >= 3
    assert Asset.objects.values("ownership").distinct().count() == 4
    assert AssetEvent.objects.filter(kind="registered").count() == Asset.objects.count()


def test_seed_demo_catalogue_links_part_types_to_the_models_they_fit():
    seed()
    im_c4500 = AssetModel.objects.get(name="IM C4500")
    assert set(im_c4500.part_types.values_list("code", flat=True)) >= {
        "RIC-IMC-K", "RIC-IMC-C", "RIC-IMC-M", "RIC-IMC-Y", "RIC-IMC-DRUM", "RIC-IMC-FUSER", "RIC-IMC-ITB",
    }  # fmt: skip
    reach_truck = AssetModel.objects.get(name="8FBR15")
    assert {"FLT-BRAKE-SHOE", "FLT-HYD-HOSE", "FLT-BATT-48V-280"} <= set(
        reach_truck.part_types.values_list("code", flat=True)
    )
    assert not PartType.objects.filter(asset_models__isnull=True).exists()


def test_seed_demo_scopes_operator_to_one_site_and_account_manager_to_two_customers():
    seed()
    operator = User.objects.get(email="operator@minato-logistics.example")
    assert list(operator.membership.sites.values_list("name", flat=True)) == ["埼玉加須物流センター"]
    visible = Asset.objects.visible_to(operator)
    assert visible.exists()
    assert set(visible.values_list("site__name", flat=True)) == {"埼玉加須物流センター"}
    manager = User.objects.get(email="sales@nihon-fleet.example")
    assert access_for(manager).role == Role.ACCOUNT_MANAGER
    assert set(Organisation.objects.visible_to(manager).customers().values_list("code", flat=True)) == {
        "towa-shoji",
        "minato-logistics",
    }
