"""Quotas and projections: one row per owner and period, upserted, with history."""

import io
from datetime import date
from decimal import Decimal

from activities.imports import run_import
from metrics.models import ChangedDay, Projection, Quota

from .helpers import csv_bytes

HEADER = ["rep", "team", "period", "amount"]


def run(kind, rows, **kwargs):
    return run_import(kind, io.BytesIO(csv_bytes(HEADER, rows)), filename=f"{kind}.csv", **kwargs)


class QuotasImportTests:
    def test_it_upserts_on_owner_and_period_and_records_who(self, cast):
        rows = [
            ["rep_a1", "", "2026-Q3", "30000"],
            ["", "Team A", "2026", "500000"],
            ["rep_a2", "", "2026-07", "9000"],
        ]
        report = run("quotas", rows, by=cast.admin)

        assert report.ok, report.errors
        assert report.created == 3
        quota = Quota.objects.get(rep=cast.rep_a1)
        assert (quota.period_kind, quota.period_start, quota.amount) == (
            "quarter",
            date(2026, 7, 1),
            Decimal("30000"),
        )
        assert quota.history.get().history_user == cast.admin
        assert set(ChangedDay.objects.values_list("day", flat=True)) == {date(2026, 7, 1), date(2026, 1, 1)}

        ChangedDay.objects.all().delete()
        again = run("quotas", rows, by=cast.admin)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
        assert ChangedDay.objects.count() == 0

        rows[0][3] = "32000"
        changed = run("quotas", rows, by=cast.admin)
        assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 2)
        assert Quota.objects.get(rep=cast.rep_a1).amount == Decimal("32000")
        assert Quota.objects.count() == 3

    def test_bad_rows_are_reported(self, cast):
        rows = [
            ["rep_a1", "Team A", "2026", "1"],
            ["", "", "2026", "1"],
            ["rep_a1", "", "2026-13", "1"],
            ["rep_a1", "", "2026", "-1"],
            ["rep_a1", "", "2026-Q1", "1"],
            ["rep_a1", "", "2026-Q1", "2"],
        ]
        report = run("quotas", rows)
        assert [(e.row, e.column) for e in report.errors] == [
            (2, "rep"),
            (3, "rep"),
            (4, "period"),
            (5, "amount"),
            (7, "period"),
        ]
        assert "row 6" in report.errors[-1].reason
        assert Quota.objects.count() == 0


class ProjectionsImportTests:
    def test_it_creates_projections(self, cast):
        report = run("projections", [["rep_b1", "", "2026-Q4", "12000.50"]])
        assert report.ok, report.errors
        assert Projection.objects.get().amount == Decimal("12000.50")
