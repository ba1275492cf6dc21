"""Security wiring that settings alone cannot express: the client's address and the idle sign-out.

The lock-out (django-axes), the password rules and the Content-Security-Policy (django-csp)
are configured in settings.py; this module holds the two pieces of code they need.
"""

import ipaddress
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.shortcuts import render
from django.utils.translation import gettext as _

# The session key of the last request's time (seconds since the epoch).
LAST_SEEN_KEY = "salestrack_last_seen"
# last-seen is written at most this often, so a page view is not a session write.
LAST_SEEN_RESOLUTION_SECONDS = 60


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in settings.SALESTRACK_TRUSTED_PROXIES)


def client_ip(request) -> str | None:
    """The address sign-in failures are counted against (AXES_CLIENT_IP_CALLABLE).

    X-Forwarded-For is believed only when the request comes from a trusted proxy, and then
    only up to the first hop that is not one of ours: anything further left was written by
    the client and could name any address.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    if remote is None or not _trusted(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # a garbled header: count against the proxy itself
    return remote


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out sign-in gets (AXES_LOCKOUT_CALLABLE): 429, in the user's language."""
    context = {
        "failure_limit": settings.SALESTRACK_LOGIN_FAILURE_LIMIT,
        "cooloff_minutes": settings.SALESTRACK_LOGIN_COOLOFF_MINUTES,
    }
    return render(request, "registration/locked_out.html", context, status=429)


def start_idle_clock(sender, request, user, **kwargs):
    """At sign-in (user_logged_in): the session starts with its last-seen time, saved with it."""
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN_KEY] = int(time.time())


class IdleSessionTimeoutMiddleware:
    """Sign out a session left idle for SALESTRACK_SESSION_IDLE_MINUTES.

    Runs before any view, so LoginRequiredMiddleware's check then sends the signed-out
    request to the sign-in page, with a message saying why. API calls with a token carry no
    session and are left alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        now = int(time.time())
        if request.user.is_authenticated:
            last_seen = request.session.get(LAST_SEEN_KEY)
            if isinstance(last_seen, int) and now - last_seen > settings.SALESTRACK_SESSION_IDLE_MINUTES * 60:
                logout(request)
                messages.info(
                    request,
                    _("You were signed out after %(minutes)d minutes without activity.")
                    % {"minutes": settings.SALESTRACK_SESSION_IDLE_MINUTES},
                )
        response = self.get_response(request)
        # Only a signed-in session (a token request's user is set by DRF, but it has no session
        # to keep); one signed in before this setting existed starts its clock now.
        if request.user.is_authenticated and SESSION_KEY in request.session:
            last_seen = request.session.get(LAST_SEEN_KEY)
            if not isinstance(last_seen, int) or now - last_seen >= LAST_SEEN_RESOLUTION_SECONDS:
                request.session[LAST_SEEN_KEY] = now
        return response
