"""Files that cannot be read at all get one clear ImportFileError; readable ones stream."""

import io
from datetime import datetime

import openpyxl
import pytest
from django.utils import timezone

from activities.imports import ImportFileError, run_import
from activities.imports.readers import open_table
from activities.models import Activity

HEADER = "external_id,rep,type,occurred_at\n"


def run(data: bytes, filename="activities.csv", **kwargs):
    return run_import("activities", io.BytesIO(data), filename=filename, **kwargs)


class CsvReaderTests:
    def test_a_file_that_is_not_utf8_names_the_byte_offset_and_line(self, cast):
        data = (HEADER + "A1,rep_a1,Call,2026-03-01\nA2,Jos\xe9,Call,2026-03-01\n").encode("latin-1")

        with pytest.raises(ImportFileError) as caught:
            run(data)

        message = str(caught.value)
        assert "not UTF-8" in message
        assert "0xE9" in message
        offset = data.index(b"\xe9")
        assert f"byte offset {offset}" in message
        assert "line 3" in message
        assert Activity.objects.count() == 0

    def test_a_bad_byte_far_into_the_file_is_found_across_chunks(self, cast):
        body = "".join(f"A{i},rep_a1,Call,2026-03-01\n" for i in range(5000))
        data = (HEADER + body).encode() + b"A\xff,rep_a1,Call,2026-03-01\n"
        with pytest.raises(ImportFileError, match="line 5002"):
            run(data)

    def test_a_utf8_bom_and_crlf_line_ends_are_fine(self, cast):
        data = "\ufeffexternal_id,rep,type,occurred_at\r\nA1,rep_a1,Call,2026-03-01\r\n".encode()
        report = run(data)
        assert report.ok and report.created == 1

    def test_an_unbalanced_quote_is_a_clear_error(self, cast):
        data = (HEADER + 'A1,rep_a1,"Call,2026-03-01\nA2,rep_a1,Call,2026-03-01\n').encode()
        with pytest.raises(ImportFileError, match="unbalanced quote"):
            run(data)

    def test_a_row_with_the_wrong_number_of_columns_is_a_clear_error(self, cast):
        data = (HEADER + "A1,rep_a1,Call,2026-03-01\nA2,rep_a1,Call\n").encode()
        with pytest.raises(ImportFileError, match=r"row 3 \(line 3\) has 3 columns, but the header has 4"):
            run(data)
        assert Activity.objects.count() == 0

    def test_an_empty_file_is_a_clear_error(self, cast):
        with pytest.raises(ImportFileError, match="empty"):
            run(b"")

    def test_missing_required_columns_are_named(self, cast):
        with pytest.raises(ImportFileError, match="Required columns are missing: type, occurred_at"):
            run(b"external_id,rep\nA1,rep_a1\n")

    def test_other_extensions_are_refused(self, cast):
        with pytest.raises(ImportFileError, match=r"only \.csv and \.xlsx"):
            run(b"whatever", filename="activities.txt")

    def test_blank_lines_are_skipped_but_keep_the_spreadsheet_numbering(self, cast):
        data = (HEADER + "A1,rep_a1,Call,2026-03-01\n,,,\nA2,nobody,Call,2026-03-01\n").encode()
        report = run(data)
        assert [(e.row, e.column) for e in report.errors] == [(4, "rep")]

    def test_a_quoted_value_may_span_lines(self, tmp_path):
        path = tmp_path / "x.csv"
        path.write_bytes(b'a,b\n"one\ntwo",2\n3,4\n')
        with open_table(str(path), "x.csv") as table:
            assert list(table.rows()) == [(2, ["one\ntwo", "2"]), (3, ["3", "4"])]
            assert len(list(table.rows())) == 2  # a table can be read twice


def xlsx_bytes(rows) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class XlsxReaderTests:
    def test_a_workbook_imports_with_typed_cells(self, cast):
        data = xlsx_bytes(
            [
                ["external_id", "rep", "type", "occurred_at", "duration_minutes"],
                [1042, "rep_a1", "Call", datetime(2026, 3, 1, 9, 30), 30.0],
                ["A2", "rep_a2", "Email", "2026-03-02", None],
            ]
        )

        report = run(data, filename="activities.xlsx")

        assert report.ok, report.errors
        assert report.created == 2
        first = Activity.objects.get(external_id="1042")
        assert timezone.localtime(first.occurred_at).replace(tzinfo=None) == datetime(2026, 3, 1, 9, 30)
        assert first.duration_minutes == 30

    def test_errors_in_a_workbook_name_the_spreadsheet_row(self, cast):
        data = xlsx_bytes(
            [
                ["external_id", "rep", "type", "occurred_at"],
                ["A1", "rep_a1", "Call", "2026-03-01"],
                ["A2", "rep_a1", "Call", "soon"],
            ]
        )
        report = run(data, filename="activities.xlsx")
        assert [(e.row, e.column, e.value) for e in report.errors] == [(3, "occurred_at", "soon")]

    def test_a_file_that_is_not_a_workbook_is_a_clear_error(self, cast):
        with pytest.raises(ImportFileError, match="not an Excel workbook"):
            run(b"external_id,rep\nA1,rep_a1\n", filename="activities.xlsx")


class CsvNulTests:
    def test_nul_bytes_are_a_clear_error(self, cast):
        with pytest.raises(ImportFileError, match=r"row 2 \(line 2\) contains NUL bytes"):
            run((HEADER + "A\x001,rep_a1,Call,2026-03-01\n").encode())
