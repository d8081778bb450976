"""Supply orders: consumables (toner) shipped to a customer's asset, opened by a forecast or ordered by hand.

An order is requested, then shipped by the provider's dispatching staff, then delivered (the provider or the
customer confirms receipt); a requested order may be cancelled. At most one order per asset and part type is
open (requested or shipped) at a time: the services refuse a second one with a message, and the database's
partial unique constraint refuses it when two requests race. ``supply_order_create(by=None)`` is the system
itself (the nightly forecast run).

Who may order by hand: customer users with ``REQUEST_SERVICE`` for their own organisation (operators for the
assets of their sites) and the provider's dispatching staff. A customer's hand order e-mails the provider's
service desk once, after commit. Shipped supplies are recorded, so the forecast pages know a refill is on its way
or has just arrived (``expected_refills``).
"""

import datetime
import logging
from functools import partial

import django_filters
from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, mailers
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from accounts.models import Membership, Organisation, User
from accounts.roles import Capability
from assets.choices import ASSET_IN_SERVICE_STATES, PartKind
from assets.models import Asset, PartType, Site
from fleet.filters import SearchFilterSet
from fleet.tenancy import Access, access_for, visible
from maintenance.choices import (
    SupplyOrderSource,
    SupplyOrderStatus,
)
from maintenance.models import SupplyOrder, SupplyOrderSequence
from maintenance.services import next_number

logger = logging.getLogger(__name__)

NUMBER_PREFIX = "SO"
# Shipped or delivered supplies this recent are an expected refill on the forecast pages.
EXPECTED_REFILL_DAYS = 60

NOT_ALLOWED_TO_ORDER = _("You may not order supplies for this asset.")
NOT_ALLOWED_TO_SHIP = _("You may not ship this supply order.")
NOT_ALLOWED_TO_DELIVER = _("You may not confirm the delivery of this supply order.")
NOT_ALLOWED_TO_CANCEL = _("You may not cancel this supply order.")
NOT_A_CONSUMABLE = _("Only consumables can be ordered as supplies.")
PART_DOES_NOT_FIT = _("This part type does not fit the asset's model.")
ASSET_NOT_IN_SERVICE = _("The asset is not in service.")
BAD_SOURCE = _("Unknown source of a supply order.")
NEEDED_BY_PAST = _("The date needed by cannot be in the past.")
ALREADY_OPEN = _("Supply order %(number)s for this part is already open: wait for its delivery or cancel it.")
NOT_REQUESTED = _("Only a requested supply order can be shipped; this one is %(status)s.")
NOT_SHIPPED = _("Only a shipped supply order can be delivered; this one is %(status)s.")
NOT_CANCELLABLE = _("Only a requested supply order can be cancelled; this one is %(status)s.")
CANCEL_NOTE_MISSING = _("Say why the order is cancelled.")


# --- Permissions -------------------------------------------------------------------------------------------------


def _dispatcher(by: User | None, provider_id: int) -> Access | None:
    """``by``'s access when they are dispatching staff of this provider; else None."""
    access = access_for(by)
    if (
        access is not None
        and access.is_provider_staff
        and access.provider_id == provider_id
        and access.can(Capability.DISPATCH_WORK)
    ):
        return access
    return None


def _customer_requester(by: User | None, *, customer_id: int, site_id: int) -> Access | None:
    """``by``'s access when they are a user of this customer who may request service at this site; else None."""
    access = access_for(by)
    if (
        access is not None
        and not access.is_provider_staff
        and access.can(Capability.REQUEST_SERVICE)
        and access.organisation_id == customer_id
        and (access.role != Role.CUSTOMER_OPERATOR or site_id in access.site_ids)
    ):
        return access
    return None


def _sees(order: SupplyOrder, by: User) -> bool:
    return SupplyOrder.objects.visible_to(by).filter(pk=order.pk).exists()


def may_order(*, user: User, asset: Asset) -> bool:
    """Whether ``user`` may order supplies by hand for ``asset`` (the rule ``supply_order_create`` applies)."""
    return _dispatcher(user, asset.customer.provider_id) is not None or (
        _customer_requester(user, customer_id=asset.customer_id, site_id=asset.site_id) is not None
    )


def may_order_any(user: User) -> bool:
    """Whether ``user``'s role lets them order supplies by hand at all (the create button, the nav link)."""
    access = access_for(user)
    if access is None:
        return False
    if access.is_provider_staff:
        return access.can(Capability.DISPATCH_WORK)
    return access.can(Capability.REQUEST_SERVICE)


def _check_may_ship(order: SupplyOrder, by: User) -> None:
    if _dispatcher(by, order.provider_id) is None:
        raise ValidationError(NOT_ALLOWED_TO_SHIP)


def _check_may_deliver(order: SupplyOrder, by: User) -> None:
    access = access_for(by)
    if (
        access is None
        or not (access.is_provider_staff or access.can(Capability.REQUEST_SERVICE))
        or access.provider_id != order.provider_id
        or not _sees(order, by)
    ):
        raise ValidationError(NOT_ALLOWED_TO_DELIVER)


def _check_may_cancel(order: SupplyOrder, by: User) -> None:
    access = access_for(by)
    if access is None or access.provider_id != order.provider_id or not _sees(order, by):
        raise ValidationError(NOT_ALLOWED_TO_CANCEL)
    if access.is_provider_staff:
        return
    if order.requested_by_id == by.pk and access.organisation_id == order.customer_id:
        return
    raise ValidationError(NOT_ALLOWED_TO_CANCEL)


# The lifecycle actions: the state each starts from and who may take it.
_ACTIONS = {
    "ship": (SupplyOrderStatus.REQUESTED, _check_may_ship),
    "deliver": (SupplyOrderStatus.SHIPPED, _check_may_deliver),
    "cancel": (SupplyOrderStatus.REQUESTED, _check_may_cancel),
}


def may_act(*, action: str, order: SupplyOrder, user: User) -> bool:
    """Whether ``user`` may take ``action`` on ``order`` at all, whatever its state (the API's 403)."""
    if action not in _ACTIONS:
        return False
    try:
        _ACTIONS[action][1](order, user)
    except ValidationError:
        return False
    return True


def supply_order_allowed_actions(*, order: SupplyOrder, user: User) -> list[str]:
    """The lifecycle actions (``ship``, ``deliver``, ``cancel``) ``user`` may take on ``order`` now."""
    return [
        action
        for action, (status, _check) in _ACTIONS.items()
        if order.status == status and may_act(action=action, order=order, user=user)
    ]


# --- Selectors ---------------------------------------------------------------------------------------------------


def supply_order_list(*, user: User) -> QuerySet[SupplyOrder]:
    """The supply orders ``user`` may see, with what lists and pages show."""
    return SupplyOrder.objects.visible_to(user).select_related(
        "customer", "site", "asset", "asset__asset_model", "part_type", "requested_by"
    )


def supply_order_part_types(*, asset: Asset) -> QuerySet[PartType]:
    """The part types that can be ordered for ``asset``: consumables that fit its model."""
    return PartType.objects.filter(kind=PartKind.CONSUMABLE, asset_models=asset.asset_model_id).order_by("name", "pk")


def open_supply_orders(*, asset_ids) -> dict[tuple[int, int], SupplyOrder]:
    """The open supply order of each (asset id, part type id) among ``asset_ids``, in one query."""
    orders = SupplyOrder.objects.open().filter(asset_id__in=list(asset_ids)).select_related("part_type")
    return {(order.asset_id, order.part_type_id): order for order in orders}


def expected_refills(*, asset_ids, as_of: datetime.datetime | None = None) -> dict[tuple[int, int], SupplyOrder]:
    """The latest supply shipped (or already delivered) to each (asset id, part type id) among ``asset_ids``
    in the ``EXPECTED_REFILL_DAYS`` before ``as_of`` (now): the refill the forecast should expect. One query."""
    as_of = as_of or timezone.now()
    orders = (
        SupplyOrder.objects.filter(
            asset_id__in=list(asset_ids),
            status__in=(SupplyOrderStatus.SHIPPED, SupplyOrderStatus.DELIVERED),
            shipped_at__gte=as_of - datetime.timedelta(days=EXPECTED_REFILL_DAYS),
            shipped_at__lte=as_of,
        )
        .select_related("part_type")
        .order_by("-shipped_at", "-pk")
    )
    refills: dict[tuple[int, int], SupplyOrder] = {}
    for order in orders:
        refills.setdefault((order.asset_id, order.part_type_id), order)
    return refills


# --- Filters -----------------------------------------------------------------------------------------------------


_visible_customers = visible(Organisation.objects.customers())
_visible_sites = visible(Site.objects.all())


def _part_types(request):
    return PartType.objects.filter(kind=PartKind.CONSUMABLE).order_by("name")


class SupplyOrderFilterSet(SearchFilterSet):
    """The supply-order list, shared by the portal page and the API."""

    search_fields = ("number", "asset__serial_number", "asset__asset_tag", "part_type__code", "tracking")
    narrowed_by = {"site": "customer"}
    provider_only_filters = ("customer",)
    status = django_filters.ChoiceFilter(
        choices=[("open", _("Open")), *SupplyOrderStatus.choices], method="filter_status", label=_("Status")
    )
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    site = django_filters.ModelChoiceFilter(queryset=_visible_sites, label=_("Site"))
    part_type = django_filters.ModelChoiceFilter(queryset=_part_types, label=_("Part type"))
    source = django_filters.ChoiceFilter(choices=SupplyOrderSource.choices, label=_("Source"))
    asset = django_filters.NumberFilter(field_name="asset_id", label=_("Asset"), min_value=1)

    class Meta:
        model = SupplyOrder
        fields = ["status", "customer", "site", "part_type", "source", "asset"]

    def filter_status(self, queryset, name, value):
        if value == "open":
            return queryset.open()
        return queryset.filter(status=value)


# --- Services ----------------------------------------------------------------------------------------------------


def _check_may_create(*, by: User | None, asset: Asset) -> None:
    if by is None:  # the system itself: the nightly forecast run
        return
    if not may_order(user=by, asset=asset):
        raise ValidationError(NOT_ALLOWED_TO_ORDER)


def _already_open(asset: Asset, part_type: PartType) -> ValidationError | None:
    number = (
        SupplyOrder.objects.open().filter(asset_id=asset.pk, part_type_id=part_type.pk).values_list("number", flat=True)
    ).first()
    if number is None:
        return None
    return ValidationError({"part_type": ValidationError(ALREADY_OPEN, params={"number": number})})


@transaction.atomic
def supply_order_create(
    *,
    asset: Asset,
    part_type: PartType,
    quantity: int = 1,
    source: str,
    needed_by: datetime.date | None = None,
    by: User | None = None,
    note: str = "",
) -> SupplyOrder:
    """Open a supply order of ``part_type`` for ``asset``; ``by=None`` is the system (the forecast run).

    Refuses a part type that is no consumable of the asset's model, an asset out of service, a user who may not
    order for the asset, and a second open order of the same part for the same asset."""
    customer = Organisation.objects.get(pk=asset.customer_id)
    asset.customer = customer
    _check_may_create(by=by, asset=asset)
    if source not in SupplyOrderSource.values:
        raise ValidationError({"source": BAD_SOURCE})
    if asset.status not in ASSET_IN_SERVICE_STATES:
        raise ValidationError({"asset": ASSET_NOT_IN_SERVICE})
    if part_type.kind != PartKind.CONSUMABLE:
        raise ValidationError({"part_type": NOT_A_CONSUMABLE})
    if not part_type.asset_models.filter(pk=asset.asset_model_id).exists():
        raise ValidationError({"part_type": PART_DOES_NOT_FIT})
    if by is not None and needed_by is not None and needed_by < timezone.localdate():
        raise ValidationError({"needed_by": NEEDED_BY_PAST})
    conflict = _already_open(asset, part_type)
    if conflict is not None:
        raise conflict
    order = SupplyOrder(
        provider_id=customer.provider_id,
        number=next_number(
            sequence=SupplyOrderSequence,
            prefix=NUMBER_PREFIX,
            provider_id=customer.provider_id,
            year=timezone.localdate().year,
        ),
        customer=customer,
        site_id=asset.site_id,
        asset=asset,
        part_type=part_type,
        quantity=quantity,
        source=source,
        needed_by=needed_by,
        note=note.strip(),
        requested_by=by,
    )
    # The unique constraint is checked by the database below (it also catches a concurrent order).
    order.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():  # a savepoint: the transaction stays usable after a lost race
            order.save()
    except IntegrityError:
        conflict = _already_open(asset, part_type)
        if conflict is not None:
            raise conflict from None
        raise
    if by is not None and _customer_requester(by, customer_id=customer.pk, site_id=asset.site_id) is not None:
        transaction.on_commit(partial(supply_order_notify_task.delay, order.pk))
    return order


def _locked(order: SupplyOrder) -> SupplyOrder:
    """Re-read the status under a row lock, so two concurrent changes see each other."""
    order.status = SupplyOrder.objects.select_for_update().values_list("status", flat=True).get(pk=order.pk)
    return order


def _refuse_state(message, order: SupplyOrder) -> ValidationError:
    return ValidationError(message, params={"status": SupplyOrderStatus(order.status).label})


@transaction.atomic
def supply_order_ship(*, order: SupplyOrder, by: User, tracking: str = "") -> SupplyOrder:
    """The provider sends the supply: requested -> shipped, with its tracking number."""
    _check_may_ship(order, by)
    _locked(order)
    if order.status != SupplyOrderStatus.REQUESTED:
        raise _refuse_state(NOT_REQUESTED, order)
    order.status = SupplyOrderStatus.SHIPPED
    order.shipped_at = timezone.now()
    order.tracking = tracking.strip()
    order.full_clean(validate_constraints=False)
    order.save(update_fields=["status", "shipped_at", "tracking", "updated_at"])
    return order


@transaction.atomic
def supply_order_deliver(*, order: SupplyOrder, by: User) -> SupplyOrder:
    """The supply arrived (confirmed by the provider or the customer): shipped -> delivered."""
    _check_may_deliver(order, by)
    _locked(order)
    if order.status != SupplyOrderStatus.SHIPPED:
        raise _refuse_state(NOT_SHIPPED, order)
    order.status = SupplyOrderStatus.DELIVERED
    order.delivered_at = timezone.now()
    order.save(update_fields=["status", "delivered_at", "updated_at"])
    return order


@transaction.atomic
def supply_order_cancel(*, order: SupplyOrder, by: User, note: str) -> SupplyOrder:
    """Withdraw a requested order (the provider's staff, or the customer user who ordered it), saying why.

    The reason is kept at the end of the order's note."""
    _check_may_cancel(order, by)
    note = note.strip()
    if not note:
        raise ValidationError({"note": CANCEL_NOTE_MISSING})
    _locked(order)
    if order.status != SupplyOrderStatus.REQUESTED:
        raise _refuse_state(NOT_CANCELLABLE, order)
    reason = str(_("Cancelled: %(note)s") % {"note": note})
    order.note = "\n".join(part for part in (order.note, reason) if part)[
        : SupplyOrder._meta.get_field("note").max_length
    ]
    order.status = SupplyOrderStatus.CANCELLED
    order.cancelled_at = timezone.now()
    order.save(update_fields=["status", "cancelled_at", "note", "updated_at"])
    return order


# --- E-mail to the service desk ------------------------------------------------------------------------------------


def _service_desk_emails(provider_id: int) -> list[str]:
    """The provider's service desk; its administrators when it has no service desk."""
    memberships = Membership.objects.filter(
        organisation_id=provider_id,
        role__in=(Role.SERVICE_DESK, Role.PROVIDER_ADMIN),
        user__is_active=True,
        organisation__is_active=True,
    ).values_list("role", "user__email")
    by_role: dict[str, list[str]] = {}
    for role, email in memberships:
        if email:
            by_role.setdefault(role, []).append(email)
    return sorted(by_role.get(Role.SERVICE_DESK) or by_role.get(Role.PROVIDER_ADMIN) or [])


def supply_order_message(*, order: SupplyOrder) -> EmailMessage | None:
    """The e-mail telling the provider's service desk about a hand order, in the provider's language and
    time zone; None when nobody can receive it."""
    recipients = _service_desk_emails(order.provider_id)
    if not recipients:
        return None
    provider = Organisation.objects.get(pk=order.provider_id)
    language = provider.language or settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(provider.time_zone):
        context = {
            "number": order.number,
            "customer": order.customer.name,
            "site": order.site.name,
            "asset": f"{order.asset.asset_model.name} {order.asset.serial_number}",
            "part_type": f"{order.part_type.code} {order.part_type.name}",
            "quantity": order.quantity,
            "needed_by": formats.date_format(order.needed_by, "SHORT_DATE_FORMAT") if order.needed_by else "",
            "note": order.note,
            "requested_by": (order.requested_by.get_full_name() or order.requested_by.email)
            if order.requested_by
            else "",
            "when": formats.date_format(timezone.localtime(order.created_at), "SHORT_DATETIME_FORMAT"),
        }
        subject = " ".join(render_to_string("maintenance/supplies/email_ordered_subject.txt", context).split())
        body = render_to_string("maintenance/supplies/email_ordered.txt", context)
    return EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients)


def supply_order_notify(*, order_id: int) -> int:
    """E-mail the service desk about one hand order; returns the e-mails sent (0 or 1)."""
    order = (
        SupplyOrder.objects.select_related("customer", "site", "asset__asset_model", "part_type", "requested_by")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        return 0
    message = supply_order_message(order=order)
    if message is None:
        logger.warning("No service desk to tell about supply order %s", order.number)
        return 0
    mailers.default.send_messages([message])
    return 1


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def supply_order_notify_task(order_id: int) -> None:
    """E-mail the provider's service desk about a customer's hand order."""
    supply_order_notify(order_id=order_id)
