"""Celery tasks of the metrics engine: thin wrappers around metrics.jobs.

A run fans out as a chord: a group of daily-table chunks, then (once all are
done) a group of period chunks, then `finish_run`. Each chunk is idempotent
(delete-and-insert of its slice in one transaction), so `acks_late` redelivery
after a lost worker is safe.
"""

from datetime import date, datetime

from celery import chord, group, shared_task
from django.core.cache import cache
from django.utils import timezone

from . import digest, jobs
from .models import MetricRun
from .periods import Period

CHUNK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}
RUN_LOCK_KEY = "metrics:run-lock"
# Long enough for a full backfill; a crashed run frees the lock when it expires.
RUN_LOCK_SECONDS = 2 * 60 * 60


@shared_task(name="metrics.rollup_days_chunk", **CHUNK_OPTIONS)
def rollup_days_chunk(run_id: int, first_day: str, last_day: str, rep_ids: list[int] | None) -> int:
    return jobs.chunk_days(
        run_id=run_id,
        first_day=date.fromisoformat(first_day),
        last_day=date.fromisoformat(last_day),
        rep_ids=rep_ids,
    )


@shared_task(name="metrics.rollup_period_chunk", **CHUNK_OPTIONS)
def rollup_period_chunk(run_id: int, period: str) -> int:
    return jobs.chunk_period(run_id=run_id, period=Period.parse(period))


@shared_task(name="metrics.start_periods")
def start_periods(_day_results, run_id: int, periods: list[str], started_at: str, days: list[str]) -> None:
    """Second stage of a run: the period chunks, once every daily chunk is done."""
    body = finish_run.si(run_id, started_at, days).on_error(fail_run.s(run_id=run_id))
    chord(rollup_period_chunk.si(run_id, period) for period in periods)(body)


@shared_task(name="metrics.finish_run")
def finish_run(run_id: int, started_at: str, days: list[str]) -> None:
    jobs.run_finish(
        run_id=run_id,
        cleared_before=datetime.fromisoformat(started_at),
        cleared_days=[date.fromisoformat(day) for day in days],
    )
    cache.delete(RUN_LOCK_KEY)


@shared_task(name="metrics.fail_run")
def fail_run(request, exc, traceback, run_id: int) -> None:
    jobs.run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}\n{traceback or ''}")
    cache.delete(RUN_LOCK_KEY)


def _dispatch(kind: str, days: list[date]) -> int | None:
    """Plan a run over these days and send it to the workers as two chords."""
    if not days:
        return None
    if not cache.add(RUN_LOCK_KEY, True, timeout=RUN_LOCK_SECONDS):
        # Another run is in flight; the marks stay and the next run picks them up.
        return None
    started = timezone.now()
    plan = jobs.plan_for_days(days)
    run = jobs.run_start(kind=kind, plan=plan)
    header = group(
        rollup_days_chunk.si(run.pk, first.isoformat(), last.isoformat(), reps)
        for first, last, reps in plan.day_chunks
    )
    body = start_periods.s(
        run.pk,
        [str(period) for period in plan.periods],
        started.isoformat(),
        [day.isoformat() for day in days],
    ).on_error(fail_run.s(run_id=run.pk))
    try:
        chord(header)(body)
    except Exception as exc:
        # Eager mode runs the chord right here; a broker error also lands here.
        jobs.run_fail(run_id=run.pk, error=exc)
        cache.delete(RUN_LOCK_KEY)
        raise
    return run.pk


@shared_task(name="metrics.run_nightly")
def run_nightly() -> int | None:
    """01:00 every night: yesterday, every day marked changed, and their periods."""
    return _dispatch(MetricRun.Kind.NIGHTLY, jobs.days_to_refresh(include_yesterday=True))


@shared_task(name="metrics.run_incremental", bind=True, max_retries=None)
def run_incremental(self) -> int | None:
    """Soon after changes: the days marked changed and their periods."""
    if cache.get(RUN_LOCK_KEY):
        # A run is in flight and may have missed these changes: come back once it is done.
        raise self.retry(countdown=jobs.INCREMENTAL_DELAY)
    cache.delete(jobs.DEBOUNCE_KEY)
    return _dispatch(MetricRun.Kind.INCREMENTAL, jobs.days_to_refresh(include_yesterday=False))


@shared_task(name="metrics.send_daily_digest")
def send_daily_digest(today: str | None = None) -> int:
    """07:00 on working days: each manager's digest by e-mail (metrics.digest); the number sent."""
    return digest.send_daily_digests(today=date.fromisoformat(today) if today else None)
