"""Demo and scale data: apps register the steps that ``seed_demo`` and ``generate_fleet`` run (fleet imports no app).

Each app registers its steps in ``AppConfig.ready()``:

    register_demo_step("assets", seed_assets, order=20)
    register_scale_step("assets", generate_assets, order=30)

``seed_demo`` calls the demo steps in order with one ``DemoContext``; a step must be idempotent (keyed by
codes and e-mail addresses) and adds the logins it creates to ``context.logins``. ``generate_fleet`` calls
the scale steps in order with one ``ScaleContext``; a step writes in bulk (``fleet.bulk.bulk_load``: COPY on
PostgreSQL, large ``bulk_create`` batches elsewhere) and counts what it wrote with ``context.wrote``.
Steps hand each other what later steps need through ``context.data`` (documented by the step that sets it).
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.db import models


@dataclass
class DemoLogin:
    """A demo user and the password printed for it."""

    role: str
    email: str
    password: str
    organisation: str


@dataclass
class DemoContext:
    """What the demo steps share: the day the data is anchored to, the logins to print, a log line writer."""

    today: date
    log: Callable[[str], None] = print
    logins: list[DemoLogin] = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def add_login(self, *, role: str, email: str, password: str, organisation: str) -> None:
        self.logins.append(DemoLogin(role=role, email=email, password=password, organisation=organisation))


@dataclass
class ScaleContext:
    """What the scale steps share: the requested size, the run's prefix, a seeded random source, counts."""

    customers: int
    assets: int
    prefix: str
    seed: int
    today: date
    sites_per_customer: int = 3
    log: Callable[[str], None] = print
    rows: dict[type[models.Model], int] = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def wrote(self, model: type[models.Model], count: int) -> None:
        """Count rows written to ``model``'s table (reported, and analysed on PostgreSQL afterwards)."""
        self.rows[model] = self.rows.get(model, 0) + count

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class ScaleDataExists(Exception):
    """A scale step found the rows of this run's prefix already there: ``generate_fleet`` refuses to go on."""


@dataclass(frozen=True)
class Step:
    """A registered step: ``fn(context)``, run in ascending ``order`` (then by name)."""

    name: str
    fn: Callable
    order: int


_demo_steps: dict[str, Step] = {}
_scale_steps: dict[str, Step] = {}


def register_demo_step(name: str, fn: Callable[[DemoContext], None], order: int) -> None:
    """Register a ``seed_demo`` step; registering the same name again replaces it."""
    _demo_steps[name] = Step(name=name, fn=fn, order=order)


def register_scale_step(name: str, fn: Callable[[ScaleContext], None], order: int) -> None:
    """Register a ``generate_fleet`` step; registering the same name again replaces it."""
    _scale_steps[name] = Step(name=name, fn=fn, order=order)


def demo_steps() -> list[Step]:
    return sorted(_demo_steps.values(), key=lambda step: (step.order, step.name))


def scale_steps() -> list[Step]:
    return sorted(_scale_steps.values(), key=lambda step: (step.order, step.name))
