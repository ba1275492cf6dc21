from django.apps import AppConfig


class MetricsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "metrics"

    def ready(self):
        from . import tasks  # noqa: F401  (connects the incremental run to metrics.jobs.changes_committed)
