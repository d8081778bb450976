"""Demo data of reports: cost rates and twelve months of cost ledger for every demo customer."""

from fleet.demo import DemoContext


def seed_ledger(context: DemoContext) -> None:
    raise NotImplementedError
