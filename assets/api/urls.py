"""API routes of the asset registry."""

from rest_framework.routers import SimpleRouter

from assets.api import views

router = SimpleRouter()
router.register("sites", views.SiteViewSet, basename="site")
router.register("manufacturers", views.ManufacturerViewSet, basename="manufacturer")
router.register("asset-models", views.AssetModelViewSet, basename="assetmodel")
router.register("part-types", views.PartTypeViewSet, basename="parttype")
router.register("assets", views.AssetViewSet, basename="asset")
urlpatterns = router.urls
