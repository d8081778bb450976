"""Portal URLs of reports."""

from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("tco/", views.TcoView.as_view(), name="tco"),
    path("cost-ledger/", views.CostEntryListView.as_view(), name="cost_entry_list"),
    path("proposals/", views.ProposalListView.as_view(), name="proposal_list"),
    path("proposals/new/", views.ProposalRequestView.as_view(), name="proposal_request"),
    path("proposals/<int:pk>/pdf/", views.ProposalPdfView.as_view(), name="proposal_pdf"),
    path("proposals/<int:pk>/regenerate/", views.ProposalRegenerateView.as_view(), name="proposal_regenerate"),
]
