"""manage.py import_deals FILE [--history FILE] [--mapping M.json] [--dry-run] [--by USERNAME].

With --history, the deals and their stage history are imported together, all or
nothing: the history is checked against the deals as the file leaves them. See
docs/imports.md.
"""

from django.core.management.base import CommandError
from django.db import transaction

from activities.imports.command import ImportCommand


class _RollBack(Exception):
    pass


class Command(ImportCommand):
    help = (
        "Import deals (CSV or XLSX), optionally with their stage history: every row is checked "
        "first; with an error nothing is written."
    )
    kind = "deals"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--history",
            metavar="FILE",
            help="the deals' stage history (deal, stage, changed_at), imported with them",
        )
        parser.add_argument("--history-mapping", metavar="M.json", help="a JSON mapping file for --history")

    def handle(self, *args, history=None, history_mapping=None, **options):
        if not history:
            return super().handle(*args, **options)
        dry_run = options.get("dry_run", False)
        user = self.user(options.get("by"))
        reports = []
        try:
            with transaction.atomic():
                for kind, path, mapping in (
                    ("deals", options["file"], options.get("mapping")),
                    ("stage_history", history, history_mapping),
                ):
                    report = self.run_file(
                        kind,
                        path,
                        mapping=mapping,
                        # The deals are written (then rolled back) so that the history sees them.
                        dry_run=dry_run and kind == "stage_history",
                        user=user,
                        progress=not options.get("no_progress"),
                    )
                    report.dry_run = dry_run
                    reports.append(report)
                    if not report.ok:
                        break
                if dry_run or not all(report.ok for report in reports):
                    raise _RollBack
        except _RollBack:
            pass
        for report in reports:
            self.print_report(report)
        failed = [report for report in reports if not report.ok]
        if failed:
            raise CommandError(
                f"{failed[0].error_count} errors in {failed[0].filename}; nothing was written."
            )
