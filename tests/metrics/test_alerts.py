"""Alerts (metrics.alerts): behind pace, inactive reps, funnel leaks; access scoping and query budget.

Raw rows are written through activities.services, the summary tables filled by the engine
(metrics.jobs.run_sync), and the expected alerts computed here from the raw rows (deals,
quotas, activities) or by the independent oracle (tests/oracle.py), never read back from
the summary tables.
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext

from activities import access, services
from activities.models import Activity, ActivityType, Deal, Rep, Stage, Team
from metrics import jobs
from metrics.alerts import BEHIND_PACE, HIGH, INACTIVE, LEAKAGE, MEDIUM, alerts_for
from metrics.models import MetricRun, Quota
from metrics.periods import Period, PeriodKind
from metrics.services import quota_set
from tests import oracle
from tests.factories import RepFactory, UserFactory

TZ = "Europe/Berlin"
# A Tuesday: with 3 working days the inactivity window is Thursday, Friday and Monday,
# so the weekend lies inside it.
TODAY = date(2026, 6, 16)
MONTH = Period.containing(TODAY, PeriodKind.MONTH)


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = TZ
    settings.SALESTRACK_INACTIVE_WORKING_DAYS = 3


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=ZoneInfo(TZ))


def log_call(rep, day: date):
    return services.activity_log(
        rep=rep, type=ActivityType.objects.get(name="Call"), occurred_at=at_noon(day), duration_minutes=10
    )


def win(rep, amount: str, closed_on: date, opened_on: date | None = None):
    return services.deal_open(
        owner=rep,
        name="Won deal",
        amount=Decimal(amount),
        opened_on=opened_on or closed_on,
        stage=Stage.objects.get(name="Won"),
        closed_on=closed_on,
    )


def lose(rep, amount: str, closed_on: date):
    return services.deal_open(
        owner=rep,
        name="Lost deal",
        amount=Decimal(amount),
        opened_on=closed_on,
        stage=Stage.objects.get(name="Lost"),
        closed_on=closed_on,
    )


def compute(first: date = date(2026, 4, 1), last: date = TODAY):
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=days, clear_marks=True)


def of_kind(alerts, kind):
    return [alert for alert in alerts if alert.kind == kind]


def everything():
    return {"reps": Rep.objects.all(), "teams": Team.objects.all()}


# --- behind pace -----------------------------------------------------------------------


def expected_paces(today: date) -> dict[int, float]:
    """Pace of every active rep with a month quota, from the raw deals and quota rows."""
    month_start = today.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    share = ((today - month_start).days + 1) / (next_month - month_start).days
    paces = {}
    for quota in Quota.objects.filter(rep__isnull=False, period_kind="month", period_start=month_start):
        if not quota.rep.is_active or quota.amount == 0:
            continue
        revenue = sum(
            (
                deal.amount
                for deal in Deal.objects.filter(owner=quota.rep, stage__kind=Stage.Kind.WON)
                if deal.closed_on and month_start <= deal.closed_on <= today
            ),
            Decimal("0"),
        )
        paces[quota.rep_id] = float(revenue / quota.amount) / share
    return paces


@pytest.fixture
def pace_data(cast):
    """June 2026, 16 of 30 days gone: a1 ahead, a2 far behind, b1 a little behind."""
    for rep in (cast.rep_a1, cast.rep_a2, cast.rep_b1):
        quota_set(rep=rep, period=MONTH, amount=Decimal("10000"), by=cast.admin)
    win(cast.rep_a1, "8000", date(2026, 6, 5), opened_on=date(2026, 5, 20))
    win(cast.rep_a2, "1500", date(2026, 6, 2), opened_on=date(2026, 5, 20))
    win(cast.rep_a2, "500", date(2026, 5, 29), opened_on=date(2026, 5, 20))  # May: does not count
    lose(cast.rep_a2, "9000", date(2026, 6, 3))  # lost: does not count
    win(cast.rep_b1, "5000", date(2026, 6, 10), opened_on=date(2026, 5, 20))
    no_quota = RepFactory(team=cast.team_a, user__first_name="Nora", user__last_name="Noquota")
    gone = RepFactory(team=cast.team_a, user__first_name="Gil", user__last_name="Gone")
    quota_set(rep=gone, period=MONTH, amount=Decimal("10000"), by=cast.admin)
    Rep.objects.filter(pk=gone.pk).update(is_active=False)
    compute()
    return {"no_quota": no_quota, "gone": gone}


class BehindPaceTests:
    def test_it_flags_exactly_the_reps_below_pace_worst_first(self, cast, pace_data):
        paces = expected_paces(TODAY)
        behind = sorted((pace, rep_id) for rep_id, pace in paces.items() if pace < 1)
        assert [rep_id for _, rep_id in behind] == [cast.rep_a2.pk, cast.rep_b1.pk]

        alerts = of_kind(alerts_for(**everything(), today=TODAY), BEHIND_PACE)

        assert [alert.rep_id for alert in alerts] == [rep_id for _, rep_id in behind]
        for alert, (pace, _rep_id) in zip(alerts, behind, strict=True):
            assert alert.value == pytest.approx(pace)

    def test_reps_without_quota_and_inactive_reps_are_never_behind_pace(self, cast, pace_data):
        flagged = {alert.rep_id for alert in of_kind(alerts_for(**everything(), today=TODAY), BEHIND_PACE)}
        assert pace_data["no_quota"].pk not in flagged
        assert pace_data["gone"].pk not in flagged

    def test_the_message_gives_attainment_and_pace_and_links_the_rep_dashboard(self, cast, pace_data):
        alert = of_kind(alerts_for(**everything(), today=TODAY), BEHIND_PACE)[0]
        # a2: 1500 / 10000 = 15 % of quota; 16 of 30 days gone; pace 15 / (16/30) = 28 %.
        assert alert.subject == "Ari Two"
        assert "15 %" in alert.message and "28 %" in alert.message and "53 %" in alert.message
        assert alert.url == f"/dashboard/rep/{cast.rep_a2.pk}/"
        assert alert.team_id == cast.team_a.pk
        assert alert.severity == HIGH
        b1 = of_kind(alerts_for(**everything(), today=TODAY), BEHIND_PACE)[1]
        assert b1.severity == MEDIUM

    def test_later_in_the_month_the_same_revenue_is_further_behind(self, cast, pace_data):
        # On June 30 the whole month is gone: a1's 8000 of 10000 is now behind too.
        late = of_kind(alerts_for(**everything(), today=date(2026, 6, 30)), BEHIND_PACE)
        assert {a.rep_id for a in late} == {
            rep_id for rep_id, pace in expected_paces(date(2026, 6, 30)).items() if pace < 1
        }
        assert cast.rep_a1.pk in {a.rep_id for a in late}

    def test_a_manager_sees_only_their_teams_reps(self, cast, pace_data):
        viewer = cast.manager_a
        alerts = alerts_for(reps=access.visible_reps(viewer), teams=access.visible_teams(viewer), today=TODAY)
        assert {a.rep_id for a in of_kind(alerts, BEHIND_PACE)} == {cast.rep_a2.pk}
        assert all(a.team_id == cast.team_a.pk for a in alerts)


# --- inactive --------------------------------------------------------------------------


def expected_inactive(today: date, working_days: int) -> set[int]:
    """Active reps, hired before the window, with no activity from the window's start to today."""
    window = pd.bdate_range(end=today - timedelta(days=1), periods=working_days)
    first = window[0].date()
    zone = ZoneInfo(TZ)
    last_seen: dict[int, date] = {}
    for rep_id, moment in Activity.objects.values_list("rep_id", "occurred_at"):
        day = moment.astimezone(zone).date()
        if day <= today:
            last_seen[rep_id] = max(day, last_seen.get(rep_id, day))
    return {
        rep.pk
        for rep in Rep.objects.filter(is_active=True)
        if (rep.hired_on is None or rep.hired_on < first)
        and (rep.pk not in last_seen or last_seen[rep.pk] < first)
    }


@pytest.fixture
def activity_data(cast):
    """Tuesday June 16; with 3 working days the window is Thu 11, Fri 12, (weekend), Mon 15."""
    log_call(cast.rep_a1, date(2026, 6, 12))  # Friday, in the window: active
    log_call(cast.rep_a2, date(2026, 6, 10))  # Wednesday, just before the window: inactive
    log_call(cast.rep_b1, date(2026, 6, 13))  # Saturday, inside the window: active
    reps = {
        "new": RepFactory(team=cast.team_a, hired_on=date(2026, 6, 11)),  # hired in the window
        "never": RepFactory(team=cast.team_a, hired_on=date(2025, 1, 6)),  # nothing, ever
        "today_only": RepFactory(team=cast.team_b),  # logs today: not inactive
        "long_ago": RepFactory(team=cast.team_b),  # logged weeks ago
        "gone": RepFactory(team=cast.team_a, is_active=False),
    }
    log_call(reps["today_only"], TODAY)
    log_call(reps["long_ago"], date(2026, 5, 4))
    compute()
    return reps


class InactiveTests:
    def test_it_flags_reps_with_no_activity_in_the_last_working_days(self, cast, activity_data):
        expected = expected_inactive(TODAY, 3)
        assert expected == {cast.rep_a2.pk, activity_data["never"].pk, activity_data["long_ago"].pk}

        alerts = of_kind(alerts_for(**everything(), today=TODAY), INACTIVE)

        assert {alert.rep_id for alert in alerts} == expected
        # Never logged first, then the oldest last activity.
        assert [alert.rep_id for alert in alerts] == [
            activity_data["never"].pk,
            activity_data["long_ago"].pk,
            cast.rep_a2.pk,
        ]

    def test_it_says_since_when(self, cast, activity_data):
        by_rep = {a.rep_id: a for a in of_kind(alerts_for(**everything(), today=TODAY), INACTIVE)}
        a2 = by_rep[cast.rep_a2.pk]
        assert a2.value == date(2026, 6, 10)
        assert "June 10, 2026" in a2.message
        assert a2.severity == MEDIUM
        never = by_rep[activity_data["never"].pk]
        assert never.value is None
        assert "no activity logged yet" in never.message
        assert never.severity == HIGH
        assert by_rep[activity_data["long_ago"].pk].severity == HIGH
        assert a2.url == f"/dashboard/rep/{cast.rep_a2.pk}/"

    def test_on_a_monday_with_one_working_day_the_window_is_friday(self, cast, activity_data, settings):
        settings.SALESTRACK_INACTIVE_WORKING_DAYS = 1
        monday = date(2026, 6, 15)
        expected = expected_inactive(monday, 1)
        alerts = of_kind(alerts_for(**everything(), today=monday), INACTIVE)
        assert {alert.rep_id for alert in alerts} == expected
        # a1 logged on Friday, b1 on Saturday: both fine; a2 (Wednesday) is not.
        assert cast.rep_a1.pk not in expected and cast.rep_b1.pk not in expected
        assert cast.rep_a2.pk in expected

    def test_the_window_grows_with_the_setting(self, cast, activity_data, settings):
        settings.SALESTRACK_INACTIVE_WORKING_DAYS = 10
        alerts = of_kind(alerts_for(**everything(), today=TODAY), INACTIVE)
        assert {alert.rep_id for alert in alerts} == expected_inactive(TODAY, 10)
        assert cast.rep_a2.pk not in {alert.rep_id for alert in alerts}


# --- leakage ---------------------------------------------------------------------------


def funnel_deals(rep, *, opened: int, moves: dict[str, int], by):
    """`opened` deals at Lead in June; then the first moves[stage] of them move on to stage, in order."""
    deals = [
        services.deal_open(owner=rep, name=f"Lead {n}", amount=Decimal("100"), opened_on=date(2026, 6, 2))
        for n in range(opened)
    ]
    for stage_name, count in moves.items():
        stage = Stage.objects.get(name=stage_name)
        closed_on = date(2026, 6, 9) if stage.is_closed else None
        for deal in deals[:count]:
            services.deal_move_stage(deal=deal, to_stage=stage, by=by, closed_on=closed_on)
            deal.refresh_from_db()


@pytest.fixture
def funnel_data(cast):
    # Team A: 10 leads, 8 qualified, 2 reached SQL: MQL leaks 75 %; SQL leaks 100 % but only 2 reached it.
    funnel_deals(cast.rep_a1, opened=10, moves={"MQL": 8, "SQL": 2}, by=cast.rep_a1.user)
    # Team B: 6 leads, 5 all the way to Won: nothing leaks 50 % or more.
    funnel_deals(cast.rep_b1, opened=6, moves={"MQL": 5, "SQL": 5, "Won": 5}, by=cast.rep_b1.user)
    compute()


def oracle_worst_leaks(min_reached: int) -> dict[int, tuple[int, float]]:
    """Per team: (stage id, leakage) of its worst stage reached by at least `min_reached` deals."""
    funnel = oracle.compute(oracle.load_raw(), MONTH, tz=TZ).funnel
    rows = funnel[(funnel["scope"] == "team") & (funnel["reached"] >= min_reached)].dropna(subset=["leakage"])
    worst = {}
    for record in rows.to_dict("records"):
        team_id, leakage = int(record["scope_id"]), float(record["leakage"])
        if team_id not in worst or leakage > worst[team_id][1]:
            worst[team_id] = (int(record["stage_id"]), leakage)
    return worst


class LeakageTests:
    def test_it_names_the_stage_where_a_team_leaks_most(self, cast, funnel_data):
        worst = oracle_worst_leaks(min_reached=5)
        mql = Stage.objects.get(name="MQL")
        assert worst[cast.team_a.pk] == (mql.pk, pytest.approx(0.75))
        assert worst[cast.team_b.pk][1] < 0.5

        alerts = of_kind(alerts_for(**everything(), today=TODAY), LEAKAGE)

        assert [alert.team_id for alert in alerts] == [cast.team_a.pk]
        alert = alerts[0]
        assert alert.value == pytest.approx(worst[cast.team_a.pk][1])
        assert "MQL" in alert.message and "75 %" in alert.message and "Team A" in alert.message
        assert alert.url == f"/dashboard/team/{cast.team_a.pk}/#funnel"
        assert alert.subject == "Team A"

    def test_stages_few_deals_reached_do_not_alarm(self, cast, funnel_data):
        # SQL of team A leaks 100 % but only 2 deals reached it: the alert names MQL.
        alert = of_kind(alerts_for(**everything(), today=TODAY), LEAKAGE)[0]
        assert "SQL" not in alert.message.replace("MQL", "")

    def test_only_the_teams_passed_in_are_looked_at(self, cast, funnel_data):
        alerts = alerts_for(
            reps=Rep.objects.none(), teams=Team.objects.filter(pk=cast.team_b.pk), today=TODAY
        )
        assert alerts == []

    def test_at_most_three_teams_worst_first(self, cast, funnel_data):
        for n, qualified in enumerate((4, 1, 3, 2)):
            rep = RepFactory(team__name=f"Leaky {n}")
            funnel_deals(rep, opened=10, moves={"MQL": qualified}, by=rep.user)
        compute()
        alerts = of_kind(alerts_for(**everything(), today=TODAY), LEAKAGE)
        # Lead leaks 60 %, 90 %, 70 %, 80 % in the new teams; team A leaks 75 % at MQL.
        assert [alert.subject for alert in alerts] == ["Leaky 1", "Leaky 3", "Team A"]
        assert [alert.severity for alert in alerts] == [HIGH, HIGH, MEDIUM]


# --- everything together -----------------------------------------------------------------


def test_nothing_computed_means_no_alerts_but_inactivity(cast):
    alerts = alerts_for(**everything(), today=TODAY)
    assert {alert.kind for alert in alerts} == {INACTIVE}


def test_alerts_come_grouped_by_kind(cast, pace_data, funnel_data):
    kinds = [alert.kind for alert in alerts_for(**everything(), today=TODAY)]
    assert kinds == sorted(kinds, key=[BEHIND_PACE, INACTIVE, LEAKAGE].index)
    assert set(kinds) == {BEHIND_PACE, INACTIVE, LEAKAGE}


def _org(reps_per_team: int, teams: int, quota_by) -> None:
    for t in range(teams):
        team = Team.objects.create(name=f"Budget team {reps_per_team}-{t}")
        for r in range(reps_per_team):
            rep = RepFactory(team=team, user=UserFactory(username=f"budget-{reps_per_team}-{t}-{r}"))
            quota_set(rep=rep, period=MONTH, amount=Decimal("1000"), by=quota_by)
            if r % 2:
                log_call(rep, date(2026, 6, 1))  # inactive by the 16th
            if r % 3 == 0:
                win(rep, "100", date(2026, 6, 3))
        funnel_deals(team.reps.first(), opened=6, moves={"MQL": 1}, by=quota_by)


def test_the_query_count_does_not_grow_with_the_number_of_reps(cast, django_assert_max_num_queries):
    counts = []
    for size in (3, 9):
        _org(size, 2, cast.admin)
        compute()
        with CaptureQueriesContext(connection) as queries:
            alerts = alerts_for(**everything(), today=TODAY)
        assert {alert.kind for alert in alerts} == {BEHIND_PACE, INACTIVE, LEAKAGE}
        counts.append(len(queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(3):
        alerts_for(**everything(), today=TODAY)


# --- the dashboard include -------------------------------------------------------------


def test_the_include_lists_alerts_by_kind_with_links(cast, pace_data, activity_data):
    alerts = alerts_for(**everything(), today=TODAY)
    html = render_to_string("metrics/includes/alerts.html", {"alerts": alerts})
    assert html.index("Behind pace") < html.index("No activity logged")
    assert f'href="/dashboard/rep/{cast.rep_a2.pk}/"' in html
    assert "Ari Two" in html
    assert "No alerts" not in html


def test_the_include_has_an_empty_state():
    html = render_to_string("metrics/includes/alerts.html", {"alerts": []})
    assert "No alerts: everyone is on pace and active." in html


def test_a_limit_keeps_the_worst_of_each_kind_and_counts_them_all(cast, pace_data, activity_data):
    everyone = alerts_for(**everything(), today=TODAY)
    limited = alerts_for(**everything(), today=TODAY, limit=1)
    for kind in (BEHIND_PACE, INACTIVE):
        full = of_kind(everyone, kind)
        assert len(full) >= 2, kind  # the data has more than the limit of each
        assert [alert.rep_id for alert in of_kind(limited, kind)] == [full[0].rep_id]
        assert limited.totals[kind] == len(full)
        assert limited.more[kind] == len(full) - 1
    html = render_to_string("metrics/includes/alerts.html", {"alerts": limited})
    assert f"and {len(of_kind(everyone, BEHIND_PACE)) - 1} more" in html
