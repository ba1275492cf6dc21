"""manage.py import_quotas FILE [--mapping M.json] [--dry-run] [--by USERNAME]: see docs/imports.md."""

from activities.imports.command import ImportCommand


class Command(ImportCommand):
    help = "Import quotas (CSV or XLSX): every row is checked first; with an error nothing is written."
    kind = "quotas"
