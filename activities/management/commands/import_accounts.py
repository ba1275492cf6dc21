"""manage.py import_accounts FILE [--mapping M.json] [--dry-run] [--by USERNAME]: see docs/imports.md."""

from activities.imports.command import ImportCommand


class Command(ImportCommand):
    help = (
        "Import accounts by name (CSV or XLSX): every row is checked first; with an error nothing is written."
    )
    kind = "accounts"
