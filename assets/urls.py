"""Portal URLs of the asset registry."""

from django.urls import path

from assets import views

app_name = "assets"
urlpatterns = [
    path("", views.AssetListView.as_view(), name="asset_list"),
    path("<int:pk>/", views.AssetDetailView.as_view(), name="asset_detail"),
    path("<int:pk>/move/", views.AssetMoveView.as_view(), name="asset_move"),
    path("import/", views.FleetImportUploadView.as_view(), name="import"),
    path("import/template.csv", views.FleetImportTemplateView.as_view(), name="import_template"),
    path("import/assets.csv", views.FleetImportExportView.as_view(), name="import_export"),
    path("import/<int:pk>/", views.FleetImportDetailView.as_view(), name="import_detail"),
    path("import/<int:pk>/apply/", views.FleetImportApplyView.as_view(), name="import_apply"),
    path("import/<int:pk>/errors.csv", views.FleetImportErrorsCsvView.as_view(), name="import_errors_csv"),
    path("sites/", views.SiteListView.as_view(), name="site_list"),
    path("sites/<int:pk>/", views.SiteDetailView.as_view(), name="site_detail"),
    path("sites/<int:pk>/operators/", views.SiteOperatorsView.as_view(), name="site_operators"),
    path("register/<int:pk>.pdf", views.FleetRegisterPdfView.as_view(), name="fleet_register_pdf"),
]
