"""The rep web pages, driven through Django's test client over the fixed cast.

Journeys go through the real forms and services; every rejected input must
leave the database exactly as it was; every other person's id must 404.
"""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from activities import services
from activities.models import Activity, ActivityType, Deal, DealStageChange, Stage
from tests.factories import AccountFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _default_language_afterwards():
    """LocaleMiddleware leaves the request's language active in this thread; don't leak it."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


# --- helpers ----------------------------------------------------------------


def activity_type(name="Call") -> ActivityType:
    return ActivityType.objects.get(name=name)


def stage(name) -> Stage:
    return Stage.objects.get(name=name)


def log(rep, *, type_name="Call", occurred_at=None, **kwargs) -> Activity:
    return services.activity_log(rep=rep, type=activity_type(type_name), occurred_at=occurred_at, **kwargs)


def open_deal(rep, name="Deal", amount="1000.00", **kwargs) -> Deal:
    kwargs.setdefault("opened_on", timezone.localdate() - timedelta(days=10))
    return services.deal_open(owner=rep, name=name, amount=Decimal(amount), by=rep.user, **kwargs)


def local_input(moment: datetime) -> str:
    """How an <input type="datetime-local"> submits a moment, in the current time zone."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def signed_in(client, user):
    client.force_login(user)
    return client


def activity_post(**overrides) -> dict:
    data = {
        "type": activity_type("Call").pk,
        "occurred_at": local_input(timezone.now() - timedelta(hours=1)),
        "duration_minutes": "",
        "deal": "",
        "account": "",
        "outcome": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def deal_post(**overrides) -> dict:
    data = {
        "name": "Fleet renewal",
        "account": "",
        "product": "",
        "amount": "2500.00",
        "revenue_type": Deal.RevenueType.RECURRING,
        "opened_on": (timezone.localdate() - timedelta(days=3)).isoformat(),
        "expected_close_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }
    data.update(overrides)
    return data


@pytest.fixture
def rows(cast):
    """One activity and one deal for each rep of the cast."""

    class Rows:
        pass

    r = Rows()
    for key in ("rep_a1", "rep_a2", "rep_b1"):
        rep = getattr(cast, key)
        deal = open_deal(rep, name=f"Deal of {key}")
        setattr(r, f"deal_{key[4:]}", deal)
        setattr(r, f"activity_{key[4:]}", log(rep, outcome=f"Outcome of {key}", deal=deal))
    return r


# --- signed out -------------------------------------------------------------


PAGES = [
    ("home", False),
    ("activity_list", False),
    ("activity_create", False),
    ("activity_edit", True),
    ("activity_delete", True),
    ("deal_list", False),
    ("deal_create", False),
    ("deal_detail", True),
    ("deal_edit", True),
    ("deal_move", True),
    ("deal_delete", True),
]


class TestSignedOut:
    @pytest.mark.parametrize(("name", "needs_pk"), PAGES)
    def test_it_sends_every_page_to_sign_in(self, client, rows, name, needs_pk):
        url = reverse(
            name, args=[rows.deal_a1.pk if "deal" in name else rows.activity_a1.pk] if needs_pk else []
        )
        for response in (client.get(url), client.post(url, {})):
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login") + "?next=")

    def test_it_changes_nothing_when_a_signed_out_post_arrives(self, client, rows):
        client.post(reverse("activity_delete", args=[rows.activity_a1.pk]))
        client.post(reverse("deal_move", args=[rows.deal_a1.pk]), {"to_stage": stage("Lost").pk})
        assert Activity.objects.filter(pk=rows.activity_a1.pk).exists()
        assert Deal.objects.get(pk=rows.deal_a1.pk).stage == stage("Lead")

    def test_it_shows_the_sign_in_page_with_a_language_switcher(self, client):
        response = client.get(reverse("login"))
        assert response.status_code == 200
        content = response.content.decode()
        assert 'name="username"' in content and 'name="password"' in content
        assert f'action="{reverse("set_language")}"' in content
        assert "Deutsch" in content and "한국어" in content

    def test_it_lets_a_signed_out_visitor_choose_a_language(self, client):
        response = client.post(reverse("set_language"), {"language": "de", "next": reverse("login")})
        assert response.status_code == 302
        assert response.cookies["django_language"].value == "de"
        assert "Anmelden" in client.get(reverse("login")).content.decode()

    def test_it_signs_a_rep_in_and_out(self, client, cast):
        from tests.conftest import PASSWORD

        response = client.post(reverse("login"), {"username": "rep_a1", "password": PASSWORD})
        assert response.status_code == 302 and response["Location"] == reverse("home")
        assert client.get(reverse("home")).status_code == 200
        assert client.post(reverse("logout")).status_code == 302
        assert client.get(reverse("home")).status_code == 302

    def test_it_refuses_a_wrong_password(self, client, cast):
        response = client.post(reverse("login"), {"username": "rep_a1", "password": "wrong"})
        assert response.status_code == 200
        assert response.context["form"].errors


# --- layout and home ----------------------------------------------------------


class TestLayout:
    def test_it_shows_navigation_name_sign_out_and_language_switcher(self, client, cast):
        content = signed_in(client, cast.rep_a1.user).get(reverse("home")).content.decode()
        assert '<html lang="en"' in content
        for url in (reverse("home"), reverse("activity_list"), reverse("deal_list")):
            assert f'href="{url}"' in content
        assert "Ana One" in content
        assert f'action="{reverse("logout")}"' in content
        assert f'action="{reverse("set_language")}"' in content
        assert reverse("admin:index") not in content
        assert "/static/css/app.css" in content and "/static/js/app.js" in content

    def test_it_links_admins_to_the_admin_site(self, client, cast):
        content = signed_in(client, cast.admin).get(reverse("home")).content.decode()
        assert f'href="{reverse("admin:index")}"' in content

    def test_it_shows_a_flash_message_after_a_change(self, client, cast):
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("activity_create"), activity_post(), follow=True
        )
        assert "Activity logged." in response.content.decode()


class TestHome:
    def test_a_rep_gets_the_quick_log_form_with_type_defaults(self, client, cast):
        response = signed_in(client, cast.rep_a1.user).get(reverse("home"))
        content = response.content.decode()
        assert f'action="{reverse("activity_create")}"' in content
        assert 'type="datetime-local"' in content
        options = dict(
            re.findall(r'<option value="(\d+)"(?: selected)? data-default-duration="(\d+)"', content)
        )
        assert options == {
            str(t.pk): str(t.default_duration) for t in ActivityType.objects.filter(is_active=True)
        }
        form = response.context["form"]
        first_type = ActivityType.objects.filter(is_active=True).order_by("order", "name").first()
        assert form.initial["duration_minutes"] == first_type.default_duration
        assert abs(form.initial["occurred_at"] - timezone.now()) < timedelta(minutes=2)

    def test_a_rep_sees_today_and_open_deals_but_not_yesterday_or_closed_deals(self, client, cast):
        rep = cast.rep_a1
        now = timezone.localtime()
        log(rep, outcome="Spoke to buyer", occurred_at=now.replace(hour=0, minute=5))
        log(rep, outcome="Old call", occurred_at=now - timedelta(days=1, hours=1))
        open_deal(rep, name="Open one")
        lost = open_deal(rep, name="Lost one")
        services.deal_move_stage(deal=lost, to_stage=stage("Lost"), by=rep.user)
        log(cast.rep_a2, outcome="Colleague call")

        content = signed_in(client, rep.user).get(reverse("home")).content.decode()
        assert "Spoke to buyer" in content
        assert "Old call" not in content
        assert "Colleague call" not in content
        assert "Open one" in content
        assert "Lost one" not in content

    def test_a_manager_sees_the_team_and_its_latest_entries(self, client, cast, rows):
        content = signed_in(client, cast.manager_a).get(reverse("home")).content.decode()
        assert "Ana One" in content and "Ari Two" in content
        assert "Bo Three" not in content
        assert "Deal of rep_a1" in content
        assert "Deal of rep_b1" not in content
        assert f'action="{reverse("activity_create")}"' not in content

    def test_an_admin_gets_a_short_page_of_admin_links(self, client, cast):
        response = signed_in(client, cast.admin).get(reverse("home"))
        assert response.status_code == 200
        assert "Administration" in response.content.decode()


# --- activities -------------------------------------------------------------


class TestActivityJourney:
    def test_it_logs_an_activity_with_the_type_default_duration(self, client, cast):
        signed_in(client, cast.rep_a1.user)
        response = client.post(reverse("activity_create"), activity_post(type=activity_type("Demo").pk))
        assert response.status_code == 302
        activity = Activity.objects.get()
        assert activity.rep == cast.rep_a1
        assert activity.type.name == "Demo"
        assert activity.duration_minutes == activity_type("Demo").default_duration == 45

    def test_it_reads_the_time_in_the_current_time_zone(self, client, cast, settings):
        settings.TIME_ZONE = "Asia/Seoul"
        day = timezone.localdate() - timedelta(days=1)
        signed_in(client, cast.rep_a1.user).post(
            reverse("activity_create"), activity_post(occurred_at=f"{day.isoformat()}T09:30")
        )
        expected = datetime(day.year, day.month, day.day, 9, 30, tzinfo=ZoneInfo("Asia/Seoul"))
        assert Activity.objects.get().occurred_at == expected

    def test_it_keeps_a_typed_duration_links_a_deal_and_returns_to_next(self, client, cast):
        deal = open_deal(cast.rep_a1, account=AccountFactory(name="Acme"))
        signed_in(client, cast.rep_a1.user)
        response = client.post(
            reverse("activity_create"),
            activity_post(duration_minutes="25", deal=deal.pk, outcome="Booked a demo", next=reverse("home")),
        )
        assert response["Location"] == reverse("home")
        activity = Activity.objects.get()
        assert (activity.duration_minutes, activity.deal, activity.outcome) == (25, deal, "Booked a demo")
        assert activity.account.name == "Acme"

    def test_it_ignores_an_offsite_next(self, client, cast):
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("activity_create"), activity_post(next="https://evil.example.com/")
        )
        assert response["Location"] == reverse("activity_list")

    def test_it_offers_only_the_reps_own_open_deals(self, client, cast):
        mine = open_deal(cast.rep_a1, name="Mine open")
        won = open_deal(cast.rep_a1, name="Mine won")
        services.deal_move_stage(deal=won, to_stage=stage("Won"), by=cast.rep_a1.user)
        theirs = open_deal(cast.rep_a2, name="Theirs")
        form = signed_in(client, cast.rep_a1.user).get(reverse("activity_create")).context["form"]
        assert list(form.fields["deal"].queryset) == [mine]

        response = client.post(reverse("activity_create"), activity_post(deal=theirs.pk))
        assert response.status_code == 200
        assert "deal" in response.context["form"].errors
        assert not Activity.objects.exists()

    def test_it_edits_an_activity(self, client, cast):
        activity = log(cast.rep_a1, duration_minutes=10)
        signed_in(client, cast.rep_a1.user)
        page = client.get(reverse("activity_edit", args=[activity.pk]))
        assert page.status_code == 200
        assert page.context["form"].initial["duration_minutes"] == 10

        response = client.post(
            reverse("activity_edit", args=[activity.pk]),
            activity_post(type=activity_type("Email").pk, duration_minutes="7", outcome="Sent offer"),
        )
        assert response.status_code == 302
        activity.refresh_from_db()
        assert (activity.type.name, activity.duration_minutes, activity.outcome) == ("Email", 7, "Sent offer")

    def test_an_edit_that_leaves_the_time_alone_keeps_its_seconds(self, client, cast):
        moment = (timezone.now() - timedelta(hours=2)).replace(second=42, microsecond=0)
        activity = log(cast.rep_a1, occurred_at=moment, duration_minutes=10)
        signed_in(client, cast.rep_a1.user).post(
            reverse("activity_edit", args=[activity.pk]),
            activity_post(occurred_at=local_input(moment), duration_minutes="12"),
        )
        activity.refresh_from_db()
        assert (activity.occurred_at, activity.duration_minutes) == (moment, 12)

    def test_an_emptied_duration_on_edit_becomes_the_type_default(self, client, cast):
        activity = log(cast.rep_a1, duration_minutes=99)
        signed_in(client, cast.rep_a1.user).post(
            reverse("activity_edit", args=[activity.pk]),
            activity_post(type=activity_type("Client meeting").pk, duration_minutes=""),
        )
        activity.refresh_from_db()
        assert activity.duration_minutes == 60

    def test_an_entry_of_a_retired_type_stays_editable_but_the_type_is_not_offered_anew(self, client, cast):
        activity = log(cast.rep_a1, type_name="Travel", duration_minutes=30)
        ActivityType.objects.filter(name="Travel").update(is_active=False)
        signed_in(client, cast.rep_a1.user)
        assert "Travel" not in {
            t.name for t in client.get(reverse("activity_create")).context["form"].fields["type"].queryset
        }
        response = client.post(
            reverse("activity_edit", args=[activity.pk]),
            activity_post(type=activity_type("Travel").pk, duration_minutes="45"),
        )
        assert response.status_code == 302
        activity.refresh_from_db()
        assert activity.duration_minutes == 45

    def test_it_asks_before_deleting_then_deletes(self, client, cast):
        activity = log(cast.rep_a1)
        signed_in(client, cast.rep_a1.user)
        confirm = client.get(reverse("activity_delete", args=[activity.pk]))
        assert confirm.status_code == 200
        assert Activity.objects.filter(pk=activity.pk).exists()
        response = client.post(reverse("activity_delete", args=[activity.pk]))
        assert response.status_code == 302
        assert not Activity.objects.filter(pk=activity.pk).exists()


class TestActivityErrors:
    def test_it_rejects_a_duration_over_a_day(self, client, cast):
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("activity_create"), activity_post(duration_minutes="1441")
        )
        assert response.status_code == 200
        form = response.context["form"]
        assert list(form.errors) == ["duration_minutes"]
        assert "1440" in " ".join(form.errors["duration_minutes"])
        assert "Nothing was saved" in response.content.decode()
        assert not Activity.objects.exists()

    def test_it_rejects_a_date_far_in_the_future(self, client, cast):
        far = timezone.now() + timedelta(days=40)
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("activity_create"), activity_post(occurred_at=local_input(far))
        )
        assert response.status_code == 200
        assert "too far in the future" in " ".join(response.context["form"].errors["occurred_at"])
        assert not Activity.objects.exists()

    def test_it_rejects_a_malformed_time(self, client, cast):
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("activity_create"), activity_post(occurred_at="yesterday-ish")
        )
        assert "occurred_at" in response.context["form"].errors
        assert not Activity.objects.exists()

    def test_a_rejected_edit_changes_nothing(self, client, cast):
        activity = log(cast.rep_a1, duration_minutes=10, outcome="Before")
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("activity_edit", args=[activity.pk]),
            activity_post(duration_minutes="5000", outcome="After"),
        )
        assert response.status_code == 200
        assert "duration_minutes" in response.context["form"].errors
        activity.refresh_from_db()
        assert (activity.duration_minutes, activity.outcome) == (10, "Before")


class TestActivityList:
    def test_a_rep_sees_only_their_own_activities(self, client, cast, rows):
        response = signed_in(client, cast.rep_a1.user).get(reverse("activity_list"))
        assert [a.pk for a in response.context["page"]] == [rows.activity_a1.pk]
        assert "rep" not in response.context["filter_form"].fields

    def test_it_filters_by_type_and_date_range(self, client, cast):
        rep = cast.rep_a1
        now = timezone.now()
        call_today = log(rep, type_name="Call", occurred_at=now - timedelta(minutes=5))
        email_today = log(rep, type_name="Email", occurred_at=now - timedelta(minutes=4))
        call_old = log(rep, type_name="Call", occurred_at=now - timedelta(days=20))
        signed_in(client, rep.user)

        by_type = client.get(reverse("activity_list"), {"type": activity_type("Call").pk})
        assert {a.pk for a in by_type.context["page"]} == {call_today.pk, call_old.pk}

        since = (timezone.localdate() - timedelta(days=2)).isoformat()
        by_date = client.get(reverse("activity_list"), {"date_from": since})
        assert {a.pk for a in by_date.context["page"]} == {call_today.pk, email_today.pk}

        until = (timezone.localdate() - timedelta(days=2)).isoformat()
        old_only = client.get(reverse("activity_list"), {"date_to": until})
        assert {a.pk for a in old_only.context["page"]} == {call_old.pk}

    def test_it_paginates(self, client, cast):
        for minutes in range(30):
            log(cast.rep_a1, occurred_at=timezone.now() - timedelta(minutes=minutes + 1))
        signed_in(client, cast.rep_a1.user)
        first = client.get(reverse("activity_list"))
        second = client.get(reverse("activity_list"), {"page": 2})
        assert len(first.context["page"]) == 25 and len(second.context["page"]) == 5
        assert "?page=2" in first.content.decode()

    def test_a_manager_sees_the_team_and_filters_by_rep(self, client, cast, rows):
        signed_in(client, cast.manager_a)
        response = client.get(reverse("activity_list"))
        assert {a.pk for a in response.context["page"]} == {rows.activity_a1.pk, rows.activity_a2.pk}
        assert set(response.context["filter_form"].fields["rep"].queryset) == {cast.rep_a1, cast.rep_a2}
        assert (
            f'href="{reverse("activity_edit", args=[rows.activity_a1.pk])}' not in response.content.decode()
        )

        one = client.get(reverse("activity_list"), {"rep": cast.rep_a2.pk})
        assert [a.pk for a in one.context["page"]] == [rows.activity_a2.pk]

    def test_a_manager_cannot_filter_on_another_teams_rep(self, client, cast, rows):
        response = signed_in(client, cast.manager_a).get(reverse("activity_list"), {"rep": cast.rep_b1.pk})
        # Refused like a rep that does not exist (400 on the filter), and nothing of theirs listed.
        assert response.status_code == 400
        assert response.context["page"] is None
        assert response.context["filter_form"].has_error("rep")
        assert "Outcome of rep_b1" not in response.content.decode()

    def test_an_admin_sees_everyones_activities(self, client, cast, rows):
        response = signed_in(client, cast.admin).get(reverse("activity_list"))
        assert {a.pk for a in response.context["page"]} == {
            rows.activity_a1.pk,
            rows.activity_a2.pk,
            rows.activity_b1.pk,
        }

    def test_it_renders_in_the_same_number_of_queries_for_more_rows(
        self, client, cast, django_assert_max_num_queries
    ):
        deal = open_deal(cast.rep_a1, account=AccountFactory())
        signed_in(client, cast.admin)

        def queries_for(count):
            for _ in range(count):
                log(cast.rep_a1, deal=deal, outcome="x")
                log(cast.rep_b1, outcome="y")
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as ctx:
                assert client.get(reverse("activity_list")).status_code == 200
            return len(ctx.captured_queries)

        assert queries_for(2) == queries_for(10)


# --- deals ------------------------------------------------------------------


class TestDealJourney:
    def test_it_opens_a_deal_in_the_first_stage_and_records_it(self, client, cast):
        account, product = AccountFactory(name="Globex"), ProductFactory(name="Widget")
        signed_in(client, cast.rep_a1.user)
        form = client.get(reverse("deal_create")).context["form"]
        assert form.initial["opened_on"] == timezone.localdate()

        response = client.post(reverse("deal_create"), deal_post(account=account.pk, product=product.pk))
        deal = Deal.objects.get()
        assert response["Location"] == reverse("deal_detail", args=[deal.pk])
        assert (deal.owner, deal.stage.name, deal.amount) == (cast.rep_a1, "Lead", Decimal("2500.00"))
        assert (deal.account, deal.product, deal.revenue_type) == (account, product, "recurring")
        change = DealStageChange.objects.get(deal=deal)
        assert (change.from_stage, change.to_stage.name, change.by) == (None, "Lead", cast.rep_a1.user)

    def test_it_moves_a_deal_through_the_stages_and_wins_it(self, client, cast):
        deal = open_deal(cast.rep_a1, amount="1000.00")
        user = cast.rep_a1.user
        signed_in(client, user)
        move = reverse("deal_move", args=[deal.pk])

        assert client.post(move, {"to_stage": stage("MQL").pk}).status_code == 302
        assert client.post(move, {"to_stage": stage("Proposal").pk}).status_code == 302

        page = client.get(move, {"to": stage("Won").pk})
        assert page.status_code == 200
        content = page.content.decode()
        assert "data-closing-fields hidden" not in content
        assert page.context["form"].initial["amount"] == Decimal("1000.00")
        assert page.context["form"].initial["closed_on"] == timezone.localdate()

        closed_on = timezone.localdate() - timedelta(days=1)
        response = client.post(
            move,
            {
                "to_stage": stage("Won").pk,
                "closed_on": closed_on.isoformat(),
                "amount": "1200.50",
                "confirm": "on",
            },
        )
        assert response.status_code == 302
        deal.refresh_from_db()
        assert (deal.stage.name, deal.closed_on, deal.amount) == ("Won", closed_on, Decimal("1200.50"))

        history = list(DealStageChange.objects.filter(deal=deal).order_by("changed_at", "id"))
        assert [(c.from_stage and c.from_stage.name, c.to_stage.name) for c in history] == [
            (None, "Lead"),
            ("Lead", "MQL"),
            ("MQL", "Proposal"),
            ("Proposal", "Won"),
        ]
        assert {c.by for c in history} == {user}

        detail = client.get(reverse("deal_detail", args=[deal.pk]))
        assert list(detail.context["history"]) == history
        assert "Ana One" in detail.content.decode()

    def test_a_move_to_an_open_stage_hides_the_closing_fields(self, client, cast):
        deal = open_deal(cast.rep_a1)
        page = signed_in(client, cast.rep_a1.user).get(
            reverse("deal_move", args=[deal.pk]), {"to": stage("SQL").pk}
        )
        assert "data-closing-fields hidden" in page.content.decode()

    def test_it_will_not_win_without_the_confirmation(self, client, cast):
        deal = open_deal(cast.rep_a1)
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("deal_move", args=[deal.pk]),
            {"to_stage": stage("Won").pk, "closed_on": timezone.localdate().isoformat(), "amount": "1000"},
        )
        assert response.status_code == 200
        assert list(response.context["form"].errors) == ["confirm"]
        deal.refresh_from_db()
        assert deal.stage.name == "Lead" and deal.closed_on is None
        assert DealStageChange.objects.filter(deal=deal).count() == 1

    def test_it_requires_date_and_amount_to_lose(self, client, cast):
        deal = open_deal(cast.rep_a1)
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("deal_move", args=[deal.pk]), {"to_stage": stage("Lost").pk, "confirm": "on"}
        )
        assert set(response.context["form"].errors) == {"closed_on", "amount"}
        assert Deal.objects.get(pk=deal.pk).stage.name == "Lead"

    def test_it_rejects_closing_before_opening(self, client, cast):
        deal = open_deal(cast.rep_a1)
        before = deal.opened_on - timedelta(days=1)
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("deal_move", args=[deal.pk]),
            {"to_stage": stage("Won").pk, "closed_on": before.isoformat(), "amount": "1000", "confirm": "on"},
        )
        assert response.status_code == 200
        assert "before it was opened" in " ".join(response.context["form"].errors["closed_on"])
        deal.refresh_from_db()
        assert (deal.stage.name, deal.closed_on) == ("Lead", None)
        assert DealStageChange.objects.filter(deal=deal).count() == 1

    def test_it_rejects_a_negative_final_amount(self, client, cast):
        deal = open_deal(cast.rep_a1, amount="1000.00")
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("deal_move", args=[deal.pk]),
            {"to_stage": stage("Won").pk, "closed_on": timezone.localdate(), "amount": "-5", "confirm": "on"},
        )
        assert "amount" in response.context["form"].errors
        deal.refresh_from_db()
        assert (deal.stage.name, deal.amount) == ("Lead", Decimal("1000.00"))

    def test_a_closed_deal_is_reopened_only_through_the_move_page(self, client, cast):
        deal = open_deal(cast.rep_a1)
        services.deal_move_stage(deal=deal, to_stage=stage("Lost"), by=cast.rep_a1.user)
        signed_in(client, cast.rep_a1.user)
        detail = client.get(reverse("deal_detail", args=[deal.pk])).content.decode()
        move = reverse("deal_move", args=[deal.pk])
        assert f'href="{move}?to={stage("SQL").pk}"' in detail
        assert f'action="{move}"' not in detail  # no one-click move out of a closed stage

        assert "reopens it" in client.get(move, {"to": stage("SQL").pk}).content.decode()
        assert client.post(move, {"to_stage": stage("SQL").pk}).status_code == 302
        deal.refresh_from_db()
        assert (deal.stage.name, deal.closed_on) == ("SQL", None)

    def test_it_edits_a_deal(self, client, cast):
        deal = open_deal(cast.rep_a1, name="Old name")
        signed_in(client, cast.rep_a1.user)
        assert client.get(reverse("deal_edit", args=[deal.pk])).context["form"].initial["name"] == "Old name"
        response = client.post(
            reverse("deal_edit", args=[deal.pk]),
            deal_post(name="New name", amount="3000", opened_on=deal.opened_on.isoformat()),
        )
        assert response.status_code == 302
        deal.refresh_from_db()
        assert (deal.name, deal.amount, deal.stage.name) == ("New name", Decimal("3000.00"), "Lead")

    def test_it_asks_before_deleting_a_deal_then_deletes_it_but_keeps_its_activities(self, client, cast):
        deal = open_deal(cast.rep_a1)
        activity = log(cast.rep_a1, deal=deal)
        signed_in(client, cast.rep_a1.user)
        assert client.get(reverse("deal_delete", args=[deal.pk])).status_code == 200
        assert Deal.objects.filter(pk=deal.pk).exists()
        assert client.post(reverse("deal_delete", args=[deal.pk]))["Location"] == reverse("deal_list")
        assert not Deal.objects.filter(pk=deal.pk).exists()
        activity.refresh_from_db()
        assert activity.deal is None

    def test_the_owner_gets_a_button_for_every_other_stage(self, client, cast):
        deal = open_deal(cast.rep_a1)
        response = signed_in(client, cast.rep_a1.user).get(reverse("deal_detail", args=[deal.pk]))
        assert {s.name for s in response.context["other_stages"]} == {
            "MQL",
            "SQL",
            "Proposal",
            "Negotiation",
            "Won",
            "Lost",
        }
        content = response.content.decode()
        assert f'href="{reverse("deal_move", args=[deal.pk])}?to={stage("Won").pk}"' in content
        assert f'href="{reverse("deal_edit", args=[deal.pk])}"' in content


class TestDealErrors:
    def test_it_rejects_a_negative_amount(self, client, cast):
        response = signed_in(client, cast.rep_a1.user).post(reverse("deal_create"), deal_post(amount="-1"))
        assert response.status_code == 200
        assert list(response.context["form"].errors) == ["amount"]
        assert not Deal.objects.exists() and not DealStageChange.objects.exists()

    def test_it_rejects_an_expected_close_before_opening(self, client, cast):
        today = timezone.localdate()
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("deal_create"),
            deal_post(opened_on=today.isoformat(), expected_close_on=(today - timedelta(days=5)).isoformat()),
        )
        assert list(response.context["form"].errors) == ["expected_close_on"]
        assert not Deal.objects.exists()

    def test_it_rejects_an_opening_date_far_in_the_future(self, client, cast):
        far = timezone.localdate() + timedelta(days=60)
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("deal_create"),
            deal_post(opened_on=far.isoformat(), expected_close_on=(far + timedelta(days=5)).isoformat()),
        )
        assert "too far in the future" in " ".join(response.context["form"].errors["opened_on"])
        assert not Deal.objects.exists()

    def test_it_reports_every_bad_field_at_once(self, client, cast):
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("deal_create"), deal_post(name="", amount="abc", opened_on="31/31/2026")
        )
        assert {"name", "amount", "opened_on"} <= set(response.context["form"].errors)
        assert not Deal.objects.exists()

    def test_a_rejected_edit_changes_nothing(self, client, cast):
        deal = open_deal(cast.rep_a1, name="Keep", amount="10.00")
        response = signed_in(client, cast.rep_a1.user).post(
            reverse("deal_edit", args=[deal.pk]), deal_post(name="Changed", amount="-10")
        )
        assert "amount" in response.context["form"].errors
        deal.refresh_from_db()
        assert (deal.name, deal.amount) == ("Keep", Decimal("10.00"))


class TestDealList:
    def test_it_filters_by_status_stage_dates_and_text(self, client, cast):
        rep = cast.rep_a1
        today = timezone.localdate()
        acme = open_deal(rep, name="Printers", account=AccountFactory(name="Acme Corp"))
        old = open_deal(rep, name="Old servers", opened_on=today - timedelta(days=90))
        won = open_deal(rep, name="Laptops")
        services.deal_move_stage(deal=won, to_stage=stage("Won"), by=rep.user)
        services.deal_move_stage(deal=old, to_stage=stage("SQL"), by=rep.user)
        signed_in(client, rep.user)

        def names(**params):
            return {d.name for d in client.get(reverse("deal_list"), params).context["page"]}

        assert names() == {"Printers", "Old servers", "Laptops"}
        assert names(status="won") == {"Laptops"}
        assert names(status="open") == {"Printers", "Old servers"}
        assert names(stage=stage("SQL").pk) == {"Old servers"}
        assert names(q="acme") == {"Printers"}
        assert names(q="SERV") == {"Old servers"}
        assert names(opened_from=(today - timedelta(days=30)).isoformat()) == {"Printers", "Laptops"}
        assert names(opened_to=(today - timedelta(days=30)).isoformat()) == {"Old servers"}
        assert acme.pk  # the account search matched through the deal's account

    def test_a_rep_sees_only_own_deals_and_no_rep_filter(self, client, cast, rows):
        response = signed_in(client, cast.rep_a1.user).get(reverse("deal_list"))
        assert [d.pk for d in response.context["page"]] == [rows.deal_a1.pk]
        assert "rep" not in response.context["filter_form"].fields

    def test_a_manager_sees_the_team_deals_and_filters_by_rep(self, client, cast, rows):
        signed_in(client, cast.manager_a)
        everyone = client.get(reverse("deal_list"))
        assert {d.pk for d in everyone.context["page"]} == {rows.deal_a1.pk, rows.deal_a2.pk}
        one = client.get(reverse("deal_list"), {"rep": cast.rep_a1.pk})
        assert [d.pk for d in one.context["page"]] == [rows.deal_a1.pk]

    def test_it_formats_money_for_the_list(self, client, cast):
        open_deal(cast.rep_a1, amount="1234567.50")
        content = signed_in(client, cast.rep_a1.user).get(reverse("deal_list")).content.decode()
        assert "1,234,567.50 USD" in content

    def test_it_renders_in_the_same_number_of_queries_for_more_rows(self, client, cast):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        signed_in(client, cast.admin)

        def queries_for(count):
            for i in range(count):
                open_deal(
                    cast.rep_a2, name=f"A{count}-{i}", account=AccountFactory(), product=ProductFactory()
                )
                open_deal(cast.rep_b1, name=f"B{count}-{i}")
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(reverse("deal_list")).status_code == 200
            return len(ctx.captured_queries)

        assert queries_for(2) == queries_for(8)


# --- access: URL tampering --------------------------------------------------


EDIT_URLS = ["activity_edit", "activity_delete", "deal_edit", "deal_move", "deal_delete"]


def _url(name, rows, who):
    row = getattr(rows, f"{'deal' if name.startswith('deal') else 'activity'}_{who}")
    return reverse(name, args=[row.pk])


class TestTampering:
    @pytest.mark.parametrize("name", [*EDIT_URLS, "deal_detail"])
    @pytest.mark.parametrize("other", ["a2", "b1"])
    def test_a_rep_cannot_reach_another_reps_rows(self, client, cast, rows, name, other):
        signed_in(client, cast.rep_a1.user)
        assert client.get(_url(name, rows, other)).status_code == 404

    @pytest.mark.parametrize("other", ["a2", "b1"])
    def test_a_rep_cannot_change_another_reps_rows_by_post(self, client, cast, rows, other):
        signed_in(client, cast.rep_a1.user)
        activity = getattr(rows, f"activity_{other}")
        deal = getattr(rows, f"deal_{other}")
        assert client.post(reverse("activity_delete", args=[activity.pk])).status_code == 404
        assert (
            client.post(
                reverse("activity_edit", args=[activity.pk]), activity_post(outcome="hacked")
            ).status_code
            == 404
        )
        assert (
            client.post(reverse("deal_move", args=[deal.pk]), {"to_stage": stage("MQL").pk}).status_code
            == 404
        )
        assert client.post(reverse("deal_edit", args=[deal.pk]), deal_post(name="hacked")).status_code == 404
        assert client.post(reverse("deal_delete", args=[deal.pk])).status_code == 404
        activity.refresh_from_db()
        deal.refresh_from_db()
        assert activity.outcome == f"Outcome of rep_{other}"
        assert (deal.name, deal.stage.name) == (f"Deal of rep_{other}", "Lead")

    def test_a_rep_can_reach_their_own_rows(self, client, cast, rows):
        signed_in(client, cast.rep_a1.user)
        for name in [*EDIT_URLS, "deal_detail"]:
            assert client.get(_url(name, rows, "a1")).status_code == 200, name

    def test_a_manager_sees_team_a_rows_read_only(self, client, cast, rows):
        signed_in(client, cast.manager_a)
        response = client.get(reverse("deal_detail", args=[rows.deal_a1.pk]))
        assert response.status_code == 200
        content = response.content.decode()
        assert reverse("deal_edit", args=[rows.deal_a1.pk]) not in content
        assert reverse("deal_move", args=[rows.deal_a1.pk]) not in content
        assert reverse("deal_delete", args=[rows.deal_a1.pk]) not in content
        assert reverse("activity_edit", args=[rows.activity_a1.pk]) not in content

    @pytest.mark.parametrize("name", EDIT_URLS)
    def test_a_manager_cannot_change_any_row(self, client, cast, rows, name):
        signed_in(client, cast.manager_a)
        assert client.get(_url(name, rows, "a1")).status_code == 404
        assert client.post(_url(name, rows, "a1"), {"to_stage": stage("Lost").pk}).status_code == 404
        assert Activity.objects.filter(pk=rows.activity_a1.pk).exists()
        assert Deal.objects.get(pk=rows.deal_a1.pk).stage.name == "Lead"

    def test_a_manager_cannot_see_another_teams_rows(self, client, cast, rows):
        signed_in(client, cast.manager_a)
        assert client.get(reverse("deal_detail", args=[rows.deal_b1.pk])).status_code == 404
        assert rows.deal_b1.pk not in {d.pk for d in client.get(reverse("deal_list")).context["page"]}

    def test_an_admin_sees_every_deal_but_edits_none_in_the_forms(self, client, cast, rows):
        signed_in(client, cast.admin)
        for deal in (rows.deal_a1, rows.deal_a2, rows.deal_b1):
            assert client.get(reverse("deal_detail", args=[deal.pk])).status_code == 200
        assert {d.pk for d in client.get(reverse("deal_list")).context["page"]} == {
            rows.deal_a1.pk,
            rows.deal_a2.pk,
            rows.deal_b1.pk,
        }
        assert client.get(_url("deal_edit", rows, "b1")).status_code == 404

    @pytest.mark.parametrize("persona", ["manager_a", "admin"])
    @pytest.mark.parametrize("name", ["activity_create", "deal_create"])
    def test_a_user_without_a_rep_profile_cannot_log(self, client, cast, persona, name):
        signed_in(client, getattr(cast, persona))
        for response in (
            client.get(reverse(name)),
            client.post(reverse(name), deal_post() | activity_post()),
        ):
            assert response.status_code == 403
            assert "no rep profile" in response.content.decode()
        assert not Activity.objects.exists() and not Deal.objects.exists()

    def test_an_unknown_id_is_not_found(self, client, cast):
        signed_in(client, cast.rep_a1.user)
        assert client.get(reverse("deal_detail", args=[999999])).status_code == 404
        assert client.get(reverse("activity_edit", args=[999999])).status_code == 404


def test_a_manager_sees_whose_deal_each_row_is(client, cast):
    services.deal_open(owner=cast.rep_a2, name="Row owner check", amount=Decimal("10"), by=cast.rep_a2.user)
    client.force_login(cast.manager_a)
    content = client.get(reverse("deal_list")).content.decode()
    assert '<th scope="col">Rep</th>' in content
    assert str(cast.rep_a2) in content
    client.force_login(cast.rep_a2.user)
    assert '<th scope="col">Rep</th>' not in client.get(reverse("deal_list")).content.decode()
