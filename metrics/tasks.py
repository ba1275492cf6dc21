"""Celery tasks of the metrics engine: thin wrappers around metrics.jobs.

A run fans out as a chord: a group of daily-table chunks, then (once all are
done) a group of period chunks, then `finish_run`. Each chunk is idempotent
(a rebuild of its slice in one transaction), so `acks_late` redelivery
after a lost worker is safe. A chunk that keeps failing is recorded as a problem
of its run and the chord goes on: one bad slice never stops the other figures.

The run lock is the running MetricRun row (metrics.jobs.run_start), the same for
Celery, `compute_metrics` and `make run`.
"""

import contextlib
from datetime import date, datetime

from celery import chord, group, shared_task
from django.conf import settings
from django.core.cache import cache
from django.dispatch import receiver
from django.utils import timezone

from salestrack.outages import CACHE_ERRORS, publish, warn_once

from . import digest, jobs, rollup
from .models import MetricRun
from .periods import Period

CHUNK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "bind": True,
    "max_retries": jobs.CHUNK_ATTEMPTS - 1,
    "soft_time_limit": settings.SALESTRACK_METRICS_CHUNK_TIME_LIMIT_SECONDS,
    "time_limit": settings.SALESTRACK_METRICS_CHUNK_TIME_LIMIT_SECONDS + 60,
}
# Seconds before a failed chunk is tried again (a deadlock or a restarted database passes).
CHUNK_RETRY_DELAY = 5


def _chunk(task, work, *, run_id: int, slice: str, first_day: date, last_day: date) -> int:
    try:
        return work()
    except jobs.RunEnded:
        return 0  # housekeeping ended this run; a newer one redoes the slice
    except Exception as exc:
        if task.request.retries < task.max_retries:
            raise task.retry(exc=exc, countdown=CHUNK_RETRY_DELAY) from None
        jobs.chunk_failed(
            run_id=run_id,
            slice=slice,
            first_day=first_day,
            last_day=last_day,
            error=exc,
            attempts=task.request.retries + 1,
        )
        return 0


@shared_task(name="metrics.rollup_days_chunk", **CHUNK_OPTIONS)
def rollup_days_chunk(self, run_id: int, first_day: str, last_day: str, rep_ids: list[int] | None) -> int:
    first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
    return _chunk(
        self,
        lambda: jobs.chunk_days(run_id=run_id, first_day=first, last_day=last, rep_ids=rep_ids),
        run_id=run_id,
        slice=jobs.describe_days(first, last, rep_ids),
        first_day=first,
        last_day=last,
    )


@shared_task(name="metrics.rollup_period_chunk", **CHUNK_OPTIONS)
def rollup_period_chunk(self, run_id: int, period: str, rep_ids: list[int] | None = None) -> int:
    parsed = Period.parse(period)
    return _chunk(
        self,
        lambda: jobs.chunk_period(run_id=run_id, period=parsed, rep_ids=rep_ids),
        run_id=run_id,
        slice=jobs.describe_period(parsed, rep_ids),
        first_day=parsed.start,
        last_day=parsed.last_day,
    )


@shared_task(name="metrics.start_periods")
def start_periods(
    _results,
    run_id: int,
    levels: list[list[str]],
    started_at: str,
    days: list[str],
    period_reps: dict[str, list[int]] | None = None,
) -> None:
    """The period chunks, once every daily chunk is done: a level at a time (the months side by
    side, then the quarters summed from them, then the years), then `finish_run`.
    `period_reps`: the periods rebuilt only for some reps' slices (Plan.period_reps)."""
    if not levels:
        finish_run(run_id, started_at, days)
        return
    if len(levels) > 1:
        body = start_periods.s(run_id, levels[1:], started_at, days, period_reps)
    else:
        body = finish_run.si(run_id, started_at, days)
    only = period_reps or {}
    chord(rollup_period_chunk.si(run_id, period, only.get(period)) for period in levels[0])(
        body.on_error(fail_run.s(run_id=run_id))
    )


@shared_task(name="metrics.finish_run")
def finish_run(run_id: int, started_at: str, days: list[str]) -> None:
    jobs.run_finish(
        run_id=run_id,
        cleared_before=datetime.fromisoformat(started_at),
        cleared_days=[date.fromisoformat(day) for day in days],
    )


@shared_task(name="metrics.fail_run")
def fail_run(request, exc, traceback, run_id: int) -> None:
    jobs.run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")


def _dispatch(kind: str, days: list[date]) -> int | None:
    """Plan a run over these days and send it to the workers as two chords.

    None when there is nothing to do; RunInProgress when another run holds the lock.
    """
    days = jobs.computable(days)
    if not days:
        return None
    started = timezone.now()
    # An incremental run rebuilds only what the marks name (one rep's rows when one rep saved).
    plan = jobs.plan_for_days(days, jobs.marked_reps(days) if kind == MetricRun.Kind.INCREMENTAL else None)
    run = jobs.run_start(kind=kind, plan=plan)
    header = group(
        rollup_days_chunk.si(run.pk, first.isoformat(), last.isoformat(), reps)
        for first, last, reps in plan.day_chunks
    )
    body = start_periods.s(
        run.pk,
        [[str(period) for period in level] for level in rollup.period_levels(plan.periods)],
        started.isoformat(),
        [day.isoformat() for day in days],
        {str(period): reps for period, reps in plan.period_reps.items()},
    ).on_error(fail_run.s(run_id=run.pk))
    try:
        chord(header)(body)
    except Exception as exc:
        # Eager mode runs the chord right here; a broker error also lands here.
        jobs.run_fail(run_id=run.pk, error=exc)
        raise
    return run.pk


@shared_task(name="metrics.run_nightly", bind=True, max_retries=None)
def run_nightly(self) -> int | None:
    """01:00 every night: yesterday, every day marked changed, and their periods."""
    try:
        return _dispatch(MetricRun.Kind.NIGHTLY, jobs.days_to_refresh(include_yesterday=True))
    except jobs.RunInProgress:
        if self.request.is_eager:
            return None  # in-process: the marks wait for the run in progress or the next one
        raise self.retry(countdown=5 * 60) from None


@shared_task(name="metrics.run_incremental", bind=True, max_retries=None)
def run_incremental(self) -> int | None:
    """Soon after changes: the days marked changed and their periods."""
    with contextlib.suppress(Exception):  # the cache being down only costs a duplicate run
        cache.delete(jobs.DEBOUNCE_KEY)
    try:
        return _dispatch(MetricRun.Kind.INCREMENTAL, jobs.days_to_refresh(include_yesterday=False))
    except jobs.RunInProgress:
        if self.request.is_eager:
            return None  # in-process: the marks wait for the run in progress or the next one
        # A run is in flight and may have missed these changes: come back once it is done.
        raise self.retry(countdown=jobs.INCREMENTAL_DELAY) from None


@shared_task(name="metrics.housekeeping")
def housekeeping() -> dict:
    """Every few minutes: end runs whose worker died, and catch up on marks nobody ran for."""
    return jobs.metrics_housekeeping(dispatch=lambda: publish(run_incremental))


@shared_task(name="metrics.send_daily_digest")
def send_daily_digest(today: str | None = None) -> int:
    """07:00 on working days: each manager's digest by e-mail (metrics.digest); the number sent."""
    return digest.send_daily_digests(today=date.fromisoformat(today) if today else None)


@receiver(jobs.changes_committed, dispatch_uid="metrics.enqueue_incremental")
def enqueue_incremental(**_kwargs) -> None:
    """Days were marked changed: the incremental run, once per burst of changes."""
    try:
        # cache.add is atomic: only the first change of a burst enqueues the run.
        if not cache.add(jobs.DEBOUNCE_KEY, True, timeout=jobs.INCREMENTAL_DELAY):
            return
    except CACHE_ERRORS:  # the cache being down must never fail a save
        warn_once("cache", "could not reach the cache to debounce the incremental metrics run")
    # Nor the broker: the marks wait in the database and housekeeping sends the run later.
    if not publish(run_incremental, countdown=jobs.INCREMENTAL_DELAY):
        with contextlib.suppress(*CACHE_ERRORS):
            cache.delete(jobs.DEBOUNCE_KEY)  # so that the next change tries again
