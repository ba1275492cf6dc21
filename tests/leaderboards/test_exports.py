"""CSV and XLSX exports of a leaderboard: the page's rows, under what they are, safe to open.

Exports are compared with the page the same query shows (parsed from its HTML), and rep or team
names that a spreadsheet would run as formulas must come out as plain text.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from activities import services
from activities.models import ActivityType, Team
from leaderboards.selectors import activity_metric_name
from metrics.periods import Period, PeriodKind
from metrics.spans import Span
from tests.conftest import PASSWORD
from tests.factories import ActivityFactory, RepFactory
from tests.leaderboards.test_leaderboard_api import backfill, berlin, close, noon  # noqa: F401
from tests.leaderboards.test_leaderboard_api import board as api_board  # noqa: F401 (a fixture)
from tests.leaderboards.test_pages import client_for, page_rows

HEADER = ["Rank", "Rep", "Team"]


@pytest.fixture
def board(api_board):  # noqa: F811 (the imported fixture, by name)
    """The hand-made board of the API tests: two months of sales for the cast plus Cy Four."""
    return api_board


def export(user, fmt: str, status: int = 200, **params):
    response = client_for(user).get(f"/leaderboards/export.{fmt}", params)
    assert response.status_code == status, getattr(response, "content", b"")[:500]
    return response


def csv_of(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # so that Excel reads UTF-8
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def xlsx_of(response):
    workbook = load_workbook(io.BytesIO(response.content))
    return workbook.active


def split(rows: list[list]) -> tuple[dict, list, list[list]]:
    """(preamble as a dict, the header, the table rows) of an export read back."""
    blank = next(i for i, row in enumerate(rows) if not any(cell not in (None, "") for cell in row))
    preamble = {row[0]: row[1] for row in rows[:blank]}
    return preamble, rows[blank + 1], rows[blank + 2 :]


def xlsx_rows(sheet) -> list[list]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


class CsvTests:
    def test_it_has_the_rows_of_the_page(self, board):
        user = board.cast.rep_a1.user
        page = page_rows(client_for(user).get("/leaderboards/", {"metric": "revenue", "period": board.this}))
        preamble, header, rows = split(csv_of(export(user, "csv", metric="revenue", period=board.this)))
        assert header == [*HEADER, "Revenue", "Movement", "Badges"]
        assert [(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows] == [
            (p["rank"], name, team, p["value"], "" if p["movement"] is None else str(p["movement"]))
            for p, name, team in zip(
                page,
                ["Bo Three", "Ana One", "Ari Two", "Cy Four"],
                ["Team B", "Team A", "Team A", "Team B"],
                strict=True,
            )
        ]
        assert preamble["Metric"] == "Revenue" and preamble["Period key"] == board.this
        assert preamble["Leaderboard"] == "Company"
        assert rows[0][5] == "Quota reached, Most improved"

    def test_fractions_are_percentage_points(self, board, settings):
        settings.LEADERBOARD_MIN_CLOSED_DEALS = 3
        preamble, header, rows = split(
            csv_of(export(board.cast.admin, "csv", metric="win_rate", period=board.this))
        )
        assert header[3] == "Win rate (%)"
        assert [(r[1], r[3]) for r in rows] == [("Ana One", "33.33"), ("Cy Four", "25.00")]
        assert preamble["Minimum closed deals"] == "3"

    def test_the_filename_names_the_metric_and_the_period(self, board):
        response = export(board.cast.admin, "csv", metric="deals_won", period=board.this)
        assert response["Content-Type"].startswith("text/csv")
        assert (
            response["Content-Disposition"]
            == f'attachment; filename="leaderboard-deals-won-{board.this}.csv"'
        )
        this = Period.parse(board.this)
        response = export(
            board.cast.admin,
            "csv",
            metric="revenue",
            scope="team",
            team=board.cast.team_a.pk,
            **{"from": this.start, "to": this.start + timedelta(days=9)},
        )
        first, last = this.start, this.start + timedelta(days=9)
        assert response["Content-Disposition"] == (
            f'attachment; filename="leaderboard-revenue-team-{board.cast.team_a.pk}-{first}_{last}.csv"'
        )
        call = ActivityType.objects.get(name="Call")
        response = export(board.cast.admin, "csv", metric=activity_metric_name(call.pk), period=board.this)
        assert f"leaderboard-activity-{call.pk}-call-{board.this}.csv" in response["Content-Disposition"]


class XlsxTests:
    def test_it_has_the_rows_of_the_page_with_numbers_as_numbers(self, board):
        user = board.cast.manager_b
        page = page_rows(client_for(user).get("/leaderboards/", {"metric": "revenue", "period": board.this}))
        response = export(user, "xlsx", metric="revenue", period=board.this)
        assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        assert (
            response["Content-Disposition"] == f'attachment; filename="leaderboard-revenue-{board.this}.xlsx"'
        )
        sheet = xlsx_of(response)
        preamble, header, rows = split(xlsx_rows(sheet))
        assert header == [*HEADER, "Revenue", "Movement", "Badges"]
        assert [(r[0], Decimal(str(r[3])).quantize(Decimal("0.01")), r[4]) for r in rows] == [
            (p["rank"], Decimal(p["value"]), p["movement"]) for p in page
        ]
        assert all(isinstance(r[0], int) and isinstance(r[3], int | float) for r in rows)
        assert preamble["Period key"] == board.this
        # Money keeps two places when shown.
        first_value = next(row for row in sheet.iter_rows() if row[0].value == 1)[3]
        assert first_value.number_format == "#,##0.00"

    def test_fractions_stay_fractions_shown_as_percentages(self, board):
        sheet = xlsx_of(export(board.cast.admin, "xlsx", metric="selling_time_share", period=board.this))
        _, _, rows = split(xlsx_rows(sheet))
        assert [(r[1], r[3]) for r in rows] == [("Ari Two", 1.0), ("Bo Three", 1.0), ("Ana One", 0.5)]
        cell = next(row for row in sheet.iter_rows() if row[1].value == "Ana One")[3]
        assert cell.number_format == "0.0%"


@pytest.fixture
def evil(cast):
    """Reps and a team whose names a spreadsheet would run as formulas."""
    day = Period.containing(timezone.localdate(), PeriodKind.MONTH).previous().start + timedelta(days=1)
    team = Team.objects.create(name="-2+3", manager=cast.manager_a)
    names = ['=HYPERLINK("http://evil.example","click")', "+1", "@x", "\tTab"]
    for index, first_name in enumerate(names):
        rep = services.rep_create(
            username=f"evil{index}", team=team, password=PASSWORD, first_name=first_name, last_name=""
        )
        close(rep, f"{100 * (index + 1)}.00", day)
    backfill()
    return str(Period.containing(day, PeriodKind.MONTH)), names


class FormulaEscapingTests:
    def test_csv_prefixes_formula_text_with_a_quote(self, evil, cast):
        period, names = evil
        _, _, rows = split(csv_of(export(cast.admin, "csv", metric="revenue", period=period)))
        by_rank = {row[1]: row for row in rows}
        for name in names:
            assert "'" + name.strip() in by_rank or "'" + name in by_rank, (name, list(by_rank))
        for row in rows:
            assert not row[1].startswith(("=", "+", "-", "@", "\t", "\r"))
            assert not row[2].startswith(("=", "+", "-", "@"))
        assert {row[2] for row in rows if row[1].startswith("'")} == {"'-2+3"}
        # Numbers are numbers, not escaped: a fall in rank stays -n.
        assert all(not row[0].startswith("'") and not row[3].startswith("'") for row in rows)

    def test_xlsx_holds_formula_text_as_plain_text(self, evil, cast):
        period, names = evil
        sheet = xlsx_of(export(cast.admin, "xlsx", metric="revenue", period=period))
        cells = [row for row in sheet.iter_rows() if isinstance(row[0].value, int)]
        reps = {row[1].value for row in cells}
        assert "'" + names[0] in reps and "'+1" in reps and "'@x" in reps
        for row in cells:
            assert row[1].data_type == "s" and row[2].data_type in ("s", "n")
            assert not str(row[1].value).startswith(("=", "+", "-", "@", "\t"))
        assert {row[2].value for row in cells if str(row[1].value).startswith("'")} == {"'-2+3"}


class BadExportTests:
    def test_a_bad_parameter_is_400_naming_it(self, cast):
        response = export(cast.rep_a1.user, "csv", status=400, metric="height")
        assert response.content.decode().startswith("Rank by: ")
        response = export(cast.rep_a1.user, "xlsx", status=400, period="2026-13")
        assert "Period: " in response.content.decode()

    def test_attainment_over_a_week_cannot_be_exported(self, cast):
        response = export(cast.rep_a1.user, "csv", status=400, metric="attainment", period="this-week")
        assert "calendar months, quarters and years" in response.content.decode()

    def test_an_unknown_format_or_team_is_404(self, cast):
        export(cast.rep_a1.user, "pdf", status=404)
        export(cast.rep_a1.user, "csv", status=404, scope="team", team=987654)


def test_an_export_costs_the_same_queries_for_n_and_3n_reps(cast, django_assert_max_num_queries):
    this = Period.containing(timezone.localdate(), PeriodKind.MONTH).previous()
    day = this.start + timedelta(days=2)
    week = Span.week_of(day).key
    client = client_for(cast.rep_a2.user)
    lengths = []
    for added in (4, 8):
        for _ in range(added):
            rep = RepFactory(team=cast.team_b)
            ActivityFactory(rep=rep, occurred_at=noon(day))
            close(rep, "100.00", day)
        backfill()
        for fmt in ("csv", "xlsx"):
            for period in (str(this), week):
                with django_assert_max_num_queries(11):
                    response = client.get(
                        f"/leaderboards/export.{fmt}", {"metric": "revenue", "period": period}
                    )
                    if fmt == "csv":
                        body = b"".join(response.streaming_content)
                assert response.status_code == 200
        lengths.append(body.count(b"\n"))
    assert lengths[1] == lengths[0] + 8
