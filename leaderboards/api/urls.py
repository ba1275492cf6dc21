from django.urls import path

from . import views

urlpatterns = [
    path("leaderboards/", views.LeaderboardApi.as_view(), name="api_leaderboards"),
]
