"""Writes of the targets admins set. Admin views and actions call these.

Each service validates every row it writes (`full_clean()`: field validators, the
rep-xor-team and period-start rules, the one-per-owner-and-period constraints) and
writes in one transaction: a failed call leaves the database as it was. The user
who made the change is recorded in the simple_history rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from activities import rules
from activities.models import Rep, Team

from .jobs import metrics_mark_changed
from .models import Projection, Quota
from .periods import Period


@dataclass(frozen=True)
class QuotaBulkResult:
    """What a bulk quota entry did, for the message shown to the admin."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def __add__(self, other: QuotaBulkResult) -> QuotaBulkResult:
        return QuotaBulkResult(
            self.created + other.created, self.updated + other.updated, self.unchanged + other.unchanged
        )


def _target_upsert(
    model, *, rep: Rep | None, team: Team | None, period: Period, amount: Decimal, by
) -> tuple[Quota | Projection, QuotaBulkResult]:
    """Create or update the quota or projection of one owner for one period."""
    # select_for_update: two admins entering the same period wait for each other
    # instead of both creating the row and one of them failing on the constraint.
    owner = {"rep": rep} if rep is not None else {"team": team}
    row = (
        model.objects.select_for_update()
        .filter(**owner, period_kind=period.kind, period_start=period.start)
        .first()
    )
    created = row is None
    if created:
        row = model(rep=rep, team=team, period_kind=period.kind, period_start=period.start)
    elif row.amount == amount:
        # No save: a history row saying "nothing changed" would only be noise.
        return row, QuotaBulkResult(unchanged=1)
    row.amount = amount
    row._history_user = by
    row.full_clean()
    row.save()
    metrics_mark_changed(days=[period.start])
    return row, (QuotaBulkResult(created=1) if created else QuotaBulkResult(updated=1))


def _quota_upsert(
    *, rep: Rep | None, team: Team | None, period: Period, amount: Decimal, by
) -> QuotaBulkResult:
    return _target_upsert(Quota, rep=rep, team=team, period=period, amount=amount, by=by)[1]


def _check_owner(rep: Rep | None, team: Team | None, period: Period) -> None:
    if (rep is None) == (team is None):
        raise ValidationError({"rep": _("Choose either a rep or a team, not both and not neither.")})
    problem = rules.period_problem(period.start)
    if problem:
        raise ValidationError({"period": problem})


@transaction.atomic
def target_set(
    model, *, period: Period, amount: Decimal, by, rep: Rep | None = None, team: Team | None = None
) -> tuple[Quota | Projection, bool]:
    """Set the quota or projection (`model`) of one rep or team for `period`: (row, created)."""
    _check_owner(rep, team, period)
    row, result = _target_upsert(model, rep=rep, team=team, period=period, amount=amount, by=by)
    return row, bool(result.created)


@transaction.atomic
def target_delete(*, row: Quota | Projection, by) -> None:
    """Remove a quota or projection row, recording who did it, and mark its period for the engine."""
    row._history_user = by
    row.delete()
    metrics_mark_changed(days=[row.period_start])


@transaction.atomic
def quota_set(
    *, period: Period, amount: Decimal, by, rep: Rep | None = None, team: Team | None = None
) -> QuotaBulkResult:
    """Set the quota of one rep or one team for `period` (create or update)."""
    _check_owner(rep, team, period)
    return _quota_upsert(rep=rep, team=team, period=period, amount=amount, by=by)


@transaction.atomic
def quota_set_for_team_reps(
    *,
    team: Team,
    period: Period,
    amount: Decimal,
    by,
    team_amount: Decimal | None = None,
) -> QuotaBulkResult:
    """Give every active rep of `team` the quota `amount` for `period`, all or nothing.

    Existing quotas of those reps for exactly that period are updated, missing ones
    created. With `team_amount`, the team's own quota for the period is set too
    (without it, the team's quota stays the sum of its reps').
    """
    _check_owner(None, team, period)
    reps = list(Rep.objects.filter(team=team, is_active=True).select_related("user").order_by("pk"))
    if not reps and team_amount is None:
        raise ValidationError({"team": _("%(team)s has no active reps.") % {"team": team}})
    result = QuotaBulkResult()
    for rep in reps:
        result += _quota_upsert(rep=rep, team=None, period=period, amount=amount, by=by)
    if team_amount is not None:
        result += _quota_upsert(rep=None, team=team, period=period, amount=team_amount, by=by)
    return result
