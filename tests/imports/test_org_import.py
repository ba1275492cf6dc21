"""Reps import: users with the rep role, teams and territories by name (created only when allowed)."""

import io
from datetime import date

from activities.access import role_of
from activities.imports import run_import
from activities.models import Rep, Team, Territory, User
from metrics.models import ChangedDay
from tests.factories import DealFactory

from .helpers import csv_bytes

HEADER = ["username", "email", "first_name", "last_name", "team", "territory", "hired_on"]


def run(header, rows, **kwargs):
    kwargs.setdefault("filename", "reps.csv")
    return run_import("reps", io.BytesIO(csv_bytes(header, rows)), **kwargs)


class RepsImportTests:
    def test_it_creates_reps_with_the_rep_role_and_no_usable_password(self, cast):
        rows = [
            ["zoe", "zoe@example.com", "Zoe", "Zed", "Team A", "", "2025-01-06"],
            ["yan", "yan@example.com", "Yan", "Yu", "Team B", "North", ""],
        ]
        report = run(HEADER, rows)

        assert report.ok, report.errors
        assert report.created == 2
        zoe = Rep.objects.select_related("user").get(user__username="zoe")
        assert (zoe.team, zoe.territory, zoe.hired_on) == (
            cast.team_a,
            cast.territory_north,
            date(2025, 1, 6),
        )
        assert not zoe.user.has_usable_password()
        assert role_of(zoe.user) == "rep"
        assert Rep.objects.get(user__username="yan").territory == cast.territory_north

    def test_unknown_teams_are_errors_unless_the_mapping_allows_creating_them(self, cast):
        rows = [["zoe", "", "Zoe", "Zed", "Team Z", "Far East", ""]]
        report = run(HEADER, rows)
        assert [(e.row, e.column, e.value) for e in report.errors] == [
            (2, "territory", "Far East"),
            (2, "team", "Team Z"),
        ]
        assert not User.objects.filter(username="zoe").exists()

        report = run(HEADER, rows, mapping={"create_missing": ["team", "territory"]})
        assert report.ok, report.errors
        assert report.related_created == {"team": 1, "territory": 1}
        team = Team.objects.get(name="Team Z")
        assert team.territory == Territory.objects.get(name="Far East")
        assert Rep.objects.get(user__username="zoe").team == team

    def test_reimport_changes_nothing_and_a_team_change_marks_every_period(self, cast):
        rows = [["zoe", "zoe@example.com", "Zoe", "Zed", "Team A", "North", ""]]
        run(HEADER, rows)
        zoe = Rep.objects.get(user__username="zoe")
        DealFactory(owner=zoe, opened_on=date(2026, 1, 10))
        ChangedDay.objects.all().delete()

        again = run(HEADER, rows)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
        assert ChangedDay.objects.count() == 0

        moved = run(HEADER, [["zoe", "zoe@example.com", "Zoe", "Zed", "Team B", "North", ""]])
        assert moved.updated == 1
        assert Rep.objects.get(user__username="zoe").team == cast.team_b
        assert ChangedDay.objects.filter(day=date(2026, 1, 1)).exists()

    def test_a_full_name_gives_the_names_username_and_an_email_domain(self, cast):
        header = ["full_name", "team"]
        report = run(
            header, [["Mei-Mei Johns", "Team A"]], mapping={"defaults": {"email_domain": "crm.example"}}
        )
        assert report.ok, report.errors
        user = User.objects.get(username="mei-mei.johns")
        assert (user.first_name, user.last_name, user.email) == (
            "Mei-Mei",
            "Johns",
            "mei-mei.johns@crm.example",
        )

    def test_a_user_who_is_not_a_rep_is_not_turned_into_one(self, cast):
        report = run(HEADER, [["manager_a", "", "", "", "Team A", "", ""]])
        assert [(e.row, e.column) for e in report.errors] == [(2, "username")]

    def test_a_team_and_a_rep_column_are_required(self, cast):
        import pytest

        from activities.imports import ImportFileError

        with pytest.raises(ImportFileError, match="team, username or email or full_name"):
            run(["first_name"], [["Zoe"]])
