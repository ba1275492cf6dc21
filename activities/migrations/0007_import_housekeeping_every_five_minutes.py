"""The import housekeeping every five minutes instead of every hour: an upload the broker never got
(Redis was down) is sent again minutes after Redis is back, not up to an hour later. An entry an
admin has rescheduled is left as it is."""

from django.db import migrations

TASK_NAME = "activities: import housekeeping"
HOURLY = {"minute": "17", "hour": "*"}
EVERY_FIVE = {"minute": "*/5", "hour": "*"}


def _reschedule(apps, old: dict, new: dict) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    task = PeriodicTask.objects.filter(name=TASK_NAME).select_related("crontab").first()
    if task is None or task.crontab is None:
        return
    crontab = task.crontab
    if crontab.minute != old["minute"] or crontab.hour != old["hour"]:
        return  # rescheduled by an admin
    task.crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=new["minute"],
        hour=new["hour"],
        day_of_week=crontab.day_of_week,
        day_of_month=crontab.day_of_month,
        month_of_year=crontab.month_of_year,
        timezone=crontab.timezone,
    )
    task.save(update_fields=["crontab"])


def every_five_minutes(apps, schema_editor):
    _reschedule(apps, HOURLY, EVERY_FIVE)


def hourly(apps, schema_editor):
    _reschedule(apps, EVERY_FIVE, HOURLY)


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0006_versions_and_notes_limit"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(every_five_minutes, hourly)]
