"""Calendar periods, written the same way everywhere: 2026, 2026-Q3, 2026-07."""

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics.periods import Period, PeriodKind

KINDS = [PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR]
# Four-digit years only (the written form), and room for the period after the last one.
DAYS = st.dates(min_value=date(1000, 1, 1), max_value=date(9998, 12, 31))


class ParseTests:
    @pytest.mark.parametrize(
        ("text", "start", "kind"),
        [
            ("2026", date(2026, 1, 1), PeriodKind.YEAR),
            ("2026-Q1", date(2026, 1, 1), PeriodKind.QUARTER),
            ("2026-Q3", date(2026, 7, 1), PeriodKind.QUARTER),
            ("2026-Q4", date(2026, 10, 1), PeriodKind.QUARTER),
            ("2026-07", date(2026, 7, 1), PeriodKind.MONTH),
            ("2026-12", date(2026, 12, 1), PeriodKind.MONTH),
            (" 2026-01 ", date(2026, 1, 1), PeriodKind.MONTH),
        ],
    )
    def test_it_reads_the_three_written_forms(self, text, start, kind):
        period = Period.parse(text)
        assert (period.start, period.kind) == (start, kind)

    @pytest.mark.parametrize(
        "text",
        [
            "2026-13",
            "2026-00",
            "2026-Q5",
            "2026-Q0",
            "26",
            "2026-7",
            "",
            "   ",
            "2026-q3",
            "2026-07-01",
            "Q3-2026",
            "abcd",
        ],
    )
    def test_it_rejects_anything_else_naming_the_accepted_forms(self, text):
        with pytest.raises(ValueError) as excinfo:
            Period.parse(text)
        message = str(excinfo.value)
        for example in ("2026", "2026-Q3", "2026-07"):
            assert example in message

    def test_it_rejects_no_text_at_all(self):
        with pytest.raises(ValueError, match="2026-Q3"):
            Period.parse(None)

    @pytest.mark.parametrize("text", ["2026", "2026-Q2", "2026-02", "1999-12"])
    def test_str_gives_back_what_was_parsed(self, text):
        assert str(Period.parse(text)) == text

    def test_a_period_from_the_database_equals_the_parsed_one(self):
        # Rows store the kind as a plain string; sets and dict keys must not care.
        from_row = Period(date(2026, 7, 1), "month")
        parsed = Period.parse("2026-07")
        assert from_row == parsed
        assert {from_row: "quota"}[parsed] == "quota"
        assert str(from_row) == "2026-07"


class ContainingTests:
    @pytest.mark.parametrize(
        ("day", "kind", "expected"),
        [
            (date(2026, 8, 15), PeriodKind.MONTH, "2026-08"),
            (date(2026, 8, 15), PeriodKind.QUARTER, "2026-Q3"),
            (date(2026, 8, 15), PeriodKind.YEAR, "2026"),
            (date(2026, 3, 31), PeriodKind.QUARTER, "2026-Q1"),
            (date(2026, 4, 1), PeriodKind.QUARTER, "2026-Q2"),
            (date(2026, 12, 31), PeriodKind.QUARTER, "2026-Q4"),
            (date(2026, 1, 1), PeriodKind.MONTH, "2026-01"),
        ],
    )
    def test_it_finds_the_period_a_day_falls_in(self, day, kind, expected):
        assert str(Period.containing(day, kind)) == expected

    def test_it_rejects_an_unknown_kind(self):
        with pytest.raises(ValueError):
            Period.containing(date(2026, 1, 1), "week")

    def test_it_knows_the_first_day_of_a_period(self):
        assert Period.is_period_start(date(2026, 7, 1), PeriodKind.QUARTER)
        assert not Period.is_period_start(date(2026, 8, 1), PeriodKind.QUARTER)
        assert Period.is_period_start(date(2026, 8, 1), PeriodKind.MONTH)
        assert not Period.is_period_start(date(2026, 7, 1), PeriodKind.YEAR)


class BoundsTests:
    @pytest.mark.parametrize(
        ("text", "end", "last_day", "days"),
        [
            ("2026-01", date(2026, 2, 1), date(2026, 1, 31), 31),
            ("2026-02", date(2026, 3, 1), date(2026, 2, 28), 28),
            ("2024-02", date(2024, 3, 1), date(2024, 2, 29), 29),
            ("2026-12", date(2027, 1, 1), date(2026, 12, 31), 31),
            ("2026-Q1", date(2026, 4, 1), date(2026, 3, 31), 90),
            ("2024-Q1", date(2024, 4, 1), date(2024, 3, 31), 91),
            ("2026-Q4", date(2027, 1, 1), date(2026, 12, 31), 92),
            ("2026", date(2027, 1, 1), date(2026, 12, 31), 365),
            ("2024", date(2025, 1, 1), date(2024, 12, 31), 366),
            ("2000", date(2001, 1, 1), date(2000, 12, 31), 366),
            ("1900", date(1901, 1, 1), date(1900, 12, 31), 365),
        ],
    )
    def test_end_last_day_and_days(self, text, end, last_day, days):
        period = Period.parse(text)
        assert period.end == end
        assert period.last_day == last_day
        assert period.days == days

    def test_a_period_contains_its_days_and_not_the_next_one(self):
        period = Period.parse("2024-02")
        assert date(2024, 2, 1) in period
        assert date(2024, 2, 29) in period
        assert date(2024, 3, 1) not in period
        assert date(2024, 1, 31) not in period


class NeighbourTests:
    @pytest.mark.parametrize(
        ("text", "previous", "following"),
        [
            ("2026-01", "2025-12", "2026-02"),
            ("2026-12", "2026-11", "2027-01"),
            ("2026-Q1", "2025-Q4", "2026-Q2"),
            ("2026-Q4", "2026-Q3", "2027-Q1"),
            ("2026", "2025", "2027"),
        ],
    )
    def test_previous_and_next_cross_year_boundaries(self, text, previous, following):
        period = Period.parse(text)
        assert str(period.previous()) == previous
        assert str(period.next()) == following

    def test_periods_sort_by_time(self):
        texts = ["2026-03", "2025-12", "2026-01", "2026-02"]
        assert [str(p) for p in sorted(Period.parse(t) for t in texts)] == sorted(texts)


@given(day=DAYS, kind=st.sampled_from(KINDS))
def test_every_day_round_trips_through_its_written_period(day, kind):
    period = Period.containing(day, kind)
    assert day in period
    assert period.start <= day <= period.last_day
    assert Period.parse(str(period)) == period
    assert Period.is_period_start(period.start, kind)


@given(day=DAYS, kind=st.sampled_from(KINDS))
def test_neighbours_tile_the_calendar_without_gaps(day, kind):
    period = Period.containing(day, kind)
    assert period.next().start == period.last_day + timedelta(days=1)
    assert period.next().previous() == period
    assert period.previous().next() == period
    assert period.previous().end == period.start


@given(year=st.integers(min_value=1000, max_value=9998))
def test_days_add_up_over_a_year(year):
    months = [Period.parse(f"{year}-{m:02d}") for m in range(1, 13)]
    quarters = [Period.parse(f"{year}-Q{q}") for q in range(1, 5)]
    whole = Period.parse(str(year))
    assert whole.days == (366 if calendar.isleap(year) else 365)
    assert sum(p.days for p in months) == sum(p.days for p in quarters) == whole.days
    assert Period.parse(f"{year}-02").days == (29 if calendar.isleap(year) else 28)


# Every year a date can hold, written with four digits (0001 to 9999): a typo such as 0226-11-01
# must never make a period that cannot be printed and read back (it once stopped every run).
WHOLE_CALENDAR = st.dates(min_value=date.min, max_value=date.max)


@given(WHOLE_CALENDAR, st.sampled_from(KINDS))
def test_the_whole_calendar_round_trips_through_the_written_form(day, kind):
    period = Period.containing(day, kind)
    text = str(period)
    assert text[:4].isdigit() and len(text.split("-")[0]) == 4
    assert Period.parse(text) == period
    assert str(Period.parse(text)) == text
    assert period.start <= day <= period.last_day
    assert day in period
    assert period.days == (period.last_day - period.start).days + 1


@pytest.mark.parametrize(
    ("text", "last_day", "days"),
    [
        ("0001", date(1, 12, 31), 365),
        ("0001-01", date(1, 1, 31), 31),
        ("0226-Q4", date(226, 12, 31), 92),
        ("9999", date(9999, 12, 31), 365),
        ("9999-Q4", date(9999, 12, 31), 92),
        ("9999-12", date(9999, 12, 31), 31),
    ],
)
def test_the_ends_of_the_calendar_have_a_last_day_and_a_length(text, last_day, days):
    period = Period.parse(text)
    assert (period.last_day, period.days, str(period)) == (last_day, days, text)


def test_the_last_period_of_the_calendar_has_no_end_day_to_overflow_into():
    with pytest.raises(ValueError, match="last period of the calendar"):
        _ = Period.parse("9999-12").end


# --- the fiscal calendar ----------------------------------------------------------------------------
# The expected days are written out by hand from the rule of docs/metrics.md: a fiscal year starts on
# the first day of SALESTRACK_FISCAL_YEAR_START_MONTH and is named by the calendar year it ends in.


@pytest.fixture
def fiscal(settings):
    def set_month(month: int) -> None:
        settings.SALESTRACK_FISCAL_YEAR_START_MONTH = month

    return set_month


@pytest.mark.parametrize(
    ("month", "text", "first", "last"),
    [
        (4, "2026", date(2025, 4, 1), date(2026, 3, 31)),
        (4, "2026-Q1", date(2025, 4, 1), date(2025, 6, 30)),
        (4, "2026-Q3", date(2025, 10, 1), date(2025, 12, 31)),
        (4, "2026-Q4", date(2026, 1, 1), date(2026, 3, 31)),
        (2, "2027", date(2026, 2, 1), date(2027, 1, 31)),
        (2, "2027-Q4", date(2026, 11, 1), date(2027, 1, 31)),
        (7, "2026", date(2025, 7, 1), date(2026, 6, 30)),
        (7, "2026-Q2", date(2025, 10, 1), date(2025, 12, 31)),
        (10, "2027-Q1", date(2026, 10, 1), date(2026, 12, 31)),
        (10, "2027-Q2", date(2027, 1, 1), date(2027, 3, 31)),
        (12, "2026", date(2025, 12, 1), date(2026, 11, 30)),
        (1, "2026", date(2026, 1, 1), date(2026, 12, 31)),
        (1, "2026-Q3", date(2026, 7, 1), date(2026, 9, 30)),
        # Months stay calendar months whatever the fiscal year.
        (4, "2026-04", date(2026, 4, 1), date(2026, 4, 30)),
        (10, "2026-12", date(2026, 12, 1), date(2026, 12, 31)),
    ],
)
def test_fiscal_years_and_quarters_start_in_the_fiscal_month(fiscal, month, text, first, last):
    fiscal(month)
    period = Period.parse(text)
    assert (period.start, period.last_day) == (first, last)
    assert str(period) == text
    assert str(Period.containing(first, period.kind)) == text
    assert str(Period.containing(last, period.kind)) == text
    assert str(Period.containing(last + timedelta(days=1), period.kind)) != text


@pytest.mark.parametrize(
    ("month", "day", "year", "quarter"),
    [
        (4, date(2026, 3, 31), "2026", "2026-Q4"),
        (4, date(2026, 4, 1), "2027", "2027-Q1"),
        (2, date(2026, 1, 31), "2026", "2026-Q4"),
        (2, date(2026, 2, 1), "2027", "2027-Q1"),
        (10, date(2026, 9, 30), "2026", "2026-Q4"),
        (10, date(2026, 10, 1), "2027", "2027-Q1"),
    ],
)
def test_the_day_the_fiscal_year_turns(fiscal, month, day, year, quarter):
    fiscal(month)
    assert str(Period.containing(day, PeriodKind.YEAR)) == year
    assert str(Period.containing(day, PeriodKind.QUARTER)) == quarter
    assert Period.is_period_start(day, PeriodKind.YEAR) == (day.month == month and day.day == 1)


def test_a_fiscal_year_that_would_start_before_year_1_is_no_period(fiscal):
    fiscal(4)
    with pytest.raises(ValueError, match="is not a period"):
        Period.parse("0001")
    assert Period.parse("0002").start == date(1, 4, 1)


def test_the_labels_say_fiscal_when_the_year_is_not_the_calendar_year(fiscal):
    from metrics.spans import Span

    fiscal(4)
    assert Span.parse("2026-Q1").label == "Q1 FY2026"
    assert Span.parse("2026").label == "FY2026"
    fiscal(1)
    assert Span.parse("2026-Q1").label == "Q1 2026"
    assert Span.parse("2026").label == "2026"


# From year 3: the year before a fiscal year starting late in year 1 would begin in year 0.
@given(day=st.dates(min_value=date(3, 1, 1), max_value=date(9998, 12, 31)), month=st.integers(1, 12))
def test_every_fiscal_calendar_tiles_the_days_and_round_trips(day, month):
    from django.test import override_settings

    with override_settings(SALESTRACK_FISCAL_YEAR_START_MONTH=month):
        year = Period.containing(day, PeriodKind.YEAR)
        assert year.start.month == month and year.start.day == 1 and day in year
        assert Period.parse(str(year)) == year
        assert year.days in (365, 366)
        # The four quarters of the year follow one another from its first day to its last.
        quarters = [Period.parse(f"{year}-Q{n}") for n in range(1, 5)]
        assert quarters[0].start == year.start and quarters[-1].last_day == year.last_day
        assert all(a.next() == b for a, b in zip(quarters, quarters[1:], strict=False))
        quarter = Period.containing(day, PeriodKind.QUARTER)
        assert quarter in quarters and day in quarter and Period.parse(str(quarter)) == quarter
        assert year.next().start == year.last_day + timedelta(days=1)
        assert year.previous().next() == year
