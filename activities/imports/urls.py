from django.urls import path

from . import views

urlpatterns = [
    path("imports/", views.import_list, name="import_list"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("imports/<int:pk>/status.json", views.import_status, name="import_status"),
    path("imports/<int:pk>/run/", views.import_run_for_real, name="import_run_for_real"),
]
