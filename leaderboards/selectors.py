"""Leaderboards: reps ranked by one metric of a period, read from the summary tables.

Ranking happens in the database (`RANK() OVER (ORDER BY value DESC)`), so ties
share a rank (1, 2, 2, 4). Leaderboards are visible to everyone signed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import CharField, F, OuterRef, QuerySet, Subquery, Window
from django.db.models.functions import Rank

from activities.models import Rep, Team, Territory
from metrics.models import PeriodMetric, Scope
from metrics.periods import Period
from metrics.selectors import ScopeNotFound, rep_name_of

MONEY, COUNT, FRACTION = "money", "count", "fraction"


@dataclass(frozen=True)
class LeaderboardMetric:
    name: str
    field: str  # the PeriodMetric column ranked on
    kind: str  # money, count or fraction: how the value is written out
    min_closed_deals: bool = False  # only reps with enough closed deals rank (win rate)


METRICS = {
    metric.name: metric
    for metric in (
        LeaderboardMetric("revenue", "revenue", MONEY),
        LeaderboardMetric("deals_won", "deals_won", COUNT),
        LeaderboardMetric("attainment", "attainment", FRACTION),
        LeaderboardMetric("win_rate", "win_rate", FRACTION, min_closed_deals=True),
        LeaderboardMetric("avg_deal_size", "avg_deal_size", MONEY),
        LeaderboardMetric("activities", "activity_count", COUNT),
        LeaderboardMetric("selling_time_share", "selling_time_share", FRACTION),
    )
}
LEADERBOARD_SCOPES = (Scope.COMPANY, Scope.TEAM, Scope.TERRITORY)


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    rep_id: int
    rep: str
    team_id: int | None
    team: str | None
    value: Decimal | int | float
    movement: int | None  # previous rank - this rank: positive = moved up; None = not ranked before


def _members(scope: str, scope_id: int | None) -> QuerySet[Rep] | None:
    """The reps a leaderboard ranks (by their current team / territory); None = every rep."""
    if scope == Scope.COMPANY:
        return None
    model, column = {Scope.TEAM: (Team, "team_id"), Scope.TERRITORY: (Territory, "territory_id")}[scope]
    if scope_id is None or not model.objects.filter(pk=scope_id).exists():
        raise ScopeNotFound((scope, scope_id))
    return Rep.objects.filter(**{column: scope_id}).values("pk")


def _ranked(metric: LeaderboardMetric, period: Period, members) -> QuerySet[PeriodMetric]:
    rows = PeriodMetric.objects.filter(
        scope=Scope.REP,
        period_kind=period.kind,
        period_start=period.start,
        # No value, no place: no attainment without a quota, no win rate with nothing closed.
        **{f"{metric.field}__isnull": False},
    )
    if members is not None:
        rows = rows.filter(scope_id__in=members)
    if metric.min_closed_deals:
        rows = rows.alias(closed=F("deals_won") + F("deals_lost")).filter(
            closed__gte=settings.LEADERBOARD_MIN_CLOSED_DEALS
        )
    return rows.annotate(rank=Window(Rank(), order_by=F(metric.field).desc()))


def leaderboard_for(
    *, metric: str, period: Period, scope: str, scope_id: int | None = None
) -> list[LeaderboardRow]:
    """The reps of the company, a team or a territory ranked by `metric` in `period`, best first.

    Raises ScopeNotFound for an unknown team or territory. Empty when the period
    has not been computed yet.
    """
    chosen = METRICS[metric]
    members = _members(scope, scope_id)
    previous = dict(_ranked(chosen, period.previous(), members).values_list("scope_id", "rank"))
    rep_team = Rep.objects.filter(pk=OuterRef("scope_id"))
    current = (
        _ranked(chosen, period, members)
        .annotate(
            rep_name=rep_name_of("scope_id"),
            team_id=Subquery(rep_team.values("team_id")[:1]),
            team_name=Subquery(rep_team.values("team__name")[:1], output_field=CharField()),
        )
        .order_by("rank", "rep_name", "scope_id")
        .values_list("rank", "scope_id", "rep_name", "team_id", "team_name", chosen.field)
    )
    return [
        LeaderboardRow(
            rank=rank,
            rep_id=rep_id,
            rep=rep_name,
            team_id=team_id,
            team=team_name,
            value=value,
            movement=previous[rep_id] - rank if rep_id in previous else None,
        )
        for rank, rep_id, rep_name, team_id, team_name, value in current
    ]
