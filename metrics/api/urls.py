from django.urls import path
from rest_framework.routers import SimpleRouter

from . import targets, views

# Quotas and projections: read by everyone signed in (what they may see), written by admins.
router = SimpleRouter()
router.register("quotas", targets.QuotaViewSet, basename="api_quota")
router.register("projections", targets.ProjectionViewSet, basename="api_projection")

urlpatterns = [
    path("metrics/", views.MetricsApi.as_view(), name="api_metrics"),
    path("funnel/", views.FunnelApi.as_view(), name="api_funnel"),
    *router.urls,
]
