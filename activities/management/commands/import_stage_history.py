"""manage.py import_stage_history FILE [--mapping M.json] [--dry-run] [--by USERNAME]: see docs/imports.md."""

from activities.imports.command import ImportCommand


class Command(ImportCommand):
    help = (
        "Import the stage history of deals already imported (CSV or XLSX): each deal's rows replace "
        "its recorded moves; with an error nothing is written."
    )
    kind = "stage_history"
