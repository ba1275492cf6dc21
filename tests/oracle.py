"""The independent test oracle: every metric of docs/metrics.md, recomputed with pandas from raw rows.

The metrics engine fills its summary tables with SQL aggregation; tests compare those tables with
what this module computes from the raw rows. To stay independent it reads nothing of `metrics/` but
the period arithmetic (`metrics.periods`) and the target rows (`metrics.models.Quota`, `Projection`),
and it favours the plain, obviously-correct way over the fast one: datasets are a few thousand rows.

Credit at the time (PRODUCT.md, "Metric definitions"): a rep's team and territory on a day come
from the rep's `RepAssignment` rows, the one with the latest `starts_on` on or before the day (no
`starts_on` = from the start); before a rep's first dated row with no undated one, the earliest
row; a rep with no rows at all keeps `Rep.team` and `Rep.territory` on every day. Each figure is
credited on its own day:

- activities on their local day (`occurred_at` in `tz`);
- deals opened in P (opened, pipeline created, the funnel cohort) on `opened_on`;
- deals closed in P (won, lost, revenue, win rate, average deal size, products) on `closed_on`;
- the weighted pipeline (a snapshot taken at computation time) on the reference day ref(P), so
  that a move never shifts a period that ended before it.

The members of a team or territory for P are the reps assigned to it on the reference day
ref(P) = min(P's last day, today); the company's members are every rep. Members give a team's quota
and projection when it has no own row, a territory's quota and projection, the reps at quota and
the reps activity impact rests on; for those each member brings the rep-level figures of P (their
own revenue and activities in P, whichever team they were credited to).

Conventions of the results (one DataFrame per summary table):

- one row per scope object: every rep (active or not), every team (even one without reps: its own
  quota row still counts), every territory (even one without reps or credited figures: zero sums,
  NULL ratios; a day on which a rep has no territory credits no territory), and the company
  (`scope_id = 0`);
- money is `decimal.Decimal` summed exactly, then rounded half-up to cents; fractions are floats;
  NULL (undefined) is `None`, never 0 or NaN.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pandas as pd
from django.utils import timezone

from activities.models import (
    Activity,
    ActivityType,
    Deal,
    DealStageChange,
    Product,
    Rep,
    RepAssignment,
    Stage,
    Team,
    Territory,
)
from metrics.models import Projection, Quota
from metrics.periods import Period, PeriodKind

CENT = Decimal("0.01")
ZERO = Decimal("0")
MIN_REPS_FOR_CORRELATION = 5

SCOPE_ORDER = ("rep", "team", "territory", "company")

METRIC_COLUMNS = [
    "scope",
    "scope_id",
    "period",
    "revenue",
    "deals_won",
    "deals_lost",
    "win_rate",
    "avg_deal_size",
    "quota",
    "attainment",
    "projection",
    "weighted_pipeline",
    "activity_count",
    "activity_minutes",
    "selling_minutes",
    "selling_time_share",
    "deals_opened",
    "pipeline_created",
    "reps_with_quota",
    "reps_at_quota",
    "reps_at_quota_share",
]
MIX_COLUMNS = ["scope", "scope_id", "period", "activity_type_id", "count", "minutes"]
FUNNEL_COLUMNS = ["scope", "scope_id", "period", "stage_id", "reached", "conversion", "leakage"]
PRODUCT_COLUMNS = ["scope", "scope_id", "period", "product_id", "revenue", "won_count"]
IMPACT_COLUMNS = [
    "scope",
    "scope_id",
    "period",
    "activity_type_id",
    "corr_revenue",
    "corr_win_rate",
    "n_revenue",
    "n_win_rate",
]


# --- raw rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """The raw rows, one DataFrame per table, holding plain Python values (dtype object).

    dtype object keeps ids as ints and NULL as None (pandas would otherwise turn a nullable id
    column into floats with NaN), Decimals as Decimals and datetimes as aware datetimes.
    """

    reps: pd.DataFrame
    assignments: pd.DataFrame
    teams: pd.DataFrame
    territories: pd.DataFrame
    stages: pd.DataFrame
    activity_types: pd.DataFrame
    activities: pd.DataFrame
    deals: pd.DataFrame
    stage_changes: pd.DataFrame
    quotas: pd.DataFrame
    projections: pd.DataFrame
    products: pd.DataFrame


def _frame(queryset, *fields: str) -> pd.DataFrame:
    return pd.DataFrame(list(queryset.order_by("pk").values(*fields)), columns=list(fields), dtype=object)


def load_raw() -> Raw:
    """Read every raw row the metrics rest on, with plain `.values()` queries."""
    return Raw(
        reps=_frame(Rep.objects.all(), "id", "user_id", "team_id", "territory_id", "is_active"),
        assignments=_frame(
            RepAssignment.objects.all(), "id", "rep_id", "team_id", "territory_id", "starts_on"
        ),
        teams=_frame(Team.objects.all(), "id", "name", "manager_id", "territory_id"),
        territories=_frame(Territory.objects.all(), "id", "name"),
        stages=_frame(Stage.objects.all(), "id", "name", "order", "win_probability", "kind"),
        activity_types=_frame(ActivityType.objects.all(), "id", "name", "is_selling", "order", "is_active"),
        activities=_frame(
            Activity.objects.all(), "id", "rep_id", "type_id", "occurred_at", "duration_minutes", "deal_id"
        ),
        deals=_frame(
            Deal.objects.all(),
            "id",
            "owner_id",
            "product_id",
            "amount",
            "stage_id",
            "opened_on",
            "expected_close_on",
            "closed_on",
        ),
        stage_changes=_frame(
            DealStageChange.objects.all(), "id", "deal_id", "from_stage_id", "to_stage_id", "changed_at"
        ),
        quotas=_frame(
            Quota.objects.all(), "id", "rep_id", "team_id", "period_kind", "period_start", "amount"
        ),
        projections=_frame(
            Projection.objects.all(), "id", "rep_id", "team_id", "period_kind", "period_start", "amount"
        ),
        products=_frame(Product.objects.all(), "id", "name", "category"),
    )


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OracleResult:
    metrics: pd.DataFrame
    mix: pd.DataFrame
    funnel: pd.DataFrame
    products: pd.DataFrame
    impact: pd.DataFrame

    def metric(self, scope: str, scope_id: int) -> dict:
        """The metrics row of one scope object, as a dict (KeyError if there is none)."""
        rows = self.metrics[(self.metrics.scope == scope) & (self.metrics.scope_id == scope_id)]
        if len(rows) != 1:
            raise KeyError((scope, scope_id))
        return rows.iloc[0].to_dict()

    def rows(self, table: str, scope: str, scope_id: int) -> list[dict]:
        """The rows of one scope object in `mix`, `funnel`, `products` or `impact`, in order."""
        frame = getattr(self, table)
        return frame[(frame.scope == scope) & (frame.scope_id == scope_id)].to_dict("records")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _fraction(numerator, denominator) -> float | None:
    if not denominator:
        return None
    return float(Decimal(numerator) / Decimal(denominator))


def _sub_periods(period: Period) -> list[Period]:
    """The periods a target of `period` is made of when it has no row of its own: a year's four
    quarters and a quarter's three months, counted in months from its first day (so a fiscal
    year starting in April is April-June, July-September, …)."""
    if period.kind == PeriodKind.YEAR:
        return [Period(_months_after(period.start, 3 * n), PeriodKind.QUARTER) for n in range(4)]
    if period.kind == PeriodKind.QUARTER:
        return [Period(_months_after(period.start, n), PeriodKind.MONTH) for n in range(3)]
    return []


def _months_after(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _sum_or_none(values) -> Decimal | None:
    found = [value for value in values if value is not None]
    return sum(found, ZERO) if found else None


def target_for(rows: dict[tuple[str, date], Decimal], period: Period) -> Decimal | None:
    """The row for exactly `period`, else the sum over its sub-periods found the same way, else None.

    `rows` maps (period_kind, period_start) to the amount, for one rep or one team.
    """
    key = (str(period.kind), period.start)
    if key in rows:
        return rows[key]
    return _sum_or_none(target_for(rows, sub) for sub in _sub_periods(period))


def _target_rows(frame: pd.DataFrame, column: str, owner_id: int) -> dict[tuple[str, date], Decimal]:
    mine = frame[frame[column] == owner_id]
    return {(str(row.period_kind), row.period_start): row.amount for row in mine.itertuples(index=False)}


class _Targets:
    """Quota or projection of every scope, by the rules of docs/metrics.md.

    `members` maps ("team" | "territory", id) to the rep ids of that scope object for the period.
    """

    def __init__(self, frame: pd.DataFrame, raw: Raw, period: Period, members: dict):
        self.period = period
        self.frame = frame
        self.raw = raw
        self.members = members

    def rep(self, rep_id: int) -> Decimal | None:
        return target_for(_target_rows(self.frame, "rep_id", rep_id), self.period)

    def team(self, team_id: int) -> Decimal | None:
        own = target_for(_target_rows(self.frame, "team_id", team_id), self.period)
        if own is not None:
            return own
        return _sum_or_none(self.rep(rep_id) for rep_id in self.members[("team", team_id)])

    def territory(self, territory_id: int) -> Decimal | None:
        return _sum_or_none(self.rep(rep_id) for rep_id in self.members[("territory", territory_id)])

    def company(self) -> Decimal | None:
        return _sum_or_none(self.team(team_id) for team_id in self.raw.teams.id)

    def of(self, scope: str, scope_id: int) -> Decimal | None:
        if scope == "rep":
            return self.rep(scope_id)
        if scope == "team":
            return self.team(scope_id)
        if scope == "territory":
            return self.territory(scope_id)
        return self.company()


# --- the computation --------------------------------------------------------------------------------


class Assignments:
    """Every rep's team and territory on any day (PRODUCT.md, "Credit at the time")."""

    def __init__(self, raw: Raw):
        self.current = {rep.id: (rep.team_id, rep.territory_id) for rep in raw.reps.itertuples(index=False)}
        self.rows_of: dict[int, list[tuple[date | None, int, int | None]]] = {}
        for row in raw.assignments.itertuples(index=False):
            self.rows_of.setdefault(row.rep_id, []).append((row.starts_on, row.team_id, row.territory_id))
        for rows in self.rows_of.values():
            # "From the start" (None) first, then by day.
            rows.sort(key=lambda row: (row[0] is not None, row[0] or date.min))

    def on(self, rep_id: int, day: date) -> tuple[int | None, int | None]:
        """(team id, territory id) of the rep on `day`."""
        rows = self.rows_of.get(rep_id)
        if not rows:
            return self.current[rep_id]
        in_effect = rows[0]  # no row on or before the day: the earliest one
        for row in rows:
            if row[0] is None or row[0] <= day:
                in_effect = row
        return in_effect[1], in_effect[2]


def scope_members(raw: Raw, assignments: Assignments, day: date) -> list[tuple[str, int, list[int]]]:
    """(scope, scope_id, member rep ids on `day`) for every scope object that gets a row, in order."""
    rep_ids = sorted(raw.reps.id)
    on_day = {rep_id: assignments.on(rep_id, day) for rep_id in rep_ids}
    members: list[tuple[str, int, list[int]]] = []
    for rep_id in rep_ids:
        members.append(("rep", rep_id, [rep_id]))
    for team_id in sorted(raw.teams.id):
        members.append(("team", team_id, [r for r in rep_ids if on_day[r][0] == team_id]))
    for territory_id in sorted(raw.territories.id):
        members.append(("territory", territory_id, [r for r in rep_ids if on_day[r][1] == territory_id]))
    members.append(("company", 0, rep_ids))
    return members


def _credited(frame: pd.DataFrame, rep_column: str, days, assignments: Assignments) -> pd.DataFrame:
    """`frame` with the team and territory of its rep on each row's day (`days`, one per row)."""
    frame = frame.copy()
    on_day = [assignments.on(rep_id, day) for rep_id, day in zip(frame[rep_column], days, strict=True)]
    frame["team_id"] = pd.Series([team for team, _ in on_day], index=frame.index, dtype=object)
    frame["territory_id"] = pd.Series([territory for _, territory in on_day], index=frame.index, dtype=object)
    return frame


def _credited_to(frame: pd.DataFrame, rep_column: str, scope: str, scope_id: int) -> pd.DataFrame:
    """The rows of a credited frame that count for one scope object."""
    if scope == "rep":
        return frame[frame[rep_column] == scope_id]
    if scope == "team":
        return frame[frame.team_id == scope_id]
    if scope == "territory":
        return frame[frame.territory_id == scope_id]
    return frame


def _in_period(values: pd.Series, period: Period) -> pd.Series:
    return values.map(lambda day: day is not None and day in period).astype(bool)


def _local_day(moment, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < MIN_REPS_FOR_CORRELATION or len(set(xs)) == 1 or len(set(ys)) == 1:
        return None
    return statistics.correlation(xs, ys)


def _reach(deal, kind_of: dict[int, str], order_of: dict[int, int], history: list[int], open_ids) -> set:
    """The funnel stages a deal reached (docs/metrics.md, "Funnel")."""
    if kind_of[deal.stage_id] == Stage.Kind.WON:
        return set(open_ids) | {deal.stage_id}
    visited = [*history, deal.stage_id]
    open_orders = [order_of[stage_id] for stage_id in visited if kind_of[stage_id] == Stage.Kind.OPEN]
    if not open_orders:
        return set()
    highest = max(open_orders)
    return {stage_id for stage_id in open_ids if order_of[stage_id] <= highest}


def compute(raw: Raw, period: Period, *, tz: str | ZoneInfo, today: date | None = None) -> OracleResult:
    """Every metric of every scope object for `period`, with days taken in the time zone `tz`.

    `today` (default: `timezone.localdate()`) is the day the figures are computed on: it caps the
    reference day members (and the weighted pipeline's owners) are taken on.
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    today = timezone.localdate() if today is None else today
    reference_day = min(period.last_day, today)
    assignments = Assignments(raw)
    label = str(period)
    stages = raw.stages.sort_values("order", kind="stable")
    kind_of = dict(zip(stages.id, stages.kind, strict=True))
    order_of = dict(zip(stages.id, stages.order, strict=True))
    probability_of = dict(zip(stages.id, stages.win_probability, strict=True))
    open_ids = list(stages[stages.kind == Stage.Kind.OPEN].id)
    won_ids = list(stages[stages.kind == Stage.Kind.WON].id)
    funnel_ids = open_ids + won_ids
    selling_type_ids = set(raw.activity_types[raw.activity_types.is_selling.astype(bool)].id)
    type_ids = list(raw.activity_types.sort_values(["order", "name"], kind="stable").id)

    # Activities of P: by the local date of occurred_at.
    activities = raw.activities.copy()
    activities["day"] = activities.occurred_at.map(lambda moment: _local_day(moment, zone))
    activities = activities[_in_period(activities.day, period)]
    activities = _credited(activities, "rep_id", activities.day, assignments)

    # Each deal counts for the team of its owner on the day of the figure: opening, closing, ref(P).
    deals = raw.deals.copy()
    deals["kind"] = deals.stage_id.map(kind_of)
    won = deals[(deals.kind == Stage.Kind.WON) & _in_period(deals.closed_on, period)]
    won = _credited(won, "owner_id", won.closed_on, assignments)
    lost = deals[(deals.kind == Stage.Kind.LOST) & _in_period(deals.closed_on, period)]
    lost = _credited(lost, "owner_id", lost.closed_on, assignments)
    opened = deals[_in_period(deals.opened_on, period)]
    opened = _credited(opened, "owner_id", opened.opened_on, assignments)
    pipeline = deals[(deals.kind == Stage.Kind.OPEN) & _in_period(deals.expected_close_on, period)]
    pipeline = _credited(pipeline, "owner_id", [reference_day] * len(pipeline), assignments)

    history_of: dict[int, list[int]] = {deal_id: [] for deal_id in deals.id}
    for change in raw.stage_changes.itertuples(index=False):
        history_of.setdefault(change.deal_id, []).append(change.to_stage_id)
    reach_of = {
        deal.id: _reach(deal, kind_of, order_of, history_of[deal.id], open_ids)
        for deal in opened.itertuples(index=False)
    }

    scopes = scope_members(raw, assignments, reference_day)
    members = {(scope, scope_id): rep_ids for scope, scope_id, rep_ids in scopes}
    quotas = _Targets(raw.quotas, raw, period, members)
    projections = _Targets(raw.projections, raw, period, members)

    def revenue_of(rep_id: int) -> Decimal:
        """The rep's own revenue in P, whichever team it was credited to."""
        return sum(won[won.owner_id == rep_id].amount, ZERO)

    metric_rows, mix_rows, funnel_rows, product_rows, impact_rows = [], [], [], [], []
    for scope, scope_id, rep_ids in scopes:
        key = {"scope": scope, "scope_id": scope_id, "period": label}
        my_won = _credited_to(won, "owner_id", scope, scope_id)
        my_lost = _credited_to(lost, "owner_id", scope, scope_id)
        my_opened = _credited_to(opened, "owner_id", scope, scope_id)
        my_pipeline = _credited_to(pipeline, "owner_id", scope, scope_id)
        my_activities = _credited_to(activities, "rep_id", scope, scope_id)

        revenue = sum(my_won.amount, ZERO)
        deals_won, deals_lost = len(my_won), len(my_lost)
        quota = quotas.of(scope, scope_id)
        minutes = sum(my_activities.duration_minutes, 0)
        selling = sum(my_activities[my_activities.type_id.isin(selling_type_ids)].duration_minutes, 0)

        if scope == "rep":
            with_quota = at_quota = share_at_quota = None
        else:
            rep_quotas = {rep_id: quotas.rep(rep_id) for rep_id in rep_ids}
            quota_reps = [
                rep_id for rep_id, amount in rep_quotas.items() if amount is not None and amount > 0
            ]
            with_quota = len(quota_reps)
            at_quota = sum(1 for rep_id in quota_reps if revenue_of(rep_id) >= rep_quotas[rep_id])
            share_at_quota = _fraction(at_quota, with_quota)

        projection = projections.of(scope, scope_id)
        metric_rows.append(
            {
                **key,
                "revenue": money(revenue),
                "deals_won": deals_won,
                "deals_lost": deals_lost,
                "win_rate": _fraction(deals_won, deals_won + deals_lost),
                "avg_deal_size": money(revenue / deals_won) if deals_won else None,
                "quota": None if quota is None else money(quota),
                "attainment": _fraction(revenue, quota) if quota else None,
                "projection": None if projection is None else money(projection),
                "weighted_pipeline": money(
                    sum(
                        (deal.amount * probability_of[deal.stage_id] for deal in my_pipeline.itertuples()),
                        ZERO,
                    )
                ),
                "activity_count": len(my_activities),
                "activity_minutes": minutes,
                "selling_minutes": selling,
                "selling_time_share": _fraction(selling, minutes),
                "deals_opened": len(my_opened),
                "pipeline_created": money(sum(my_opened.amount, ZERO)),
                "reps_with_quota": with_quota,
                "reps_at_quota": at_quota,
                "reps_at_quota_share": share_at_quota,
            }
        )

        for type_id in type_ids:
            of_type = my_activities[my_activities.type_id == type_id]
            if len(of_type):
                mix_rows.append(
                    {
                        **key,
                        "activity_type_id": type_id,
                        "count": len(of_type),
                        "minutes": sum(of_type.duration_minutes, 0),
                    }
                )

        reached = [
            sum(1 for deal_id in my_opened.id if stage_id in reach_of[deal_id]) for stage_id in funnel_ids
        ]
        for position, stage_id in enumerate(funnel_ids):
            is_last = position == len(funnel_ids) - 1
            conversion = None if is_last else _fraction(reached[position + 1], reached[position])
            funnel_rows.append(
                {
                    **key,
                    "stage_id": stage_id,
                    "reached": reached[position],
                    "conversion": conversion,
                    "leakage": None if conversion is None else 1.0 - conversion,
                }
            )

        by_product: dict[int | None, list[Decimal]] = {}
        for deal in my_won.itertuples(index=False):
            by_product.setdefault(deal.product_id, []).append(deal.amount)
        for product_id in sorted(by_product, key=lambda pid: (pid is not None, pid or 0)):
            amounts = by_product[product_id]
            product_rows.append(
                {
                    **key,
                    "product_id": product_id,
                    "revenue": money(sum(amounts, ZERO)),
                    "won_count": len(amounts),
                }
            )

        if scope != "rep":
            # Across the members, each with the rep's own figures of P (not only those credited here).
            impact_rows.extend(_impact_rows(key, rep_ids, type_ids, activities, won, lost))

    return OracleResult(
        metrics=pd.DataFrame(metric_rows, columns=METRIC_COLUMNS, dtype=object),
        mix=pd.DataFrame(mix_rows, columns=MIX_COLUMNS, dtype=object),
        funnel=pd.DataFrame(funnel_rows, columns=FUNNEL_COLUMNS, dtype=object),
        products=pd.DataFrame(product_rows, columns=PRODUCT_COLUMNS, dtype=object),
        impact=pd.DataFrame(impact_rows, columns=IMPACT_COLUMNS, dtype=object),
    )


def _impact_rows(key: dict, rep_ids, type_ids, activities, won, lost) -> list[dict]:
    """Pearson correlation across the scope's member reps of each type's count with revenue and win rate.

    `activities`, `won` and `lost` are all of P's rows; only the members' are used.
    """
    active = set(activities.rep_id) | set(won.owner_id) | set(lost.owner_id)
    used = [rep_id for rep_id in rep_ids if rep_id in active]
    revenue = {rep_id: float(sum(won[won.owner_id == rep_id].amount, ZERO)) for rep_id in used}
    win_rate = {}
    for rep_id in used:
        rep_won, rep_lost = int((won.owner_id == rep_id).sum()), int((lost.owner_id == rep_id).sum())
        if rep_won + rep_lost:
            win_rate[rep_id] = rep_won / (rep_won + rep_lost)
    rows = []
    for type_id in type_ids:
        count = {
            rep_id: float(((activities.rep_id == rep_id) & (activities.type_id == type_id)).sum())
            for rep_id in used
        }
        rated = [rep_id for rep_id in used if rep_id in win_rate]
        rows.append(
            {
                **key,
                "activity_type_id": type_id,
                "corr_revenue": _pearson([count[r] for r in used], [revenue[r] for r in used]),
                "corr_win_rate": _pearson([count[r] for r in rated], [win_rate[r] for r in rated]),
                "n_revenue": len(used),
                "n_win_rate": len(rated),
            }
        )
    return rows


def movement(rank: int, value, previous_rank: int | None, previous_value) -> int | None:
    """A leaderboard row's movement by the product's rule, from the oracle's ranks and values:
    the previous rank minus this one; None when not ranked before, and None for a rep with
    nothing (zero or no value) in both spans."""
    if not value and not previous_value:
        return None
    return None if previous_rank is None else previous_rank - rank
