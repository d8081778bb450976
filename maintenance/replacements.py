"""The nightly replacement run and its actions: recompute every forecast, then ship or replace what is due.

For each customer, ``replacements_run`` recomputes the forecasts (``maintenance.forecasts``: compute, then write
in bulk) and acts on those whose date to act (``act_by``) falls within the customer's planning window: a
consumable gets a supply order of its own (``maintenance.supplies``) needed by the risk date; the wear parts get
one predictive work order per asset, so that a technician makes one visit for all of them. The run gathers the
asset's due wear parts into one work order whose description has one paragraph per part, the earliest ``act_by``
first. When the asset already has an open predictive work order opened by the forecasts (kind predictive, source
forecast, an open status), the new needs join it instead: they are linked to it, their paragraphs are appended to
its description and its timeline gets a note naming the parts (the oldest such order when there are several).

Each need is acted on once: a ``ReplacementNeed`` (asset, part type, start of the current part or cartridge) is
inserted first inside a savepoint, and its unique constraint lets only one run (of two concurrent ones) go on with
it; a need another run recorded first is counted as already handled and linked to nothing. An asset's needs and
their work order are written in one transaction, with the asset's row locked so that two concurrent runs never
open two visits for it: a refused work order (``ValidationError``) is logged, its needs are counted as failed and
none of them is kept, so the next night tries again. A need is left alone while something already covers it: an
open work order of the asset that lists the part type among its parts, an open predictive work order of an earlier
need of the same part type, or (consumables) an open supply order for the same asset and part type.

The reads are set-based: a fixed number of queries per customer however many assets it has; only the orders
opened or joined cost queries of their own (one set per supply order, one per asset's work order).

The nightly task (``forecasts_nightly_task``) fits each provider's life distributions once, then recomputes the
forecasts in batches of customers (``forecasts_batch_task``: set-based over the batch, so the cost per asset stays
that of one large query) and fans out the actions one task per customer (``forecasts_act_task``); every task is
idempotent, so a retried or duplicated task opens nothing twice. ``forecasts_customer_task`` runs one customer
whole.
"""

import datetime
import logging
from dataclasses import asdict, dataclass

from celery import group, shared_task
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import (
    Count,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Round
from django.utils import formats, timezone
from django.utils.translation import gettext

from accounts.models import Organisation, User
from assets.choices import ASSET_IN_SERVICE_STATES, LifeUnit
from assets.models import Asset, PartType
from maintenance import forecasts
from maintenance.choices import (
    WORK_ORDER_OPEN_STATES,
    ForecastKind,
    ForecastMethod,
    Priority,
    SupplyOrderSource,
    WorkOrderKind,
    WorkOrderSource,
)
from maintenance.forecasts import ForecastSettings
from maintenance.lives import lives_from_json, lives_to_json, provider_lives
from maintenance.models import (
    ReplacementForecast,
    ReplacementNeed,
    SupplyOrder,
    WorkOrder,
    WorkOrderPart,
)
from telemetry.usage import time_zone

logger = logging.getLogger(__name__)

# The portal's default horizon (it offers 30, 60 and 90 days ahead) and the dashboard's.
DEFAULT_HORIZON = 30
TILE_DAYS = 14
PREDICTIVE_PRIORITY = Priority.P3


@dataclass
class RunCounts:
    """What one customer's run did."""

    forecasts: int = 0  # forecasts written
    due: int = 0  # forecasts whose act-by date is within the planning window
    supply_orders: int = 0  # supply orders opened
    work_orders: int = 0  # predictive work orders opened (one per asset and run at most)
    joined: int = 0  # needs added to an asset's open predictive work order
    already_handled: int = 0  # needs acted on by an earlier (or a concurrent) run
    covered: int = 0  # needs an open work order or supply order already covers
    failed: int = 0  # needs whose order was refused (logged; tried again next night)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def risk_date(forecast: ReplacementForecast, *, safety_margin_days: int) -> datetime.date:
    """The risk-quantile date behind ``act_by`` (``act_by`` is that date less the lead time and safety margin)."""
    return forecast.act_by + datetime.timedelta(days=forecast.part_type.lead_time_days + safety_margin_days)


# --- The run ---------------------------------------------------------------------------------------------------


def replacements_run(*, customer_id: int, as_of: datetime.datetime) -> RunCounts:
    """Recompute the customer's forecasts as of ``as_of`` and act on those due within its planning window (a run
    of one customer, as ``manage.py forecast_run`` does; the nightly task runs batches)."""
    written = forecasts.forecasts_refresh(customer_id=customer_id, as_of=as_of)
    counts = replacements_act(customer_id=customer_id, as_of=as_of)
    counts.forecasts = written
    return counts


def forecast_batches(customer_ids: list[int], *, max_assets: int) -> list[list[int]]:
    """The customers (of one provider) in batches of at most ``max_assets`` in-service assets each (a customer
    with more is a batch of its own), in id order. One query."""
    fleets = dict(
        Organisation.objects.filter(pk__in=customer_ids)
        .annotate(fleet=Count("assets", filter=Q(assets__status__in=ASSET_IN_SERVICE_STATES)))
        .values_list("pk", "fleet")
    )
    batches: list[list[int]] = []
    size = 0
    for customer_id in sorted(customer_ids):
        fleet = fleets.get(customer_id, 0)
        if not batches or size + fleet > max_assets:
            batches.append([])
            size = 0
        batches[-1].append(customer_id)
        size += fleet
    return batches


def _covered_keys(customer_id: int) -> set[tuple[int, int]]:
    """(asset, part type) pairs that an open work order or supply order already covers (three queries)."""
    listed = WorkOrderPart.objects.filter(
        work_order__customer_id=customer_id,
        work_order__status__in=WORK_ORDER_OPEN_STATES,
        work_order__asset_id__isnull=False,
        part_type_id__isnull=False,
    ).values_list("work_order__asset_id", "part_type_id")
    predicted = ReplacementNeed.objects.filter(
        asset__customer_id=customer_id, work_order__status__in=WORK_ORDER_OPEN_STATES
    ).values_list("asset_id", "part_type_id")
    shipping = SupplyOrder.objects.open().filter(customer_id=customer_id).values_list("asset_id", "part_type_id")
    return {*listed, *predicted, *shipping}


def replacements_act(*, customer_id: int, as_of: datetime.datetime) -> RunCounts:
    """Act on the customer's stored forecasts whose ``act_by`` is within the planning window of ``as_of``'s day
    (in the customer's time zone): a supply order per consumable, one predictive work order per asset for its
    wear parts (joining the asset's open one from the forecasts when there is one).

    Never twice for the same need, never while an open order covers it (see the module docstring)."""
    customer = Organisation.objects.get(pk=customer_id)
    settings = forecasts.forecast_settings_for(customer_id)
    today = as_of.astimezone(time_zone(customer.time_zone)).date()
    horizon = today + datetime.timedelta(days=settings.planning_window_days)
    due = list(
        ReplacementForecast.objects.filter(
            asset__customer_id=customer_id, act_by__lte=horizon, segment_started_at__isnull=False
        )
        .select_related("asset__site", "part_type")
        .order_by("act_by", "asset_id", "part_type_id")
    )
    counts = RunCounts(due=len(due))
    if not due:
        return counts
    covered = _covered_keys(customer_id)
    handled = set(
        ReplacementNeed.objects.filter(
            asset__customer_id=customer_id,
            segment_started_at__gte=min(forecast.segment_started_at for forecast in due),
        ).values_list("asset_id", "part_type_id", "segment_started_at")
    )
    visits: dict[int, list[ReplacementForecast]] = {}  # asset -> its wear parts to replace, earliest act_by first
    for forecast in due:
        key = (forecast.asset_id, forecast.part_type_id)
        if (*key, forecast.segment_started_at) in handled:
            counts.already_handled += 1
        elif key in covered:
            counts.covered += 1
        elif forecast.kind == ForecastKind.CONSUMABLE:
            outcome = _supply(forecast=forecast, settings=settings)
            setattr(counts, outcome, getattr(counts, outcome) + 1)
            covered.add(key)
        else:
            visits.setdefault(forecast.asset_id, []).append(forecast)
            covered.add(key)
    for parts in visits.values():
        _visit(parts=parts, customer=customer, settings=settings, counts=counts)
    return counts


def _need_record(forecast: ReplacementForecast) -> ReplacementNeed | None:
    """Insert the forecast's need in a savepoint; None when another run recorded it first."""
    try:
        with transaction.atomic():
            return ReplacementNeed.objects.create(
                asset=forecast.asset,
                part_type=forecast.part_type,
                segment_started_at=forecast.segment_started_at,
                act_by=forecast.act_by,
            )
    except IntegrityError:
        return None


def _supply(*, forecast: ReplacementForecast, settings: ForecastSettings) -> str:
    """Record a consumable's need and open its supply order in one savepoint; the ``RunCounts`` field to raise."""
    try:
        with transaction.atomic():
            need = ReplacementNeed.objects.create(
                asset=forecast.asset,
                part_type=forecast.part_type,
                segment_started_at=forecast.segment_started_at,
                act_by=forecast.act_by,
            )
            need.supply_order = _ship(forecast=forecast, settings=settings)
            need.save(update_fields=["supply_order"])
            return "supply_orders"
    except IntegrityError:
        # Another run recorded the need first, or opened the one open supply order of this part meanwhile.
        return "already_handled"
    except ValidationError as error:
        logger.warning(
            "Supply of part type %s to asset %s was refused: %s",
            forecast.part_type_id,
            forecast.asset_id,
            "; ".join(error.messages),
        )
        return "failed"


def _visit(
    *, parts: list[ReplacementForecast], customer: Organisation, settings: ForecastSettings, counts: RunCounts
) -> None:
    """Record the needs of one asset's due wear parts (``parts``, earliest ``act_by`` first) and give them one
    predictive work order, in one transaction under the asset's row lock: the asset's open predictive work order
    from the forecasts if it has one (joined), else a new one. Raises ``counts``: ``work_orders`` or ``joined``,
    ``already_handled`` for needs another run recorded first, ``failed`` for the needs of a refused work order."""
    asset = parts[0].asset
    recorded: list[tuple[ReplacementNeed, ReplacementForecast]] = []
    try:
        with transaction.atomic():
            # Two runs acting on the same asset wait for each other: the second sees (and joins) the first's order.
            Asset.objects.select_for_update(no_key=True).only("pk").get(pk=asset.pk)
            for forecast in parts:
                need = _need_record(forecast)
                if need is None:
                    counts.already_handled += 1
                else:
                    recorded.append((need, forecast))
            if not recorded:
                return
            paragraphs = [
                work_order_description(forecast, safety_margin_days=settings.safety_margin_days)
                for _need, forecast in recorded
            ]
            work_order = _open_visit(asset_id=asset.pk)
            if work_order is None:
                work_order = _replace(asset=asset, customer=customer, description="\n\n".join(paragraphs))
                counts.work_orders += 1
            else:
                _join(work_order=work_order, paragraphs=paragraphs, part_types=[f.part_type for _n, f in recorded])
                counts.joined += len(recorded)
            ReplacementNeed.objects.filter(pk__in=[need.pk for need, _forecast in recorded]).update(
                work_order=work_order
            )
    except ValidationError as error:
        logger.warning(
            "Replacement of part types %s on asset %s was refused: %s",
            ", ".join(str(forecast.part_type_id) for _need, forecast in recorded),
            asset.pk,
            "; ".join(error.messages),
        )
        counts.failed += len(recorded)


def _open_visit(*, asset_id: int) -> WorkOrder | None:
    """The asset's open predictive work order opened by the forecasts (the oldest), locked; None if it has none."""
    return (
        WorkOrder.objects.select_for_update(no_key=True)
        .filter(
            asset_id=asset_id,
            kind=WorkOrderKind.PREDICTIVE,
            source=WorkOrderSource.FORECAST,
            status__in=WORK_ORDER_OPEN_STATES,
        )
        .order_by("created_at", "pk")
        .first()
    )


def _join(*, work_order: WorkOrder, paragraphs: list[str], part_types: list[PartType]) -> None:
    """Add parts to an open predictive work order: their paragraphs after its description, a note on its timeline."""
    from maintenance.services import _record

    work_order.description = "\n\n".join(part for part in (work_order.description, *paragraphs) if part)
    work_order.save(update_fields=["description", "updated_at"])
    _record(
        work_order=work_order,
        by=None,
        from_status=work_order.status,
        to_status=work_order.status,
        note=gettext("Added by the replacement forecasts: %(parts)s.")
        % {"parts": ", ".join(f"{part_type.name} ({part_type.code})" for part_type in part_types)},
    )


def _ship(*, forecast: ReplacementForecast, settings: ForecastSettings) -> SupplyOrder:
    from maintenance.supplies import supply_order_create

    return supply_order_create(
        asset=forecast.asset,
        part_type=forecast.part_type,
        quantity=1,
        source=SupplyOrderSource.FORECAST,
        needed_by=risk_date(forecast, safety_margin_days=settings.safety_margin_days),
        by=None,
        note=forecast_basis(forecast),
    )


def _replace(*, asset: Asset, customer: Organisation, description: str) -> WorkOrder:
    from maintenance.services import work_order_create

    return work_order_create(
        customer=customer,
        site=asset.site,
        asset=asset,
        kind=WorkOrderKind.PREDICTIVE,
        priority=PREDICTIVE_PRIORITY,
        source=WorkOrderSource.FORECAST,
        description=description,
        by=None,
    )


def _date(value: datetime.date) -> str:
    return formats.date_format(value, "Y-m-d")


def _number(value) -> str:
    return formats.number_format(value, decimal_pos=0 if value == int(value) else 1, force_grouping=True)


def forecast_basis(forecast: ReplacementForecast) -> str:
    """One sentence on what the forecast stands on: rate, what is left or used, method and data behind it."""
    method = ForecastMethod(forecast.method).label if forecast.method in ForecastMethod.values else forecast.method
    if forecast.kind == ForecastKind.CONSUMABLE:
        return gettext("Level %(level)s%% falling %(rate)s%% a day (%(method)s, %(points)d levels).") % {
            "level": _number(forecast.level_percent or 0),
            "rate": formats.number_format(forecast.rate_per_day, decimal_pos=2),
            "method": method,
            "points": forecast.data_points,
        }
    if forecast.replacements_used:
        template = gettext(
            "%(used)s of %(life)s %(unit)s used at %(rate)s a day "
            "(%(method)s from %(replacements)d replacements, %(points)d readings)."
        )
    else:
        template = gettext("%(used)s of %(life)s %(unit)s used at %(rate)s a day (%(method)s, %(points)d readings).")
    return template % {
        "used": _number(forecast.life_used or 0),
        "life": _number(forecast.rated_life or 0),
        "unit": LifeUnit(forecast.part_type.life_unit).label.lower(),
        "rate": _number(forecast.rate_per_day),
        "method": method,
        "replacements": forecast.replacements_used,
        "points": forecast.data_points,
    }


def work_order_description(forecast: ReplacementForecast, *, safety_margin_days: int) -> str:
    """What a predictive work order says: the part, the basis and the dates."""
    return gettext(
        "Predictive replacement of %(part)s (%(code)s). %(basis)s End of life predicted on %(predicted)s "
        "(range %(earliest)s to %(latest)s); replace by %(act_by)s to stay ahead of the %(risk)s risk date."
    ) % {
        "part": forecast.part_type.name,
        "code": forecast.part_type.code,
        "basis": forecast_basis(forecast),
        "predicted": _date(forecast.predicted_on),
        "earliest": _date(forecast.earliest_on),
        "latest": _date(forecast.latest_on),
        "act_by": _date(forecast.act_by),
        "risk": _date(risk_date(forecast, safety_margin_days=safety_margin_days)),
    }


# --- Celery ----------------------------------------------------------------------------------------------------


def _instant(as_of: str | None) -> datetime.datetime:
    return datetime.datetime.fromisoformat(as_of) if as_of else timezone.now()


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def forecasts_customer_task(customer_id: int, as_of: str | None = None) -> dict[str, int]:
    """One customer's forecasts and actions. Idempotent."""
    return replacements_run(customer_id=customer_id, as_of=_instant(as_of)).as_dict()


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=3600, time_limit=3700)
def forecasts_batch_task(customer_ids: list[int], as_of: str, lives: dict | None = None) -> int:
    """Recompute the forecasts of a batch of customers of one provider (set-based, a constant number of queries
    for the batch), then fan out one ``forecasts_act_task`` per customer. ``lives`` are the provider's fitted life
    distributions (``lives.lives_to_json``). Idempotent. Returns the number of forecasts written."""
    written = forecasts.forecasts_refresh(
        customer_ids=customer_ids,
        as_of=_instant(as_of),
        lives=None if lives is None else lives_from_json(lives),
    )
    group(forecasts_act_task.s(customer_id, as_of) for customer_id in customer_ids).apply_async()
    return written


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1900)
def forecasts_act_task(customer_id: int, as_of: str) -> dict[str, int]:
    """Act on one customer's stored forecasts (supply orders, predictive work orders). Idempotent."""
    return replacements_act(customer_id=customer_id, as_of=_instant(as_of)).as_dict()


@shared_task(ignore_result=True)
def forecasts_nightly_task(as_of: str | None = None) -> int:
    """Beat, nightly, all as of the same instant: for each provider, its life distributions fitted once, then one
    ``forecasts_batch_task`` per batch of its active customers (``FORECAST_BATCH_ASSETS`` in-service assets at
    most), which fans out the actions per customer. Returns the number of customers."""
    instant = _instant(as_of)
    customers = Organisation.objects.customers().filter(is_active=True).order_by("pk")
    by_provider: dict[int, list[int]] = {}
    for customer_id, provider_id in customers.values_list("pk", "provider_id"):
        by_provider.setdefault(provider_id, []).append(customer_id)
    for provider_id, customer_ids in by_provider.items():
        lives = lives_to_json(provider_lives(provider_id=provider_id, as_of=instant))
        batches = forecast_batches(customer_ids, max_assets=django_settings.FORECAST_BATCH_ASSETS)
        group(forecasts_batch_task.s(batch, instant.isoformat(), lives) for batch in batches).apply_async()
    return sum(len(customer_ids) for customer_ids in by_provider.values())


# --- Reads -----------------------------------------------------------------------------------------------------


def with_open_actions(queryset: QuerySet[ReplacementForecast]) -> QuerySet[ReplacementForecast]:
    """Annotate each forecast with the open order acting on it (``open_work_order_id``/``_number``: an open
    work order of the asset listing the part or opened for an earlier need of it; ``open_supply_order_id``/
    ``_number``) and ``action_number`` (either number, for the CSV), in the same query."""
    work_orders = (
        WorkOrder.objects.open()
        .filter(asset_id=OuterRef("asset_id"))
        .filter(
            Q(parts__part_type_id=OuterRef("part_type_id"))
            | Q(replacement_needs__part_type_id=OuterRef("part_type_id"))
        )
        .order_by("-created_at", "-pk")
    )
    supply_orders = (
        SupplyOrder.objects.open()
        .filter(asset_id=OuterRef("asset_id"), part_type_id=OuterRef("part_type_id"))
        .order_by("-created_at", "-pk")
    )
    return queryset.annotate(
        open_work_order_id=Subquery(work_orders.values("pk")[:1]),
        open_work_order_number=Subquery(work_orders.values("number")[:1]),
        open_supply_order_id=Subquery(supply_orders.values("pk")[:1]),
        open_supply_order_number=Subquery(supply_orders.values("number")[:1]),
    ).annotate(action_number=Coalesce("open_work_order_number", "open_supply_order_number", Value("")))


def replacement_forecast_list(*, user: User) -> QuerySet[ReplacementForecast]:
    """The forecasts ``user`` may see, with what the list, the API and the asset panel show."""
    life_used_percent = Cast(
        Round(F("life_used") * 100 / F("rated_life"), 1), output_field=DecimalField(max_digits=8, decimal_places=1)
    )
    queryset = (
        ReplacementForecast.objects.visible_to(user)
        .select_related("asset__site", "asset__customer", "part_type")
        .annotate(life_used_percent=life_used_percent)
    )
    return with_open_actions(queryset)


def within_horizon(queryset: QuerySet[ReplacementForecast], *, today: datetime.date, days: int) -> QuerySet:
    """Forecasts to act on, or running out, within ``days`` of ``today`` (overdue ones included)."""
    until = today + datetime.timedelta(days=days)
    return queryset.filter(Q(act_by__lte=until) | Q(predicted_on__lte=until))


def replacement_due_counts(*, user: User, today: datetime.date, days: int = TILE_DAYS) -> dict[str, int]:
    """The needs ``user`` sees whose act-by date is within ``days``: in all, shipments, replacements, overdue
    (one aggregate query)."""
    return (
        ReplacementForecast.objects.visible_to(user)
        .filter(act_by__lte=today + datetime.timedelta(days=days))
        .aggregate(
            total=Count("pk"),
            shipments=Count("pk", filter=Q(kind=ForecastKind.CONSUMABLE)),
            replacements=Count("pk", filter=Q(kind=ForecastKind.WEAR_PART)),
            overdue=Count("pk", filter=Q(act_by__lt=today)),
        )
    )
