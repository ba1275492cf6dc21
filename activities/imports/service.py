"""The import service: check every row of a file, then write all of it or nothing.

Pass 1 streams the file and checks every row (values, references, rules, what
exists already), collecting every error. Pass 2 runs only when there is no
error and it is not a dry run: it writes the rows in batches inside one
transaction, then marks the touched days for the metrics engine once.

Kinds that spool (activities, the one that runs to millions of rows) keep the
checked rows of pass 1 in a temporary file, pickled batch by batch, and pass 2
writes them from there (with COPY on PostgreSQL, see writer.py) without reading
and checking the file again; what changed in the database in between is caught
by its constraints, which roll everything back. The other kinds read the file
again in pass 2 and check each batch anew before writing it.

Memory stays flat however long the file is: rows are read one at a time, looked
up in batches, and only a few bytes per row are kept (to find an id given twice
in the same file).
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterator

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from activities import access

from .catalog import AccountsKind, ProductsKind
from .history import StageHistoryKind
from .kinds import BATCH_SIZE, ActivitiesKind, DealsKind, ProjectionsKind, QuotasKind, RepsKind
from .mapping import Columns, Mapping, Record
from .readers import Table, open_table
from .report import ImportFileError, ImportReport

KIND_CLASSES = {
    kind.name: kind
    for kind in (
        RepsKind,
        ProductsKind,
        AccountsKind,
        DealsKind,
        StageHistoryKind,
        ActivitiesKind,
        QuotasKind,
        ProjectionsKind,
    )
}
KINDS = tuple(KIND_CLASSES)

Progress = Callable[[int, int | None], None]
# What identifies a row, by the kind's key_field, in the message about a repeated one.
KEY_LABELS = {
    "external_id": gettext_lazy("external id"),
    "username": gettext_lazy("username"),
    "period": gettext_lazy("rep and period"),
    "name": gettext_lazy("name"),
}
# The actions of pass 1 that pass 2 writes.
WRITTEN = ("create", "update")


class _Abort(Exception):
    """A row failed in the second pass (the database changed in between): roll everything back."""


def run_import(
    kind: str,
    source,
    *,
    filename: str,
    mapping: dict | None = None,
    dry_run: bool = False,
    by=None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a CSV or XLSX file of `kind`; see docs/imports.md for the columns of each kind.

    Raises ImportFileError when the file or the mapping cannot be read at all;
    otherwise returns the report (with errors, nothing was written).
    """
    if kind not in KINDS:
        raise ImportFileError(
            _("Unknown kind of import %(kind)r (one of %(kinds)s).")
            % {"kind": kind, "kinds": ", ".join(KINDS)}
        )
    if not access.may_import(by, kind):
        # The pages offer only the kinds a user may import; this holds for the command's --by too.
        raise ImportFileError(_("You may not import this kind of file."))
    kind_class = KIND_CLASSES[kind]
    parsed = Mapping.parse(mapping, kind=kind_class)
    report = ImportReport(kind=kind, filename=str(filename), dry_run=dry_run)
    with open_table(source, filename) as table:
        columns = parsed.bind(table.header, kind=kind_class, report=report)
        handler = kind_class(report=report, mapping=parsed, columns=columns, by=by)
        with contextlib.ExitStack() as stack:
            stack.callback(handler.close)
            spool = stack.enter_context(_Spool()) if handler.spools and not dry_run else None
            _check_all(table, columns, handler, report, progress, spool)
            if not report.ok or dry_run:
                report.related_created = handler.would_create() if report.ok else {}
                report.errors.sort(key=lambda error: error.row)
                return report
            if spool is not None:
                _write_spooled(spool, handler, report, progress)
            else:
                _write_all(table, columns, handler, report, progress)
    return report


def _batches(table: Table, columns: Columns, report: ImportReport) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for row, values in table.rows():
        batch.append(columns.record(row, values, report))
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _tally(report: ImportReport, batch: list[Record]) -> None:
    for rec in batch:
        if not rec.ok:
            continue
        if rec.action == "create":
            report.created += 1
        elif rec.action == "update":
            report.updated += 1
        elif rec.action == "unchanged":
            report.unchanged += 1


def _check_all(
    table, columns, handler, report: ImportReport, progress: Progress | None, spool: _Spool | None
) -> None:
    keys = _KeyTracker()
    total = 2 * table.total if table.total is not None and not report.dry_run else table.total
    for batch in _batches(table, columns, report):
        handler.check(batch)
        for rec in batch:
            report.rows += 1
            key = handler.key(rec) if rec.ok else None
            if key:
                keys.add(key, rec.row)
        _tally(report, batch)
        if spool is not None and report.ok:  # after an error nothing is written: stop spooling
            spool.add(len(batch), handler.spool([rec for rec in batch if rec.action in WRITTEN]))
        if progress:
            progress(report.rows, total)
    handler.after_check()
    duplicates = keys.duplicates()
    if duplicates:
        _report_duplicates(table, columns, handler, report, duplicates)


def _write_all(table, columns, handler, report: ImportReport, progress: Progress | None) -> None:
    rows = report.rows
    report.created = report.updated = report.unchanged = 0
    # The second pass sees the same rows: its warnings are already in the report.
    scratch = ImportReport(kind=report.kind, filename=report.filename)
    handler.report = scratch
    done = 0
    try:
        with transaction.atomic():
            report.related_created = handler.prepare_write()
            for batch in _batches(table, columns, scratch):
                handler.check(batch)
                if not scratch.ok:
                    raise _Abort
                handler.write(batch)
                _tally(report, batch)
                done += len(batch)
                if progress:
                    progress(rows + done, 2 * rows)
            handler.finish()
    except _Abort:
        report.errors.extend(scratch.errors)
        report.error_count += scratch.error_count
        report.created = report.updated = report.unchanged = 0
        report.related_created = {}
    finally:
        handler.report = report


def _write_spooled(spool: _Spool, handler, report: ImportReport, progress: Progress | None) -> None:
    """Pass 2 of a spooling kind: write the batches checked in pass 1, in one transaction."""
    rows = report.rows
    done = 0
    try:
        with transaction.atomic():
            report.related_created = handler.prepare_write()
            for size, batch in spool:
                handler.write_spooled(batch)
                done += size
                if progress:
                    progress(rows + done, 2 * rows)
            handler.finish()
    except IntegrityError as exc:
        report.created = report.updated = report.unchanged = 0
        report.related_created = {}
        raise ImportFileError(
            _(
                "Nothing was written: the data changed while the file was being imported (%(reason)s). "
                "Import the file again; it will be checked against the data as it is now."
            )
            % {"reason": "; ".join(str(exc).strip().splitlines()[:2])}
        ) from exc


class _Spool:
    """The checked batches of pass 1, pickled one after the other into a temporary file."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by __exit__
        self.batches = 0

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def add(self, size: int, batch) -> None:
        pickle.dump((size, batch), self.file, protocol=pickle.HIGHEST_PROTOCOL)
        self.batches += 1

    def __iter__(self) -> Iterator[tuple[int, object]]:
        self.file.seek(0)
        for _n in range(self.batches):
            yield pickle.load(self.file)  # noqa: S301 - our own file, written above in this process


class _KeyTracker:
    """The key of every row as 8 bytes of a hash, to find a key given twice in O(rows) bytes."""

    def __init__(self):
        self.hashes = array("q")
        self.rows = array("l")

    def add(self, key: str, row: int) -> None:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        self.hashes.append(int.from_bytes(digest, "little", signed=True))
        self.rows.append(row)

    def duplicates(self) -> dict[int, int]:
        """{row: first row with the same key} for every repeat."""
        if len(self.hashes) < 2:
            return {}
        import numpy as np

        hashes = np.frombuffer(self.hashes, dtype=np.int64)
        rows = np.frombuffer(self.rows, dtype=np.int64 if self.rows.itemsize == 8 else np.int32)
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        repeat = np.concatenate(([False], ordered[1:] == ordered[:-1]))
        if not repeat.any():
            return {}
        # Index (in `order`) of the first row of each run of equal hashes.
        starts = np.maximum.accumulate(np.where(~repeat, np.arange(len(order)), 0))
        return {int(rows[order[i]]): int(rows[order[starts[i]]]) for i in np.flatnonzero(repeat)}


def _report_duplicates(table, columns, handler, report: ImportReport, duplicates: dict[int, int]) -> None:
    """Read the file once more for the values of the repeated keys (only when there are some)."""
    scratch = ImportReport(kind=report.kind, filename=report.filename)
    name = handler.key_field
    for row, values in table.rows():
        if row in duplicates:
            rec = columns.record(row, values, scratch)
            report.add_error(
                row,
                rec.column(name),
                rec.value(name),
                _("the same %(what)s is already on row %(first)s of this file")
                % {"what": KEY_LABELS[name], "first": duplicates[row]},
            )
    report.errors.sort(key=lambda error: error.row)
