"""API rate limits per user: reads (scope "reads"), writes ("writes") and bulk ("bulk").

Rates are in REST_FRAMEWORK's DEFAULT_THROTTLE_RATES. Every API GET is counted against
"reads" (`ReadThrottle`, the default throttle); viewsets that write use `WriteThrottleMixin`
for their writing actions. The counts live in the cache: when it is unreachable the
throttles let requests through (and say so in the log) rather than fail them.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from salestrack.outages import CACHE_ERRORS, warn_once

WRITE_ACTIONS = frozenset({"create", "update", "partial_update", "destroy", "move"})
BULK_ACTIONS = frozenset({"bulk"})


class FailOpenMixin:
    """A throttle that allows the request when the cache holding its counts is down."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS:
            warn_once("cache", "the cache is unreachable: API requests are not throttled")
            return True


class ReadThrottle(FailOpenMixin, UserRateThrottle):
    """Every read (GET, HEAD, OPTIONS) of the API, per user, at the "reads" rate."""

    scope = "reads"

    def allow_request(self, request, view):
        if request.method not in SAFE_METHODS:
            return True
        return super().allow_request(request, view)


class WriteThrottle(FailOpenMixin, ScopedRateThrottle):
    """The view's throttle_scope ("writes" or "bulk"), per user."""


class WriteThrottleMixin:
    """For viewsets: the writing actions' scope ("writes", "bulk"); reads keep the read throttle."""

    def get_throttles(self):
        action = getattr(self, "action", None)
        if action in BULK_ACTIONS:
            self.throttle_scope = "bulk"
        elif action in WRITE_ACTIONS:
            self.throttle_scope = "writes"
        else:
            return super().get_throttles()
        return [WriteThrottle()]
