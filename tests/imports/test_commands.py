"""The import_* commands: a report on stdout, exit status 1 with errors."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from activities.models import Activity, Deal
from metrics.models import Quota

from .helpers import write_csv

HEADER = ["external_id", "rep", "type", "occurred_at"]


def call(name, *args):
    out = StringIO()
    call_command(name, *args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


class ImportCommandTests:
    def test_a_good_file_prints_the_summary_and_counts(self, cast, tmp_path):
        path = write_csv(tmp_path / "a.csv", HEADER, [["A1", "rep_a1", "Call", "2026-03-01"]])
        output = call("import_activities", path)
        assert "1 row imported: 1 created, 0 updated, 0 unchanged" in output
        assert Activity.objects.count() == 1

    def test_the_summary_says_row_and_rows_error_and_errors(self, cast, tmp_path):
        one = write_csv(tmp_path / "one.csv", HEADER, [["A1", "nobody", "Call", "2026-03-01"]])
        out = StringIO()
        with pytest.raises(CommandError):
            call_command("import_activities", one, "--no-progress", stdout=out)
        assert "one.csv: 1 error in 1 row; nothing was written (0 warnings)." in out.getvalue()
        two = write_csv(tmp_path / "two.csv", HEADER, [["A1", "rep_a1", "Call", "2026-03-01"]] * 2)
        out = StringIO()
        with pytest.raises(CommandError):
            call_command("import_activities", two, "--no-progress", stdout=out)
        assert "two.csv: 1 error in 2 rows" in out.getvalue()
        assert "the same external id is already on row 2" in out.getvalue()

    def test_errors_are_listed_and_the_exit_status_is_1(self, cast, tmp_path):
        rows = [[f"A{i}", "nobody", "Call", "2026-03-01"] for i in range(120)]
        path = write_csv(tmp_path / "a.csv", HEADER, rows)
        out = StringIO()
        with pytest.raises(CommandError, match="120 errors; nothing was written"):
            call_command("import_activities", path, "--no-progress", stdout=out)
        output = out.getvalue()
        assert "row 2, column rep, value 'nobody': no rep with this username" in output
        assert "row 101, column rep" in output
        assert "row 102, column rep" not in output
        assert "… and 20 more" in output
        assert Activity.objects.count() == 0

    def test_dry_run_says_nothing_was_written(self, cast, tmp_path):
        path = write_csv(tmp_path / "a.csv", HEADER, [["A1", "rep_a1", "Call", "2026-03-01"]])
        output = call("import_activities", path, "--dry-run")
        assert "Dry run: nothing was written." in output
        assert Activity.objects.count() == 0

    def test_a_file_error_is_a_command_error(self, cast, tmp_path):
        path = tmp_path / "a.csv"
        path.write_bytes(b"external_id,rep\n")
        with pytest.raises(CommandError, match="Required columns are missing"):
            call("import_activities", str(path))

    def test_mapping_and_by_are_passed_on(self, cast, tmp_path):
        path = write_csv(tmp_path / "q.csv", ["Who", "When", "How much"], [["rep_a1", "2026-Q3", "100"]])
        mapping = tmp_path / "m.json"
        mapping.write_text(json.dumps({"columns": {"Who": "rep", "When": "period", "How much": "amount"}}))
        call("import_quotas", path, "--mapping", str(mapping), "--by", "admin")
        assert Quota.objects.get().history.get().history_user == cast.admin

    def test_a_broken_mapping_file_is_a_command_error(self, cast, tmp_path):
        path = write_csv(tmp_path / "d.csv", ["x"], [["1"]])
        mapping = tmp_path / "m.json"
        mapping.write_text("{not json")
        with pytest.raises(CommandError, match="not valid JSON"):
            call("import_deals", path, "--mapping", str(mapping))
        assert Deal.objects.count() == 0

    def test_an_unknown_by_user_is_refused(self, cast, tmp_path):
        path = write_csv(tmp_path / "r.csv", ["username", "team"], [["zoe", "Team A"]])
        with pytest.raises(CommandError, match="no user named"):
            call("import_reps", path, "--by", "ghost")

    def test_projections_command_exists(self, cast, tmp_path):
        path = write_csv(tmp_path / "p.csv", ["team", "period", "amount"], [["Team A", "2026", "5"]])
        assert "1 created" in call("import_projections", path)
