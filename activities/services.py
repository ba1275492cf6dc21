"""Writes of what reps log. Views, the API, imports and admin actions call these.

Each service validates the whole object (field validators, model constraints and
the business rules below), then writes in one transaction: a failed call leaves
the database as it was.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from metrics.jobs import activity_days, deal_days, metrics_mark_changed, metrics_mark_move

from . import rules
from .models import (
    Account,
    Activity,
    ActivityType,
    Deal,
    DealStageChange,
    Product,
    Rep,
    RepAssignment,
    Source,
    Stage,
)


def _check(errors: dict, field: str, problem: str | None) -> None:
    if problem:
        errors.setdefault(field, []).append(problem)


class StaleVersion(Exception):
    """An edit made from an older version of the row than the stored one; nothing was written.

    `current` is the row as stored now, so the caller can show what changed.
    """

    def __init__(self, current):
        super().__init__(f"{type(current).__name__} {current.pk} is at version {current.version}")
        self.current = current


def _check_version(row, version: int | None) -> None:
    """`version`, when the caller knows one, must be the locked row's; every save bumps it."""
    if version is not None and version != row.version:
        raise StaleVersion(row)
    row.version += 1


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def _validate(instance, errors: dict, exclude=None) -> None:
    """full_clean() and our own checks, reported together, field by field."""
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    _raise(errors)


# --- activities -------------------------------------------------------------


def _activity_rules(activity: Activity, *, new_type: bool = True) -> dict:
    errors: dict = {}
    if activity.occurred_at is not None:
        if timezone.is_naive(activity.occurred_at):
            activity.occurred_at = timezone.make_aware(activity.occurred_at)
        _check(errors, "occurred_at", rules.day_problem(timezone.localtime(activity.occurred_at).date()))
    if new_type and activity.type_id:
        _check(errors, "type", rules.activity_type_problem(activity.type))
    if activity.deal_id:
        _check(errors, "deal", rules.deal_link_problem(activity.deal.owner_id, activity.rep_id))
    return errors


@transaction.atomic
def activity_log(
    *,
    rep: Rep,
    type: ActivityType,
    occurred_at: datetime | None = None,
    duration_minutes: int | None = None,
    deal: Deal | None = None,
    account: Account | None = None,
    outcome: str = "",
    notes: str = "",
    source: str = Source.MANUAL,
    external_id: str = "",
) -> Activity:
    """Log an activity; `occurred_at` defaults to now, the duration to the type's default."""
    activity = Activity(
        rep=rep,
        type=type,
        occurred_at=occurred_at or timezone.now(),
        duration_minutes=duration_minutes if duration_minutes is not None else type.default_duration,
        deal=deal,
        account=account or (deal.account if deal else None),
        outcome=outcome,
        notes=notes,
        source=source,
        external_id=external_id,
    )
    _validate(activity, _activity_rules(activity))
    activity.save()
    metrics_mark_changed(days=activity_days([activity]), rep_ids=[activity.rep_id])
    return activity


_ACTIVITY_EDITABLE = {"type", "occurred_at", "duration_minutes", "deal", "account", "outcome", "notes"}


@transaction.atomic
def activity_update(*, activity: Activity, version: int | None = None, **fields) -> Activity:
    """Edit an activity; with `version` (the one the editor started from) a newer stored row
    raises StaleVersion instead of being overwritten."""
    unknown = set(fields) - _ACTIVITY_EDITABLE
    if unknown:
        raise TypeError(f"activity_update() cannot change {sorted(unknown)}")
    # Work on a fresh copy so a rejected update leaves the caller's object untouched.
    updated = Activity.objects.select_for_update().get(pk=activity.pk)
    _check_version(updated, version)
    stored_type_id = updated.type_id
    stored_days = activity_days([updated])
    for name, value in fields.items():
        setattr(updated, name, value)
    _validate(updated, _activity_rules(updated, new_type=updated.type_id != stored_type_id))
    updated.save()
    metrics_mark_changed(days=stored_days + activity_days([updated]), rep_ids=[updated.rep_id])
    return updated


@transaction.atomic
def activity_delete(*, activity: Activity) -> None:
    rep_id = activity.rep_id
    activity.delete()
    metrics_mark_changed(days=activity_days([activity]), rep_ids=[rep_id])


# --- deals ------------------------------------------------------------------


def _deal_rules(deal: Deal) -> dict:
    errors: dict = {}
    _check(errors, "opened_on", rules.day_problem(deal.opened_on))
    _check(errors, "closed_on", rules.day_problem(deal.closed_on))
    _check(errors, "expected_close_on", rules.expected_close_problem(deal.opened_on, deal.expected_close_on))
    _check(errors, "closed_on", rules.close_problem(deal.opened_on, deal.closed_on))
    if deal.stage_id:
        _check(errors, "closed_on", rules.stage_close_problem(deal.stage, deal.closed_on))
    if deal.owner_id and not deal.owner.is_active and deal._state.adding:
        errors.setdefault("owner", []).append(_("This rep is no longer active."))
    return errors


def first_open_stage() -> Stage:
    stage = Stage.objects.filter(kind=Stage.Kind.OPEN).order_by("order").first()
    if stage is None:
        raise ValidationError({"stage": _("The pipeline has no open stage; ask an admin.")})
    return stage


@transaction.atomic
def deal_open(
    *,
    owner: Rep,
    name: str,
    amount: Decimal,
    opened_on: date | None = None,
    stage: Stage | None = None,
    account: Account | None = None,
    product: Product | None = None,
    revenue_type: str = Deal.RevenueType.ONE_TIME,
    expected_close_on: date | None = None,
    closed_on: date | None = None,
    source: str = Source.MANUAL,
    external_id: str = "",
    by=None,
    opened_at: datetime | None = None,
) -> Deal:
    """Open a deal (in the first open stage unless told) and record its first stage."""
    deal = Deal(
        owner=owner,
        name=name,
        amount=amount,
        opened_on=opened_on or timezone.localdate(),
        stage=stage or first_open_stage(),
        account=account,
        product=product,
        revenue_type=revenue_type,
        expected_close_on=expected_close_on,
        closed_on=closed_on,
        source=source,
        external_id=external_id,
    )
    _validate(deal, _deal_rules(deal))
    deal.save()
    metrics_mark_changed(days=deal_days([deal]), rep_ids=[deal.owner_id])
    DealStageChange.objects.create(
        deal=deal,
        from_stage=None,
        to_stage=deal.stage,
        changed_at=opened_at or timezone.now(),
        by=by,
    )
    return deal


_DEAL_EDITABLE = {"name", "amount", "account", "product", "revenue_type", "expected_close_on", "opened_on"}


@transaction.atomic
def deal_update(*, deal: Deal, version: int | None = None, **fields) -> Deal:
    """Edit a deal's details (StaleVersion as activity_update). Its stage only changes through
    deal_move_stage()."""
    unknown = set(fields) - _DEAL_EDITABLE
    if unknown:
        raise TypeError(f"deal_update() cannot change {sorted(unknown)}")
    updated = Deal.objects.select_for_update().get(pk=deal.pk)
    _check_version(updated, version)
    stored_days = deal_days([updated])
    for name, value in fields.items():
        setattr(updated, name, value)
    _validate(updated, _deal_rules(updated))
    updated.save()
    metrics_mark_changed(days=stored_days + deal_days([updated]), rep_ids=[updated.owner_id])
    return updated


@transaction.atomic
def deal_move_stage(
    *,
    deal: Deal,
    to_stage: Stage,
    by,
    closed_on: date | None = None,
    amount: Decimal | None = None,
    changed_at: datetime | None = None,
    version: int | None = None,
) -> Deal:
    """Move a deal to another stage and record the move.

    Entering a won or lost stage sets closed_on (today unless given) and may
    confirm the final amount; moving back to an open stage reopens the deal.
    Moves of one deal are serialised by the lock on its row: each starts from the stage
    the previous one left (never from the caller's copy) and is stamped after it.
    """
    # The deal's row alone, without a join: after waiting for another move, PostgreSQL re-checks a
    # locked row against the join, and with the stage it joined then (the old one) it would find
    # no deal at all (DoesNotExist); a join would also lock the stage, serialising every move into it.
    locked = Deal.objects.select_for_update().get(pk=deal.pk)
    _check_version(locked, version)
    if locked.stage_id == to_stage.pk:
        raise ValidationError({"to_stage": _("The deal is already in this stage.")})
    from_stage = locked.stage
    # Both the old and the new closing day change figures; so does the cohort of the opening day.
    stored_days = deal_days([locked])
    locked.stage = to_stage
    if to_stage.is_closed:
        locked.closed_on = closed_on or timezone.localdate()
        if amount is not None:
            locked.amount = amount
    else:
        problem = rules.stage_close_problem(to_stage, closed_on)
        if problem:
            raise ValidationError({"closed_on": problem})
        locked.closed_on = None
        if amount is not None:
            locked.amount = amount
    _validate(locked, _deal_rules(locked))
    locked.save()
    metrics_mark_changed(days=stored_days + deal_days([locked]), rep_ids=[locked.owner_id])
    DealStageChange.objects.create(
        deal=locked,
        from_stage=from_stage,
        to_stage=to_stage,
        changed_at=changed_at or timezone.now(),
        by=by,
    )
    return locked


@transaction.atomic
def deal_delete(*, deal: Deal) -> None:
    # Activities keep their history; they just lose the link (SET_NULL).
    owner_id = deal.owner_id
    deal.delete()
    metrics_mark_changed(days=deal_days([deal]), rep_ids=[owner_id])


# --- upserts by external id (the API's bulk endpoints) ------------------------------------

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


def _changes(row, fields: dict, updatable) -> dict:
    return {name: fields[name] for name in updatable if name in fields and getattr(row, name) != fields[name]}


@transaction.atomic
def activity_upsert(
    *, existing: Activity | None, rep: Rep, source: str, external_id: str, fields: dict, updatable
) -> tuple[Activity, str]:
    """Log a new activity, or update `existing` (the caller's row with this external id) with
    those of `fields` named in `updatable` that differ; the row and created/updated/unchanged."""
    if existing is None:
        return activity_log(rep=rep, source=source, external_id=external_id, **fields), CREATED
    changes = _changes(existing, fields, updatable)
    if not changes:
        return existing, UNCHANGED
    return activity_update(activity=existing, **changes), UPDATED


@transaction.atomic
def deal_upsert(
    *, existing: Deal | None, owner: Rep, by, source: str, external_id: str, fields: dict, updatable
) -> tuple[Deal, str]:
    """Open a new deal, or update `existing` as activity_upsert does; a different `stage` in
    `fields` is a recorded move (deal_move_stage, with `closed_on` when closing)."""
    if existing is None:
        return deal_open(owner=owner, by=by, source=source, external_id=external_id, **fields), CREATED
    status = UNCHANGED
    changes = _changes(existing, fields, updatable)
    if changes:
        existing, status = deal_update(deal=existing, **changes), UPDATED
    stage = fields.get("stage")
    if stage is not None and stage.pk != existing.stage_id:
        existing = deal_move_stage(deal=existing, to_stage=stage, by=by, closed_on=fields.get("closed_on"))
        status = UPDATED
    return existing, status


# --- people -----------------------------------------------------------------


@transaction.atomic
def user_set_role(*, user, role: str) -> None:
    """Put a user in exactly one of the role groups (rep, manager, admin).

    Admins also get staff status, so they can open Django admin; a user who is
    no longer an admin loses it (superusers keep theirs).
    """
    from django.contrib.auth.models import Group

    from .access import ROLES

    if role not in ROLES:
        raise ValidationError({"role": _("Unknown role %(role)s.") % {"role": role}})
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLES)}
    user.groups.remove(*[g for name, g in groups.items() if name != role])
    user.groups.add(groups[role])
    is_staff = role == "admin" or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    user.__dict__.pop("_salestrack_groups", None)


@transaction.atomic
def rep_create(
    *,
    username: str,
    team,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    password: str | None = None,
    territory=None,
    hired_on: date | None = None,
) -> Rep:
    """Create a user with the rep role and their rep profile."""
    from django.contrib.auth import get_user_model

    user = get_user_model()(username=username, email=email, first_name=first_name, last_name=last_name)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    _validate(user, {}, exclude=["password"])
    user.save()
    user_set_role(user=user, role="rep")
    rep = Rep(user=user, team=team, territory=territory or team.territory, hired_on=hired_on)
    _validate(rep, {})
    rep.save()
    RepAssignment.objects.create(rep=rep, team=rep.team, territory=rep.territory, starts_on=None)
    return rep


_UNSET = object()


@transaction.atomic
def rep_move(
    *, rep: Rep, team, territory=_UNSET, from_day: date | None = None, by=None
) -> RepAssignment | None:
    """Move a rep to `team` (and `territory`: by default the team's) from `from_day` (default today).

    Credit at the time: periods before that day keep the rep's figures where they were; from it
    on (until a later move, if one was recorded) they count for the new team. A move on a day
    that already has one replaces it (a correction). Returns the assignment in effect from that
    day, or None when nothing changes. Only periods from that day on are recomputed.
    """
    today = timezone.localdate()
    from_day = from_day or today
    territory = team.territory if territory is _UNSET else territory
    errors: dict = {}
    _check(errors, "from_day", rules.move_day_problem(from_day))
    _raise(errors)
    rep = Rep.objects.select_for_update().get(pk=rep.pk)  # moves of one rep one after the other
    history = list(rep.assignments.order_by(F("starts_on").asc(nulls_first=True)))
    if not history:  # a rep from before assignments were recorded: their team so far, from the start
        history = [RepAssignment.objects.create(rep=rep, team=rep.team, territory=rep.territory)]
    in_effect = [a for a in history if a.starts_on is None or a.starts_on <= from_day][-1:] or history[:1]
    current = in_effect[0]
    if (current.team_id, current.territory_id) == (team.pk, territory.pk if territory else None):
        return None
    if current.starts_on == from_day:
        current.team, current.territory, current.recorded_by = team, territory, by
        current.save(update_fields=["team", "territory", "recorded_by"])
        assignment = current
    else:
        assignment = RepAssignment.objects.create(
            rep=rep, team=team, territory=territory, starts_on=from_day, recorded_by=by
        )
    today_assignment = [
        a
        for a in rep.assignments.order_by(F("starts_on").asc(nulls_first=True))
        if a.starts_on is None or a.starts_on <= today
    ][-1]
    Rep.objects.filter(pk=rep.pk).update(team=today_assignment.team, territory=today_assignment.territory)
    metrics_mark_move(rep_id=rep.pk, from_day=from_day)
    return assignment
