"""Quotas and projections: an amount per rep or team and period."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _

from activities import rules
from activities.models import (
    Team,
)
from metrics.periods import Period

from ..mapping import Record
from ..values import (
    parse_decimal,
    text,
)
from .base import (
    BATCH_SIZE,
    LABELS,
    Kind,
    RepIndex,
    _by_name,
)


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
