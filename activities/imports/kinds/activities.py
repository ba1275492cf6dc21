"""Activities: rows checked in the first pass, spooled, and written without reading the file again."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import F
from django.utils.translation import gettext as _

from activities import rules
from activities.models import (
    Account,
    Activity,
    ActivityType,
    Deal,
)

from ..mapping import Record
from ..values import (
    parse_int,
    text,
)
from ..writer import RowWriter
from .base import (
    BATCH_SIZE,
    LABELS,
    Kind,
    NewName,
    RepIndex,
    _by_name,
    _create_named,
    taken_message,
)


class ActivitiesKind(Kind):
    name = "activities"
    fields = (
        "external_id",
        "rep",
        "type",
        "occurred_at",
        "duration_minutes",
        "deal",
        "account",
        "outcome",
        "notes",
        "source",
    )
    required = ("rep", "type", "occurred_at")
    creatable = ("account",)
    spools = True
    WRITE_FIELDS = (
        "rep_id",
        "type_id",
        "occurred_at",
        "duration_minutes",
        "deal_id",
        "account_id",
        "outcome",
        "notes",
    )
    # A spooled new row: WRITE_FIELDS, then its identity.
    CREATE_FIELDS = (*WRITE_FIELDS, "source", "external_id")
    ACCOUNT = WRITE_FIELDS.index("account_id")
    OCCURRED = WRITE_FIELDS.index("occurred_at")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reps = RepIndex(by=self.by)
        self.types = _by_name(ActivityType.objects.all())
        self.accounts = {name.lower(): pk for pk, name in Account.objects.values_list("id", "name")}
        self.inserter = RowWriter(Activity, self.CREATE_FIELDS)
        self.intro_warnings()

    def parse(self, rec: Record) -> None:
        data = rec.data
        data["source"] = self.source(rec)
        data["external_id"] = self.external_id(rec)
        rep = self.cell(rec, "rep", lambda v: self.reps.find(text(v)), required=True)
        data["rep_id"] = rep.id if rep else None
        kind = self.named(rec, "type", self.types, label=LABELS["activity type"])
        if kind is None and not rec.has("type"):
            self.error(rec, "type", _("a value is required"))
        data["type"] = kind
        data["occurred_at"] = self.moment(rec, "occurred_at", required=True)
        duration = self.cell(rec, "duration_minutes", parse_int)
        problem = rules.duration_problem(duration)
        if problem:
            self.error(rec, "duration_minutes", problem)
        if duration is None and kind is not None:
            duration = kind.default_duration
        data["duration_minutes"] = duration
        data["deal_ref"] = self.string(rec, "deal", 100)
        data["account"] = self.named(
            rec, "account", self.accounts, label=LABELS["account"], creatable="account"
        )
        data["outcome"] = self.string(rec, "outcome", 200)
        data["notes"] = self.string(rec, "notes", rules.NOTES_MAX_LENGTH)

    def plan(self, recs: list[Record]) -> None:
        refs = defaultdict(set)
        for rec in recs:
            if rec.data["deal_ref"]:
                refs[rec.data["source"]].add(rec.data["deal_ref"])
        deals = {}
        for source, ids in refs.items():
            # Only the deals of the reps the user may see: another's reads as no deal at all.
            rows = self.reps.scope(
                Deal.objects.filter(source=source, external_id__any_of=ids).exclude(external_id="").order_by()
            )
            for ext, pk, owner_id, account_id in rows.values_list(
                "external_id", "id", "owner_id", "account_id"
            ):
                deals[(source, ext)] = (pk, owner_id, account_id)
        existing = self.by_external_id(Activity, recs, ("id", "external_id", "source", *self.WRITE_FIELDS))
        keep_if_absent = ["duration_minutes", "deal", "account", "outcome", "notes"]
        for rec in recs:
            data = rec.data
            account = data["account"]
            values = {
                "rep_id": data["rep_id"],
                "type_id": data["type"].pk,
                "occurred_at": data["occurred_at"],
                "duration_minutes": data["duration_minutes"],
                "deal_id": None,
                "account_id": None if isinstance(account, NewName) else account,
                "outcome": data["outcome"],
                "notes": data["notes"],
            }
            if data["deal_ref"]:
                deal = deals.get((data["source"], data["deal_ref"]))
                if deal is None:
                    self.error(
                        rec,
                        "deal",
                        _("no deal with this external id (source %(source)s)") % {"source": data["source"]},
                    )
                    continue
                problem = rules.deal_link_problem(deal[1], data["rep_id"])
                if problem:
                    self.error(rec, "deal", problem)
                    continue
                values["deal_id"] = deal[0]
                if account is None:
                    values["account_id"] = deal[2]
            obj = existing.get((data["source"], data["external_id"])) if data["external_id"] else None
            if obj is None:
                rec.action = "create"
                problem = rules.activity_type_problem(data["type"])
                if problem:
                    self.error(rec, "type", problem)
                data["values"] = values
                continue
            if not self.reps.may_write(obj.rep_id):
                # The id is taken by a row outside the user's scope: the same words as any clash.
                self.error(rec, "external_id", taken_message(Activity))
                continue
            for name in keep_if_absent:
                if not self.columns.has(name):
                    values.pop(f"{name}_id" if name in ("deal", "account") else name, None)
            if isinstance(account, NewName):
                values["account_id"] = account  # differs from any id: an update
            old_day = obj.occurred_at.astimezone(self.tz).date()
            old_type = obj.type_id
            changed = self.compare(obj, values)
            problem = rules.activity_type_problem(data["type"]) if obj.type_id != old_type else None
            if changed and problem:
                self.error(rec, "type", problem)
            rec.action = "update" if changed else "unchanged"
            rec.existing = obj
            data["old_day"] = old_day

    def spool(self, recs: list[Record]):
        """(creates, updates): a tuple of CREATE_FIELDS per new row; (activity, old day) per update.

        An account that create_missing will create stays a NewName until write_spooled.
        """
        creates, updates = [], []
        for rec in recs:
            data = rec.data
            if rec.action == "create":
                values = data["values"]
                if isinstance(data["account"], NewName):
                    values = {**values, "account_id": data["account"]}
                creates.append(
                    (*(values[name] for name in self.WRITE_FIELDS), data["source"], data["external_id"])
                )
            else:
                updates.append((rec.existing, data["old_day"]))
        return creates, updates

    def write_spooled(self, batch) -> None:
        creates, updates = batch
        tz, days, accounts = self.tz, self.days, self.accounts
        for row in creates:
            account = row[self.ACCOUNT]
            if isinstance(account, NewName):
                row = (*row[: self.ACCOUNT], accounts[account.lower()], *row[self.ACCOUNT + 1 :])
            self.inserter.add(row)
            days.add(row[self.OCCURRED].astimezone(tz).date())
        if updates:
            objs = []
            for obj, old_day in updates:
                if isinstance(obj.account_id, NewName):
                    obj.account_id = accounts[obj.account_id.lower()]
                obj.updated_at = self.now
                obj.version = F("version") + 1  # an open edit form of it is now stale
                objs.append(obj)
                days.add(old_day)
                days.add(obj.occurred_at.astimezone(tz).date())
            Activity.objects.bulk_update(
                objs, [*self.WRITE_FIELDS, "updated_at", "version"], batch_size=BATCH_SIZE
            )

    def finish(self) -> None:
        self.inserter.flush()
        super().finish()

    def prepare_write(self) -> dict[str, int]:
        created = {}
        if self.missing["account"]:
            created["account"] = _create_named(Account, self.missing["account"])
            self.accounts = {name.lower(): pk for pk, name in Account.objects.values_list("id", "name")}
        return created
