"""Products and accounts: the catalogue deals refer to, matched by name (any case).

A deals import can create a missing product or account by name alone
(`create_missing`); these kinds load them with their details first (a product's
category and list price, an account's sector, segment and region), and update them
when the file changes. A column absent from the file leaves that detail as it is.
Neither changes any figure, so no day is marked for the metrics.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from activities.models import Account, Product, Territory

from .kinds import BATCH_SIZE, LABELS, NAME_LENGTHS, Kind, _by_name, _create_named
from .mapping import Record
from .values import parse_choice, parse_decimal


class _CatalogKind(Kind):
    key_field = "name"
    required = ("name",)
    model = None
    NAME_LENGTH = 0
    # Fields a row sets, each written only when its column is in the file.
    DETAILS: tuple[str, ...] = ()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.load_existing()

    def load_existing(self) -> None:
        self.existing = {obj.name.lower(): obj for obj in self.model.objects.all()}

    def prepare_write(self) -> dict[str, int]:
        # Pass 1 set the new values on these objects (compare): pass 2 plans from fresh ones.
        self.load_existing()
        return {}

    def key(self, rec: Record) -> str | None:
        name = rec.data.get("name")
        return name.lower() if name else None

    def details(self, rec: Record) -> dict:
        raise NotImplementedError

    def parse(self, rec: Record) -> None:
        rec.data["name"] = self.string(rec, "name", self.NAME_LENGTH, required=True)
        rec.data["details"] = self.details(rec)

    def plan(self, recs: list[Record]) -> None:
        present = {name for name in self.DETAILS if self.columns.has(name.removesuffix("_id"))}
        for rec in recs:
            values = {name: value for name, value in rec.data["details"].items() if name in present}
            obj = self.existing.get(rec.data["name"].lower())
            if obj is None:
                rec.action = "create"
                rec.data["values"] = values
            else:
                rec.action = "update" if self.compare(obj, values) else "unchanged"
                rec.existing = obj
                rec.data["fields"] = sorted(values)

    def write(self, recs: list[Record]) -> None:
        creates = [
            self.model(name=rec.data["name"], **rec.data["values"]) for rec in recs if rec.action == "create"
        ]
        updates = [rec.existing for rec in recs if rec.action == "update"]
        self.model.objects.bulk_create(creates, batch_size=BATCH_SIZE)
        fields = sorted({name for rec in recs if rec.action == "update" for name in rec.data["fields"]})
        if updates and fields:
            self.model.objects.bulk_update(updates, fields, batch_size=BATCH_SIZE)


class ProductsKind(_CatalogKind):
    name = "products"
    fields = ("name", "category", "list_price")
    model = Product
    NAME_LENGTH = NAME_LENGTHS["product"]
    DETAILS = ("category", "list_price")

    def details(self, rec: Record) -> dict:
        price = self.cell(rec, "list_price", parse_decimal)
        if price is not None and price < 0:
            self.error(rec, "list_price", _("The list price cannot be negative."))
        return {"category": self.string(rec, "category", 100), "list_price": price}


class AccountsKind(_CatalogKind):
    name = "accounts"
    fields = ("name", "sector", "segment", "region")
    creatable = ("territory",)
    model = Account
    NAME_LENGTH = NAME_LENGTHS["account"]
    DETAILS = ("sector", "segment", "region_id")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.territories = _by_name(Territory.objects.all())

    def details(self, rec: Record) -> dict:
        segment = ""
        if rec.has("segment"):
            segment = self.cell(rec, "segment", parse_choice, Account.Segment) or ""
        region = self.named(rec, "region", self.territories, label=LABELS["territory"], creatable="territory")
        return {
            "sector": self.string(rec, "sector", 100),
            "segment": segment,
            # A NewName (created by create_missing) differs from every id: an update until it exists.
            "region_id": region if isinstance(region, str) else (region.pk if region else None),
        }

    def prepare_write(self) -> dict[str, int]:
        created = super().prepare_write()
        if self.missing["territory"]:
            created["territory"] = _create_named(Territory, self.missing["territory"])
            self.territories = _by_name(Territory.objects.all())
        return created
