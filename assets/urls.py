"""Portal URLs of the asset registry."""

from django.urls import path

from assets import views

app_name = "assets"
urlpatterns = [
    path("", views.AssetListView.as_view(), name="asset_list"),
    path("<int:pk>/", views.AssetDetailView.as_view(), name="asset_detail"),
    path("<int:pk>/move/", views.AssetMoveView.as_view(), name="asset_move"),
    path("sites/", views.SiteListView.as_view(), name="site_list"),
    path("sites/<int:pk>/", views.SiteDetailView.as_view(), name="site_detail"),
]
