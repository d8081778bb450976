"""Demo and scale data of the asset registry: the catalogue, the demo customers' sites and fleets.

``catalogue_ensure`` is shared by ``seed_demo`` and ``generate_fleet``: manufacturers, models with their
ratings, and part types with rated lives, lead times and JPY costs, linked to the models they fit.
"""

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from itertools import accumulate

from django.db import connection

from accounts.choices import Role
from accounts.models import Membership, Organisation
from assets.choices import AssetCategory, AssetEventKind, AssetStatus, LifeUnit, Ownership, PartKind
from assets.models import Asset, AssetEvent, AssetModel, Manufacturer, PartType, Site
from assets.services import asset_create, site_create
from fleet.bulk import bulk_load
from fleet.demo import DemoContext, ScaleContext


@dataclass(frozen=True)
class ModelSpec:
    """A catalogue model, with the serial-number prefix and list price the demo data derives from it."""

    manufacturer: str
    name: str
    category: str
    rated_monthly_volume: int | None
    rated_monthly_duty_hours: int | None
    power_draw_watts: int | None
    serial_prefix: str
    list_price: int


C = AssetCategory
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("Ricoh", "IM C3000", C.MFP, 15_000, None, 1_580, "3100R", 980_000),
    ModelSpec("Ricoh", "IM C4500", C.MFP, 25_000, None, 1_700, "3130R", 1_380_000),
    ModelSpec("Canon", "imageRUNNER ADVANCE DX C5840F", C.MFP, 40_000, None, 1_800, "2RX", 1_980_000),
    ModelSpec("Kyocera", "TASKalfa 3554ci", C.MFP, 15_000, None, 1_500, "R4P", 890_000),
    ModelSpec("Sharp", "BP-50C36", C.MFP, 20_000, None, 1_840, "05A", 1_050_000),
    ModelSpec("Kyocera", "ECOSYS P3260dn", C.PRINTER, 10_000, None, 700, "VCS", 128_000),
    ModelSpec("Canon", "Satera LBP712Ci", C.PRINTER, 5_000, None, 1_000, "XLR", 158_000),
    ModelSpec("Toyota", "8FBE15", C.FORKLIFT, None, 180, 4_500, "8FBE15-", 3_200_000),
    ModelSpec("Toyota", "8FBR15", C.REACH_TRUCK, None, 200, 4_000, "8FBR15-", 3_800_000),
    ModelSpec("Komatsu", "FB25-12", C.FORKLIFT, None, 180, 6_500, "FB25-", 4_200_000),
    ModelSpec("Mitsubishi Logisnext", "PLATTER Roomy FBRM15", C.REACH_TRUCK, None, 200, 4_200, "FBRM-", 3_900_000),
    ModelSpec("Omron", "LD-250", C.AGV, None, 600, 500, "LD250-", 5_800_000),
    ModelSpec("GS Yuasa", "VCDI 48V 280Ah", C.BATTERY, None, None, None, "VCD", 1_150_000),
    ModelSpec("GS Yuasa", "FCN 48-280", C.CHARGER, None, None, 5_200, "FCN", 420_000),
)
MODELS_BY_NAME = {spec.name: spec for spec in MODELS}

EXPECTED_LIFE_MONTHS = {
    C.MFP: 60,
    C.PRINTER: 60,
    C.FORKLIFT: 96,
    C.REACH_TRUCK: 96,
    C.AGV: 84,
    C.BATTERY: 60,
    C.CHARGER: 120,
}

RICOH_IM = ("IM C3000", "IM C4500")
CANON_DX = ("imageRUNNER ADVANCE DX C5840F",)
TASKALFA = ("TASKalfa 3554ci",)
SHARP_BP = ("BP-50C36",)
COUNTERBALANCE = ("8FBE15", "FB25-12")
REACH = ("8FBR15", "PLATTER Roomy FBRM15")
ELECTRIC_TRUCKS = COUNTERBALANCE + REACH

CONSUMABLE, WEAR = PartKind.CONSUMABLE, PartKind.WEAR_PART
PAGES, HOURS, CYCLES, DAYS = LifeUnit.PAGES, LifeUnit.HOURS, LifeUnit.CYCLES, LifeUnit.DAYS


def _toners(code: str, family: str, fits: tuple[str, ...], black: tuple[int, int], colour: tuple[int, int]):
    """Black, cyan, magenta and yellow toner of one model family: (rated pages, JPY) for black and colour."""
    yield (f"{code}-K", f"Toner black ({family})", CONSUMABLE, PAGES, black[0], 2, black[1], fits)
    for letter, colour_name in (("C", "cyan"), ("M", "magenta"), ("Y", "yellow")):
        yield (f"{code}-{letter}", f"Toner {colour_name} ({family})", CONSUMABLE, PAGES, colour[0], 2, colour[1], fits)


# (code, name, kind, life unit, rated life, lead time in days, unit cost in JPY, models it fits)
PART_TYPES: tuple[tuple, ...] = (
    *_toners("RIC-IMC", "Ricoh IM C", RICOH_IM, (33_000, 14_800), (22_500, 19_800)),
    ("RIC-IMC-DRUM", "Drum unit (Ricoh IM C)", WEAR, PAGES, 240_000, 5, 42_000, RICOH_IM),
    ("RIC-IMC-FUSER", "Fuser unit (Ricoh IM C)", WEAR, PAGES, 300_000, 7, 68_000, RICOH_IM),
    ("RIC-IMC-ITB", "Transfer belt (Ricoh IM C)", WEAR, PAGES, 300_000, 7, 54_000, RICOH_IM),
    *_toners("CAN-NPG84", "Canon NPG-84", CANON_DX, (48_000, 16_500), (36_000, 21_000)),
    ("CAN-C5840-DRUM", "Drum unit (Canon DX C5840F)", WEAR, PAGES, 350_000, 5, 58_000, CANON_DX),
    ("CAN-C5840-FUSER", "Fuser unit (Canon DX C5840F)", WEAR, PAGES, 500_000, 7, 82_000, CANON_DX),
    ("CAN-C5840-ITB", "Transfer belt (Canon DX C5840F)", WEAR, PAGES, 500_000, 10, 64_000, CANON_DX),
    *_toners("KYO-TK8545", "Kyocera TK-8545", TASKALFA, (30_000, 12_000), (20_000, 16_000)),
    ("KYO-DK8350", "Drum unit DK-8350 (TASKalfa)", WEAR, PAGES, 600_000, 5, 48_000, TASKALFA),
    ("KYO-FK8550", "Fuser unit FK-8550 (TASKalfa)", WEAR, PAGES, 600_000, 7, 70_000, TASKALFA),
    ("KYO-TR8550", "Transfer belt TR-8550 (TASKalfa)", WEAR, PAGES, 600_000, 7, 55_000, TASKALFA),
    *_toners("SHA-BP50", "Sharp BP-50", SHARP_BP, (40_000, 15_500), (24_000, 19_500)),
    ("SHA-BP50-DRUM", "Drum unit (Sharp BP-50)", WEAR, PAGES, 300_000, 5, 45_000, SHARP_BP),
    ("SHA-BP50-FUSER", "Fuser unit (Sharp BP-50)", WEAR, PAGES, 300_000, 7, 66_000, SHARP_BP),
    ("KYO-TK3191", "Toner black TK-3191 (ECOSYS)", CONSUMABLE, PAGES, 25_000, 2, 13_000, ("ECOSYS P3260dn",)),
    ("KYO-MK3300", "Maintenance kit MK-3300 (ECOSYS)", WEAR, PAGES, 500_000, 7, 38_000, ("ECOSYS P3260dn",)),
    *_toners("CAN-CRG040", "Canon Cartridge 040", ("Satera LBP712Ci",), (6_300, 13_000), (5_400, 16_000)),
    ("FLT-TIRE-FRONT", "Front solid tyre (counterbalance)", WEAR, HOURS, 2_000, 7, 38_000, COUNTERBALANCE),
    ("FLT-TIRE-DRIVE-RT", "Drive tyre, polyurethane (reach truck)", WEAR, HOURS, 1_500, 10, 42_000, REACH),
    ("FLT-WHEEL-LOAD-RT", "Load wheel (reach truck)", WEAR, HOURS, 1_500, 10, 18_000, REACH),
    ("FLT-BRAKE-SHOE", "Brake shoe set", WEAR, HOURS, 3_000, 5, 12_500, ELECTRIC_TRUCKS),
    ("FLT-HYD-HOSE", "Hydraulic hose set (mast)", WEAR, HOURS, 4_000, 3, 8_500, ELECTRIC_TRUCKS),
    ("FLT-BATT-48V-280", "Traction battery 48 V 280 Ah", WEAR, CYCLES, 1_500, 30, 1_150_000, ("8FBE15", *REACH)),
    ("FLT-BATT-48V-565", "Traction battery 48 V 565 Ah", WEAR, CYCLES, 1_500, 30, 1_650_000, ("FB25-12",)),
    ("AGV-DRIVE-WHEEL", "Drive wheel (LD-250)", WEAR, HOURS, 6_000, 14, 32_000, ("LD-250",)),
    ("AGV-BATT-PACK", "Battery pack (LD-250)", WEAR, CYCLES, 2_000, 21, 280_000, ("LD-250",)),
    ("BAT-WATER-KIT", "Watering valve kit (traction battery)", WEAR, DAYS, 730, 7, 26_000, ("VCDI 48V 280Ah",)),
    ("CHG-CONTACTOR", "Contactor set (charger)", WEAR, DAYS, 1_825, 14, 24_000, ("FCN 48-280",)),
)


def _upsert(model, lookup: dict, values: dict):
    """Get the row by ``lookup`` and write ``values`` only where they differ (so a second run changes nothing)."""
    instance = model.objects.filter(**lookup).first()
    if instance is None:
        return model.objects.create(**lookup, **values)
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    if changed:
        for name in changed:
            setattr(instance, name, values[name])
        instance.save(update_fields=[*changed, "updated_at"])
    return instance


def catalogue_ensure() -> dict[str, AssetModel]:
    """Create or correct the catalogue; returns the asset models by name."""
    manufacturers = {
        name: _upsert(Manufacturer, {"name": name}, {}) for name in dict.fromkeys(spec.manufacturer for spec in MODELS)
    }
    asset_models = {
        spec.name: _upsert(
            AssetModel,
            {"manufacturer": manufacturers[spec.manufacturer], "name": spec.name},
            {
                "category": spec.category,
                "rated_monthly_volume": spec.rated_monthly_volume,
                "rated_monthly_duty_hours": spec.rated_monthly_duty_hours,
                "power_draw_watts": spec.power_draw_watts,
            },
        )
        for spec in MODELS
    }
    for code, name, kind, life_unit, rated_life, lead_time_days, unit_cost, fits in PART_TYPES:
        part_type = _upsert(
            PartType,
            {"code": code},
            {
                "name": name,
                "kind": kind,
                "life_unit": life_unit,
                "rated_life": rated_life,
                "lead_time_days": lead_time_days,
                "unit_cost": Decimal(unit_cost),
                "currency": "JPY",
            },
        )
        part_type.asset_models.set([asset_models[model_name] for model_name in fits])
    return asset_models


@dataclass(frozen=True)
class SiteSpec:
    """A demo site and where its assets stand."""

    name: str
    code: str
    postal_code: str
    region: str
    city: str
    address_line1: str
    building: str
    floor: str
    locations: tuple[str, ...]


@dataclass(frozen=True)
class FleetSpec:
    """A demo customer's fleet: sites, (site code, model, count, ownership) lines, tag prefix."""

    number: int  # keeps serial numbers and network addresses of the demo customers apart
    tag_prefix: str
    sites: tuple[SiteSpec, ...]
    lines: tuple[tuple[str, str, int, str], ...]


FML, RENTAL, LEASE, OWNED = (
    Ownership.FULL_MAINTENANCE_LEASE,
    Ownership.RENTAL,
    Ownership.LEASE,
    Ownership.CUSTOMER_OWNED,
)

# The first site of each customer is where its demo operator works.
FLEETS: dict[str, FleetSpec] = {
    "towa-shoji": FleetSpec(
        number=1,
        tag_prefix="TWS",
        sites=(
            SiteSpec(
                name="東京本社",
                code="TKY-HQ",
                postal_code="100-0005",
                region="東京都",
                city="千代田区",
                address_line1="丸の内1-6-5",
                building="丸の内北口ビル",
                floor="10-14F",
                locations=("10F コピー室", "11F 営業部", "12F 総務部", "12F 経理部", "13F 役員フロア", "14F 会議室前"),
            ),
            SiteSpec(
                name="大阪支店",
                code="OSA-BR",
                postal_code="530-0001",
                region="大阪府",
                city="大阪市北区",
                address_line1="梅田3-1-3",
                building="ノースゲートビル",
                floor="8F",
                locations=("8F コピー室", "8F 営業一課", "8F 営業二課", "8F 受付"),
            ),
            SiteSpec(
                name="名古屋営業所",
                code="NGO-OF",
                postal_code="450-0002",
                region="愛知県",
                city="名古屋市中村区",
                address_line1="名駅4-7-1",
                building="ミッドランドスクエア",
                floor="15F",
                locations=("15F コピー室", "15F 営業部", "15F 受付"),
            ),
        ),
        lines=(
            ("TKY-HQ", "IM C4500", 10, FML),
            ("TKY-HQ", "IM C3000", 8, FML),
            ("TKY-HQ", "imageRUNNER ADVANCE DX C5840F", 4, RENTAL),
            ("TKY-HQ", "ECOSYS P3260dn", 6, OWNED),
            ("OSA-BR", "IM C3000", 6, FML),
            ("OSA-BR", "TASKalfa 3554ci", 6, LEASE),
            ("OSA-BR", "BP-50C36", 4, FML),
            ("OSA-BR", "Satera LBP712Ci", 2, OWNED),
            ("NGO-OF", "TASKalfa 3554ci", 5, LEASE),
            ("NGO-OF", "BP-50C36", 4, FML),
            ("NGO-OF", "Satera LBP712Ci", 3, OWNED),
        ),
    ),
    "minato-logistics": FleetSpec(
        number=2,
        tag_prefix="MNT",
        sites=(
            SiteSpec(
                name="埼玉加須物流センター",
                code="STM-DC",
                postal_code="347-0004",
                region="埼玉県",
                city="加須市",
                address_line1="下高柳1-5",
                building="A棟",
                floor="1F",
                locations=(
                    "A棟 入荷場",
                    "A棟 出荷場",
                    "A棟 保管エリア 通路3",
                    "B棟 ピッキングエリア",
                    "充電ステーション",
                ),
            ),
            SiteSpec(
                name="神戸六甲アイランド倉庫",
                code="KOB-WH",
                postal_code="658-0032",
                region="兵庫県",
                city="神戸市東灘区",
                address_line1="向洋町東2-3",
                building="第2倉庫",
                floor="1F",
                locations=("第2倉庫 荷捌き場", "第2倉庫 冷蔵エリア", "第2倉庫 保管エリア 通路B", "充電ステーション"),
            ),
        ),
        lines=(
            ("STM-DC", "8FBE15", 8, FML),
            ("STM-DC", "8FBR15", 8, RENTAL),
            ("STM-DC", "FB25-12", 4, FML),
            ("STM-DC", "LD-250", 4, LEASE),
            ("STM-DC", "VCDI 48V 280Ah", 4, OWNED),
            ("STM-DC", "FCN 48-280", 4, OWNED),
            ("KOB-WH", "8FBR15", 6, FML),
            ("KOB-WH", "PLATTER Roomy FBRM15", 4, RENTAL),
            ("KOB-WH", "FB25-12", 3, LEASE),
            ("KOB-WH", "LD-250", 3, LEASE),
            ("KOB-WH", "VCDI 48V 280Ah", 2, OWNED),
            ("KOB-WH", "FCN 48-280", 2, OWNED),
        ),
    ),
    "nordwerk-japan": FleetSpec(
        number=3,
        tag_prefix="NWJ",
        sites=(
            SiteSpec(
                name="Utsunomiya Plant",
                code="UTS-PL",
                postal_code="321-3231",
                region="Tochigi",
                city="Utsunomiya",
                address_line1="2-12 Kiyohara Kogyo Danchi",
                building="Plant 1",
                floor="1F",
                locations=(
                    "Goods-in dock",
                    "Assembly hall, line 2",
                    "Finished-goods store",
                    "Plant office, 2F copy corner",
                ),
            ),
            SiteSpec(
                name="Yokohama Office",
                code="YOK-OF",
                postal_code="220-0012",
                region="Kanagawa",
                city="Yokohama",
                address_line1="3-6-1 Minatomirai",
                building="Minatomirai Center Building",
                floor="9F",
                locations=("9F copy room", "9F sales", "9F reception"),
            ),
        ),
        lines=(
            ("UTS-PL", "IM C4500", 4, FML),
            ("UTS-PL", "ECOSYS P3260dn", 3, OWNED),
            ("UTS-PL", "FB25-12", 3, FML),
            ("UTS-PL", "8FBR15", 3, RENTAL),
            ("UTS-PL", "LD-250", 2, LEASE),
            ("YOK-OF", "IM C3000", 3, FML),
            ("YOK-OF", "imageRUNNER ADVANCE DX C5840F", 1, RENTAL),
            ("YOK-OF", "Satera LBP712Ci", 2, OWNED),
        ),
    ),
}

STATUSES = (AssetStatus.ACTIVE, AssetStatus.STANDBY, AssetStatus.IN_REPAIR, AssetStatus.IN_STORAGE, AssetStatus.RETIRED)
STATUS_WEIGHTS = (85, 5, 3, 2, 5)
STATUS_CUMULATIVE = tuple(accumulate(STATUS_WEIGHTS))
PRINT_CATEGORIES = (C.MFP, C.PRINTER)
SIX_YEARS_DAYS = 6 * 365


def _site_ensure(customer: Organisation, spec: SiteSpec) -> Site:
    site = Site.objects.filter(customer=customer, name=spec.name).first()
    if site is None:
        site = site_create(
            customer=customer,
            name=spec.name,
            code=spec.code,
            postal_code=spec.postal_code,
            region=spec.region,
            city=spec.city,
            address_line1=spec.address_line1,
            building=spec.building,
            floor=spec.floor,
            country="JP",
            time_zone=customer.time_zone,
        )
    return site


def _seed_fleet(customer: Organisation, fleet: FleetSpec, asset_models: dict[str, AssetModel], context) -> int:
    """Create the customer's sites and any of its demo assets that do not exist yet; returns how many were new."""
    sites = {spec.code: (_site_ensure(customer, spec), spec) for spec in fleet.sites}
    first_site = sites[fleet.sites[0].code][0]
    for membership in Membership.objects.filter(organisation=customer, role=Role.CUSTOMER_OPERATOR):
        first_site.operators.add(membership)
    existing = set(Asset.objects.filter(customer=customer).values_list("manufacturer_id", "serial_number"))
    rng = random.Random(customer.code)  # the same values on every run
    site_numbers = {code: number for number, code in enumerate(sites, 1)}
    per_model: dict[str, int] = {}
    tag_number = created = 0
    for site_code, model_name, count, ownership in fleet.lines:
        site, site_spec = sites[site_code]
        spec = MODELS_BY_NAME[model_name]
        asset_model = asset_models[model_name]
        for _ in range(count):
            tag_number += 1
            sequence = per_model[model_name] = per_model.get(model_name, 0) + 1
            serial = f"{spec.serial_prefix}{fleet.number}{sequence:04d}"
            status = rng.choices(STATUSES, cum_weights=STATUS_CUMULATIVE)[0]
            install_date = context.today - timedelta(days=rng.randint(30, SIX_YEARS_DAYS))
            cost = Decimal(round(spec.list_price * rng.uniform(0.88, 1.05), -3))
            if (asset_model.manufacturer_id, serial) in existing:
                continue
            is_print = spec.category in PRINT_CATEGORIES
            asset_create(
                customer=customer,
                site=site,
                asset_model=asset_model,
                serial_number=serial,
                asset_tag=f"{fleet.tag_prefix}-{tag_number:04d}",
                ownership=ownership,
                status=status,
                install_date=install_date,
                acquisition_cost=cost,
                currency=customer.currency,
                expected_life_months=EXPECTED_LIFE_MONTHS[spec.category],
                location_note=site_spec.locations[(sequence - 1) % len(site_spec.locations)],
                network_address=f"10.{20 + fleet.number}.{site_numbers[site_code]}.{20 + sequence}" if is_print else "",
            )
            created += 1
    return created


def seed_assets(context: DemoContext) -> None:
    """The catalogue, then each demo customer's sites (operators bound to the first) and fleet."""
    asset_models = catalogue_ensure()
    created = 0
    for code, fleet in FLEETS.items():
        customer = Organisation.objects.get(code=code)
        created += _seed_fleet(customer, fleet, asset_models, context)
    total = Asset.objects.filter(customer__code__in=FLEETS).count()
    context.log(
        f"assets: {len(MODELS)} models, {len(PART_TYPES)} part types, "
        f"{sum(len(f.sites) for f in FLEETS.values())} sites, {created} assets created ({total} in all)"
    )


# Generated fleets: each customer is an office group, a logistics company or a mixed one.
SCALE_PROFILES = (
    ("office", 60, (("IM C3000", 30), ("IM C4500", 25), ("imageRUNNER ADVANCE DX C5840F", 10),
                    ("TASKalfa 3554ci", 15), ("BP-50C36", 10), ("ECOSYS P3260dn", 6), ("Satera LBP712Ci", 4))),
    ("logistics", 30, (("8FBE15", 25), ("8FBR15", 25), ("FB25-12", 15), ("PLATTER Roomy FBRM15", 10),
                       ("LD-250", 8), ("VCDI 48V 280Ah", 9), ("FCN 48-280", 8))),
    ("mixed", 10, (("IM C4500", 30), ("ECOSYS P3260dn", 15), ("FB25-12", 20), ("8FBR15", 20), ("LD-250", 15))),
)  # fmt: skip
SCALE_SITES = (
    ("本社", "100-0005", "東京都", "千代田区", "丸の内2-4-1"),
    ("大阪支店", "530-0001", "大阪府", "大阪市北区", "梅田2-2-2"),
    ("名古屋営業所", "450-0002", "愛知県", "名古屋市中村区", "名駅3-28-12"),
    ("福岡営業所", "812-0011", "福岡県", "福岡市博多区", "博多駅前2-1-1"),
    ("札幌支店", "060-0005", "北海道", "札幌市中央区", "北5条西2-5"),
    ("仙台営業所", "980-0021", "宮城県", "仙台市青葉区", "中央1-3-1"),
    ("広島支店", "730-0011", "広島県", "広島市中区", "基町11-10"),
    ("横浜物流センター", "220-0012", "神奈川県", "横浜市西区", "みなとみらい3-6-1"),
    ("埼玉倉庫", "347-0004", "埼玉県", "加須市", "下高柳1-5"),
    ("神戸倉庫", "658-0032", "兵庫県", "神戸市東灘区", "向洋町東2-3"),
    ("千葉工場", "260-0026", "千葉県", "千葉市中央区", "千葉港1-1"),
    ("静岡工場", "420-0851", "静岡県", "静岡市葵区", "黒金町1-9"),
)
PRINT_LOCATIONS = ("{floor}F コピー室", "{floor}F 複合機コーナー", "{floor}F 営業部", "{floor}F 総務部")
MATERIAL_HANDLING_LOCATIONS = ("入荷場", "出荷場", "保管エリア 通路A", "保管エリア 通路B", "充電ステーション")
OWNERSHIP_BY_CATEGORY = {
    C.MFP: ((FML, 60), (RENTAL, 20), (LEASE, 10), (OWNED, 10)),
    C.PRINTER: ((OWNED, 60), (FML, 30), (RENTAL, 10)),
    C.BATTERY: ((OWNED, 60), (FML, 40)),
    C.CHARGER: ((OWNED, 70), (FML, 30)),
}
OWNERSHIP_DEFAULT = ((FML, 45), (RENTAL, 25), (LEASE, 20), (OWNED, 10))


def _weighted(pairs) -> tuple[tuple, tuple[int, ...]]:
    values, weights = zip(*pairs, strict=True)
    return values, tuple(accumulate(weights))


def generate_catalogue(context: ScaleContext) -> None:
    """The demo catalogue (created or reused). Sets ``context.data["asset_models"]`` (by name)."""
    context.data["asset_models"] = catalogue_ensure()


def generate_sites(context: ScaleContext) -> None:
    """1 to 2 × ``sites_per_customer`` - 1 sites per generated customer (on average ``sites_per_customer``).

    Sets ``context.data["sites_by_customer"]``: customer id -> list of site ids.
    """
    rng = context.rng
    customer_ids = context.data["customer_ids"]
    most = min(len(SCALE_SITES), max(1, 2 * context.sites_per_customer - 1))
    fields = (
        "customer_id", "name", "code", "time_zone", "building", "floor",
        "postal_code", "region", "city", "address_line1", "address_line2", "country",
    )  # fmt: skip

    def rows():
        for customer_id in customer_ids:
            for number, (name, postal_code, region, city, street) in enumerate(
                rng.sample(SCALE_SITES, rng.randint(1, most)), 1
            ):
                yield (
                    customer_id, name, f"S{number:02d}", "Asia/Tokyo", "", f"{rng.randint(1, 12)}F",
                    postal_code, region, city, street, "", "JP",
                )  # fmt: skip

    context.wrote(Site, bulk_load(Site, fields, rows()))
    by_customer: dict[int, list[int]] = {}
    for site_id, customer_id in (
        Site.objects.filter(customer__code__startswith=f"{context.prefix}-c")
        .order_by("pk")
        .values_list("pk", "customer")
    ):
        by_customer.setdefault(customer_id, []).append(site_id)
    context.data["sites_by_customer"] = by_customer


def _allocate(total: int, customers: int, rng: random.Random) -> list[int]:
    """Split ``total`` assets over customers, skewed (a few large fleets, many small), at least one each."""
    if customers == 0:
        return []
    base = 1 if total >= customers else 0
    spare = total - base * customers
    weights = [rng.lognormvariate(0, 1.0) for _ in range(customers)]
    scale = spare / sum(weights)
    counts = [base + int(weight * scale) for weight in weights]
    for index in rng.sample(range(customers), total - sum(counts)):
        counts[index] += 1
    return counts


def generate_assets(context: ScaleContext) -> None:
    """``context.assets`` assets over the generated customers and their sites, each with its registration event."""
    rng = context.rng
    asset_models = context.data["asset_models"]
    by_customer = context.data["sites_by_customer"]
    customer_ids = context.data["customer_ids"]
    counts = _allocate(context.assets, len(customer_ids), rng)
    profiles = [_weighted(mix) for _name, _share, mix in SCALE_PROFILES]
    profile_values, profile_cumulative = _weighted(
        (index, share) for index, (_name, share, _mix) in enumerate(SCALE_PROFILES)
    )
    ownership = {category: _weighted(pairs) for category, pairs in OWNERSHIP_BY_CATEGORY.items()}
    ownership_default = _weighted(OWNERSHIP_DEFAULT)
    serial_prefix = context.prefix.upper()
    fields = (
        "customer_id", "site_id", "asset_model_id", "manufacturer_id", "serial_number", "asset_tag", "status",
        "ownership", "install_date", "acquisition_cost", "currency", "expected_life_months", "location_note",
        "network_address",
    )  # fmt: skip

    def rows():
        number = 0
        for customer_id, count in zip(customer_ids, counts, strict=True):
            models_mix, cumulative = profiles[rng.choices(profile_values, cum_weights=profile_cumulative)[0]]
            site_ids = by_customer[customer_id]
            for tag_number in range(1, count + 1):
                number += 1
                asset_model = asset_models[rng.choices(models_mix, cum_weights=cumulative)[0]]
                spec = MODELS_BY_NAME[asset_model.name]
                site_index = rng.randrange(len(site_ids))
                is_print = spec.category in PRINT_CATEGORIES
                owner_values, owner_cumulative = ownership.get(spec.category, ownership_default)
                yield (
                    customer_id,
                    site_ids[site_index],
                    asset_model.pk,
                    asset_model.manufacturer_id,
                    f"{serial_prefix}-{spec.serial_prefix}{number:07d}",
                    f"A-{tag_number:05d}",
                    rng.choices(STATUSES, cum_weights=STATUS_CUMULATIVE)[0],
                    rng.choices(owner_values, cum_weights=owner_cumulative)[0],
                    context.today - timedelta(days=rng.randint(1, SIX_YEARS_DAYS)),
                    Decimal(round(spec.list_price * rng.uniform(0.85, 1.05), -3)),
                    "JPY",
                    EXPECTED_LIFE_MONTHS[spec.category],
                    (rng.choice(PRINT_LOCATIONS).format(floor=rng.randint(1, 12)) if is_print
                     else rng.choice(MATERIAL_HANDLING_LOCATIONS)),
                    f"10.{site_index}.{(tag_number >> 8) & 255}.{tag_number & 255}" if is_print else "",
                )  # fmt: skip

    context.wrote(Asset, bulk_load(Asset, fields, rows()))
    context.wrote(AssetEvent, _register_events(context.prefix))


def _register_events(prefix: str) -> int:
    """One "registered" history entry per generated asset, written by the database in one statement."""
    quote = connection.ops.quote_name
    event, asset, organisation = AssetEvent._meta.db_table, Asset._meta.db_table, Organisation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(event)} (asset_id, kind, at, from_status, to_status, note, to_site_id) "  # noqa: S608
            f"SELECT a.id, %s, a.created_at, '', a.status, '', a.site_id FROM {quote(asset)} a "
            f"WHERE a.customer_id IN (SELECT o.id FROM {quote(organisation)} o WHERE o.code LIKE %s)",
            [AssetEventKind.REGISTERED.value, f"{prefix}-c%"],
        )
        return cursor.rowcount
