"""Portal URLs of contracts."""

from django.urls import path

from contracts import views

app_name = "contracts"
urlpatterns = [
    path("", views.ContractListView.as_view(), name="contract_list"),
    path("new/", views.ContractCreateView.as_view(), name="contract_create"),
    path("<int:pk>/", views.ContractDetailView.as_view(), name="contract_detail"),
    path("<int:pk>/terms/", views.ContractEditView.as_view(), name="contract_edit"),
    path("<int:pk>/status/", views.ContractTransitionView.as_view(), name="contract_transition"),
    path("<int:pk>/components/new/", views.ComponentAddView.as_view(), name="component_add"),
    path("<int:pk>/coverage/new/", views.CoverageAddView.as_view(), name="coverage_add"),
    path("<int:pk>/coverage/end/", views.CoverageEndView.as_view(), name="coverage_end"),
    path("<int:pk>/amendments/new/", views.AmendmentCreateView.as_view(), name="amendment_create"),
]
