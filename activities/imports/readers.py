"""Stream the rows of a CSV or XLSX file, one at a time, in bounded memory.

A `Table` can be iterated more than once (the import reads the file twice: first to
check every row, then to write). Rows come as `(row_number, values)` where the row
number is the one a spreadsheet shows (the header is row 1) and blank rows are
skipped (but counted in the numbering, as a spreadsheet would).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.utils.translation import gettext as _

from salestrack.spreadsheets import xlsx_package_problem

from .report import ImportFileError

CHUNK = 64 * 1024


class Table:
    """The rows of one file; the header is read when the table is opened."""

    header: list[str]
    total: int | None = None  # data rows, when the format tells it up front

    def rows(self) -> Iterator[tuple[int, list]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


@contextlib.contextmanager
def open_table(source, filename: str):
    """Open `source` (a path or a seekable binary file) as a Table, by `filename`'s extension."""
    extension = Path(filename or "").suffix.lower()
    if extension not in (".csv", ".xlsx"):
        raise ImportFileError(
            _("%(name)s: only .csv and .xlsx files can be imported.") % {"name": filename or "?"}
        )
    owned = None
    if isinstance(source, str | os.PathLike):
        try:
            owned = source = open(source, "rb")  # noqa: SIM115 (closed below, after both passes)
        except OSError as exc:
            raise ImportFileError(
                _("%(name)s cannot be opened: %(reason)s") % {"name": filename, "reason": exc.strerror}
            ) from exc
    try:
        table = CsvTable(source) if extension == ".csv" else XlsxTable(source)
        try:
            yield table
        finally:
            table.close()
    finally:
        if owned is not None:
            owned.close()


def _is_blank(values) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in values)


# --- CSV --------------------------------------------------------------------------


class CsvTable(Table):
    def __init__(self, binary):
        self.binary = binary
        records = self._records()
        try:
            first = next(records, None)
        finally:
            records.close()
        if first is None:
            raise ImportFileError(_("The file is empty: it has no header row."))
        self.header_line, self.header = first[0], [name.strip() for name in first[1]]
        if _is_blank(self.header):
            raise ImportFileError(_("The first row (the header) is empty: it must name the columns."))

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """Every record of the file with its first physical line (including the header)."""
        self.binary.seek(0)
        text = io.TextIOWrapper(self.binary, encoding="utf-8-sig", errors="strict", newline="")
        reader = csv.reader(text, strict=True)
        try:
            line = 1
            for record in reader:
                yield line, record
                line = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise ImportFileError(self._decode_error_message()) from exc
        except csv.Error as exc:
            raise ImportFileError(
                _("The file is not valid CSV near line %(line)s: %(reason)s.")
                % {"line": reader.line_num, "reason": _csv_reason(exc)}
            ) from exc
        finally:
            # Hand the binary file back untouched, so it can be read again.
            text.detach()

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        width = len(self.header)
        records = self._records()
        next(records)  # the header
        for row, (line, record) in enumerate(records, start=2):
            joined = "".join(record)  # every cell of a CSV is a str: one pass for both checks below
            if not joined or joined.isspace():
                continue
            if len(record) != width:
                raise ImportFileError(
                    _(
                        "The file is not valid CSV: row %(row)s (line %(line)s) has %(count)s columns, "
                        "but the header has %(width)s. Check for a missing or extra separator or an "
                        "unbalanced quote."
                    )
                    % {"row": row, "line": line, "count": len(record), "width": width}
                )
            if "\x00" in joined:
                # PostgreSQL cannot store NUL in text; a binary file renamed to .csv has them.
                raise ImportFileError(
                    _("The file is not valid CSV: row %(row)s (line %(line)s) contains NUL bytes.")
                    % {"row": row, "line": line}
                )
            yield row, record

    def _decode_error_message(self) -> str:
        offset, line, byte = _find_bad_byte(self.binary)
        return _(
            "The file is not UTF-8 text: the byte 0x%(byte)02X at byte offset %(offset)s (line %(line)s) "
            "is not valid UTF-8. Save the file as 'CSV UTF-8' and import it again."
        ) % {"byte": byte, "offset": offset, "line": line}


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return _("a quoted value is never closed (unbalanced quote)")
    if "field larger than field limit" in text:
        return _("a value is longer than %(limit)s characters") % {"limit": csv.field_size_limit()}
    if "line contains NUL" in text or "NUL" in text:
        return _("it contains NUL bytes (is it really a text file?)")
    return text


def _find_bad_byte(binary) -> tuple[int, int, int]:
    """Where the first byte that is not UTF-8 lies: (byte offset, line, byte value)."""
    binary.seek(0)
    base = 0  # offset of data[0] in the file
    lines = 1
    pending = b""
    while True:
        chunk = binary.read(CHUNK)
        data = pending + chunk
        if not data:
            return base, lines, 0
        try:
            data.decode("utf-8")
            good = len(data)
        except UnicodeDecodeError as exc:
            # A character cut by the chunk boundary is not an error yet.
            if chunk and exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
                good = exc.start
            else:
                return base + exc.start, lines + data.count(b"\n", 0, exc.start), data[exc.start]
        lines += data.count(b"\n", 0, good)
        base += good
        pending = data[good:]
        if not chunk:
            return base, lines, pending[0] if pending else 0


# --- XLSX -------------------------------------------------------------------------


class XlsxTable(Table):
    def __init__(self, binary):
        from openpyxl import load_workbook

        try:
            problem = xlsx_package_problem(binary)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ImportFileError(
                _("The file is not an Excel workbook (.xlsx) or it is damaged: %(reason)s") % {"reason": exc}
            ) from exc
        if problem:
            raise ImportFileError(problem)
        try:
            binary.seek(0)
            self.workbook = load_workbook(binary, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ImportFileError(
                _("The file is not an Excel workbook (.xlsx) or it is damaged: %(reason)s") % {"reason": exc}
            ) from exc
        except Exception as exc:  # openpyxl raises its own types for odd packages
            raise ImportFileError(
                _("The file is not an Excel workbook (.xlsx) or it is damaged: %(reason)s") % {"reason": exc}
            ) from exc
        self.sheet = self.workbook.worksheets[0]
        first = next(self.sheet.iter_rows(values_only=True, max_row=1), None)
        if first is None or _is_blank(first):
            raise ImportFileError(_("The first sheet is empty: its first row must name the columns."))
        header = ["" if value is None else str(value).strip() for value in first]
        while header and not header[-1]:
            header.pop()
        self.header = header
        max_row = self.sheet.max_row
        self.total = max_row - 1 if max_row else None

    def rows(self) -> Iterator[tuple[int, list]]:
        width = len(self.header)
        for row, values in enumerate(self.sheet.iter_rows(min_row=2, values_only=True), start=2):
            if _is_blank(values):
                continue
            values = list(values[:width])
            if len(values) < width:
                values.extend([None] * (width - len(values)))
            yield row, values

    def close(self) -> None:
        self.workbook.close()
