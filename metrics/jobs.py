"""Services that run the metrics engine: mark changes, plan runs, execute chunks.

The work of a run is split into chunks (the changed days of one calendar month for
the daily tables, each one INSERT … SELECT per table over all reps; then one period
each for the period tables, level by level) so that more Celery workers finish sooner.
Every chunk commits in its own transaction: an interrupted run leaves each slice
either old or new, the run is recorded as failed, the changed-day marks stay, and
the next run redoes the work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Min, Q
from django.dispatch import Signal
from django.utils import timezone

from activities.models import Activity, Deal, Rep

from . import rollup
from .models import (
    ChangedDay,
    MetricRun,
    MetricRunProblem,
    PeriodActivityImpact,
    PeriodActivityMix,
    PeriodFunnel,
    PeriodMetric,
    PeriodProduct,
)
from .periods import Period, PeriodKind

log = logging.getLogger(__name__)

PERIOD_TABLES = (PeriodMetric, PeriodActivityMix, PeriodFunnel, PeriodProduct, PeriodActivityImpact)
# Seconds to wait after a change before the incremental run, so a burst of
# edits (an import, a busy rep) costs one run, not one per edit.
INCREMENTAL_DELAY = 30
DEBOUNCE_KEY = "metrics:incremental:queued"
# Sent once the transaction that marked days changed commits.
changes_committed = Signal()


# --- marking changes ----------------------------------------------------------------


def metrics_mark_changed(*, days: Iterable[date | None], rep_ids: Iterable[int] | None = None) -> None:
    """Record that the raw rows of these days changed, and ask for a refresh soon.

    Called by every write path (forms, admin, imports, API) inside its
    transaction. The marks are rows in the database, so if the broker is down
    the write still succeeds and the nightly run catches up. With `rep_ids`, only those reps'
    rows of the days changed (one activity or deal saved: its rep's); without, every rep's.
    """
    unique_days = sorted({day for day in days if day is not None})
    if not unique_days:
        return
    reps = sorted(set(rep_ids)) if rep_ids is not None else [ALL_REPS]
    now = timezone.now()
    ChangedDay.objects.bulk_create(
        [ChangedDay(day=day, only_rep=rep, marked_at=now) for day in unique_days for rep in reps],
        update_conflicts=True,
        unique_fields=["day", "only_rep"],
        update_fields=["marked_at"],
    )
    transaction.on_commit(_changes_committed)


# ChangedDay.only_rep of a mark of every rep's rows.
ALL_REPS = 0


def marked_reps(days: Iterable[date]) -> dict[date, list[int]]:
    """day → the reps whose rows alone are marked changed, for the days marked only rep by rep
    (a day marked for every rep is not in it): what an incremental run needs to rebuild."""
    reps: dict[date, set[int]] = {}
    whole: set[date] = set()
    for day, rep in ChangedDay.objects.filter(day__in=list(days)).values_list("day", "only_rep"):
        if rep == ALL_REPS:
            whole.add(day)
        else:
            reps.setdefault(day, set()).add(rep)
    return {day: sorted(ids) for day, ids in reps.items() if day not in whole}


def _changes_committed() -> None:
    # metrics.tasks answers with the debounced incremental run (it imports this module, not
    # the other way round).
    changes_committed.send(sender=None)


def activity_days(activities: Iterable[Activity]) -> list[date]:
    return [timezone.localtime(activity.occurred_at).date() for activity in activities]


def deal_days(deals: Iterable[Deal]) -> list[date | None]:
    return [day for deal in deals for day in (deal.opened_on, deal.closed_on, deal.expected_close_on)]


# --- planning -------------------------------------------------------------------


@dataclass
class Plan:
    """The chunks of one run: daily-table slices first, then periods (whole, or for
    `period_reps` only the slices of those reps: theirs, their teams', territories', the
    company's)."""

    day_chunks: list[tuple[date, date, list[int] | None]] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)
    period_reps: dict[Period, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.day_chunks) + len(self.periods)


def _ranges(days: list[date]) -> list[tuple[date, date]]:
    """Contiguous runs of days, each within one calendar month: a backfill's daily chunks are
    its months (a few dozen statements over all reps, not one per team and week), a night's
    is its day."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        last = ranges[-1][1] if ranges else None
        if (
            last is not None
            and day == last + timedelta(days=1)
            and (day.year, day.month) == (last.year, last.month)
        ):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def follow_the_fiscal_calendar() -> list[date]:
    """If the fiscal year's first month changed since the period tables were computed: drop
    every quarter and year row (their periods no longer exist), mark every period to be
    recomputed, and return the days that marks them (the first of every month with data)."""
    from .models import EngineCalendar
    from .periods import fiscal_start_month

    month = fiscal_start_month()
    row = EngineCalendar.objects.order_by("pk").first()  # one row: the first is the one
    stored = row.fiscal_year_start_month if row else 1
    if stored == month:
        if row is None:
            EngineCalendar.objects.create(fiscal_year_start_month=month)
        return []
    with transaction.atomic():
        for model in PERIOD_TABLES:
            model.objects.filter(period_kind__in=[PeriodKind.QUARTER, PeriodKind.YEAR]).delete()
        days = month_starts()
        metrics_mark_changed(days=days)
        if row is None:
            EngineCalendar.objects.create(fiscal_year_start_month=month)
        else:
            EngineCalendar.objects.filter(pk=row.pk).update(fiscal_year_start_month=month)
    log.warning("fiscal year now starts in month %s (was %s): every period is recomputed", month, stored)
    return days


def plan_for_days(days: Iterable[date], reps: dict[date, list[int]] | None = None) -> Plan:
    """The chunks for these days. `reps` (marked_reps) limits days to the rows of some reps: such
    a day is a chunk of its own for them, and a period whose days are all limited is rebuilt
    only for the slices they touch. Every other chunk covers all reps: one statement per daily
    table, whatever the number of teams."""
    days = sorted({*days, *follow_the_fiscal_calendar()})
    if not days:
        return Plan()
    limits = {day: ids for day, ids in (reps or {}).items() if day in set(days)}
    chunks = [(first, last, None) for first, last in _ranges([day for day in days if day not in limits])]
    chunks += [(day, day, list(ids)) for day, ids in limits.items()]
    periods = rollup.periods_containing(days)
    period_reps = {}
    for period in periods:
        inside = [day for day in days if period.start <= day <= period.last_day]
        if all(day in limits for day in inside):
            period_reps[period] = sorted({rep for day in inside for rep in limits[day]})
    return Plan(
        day_chunks=sorted(chunks, key=lambda chunk: chunk[:2]), periods=periods, period_reps=period_reps
    )


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

# Days the engine computes: every period containing them, and the one before, can be written
# and read back. Marks outside (left by rows from before the calendar window) are dropped.
ENGINE_FIRST_DAY = date(1900, 1, 1)
ENGINE_LAST_DAY = date(9998, 12, 31)
# A failing chunk is tried this often in all before its slice is recorded as a problem.
CHUNK_ATTEMPTS = 2


class RunInProgress(Exception):
    """Another run holds the run lock (its MetricRun row is "running")."""

    def __init__(self, run: MetricRun | None):
        self.run = run
        when = timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M") if run else "?"
        super().__init__(f"another metrics run is in progress (#{run.pk if run else '?'}, started {when})")


class RunEnded(Exception):
    """The run this chunk belongs to is no longer running (housekeeping ended it): write nothing."""


def stale_after() -> timedelta:
    return timedelta(minutes=settings.SALESTRACK_METRICS_RUN_STALE_MINUTES)


def run_current() -> MetricRun | None:
    return MetricRun.objects.filter(status=MetricRun.Status.RUNNING).first()


def runs_end_dead(*, older_than: timedelta | None = None) -> int:
    """End every running run with no sign of life for `older_than` (default: the setting).

    Its worker or process died: the run lock is freed, its days stay marked, and the next run
    redoes them. A chunk still in flight from it finds the run ended and writes nothing.
    """
    now = timezone.now()
    threshold = now - (stale_after() if older_than is None else older_than)
    dead = MetricRun.objects.filter(status=MetricRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=threshold) | Q(heartbeat_at__isnull=True, started_at__lt=threshold)
    )
    ended = dead.update(
        status=MetricRun.Status.FAILED,
        finished_at=now,
        error=(
            "Ended by housekeeping: no chunk finished since "
            f"{timezone.localtime(threshold):%Y-%m-%d %H:%M %Z} (its worker or process stopped). "
            "Its days stay marked; the next run redoes them."
        ),
    )
    if ended:
        log.warning("ended %s metrics run(s) with no sign of life since %s", ended, threshold)
    return ended


def run_start(*, kind: str, plan: Plan, wait: float = 0) -> MetricRun:
    """Take the run lock by creating the running MetricRun; at most one exists (a unique key).

    If another run holds it, a dead one is ended; a live one is waited for up to `wait`
    seconds, then RunInProgress is raised.
    """
    days = [first for first, _, _ in plan.day_chunks] + [last for _, last, _ in plan.day_chunks]
    deadline = time.monotonic() + wait
    while True:
        now = timezone.now()
        try:
            with transaction.atomic():
                return MetricRun.objects.create(
                    kind=kind,
                    started_at=now,
                    heartbeat_at=now,
                    first_day=min(days) if days else None,
                    last_day=max(days) if days else None,
                    chunks_total=plan.total,
                )
        except IntegrityError:
            if runs_end_dead():
                continue
            if time.monotonic() >= deadline:
                raise RunInProgress(run_current()) from None
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))


def _hold_run(run_id: int | None) -> None:
    """Inside a chunk's transaction: its run is still running, and stays so until the commit.

    On PostgreSQL the row is share-locked, so housekeeping's UPDATE that ends a run waits for
    the chunks in flight; chunks of one run still run side by side.
    """
    if run_id is None:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT status FROM {MetricRun._meta.db_table} WHERE id = %s FOR SHARE", [run_id])
            row = cursor.fetchone()
    else:
        row = MetricRun.objects.filter(pk=run_id).values_list("status").first()
    if row is None or row[0] != MetricRun.Status.RUNNING:
        raise RunEnded(run_id)


def chunk_days(*, run_id: int | None, first_day: date, last_day: date, rep_ids) -> int:
    """One daily-table chunk, committed on its own."""
    with transaction.atomic():
        _hold_run(run_id)
        written = rollup.rollup_days(first_day=first_day, last_day=last_day, rep_ids=rep_ids)
    _chunk_done(run_id, written)
    return written


def chunk_period(*, run_id: int | None, period: Period, rep_ids: list[int] | None = None) -> int:
    with transaction.atomic():
        _hold_run(run_id)
        written = rollup.rollup_period(period, rep_ids=rep_ids)
    _chunk_done(run_id, written)
    return written


def _chunk_done(run_id: int | None, written: int) -> None:
    if run_id is not None:
        # One UPDATE, so chunks finishing on several workers at once never lose a count.
        MetricRun.objects.filter(pk=run_id).update(
            chunks_done=F("chunks_done") + 1,
            rows_written=F("rows_written") + written,
            heartbeat_at=timezone.now(),
        )


def _of_reps(rep_ids) -> str:
    if not rep_ids:
        return ""
    names = [str(rep) for rep in Rep.objects.filter(pk__in=rep_ids[:3]).select_related("user").order_by("pk")]
    more = f" and {len(rep_ids) - 3} more" if len(rep_ids) > 3 else ""
    return f", only {', '.join(names) or '?'}{more}"


def describe_days(first_day: date, last_day: date, rep_ids) -> str:
    days = first_day.isoformat() if first_day == last_day else f"{first_day} to {last_day}"
    return f"daily figures of {days}{_of_reps(rep_ids)}"


def describe_period(period: Period, rep_ids=None) -> str:
    return f"figures of {period}{_of_reps(rep_ids)}"


def readable(error: BaseException) -> str:
    """The error in one or two lines for admins; the traceback goes to the log."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:1000]


def chunk_failed(
    *, run_id: int | None, slice: str, first_day: date, last_day: date, error: BaseException, attempts: int
) -> None:
    """A chunk failed for good: record its slice so the run completes without it, and say why."""
    log.error("metrics run %s: %s could not be computed", run_id, slice, exc_info=error)
    if run_id is None:
        return
    MetricRunProblem.objects.create(
        run_id=run_id,
        slice=slice[:200],
        first_day=first_day,
        last_day=last_day,
        message=readable(error),
        attempts=attempts,
    )
    _chunk_done(run_id, 0)


def run_finish(*, run_id: int, cleared_before=None, cleared_days: Iterable[date] = ()) -> bool:
    """End a run (succeeded, or partial when slices failed) and drop the marks it dealt with.

    A mark set again after the run started (a newer edit) is kept, so the next run sees it;
    so are the marks of days in a slice that failed. Compare-and-set: a run that housekeeping
    already ended stays ended and clears nothing (False).
    """
    with transaction.atomic():
        problems = list(MetricRunProblem.objects.filter(run_id=run_id))
        status = MetricRun.Status.PARTIAL if problems else MetricRun.Status.SUCCEEDED
        summary = ""
        if problems:
            summary = f"{len(problems)} slice(s) could not be computed; their days stay marked: " + "; ".join(
                f"{problem.slice} ({problem.message})" for problem in problems[:20]
            )
        ended = MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.RUNNING).update(
            status=status, finished_at=timezone.now(), heartbeat_at=timezone.now(), error=summary[:20_000]
        )
        if ended and cleared_before is not None:
            failed = [(problem.first_day, problem.last_day) for problem in problems]
            done = [day for day in cleared_days if not any(first <= day <= last for first, last in failed)]
            ChangedDay.objects.filter(day__in=done, marked_at__lte=cleared_before).delete()
    return bool(ended)


def run_fail(*, run_id: int, error: BaseException | str) -> None:
    if isinstance(error, BaseException):
        log.error("metrics run %s failed", run_id, exc_info=error)
        error = readable(error)
    MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.RUNNING).update(
        status=MetricRun.Status.FAILED, finished_at=timezone.now(), error=error[-20_000:]
    )


def _attempt(run_id: int, work: Callable[[], int], *, slice: str, first_day: date, last_day: date) -> None:
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        try:
            work()
            return
        except RunEnded:
            raise
        except Exception as exc:
            if attempt == CHUNK_ATTEMPTS:
                chunk_failed(
                    run_id=run_id,
                    slice=slice,
                    first_day=first_day,
                    last_day=last_day,
                    error=exc,
                    attempts=attempt,
                )
            else:
                log.warning("metrics run %s: %s failed, trying again", run_id, slice, exc_info=exc)


def run_sync(
    *,
    kind: str,
    days: Iterable[date],
    clear_marks: bool = False,
    progress: Callable[[int], None] | None = None,
    wait: float = 0,
    reps: dict[date, list[int]] | None = None,
) -> MetricRun:
    """Run a whole plan in this process (the command, tests, eager mode); `reps` as for
    plan_for_days (an incremental run passes marked_reps).

    A chunk that fails is tried again, then recorded as a problem of the run, and the other
    chunks still complete: one bad slice never stops every figure.
    """
    started = timezone.now()
    days = computable(days)
    plan = plan_for_days(days, reps)
    run = run_start(kind=kind, plan=plan, wait=wait)
    try:
        for first, last, reps in plan.day_chunks:
            _attempt(
                run.pk,
                lambda f=first, la=last, r=reps: chunk_days(
                    run_id=run.pk, first_day=f, last_day=la, rep_ids=r
                ),
                slice=describe_days(first, last, reps),
                first_day=first,
                last_day=last,
            )
            if progress:
                progress(1)
        for period in plan.periods:
            only = plan.period_reps.get(period)
            _attempt(
                run.pk,
                lambda p=period, o=only: chunk_period(run_id=run.pk, period=p, rep_ids=o),
                slice=describe_period(period, only),
                first_day=period.start,
                last_day=period.last_day,
            )
            if progress:
                progress(1)
    except BaseException as exc:
        run_fail(run_id=run.pk, error=exc)
        raise
    run_finish(run_id=run.pk, cleared_before=started if clear_marks else None, cleared_days=days)
    run.refresh_from_db()
    return run


def computable(days: Iterable[date]) -> list[date]:
    """The days the engine can compute, sorted; others are logged and skipped."""
    days = sorted(set(days))
    kept = [day for day in days if ENGINE_FIRST_DAY <= day <= ENGINE_LAST_DAY]
    if len(kept) != len(days):
        log.warning(
            "skipping %s day(s) outside %s..%s", len(days) - len(kept), ENGINE_FIRST_DAY, ENGINE_LAST_DAY
        )
    return kept


def metrics_housekeeping(*, dispatch: Callable[[], object]) -> dict:
    """End runs whose worker died; if marks have waited past the debounce with no run going
    (the broker was down when they were made, say), ask for the incremental run now."""
    ended = runs_end_dead()
    waiting = ChangedDay.objects.filter(
        marked_at__lt=timezone.now() - timedelta(seconds=3 * INCREMENTAL_DELAY)
    ).exists()
    # dispatch() is False when the broker is still down: the marks wait for the next time.
    queued = bool(waiting and run_current() is None) and dispatch() is not False
    return {"ended": ended, "queued": queued}


def days_to_refresh(*, include_yesterday: bool) -> list[date]:
    """Every day marked changed, plus yesterday for the nightly run.

    A mark outside the days the engine computes can never be dealt with: it is dropped here,
    so that it never stops a run.
    """
    outside = ChangedDay.objects.exclude(day__range=(ENGINE_FIRST_DAY, ENGINE_LAST_DAY))
    if outside.exists():
        log.warning("dropping change marks outside %s..%s", ENGINE_FIRST_DAY, ENGINE_LAST_DAY)
        outside.delete()
    days = set(ChangedDay.objects.values_list("day", flat=True))
    if include_yesterday:
        days.add(timezone.localdate() - timedelta(days=1))
    return sorted(days)


def all_days() -> list[date]:
    span = data_span()
    if span is None:
        return []
    first, last = max(span[0], ENGINE_FIRST_DAY), min(span[1], ENGINE_LAST_DAY)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def metrics_mark_all_days() -> None:
    """The pipeline itself changed (stage order or kind): every daily funnel row is stale."""
    metrics_mark_changed(days=all_days())


def metrics_mark_all_periods() -> None:
    """Something every period depends on changed (a rep's team, a stage's probability, …).

    The first day of every month with data is marked, so the next run rebuilds
    every month, quarter and year (and only those days of the daily tables).
    """
    metrics_mark_changed(days=month_starts())


def month_starts() -> list[date]:
    """The first day of every month with data."""
    span = data_span()
    if span is None:
        return []
    first, last = max(span[0], ENGINE_FIRST_DAY), min(span[1], ENGINE_LAST_DAY)
    month, days = Period.containing(first, "month"), []
    while month.start <= last:
        days.append(month.start)
        month = month.next()
    return days


def metrics_mark_move(*, rep_id: int, from_day: date) -> None:
    """A rep changed team or territory from `from_day`: their daily rows from that day on are
    credited anew, and every period from that month on counts its members again (their first
    days marked). Earlier days and periods are left as they are."""
    from .models import RepDayActivity, RepDayDeal, RepDayReach

    days = set()
    for model in (RepDayActivity, RepDayDeal, RepDayReach):
        days.update(model.objects.filter(rep_id=rep_id, day__gte=from_day).values_list("day", flat=True))
    span = data_span()
    last = max(timezone.localdate(), span[1] if span else from_day)
    month = Period.containing(from_day, "month")
    while month.start <= last:
        days.add(month.start)
        month = month.next()
    days.add(from_day)
    metrics_mark_changed(days=days)
