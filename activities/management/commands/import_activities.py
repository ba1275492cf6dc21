"""manage.py import_activities FILE [--mapping M.json] [--dry-run] [--by USERNAME]: see docs/imports.md."""

from activities.imports.command import ImportCommand


class Command(ImportCommand):
    help = "Import activities (CSV or XLSX): every row is checked first; with an error nothing is written."
    kind = "activities"
