"""salestrack.spreadsheets: CSV and XLSX downloads that a spreadsheet opens safely."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from salestrack import spreadsheets
from salestrack.spreadsheets import INTEGER, MONEY, PERCENT, TEXT, Column, Sheet, escape_formula

EVIL = ['=HYPERLINK("http://evil.example","x")', "+1", "-1+2", "@SUM(A1)", "\tx", "\rx", "=1+1"]


@pytest.mark.parametrize("text", EVIL)
def test_text_a_spreadsheet_would_run_gets_a_quote(text):
    assert escape_formula(text) == "'" + text


@pytest.mark.parametrize("text", ["Ana", "", "1+1", " =x", "a=b", "'quoted", "Ünïcødé 영업"])
def test_other_text_is_left_alone(text):
    assert escape_formula(text) == text


def sheet(rows) -> Sheet:
    return Sheet(
        title="Reps: [all]",
        columns=[Column("Name"), Column("Amount", MONEY), Column("Share", PERCENT), Column("Move", INTEGER)],
        rows=rows,
        preamble=[("Metric", "=cmd"), ("Day", date(2026, 11, 30))],
    )


def read_csv(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


class CsvTests:
    def test_it_writes_preamble_blank_line_header_and_rows(self):
        rows = read_csv(
            spreadsheets.csv_text(sheet([("Ana", Decimal("1234.5"), 0.5, -2), ("Bo", None, None, None)]))
        )
        assert rows == [
            ["Metric", "'=cmd"],
            ["Day", "2026-11-30"],
            [],
            ["Name", "Amount", "Share", "Move"],
            ["Ana", "1234.50", "50.00", "-2"],
            ["Bo", "", "", ""],
        ]

    def test_it_escapes_every_text_cell_but_never_a_number(self):
        rows = read_csv(spreadsheets.csv_text(sheet([(name, -5, -0.25, -1) for name in EVIL])))[4:]
        assert [row[0] for row in rows] == ["'" + name for name in EVIL]
        assert {tuple(row[1:]) for row in rows} == {("-5.00", "-25.00", "-1")}

    def test_a_header_or_preamble_label_is_escaped_too(self):
        table = Sheet(title="t", columns=[Column("=bad", TEXT)], rows=[], preamble=[("+label", 1)])
        assert read_csv(spreadsheets.csv_text(table)) == [["'+label", "1"], [], ["'=bad"]]

    def test_the_response_streams_and_names_the_file(self):
        response = spreadsheets.csv_response(sheet(iter([("Ana", 1, 0.1, 0)])), filename="board-2026-11.csv")
        assert response.streaming
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="board-2026-11.csv"'
        assert read_csv(b"".join(response.streaming_content).decode())[-1] == ["Ana", "1.00", "10.00", "0"]

    def test_a_non_ascii_filename_is_encoded(self):
        response = spreadsheets.csv_response(sheet([]), filename="영업-2026.csv")
        assert "filename*=utf-8''" in response["Content-Disposition"]

    def test_aware_datetimes_are_written_in_local_time(self, settings):
        settings.TIME_ZONE = "Europe/Berlin"
        table = Sheet(
            title="t", columns=[Column("When")], rows=[(datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("UTC")),)]
        )
        assert read_csv(spreadsheets.csv_text(table))[-1] == ["2026-07-01T12:00:00+02:00"]


class XlsxTests:
    def load(self, table):
        return load_workbook(io.BytesIO(spreadsheets.xlsx_bytes(table))).active

    def test_numbers_stay_numbers_with_formats(self):
        ws = self.load(sheet([("Ana", Decimal("1234.5"), 0.5, -2)]))
        name, amount, share, move = next(ws.iter_rows(min_row=5, max_row=5))
        assert (name.value, name.data_type) == ("Ana", "s")
        assert amount.value == pytest.approx(1234.5) and amount.data_type == "n"
        assert amount.number_format == "#,##0.00"
        assert share.value == 0.5 and share.number_format == "0.0%"
        assert move.value == -2 and move.data_type == "n"

    def test_formula_text_is_stored_as_text_with_a_quote(self):
        ws = self.load(sheet([(name, 1, 0.1, 1) for name in EVIL]))
        cells = [row[0] for row in ws.iter_rows(min_row=5)]
        # (XML reads a carriage return back as a line feed.)
        assert [cell.value for cell in cells] == ["'" + name.replace("\r", "\n") for name in EVIL]
        assert all(cell.data_type == "s" for cell in cells)
        assert ws["B1"].value == "'=cmd"  # the preamble too

    def test_control_characters_cannot_break_the_workbook(self):
        ws = self.load(sheet([("A\x00B\x07C", 1, 0.1, 1)]))
        assert ws["A5"].value == "ABC"

    def test_the_sheet_name_is_made_valid(self):
        workbook = load_workbook(io.BytesIO(spreadsheets.xlsx_bytes(sheet([]))))
        assert workbook.sheetnames == ["Reps   all "]

    def test_the_response_names_the_file(self):
        response = spreadsheets.xlsx_response(sheet([]), filename="board.xlsx")
        assert response["Content-Type"] == spreadsheets.XLSX_CONTENT_TYPE
        assert response["Content-Disposition"] == 'attachment; filename="board.xlsx"'
        assert response.content[:2] == b"PK"
