"""What the billing tests share: readings at Tokyo times and a managed-print contract made by the services."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from contracts.choices import ComponentKind, ContractStatus
from contracts.models import Contract
from contracts.services import component_add, contract_create, contract_transition, coverage_add
from telemetry.choices import Meter, ReadingSource
from telemetry.models import Reading

TOKYO = ZoneInfo("Asia/Tokyo")
CONTRACT_START = datetime.date(2025, 9, 1)


def at(year: int, month: int, day: int, hour: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, tzinfo=TOKYO)


def read(asset, when: datetime.datetime, value, meter: str = Meter.MONO_PAGES) -> Reading:
    return Reading.objects.create(
        asset=asset, meter=meter, taken_at=when, value=Decimal(value), source=ReadingSource.DEVICE
    )


def mps_contract(
    customer,
    asset,
    *,
    fee=10000,
    rate="1",
    allowance=1000,
    extra_fees: int = 0,
    end_date: datetime.date | None = None,
    by=None,
) -> Contract:
    """An active contract from September 2025 on ``asset``: ``fee`` yen a month, and mono pages at ``rate`` yen
    beyond ``allowance`` a month, pooled; ``extra_fees`` more fixed fees of ¥100 (one line each)."""
    contract = contract_create(customer=customer, title="MPS", start_date=CONTRACT_START, end_date=end_date, by=by)
    component_add(contract=contract, by=by, kind=ComponentKind.FIXED_FEE, name="Monthly fee", amount=Decimal(fee))
    component_add(
        contract=contract,
        by=by,
        kind=ComponentKind.METER_CHARGE,
        name="Mono pages",
        meter=Meter.MONO_PAGES,
        amount=Decimal(rate),
        allowance=Decimal(allowance),
    )
    for index in range(extra_fees):
        component_add(
            contract=contract, by=by, kind=ComponentKind.FIXED_FEE, name=f"Extra {index}", amount=Decimal(100)
        )
    coverage_add(contract=contract, asset=asset, start_date=CONTRACT_START, by=by)
    contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=by)
    return contract
