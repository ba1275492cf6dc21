"""Activities import: every row checked first, all or nothing, idempotent on external ids."""

import io
from datetime import date, datetime

import pytest
from django.utils import timezone

from activities.imports import ImportFileError, run_import
from activities.imports.values import text
from activities.models import Activity, ActivityType
from metrics.models import ChangedDay
from tests.factories import DealFactory

from .helpers import csv_bytes, write_csv

HEADER = ["external_id", "rep", "type", "occurred_at", "duration_minutes", "outcome"]


def rows(n, rep="rep_a1"):
    return [[f"A{i}", rep, "Call", f"2026-03-{1 + i % 28:02d} 10:00", 15, "ok"] for i in range(n)]


def run(data: bytes, **kwargs):
    kwargs.setdefault("filename", "activities.csv")
    return run_import("activities", io.BytesIO(data), **kwargs)


class ActivitiesImportTests:
    def test_it_creates_every_row_and_marks_the_days(self, cast):
        report = run(csv_bytes(HEADER, rows(30)))

        assert report.ok, report.errors
        assert (report.rows, report.created, report.updated, report.unchanged) == (30, 30, 0, 0)
        activity = Activity.objects.get(external_id="A0")
        assert activity.rep == cast.rep_a1
        assert activity.source == "crm"
        assert timezone.localtime(activity.occurred_at).replace(tzinfo=None) == datetime(2026, 3, 1, 10, 0)
        marked = set(ChangedDay.objects.values_list("day", flat=True))
        assert marked == {date(2026, 3, d) for d in range(1, 29)}

    def test_one_bad_row_among_5000_writes_nothing_and_names_that_row(self, cast, tmp_path):
        data = rows(5000)
        data[3120][4] = "2000"  # data row 3121 is spreadsheet row 3122
        path = write_csv(tmp_path / "big.csv", HEADER, data)

        report = run_import("activities", path, filename="big.csv")

        assert not report.ok
        assert report.rows == 5000
        assert report.error_count == 1
        error = report.errors[0]
        assert (error.row, error.column, error.value) == (3122, "duration_minutes", "2000")
        assert "1440" in error.reason
        assert Activity.objects.count() == 0
        assert ChangedDay.objects.count() == 0

    def test_reimporting_the_same_file_changes_nothing(self, cast):
        data = csv_bytes(HEADER, rows(40))
        run(data)
        ChangedDay.objects.all().delete()
        before = list(Activity.objects.order_by("pk").values_list("pk", "updated_at"))

        report = run(data)

        assert report.ok
        assert (report.created, report.updated, report.unchanged) == (0, 0, 40)
        assert list(Activity.objects.order_by("pk").values_list("pk", "updated_at")) == before
        assert ChangedDay.objects.count() == 0

    def test_a_changed_row_is_updated_and_both_days_marked(self, cast):
        run(csv_bytes(HEADER, rows(3)))
        ChangedDay.objects.all().delete()
        changed = rows(3)
        changed[1][3] = "2026-04-10 09:00"
        changed[1][4] = 45

        report = run(csv_bytes(HEADER, changed))

        assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
        activity = Activity.objects.get(external_id="A1")
        assert activity.duration_minutes == 45
        assert set(ChangedDay.objects.values_list("day", flat=True)) == {date(2026, 3, 2), date(2026, 4, 10)}

    def test_a_dry_run_reports_what_it_would_do_and_writes_nothing(self, cast):
        report = run(csv_bytes(HEADER, rows(10)), dry_run=True)

        assert report.ok and report.dry_run
        assert report.created == 10
        assert Activity.objects.count() == 0
        assert ChangedDay.objects.count() == 0
        assert "nothing was written" in report.summary()

    def test_every_rule_is_checked_and_reported_by_row_and_column(self, cast):
        data = [
            ["B1", "nobody", "Call", "2026-03-01", "", ""],
            ["B2", "rep_a1", "Juggling", "2026-03-01", "", ""],
            ["B3", "rep_a1", "Call", "yesterday", "", ""],
            ["B4", "rep_a1", "Call", "2099-01-01", "", ""],
            ["B5", "rep_a1", "Call", "2026-03-01", "0", ""],
            ["B6", "rep_a1", "Call", "2026-03-01", "ten", ""],
            ["B7", "", "Call", "2026-03-01", "", ""],
        ]
        report = run(csv_bytes(HEADER, data))

        got = {(e.row, e.column) for e in report.errors}
        assert got == {
            (2, "rep"),
            (3, "type"),
            (4, "occurred_at"),
            (5, "occurred_at"),
            (6, "duration_minutes"),
            (7, "duration_minutes"),
            (8, "rep"),
        }
        assert "future" in next(e.reason for e in report.errors if e.row == 5)
        assert Activity.objects.count() == 0

    def test_a_date_alone_is_noon_and_the_duration_defaults_to_the_types(self, cast):
        report = run(csv_bytes(HEADER, [["C1", "Ana One", "Demo", "2026-03-05", "", ""]]))

        assert report.ok, report.errors
        activity = Activity.objects.get(external_id="C1")
        assert activity.rep == cast.rep_a1  # found by full name
        assert timezone.localtime(activity.occurred_at).hour == 12
        assert activity.duration_minutes == ActivityType.objects.get(name="Demo").default_duration

    def test_the_same_external_id_twice_in_a_file_is_an_error(self, cast):
        data = rows(5)
        data[3][0] = "A1"
        report = run(csv_bytes(HEADER, data))

        assert [(e.row, e.column, e.value) for e in report.errors] == [(5, "external_id", "A1")]
        assert "row 3" in report.errors[0].reason
        assert Activity.objects.count() == 0

    def test_a_deal_is_linked_by_external_id_and_must_be_the_reps(self, cast):
        own = DealFactory(owner=cast.rep_a1, source="crm", external_id="D1")
        DealFactory(owner=cast.rep_b1, source="crm", external_id="D2")
        header = [*HEADER, "deal"]
        data = [
            ["E1", "rep_a1", "Call", "2026-03-01", "", "", "D1"],
            ["E2", "rep_a1", "Call", "2026-03-01", "", "", "D2"],
            ["E3", "rep_a1", "Call", "2026-03-01", "", "", "D9"],
        ]
        report = run(csv_bytes(header, data))
        assert [(e.row, e.column) for e in report.errors] == [(3, "deal"), (4, "deal")]

        report = run(csv_bytes(header, data[:1]))
        assert report.ok
        activity = Activity.objects.get(external_id="E1")
        assert activity.deal == own and activity.account == own.account

    def test_without_external_ids_rows_are_created_with_a_warning(self, cast):
        header = ["rep", "type", "occurred_at"]
        report = run(csv_bytes(header, [["rep_a1", "Call", "2026-03-01"]] * 2))
        assert report.created == 2
        assert any("external_id" in w.column for w in report.warnings)

    def test_a_mapping_renames_columns_translates_values_and_fills_defaults(self, cast):
        header = ["Id", "Who", "Kind", "When", "Mins"]
        data = [["X1", "Rep A1", "Anruf", "05/03/2026", ""]]
        mapping = {
            "columns": {"Id": "external_id", "Who": "rep", "Kind": "type", "When": "occurred_at"},
            "values": {"type": {"Anruf": "Call"}, "rep": {"Rep A1": "rep_a1"}},
            "defaults": {"duration_minutes": "20", "source": "ecommerce"},
            "date_format": "%d/%m/%Y",
            "skip_columns": ["Mins"],
        }
        report = run(csv_bytes(header, data), mapping=mapping)

        assert report.ok, report.errors
        activity = Activity.objects.get(external_id="X1")
        assert (activity.type.name, activity.duration_minutes, activity.source) == ("Call", 20, "ecommerce")
        assert timezone.localtime(activity.occurred_at).date() == date(2026, 3, 5)

    def test_a_mapping_to_unknown_fields_is_refused(self, cast):
        with pytest.raises(ImportFileError, match="colour"):
            run(csv_bytes(HEADER, rows(1)), mapping={"columns": {"Colour": "colour"}})
        with pytest.raises(ImportFileError, match="unknown keys"):
            run(csv_bytes(HEADER, rows(1)), mapping={"colums": {}})

    def test_progress_is_reported_during_both_passes(self, cast):
        calls = []
        run(csv_bytes(HEADER, rows(2500)), progress=lambda done, total: calls.append((done, total)))
        assert calls[0] == (1000, None)
        assert calls[-1] == (5000, 5000)


class SpooledWriteTests:
    """Pass 2 writes what pass 1 checked (COPY on PostgreSQL): every value arrives as it was."""

    AWKWARD = [
        'quotes "inside", commas, and a\nsecond line',
        "a backslash \\N and a tab\there",
        "",
        "emoji 🚀 and ünïcödé",
        "  leading and trailing spaces are trimmed  ",
    ]

    def test_awkward_text_empty_strings_and_nulls_arrive_unchanged(self, cast):
        header = [*HEADER, "notes", "account"]
        data = [
            [f"W{i}", "rep_a1", "Call", "2026-03-02 09:30", "", "", note, note if i == 3 else ""]
            for i, note in enumerate(self.AWKWARD)
        ]
        mapping = {"create_missing": ["account"]}
        report = run(csv_bytes(header, data), mapping=mapping)

        assert report.ok, report.errors
        assert report.related_created == {"account": 1}
        got = {a.external_id: a for a in Activity.objects.select_related("account")}
        for i, note in enumerate(self.AWKWARD):
            activity = got[f"W{i}"]
            assert activity.notes == note.strip()
            assert activity.outcome == ""  # an empty text cell is "", not NULL
            assert activity.deal_id is None
            assert activity.duration_minutes == ActivityType.objects.get(name="Call").default_duration
            assert (activity.account.name if activity.account else None) == (note if i == 3 else None)
            assert activity.created_at is not None and activity.updated_at is not None

    def test_rows_are_written_in_several_chunks(self, cast, monkeypatch):
        monkeypatch.setattr("activities.imports.writer.CHUNK_ROWS", 7)
        report = run(csv_bytes(HEADER, rows(2500)))

        assert report.created == 2500
        assert Activity.objects.count() == 2500
        assert sorted(Activity.objects.values_list("external_id", flat=True)) == sorted(
            f"A{i}" for i in range(2500)
        )

    def test_an_update_to_an_account_created_by_the_same_import(self, cast):
        header = [*HEADER, "account"]
        run(csv_bytes(header, [["U1", "rep_a1", "Call", "2026-03-02", "", "", ""]]))

        report = run(
            csv_bytes(header, [["U1", "rep_a1", "Call", "2026-03-02", "", "", "Brand new Ltd"]]),
            mapping={"create_missing": ["account"]},
        )

        assert (report.created, report.updated) == (0, 1)
        assert Activity.objects.get(external_id="U1").account.name == "Brand new Ltd"

    def test_a_nul_character_in_a_cell_is_refused(self):
        # A CSV with NUL bytes is refused whole (test_readers); a spreadsheet cell or a mapping
        # default reaches the value parser, which PostgreSQL's text columns depend on.
        with pytest.raises(ValueError, match="NUL"):
            text("bad\x00byte")
        assert text("  fine  ") == "fine"

    def test_data_changed_between_the_passes_rolls_everything_back(self, cast):
        """A row that passed pass 1 but clashes in pass 2 fails the whole import, with a clear message."""
        data = csv_bytes(HEADER, rows(1500))
        clash = {"done": False}

        def progress(done, total):
            # The end of pass 1: another writer creates one of the file's activities.
            if done == 1500 and not clash["done"]:
                clash["done"] = True
                Activity.objects.create(
                    rep=cast.rep_a1,
                    type=ActivityType.objects.get(name="Email"),
                    occurred_at=timezone.now(),
                    duration_minutes=10,
                    source="crm",
                    external_id="A1234",
                )

        with pytest.raises(ImportFileError, match="changed while the file was being imported"):
            run(data, progress=progress)

        assert clash["done"]
        assert list(Activity.objects.values_list("external_id", flat=True)) == ["A1234"]
        assert ChangedDay.objects.filter(day=date(2026, 3, 1)).count() == 0


class ImportAccessTests:
    def test_a_manager_imports_only_rows_of_their_teams_reps(self, cast):
        data = [
            ["F1", "rep_a1", "Call", "2026-03-01", "", ""],
            ["F2", "rep_b1", "Call", "2026-03-01", "", ""],
        ]
        report = run(csv_bytes(HEADER, data), by=cast.manager_a)
        assert [(e.row, e.column, e.value) for e in report.errors] == [(3, "rep", "rep_b1")]
        assert Activity.objects.count() == 0

    def test_a_manager_cannot_take_over_another_teams_activity(self, cast):
        run(csv_bytes(HEADER, [["F1", "rep_b1", "Call", "2026-03-01", "", ""]]))
        report = run(csv_bytes(HEADER, [["F1", "rep_a1", "Call", "2026-03-01", "", ""]]), by=cast.manager_a)
        assert [(e.row, e.column) for e in report.errors] == [(2, "external_id")]
        assert Activity.objects.get().rep == cast.rep_b1

    def test_an_admin_and_the_command_import_for_everybody(self, cast):
        data = [
            ["F1", "rep_a1", "Call", "2026-03-01", "", ""],
            ["F2", "rep_b1", "Call", "2026-03-01", "", ""],
        ]
        assert run(csv_bytes(HEADER, data), by=cast.admin).created == 2
