"""Celery tasks of the activities app, found by `app.autodiscover_tasks()`.

The import tasks live beside the import engine; importing them here registers them with
every worker (the web process imports them itself when it enqueues one).
"""

from .imports.tasks import purge_import_files, run_import_job

__all__ = ["purge_import_files", "run_import_job"]
