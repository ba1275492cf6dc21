"""Periods written the same way everywhere: `2026`, `2026-Q3` (fiscal), `2026-07` (calendar).

Years and quarters follow the fiscal calendar, whose year starts on the first day of
SALESTRACK_FISCAL_YEAR_START_MONTH (January by default, when fiscal and calendar years agree).
A fiscal year is named by the calendar year it ends in: with April, `2026` runs from
2025-04-01 to 2026-03-31 and `2026-Q1` is April to June 2025. Months stay calendar months.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class PeriodKind(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")


_PATTERNS = {
    PeriodKind.YEAR: re.compile(r"^(\d{4})$"),
    PeriodKind.QUARTER: re.compile(r"^(\d{4})-Q([1-4])$"),
    PeriodKind.MONTH: re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$"),
}


def fiscal_start_month() -> int:
    """The calendar month (1-12) each fiscal year starts in."""
    return settings.SALESTRACK_FISCAL_YEAR_START_MONTH


def _month(index: int) -> date:
    """The first day of the month `index` months after January of year 0 (a ValueError off the calendar)."""
    return date(index // 12, index % 12 + 1, 1)


def _fiscal_year_start(name: int) -> date:
    """The first day of the fiscal year named `name` (the calendar year it ends in)."""
    first = fiscal_start_month()
    return _month(name * 12 + first - 1 - (12 if first > 1 else 0))


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year, identified by its kind and first day."""

    start: date
    kind: str

    @classmethod
    def parse(cls, text: str) -> Period:
        text = (text or "").strip()
        for kind, pattern in _PATTERNS.items():
            match = pattern.match(text)
            if not match:
                continue
            year = int(match.group(1))
            try:
                if kind == PeriodKind.YEAR:
                    return cls(_fiscal_year_start(year), kind)
                if kind == PeriodKind.QUARTER:
                    start = _fiscal_year_start(year)
                    return cls(
                        _month(start.year * 12 + start.month - 1 + 3 * (int(match.group(2)) - 1)), kind
                    )
                return cls(date(year, int(match.group(2)), 1), kind)
            except ValueError:  # a fiscal year that would start before year 1
                break
        # Shown to users (URLs, API, imports), so translated when raised.
        raise ValueError(
            gettext("%(text)r is not a period: write 2026 (year), 2026-Q3 (quarter) or 2026-07 (month)")
            % {"text": text}
        )

    @classmethod
    def containing(cls, day: date, kind: str) -> Period:
        index = day.year * 12 + day.month - 1
        if kind == PeriodKind.MONTH:
            return cls(date(day.year, day.month, 1), kind)
        if kind not in (PeriodKind.YEAR, PeriodKind.QUARTER):
            raise ValueError(f"unknown period kind {kind!r}")
        # Months since the fiscal year started, then back to its (or the quarter's) first month.
        into_year = (day.month - fiscal_start_month()) % 12
        back = into_year if kind == PeriodKind.YEAR else into_year % 3
        return cls(_month(index - back), kind)

    @staticmethod
    def is_period_start(day: date, kind: str) -> bool:
        return Period.containing(day, kind).start == day

    @property
    def months(self) -> int:
        return {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}[self.kind]

    @property
    def end(self) -> date:
        """The first day after the period (exclusive bound); a ValueError for the calendar's last."""
        month_index = self.start.year * 12 + self.start.month - 1 + self.months
        if month_index // 12 > date.max.year:
            raise ValueError(gettext("%(period)s is the last period of the calendar") % {"period": self})
        return date(month_index // 12, month_index % 12 + 1, 1)

    @property
    def last_day(self) -> date:
        """The period's last day (defined for every period, December 9999 included)."""
        month_index = self.start.year * 12 + self.start.month - 2 + self.months
        year, month = month_index // 12, month_index % 12 + 1
        return date(year, month, calendar.monthrange(year, month)[1])

    @property
    def days(self) -> int:
        return (self.last_day - self.start).days + 1

    def previous(self) -> Period:
        return Period.containing(self.start - timedelta(days=1), self.kind)

    def next(self) -> Period:
        return Period(self.end, self.kind)

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.last_day

    @property
    def fiscal_year(self) -> int:
        """The name of the fiscal year this period (a year or a quarter) lies in."""
        first = fiscal_start_month()
        return self.start.year + (1 if first > 1 and self.start.month >= first else 0)

    @property
    def quarter(self) -> int:
        """1-4: the fiscal quarter of a quarter."""
        return (self.start.month - fiscal_start_month()) % 12 // 3 + 1

    def __str__(self) -> str:
        # Four digits always, so every year a date can hold (0001 to 9999) reads back as itself.
        if self.kind == PeriodKind.YEAR:
            return f"{self.fiscal_year:04d}"
        if self.kind == PeriodKind.QUARTER:
            return f"{self.fiscal_year:04d}-Q{self.quarter}"
        return f"{self.start.year:04d}-{self.start.month:02d}"
