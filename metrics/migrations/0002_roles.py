"""The three roles as groups with their model permissions.

Row-level rules (a rep sees only their own rows, a manager their teams') live in
activities/access.py; these permissions decide what each role may do at all.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

LOGGED = ["activity", "deal", "dealstagechange"]
REFERENCE = ["stage", "activitytype", "product", "account", "team", "territory", "rep"]
TARGETS = ["quota", "projection", "activitytarget"]


def create_roles(apps, schema_editor):
    # Permissions are normally made after migrate; make them now so groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(app_label, models, actions):
        codenames = [f"{action}_{model}" for model in models for action in actions]
        return Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)

    rep, _ = Group.objects.get_or_create(name="rep")
    rep.permissions.set(
        [
            *perms("activities", ["activity", "deal"], ["add", "change", "delete", "view"]),
            *perms("activities", ["dealstagechange"], ["add", "view"]),
            *perms("activities", REFERENCE, ["view"]),
        ]
    )
    manager, _ = Group.objects.get_or_create(name="manager")
    manager.permissions.set(
        [
            *perms("activities", LOGGED + REFERENCE, ["view"]),
            *perms("metrics", TARGETS, ["view"]),
        ]
    )
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.set(
        [
            *Permission.objects.filter(content_type__app_label__in=["activities", "metrics"]),
            *perms("auth", ["group"], ["view"]),
        ]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0001_initial"),
        ("activities", "0002_default_pipeline_and_activity_types"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
