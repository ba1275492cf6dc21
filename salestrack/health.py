"""A liveness/readiness probe for container health checks and load balancers.

It sits first in MIDDLEWARE so it answers before host validation, HTTPS
redirects and sign-in: the probe calls http://127.0.0.1:8000/healthz inside
the container, which production settings would otherwise refuse.
"""

from django.db import connection
from django.http import HttpResponse


class HealthCheckMiddleware:
    path = "/healthz"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != self.path:
            return self.get_response(request)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:  # the probe reports any database failure as unhealthy
            return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
        return HttpResponse("ok\n", content_type="text/plain")
