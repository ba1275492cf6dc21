from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import IsAuthenticated

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The sign-in page has a language switcher too, so choosing a language needs no sign-in.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("admin/", admin.site.urls),
    # The read-only API: session or token (Authorization: Token <key>). DRF views answer
    # 403 themselves instead of redirecting to the sign-in page.
    path("api/v1/", include("metrics.api.urls")),
    path("api/v1/", include("leaderboards.api.urls")),
    # No docs page: its JavaScript would come from a CDN (drf-spectacular-sidecar is not installed).
    # Only the sign-in page is public, so the schema asks for sign-in too.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
        name="api_schema",
    ),
    path("", include("metrics.urls")),
    path("", include("leaderboards.urls")),
    path("", include("activities.urls")),
]
