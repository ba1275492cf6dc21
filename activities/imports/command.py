"""The shared body of the import_* management commands: parse arguments, call run_import, print."""

from __future__ import annotations

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from .mapping import load_mapping
from .report import ImportFileError, ImportReport
from .service import run_import

LISTED = 100


class ImportCommand(BaseCommand):
    kind = ""

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .csv (UTF-8) or .xlsx file")
        parser.add_argument("--mapping", help="a JSON mapping file (see docs/imports.md)")
        parser.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
        parser.add_argument("--by", metavar="USERNAME", help="the user recorded as making the change")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    @staticmethod
    def user(username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"--by: no user named {username!r}")
        return user

    @staticmethod
    def run_file(kind: str, file: str, *, mapping: str | None, dry_run: bool, user, progress: bool):
        """One file through the engine, with a progress bar; ImportFileError becomes a CommandError."""
        try:
            mapping_data = load_mapping(mapping) if mapping else None
            with _ProgressBar(enabled=progress, desc=Path(file).name) as bar:
                return run_import(
                    kind,
                    file,
                    filename=Path(file).name,
                    mapping=mapping_data,
                    dry_run=dry_run,
                    by=user,
                    progress=bar.update,
                )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc

    def handle(self, *args, file, mapping=None, dry_run=False, by=None, no_progress=False, **options):
        report = self.run_file(
            self.kind, file, mapping=mapping, dry_run=dry_run, user=self.user(by), progress=not no_progress
        )
        self.print_report(report)
        if not report.ok:
            raise CommandError(f"{report.error_count} errors; nothing was written.")

    def print_report(self, report: ImportReport) -> None:
        out = self.stdout
        style = self.style.SUCCESS if report.ok else self.style.ERROR
        out.write(style(report.summary()))
        out.write(
            f"rows: {report.rows}, created: {report.created}, updated: {report.updated}, "
            f"unchanged: {report.unchanged}, errors: {report.error_count}, warnings: {report.warning_count}"
        )
        for model, count in sorted(report.related_created.items()):
            verb = "would create" if report.dry_run else "created"
            out.write(f"{verb} {count} {model} row(s) missing from the database")
        for title, problems, total in (
            ("errors", report.errors, report.error_count),
            ("warnings", report.warnings, report.warning_count),
        ):
            if not problems:
                continue
            out.write(f"{title}:")
            for problem in problems[:LISTED]:
                out.write(f"  {problem}")
            if total > LISTED:
                out.write(f"  … and {total - LISTED} more")
        if report.dry_run:
            out.write("Dry run: nothing was written.")


class _ProgressBar:
    """A tqdm bar on stderr, only on a terminal (a log file gets the report alone)."""

    def __init__(self, *, enabled: bool, desc: str):
        self.enabled = enabled and sys.stderr.isatty()
        self.desc = desc
        self.bar = None

    def __enter__(self):
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit="rows", desc=self.desc, file=sys.stderr)
        return self

    def update(self, done: int, total: int | None) -> None:
        if self.bar is None:
            return
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False
