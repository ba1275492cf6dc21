"""Who may call what, on top of sign-in (the rows themselves come from `activities.access`)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from activities import access


class IsRepForCreate(BasePermission):
    """Only a user with a rep profile logs activities and opens deals (as on the pages)."""

    message = _("Only sales reps log activities and deals, and your account has no rep profile.")

    def has_permission(self, request, view):
        if getattr(view, "action", None) in ("create", "bulk"):
            return access.rep_of(request.user) is not None
        return True


class IsAdminOrReadOnly(BasePermission):
    """Everyone signed in reads; only admins write (quotas and projections)."""

    message = _("Only admins change quotas and projections.")

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or access.is_admin(request.user)
