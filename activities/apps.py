from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "activities"

    def ready(self):
        from . import lookups  # noqa: F401 - registers CharField's __any_of lookup
