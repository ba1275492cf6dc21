from django.urls import path

from . import views

urlpatterns = [
    path("metrics/", views.MetricsApi.as_view(), name="api_metrics"),
    path("funnel/", views.FunnelApi.as_view(), name="api_funnel"),
]
