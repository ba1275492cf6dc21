from django.urls import path

from . import views

urlpatterns = [
    path("leaderboards/", views.leaderboard, name="leaderboard"),
    path("leaderboards/tv/", views.leaderboard_tv, name="leaderboard_tv"),
    path("leaderboards/export.<str:fmt>", views.leaderboard_export, name="leaderboard_export"),
]
