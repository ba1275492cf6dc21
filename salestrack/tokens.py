"""API-token lock-out: failed token authentications counted per client address.

DRF's throttles run after authentication and count per user, so a caller guessing tokens was
never slowed down. `LockingTokenAuthentication` counts every failed token authentication (an
unknown key, a malformed header, a deactivated user's key) against the client's address, read
as the sign-in lock-out reads it (salestrack.security.client_ip: X-Forwarded-For only from a
trusted proxy). After SALESTRACK_TOKEN_FAILURE_LIMIT failures the address gets 429 with
Retry-After for every token, a good one too (or the guesser would learn which key is right),
until SALESTRACK_LOGIN_COOLOFF_MINUTES have passed since its last failure. Refused calls are
not counted, so the lock ends on time. A success does not clear the count: otherwise a caller
with one good token of their own could interleave it with guesses forever.

The counts are rows of `TokenFailure` in the database, shared by every web process and kept
through a Redis outage; an admin lifts a lock-out by deleting its row.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import ngettext
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from .models import TokenFailure
from .security import client_ip

logger = logging.getLogger(__name__)

# Where a request has no client address (a Unix socket without a trusted proxy in front), its
# failures are counted here, all together, rather than not at all.
UNKNOWN_ADDRESS = "::"


def _cool_off() -> timedelta:
    return timedelta(minutes=settings.SALESTRACK_LOGIN_COOLOFF_MINUTES)


def _remaining(row: TokenFailure) -> int:
    if row.failures < settings.SALESTRACK_TOKEN_FAILURE_LIMIT:
        return 0
    return max(0, math.ceil((row.last_failure_at + _cool_off() - timezone.now()).total_seconds()))


def is_locked(row: TokenFailure) -> bool:
    """Whether the row's address is refused every token now."""
    return _remaining(row) > 0


def seconds_locked(address: str) -> int:
    """How long the address is still refused every token (0: not locked). One query."""
    row = TokenFailure.objects.filter(ip_address=address).first()
    return 0 if row is None else _remaining(row)


def record_failure(address: str) -> int:
    """Count one failed token authentication from the address; returns its failures so far.

    A failure more than a cool-off after the previous one starts the count again. The row is
    locked while it is read and written, so concurrent failures from several processes are
    all counted. Rows of other addresses whose cool-off is over are removed on the way.
    """
    now = timezone.now()
    cutoff = now - _cool_off()
    with transaction.atomic():
        row, created = TokenFailure.objects.select_for_update().get_or_create(
            ip_address=address,
            defaults={"failures": 1, "first_failure_at": now, "last_failure_at": now},
        )
        if not created:
            if row.last_failure_at <= cutoff:
                row.failures, row.first_failure_at = 1, now
            else:
                row.failures += 1
            row.last_failure_at = now
            row.save(update_fields=["failures", "first_failure_at", "last_failure_at"])
        TokenFailure.objects.filter(last_failure_at__lte=cutoff).exclude(pk=row.pk).delete()
    if row.failures == settings.SALESTRACK_TOKEN_FAILURE_LIMIT:
        logger.warning(
            "API tokens locked out for %s after %d failed authentications (%d-minute cool-off)",
            address,
            row.failures,
            settings.SALESTRACK_LOGIN_COOLOFF_MINUTES,
        )
    return row.failures


class TokenLockedOut(exceptions.Throttled):
    """429 with Retry-After: too many failed token authentications from this address."""

    default_code = "token_locked_out"

    def __init__(self, wait: int):
        minutes = max(1, math.ceil(wait / 60))
        detail = ngettext(
            "Too many failed API token attempts from your address. Try again in %(minutes)d minute.",
            "Too many failed API token attempts from your address. Try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
        # Without DRF's "Expected available in N seconds." suffix: Retry-After says it already.
        super().__init__(detail=detail)
        self.wait = wait


class LockingTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, with failures counted and locked out per client address."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # no token offered: the session may authenticate the request
        address = client_ip(request) or UNKNOWN_ADDRESS
        wait = seconds_locked(address)
        if wait:
            raise TokenLockedOut(wait)
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            record_failure(address)
            raise
