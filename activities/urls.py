from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("activities/", views.activity_list, name="activity_list"),
    path("activities/export.<str:fmt>", views.activity_export, name="activity_export"),
    path("activities/new/", views.activity_create, name="activity_create"),
    path("activities/<int:pk>/edit/", views.activity_edit, name="activity_edit"),
    path("activities/<int:pk>/delete/", views.activity_delete, name="activity_delete"),
    path("deals/", views.deal_list, name="deal_list"),
    path("deals/export.<str:fmt>", views.deal_export, name="deal_export"),
    path("deals/new/", views.deal_create, name="deal_create"),
    path("deals/<int:pk>/", views.deal_detail, name="deal_detail"),
    path("deals/<int:pk>/edit/", views.deal_edit, name="deal_edit"),
    path("deals/<int:pk>/move/", views.deal_move, name="deal_move"),
    path("deals/<int:pk>/delete/", views.deal_delete, name="deal_delete"),
]
