from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The sign-in page has a language switcher too, so choosing a language needs no sign-in.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("admin/", admin.site.urls),
    # The API: token (Authorization: Token <key>) or session. DRF views answer 401 themselves
    # instead of redirecting to the sign-in page.
    path("api/v1/", include("activities.api.urls")),
    path("api/v1/", include("metrics.api.urls")),
    path("api/v1/", include("leaderboards.api.urls")),
    # Only the sign-in page is public, so the schema and its docs page ask for sign-in too;
    # the docs page's assets come from drf-spectacular-sidecar, served from static.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
        name="api_schema",
    ),
    # The split view serves the docs page's start-up script as a file (?script): no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api_schema",
            permission_classes=[IsAuthenticated],
            template_name="api/swagger_ui.html",
        ),
        name="api_docs",
    ),
    path("", include("activities.imports.urls")),
    path("", include("metrics.urls")),
    path("", include("leaderboards.urls")),
    path("", include("activities.urls")),
]

# A database outage outside a view (the session or sign-in middleware) answers 503, not 500.
handler500 = "salestrack.outages.server_error"
