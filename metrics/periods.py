"""Calendar periods written the same way everywhere: `2026`, `2026-Q3`, `2026-07`."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

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
            if kind == PeriodKind.YEAR:
                return cls(date(year, 1, 1), kind)
            if kind == PeriodKind.QUARTER:
                return cls(date(year, 3 * int(match.group(2)) - 2, 1), kind)
            return cls(date(year, int(match.group(2)), 1), kind)
        # Shown to users (URLs, API, imports), so translated when raised.
        raise ValueError(
            gettext("%(text)r is not a period: write 2026 (year), 2026-Q3 (quarter) or 2026-07 (month)")
            % {"text": text}
        )

    @classmethod
    def containing(cls, day: date, kind: str) -> Period:
        if kind == PeriodKind.YEAR:
            return cls(date(day.year, 1, 1), kind)
        if kind == PeriodKind.QUARTER:
            return cls(date(day.year, 3 * ((day.month - 1) // 3) + 1, 1), kind)
        if kind == PeriodKind.MONTH:
            return cls(date(day.year, day.month, 1), kind)
        raise ValueError(f"unknown period kind {kind!r}")

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

    def __str__(self) -> str:
        # Four digits always, so every year a date can hold (0001 to 9999) reads back as itself.
        if self.kind == PeriodKind.YEAR:
            return f"{self.start.year:04d}"
        if self.kind == PeriodKind.QUARTER:
            return f"{self.start.year:04d}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year:04d}-{self.start.month:02d}"
