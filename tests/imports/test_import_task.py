"""The task `activities.run_import_job` through Celery (eagerly in-process, and on a real worker)."""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from activities.imports import tasks
from activities.models import Activity, ImportJob
from tests.conftest import need
from tests.metrics.test_worker import worker  # noqa: F401 - the real-worker fixture, reused

pytestmark = pytest.mark.django_db

HEADER = "rep,type,occurred_at,duration_minutes,outcome"
GOOD = [
    "rep_a1,Call,2026-01-05 09:00,15,Booked a demo",
    "rep_a2,Email,2026-01-05 10:30,10,",
    "rep_b1,Demo,2026-01-06 14:00,45,",
]


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path):
    settings.SALESTRACK_IMPORT_DIR = str(tmp_path / "imports")
    (tmp_path / "imports").mkdir()
    return tmp_path / "imports"


def make_job(directory, user, *, content: bytes, suffix=".csv", dry_run=False, kind="activities"):
    name = f"{uuid.uuid4().hex}{suffix}"
    (directory / name).write_bytes(content)
    return ImportJob.objects.create(
        kind=kind,
        original_filename=f"activities{suffix}",
        stored_file=name,
        dry_run=dry_run,
        created_by=user,
    )


def csv_bytes(rows) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def test_a_real_run_stores_the_report_and_removes_the_file(cast, import_dir):
    job = make_job(import_dir, cast.admin, content=csv_bytes(GOOD))
    assert tasks.run_import_job.delay(job.pk).get() == "succeeded"
    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert job.started_at and job.finished_at and job.started_at <= job.finished_at
    assert (job.rows_done, job.rows_total, job.created_count, job.error_count) == (3, 3, 3, 0)
    assert job.report["rows"] == 3 and job.report["ok"] is True and job.report["errors"] == []
    assert Activity.objects.count() == 3
    assert job.stored_file == ""
    assert not list(import_dir.iterdir())


def test_a_dry_run_keeps_its_file_and_writes_nothing(cast, import_dir):
    job = make_job(import_dir, cast.admin, content=csv_bytes(GOOD), dry_run=True)
    tasks.run_import_job.delay(job.pk).get()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert job.report["dry_run"] is True and job.created_count == 3
    assert not Activity.objects.exists()
    assert (import_dir / job.stored_file).exists()


def test_errors_in_the_file_fail_the_job_and_keep_the_file(cast, import_dir):
    job = make_job(import_dir, cast.admin, content=csv_bytes([*GOOD, "nobody,Call,2026-01-05 09:00,15,"]))
    tasks.run_import_job.delay(job.pk).get()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.error_count == 1 and job.report["errors"][0]["row"] == 5
    assert not Activity.objects.exists()
    assert (import_dir / job.stored_file).exists()


def test_an_unreadable_file_ends_in_error_with_the_engines_message(cast, import_dir):
    job = make_job(import_dir, cast.admin, content=b"this is not a zip archive", suffix=".xlsx")
    assert tasks.run_import_job.delay(job.pk).get() == "error"
    job.refresh_from_db()
    assert job.status == ImportJob.Status.ERROR
    assert "not an Excel workbook" in job.error
    assert job.finished_at is not None


def test_a_missing_file_ends_in_error(cast, import_dir):
    job = make_job(import_dir, cast.admin, content=csv_bytes(GOOD))
    (import_dir / job.stored_file).unlink()
    tasks.run_import_job.delay(job.pk).get()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.ERROR
    assert "no longer there" in job.error


def test_a_crash_is_recorded_on_the_job_and_not_retried(cast, import_dir, monkeypatch, caplog):
    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("activities.imports.run_import", crash)
    job = make_job(import_dir, cast.admin, content=csv_bytes(GOOD))
    assert tasks.run_import_job.delay(job.pk).get() == "error"
    job.refresh_from_db()
    assert job.status == ImportJob.Status.ERROR
    assert "RuntimeError: disk on fire" in job.error
    assert "import job" in caplog.text


def test_the_progress_is_saved_while_the_engine_runs(cast, import_dir, monkeypatch):
    seen = []
    real_run_import = __import__("activities.imports", fromlist=["run_import"]).run_import

    def engine(kind, source, *, progress, **kwargs):
        progress(1000, 4000)
        seen.append(ImportJob.objects.values_list("status", "rows_done", "rows_total").get())
        return real_run_import(kind, source, progress=progress, **kwargs)

    monkeypatch.setattr("activities.imports.run_import", engine)
    job = make_job(import_dir, cast.admin, content=csv_bytes(GOOD))
    tasks.run_import_job.delay(job.pk).get()
    assert seen == [("running", 1000, 4000)]
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.rows_total) == ("succeeded", 3, 3)


def test_progress_is_written_at_most_every_half_second(cast, monkeypatch):
    job = ImportJob.objects.create(kind="activities", original_filename="a.csv", created_by=cast.admin)
    clock = [100.0]
    monkeypatch.setattr(tasks.time, "monotonic", lambda: clock[0])
    recorder = tasks.ProgressRecorder(job.pk)

    def stored():
        return ImportJob.objects.values_list("rows_done", "rows_total").get(pk=job.pk)

    recorder(1000, None)
    assert stored() == (1000, None)
    clock[0] += 0.2
    recorder(2000, None)
    assert stored() == (1000, None), "not again within half a second"
    clock[0] += 0.4
    recorder(3000, 9000)
    assert stored() == (3000, 9000)
    assert recorder.done == 3000


def test_a_job_runs_once_even_if_its_message_comes_twice(cast, import_dir):
    job = make_job(import_dir, cast.admin, content=csv_bytes(GOOD), dry_run=True)
    tasks.run_import_job.delay(job.pk).get()
    finished_at = ImportJob.objects.get(pk=job.pk).finished_at
    assert tasks.run_import_job.delay(job.pk).get() == "succeeded"
    assert ImportJob.objects.get(pk=job.pk).finished_at == finished_at


def test_a_job_still_queued_after_a_while_is_sent_again_by_the_housekeeping_and_runs_once(
    cast, import_dir, settings
):
    from datetime import timedelta

    from django.utils import timezone

    settings.SALESTRACK_IMPORT_REQUEUE_MINUTES = 10
    # The broker was down at upload: the job never reached a worker.
    forgotten = make_job(import_dir, cast.admin, content=csv_bytes(GOOD))
    recent = make_job(import_dir, cast.admin, content=csv_bytes(GOOD[:1]), dry_run=True)
    ImportJob.objects.filter(pk=forgotten.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    ImportJob.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(minutes=9))

    assert tasks.purge_import_files.delay().get()["requeued_jobs"] == 1
    forgotten.refresh_from_db()
    recent.refresh_from_db()
    assert forgotten.status == ImportJob.Status.SUCCEEDED, forgotten.error
    assert recent.status == ImportJob.Status.QUEUED, "a job waiting less than the delay is left alone"
    assert Activity.objects.count() == 3
    # The first message arriving late finds the job taken: it never runs twice.
    assert tasks.run_import_job.delay(forgotten.pk).get() == ImportJob.Status.SUCCEEDED
    assert Activity.objects.count() == 3
    assert tasks.import_jobs_requeue() == 0


def test_old_files_are_purged_but_not_those_a_waiting_job_needs(cast, import_dir):
    from datetime import timedelta

    from django.utils import timezone

    old = make_job(import_dir, cast.admin, content=b"x", dry_run=True)
    waiting = make_job(import_dir, cast.admin, content=b"y")
    long_ago = timezone.now() - timedelta(days=30)
    ImportJob.objects.filter(pk=old.pk).update(status="succeeded", finished_at=long_ago)
    assert tasks.import_files_purge() == 1
    assert not (import_dir / old.stored_file).exists()
    assert (import_dir / waiting.stored_file).exists()
    assert ImportJob.objects.get(pk=old.pk).stored_file == ""


def test_a_job_left_running_by_a_dead_worker_is_ended_by_the_housekeeping(cast, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.SALESTRACK_IMPORT_TIME_LIMIT_SECONDS = 3600
    now = timezone.now()

    def running(minutes_ago):
        return ImportJob.objects.create(
            kind="activities",
            original_filename="a.csv",
            created_by=cast.admin,
            status="running",
            started_at=now - timedelta(minutes=minutes_ago),
        )

    dead, alive = running(60 + 16), running(60 + 14)
    finished = ImportJob.objects.create(
        kind="activities", original_filename="b.csv", status="succeeded", started_at=now - timedelta(days=2)
    )

    assert tasks.purge_import_files.delay().get() == {"stale_jobs": 1, "requeued_jobs": 0, "files_removed": 0}

    dead.refresh_from_db()
    assert dead.status == ImportJob.Status.ERROR and dead.finished_at is not None
    assert "Nothing was written" in dead.error
    assert ImportJob.objects.get(pk=alive.pk).status == "running"
    assert ImportJob.objects.get(pk=finished.pk).status == "succeeded"


def test_a_run_past_the_time_limit_is_recorded_as_an_error(cast, import_dir, monkeypatch, settings):
    from celery.exceptions import SoftTimeLimitExceeded

    settings.SALESTRACK_IMPORT_TIME_LIMIT_SECONDS = 7200

    def too_long(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr("activities.imports.run_import", too_long)
    job = make_job(import_dir, cast.admin, content=csv_bytes(GOOD))
    assert tasks.run_import_job.delay(job.pk).get() == "error"
    job.refresh_from_db()
    assert "longer than 120 minutes" in job.error and "Nothing was written" in job.error
    assert tasks.run_import_job.soft_time_limit < tasks.run_import_job.time_limit


def test_the_housekeeping_beat_entry_points_at_the_task():
    from django_celery_beat.models import PeriodicTask

    from salestrack.celery import app

    entry = PeriodicTask.objects.get(name="activities: import housekeeping")
    assert entry.task == "activities.purge_import_files" and entry.enabled
    assert (entry.crontab.minute, entry.crontab.hour) == ("*/5", "*")
    app.loader.import_default_modules()
    assert "activities.purge_import_files" in app.tasks


# --- PostgreSQL: progress from inside the engine's transaction; a real worker (+ Redis) ------


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_progress_inside_the_engines_transaction_is_seen_by_the_polling_page(cast):
    need(connection.vendor == "postgresql", "a second connection needs PostgreSQL (set DATABASE_URL)")
    job = ImportJob.objects.create(kind="activities", original_filename="a.csv", created_by=cast.admin)
    recorder = tasks.ProgressRecorder(job.pk)
    page = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with transaction.atomic():  # as the engine's write pass
            recorder(1500, 3000)
            with page.cursor() as cursor:
                sql = "SELECT rows_done, rows_total FROM activities_importjob WHERE id = %s"
                cursor.execute(sql, [job.pk])
                assert cursor.fetchone() == (1500, 3000)
    finally:
        recorder.close()
        page.close()


@pytest.fixture
def worker_sharing_the_import_dir(request, monkeypatch, import_dir):
    """The worker of tests/metrics/test_worker.py, told where this test's files are."""
    need(connection.vendor == "postgresql", "a real worker needs PostgreSQL (set DATABASE_URL)")
    need(bool(os.environ.get("REDIS_URL")), "a real worker needs Redis (set REDIS_URL)")
    monkeypatch.setenv("SALESTRACK_IMPORT_DIR", str(import_dir))
    return request.getfixturevalue("worker")


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_task_runs_on_a_real_worker(cast, import_dir, worker_sharing_the_import_dir):
    job = make_job(import_dir, cast.admin, content=csv_bytes(GOOD))
    result = worker_sharing_the_import_dir.send_task("activities.run_import_job", args=[job.pk])
    status = result.get(timeout=120)
    assert status == "succeeded"
    job.refresh_from_db()
    assert (job.status, job.created_count, job.rows_done) == ("succeeded", 3, 3), job.error
    assert Activity.objects.count() == 3
    assert job.stored_file == "" and not list(import_dir.iterdir())
