from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("activities", views.ActivityViewSet, basename="api_activity")
router.register("deals", views.DealViewSet, basename="api_deal")
router.register("reps", views.RepViewSet, basename="api_rep")
router.register("teams", views.TeamViewSet, basename="api_team")
router.register("territories", views.TerritoryViewSet, basename="api_territory")
router.register("accounts", views.AccountViewSet, basename="api_account")
router.register("products", views.ProductViewSet, basename="api_product")
router.register("stages", views.StageViewSet, basename="api_stage")
router.register("activity-types", views.ActivityTypeViewSet, basename="api_activity_type")

urlpatterns = router.urls
