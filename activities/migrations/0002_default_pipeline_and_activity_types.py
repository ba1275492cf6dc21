"""The default pipeline and activity types of PRODUCT.md; admins may change them later."""

from decimal import Decimal

from django.db import migrations

STAGES = [
    # name, order, win probability, kind
    ("Lead", 10, "0.100", "open"),
    ("MQL", 20, "0.200", "open"),
    ("SQL", 30, "0.400", "open"),
    ("Proposal", 40, "0.600", "open"),
    ("Negotiation", 50, "0.800", "open"),
    ("Won", 90, "1.000", "won"),
    ("Lost", 100, "0.000", "lost"),
]

ACTIVITY_TYPES = [
    # name, is_selling, default duration (minutes)
    ("Call", True, 15),
    ("Email", True, 5),
    ("Client meeting", True, 60),
    ("Demo", True, 45),
    ("Sales prep", False, 30),
    ("Internal meeting", False, 30),
    ("Admin", False, 20),
    ("Travel", False, 60),
    ("Training", False, 60),
]


def create_defaults(apps, schema_editor):
    Stage = apps.get_model("activities", "Stage")
    ActivityType = apps.get_model("activities", "ActivityType")
    for name, order, probability, kind in STAGES:
        Stage.objects.get_or_create(
            name=name,
            defaults={"order": order, "win_probability": Decimal(probability), "kind": kind},
        )
    for position, (name, is_selling, minutes) in enumerate(ACTIVITY_TYPES, start=1):
        ActivityType.objects.get_or_create(
            name=name,
            defaults={"is_selling": is_selling, "default_duration": minutes, "order": position * 10},
        )


class Migration(migrations.Migration):
    dependencies = [("activities", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
