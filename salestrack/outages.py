"""Outages of Redis (the broker and the cache) and of the database: degrade, never stall or 500.

Redis down: a save stays committed and its changed-day marks stay in the database; the
task that would have refreshed the figures is not sent (`publish` tries once, fast, and
says so in the log) and housekeeping catches up once Redis is back. Whatever reads the
cache (throttles, the debounce of metric runs) goes on without it (`CACHE_ERRORS`).

Database down: `DatabaseUnavailableMiddleware` (and `server_error`, for the failures in
other middleware, such as the session's) answer 503 with Retry-After, a page or JSON
that touches no database; once it is back the next request reconnects by itself
(CONN_HEALTH_CHECKS).
"""

from __future__ import annotations

import logging
import sys
import time

import redis.exceptions
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.defaults import server_error as django_server_error
from kombu.exceptions import OperationalError as BrokerError

log = logging.getLogger(__name__)

# What a dead or unreachable Redis raises from the cache (redis-py), or a socket below it.
CACHE_ERRORS = (redis.exceptions.RedisError, OSError)
DATABASE_ERRORS = (OperationalError, InterfaceError)
# One warning per service and minute: an outage must not flood the log with one per request.
WARN_EVERY_SECONDS = 60
_last_warned: dict[str, float] = {}
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


def warn_once(service: str, message: str, *args) -> None:
    """Log that `service` is unreachable, with the traceback, at most once a minute."""
    now = time.monotonic()
    if now - _last_warned.get(service, float("-inf")) < WARN_EVERY_SECONDS:
        log.debug(message, *args)
        return
    _last_warned[service] = now
    log.warning(message, *args, exc_info=True)


def publish(task, *args, countdown: float | None = None, **kwargs) -> bool:
    """Send `task` to the workers; False (and a warning) when the broker is unreachable.

    One quick retry (a pooled connection left over from before a Redis restart is dropped
    and a new one made), so a dead Redis costs milliseconds; and no result kept: nobody waits
    for these results, and the result store's own reconnect retries made a save take 19 s.
    """
    try:
        task.apply_async(
            args, kwargs, countdown=countdown, ignore_result=True, retry=True, retry_policy=PUBLISH_RETRY
        )
    except (BrokerError, *CACHE_ERRORS):
        warn_once("broker", "could not send %s: the broker is unreachable", task.name)
        return False
    except Exception:  # eager mode ran the task right here: its failure is its own, not the caller's
        log.exception("task %s failed", task.name)
        return False
    return True


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After, as JSON for the API and a page for the rest; no database needed."""
    retry_after = str(settings.SALESTRACK_RETRY_AFTER_SECONDS)
    message = _("The database is unavailable for a moment. Please try again shortly.")
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=503)
    else:
        # No RequestContext: its context processors read the signed-in user from the database.
        page = render_to_string("503.html", {"message": message, "retry_after": retry_after})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = retry_after
    return response


class DatabaseUnavailableMiddleware:
    """A view that loses the database answers 503 with Retry-After, not 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        log.error("database unavailable: %s %s", request.method, request.path, exc_info=exception)
        return database_unavailable(request)


def server_error(request, *args, **kwargs):
    """handler500: a database failure outside a view (the session or sign-in middleware) is a 503."""
    if isinstance(sys.exception(), DATABASE_ERRORS):
        return database_unavailable(request)
    return django_server_error(request, *args, **kwargs)
