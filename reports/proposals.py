"""Improvement proposals: requested by an account manager, rendered by a Celery task, stored and downloaded.

``proposal_request`` records a queued proposal and queues ``reports.tasks.proposal_render_task`` once the request
commits; ``render_proposal`` (the task's body) claims it (queued → rendering), runs ``reports.analysis.analyse`` and
renders ``templates/pdf/proposal.html`` through ``fleet.pdf.render_pdf`` in the customer's language, then stores the
PDF (ready) or the error (failed). A redelivered task finds the proposal ready and does nothing; one whose worker
died mid-render finds it rendering and renders it again. ``proposal_regenerate`` queues a proposal again.
"""

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pypdf import PdfReader

from accounts.models import Organisation, User
from accounts.roles import Capability
from fleet.charts import bar_chart_svg
from fleet.money import money_format
from fleet.pdf import render_pdf
from fleet.tenancy import access_for
from maintenance.plans import add_months
from reports import analysis as rules
from reports.choices import CostCategory, ProposalStatus
from reports.models import Proposal

logger = logging.getLogger(__name__)

PROPOSAL_TEMPLATE = "pdf/proposal.html"
DEFAULT_MONTHS = 12
MAX_TABLE_ROWS = 300  # per table (about twelve pages); the rest is counted under it
NOT_YOURS = _("You may not make proposals for this customer.")
NO_MONTHS = _("The analysis needs at least one whole month before this one.")
MONTHS_BACKWARDS = _("The first month must not be after the last.")
STILL_RENDERING = _("This proposal is being rendered; wait until it is ready or failed.")


def default_months(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The twelve whole months before ``today``'s."""
    last = add_months(today.replace(day=1), -1)
    return add_months(last, 1 - DEFAULT_MONTHS), last


def may_make_proposals(user: User, customer: Organisation) -> bool:
    access = access_for(user)
    if access is None or not access.can(Capability.MANAGE_PROPOSALS):
        return False
    return Organisation.objects.customers().visible_to(user).filter(pk=customer.pk).exists()


def proposal_request(
    *,
    customer: Organisation,
    by: User,
    language: str = "",
    first: datetime.date | None = None,
    last: datetime.date | None = None,
    today: datetime.date | None = None,
) -> Proposal:
    """A queued proposal of the customer's months ``first``..``last`` (default: the last twelve whole months), in
    ``language`` (default: the customer's); its rendering starts when the caller's transaction commits."""
    if not may_make_proposals(by, customer):
        raise ValidationError({"customer": NOT_YOURS})
    today = today or timezone.localdate()
    default_first, default_last = default_months(today)
    first, last = (first or default_first).replace(day=1), (last or default_last).replace(day=1)
    if first > last:
        raise ValidationError({"last_month": MONTHS_BACKWARDS})
    if last >= today.replace(day=1):
        raise ValidationError({"last_month": NO_MONTHS})
    proposal = Proposal.objects.create(
        customer=customer,
        requested_by=by,
        language=language or customer.language,
        first_month=first,
        last_month=last,
    )
    _queue(proposal)
    return proposal


def proposal_regenerate(*, proposal: Proposal, by: User) -> Proposal:
    """Render the proposal again from today's ledger (a ready or failed one; one in progress is refused)."""
    if not may_make_proposals(by, proposal.customer):
        raise ValidationError({"customer": NOT_YOURS})
    updated = Proposal.objects.filter(pk=proposal.pk, status__in=[ProposalStatus.READY, ProposalStatus.FAILED]).update(
        status=ProposalStatus.QUEUED, error="", requested_by=by, updated_at=timezone.now()
    )
    if not updated:
        raise ValidationError(STILL_RENDERING)
    proposal.refresh_from_db()
    _queue(proposal)
    return proposal


def _queue(proposal: Proposal) -> None:
    from reports.tasks import proposal_render_task

    transaction.on_commit(lambda: proposal_render_task.delay(proposal.pk))


def render_proposal(proposal_id: int) -> str:
    """Claim, analyse, render and store one proposal; returns its final status."""
    claimed = Proposal.objects.filter(
        pk=proposal_id, status__in=[ProposalStatus.QUEUED, ProposalStatus.RENDERING]
    ).update(status=ProposalStatus.RENDERING, updated_at=timezone.now())
    if not claimed:
        return Proposal.objects.filter(pk=proposal_id).values_list("status", flat=True).first() or ""
    proposal = Proposal.objects.select_related("customer").get(pk=proposal_id)
    try:
        pdf, summary = proposal_pdf(proposal)
    except Exception as error:  # any failure is the proposal's state, shown in the portal; the task does not retry
        logger.exception("proposal %s failed", proposal_id)
        Proposal.objects.filter(pk=proposal_id).update(
            status=ProposalStatus.FAILED, error=f"{type(error).__name__}: {error}"[:500], updated_at=timezone.now()
        )
        return ProposalStatus.FAILED
    proposal.pdf.save(f"proposal-{proposal.customer.code or proposal.customer_id}-{proposal.pk}.pdf",
                      ContentFile(pdf), save=False)  # fmt: skip
    proposal.pages = len(PdfReader(BytesIO(pdf)).pages)
    proposal.summary = summary
    proposal.status = ProposalStatus.READY
    proposal.error = ""
    proposal.rendered_at = timezone.now()
    proposal.save(update_fields=["pdf", "pages", "summary", "status", "error", "rendered_at", "updated_at"])
    return ProposalStatus.READY


# --- The document -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    finding: rules.AssetFinding
    label: str
    reason: str


def proposal_pdf(proposal: Proposal, *, today: datetime.date | None = None) -> tuple[bytes, dict]:
    """The proposal's PDF bytes and its headline figures (JSON-ready)."""
    customer = proposal.customer
    today = today or timezone.localdate()
    result = rules.analyse(customer=customer, first=proposal.first_month, last=proposal.last_month, today=today)
    with translation.override(proposal.language):
        context = proposal_context(result, proposal=proposal, today=today)
    pdf = render_pdf(
        template_name=PROPOSAL_TEMPLATE, context=context, language=proposal.language, time_zone=customer.time_zone
    )
    summary = {
        "assets": len(result.findings),
        "annual_saving": str(result.annual_saving),
        "investment": str(result.investment),
        "payback_months": None if result.payback_months is None else str(result.payback_months),
        "currency": result.currency,
        **{name: result.count(name) for name in (rules.RETAIN, rules.REPLACE, rules.REALLOCATE, rules.REMOVE)},
    }
    return pdf, summary


def _labels() -> dict[str, str]:
    return {
        rules.RETAIN: gettext("Retain"),
        rules.REPLACE: gettext("Replace"),
        rules.REALLOCATE: gettext("Reallocate"),
        rules.REMOVE: gettext("Remove"),
    }


def _reason(finding: rules.AssetFinding) -> str:
    if finding.reason == "consolidate":
        return gettext("Consolidate the floor's printers")
    if finding.reason == "fleet size":
        return gettext("Beyond the fleet the site's demand needs")
    if finding.recommendation == rules.REPLACE:
        if finding.replace_by and finding.utilisation is not None and finding.utilisation <= rules.REPLACE_ABOVE:
            return gettext("Past its economic life")
        return gettext("Runs above its rated load")
    if finding.recommendation == rules.REMOVE:
        return gettext("Hardly used")
    if finding.recommendation == rules.REALLOCATE and finding.reallocate_to:
        return gettext("Underused where it stands: move it to %(site)s, where its kind runs at %(percent)s%%") % {
            "site": finding.reallocate_to,
            "percent": formats.number_format(finding.reallocate_to_utilisation * 100, decimal_pos=0, use_l10n=True),
        }
    if finding.recommendation == rules.REALLOCATE:
        return gettext("Underused where it stands")
    return ""


def proposal_context(result: rules.Analysis, *, proposal: Proposal, today: datetime.date) -> dict:
    """What ``templates/pdf/proposal.html`` reads, in the active language (see the template's sections)."""
    labels = _labels()
    currency = result.currency
    actions = sorted(
        (finding for finding in result.findings if finding.recommendation != rules.RETAIN),
        key=lambda finding: (-finding.annual_saving, finding.site, finding.serial_number),
    )
    plan = sorted(
        (finding for finding in result.findings if finding.replace_by is not None),
        key=lambda finding: (finding.replace_by, finding.serial_number),
    )
    utilised = [finding for finding in result.findings if finding.utilisation is not None]
    bands = [
        (gettext("Under 10%"), sum(1 for f in utilised if f.utilisation < rules.REMOVE_BELOW)),
        (gettext("10–40%"), sum(1 for f in utilised if rules.REMOVE_BELOW <= f.utilisation < rules.REALLOCATE_BELOW)),
        (
            gettext("40–110%"),
            sum(1 for f in utilised if rules.REALLOCATE_BELOW <= f.utilisation <= rules.REPLACE_ABOVE),
        ),
        (gettext("Over 110%"), sum(1 for f in utilised if f.utilisation > rules.REPLACE_ABOVE)),
    ]
    categories = [(str(CostCategory(category).label), amount) for category, amount in result.costs_by_category]
    total_cost = sum((amount for _label, amount in categories), Decimal(0))
    return {
        "customer_name": proposal.customer.name,
        "provider_name": proposal.customer.provider.name if proposal.customer.provider_id else "",
        "prepared_on": today,
        "first": result.first,
        "last": result.last,
        "months": result.months,
        "currency": currency,
        "assets": len(result.findings),
        "counts": [
            (labels[name], result.count(name)) for name in (rules.RETAIN, rules.REPLACE, rules.REALLOCATE, rules.REMOVE)
        ],  # fmt: skip
        "annual_saving": result.annual_saving,
        "investment": result.investment,
        "payback_months": result.payback_months,
        "total_cost": total_cost,
        "annual_cost": (total_cost * 12 / result.months).quantize(Decimal(1)) if result.months else Decimal(0),
        "categories": categories,
        "category_chart": bar_chart_svg(
            [(label, max(amount, Decimal(0))) for label, amount in categories],
            value_format=lambda value: money_format(Decimal(str(value)), currency),
            empty_text=gettext("No costs in these months."),
        ),
        "utilisation_chart": bar_chart_svg(
            bands, orientation="vertical", value_axis_label=gettext("Assets"), empty_text=gettext("No usage data.")
        ),
        "sites": _sites(result),
        "demand": result.demand,
        "consolidations": result.consolidations,
        "actions": [Recommendation(f, labels[f.recommendation], _reason(f)) for f in actions[:MAX_TABLE_ROWS]],
        "actions_left": max(0, len(actions) - MAX_TABLE_ROWS),
        "plan": plan[:MAX_TABLE_ROWS],
        "plan_left": max(0, len(plan) - MAX_TABLE_ROWS),
        "thresholds": {
            "remove": int(rules.REMOVE_BELOW * 100),
            "reallocate": int(rules.REALLOCATE_BELOW * 100),
            "reallocate_to": int(rules.REALLOCATE_TO_ABOVE * 100),
            "replace": int(rules.REPLACE_ABOVE * 100),
            "consolidated": int(rules.CONSOLIDATED_TARGET * 100),
            "shift_hours": rules.SHIFT_HOURS,
            "percentile": rules.DEMAND_PERCENTILE,
            "discount": rules.DISCOUNT_RATE * 100,
            "growth": rules.DEFAULT_GROWTH * 100,
            "fit_months": rules.MIN_FIT_MONTHS,
        },
    }


def _sites(result: rules.Analysis) -> list[dict]:
    sites: dict[str, dict] = {}
    for finding in result.findings:
        site = sites.setdefault(finding.site, {"name": finding.site, "assets": 0, "annual_cost": Decimal(0)})
        site["assets"] += 1
        site["annual_cost"] += finding.annual_cost
    return sorted(sites.values(), key=lambda site: (-site["annual_cost"], site["name"]))
