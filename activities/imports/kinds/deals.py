"""Deals: created or updated by external id, with their stage changes."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import F
from django.utils.translation import gettext as _

from activities import rules
from activities.models import (
    Account,
    Deal,
    DealStageChange,
    Product,
    Stage,
)

from ..mapping import Record
from ..values import (
    is_empty,
    noon,
    parse_choice,
    parse_decimal,
    text,
)
from .base import (
    BATCH_SIZE,
    LABELS,
    Kind,
    RepIndex,
    _by_name,
    _create_named,
    taken_message,
)


class DealsKind(Kind):
    name = "deals"
    fields = (
        "external_id",
        "name",
        "owner",
        "account",
        "product",
        "amount",
        "stage",
        "opened_on",
        "expected_close_on",
        "closed_on",
        "revenue_type",
        "source",
        "reached_stage",
    )
    required = ("owner", "stage", "opened_on", "amount")
    creatable = ("account", "product")
    WRITE_FIELDS = (
        "name",
        "owner_id",
        "account_id",
        "product_id",
        "amount",
        "revenue_type",
        "stage_id",
        "opened_on",
        "expected_close_on",
        "closed_on",
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reps = RepIndex(by=self.by)
        self.stages = _by_name(Stage.objects.all())
        self.stages_by_id = {stage.pk: stage for stage in self.stages.values()}
        self.load_names()
        self.intro_warnings()

    def load_names(self) -> None:
        self.accounts = {name.lower(): pk for pk, name in Account.objects.values_list("id", "name")}
        self.products = {name.lower(): pk for pk, name in Product.objects.values_list("id", "name")}

    def parse(self, rec: Record) -> None:
        data = rec.data
        data["source"] = self.source(rec)
        data["external_id"] = self.external_id(rec)
        owner = self.cell(rec, "owner", lambda v: self.reps.find(text(v)), required=True)
        data["owner"] = owner
        stage = self.named(rec, "stage", self.stages, label=LABELS["stage"])
        if stage is None and not rec.has("stage"):
            self.error(rec, "stage", _("a value is required"))
        data["stage"] = stage
        reached = self.named(rec, "reached_stage", self.stages, label=LABELS["stage"])
        if reached is not None and reached.is_closed:
            self.error(
                rec, "reached_stage", _("must be an open stage (the last one before winning or losing)")
            )
        data["reached_stage"] = reached
        data["account"] = self.named(
            rec, "account", self.accounts, label=LABELS["account"], creatable="account"
        )
        data["product"] = self.named(
            rec, "product", self.products, label=LABELS["product"], creatable="product"
        )
        amount = self.cell(rec, "amount", parse_decimal)
        if amount is None and not rec.has("amount") and stage is not None:
            if stage.is_closed:
                self.error(rec, "amount", _("a won or lost deal needs its amount"))
            else:
                self.warn(rec, "amount", _("empty; the amount of this open deal is taken as 0"))
                amount = Decimal("0.00")
        data["amount"] = amount
        opened = self.date(rec, "opened_on", required=True)
        closed = self.date(rec, "closed_on")
        expected = self.date(rec, "expected_close_on", future_ok=True)
        data.update(opened_on=opened, closed_on=closed, expected_close_on=expected)
        for field, problem in (
            ("closed_on", rules.close_problem(opened, closed)),
            ("expected_close_on", rules.expected_close_problem(opened, expected)),
        ):
            if problem:
                self.error(rec, field, problem)
        problem = rules.stage_close_problem(stage, closed)
        if problem:
            self.error(rec, "closed_on", problem)
        revenue_type = Deal.RevenueType.ONE_TIME
        if rec.has("revenue_type"):
            revenue_type = self.cell(rec, "revenue_type", parse_choice, Deal.RevenueType)
        data["revenue_type"] = revenue_type
        name = self.string(rec, "name", 200)
        if not name:
            # Only used when the deal is created: an import without names keeps names edited in the app.
            parts = [str(part) for part in (rec.value("account"), rec.value("product")) if not is_empty(part)]
            name = " · ".join([*parts, data["external_id"]] if data["external_id"] else parts)[:200]
            if not name:
                self.error(rec, "name", _("a value is required (or an account, product or external id)"))
        data["name"] = name

    def plan(self, recs: list[Record]) -> None:
        existing = self.by_external_id(Deal, recs, ("id", "external_id", "source", *self.WRITE_FIELDS))
        for rec in recs:
            data = rec.data
            account, product = data["account"], data["product"]
            values = {
                "name": data["name"],
                "owner_id": data["owner"].id,
                # A NewName differs from every id, so the row counts as changed until it exists.
                "account_id": account,
                "product_id": product,
                "amount": data["amount"],
                "revenue_type": data["revenue_type"],
                "stage_id": data["stage"].pk,
                "opened_on": data["opened_on"],
                "expected_close_on": data["expected_close_on"],
                "closed_on": data["closed_on"],
            }
            obj = existing.get((data["source"], data["external_id"])) if data["external_id"] else None
            if obj is None:
                if not data["owner"].is_active:
                    self.error(rec, "owner", _("this rep is no longer active"))
                rec.action = "create"
                data["values"] = values
                continue
            if not self.reps.may_write(obj.owner_id):
                # The id is taken by a row outside the user's scope: the same words as any clash.
                self.error(rec, "external_id", taken_message(Deal))
                continue
            if not self.columns.has("name") or is_empty(rec.value("name")):
                values.pop("name")
            for name in ("account", "product", "expected_close_on", "revenue_type"):
                if not self.columns.has(name):
                    values.pop(f"{name}_id" if name in ("account", "product") else name)
            data["old_days"] = (obj.opened_on, obj.closed_on, obj.expected_close_on)
            data["old_stage_id"] = obj.stage_id
            rec.action = "update" if self.compare(obj, values) else "unchanged"
            rec.existing = obj

    def write(self, recs: list[Record]) -> None:
        creates, updates, moves = [], [], []
        for rec in recs:
            data = rec.data
            if rec.action == "create":
                obj = Deal(source=data["source"], external_id=data["external_id"], **data["values"])
                creates.append((obj, data["reached_stage"]))
            elif rec.action == "update":
                obj = rec.existing
                obj.updated_at = self.now
                updates.append(obj)
                self.days.update(data["old_days"])
                if obj.stage_id != data["old_stage_id"]:
                    to_stage = self.stages_by_id[obj.stage_id]
                    at = noon(obj.closed_on) if to_stage.is_closed and obj.closed_on else self.now
                    moves.append(self._move(obj, data["old_stage_id"], to_stage, at))
            else:
                continue
            self.days.update((obj.opened_on, obj.closed_on, obj.expected_close_on))
        Deal.objects.bulk_create([obj for obj, _ in creates], batch_size=BATCH_SIZE)
        for obj, reached in creates:
            stage = self.stages_by_id[obj.stage_id]
            if stage.is_closed and reached is not None:
                # The deal's history as far as the file tells it: opened in the last open stage it
                # reached, then won or lost on its closing day (the funnel counts how far it got).
                moves.append(self._move(obj, None, reached, noon(obj.opened_on)))
                moves.append(self._move(obj, reached.pk, stage, noon(obj.closed_on)))
            else:
                moves.append(self._move(obj, None, stage, noon(obj.opened_on)))
        if updates:
            for obj in updates:
                obj.version = F("version") + 1
            Deal.objects.bulk_update(
                updates, [*self.WRITE_FIELDS, "updated_at", "version"], batch_size=BATCH_SIZE
            )
        DealStageChange.objects.bulk_create(moves, batch_size=BATCH_SIZE)

    def _move(self, deal: Deal, from_stage_id: int | None, to_stage, at) -> DealStageChange:
        """One step of a deal's stage history, recorded as made by the importing user."""
        return DealStageChange(
            deal=deal, from_stage_id=from_stage_id, to_stage=to_stage, changed_at=at, by=self.by
        )

    def prepare_write(self) -> dict[str, int]:
        created = {}
        if self.missing["account"]:
            created["account"] = _create_named(Account, self.missing["account"])
        if self.missing["product"]:
            created["product"] = _create_named(Product, self.missing["product"])
        self.load_names()
        return created
