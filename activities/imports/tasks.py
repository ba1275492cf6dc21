"""Import jobs: an uploaded file is stored, queued, and run through the import engine by Celery.

The upload page calls `import_job_create` / `import_job_run_for_real`; the Celery task
`activities.run_import_job` is a thin wrapper around `import_job_run`, which calls the
engine (`activities.imports.run_import`) and records progress, the report and the status.

Files live under SALESTRACK_IMPORT_DIR (shared by web and worker) with a unique name.
A real run that succeeds removes its file. A dry run keeps it, so that "run it for real"
imports exactly the file that was checked; files of dry runs never run for real, of
failed runs and of crashed runs stay for a week (for a look at what went wrong) and are
removed by the `activities.purge_import_files` task (see `import_files_purge`), which
runs every five minutes (beat entry "activities: import housekeeping") and also ends jobs left
"running" by a worker that died (see `import_jobs_end_stale`) and sends again the jobs still
"queued" because the broker was down when they were uploaded (see `import_jobs_requeue`).

Decisions: the task is `acks_late` (a message whose worker vanished before the job
started is delivered again), and it claims its job with a compare-and-set from
"queued" to "running", so a second delivery never runs a job twice. It never retries:
an unreadable file stays unreadable, and a crash is recorded on the job (status
"error", with the message) and logged, not re-raised, so eager mode does not turn an
import crash into a failed upload request. A run longer than
SALESTRACK_IMPORT_TIME_LIMIT_SECONDS is stopped by Celery (soft limit, recorded as an
error; the hard limit a minute later kills a run that ignores it).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activities.models import ImportJob

log = logging.getLogger(__name__)

# The page polls about once a second; writing more often only costs the import time.
PROGRESS_EVERY_SECONDS = 0.5
UPLOAD_CHUNK_BYTES = 1024 * 1024
KEEP_FILES_DAYS = 7
# A running job is declared dead this long after the task's hard time limit would have ended it.
STALE_MARGIN_SECONDS = 15 * 60


def import_dir() -> Path:
    return Path(settings.SALESTRACK_IMPORT_DIR)


def import_job_path(job: ImportJob) -> Path | None:
    """Where the job's file is, or None once it has been removed."""
    return import_dir() / job.stored_file if job.stored_file else None


def import_file_store(*, upload, suffix: str) -> str:
    """Copy an uploaded file chunk by chunk under a new unique name; the name relative to the import dir."""
    directory = import_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}{suffix.lower()}"
    with open(directory / name, "xb") as out:
        for chunk in upload.chunks(UPLOAD_CHUNK_BYTES):
            out.write(chunk)
    return name


def _remove_file(name: str) -> None:
    if name:
        (import_dir() / name).unlink(missing_ok=True)


def import_job_create(
    *, kind: str, upload, filename: str, mapping: dict | None, dry_run: bool, by
) -> ImportJob:
    """Store the upload, record the job and queue it once the job row is committed."""
    stored = import_file_store(upload=upload, suffix=Path(filename).suffix)
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                kind=kind,
                original_filename=filename[:255],
                stored_file=stored,
                mapping=mapping,
                dry_run=dry_run,
                created_by=by,
            )
            transaction.on_commit(lambda: import_job_enqueue(job_id=job.pk))
    except BaseException:
        _remove_file(stored)
        raise
    return job


def import_job_run_for_real(*, job: ImportJob, by) -> ImportJob | None:
    """After a clean dry run: the same file, mapping and kind, written this time.

    None when the dry run cannot be repeated for real (not a clean dry run, already run
    for real, or its file is gone). The dry run's row is locked so that a double click
    queues one real run only.
    """
    with transaction.atomic():
        checked = ImportJob.objects.select_for_update().get(pk=job.pk)
        path = import_job_path(checked)
        if (
            not checked.dry_run
            or checked.status != ImportJob.Status.SUCCEEDED
            or checked.real_runs.exists()
            or path is None
            or not path.exists()
        ):
            return None
        real = ImportJob.objects.create(
            kind=checked.kind,
            original_filename=checked.original_filename,
            stored_file=checked.stored_file,
            mapping=checked.mapping,
            dry_run=False,
            from_dry_run=checked,
            created_by=by,
        )
        transaction.on_commit(lambda: import_job_enqueue(job_id=real.pk))
    return real


def import_job_can_run_for_real(*, job: ImportJob) -> bool:
    path = import_job_path(job)
    return (
        job.dry_run
        and job.status == ImportJob.Status.SUCCEEDED
        and path is not None
        and path.exists()
        and not job.real_runs.exists()
    )


def import_job_enqueue(*, job_id: int) -> bool:
    """Send the job to the workers; with the broker down it stays queued for the housekeeping."""
    from salestrack.outages import publish

    return publish(run_import_job, job_id)


def import_jobs_requeue(*, now=None) -> int:
    """Send again the jobs still queued long after their upload (the broker was down); how many.

    A job whose first message does arrive after all runs once: the task claims it with a
    compare-and-set from "queued" to "running", and the other message finds it taken.
    """
    now = now or timezone.now()
    waiting = ImportJob.objects.filter(
        status=ImportJob.Status.QUEUED,
        created_at__lt=now - timedelta(minutes=settings.SALESTRACK_IMPORT_REQUEUE_MINUTES),
    )
    sent = 0
    for job_id in waiting.order_by("created_at", "id").values_list("id", flat=True):
        if not import_job_enqueue(job_id=job_id):
            break  # the broker is still down: the next housekeeping tries again
        sent += 1
    return sent


class ProgressRecorder:
    """The engine's progress callback: a cheap UPDATE of two columns, at most every 0.5 s.

    The engine may write inside one transaction; an UPDATE through the same connection
    would stay invisible to the polling page until the end. Then, on PostgreSQL, it goes
    through a second connection of its own. SQLite allows one writer at a time, so there
    the progress inside the engine's transaction is skipped (the page shows the bar
    moving again when the transaction ends). Progress is best effort: a failure to
    record it is logged, never fatal to the import.
    """

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.done = 0
        self.total: int | None = None
        self._last = float("-inf")
        # Eager in a test or inside a request's transaction: never a second connection
        # (it would wait for the lock the outer transaction holds on the job row).
        self._outer_depth = len(connection.atomic_blocks)
        self._side = None

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done, self.total = done, total
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        try:
            self._write(done, total)
        except Exception:
            log.warning("could not record the progress of import job %s", self.job_id, exc_info=True)

    def _write(self, done: int, total: int | None) -> None:
        if len(connection.atomic_blocks) <= self._outer_depth:
            ImportJob.objects.filter(pk=self.job_id).update(rows_done=done, rows_total=total)
            return
        if self._outer_depth or connection.vendor != "postgresql":
            return
        if self._side is None:
            self._side = connections.create_connection(DEFAULT_DB_ALIAS)
            with self._side.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
        table = self._side.ops.quote_name(ImportJob._meta.db_table)
        with self._side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET rows_done = %s, rows_total = %s WHERE id = %s",
                [done, total, self.job_id],
            )

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
            self._side = None


def _finish(job_id: int, **fields) -> None:
    ImportJob.objects.filter(pk=job_id).update(finished_at=timezone.now(), **fields)


def import_job_run(*, job_id: int) -> str:
    """Run one queued job through the engine; the job's final status."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        status = ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
        log.warning("import job %s not run: it is %s, not queued", job_id, status or "missing")
        return status or "missing"
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    # The engine is imported here: the task module must load without it (and fast).
    from activities.imports import ImportFileError, run_import

    progress = ProgressRecorder(job_id)
    path = import_job_path(job)
    try:
        if path is None or not path.exists():
            raise ImportFileError(_("The uploaded file is no longer there; please upload it again."))
        report = run_import(
            job.kind,
            str(path),
            filename=job.original_filename,
            mapping=job.mapping,
            dry_run=job.dry_run,
            by=job.created_by,
            progress=progress,
        )
    except ImportFileError as exc:
        _finish(job_id, status=ImportJob.Status.ERROR, error=str(exc), rows_done=progress.done)
        return ImportJob.Status.ERROR
    except SoftTimeLimitExceeded:
        log.error("import job %s stopped at the time limit", job_id)
        _finish(
            job_id,
            status=ImportJob.Status.ERROR,
            error=_(
                "The import took longer than %(minutes)s minutes and was stopped. Nothing was written. "
                "Split the file, or ask an administrator to run it with the import command."
            )
            % {"minutes": settings.SALESTRACK_IMPORT_TIME_LIMIT_SECONDS // 60},
            rows_done=progress.done,
        )
        return ImportJob.Status.ERROR
    except Exception as exc:
        log.exception("import job %s crashed", job_id)
        _finish(
            job_id,
            status=ImportJob.Status.ERROR,
            error=_("The import stopped on an unexpected error (%(error)s). Nothing was written.")
            % {"error": f"{type(exc).__name__}: {exc}"},
            rows_done=progress.done,
        )
        return ImportJob.Status.ERROR
    finally:
        progress.close()

    status = ImportJob.Status.SUCCEEDED if report.ok else ImportJob.Status.FAILED
    remove = report.ok and not job.dry_run
    _finish(
        job_id,
        status=status,
        rows_done=report.rows,
        rows_total=report.rows,
        created_count=report.created,
        updated_count=report.updated,
        unchanged_count=report.unchanged,
        error_count=report.error_count,
        # The engine lists at most 1,000 errors and warnings, with their totals.
        report=report.as_dict(),
        stored_file="" if remove else job.stored_file,
    )
    if remove:
        # The dry run that checked this file points at it too.
        ImportJob.objects.filter(stored_file=job.stored_file).update(stored_file="")
        _remove_file(job.stored_file)
    return status


def import_files_purge(*, older_than: timedelta = timedelta(days=KEEP_FILES_DAYS)) -> int:
    """Remove the files of jobs finished more than `older_than` ago; the number removed."""
    finished = (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED, ImportJob.Status.ERROR)
    cutoff = timezone.now() - older_than
    names = set(
        ImportJob.objects.filter(status__in=finished, finished_at__lt=cutoff)
        .exclude(stored_file="")
        .values_list("stored_file", flat=True)
    )
    # A file a queued or running job still needs stays.
    names -= set(
        ImportJob.objects.exclude(status__in=finished)
        .exclude(stored_file="")
        .values_list("stored_file", flat=True)
    )
    for name in names:
        _remove_file(name)
    ImportJob.objects.filter(stored_file__in=names).update(stored_file="")
    return len(names)


def import_jobs_end_stale(*, now=None) -> int:
    """Mark as errors the jobs still "running" long after the task's time limit; how many.

    Such a job's worker died (killed, out of memory, the machine restarted): its
    transaction was rolled back, so nothing of the file was written.
    """
    now = now or timezone.now()
    limit = timedelta(seconds=settings.SALESTRACK_IMPORT_TIME_LIMIT_SECONDS + STALE_MARGIN_SECONDS)
    return ImportJob.objects.filter(status=ImportJob.Status.RUNNING, started_at__lt=now - limit).update(
        status=ImportJob.Status.ERROR,
        error=_(
            "The import stopped without finishing (its worker stopped). Nothing was written; "
            "please upload the file again."
        ),
        finished_at=now,
    )


@shared_task(
    name="activities.run_import_job",
    acks_late=True,
    soft_time_limit=settings.SALESTRACK_IMPORT_TIME_LIMIT_SECONDS,
    time_limit=settings.SALESTRACK_IMPORT_TIME_LIMIT_SECONDS + 60,
)
def run_import_job(job_id: int) -> str:
    return import_job_run(job_id=job_id)


@shared_task(name="activities.purge_import_files")
def purge_import_files() -> dict[str, int]:
    """Every five minutes: jobs left running by a dead worker, jobs the broker never got, old files."""
    return {
        "stale_jobs": import_jobs_end_stale(),
        "requeued_jobs": import_jobs_requeue(),
        "files_removed": import_files_purge(),
    }
