"""The project's own tables: the API-token failures counted per client address."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TokenFailure(models.Model):
    """Failed API-token authentications from one client address within the cool-off.

    A guessed token fails like a wrong password; after SALESTRACK_TOKEN_FAILURE_LIMIT failures
    the address is refused every token, good ones too, until SALESTRACK_LOGIN_COOLOFF_MINUTES
    have passed since its last failure (salestrack.tokens). Kept in the database, like the
    sign-in failures, so every web process shares the count and a Redis outage does not lift it.
    Deleting a row lifts that address's lock-out.
    """

    ip_address = models.GenericIPAddressField(_("address"), unique=True)
    failures = models.PositiveIntegerField(_("failures"), default=0)
    first_failure_at = models.DateTimeField(_("first failure"))
    last_failure_at = models.DateTimeField(_("last failure"), db_index=True)

    class Meta:
        verbose_name = _("API token failure")
        verbose_name_plural = _("API token failures")
        ordering = ["-last_failure_at"]

    def __str__(self):
        return f"{self.ip_address}: {self.failures}"
