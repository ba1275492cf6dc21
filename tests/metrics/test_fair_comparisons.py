"""Fair comparisons: what a tile compares with, when pace alerts start, ties at zero, the
period alerts follow and what an empty past period says.

Each rule has boundary cases a wrong operator or an off-by-one would fail: the first and
the last day of a period, a month longer than the one before, the last day of the grace
period and the first after it, a rep with nothing in one of the two spans.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from activities.models import Rep, Team
from leaderboards.selectors import leaderboard_page_for
from metrics import dashboard as data
from metrics.alerts import BEHIND_PACE, INACTIVE, LEAKAGE, alerts_for
from metrics.models import Scope
from metrics.periods import Period, PeriodKind
from metrics.services import quota_set
from metrics.spans import Span
from tests.metrics.test_alerts import berlin, compute, log_call, lose, of_kind, win  # noqa: F401

JUNE = Span.of_period(Period(date(2026, 6, 1), PeriodKind.MONTH))
MAY = JUNE.previous()


# --- what a tile compares with ---------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "today", "first", "last"),
    [
        # Under way: the same stretch of the period before.
        (JUNE, date(2026, 6, 1), date(2026, 5, 1), date(2026, 5, 1)),
        (JUNE, date(2026, 6, 2), date(2026, 5, 1), date(2026, 5, 2)),
        (JUNE, date(2026, 6, 29), date(2026, 5, 1), date(2026, 5, 29)),
        # The last day: the period is whole, so is the one before.
        (JUNE, date(2026, 6, 30), date(2026, 5, 1), date(2026, 5, 31)),
        # Over, or not begun: the whole period before.
        (JUNE, date(2026, 7, 15), date(2026, 5, 1), date(2026, 5, 31)),
        (JUNE, date(2026, 5, 20), date(2026, 5, 1), date(2026, 5, 31)),
        # A longer month than the one before: the stretch stops at the end of that month.
        (Span.parse("2026-03"), date(2026, 3, 29), date(2026, 2, 1), date(2026, 2, 28)),
        (Span.parse("2026-03"), date(2026, 3, 28), date(2026, 2, 1), date(2026, 2, 28)),
        (Span.parse("2026-03"), date(2026, 3, 27), date(2026, 2, 1), date(2026, 2, 27)),
        # A quarter and an ISO week under way.
        (Span.parse("2026-Q3"), date(2026, 8, 15), date(2026, 4, 1), date(2026, 5, 16)),
        (Span.parse("2026-W24"), date(2026, 6, 10), date(2026, 6, 1), date(2026, 6, 3)),
        # A single day has no stretch: the day before.
        (Span.parse("2026-06-10"), date(2026, 6, 10), date(2026, 6, 9), date(2026, 6, 9)),
    ],
)
def test_the_comparison_is_the_same_stretch_of_the_span_before(span, today, first, last):
    compared = data.comparison_span(span, today)
    assert (compared.first, compared.last) == (first, last)


def test_the_comparison_is_named_by_its_days_or_by_its_period():
    assert data.comparison_label(JUNE, data.comparison_span(JUNE, date(2026, 6, 2))) == "May 1 – May 2"
    assert data.comparison_label(JUNE, data.comparison_span(JUNE, date(2026, 6, 1))) == "May 1"
    assert data.comparison_label(JUNE, data.comparison_span(JUNE, date(2026, 7, 1))) == "May 2026"


@pytest.fixture
def early_june(cast):
    """Ana One on 2 June: 2,000 won on 1 June; in May 1,000 on the 2nd and 6,000 on the 3rd."""
    rep = cast.rep_a1
    for period, amount in ((Period(JUNE.first, PeriodKind.MONTH), "10000"), (MAY.period, "8000")):
        quota_set(rep=rep, period=period, amount=Decimal(amount), by=cast.admin)
    win(rep, "2000", date(2026, 6, 1))
    win(rep, "1000", date(2026, 5, 2))  # the stretch's last day: counts
    win(rep, "6000", date(2026, 5, 3))  # the day after it: does not
    lose(rep, "500", date(2026, 5, 1))
    log_call(rep, date(2026, 5, 2))
    log_call(rep, date(2026, 5, 3))
    compute(date(2026, 5, 1), date(2026, 6, 2))
    return data.scope_ref(viewer=cast.admin, scope=Scope.REP, scope_id=rep.pk)


def test_early_in_a_month_the_tiles_compare_with_the_same_days_of_the_month_before(early_june):
    today = date(2026, 6, 2)
    current, before, computed = data.figures_pair(early_june, JUNE, today)
    assert computed
    assert current["revenue"] == Decimal("2000.00")
    assert before["revenue"] == Decimal("1000.00")
    assert (before["deals_won"], before["deals_lost"]) == (1, 1)
    assert before["win_rate"] == pytest.approx(0.5)
    assert before["activity_count"] == 1
    # Attainment then: against May's quota; pace then: over the same 2 of May's 31 days.
    assert before["attainment"] == pytest.approx(1000 / 8000)
    tiles = {tile.key: tile for tile in data.tiles(early_june, JUNE, current, before, today)}
    assert tiles["revenue"].delta == pytest.approx(100.0)  # 2,000 against 1,000, not against 7,000
    assert tiles["pace"].previous == pytest.approx((1000 / 8000) / (2 / 31))
    assert tiles["pace"].value == pytest.approx((2000 / 10000) / (2 / 30))
    # What only a whole period has is not compared.
    assert tiles["weighted_pipeline"].previous is None
    assert tiles["weighted_pipeline"].compare_why == "Compared only between whole periods."
    assert tiles["revenue"].compare_why == ""


def test_a_whole_period_is_compared_with_the_whole_period_before(early_june):
    today = date(2026, 7, 10)
    current, before, _computed = data.figures_pair(early_june, JUNE, today)
    assert before["revenue"] == Decimal("7000.00")
    assert before["attainment"] == pytest.approx(7000 / 8000)
    tiles = {tile.key: tile for tile in data.tiles(early_june, JUNE, current, before, today)}
    assert tiles["pace"].previous == pytest.approx(7000 / 8000)
    assert tiles["weighted_pipeline"].compare_why == ""


def dashboard_html(client, viewer, rep, period: str) -> str:
    client.force_login(viewer)
    url = reverse("dashboard_scope", kwargs={"scope": "rep", "scope_id": rep.pk})
    return client.get(url, {"period": period}).content.decode()


def test_the_dashboard_says_what_it_compares_with_and_why_a_figure_is_missing(early_june, client, cast):
    html = dashboard_html(client, cast.admin, cast.rep_a1, "2026-06")
    # Not "today" in the test run: the page compares June as a whole with May as a whole...
    assert "vs May 2026" in html
    # ...and the reason for a "—" stands on the page, not in a tooltip: nothing logged in June.
    assert '<p class="tile-why" data-testid="why">No activity logged in this period.</p>' in html


# --- pace alerts after a grace period ---------------------------------------------------


@pytest.fixture
def slow_june(cast):
    for rep in (cast.rep_a1, cast.rep_a2):
        quota_set(
            rep=rep, period=Period(JUNE.first, PeriodKind.MONTH), amount=Decimal("10000"), by=cast.admin
        )
    win(cast.rep_a1, "9000", date(2026, 6, 1))
    compute(date(2026, 5, 25), date(2026, 6, 10))


def behind(today, **kwargs):
    alerts = alerts_for(reps=Rep.objects.all(), teams=Team.objects.all(), today=today, **kwargs)
    return {alert.rep_id for alert in of_kind(alerts, BEHIND_PACE)}


@pytest.mark.parametrize(
    ("grace", "today", "flagged"), [(5, 5, False), (5, 6, True), (0, 1, True), (1, 1, False)]
)
def test_nobody_is_behind_pace_during_the_grace_period(cast, slow_june, settings, grace, today, flagged):
    settings.SALESTRACK_PACE_GRACE_DAYS = grace
    assert (cast.rep_a2.pk in behind(date(2026, 6, today))) is flagged
    assert cast.rep_a1.pk not in behind(date(2026, 6, today))  # 90 % of quota: ahead


# --- alerts follow the period chosen ------------------------------------------------------


def test_alerts_follow_the_chosen_period(cast, slow_june, settings):
    settings.SALESTRACK_PACE_GRACE_DAYS = 5
    today = date(2026, 7, 3)
    # July has just begun (grace): no pace alert; June, chosen, is over: a2 ended it below quota.
    assert behind(today) == set()
    june = alerts_for(reps=Rep.objects.all(), teams=Team.objects.all(), today=today, span=JUNE)
    a2, a1 = of_kind(june, BEHIND_PACE)  # worst first; a1 ended at 90 %
    assert a2.rep_id == cast.rep_a2.pk and "ended June 2026 at 0 % of quota" in a2.message
    assert a1.rep_id == cast.rep_a1.pk and "90 %" in a1.message
    # Inactivity is about now: not listed under a period that is over.
    assert of_kind(june, INACTIVE) == []
    assert of_kind(alerts_for(reps=Rep.objects.all(), teams=Team.objects.all(), today=today), INACTIVE)
    # A week is read in the month it ends in.
    week = alerts_for(
        reps=Rep.objects.all(), teams=Team.objects.all(), today=today, span=Span.parse("2026-W26")
    )
    assert {alert.rep_id for alert in of_kind(week, BEHIND_PACE)} == {cast.rep_a1.pk, cast.rep_a2.pk}
    # A period not begun has nobody behind.
    august = Span.parse("2026-08")
    assert behind(today, span=august) == set()
    assert (
        of_kind(
            alerts_for(reps=Rep.objects.all(), teams=Team.objects.all(), today=today, span=august), LEAKAGE
        )
        == []
    )


# --- ties at zero ------------------------------------------------------------------------


def test_reps_with_nothing_in_either_period_have_no_movement_and_need_no_push(cast, django_user_model):
    from tests.factories import RepFactory

    extra = [RepFactory(team=cast.team_a) for _ in range(4)]
    ranked = [cast.rep_a1, cast.rep_a2, cast.rep_b1, extra[0]]
    for place, rep in enumerate(ranked):
        win(rep, str(4000 - 1000 * place), date(2026, 6, 3))
    win(extra[1], "500", date(2026, 5, 20))  # nothing now, something before: it moved, and may need a push
    compute(date(2026, 5, 1), date(2026, 6, 10))

    board = leaderboard_page_for(viewer=cast.admin, metric="revenue", span=JUNE, scope=Scope.COMPANY)
    rows = {row.rep_id: row for row in board.rows}
    for idle in extra[2:]:
        assert rows[idle.pk].idle and rows[idle.pk].movement is None
    assert not rows[extra[1].pk].idle
    assert rows[extra[1].pk].movement == 1 - rows[extra[1].pk].rank  # first in May
    # Tied at zero in May behind extra[1], first now: something in one span is enough to move.
    assert rows[cast.rep_a1.pk].movement == 2 - 1
    worst = [row.rep_id for row in board.worst]
    assert extra[1].pk in worst and not {rep.pk for rep in extra[2:]} & set(worst)
    assert worst == [row.rep_id for row in board.rows if not row.idle][3:][-3:]


# --- an empty past period -------------------------------------------------------------------


def test_a_computed_past_period_with_nothing_in_it_says_no_data(cast, client):
    log_call(cast.rep_a1, date(2026, 6, 2))
    compute(date(2026, 6, 1), date(2026, 6, 10))
    html = dashboard_html(client, cast.admin, cast.rep_b1, "2026-04")
    assert "No data in this period." in html
    assert "not been computed yet" not in html
    assert 'data-chart="pace"' not in html  # no empty axes
    # A period with data is drawn as before.
    html = dashboard_html(client, cast.admin, cast.rep_a1, "2026-06")
    assert "No data in this period." not in html and 'data-chart="pace"' in html


# --- goals on the quota tile ------------------------------------------------------------


def test_the_quota_tile_shows_done_to_go_and_what_is_expected_by_today(early_june):
    today = date(2026, 6, 16)  # 16 of 30 days: the pace line expects 10,000 × 16/30
    current, before, _computed = data.figures_pair(early_june, JUNE, today)
    goal = {tile.key: tile for tile in data.tiles(early_june, JUNE, current, before, today)}[
        "attainment"
    ].goal
    assert (goal.done, goal.target, goal.to_go) == (
        Decimal("2000.00"),
        Decimal("10000.00"),
        Decimal("8000.00"),
    )
    assert goal.expected == Decimal("5333.33") and goal.behind
    # On the last day nothing is "expected by today" any more: the period is over.
    last = data.goal_of(current, JUNE, date(2026, 6, 30))
    assert last.expected is None and not last.behind
    # Exactly at quota: nothing to go, not behind; one cent short: behind the line at its end.
    at_quota = data.goal_of({"quota": Decimal("10000"), "revenue": Decimal("10000")}, JUNE, today)
    assert at_quota.to_go == 0 and not at_quota.behind
    short = data.goal_of({"quota": Decimal("10000"), "revenue": Decimal("5333.32")}, JUNE, today)
    assert short.behind and short.to_go == Decimal("4666.68")
    level = data.goal_of({"quota": Decimal("10000"), "revenue": Decimal("5333.33")}, JUNE, today)
    assert not level.behind
    assert data.goal_of({"quota": Decimal("0"), "revenue": Decimal("5")}, JUNE, today) is None
    assert data.goal_of({"quota": None, "revenue": Decimal("5")}, JUNE, today) is None


def test_the_dashboard_draws_the_goal_as_a_meter(early_june, client, cast):
    html = dashboard_html(client, cast.admin, cast.rep_a1, "2026-06")
    assert 'max="10000.00" value="2000.00"' in html
    assert "2,000 USD of 10,000 USD — 8,000 USD to go" in html
    assert 'data-testid="goal-expected"' not in html  # June is over on the day the test runs


def test_leaderboard_rows_carry_each_reps_progress_to_quota(early_june, cast, client):
    board = leaderboard_page_for(viewer=cast.admin, metric="revenue", span=JUNE, scope=Scope.COMPANY)
    rows = {row.rep_id: row for row in board.rows}
    goal = rows[cast.rep_a1.pk].goal
    assert (goal.done, goal.target) == (Decimal("2000.00"), Decimal("10000.00"))
    assert rows[cast.rep_a2.pk].goal is None  # no quota
    activities = leaderboard_page_for(viewer=cast.admin, metric="activities", span=JUNE, scope=Scope.COMPANY)
    assert all(row.goal is None for row in activities.rows)
    client.force_login(cast.admin)
    html = client.get(reverse("leaderboard"), {"metric": "revenue", "period": "2026-06"}).content.decode()
    assert 'aria-label="2,000.00 USD of 10,000.00 USD — 8,000.00 USD to go"' in html
