"""Portal URLs of reports."""

from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("tco/", views.TcoView.as_view(), name="tco"),
    path("cost-ledger/", views.CostEntryListView.as_view(), name="cost_entry_list"),
]
