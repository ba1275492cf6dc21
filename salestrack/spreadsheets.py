"""Tables written out as CSV or XLSX downloads, safe to open in a spreadsheet.

Every export (leaderboards now, deal and activity lists later) describes its table once,
as a `Sheet` of typed `Column`s, and gets both formats from here:

- text that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a
  carriage return) is prefixed with a single quote, in both formats (OWASP, "CSV
  injection"); numbers are never touched, so a negative movement stays a number;
- in XLSX numbers stay numbers (money with two places, fractions as percentages), so
  they can be summed and sorted; in CSV they are written the way machines read them
  (a dot as decimal separator, no grouping), whatever the user's language;
- CSV starts with a UTF-8 byte order mark, so Excel reads names in any script, and is
  streamed row by row.

Workbooks that users upload are checked with `xlsx_package_problem()` before anything parses them.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

TEXT, INTEGER, MONEY, PERCENT, DATE, DATETIME = "text", "integer", "money", "percent", "date", "datetime"

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_FORMATS = {MONEY: "#,##0.00", PERCENT: "0.0%", INTEGER: "#,##0", DATE: "yyyy-mm-dd"}
XLSX_FORMATS[DATETIME] = "yyyy-mm-dd hh:mm"
CENT = Decimal("0.01")
# Sheet names: at most 31 characters, none of these.
_SHEET_NAME_FORBIDDEN = str.maketrans(dict.fromkeys("[]:*?/\\", " "))


def escape_formula(text: str) -> str:
    """`=HYPERLINK(…)` → `'=HYPERLINK(…)`: text a spreadsheet would evaluate becomes plain text."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = TEXT  # how the values are written: text, integer, money, percent (a fraction), date(time)


@dataclass
class Sheet:
    """One table: what it is (`preamble`: label and value lines above it), its columns and rows.

    `rows` may be any iterable (a generator, a queryset's values_list): CSV streams it.
    None is an empty cell.
    """

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence]
    preamble: Sequence[tuple[str, object]] = field(default_factory=tuple)


# --- CSV ----------------------------------------------------------------------------------------


def _csv_value(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == MONEY and isinstance(value, int | float | Decimal):
        return str(Decimal(str(value)).quantize(CENT))
    if kind == PERCENT and isinstance(value, int | float | Decimal):
        # Percentage points, as the page shows them; the column title says "%".
        return str((Decimal(str(value)) * 100).quantize(CENT))
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return (
            timezone.localtime(value).isoformat(timespec="seconds")
            if timezone.is_aware(value)
            else (value.isoformat(timespec="seconds"))
        )
    if isinstance(value, date):
        return value.isoformat()
    return escape_formula(str(value))


def csv_rows(sheet: Sheet) -> Iterator[list[str]]:
    """The sheet as lists of escaped strings: the preamble, a blank line, the header, the rows."""
    for label, value in sheet.preamble:
        yield [escape_formula(str(label)), _csv_value(value, TEXT)]
    if sheet.preamble:
        yield []
    yield [escape_formula(str(column.title)) for column in sheet.columns]
    kinds = [column.kind for column in sheet.columns]
    for row in sheet.rows:
        yield [_csv_value(value, kind) for value, kind in zip(row, kinds, strict=True)]


class _Echo:
    """A file-like object whose write() hands back what it was given (for streaming csv.writer)."""

    def write(self, value: str) -> str:
        return value


def _csv_stream(sheet: Sheet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"
    for row in csv_rows(sheet):
        yield writer.writerow(row)


def csv_text(sheet: Sheet) -> str:
    """The whole CSV file as one string (for tests and small exports)."""
    return "".join(_csv_stream(sheet))


def csv_response(sheet: Sheet, *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_stream(sheet), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


# --- XLSX ---------------------------------------------------------------------------------------


def _xlsx_text(value) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # Control characters cannot be stored in the XML of a workbook at all.
    return escape_formula(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def _xlsx_cell(worksheet, value, kind: str):
    from openpyxl.cell import WriteOnlyCell

    if value is None:
        return WriteOnlyCell(worksheet, value=None)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | date):
        return WriteOnlyCell(worksheet, value=_xlsx_text(value))
    if isinstance(value, datetime) and timezone.is_aware(value):
        # Spreadsheets have no time zones: write the local wall-clock time.
        value = timezone.make_naive(timezone.localtime(value))
    if kind == MONEY and isinstance(value, int | float | Decimal):
        value = Decimal(str(value)).quantize(CENT)
    cell = WriteOnlyCell(worksheet, value=value)
    number_format = XLSX_FORMATS.get(kind)
    if number_format is None and isinstance(value, datetime):
        number_format = XLSX_FORMATS[DATETIME]
    elif number_format is None and isinstance(value, date):
        number_format = XLSX_FORMATS[DATE]
    if number_format:
        cell.number_format = number_format
    return cell


def xlsx_bytes(sheet: Sheet) -> bytes:
    """The sheet as an .xlsx workbook (one worksheet), written with openpyxl in write-only mode."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(title=(sheet.title.translate(_SHEET_NAME_FORBIDDEN)[:31] or "Sheet"))
    bold = Font(bold=True)
    for label, value in sheet.preamble:
        label_cell = _xlsx_cell(worksheet, str(label), TEXT)
        label_cell.font = bold
        worksheet.append([label_cell, _xlsx_cell(worksheet, value, TEXT)])
    if sheet.preamble:
        worksheet.append([])
    header = []
    for column in sheet.columns:
        cell = _xlsx_cell(worksheet, str(column.title), TEXT)
        cell.font = bold
        header.append(cell)
    worksheet.append(header)
    kinds = [column.kind for column in sheet.columns]
    for row in sheet.rows:
        worksheet.append([_xlsx_cell(worksheet, value, kind) for value, kind in zip(row, kinds, strict=True)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_response(sheet: Sheet, *, filename: str) -> HttpResponse:
    response = HttpResponse(xlsx_bytes(sheet), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


# --- reading: the package before the workbook ------------------------------------------------

# Small members (styles, relations) may compress very well without costing anything to unpack.
RATIO_FROM_BYTES = 1024 * 1024


def xlsx_package_problem(binary) -> str | None:
    """Why the .xlsx package in `binary` (a seekable file) is refused before it is parsed, or None.

    An .xlsx is a zip whose members openpyxl unpacks (the shared strings all in memory): each
    member's uncompressed size and compression ratio, and their total, are checked against
    SALESTRACK_XLSX_MAX_MEMBER_BYTES, SALESTRACK_XLSX_MAX_RATIO and SALESTRACK_XLSX_MAX_TOTAL_BYTES.
    The sizes are those the zip's directory declares; Python's zipfile never unpacks a member
    beyond its declared size (a lie ends in a CRC error), so they bound what parsing can cost.
    Raises zipfile.BadZipFile when `binary` is no zip at all.
    """
    binary.seek(0)
    with zipfile.ZipFile(binary) as package:
        members = package.infolist()
    binary.seek(0)
    member_limit = settings.SALESTRACK_XLSX_MAX_MEMBER_BYTES
    total_limit = settings.SALESTRACK_XLSX_MAX_TOTAL_BYTES
    ratio_limit = settings.SALESTRACK_XLSX_MAX_RATIO
    total = 0
    for member in members:
        size = member.file_size
        if size > member_limit:
            return _(
                "%(member)s unpacks to %(size)s, more than the %(limit)s a part of a workbook may hold."
            ) % {
                "member": member.filename,
                "size": filesizeformat(size),
                "limit": filesizeformat(member_limit),
            }
        ratio = size / max(member.compress_size, 1)
        if size > RATIO_FROM_BYTES and ratio > ratio_limit:
            return _(
                "%(member)s unpacks to %(ratio)s times its packed size (at most %(limit)s): "
                "the file looks like a decompression bomb."
            ) % {"member": member.filename, "ratio": int(ratio), "limit": ratio_limit}
        total += size
        if total > total_limit:
            return _("The workbook unpacks to more than %(limit)s (at %(member)s).") % {
                "member": member.filename,
                "limit": filesizeformat(total_limit),
            }
    return None
