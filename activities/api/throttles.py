"""Writes are throttled per user (scope "writes", bulk "bulk"; rates in REST_FRAMEWORK); reads are not."""

from __future__ import annotations

from rest_framework.throttling import ScopedRateThrottle

WRITE_ACTIONS = frozenset({"create", "update", "partial_update", "destroy", "move"})
BULK_ACTIONS = frozenset({"bulk"})


class WriteThrottleMixin:
    """For viewsets: ScopedRateThrottle with the scope of the action, none for reads."""

    def get_throttles(self):
        action = getattr(self, "action", None)
        if action in BULK_ACTIONS:
            self.throttle_scope = "bulk"
        elif action in WRITE_ACTIONS:
            self.throttle_scope = "writes"
        else:
            return []
        return [ScopedRateThrottle()]
