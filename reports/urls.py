"""Portal URLs of reports."""

from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("tco/", views.TcoView.as_view(), name="tco"),
    path("cost-ledger/", views.CostEntryListView.as_view(), name="cost_entry_list"),
    path("cost-rates/", views.CostRatesListView.as_view(), name="cost_rates_list"),
    path("cost-rates/new/", views.CostRatesFormView.as_view(), name="cost_rates_create"),
    path("cost-rates/<int:pk>/", views.CostRatesFormView.as_view(), name="cost_rates_edit"),
    path("cost-rates/<int:pk>/delete/", views.CostRatesDeleteView.as_view(), name="cost_rates_delete"),
    path("manual-costs/", views.ManualCostListView.as_view(), name="manual_cost_list"),
    path("manual-costs/new/", views.ManualCostCreateView.as_view(), name="manual_cost_create"),
    path("manual-costs/<int:pk>/delete/", views.ManualCostDeleteView.as_view(), name="manual_cost_delete"),
    path("kpis/", views.KpiView.as_view(), name="kpis"),
    path("acquisition-spend/", views.AcquisitionSpendListView.as_view(), name="acquisition_spend_list"),
    path("acquisition-spend/new/", views.AcquisitionSpendCreateView.as_view(), name="acquisition_spend_create"),
    path(
        "acquisition-spend/<int:pk>/delete/",
        views.AcquisitionSpendDeleteView.as_view(),
        name="acquisition_spend_delete",
    ),
    path("service-kpis/", views.ServiceKpiView.as_view(), name="service_kpis"),
    path("nps/", views.NpsView.as_view(), name="nps"),
    path("nps/answer/", views.NpsAnswerView.as_view(), name="nps_answer"),
    path("proposals/", views.ProposalListView.as_view(), name="proposal_list"),
    path("proposals/new/", views.ProposalRequestView.as_view(), name="proposal_request"),
    path("proposals/<int:pk>/pdf/", views.ProposalPdfView.as_view(), name="proposal_pdf"),
    path("proposals/<int:pk>/regenerate/", views.ProposalRegenerateView.as_view(), name="proposal_regenerate"),
]
