"""Helpers of the REST API tests: clients signed in with a token, and rows written through the services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from activities import services
from activities.api.throttles import ReadThrottle
from activities.models import ActivityType, Stage


def token_client(user=None) -> APIClient:
    """A client sending `Authorization: Token …` for `user` (signed out without one)."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def activity_type(name: str = "Call") -> ActivityType:
    return ActivityType.objects.get(name=name)


def stage(name: str) -> Stage:
    return Stage.objects.get(name=name)


def log(rep, *, minutes: int = 15, type_name: str = "Call", hours_ago: int = 2, **kwargs):
    return services.activity_log(
        rep=rep,
        type=activity_type(type_name),
        occurred_at=timezone.now() - timedelta(hours=hours_ago),
        duration_minutes=minutes,
        **kwargs,
    )


def open_deal(rep, *, name: str = "Deal", amount: str = "1000.00", days_ago: int = 10, **kwargs):
    return services.deal_open(
        owner=rep,
        name=name,
        amount=Decimal(amount),
        opened_on=timezone.localdate() - timedelta(days=days_ago),
        by=rep.user,
        **kwargs,
    )


@pytest.fixture
def relaxed_throttles(monkeypatch):
    """Rates high enough that a test writing a lot is never throttled."""
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"writes": "100000/min", "bulk": "100000/min"})
    monkeypatch.setattr(ReadThrottle, "THROTTLE_RATES", {"reads": "100000/min"})
