"""Alert rules at work: evaluating ingested telemetry, the silent-device sweep, notifications, acknowledging and
resolving alerts by hand, and maintaining the rules.

The ingest calls ``alerts_evaluate_ingest`` after its rows are written. The beat sweep (``alerts_sweep``, also
``manage.py alerts_sweep``) opens and resolves silent-device alerts, asks for the work orders still owed and
sends the e-mail digests.

How the conditions work (one open alert per asset, rule and condition; the database guards it):

- *event code*: an event whose code matches the rule's shell-style pattern (case-insensitive) raises an alert
  whose condition is the code; an event of the same code with ``cleared`` resolves it.
- *impact*: an event with a g-force above the threshold (and a code matching the pattern, when the rule has
  one) raises an alert whose condition is the event's code; a cleared event of that code resolves it.
- *supply below*: a level of the rule's supply (any supply when it names none) under the threshold raises an
  alert whose condition is the supply; a level at or above it (a replaced cartridge) resolves it.
- *meter past*: a reading of the rule's meter at or past the threshold raises an alert whose condition is the
  meter; a reading below it (a replaced meter) resolves it.
- *silent device*: an in-service asset that has sent nothing for the rule's hours (or, when the rule leaves
  them empty, the customer's "silent device after" setting) is silent. An asset that has never reported is
  silent too, counted from its registration and from the end of its install day, so that a new install has
  the same grace. Any telemetry of the asset resolves it (the ingest does so at once, the sweep as well).

Only assets in service raise alerts; a clearing observation resolves an alert whatever the asset's status. A
clearing observation older than the alert's last sighting (a late upload) does not resolve it. Repeats raise
``count`` and ``last_seen_at`` and add an occurrence. Alerts of ``ALERT_WORK_ORDER_SEVERITIES`` ask once for a
work order through ``telemetry.hooks``. Alert messages hold values, not prose (``"4%"``, ``"3.5 g"``, the
device's own text), so that pages and e-mails read in each reader's language.
"""

import fnmatch
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial, reduce
from itertools import chain
from operator import or_

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, mailers
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, CharField, Count, DateTimeField, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Greatest
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.choices import OrganisationKind, Role
from accounts.models import Membership, Organisation, OrganisationSettings, User
from accounts.roles import Capability
from accounts.selectors import SETTING_DEFAULTS
from assets.choices import ASSET_IN_SERVICE_STATES, AssetCategory
from assets.models import Asset, AssetModel
from fleet.tenancy import Access, access_for
from telemetry import hooks
from telemetry.choices import (
    ALERT_ACTIVE_STATES,
    ALERT_WORK_ORDER_SEVERITIES,
    SEVERITY_RANK,
    AlertRuleKind,
    AlertStatus,
    Meter,
    Severity,
    Supply,
)
from telemetry.models import Alert, AlertOccurrence, AlertRule, DiagnosticEvent

logger = logging.getLogger(__name__)


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


SILENT_CONDITION = "silent"
CONDITION_LABELS = {**dict(Supply.choices), **dict(Meter.choices), SILENT_CONDITION: _("No telemetry")}

# The most alerts one sweep e-mails about, and the most lines one e-mail lists (the rest are counted).
NOTIFY_LIMIT = 10_000
DIGEST_MAX_LINES = 100
WORK_ORDER_BATCH = 500

NOT_ALLOWED_TO_HANDLE = _("You may not handle alerts.")
RULE_HAS_OTHER_CUSTOMERS_ALERTS = _(
    "This rule has raised alerts for other customers. Create a rule for this customer instead."
)
NOT_ALLOWED_TO_MANAGE_RULES = _("You may not manage alert rules.")
ALERT_NOT_OPEN = _("Only an open alert can be acknowledged.")
ALERT_ALREADY_RESOLVED = _("The alert is already resolved.")
RESOLUTION_NOTE_REQUIRED = _("Say how the alert was resolved.")
RULE_NEEDS_CODE_PATTERN = _("Give the event codes this rule watches, e.g. SC5*.")
RULE_NEEDS_THRESHOLD = _("This kind of rule needs a threshold.")
RULE_PERCENT_RANGE = _("A supply threshold is a percentage above 0 and at most 100.")
RULE_THRESHOLD_POSITIVE = _("The threshold must be greater than zero.")
RULE_THRESHOLD_NOT_NEGATIVE = _("The threshold cannot be negative.")
RULE_NEEDS_METER = _("Choose the meter this rule watches.")
RULE_CUSTOMER_NOT_YOURS = _("Choose one of your customers.")
RULE_UNKNOWN_CATEGORY = _("Choose a category of the catalogue.")
RULE_SILENT_HOURS_POSITIVE = _("Give at least one hour.")

# The condition fields each kind of rule uses; the others are emptied when a rule is saved.
RULE_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    AlertRuleKind.EVENT_CODE: ("code_pattern",),
    AlertRuleKind.SUPPLY_BELOW: ("supply", "threshold"),
    AlertRuleKind.METER_ABOVE: ("meter", "threshold"),
    AlertRuleKind.IMPACT_ABOVE: ("threshold", "code_pattern"),
    AlertRuleKind.SILENT: ("silent_hours",),
}
RULE_CONDITION_FIELDS = ("code_pattern", "supply", "meter", "threshold", "silent_hours")
RULE_EDITABLE_FIELDS = (
    "name",
    "kind",
    "severity",
    "customer",
    "asset_model",
    "category",
    *RULE_CONDITION_FIELDS,
    "notify",
)


def condition_label(condition: str) -> str:
    """How a condition reads: the supply's or meter's name, "No telemetry", or the event code itself."""
    return str(CONDITION_LABELS.get(condition, condition))


def severity_rank() -> Case:
    """An expression ordering severities from info (0) to critical (3)."""
    return Case(
        *[When(severity=severity, then=Value(rank)) for severity, rank in SEVERITY_RANK.items()],
        default=Value(0),
        output_field=IntegerField(),
    )


# --- Selectors ------------------------------------------------------------------------------------------------


def alert_list(*, user: User) -> QuerySet[Alert]:
    """Alerts the user may see, with what lists, details, the API and exports show of them."""
    return (
        Alert.objects.visible_to(user)
        .select_related(
            "rule", "asset", "asset__site", "asset__asset_model", "customer", "acknowledged_by", "resolved_by"
        )
        .annotate(severity_rank=severity_rank())
    )


def alert_occurrence_list(*, alert: Alert) -> QuerySet[AlertOccurrence]:
    """The sightings of one (already visible) alert, newest first."""
    return alert.occurrences.order_by("-at", "-id")


def alert_rule_list(*, user: User) -> QuerySet[AlertRule]:
    """Alert rules the user may see (``AlertRule.objects.visible_to``)."""
    return AlertRule.objects.visible_to(user).select_related("customer", "asset_model", "asset_model__manufacturer")


def alert_counts(*, user: User) -> dict:
    """Dashboard figures in one query: the user's active alerts by severity, and the assets that are silent."""
    counts = (
        Alert.objects.visible_to(user)
        .active()
        .aggregate(
            **{severity.value: Count("pk", filter=Q(severity=severity)) for severity in Severity},
            silent=Count("asset_id", filter=Q(rule__kind=AlertRuleKind.SILENT), distinct=True),
        )
    )
    return {
        "by_severity": {severity.value: counts[severity.value] for severity in Severity},
        "total": sum(counts[severity.value] for severity in Severity),
        "silent": counts["silent"],
    }


# --- Evaluating what an ingest stored ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Observation:
    """One item of a batch as one rule sees it: the condition holds (``raised``) or has cleared."""

    at: datetime
    raised: bool
    message: str = ""
    event_key: tuple | None = None  # (asset_id, code, occurred_at) of the event behind it


def _number(value: Decimal) -> str:
    """A decimal without trailing zeros: 4.00 -> "4", 3.50 -> "3.5"."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _code_matches(pattern: str, code: str) -> bool:
    return fnmatch.fnmatchcase(code.upper(), pattern.strip().upper())


def _rule_watches(rule: AlertRule, asset: Asset) -> bool:
    """Whether ``asset`` (with its model and customer loaded) is in the rule's scope."""
    return (
        rule.provider_id == asset.customer.provider_id
        and (rule.customer_id is None or rule.customer_id == asset.customer_id)
        and (rule.asset_model_id is None or rule.asset_model_id == asset.asset_model_id)
        and (not rule.category or rule.category == asset.asset_model.category)
    )


def _rule_scope_q(rule: AlertRule) -> Q:
    """The rule's scope as a filter of assets."""
    scope = Q(customer__provider_id=rule.provider_id)
    if rule.customer_id is not None:
        scope &= Q(customer_id=rule.customer_id)
    if rule.asset_model_id is not None:
        scope &= Q(asset_model_id=rule.asset_model_id)
    if rule.category:
        scope &= Q(asset_model__category=rule.category)
    return scope


def _event_observation(rule: AlertRule, event: IngestedEvent) -> _Observation | None:
    event_key = (event.asset_id, event.code, event.occurred_at)
    if rule.kind == AlertRuleKind.EVENT_CODE:
        if not _code_matches(rule.code_pattern, event.code):
            return None
        return _Observation(event.occurred_at, not event.cleared, event.message, event_key)
    if rule.kind == AlertRuleKind.IMPACT_ABOVE:
        if rule.code_pattern and not _code_matches(rule.code_pattern, event.code):
            return None
        if event.cleared:
            return _Observation(event.occurred_at, False, event.message, event_key)
        if event.g_force is None or rule.threshold is None or event.g_force <= rule.threshold:
            return None
        message = f"{_number(event.g_force)} g" + (f" · {event.message}" if event.message else "")
        return _Observation(event.occurred_at, True, message[:500], event_key)
    return None


def _observations(batch: IngestedBatch, assets: dict[int, Asset], rules: list[AlertRule]) -> dict[tuple, list]:
    """Every item of the batch as seen by every rule that watches its asset, by (asset, rule, condition)."""
    rules_by_provider: dict[int, list[AlertRule]] = defaultdict(list)
    for rule in rules:
        rules_by_provider[rule.provider_id].append(rule)
    watching: dict[int, dict[str, list[AlertRule]]] = {}

    def rules_of(asset_id: int, kind: str) -> list[AlertRule]:
        if asset_id not in watching:
            by_kind: dict[str, list[AlertRule]] = defaultdict(list)
            asset = assets.get(asset_id)
            if asset is not None:
                for rule in rules_by_provider[asset.customer.provider_id]:
                    if _rule_watches(rule, asset):
                        by_kind[rule.kind].append(rule)
            watching[asset_id] = by_kind
        return watching[asset_id].get(kind, [])

    found: dict[tuple, list[_Observation]] = defaultdict(list)
    for reading in batch.readings:
        for rule in rules_of(reading.asset_id, AlertRuleKind.METER_ABOVE):
            if rule.meter == reading.meter and rule.threshold is not None:
                raised = reading.value >= rule.threshold
                found[(reading.asset_id, rule.pk, reading.meter)].append(
                    _Observation(reading.taken_at, raised, _number(reading.value))
                )
    for level in batch.levels:
        for rule in rules_of(level.asset_id, AlertRuleKind.SUPPLY_BELOW):
            if rule.supply in ("", level.supply) and rule.threshold is not None:
                raised = level.percent < rule.threshold
                found[(level.asset_id, rule.pk, level.supply)].append(
                    _Observation(level.taken_at, raised, f"{_number(level.percent)}%")
                )
    for event in batch.events:
        for kind in (AlertRuleKind.EVENT_CODE, AlertRuleKind.IMPACT_ABOVE):
            for rule in rules_of(event.asset_id, kind):
                observation = _event_observation(rule, event)
                if observation is not None:
                    found[(event.asset_id, rule.pk, event.code)].append(observation)
    return found


def _chunks(items: list, *, params_per_item: int) -> Iterable[list]:
    """``items`` in as few statements as the database takes: one on PostgreSQL (client-side binding has no
    parameter limit), more on SQLite only past its variable limit."""
    limit = connection.features.max_query_params
    size = len(items) if limit is None else max(1, (limit - 10) // params_per_item)
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]


def _resolve_automatically(resolutions: dict[int, datetime], *, now: datetime) -> int:
    """Resolve alerts whose condition cleared, each at its own time, in one statement."""
    resolved = 0
    for chunk in _chunks(list(resolutions.items()), params_per_item=3):
        resolved += Alert.objects.filter(pk__in=[pk for pk, _at in chunk], status__in=ALERT_ACTIVE_STATES).update(
            status=AlertStatus.RESOLVED,
            resolved_at=Case(*[When(pk=pk, then=Value(at)) for pk, at in chunk], output_field=DateTimeField()),
            resolved_by=None,
            updated_at=now,
        )
    return resolved


def _record_sightings(sightings: list[tuple[int, list[_Observation]]], *, now: datetime) -> None:
    """Raise count and last-seen time of each alert by its sightings, in one statement.

    The increments are expressions, so a concurrent ingest that saw the same alert adds to it, never overwrites.
    """
    for chunk in _chunks(sightings, params_per_item=8):
        last = {pk: observations[-1] for pk, observations in chunk}
        Alert.objects.filter(pk__in=list(last)).update(
            count=F("count")
            + Case(*[When(pk=pk, then=Value(len(seen))) for pk, seen in chunk], output_field=IntegerField()),
            last_seen_at=Greatest(
                F("last_seen_at"),
                Case(*[When(pk=pk, then=Value(seen.at)) for pk, seen in last.items()], output_field=DateTimeField()),
            ),
            message=Case(
                *[When(pk=pk, last_seen_at__lte=seen.at, then=Value(seen.message)) for pk, seen in last.items()],
                default=F("message"),
                output_field=CharField(),
            ),
            updated_at=now,
        )


def alerts_evaluate_ingest(*, batch: IngestedBatch) -> None:
    """Open, repeat or resolve alerts for what a batch brought (a fixed number of queries per batch).

    The queries: the batch's assets with their model and customer, the providers' active rules, the assets'
    active alerts, then at most one statement each to resolve, create (conflicts ignored: the partial unique
    constraint decides between concurrent ingests), re-read the created, record sightings, find the events
    behind them and add occurrences. Work orders are asked for after commit, by a task.
    """
    asset_ids = {item.asset_id for item in chain(batch.readings, batch.levels, batch.events)}
    if not asset_ids:
        return
    now = timezone.now()
    with transaction.atomic():
        assets = {
            asset.pk: asset
            for asset in Asset.objects.filter(pk__in=asset_ids)
            .select_related("asset_model", "customer")
            .only("id", "status", "customer_id", "asset_model_id", "asset_model__category", "customer__provider")
        }
        provider_ids = {asset.customer.provider_id for asset in assets.values()}
        rules = list(AlertRule.objects.active().filter(provider_id__in=provider_ids).exclude(kind=AlertRuleKind.SILENT))
        active: dict[tuple, Alert] = {}
        resolutions: dict[int, datetime] = {}
        for alert in (
            Alert.objects.active()
            .filter(asset_id__in=asset_ids)
            .annotate(rule_kind=F("rule__kind"))
            .only("id", "asset_id", "rule_id", "condition", "severity", "last_seen_at", "work_order_requested_at")
        ):
            if alert.rule_kind == AlertRuleKind.SILENT:
                resolutions[alert.pk] = now  # the device reports again
            else:
                active[(alert.asset_id, alert.rule_id, alert.condition)] = alert

        rules_by_id = {rule.pk: rule for rule in rules}
        raised_by_key: dict[tuple, list[_Observation]] = {}
        to_create: list[Alert] = []
        for key, observations in _observations(batch, assets, rules).items():
            observations.sort(key=lambda observation: observation.at)
            existing = active.get(key)
            clears = [index for index, observation in enumerate(observations) if not observation.raised]
            if clears and (existing is None or observations[clears[-1]].at >= existing.last_seen_at):
                if existing is not None:
                    resolutions[existing.pk] = observations[clears[-1]].at
                    del active[key]
                    existing = None
                observations = observations[clears[-1] + 1 :]
            raised = [observation for observation in observations if observation.raised]
            asset = assets[key[0]]
            if not raised or asset.status not in ASSET_IN_SERVICE_STATES:
                continue
            raised_by_key[key] = raised
            if existing is None:
                rule = rules_by_id[key[1]]
                to_create.append(
                    Alert(
                        rule_id=rule.pk,
                        asset_id=asset.pk,
                        customer_id=asset.customer_id,
                        condition=key[2],
                        severity=rule.severity,
                        status=AlertStatus.OPEN,
                        message=raised[0].message[:500],
                        first_seen_at=raised[0].at,
                        last_seen_at=raised[0].at,
                        count=0,  # every sighting, the first included, is counted by _record_sightings
                    )
                )

        if resolutions:
            _resolve_automatically(resolutions, now=now)
        if to_create:
            # Get or create: a concurrent ingest may have opened the same alert; its row then takes our sightings.
            Alert.objects.bulk_create(to_create, ignore_conflicts=True)
            created_keys = {(alert.asset_id, alert.rule_id, alert.condition) for alert in to_create}
            for alert in (
                Alert.objects.active()
                .filter(
                    asset_id__in={key[0] for key in created_keys},
                    rule_id__in={key[1] for key in created_keys},
                    condition__in={key[2] for key in created_keys},
                )
                .only("id", "asset_id", "rule_id", "condition", "severity", "work_order_requested_at")
            ):
                key = (alert.asset_id, alert.rule_id, alert.condition)
                if key in created_keys:
                    active[key] = alert
        sightings = [(active[key].pk, raised) for key, raised in raised_by_key.items() if key in active]
        if not sightings:
            return
        _record_sightings(sightings, now=now)

        event_keys = {observation.event_key for _pk, raised in sightings for observation in raised}
        event_keys.discard(None)
        event_ids: dict[tuple, int] = {}
        if event_keys:
            rows = DiagnosticEvent.objects.filter(
                asset_id__in={key[0] for key in event_keys},
                code__in={key[1] for key in event_keys},
                occurred_at__in={key[2] for key in event_keys},
            ).values_list("pk", "asset_id", "code", "occurred_at")
            event_ids = {(asset_id, code, at): pk for pk, asset_id, code, at in rows}
        AlertOccurrence.objects.bulk_create(
            [
                AlertOccurrence(
                    alert_id=pk, at=seen.at, message=seen.message[:500], event_id=event_ids.get(seen.event_key)
                )
                for pk, raised in sightings
                for seen in raised
            ]
        )
        severe = sorted(
            alert.pk
            for key, alert in active.items()
            if key in raised_by_key
            and alert.severity in ALERT_WORK_ORDER_SEVERITIES
            and alert.work_order_requested_at is None
        )
        if severe:
            from telemetry.tasks import alert_request_work_orders_task

            transaction.on_commit(partial(alert_request_work_orders_task.delay, severe))


# --- Work orders ------------------------------------------------------------------------------------------------


def alerts_request_work_orders(*, alert_ids: Iterable[int] | None = None) -> int:
    """Ask for a work order for each active severe alert that has not asked yet (all, or those of ``alert_ids``).

    Returns how many asked now. Idempotent: ``telemetry.hooks.request_work_order`` asks at most once per alert.
    An opener that fails leaves its alert for the next sweep and does not stop the others.
    """
    alerts = Alert.objects.active().filter(
        severity__in=ALERT_WORK_ORDER_SEVERITIES, work_order_requested_at__isnull=True
    )
    if alert_ids is not None:
        alerts = alerts.filter(pk__in=list(alert_ids))
    requested = 0
    for alert in alerts.select_related("rule", "asset", "customer").order_by("pk")[:WORK_ORDER_BATCH]:
        try:
            if hooks.request_work_order(alert):
                requested += 1
        except Exception:
            logger.exception("Asking for a work order for alert %s failed; the next sweep asks again.", alert.pk)
    return requested


# --- The silent-device check ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SilentCheck:
    opened: int
    resolved: int


def _silent_hours(provider_id: int) -> tuple[int, dict[int, int]]:
    """The provider's "silent device after" hours and its customers' own values, in one query."""
    rows = dict(
        OrganisationSettings.objects.filter(
            Q(organisation_id=provider_id) | Q(organisation__provider_id=provider_id),
            silent_device_hours__isnull=False,
        ).values_list("organisation_id", "silent_device_hours")
    )
    default = rows.pop(provider_id, SETTING_DEFAULTS["silent_device_hours"])
    return default, rows


def _silent_cutoffs(rule: AlertRule, hours: tuple[int, dict[int, int]], now: datetime) -> list[tuple[Q, datetime]]:
    """(customers, cutoff) pairs: assets of those customers not heard from since the cutoff are silent."""
    if rule.silent_hours:
        return [(Q(), now - timedelta(hours=rule.silent_hours))]
    default, own = hours
    customers_by_hours: dict[int, list[int]] = defaultdict(list)
    for customer_id, customer_hours in own.items():
        customers_by_hours[customer_hours].append(customer_id)
    cutoffs = [(Q(customer_id__in=ids), now - timedelta(hours=h)) for h, ids in customers_by_hours.items()]
    cutoffs.append((~Q(customer_id__in=list(own)) if own else Q(), now - timedelta(hours=default)))
    return cutoffs


def _silent_q(cutoff: datetime) -> Q:
    """Assets not heard from since ``cutoff``: seen before it, or never seen and registered and installed before."""
    never_seen = Q(last_seen_at__isnull=True, created_at__lt=cutoff) & (
        Q(install_date__isnull=True) | Q(install_date__lt=cutoff.date())
    )
    return Q(last_seen_at__lt=cutoff) | never_seen


def _silent_check_rule(rule: AlertRule, cutoffs: list[tuple[Q, datetime]], now: datetime) -> SilentCheck:
    active = Alert.objects.active().filter(rule=rule, condition=SILENT_CONDITION)
    heard_again = reduce(or_, (group & Q(asset__last_seen_at__gte=cutoff) for group, cutoff in cutoffs))
    resolved = active.filter(heard_again | ~Q(asset__status__in=ASSET_IN_SERVICE_STATES)).update(
        status=AlertStatus.RESOLVED, resolved_at=now, resolved_by=None, updated_at=now
    )
    silent = reduce(or_, (group & _silent_q(cutoff) for group, cutoff in cutoffs))
    candidates = (
        Asset.objects.filter(_rule_scope_q(rule), status__in=ASSET_IN_SERVICE_STATES)
        .filter(silent)
        .exclude(pk__in=active.values("asset_id"))
        .values_list("pk", "customer_id")
        .order_by("pk")
    )
    created = Alert.objects.bulk_create(
        [
            Alert(
                rule=rule,
                asset_id=asset_id,
                customer_id=customer_id,
                condition=SILENT_CONDITION,
                severity=rule.severity,
                status=AlertStatus.OPEN,
                first_seen_at=now,
                last_seen_at=now,
                count=1,
            )
            for asset_id, customer_id in candidates
        ],
        batch_size=1000,
    )
    AlertOccurrence.objects.bulk_create([AlertOccurrence(alert=alert, at=now) for alert in created], batch_size=2000)
    return SilentCheck(opened=len(created), resolved=resolved)


def alerts_check_silent(*, now: datetime | None = None) -> SilentCheck:
    """Open an alert for every silent asset in each silent-device rule's scope; resolve those heard from again.

    Idempotent, and safe with two workers at once: each rule is checked in its own transaction holding the
    rule's row lock (a worker skips a rule another is checking), an asset with an active silent alert of the
    rule is left alone, and the partial unique constraint refuses a second one.
    """
    now = now or timezone.now()
    opened = resolved = 0
    hours_by_provider: dict[int, tuple[int, dict[int, int]]] = {}
    rule_ids = list(AlertRule.objects.active().filter(kind=AlertRuleKind.SILENT).values_list("pk", flat=True))
    for rule_id in rule_ids:
        try:
            with transaction.atomic():
                rule = AlertRule.objects.select_for_update(skip_locked=True).filter(pk=rule_id, is_active=True).first()
                if rule is None:
                    continue  # deactivated meanwhile, or another worker is checking it
                if rule.provider_id not in hours_by_provider:
                    hours_by_provider[rule.provider_id] = _silent_hours(rule.provider_id)
                result = _silent_check_rule(rule, _silent_cutoffs(rule, hours_by_provider[rule.provider_id], now), now)
        except IntegrityError:
            logger.info("Silent-device rule %s was checked concurrently; the next sweep looks again.", rule_id)
            continue
        opened += result.opened
        resolved += result.resolved
    return SilentCheck(opened=opened, resolved=resolved)


# --- E-mail digests -------------------------------------------------------------------------------------------


def _digest_line(alert: Alert, *, show_customer: bool) -> dict:
    """One alert as a line of the digest, in the active language and time zone."""
    message = alert.message
    if alert.condition == SILENT_CONDITION and alert.rule.kind == AlertRuleKind.SILENT:
        last_seen = alert.asset.last_seen_at
        message = (
            _("last seen %(when)s")
            % {"when": formats.date_format(timezone.localtime(last_seen), "SHORT_DATETIME_FORMAT")}
            if last_seen
            else _("never reported")
        )
    return {
        "severity": str(Severity(alert.severity).label),
        "when": formats.date_format(timezone.localtime(alert.first_seen_at), "SHORT_DATETIME_FORMAT"),
        "customer": alert.customer.name if show_customer else "",
        "site": alert.asset.site.name,
        "asset": f"{alert.asset.asset_model.name} {alert.asset.serial_number}",
        "rule": alert.rule.name,
        "condition": condition_label(alert.condition),
        "message": str(message),
    }


def _digest_message(*, user: User, organisation: Organisation, alerts: list[Alert]) -> EmailMessage:
    """One e-mail listing ``alerts`` for ``user``, in their language and their organisation's time zone."""
    show_customer = organisation.kind == OrganisationKind.PROVIDER
    ordered = sorted(alerts, key=lambda alert: (-SEVERITY_RANK[alert.severity], alert.first_seen_at, alert.pk))
    language = user.language or organisation.language or settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(organisation.time_zone):
        context = {
            "count": len(alerts),
            "lines": [_digest_line(alert, show_customer=show_customer) for alert in ordered[:DIGEST_MAX_LINES]],
            "more": max(0, len(alerts) - DIGEST_MAX_LINES),
            "organisation": organisation.name,
        }
        subject = " ".join(render_to_string("telemetry/alerts/email_digest_subject.txt", context).split())
        body = render_to_string("telemetry/alerts/email_digest.txt", context)
    return EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])


def _digest_messages(alerts: list[Alert]) -> list[EmailMessage]:
    """One e-mail per recipient: each customer's admins get their customer's alerts, each provider's service
    desk all of its customers' alerts."""
    by_customer: dict[int, list[Alert]] = defaultdict(list)
    by_provider: dict[int, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_customer[alert.customer_id].append(alert)
        by_provider[alert.customer.provider_id].append(alert)
    recipients = (
        Membership.objects.filter(
            Q(organisation_id__in=list(by_customer), role=Role.CUSTOMER_ADMIN)
            | Q(organisation_id__in=list(by_provider), role=Role.SERVICE_DESK),
            user__is_active=True,
            organisation__is_active=True,
        )
        .select_related("user", "organisation")
        .order_by("user__email")
    )
    messages = []
    for membership in recipients:
        if membership.role == Role.SERVICE_DESK:
            listed = by_provider[membership.organisation_id]
        else:
            listed = by_customer[membership.organisation_id]
        if listed and membership.user.email:
            messages.append(_digest_message(user=membership.user, organisation=membership.organisation, alerts=listed))
    return messages


def alerts_notify(*, now: datetime | None = None) -> int:
    """E-mail every recipient one digest of the alerts opened since the last one; returns the e-mails sent.

    Alerts not yet dealt with (``notified_at`` empty) are locked (skipping rows another worker holds), marked
    and, where their rule notifies and they are still active, listed. Alerts of rules that do not notify, and
    alerts resolved before the sweep came, are marked without an e-mail. A failure to send rolls the marks
    back, so the next sweep sends again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        pending = list(
            Alert.objects.filter(notified_at__isnull=True)
            .select_related("rule", "asset", "asset__site", "asset__asset_model", "customer")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")[:NOTIFY_LIMIT]
        )
        if not pending:
            return 0
        Alert.objects.filter(pk__in=[alert.pk for alert in pending]).update(notified_at=now)
        listed = [alert for alert in pending if alert.rule.notify and alert.status in ALERT_ACTIVE_STATES]
        messages = _digest_messages(listed) if listed else []
        if messages:
            mailers.default.send_messages(messages)
    return len(messages)


# --- The sweep ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    silent_opened: int
    silent_resolved: int
    work_orders_requested: int
    emails_sent: int


def alerts_sweep(*, now: datetime | None = None) -> SweepResult:
    """The periodic work of alerts: silent devices, work orders still owed, e-mail digests. Idempotent."""
    now = now or timezone.now()
    silent = alerts_check_silent(now=now)
    requested = alerts_request_work_orders()
    sent = alerts_notify(now=now)
    return SweepResult(
        silent_opened=silent.opened,
        silent_resolved=silent.resolved,
        work_orders_requested=requested,
        emails_sent=sent,
    )


# --- Handling alerts by hand ------------------------------------------------------------------------------------


def _check_may_handle(by: User) -> None:
    access = access_for(by)
    if access is None or not access.can(Capability.HANDLE_ALERTS):
        raise ValidationError(NOT_ALLOWED_TO_HANDLE)


@transaction.atomic
def alert_acknowledge(*, alert: Alert, by: User, note: str = "") -> Alert:
    """Someone is on it: an open alert becomes acknowledged (it stays active, so repeats still count)."""
    _check_may_handle(by)
    status = Alert.objects.select_for_update().values_list("status", flat=True).get(pk=alert.pk)
    if status != AlertStatus.OPEN:
        raise ValidationError(ALERT_NOT_OPEN)
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = by
    alert.acknowledgement_note = note.strip()
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "acknowledgement_note", "updated_at"])
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, by: User, note: str) -> Alert:
    """Resolve an open or acknowledged alert by hand, saying how. A later sighting opens a new alert."""
    _check_may_handle(by)
    note = note.strip()
    if not note:
        raise ValidationError({"note": RESOLUTION_NOTE_REQUIRED})
    status = Alert.objects.select_for_update().values_list("status", flat=True).get(pk=alert.pk)
    if status not in ALERT_ACTIVE_STATES:
        raise ValidationError(ALERT_ALREADY_RESOLVED)
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = timezone.now()
    alert.resolved_by = by
    alert.resolution_note = note
    alert.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note", "updated_at"])
    return alert


# --- Rules ------------------------------------------------------------------------------------------------------


def _check_may_manage_rules(by: User) -> Access:
    access = access_for(by)
    if access is None or not access.is_provider_staff or not access.can(Capability.MANAGE_ASSETS):
        raise ValidationError(NOT_ALLOWED_TO_MANAGE_RULES)
    return access


def _rule_validate(rule: AlertRule) -> None:
    """Empty the fields the rule's kind does not use, check the ones it does, then the model's own checks."""
    used = RULE_KIND_FIELDS.get(rule.kind, ())
    for name in RULE_CONDITION_FIELDS:
        if name not in used:
            setattr(rule, name, None if name in ("threshold", "silent_hours") else "")
    rule.code_pattern = rule.code_pattern.strip()
    errors: dict[str, object] = {}
    if rule.customer_id is not None and (
        rule.customer.kind != OrganisationKind.CUSTOMER or rule.customer.provider_id != rule.provider_id
    ):
        errors["customer"] = RULE_CUSTOMER_NOT_YOURS
    if rule.category and rule.category not in AssetCategory.values:
        errors["category"] = RULE_UNKNOWN_CATEGORY
    if rule.kind == AlertRuleKind.EVENT_CODE and not rule.code_pattern:
        errors["code_pattern"] = RULE_NEEDS_CODE_PATTERN
    if rule.kind == AlertRuleKind.METER_ABOVE and not rule.meter:
        errors["meter"] = RULE_NEEDS_METER
    if "threshold" in used:
        threshold = rule.threshold
        if threshold is None:
            errors["threshold"] = RULE_NEEDS_THRESHOLD
        elif rule.kind == AlertRuleKind.SUPPLY_BELOW and not Decimal(0) < threshold <= Decimal(100):
            errors["threshold"] = RULE_PERCENT_RANGE
        elif rule.kind == AlertRuleKind.IMPACT_ABOVE and threshold <= 0:
            errors["threshold"] = RULE_THRESHOLD_POSITIVE
        elif threshold < 0:
            errors["threshold"] = RULE_THRESHOLD_NOT_NEGATIVE
    if rule.silent_hours is not None and rule.silent_hours < 1:
        errors["silent_hours"] = RULE_SILENT_HOURS_POSITIVE
    if errors:
        raise ValidationError(errors)
    rule.full_clean(exclude=["provider"])


@transaction.atomic
def alert_rule_create(
    *,
    by: User,
    name: str,
    kind: str,
    severity: str = Severity.WARNING,
    customer: Organisation | None = None,
    asset_model: AssetModel | None = None,
    category: str = "",
    code_pattern: str = "",
    supply: str = "",
    meter: str = "",
    threshold: Decimal | None = None,
    silent_hours: int | None = None,
    notify: bool = True,
) -> AlertRule:
    """A new rule of the caller's provider (provider admins). Fields its kind does not use are emptied."""
    access = _check_may_manage_rules(by)
    rule = AlertRule(
        provider_id=access.provider_id,
        name=name,
        kind=kind,
        severity=severity,
        customer=customer,
        asset_model=asset_model,
        category=category or "",
        code_pattern=code_pattern or "",
        supply=supply or "",
        meter=meter or "",
        threshold=threshold,
        silent_hours=silent_hours,
        notify=notify,
    )
    _rule_validate(rule)
    rule.save()
    return rule


@transaction.atomic
def alert_rule_update(*, rule: AlertRule, by: User, **fields) -> AlertRule:
    """Change a rule's fields (``RULE_EDITABLE_FIELDS``). Alerts it already opened keep their severity."""
    access = _check_may_manage_rules(by)
    if rule.provider_id != access.provider_id:
        raise ValidationError(NOT_ALLOWED_TO_MANAGE_RULES)
    unknown = set(fields) - set(RULE_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"alert_rule_update() got unexpected fields: {sorted(unknown)}")
    new_customer = fields.get("customer", rule.customer)
    if new_customer is not None and rule.alerts.exclude(customer_id=new_customer.pk).exists():
        # Its alerts would name a rule their customer can no longer see (and the new customer would see it).
        raise ValidationError({"customer": RULE_HAS_OTHER_CUSTOMERS_ALERTS})
    for name, value in fields.items():
        if name in ("category", "code_pattern", "supply", "meter") and value is None:
            value = ""
        setattr(rule, name, value)
    _rule_validate(rule)
    rule.save()
    return rule


@transaction.atomic
def alert_rule_set_active(*, rule: AlertRule, active: bool, by: User) -> AlertRule:
    """Deactivate a rule (it raises nothing more; its open alerts stay to be handled) or activate it again."""
    access = _check_may_manage_rules(by)
    if rule.provider_id != access.provider_id:
        raise ValidationError(NOT_ALLOWED_TO_MANAGE_RULES)
    if rule.is_active != active:
        rule.is_active = active
        rule.save(update_fields=["is_active", "updated_at"])
    return rule


# --- Pre-use inspections ----------------------------------------------------------------------------------------

# A failed critical item of an operator's pre-use inspection raises an alert under the customer's system rule
# (an event-code rule of severity error, created on first use). The inspection opens the work order itself, in
# the same transaction, so the alert is marked as having asked for one.
PRE_USE_CONDITION = "pre_use_failed"
PRE_USE_RULE_CODE = "PRE-USE-FAILED"
PRE_USE_RULE_NAME = _("Pre-use inspection failed")
CONDITION_LABELS[PRE_USE_CONDITION] = PRE_USE_RULE_NAME


def alert_raise_pre_use_failure(*, asset: Asset, at: datetime, message: str = "") -> Alert:
    """Open (or, when one is active, repeat) the alert of a failed critical pre-use item on ``asset``."""
    customer = asset.customer
    with transaction.atomic():
        rule = (
            AlertRule.objects.filter(
                provider_id=customer.provider_id,
                customer=customer,
                kind=AlertRuleKind.EVENT_CODE,
                code_pattern=PRE_USE_RULE_CODE,
            )
            .order_by("pk")
            .first()
        )
        if rule is None:
            with translation.override(customer.language):
                name = str(PRE_USE_RULE_NAME)
            rule = AlertRule.objects.create(
                provider_id=customer.provider_id,
                customer=customer,
                name=name,
                kind=AlertRuleKind.EVENT_CODE,
                code_pattern=PRE_USE_RULE_CODE,
                severity=Severity.ERROR,
            )
        alert = (
            Alert.objects.active()
            .select_for_update()
            .filter(asset=asset, rule=rule, condition=PRE_USE_CONDITION)
            .first()
        )
        if alert is None:
            alert = Alert.objects.create(
                rule=rule,
                asset=asset,
                customer=customer,
                condition=PRE_USE_CONDITION,
                severity=rule.severity,
                message=message[:500],
                first_seen_at=at,
                last_seen_at=at,
                work_order_requested_at=at,
            )
        else:
            alert.count += 1
            alert.last_seen_at = max(alert.last_seen_at, at)
            alert.message = message[:500]
            alert.save(update_fields=["count", "last_seen_at", "message", "updated_at"])
        AlertOccurrence.objects.create(alert=alert, at=at, message=message[:500])
    return alert
