"""Alerts for managers: reps behind pace, reps with no activity, funnel leaks.

Read paths only: the dashboard (`{% include "metrics/includes/alerts.html" %}`) and the
daily digest call `alerts_for(reps=..., teams=...)` with querysets the caller has
already scoped with `activities.access`. Figures come from the summary tables only
(PeriodMetric, PeriodFunnel, RepDayActivity), in three queries whatever the number of
reps or teams.

The choices the metric contract leaves open:

- **The period**: the calendar period the page shows (a month, quarter or year), or for
  another span (a week, a day, a range) the month it ends in, capped at today's month;
  the digest, with no span, the month containing `today`.
- **Behind pace**: active reps with an attainment in the period (so a quota > 0) whose
  pace = attainment ÷ (days of the period elapsed up to and including today ÷ days of
  the period) is below 100 %. None in the period's first SALESTRACK_PACE_GRACE_DAYS days
  (one early win reads 200 %, a slow first day 0 %), none for a period not begun; for a
  period that is over, the reps who ended it below quota (pace = attainment). Worst pace
  first. "high" severity below 50 %.
- **Inactive**: about now, so only while the period is under way. The window is the N
  working days (Monday to Friday, N = settings.SALESTRACK_INACTIVE_WORKING_DAYS) *ending
  yesterday*: today is still under way, so a rep who has not logged anything yet at 9:00
  is not flagged. A rep is inactive when no RepDayActivity row falls between the
  window's first day and today (an activity on a weekend inside the window counts). Reps
  hired on or after the window's first day are skipped, and so are reps not marked
  active. "high" severity when nothing was logged in twice the window (or ever). No
  activity ever logged first, then the oldest last activity.
- **Leakage**: per team, the stage of the period's funnel (cohort = deals opened in the
  period) with the highest leakage among stages that at least LEAKAGE_MIN_REACHED deals
  reached, so a handful of deals does not raise an alarm. A team is reported when that
  leakage is at least LEAKAGE_THRESHOLD (50 %); at most LEAKAGE_MAX_TEAMS teams, worst
  first. "high" severity from 80 %. Early in a month the cohort is young and its deals
  have not moved yet, so leakage reads high; the minimum reach damps that a little.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from activities.models import Rep, Team
from activities.templatetags.salestrack import EMPTY, label

from . import formulas
from .models import PeriodFunnel, PeriodMetric, RepDayActivity, Scope
from .periods import Period, PeriodKind
from .selectors import scope_name, user_name
from .spans import Span

BEHIND_PACE, INACTIVE, LEAKAGE = "behind_pace", "inactive", "leakage"
KINDS = (BEHIND_PACE, INACTIVE, LEAKAGE)  # the order alerts are listed in
KIND_LABELS = {
    BEHIND_PACE: gettext_lazy("Behind pace"),
    INACTIVE: gettext_lazy("No activity logged"),
    LEAKAGE: gettext_lazy("Funnel leaks"),
}
HIGH, MEDIUM = "high", "medium"

PACE_HIGH_BELOW = 0.5
LEAKAGE_MIN_REACHED = 5
LEAKAGE_THRESHOLD = 0.5
LEAKAGE_HIGH_FROM = 0.8
LEAKAGE_MAX_TEAMS = 3


@dataclass(frozen=True)
class Alert:
    """One thing a manager should look at, with its message already translated.

    `value` is the figure the alert is about: the pace (a fraction) for behind_pace,
    the leakage (a fraction) for leakage, the last activity day (or None) for inactive.
    `url` is relative (a dashboard); the digest makes it absolute.
    """

    kind: str
    severity: str
    subject: str
    message: str
    url: str
    rep_id: int | None = None
    team_id: int | None = None
    value: float | date | None = None

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS[self.kind])

    @property
    def is_high(self) -> bool:
        return self.severity == HIGH


def percent(fraction: float | None) -> str:
    """`0.426` → `43 %` in the active locale; undefined → `—`."""
    if fraction is None:
        return EMPTY
    # Translators: a percentage, e.g. "43 %".
    return gettext("%(number)s %%") % {"number": formats.number_format(round(fraction * 100), 0)}


def rep_url(rep_id: int) -> str:
    return reverse("dashboard_scope", kwargs={"scope": Scope.REP, "scope_id": rep_id})


def team_url(team_id: int) -> str:
    return reverse("dashboard_scope", kwargs={"scope": Scope.TEAM, "scope_id": team_id})


def working_days_before(day: date, count: int) -> list[date]:
    """The `count` working days (Monday to Friday) before `day`, oldest first."""
    found: list[date] = []
    current = day
    while len(found) < count:
        current -= timedelta(days=1)
        if current.weekday() < 5:
            found.append(current)
    return found[::-1]


class Alerts(list):
    """A list of alerts; `totals` counts every alert of each kind, also those beyond a limit."""

    def __init__(self, alerts, totals: dict[str, int]):
        super().__init__(alerts)
        self.totals = totals

    @property
    def more(self) -> dict[str, int]:
        """How many alerts of each kind were left out by the limit."""
        shown = {kind: sum(1 for alert in self if alert.kind == kind) for kind in KINDS}
        return {kind: self.totals.get(kind, 0) - shown[kind] for kind in KINDS}


def alert_period(span: Span | None, today: date) -> Period:
    """The calendar period alerts are about: the span's own, else the month it ends in (no
    later than today's); without a span, the month containing `today`."""
    if span is None:
        return Period.containing(today, PeriodKind.MONTH)
    if span.period is not None:
        return span.period
    return Period.containing(min(span.last, today), PeriodKind.MONTH)


def alerts_for(
    *,
    reps: QuerySet[Rep],
    teams: QuerySet[Team],
    today: date | None = None,
    limit: int | None = None,
    span: Span | None = None,
) -> Alerts:
    """The alerts about these reps and teams on `today` (default: today in TIME_ZONE), over
    the period of `span` (alert_period).

    Ordered by kind (behind pace, inactive, leakage), then worst first. With `limit`, only
    the worst `limit` of each kind are built (a company dashboard of a thousand reps shows
    ten), and `totals` still counts them all: one more query per kind, always, so the number
    of queries does not depend on the data.
    """
    today = today or timezone.localdate()
    period = alert_period(span, today)
    behind, behind_total = _behind_pace(reps, period, today, limit)
    if period.start <= today <= period.last_day:
        inactive, inactive_total = _inactive(reps, today, limit)
    else:
        inactive, inactive_total = [], 0
    leaks = _leakage(teams, period)
    totals = {BEHIND_PACE: behind_total, INACTIVE: inactive_total, LEAKAGE: len(leaks)}
    return Alerts([*behind, *inactive, *leaks], totals)


def _limited(rows: QuerySet, order: list, limit: int | None) -> tuple[QuerySet | list, int | None]:
    """The rows to build alerts from, and the count of all of them (counted only with a limit)."""
    if limit is None:
        return rows, None
    # Ties in the same order as the full list's: by name, then id.
    ordered = rows.annotate(sort_name=user_name("user__")).order_by(*order, "sort_name", "pk")
    return ordered[:limit], rows.count()


def in_pace_grace(period: Period, today: date) -> bool:
    """Whether `today` lies in the period's first SALESTRACK_PACE_GRACE_DAYS days (or before
    it): too early for anyone to be called behind pace."""
    return (today - period.start).days < settings.SALESTRACK_PACE_GRACE_DAYS


def _behind_pace(
    reps: QuerySet[Rep], period: Period, today: date, limit: int | None
) -> tuple[list[Alert], int]:
    if in_pace_grace(period, today):
        return [], 0
    share = Span.of_period(period).elapsed_share(today)
    over = share >= 1
    attainment = PeriodMetric.objects.filter(
        scope=Scope.REP,
        scope_id=OuterRef("pk"),
        period_kind=period.kind,
        period_start=period.start,
    ).values("attainment")[:1]
    rows = (
        reps.filter(is_active=True)
        .annotate(period_attainment=Subquery(attainment))
        .filter(period_attainment__isnull=False, period_attainment__lt=share)
        .select_related("user")
    )
    rows, total = _limited(rows, ["period_attainment"], limit)
    label = Span.of_period(period).label
    alerts = []
    for rep in rows:
        pace = formulas.pace(rep.period_attainment, share)
        values = {
            "rep": rep.name,
            "attainment": percent(rep.period_attainment),
            "elapsed": percent(share),
            "pace": percent(pace),
            "period": label,
        }
        if over:
            message = gettext("%(rep)s ended %(period)s at %(attainment)s of quota.") % values
        else:
            message = (
                gettext(
                    "%(rep)s is at %(attainment)s of the quota for %(period)s with %(elapsed)s of it "
                    "gone: pace %(pace)s."
                )
                % values
            )
        alerts.append(
            Alert(
                kind=BEHIND_PACE,
                severity=HIGH if pace < PACE_HIGH_BELOW else MEDIUM,
                subject=rep.name,
                message=message,
                url=rep_url(rep.pk),
                rep_id=rep.pk,
                team_id=rep.team_id,
                value=pace,
            )
        )
    alerts.sort(key=lambda alert: (alert.value, alert.subject, alert.rep_id))
    return alerts, len(alerts) if total is None else total


def _inactive(reps: QuerySet[Rep], today: date, limit: int | None) -> tuple[list[Alert], int]:
    count = settings.SALESTRACK_INACTIVE_WORKING_DAYS
    window = working_days_before(today, count)
    first = window[0]
    # Twice the window without activity makes the alert a high one.
    long_ago = working_days_before(today, 2 * count)[0]
    # The newest day first, one row: a backward walk of the (rep, day) index, not a scan of
    # the rep's whole history (which a MAX() over a GROUP BY becomes at years of data).
    last_day = (
        RepDayActivity.objects.filter(rep=OuterRef("pk"), day__lte=today).order_by("-day").values("day")[:1]
    )
    logged_since_first = RepDayActivity.objects.filter(rep=OuterRef("pk"), day__gte=first, day__lte=today)
    rows = (
        reps.filter(Q(hired_on__isnull=True) | Q(hired_on__lt=first), is_active=True)
        # One probe of the (rep, day) index per rep; the last day is looked up for the few found.
        .filter(~Exists(logged_since_first))
        .annotate(last_activity=Subquery(last_day))
        .select_related("user")
    )
    rows, total = _limited(rows, [F("last_activity").asc(nulls_first=True)], limit)
    alerts = []
    for rep in rows:
        last = rep.last_activity
        if last is None:
            message = gettext("%(rep)s: no activity logged yet.") % {"rep": rep.name}
        else:
            message = ngettext(
                "%(rep)s has logged no activity for %(count)d working day, since %(day)s.",
                "%(rep)s has logged no activity for %(count)d working days, since %(day)s.",
                count,
            ) % {"rep": rep.name, "count": count, "day": formats.date_format(last, "DATE_FORMAT")}
        alerts.append(
            Alert(
                kind=INACTIVE,
                severity=HIGH if last is None or last < long_ago else MEDIUM,
                subject=rep.name,
                message=message,
                url=rep_url(rep.pk),
                rep_id=rep.pk,
                team_id=rep.team_id,
                value=last,
            )
        )
    alerts.sort(key=lambda alert: (alert.value or date.min, alert.subject, alert.rep_id))
    return alerts, len(alerts) if total is None else total


def _leakage(teams: QuerySet[Team], period: Period) -> list[Alert]:
    worst = (
        PeriodFunnel.objects.filter(
            scope=Scope.TEAM,
            scope_id__in=teams.values("pk"),
            period_kind=period.kind,
            period_start=period.start,
            reached__gte=LEAKAGE_MIN_REACHED,
            leakage__isnull=False,
        )
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("scope_id")],
                order_by=[F("leakage").desc(), F("position").asc()],
            ),
            team_name=scope_name(Scope.TEAM),
        )
        .filter(rank=1, leakage__gte=LEAKAGE_THRESHOLD)
        .select_related("stage")
        .order_by("-leakage", "team_name", "scope_id")[:LEAKAGE_MAX_TEAMS]
    )
    label_of_period = Span.of_period(period).label
    return [
        Alert(
            kind=LEAKAGE,
            severity=HIGH if row.leakage >= LEAKAGE_HIGH_FROM else MEDIUM,
            subject=row.team_name,
            message=gettext(
                "%(team)s loses %(leakage)s of its deals at %(stage)s in %(period)s (%(reached)d reached it)."
            )
            % {
                "period": label_of_period,
                "team": row.team_name,
                "leakage": percent(row.leakage),
                "stage": label(row.stage),
                "reached": row.reached,
            },
            url=f"{team_url(row.scope_id)}#funnel",
            team_id=row.scope_id,
            value=row.leakage,
        )
        for row in worst
    ]
