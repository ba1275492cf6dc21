"""The metric formulas at their edges, each expected value worked out by hand from PRODUCT.md.

A wrong comparison (`>` for `>=`), a wrong operator or an off-by-one day fails one of
these: attainment of exactly 100 % is at quota and 999.99 of 1000 is not; pace in the
middle of a period; win rate with one closed deal; a funnel stage nobody reached; ties
in ranks; the minimum of closed deals exactly met; an activity at the first and the last
second of a period in the company's time zone. Figures the engine computes in the
database are read back from the summary tables after a real backfill; pure functions
are called directly. `make mutmut` runs these tests against mutants of the formulas.
"""

import statistics
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import IntegerField, Value

from activities.models import ActivityType, Deal, DealStageChange, Rep, Stage, Team
from leaderboards import selectors as boards
from metrics import dashboard, formulas, jobs, rollup
from metrics.alerts import BEHIND_PACE, alerts_for
from metrics.models import PeriodActivityImpact, PeriodActivityMix, PeriodMetric, Projection, Quota
from metrics.periods import Period
from metrics.spans import Span
from metrics.templatetags.dashboard import figure
from tests.factories import RepFactory, TeamFactory

TZ = "Europe/Berlin"
BERLIN = ZoneInfo(TZ)
JUNE = Period.parse("2026-06")  # 30 days
MAY = Period.parse("2026-05")
JULY = Period.parse("2026-07")
Q2 = Period.parse("2026-Q2")


# Timezone-aware datetimes only (STYLE.md): a naive one reaching the database fails the test.
pytestmark = pytest.mark.filterwarnings("error:.*received a naive datetime:RuntimeWarning")


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = TZ


# --- building raw rows -----------------------------------------------------------------


def _stage(name: str) -> Stage:
    return Stage.objects.get(name=name)


def deal(rep: Rep, *path: str, opened_on: date, closed_on: date | None = None, amount="1000.00", **extra):
    """A deal that went through the stages of `path` (its last is the stage it is in now)."""
    row = Deal.objects.create(
        name=f"{rep.pk}-{'-'.join(path)}-{opened_on}",
        owner=rep,
        amount=Decimal(amount),
        stage=_stage(path[-1]),
        opened_on=opened_on,
        closed_on=closed_on,
        **extra,
    )
    at = datetime(opened_on.year, opened_on.month, opened_on.day, 9, tzinfo=BERLIN)
    previous = None
    for minutes, name in enumerate(path):
        to_stage = _stage(name)
        DealStageChange.objects.create(
            deal=row, from_stage=previous, to_stage=to_stage, changed_at=at + timedelta(minutes=minutes)
        )
        previous = to_stage
    return row


def won(rep: Rep, closed_on: date, amount: str, opened_on: date | None = None) -> Deal:
    return deal(rep, "Lead", "Won", opened_on=opened_on or closed_on, closed_on=closed_on, amount=amount)


def lost(rep: Rep, closed_on: date, opened_on: date | None = None) -> Deal:
    return deal(rep, "Lead", "Lost", opened_on=opened_on or closed_on, closed_on=closed_on)


def activity(rep: Rep, at: datetime, type_name: str = "Call", minutes: int = 15):
    return rep.activities.create(
        type=ActivityType.objects.get(name=type_name), occurred_at=at, duration_minutes=minutes
    )


def quota(amount: str, period: Period, *, rep: Rep | None = None, team=None) -> Quota:
    return Quota.objects.create(
        rep=rep, team=team, period_kind=period.kind, period_start=period.start, amount=Decimal(amount)
    )


def backfill(*periods: Period) -> None:
    """The engine over every day of the rows, then the periods asked for (June by default).

    Only the periods a test reads, so the tests stay fast enough to run once per mutant.
    """
    days = jobs.all_days()
    rollup.rollup_days(first_day=days[0], last_day=days[-1])
    wanted, todo = set(), list(periods or (JUNE,))
    while todo:  # a quarter is summed from its months, a year from its quarters: those first
        period = todo.pop()
        wanted.add(period)
        todo += rollup.sub_periods(period)
    for level in rollup.period_levels(wanted):
        for period in level:
            rollup.rollup_period(period)


def metric(scope: str, scope_id: int, period: Period) -> PeriodMetric:
    return PeriodMetric.objects.get(
        scope=scope, scope_id=scope_id, period_kind=period.kind, period_start=period.start
    )


def at_berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


# --- the formulas, evaluated by the database itself ------------------------------------------


def _db(expression):
    """The value of a formula over literal inputs, as this database computes and Django reads it."""
    return Stage.objects.annotate(value=expression).values_list("value", flat=True).first()


def _money(amount: str) -> Value:
    return Value(Decimal(amount), output_field=formulas.MONEY_FIELD)


def _n(number: int) -> Value:
    return Value(number, output_field=IntegerField())


@pytest.mark.django_db
class FormulaTests:
    def test_one_won_deal_is_a_win_rate_of_one(self):
        assert _db(formulas.win_rate(_n(1), _n(0))) == 1.0

    def test_one_lost_deal_is_a_win_rate_of_zero_not_undefined(self):
        assert _db(formulas.win_rate(_n(0), _n(1))) == 0.0

    def test_nothing_closed_leaves_win_rate_and_average_undefined(self):
        assert _db(formulas.win_rate(_n(0), _n(0))) is None
        assert _db(formulas.avg_deal_size(_money("0"), _n(0))) is None

    def test_one_won_of_three_closed_is_a_third(self):
        assert _db(formulas.win_rate(_n(1), _n(2))) == 1 / 3

    def test_the_average_of_one_deal_is_that_deal(self):
        assert _db(formulas.avg_deal_size(_money("1234.56"), _n(1))) == Decimal("1234.56")

    def test_the_average_is_rounded_to_cents_half_up(self):
        # 0.01 + 0.02 over two deals = 0.015 → 0.02 (SQLite's floats would give 0.01);
        # 100.00 over three = 33.333… → 33.33; 0.05 over two = 0.025 → 0.03.
        assert _db(formulas.avg_deal_size(_money("0.03"), _n(2))) == Decimal("0.02")
        assert _db(formulas.avg_deal_size(_money("100.00"), _n(3))) == Decimal("33.33")
        assert _db(formulas.avg_deal_size(_money("0.05"), _n(2))) == Decimal("0.03")
        assert _db(formulas.avg_deal_size(_money("0.04"), _n(3))) == Decimal("0.01")

    def test_revenue_equal_to_quota_is_an_attainment_of_exactly_one(self):
        assert _db(formulas.attainment(_money("1000.00"), _money("1000"))) == 1.0

    def test_a_cent_short_of_quota_is_below_one(self):
        attainment = _db(formulas.attainment(_money("999.99"), _money("1000")))
        assert attainment == 999.99 / 1000 and attainment < 1.0

    def test_no_quota_or_a_zero_quota_leaves_attainment_undefined(self):
        assert _db(formulas.attainment(_money("5"), Value(None, output_field=formulas.MONEY_FIELD))) is None
        assert _db(formulas.attainment(_money("5"), _money("0"))) is None

    def test_nothing_won_against_a_quota_is_zero_attainment(self):
        assert _db(formulas.attainment(_money("0"), _money("1000"))) == 0.0

    def test_selling_share_is_selling_minutes_over_all_minutes(self):
        assert _db(formulas.selling_time_share(_n(30), _n(120))) == 0.25
        assert _db(formulas.selling_time_share(_n(45), _n(45))) == 1.0
        assert _db(formulas.selling_time_share(_n(0), _n(0))) is None

    def test_sums_of_cents_are_exact_cents(self):
        # SQLite adds decimals as floats: 0.1 + 0.2 is 0.30000000000000004 until rounded.
        total = _money("0.10") + _money("0.20")
        assert _db(formulas.money(total)) == Decimal("0.30")
        assert _db(formulas.attainment(formulas.money(total), _money("0.30"))) == 1.0

    def test_the_weighted_pipeline_is_rounded_to_cents_half_up(self):
        # Units are cents × thousandths of probability: 500 of them are half a cent.
        assert _db(formulas.weighted_pipeline(_n(499))) == Decimal("0.00")
        assert _db(formulas.weighted_pipeline(_n(500))) == Decimal("0.01")
        assert _db(formulas.weighted_pipeline(_n(1_234_567_500))) == Decimal("12345.68")

    def test_a_deals_weighted_units_are_exact(self):
        # 1,234.57 at 35 %: 123,457 cents × 350 thousandths.
        assert _db(formulas.weighted_units(_money("1234.57"), _money("0.35"))) == 123_457 * 350

    def test_ratio_is_undefined_for_a_zero_denominator_only(self):
        assert _db(formulas.ratio(_n(0), _n(5))) == 0.0
        assert _db(formulas.ratio(_n(5), _n(5))) == 1.0
        assert _db(formulas.ratio(_n(5), _n(0))) is None
        assert _db(formulas.ratio(_n(0), _n(0))) is None

    def test_conversion_is_the_next_stage_over_this_one(self):
        assert _db(formulas.conversion(_n(3), _n(4))) == 0.75
        assert _db(formulas.conversion(_n(4), _n(4))) == 1.0  # every deal went on
        assert _db(formulas.conversion(_n(0), _n(4))) == 0.0  # none did: 0, not undefined
        assert _db(formulas.conversion(_n(0), _n(0))) is None  # none reached the stage
        assert _db(formulas.conversion(Value(None, output_field=IntegerField()), _n(4))) is None  # last

    def test_leakage_is_what_conversion_leaves(self):
        assert _db(formulas.leakage(formulas.conversion(_n(3), _n(4)))) == 0.25
        assert _db(formulas.leakage(formulas.conversion(_n(4), _n(4)))) == 0.0
        assert _db(formulas.leakage(formulas.conversion(_n(0), _n(4)))) == 1.0
        assert _db(formulas.leakage(formulas.conversion(_n(0), _n(0)))) is None


class UndefinedShownAsDashTests:
    def test_an_undefined_fraction_is_a_dash_and_zero_is_zero(self):
        assert figure(None, "fraction") == "—"
        assert figure(0.0, "fraction") == "0.0 %"
        assert figure(1.0, "fraction") == "100.0 %"


# --- pace (pure) -----------------------------------------------------------------------


class PaceTests:
    span = Span.of_period(JUNE)

    def test_half_the_quota_on_day_15_of_30_is_exactly_on_pace(self):
        assert self.span.elapsed_share(date(2026, 6, 15)) == 0.5
        assert dashboard.pace({"attainment": 0.5}, self.span, date(2026, 6, 15)) == 1.0

    def test_the_same_attainment_a_day_earlier_is_ahead_and_a_day_later_behind(self):
        assert dashboard.pace({"attainment": 0.5}, self.span, date(2026, 6, 14)) == 0.5 / (14 / 30)
        assert dashboard.pace({"attainment": 0.5}, self.span, date(2026, 6, 16)) == 0.5 / (16 / 30)
        assert dashboard.pace({"attainment": 0.5}, self.span, date(2026, 6, 16)) < 1.0

    def test_the_first_day_counts_as_one_day_elapsed(self):
        assert self.span.elapsed_share(date(2026, 6, 1)) == 1 / 30
        assert dashboard.pace({"attainment": 0.1}, self.span, date(2026, 6, 1)) == 0.1 * 30

    def test_on_the_last_day_and_after_pace_is_attainment(self):
        assert self.span.elapsed_share(date(2026, 6, 30)) == 1.0
        assert self.span.elapsed_share(date(2026, 9, 1)) == 1.0
        assert dashboard.pace({"attainment": 0.8}, self.span, date(2026, 6, 30)) == 0.8
        assert dashboard.pace({"attainment": 0.8}, self.span, date(2026, 9, 1)) == 0.8

    def test_before_the_period_or_without_attainment_pace_is_undefined(self):
        assert self.span.elapsed_share(date(2026, 5, 31)) == 0.0
        assert dashboard.pace({"attainment": 0.5}, self.span, date(2026, 5, 31)) is None
        assert dashboard.pace({"attainment": None}, self.span, date(2026, 6, 15)) is None

    def test_zero_attainment_mid_period_is_zero_pace_not_undefined(self):
        assert dashboard.pace({"attainment": 0.0}, self.span, date(2026, 6, 15)) == 0.0


class DeltaTests:
    def test_fractions_change_in_percentage_points(self):
        assert dashboard._delta(dashboard.FRACTION, 0.5, 0.25) == 25.0
        assert dashboard._delta(dashboard.FRACTION, 0.5, 0.0) == 50.0

    def test_money_and_counts_change_relative_to_the_previous_value(self):
        assert dashboard._delta(dashboard.MONEY, Decimal("150"), Decimal("100")) == 50.0
        assert dashboard._delta(dashboard.COUNT, 1, 4) == -75.0

    def test_no_change_from_nothing_or_to_an_undefined_value(self):
        assert dashboard._delta(dashboard.MONEY, Decimal("150"), Decimal("0")) is None
        assert dashboard._delta(dashboard.COUNT, None, 3) is None
        assert dashboard._delta(dashboard.FRACTION, 0.5, None) is None


# --- the engine: attainment, % at quota, pace ------------------------------------------------


def test_exactly_100_percent_counts_as_at_quota_and_a_cent_less_does_not(cast):
    quota("1000", JUNE, rep=cast.rep_a1)
    quota("1000", JUNE, rep=cast.rep_a2)
    won(cast.rep_a1, date(2026, 6, 10), "600.00")
    won(cast.rep_a1, date(2026, 6, 30), "400.00")  # the last day of June
    won(cast.rep_a2, date(2026, 6, 10), "999.99")
    won(cast.rep_a2, date(2026, 7, 1), "0.01")  # the next day: July, not June
    won(cast.rep_b1, date(2026, 6, 10), "5000.00")  # no quota: not counted either way
    backfill()

    a1, a2, b1 = (metric("rep", r.pk, JUNE) for r in (cast.rep_a1, cast.rep_a2, cast.rep_b1))
    assert (a1.revenue, a1.attainment) == (Decimal("1000.00"), 1.0)
    assert (a2.revenue, a2.attainment) == (Decimal("999.99"), 999.99 / 1000)
    assert b1.quota is None and b1.attainment is None

    team_a = metric("team", cast.team_a.pk, JUNE)
    # 1 of the 2 reps with a quota reached it.
    assert (team_a.reps_with_quota, team_a.reps_at_quota, team_a.reps_at_quota_share) == (2, 1, 0.5)
    assert (team_a.quota, team_a.attainment) == (Decimal("2000.00"), 1999.99 / 2000)
    team_b = metric("team", cast.team_b.pk, JUNE)
    assert (team_b.reps_with_quota, team_b.reps_at_quota, team_b.reps_at_quota_share) == (0, 0, None)
    assert team_b.quota is None and team_b.attainment is None  # no row, no rep with one
    company = metric("company", 0, JUNE)
    assert (company.reps_with_quota, company.reps_at_quota) == (2, 1)
    north = metric("territory", cast.territory_north.pk, JUNE)  # team A's reps: their quotas added up
    assert (north.quota, north.reps_with_quota, north.reps_at_quota) == (Decimal("2000.00"), 2, 1)

    # The leaderboard's "Quota reached" badge follows the same rule.
    page = boards.leaderboard_page_for(
        viewer=cast.admin, metric="revenue", span=Span.of_period(JUNE), scope="company"
    )
    badges = {row.rep_id: row.badges for row in page.rows}
    assert boards.QUOTA_REACHED in badges[cast.rep_a1.pk]
    assert boards.QUOTA_REACHED not in badges[cast.rep_a2.pk]
    assert boards.QUOTA_REACHED not in badges[cast.rep_b1.pk]


def test_a_quarter_quota_is_its_row_else_the_sum_of_its_months(cast):
    for month, amount in (("2026-04", "300"), ("2026-05", "300"), ("2026-06", "400")):
        quota(amount, Period.parse(month), rep=cast.rep_a1)
    quota("2000", Q2, rep=cast.rep_a2)
    quota("5000", JUNE, rep=cast.rep_a2)  # the quarter's own row wins over its months
    quota("700", Q2, team=cast.team_b)  # a team's own row wins over its reps' sum
    # Projections resolve the same way.
    Projection.objects.create(
        rep=cast.rep_a1, period_kind="quarter", period_start=Q2.start, amount=Decimal("500")
    )
    Projection.objects.create(
        team=cast.team_b, period_kind="quarter", period_start=Q2.start, amount=Decimal("900")
    )
    won(cast.rep_a1, date(2026, 4, 1), "1000.00")
    activity(cast.rep_b1, at_berlin(2026, 6, 30, 12))  # the backfill covers April to June
    backfill(Q2, JUNE, Period.parse("2026"))

    a1 = metric("rep", cast.rep_a1.pk, Q2)
    assert (a1.quota, a1.attainment) == (Decimal("1000.00"), 1.0)  # 300 + 300 + 400
    assert metric("rep", cast.rep_a2.pk, Q2).quota == Decimal("2000.00")
    assert metric("rep", cast.rep_a2.pk, JUNE).quota == Decimal("5000.00")
    assert metric("rep", cast.rep_b1.pk, Q2).quota is None
    # A year without its own row: the sum of its quarters, each from its months.
    assert metric("rep", cast.rep_a1.pk, Period.parse("2026")).quota == Decimal("1000.00")
    # ... so a2's year is its Q2 row (2000), not the June row (5000) beneath it.
    assert metric("rep", cast.rep_a2.pk, Period.parse("2026")).quota == Decimal("2000.00")
    team_a = metric("team", cast.team_a.pk, Q2)
    assert (team_a.quota, team_a.reps_with_quota, team_a.reps_at_quota) == (Decimal("3000.00"), 2, 1)
    assert metric("team", cast.team_b.pk, Q2).quota == Decimal("700.00")
    assert metric("company", 0, Q2).quota == Decimal("3700.00")  # the teams' quotas added up
    projections = [
        metric(scope, scope_id, Q2).projection
        for scope, scope_id in (
            ("rep", cast.rep_a1.pk),
            ("team", cast.team_a.pk),
            ("team", cast.team_b.pk),
            ("company", 0),
        )
    ]
    assert projections == [Decimal("500.00"), Decimal("500.00"), Decimal("900.00"), Decimal("1400.00")]
    assert metric("territory", cast.territory_north.pk, Q2).projection == Decimal("500.00")


def test_a_team_without_reps_has_its_own_quota_and_nothing_else(cast):
    empty = TeamFactory(name="Just set up")
    quota("5000", JUNE, team=empty)
    won(cast.rep_a1, date(2026, 6, 2), "10.00")
    activity(cast.rep_a1, at_berlin(2026, 6, 2, 9))
    backfill()
    row = metric("team", empty.pk, JUNE)
    assert (row.quota, row.revenue, row.attainment) == (Decimal("5000.00"), Decimal("0.00"), 0.0)
    counts = (row.activity_count, row.activity_minutes, row.deals_opened, row.deals_won, row.deals_lost)
    assert counts == (0, 0, 0, 0, 0)
    assert (row.win_rate, row.avg_deal_size, row.selling_time_share, row.reps_at_quota_share) == (
        None,
        None,
        None,
        None,
    )


def test_pace_in_the_middle_of_the_month_from_the_engine(cast):
    quota("1000", JUNE, rep=cast.rep_a1)
    quota("1000", JUNE, rep=cast.rep_a2)
    won(cast.rep_a1, date(2026, 6, 3), "500.00")
    won(cast.rep_a2, date(2026, 6, 3), "499.99")
    backfill()

    span, today = Span.of_period(JUNE), date(2026, 6, 15)  # 15 of 30 days elapsed
    for rep, expected in ((cast.rep_a1, 1.0), (cast.rep_a2, (499.99 / 1000) / 0.5)):
        ref = dashboard.ScopeRef("rep", rep.pk, rep.name)
        current, _previous, computed = dashboard.figures_pair(ref, span)
        assert computed
        assert dashboard.pace(current, span, today) == expected
    # Exactly on pace is not behind pace; a cent short is.
    alerts = alerts_for(reps=Rep.objects.all(), teams=Team.objects.none(), today=today)
    behind = [alert for alert in alerts if alert.kind == BEHIND_PACE]
    assert [a.rep_id for a in behind] == [cast.rep_a2.pk]
    assert behind[0].value == (499.99 / 1000) / 0.5


# --- the engine: win rate, average deal size, money -------------------------------------------


def test_win_rate_with_one_closed_deal_and_with_none(cast, client):
    won(cast.rep_a1, date(2026, 6, 12), "1234.57")
    lost(cast.rep_a2, date(2026, 6, 12))
    deal(cast.rep_b1, "Lead", "MQL", opened_on=date(2026, 6, 12))  # open: not closed
    backfill()

    a1, a2, b1 = (metric("rep", r.pk, JUNE) for r in (cast.rep_a1, cast.rep_a2, cast.rep_b1))
    assert (a1.deals_won, a1.deals_lost, a1.win_rate, a1.avg_deal_size) == (1, 0, 1.0, Decimal("1234.57"))
    assert (a2.deals_won, a2.deals_lost, a2.win_rate, a2.avg_deal_size) == (0, 1, 0.0, None)
    assert (b1.deals_won, b1.deals_lost, b1.win_rate, b1.avg_deal_size) == (0, 0, None, None)
    team_a = metric("team", cast.team_a.pk, JUNE)
    assert (team_a.win_rate, team_a.avg_deal_size) == (0.5, Decimal("1234.57"))

    client.force_login(cast.admin)
    rows = {
        row["id"]: row for row in client.get("/api/v1/metrics/", {"scope": "rep", "period": "2026-06"}).json()
    }
    assert rows[cast.rep_a1.pk]["win_rate"] == 1.0
    assert rows[cast.rep_a2.pk]["win_rate"] == 0.0
    assert rows[cast.rep_b1.pk]["win_rate"] is None and rows[cast.rep_b1.pk]["avg_deal_size"] is None
    assert rows[cast.rep_a1.pk]["avg_deal_size"] == "1234.57"


def test_a_teams_average_deal_size_is_its_revenue_over_its_won_deals(cast):
    won(cast.rep_a1, date(2026, 6, 2), "0.01")
    won(cast.rep_a2, date(2026, 6, 2), "0.02")
    won(cast.rep_a2, date(2026, 6, 3), "100.00")
    backfill()
    # (0.01 + 0.02 + 100.00) / 3 = 33.3433… → 33.34; not the mean of the reps' averages.
    assert metric("team", cast.team_a.pk, JUNE).avg_deal_size == Decimal("33.34")
    assert metric("rep", cast.rep_a2.pk, JUNE).avg_deal_size == Decimal("50.01")


def test_weighted_pipeline_counts_open_deals_due_inside_the_period(cast):
    # Lead 0.1, SQL 0.4, Proposal 0.6 (the default pipeline).
    deal(cast.rep_a1, "Lead", "SQL", opened_on=date(2026, 5, 1), expected_close_on=date(2026, 6, 1))
    deal(cast.rep_a1, "Lead", "Proposal", opened_on=date(2026, 5, 1), expected_close_on=date(2026, 6, 30))
    deal(cast.rep_a1, "Lead", opened_on=date(2026, 5, 1), amount="0.05", expected_close_on=date(2026, 6, 9))
    deal(cast.rep_a1, "Lead", opened_on=date(2026, 5, 1), amount="0.05", expected_close_on=date(2026, 6, 10))
    deal(cast.rep_a2, "Lead", opened_on=date(2026, 5, 1), amount="0.05", expected_close_on=date(2026, 6, 9))
    deal(cast.rep_a1, "Lead", "SQL", opened_on=date(2026, 5, 1), expected_close_on=date(2026, 7, 1))
    deal(cast.rep_a1, "Lead", "SQL", opened_on=date(2026, 5, 1), expected_close_on=date(2026, 5, 31))
    deal(
        cast.rep_a1,
        "Lead",
        "Won",
        opened_on=date(2026, 5, 1),
        closed_on=date(2026, 6, 5),
        expected_close_on=date(2026, 6, 5),
    )  # won: no longer pipeline
    backfill()
    # 400.00 + 600.00 + 0.005 + 0.005 = 1000.01 for the rep; the team adds another 0.005 (a2's
    # own 0.005 rounds to 0.01): the team's figure is its exact sum rounded, 1000.015 → 1000.02.
    assert metric("rep", cast.rep_a1.pk, JUNE).weighted_pipeline == Decimal("1000.01")
    assert metric("rep", cast.rep_a2.pk, JUNE).weighted_pipeline == Decimal("0.01")
    assert metric("team", cast.team_a.pk, JUNE).weighted_pipeline == Decimal("1000.02")


# --- the engine: period edges in the company's time zone ------------------------------------------


def test_the_first_and_last_second_of_a_month_count_in_it_and_the_next_midnight_does_not(cast):
    rep = cast.rep_a1
    activity(rep, at_berlin(2026, 5, 31, 23, 59, 59))  # May
    activity(rep, at_berlin(2026, 6, 1, 0, 0, 0))  # 22:00 UTC the day before: still June
    activity(rep, at_berlin(2026, 6, 30, 23, 59, 59))
    activity(rep, at_berlin(2026, 7, 1, 0, 0, 0))  # July
    deal(rep, "Lead", opened_on=date(2026, 6, 1))
    deal(rep, "Lead", opened_on=date(2026, 7, 1))
    won(rep, date(2026, 6, 30), "10.00", opened_on=date(2026, 5, 31))
    won(rep, date(2026, 7, 1), "20.00", opened_on=date(2026, 6, 30))
    backfill(MAY, JUNE, JULY, Q2)

    may, june, july = (metric("rep", rep.pk, p) for p in (MAY, JUNE, JULY))
    assert (may.activity_count, june.activity_count, july.activity_count) == (1, 2, 1)
    assert (june.activity_minutes, june.selling_minutes) == (30, 30)
    # Opened in June: the Lead of the 1st and the deal won in July opened on the 30th.
    assert (may.deals_opened, june.deals_opened, july.deals_opened) == (1, 2, 1)
    assert (june.revenue, june.deals_won, july.revenue) == (Decimal("10.00"), 1, Decimal("20.00"))
    assert metric("rep", rep.pk, Q2).activity_count == 3  # 31 May, 1 June and 30 June
    call = ActivityType.objects.get(name="Call")
    mix = PeriodActivityMix.objects.get(
        scope="rep", scope_id=rep.pk, period_kind=JUNE.kind, period_start=JUNE.start, activity_type=call
    )
    assert (mix.count, mix.minutes) == (2, 30)
    # A custom range adds up the same days from the daily tables.
    ref = dashboard.ScopeRef("rep", rep.pk, rep.name)
    first_day, _previous, _computed = dashboard.figures_pair(ref, Span.parse("2026-06-01..2026-06-01"))
    last_day, before, _computed = dashboard.figures_pair(ref, Span.parse("2026-06-30..2026-07-01"))
    assert first_day["activity_count"] == 1
    assert (last_day["activity_count"], last_day["revenue"], last_day["deals_won"]) == (
        2,
        Decimal("30.00"),
        2,
    )
    assert before["activity_count"] == 0  # 28–29 June
    # Recomputing June's days alone leaves the first day of July to its own slice.
    rollup.rollup_days(first_day=JUNE.start, last_day=JUNE.last_day)
    rollup.rollup_period(JULY)
    assert (metric("rep", rep.pk, JULY).activity_count, metric("rep", rep.pk, JULY).revenue) == (
        1,
        Decimal("20.00"),
    )


def test_time_selling_is_selling_minutes_over_all_minutes(cast):
    activity(cast.rep_a1, at_berlin(2026, 6, 3, 10), "Call", 30)
    activity(cast.rep_a1, at_berlin(2026, 6, 3, 11), "Admin", 90)
    activity(cast.rep_b1, at_berlin(2026, 6, 3, 10), "Demo", 45)
    backfill()
    assert metric("rep", cast.rep_a1.pk, JUNE).selling_time_share == 30 / 120
    assert metric("rep", cast.rep_a2.pk, JUNE).selling_time_share is None
    assert metric("rep", cast.rep_b1.pk, JUNE).selling_time_share == 1.0
    assert metric("team", cast.team_a.pk, JUNE).selling_time_share == 30 / 120
    assert metric("company", 0, JUNE).selling_time_share == 75 / 165


# --- the engine: funnel --------------------------------------------------------------------------

FUNNEL = ["Lead", "MQL", "SQL", "Proposal", "Negotiation", "Won"]


def _funnel(ref: dashboard.ScopeRef, span: Span) -> dict:
    return {step.stage: (step.reached, step.conversion, step.leakage) for step in dashboard.funnel(ref, span)}


def test_a_stage_nobody_reached_converts_zero_and_the_steps_after_it_are_undefined(cast):
    rep = cast.rep_a1
    deal(rep, "Lead", opened_on=date(2026, 6, 1))
    deal(rep, "Lead", "MQL", opened_on=date(2026, 6, 15))
    deal(rep, "Lead", "MQL", "Lost", opened_on=date(2026, 6, 30), closed_on=date(2026, 7, 2))
    # Not in June's cohort: opened the day before and the day after.
    deal(rep, "Lead", "SQL", opened_on=date(2026, 5, 31))
    deal(rep, "Lead", "SQL", opened_on=date(2026, 7, 1))
    backfill()

    expected = {
        "Lead": (3, 2 / 3, 1 - 2 / 3),  # 2 of the 3 reached MQL
        "MQL": (2, 0.0, 1.0),  # nobody reached SQL: 0 conversion, all of it leaks
        "SQL": (0, None, None),  # 0 / 0: undefined, not 0 and not an error
        "Proposal": (0, None, None),
        "Negotiation": (0, None, None),
        "Won": (0, None, None),  # the last step has no next
    }
    for scope, scope_id in (("rep", rep.pk), ("team", cast.team_a.pk), ("company", 0)):
        got = _funnel(dashboard.ScopeRef(scope, scope_id, ""), Span.of_period(JUNE))
        assert list(got) == FUNNEL
        assert got == expected, scope
    assert _funnel(dashboard.ScopeRef("team", cast.team_b.pk, ""), Span.of_period(JUNE))["Lead"] == (
        0,
        None,
        None,
    )
    # A range that is not a calendar period adds up the daily tables: without the deal of the 30th.
    ranged = _funnel(dashboard.ScopeRef("rep", rep.pk, ""), Span.parse("2026-06-01..2026-06-29"))
    assert ranged["Lead"] == (2, 0.5, 0.5)
    assert ranged["MQL"] == (1, 0.0, 1.0)
    assert ranged["SQL"] == (0, None, None)
    assert (
        _funnel(dashboard.ScopeRef("rep", rep.pk, ""), Span.parse("2026-06-02..2026-06-29"))["Lead"][0] == 1
    )


def test_reach_follows_skips_moves_back_wins_and_losses(cast):
    rep, day = cast.rep_a1, date(2026, 6, 10)
    deal(rep, "Lead", "Won", opened_on=day, closed_on=day)  # won: reaches every stage
    deal(rep, "Lead", "Proposal", opened_on=day)  # skipped MQL and SQL: reached them
    deal(rep, "Lead", "Negotiation", "Lost", opened_on=day, closed_on=day)  # lost from the top
    deal(rep, "Lead", "SQL", "MQL", "Lost", opened_on=day, closed_on=day)  # highest before losing: SQL
    deal(rep, "Lead", "Negotiation", "MQL", opened_on=day)  # moved back: was in Negotiation
    backfill()
    reached = {"Lead": 5, "MQL": 5, "SQL": 5, "Proposal": 4, "Negotiation": 3, "Won": 1}
    got = _funnel(dashboard.ScopeRef("rep", rep.pk, ""), Span.of_period(JUNE))
    assert {stage: values[0] for stage, values in got.items()} == reached
    conversions = [got[stage][1] for stage in FUNNEL]
    assert conversions == [1.0, 1.0, 4 / 5, 3 / 4, 1 / 3, None]
    assert [got[stage][2] for stage in FUNNEL] == [0.0, 0.0, 1 - 4 / 5, 1 - 3 / 4, 1 - 1 / 3, None]


def test_reach_of_deals_without_a_recorded_history_is_their_stage(cast):
    """Deals that came in with a stage and no stage changes (an import): reach is where they are."""
    Stage.objects.filter(name="Lead").update(order=1)  # an admin may number stages from 1
    rep, day = cast.rep_a1, date(2026, 6, 10)
    for name, closed_on in (("SQL", None), ("Lost", day), ("Won", day)):
        Deal.objects.create(
            name=name, owner=rep, amount=Decimal("1"), stage=_stage(name), opened_on=day, closed_on=closed_on
        )
    backfill()
    got = _funnel(dashboard.ScopeRef("rep", rep.pk, ""), Span.of_period(JUNE))
    # The open deal reached Lead to SQL, the lost one nothing, the won one everything.
    assert {stage: values[0] for stage, values in got.items()} == {
        "Lead": 2,
        "MQL": 2,
        "SQL": 2,
        "Proposal": 1,
        "Negotiation": 1,
        "Won": 1,
    }


# --- the engine: activity impact ------------------------------------------------------------------


def test_activity_impact_needs_five_reps_and_is_the_pearson_correlation(cast):
    five = TeamFactory(name="Five")
    four = TeamFactory(name="Four")
    calls = [1, 2, 3, 4, 6]
    revenue = [100, 300, 200, 500, 400]
    losses = [0, 1, 0, 1, 3]
    day = date(2026, 6, 8)
    for team, n in ((five, 5), (four, 4)):
        for i in range(n):
            rep = RepFactory(team=team)
            for k in range(calls[i]):
                activity(rep, at_berlin(2026, 6, 8, 9, k))
            won(rep, day, f"{revenue[i]}.00")
            for _k in range(losses[i]):
                lost(rep, day)
    RepFactory(team=five)  # nothing logged, nothing closed: not among the reps it rests on
    backfill()
    call = ActivityType.objects.get(name="Call")

    def impact(team):
        return PeriodActivityImpact.objects.get(
            scope="team", scope_id=team.pk, period_kind=JUNE.kind, period_start=JUNE.start, activity_type=call
        )

    rates = [1 / (1 + lost_count) for lost_count in losses]
    row = impact(five)
    assert (row.n_revenue, row.n_win_rate) == (5, 5)
    assert row.corr_revenue == pytest.approx(statistics.correlation(calls, revenue), abs=1e-12)
    assert row.corr_win_rate == pytest.approx(statistics.correlation(calls, rates), abs=1e-12)
    row = impact(four)
    assert (row.n_revenue, row.corr_revenue, row.corr_win_rate) == (4, None, None)
    shown, _why = dashboard.activity_impact(dashboard.ScopeRef("team", five.pk, ""), Span.of_period(JUNE))
    assert [r["corr_revenue"] for r in shown if r["name"] == "Call"] == [impact(five).corr_revenue]
    hidden, _why = dashboard.activity_impact(dashboard.ScopeRef("team", four.pk, ""), Span.of_period(JUNE))
    assert [r["corr_revenue"] for r in hidden if r["name"] == "Call"] == [None]


def test_activity_impact_is_undefined_when_a_figure_does_not_vary_and_defined_with_two_values(cast):
    day = date(2026, 6, 8)
    cases = {
        # team: (calls, revenue, losses) per rep
        "Same results": ([1, 2, 3, 4, 5], [100] * 5, [0] * 5),
        "Same calls": ([2] * 5, [100, 200, 300, 400, 500], [0, 1, 0, 1, 2]),
        "Two values": ([1, 1, 2, 2, 2], [100, 100, 100, 200, 200], [0, 0, 0, 1, 1]),
    }
    teams = {}
    for name, (calls, revenue, losses) in cases.items():
        teams[name] = TeamFactory(name=name)
        for count, amount, lost_count in zip(calls, revenue, losses, strict=True):
            rep = RepFactory(team=teams[name])
            for k in range(count):
                activity(rep, at_berlin(2026, 6, 8, 9, k))
            won(rep, day, f"{amount}.00")
            for _k in range(lost_count):
                lost(rep, day)
    backfill()
    call = ActivityType.objects.get(name="Call")
    rows = {
        name: PeriodActivityImpact.objects.get(
            scope="team", scope_id=team.pk, period_kind=JUNE.kind, period_start=JUNE.start, activity_type=call
        )
        for name, team in teams.items()
    }
    assert (rows["Same results"].n_revenue, rows["Same results"].corr_revenue) == (5, None)
    assert rows["Same results"].corr_win_rate is None
    assert (rows["Same calls"].corr_revenue, rows["Same calls"].corr_win_rate) == (None, None)
    calls, revenue, losses = cases["Two values"]
    rates = [1 / (1 + lost_count) for lost_count in losses]
    assert rows["Two values"].corr_revenue == pytest.approx(statistics.correlation(calls, revenue), abs=1e-12)
    assert rows["Two values"].corr_win_rate == pytest.approx(statistics.correlation(calls, rates), abs=1e-12)


# --- leaderboards ----------------------------------------------------------------------------------


def _ranks(rows) -> dict:
    return {row.rep_id: (row.rank, row.value, row.movement) for row in rows}


@pytest.mark.parametrize("span_key", ["2026-06", "2026-06-01..2026-06-29"])
def test_ties_share_a_rank_and_the_next_rank_skips(cast, span_key):
    # Created after the cast (a higher id) but first by name: ties are listed by name.
    abe = RepFactory(team=cast.team_b, user__first_name="Abe", user__last_name="Early")
    won(cast.rep_a1, date(2026, 6, 3), "500.50")
    won(cast.rep_a2, date(2026, 6, 4), "250.25")
    won(cast.rep_a2, date(2026, 6, 5), "250.25")
    won(abe, date(2026, 6, 5), "500.50")
    won(cast.rep_b1, date(2026, 6, 6), "300.00")
    backfill()
    rows = boards.leaderboard_for(metric="revenue", period=Span.parse(span_key), scope="company")
    a, b = cast.team_a.pk, cast.team_b.pk
    assert [(row.rep, row.team_id, row.team, row.rank, row.value) for row in rows] == [
        ("Abe Early", b, "Team B", 1, Decimal("500.50")),
        ("Ana One", a, "Team A", 1, Decimal("500.50")),
        ("Ari Two", a, "Team A", 1, Decimal("500.50")),
        ("Bo Three", b, "Team B", 4, Decimal("300.00")),  # 1, 1, 1, 4: not 1, 1, 1, 2
    ]
    assert all(isinstance(row.value, Decimal) for row in rows)
    got = _ranks(rows)
    # Average deal size: the same 500.50 is one deal of 500.50 for a1, two of 250.25 for a2.
    sizes = _ranks(
        boards.leaderboard_for(metric="avg_deal_size", period=Span.parse(span_key), scope="company")
    )
    assert sizes[cast.rep_a1.pk][:2] == (1, Decimal("500.50"))
    assert sizes[cast.rep_b1.pk][:2] == (3, Decimal("300.00"))
    assert sizes[cast.rep_a2.pk][:2] == (4, Decimal("250.25"))
    assert got[cast.rep_b1.pk][0] == 4
    team = boards.leaderboard_for(
        metric="deals_won", period=Span.parse(span_key), scope="team", scope_id=cast.team_a.pk
    )
    assert [(row.rep_id, row.rank, row.value) for row in team] == [
        (cast.rep_a2.pk, 1, 2),
        (cast.rep_a1.pk, 2, 1),
    ]
    assert all(type(row.value) is int for row in team)


@pytest.mark.parametrize("span_key", ["2026-06", "2026-06-01..2026-06-29"])
def test_win_rate_ranks_reps_with_exactly_the_minimum_of_closed_deals(cast, settings, span_key):
    settings.LEADERBOARD_MIN_CLOSED_DEALS = 2
    won(cast.rep_a1, date(2026, 6, 3), "10.00")
    lost(cast.rep_a1, date(2026, 6, 4))  # 2 closed: exactly the minimum, 50 %
    won(cast.rep_a2, date(2026, 6, 3), "10.00")  # 1 closed: below it, although 100 %
    for day in (3, 4, 5):
        lost(cast.rep_b1, date(2026, 6, day))  # 3 closed, 0 %: ranked, not left out
    backfill()
    span = Span.parse(span_key)
    page = boards.leaderboard_page_for(viewer=cast.admin, metric="win_rate", span=span, scope="company")
    assert _ranks(page.rows) == {cast.rep_a1.pk: (1, 0.5, None), cast.rep_b1.pk: (2, 0.0, None)}
    assert (page.min_closed_deals, page.below_minimum) == (2, 1)
    assert all(type(row.value) is float for row in page.rows)
    settings.LEADERBOARD_MIN_CLOSED_DEALS = 1
    page = boards.leaderboard_page_for(viewer=cast.admin, metric="win_rate", span=span, scope="company")
    assert [row.rep_id for row in page.rows] == [cast.rep_a2.pk, cast.rep_a1.pk, cast.rep_b1.pk]
    assert page.below_minimum == 0


def test_time_selling_and_activity_boards_over_a_range(cast):
    activity(cast.rep_a1, at_berlin(2026, 6, 3, 10), "Call", 30)
    activity(cast.rep_a1, at_berlin(2026, 6, 3, 11), "Admin", 90)
    activity(cast.rep_b1, at_berlin(2026, 6, 3, 10), "Demo", 45)
    activity(cast.rep_b1, at_berlin(2026, 6, 4, 10), "Demo", 45)
    backfill()
    span = Span.parse("2026-06-01..2026-06-10")
    share = _ranks(boards.leaderboard_for(metric="selling_time_share", period=span, scope="company"))
    assert share == {cast.rep_b1.pk: (1, 1.0, None), cast.rep_a1.pk: (2, 0.25, None)}
    counts = _ranks(boards.leaderboard_for(metric="activities", period=span, scope="company"))
    assert counts[cast.rep_a1.pk][:2] == (1, 2) and counts[cast.rep_b1.pk][:2] == (1, 2)
    assert counts[cast.rep_a2.pk][:2] == (3, 0)
    demo = ActivityType.objects.get(name="Demo")
    for key in ("2026-06", "2026-06-01..2026-06-10"):
        demos = _ranks(
            boards.leaderboard_for(metric=f"activity:{demo.pk}", period=Span.parse(key), scope="company")
        )
        assert demos[cast.rep_b1.pk][:2] == (1, 2) and demos[cast.rep_a1.pk][:2] == (2, 0)


def test_movement_is_the_previous_rank_minus_this_rank(cast, settings):
    settings.LEADERBOARD_MIN_CLOSED_DEALS = 1
    won(cast.rep_b1, date(2026, 5, 20), "800.00")  # May: b1 1st, a1 2nd, a2 3rd (0.00)
    won(cast.rep_a1, date(2026, 5, 20), "100.00")
    won(cast.rep_a2, date(2026, 6, 20), "900.00")  # June: a2 1st, a1 2nd, b1 3rd
    won(cast.rep_a1, date(2026, 6, 20), "100.00")
    lost(cast.rep_a1, date(2026, 6, 21))
    backfill(MAY, JUNE)
    got = _ranks(boards.leaderboard_for(metric="revenue", period=JUNE, scope="company"))
    assert got[cast.rep_a2.pk] == (1, Decimal("900.00"), 2)  # up two places
    assert got[cast.rep_a1.pk] == (2, Decimal("100.00"), 0)
    assert got[cast.rep_b1.pk] == (3, Decimal("0.00"), -2)
    # May's win rates: b1 and a1 100 % (both 1st), a2 closed nothing (not ranked, so no movement).
    rates = _ranks(boards.leaderboard_for(metric="win_rate", period=JUNE, scope="company"))
    assert rates == {cast.rep_a2.pk: (1, 1.0, None), cast.rep_a1.pk: (2, 0.5, -1)}
    # A team's board compares with the team's own ranks: in May a1 was 1st of team A, a2 2nd.
    team = _ranks(
        boards.leaderboard_for(metric="revenue", period=JUNE, scope="team", scope_id=cast.team_a.pk)
    )
    assert team == {cast.rep_a2.pk: (1, Decimal("900.00"), 1), cast.rep_a1.pk: (2, Decimal("100.00"), -1)}
    page = boards.leaderboard_page_for(
        viewer=cast.admin, metric="revenue", span=Span.of_period(JUNE), scope="company"
    )
    improved = [row.rep_id for row in page.rows if boards.MOST_IMPROVED in row.badges]
    assert improved == [cast.rep_a2.pk]


def test_attainment_ranks_only_reps_with_a_quota(cast):
    quota("1000", JUNE, rep=cast.rep_a1)
    quota("500", JUNE, rep=cast.rep_a2)
    won(cast.rep_a1, date(2026, 6, 2), "1000.00")
    won(cast.rep_a2, date(2026, 6, 2), "500.00")
    won(cast.rep_b1, date(2026, 6, 2), "9000.00")
    backfill()
    got = _ranks(boards.leaderboard_for(metric="attainment", period=JUNE, scope="company"))
    assert got == {cast.rep_a1.pk: (1, 1.0, None), cast.rep_a2.pk: (1, 1.0, None)}
    with pytest.raises(boards.MetricUndefined):
        boards.leaderboard_for(
            metric="attainment", period=Span.parse("2026-06-01..2026-06-10"), scope="company"
        )
