"""The parts every kind of import shares: the rep index, the Kind protocol and its helpers."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import NamedTuple

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from activities import rules
from activities.models import (
    Rep,
    Source,
)

from ..mapping import Record
from ..values import (
    is_empty,
    parse_choice,
    parse_date,
    parse_datetime,
    text,
)

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
