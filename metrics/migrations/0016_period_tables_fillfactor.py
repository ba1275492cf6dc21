"""Room on each page of the period tables for the engine's in-place updates (PostgreSQL).

The engine updates a period row whose figures changed without touching its key
(metrics.rollup._merged): with free space on the page, PostgreSQL writes the new version
there and adds no index entries (a HOT update). Pages written before this take the setting
when the engine next rewrites them (a backfill).
"""

from django.db import migrations

TABLES = (
    "metrics_periodmetric",
    "metrics_periodactivitymix",
    "metrics_periodfunnel",
    "metrics_periodproduct",
)


def _fillfactor(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET (fillfactor = {value})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("metrics", "0015_changed_days_of_one_rep")]

    operations = [migrations.RunPython(_fillfactor(70), _fillfactor(100))]
