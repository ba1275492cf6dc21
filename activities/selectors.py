"""Reads for the rep web pages. Every one starts from `activities.access`.

Filters arrive as plain dicts (a filter form's cleaned_data); missing or empty
keys mean "no filter". Lists carry their select_related so a page renders in a
fixed number of queries however many rows it shows.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from . import access
from .models import Activity, ActivityType, Deal, DealStageChange, Rep, Stage

ACTIVITY_RELATED = ("rep__user", "type", "deal", "account")
DEAL_RELATED = ("owner__user", "account", "product", "stage")


def _day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the current time zone, as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.min))


# --- activities -------------------------------------------------------------


def activity_list_for(*, viewer, filters: dict[str, Any] | None = None) -> QuerySet[Activity]:
    """The activities `viewer` may see, newest first, narrowed by type, rep and day range."""
    filters = filters or {}
    qs = access.visible_activities(viewer).select_related(*ACTIVITY_RELATED)
    if filters.get("type"):
        qs = qs.filter(type=filters["type"])
    if filters.get("rep"):
        qs = qs.filter(rep=filters["rep"])
    # A range on occurred_at (not __date) keeps the (rep, occurred_at) index usable.
    if filters.get("date_from"):
        qs = qs.filter(occurred_at__gte=_day_start(filters["date_from"]))
    if filters.get("date_to"):
        qs = qs.filter(occurred_at__lt=_day_start(filters["date_to"] + timedelta(days=1)))
    return qs.order_by("-occurred_at", "-id")


def activities_on_day(*, rep: Rep, day: date | None = None) -> QuerySet[Activity]:
    """One rep's activities on one local day (today by default), in the order they happened."""
    day = day or timezone.localdate()
    return (
        Activity.objects.filter(
            rep=rep,
            occurred_at__gte=_day_start(day),
            occurred_at__lt=_day_start(day + timedelta(days=1)),
        )
        .select_related(*ACTIVITY_RELATED)
        .order_by("occurred_at", "id")
    )


def latest_activities_of_team(*, viewer, limit: int = 15) -> QuerySet[Activity]:
    """The latest entries of the reps a manager watches (their own excluded)."""
    return (
        access.visible_activities(viewer)
        .exclude(rep__user=viewer)
        .select_related(*ACTIVITY_RELATED)
        .order_by("-occurred_at", "-id")[:limit]
    )


def activity_types_for_logging(*, keep: ActivityType | None = None) -> QuerySet[ActivityType]:
    """The types a rep may pick: the active ones, plus the one an edited entry already has."""
    condition = Q(is_active=True)
    if keep is not None:
        condition |= Q(pk=keep.pk)
    return ActivityType.objects.filter(condition).order_by("order", "name")


# --- deals ------------------------------------------------------------------


def deal_list_for(*, viewer, filters: dict[str, Any] | None = None) -> QuerySet[Deal]:
    """The deals `viewer` may see, newest first, narrowed by status, stage, rep, dates and text."""
    filters = filters or {}
    qs = access.visible_deals(viewer).select_related(*DEAL_RELATED)
    if filters.get("status"):
        qs = qs.filter(stage__kind=filters["status"])
    if filters.get("stage"):
        qs = qs.filter(stage=filters["stage"])
    if filters.get("rep"):
        qs = qs.filter(owner=filters["rep"])
    if filters.get("opened_from"):
        qs = qs.filter(opened_on__gte=filters["opened_from"])
    if filters.get("opened_to"):
        qs = qs.filter(opened_on__lte=filters["opened_to"])
    if filters.get("team"):
        qs = qs.filter(owner__team=filters["team"])
    if filters.get("territory"):
        qs = qs.filter(owner__territory=filters["territory"])
    if filters.get("leaked_at"):
        qs = leaked_at(qs, filters["leaked_at"])
    text = (filters.get("q") or "").strip()
    if text:
        qs = qs.filter(Q(name__icontains=text) | Q(account__name__icontains=text))
    return qs.order_by("-opened_on", "-id")


def leaked_at(deals: QuerySet[Deal], stage: Stage) -> QuerySet[Deal]:
    """The deals whose furthest step down the funnel was `stage` (an open stage): they went no further.

    The same reach rule as the funnel (docs/metrics.md): the highest open stage a deal was
    ever in; won deals reached every stage, so none of them leaked.
    """
    from metrics.rollup import reach_expression

    top = Stage.objects.filter(kind=Stage.Kind.OPEN).aggregate(top=Max("order"))["top"] or 0
    return (
        deals.alias(reach=reach_expression(top)).filter(reach=stage.order).exclude(stage__kind=Stage.Kind.WON)
    )


def open_deals_of(*, rep: Rep) -> QuerySet[Deal]:
    """A rep's open deals, the soonest expected close first (undated ones last)."""
    return (
        Deal.objects.filter(owner=rep, stage__kind=Stage.Kind.OPEN)
        .select_related(*DEAL_RELATED)
        .order_by("expected_close_on", "stage__order", "-id")
    )


def deals_linkable_by(*, rep: Rep, keep: Deal | None = None) -> QuerySet[Deal]:
    """The deals a rep may link an activity to: their open deals, plus the one already linked."""
    condition = Q(stage__kind=Stage.Kind.OPEN)
    if keep is not None:
        condition |= Q(pk=keep.pk)
    return Deal.objects.filter(condition, owner=rep).select_related("account").order_by("name", "id")


def deal_stage_history(*, deal: Deal) -> QuerySet[DealStageChange]:
    return deal.stage_changes.select_related("from_stage", "to_stage", "by").order_by("changed_at", "id")


def deal_activities(*, deal: Deal) -> QuerySet[Activity]:
    return deal.activities.select_related(*ACTIVITY_RELATED).order_by("-occurred_at", "-id")


def stages_in_order() -> QuerySet[Stage]:
    return Stage.objects.order_by("order")


def reps_filterable_by(*, viewer) -> QuerySet[Rep]:
    """The reps a viewer may filter lists by (a manager's team, everyone for an admin)."""
    return access.visible_reps(viewer).order_by("user__first_name", "user__last_name", "user__username")


def team_reps_of(*, viewer) -> QuerySet[Rep]:
    """The reps of the teams a manager manages (admins: every rep)."""
    return reps_filterable_by(viewer=viewer).exclude(user=viewer).filter(is_active=True)
