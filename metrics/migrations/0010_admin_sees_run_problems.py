"""Let the admin role see the slices a metrics run could not compute."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(
        *Permission.objects.filter(content_type__app_label="metrics", codename="view_metricrunproblem")
    )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0009_housekeeping_schedule")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
