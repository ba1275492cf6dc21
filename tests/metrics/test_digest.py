"""The managers' daily digest: through Celery (eager, in-process) to the locmem mailbox; its beat entry."""

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from activities import services
from activities.models import ActivityType, Stage, Team
from metrics import jobs
from metrics.digest import digest_for, send_daily_digests
from metrics.models import MetricRun
from metrics.periods import Period, PeriodKind
from metrics.services import quota_set
from metrics.tasks import send_daily_digest
from tests.conftest import PASSWORD

TZ = "Europe/Berlin"
BASE = "https://sales.example.com"
TEAM_A_REPS = ("Ana One", "Ari Two")
TEAM_B_REPS = ("Bo Three",)


@pytest.fixture(autouse=True)
def mail_settings(settings):
    settings.TIME_ZONE = TZ
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SALESTRACK_BASE_URL = BASE + "/"
    settings.DEFAULT_FROM_EMAIL = "salestrack@example.com"
    settings.SALESTRACK_INACTIVE_WORKING_DAYS = 3


def compute(first: date, last: date):
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=days, clear_marks=True)


@pytest.fixture
def this_month(cast):
    """Today's month: a1 has a quota and a small win today; nobody has logged an activity."""
    today = timezone.localdate()
    month = Period.containing(today, PeriodKind.MONTH)
    quota_set(rep=cast.rep_a1, period=month, amount=Decimal("100000"), by=cast.admin)
    services.deal_open(
        owner=cast.rep_a1,
        name="Small win",
        amount=Decimal("1234.50"),
        opened_on=today,
        stage=Stage.objects.get(name="Won"),
        closed_on=today,
    )
    compute(month.start, today)
    return month


def messages_to(address: str):
    return [message for message in mail.outbox if address in message.to]


def html_of(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


class DailyDigestTaskTests:
    def test_each_manager_with_an_address_gets_one_digest(self, cast, this_month, django_user_model):
        silent = django_user_model.objects.create_user("manager_c", "", PASSWORD)
        services.user_set_role(user=silent, role="manager")
        Team.objects.create(name="Team C", manager=silent)
        retired = django_user_model.objects.create_user(
            "manager_d", "md@example.com", PASSWORD, is_active=False
        )
        services.user_set_role(user=retired, role="manager")
        Team.objects.create(name="Team D", manager=retired)

        result = send_daily_digest.delay()

        assert result.get() == 2
        assert sorted(message.to for message in mail.outbox) == [["ma@example.com"], ["mb@example.com"]]
        for message in mail.outbox:
            assert message.from_email == "salestrack@example.com"
            assert message.subject.startswith("salestrack daily digest, ")
            assert "alert" in message.subject

    def test_a_managers_digest_names_only_their_own_teams_reps(self, cast, this_month):
        send_daily_digest.delay().get()

        [digest_a] = messages_to("ma@example.com")
        [digest_b] = messages_to("mb@example.com")
        for message, own, others, own_team, other_team in (
            (digest_a, TEAM_A_REPS, TEAM_B_REPS, "Team A", "Team B"),
            (digest_b, TEAM_B_REPS, TEAM_A_REPS, "Team B", "Team A"),
        ):
            for body in (message.body, html_of(message)):
                # Nobody logged anything: every rep of one's own teams is inactive, and named.
                for name in own:
                    assert name in body
                for name in others:
                    assert name not in body
                assert own_team in body
                assert other_team not in body

    def test_text_and_html_parts_carry_the_month_so_far(self, cast, this_month, settings):
        settings.SALESTRACK_PACE_GRACE_DAYS = 0  # behind pace from the month's first day
        send_daily_digest.delay().get()

        [digest_a] = messages_to("ma@example.com")
        for body in (digest_a.body, html_of(digest_a)):
            assert "1,234.50" in body  # team A's revenue this month
            assert "100,000.00" in body  # its quota: a1's
            assert "Behind pace" in body  # a1: 1.2 % of quota is behind on any day of the month
            assert "No activity logged" in body
        assert "<html" in html_of(digest_a)
        assert "<html" not in digest_a.body

    def test_links_are_absolute(self, cast, this_month):
        send_daily_digest.delay().get()

        [digest_a] = messages_to("ma@example.com")
        html = html_of(digest_a)
        hrefs = re.findall(r'href="([^"]+)"', html)
        assert hrefs
        assert all(href.startswith(BASE + "/") for href in hrefs), hrefs
        assert f"{BASE}/dashboard/rep/{cast.rep_a1.pk}/" in hrefs
        assert f"{BASE}/dashboard/team/{cast.team_a.pk}/" in hrefs
        text_links = re.findall(r"https?://\S+", digest_a.body)
        assert f"{BASE}/dashboard/rep/{cast.rep_a2.pk}/" in text_links
        assert all(link.startswith(BASE + "/") for link in text_links)

    def test_running_twice_the_same_day_sends_nothing_twice(self, cast, this_month):
        assert send_daily_digest.delay().get() == 2
        assert send_daily_digest.delay().get() == 0
        assert len(mail.outbox) == 2


def test_a_manager_who_is_also_admin_hears_only_about_the_teams_they_manage(cast):
    services.user_set_role(user=cast.manager_a, role="admin")
    subject, text, html = digest_for(cast.manager_a, timezone.localdate())
    for body in (text, html):
        assert "Ana One" in body and "Ari Two" in body
        assert "Bo Three" not in body and "Team B" not in body


def test_a_user_named_manager_without_the_role_gets_no_digest(cast, django_user_model):
    plain = django_user_model.objects.create_user("plain", "plain@example.com", PASSWORD)
    Team.objects.create(name="Team P", manager=plain)
    assert digest_for(plain, timezone.localdate()) is None
    assert send_daily_digests() == 2
    assert not messages_to("plain@example.com")


def test_a_manager_with_nothing_to_report_gets_a_short_all_on_track_digest(cast):
    # Tuesday: the window is Thu, Fri, Mon; everyone of team B logged on Monday and has no quota.
    today = date(2026, 6, 16)
    services.activity_log(
        rep=cast.rep_b1,
        type=ActivityType.objects.get(name="Call"),
        occurred_at=datetime.combine(date(2026, 6, 15), time(10), tzinfo=ZoneInfo(TZ)),
        duration_minutes=10,
    )
    compute(date(2026, 6, 1), today)

    assert send_daily_digest.delay(today=today.isoformat()).get() == 2

    [digest_b] = messages_to("mb@example.com")
    assert digest_b.subject == "salestrack daily digest, June 16, 2026: all on track"
    assert "No alerts: everyone is on pace and active." in digest_b.body
    assert "No alerts: everyone is on pace and active." in html_of(digest_b)
    [digest_a] = messages_to("ma@example.com")
    assert digest_a.subject == "salestrack daily digest, June 16, 2026: 2 alerts"


def test_the_daily_digest_beat_entry_points_at_the_task(db):
    from django_celery_beat.models import PeriodicTask

    from salestrack.celery import app

    entry = PeriodicTask.objects.get(name="metrics: daily digest")
    assert entry.task == "metrics.send_daily_digest"
    assert entry.enabled
    crontab = entry.crontab
    assert (crontab.hour, crontab.minute, crontab.day_of_week) == ("7", "0", "1-5")
    app.loader.import_default_modules()
    assert "metrics.send_daily_digest" in app.tasks


def test_a_failed_send_is_reported_and_retried_by_the_next_run_alone(cast, monkeypatch):
    from django.core.mail import EmailMultiAlternatives

    from metrics.digest import DigestSendError

    real_send = EmailMultiAlternatives.send

    def send_except_to_b(message, *args, **kwargs):
        if "mb@example.com" in message.to:
            raise ConnectionError("the mail server hung up")
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", send_except_to_b)
    with pytest.raises(DigestSendError, match="1 daily digest"):
        send_daily_digests()
    assert [message.to for message in mail.outbox] == [["ma@example.com"]]

    monkeypatch.setattr(EmailMultiAlternatives, "send", real_send)
    assert send_daily_digests() == 1
    assert [message.to for message in mail.outbox] == [["ma@example.com"], ["mb@example.com"]]
