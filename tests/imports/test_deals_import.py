"""Deals import: rules of the deal services, stage history, idempotent re-imports."""

import io
from datetime import date
from decimal import Decimal

from activities.imports import run_import
from activities.models import Account, Deal, DealStageChange, Product
from metrics.models import ChangedDay
from tests.factories import ProductFactory, stage

from .helpers import csv_bytes

HEADER = ["external_id", "owner", "account", "product", "amount", "stage", "opened_on", "closed_on"]


def run(header, rows, **kwargs):
    kwargs.setdefault("filename", "deals.csv")
    return run_import("deals", io.BytesIO(csv_bytes(header, rows)), **kwargs)


def history(deal):
    return [
        (c.from_stage.name if c.from_stage else None, c.to_stage.name, c.changed_at.date())
        for c in DealStageChange.objects.filter(deal=deal).order_by("changed_at", "id")
    ]


class DealsImportTests:
    def test_it_creates_deals_with_their_first_stage_recorded(self, cast):
        ProductFactory(name="Widget")
        rows = [
            ["D1", "rep_a1", "", "Widget", "1000", "Lead", "2026-02-01", ""],
            ["D2", "rep_a2", "", "Widget", "250.50", "Won", "2026-02-01", "2026-03-15"],
        ]
        report = run(HEADER, rows, by=cast.admin)

        assert report.ok, report.errors
        assert report.created == 2
        won = Deal.objects.get(external_id="D2")
        assert (won.stage.name, won.amount, won.closed_on) == ("Won", Decimal("250.50"), date(2026, 3, 15))
        assert history(won) == [(None, "Won", date(2026, 2, 1))]
        assert DealStageChange.objects.get(deal=won).by == cast.admin
        assert {date(2026, 2, 1), date(2026, 3, 15)} <= set(ChangedDay.objects.values_list("day", flat=True))

    def test_a_closed_deal_with_the_stage_it_reached_gets_two_moves(self, cast):
        header = [*HEADER, "reached_stage"]
        report = run(header, [["D1", "rep_a1", "", "", "0", "Lost", "2026-02-01", "2026-03-01", "SQL"]])
        assert report.ok, report.errors
        deal = Deal.objects.get(external_id="D1")
        assert history(deal) == [(None, "SQL", date(2026, 2, 1)), ("SQL", "Lost", date(2026, 3, 1))]

    def test_reimport_is_a_no_op_and_a_changed_stage_is_a_recorded_move(self, cast):
        rows = [["D1", "rep_a1", "", "", "1000", "Lead", "2026-02-01", ""]]
        run(HEADER, rows)
        ChangedDay.objects.all().delete()

        again = run(HEADER, rows)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
        assert ChangedDay.objects.count() == 0

        moved = run(
            HEADER, [["D1", "rep_a1", "", "", "1200", "Won", "2026-02-01", "2026-03-10"]], by=cast.admin
        )
        assert (moved.created, moved.updated, moved.unchanged) == (0, 1, 0)
        deal = Deal.objects.get(external_id="D1")
        assert (deal.stage.name, deal.amount) == ("Won", Decimal("1200.00"))
        assert history(deal) == [(None, "Lead", date(2026, 2, 1)), ("Lead", "Won", date(2026, 3, 10))]
        assert set(ChangedDay.objects.values_list("day", flat=True)) == {date(2026, 2, 1), date(2026, 3, 10)}

    def test_the_rules_of_the_deal_services_are_checked(self, cast):
        rows = [
            ["D1", "rep_a1", "", "", "-5", "Lead", "2026-02-01", ""],
            ["D2", "rep_a1", "", "", "5", "Won", "2026-02-01", "2026-01-01"],
            ["D3", "rep_a1", "", "", "5", "Won", "2026-02-01", ""],
            ["D4", "rep_a1", "", "", "5", "Lead", "2026-02-01", "2026-03-01"],
            ["D5", "rep_a1", "", "", "5", "Maybe", "2026-02-01", ""],
            ["D6", "Nobody Known", "", "", "5", "Lead", "2026-02-01", ""],
            ["D7", "rep_a1", "", "", "5", "Lead", "2099-02-01", ""],
            ["D8", "rep_a1", "Unknown Inc", "", "5", "Lead", "2026-02-01", ""],
            ["D9", "rep_a1", "", "", "", "Won", "2026-02-01", "2026-03-01"],
        ]
        report = run(HEADER, rows)

        assert [(e.row, e.column) for e in report.errors] == [
            (2, "amount"),
            (3, "closed_on"),
            (4, "closed_on"),
            (5, "closed_on"),
            (6, "stage"),
            (7, "owner"),
            (8, "opened_on"),
            (9, "account"),
            (10, "amount"),
        ]
        assert "negative" in report.errors[0].reason
        assert "before it was opened" in report.errors[1].reason
        assert "create_missing" in report.errors[7].reason
        assert Deal.objects.count() == 0

    def test_an_open_deal_without_amount_is_zero_with_a_warning(self, cast):
        report = run(HEADER, [["D1", "rep_a1", "", "", "", "SQL", "2026-02-01", ""]])
        assert report.ok
        assert Deal.objects.get().amount == 0
        assert [(w.row, w.column) for w in report.warnings] == [(2, "amount")]

    def test_create_missing_makes_accounts_and_products_and_a_dry_run_counts_them(self, cast):
        rows = [
            ["D1", "rep_a1", "Acme", "Gizmo", "10", "Lead", "2026-02-01", ""],
            ["D2", "rep_a1", "acme", "Gizmo", "10", "Lead", "2026-02-01", ""],
        ]
        mapping = {"create_missing": ["account", "product"]}
        dry = run(HEADER, rows, mapping=mapping, dry_run=True)
        assert dry.ok and dry.related_created == {"account": 1, "product": 1}
        assert Account.objects.count() == 0

        report = run(HEADER, rows, mapping=mapping)
        assert report.ok and report.related_created == {"account": 1, "product": 1}
        assert Deal.objects.filter(account__name="Acme", product__name="Gizmo").count() == 2
        assert Product.objects.count() == 1

    def test_a_new_deal_of_an_inactive_rep_is_refused(self, cast):
        cast.rep_a2.is_active = False
        cast.rep_a2.save()
        report = run(HEADER, [["D1", "rep_a2", "", "", "10", "Lead", "2026-02-01", ""]])
        assert [(e.row, e.column) for e in report.errors] == [(2, "owner")]

    def test_revenue_type_and_source_accept_labels(self, cast):
        header = [*HEADER, "revenue_type", "source"]
        rows = [["D1", "rep_a1", "", "", "10", "Lead", "2026-02-01", "", "one-time", "E-commerce"]]
        report = run(header, rows)
        assert report.ok, report.errors
        deal = Deal.objects.get()
        assert (deal.revenue_type, deal.source) == ("one_time", "ecommerce")
        assert stage("Lead") == deal.stage
