"""Stage history import: each deal's rows replace its recorded moves; checked as a whole, all or nothing."""

import io
import random
from datetime import date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from activities.imports import run_import
from activities.models import Deal, DealStageChange
from metrics.models import ChangedDay

from .helpers import csv_bytes, write_csv
from .test_deals_import import HEADER as DEAL_HEADER
from .test_deals_import import history
from .test_deals_import import run as run_deals

HEADER = ["deal", "stage", "changed_at"]
DEALS = [
    ["D1", "rep_a1", "", "", "1000", "Won", "2026-02-01", "2026-03-20"],
    ["D2", "rep_a1", "", "", "500", "Proposal", "2026-02-10", ""],
    ["D3", "rep_b1", "", "", "700", "Lost", "2026-02-03", "2026-02-28"],
]
HISTORY = [
    # Rows of one deal need not be together nor in order.
    ["D1", "Proposal", "2026-03-01 10:00"],
    ["D2", "Lead", "2026-02-10"],
    ["D1", "Lead", "2026-02-01 09:00"],
    ["D1", "Won", "2026-03-20 16:00"],
    ["D2", "Proposal", "2026-02-20"],
    ["D1", "SQL", "2026-02-15 11:30"],
    ["D3", "Lead", "2026-02-03"],
    ["D3", "MQL", "2026-02-10"],
    ["D3", "Lost", "2026-02-28"],
]


def run(rows, **kwargs):
    kwargs.setdefault("filename", "history.csv")
    return run_import("stage_history", io.BytesIO(csv_bytes(HEADER, rows)), **kwargs)


@pytest.fixture
def deals(cast):
    report = run_deals(DEAL_HEADER, DEALS)
    assert report.ok, report.errors
    ChangedDay.objects.all().delete()
    return {deal.external_id: deal for deal in Deal.objects.all()}


class StageHistoryImportTests:
    def test_each_deals_history_replaces_its_moves_in_time_order(self, deals):
        report = run(HISTORY)

        assert report.ok, report.errors
        assert (report.rows, report.created, report.unchanged) == (9, 9, 0)
        assert history(deals["D1"]) == [
            (None, "Lead", date(2026, 2, 1)),
            ("Lead", "SQL", date(2026, 2, 15)),
            ("SQL", "Proposal", date(2026, 3, 1)),
            ("Proposal", "Won", date(2026, 3, 20)),
        ]
        assert history(deals["D2"]) == [
            (None, "Lead", date(2026, 2, 10)),
            ("Lead", "Proposal", date(2026, 2, 20)),
        ]
        assert [to for _from, to, _at in history(deals["D3"])] == ["Lead", "MQL", "Lost"]
        first = DealStageChange.objects.filter(deal=deals["D1"]).order_by("changed_at").first()
        assert timezone.localtime(first.changed_at).replace(tzinfo=None) == datetime(2026, 2, 1, 9, 0)
        # The cohorts of the changed deals are recomputed.
        assert {date(2026, 2, 1), date(2026, 3, 20), date(2026, 2, 10)} <= set(
            ChangedDay.objects.values_list("day", flat=True)
        )

    def test_reimporting_changes_nothing_and_a_changed_deal_alone_is_rewritten(self, deals):
        run(HISTORY)
        ChangedDay.objects.all().delete()
        ids_before = set(DealStageChange.objects.values_list("id", flat=True))

        again = run(HISTORY)
        assert (again.created, again.unchanged) == (0, 9)
        assert set(DealStageChange.objects.values_list("id", flat=True)) == ids_before
        assert ChangedDay.objects.count() == 0

        changed = [row for row in HISTORY if row[0] != "D2"] + [
            ["D2", "Lead", "2026-02-10"],
            ["D2", "SQL", "2026-02-14"],
            ["D2", "Proposal", "2026-02-20"],
        ]
        report = run(changed)
        assert (report.created, report.unchanged) == (3, 7)
        assert [to for _f, to, _a in history(deals["D2"])] == ["Lead", "SQL", "Proposal"]
        kept = set(DealStageChange.objects.exclude(deal=deals["D2"]).values_list("id", flat=True))
        assert kept <= ids_before  # the other deals' rows were not touched

    def test_a_history_must_end_in_the_deals_stage_and_follow_its_opening(self, deals):
        rows = [
            ["D1", "Lead", "2026-02-01"],
            ["D1", "Proposal", "2026-03-01"],  # D1 is Won: its history must end there
            ["D2", "Lead", "2026-01-15"],  # before D2 was opened
            ["D2", "Proposal", "2026-02-20"],
            ["D3", "Lead", "2026-02-03"],
            ["D3", "Lost", "2026-02-28"],
        ]
        before = list(DealStageChange.objects.order_by("id").values_list("id", "to_stage_id"))

        report = run(rows)

        assert not report.ok
        assert [(e.row, e.column) for e in report.errors] == [(3, "stage"), (4, "changed_at")]
        assert "now in Won" in report.errors[0].reason
        assert "before the deal was opened" in report.errors[1].reason
        assert list(DealStageChange.objects.order_by("id").values_list("id", "to_stage_id")) == before

    def test_row_errors_name_row_column_and_value(self, deals):
        rows = [
            ["D1", "Lead", "2026-02-01"],
            ["D9", "Lead", "2026-02-01"],
            ["D2", "Qualified", "2026-02-11"],
            ["D2", "Proposal", "someday"],
            ["D3", "Lost", "2099-01-01"],
        ]
        report = run(rows)

        assert {(e.row, e.column, e.value) for e in report.errors} == {
            # D1's history is complete (no bad row) but does not end in Won: checked whole.
            (2, "stage", "Lead"),
            (3, "deal", "D9"),
            (4, "stage", "Qualified"),
            (5, "changed_at", "someday"),
            (6, "changed_at", "2099-01-01"),
        }
        assert history(deals["D1"]) == [(None, "Won", date(2026, 2, 1))]  # as the deals import left it

    def test_a_repeated_stage_is_a_warning_and_no_move(self, deals):
        rows = [*HISTORY, ["D2", "Proposal", "2026-02-25"]]
        report = run(rows)

        assert report.ok, report.errors
        assert [(w.row, w.column) for w in report.warnings] == [(11, "stage")]
        assert len(history(deals["D2"])) == 2

    def test_a_closing_move_on_another_day_than_the_deals_closing_is_a_warning(self, deals):
        rows = [row for row in HISTORY if row[0] != "D3"] + [
            ["D3", "Lead", "2026-02-03"],
            ["D3", "Lost", "2026-02-27 17:00"],  # D3 closed on 2026-02-28
        ]
        report = run(rows)

        assert report.ok, report.errors
        assert [(w.row, w.column, w.value) for w in report.warnings] == [(9, "changed_at", "2026-02-27")]
        assert "closed on 2026-02-28" in report.warnings[0].reason
        assert history(deals["D3"])[-1] == ("Lead", "Lost", date(2026, 2, 27))

    def test_moves_are_ordered_by_instant_even_across_offsets(self, deals):
        rows = [row for row in HISTORY if row[0] != "D2"] + [
            ["D2", "Lead", "2026-02-10"],
            # 02:10 at +01:00 is 01:10 UTC: after 02:50 at +02:00 (00:50 UTC), though its text sorts first.
            ["D2", "Proposal", "2026-10-25T02:10:00+01:00"],
            ["D2", "SQL", "2026-10-25T02:50:00+02:00"],
        ]
        report = run(rows)

        assert report.ok, report.errors
        assert [to for _f, to, _a in history(deals["D2"])] == ["Lead", "SQL", "Proposal"]

    def test_a_manager_imports_only_the_history_of_their_reps_deals(self, deals, cast):
        report = run(HISTORY, by=cast.manager_a)

        assert {(e.row, e.value) for e in report.errors} == {(8, "D3"), (9, "D3"), (10, "D3")}
        assert not report.ok

    def test_a_dry_run_reports_and_writes_nothing(self, deals):
        before = list(DealStageChange.objects.values_list("id", flat=True))
        report = run(HISTORY, dry_run=True)

        assert report.ok and report.created == 9
        assert list(DealStageChange.objects.values_list("id", flat=True)) == before

    def test_random_histories_match_the_file_in_many_chunks(self, cast, monkeypatch):
        """More deals than a chunk, rows shuffled: every deal's moves are its file rows in time order."""
        monkeypatch.setattr("activities.imports.history.CHUNK_DEALS", 7)
        monkeypatch.setattr("activities.imports.writer.CHUNK_ROWS", 5)
        rng = random.Random(3)
        open_stages = ["Lead", "MQL", "SQL", "Proposal", "Negotiation"]
        deal_rows, moves, expected = [], [], {}
        for n in range(60):
            opened = date(2026, 1, 1) + timedelta(days=rng.randrange(60))
            path = sorted(rng.sample(open_stages, rng.randint(1, 4)), key=open_stages.index)
            end = rng.choice(["open", "Won", "Lost"])
            if end != "open":
                path.append(end)
            days = sorted(rng.sample(range(1, 40), len(path)))
            stamps = [datetime.combine(opened + timedelta(days=d - 1), datetime.min.time()) for d in days]
            closed = stamps[-1].date().isoformat() if end != "open" else ""
            deal_rows.append([f"R{n}", "rep_a1", "", "", "100", path[-1], opened.isoformat(), closed])
            moves += [
                [f"R{n}", stage, stamp.strftime("%Y-%m-%d %H:%M")]
                for stage, stamp in zip(path, stamps, strict=True)
            ]
            expected[f"R{n}"] = [(None if i == 0 else path[i - 1], stage) for i, stage in enumerate(path)]
        assert run_deals(DEAL_HEADER, deal_rows).ok
        rng.shuffle(moves)

        report = run(moves)

        assert report.ok, report.errors[:3]
        got = {}
        for change in DealStageChange.objects.select_related("deal", "from_stage", "to_stage").order_by(
            "deal_id", "changed_at", "id"
        ):
            got.setdefault(change.deal.external_id, []).append(
                (change.from_stage.name if change.from_stage else None, change.to_stage.name)
            )
        assert got == expected


class ImportDealsWithHistoryCommandTests:
    def test_deals_and_history_in_one_command(self, cast, tmp_path):
        deals = write_csv(tmp_path / "deals.csv", DEAL_HEADER, DEALS)
        moves = write_csv(tmp_path / "history.csv", HEADER, HISTORY)
        out = StringIO()
        call_command("import_deals", deals, "--history", moves, "--no-progress", stdout=out)

        assert "3 rows imported" in out.getvalue() and "9 rows imported" in out.getvalue()
        assert [to for _f, to, _a in history(Deal.objects.get(external_id="D1"))] == [
            "Lead",
            "SQL",
            "Proposal",
            "Won",
        ]

    def test_an_error_in_the_history_leaves_the_deals_unwritten_too(self, cast, tmp_path):
        deals = write_csv(tmp_path / "deals.csv", DEAL_HEADER, DEALS)
        moves = write_csv(tmp_path / "history.csv", HEADER, [*HISTORY, ["D2", "Lead", "2026-03-01"]])
        with pytest.raises(CommandError, match="errors in history.csv; nothing was written"):
            call_command("import_deals", deals, "--history", moves, "--no-progress", stdout=StringIO())
        assert Deal.objects.count() == 0 and DealStageChange.objects.count() == 0

    def test_a_dry_run_checks_the_history_against_the_new_deals_and_writes_nothing(self, cast, tmp_path):
        deals = write_csv(tmp_path / "deals.csv", DEAL_HEADER, DEALS)
        moves = write_csv(tmp_path / "history.csv", HEADER, HISTORY)
        out = StringIO()
        call_command("import_deals", deals, "--history", moves, "--dry-run", "--no-progress", stdout=out)

        assert "would create 9" in out.getvalue()
        assert Deal.objects.count() == 0 and DealStageChange.objects.count() == 0
