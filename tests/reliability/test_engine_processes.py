"""The run lock and a dead worker, with real processes (PostgreSQL + Redis + Celery workers).

Two `compute_metrics` processes start at once: one runs, the other waits or declines; never
two runs interleave, never a doubled row. A real Celery worker is SIGKILLed in the middle of a
run: housekeeping ends the run, the lock is free, a new worker's run completes, and the tables
equal a clean backfill. Two worker processes share a run's chunks and write the same tables
as one.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from celery import Celery
from django.db import connection, transaction
from django.utils import timezone

from metrics import jobs
from metrics.models import MetricRun, RepDayActivity
from tests.conftest import need
from tests.metrics.datagen import make_dataset
from tests.metrics.test_rollup import SUMMARY_MODELS, _dump

pytestmark = [pytest.mark.services]
ROOT = Path(__file__).resolve().parents[2]
BROKER_DB = 13  # of its own, so no other test's messages reach these workers
TZ = "UTC"


@pytest.fixture
def env(django_db_serialized_rollback, transactional_db, settings):
    need(connection.vendor == "postgresql", "processes sharing a database need PostgreSQL (set DATABASE_URL)")
    need(bool(os.environ.get("REDIS_URL")), "a real worker needs Redis (set REDIS_URL)")
    import redis

    broker = os.environ["REDIS_URL"].rsplit("/", 1)[0] + f"/{BROKER_DB}"
    redis.Redis.from_url(broker).flushdb()
    test_db = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    settings.TIME_ZONE = TZ
    return {
        **os.environ,
        "DATABASE_URL": urlunsplit(test_db),
        "REDIS_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TIME_ZONE": TZ,
        "SALESTRACK_ENV": "test",
    }


def _data(reps=12, teams=4, deals=300, activities=3000):
    today = timezone.localdate()
    start = today.replace(year=today.year - 1, day=1)
    make_dataset(
        seed=31, reps=reps, teams=teams, start=start, end=today, deals=deals, activities=activities, tz=TZ
    )


def _clean_backfill() -> dict:
    for model in SUMMARY_MODELS:
        model.objects.all().delete()
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)
    return _dump()


def _never_overlapping(runs) -> None:
    spans = sorted((run.started_at, run.finished_at) for run in runs)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end is not None and end <= start, f"two runs overlapped: {spans}"


def test_two_runs_started_at_once_from_two_processes_never_interleave(env):
    _data()
    command = [sys.executable, "manage.py", "compute_metrics", "--all", "--verbosity", "0"]
    # One waits for the other; a third declines at once.
    # The test holds the daily activity table against writes, so the first run stays "running"
    # (its lock taken, its first chunk waiting) until the third process has asked: a run of
    # this small dataset is over faster than a process starts.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {RepDayActivity._meta.db_table} IN EXCLUSIVE MODE")
        waiting = [
            subprocess.Popen(
                [*command, "--wait", "600"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 60
        while not MetricRun.objects.filter(status=MetricRun.Status.RUNNING).exists():
            assert time.monotonic() < deadline, "no run started"
            time.sleep(0.05)
        declined = subprocess.run(
            [*command, "--wait", "0"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert [process.poll() for process in waiting] == [None, None], "a run ended while the table was held"
    results = [(process.wait(timeout=600), process.stderr.read()) for process in waiting]

    assert declined.returncode == 1 and "another metrics run is in progress" in declined.stderr
    assert [code for code, _ in results] == [0, 0], results
    runs = list(MetricRun.objects.all())
    assert [run.status for run in runs] == [MetricRun.Status.SUCCEEDED] * 2
    _never_overlapping(runs)
    dump = _dump()
    assert dump == _clean_backfill()
    print(
        f"two at once: 2 ran one after the other ({runs[0].chunks_total} chunks each), 1 declined; "
        f"{sum(len(rows) for rows in dump.values())} summary rows equal a clean backfill"
    )


def _start_worker(env, name: str, concurrency: int = 2) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "salestrack",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: SIGKILL reaches the pool's children too
    )
    client = Celery("test-client", broker=env["REDIS_URL"], backend=env["REDIS_URL"])
    deadline = time.monotonic() + 60
    while not client.control.ping(destination=[f"{name}@{os.uname().nodename}"], timeout=1):
        assert process.poll() is None, f"the worker died:\n{process.stdout.read()}"
        assert time.monotonic() < deadline, "the worker did not answer within 60 s"
    process.client = client
    return process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for(run_id: int, predicate, timeout: float = 300) -> MetricRun:
    deadline = time.monotonic() + timeout
    while True:
        run = MetricRun.objects.get(pk=run_id)
        if predicate(run):
            return run
        assert time.monotonic() < deadline, (
            f"run {run_id} stuck: {run.status} {run.chunks_done}/{run.chunks_total}"
        )
        time.sleep(0.02)


def test_a_worker_killed_mid_run_is_ended_by_housekeeping_and_the_rerun_equals_a_clean_backfill(env):
    _data()
    # Every day of the data is marked changed, as the write paths would have done.
    jobs.metrics_mark_changed(days=jobs.all_days())
    worker = _start_worker(env, "doomed")
    try:
        run_id = worker.client.send_task("metrics.run_nightly").get(timeout=120)
        # Let some chunks commit, then kill the worker and its pool without warning.
        _wait_for(run_id, lambda run: run.chunks_done >= 3)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        _stop(worker)
    killed = MetricRun.objects.get(pk=run_id)
    assert killed.status == MetricRun.Status.RUNNING and killed.chunks_done < killed.chunks_total, (
        "the kill must land mid-run"
    )
    # Nothing is running any more, so no sign of life comes: housekeeping ends the run.
    time.sleep(0.5)
    assert jobs.runs_end_dead(older_than=timezone.timedelta(seconds=0.2)) == 1
    killed.refresh_from_db()
    assert killed.status == MetricRun.Status.FAILED and "worker or process stopped" in killed.error
    assert jobs.days_to_refresh(include_yesterday=False), "the run's marks stay for the re-run"

    survivor = _start_worker(env, "survivor")
    try:
        rerun_id = survivor.client.send_task("metrics.run_nightly").get(timeout=120)
        rerun = _wait_for(rerun_id, lambda run: run.status != MetricRun.Status.RUNNING)
    finally:
        _stop(survivor)
    assert rerun.status == MetricRun.Status.SUCCEEDED, rerun.error
    assert rerun.chunks_done == rerun.chunks_total
    assert not jobs.days_to_refresh(include_yesterday=False)
    dump = _dump()
    assert dump == _clean_backfill()
    print(
        f"worker SIGKILLed after {killed.chunks_done} of {killed.chunks_total} chunks; re-run "
        f"{rerun.chunks_done}/{rerun.chunks_total} chunks; {sum(len(rows) for rows in dump.values())} "
        "summary rows equal a clean backfill"
    )


def _run_on(workers: list[subprocess.Popen]) -> tuple[dict, dict[str, int]]:
    """A run of every day through these workers: the tables it wrote, and the chunks each took."""
    for model in SUMMARY_MODELS:
        model.objects.all().delete()
    jobs.metrics_mark_changed(days=jobs.all_days())
    try:
        run_id = workers[0].client.send_task("metrics.run_nightly").get(timeout=120)
        run = _wait_for(run_id, lambda run: run.status != MetricRun.Status.RUNNING)
    finally:
        logs = {}
        for worker in workers:
            _stop(worker)
            logs[worker.name] = worker.stdout.read()
    assert run.status == MetricRun.Status.SUCCEEDED, run.error
    assert run.chunks_done == run.chunks_total
    taken = {
        name: len(re.findall(r"Task metrics\.rollup_(?:days|period)_chunk\[[^]]+\] succeeded", log))
        for name, log in logs.items()
    }
    assert sum(taken.values()) == run.chunks_total, (taken, run.chunks_total)
    return _dump(), taken


def test_two_worker_processes_write_the_same_tables_as_one(env):
    _data()
    alone = _start_worker(env, "alone", concurrency=1)
    alone.name = "alone"
    one, taken_alone = _run_on([alone])
    pair = []
    for name in ("left", "right"):
        pair.append(_start_worker(env, name, concurrency=1))
        pair[-1].name = name
    two, taken_pair = _run_on(pair)

    assert all(taken_pair.values()), f"both workers took chunks: {taken_pair}"
    assert two == one
    assert one == _clean_backfill()
    print(
        f"one worker: {taken_alone['alone']} chunks; two workers: {taken_pair} chunks; "
        f"{sum(len(rows) for rows in one.values())} summary rows, equal to each other and to a "
        "backfill in this process"
    )
