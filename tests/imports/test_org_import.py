"""Reps import: users with the rep role, teams and territories by name (created only when allowed)."""

import io
from datetime import date, timedelta

from django.utils import timezone

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

    def test_reimport_changes_nothing_and_a_team_change_moves_the_rep_from_today(self, cast):
        rows = [["zoe", "zoe@example.com", "Zoe", "Zed", "Team A", "North", ""]]
        run(HEADER, rows)
        zoe = Rep.objects.get(user__username="zoe")
        assert [(a.team, a.starts_on) for a in zoe.assignments.all()] == [(cast.team_a, None)]
        DealFactory(owner=zoe, opened_on=date(2026, 1, 10))
        ChangedDay.objects.all().delete()

        again = run(HEADER, rows)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
        assert ChangedDay.objects.count() == 0

        moved = run(HEADER, [["zoe", "zoe@example.com", "Zoe", "Zed", "Team B", "North", ""]])
        assert moved.updated == 1
        today = timezone.localdate()
        assert Rep.objects.get(user__username="zoe").team == cast.team_b
        history = [(a.team, a.starts_on) for a in zoe.assignments.all()]
        assert history == [(cast.team_a, None), (cast.team_b, today)]
        # Credit at the time: January stays Team A's; only this month on is counted again.
        assert not ChangedDay.objects.filter(day__lt=today.replace(day=1)).exists()
        assert ChangedDay.objects.filter(day=today.replace(day=1)).exists()

    def test_a_moved_on_column_moves_the_rep_from_that_day(self, cast):
        run(HEADER, [["zoe", "zoe@example.com", "Zoe", "Zed", "Team A", "North", ""]])
        zoe = Rep.objects.get(user__username="zoe")
        DealFactory(owner=zoe, opened_on=date(2026, 1, 10))
        ChangedDay.objects.all().delete()
        header = [*HEADER, "moved_on"]
        moved = run(header, [["zoe", "zoe@example.com", "Zoe", "Zed", "Team B", "", "", "2026-01-05"]])
        assert moved.ok, moved.errors
        assert [(a.team, a.starts_on) for a in zoe.assignments.all()] == [
            (cast.team_a, None),
            (cast.team_b, date(2026, 1, 5)),
        ]
        # Without a territory column value the rep takes the new team's territory.
        assert Rep.objects.get(pk=zoe.pk).territory == cast.team_b.territory
        assert ChangedDay.objects.filter(day=date(2026, 1, 5)).exists()
        assert ChangedDay.objects.filter(day=date(2026, 2, 1)).exists()
        assert not ChangedDay.objects.filter(day__lt=date(2026, 1, 1)).exists()

    def test_a_move_day_in_the_future_or_before_the_window_is_refused(self, cast):
        run(HEADER, [["zoe", "zoe@example.com", "Zoe", "Zed", "Team A", "North", ""]])
        header = [*HEADER, "moved_on"]
        tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
        for day, reason in [(tomorrow, "today or on an earlier day"), ("1999-12-31", "before 2000-01-01")]:
            report = run(header, [["zoe", "zoe@example.com", "Zoe", "Zed", "Team B", "North", "", day]])
            assert [(e.row, e.column) for e in report.errors] == [(2, "moved_on")]
            assert reason in report.errors[0].reason
        assert Rep.objects.get(user__username="zoe").team == cast.team_a

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
