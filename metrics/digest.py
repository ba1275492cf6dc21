"""The managers' daily digest: their teams' month so far and the alerts, by e-mail.

`digest_for(manager, today)` builds one manager's e-mail (subject, text, HTML) from the
summary tables, scoped by `activities.access` to the teams the manager manages and may
see, and their reps: never another team's reps, even for a manager who is also an
admin. `send_daily_digests()` sends one to every active user who manages a team, has
the manager (or admin) role and an e-mail address. Managers with no alert still get a
short "all on track" digest with their teams' figures: a missing e-mail would leave
them wondering whether the digest broke.

Each manager's digest is sent at most once per day: a cache key per manager and day is
taken before sending (and given back if sending fails), so a re-delivered or re-run
task sends only what is missing.

Links are absolute, built on `settings.SALESTRACK_BASE_URL` (default
http://127.0.0.1:8000). There is no per-user language yet, so digests are written in
settings.LANGUAGE_CODE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext, ngettext

from activities import access

from .alerts import KIND_LABELS, KINDS, Alert, alerts_for, percent, team_url
from .models import PeriodMetric, Scope
from .periods import Period, PeriodKind

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Long enough to cover a re-run later the same day in any time zone.
SENT_KEY_SECONDS = 36 * 60 * 60


class DigestSendError(RuntimeError):
    """Some digests could not be sent; the others went out and are not sent again today."""


@dataclass(frozen=True)
class TeamHeadline:
    """A team's month-to-date figures; money None and percentages "—" when not computed yet."""

    team_id: int
    name: str
    url: str
    revenue: Decimal | None
    quota: Decimal | None
    attainment: str
    win_rate: str


def base_url() -> str:
    return getattr(settings, "SALESTRACK_BASE_URL", DEFAULT_BASE_URL).rstrip("/")


def _headlines(teams: list, month: Period, base: str) -> list[TeamHeadline]:
    metrics = {
        row.scope_id: row
        for row in PeriodMetric.objects.filter(
            scope=Scope.TEAM,
            scope_id__in=[team.pk for team in teams],
            period_kind=month.kind,
            period_start=month.start,
        )
    }
    headlines = []
    for team in teams:
        row = metrics.get(team.pk)
        headlines.append(
            TeamHeadline(
                team_id=team.pk,
                name=team.name,
                url=base + team_url(team.pk),
                revenue=row.revenue if row else None,
                quota=row.quota if row else None,
                attainment=percent(row.attainment if row else None),
                win_rate=percent(row.win_rate if row else None),
            )
        )
    return headlines


def _subject(alerts: list[Alert], today: date) -> str:
    day = formats.date_format(today, "DATE_FORMAT")
    if not alerts:
        return gettext("salestrack daily digest, %(day)s: all on track") % {"day": day}
    return ngettext(
        "salestrack daily digest, %(day)s: %(count)d alert",
        "salestrack daily digest, %(day)s: %(count)d alerts",
        len(alerts),
    ) % {"day": day, "count": len(alerts)}


def digest_for(manager, today: date) -> tuple[str, str, str] | None:
    """The digest e-mail of one manager as (subject, text, html), in the active language.

    None when the manager may not see any team they manage (no manager or admin role,
    or no team): there is nothing to tell them.
    """
    if not (access.is_manager(manager) or access.is_admin(manager)):
        return None
    teams_qs = access.visible_teams(manager).filter(manager=manager)
    teams = list(teams_qs.order_by("name", "pk"))
    if not teams:
        return None
    reps = access.visible_reps(manager).filter(team__in=teams_qs)
    month = Period.containing(today, PeriodKind.MONTH)
    base = base_url()
    alerts = [
        replace(alert, url=base + alert.url) for alert in alerts_for(reps=reps, teams=teams_qs, today=today)
    ]
    groups = [
        {"kind": kind, "label": KIND_LABELS[kind], "alerts": [a for a in alerts if a.kind == kind]}
        for kind in KINDS
    ]
    context = {
        "manager": manager,
        "today": today,
        "month": month,
        "teams": _headlines(teams, month, base),
        "alerts": alerts,
        "groups": [group for group in groups if group["alerts"]],
        "dashboard_url": base + reverse("dashboard"),
        "inactive_days": settings.SALESTRACK_INACTIVE_WORKING_DAYS,
    }
    subject = _subject(alerts, today)
    text = render_to_string("metrics/email/digest.txt", context)
    html = render_to_string("metrics/email/digest.html", context)
    return subject, text, html


def _managers():
    return (
        get_user_model()
        .objects.filter(is_active=True, managed_teams__isnull=False)
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )


def send_daily_digests(today: date | None = None) -> int:
    """Send today's digest to every manager who has not had it yet; the number sent.

    Raises DigestSendError after trying everyone if some could not be sent.
    """
    today = today or timezone.localdate()
    sent, failed = 0, []
    with get_connection() as connection:
        for manager in _managers():
            key = f"metrics:digest:{today.isoformat()}:{manager.pk}"
            with translation.override(settings.LANGUAGE_CODE):
                digest = digest_for(manager, today)
            # add() is atomic: two runs of the task never both send to the same manager.
            if digest is None or not cache.add(key, True, timeout=SENT_KEY_SECONDS):
                continue
            subject, text, html = digest
            message = EmailMultiAlternatives(
                subject,
                text,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[manager.email],
                connection=connection,
            )
            message.attach_alternative(html, "text/html")
            try:
                message.send()
            except Exception:
                cache.delete(key)  # so that a re-run tries this manager again
                log.exception("could not send the daily digest to user %s", manager.pk)
                failed.append(manager.pk)
                continue
            sent += 1
    if failed:
        raise DigestSendError(f"{len(failed)} daily digest(s) not sent (users {failed}); {sent} sent")
    return sent
