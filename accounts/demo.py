"""Demo and scale data of accounts: the provider, the demo customers and a user of every role.

The demo passwords are fixed strings (one per role), printed by ``seed_demo`` and listed in bench/README.md.
They pass the password validators, and they exist for the demo only: never seed a reachable server.
"""

from stdnum.jp import cn

from accounts.choices import OrganisationKind, Role
from accounts.models import Membership, Organisation, OrganisationSettings, User
from accounts.services import organisation_create, user_create
from fleet.bulk import bulk_load
from fleet.demo import DemoContext, ScaleContext, ScaleDataExists

DEMO_PASSWORDS: dict[Role, str] = {
    Role.PROVIDER_ADMIN: "Harbor-Maple-7314",
    Role.SERVICE_DESK: "Lantern-Cedar-5208",
    Role.ACCOUNT_MANAGER: "Compass-Birch-6642",
    Role.TECHNICIAN: "Wrench-Juniper-3971",
    Role.CUSTOMER_ADMIN: "Atlas-Ginkgo-8825",
    Role.CUSTOMER_VIEWER: "Window-Willow-4156",
    Role.CUSTOMER_OPERATOR: "Pallet-Bamboo-2590",
}


def corporate_number(body: str) -> str:
    """A 13-digit Japanese corporate number: the check digit (first) computed over the 12 digits that follow."""
    return cn.calc_check_digit(body) + body


PROVIDER_CODE = "nfs"
PROVIDER = {
    "name": "日本フリートサービス株式会社",
    "language": "ja",
    "time_zone": "Asia/Tokyo",
    "currency": "JPY",
    "tax_registration_number": "T" + corporate_number("010401098765"),
    "postal_code": "105-0011",
    "region": "東京都",
    "city": "港区",
    "address_line1": "芝公園2-4-1",
    "address_line2": "芝パークビル B館 8階",
    "country": "JP",
}

# The demo customers, by code. ``managed`` customers are assigned to the demo account manager.
CUSTOMERS: dict[str, dict] = {
    "towa-shoji": {
        "name": "東和商事株式会社",
        "language": "ja",
        "time_zone": "Asia/Tokyo",
        "currency": "JPY",
        "tax_registration_number": "T" + corporate_number("010001077341"),
        "postal_code": "100-0005",
        "region": "東京都",
        "city": "千代田区",
        "address_line1": "丸の内1-6-5",
        "address_line2": "丸の内北口ビル 12階",
        "country": "JP",
    },
    "minato-logistics": {
        "name": "みなと物流株式会社",
        "language": "ja",
        "time_zone": "Asia/Tokyo",
        "currency": "JPY",
        "tax_registration_number": "T" + corporate_number("030001066220"),
        "postal_code": "347-0004",
        "region": "埼玉県",
        "city": "加須市",
        "address_line1": "下高柳1-5",
        "address_line2": "",
        "country": "JP",
    },
    "nordwerk-japan": {
        "name": "Nordwerk Precision Japan K.K.",
        "language": "en",
        "time_zone": "Asia/Tokyo",
        "currency": "JPY",
        "tax_registration_number": "T" + corporate_number("060001045678"),
        "postal_code": "321-3231",
        "region": "Tochigi",
        "city": "Utsunomiya",
        "address_line1": "2-12 Kiyohara Kogyo Danchi",
        "address_line2": "",
        "country": "JP",
    },
    # A design studio that tried a managed-print pilot for six months and left: the demo's churned customer.
    "sakura-design": {
        "name": "さくらデザイン株式会社",
        "language": "ja",
        "time_zone": "Asia/Tokyo",
        "currency": "JPY",
        "tax_registration_number": "T" + corporate_number("011001099871"),
        "postal_code": "150-0001",
        "region": "東京都",
        "city": "渋谷区",
        "address_line1": "神宮前5-10-1",
        "address_line2": "",
        "country": "JP",
    },
}
MANAGED_CUSTOMERS = ("towa-shoji", "minato-logistics")

# (organisation code, role, e-mail, last name, first name)
USERS: tuple[tuple[str, Role, str, str, str], ...] = (
    (PROVIDER_CODE, Role.PROVIDER_ADMIN, "admin@nihon-fleet.example", "佐藤", "健一"),
    (PROVIDER_CODE, Role.SERVICE_DESK, "desk@nihon-fleet.example", "鈴木", "美咲"),
    (PROVIDER_CODE, Role.ACCOUNT_MANAGER, "sales@nihon-fleet.example", "高橋", "誠"),
    (PROVIDER_CODE, Role.TECHNICIAN, "tech@nihon-fleet.example", "田中", "翔太"),
    ("towa-shoji", Role.CUSTOMER_ADMIN, "admin@towa-shoji.example", "伊藤", "直子"),
    ("towa-shoji", Role.CUSTOMER_VIEWER, "viewer@towa-shoji.example", "渡辺", "大輔"),
    ("towa-shoji", Role.CUSTOMER_OPERATOR, "operator@towa-shoji.example", "山本", "彩"),
    ("minato-logistics", Role.CUSTOMER_ADMIN, "admin@minato-logistics.example", "中村", "浩二"),
    ("minato-logistics", Role.CUSTOMER_VIEWER, "viewer@minato-logistics.example", "小林", "由美"),
    ("minato-logistics", Role.CUSTOMER_OPERATOR, "operator@minato-logistics.example", "加藤", "拓海"),
    ("nordwerk-japan", Role.CUSTOMER_ADMIN, "admin@nordwerk.example", "Becker", "Julia"),
    ("nordwerk-japan", Role.CUSTOMER_VIEWER, "viewer@nordwerk.example", "Yoshida", "Ken"),
    ("nordwerk-japan", Role.CUSTOMER_OPERATOR, "operator@nordwerk.example", "Schmidt", "Lukas"),
)


def provider_ensure() -> Organisation:
    """The demo provider, created once (keyed by its code)."""
    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    if provider is None:
        provider = organisation_create(kind=OrganisationKind.PROVIDER, code=PROVIDER_CODE, **PROVIDER)
    return provider


def _customer_ensure(*, provider: Organisation, code: str, fields: dict) -> Organisation:
    customer = Organisation.objects.filter(code=code).first()
    if customer is None:
        customer = organisation_create(kind=OrganisationKind.CUSTOMER, code=code, provider=provider, **fields)
    return customer


def _user_ensure(*, organisation: Organisation, role: Role, email: str, last_name: str, first_name: str) -> str:
    """Create the user, or put back its demo password; returns what happened ("created", "reset" or "")."""
    password = DEMO_PASSWORDS[role]
    user = User.objects.filter(email=email).first()
    if user is None:
        user_create(
            organisation=organisation,
            email=email,
            role=role,
            password=password,
            first_name=first_name,
            last_name=last_name,
        )
        return "created"
    happened = ""
    if not user.check_password(password) or not user.is_active:
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
        happened = "reset"
    if not Membership.objects.filter(user=user).exists():
        Membership.objects.create(user=user, organisation=organisation, role=role)
        happened = "reset"
    return happened


def seed_accounts(context: DemoContext) -> None:
    """The provider, its customers and a user of every role (customer roles in every customer with users)."""
    provider = provider_ensure()
    organisations = {PROVIDER_CODE: provider}
    for code, fields in CUSTOMERS.items():
        organisations[code] = _customer_ensure(provider=provider, code=code, fields=fields)
    created = reset = 0
    for code, role, email, last_name, first_name in USERS:
        organisation = organisations[code]
        happened = _user_ensure(
            organisation=organisation, role=role, email=email, last_name=last_name, first_name=first_name
        )
        created += happened == "created"
        reset += happened == "reset"
        context.add_login(role=role.label, email=email, password=DEMO_PASSWORDS[role], organisation=organisation.name)
        if role == Role.ACCOUNT_MANAGER:
            account_manager = User.objects.get(email=email)
            for managed in MANAGED_CUSTOMERS:
                organisations[managed].account_managers.add(account_manager)
    context.log(f"accounts: 1 provider, {len(CUSTOMERS)} customers, {created} users created, {reset} reset")


# Generated customers: a name from these parts, with the address of one of these places.
NAME_STEMS = (
    "東和", "北斗", "大和", "富士", "光洋", "三栄", "日進", "中央", "昭和", "平和",
    "明星", "旭", "朝日", "東邦", "新光", "協和", "大同", "共栄", "丸善", "日の出",
)  # fmt: skip
NAME_TRADES = ("商事", "物流", "精機", "電機", "工業", "産業", "運輸", "製作所", "化学", "印刷", "倉庫", "興産")
PLACES = (
    ("100-0005", "東京都", "千代田区", "丸の内2-4-1"),
    ("530-0001", "大阪府", "大阪市北区", "梅田2-2-2"),
    ("450-0002", "愛知県", "名古屋市中村区", "名駅3-28-12"),
    ("812-0011", "福岡県", "福岡市博多区", "博多駅前2-1-1"),
    ("060-0005", "北海道", "札幌市中央区", "北5条西2-5"),
    ("980-0021", "宮城県", "仙台市青葉区", "中央1-3-1"),
    ("730-0011", "広島県", "広島市中区", "基町11-10"),
    ("220-0012", "神奈川県", "横浜市西区", "みなとみらい3-6-1"),
    ("330-0854", "埼玉県", "さいたま市大宮区", "桜木町1-7-5"),
    ("650-0044", "兵庫県", "神戸市中央区", "東川崎町1-1-3"),
)


def generate_customers(context: ScaleContext) -> None:
    """``context.customers`` customers of the demo provider, coded ``<prefix>-c00001``...

    Sets ``context.data["customer_ids"]`` (in code order) for the steps that follow.
    """
    code_prefix = f"{context.prefix}-c"
    if Organisation.objects.filter(code__startswith=code_prefix).exists():
        raise ScaleDataExists(f"customers coded {code_prefix}… already exist")
    provider = provider_ensure()
    rng = context.rng
    fields = (
        "kind", "provider_id", "name", "code", "language", "time_zone", "currency", "tax_registration_number",
        "is_active", "postal_code", "region", "city", "address_line1", "address_line2", "country",
    )  # fmt: skip

    def rows():
        for number in range(1, context.customers + 1):
            postal_code, region, city, street = rng.choice(PLACES)
            name = f"{rng.choice(NAME_STEMS)}{rng.choice(NAME_TRADES)}株式会社"
            yield (
                OrganisationKind.CUSTOMER, provider.pk, f"{name} ({context.prefix.upper()}-{number:05d})",
                f"{code_prefix}{number:05d}", "ja" if rng.random() < 0.9 else "en", "Asia/Tokyo", "JPY",
                "", True, postal_code, region, city, street, "", "JP",
            )  # fmt: skip

    context.wrote(Organisation, bulk_load(Organisation, fields, rows()))
    ids = list(Organisation.objects.filter(code__startswith=code_prefix).order_by("code").values_list("pk", flat=True))
    context.wrote(OrganisationSettings, bulk_load(OrganisationSettings, ("organisation_id",), ((pk,) for pk in ids)))
    context.data["customer_ids"] = ids
