"""What each kind of import accepts, how a row is checked, and how a batch is written.

The rules repeat those of `activities.services` and `metrics.services` (which work
one row at a time, too slowly for a million rows): every row is checked in the
first pass, and the second pass writes whole batches with bulk_create and
bulk_update. A kind works on batches of `Record`s:

- `parse(record)`: turn the cells into values and check the rules of the row alone;
- `plan(records)`: look up what exists (one query per batch) and decide, per row,
  "create", "update" or "unchanged", checking the rules that need the database;
- `write(records)`: write the batch (second pass only) and note the touched days.

A kind that `spools` (activities) instead turns each checked batch into a compact,
picklable `spool(records)` in the first pass, and the second pass hands those back
to `write_spooled(batch)` without reading the file again.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from activities import rules
from activities.access import ROLE_REP
from activities.models import (
    Account,
    Activity,
    ActivityType,
    Deal,
    DealStageChange,
    Product,
    Rep,
    Source,
    Stage,
    Team,
    Territory,
)
from metrics.periods import Period

from .mapping import Record
from .values import (
    is_empty,
    noon,
    parse_bool,
    parse_choice,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    text,
)
from .writer import RowWriter

BATCH_SIZE = 1000
# The longest name of what create_missing may create (the models' max_length).
NAME_LENGTHS = {"account": 200, "product": 120, "team": 100, "territory": 100}
# Translated when an error is shown, not once per row.
LABELS = {
    name: gettext_lazy(name) for name in ("activity type", "account", "stage", "product", "territory", "team")
}
DEFAULT_SOURCE = Source.CRM
# The catalogue (products, accounts) is the admins': what a row of another user names must exist.
NOT_IN_CATALOGUE = {
    "account": gettext_lazy("Account '%(name)s' is not in the catalogue; ask an admin to add it"),
    "product": gettext_lazy("Product '%(name)s' is not in the catalogue; ask an admin to add it"),
}
AMBIGUOUS = object()


class NewName(str):
    """A name that does not exist yet and will be created by the import (create_missing)."""


class RepRef(NamedTuple):
    id: int
    is_active: bool
    team_id: int


class RepIndex:
    """The reps a file may name, findable by username, e-mail or full name (any case).

    For a user who is not an admin only the reps they may see (activities.access) are
    indexed: a rep outside their teams is "not found" in exactly the words of one that
    does not exist, and a name is ambiguous only when two of *their* reps share it.
    `by=None` (the command line without --by) and admins index every rep.
    """

    def __init__(self, *, by=None):
        from activities.access import is_admin, visible_reps

        scoped = by is not None and not is_admin(by)
        self.by_username: dict[str, RepRef] = {}
        self.by_email: dict = {}
        self.by_name: dict = {}
        # The reps whose rows the importing user may write (None: all).
        self.allowed: set[int] | None = set() if scoped else None
        self.not_found = (
            _("no rep with this username, e-mail or full name in your teams")
            if scoped
            else _("no rep with this username, e-mail or full name")
        )
        rows = (visible_reps(by) if scoped else Rep.objects.all()).values_list(
            "id",
            "is_active",
            "team_id",
            "user__username",
            "user__email",
            "user__first_name",
            "user__last_name",
        )
        for rep_id, active, team_id, username, email, first, last in rows:
            ref = RepRef(rep_id, active, team_id)
            if self.allowed is not None:
                self.allowed.add(rep_id)
            self.by_username[username.lower()] = ref
            for index, key in ((self.by_email, email), (self.by_name, f"{first} {last}")):
                key = " ".join(key.lower().split())
                if key:
                    index[key] = AMBIGUOUS if key in index and index[key] != ref else ref

    def find(self, value: str) -> RepRef:
        key = " ".join(value.lower().split())
        for index in (self.by_username, self.by_email, self.by_name):
            ref = index.get(key)
            if ref is AMBIGUOUS:
                raise ValueError(_("more than one rep has this name or e-mail; use the username"))
            if ref is not None:
                return ref
        raise ValueError(self.not_found)

    def may_write(self, rep_id: int) -> bool:
        return self.allowed is None or rep_id in self.allowed

    def scope(self, queryset, field: str = "owner_id"):
        """`queryset` kept to the rows of the indexed reps: what lies outside is never looked at."""
        return queryset if self.allowed is None else queryset.filter(**{f"{field}__in": self.allowed})


def taken_message(model) -> str:
    """The one answer to an external id that is already used, whoever's row it names.

    It is the message of the model's unique constraint, which the API's writes give too
    (services' full_clean), so a row outside the caller's scope reads exactly as any other
    clash: the external id is taken, and nothing about the row, its rep or its values.
    """
    for constraint in model._meta.constraints:
        if "external_id" in getattr(constraint, "fields", ()):
            return str(constraint.get_violation_error_message())
    raise LookupError(f"{model.__name__} has no unique constraint on external_id")


def _by_name(queryset) -> dict:
    return {obj.name.lower(): obj for obj in queryset}


class Kind:
    name = ""
    fields: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    required_one_of: tuple[tuple[str, ...], ...] = ()
    creatable: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    key_field = "external_id"
    # Pass 2 writes what pass 1 spooled (spool/write_spooled) instead of reading and checking again.
    spools = False

    def __init__(self, *, report, mapping, columns, by):
        self.report = report
        self.mapping = mapping
        self.columns = columns
        self.by = by
        self.now = timezone.now()
        self.tz = timezone.get_current_timezone()
        self.days: set[date] = set()
        # Names to create before writing (create_missing), lower-case -> as written.
        self.missing: dict[str, dict[str, str]] = {name: {} for name in self.creatable}
        from activities.access import may_create_catalogue

        self.creates_catalogue = may_create_catalogue(by)

    # --- helpers ---------------------------------------------------------------

    def error(self, rec: Record, name: str, reason: str) -> None:
        self.report.add_error(rec.row, rec.column(name), rec.value(name), reason)
        rec.ok = False

    def warn(self, rec: Record, name: str, reason: str) -> None:
        self.report.add_warning(rec.row, rec.column(name), rec.value(name), reason)

    def cell(self, rec: Record, name: str, parser, *args, required: bool = False, **kwargs):
        cell = rec.cells.get(name)  # rec.value() and is_empty(), inlined: this runs for every cell
        value = cell[1] if cell else None
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.error(rec, name, _("a value is required"))
            return None
        try:
            return parser(value, *args, **kwargs)
        except ValueError as exc:
            self.error(rec, name, str(exc))
            return None

    def string(self, rec: Record, name: str, max_length: int | None = None, *, required=False) -> str:
        return self.cell(rec, name, text, max_length=max_length, required=required) or ""

    def date(self, rec: Record, name: str, *, required=False, future_ok=False) -> date | None:
        day = self.cell(rec, name, parse_date, self.mapping.date_format, required=required)
        problem = rules.day_problem(day, future_ok=future_ok)
        if problem:
            self.error(rec, name, problem)
        return day

    def moment(self, rec: Record, name: str, *, required=False) -> datetime | None:
        """An aware datetime (a date alone: noon), not in the far future."""
        moment = self.cell(
            rec,
            name,
            parse_datetime,
            self.mapping.date_format,
            self.mapping.datetime_format,
            self.tz,
            required=required,
        )
        problem = rules.day_problem(moment.astimezone(self.tz).date()) if moment is not None else None
        if problem:
            self.error(rec, name, problem)
        return moment

    def named(self, rec: Record, name: str, index: dict, *, label: str, creatable: str | None = None):
        """An object of `index` by its name; a missing one is a NewName when create_missing allows it."""
        raw = self.string(rec, name)
        if not raw:
            return None
        obj = index.get(raw.lower())
        if obj is not None:
            return obj
        if creatable in NOT_IN_CATALOGUE and not self.creates_catalogue:
            # Whatever the mapping asks (create_missing): nothing is written, the row says why.
            self.error(rec, name, NOT_IN_CATALOGUE[creatable] % {"name": raw})
            return None
        if creatable and creatable in self.mapping.create_missing:
            limit = NAME_LENGTHS[creatable]
            if len(raw) > limit:
                self.error(rec, name, _("longer than %(max)s characters") % {"max": limit})
                return None
            self.missing[creatable].setdefault(raw.lower(), raw)
            return NewName(raw)
        hint = (
            _(' (or allow "create_missing": ["%(what)s"] in the mapping)') % {"what": creatable}
            if creatable
            else ""
        )
        self.error(rec, name, _("no %(label)s with this name%(hint)s") % {"label": label, "hint": hint})
        return None

    def source(self, rec: Record) -> str:
        value = rec.value("source")
        if is_empty(value):
            return DEFAULT_SOURCE
        try:
            return parse_choice(value, Source)
        except ValueError as exc:
            self.error(rec, "source", str(exc))
            return DEFAULT_SOURCE

    def external_id(self, rec: Record) -> str:
        value = self.string(rec, "external_id", 100)
        if not value and self.columns.has("external_id"):
            self.warn(
                rec, "external_id", _("no external id: importing this file again would duplicate the row")
            )
        return value

    def intro_warnings(self) -> None:
        if "external_id" in self.fields and not self.columns.has("external_id"):
            self.report.add_warning(
                1,
                "external_id",
                "",
                _("no external_id column: every row is created, and importing the file again duplicates it"),
            )

    @staticmethod
    def by_external_id(model, recs: list[Record], only: tuple[str, ...]) -> dict:
        wanted = defaultdict(list)
        for rec in recs:
            if rec.data.get("external_id"):
                wanted[rec.data["source"]].append(rec.data["external_id"])
        found = {}
        for source, ids in wanted.items():
            # exclude(external_id="") repeats the condition of the partial unique index, so that
            # the database uses it instead of scanning the table once per batch.
            rows = model.objects.filter(source=source, external_id__any_of=ids).exclude(external_id="")
            for obj in rows.only(*only).order_by():
                found[(source, obj.external_id)] = obj
        return found

    # --- the protocol --------------------------------------------------------------

    def check(self, batch: list[Record]) -> None:
        for rec in batch:
            self.parse(rec)
        self.plan([rec for rec in batch if rec.ok])

    def key(self, rec: Record) -> str | None:
        ext = rec.data.get("external_id")
        return f"{rec.data['source']}\x1f{ext}" if ext else None

    def parse(self, rec: Record) -> None:
        raise NotImplementedError

    def plan(self, recs: list[Record]) -> None:
        raise NotImplementedError

    def write(self, recs: list[Record]) -> None:
        raise NotImplementedError

    def spool(self, recs: list[Record]):
        """The checked rows to create or update, as a picklable batch for write_spooled."""
        raise NotImplementedError

    def write_spooled(self, batch) -> None:
        raise NotImplementedError

    def after_check(self) -> None:
        """After pass 1 (dry runs too): checks that need every row of the file."""

    def close(self) -> None:
        """The import is over (written, refused or failed): release what the kind holds."""

    def would_create(self) -> dict[str, int]:
        return {name: len(names) for name, names in self.missing.items() if names}

    def prepare_write(self) -> dict[str, int]:
        """Create what create_missing allows, before the second pass reads the file again."""
        return {}

    def finish(self) -> None:
        from metrics.jobs import metrics_mark_changed

        metrics_mark_changed(days=self.days)

    @staticmethod
    def compare(obj, values: dict) -> bool:
        """Set `values` on `obj`; True when something changed."""
        changed = False
        for name, value in values.items():
            if getattr(obj, name) != value:
                setattr(obj, name, value)
                changed = True
        return changed


def _create_named(model, names: dict[str, str], **extra) -> int:
    objs = [model(name=name, **extra) for name in names.values()]
    model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
    return len(objs)


# --- activities -------------------------------------------------------------------------


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
        if duration is not None and not 1 <= duration <= 1440:
            self.error(rec, "duration_minutes", _("the duration must lie between 1 and 1440 minutes"))
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
                if deal[1] != data["rep_id"]:
                    self.error(
                        rec,
                        "deal",
                        _("the deal belongs to another rep; only a rep's own deals can be linked"),
                    )
                    continue
                values["deal_id"] = deal[0]
                if account is None:
                    values["account_id"] = deal[2]
            obj = existing.get((data["source"], data["external_id"])) if data["external_id"] else None
            if obj is None:
                rec.action = "create"
                if not data["type"].is_active:
                    self.error(rec, "type", _("this activity type is no longer in use"))
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
            if changed and obj.type_id != old_type and not data["type"].is_active:
                self.error(rec, "type", _("this activity type is no longer in use"))
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


# --- deals ----------------------------------------------------------------------------


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
        if stage is not None:
            if stage.is_closed and closed is None:
                self.error(rec, "closed_on", _("a won or lost deal needs its closing date"))
            if not stage.is_closed and closed is not None:
                self.error(rec, "closed_on", _("an open deal has no closing date"))
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
                    moves.append(
                        DealStageChange(
                            deal=obj,
                            from_stage_id=data["old_stage_id"],
                            to_stage=to_stage,
                            changed_at=at,
                            by=self.by,
                        )
                    )
            else:
                continue
            self.days.update((obj.opened_on, obj.closed_on, obj.expected_close_on))
        Deal.objects.bulk_create([obj for obj, _ in creates], batch_size=BATCH_SIZE)
        for obj, reached in creates:
            stage = self.stages_by_id[obj.stage_id]
            if stage.is_closed and reached is not None:
                # The deal's history as far as the file tells it: opened in the last open stage it
                # reached, then won or lost on its closing day (the funnel counts how far it got).
                moves.append(
                    DealStageChange(
                        deal=obj,
                        from_stage=None,
                        to_stage=reached,
                        changed_at=noon(obj.opened_on),
                        by=self.by,
                    )
                )
                moves.append(
                    DealStageChange(
                        deal=obj,
                        from_stage=reached,
                        to_stage=stage,
                        changed_at=noon(obj.closed_on),
                        by=self.by,
                    )
                )
            else:
                moves.append(
                    DealStageChange(
                        deal=obj, from_stage=None, to_stage=stage, changed_at=noon(obj.opened_on), by=self.by
                    )
                )
        if updates:
            for obj in updates:
                obj.version = F("version") + 1
            Deal.objects.bulk_update(
                updates, [*self.WRITE_FIELDS, "updated_at", "version"], batch_size=BATCH_SIZE
            )
        DealStageChange.objects.bulk_create(moves, batch_size=BATCH_SIZE)

    def prepare_write(self) -> dict[str, int]:
        created = {}
        if self.missing["account"]:
            created["account"] = _create_named(Account, self.missing["account"])
        if self.missing["product"]:
            created["product"] = _create_named(Product, self.missing["product"])
        self.load_names()
        return created


# --- reps -------------------------------------------------------------------------------


def username_from_name(full_name: str) -> str:
    """'Mei-Mei Johns' -> 'mei-mei.johns': lower case ASCII, words joined by dots."""
    ascii_name = unicodedata.normalize("NFKD", full_name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", ascii_name.lower())
    return ".".join(word.replace("'", "") for word in words)[:150]


class RepsKind(Kind):
    name = "reps"
    fields = (
        "username",
        "email",
        "first_name",
        "last_name",
        "full_name",
        "team",
        "territory",
        "manager",
        "hired_on",
        "is_active",
    )
    options = ("email_domain",)
    required = ("team",)
    required_one_of = (("username", "email", "full_name"),)
    creatable = ("team", "territory")
    key_field = "username"
    USER_FIELDS = ("email", "first_name", "last_name")
    REP_FIELDS = ("team_id", "territory_id", "hired_on", "is_active")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.load_names()
        self.managers: dict[str, object] = {}
        # For teams created by the import: their territory and manager, from their first row.
        self.new_team_details: dict[str, dict] = {}
        self.username_validator = UnicodeUsernameValidator()

    def load_names(self) -> None:
        self.teams = _by_name(Team.objects.all())
        self.territories = _by_name(Territory.objects.all())

    def find_manager(self, value: str):
        key = value.lower()
        if key not in self.managers:
            user_model = get_user_model()
            found = list(user_model.objects.filter(Q(username__iexact=key) | Q(email__iexact=key))[:2])
            self.managers[key] = found[0] if len(found) == 1 else None
        if self.managers[key] is None:
            raise ValueError(_("no single user with this username or e-mail"))
        return self.managers[key]

    def key(self, rec: Record) -> str | None:
        username = rec.data.get("username")
        return username.lower() if username else None

    def parse(self, rec: Record) -> None:
        data = rec.data
        full_name = self.string(rec, "full_name", 300)
        first = self.string(rec, "first_name", 150)
        last = self.string(rec, "last_name", 150)
        if full_name and not (first or last):
            first, _sep, last = full_name.partition(" ")
            if len(first) > 150 or len(last) > 150:
                self.error(rec, "full_name", _("longer than %(max)s characters") % {"max": 150})
        email = self.string(rec, "email", 254)
        username = self.string(rec, "username", 150) or email or username_from_name(full_name)
        if not username:
            self.error(rec, "username", _("a username, e-mail or full name is required"))
        else:
            try:
                self.username_validator(username)
            except ValidationError as exc:
                self.error(rec, "username", " ".join(exc.messages))
        domain = text(rec.value("email_domain"))
        if not email and domain and username:
            email = f"{username}@{domain}"
        if email:
            try:
                validate_email(email)
            except ValidationError:
                self.error(rec, "email", _("not a valid e-mail address"))
        territory = self.named(
            rec, "territory", self.territories, label=LABELS["territory"], creatable="territory"
        )
        team = self.named(rec, "team", self.teams, label=LABELS["team"], creatable="team")
        if team is None and not rec.has("team"):
            self.error(rec, "team", _("a value is required"))
        manager = self.cell(rec, "manager", lambda v: self.find_manager(text(v)))
        if isinstance(team, NewName):
            self.new_team_details.setdefault(team.lower(), {"territory": territory, "manager": manager})
        elif team is not None and manager is not None and team.manager_id != manager.pk:
            self.warn(rec, "manager", _("the team exists with another manager; its manager was not changed"))
        data.update(
            username=username,
            email=email,
            first_name=first,
            last_name=last,
            team=team,
            territory=territory,
            hired_on=self.date(rec, "hired_on", future_ok=True),
            is_active=True if not rec.has("is_active") else self.cell(rec, "is_active", parse_bool),
        )

    def plan(self, recs: list[Record]) -> None:
        users = {
            user.username.lower(): user
            for user in get_user_model()
            .objects.filter(username__in=[rec.data["username"] for rec in recs])
            .select_related("rep")
        }
        for rec in recs:
            data = rec.data
            team, territory = data["team"], data["territory"]
            team_id = team if isinstance(team, NewName) else team.pk
            if territory is None:
                territory_id = None if isinstance(team, NewName) else team.territory_id
            else:
                territory_id = territory if isinstance(territory, NewName) else territory.pk
            rep_values = {
                "team_id": team_id,
                "territory_id": territory_id,
                "hired_on": data["hired_on"],
                "is_active": data["is_active"],
            }
            user_values = {name: data[name] for name in self.USER_FIELDS}
            user = users.get(data["username"].lower())
            if user is None:
                rec.action = "create"
                data["rep_values"], data["user_values"] = rep_values, user_values
                continue
            rep = getattr(user, "rep", None)
            if rep is None:
                self.error(rec, "username", _("this user exists but is not a rep"))
                continue
            # Fields the file does not give are left as they are.
            sources = {
                "email": ("email", "email_domain"),
                "first_name": ("first_name", "full_name"),
                "last_name": ("last_name", "full_name"),
            }
            for name, columns in sources.items():
                if not any(self.columns.has(column) for column in columns):
                    user_values.pop(name)
            for name in ("hired_on", "is_active"):
                if not self.columns.has(name):
                    rep_values.pop(name)
            if not self.columns.has("territory"):
                rep_values.pop("territory_id")
            old = (rep.team_id, rep.territory_id, rep.is_active)
            user_changed = self.compare(user, user_values)
            rep_changed = self.compare(rep, rep_values)
            data["org_changed"] = old != (rep.team_id, rep.territory_id, rep.is_active)
            rec.action = "update" if user_changed or rep_changed else "unchanged"
            rec.existing = (user, rep, user_changed, rep_changed)

    def write(self, recs: list[Record]) -> None:
        user_model = get_user_model()
        new_users, new_reps = [], []
        changed_users, changed_reps = [], []
        for rec in recs:
            data = rec.data
            if rec.action == "create":
                user = user_model(username=data["username"], **data["user_values"])
                user.set_unusable_password()
                new_users.append(user)
                values = dict(data["rep_values"])
                if values["territory_id"] is None:
                    values["territory_id"] = self.teams_by_id[values["team_id"]].territory_id
                new_reps.append((user, values))
            elif rec.action == "update":
                user, rep, user_changed, rep_changed = rec.existing
                if user_changed:
                    changed_users.append(user)
                if rep_changed:
                    changed_reps.append(rep)
                if data["org_changed"]:
                    self.org_changed = True
        user_model.objects.bulk_create(new_users, batch_size=BATCH_SIZE)
        group = Group.objects.get(name=ROLE_REP)
        through = user_model.groups.through
        through.objects.bulk_create(
            [through(user_id=user.pk, group_id=group.pk) for user in new_users], batch_size=BATCH_SIZE
        )
        Rep.objects.bulk_create(
            [Rep(user=user, **values) for user, values in new_reps], batch_size=BATCH_SIZE
        )
        if changed_users:
            user_model.objects.bulk_update(changed_users, list(self.USER_FIELDS), batch_size=BATCH_SIZE)
        if changed_reps:
            Rep.objects.bulk_update(changed_reps, list(self.REP_FIELDS), batch_size=BATCH_SIZE)

    def prepare_write(self) -> dict[str, int]:
        created = {}
        if self.missing["territory"]:
            created["territory"] = _create_named(Territory, self.missing["territory"])
            self.load_names()
        if self.missing["team"]:
            teams = []
            for key, name in self.missing["team"].items():
                details = self.new_team_details.get(key, {})
                territory = details.get("territory")
                if territory is not None:
                    territory = (
                        self.territories[territory.lower()] if isinstance(territory, str) else territory
                    )
                teams.append(Team(name=name, territory=territory, manager=details.get("manager")))
            Team.objects.bulk_create(teams)
            created["team"] = len(teams)
            self.load_names()
        self.teams_by_id = {team.pk: team for team in self.teams.values()}
        self.org_changed = False
        return created

    def finish(self) -> None:
        from metrics.jobs import metrics_mark_all_periods

        # A rep changing team, territory or activity moves figures in every period.
        if getattr(self, "org_changed", False):
            metrics_mark_all_periods()


# --- quotas and projections -------------------------------------------------------------


class TargetsKind(Kind):
    fields = ("rep", "team", "period", "amount")
    required = ("period", "amount")
    required_one_of = (("rep", "team"),)
    key_field = "period"
    model = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reps = RepIndex(by=self.by)
        self.teams = _by_name(Team.objects.all())

    def key(self, rec: Record) -> str | None:
        data = rec.data
        owner = f"r{data['rep_id']}" if data.get("rep_id") else f"t{data.get('team_id')}"
        return f"{owner}|{data['period'].kind}|{data['period'].start}" if data.get("period") else None

    def parse(self, rec: Record) -> None:
        data = rec.data
        rep = self.cell(rec, "rep", lambda v: self.reps.find(text(v)))
        team = self.named(rec, "team", self.teams, label=LABELS["team"])
        if rec.has("rep") == rec.has("team"):
            self.error(rec, "rep", _("give either a rep or a team, not both and not neither"))
        data["rep_id"] = rep.id if rep else None
        data["team_id"] = team.pk if team else None
        data["period"] = period = self.cell(rec, "period", Period.parse, required=True)
        problem = rules.period_problem(period.start) if period else None
        if problem:
            self.error(rec, "period", problem)
        data["amount"] = self.cell(rec, "amount", parse_decimal, required=True)

    def plan(self, recs: list[Record]) -> None:
        starts = {rec.data["period"].start for rec in recs}
        rep_ids = {rec.data["rep_id"] for rec in recs if rec.data["rep_id"]}
        team_ids = {rec.data["team_id"] for rec in recs if rec.data["team_id"]}
        existing = {}
        rows = self.model.objects.filter(period_start__in=starts).filter(
            Q(rep_id__in=rep_ids) | Q(team_id__in=team_ids)
        )
        for obj in rows:
            owner = f"r{obj.rep_id}" if obj.rep_id else f"t{obj.team_id}"
            existing[f"{owner}|{obj.period_kind}|{obj.period_start}"] = obj
        for rec in recs:
            obj = existing.get(self.key(rec))
            if obj is None:
                rec.action = "create"
            else:
                rec.action = "update" if self.compare(obj, {"amount": rec.data["amount"]}) else "unchanged"
                rec.existing = obj

    def write(self, recs: list[Record]) -> None:
        from simple_history.utils import bulk_create_with_history, bulk_update_with_history

        creates, updates = [], []
        for rec in recs:
            data = rec.data
            if rec.action == "create":
                period = data["period"]
                creates.append(
                    self.model(
                        rep_id=data["rep_id"],
                        team_id=data["team_id"],
                        period_kind=period.kind,
                        period_start=period.start,
                        amount=data["amount"],
                    )
                )
            elif rec.action == "update":
                updates.append(rec.existing)
            else:
                continue
            self.days.add(data["period"].start)
        if creates:
            bulk_create_with_history(creates, self.model, batch_size=BATCH_SIZE, default_user=self.by)
        if updates:
            bulk_update_with_history(
                updates, self.model, ["amount"], batch_size=BATCH_SIZE, default_user=self.by
            )


class QuotasKind(TargetsKind):
    name = "quotas"

    @property
    def model(self):
        from metrics.models import Quota

        return Quota


class ProjectionsKind(TargetsKind):
    name = "projections"

    @property
    def model(self):
        from metrics.models import Projection

        return Projection
