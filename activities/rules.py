"""The rules a row must meet, whoever writes it: services (forms, API, admin), imports and the demo.

Each check returns the reason a value is refused (translated, to be shown beside the field or
the import cell), or None. Callers decide how to report it: a form error, an import row error.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

# The longest notes an activity may carry (characters): a page of text, not a file pasted in.
NOTES_MAX_LENGTH = 10_000
# An activity lasts from a minute to a whole day (the model's validators and check constraint agree).
DURATION_MIN, DURATION_MAX = 1, 1440
# Money (deal amounts, quotas, projections): up to 12 digits before the point and cents after it,
# the models' DecimalField.
AMOUNT_MAX_DIGITS, AMOUNT_DECIMAL_PLACES = 14, 2


def earliest_day() -> date:
    """No date before this is plausible in a sales team's records (SALESTRACK_EARLIEST_DATE)."""
    return settings.SALESTRACK_EARLIEST_DATE


def latest_day() -> date:
    """The last day a date may name: today plus SALESTRACK_MAX_FUTURE_DAYS (in TIME_ZONE)."""
    return timezone.localdate() + timedelta(days=settings.SALESTRACK_MAX_FUTURE_DAYS)


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def too_early(day: date) -> str | None:
    if day < earliest_day():
        return _("%(day)s is before %(earliest)s, the earliest date this site accepts.") % {
            "day": day.isoformat(),
            "earliest": earliest_day().isoformat(),
        }
    return None


def day_problem(day: date | None, *, future_ok: bool = False) -> str | None:
    """Why a calendar day (a deal's dates, an activity's day) is refused, or None.

    The window keeps every figure computable: a typo such as 0226-11-01 is refused here
    instead of becoming a period nobody asked for.
    """
    if day is None:
        return None
    problem = too_early(day)
    if problem is None and not future_ok and day > latest_day():
        problem = _("%(day)s is too far in the future.") % {"day": day.isoformat()}
    return problem


def move_day_problem(day: date | None) -> str | None:
    """The first day of a rep's move to another team: in the window, and today or earlier (a
    move rewrites no period before it, and none is planned ahead)."""
    if day is None:
        return None
    problem = too_early(day)
    if problem is None and day > timezone.localdate():
        problem = _("A move takes effect today or on an earlier day.")
    return problem


def expected_close_problem(opened_on: date | None, expected: date | None) -> str | None:
    """The expected close lies between the opening day and SALESTRACK_MAX_EXPECTED_CLOSE_YEARS after it."""
    if expected is None:
        return None
    problem = too_early(expected)
    if problem or opened_on is None:
        return problem
    if expected < opened_on:
        return _("The expected close cannot be before the deal was opened.")
    if expected > add_years(opened_on, settings.SALESTRACK_MAX_EXPECTED_CLOSE_YEARS):
        return _("%(day)s is too far in the future.") % {"day": expected.isoformat()}
    return None


def close_problem(opened_on: date | None, closed_on: date | None) -> str | None:
    if opened_on and closed_on and closed_on < opened_on:
        return _("A deal cannot close before it was opened.")
    return None


def period_problem(start: date) -> str | None:
    """A target's period (quota, projection, activity target) starts inside the calendar window;
    targets may be planned up to SALESTRACK_MAX_EXPECTED_CLOSE_YEARS ahead."""
    problem = too_early(start)
    if problem is None and start > add_years(latest_day(), settings.SALESTRACK_MAX_EXPECTED_CLOSE_YEARS):
        problem = _("%(day)s is too far in the future.") % {"day": start.isoformat()}
    return problem


def duration_problem(minutes: int | None) -> str | None:
    if minutes is not None and not DURATION_MIN <= minutes <= DURATION_MAX:
        return _("The duration must lie between 1 and 1440 minutes.")
    return None


def activity_type_problem(activity_type) -> str | None:
    """A retired type may not be picked again (old entries of it stay editable: callers ask only
    for a new or changed type)."""
    if activity_type is not None and not activity_type.is_active:
        return _("This activity type is no longer in use.")
    return None


def deal_link_problem(deal_owner_id: int | None, rep_id: int | None) -> str | None:
    """An activity links only a deal of its own rep."""
    if deal_owner_id is not None and rep_id is not None and deal_owner_id != rep_id:
        return _("You can only link your own deals.")
    return None


def stage_close_problem(stage, closed_on: date | None) -> str | None:
    """A won or lost deal has its closing date; an open one has none."""
    if stage is None:
        return None
    if stage.is_closed and closed_on is None:
        return _("A won or lost deal needs its closing date.")
    if not stage.is_closed and closed_on is not None:
        return _("An open deal has no closing date.")
    return None
