from django.urls import path

from . import views

urlpatterns = [
    path("dashboard/", views.dashboard_home, name="dashboard"),
    path(
        "dashboard/company/", views.dashboard, {"scope": "company", "scope_id": 0}, name="dashboard_company"
    ),
    path("dashboard/<str:scope>/<int:scope_id>/", views.dashboard, name="dashboard_scope"),
    path("metrics/refresh/", views.refresh, name="metrics_refresh"),
]
