"""Alert rules at work: evaluating ingested telemetry, the silent-device sweep, acknowledging and resolving.

The ingest calls ``alerts_evaluate_ingest`` after its rows are written.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class IngestedReading:
    asset_id: int
    meter: str
    taken_at: datetime
    value: Decimal


@dataclass(frozen=True)
class IngestedLevel:
    asset_id: int
    supply: str
    taken_at: datetime
    percent: Decimal


@dataclass(frozen=True)
class IngestedEvent:
    asset_id: int
    code: str
    occurred_at: datetime
    severity: str
    message: str = ""
    g_force: Decimal | None = None
    cleared: bool = False


@dataclass(frozen=True)
class IngestedBatch:
    """What one ingest newly stored (duplicates excluded), for the rules to look at."""

    customer_id: int
    readings: list[IngestedReading] = field(default_factory=list)
    levels: list[IngestedLevel] = field(default_factory=list)
    events: list[IngestedEvent] = field(default_factory=list)


def alerts_evaluate_ingest(*, batch: IngestedBatch) -> None:
    """Open, repeat or resolve alerts for what a batch brought (a fixed number of queries per batch)."""
