"""Reads of the metrics summary tables, scoped by what the viewer may see.

Pages and the API read the summary tables only (never the raw rows), and every
read starts from `activities.access`: an object the viewer may not see is
treated exactly like one that does not exist.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import (
    CharField,
    Expression,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.utils.translation import gettext

from activities import access
from activities.models import Rep, Team, Territory

from .models import PeriodFunnel, PeriodMetric, Scope
from .periods import Period

COMPANY_ID = 0
_SCOPE_MODELS = {Scope.REP: Rep, Scope.TEAM: Team, Scope.TERRITORY: Territory}


class ScopeNotFound(LookupError):
    """No such scope object, or the viewer may not see it: both answer "not found"."""


def user_name(prefix: str = "") -> Expression:
    """`User.__str__` in SQL: the full name, or the username when the user has no name."""
    full_name = Trim(
        Concat(F(f"{prefix}first_name"), Value(" "), F(f"{prefix}last_name"), output_field=CharField())
    )
    return Coalesce(NullIf(full_name, Value("")), F(f"{prefix}username"), output_field=CharField())


def rep_name_of(outer: str) -> Subquery:
    """The name of the rep whose id is in the outer row's column `outer` (one query, no N+1)."""
    # order_by(): no per-row sort by the model's default ordering (it made each lookup a sort).
    names = (
        Rep.objects.filter(pk=OuterRef(outer))
        .order_by()
        .annotate(_name=user_name("user__"))
        .values("_name")[:1]
    )
    return Subquery(names, output_field=CharField())


def scope_name(scope: str, outer: str = "scope_id") -> Expression:
    """The name of the scope object identified by the outer row's `outer` column."""
    if scope == Scope.REP:
        return rep_name_of(outer)
    if scope == Scope.COMPANY:
        return Value(gettext("Company"), output_field=CharField())
    model = _SCOPE_MODELS[scope]
    return Subquery(
        model.objects.filter(pk=OuterRef(outer)).order_by().values("name")[:1], output_field=CharField()
    )


def visible_scope_ids(*, viewer, scope: str):
    """The ids of the scope objects `viewer` may see metrics of (a subquery, or a list for the company).

    An admin sees everything; a manager the reps of their teams, those teams, the
    territories of those reps and the company; a rep their own row, team,
    territory and the company (activities.access decides who is whose).
    """
    if scope == Scope.REP:
        return access.visible_reps(viewer).values("pk")
    if scope == Scope.TEAM:
        return access.visible_teams(viewer).values("pk")
    if scope == Scope.TERRITORY:
        return access.visible_territories(viewer).values("pk")
    if scope == Scope.COMPANY:
        return [COMPANY_ID] if access.role_of(viewer) else []
    raise ValueError(f"unknown scope {scope!r}")


def scope_is_visible(*, viewer, scope: str, scope_id: int) -> bool:
    if scope == Scope.COMPANY:
        return scope_id == COMPANY_ID and COMPANY_ID in visible_scope_ids(viewer=viewer, scope=scope)
    model = _SCOPE_MODELS[scope]
    return model.objects.filter(pk=scope_id, pk__in=visible_scope_ids(viewer=viewer, scope=scope)).exists()


def _of_period(queryset: QuerySet, period: Period) -> QuerySet:
    return queryset.filter(period_kind=period.kind, period_start=period.start)


def metric_rows_for(*, viewer, scope: str, period: Period) -> QuerySet[PeriodMetric]:
    """One PeriodMetric per scope object the viewer may see, with its `name`, ordered by name.

    Empty when the period has not been computed yet.
    """
    rows = _of_period(PeriodMetric.objects.filter(scope=scope), period).filter(
        scope_id__in=visible_scope_ids(viewer=viewer, scope=scope)
    )
    return rows.annotate(name=scope_name(scope)).order_by("name", "scope_id")


def funnel_for(*, viewer, scope: str, scope_id: int, period: Period) -> QuerySet[PeriodFunnel]:
    """The funnel stages of one scope object in order (`position`); ScopeNotFound if not visible."""
    if not scope_is_visible(viewer=viewer, scope=scope, scope_id=scope_id):
        raise ScopeNotFound((scope, scope_id))
    rows = _of_period(PeriodFunnel.objects.filter(scope=scope, scope_id=scope_id), period)
    return rows.select_related("stage").order_by("position")


def one_computed_state(view):
    """Read a whole page from one snapshot of the summary tables (a view decorator).

    A run commits chunk by chunk; without this, a page's tiles could be read before a chunk
    commits and its charts after. On PostgreSQL the view runs in one REPEATABLE READ
    transaction, so every query sees the same committed state. SQLite (the embedded demo)
    serialises its writers already and reads as it always does.
    """

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            return view(request, *args, **kwargs)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return view(request, *args, **kwargs)

    return wrapped
