"""The metrics engine: raw rows → daily tables → period tables.

Each function rebuilds one slice (a range of days, or one period) inside one transaction,
the daily tables as delete-and-insert, the period tables by difference (only the rows whose
figures changed are written: _merged), so running it again gives the same rows and an
interrupted run leaves every slice either old or new. A change of some reps' rows (a saved
activity) rebuilds only the period rows it can move: slices_of_reps. Every table of every
level is one `INSERT … SELECT … GROUP BY` in the database, written so that the same SQL runs
on SQLite and PostgreSQL: the daily tables from raw rows, a month from its daily rows, a
quarter from its months, a year from its quarters; team, territory and company rows from the
rows credited to them. The ratios are the formulas of metrics.formulas, compiled into those
statements. Only activity impact (correlations over one row per rep and type) is worked out
in numpy.

The definitions followed here are in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from activities.models import Activity, ActivityType, Deal, DealStageChange, Rep, Stage, Team, Territory

from . import formulas
from .membership import (
    TEAM_OF,
    TERRITORY_OF,
    assignment_days_sql,
    credit_join,
    members_on,
    on_day_sql,
    reference_day,
)
from .models import (
    PeriodActivityImpact,
    PeriodActivityMix,
    PeriodFunnel,
    PeriodMetric,
    PeriodProduct,
    Projection,
    Quota,
    RepDayActivity,
    RepDayDeal,
    RepDayReach,
    Scope,
)
from .periods import Period, PeriodKind

ZERO = Decimal("0")
# Correlations rest on at least this many reps (PRODUCT.md: not shown below 5).
MIN_IMPACT_REPS = 5
# PostgreSQL's memory for one sort or hash of a chunk (SET LOCAL; the server's default is 4 MB).
WORK_MEM = "64MB"


def _execute(sql: str, params: Iterable) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return max(cursor.rowcount, 0)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def local_day_bounds(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """Aware datetimes of local midnight of first_day and of the day after last_day."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(first_day, time.min, tzinfo=tz)
    end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


# --- daily tables -----------------------------------------------------------------


def rollup_days(*, first_day: date, last_day: date, rep_ids: Iterable[int] | None = None) -> int:
    """Rebuild the daily tables for the days first_day..last_day (and only those reps)."""
    rep_ids = list(rep_ids) if rep_ids is not None else None
    with transaction.atomic():
        tune_session()
        written = _rollup_activity_days(first_day, last_day, rep_ids)
        written += _rollup_deal_days(first_day, last_day, rep_ids)
        written += _rollup_reach_days(first_day, last_day, rep_ids)
    return written


def _rollup_activity_days(first_day: date, last_day: date, rep_ids: list[int] | None) -> int:
    stale = RepDayActivity.objects.filter(day__gte=first_day, day__lte=last_day)
    start, end = local_day_bounds(first_day, last_day)
    activities = Activity.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    if rep_ids is not None:
        stale = stale.filter(rep_id__in=rep_ids)
        activities = activities.filter(rep_id__in=rep_ids)
    stale.delete()
    grouped = (
        activities.annotate(local_day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("rep_id", "local_day", "type_id")
        .annotate(n=Count("id"), m=Sum("duration_minutes"))
        .order_by()
    )
    sql, params = grouped.query.sql_with_params()
    credit = credit_join("rep_id", "local_day")
    return _execute(
        f"INSERT INTO {_table(RepDayActivity)} "
        "(rep_id, day, activity_type_id, count, minutes, team_id, territory_id) "
        f"SELECT s.rep_id, s.local_day, s.type_id, s.n, s.m, {credit.team}, {credit.territory} "
        f"FROM ({sql}) s{credit.joins}",
        params,
    )


def _rollup_deal_days(first_day: date, last_day: date, rep_ids: list[int] | None) -> int:
    stale = RepDayDeal.objects.filter(day__gte=first_day, day__lte=last_day)
    opened = Deal.objects.filter(opened_on__gte=first_day, opened_on__lte=last_day)
    closed = Deal.objects.filter(
        closed_on__gte=first_day, closed_on__lte=last_day, stage__kind__in=[Stage.Kind.WON, Stage.Kind.LOST]
    )
    if rep_ids is not None:
        stale = stale.filter(rep_id__in=rep_ids)
        opened = opened.filter(owner_id__in=rep_ids)
        closed = closed.filter(owner_id__in=rep_ids)
    stale.delete()
    money = DecimalField(max_digits=16, decimal_places=2)
    one, zero, nothing = Value(1, IntegerField()), Value(0, IntegerField()), Value(ZERO, money)
    won = Q(stage__kind=Stage.Kind.WON)
    # Two branches with the same columns: deals opened on a day, deals closed on a day.
    opened_rows = opened.values(
        rid=F("owner_id"),
        d=F("opened_on"),
        pid=F("product_id"),
        o=one,
        pc=F("amount"),
        w=zero,
        lo=zero,
        r=nothing,
    )
    closed_rows = closed.values(
        rid=F("owner_id"),
        d=F("closed_on"),
        pid=F("product_id"),
        o=zero,
        pc=nothing,
        w=Case(When(won, then=one), default=zero),
        lo=Case(When(won, then=zero), default=one),
        r=Case(When(won, then=F("amount")), default=nothing, output_field=money),
    )
    sql, params = opened_rows.order_by().union(closed_rows.order_by(), all=True).query.sql_with_params()
    credit = credit_join("rid", "d")
    return _execute(
        f"INSERT INTO {_table(RepDayDeal)} (rep_id, day, product_id, deals_opened, pipeline_created, "
        "deals_won, deals_lost, revenue, team_id, territory_id) "
        f"SELECT s.rid, s.d, s.pid, s.o, s.pc, s.w, s.lo, s.r, {credit.team}, {credit.territory} FROM ("
        "SELECT u.rid, u.d, u.pid, SUM(u.o) AS o, SUM(u.pc) AS pc, SUM(u.w) AS w, SUM(u.lo) AS lo, "
        f"SUM(u.r) AS r FROM ({sql}) u GROUP BY u.rid, u.d, u.pid) s{credit.joins}",
        params,
    )


# --- period tables -----------------------------------------------------------------


def rollup_period(period: Period, rep_ids: Iterable[int] | None = None) -> int:
    """Rebuild every period table for one period, all scopes, in one transaction.

    Hierarchical: a month from the daily tables, a quarter from its three months, a year from
    its four quarters (their rows must be computed first: metrics.jobs orders the levels). The
    sums add up level by level; quotas, members, the weighted pipeline and the ratios are
    worked out for the period itself. So a one-day run reads one month of daily rows, then
    three and four rows per scope object and dimension, however long the period.

    With `rep_ids`, only the slices a change of those reps' rows can move (slices_of_reps) are
    rebuilt: a saved activity rewrites its rep's, their teams', territories' and the company's
    rows, not every rep's.
    """
    now = timezone.now()
    with transaction.atomic():
        tune_session()
        stages = funnel_stages()
        open_ids = [stage.pk for stage in stages if stage.kind == Stage.Kind.OPEN]
        only = None if rep_ids is None else slices_of_reps(period, list(rep_ids))
        written = _merged(
            PeriodMetric, period, only, lambda into: _rollup_metrics(period, now, into, open_ids, only)
        )
        written += _merged(
            PeriodActivityMix,
            period,
            only,
            lambda into: _rollup_grouped(period, PeriodActivityMix, into, only),
        )
        written += _merged(
            PeriodProduct, period, only, lambda into: _rollup_grouped(period, PeriodProduct, into, only)
        )
        written += _merged(
            PeriodFunnel, period, only, lambda into: _rollup_funnel(period, stages, into, only)
        )
        written += _rollup_impact(period, only)
    return written


@dataclass(frozen=True)
class Slices:
    """The scope objects whose rows a change of some reps' raw rows can move in one period: those
    reps, every team and territory they belonged to on a day of the period or on its reference
    day (credited sums; members' quotas, % at quota, impact), and the company."""

    reps: tuple[int, ...]
    teams: tuple[int, ...]
    territories: tuple[int, ...]

    def where(self, alias: str) -> tuple[str, list]:
        """SQL: row `alias` is one of these slices."""
        parts, params = [f"{alias}.scope = '{Scope.COMPANY}'"], []
        for scope, ids in (
            (Scope.REP, self.reps),
            (Scope.TEAM, self.teams),
            (Scope.TERRITORY, self.territories),
        ):
            if ids:
                parts.append(
                    f"({alias}.scope = '{scope}' AND {alias}.scope_id IN ({', '.join(['%s'] * len(ids))}))"
                )
                params += ids
        return "(" + " OR ".join(parts) + ")", params

    def q(self) -> Q:
        """The same slices as a filter on a period table's queryset."""
        return (
            Q(scope=Scope.COMPANY)
            | Q(scope=Scope.REP, scope_id__in=self.reps)
            | Q(scope=Scope.TEAM, scope_id__in=self.teams)
            | Q(scope=Scope.TERRITORY, scope_id__in=self.territories)
        )


def slices_of_reps(period: Period, rep_ids: list[int]) -> Slices:
    """The Slices of `period` that a change of these reps' rows touches (one query)."""
    first = min(period.start, reference_day(period))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT {TEAM_OF}, {TERRITORY_OF} FROM {_table(Rep)} cr "
            f"LEFT JOIN ({assignment_days_sql()}) ca ON ca.rep_id = cr.id "
            "AND (ca.first_day IS NULL OR ca.first_day <= %s) AND (ca.end_day IS NULL OR %s < ca.end_day) "
            f"WHERE cr.id IN ({', '.join(['%s'] * len(rep_ids))})",
            [period.last_day, first, *rep_ids],
        )
        rows = cursor.fetchall()
    return Slices(
        reps=tuple(sorted(rep_ids)),
        teams=tuple(sorted({team for team, _ in rows if team is not None})),
        territories=tuple(sorted({territory for _, territory in rows if territory is not None})),
    )


def _only(only: Slices | None, alias: str) -> tuple[str, list]:
    """(" WHERE …", params) keeping the rows of `only`; nothing without it."""
    if only is None:
        return "", []
    sql, params = only.where(alias)
    return f" WHERE {sql}", params


def tune_session() -> None:
    """Inside a chunk's transaction on PostgreSQL (set_config(…, true) ends with it): room for
    its sorts and hashes in memory (the default 4 MB sends a month's activities and a year's
    product rows to disk); no JIT compilation, which these statements' cost estimates trigger
    and which took longer (0.4 s for a month's funnel rows) than running them; and hash joins,
    not merge joins: the planner underestimates a period's rows and then sorts both sides of
    a merge by their text keys (0.35 s for a year's 95,000 product rows at 3,000 reps, against
    0.03 s hashed)."""
    if connection.vendor == "postgresql":
        _execute(
            "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true), "
            "set_config('enable_mergejoin', 'off', true)",
            [WORK_MEM],
        )


# The key of a period table's rows within one period, and the key columns that may be NULL.
SLICE_KEYS = {
    PeriodMetric: (("scope", "scope_id"), ()),
    PeriodActivityMix: (("scope", "scope_id", "activity_type_id"), ()),
    PeriodProduct: (("scope", "scope_id", "product_id"), ("product_id",)),
    PeriodFunnel: (("scope", "scope_id", "stage_id"), ()),
}
# Written whenever a row's figures change, never compared.
UNCOMPARED = ("computed_at",)


def _merged(model, period: Period, only: Slices | None, build) -> int:
    """Write one period's rows of `model` (those of `only`, or all) by difference:
    `build(table)` inserts them into a temporary staging table; then only the rows whose figures
    changed are updated, the rows that are no longer there deleted and the new ones inserted.
    A nightly run changes a few hundred of a year's 30,000 product rows: each row written costs
    its heap and index entries, each row compared a hash probe. The period's rows end exactly
    as a delete-and-insert would leave them (computed_at: when the row's figures last changed)."""
    quote = connection.ops.quote_name
    target, staging = _table(model), quote(f"staging_{model._meta.db_table}")
    _execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS SELECT * FROM {target} WHERE 1 = 0", [])
    build(staging)
    keys, nullable = SLICE_KEYS[model]
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    compared = [c for c in columns if c not in (*keys, "period_kind", "period_start", *UNCOMPARED)]
    same_key = " AND ".join(
        f"COALESCE(s.{quote(c)}, 0) = COALESCE(t.{quote(c)}, 0)"
        if c in nullable
        else f"s.{quote(c)} = t.{quote(c)}"
        for c in keys
    )
    same = " AND ".join(_same(f"s.{quote(c)}", f"t.{quote(c)}") for c in compared)
    this_period = "t.period_kind = %s AND t.period_start = %s"
    slice_params = [period.kind, period.start]
    kept, kept_params = only.where("t") if only is not None else ("1 = 1", [])
    # Rows whose figures changed are updated in place: their keys stay, so on PostgreSQL the
    # new version goes on the same page without new index entries (a HOT update; the period
    # tables keep room for it, fillfactor 70).
    assigned = ", ".join(
        f"{quote(c)} = s.{quote(c)}" for c in columns if c not in (*keys, "period_kind", "period_start")
    )
    written = _execute(
        f"UPDATE {target} AS t SET {assigned} FROM {staging} s "
        f"WHERE {this_period} AND {same_key} AND NOT ({same})",
        slice_params,
    )
    _execute(
        f"DELETE FROM {target} AS t WHERE {this_period} AND {kept} AND NOT EXISTS "
        f"(SELECT 1 FROM {staging} s WHERE {same_key})",
        [*slice_params, *kept_params],
    )
    listed = ", ".join(quote(c) for c in columns)
    # A left join, not NOT EXISTS: PostgreSQL then hashes both sides (NOT EXISTS probed the
    # index once per staged row, four times slower).
    written += _execute(
        f"INSERT INTO {target} ({listed}) SELECT {', '.join(f's.{quote(c)}' for c in columns)} "
        f"FROM {staging} s LEFT JOIN {target} t ON {this_period} AND {same_key} "
        f"WHERE t.{quote(model._meta.pk.column)} IS NULL",
        slice_params,
    )
    # TRUNCATE on PostgreSQL: the table's size stays that of its rows, and with it the
    # planner's estimate (after DELETEs it grew run by run and the joins turned to sorts).
    _execute(f"{'TRUNCATE' if connection.vendor == 'postgresql' else 'DELETE FROM'} {staging}", [])
    return written


def _same(a: str, b: str) -> str:
    """SQL: `a` equals `b`, NULL equal to NULL."""
    return f"{a} IS NOT DISTINCT FROM {b}" if connection.vendor == "postgresql" else f"{a} IS {b}"


def sub_periods(period: Period) -> list[Period]:
    """The periods a period is summed from: a year's quarters, a quarter's months; none for a month."""
    if period.kind == PeriodKind.MONTH:
        return []
    kind = PeriodKind.QUARTER if period.kind == PeriodKind.YEAR else PeriodKind.MONTH
    parts = [Period(period.start, kind)]
    while parts[-1].end <= period.last_day:
        parts.append(parts[-1].next())
    return parts


def _of_sub_periods(model, period: Period):
    """The rows of `model` for the sub-periods of `period`."""
    parts = sub_periods(period)
    return model.objects.filter(period_kind=parts[0].kind, period_start__in=[p.start for p in parts])


def _slice(period: Period, scope: str, scope_id: int) -> dict:
    return {"scope": scope, "scope_id": scope_id, "period_kind": period.kind, "period_start": period.start}


def _target_slots(period: Period) -> list[tuple[str, date, date | None]]:
    """(kind, start, quarter start) of the period and of the periods below it whose quota or
    projection rows count for it by the recursive rule (docs/metrics.md): a year's quarters and
    their months, a quarter's months."""
    if period.kind == PeriodKind.MONTH:
        return [(period.kind, period.start, period.start)]
    quarters = [period] if period.kind == PeriodKind.QUARTER else sub_periods(period)
    slots = [] if period.kind == PeriodKind.QUARTER else [(period.kind, period.start, None)]
    for quarter in quarters:
        slots.append((quarter.kind, quarter.start, quarter.start))
        slots += [(month.kind, month.start, quarter.start) for month in sub_periods(quarter)]
    return slots


def _targets_sql(slots) -> tuple[str, list]:
    """CTEs `tgt` and `tv`: quota ('q') and projection ('p') of every rep (is_rep 1) and team
    (0) for the period: its own row, else the sum of its sub-periods' found the same way."""
    rows = " UNION ALL ".join(["SELECT %s AS kind, %s AS start, %s AS qs"] * len(slots))
    params = [value for slot in slots for value in slot]
    owner = (
        "CASE WHEN t.rep_id IS NULL THEN 0 ELSE 1 END AS is_rep, COALESCE(t.rep_id, t.team_id) AS owner_id"
    )
    targets = " UNION ALL ".join(
        f"SELECT '{what}' AS what, {owner}, t.period_kind AS kind, sl.qs, t.amount FROM {_table(model)} t "
        "JOIN slots sl ON sl.kind = t.period_kind AND sl.start = t.period_start"
        for what, model in (("q", Quota), ("p", Projection))
    )
    return (
        f"slots AS ({rows}), tgt AS ({targets}), "
        "qv AS (SELECT what, is_rep, owner_id, qs, COALESCE(MAX(CASE WHEN kind = 'quarter' THEN amount END), "
        "SUM(CASE WHEN kind = 'month' THEN amount END)) AS amount FROM tgt WHERE kind <> 'year' "
        "GROUP BY what, is_rep, owner_id, qs), "
        "tv AS (SELECT what, is_rep, owner_id, COALESCE(MAX(own), SUM(part)) AS amount FROM ("
        "SELECT what, is_rep, owner_id, NULL AS own, amount AS part FROM qv UNION ALL "
        "SELECT what, is_rep, owner_id, amount, NULL FROM tgt WHERE kind = 'year') x "
        "GROUP BY what, is_rep, owner_id)",
        params,
    )


# The summed columns of a period row, as named in the statements below.
SUMS = ("cnt", "mins", "sell", "opened", "pipe", "won", "lost", "rev")
_SUM_OF = ", ".join(f"SUM({name}) AS {name}" for name in SUMS)


def _sums_sql(period: Period) -> tuple[str, list]:
    """CTE `sums` (scope, scope_id, and SUMS): a month's from its daily rows, grouped once by
    rep and credited team and territory, then per scope; a quarter's or year's from its
    sub-periods' rows."""
    if period.kind != PeriodKind.MONTH:
        parts = sub_periods(period)
        columns = (
            "SUM(activity_count) AS cnt, SUM(activity_minutes) AS mins, SUM(selling_minutes) AS sell, "
            "SUM(deals_opened) AS opened, SUM(pipeline_created) AS pipe, SUM(deals_won) AS won, "
            "SUM(deals_lost) AS lost, SUM(revenue) AS rev"
        )
        return (
            f"sums AS (SELECT scope, scope_id, {columns} FROM {_table(PeriodMetric)} "
            f"WHERE period_kind = %s AND period_start IN ({', '.join(['%s'] * len(parts))}) "
            "GROUP BY scope, scope_id)",
            [parts[0].kind, *(p.start for p in parts)],
        )
    daily = (
        "SELECT a.rep_id, a.team_id, a.territory_id, a.count AS cnt, a.minutes AS mins, "
        "CASE WHEN t.is_selling THEN a.minutes ELSE 0 END AS sell, 0 AS opened, 0 AS pipe, 0 AS won, "
        f"0 AS lost, 0 AS rev FROM {_table(RepDayActivity)} a "
        f"JOIN {_table(ActivityType)} t ON t.id = a.activity_type_id WHERE a.day >= %s AND a.day < %s "
        "UNION ALL SELECT d.rep_id, d.team_id, d.territory_id, 0, 0, 0, d.deals_opened, "
        f"d.pipeline_created, d.deals_won, d.deals_lost, d.revenue FROM {_table(RepDayDeal)} d "
        "WHERE d.day >= %s AND d.day < %s"
    )
    per_scope = " UNION ALL ".join(
        (
            f"SELECT '{Scope.REP}' AS scope, rep_id AS scope_id, {_SUM_OF} FROM tri GROUP BY rep_id",
            f"SELECT '{Scope.TEAM}', team_id, {_SUM_OF} FROM tri GROUP BY team_id",
            f"SELECT '{Scope.TERRITORY}', territory_id, {_SUM_OF} FROM tri "
            "WHERE territory_id IS NOT NULL GROUP BY territory_id",
            f"SELECT '{Scope.COMPANY}', 0, {_SUM_OF} FROM tri",
        )
    )
    return (
        f"tri AS (SELECT rep_id, team_id, territory_id, {_SUM_OF} FROM ({daily}) u "
        f"GROUP BY rep_id, team_id, territory_id), sums AS ({per_scope})",
        [period.start, period.end, period.start, period.end],
    )


def _rollup_metrics(
    period: Period, now: datetime, into: str, open_ids: list[int], only: Slices | None
) -> int:
    """One PeriodMetric row per rep, team, territory and the company, in one INSERT … SELECT.

    Sums are credited at the time: a team's are those of the daily rows credited to it (its
    reps' on the days they were its members). Quotas, % at quota and projections count the
    members on the period's reference day (metrics.membership), and so does the weighted
    pipeline (a snapshot) by its owners: a move never shifts a period that ended before it.
    The figures are the formulas of metrics.formulas.
    """
    day = reference_day(period)
    targets, target_params = _targets_sql(_target_slots(period))
    sums, sum_params = _sums_sql(period)
    units = formulas.compiled(
        formulas.weighted_units(
            formulas.column("d.amount", formulas.MONEY_FIELD), formulas.column("s.win_probability")
        )
    )
    # The open stages by id, not by a join on their kind: the planner then knows how few deals
    # are open and reads them from deal_stage_expected_idx instead of scanning every deal.
    open_stage = f"d.stage_id IN ({', '.join(['%s'] * len(open_ids))})" if open_ids else "1 = 0"
    as_big = {name: f"CAST(COALESCE(s.{name}, 0) AS BIGINT) AS {name}" for name in SUMS}
    as_big.update(pipe="COALESCE(s.pipe, 0) AS pipe", rev="COALESCE(s.rev, 0) AS rev")
    summed = ", ".join(as_big.values())
    statement = (
        f"WITH mem AS ({on_day_sql()}), {targets}, {sums}, "
        f"wp AS (SELECT d.owner_id, CAST(SUM({units[0]}) AS BIGINT) AS units FROM {_table(Deal)} d "
        f"JOIN {_table(Stage)} s ON s.id = d.stage_id WHERE {open_stage} "
        "AND d.expected_close_on >= %s AND d.expected_close_on < %s GROUP BY d.owner_id), "
        f"rr AS (SELECT m.rep_id, m.team_id, m.territory_id, {summed}, COALESCE(w.units, 0) AS units, "
        "q.amount AS quota, pr.amount AS projection FROM mem m "
        f"LEFT JOIN sums s ON s.scope = '{Scope.REP}' AND s.scope_id = m.rep_id "
        "LEFT JOIN wp w ON w.owner_id = m.rep_id "
        "LEFT JOIN tv q ON q.what = 'q' AND q.is_rep = 1 AND q.owner_id = m.rep_id "
        "LEFT JOIN tv pr ON pr.what = 'p' AND pr.is_rep = 1 AND pr.owner_id = m.rep_id), "
        "rq AS (SELECT rr.*, CASE WHEN quota <> 0 THEN 1 ELSE 0 END AS with_q, "
        "CASE WHEN quota <> 0 AND {reaches} >= 1.0 THEN 1 ELSE 0 END AS at_q FROM rr), "
        "agg AS (SELECT 'team' AS by_scope, team_id AS by_id, SUM(quota) AS quota, "
        "SUM(projection) AS projection, SUM(with_q) AS with_q, SUM(at_q) AS at_q, "
        "CAST(SUM(units) AS BIGINT) AS units FROM rq GROUP BY team_id UNION ALL "
        "SELECT 'territory', territory_id, SUM(quota), SUM(projection), SUM(with_q), SUM(at_q), "
        "CAST(SUM(units) AS BIGINT) FROM rq WHERE territory_id IS NOT NULL GROUP BY territory_id), "
        f"team_rows AS (SELECT '{Scope.TEAM}' AS scope, t.id AS scope_id, {summed}, "
        "COALESCE(a.units, 0) AS units, COALESCE(tq.amount, a.quota) AS quota, "
        "COALESCE(tp.amount, a.projection) AS projection, COALESCE(a.with_q, 0) AS with_q, "
        f"COALESCE(a.at_q, 0) AS at_q FROM {_table(Team)} t "
        f"LEFT JOIN sums s ON s.scope = '{Scope.TEAM}' AND s.scope_id = t.id "
        "LEFT JOIN agg a ON a.by_scope = 'team' AND a.by_id = t.id "
        "LEFT JOIN tv tq ON tq.what = 'q' AND tq.is_rep = 0 AND tq.owner_id = t.id "
        "LEFT JOIN tv tp ON tp.what = 'p' AND tp.is_rep = 0 AND tp.owner_id = t.id), "
        f"allrows AS (SELECT '{Scope.REP}' AS scope, rep_id AS scope_id, {', '.join(SUMS)}, units, "
        "quota, projection, NULL AS with_q, NULL AS at_q FROM rq UNION ALL "
        f"SELECT scope, scope_id, {', '.join(SUMS)}, units, quota, projection, with_q, at_q "
        f"FROM team_rows UNION ALL SELECT '{Scope.TERRITORY}', tr.id, {summed}, "
        "COALESCE(a.units, 0), a.quota, a.projection, COALESCE(a.with_q, 0), COALESCE(a.at_q, 0) "
        f"FROM {_table(Territory)} tr LEFT JOIN sums s ON s.scope = '{Scope.TERRITORY}' "
        "AND s.scope_id = tr.id LEFT JOIN agg a ON a.by_scope = 'territory' AND a.by_id = tr.id "
        f"UNION ALL SELECT '{Scope.COMPANY}', 0, {summed}, "
        "(SELECT CAST(COALESCE(SUM(units), 0) AS BIGINT) FROM rq), "
        "(SELECT SUM(quota) FROM team_rows), (SELECT SUM(projection) FROM team_rows), "
        "(SELECT SUM(with_q) FROM rq), (SELECT SUM(at_q) FROM rq) "
        f"FROM sums s WHERE s.scope = '{Scope.COMPANY}') "
        f"INSERT INTO {into} (scope, scope_id, period_kind, period_start, "
        "activity_count, activity_minutes, selling_minutes, deals_opened, deals_won, deals_lost, "
        "pipeline_created, revenue, win_rate, avg_deal_size, quota, attainment, projection, "
        "weighted_pipeline, selling_time_share, reps_with_quota, reps_at_quota, reps_at_quota_share, "
        "computed_at) "
        "SELECT x.scope, x.scope_id, %s, %s, x.cnt, x.mins, x.sell, x.opened, x.won, x.lost, "
        "{figures}, %s FROM allrows x{only}"
    )
    col, money_col = formulas.column, formulas.MONEY_FIELD
    revenue = formulas.money(col("x.rev", money_col))
    quota = formulas.money(col("x.quota", money_col))
    figures = [
        formulas.money(col("x.pipe", money_col)),
        revenue,
        formulas.win_rate(col("x.won"), col("x.lost")),
        formulas.avg_deal_size(revenue, col("x.won")),
        quota,
        formulas.attainment(revenue, quota),
        formulas.money(col("x.projection", money_col)),
        formulas.weighted_pipeline(col("x.units")),
        formulas.selling_time_share(col("x.sell"), col("x.mins")),
        col("x.with_q"),
        col("x.at_q"),
        formulas.ratio(col("x.at_q"), col("x.with_q")),
    ]
    reaches = formulas.compiled(
        formulas.attainment(formulas.money(col("rev", money_col)), formulas.money(col("quota", money_col)))
    )
    figure_sql = [formulas.compiled(figure) for figure in figures]
    kept, kept_params = _only(only, "x")
    statement = (
        statement.replace("{reaches}", reaches[0])
        .replace("{figures}", ", ".join(sql for sql, _ in figure_sql))
        .replace("{only}", kept)
    )
    params = [
        day,
        day,
        *target_params,
        *sum_params,
        *units[1],
        *open_ids,
        period.start,
        period.end,
        *reaches[1],
        period.kind,
        period.start,
        *(param for _, figure_params in figure_sql for param in figure_params),
        connection.ops.adapt_datetimefield_value(now),
        *kept_params,
    ]
    return _execute(statement, params)


def _rollup_grouped(period: Period, target, into: str, only: Slices | None) -> int:
    """Activity mix (per type) or product sales (per product) for every scope, by INSERT … SELECT:
    a month from the daily rows (each credited to its day's team and territory), a quarter or a
    year from its sub-periods' rows."""
    if target is PeriodActivityMix:
        dimension, sums, columns = (
            "activity_type_id",
            ("count", "minutes"),
            "activity_type_id, count, minutes",
        )
    else:
        dimension, sums, columns = "product_id", ("revenue", "won_count"), "product_id, revenue, won_count"
    insert = f"INSERT INTO {into} (scope, scope_id, period_kind, period_start, {columns}) "
    kept, kept_params = _only(only, "s")
    if period.kind != PeriodKind.MONTH:
        grouped = (
            _of_sub_periods(target, period)
            .values("scope", "scope_id", dimension)
            .annotate(a=Sum(sums[0]), b=Sum(sums[1]))
            .order_by()
        )
        sql, params = grouped.query.sql_with_params()
        return _execute(
            f"{insert}SELECT s.scope, s.scope_id, %s, %s, s.{dimension}, s.a, s.b FROM ({sql}) s{kept}",
            [period.kind, period.start, *params, *kept_params],
        )
    # A month: its daily rows grouped once by rep, credited team and territory, then per scope.
    if target is PeriodActivityMix:
        table, a, b, where = _table(RepDayActivity), "count", "minutes", ""
    else:
        table, a, b, where = _table(RepDayDeal), "revenue", "deals_won", "AND d.deals_won > 0 "
    per_scope = " UNION ALL ".join(
        (
            f"SELECT '{Scope.REP}' AS scope, rep_id AS scope_id, k, SUM(a) AS a, SUM(b) AS b FROM tri "
            "GROUP BY rep_id, k",
            f"SELECT '{Scope.TEAM}', team_id, k, SUM(a), SUM(b) FROM tri GROUP BY team_id, k",
            f"SELECT '{Scope.TERRITORY}', territory_id, k, SUM(a), SUM(b) FROM tri "
            "WHERE territory_id IS NOT NULL GROUP BY territory_id, k",
            f"SELECT '{Scope.COMPANY}', 0, k, SUM(a), SUM(b) FROM tri GROUP BY k",
        )
    )
    return _execute(
        f"WITH tri AS (SELECT d.rep_id, d.team_id, d.territory_id, d.{dimension} AS k, SUM(d.{a}) AS a, "
        f"SUM(d.{b}) AS b FROM {table} d WHERE d.day >= %s AND d.day < %s {where}"
        f"GROUP BY d.rep_id, d.team_id, d.territory_id, d.{dimension}) "
        f"{insert}SELECT s.scope, s.scope_id, %s, %s, s.k, s.a, s.b FROM ({per_scope}) s{kept}",
        [period.start, period.end, period.kind, period.start, *kept_params],
    )


def funnel_stages() -> list[Stage]:
    """The funnel's stages in order: the open ones by their order, then the won one(s)."""
    stages = list(Stage.objects.exclude(kind=Stage.Kind.LOST).order_by("order"))
    return [s for s in stages if s.kind == Stage.Kind.OPEN] + [s for s in stages if s.kind == Stage.Kind.WON]


def funnel_sums(stages: list[Stage]) -> dict:
    """Aggregates over RepDayReach rows: `s<stage id>` = the deals that reached that stage, and
    `c<stage id>`, `l<stage id>` its conversion to the next stage and leakage (metrics.formulas,
    worked out in the same query)."""
    reached = {
        s.pk: Coalesce(
            Sum("deals", filter=Q(reach_order__gte=s.order) if s.kind == Stage.Kind.OPEN else Q(won_stage=s)),
            0,
        )
        for s in stages
    }
    sums = {f"s{pk}": total for pk, total in reached.items()}
    for this, following in zip(stages, stages[1:], strict=False):
        conversion = formulas.conversion(reached[following.pk], reached[this.pk])
        sums[f"c{this.pk}"], sums[f"l{this.pk}"] = conversion, formulas.leakage(conversion)
    return sums


def funnel_steps(stages: list[Stage], sums: dict) -> list[tuple[Stage, int, int, float | None, float | None]]:
    """(stage, position, reached, conversion to the next, leakage) from the `funnel_sums` of a scope."""
    return [
        (stage, position, sums.get(f"s{stage.pk}") or 0, sums.get(f"c{stage.pk}"), sums.get(f"l{stage.pk}"))
        for position, stage in enumerate(stages)
    ]


def reach_expression(top: int):
    """The order of the highest open stage a deal reached; won deals reach the top, -1 for none."""
    highest_open_in_history = (
        DealStageChange.objects.filter(deal=OuterRef("pk"), to_stage__kind=Stage.Kind.OPEN)
        .values("deal")
        .annotate(m=Max("to_stage__order"))
        .values("m")
    )
    return Case(
        When(stage__kind=Stage.Kind.WON, then=Value(top)),
        default=Greatest(
            Coalesce(Subquery(highest_open_in_history), Value(-1)),
            Case(When(stage__kind=Stage.Kind.OPEN, then=F("stage__order")), default=Value(-1)),
        ),
        output_field=IntegerField(),
    )


def _rollup_reach_days(first_day: date, last_day: date, rep_ids: list[int] | None) -> int:
    stale = RepDayReach.objects.filter(day__gte=first_day, day__lte=last_day)
    cohort = Deal.objects.filter(opened_on__gte=first_day, opened_on__lte=last_day)
    if rep_ids is not None:
        stale = stale.filter(rep_id__in=rep_ids)
        cohort = cohort.filter(owner_id__in=rep_ids)
    stale.delete()
    top = Stage.objects.filter(kind=Stage.Kind.OPEN).aggregate(top=Max("order"))["top"] or 0
    grouped = (
        cohort.annotate(
            reach=reach_expression(top),
            won=Case(
                When(stage__kind=Stage.Kind.WON, then=F("stage_id")),
                default=None,
                output_field=IntegerField(),
            ),
        )
        .values("owner_id", "opened_on", "reach", "won")
        .annotate(n=Count("id"))
        .order_by()
    )
    sql, params = grouped.query.sql_with_params()
    credit = credit_join("owner_id", "opened_on")
    return _execute(
        f"INSERT INTO {_table(RepDayReach)} "
        "(rep_id, day, reach_order, won_stage_id, deals, team_id, territory_id) "
        f"SELECT s.owner_id, s.opened_on, s.reach, s.won, s.n, {credit.team}, {credit.territory} "
        f"FROM ({sql}) s{credit.joins}",
        params,
    )


def _rollup_funnel(period: Period, stages: list[Stage], into: str, only: Slices | None) -> int:
    """Funnel counts add up over days and reps: a month is one GROUP BY over its RepDayReach
    rows (each credited to its day's team and territory), a quarter or a year one over its
    sub-periods' reached counts. One INSERT … SELECT writes every scope object's stages, with
    the conversion to the next stage and the leakage of metrics.formulas (as `funnel_sums`
    works them out over a span's rows)."""
    if not stages:
        return 0
    stage_rows = " UNION ALL ".join(["SELECT %s AS id, %s AS pos, %s AS is_open, %s AS ord"] * len(stages))
    stage_params = [
        value
        for position, stage in enumerate(stages)
        for value in (stage.pk, position, int(stage.kind == Stage.Kind.OPEN), stage.order)
    ]
    if period.kind == PeriodKind.MONTH:
        credited = (
            f"SELECT c.rep_id, c.team_id, c.territory_id, st.id AS stage_id, SUM(c.deals) AS n "
            f"FROM {_table(RepDayReach)} c JOIN st ON (st.is_open = 1 AND c.reach_order >= st.ord) "
            f"OR (st.is_open = 0 AND c.won_stage_id = st.id) "
            f"WHERE c.day >= %s AND c.day < %s GROUP BY c.rep_id, c.team_id, c.territory_id, st.id"
        )
        reached = (
            f"cr AS ({credited}), reached AS ("
            f"SELECT '{Scope.REP}' AS scope, rep_id AS scope_id, stage_id, SUM(n) AS n FROM cr "
            f"GROUP BY rep_id, stage_id UNION ALL "
            f"SELECT '{Scope.TEAM}', team_id, stage_id, SUM(n) FROM cr GROUP BY team_id, stage_id UNION ALL "
            f"SELECT '{Scope.TERRITORY}', territory_id, stage_id, SUM(n) FROM cr "
            f"WHERE territory_id IS NOT NULL GROUP BY territory_id, stage_id UNION ALL "
            f"SELECT '{Scope.COMPANY}', 0, stage_id, SUM(n) FROM cr GROUP BY stage_id)"
        )
        reached_params = [period.start, period.end]
    else:
        parts = sub_periods(period)
        reached = (
            f"reached AS (SELECT scope, scope_id, stage_id, SUM(reached) AS n FROM {_table(PeriodFunnel)} "
            f"WHERE period_kind = %s AND period_start IN ({', '.join(['%s'] * len(parts))}) "
            f"GROUP BY scope, scope_id, stage_id)"
        )
        reached_params = [parts[0].kind, *(p.start for p in parts)]
    kept, kept_params = _only(only, "x")
    following = "LEAD(g.reached) OVER (PARTITION BY g.scope, g.scope_id ORDER BY g.pos)"
    conversion, conversion_params = formulas.compiled(
        formulas.conversion(formulas.column(following), formulas.column("g.reached"))
    )
    leakage, leakage_params = formulas.compiled(formulas.leakage(formulas.column("x.conv", FloatField())))
    objects = (
        f"SELECT '{Scope.REP}' AS scope, id AS scope_id FROM {_table(Rep)} "
        f"UNION ALL SELECT '{Scope.TEAM}', id FROM {_table(Team)} "
        f"UNION ALL SELECT '{Scope.TERRITORY}', id FROM {_table(Territory)} "
        f"UNION ALL SELECT '{Scope.COMPANY}', 0"
    )
    return _execute(
        f"WITH st AS ({stage_rows}), {reached}, objects AS ({objects}), "
        "grid AS (SELECT o.scope, o.scope_id, st.id AS stage_id, st.pos, COALESCE(r.n, 0) AS reached "
        "FROM objects o CROSS JOIN st LEFT JOIN reached r ON r.scope = o.scope AND r.scope_id = o.scope_id "
        "AND r.stage_id = st.id), "
        f"steps AS (SELECT g.*, {conversion} AS conv FROM grid g) "
        f"INSERT INTO {into} (scope, scope_id, period_kind, period_start, stage_id, "
        '"position", reached, conversion, leakage) '
        f"SELECT x.scope, x.scope_id, %s, %s, x.stage_id, x.pos, x.reached, x.conv, {leakage} "
        f"FROM steps x{kept}",
        [
            *stage_params,
            *reached_params,
            *conversion_params,
            period.kind,
            period.start,
            *leakage_params,
            *kept_params,
        ],
    )


def _scope_ids() -> dict[str, list[int]]:
    """Every scope object that gets rows: all reps, all teams, all territories, the company."""
    return {
        Scope.REP: list(Rep.objects.order_by("id").values_list("id", flat=True)),
        Scope.TEAM: list(Team.objects.order_by("id").values_list("id", flat=True)),
        Scope.TERRITORY: list(Territory.objects.order_by("id").values_list("id", flat=True)),
        Scope.COMPANY: [0],
    }


def _pearsons(x: np.ndarray, y: np.ndarray) -> list[float | None]:
    """Pearson's r of each column of `x` (reps × activity types) with `y` (one value per rep):
    None below MIN_IMPACT_REPS reps or where either side is constant (no correlation)."""
    n, columns = x.shape
    if n < MIN_IMPACT_REPS or y.min() == y.max():
        return [None] * columns
    dx, dy = x - x.mean(axis=0), y - y.mean()
    spread = np.sqrt((dx * dx).sum(axis=0) * (dy * dy).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip((dx * dy[:, None]).sum(axis=0) / spread, -1.0, 1.0)
    constant = x.min(axis=0) == x.max(axis=0)
    return [None if constant[i] or not np.isfinite(r[i]) else float(r[i]) for i in range(columns)]


def _rollup_impact(period: Period, only: Slices | None) -> int:
    """Correlation across a scope's reps between an activity type's count and results.

    numpy over already-aggregated rows (one row per rep and type, a few thousand at most):
    every type of a scope in one pass.
    """
    reps = pd.DataFrame(
        list(
            PeriodMetric.objects.filter(
                scope=Scope.REP, period_kind=period.kind, period_start=period.start
            ).values_list("scope_id", "revenue", "win_rate", "activity_count", "deals_won", "deals_lost")
        ),
        columns=["scope_id", "revenue", "win_rate", "activity_count", "deals_won", "deals_lost"],
    ).set_index("scope_id")
    # Across the scope's members on the period's reference day, each with their own figures.
    members = members_on(reference_day(period))
    membership = pd.DataFrame(
        [(rep_id, team, territory) for rep_id, (team, territory) in members.items()],
        columns=["id", "team_id", "territory_id"],
    ).set_index("id")
    # The reps' counts per type, from the period's own activity mix (computed just before).
    counts = pd.DataFrame(
        list(
            PeriodActivityMix.objects.filter(
                scope=Scope.REP, period_kind=period.kind, period_start=period.start
            ).values_list("scope_id", "activity_type_id", "count")
        ),
        columns=["rep_id", "activity_type_id", "n"],
    )
    type_ids = list(ActivityType.objects.order_by("id").values_list("id", flat=True))
    reps = reps.join(membership)
    active = reps[(reps["activity_count"] > 0) | (reps["deals_won"] + reps["deals_lost"] > 0)]
    by_type = (
        counts.pivot_table(index="rep_id", columns="activity_type_id", values="n", aggfunc="sum")
        .reindex(index=active.index, columns=type_ids)
        .fillna(0)
        .to_numpy(dtype=float)
    )
    revenue = active["revenue"].astype(float).to_numpy()
    win_rate = active["win_rate"].astype(float).to_numpy()
    rated = ~np.isnan(win_rate)
    team, territory = active["team_id"].to_numpy(), active["territory_id"].to_numpy()
    scope_ids = _scope_ids()
    groups = [(Scope.COMPANY, 0, np.ones(len(active), dtype=bool))]
    groups += [(Scope.TEAM, team_id, team == team_id) for team_id in scope_ids[Scope.TEAM]]
    groups += [
        (Scope.TERRITORY, territory_id, territory == territory_id)
        for territory_id in scope_ids[Scope.TERRITORY]
    ]
    stale = PeriodActivityImpact.objects.filter(period_kind=period.kind, period_start=period.start)
    if only is not None:
        kept = {(Scope.COMPANY, 0), *((Scope.TEAM, i) for i in only.teams)}
        kept |= {(Scope.TERRITORY, i) for i in only.territories}
        groups = [group for group in groups if group[:2] in kept]
        stale = stale.filter(only.q())
    stale.delete()
    rows = []
    for scope, scope_id, of_scope in groups:
        with_rate = of_scope & rated
        corr_revenue = _pearsons(by_type[of_scope], revenue[of_scope])
        corr_win_rate = _pearsons(by_type[with_rate], win_rate[with_rate])
        n_revenue, n_win_rate = int(of_scope.sum()), int(with_rate.sum())
        rows += [
            PeriodActivityImpact(
                **_slice(period, scope, scope_id),
                activity_type_id=type_id,
                corr_revenue=corr_revenue[i],
                corr_win_rate=corr_win_rate[i],
                n_revenue=n_revenue,
                n_win_rate=n_win_rate,
            )
            for i, type_id in enumerate(type_ids)
        ]
    PeriodActivityImpact.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def periods_containing(days: Iterable[date]) -> list[Period]:
    """The months, quarters and years that contain any of the days: every month first, then
    the quarters, then the years (each level is summed from the one below: rollup_period)."""
    found = {Period.containing(day, kind) for day in days for kind in PeriodKind.values}
    return sorted(found, key=lambda p: (p.months, p.start))


def period_levels(periods: Iterable[Period]) -> list[list[Period]]:
    """The periods in levels to compute one after the other (months, quarters, years); the
    periods of one level are independent of each other."""
    levels = {kind: [] for kind in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR)}
    for period in sorted(periods, key=lambda p: p.start):
        levels[period.kind].append(period)
    return [level for level in levels.values() if level]
