"""Metrics housekeeping every five minutes: end runs whose worker died, catch up on waiting marks."""

from django.db import migrations

TASK_NAME = "metrics: housekeeping"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "metrics.housekeeping",
            "interval": every,
            "description": (
                "End metrics runs whose worker stopped (frees the run lock) and start the incremental "
                "run for changes that waited, e.g. while the broker was down."
            ),
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0008_run_lock_and_slice_keys"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
