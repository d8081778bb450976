"""Portal pages of reports: the TCO breakdown (charts, table, CSV) and the cost ledger's rows behind it."""

import csv
import math
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView, TemplateView, View

from accounts.roles import Capability, Scope
from fleet.charts import bar_chart_svg, line_chart_svg
from fleet.money import money_format
from fleet.tables import Column, csv_cell
from fleet.tenancy import access_for
from fleet.views import FilteredListView, PortalMixin
from reports import kpis, nps, proposals, selectors, service, services
from reports.choices import BreakdownGroup, CostCategory, CostSource, CostView, ProposalStatus
from reports.filters import (
    AcquisitionSpendFilterSet,
    CostEntryFilterSet,
    CostRatesFilterSet,
    ManualCostFilterSet,
    ProposalFilterSet,
)
from reports.forms import (
    AcquisitionSpendForm,
    BreakdownForm,
    CostRatesForm,
    KpiRangeForm,
    ManualCostForm,
    NpsAnswerForm,
    ProposalRequestForm,
)
from reports.ledger import months_from
from reports.selectors import nps_answers

CHART_ROWS = 15


def month_ticks(months: list, most: int = 7) -> list[tuple[int, str]]:
    """Labels under a chart of months: every n-th month ("YYYY-MM"), at most ``most`` of them, so they never crowd."""
    step = max(1, math.ceil(len(months) / most))
    return [(index, f"{month:%Y-%m}") for index, month in enumerate(months)][::step]


def _money_axis(currency: str | None):
    """A chart's value format: amounts (and the axis' ticks, which are floats) as money in ``currency``."""
    return lambda value: money_format(Decimal(str(value)), currency) if currency else str(value)


class TcoView(PortalMixin, TemplateView):
    """The TCO (or the cost to serve) over a range of months: by category, asset, model, site, customer or month,
    as a bar chart, a trend over the months and a table with cost per page or operating hour; CSV."""

    template_name = "reports/tco.html"
    required_capability = Capability.DOWNLOAD_REPORTS

    def get(self, request, *args, **kwargs):
        form = BreakdownForm(request.GET, user=request.user, today=timezone.localdate(), access=self.access)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form, breakdown=None))
        data = form.cleaned_data
        customer = data.get("customer")
        site = data.get("site")
        try:
            breakdown = selectors.tco_breakdown(
                user=request.user,
                group_by=data["group_by"],
                first=data["month_from"],
                last=data["month_to"],
                view=data.get("view") or CostView.CUSTOMER,
                customer_id=customer.pk if customer else None,
                site_id=site.pk if site else None,
            )
        except ValidationError as error:
            _errors_on(form, error, renamed={"to": "month_to"})
            return self.render_to_response(self.get_context_data(form=form, breakdown=None))
        if request.GET.get("format") == "csv":
            return self._csv(breakdown)
        trend = selectors.monthly_totals(
            user=request.user,
            first=breakdown.first,
            last=breakdown.last,
            view=breakdown.view,
            customer_id=customer.pk if customer else None,
            site_id=site.pk if site else None,
        )
        currency = next(iter(breakdown.totals()), None)
        rows = [{**vars(row), "drill": self._drill(breakdown, row, data)} for row in breakdown.rows]
        context = self.get_context_data(
            form=form,
            breakdown=breakdown,
            rows=rows,
            totals=breakdown.totals(),
            chart=self._bar_chart(breakdown, currency),
            trend_chart=self._trend_chart(breakdown, trend, currency),
            currency=currency,
            group_label=BreakdownGroup(breakdown.group_by).label,
            may_request_proposal=self.access.can(Capability.MANAGE_PROPOSALS),
            may_manage_costs=self.access.is_provider_staff and self.access.can(Capability.MANAGE_CONTRACTS),
            csv_query=request.GET.urlencode(),
        )
        return self.render_to_response(context)

    @staticmethod
    def _drill(breakdown, row, data) -> str:
        """Where a row leads: a customer's breakdown by asset, else the ledger rows behind it."""
        if not row.key:
            return ""
        months = {"month_from": breakdown.first.isoformat(), "month_to": breakdown.last.isoformat()}
        if breakdown.group_by == BreakdownGroup.CUSTOMER:
            query = {"group_by": BreakdownGroup.ASSET, "customer": row.key, "view": breakdown.view,
                     "month_from": f"{breakdown.first:%Y-%m}", "month_to": f"{breakdown.last:%Y-%m}"}  # fmt: skip
            return f"{reverse('reports:tco')}?{urlencode(query)}"
        if breakdown.group_by == BreakdownGroup.MONTH:
            months = {"month_from": f"{row.key}-01", "month_to": f"{row.key}-01"}
        query = {**months, "view": breakdown.view}
        customer = data.get("customer")
        if customer is not None:
            query["customer"] = customer.pk
        parameter = {
            BreakdownGroup.CATEGORY: "category",
            BreakdownGroup.ASSET: "asset",
            BreakdownGroup.SITE: "site",
        }.get(breakdown.group_by)
        if parameter:
            query[parameter] = row.key
        elif breakdown.group_by == BreakdownGroup.MODEL:
            return ""  # the ledger is not filtered by model
        return f"{reverse('reports:cost_entry_list')}?{urlencode(query)}"

    @staticmethod
    def _bar_chart(breakdown, currency):
        rows = [row for row in breakdown.rows if row.currency == currency and row.amount > 0][:CHART_ROWS]
        return bar_chart_svg(
            [(row.label, row.amount) for row in rows],
            value_format=_money_axis(currency),
            empty_text=str(_("No costs in these months.")),
        )

    @staticmethod
    def _trend_chart(breakdown, trend, currency):
        months = months_from(breakdown.first, breakdown.last)
        amounts = {row_month: amount for row_month, row_currency, amount in trend if row_currency == currency}
        points = [(index, max(amounts.get(month, 0), 0)) for index, month in enumerate(months)]
        return line_chart_svg(
            [(str(CostView(breakdown.view).label), points)] if currency else [],
            x_max=max(len(months) - 1, 1),
            x_ticks=month_ticks(months),
            value_format=_money_axis(currency),
            empty_text=str(_("No costs in these months.")),
        )

    @staticmethod
    def _csv(breakdown) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="tco-{breakdown.group_by}-{breakdown.first:%Y-%m}-{breakdown.last:%Y-%m}.csv"'
        )
        response.write("\ufeff")
        writer = csv.writer(response)
        writer.writerow(
            [str(label) for label in (_("Key"), _("Name"), _("Detail"), _("Currency"), _("Amount"), _("Usage"),
                                       _("Unit"), _("Cost per unit"))]
        )  # fmt: skip
        for row in breakdown.rows:
            writer.writerow(
                [csv_cell(value) for value in (row.key, row.label, row.detail, row.currency, row.amount, row.usage,
                                               row.unit, row.cost_per_unit)]
            )  # fmt: skip
        return response


class CostEntryListView(FilteredListView):
    """The ledger's rows: what each cost was computed from (drill-down from the TCO page)."""

    required_capability = Capability.DOWNLOAD_REPORTS
    selector = staticmethod(selectors.cost_entry_list)
    filterset_class = CostEntryFilterSet
    title = _("Cost ledger")
    csv_filename = "cost-ledger"
    default_sort = "-month"
    columns = (
        Column("month", _("Month"), "month", sort="month"),
        Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
        Column("category", _("Category"), "category", sort="category", choices=dict(CostCategory.choices)),
        Column("asset", _("Asset"), "asset__serial_number", sort="asset__serial_number"),
        Column("site", _("Site"), "site__name", sort="site__name", phone=False),
        Column("contract", _("Contract"), "contract__number", phone=False),
        Column("amount", _("Amount"), "amount", sort="amount", price=True, currency_path="currency"),
        Column("currency", _("Currency"), "currency", html=False),
        Column("quantity", _("Quantity"), "quantity", phone=False),
        Column("unit", _("Unit"), "unit", phone=False),
        Column("source", _("Source"), "source", choices=dict(CostSource.choices), phone=False),
        Column("source_id", _("Source id"), "source_id", html=False),
    )


# --- Proposals ----------------------------------------------------------------------------------------------------


class ProposalsMixin(PortalMixin):
    required_capability = Capability.MANAGE_PROPOSALS


class ProposalListView(ProposalsMixin, FilteredListView):
    """The proposals of the customers the user manages, with their status; ready ones download."""

    selector = staticmethod(selectors.proposal_list)
    filterset_class = ProposalFilterSet
    title = _("Improvement proposals")
    csv_filename = "proposals"
    default_sort = "-created"
    create_url_name = "reports:proposal_request"
    create_capability = Capability.MANAGE_PROPOSALS
    row_actions_template = "reports/_proposal_actions.html"
    columns = (
        Column("created", _("Requested"), "created_at", sort="created_at"),
        Column("customer", _("Customer"), "customer__name", sort="customer__name"),
        Column("first", _("From month"), "first_month", phone=False),
        Column("last", _("To month"), "last_month", phone=False),
        Column("language", _("Language"), "language", phone=False),
        Column("status", _("Status"), "status", sort="status", choices=dict(ProposalStatus.choices)),
        Column("pages", _("Pages"), "pages", phone=False),
        Column("error", _("Error"), "error", phone=False),
    )


class ProposalRequestView(ProposalsMixin, FormView):
    """Ask for a proposal; it is rendered in the background and listed with its status."""

    template_name = "reports/proposal_request.html"
    form_class = ProposalRequestForm

    def get_initial(self):
        return {"customer": self.request.GET.get("customer")}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            proposals.proposal_request(
                customer=data["customer"],
                by=self.request.user,
                language=data["language"],
                first=data["month_from"],
                last=data["month_to"],
            )
        except ValidationError as error:
            _errors_on(form, error, renamed={"last_month": "month_to"})
            return self.form_invalid(form)
        messages.success(self.request, _("The proposal is being prepared; it appears here when it is ready."))
        return redirect("reports:proposal_list")


class ProposalPdfView(ProposalsMixin, View):
    """A ready proposal's PDF, as an attachment."""

    def get(self, request, pk: int):
        return proposal_pdf_response(get_object_or_404(selectors.proposal_list(user=request.user), pk=pk))


def proposal_pdf_response(proposal) -> FileResponse:
    """A ready proposal's stored PDF as an attachment named after its customer and last month; 404 otherwise (the
    portal and the API both answer with it)."""
    if proposal.status != ProposalStatus.READY or not proposal.pdf:
        raise Http404
    name = f"proposal-{proposal.customer.code or proposal.customer_id}-{proposal.last_month:%Y-%m}.pdf"
    return FileResponse(proposal.pdf.open("rb"), as_attachment=True, filename=name, content_type="application/pdf")


class ProposalRegenerateView(ProposalsMixin, View):
    """Render a ready or failed proposal again from today's ledger (POST)."""

    def post(self, request, pk: int):
        proposal = get_object_or_404(selectors.proposal_list(user=request.user), pk=pk)
        try:
            proposals.proposal_regenerate(proposal=proposal, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("The proposal is being prepared again."))
        return redirect("reports:proposal_list")


# --- Cost rates and costs entered by hand -------------------------------------------------------------------------


class ProviderStaffMixin(PortalMixin):
    """Pages for the provider's staff with ``required_capability``: a customer's user gets a 404 whatever the role."""

    def dispatch(self, request, *args, **kwargs):
        access = access_for(request.user) if request.user.is_authenticated else None
        if access is not None and not access.is_provider_staff:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class CostWritersMixin(ProviderStaffMixin):
    """Provider staff who manage contracts (provider admins, account managers)."""

    required_capability = Capability.MANAGE_CONTRACTS


class ServiceDeleteView(View):
    """POST deletes one row of ``selector`` (what the user sees) through ``delete_service(row, by=user)`` and goes
    back to ``success_url_name``; a refusal of the service is a message."""

    selector: Callable
    delete_service: Callable
    success_url_name: str

    def post(self, request, pk: int):
        row = get_object_or_404(self.selector(user=request.user), pk=pk)
        try:
            self.delete_service(row, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect(self.success_url_name)


class CostRatesListView(CostWritersMixin, FilteredListView):
    """The energy prices and downtime costs the ledger prices at: the provider's default, per customer, per site."""

    selector = staticmethod(selectors.cost_rates_list)
    filterset_class = CostRatesFilterSet
    title = _("Cost rates")
    csv_filename = "cost-rates"
    default_sort = "customer"
    create_url_name = "reports:cost_rates_create"
    create_capability = Capability.MANAGE_CONTRACTS
    row_actions_template = "reports/_cost_rates_actions.html"
    columns = (
        Column("customer", _("Customer"), "customer__name", sort="customer__name"),
        Column("site", _("Site"), "site__name", sort="site__name"),
        Column("energy", _("Energy price per kWh"), "energy_price_per_kwh", price=True),
        Column("downtime", _("Downtime cost per hour"), "downtime_cost_per_hour", price=True),
        Column("currency", _("Currency"), "currency"),
    )


class CostRatesFormView(CostWritersMixin, FormView):
    """Set the rates of a scope (a new one, or the row ``pk`` shown filled in)."""

    template_name = "portal/form.html"
    form_class = CostRatesForm
    extra_context = {"title": _("Cost rates"), "cancel_url_name": "reports:cost_rates_list"}

    def get_initial(self):
        if "pk" not in self.kwargs:
            return {"customer": self.request.GET.get("customer")}
        rates = get_object_or_404(selectors.cost_rates_list(user=self.request.user), pk=self.kwargs["pk"])
        return {
            "customer": rates.customer_id,
            "site": rates.site_id,
            "currency": rates.currency,
            "energy_price_per_kwh": rates.energy_price_per_kwh,
            "downtime_cost_per_hour": rates.downtime_cost_per_hour,
        }

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form):
        try:
            services.cost_rates_save(by=self.request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_on(form, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The rates are saved; the ledger uses them from its next build."))
        return redirect("reports:cost_rates_list")


class CostRatesDeleteView(CostWritersMixin, ServiceDeleteView):
    selector = staticmethod(selectors.cost_rates_list)
    delete_service = staticmethod(lambda rates, by: services.cost_rates_delete(rates=rates, by=by))
    success_url_name = "reports:cost_rates_list"


class ManualCostListView(CostWritersMixin, FilteredListView):
    """Costs entered by hand: the ledger's *other costs*."""

    selector = staticmethod(selectors.manual_cost_list)
    filterset_class = ManualCostFilterSet
    title = _("Costs entered by hand")
    csv_filename = "manual-costs"
    default_sort = "-month"
    create_url_name = "reports:manual_cost_create"
    create_capability = Capability.MANAGE_CONTRACTS
    row_actions_template = "reports/_manual_cost_actions.html"
    columns = (
        Column("month", _("Month"), "month", sort="month"),
        Column("customer", _("Customer"), "customer__name", sort="customer__name"),
        Column("description", _("Description"), "description"),
        Column("site", _("Site"), "site__name", phone=False),
        Column("asset", _("Asset"), "asset__serial_number", phone=False),
        Column("amount", _("Amount"), "amount", sort="amount", price=True, currency_path="currency"),
        Column("currency", _("Currency"), "currency", html=False),
    )


class ManualCostCreateView(CostWritersMixin, FormView):
    template_name = "portal/form.html"
    form_class = ManualCostForm
    extra_context = {"title": _("Enter a cost"), "cancel_url_name": "reports:manual_cost_list"}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form):
        data = {key: value for key, value in form.cleaned_data.items() if key != "serial_number"}
        try:
            services.manual_cost_create(by=self.request.user, **data)
        except ValidationError as error:
            _errors_on(form, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The cost is entered; the ledger carries it from its next build."))
        return redirect("reports:manual_cost_list")


class ManualCostDeleteView(CostWritersMixin, ServiceDeleteView):
    selector = staticmethod(selectors.manual_cost_list)
    delete_service = staticmethod(lambda cost, by: services.manual_cost_delete(cost=cost, by=by))
    success_url_name = "reports:manual_cost_list"


class SpendRecordersMixin(ProviderStaffMixin):
    """The provider's administrators, who record what winning customers cost."""

    required_capability = Capability.RECORD_ACQUISITION_SPEND


class AcquisitionSpendListView(FilteredListView):
    """What the provider spent on winning customers, month by month: the numerator of CAC."""

    required_capability = Capability.VIEW_KPIS
    selector = staticmethod(selectors.acquisition_spend_list)
    filterset_class = AcquisitionSpendFilterSet
    title = _("Acquisition spend")
    csv_filename = "acquisition-spend"
    default_sort = "-month"
    create_url_name = "reports:acquisition_spend_create"
    create_capability = Capability.RECORD_ACQUISITION_SPEND
    row_actions_template = "reports/_acquisition_spend_actions.html"
    columns = (
        Column("month", _("Month"), "month", sort="month"),
        Column("description", _("Description"), "description"),
        Column("amount", _("Amount"), "amount", sort="amount", price=True, currency_path="currency"),
        Column("currency", _("Currency"), "currency", html=False),
        Column("created_by", _("Entered by"), "created_by__email", phone=False),
    )


class AcquisitionSpendCreateView(SpendRecordersMixin, FormView):
    template_name = "portal/form.html"
    form_class = AcquisitionSpendForm
    extra_context = {"title": _("Record acquisition spend"), "cancel_url_name": "reports:acquisition_spend_list"}

    def form_valid(self, form):
        try:
            services.acquisition_spend_create(by=self.request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_on(form, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The spend is recorded; CAC counts it in its month."))
        return redirect("reports:acquisition_spend_list")


class AcquisitionSpendDeleteView(SpendRecordersMixin, ServiceDeleteView):
    selector = staticmethod(selectors.acquisition_spend_list)
    delete_service = staticmethod(lambda spend, by: services.acquisition_spend_delete(spend=spend, by=by))
    success_url_name = "reports:acquisition_spend_list"


def _errors_on(form, error: ValidationError, renamed: dict[str, str] | None = None) -> None:
    """A service's errors on the form's fields (``renamed`` maps a service's name to the form's; an asset's go on
    its serial number), the rest on the form as a whole."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    names = {"asset": "serial_number", **(renamed or {})}
    for field, messages_ in error.message_dict.items():
        target = names.get(field, field)
        form.add_error(target if target in form.fields else None, messages_)


# --- NPS ----------------------------------------------------------------------------------------------------------


class NpsView(PortalMixin, TemplateView):
    """NPS per month (promoters' and detractors' shares), per customer, and the latest answers with their comments."""

    template_name = "reports/nps.html"
    required_capability = Capability.VIEW_KPIS
    latest_answers = 20

    def get(self, request, *args, **kwargs):
        form = KpiRangeForm(request.GET, user=request.user, today=timezone.localdate())
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form, months=None))
        first, last = form.cleaned_data["month_from"], form.cleaned_data["month_to"]
        customer = form.cleaned_data.get("customer")
        months, total = nps.nps_by_month(
            user=request.user, first=first, last=last, customer_id=customer.pk if customer else None
        )
        answers = nps_answers(user=request.user).filter(answered_at__date__gte=first.replace(day=1))
        if customer is not None:
            answers = answers.filter(customer=customer)
        context = self.get_context_data(
            form=form,
            months=months,
            total=total,
            customers=nps.nps_by_customer(user=request.user, first=first, last=last),
            answers=answers[: self.latest_answers],
            chart=self._chart(months),
        )
        return self.render_to_response(context)

    @staticmethod
    def _chart(months):
        def share(count, month):  # a month without answers is a gap in the lines, not 0 %
            return 100 * count / month.answers if month.answers else None

        return line_chart_svg(
            [
                (str(_("Promoters (%)")), [(index, share(m.promoters, m)) for index, m in enumerate(months)]),
                (str(_("Detractors (%)")), [(index, share(m.detractors, m)) for index, m in enumerate(months)]),
            ],
            x_max=max(len(months) - 1, 1),
            x_ticks=month_ticks([m.month for m in months]),
            y_max=100,
            empty_text=str(_("No answers in these months.")),
        )


class NpsAnswerView(PortalMixin, FormView):
    """The survey, for a customer's administrators: a score from 0 to 10 and a comment."""

    template_name = "reports/nps_answer.html"
    required_capability = Capability.ANSWER_NPS
    form_class = NpsAnswerForm

    def get_context_data(self, **kwargs):
        # The provider's staff see the survey as customers do, without answering it (the service refuses them).
        return super().get_context_data(
            **kwargs, opens_on=nps.next_answer_date(self.request.user), preview=self.access.is_provider_staff
        )

    def form_valid(self, form):
        try:
            nps.nps_answer(by=self.request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_on(form, error)
            return self.form_invalid(form)
        messages.success(self.request, _("Thank you for your answer."))
        return redirect("portal:dashboard")


# --- Recurring-business KPIs --------------------------------------------------------------------------------------


class KpiView(PortalMixin, TemplateView):
    """MRR with its movements, customers, churn rate and ARPU per month; ``?movement=`` lists the customers behind
    one kind of movement (drill-down)."""

    template_name = "reports/kpis.html"
    required_capability = Capability.VIEW_KPIS

    def get(self, request, *args, **kwargs):
        form = KpiRangeForm(request.GET, user=request.user, today=timezone.localdate())
        form.fields.pop("customer")
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form, months=None))
        rows, movements = kpis.mrr_months(
            user=request.user, first=form.cleaned_data["month_from"], last=form.cleaned_data["month_to"]
        )
        movement = request.GET.get("movement")
        currency = rows[-1].currency if rows else None
        snapshots = selectors.kpi_snapshot_list(user=request.user).filter(
            month__gte=form.cleaned_data["month_from"].replace(day=1), month__lte=form.cleaned_data["month_to"]
        )
        snapshot_rows = [
            (snapshot, currency_code, figures)
            for snapshot in snapshots.order_by("month")
            for currency_code, figures in sorted(snapshot.figures.get("currencies", {}).items())
        ]
        context = self.get_context_data(
            form=form,
            months=rows,
            snapshots=snapshot_rows,
            snapshot_chart=self._snapshot_chart(snapshot_rows, currency),
            sees_whole_provider=self.access.policy.scope == Scope.PROVIDER,
            snapshot_day=settings.KPI_SNAPSHOT_DAY,
            movement=movement if movement in kpis.MOVEMENTS else None,
            movement_label=dict(self.movement_labels()).get(movement, ""),
            movements=[m for m in movements if m.kind == movement],
            movement_labels=self.movement_labels(),
            chart=self._chart(rows, currency),
            query=request.GET.urlencode(),
        )
        return self.render_to_response(context)

    @staticmethod
    def movement_labels():
        return [
            (kpis.NEW, _("New")),
            (kpis.EXPANSION, _("Expansion")),
            (kpis.CONTRACTION, _("Contraction")),
            (kpis.CHURN, _("Churn")),
        ]

    @staticmethod
    def _chart(rows, currency):
        shown = [row for row in rows if row.currency == currency]
        return line_chart_svg(
            [(str(_("MRR")), [(index, row.mrr) for index, row in enumerate(shown)])] if shown else [],
            x_max=max(len(shown) - 1, 1),
            x_ticks=month_ticks([row.month for row in shown]),
            value_format=_money_axis(currency),
            empty_text=str(_("No contracted revenue in these months.")),
        )

    @staticmethod
    def _snapshot_chart(snapshot_rows, currency):
        """MRR and usage revenue as each closed month reported them."""
        shown = [(snapshot.month, figures) for snapshot, code, figures in snapshot_rows if code == currency]

        def line(name, figure):
            return (str(name), [(index, Decimal(figures[figure])) for index, (_month, figures) in enumerate(shown)])

        return line_chart_svg(
            [line(_("MRR"), "mrr"), line(_("Usage revenue"), "usage_revenue")] if shown else [],
            x_max=max(len(shown) - 1, 1),
            x_ticks=month_ticks([month for month, _figures in shown]),
            value_format=_money_axis(currency),
            empty_text=str(_("No snapshots in these months yet.")),
        )


# --- Service KPIs -------------------------------------------------------------------------------------------------


class ServiceKpiView(PortalMixin, TemplateView):
    """Uptime, MTTR, MTBF, first-time fix, preventive-maintenance compliance and SLA achievement per month, per
    customer and per contract (with outcome achievement); a customer chosen (or a customer's own users) also see
    its assets, the least available first."""

    template_name = "reports/service_kpis.html"
    required_capability = Capability.VIEW_SERVICE_KPIS

    def get(self, request, *args, **kwargs):
        form = KpiRangeForm(request.GET, user=request.user, today=timezone.localdate())
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form, report=None))
        first, last = form.cleaned_data["month_from"], form.cleaned_data["month_to"]
        customer = form.cleaned_data.get("customer")
        customer_id = service.report_customer(request.user, customer.pk if customer is not None else None)
        report = service.service_report(user=request.user, first=first, last=last, customer_id=customer_id)
        context = self.get_context_data(
            form=form,
            report=report,
            months=list(zip(report.months, report.by_month, strict=True)),
            contracts=service.contract_service(user=request.user, first=first, last=last, customer_id=customer_id),
            assets=(
                service.asset_service(user=request.user, first=first, last=last, customer_id=customer_id)
                if customer_id is not None
                else None
            ),
            chart=self._chart(report),
            repeat_days=service.REPEAT_DAYS,
            grace_days=service.PM_GRACE_DAYS,
            query=urlencode({"month_from": f"{first:%Y-%m}", "month_to": f"{last:%Y-%m}"}),
        )
        return self.render_to_response(context)

    @staticmethod
    def _chart(report: service.ServiceReport):
        def line(name, rate):
            return (str(name), [(index, rate(figures)) for index, figures in enumerate(report.by_month)])

        months = report.months
        return line_chart_svg(
            [
                line(_("Uptime"), lambda figures: figures.uptime),
                line(_("Response SLA met"), lambda figures: figures.response_achievement),
                line(_("Resolution SLA met"), lambda figures: figures.resolution_achievement),
                line(_("First-time fix"), lambda figures: figures.first_time_fix_rate),
                line(_("PM on schedule"), lambda figures: figures.pm_compliance),
            ],
            x_max=max(len(months) - 1, 1),
            x_ticks=month_ticks(months),
            y_max=100,
            value_format=lambda value: f"{value:g}%",
            empty_text=str(_("No service figures in these months.")),
        )
