"""Leaderboards: reps ranked by one metric over a span of days, read from the summary tables.

A calendar month, quarter or year is read from the per-period tables (PeriodMetric,
PeriodActivityMix); a day, an ISO week or a custom range adds up the daily tables
(RepDayDeal, RepDayActivity) per rep in the database. Either way the ranking happens in
the database (`RANK() OVER (ORDER BY value DESC)`), so ties share a rank (1, 2, 2, 4),
and a board costs the same few queries whatever the number of reps.
Leaderboards are visible to everyone signed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    CharField,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Rank
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from activities import access
from activities.models import ActivityType, Rep, Team, Territory
from metrics import formulas
from metrics.dashboard import goal_of
from metrics.membership import member_ids, reference_day
from metrics.models import MONEY as MONEY_COLUMN
from metrics.models import PeriodActivityMix, PeriodMetric, RepDayActivity, RepDayDeal, Scope
from metrics.periods import Period, PeriodKind
from metrics.selectors import ScopeNotFound, rep_name_of, user_name
from metrics.spans import Span

MONEY, COUNT, FRACTION = "money", "count", "fraction"
ACTIVITY_TYPE_PREFIX = "activity:"


class UnknownMetric(LookupError):
    """A metric name that is neither one of METRICS nor `activity:<activity type id>`."""


class MetricUndefined(ValueError):
    """The metric has no value over this span (attainment needs a calendar period: quotas are per period)."""


@dataclass(frozen=True)
class LeaderboardMetric:
    name: str
    field: str  # the PeriodMetric column ranked on ("" for one activity type's count)
    kind: str  # money, count or fraction: how the value is written out
    label: str = ""
    min_closed_deals: bool = False  # only reps with enough closed deals rank (win rate)
    calendar_only: bool = False  # defined per calendar period only (attainment)
    activity_type_id: int | None = None  # set for `activity:<id>`: that type's count


METRICS = {
    metric.name: metric
    for metric in (
        LeaderboardMetric("revenue", "revenue", MONEY, _("Revenue")),
        LeaderboardMetric("deals_won", "deals_won", COUNT, _("Deals won")),
        LeaderboardMetric("attainment", "attainment", FRACTION, _("Quota attainment"), calendar_only=True),
        LeaderboardMetric("win_rate", "win_rate", FRACTION, _("Win rate"), min_closed_deals=True),
        LeaderboardMetric("avg_deal_size", "avg_deal_size", MONEY, _("Average deal size")),
        LeaderboardMetric("activities", "activity_count", COUNT, _("Activities (all types)")),
        LeaderboardMetric("selling_time_share", "selling_time_share", FRACTION, _("Time spent selling")),
    )
}
LEADERBOARD_SCOPES = (Scope.COMPANY, Scope.TEAM, Scope.TERRITORY)


def activity_metric_name(activity_type_id: int) -> str:
    return f"{ACTIVITY_TYPE_PREFIX}{activity_type_id}"


def metric_named(name: str, *, label: str = "") -> LeaderboardMetric:
    """The metric called `name`: one of METRICS, or `activity:<id>` for one activity type's count."""
    if name in METRICS:
        return METRICS[name]
    if name.startswith(ACTIVITY_TYPE_PREFIX):
        type_id = name.removeprefix(ACTIVITY_TYPE_PREFIX)
        if type_id.isascii() and type_id.isdigit():
            return LeaderboardMetric(name, "", COUNT, label, activity_type_id=int(type_id))
    raise UnknownMetric(name)


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    rep_id: int
    rep: str
    team_id: int | None
    team: str | None
    value: Decimal | int | float
    movement: int | None  # previous rank - this rank: positive = moved up; None = not ranked before
    badges: tuple[str, ...] = ()  # codes of BADGES, in that order
    # Nothing in this span nor the one before (zero or no value in both): such a rep has no
    # movement (a tie at zero moving "up 15" means nothing) and is never "needs a push".
    idle: bool = False
    # Progress towards the rep's quota of the board's quota period (revenue and attainment
    # boards): metrics.dashboard.Goal, or None without a quota.
    goal: object = None

    @property
    def percent(self) -> float | None:
        """A fraction as percentage points (0.5 → 50.0), for display."""
        return None if self.value is None else float(self.value) * 100

    @property
    def places(self) -> int:
        """How many places the rep moved, up or down."""
        return abs(self.movement or 0)

    @property
    def badge_list(self) -> list[tuple[str, str]]:
        return [(code, BADGES[code]) for code in self.badges]


# --- which reps ---------------------------------------------------------------------------------


def _members(scope: str, scope_id: int | None, span: Span) -> RawSQL | None:
    """The reps a leaderboard ranks (a subquery): the team's / territory's on the span's reference
    day (its last day, or today while it runs: metrics.membership), each with their own figures;
    None = every rep."""
    if scope == Scope.COMPANY:
        return None
    model, column = {Scope.TEAM: (Team, "team_id"), Scope.TERRITORY: (Territory, "territory_id")}[scope]
    if scope_id is None or not model.objects.filter(pk=scope_id).exists():
        raise ScopeNotFound((scope, scope_id))
    return member_ids(reference_day(span), column=column, scope_id=scope_id)


# --- ranking a calendar period: the per-period tables --------------------------------------------


def _period_values(metric: LeaderboardMetric, period: Period, members) -> QuerySet:
    """One PeriodMetric row per rep of `members` with its `value` (and `closed` deals)."""
    rows = PeriodMetric.objects.filter(scope=Scope.REP, period_kind=period.kind, period_start=period.start)
    if members is not None:
        rows = rows.filter(scope_id__in=members)
    if metric.activity_type_id is not None:
        counts = PeriodActivityMix.objects.filter(
            scope=Scope.REP,
            scope_id=OuterRef("scope_id"),
            period_kind=period.kind,
            period_start=period.start,
            activity_type_id=metric.activity_type_id,
        ).values("count")[:1]
        value = Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))
    else:
        value = F(metric.field)
    return rows.annotate(rep_ref=F("scope_id"), value=value, closed=F("deals_won") + F("deals_lost"))


# --- ranking a day, a week or a range: the daily tables -------------------------------------------


def _daily_sum(model, column: str, span: Span, output_field, **filters) -> Coalesce:
    """Σ `column` of the outer rep's rows of `model` in the span; 0 when there are none."""
    total = (
        model.objects.filter(rep_id=OuterRef("pk"), day__gte=span.first, day__lte=span.last, **filters)
        .order_by()
        .values("rep_id")
        .annotate(total=Sum(column))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=output_field), Value(0), output_field=output_field)


def _span_values(metric: LeaderboardMetric, span: Span, members) -> QuerySet:
    """One Rep per rep of `members` with its `value` over the span summed from the daily tables."""
    reps = Rep.objects.all() if members is None else Rep.objects.filter(pk__in=members)
    money = DecimalField(**MONEY_COLUMN)
    integer = IntegerField()
    won = _daily_sum(RepDayDeal, "deals_won", span, integer)
    lost = _daily_sum(RepDayDeal, "deals_lost", span, integer)
    reps = reps.annotate(rep_ref=F("pk"))
    if metric.name in ("win_rate", "avg_deal_size", "deals_won"):
        reps = reps.annotate(won=won)
    if metric.name == "win_rate":
        reps = reps.annotate(lost=lost)
    if metric.name == "revenue":
        # Rounded to cents in SQL (SQLite sums decimals as floats), so equal revenues tie.
        value = formulas.money(_daily_sum(RepDayDeal, "revenue", span, money))
    elif metric.name == "deals_won":
        value = F("won")
    elif metric.name == "win_rate":
        value = formulas.win_rate(F("won"), F("lost"))
    elif metric.name == "avg_deal_size":
        revenue = formulas.money(_daily_sum(RepDayDeal, "revenue", span, money))
        # To the cent, as the period tables store it, so equal sizes tie.
        value = formulas.avg_deal_size(revenue, F("won"))
    elif metric.name == "activities":
        value = _daily_sum(RepDayActivity, "count", span, integer)
    elif metric.activity_type_id is not None:
        value = _daily_sum(RepDayActivity, "count", span, integer, activity_type_id=metric.activity_type_id)
    elif metric.name == "selling_time_share":
        value = formulas.selling_time_share(
            _daily_sum(RepDayActivity, "minutes", span, integer, activity_type__is_selling=True),
            _daily_sum(RepDayActivity, "minutes", span, integer),
        )
    else:  # pragma: no cover - every metric is handled above or refused by _values
        raise UnknownMetric(metric.name)
    reps = reps.annotate(value=value)
    if metric.min_closed_deals:
        reps = reps.annotate(closed=F("won") + F("lost"))
    return reps


# --- one board ----------------------------------------------------------------------------------


def _values(metric: LeaderboardMetric, span: Span, members) -> QuerySet:
    if span.period is not None:
        return _period_values(metric, span.period, members)
    if metric.calendar_only:
        raise MetricUndefined(metric.name)
    return _span_values(metric, span, members)


def _ranked(metric: LeaderboardMetric, span: Span, members) -> QuerySet:
    # No value, no place: no attainment without a quota, no win rate with nothing closed.
    rows = _values(metric, span, members).filter(value__isnull=False)
    if metric.min_closed_deals:
        rows = rows.filter(closed__gte=settings.LEADERBOARD_MIN_CLOSED_DEALS)
    return rows.annotate(rank=Window(Rank(), order_by=F("value").desc()))


def _rep_columns(rows: QuerySet, span: Span) -> QuerySet:
    """The rep's name and current team beside each ranked row (subqueries or joins, never N+1)."""
    if span.period is not None:
        team = Rep.objects.filter(pk=OuterRef("scope_id")).order_by()
        return rows.annotate(
            rep_name=rep_name_of("scope_id"),
            team_ref=Subquery(team.values("team_id")[:1]),
            team_name=Subquery(team.values("team__name")[:1], output_field=CharField()),
        )
    return rows.annotate(rep_name=user_name("user__"), team_ref=F("team_id"), team_name=F("team__name"))


def _as_span(period: Period | Span) -> Span:
    return period if isinstance(period, Span) else Span.of_period(period)


def leaderboard_for(
    *, metric: str, period: Period | Span, scope: str, scope_id: int | None = None
) -> list[LeaderboardRow]:
    """The reps of the company, a team or a territory ranked by `metric` over `period`, best first.

    `period` is a calendar Period or any Span (a day, a week, a range). Raises ScopeNotFound
    for an unknown team or territory, UnknownMetric for an unknown metric and MetricUndefined
    for attainment over a span that is not a calendar period. Empty when a calendar period has
    not been computed yet.
    """
    chosen = metric_named(metric)
    span = _as_span(period)
    members = _members(scope, scope_id, span)
    return _rows(chosen, span, members)


def _rows(chosen: LeaderboardMetric, span: Span, members) -> list[LeaderboardRow]:
    current = (
        _rep_columns(_ranked(chosen, span, members), span)
        .order_by("rank", "rep_name", "rep_ref")
        .values_list("rank", "rep_ref", "rep_name", "team_ref", "team_name", "value")
    )
    current = list(current)
    previous = {
        rep_id: (rank, value)
        for rep_id, rank, value in _ranked(chosen, span.previous(), members).values_list(
            "rep_ref", "rank", "value"
        )
    }
    rows = []
    for rank, rep_id, rep_name, team_id, team_name, value in current:
        before_rank, before_value = previous.get(rep_id, (None, None))
        idle = not value and not before_value
        rows.append(
            LeaderboardRow(
                rank=rank,
                rep_id=rep_id,
                rep=rep_name,
                team_id=team_id,
                team=team_name,
                value=_typed(chosen, value),
                movement=None if idle or before_rank is None else before_rank - rank,
                idle=idle,
            )
        )
    return rows


def _typed(metric: LeaderboardMetric, value):
    """The value as its kind: Decimal cents for money, int for counts, float for fractions."""
    if value is None:
        return None
    if metric.kind == MONEY:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    if metric.kind == COUNT:
        return int(value)
    return float(value)


# --- the page: a board with its badges, best and worst ------------------------------------------

QUOTA_REACHED, MOST_IMPROVED, TOP_ACTIVITY = "quota_reached", "most_improved", "top_activity"
BADGES = {
    QUOTA_REACHED: _("Quota reached"),
    MOST_IMPROVED: _("Most improved"),
    TOP_ACTIVITY: _("Top activity"),
}
PODIUM = 3  # how many best and worst performers the page shows


@dataclass(frozen=True)
class Standing:
    """Where one rep stands on a board: their row, how many reps rank, and the row just ahead."""

    row: LeaderboardRow
    total: int
    ahead: LeaderboardRow | None  # the nearest rep ranked strictly higher; None at the top

    @property
    def gap(self) -> Decimal | int | float | None:
        """How much more the rep needs to draw level with the rep just ahead (None at the top)."""
        if self.ahead is None or self.ahead.value is None or self.row.value is None:
            return None
        return self.ahead.value - self.row.value


def standing_of(board: Leaderboard | None, rep_id: int | None) -> Standing | None:
    """The Standing of rep `rep_id` on `board`, None when they are not on it."""
    if board is None or rep_id is None:
        return None
    for position, row in enumerate(board.rows):
        if row.rep_id == rep_id:
            ahead = next((other for other in reversed(board.rows[:position]) if other.rank < row.rank), None)
            return Standing(row=row, total=len(board.rows), ahead=ahead)
    return None


@dataclass(frozen=True)
class Leaderboard:
    """Everything a leaderboard page, its TV mode and its exports show."""

    metric: LeaderboardMetric
    span: Span
    scope: str
    scope_id: int | None
    scope_name: str
    rows: list[LeaderboardRow]
    generated_at: datetime
    # The metric is undefined over this span (attainment over a week): no rows, say why.
    undefined: bool = False
    # Win rate: the minimum of closed deals, and how many reps in scope closed fewer (but some).
    min_closed_deals: int | None = None
    below_minimum: int = 0
    # The calendar period the "Quota reached" badge is about.
    quota_period: Period | None = None
    # The reps whose dashboard the viewer may open (their names become links).
    linkable: frozenset[int] = field(default_factory=frozenset)

    @property
    def quota_span(self) -> Span | None:
        return Span.of_period(self.quota_period) if self.quota_period else None

    @property
    def best(self) -> list[LeaderboardRow]:
        return self.rows[:PODIUM]

    @property
    def worst(self) -> list[LeaderboardRow]:
        """The last PODIUM rows with something in this span or the one before, worst last,
        leaving out those already among the best. Reps with nothing in either are not picked:
        among ties at zero, whom to name would be chance."""
        return [row for row in self.rows[PODIUM:] if not row.idle][-PODIUM:]

    @property
    def badge_holders(self) -> list[tuple[str, str, list[LeaderboardRow]]]:
        """(code, label, the rows holding it) for every badge, holders or not."""
        return [
            (code, text, [row for row in self.rows if code in row.badges]) for code, text in BADGES.items()
        ]


# Boards whose rows show the bar of progress towards the rep's quota.
GOAL_METRICS = ("revenue", "attainment")


def _quota_period_of(span: Span) -> Period:
    """The calendar period a span's quota badge is about: the span's own, else the month it ends in."""
    return span.period or Period.containing(span.last, PeriodKind.MONTH)


def _scope_name(scope: str, scope_id: int | None) -> str:
    if scope == Scope.TEAM:
        return Team.objects.filter(pk=scope_id).values_list("name", flat=True).first() or ""
    if scope == Scope.TERRITORY:
        return Territory.objects.filter(pk=scope_id).values_list("name", flat=True).first() or ""
    return str(_("Company"))


def _metric_with_label(name: str) -> LeaderboardMetric:
    metric = metric_named(name)
    if metric.activity_type_id is None:
        return metric
    type_name = ActivityType.objects.filter(pk=metric.activity_type_id).values_list("name", flat=True).first()
    if type_name is None:
        raise UnknownMetric(name)
    from activities.templatetags.salestrack import label

    return metric_named(name, label=label(type_name))


def leaderboard_page_for(
    *, viewer, metric: str, span: Span, scope: str, scope_id: int | None = None
) -> Leaderboard:
    """A board with its movement, badges and the links the viewer may follow.

    Badges: "Quota reached" (attainment ≥ 100 % in the span's calendar period, or the month
    a shorter span ends in), "Most improved" (the largest rise in rank, if anyone rose) and
    "Top activity" (the most activities logged in the span, if any). Ties share a badge.
    Raises ScopeNotFound for an unknown team or territory and UnknownMetric.
    """
    chosen = _metric_with_label(metric)
    members = _members(scope, scope_id, span)
    common = {
        "metric": chosen,
        "span": span,
        "scope": scope,
        "scope_id": scope_id,
        "scope_name": _scope_name(scope, scope_id),
        "generated_at": timezone.now(),
    }
    if chosen.calendar_only and span.period is None:
        return Leaderboard(rows=[], undefined=True, **common)
    rows = _rows(chosen, span, members)
    rep_ids = [row.rep_id for row in rows]
    quota_period = _quota_period_of(span)
    # Every rep at quota in the period (a few hundred ids at most), kept to the ranked ones
    # below: cheaper than sending the board's thousand ids to the database.
    quota_rows = PeriodMetric.objects.filter(
        scope=Scope.REP, period_kind=quota_period.kind, period_start=quota_period.start
    )
    goals = {}
    if chosen.name in GOAL_METRICS:
        # The same one query: every rep with a quota, for the bars, and those at quota.
        found = list(quota_rows.filter(quota__gt=0).values_list("scope_id", "quota", "revenue", "attainment"))
        reached = {
            rep_id
            for rep_id, _quota, _revenue, attainment in found
            if attainment is not None and attainment >= 1
        }
        quota_span, today = Span.of_period(quota_period), timezone.localdate()
        goals = {
            rep_id: goal_of({"quota": quota, "revenue": revenue}, quota_span, today)
            for rep_id, quota, revenue, _attainment in found
        }
    else:
        reached = set(quota_rows.filter(attainment__gte=1).values_list("scope_id", flat=True))
    top_activity = set(
        _ranked(METRICS["activities"], span, members)
        .filter(value__gt=0)
        .filter(rank=1)
        .values_list("rep_ref", flat=True)
    )
    rises = [row.movement for row in rows if row.movement]
    best_rise = max(rises, default=0)

    def badges_of(row: LeaderboardRow) -> tuple[str, ...]:
        held = (
            (QUOTA_REACHED, row.rep_id in reached),
            (MOST_IMPROVED, best_rise > 0 and row.movement == best_rise),
            (TOP_ACTIVITY, row.rep_id in top_activity),
        )
        return tuple(code for code, has in held if has)

    rows = [replace(row, badges=badges_of(row), goal=goals.get(row.rep_id)) for row in rows]
    below_minimum = 0
    minimum = None
    if chosen.min_closed_deals:
        minimum = settings.LEADERBOARD_MIN_CLOSED_DEALS
        below_minimum = _values(chosen, span, members).filter(closed__gt=0, closed__lt=minimum).count()
    linkable = frozenset(access.visible_reps(viewer).values_list("pk", flat=True)).intersection(rep_ids)
    return Leaderboard(
        rows=rows,
        min_closed_deals=minimum,
        below_minimum=below_minimum,
        quota_period=quota_period,
        linkable=linkable,
        **common,
    )


def leaderboard_metric_choices() -> list[tuple[str, str]]:
    """The metrics a board can rank by: the fixed ones, then each active activity type's count."""
    from activities.templatetags.salestrack import label

    choices = [(name, metric.label) for name, metric in METRICS.items()]
    for type_id, name in ActivityType.objects.filter(is_active=True).values_list("pk", "name"):
        choices.append((activity_metric_name(type_id), label(name)))
    return choices
