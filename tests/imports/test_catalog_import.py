"""Products and accounts import: by name, details only where the file has the column."""

import io
from decimal import Decimal

from activities.imports import run_import
from activities.models import Account, Product, Territory
from metrics.models import ChangedDay

from .helpers import csv_bytes


def run(kind, header, rows, **kwargs):
    kwargs.setdefault("filename", f"{kind}.csv")
    return run_import(kind, io.BytesIO(csv_bytes(header, rows)), **kwargs)


class ProductsImportTests:
    def test_products_are_created_then_updated_by_name_in_any_case(self, db):
        header = ["name", "category", "list_price"]
        report = run("products", header, [["Widget", "Tools", "99.50"], ["Gadget", "", ""]])
        assert report.ok and report.created == 2
        assert Product.objects.get(name="Widget").list_price == Decimal("99.50")
        assert Product.objects.get(name="Gadget").list_price is None

        again = run("products", header, [["WIDGET", "Tools", "99.5"], ["Gadget", "", "10"]])

        assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
        assert Product.objects.get(name="Gadget").list_price == Decimal("10")
        assert Product.objects.count() == 2
        assert ChangedDay.objects.count() == 0  # no figure depends on a product's details

    def test_an_absent_column_leaves_the_detail_as_it_is(self, db):
        Product.objects.create(name="Widget", category="Tools", list_price=Decimal("5"))
        report = run("products", ["name", "list_price"], [["Widget", "7"]])
        assert report.updated == 1
        widget = Product.objects.get()
        assert (widget.category, widget.list_price) == ("Tools", Decimal("7"))

    def test_bad_rows_are_reported_and_nothing_is_written(self, db):
        header = ["name", "category", "list_price"]
        rows = [["Widget", "", "-1"], ["", "Tools", "3"], ["Gadget", "", "cheap"], ["widget", "", "1"]]
        report = run("products", header, rows)

        assert {(e.row, e.column) for e in report.errors} == {
            (2, "list_price"),
            (3, "name"),
            (4, "list_price"),
        }  # row 5 repeats row 2's name, but row 2 is already refused
        assert "negative" in next(e.reason for e in report.errors if e.row == 2)
        assert Product.objects.count() == 0

    def test_the_same_name_twice_in_a_file_is_an_error(self, db):
        report = run("products", ["name"], [["Widget"], ["Gadget"], ["widget"]])
        assert [(e.row, e.column, e.value) for e in report.errors] == [(4, "name", "widget")]
        assert "the same name is already on row 2" in report.errors[0].reason
        assert Product.objects.count() == 0


class AccountsImportTests:
    def test_accounts_with_sector_segment_and_region(self, db):
        Territory.objects.create(name="North")
        header = ["name", "sector", "segment", "region"]
        rows = [["Acme", "retail", "Enterprise", "north"], ["Globex", "", "smb", ""]]
        report = run("accounts", header, rows)

        assert report.ok, report.errors
        acme = Account.objects.select_related("region").get(name="Acme")
        assert (acme.sector, acme.segment, acme.region.name) == ("retail", "enterprise", "North")
        assert Account.objects.get(name="Globex").region is None

    def test_an_unknown_region_is_an_error_unless_created(self, db):
        header = ["name", "region"]
        report = run("accounts", header, [["Acme", "Atlantis"]])
        assert [(e.row, e.column, e.value) for e in report.errors] == [(2, "region", "Atlantis")]
        assert "create_missing" in report.errors[0].reason

        report = run("accounts", header, [["Acme", "Atlantis"]], mapping={"create_missing": ["territory"]})
        assert report.ok and report.related_created == {"territory": 1}
        assert Account.objects.get().region.name == "Atlantis"

        again = run("accounts", header, [["Acme", "Atlantis"]], mapping={"create_missing": ["territory"]})
        assert (again.unchanged, again.related_created) == (1, {})

    def test_a_bad_segment_names_the_choices(self, db):
        report = run("accounts", ["name", "segment"], [["Acme", "huge"]])
        assert [(e.row, e.column) for e in report.errors] == [(2, "segment")]
        assert "enterprise" in report.errors[0].reason
        assert Account.objects.count() == 0
