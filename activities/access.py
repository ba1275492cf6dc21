"""Access rules, in one place: a user becomes the querysets they may see or edit.

- a rep sees and edits only their own activities and deals;
- a manager sees the reps of the teams they manage (read only);
- an admin (superuser or member of the `admin` group) sees everything.

Every page, API view and export starts from these functions, so that changing
an id in a URL can never reach a row outside them (the lookup simply 404s).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet

from .models import Account, Activity, Deal, Rep, Team, Territory

ROLE_REP = "rep"
ROLE_MANAGER = "manager"
ROLE_ADMIN = "admin"
ROLES = (ROLE_REP, ROLE_MANAGER, ROLE_ADMIN)


def _group_names(user) -> set[str]:
    # Cached per user object: templates and views ask several times per request.
    cached = getattr(user, "_salestrack_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._salestrack_groups = cached
    return cached


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or ROLE_ADMIN in _group_names(user)))


def is_manager(user) -> bool:
    return bool(user and user.is_authenticated and ROLE_MANAGER in _group_names(user))


def role_of(user) -> str | None:
    """The highest role of a signed-in user: admin, manager, rep, or None."""
    if is_admin(user):
        return ROLE_ADMIN
    if is_manager(user):
        return ROLE_MANAGER
    if user and user.is_authenticated and (ROLE_REP in _group_names(user) or rep_of(user)):
        return ROLE_REP
    return None


def rep_of(user) -> Rep | None:
    """The rep profile of a user, or None."""
    if not (user and user.is_authenticated):
        return None
    try:
        return user.rep
    except Rep.DoesNotExist:
        return None


def _rep_filter(user, prefix: str) -> Q | None:
    """The Q that limits `<prefix>` rep rows to those the user may see; None = all."""
    if is_admin(user):
        return None
    q = Q(**{f"{prefix}user": user}) if user.is_authenticated else Q(pk__in=[])
    if is_manager(user):
        q |= Q(**{f"{prefix}team__manager": user})
    return q


def _scoped(qs: QuerySet, user, prefix: str) -> QuerySet:
    if not (user and user.is_authenticated):
        return qs.none()
    q = _rep_filter(user, prefix)
    return qs if q is None else qs.filter(q)


def visible_reps(user) -> QuerySet[Rep]:
    return _scoped(Rep.objects.select_related("user", "team", "territory"), user, "")


def visible_teams(user) -> QuerySet[Team]:
    if not (user and user.is_authenticated):
        return Team.objects.none()
    if is_admin(user):
        return Team.objects.all()
    # The same rule as _rep_filter: naming a user as a team's manager counts only with the manager role.
    q = Q(manager=user) if is_manager(user) else Q(pk__in=[])
    rep = rep_of(user)
    if rep is not None:
        q |= Q(pk=rep.team_id)
    return Team.objects.filter(q)


def visible_territories(user) -> QuerySet[Territory]:
    """Admins see every territory; others the territories of the reps they see."""
    if not (user and user.is_authenticated):
        return Territory.objects.none()
    if is_admin(user):
        return Territory.objects.all()
    return Territory.objects.filter(
        pk__in=visible_reps(user).filter(territory__isnull=False).values("territory_id")
    )


def visible_activities(user) -> QuerySet[Activity]:
    return _scoped(Activity.objects.all(), user, "rep__")


def visible_deals(user) -> QuerySet[Deal]:
    return _scoped(Deal.objects.all(), user, "owner__")


def editable_activities(user) -> QuerySet[Activity]:
    """Only the rep who logged an activity edits it in the forms (admins use admin)."""
    rep = rep_of(user)
    return Activity.objects.filter(rep=rep) if rep else Activity.objects.none()


def editable_deals(user) -> QuerySet[Deal]:
    rep = rep_of(user)
    return Deal.objects.filter(owner=rep) if rep else Deal.objects.none()


def selectable_accounts(user) -> QuerySet[Account]:
    """Accounts are the company's shared customer list: every signed-in user picks from it."""
    if not (user and user.is_authenticated):
        return Account.objects.none()
    return Account.objects.all()


def may_create_catalogue(user) -> bool:
    """Products and accounts are the admins' (SALESTRACK_MANAGERS_CREATE_CATALOGUE lets managers add them).

    `None` is the command line without --by: whoever runs it already holds the database.
    """
    if user is None or is_admin(user):
        return True
    return is_manager(user) and settings.SALESTRACK_MANAGERS_CREATE_CATALOGUE


# What a manager imports: what their teams do. The organisation, the catalogue and the targets are
# the admins' (reps import nothing).
MANAGER_IMPORT_KINDS = ("deals", "stage_history", "activities")


def may_import(user, kind: str) -> bool:
    """Whether `user` may import files of `kind`; `None` is the command line without --by."""
    if user is None or is_admin(user):
        return True
    return is_manager(user) and kind in MANAGER_IMPORT_KINDS
