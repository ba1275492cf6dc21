"""Services that run the metrics engine: mark changes, plan runs, execute chunks.

The work of a run is split into chunks (a range of days × one team's reps for the
daily tables, then one period each for the period tables) so that more Celery
workers finish sooner. Every chunk commits in its own transaction: an
interrupted run leaves each slice either old or new, the run is recorded as
failed, the changed-day marks stay, and the next run redoes the work.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from activities.models import Activity, Deal, Rep

from . import rollup
from .models import ChangedDay, MetricRun
from .periods import Period

log = logging.getLogger(__name__)

# Seconds to wait after a change before the incremental run, so a burst of
# edits (an import, a busy rep) costs one run, not one per edit.
INCREMENTAL_DELAY = 30
DEBOUNCE_KEY = "metrics:incremental:queued"
# Days per daily-table chunk: small enough to spread over workers, big enough to
# keep the per-chunk overhead low.
DAYS_PER_CHUNK = 31


# --- marking changes ----------------------------------------------------------------


def metrics_mark_changed(*, days: Iterable[date | None]) -> None:
    """Record that the raw rows of these days changed, and ask for a refresh soon.

    Called by every write path (forms, admin, imports, API) inside its
    transaction. The marks are rows in the database, so if the broker is down
    the write still succeeds and the nightly run catches up.
    """
    unique_days = sorted({day for day in days if day is not None})
    if not unique_days:
        return
    now = timezone.now()
    ChangedDay.objects.bulk_create(
        [ChangedDay(day=day, marked_at=now) for day in unique_days],
        update_conflicts=True,
        unique_fields=["day"],
        update_fields=["marked_at"],
    )
    transaction.on_commit(_enqueue_incremental)


def _enqueue_incremental() -> None:
    from .tasks import run_incremental

    try:
        # cache.add is atomic: only the first change of a burst enqueues the run.
        if not cache.add(DEBOUNCE_KEY, True, timeout=INCREMENTAL_DELAY):
            return
    except Exception:  # the cache being down must never fail a save
        log.warning("could not reach the cache to debounce the incremental metrics run", exc_info=True)
    try:
        run_incremental.apply_async(countdown=INCREMENTAL_DELAY)
    except Exception:  # nor the broker: the marks wait for the next run
        log.warning(
            "could not enqueue the incremental metrics run; the nightly run will catch up", exc_info=True
        )
        with contextlib.suppress(Exception):
            cache.delete(DEBOUNCE_KEY)  # so that the next change tries again


def activity_days(activities: Iterable[Activity]) -> list[date]:
    return [timezone.localtime(activity.occurred_at).date() for activity in activities]


def deal_days(deals: Iterable[Deal]) -> list[date | None]:
    return [day for deal in deals for day in (deal.opened_on, deal.closed_on, deal.expected_close_on)]


# --- planning -------------------------------------------------------------------


@dataclass
class Plan:
    """The chunks of one run: daily-table slices first, then whole periods."""

    day_chunks: list[tuple[date, date, list[int] | None]] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.day_chunks) + len(self.periods)


def _ranges(days: list[date]) -> list[tuple[date, date]]:
    """Contiguous runs of days, cut to at most DAYS_PER_CHUNK days each."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if (
            ranges
            and day == ranges[-1][1] + timedelta(days=1)
            and (day - ranges[-1][0]).days < DAYS_PER_CHUNK
        ):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def plan_for_days(days: Iterable[date], *, split_by_team: bool = True) -> Plan:
    days = sorted(set(days))
    if not days:
        return Plan()
    teams: list[list[int] | None] = [None]
    if split_by_team:
        by_team: dict[int, list[int]] = {}
        for rep_id, team_id in Rep.objects.order_by("team_id", "id").values_list("id", "team_id"):
            by_team.setdefault(team_id, []).append(rep_id)
        # Daily rows of a deleted rep go with it (CASCADE), so every row left
        # belongs to one of these teams.
        teams = list(by_team.values()) or [None]
    chunks = [(first, last, reps) for first, last in _ranges(days) for reps in teams]
    return Plan(day_chunks=chunks, periods=rollup.periods_containing(days))


def data_span() -> tuple[date, date] | None:
    """The first and last day that any raw row touches (for a full backfill)."""
    activity = Activity.objects.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    deals = Deal.objects.aggregate(
        first=Min("opened_on"),
        last_open=Max("opened_on"),
        last_close=Max("closed_on"),
        last_exp=Max("expected_close_on"),
    )
    firsts = [d for d in (deals["first"],) if d]
    lasts = [d for d in (deals["last_open"], deals["last_close"], deals["last_exp"]) if d]
    if activity["first"]:
        firsts.append(timezone.localtime(activity["first"]).date())
        lasts.append(timezone.localtime(activity["last"]).date())
    if not firsts:
        return None
    return min(firsts), max(lasts)


# --- running ----------------------------------------------------------------------


def run_start(*, kind: str, plan: Plan) -> MetricRun:
    days = [first for first, _, _ in plan.day_chunks] + [last for _, last, _ in plan.day_chunks]
    return MetricRun.objects.create(
        kind=kind,
        started_at=timezone.now(),
        first_day=min(days) if days else None,
        last_day=max(days) if days else None,
        chunks_total=plan.total,
    )


def chunk_days(*, run_id: int | None, first_day: date, last_day: date, rep_ids) -> int:
    """One daily-table chunk, committed on its own."""
    written = rollup.rollup_days(first_day=first_day, last_day=last_day, rep_ids=rep_ids)
    _chunk_done(run_id, written)
    return written


def chunk_period(*, run_id: int | None, period: Period) -> int:
    written = rollup.rollup_period(period)
    _chunk_done(run_id, written)
    return written


def _chunk_done(run_id: int | None, written: int) -> None:
    if run_id is not None:
        # One UPDATE, so chunks finishing on several workers at once never lose a count.
        MetricRun.objects.filter(pk=run_id).update(
            chunks_done=F("chunks_done") + 1, rows_written=F("rows_written") + written
        )


def run_finish(*, run_id: int, cleared_before=None, cleared_days: Iterable[date] = ()) -> None:
    """Mark a run succeeded and drop the change marks it has dealt with.

    A mark set again after the run started (a newer edit) is kept, so the next
    run sees it.
    """
    with transaction.atomic():
        if cleared_before is not None:
            ChangedDay.objects.filter(day__in=list(cleared_days), marked_at__lte=cleared_before).delete()
        MetricRun.objects.filter(pk=run_id).update(
            status=MetricRun.Status.SUCCEEDED, finished_at=timezone.now()
        )


def run_fail(*, run_id: int, error: BaseException | str) -> None:
    text = error if isinstance(error, str) else "".join(traceback.format_exception(error))
    MetricRun.objects.filter(pk=run_id).update(
        status=MetricRun.Status.FAILED, finished_at=timezone.now(), error=text[-20_000:]
    )


def run_sync(
    *,
    kind: str,
    days: Iterable[date],
    clear_marks: bool = False,
    progress: Callable[[int], None] | None = None,
) -> MetricRun:
    """Run a whole plan in this process (the command, tests, eager mode)."""
    started = timezone.now()
    days = sorted(set(days))
    plan = plan_for_days(days)
    run = run_start(kind=kind, plan=plan)
    try:
        for first, last, reps in plan.day_chunks:
            chunk_days(run_id=run.pk, first_day=first, last_day=last, rep_ids=reps)
            if progress:
                progress(1)
        for period in plan.periods:
            chunk_period(run_id=run.pk, period=period)
            if progress:
                progress(1)
    except BaseException as exc:
        run_fail(run_id=run.pk, error=exc)
        raise
    run_finish(run_id=run.pk, cleared_before=started if clear_marks else None, cleared_days=days)
    run.refresh_from_db()
    return run


def days_to_refresh(*, include_yesterday: bool) -> list[date]:
    """Every day marked changed, plus yesterday for the nightly run."""
    days = set(ChangedDay.objects.values_list("day", flat=True))
    if include_yesterday:
        days.add(timezone.localdate() - timedelta(days=1))
    return sorted(days)


def all_days() -> list[date]:
    span = data_span()
    if span is None:
        return []
    first, last = span
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def metrics_mark_all_days() -> None:
    """The pipeline itself changed (stage order or kind): every daily funnel row is stale."""
    metrics_mark_changed(days=all_days())


def metrics_mark_all_periods() -> None:
    """Something every period depends on changed (a rep's team, a stage's probability, …).

    The first day of every month with data is marked, so the next run rebuilds
    every month, quarter and year (and only those days of the daily tables).
    """
    span = data_span()
    if span is None:
        return
    first, last = span
    month = Period.containing(first, "month")
    days = []
    while month.start <= last:
        days.append(month.start)
        month = month.next()
    metrics_mark_changed(days=days)
