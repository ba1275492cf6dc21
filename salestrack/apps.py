from django.apps import AppConfig


class SalestrackConfig(AppConfig):
    """The project's own wiring: the idle sign-out's clock at sign-in, and the API-token failures."""

    name = "salestrack"
    verbose_name = "salestrack"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .security import start_idle_clock

        user_logged_in.connect(start_idle_clock, dispatch_uid="salestrack.start_idle_clock")
