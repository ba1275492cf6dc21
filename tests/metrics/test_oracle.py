"""Self-checks of the pandas oracle (tests/oracle.py) and of the dataset generator (datagen.py).

The oracle is what the metrics engine is judged by, so it is checked here on tiny cases whose
expected figures are worked out by hand in each test, following docs/metrics.md.
"""

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.db.models import F

from activities import services
from activities.models import Activity, ActivityType, Deal, Rep, RepAssignment, Stage, Team, Territory
from metrics.models import Projection, Quota
from metrics.periods import Period, PeriodKind
from tests.factories import ProductFactory
from tests.metrics.datagen import make_dataset, rows_digest
from tests.oracle import compute, load_raw

OPEN_STAGES = ["Lead", "MQL", "SQL", "Proposal", "Negotiation"]


def stage(name: str) -> Stage:
    return Stage.objects.get(name=name)


def activity_type(name: str) -> ActivityType:
    return ActivityType.objects.get(name=name)


def oracle(period: str, tz: str = "UTC", today: date | None = None):
    return compute(load_raw(), Period.parse(period), tz=tz, today=today)


def at(year, month, day, hour=12, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def closed_deal(rep, stage_name: str, amount: str, closed_on: date, opened_on: date | None = None, **kwargs):
    """A deal opened straight into Won or Lost (the shortest way to a closed deal)."""
    return services.deal_open(
        owner=rep,
        name=f"{stage_name} {amount} {closed_on}",
        amount=Decimal(amount),
        stage=stage(stage_name),
        opened_on=opened_on or closed_on,
        closed_on=closed_on,
        **kwargs,
    )


def deal_through(rep, names: list[str], *, opened_on: date, name: str = "deal") -> Deal:
    """A deal that goes through the named stages in turn, one day apart from opened_on."""
    deal = services.deal_open(
        owner=rep,
        name=name,
        amount=Decimal("100.00"),
        stage=stage(names[0]),
        opened_on=opened_on,
        closed_on=opened_on if stage(names[0]).is_closed else None,
        opened_at=at(opened_on.year, opened_on.month, opened_on.day, 9),
    )
    for step, stage_name in enumerate(names[1:], start=1):
        to_stage = stage(stage_name)
        day = date(opened_on.year, opened_on.month, opened_on.day + step)
        deal = services.deal_move_stage(
            deal=deal,
            to_stage=to_stage,
            by=None,
            closed_on=day if to_stage.is_closed else None,
            changed_at=at(day.year, day.month, day.day, 9),
        )
    return deal


def target(model, owner, period: str, amount: str):
    parsed = Period.parse(period)
    owner_field = "rep" if isinstance(owner, Rep) else "team"
    return model.objects.create(
        **{owner_field: owner}, period_kind=parsed.kind, period_start=parsed.start, amount=Decimal(amount)
    )


def log(rep, type_name: str, minutes: int, when: datetime) -> Activity:
    return services.activity_log(
        rep=rep, type=activity_type(type_name), duration_minutes=minutes, occurred_at=when
    )


def move(rep, team, on: date) -> RepAssignment:
    """The rep works in `team` (and its territory) from `on`; the team they had holds from the start."""
    RepAssignment.objects.get_or_create(
        rep=rep, starts_on=None, defaults={"team": rep.team, "territory": rep.territory}
    )
    assignment = RepAssignment.objects.create(rep=rep, team=team, territory=team.territory, starts_on=on)
    rep.team, rep.territory = team, team.territory
    rep.save()
    return assignment


# --- results ---------------------------------------------------------------------------------------


class ResultsTests:
    def test_win_rate_and_average_deal_size_are_null_when_nothing_closed(self, cast):
        services.deal_open(
            owner=cast.rep_a1, name="Open", amount=Decimal("250.00"), opened_on=date(2026, 7, 3)
        )
        closed_deal(cast.rep_a1, "Won", "900.00", date(2026, 6, 30))  # closed in Q2, not Q3

        row = oracle("2026-Q3").metric("rep", cast.rep_a1.pk)

        assert row["revenue"] == Decimal("0.00")
        assert (row["deals_won"], row["deals_lost"]) == (0, 0)
        assert row["win_rate"] is None
        assert row["avg_deal_size"] is None
        assert (row["deals_opened"], row["pipeline_created"]) == (1, Decimal("250.00"))

    def test_average_deal_size_is_null_without_wins_while_win_rate_is_zero(self, cast):
        closed_deal(cast.rep_a1, "Lost", "400.00", date(2026, 8, 1))

        row = oracle("2026-Q3").metric("rep", cast.rep_a1.pk)

        assert row["win_rate"] == 0.0
        assert row["avg_deal_size"] is None
        assert row["deals_lost"] == 1

    def test_it_counts_deals_by_their_current_stage_and_closing_day(self, cast):
        closed_deal(cast.rep_a1, "Won", "1000.00", date(2026, 7, 5), opened_on=date(2026, 6, 20))
        closed_deal(cast.rep_a1, "Won", "500.50", date(2026, 9, 30))
        closed_deal(cast.rep_a1, "Lost", "75.00", date(2026, 8, 1))
        closed_deal(cast.rep_a1, "Won", "9999.00", date(2026, 10, 1))  # Q4
        deal_through(cast.rep_a1, ["Lead", "Won", "Negotiation"], opened_on=date(2026, 7, 10))  # reopened

        result = oracle("2026-Q3")

        # 1000.00 + 500.50 won; 1 lost; the reopened deal is open again and counts for nothing.
        for scope, scope_id in [("rep", cast.rep_a1.pk), ("team", cast.team_a.pk), ("company", 0)]:
            row = result.metric(scope, scope_id)
            assert row["revenue"] == Decimal("1500.50")
            assert (row["deals_won"], row["deals_lost"]) == (2, 1)
            assert row["win_rate"] == pytest.approx(2 / 3)
            assert row["avg_deal_size"] == Decimal("750.25")
        assert result.metric("team", cast.team_b.pk)["revenue"] == Decimal("0.00")

    def test_money_is_summed_exactly_then_rounded_half_up_to_cents(self, cast):
        closed_deal(cast.rep_a1, "Won", "100.00", date(2026, 7, 1))
        closed_deal(cast.rep_a1, "Won", "0.01", date(2026, 7, 2))
        services.deal_open(
            owner=cast.rep_a1,
            name="Small",
            amount=Decimal("0.05"),
            opened_on=date(2026, 7, 1),
            expected_close_on=date(2026, 7, 31),
        )

        row = oracle("2026-Q3").metric("rep", cast.rep_a1.pk)

        assert row["avg_deal_size"] == Decimal("50.01")  # 100.01 / 2 = 50.005
        assert row["weighted_pipeline"] == Decimal("0.01")  # 0.05 x 0.1 (Lead) = 0.005

    def test_weighted_pipeline_is_open_deals_expected_to_close_in_the_period(self, cast):
        def open_in(stage_name, amount, expected):
            services.deal_open(
                owner=cast.rep_a1,
                name=f"{stage_name} {amount}",
                amount=Decimal(amount),
                stage=stage(stage_name),
                opened_on=date(2026, 7, 1),
                expected_close_on=expected,
            )

        open_in("Proposal", "1000.05", date(2026, 8, 15))  # 1000.05 x 0.6 = 600.030
        open_in("Negotiation", "333.33", date(2026, 9, 30))  # 333.33 x 0.8 = 266.664
        open_in("Negotiation", "5000.00", None)
        open_in("Negotiation", "5000.00", date(2026, 10, 1))
        won = closed_deal(cast.rep_a1, "Won", "7000.00", date(2026, 7, 20))
        won.expected_close_on = date(2026, 8, 1)
        won.save()

        row = oracle("2026-Q3").metric("rep", cast.rep_a1.pk)

        assert row["weighted_pipeline"] == Decimal("866.69")  # 866.694

    def test_top_products_group_won_deals_by_product_with_none_for_no_product(self, cast):
        fleet = ProductFactory(name="Fleet")
        closed_deal(cast.rep_a1, "Won", "100.00", date(2026, 7, 1), product=fleet)
        closed_deal(cast.rep_a1, "Won", "200.00", date(2026, 7, 2), product=fleet)
        closed_deal(cast.rep_a1, "Won", "50.00", date(2026, 7, 3))
        closed_deal(cast.rep_a1, "Lost", "999.00", date(2026, 7, 4), product=ProductFactory(name="Drone"))

        rows = oracle("2026-Q3").rows("products", "rep", cast.rep_a1.pk)

        assert [(r["product_id"], r["revenue"], r["won_count"]) for r in rows] == [
            (None, Decimal("50.00"), 1),
            (fleet.pk, Decimal("300.00"), 2),
        ]


# --- quotas and projections -------------------------------------------------------------------------


class QuotaTests:
    def test_a_quarter_row_beats_its_month_rows(self, cast):
        target(Quota, cast.rep_a1, "2026-Q3", "9000.00")
        for month in ("2026-07", "2026-08", "2026-09"):
            target(Quota, cast.rep_a1, month, "2000.00")

        assert oracle("2026-Q3").metric("rep", cast.rep_a1.pk)["quota"] == Decimal("9000.00")
        assert oracle("2026-07").metric("rep", cast.rep_a1.pk)["quota"] == Decimal("2000.00")
        # The year: Q3 from its row; Q1, Q2 and Q4 have no row at any level.
        assert oracle("2026").metric("rep", cast.rep_a1.pk)["quota"] == Decimal("9000.00")

    def test_a_year_sums_the_q1_row_and_the_months_april_to_december(self, cast):
        target(Quota, cast.rep_a2, "2026-Q1", "3000.00")
        for month in range(4, 13):
            target(Quota, cast.rep_a2, f"2026-{month:02d}", "1000.00")

        assert oracle("2026").metric("rep", cast.rep_a2.pk)["quota"] == Decimal("12000.00")
        assert oracle("2026-Q2").metric("rep", cast.rep_a2.pk)["quota"] == Decimal("3000.00")
        assert oracle("2026-Q1").metric("rep", cast.rep_a2.pk)["quota"] == Decimal("3000.00")
        # A quarter row is never split into months.
        assert oracle("2026-01").metric("rep", cast.rep_a2.pk)["quota"] is None

    def test_a_team_own_row_beats_the_sum_of_its_reps(self, cast):
        target(Quota, cast.rep_a1, "2026-Q3", "9000.00")
        for month in ("2026-07", "2026-08", "2026-09"):
            target(Quota, cast.rep_a2, month, "1000.00")
            target(Quota, cast.rep_b1, month, "1000.00")
        target(Quota, cast.team_b, "2026-Q3", "5000.00")

        result = oracle("2026-Q3")

        assert result.metric("team", cast.team_a.pk)["quota"] == Decimal("12000.00")  # 9000 + 3 x 1000
        assert result.metric("team", cast.team_b.pk)["quota"] == Decimal("5000.00")  # own row, not 3000
        assert result.metric("territory", cast.territory_north.pk)["quota"] == Decimal("12000.00")
        assert result.metric("territory", cast.territory_south.pk)["quota"] == Decimal("3000.00")  # reps only
        assert result.metric("company", 0)["quota"] == Decimal("17000.00")  # team quotas: 12000 + 5000

    def test_a_team_own_row_is_found_in_its_sub_periods(self, cast):
        target(Quota, cast.team_b, "2026-07", "2000.00")
        target(Quota, cast.rep_b1, "2026-Q3", "5000.00")

        assert oracle("2026-Q3").metric("team", cast.team_b.pk)["quota"] == Decimal("2000.00")
        assert oracle("2026").metric("team", cast.team_b.pk)["quota"] == Decimal("2000.00")

    def test_a_team_quota_is_null_when_neither_it_nor_its_reps_have_one(self, cast):
        target(Quota, cast.rep_a1, "2026-Q3", "4000.00")

        result = oracle("2026-Q3")

        assert result.metric("team", cast.team_b.pk)["quota"] is None
        assert result.metric("territory", cast.territory_south.pk)["quota"] is None
        assert result.metric("company", 0)["quota"] == Decimal("4000.00")
        assert oracle("2026-Q2").metric("company", 0)["quota"] is None

    def test_projections_follow_the_quota_rules_over_their_own_rows(self, cast):
        target(Projection, cast.rep_a1, "2026-Q3", "8000.00")
        target(Projection, cast.rep_a1, "2026-07", "1.00")
        target(Projection, cast.rep_a2, "2026-08", "700.00")
        target(Projection, cast.team_b, "2026", "40000.00")
        target(Quota, cast.rep_a1, "2026-Q3", "123.00")

        result = oracle("2026-Q3")

        assert result.metric("rep", cast.rep_a1.pk)["projection"] == Decimal("8000.00")
        assert result.metric("team", cast.team_a.pk)["projection"] == Decimal("8700.00")
        # The team's year row does not split into quarters: team B falls back to its reps (none).
        assert result.metric("team", cast.team_b.pk)["projection"] is None
        assert oracle("2026").metric("company", 0)["projection"] == Decimal("48700.00")

    def test_attainment_is_revenue_over_quota_and_null_without_a_quota_or_with_a_zero_one(self, cast):
        target(Quota, cast.rep_a1, "2026-Q3", "2000.00")
        target(Quota, cast.rep_a2, "2026-Q3", "0.00")
        closed_deal(cast.rep_a1, "Won", "1500.00", date(2026, 7, 1))
        closed_deal(cast.rep_a2, "Won", "100.00", date(2026, 7, 1))
        closed_deal(cast.rep_b1, "Won", "500.00", date(2026, 7, 1))

        result = oracle("2026-Q3")

        assert result.metric("rep", cast.rep_a1.pk)["attainment"] == pytest.approx(0.75)
        assert result.metric("rep", cast.rep_a2.pk)["attainment"] is None
        assert result.metric("rep", cast.rep_b1.pk)["attainment"] is None
        assert result.metric("team", cast.team_a.pk)["attainment"] == pytest.approx(1600 / 2000)
        assert result.metric("team", cast.team_b.pk)["attainment"] is None
        # A zero quota is not "a quota" for the share of reps at quota.
        assert result.metric("team", cast.team_a.pk)["reps_with_quota"] == 1

    def test_reps_at_quota_share_counts_reps_with_a_quota(self, cast):
        target(Quota, cast.rep_a1, "2026-Q3", "1000.00")
        target(Quota, cast.rep_a2, "2026-Q3", "2000.00")
        closed_deal(cast.rep_a1, "Won", "1000.00", date(2026, 8, 1))  # exactly at quota
        closed_deal(cast.rep_a2, "Won", "500.00", date(2026, 8, 1))
        closed_deal(cast.rep_b1, "Won", "5000.00", date(2026, 8, 1))  # no quota

        result = oracle("2026-Q3")

        assert result.metric("rep", cast.rep_a1.pk)["attainment"] == 1.0
        for scope, scope_id in [
            ("team", cast.team_a.pk),
            ("territory", cast.territory_north.pk),
            ("company", 0),
        ]:
            row = result.metric(scope, scope_id)
            assert (row["reps_with_quota"], row["reps_at_quota"], row["reps_at_quota_share"]) == (2, 1, 0.5)
        team_b = result.metric("team", cast.team_b.pk)
        assert (team_b["reps_with_quota"], team_b["reps_at_quota"], team_b["reps_at_quota_share"]) == (
            0,
            0,
            None,
        )
        rep = result.metric("rep", cast.rep_a1.pk)
        assert (rep["reps_with_quota"], rep["reps_at_quota"], rep["reps_at_quota_share"]) == (
            None,
            None,
            None,
        )


# --- funnel -----------------------------------------------------------------------------------------


class FunnelTests:
    def test_reach_conversion_and_leakage_follow_the_deal_histories(self, cast):
        a1 = cast.rep_a1
        deal_through(a1, ["Lead", "MQL", "Won"], opened_on=date(2026, 7, 1))  # won: reached everything
        deal_through(a1, ["Lead", "Proposal", "Lost"], opened_on=date(2026, 7, 2))  # skipped MQL, SQL
        deal_through(a1, ["Lead", "SQL", "Won", "Negotiation"], opened_on=date(2026, 7, 3))  # reopened
        deal_through(a1, ["Lost"], opened_on=date(2026, 7, 4))  # straight into Lost: nothing
        deal_through(a1, ["Lead", "MQL", "Lost"], opened_on=date(2026, 7, 5))
        deal_through(a1, ["Lead", "Negotiation", "Lost", "MQL"], opened_on=date(2026, 7, 6))  # lost, reopened
        deal_through(a1, ["Lead", "Won"], opened_on=date(2026, 6, 20))  # opened in Q2: not in the cohort

        result = oracle("2026-Q3")
        rows = result.rows("funnel", "rep", a1.pk)

        # Lead: 5 (all but the straight loss); MQL: 5 (skipped stages count); SQL, Proposal: 4;
        # Negotiation: the won one, the reopened one, the one lost from Negotiation; Won: 1.
        assert [r["stage_id"] for r in rows] == [stage(n).pk for n in [*OPEN_STAGES, "Won"]]
        assert [r["reached"] for r in rows] == [5, 5, 4, 4, 3, 1]
        assert [r["conversion"] for r in rows] == pytest.approx([1.0, 0.8, 1.0, 0.75, 1 / 3, None])
        assert [r["leakage"] for r in rows] == pytest.approx([0.0, 0.2, 0.0, 0.25, 2 / 3, None])
        assert result.rows("funnel", "team", cast.team_a.pk) == [
            {**r, "scope": "team", "scope_id": cast.team_a.pk} for r in rows
        ]

    def test_a_scope_with_no_deals_has_zero_reach_and_null_conversion(self, cast):
        rows = oracle("2026-Q3").rows("funnel", "team", cast.team_b.pk)

        assert len(rows) == len(OPEN_STAGES) + 1
        assert {(r["reached"], r["conversion"], r["leakage"]) for r in rows} == {(0, None, None)}


# --- activity ---------------------------------------------------------------------------------------


class ActivityTests:
    def test_selling_time_share_and_mix_count_minutes_by_type(self, cast):
        log(cast.rep_a1, "Call", 30, at(2026, 7, 1))
        log(cast.rep_a1, "Email", 10, at(2026, 7, 2))
        log(cast.rep_a1, "Admin", 80, at(2026, 7, 3))
        log(cast.rep_a1, "Admin", 5, at(2026, 6, 30))  # Q2

        result = oracle("2026-Q3")

        row = result.metric("rep", cast.rep_a1.pk)
        assert (row["activity_count"], row["activity_minutes"], row["selling_minutes"]) == (3, 120, 40)
        assert row["selling_time_share"] == pytest.approx(1 / 3)
        assert [
            (r["activity_type_id"], r["count"], r["minutes"])
            for r in result.rows("mix", "rep", cast.rep_a1.pk)
        ] == [
            (activity_type("Call").pk, 1, 30),
            (activity_type("Email").pk, 1, 10),
            (activity_type("Admin").pk, 1, 80),
        ]
        idle = result.metric("rep", cast.rep_b1.pk)
        assert (idle["activity_count"], idle["activity_minutes"], idle["selling_time_share"]) == (0, 0, None)
        assert result.rows("mix", "rep", cast.rep_b1.pk) == []

    def test_an_activity_at_2330_utc_counts_for_the_next_day_in_berlin(self, cast):
        log(cast.rep_a1, "Call", 15, at(2026, 6, 30, 23, 30))  # 01:30 on 1 July in Berlin (CEST)

        def count(period, tz):
            return oracle(period, tz).metric("rep", cast.rep_a1.pk)["activity_count"]

        assert (count("2026-06", "Europe/Berlin"), count("2026-07", "Europe/Berlin")) == (0, 1)
        assert (count("2026-Q2", "Europe/Berlin"), count("2026-Q3", "Europe/Berlin")) == (0, 1)
        assert (count("2026-06", "UTC"), count("2026-07", "UTC")) == (1, 0)


# --- activity impact --------------------------------------------------------------------------------


class ImpactTests:
    def test_correlation_is_null_below_five_reps(self, cast):
        for n, rep in enumerate([cast.rep_a1, cast.rep_a2, cast.rep_b1], start=1):
            for _ in range(n):
                log(rep, "Call", 10, at(2026, 7, 1))
            closed_deal(rep, "Won", f"{n * 100}.00", date(2026, 7, 2))
            closed_deal(rep, "Lost", "1.00", date(2026, 7, 3))

        call = [
            r
            for r in oracle("2026-Q3").rows("impact", "company", 0)
            if r["activity_type_id"] == activity_type("Call").pk
        ]

        assert call == [
            {
                "scope": "company",
                "scope_id": 0,
                "period": "2026-Q3",
                "activity_type_id": activity_type("Call").pk,
                "corr_revenue": None,
                "corr_win_rate": None,
                "n_revenue": 3,
                "n_win_rate": 3,
            }
        ]

    def test_correlation_matches_a_hand_computed_pearson(self, cast):
        c1 = services.rep_create(username="rep_c1", team=cast.team_a)
        c2 = services.rep_create(username="rep_c2", team=cast.team_a)
        d1 = services.rep_create(username="rep_d1", team=cast.team_b)
        services.rep_create(username="rep_e1", team=cast.team_b)  # nothing in Q3: not counted
        # rep: calls, revenue of one won deal, lost deals -> win rate
        plan = [(cast.rep_a1, 1, "100.00", 1), (cast.rep_a2, 2, "300.00", 1), (c1, 3, "200.00", 0)]
        plan += [(c2, 4, "500.00", 0), (cast.rep_b1, 5, "400.00", 0)]
        for rep, calls, revenue, lost in plan:
            for _ in range(calls):
                log(rep, "Call", 10, at(2026, 8, 3))
            closed_deal(rep, "Won", revenue, date(2026, 8, 4))
            for _ in range(lost):
                closed_deal(rep, "Lost", "10.00", date(2026, 8, 5))
        log(d1, "Admin", 20, at(2026, 8, 3))  # active, but no closed deal: no win rate

        result = oracle("2026-Q3")
        impact = {r["activity_type_id"]: r for r in result.rows("impact", "company", 0)}

        # Revenue over 6 reps: calls x = 1,2,3,4,5,0 and revenue y = 100,300,200,500,400,0.
        # x mean 2.5, y mean 250: sum dx*dy = 1550, sum dx^2 = 17.5, sum dy^2 = 175000
        # -> r = 1550 / sqrt(17.5 * 175000) = 1550 / 1750 = 31/35.
        # Win rate over the 5 reps with closed deals: x = 1..5, w = .5,.5,1,1,1:
        # sum dx*dw = 1.5, sum dx^2 = 10, sum dw^2 = 0.3 -> r = 1.5 / sqrt(3) = sqrt(3)/2.
        call = impact[activity_type("Call").pk]
        assert (call["n_revenue"], call["n_win_rate"]) == (6, 5)
        assert call["corr_revenue"] == pytest.approx(31 / 35)
        assert call["corr_win_rate"] == pytest.approx(math.sqrt(3) / 2)
        # Admin: x = 0,0,0,0,0,1 -> sum dx*dy = -250, sum dx^2 = 5/6 -> r = -sqrt(3/7);
        # the five reps with a win rate never logged Admin: constant, so NULL.
        admin = impact[activity_type("Admin").pk]
        assert admin["corr_revenue"] == pytest.approx(-math.sqrt(3 / 7))
        assert admin["corr_win_rate"] is None
        # Nobody sent an e-mail: a constant series has no correlation.
        email = impact[activity_type("Email").pk]
        assert (email["corr_revenue"], email["corr_win_rate"], email["n_revenue"]) == (None, None, 6)
        # Team A rests on four reps only.
        team_a = {r["activity_type_id"]: r for r in result.rows("impact", "team", cast.team_a.pk)}
        assert (
            team_a[activity_type("Call").pk]["n_revenue"],
            team_a[activity_type("Call").pk]["corr_revenue"],
        ) == (
            4,
            None,
        )


# --- scopes -----------------------------------------------------------------------------------------


class ScopeTests:
    def test_every_scope_object_has_a_row_even_without_data(self, cast):
        nobody = Territory.objects.create(name="Nobody here")  # no reps, nothing credited: a row all the same

        result = oracle("2026-Q3")

        expected = [
            ("rep", r.pk) for r in sorted([cast.rep_a1, cast.rep_a2, cast.rep_b1], key=lambda r: r.pk)
        ]
        expected += [("team", cast.team_a.pk), ("team", cast.team_b.pk)]
        expected += [("territory", t.pk) for t in (cast.territory_north, cast.territory_south, nobody)]
        expected += [("company", 0)]
        assert list(zip(result.metrics.scope, result.metrics.scope_id, strict=True)) == expected
        company = result.metric("company", 0)
        assert (company["revenue"], company["weighted_pipeline"], company["pipeline_created"]) == (
            Decimal("0.00"),
            Decimal("0.00"),
            Decimal("0.00"),
        )
        assert (company["win_rate"], company["quota"], company["attainment"], company["projection"]) == (
            None,
            None,
            None,
            None,
        )
        assert len(result.funnel) == len(expected) * (len(OPEN_STAGES) + 1)
        assert len(result.impact) == (len(expected) - 3) * ActivityType.objects.count()
        assert result.mix.empty and result.products.empty

    def test_a_rep_counts_for_their_own_territory_and_their_team(self, cast):
        RepAssignment.objects.update_or_create(
            rep=cast.rep_a2, starts_on=None, defaults={"team": cast.team_a, "territory": cast.territory_south}
        )
        cast.rep_a2.territory = cast.territory_south
        cast.rep_a2.save()
        closed_deal(cast.rep_a2, "Won", "700.00", date(2026, 7, 1))

        result = oracle("2026-Q3")

        assert result.metric("team", cast.team_a.pk)["revenue"] == Decimal("700.00")
        assert result.metric("territory", cast.territory_south.pk)["revenue"] == Decimal("700.00")
        assert result.metric("territory", cast.territory_north.pk)["revenue"] == Decimal("0.00")


# --- credit at the time -----------------------------------------------------------------------------

MOVE_DAY = date(2026, 8, 15)


class CreditAtTheTimeTests:
    """Rep a1 moves from team A (North) to team B (South) on 15 August 2026, in most tests."""

    def test_activities_and_closed_deals_count_for_the_team_of_their_day(self, cast):
        a1 = cast.rep_a1
        move(a1, cast.team_b, MOVE_DAY)
        log(a1, "Call", 15, at(2026, 7, 10))  # July: A
        closed_deal(a1, "Won", "300.00", date(2026, 7, 5))  # July: A
        log(a1, "Call", 30, at(2026, 8, 14))  # the day before the move: A
        closed_deal(a1, "Won", "1000.00", date(2026, 8, 10))  # A
        log(a1, "Email", 10, at(2026, 8, 15))  # the day of the move: B
        log(a1, "Admin", 20, at(2026, 8, 20))  # B
        closed_deal(a1, "Won", "400.00", date(2026, 8, 15))  # B
        closed_deal(a1, "Lost", "50.00", date(2026, 8, 20))  # B

        august = oracle("2026-08")

        # The rep keeps all of their own figures: 1000 + 400 won, 50 lost, three activities.
        rep = august.metric("rep", a1.pk)
        assert (rep["revenue"], rep["deals_won"], rep["deals_lost"], rep["activity_count"]) == (
            Decimal("1400.00"),
            2,
            1,
            3,
        )
        # Team A (and North): the call of the 14th and the 1000 won on the 10th.
        for scope, scope_id in [("team", cast.team_a.pk), ("territory", cast.territory_north.pk)]:
            row = august.metric(scope, scope_id)
            assert (row["revenue"], row["deals_won"], row["deals_lost"], row["win_rate"]) == (
                Decimal("1000.00"),
                1,
                0,
                1.0,
            )
            assert (row["activity_count"], row["activity_minutes"], row["selling_minutes"]) == (1, 30, 30)
        # Team B (and South): the e-mail and the admin (10 selling of 30 minutes), 400 won, 50 lost.
        for scope, scope_id in [("team", cast.team_b.pk), ("territory", cast.territory_south.pk)]:
            row = august.metric(scope, scope_id)
            assert (row["revenue"], row["deals_won"], row["deals_lost"], row["win_rate"]) == (
                Decimal("400.00"),
                1,
                1,
                0.5,
            )
            assert (row["activity_count"], row["activity_minutes"], row["selling_minutes"]) == (2, 30, 10)
            assert row["selling_time_share"] == pytest.approx(1 / 3)
        assert [(r["activity_type_id"], r["count"]) for r in august.rows("mix", "team", cast.team_a.pk)] == [
            (activity_type("Call").pk, 1)
        ]
        assert [(r["activity_type_id"], r["count"]) for r in august.rows("mix", "team", cast.team_b.pk)] == [
            (activity_type("Email").pk, 1),
            (activity_type("Admin").pk, 1),
        ]
        assert august.metric("company", 0)["revenue"] == Decimal("1400.00")
        # July lies wholly before the move: all A.
        july = oracle("2026-07")
        team_a, team_b = july.metric("team", cast.team_a.pk), july.metric("team", cast.team_b.pk)
        assert (team_a["revenue"], team_a["activity_count"]) == (Decimal("300.00"), 1)
        assert (team_b["revenue"], team_b["activity_count"]) == (Decimal("0.00"), 0)
        # The quarter adds up its months, though a1 is in B on its last day: 300 + 1000 for A.
        q3 = oracle("2026-Q3")
        assert q3.metric("team", cast.team_a.pk)["revenue"] == Decimal("1300.00")
        assert q3.metric("team", cast.team_b.pk)["revenue"] == Decimal("400.00")
        assert q3.metric("territory", cast.territory_north.pk)["activity_count"] == 2

    def test_a_rep_counts_for_the_quota_and_share_at_quota_of_the_team_on_the_reference_day(self, cast):
        a1, a2, b1 = cast.rep_a1, cast.rep_a2, cast.rep_b1
        move(a1, cast.team_b, MOVE_DAY)
        for rep, july, august in [
            (a1, "200.00", "1000.00"),
            (a2, "500.00", "500.00"),
            (b1, "100.00", "2000.00"),
        ]:
            target(Quota, rep, "2026-07", july)
            target(Quota, rep, "2026-08", august)
        closed_deal(a1, "Won", "300.00", date(2026, 7, 5))  # for A
        closed_deal(a1, "Won", "1000.00", date(2026, 8, 10))  # for A, before the move
        closed_deal(a1, "Won", "400.00", date(2026, 8, 20))  # for B

        august = oracle("2026-08")  # reference day 31 August: a1 is in B

        # A = {a2}: quota 500; a2 won nothing.
        team_a = august.metric("team", cast.team_a.pk)
        assert team_a["quota"] == Decimal("500.00")
        assert (team_a["reps_with_quota"], team_a["reps_at_quota"], team_a["reps_at_quota_share"]) == (
            1,
            0,
            0.0,
        )
        assert team_a["attainment"] == pytest.approx(1000 / 500)  # credited revenue over the members' quota
        # B = {a1, b1}: quota 1000 + 2000; a1 is at quota on their own August revenue, 1400 >= 1000.
        team_b = august.metric("team", cast.team_b.pk)
        assert team_b["quota"] == Decimal("3000.00")
        assert (team_b["reps_with_quota"], team_b["reps_at_quota"], team_b["reps_at_quota_share"]) == (
            2,
            1,
            0.5,
        )
        assert team_b["attainment"] == pytest.approx(400 / 3000)
        assert august.metric("territory", cast.territory_south.pk)["quota"] == Decimal("3000.00")
        assert august.metric("territory", cast.territory_north.pk)["quota"] == Decimal("500.00")
        assert august.metric("company", 0)["quota"] == Decimal("3500.00")

        july = oracle("2026-07")  # reference day 31 July: a1 is still in A

        team_a = july.metric("team", cast.team_a.pk)
        assert team_a["quota"] == Decimal("700.00")  # 200 + 500
        assert (team_a["reps_with_quota"], team_a["reps_at_quota"]) == (2, 1)  # a1: 300 >= 200
        team_b = july.metric("team", cast.team_b.pk)
        assert team_b["quota"] == Decimal("100.00")
        assert (team_b["reps_with_quota"], team_b["reps_at_quota"]) == (1, 0)
        assert july.metric("territory", cast.territory_north.pk)["quota"] == Decimal("700.00")
        assert july.metric("company", 0)["quota"] == Decimal("800.00")

    def test_a_deal_counts_its_opening_and_its_closing_for_the_teams_of_those_days(self, cast):
        a1 = cast.rep_a1
        move(a1, cast.team_b, MOVE_DAY)
        deal = services.deal_open(
            owner=a1, name="Across the move", amount=Decimal("800.00"), opened_on=date(2026, 8, 10)
        )
        services.deal_move_stage(
            deal=deal, to_stage=stage("Won"), by=None, closed_on=date(2026, 8, 20), changed_at=at(2026, 8, 20)
        )

        august = oracle("2026-08")

        team_a, team_b = august.metric("team", cast.team_a.pk), august.metric("team", cast.team_b.pk)
        assert (
            team_a["deals_opened"],
            team_a["pipeline_created"],
            team_a["revenue"],
            team_a["deals_won"],
        ) == (
            1,
            Decimal("800.00"),
            Decimal("0.00"),
            0,
        )
        assert (
            team_b["deals_opened"],
            team_b["pipeline_created"],
            team_b["revenue"],
            team_b["deals_won"],
        ) == (
            0,
            Decimal("0.00"),
            Decimal("800.00"),
            1,
        )
        # The cohort is A's: a won deal reached every stage; B's funnel is empty.
        assert [r["reached"] for r in august.rows("funnel", "team", cast.team_a.pk)] == [1] * 6
        assert [r["reached"] for r in august.rows("funnel", "team", cast.team_b.pk)] == [0] * 6
        assert august.rows("products", "team", cast.team_a.pk) == []
        assert [(r["product_id"], r["revenue"]) for r in august.rows("products", "team", cast.team_b.pk)] == [
            (None, Decimal("800.00"))
        ]

    def test_the_weighted_pipeline_counts_for_the_team_of_the_reference_day(self, cast):
        a1 = cast.rep_a1
        move(a1, cast.team_b, MOVE_DAY)
        for month in ("2026-07", "2026-08"):
            first = Period.parse(month).start
            services.deal_open(
                owner=a1,
                name=f"Due in {month}",
                amount=Decimal("1000.00"),
                stage=stage("Proposal"),
                opened_on=first,
                expected_close_on=Period.parse(month).last_day,
            )

        def pipeline(month, today):
            result = oracle(month, today=today)
            return [
                result.metric(scope, scope_id)["weighted_pipeline"]
                for scope, scope_id in [
                    ("team", cast.team_a.pk),
                    ("team", cast.team_b.pk),
                    ("territory", cast.territory_north.pk),
                    ("territory", cast.territory_south.pk),
                ]
            ]

        six, none = Decimal("600.00"), Decimal("0.00")  # 1000 x 0.6 (Proposal)
        # July ended before the move: its pipeline stays with A whenever it is computed.
        assert pipeline("2026-07", date(2026, 9, 1)) == [six, none, six, none]
        assert pipeline("2026-07", date(2026, 7, 20)) == [six, none, six, none]
        # August's reference day is its last day (after the move), or today while it runs.
        assert pipeline("2026-08", date(2026, 9, 1)) == [none, six, none, six]
        assert pipeline("2026-08", date(2026, 8, 14)) == [six, none, six, none]
        # The opening itself stays with A, whatever today is.
        assert oracle("2026-07", today=date(2026, 9, 1)).metric("team", cast.team_a.pk)["deals_opened"] == 1

    def test_a_territory_without_reps_has_a_row(self, cast):
        islands = Territory.objects.create(name="Islands")
        team_c = Team.objects.create(name="Team C", territory=islands)
        nowhere = Territory.objects.create(name="Nowhere")  # no team, no rep, ever
        c1 = services.rep_create(username="rep_c1", team=team_c)
        move(c1, cast.team_a, MOVE_DAY)  # Islands is left without reps
        for month in ("2026-07", "2026-08", "2026-09"):
            target(Quota, c1, month, "100.00")
        closed_deal(c1, "Won", "500.00", date(2026, 8, 5))

        july, august, september = oracle("2026-07"), oracle("2026-08"), oracle("2026-09")

        assert july.metric("territory", islands.pk)["quota"] == Decimal("100.00")  # c1 is a member
        # August: the 500 won before the move is Islands', but on 31 August nobody is a member.
        row = august.metric("territory", islands.pk)
        assert (row["revenue"], row["quota"], row["attainment"]) == (Decimal("500.00"), None, None)
        assert (row["reps_with_quota"], row["reps_at_quota"], row["reps_at_quota_share"]) == (0, 0, None)
        for territory in (islands, nowhere):
            row = september.metric("territory", territory.pk)
            assert (row["revenue"], row["deals_won"], row["weighted_pipeline"], row["pipeline_created"]) == (
                Decimal("0.00"),
                0,
                Decimal("0.00"),
                Decimal("0.00"),
            )
            assert (row["win_rate"], row["avg_deal_size"], row["quota"], row["selling_time_share"]) == (
                None,
                None,
                None,
                None,
            )
            assert (row["reps_with_quota"], row["reps_at_quota_share"]) == (0, None)
            assert [r["reached"] for r in september.rows("funnel", "territory", territory.pk)] == [0] * 6
            assert {r["n_revenue"] for r in september.rows("impact", "territory", territory.pk)} == {0}
        assert august.metric("territory", nowhere.pk)["revenue"] == Decimal("0.00")

    def test_today_inside_the_period_takes_the_members_of_today(self, cast):
        a1, a2, b1 = cast.rep_a1, cast.rep_a2, cast.rep_b1
        move(a1, cast.team_b, MOVE_DAY)
        for rep, amount in [(a1, "1000.00"), (a2, "500.00"), (b1, "2000.00")]:
            target(Quota, rep, "2026-08", amount)
        log(a1, "Call", 10, at(2026, 8, 5))  # credited to A, but it makes a1 an active rep wherever a member
        log(a2, "Call", 10, at(2026, 8, 6))

        def team_figures(today):
            result = oracle("2026-08", today=today)
            figures = []
            for team in (cast.team_a, cast.team_b):
                row = result.metric("team", team.pk)
                calls = next(
                    r
                    for r in result.rows("impact", "team", team.pk)
                    if r["activity_type_id"] == activity_type("Call").pk
                )
                figures.append((row["quota"], row["reps_with_quota"], calls["n_revenue"]))
            return figures

        # On 10 August a1 is still in A: A = {a1, a2}, B = {b1} (b1 did nothing in August).
        assert team_figures(date(2026, 8, 10)) == [(Decimal("1500.00"), 2, 2), (Decimal("2000.00"), 1, 0)]
        # On 20 August, and at the month's end, a1 is in B: A = {a2}, B = {a1, b1}.
        assert team_figures(date(2026, 8, 20)) == [(Decimal("500.00"), 1, 1), (Decimal("3000.00"), 2, 1)]
        assert team_figures(None) == team_figures(date(2026, 8, 20))
        # Members never change what is credited: the calls are A's either way.
        assert (
            oracle("2026-08", today=date(2026, 8, 20)).metric("team", cast.team_a.pk)["activity_count"] == 2
        )

    def test_a_rep_without_assignments_keeps_their_team_and_one_moved_later_has_their_first(self, cast):
        RepAssignment.objects.filter(rep__in=[cast.rep_a1, cast.rep_b1]).delete()
        # b1: only a dated assignment (to A from the 15th); before it, that earliest one holds.
        RepAssignment.objects.create(
            rep=cast.rep_b1, team=cast.team_a, territory=cast.territory_north, starts_on=MOVE_DAY
        )
        log(cast.rep_b1, "Call", 10, at(2026, 8, 1))
        log(cast.rep_a1, "Call", 10, at(2026, 8, 1))  # no rows at all: Rep.team (A) on every day

        august = oracle("2026-08")

        assert august.metric("team", cast.team_a.pk)["activity_count"] == 2
        assert august.metric("team", cast.team_b.pk)["activity_count"] == 0
        assert august.metric("territory", cast.territory_north.pk)["activity_count"] == 2


# --- the dataset generator ----------------------------------------------------------------------------

YEAR = {"start": date(2025, 1, 1), "end": date(2025, 12, 31)}


class _Rollback(Exception):
    pass


def digest_of(**kwargs) -> str:
    """Generate a dataset, digest it, and roll it back."""
    digest = None
    try:
        with transaction.atomic():
            make_dataset(**kwargs)
            digest = rows_digest()
            raise _Rollback
    except _Rollback:
        pass
    return digest


@pytest.fixture
def dataset(db):
    return make_dataset(seed=11, **YEAR)


class DatasetTests:
    def test_the_same_seed_gives_the_same_rows(self, db):
        small = {"reps": 6, "teams": 2, "deals": 80, "activities": 300, **YEAR}

        first, again, other = (
            digest_of(seed=5, **small),
            digest_of(seed=5, **small),
            digest_of(seed=6, **small),
        )

        assert first == again
        assert first != other
        assert Deal.objects.count() == 0  # rolled back

    def test_its_deals_keep_the_deal_invariants(self, dataset):
        deals = Deal.objects.filter(pk__in=dataset["deals"]).select_related("stage")
        assert len(deals) == 300
        for deal in deals:
            assert deal.amount >= 0
            assert (deal.closed_on is not None) == deal.stage.is_closed, deal.name
            if deal.closed_on:
                assert deal.closed_on >= deal.opened_on, deal.name
            if deal.expected_close_on:
                assert deal.expected_close_on >= deal.opened_on, deal.name
            changes = list(deal.stage_changes.order_by("changed_at", "id"))
            assert changes[0].from_stage is None
            assert changes[-1].to_stage_id == deal.stage_id, deal.name
            for before, after in zip(changes, changes[1:], strict=False):
                assert after.from_stage_id == before.to_stage_id != after.to_stage_id
                assert after.changed_at > before.changed_at

    def test_its_rows_pass_model_validation(self, dataset):
        for model, key in [
            (Deal, "deals"),
            (Activity, "activities"),
            (Quota, "quotas"),
            (Projection, "projections"),
        ]:
            for row in model.objects.filter(pk__in=dataset[key]):
                row.full_clean()
        for activity in Activity.objects.filter(deal__isnull=False, pk__in=dataset["activities"]):
            assert activity.deal.owner_id == activity.rep_id

    def test_it_covers_the_cases_the_definitions_must_get_right(self, dataset):
        stories = dataset["deal_stories"]
        for story in [
            "won_skipping",
            "lost_skipping",
            "won_reopened",
            "lost_reopened",
            "opened_lost",
            "opened_won",
        ]:
            assert stories.get(story), story
        for name in OPEN_STAGES:
            for story in [f"lost_from_{name}", f"open_in_{name}_expected", f"open_in_{name}_no_expected"]:
                assert stories.get(story), story
        deals = Deal.objects.filter(pk__in=dataset["deals"])
        assert deals.filter(product__isnull=True, stage__kind="won").exists()
        assert deals.filter(stage__kind="open", expected_close_on__isnull=True).exists()
        assert dataset["inactive_reps"] and dataset["reps_outside_team_territory"]
        teams = Rep.objects.filter(pk__in=dataset["reps"]).values_list("team__territory", flat=True)
        assert len(set(teams)) < len(dataset["teams"])  # some teams share a territory
        assert set(ActivityType.objects.values_list("pk", flat=True)) == set(
            Activity.objects.filter(pk__in=dataset["activities"]).values_list("type", flat=True)
        )
        quiet = Period.parse(dataset["quiet_period"])
        assert not deals.filter(closed_on__gte=quiet.start, closed_on__lt=quiet.end).exists()
        assert [date.fromisoformat(d) for d in dataset["dst_days"]] == [date(2025, 3, 30), date(2025, 10, 26)]
        assert set(dataset["rep_quota_schemes"].values()) >= {"none", "quarter_and_months", "q1_plus_months"}
        quota_teams = set(Quota.objects.filter(team__isnull=False).values_list("team", flat=True))
        assert quota_teams and quota_teams != set(dataset["teams"])

    def test_every_rep_has_an_assignment_from_the_start_and_some_move_inside_the_range(self, dataset):
        assignments = RepAssignment.objects.filter(pk__in=dataset["assignments"])
        assert set(assignments.filter(starts_on=None).values_list("rep", flat=True)) == set(dataset["reps"])
        moved = dataset["moved_reps"]
        assert len(moved) == 2  # 12 reps: one in six
        for rep_id, (starts_on, team_id) in moved.items():
            first, move = assignments.filter(rep=rep_id).order_by(F("starts_on").asc(nulls_first=True))
            assert (move.starts_on.isoformat(), move.team_id) == (starts_on, team_id)
            assert YEAR["start"] < move.starts_on <= YEAR["end"]
            assert first.team_id != move.team_id
            assert move.territory_id == Team.objects.get(pk=team_id).territory_id
            rep = Rep.objects.get(pk=rep_id)
            assert (rep.team_id, rep.territory_id) == (move.team_id, move.territory_id)
        unmoved = assignments.exclude(rep__in=list(moved))
        assert unmoved.count() == len(dataset["reps"]) - len(moved)
        for assignment in unmoved.select_related("rep"):
            assert (assignment.team_id, assignment.territory_id) == (
                assignment.rep.team_id,
                assignment.rep.territory_id,
            )

    def test_its_activities_straddle_the_local_and_utc_date_boundaries(self, dataset):
        berlin = ZoneInfo("Europe/Berlin")
        moments = Activity.objects.filter(pk__in=dataset["activities"]).values_list("occurred_at", flat=True)
        local_days = [m.astimezone(berlin).date() for m in moments]
        assert (
            sum(1 for m, day in zip(moments, local_days, strict=True) if m.astimezone(UTC).date() != day) > 50
        )
        dst = {date.fromisoformat(d) for d in dataset["dst_days"]}
        assert sum(1 for day in local_days if day in dst) > 5
        month_edges = sum(1 for day in local_days if day.day == 1 or (day + timedelta(days=1)).day == 1)
        assert month_edges > 20

    def test_the_oracle_adds_up_across_scopes_and_periods_on_it(self, dataset):
        raw = load_raw()
        year = compute(raw, Period.parse("2025"), tz="Europe/Berlin")
        quarters = [
            compute(raw, Period(date(2025, m, 1), PeriodKind.QUARTER), tz="Europe/Berlin")
            for m in (1, 4, 7, 10)
        ]
        reps = year.metrics[year.metrics.scope == "rep"]
        company = year.metric("company", 0)

        for column in [
            "revenue",
            "deals_won",
            "deals_lost",
            "activity_count",
            "activity_minutes",
            "deals_opened",
        ]:
            assert sum(reps[column]) == company[column], column
            assert sum(q.metric("company", 0)[column] for q in quarters) == company[column], column
            # Every rep has a team and a territory on every day: each figure is credited exactly once.
            for scope in ("team", "territory"):
                rows = year.metrics[year.metrics.scope == scope]
                assert sum(rows[column]) == company[column], (scope, column)
        # Moved reps split their year between two teams; past periods add up to the year all the same.
        for team_id in dataset["teams"]:
            assert (
                sum(q.metric("team", team_id)["revenue"] for q in quarters)
                == year.metric("team", team_id)["revenue"]
            )
        assert company["deals_won"] > 0 and company["activity_count"] == len(dataset["activities"])
        funnel = [r["reached"] for r in year.rows("funnel", "company", 0)]
        assert funnel == sorted(funnel, reverse=True) and funnel[0] > funnel[-1] > 0
        quiet = compute(raw, Period.parse(dataset["quiet_period"]), tz="Europe/Berlin").metric("company", 0)
        assert (quiet["deals_won"], quiet["deals_lost"], quiet["win_rate"]) == (0, 0, None)
        assert quiet["activity_count"] > 0
        assert year.impact[year.impact.scope == "company"].corr_revenue.notna().any()
