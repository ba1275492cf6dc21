"""The stretch of days a page or an export shows: a calendar period, a day, a week or a range.

Written the same way in URLs and exports as periods are everywhere else, plus three forms
of its own:

    2026, 2026-Q3, 2026-07       a calendar year, quarter or month (`metrics.periods.Period`)
    2026-W48                     an ISO week (Monday to Sunday)
    2026-11-30                   one day
    2026-11-01..2026-11-15       a custom range, both ends included

Calendar periods are read from the per-period summary tables; the other spans add up
the daily summary tables. Figures defined only per calendar period (quota, attainment,
pace, projection, weighted pipeline, activity impact) are undefined for the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from activities import rules

from .periods import Period, PeriodKind, fiscal_start_month

DAY, WEEK, RANGE = "day", "week", "range"
# A custom range longer than this is refused: it would add up years of daily rows per page.
MAX_RANGE_DAYS = 2 * 366

_WEEK = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The presets offered by the period picker, in the order shown.
PRESETS = [
    ("today", _("Today")),
    ("this-week", _("This week")),
    ("last-week", _("Last week")),
    ("this-month", _("This month")),
    ("last-month", _("Last month")),
    ("this-quarter", _("This quarter")),
    ("last-quarter", _("Last quarter")),
    ("this-year", _("This year")),
    ("last-year", _("Last year")),
]


class SpanError(ValueError):
    """A span that cannot be read; the message names the value and why, for the user."""


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SpanError(gettext("%(text)r is not a date: write 2026-11-30") % {"text": text}) from None


@dataclass(frozen=True)
class Span:
    first: date
    last: date  # included
    kind: str  # day, week, month, quarter, year or range

    # --- reading and writing -------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Span:
        """The span a key names (see key()); SpanError, saying why, for anything else.

        Its neighbours must exist too (pages compare with the span before and link to the
        one after): the ends of the calendar, year 1 and 9999, are refused.
        """
        text = (text or "").strip()
        return _within_calendar(text, lambda: cls._parse(text))

    @classmethod
    def _parse(cls, text: str) -> Span:
        if ".." in text:
            first_text, _sep, last_text = text.partition("..")
            return cls.between(_parse_day(first_text.strip()), _parse_day(last_text.strip()))
        if _DAY.match(text):
            day = _parse_day(text)
            return cls(day, day, DAY)
        match = _WEEK.match(text)
        if match:
            try:
                monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
            except ValueError:
                raise SpanError(
                    gettext("%(text)r is not a week: %(year)s has no week %(week)s")
                    % {"text": text, "year": match.group(1), "week": match.group(2)}
                ) from None
            return cls.week_of(monday)
        try:
            period = Period.parse(text)
        except ValueError:
            raise SpanError(
                gettext(
                    "%(text)r is not a period: write 2026 (year), 2026-Q3 (quarter), 2026-07 (month), "
                    "2026-W48 (week), 2026-11-30 (day) or 2026-11-01..2026-11-15 (range)"
                )
                % {"text": text}
            ) from None
        return cls.of_period(period)

    @classmethod
    def between(cls, first: date, last: date) -> Span:
        """The days from `first` to `last`; a range that is a calendar period becomes that period."""
        if last < first:
            raise SpanError(
                gettext("The range ends (%(last)s) before it starts (%(first)s).")
                % {"first": first, "last": last}
            )
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise SpanError(
                gettext("The range is %(days)s days long; at most %(max)s days can be shown at once.")
                % {"days": (last - first).days + 1, "max": MAX_RANGE_DAYS}
            )
        for kind in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR):
            period = Period.containing(first, kind)
            if period.start == first and period.last_day == last:
                return cls.of_period(period)
        if first == last:
            return cls(first, last, DAY)
        if first.isoweekday() == 1 and (last - first).days == 6:
            return cls(first, last, WEEK)
        return cls(first, last, RANGE)

    @classmethod
    def of_period(cls, period: Period) -> Span:
        return cls(period.start, period.last_day, period.kind)

    @classmethod
    def week_of(cls, day: date) -> Span:
        monday = day - timedelta(days=day.isoweekday() - 1)
        return cls(monday, monday + timedelta(days=6), WEEK)

    @classmethod
    def preset(cls, name: str, today: date | None = None) -> Span:
        today = today or timezone.localdate()
        if name == "today":
            return cls(today, today, DAY)
        if name in ("this-week", "last-week"):
            week = cls.week_of(today)
            return week if name == "this-week" else week.previous()
        for kind in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR):
            if name in (f"this-{kind}", f"last-{kind}"):
                period = Period.containing(today, kind)
                return cls.of_period(period if name.startswith("this") else period.previous())
        raise SpanError(gettext("%(text)r is not a period preset") % {"text": name})

    @property
    def key(self) -> str:
        """How the span is written in URLs and exports (parse(key) gives it back)."""
        if self.period is not None:
            return str(self.period)
        if self.kind == DAY:
            return self.first.isoformat()
        if self.kind == WEEK:
            year, week, _weekday = self.first.isocalendar()
            return f"{year:04d}-W{week:02d}"
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    def __str__(self) -> str:
        return self.key

    @property
    def label(self) -> str:
        """A human title in the active language: "November 2026", "Week 48, 2026", "1–15 Nov 2026"."""
        if self.kind == PeriodKind.MONTH:
            return formats.date_format(self.first, "YEAR_MONTH_FORMAT")
        if self.kind in (PeriodKind.QUARTER, PeriodKind.YEAR):
            period = Period(self.first, self.kind)
            fiscal = fiscal_start_month() != 1  # then say so: "Q1 FY2027", "FY2027"
            if self.kind == PeriodKind.QUARTER:
                text = gettext("Q%(quarter)s FY%(year)s") if fiscal else gettext("Q%(quarter)s %(year)s")
                return text % {"quarter": period.quarter, "year": period.fiscal_year}
            return gettext("FY%(year)s") % {"year": period.fiscal_year} if fiscal else str(period.fiscal_year)
        if self.kind == DAY:
            return formats.date_format(self.first, "DATE_FORMAT")
        if self.kind == WEEK:
            year, week, _weekday = self.first.isocalendar()
            return gettext("Week %(week)s, %(year)s") % {"week": week, "year": year}
        return gettext("%(first)s – %(last)s") % {
            "first": formats.date_format(self.first, "SHORT_DATE_FORMAT"),
            "last": formats.date_format(self.last, "SHORT_DATE_FORMAT"),
        }

    # --- arithmetic ------------------------------------------------------------------

    @property
    def period(self) -> Period | None:
        """The calendar period this span is, if it is one (its figures come from the period tables)."""
        if self.kind in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR):
            return Period(self.first, self.kind)
        return None

    @property
    def end(self) -> date:
        """The first day after the span (exclusive bound)."""
        return self.last + timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Span:
        """The span just before, of the same kind (a range: as many days, ending the day before)."""
        if self.period is not None:
            return Span.of_period(self.period.previous())
        last = self.first - timedelta(days=1)
        return Span(last - timedelta(days=self.days - 1), last, self.kind)

    def next(self) -> Span:
        if self.period is not None:
            return Span.of_period(self.period.next())
        first = self.last + timedelta(days=1)
        return Span(first, first + timedelta(days=self.days - 1), self.kind)

    def __contains__(self, day: date) -> bool:
        return self.first <= day <= self.last

    def elapsed_share(self, today: date | None = None) -> float:
        """The share of the span's days that have begun by `today` (0 before it, 1 after)."""
        today = today or timezone.localdate()
        if today < self.first:
            return 0.0
        return min(1.0, ((today - self.first).days + 1) / self.days)

    def months(self) -> list[Period]:
        """The calendar months this span touches, in order."""
        months, month = [], Period.containing(self.first, PeriodKind.MONTH)
        while month.start <= self.last:
            months.append(month)
            month = month.next()
        return months


def span_from_query(query, *, default: str = "this-month", today: date | None = None) -> Span:
    """The span a page's query string asks for: `period` (a key or a preset name), or `from` and `to`.

    Raises SpanError, naming the value and the reason, for anything it cannot read, and for
    a span wholly outside the calendar window (see within_window).
    """
    first, last = (query.get("from") or "").strip(), (query.get("to") or "").strip()
    if first or last:
        if not (first and last):
            raise SpanError(gettext("A custom range needs both a first and a last day."))
        span = _within_calendar(f"{first}..{last}", lambda: Span.between(_parse_day(first), _parse_day(last)))
        return within_window(span)
    text = (query.get("period") or "").strip() or default
    if text in dict(PRESETS):
        return Span.preset(text, today)
    return within_window(Span.parse(text))


def within_window(span: Span) -> Span:
    """`span`, if some of its days lie in the calendar window of activities.rules (the days a
    row may hold, up to the planning horizon); SpanError otherwise. Pages also chart the
    periods before a span, which exist for every span the window lets through."""
    problem = window_problem(span.first, span.last)
    if problem:
        raise SpanError(gettext("%(span)s: %(reason)s") % {"span": span.key, "reason": problem})
    return span


def window_problem(first: date, last: date) -> str | None:
    """Why the days `first`..`last` lie wholly outside the calendar window, or None if some
    of them lie inside it. The one test behind every period and span a URL or the API names."""
    if last < rules.earliest_day():
        return rules.too_early(last)
    return rules.period_problem(max(first, rules.earliest_day()))


def _within_calendar(text: str, make) -> Span:
    """The span `make()` returns, if it and its neighbours exist; SpanError otherwise.

    The pages compare with the span before and link to the one after, so a span at the
    ends of the calendar (year 1 or 9999) is refused like any other unreadable one.
    """
    try:
        span = make()
        span.previous(), span.next()
    except SpanError:
        raise
    except (ValueError, OverflowError):
        raise SpanError(
            gettext("%(text)s lies outside the calendar salestrack counts in.") % {"text": text}
        ) from None
    return span
