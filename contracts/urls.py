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

# Billing: invoices and credit notes, receivables, billing runs.
urlpatterns += [
    path("invoices/", views.InvoiceListView.as_view(), name="invoice_list"),
    path("invoices/<int:pk>/", views.InvoiceDetailView.as_view(), name="invoice_detail"),
    path("invoices/<int:pk>/finalise/", views.InvoiceFinaliseView.as_view(), name="invoice_finalise"),
    path("invoices/<int:pk>/pdf/", views.InvoiceDocumentView.as_view(document="pdf"), name="invoice_pdf"),
    path("invoices/<int:pk>/xml/", views.InvoiceDocumentView.as_view(document="xml"), name="invoice_xml"),
    path("invoices/<int:pk>/lines.csv", views.InvoiceLinesCsvView.as_view(), name="invoice_lines_csv"),
    path("invoices/<int:pk>/credit-notes/new/", views.CreditNoteCreateView.as_view(), name="credit_note_create"),
    path("invoices/<int:pk>/discard/", views.CreditNoteDiscardView.as_view(), name="credit_note_discard"),
    path("invoices/<int:pk>/payments/new/", views.PaymentRecordView.as_view(), name="payment_record"),
    path("receivables/", views.ReceivablesAgeingView.as_view(), name="receivables_ageing"),
    path("receivables/import/", views.PaymentImportView.as_view(), name="payment_import"),
    path("billing-runs/", views.BillingRunListView.as_view(), name="billing_run_list"),
    path("billing-settings/", views.BillingSettingsView.as_view(), name="billing_settings"),
    path("billing-runs/new/", views.BillingRunStartView.as_view(), name="billing_run_start"),
    path("billing-runs/<int:pk>/", views.BillingRunDetailView.as_view(), name="billing_run_detail"),
    path("billing-runs/<int:pk>/progress/", views.BillingRunProgressView.as_view(), name="billing_run_progress"),
    path("billing-runs/<int:pk>/finalise/", views.BillingRunFinaliseView.as_view(), name="billing_run_finalise"),
]
