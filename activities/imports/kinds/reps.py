"""Reps: their users, teams and territories."""

from __future__ import annotations

import re
import unicodedata

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q
from django.utils.translation import gettext as _

from activities import rules, services
from activities.access import ROLE_REP
from activities.models import (
    Rep,
    RepAssignment,
    Team,
    Territory,
)

from ..mapping import Record
from ..values import (
    parse_bool,
    parse_date,
    text,
)
from .base import (
    BATCH_SIZE,
    LABELS,
    Kind,
    NewName,
    _by_name,
    _create_named,
)

# A move without a territory column: to the new team's territory.
_TEAMS_TERRITORY = object()


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
        "moved_on",
    )
    options = ("email_domain",)
    required = ("team",)
    required_one_of = (("username", "email", "full_name"),)
    creatable = ("team", "territory")
    key_field = "username"
    USER_FIELDS = ("email", "first_name", "last_name")
    REP_FIELDS = ("hired_on", "is_active")

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
        moved_on = self.cell(rec, "moved_on", parse_date, self.mapping.date_format)
        if rules.move_day_problem(moved_on):
            self.error(rec, "moved_on", rules.move_day_problem(moved_on))
        data.update(
            username=username,
            email=email,
            first_name=first,
            last_name=last,
            team=team,
            territory=territory,
            hired_on=self.date(rec, "hired_on", future_ok=True),
            moved_on=moved_on,
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
            # A new team or territory is a move (services.rep_move): from `moved_on`, else today.
            team_id, territory_id = rep_values.pop("team_id"), rep_values.pop("territory_id")
            if not self.columns.has("territory"):
                territory_id = rep.territory_id if team_id == rep.team_id else _TEAMS_TERRITORY
            data["move"] = None
            if (team_id, territory_id) != (rep.team_id, rep.territory_id):
                data["move"] = (team_id, territory_id, data["moved_on"])
            elif data["moved_on"] is not None:
                self.warn(rec, "moved_on", _("the rep's team and territory are unchanged: no move"))
            user_changed = self.compare(user, user_values)
            rep_changed = self.compare(rep, rep_values)
            rec.action = "update" if user_changed or rep_changed or data["move"] else "unchanged"
            rec.existing = (user, rep, user_changed, rep_changed)

    def write(self, recs: list[Record]) -> None:
        user_model = get_user_model()
        new_users, new_reps = [], []
        changed_users, changed_reps, moves = [], [], []
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
                if data["move"]:
                    moves.append((rep, *data["move"]))
        user_model.objects.bulk_create(new_users, batch_size=BATCH_SIZE)
        group = Group.objects.get(name=ROLE_REP)
        through = user_model.groups.through
        through.objects.bulk_create(
            [through(user_id=user.pk, group_id=group.pk) for user in new_users], batch_size=BATCH_SIZE
        )
        reps = Rep.objects.bulk_create(
            [Rep(user=user, **values) for user, values in new_reps], batch_size=BATCH_SIZE
        )
        RepAssignment.objects.bulk_create(
            [RepAssignment(rep=rep, team_id=rep.team_id, territory_id=rep.territory_id) for rep in reps],
            batch_size=BATCH_SIZE,
        )
        if changed_users:
            user_model.objects.bulk_update(changed_users, list(self.USER_FIELDS), batch_size=BATCH_SIZE)
        if changed_reps:
            Rep.objects.bulk_update(changed_reps, list(self.REP_FIELDS), batch_size=BATCH_SIZE)
        for rep, team_id, territory_id, moved_on in moves:
            team = self.teams[team_id.lower()] if isinstance(team_id, NewName) else self.teams_by_id[team_id]
            if territory_id is _TEAMS_TERRITORY:
                territory = team.territory
            elif isinstance(territory_id, NewName):
                territory = self.territories[territory_id.lower()]
            else:
                territory = Territory.objects.get(pk=territory_id) if territory_id else None
            services.rep_move(rep=rep, team=team, territory=territory, from_day=moved_on, by=self.by)

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
        return created
