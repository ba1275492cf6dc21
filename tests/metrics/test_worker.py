"""The nightly job through a real broker and a real Celery worker (PostgreSQL + Redis).

The worker is a separate process, so it shares the test database only on
PostgreSQL; on a developer machine without the services these tests skip, in
CI (REQUIRE_SERVICES=1) they fail.
"""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone

from metrics.models import MetricRun, PeriodMetric, RepDayActivity
from metrics.periods import Period, PeriodKind
from tests import oracle
from tests.conftest import need
from tests.metrics.datagen import make_dataset

pytestmark = [pytest.mark.services]
ROOT = Path(__file__).resolve().parents[2]
# A broker database of its own, so the worker never sees messages of other runs.
BROKER_DB = 14


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL")
    return url.rsplit("/", 1)[0] + f"/{BROKER_DB}" if url else None


@pytest.fixture
def worker(django_db_serialized_rollback, transactional_db, settings):
    # Serialized rollback: the migrations' rows (stages, types, groups) are back even after
    # another transactional test emptied the tables.
    need(connection.vendor == "postgresql", "a real worker needs PostgreSQL (set DATABASE_URL)")
    need(bool(os.environ.get("REDIS_URL")), "a real worker needs Redis (set REDIS_URL)")
    import redis

    broker = _redis_url()
    redis.Redis.from_url(broker).flushdb()
    # The same server and credentials, but the test database pytest-django created.
    test_db_url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(test_db_url),
        "REDIS_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TIME_ZONE": settings.TIME_ZONE,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "salestrack",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            "test@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = Celery("test-client", broker=broker, backend=broker)
    try:
        deadline = time.monotonic() + 60
        while not client.control.ping(timeout=1):
            assert process.poll() is None, f"the worker died:\n{process.stdout.read()}"
            assert time.monotonic() < deadline, "the worker did not answer within 60 s"
        yield client
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        print(output[-5000:])


def test_the_nightly_task_through_the_broker_fills_the_summary_tables(worker):
    today = timezone.localdate()
    start = Period.containing(today, PeriodKind.MONTH).previous().start
    yesterday = today - timedelta(days=1)
    make_dataset(seed=21, reps=10, teams=2, start=start, end=yesterday, deals=120, activities=800, tz="UTC")
    # Every day of the data is marked changed, as the write paths would have done.
    from metrics import jobs

    jobs.metrics_mark_changed(days=jobs.all_days())

    run_id = worker.send_task("metrics.run_nightly").get(timeout=120)
    assert run_id, "the nightly task dispatched a run"
    deadline = time.monotonic() + 180
    run = MetricRun.objects.get(pk=run_id)
    while run.status == MetricRun.Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.5)
        run.refresh_from_db()
    assert run.status == MetricRun.Status.SUCCEEDED, run.error
    assert run.chunks_done == run.chunks_total > 2
    assert RepDayActivity.objects.exists()
    # The worker's tables hold the oracle's figures.
    period = Period.containing(start, PeriodKind.MONTH)
    expected = oracle.compute(oracle.load_raw(), period, tz="UTC")
    company = expected.metric("company", 0)
    stored = PeriodMetric.objects.get(scope="company", period_kind=period.kind, period_start=period.start)
    assert stored.revenue == company["revenue"]
    assert stored.activity_minutes == company["activity_minutes"]
    assert stored.deals_won == company["deals_won"]


def _run_to_end(run_id: int) -> MetricRun:
    deadline = time.monotonic() + 180
    run = MetricRun.objects.get(pk=run_id)
    while run.status == MetricRun.Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)
        run.refresh_from_db()
    return run


def test_one_reps_save_runs_through_the_worker_for_that_rep_only_and_equals_a_full_backfill(worker):
    """The incremental task as a worker runs it after one rep's save: the daily chunk and each
    period chunk carry the rep (Plan.period_reps through start_periods), and the tables equal a
    backfill computed in this process."""
    from activities import services
    from activities.models import ActivityType, Rep
    from metrics import jobs, tasks
    from metrics.models import ChangedDay
    from tests.metrics.test_rollup import SUMMARY_MODELS, _dump

    today = timezone.localdate()
    start = Period.containing(today, PeriodKind.MONTH).previous().start
    make_dataset(seed=22, reps=10, teams=2, start=start, end=today, deals=120, activities=800, tz="UTC")
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)
    rep = Rep.objects.order_by("id").first()
    # The save's own on-commit dispatch goes to this process's broker; the test sends the task.
    jobs.changes_committed.disconnect(dispatch_uid="metrics.enqueue_incremental")
    try:
        services.activity_log(rep=rep, type=ActivityType.objects.order_by("id").first(), duration_minutes=61)
    finally:
        jobs.changes_committed.connect(tasks.enqueue_incremental, dispatch_uid="metrics.enqueue_incremental")
    assert set(ChangedDay.objects.values_list("only_rep", flat=True)) == {rep.pk}

    run = _run_to_end(worker.send_task("metrics.run_incremental").get(timeout=120))
    assert run.status == MetricRun.Status.SUCCEEDED, run.error
    # One daily chunk of that rep's day, then its month, quarter and year.
    assert run.kind == MetricRun.Kind.INCREMENTAL and run.chunks_done == run.chunks_total == 4
    assert not ChangedDay.objects.exists()
    incremental = _dump()
    for model in SUMMARY_MODELS:
        model.objects.all().delete()
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)
    assert _dump() == incremental
