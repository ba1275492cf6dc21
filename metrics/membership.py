"""Which team and territory a rep belonged to on a day: credit at the time (docs/metrics.md).

A rep's assignments (`activities.RepAssignment`) each hold from their day until the rep's next
one; the first holds from the start, whatever day it names. A rep without any assignment row
belongs to `Rep.team` and `Rep.territory` on every day.

Two ways in, one rule: `credit_join` for the daily tables' INSERT … SELECT (each daily row
carries the team and territory of its rep on its day), `members_on` for the reps a team or
territory counts on a period's reference day (its quota, % at quota, activity impact).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models.expressions import RawSQL
from django.utils import timezone

from activities.models import Rep, RepAssignment

from .periods import Period

if TYPE_CHECKING:
    from .spans import Span


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def assignment_days_sql() -> str:
    """A derived table (rep_id, team_id, territory_id, first_day, end_day): the days of each
    assignment, first_day NULL from the start, end_day (exclusive) NULL until further notice."""
    table = _q(RepAssignment._meta.db_table)
    # The first assignment of a rep holds from the start (NULLs sort first on SQLite, last on PostgreSQL).
    order = "(starts_on IS NOT NULL), starts_on"
    return (
        f"SELECT rep_id, team_id, territory_id, "
        f"CASE WHEN ROW_NUMBER() OVER (PARTITION BY rep_id ORDER BY {order}) = 1 THEN NULL "
        f"ELSE starts_on END AS first_day, "
        f"LEAD(starts_on) OVER (PARTITION BY rep_id ORDER BY {order}) AS end_day "
        f"FROM {table}"
    )


# Over `<Rep> cr LEFT JOIN (assignment_days_sql()) ca`: the assignment's team and territory,
# or the rep's own when they have no assignment rows.
TEAM_OF = "COALESCE(ca.team_id, cr.team_id)"
TERRITORY_OF = "CASE WHEN ca.rep_id IS NULL THEN cr.territory_id ELSE ca.territory_id END"


@dataclass(frozen=True)
class CreditJoin:
    """SQL to append to `FROM (…) s`: the team and territory of rep `s.<rep>` on day `s.<day>`."""

    joins: str
    team: str
    territory: str


def credit_join(rep_column: str, day_column: str, alias: str = "s") -> CreditJoin:
    rep_table = _q(Rep._meta.db_table)
    rep, day = f"{alias}.{rep_column}", f"{alias}.{day_column}"
    joins = (
        f" JOIN {rep_table} cr ON cr.id = {rep}"
        f" LEFT JOIN ({assignment_days_sql()}) ca ON ca.rep_id = {rep}"
        f" AND (ca.first_day IS NULL OR ca.first_day <= {day})"
        f" AND (ca.end_day IS NULL OR {day} < ca.end_day)"
    )
    return CreditJoin(
        joins=joins,
        team=TEAM_OF,
        territory=TERRITORY_OF,
    )


def reference_day(period: Period | Span, today: date | None = None) -> date:
    """The day a period's (or span's) members are counted on: its last day, or today while it runs."""
    last = period.last_day if isinstance(period, Period) else period.last
    return min(last, today or timezone.localdate())


def on_day_sql() -> str:
    """(rep id, team id, territory id) of every rep on the day given as two parameters."""
    return (
        f"SELECT cr.id AS rep_id, {TEAM_OF} AS team_id, {TERRITORY_OF} AS territory_id "
        f"FROM {_q(Rep._meta.db_table)} cr LEFT JOIN ({assignment_days_sql()}) ca ON ca.rep_id = cr.id "
        f"AND (ca.first_day IS NULL OR ca.first_day <= %s) AND (ca.end_day IS NULL OR %s < ca.end_day)"
    )


def members_on(day: date) -> dict[int, tuple[int, int | None]]:
    """rep id → (team id, territory id) of every rep on `day` (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(on_day_sql(), [day, day])
        return {rep_id: (team_id, territory_id) for rep_id, team_id, territory_id in cursor.fetchall()}


def member_ids(day: date, *, column: str, scope_id: int) -> RawSQL:
    """The ids of the reps whose team (`column="team_id"`) or territory (`"territory_id"`) on
    `day` is `scope_id`, as a subquery: `filter(rep_id__in=member_ids(…))` costs no query of its own."""
    if column not in ("team_id", "territory_id"):
        raise ValueError(column)
    return RawSQL(f"SELECT m.rep_id FROM ({on_day_sql()}) m WHERE m.{column} = %s", [day, day, scope_id])
