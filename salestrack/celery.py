"""The Celery app, wired the standard Django way (tasks autodiscovered per app)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salestrack.settings")

app = Celery("salestrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
