"""Spans: the periods a page shows, as written in URLs (calendar periods, weeks, days, ranges)."""

import re
from datetime import date, timedelta

import pytest
from django.http import QueryDict
from hypothesis import example, given
from hypothesis import strategies as st

from metrics.periods import Period, PeriodKind
from metrics.spans import DAY, MAX_RANGE_DAYS, PRESETS, RANGE, WEEK, Span, SpanError, span_from_query


@pytest.mark.parametrize(
    ("text", "first", "last", "kind"),
    [
        ("2026", date(2026, 1, 1), date(2026, 12, 31), "year"),
        ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30), "quarter"),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28), "month"),
        ("2026-W48", date(2026, 11, 23), date(2026, 11, 29), "week"),
        ("2026-W01", date(2025, 12, 29), date(2026, 1, 4), "week"),  # ISO week 1 starts in December
        ("2026-11-30", date(2026, 11, 30), date(2026, 11, 30), "day"),
        ("2026-11-03..2026-11-17", date(2026, 11, 3), date(2026, 11, 17), "range"),
        # A range that is a calendar period or a week is that period or week.
        ("2026-07-01..2026-09-30", date(2026, 7, 1), date(2026, 9, 30), "quarter"),
        ("2026-11-23..2026-11-29", date(2026, 11, 23), date(2026, 11, 29), "week"),
        ("2026-11-05..2026-11-05", date(2026, 11, 5), date(2026, 11, 5), "day"),
    ],
)
def test_every_written_form_reads_back(text, first, last, kind):
    span = Span.parse(text)
    assert (span.first, span.last, span.kind) == (first, last, kind)
    assert Span.parse(span.key) == span


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is not a period"),
        ("2026-13", "is not a period"),
        ("2026-W54", "is not a period"),
        ("2025-W53", "has no week 53"),  # 2025 has 52 ISO weeks
        ("2026-02-30", "is not a date"),
        ("2026-11-17..2026-11-03", "ends"),
        ("2020-01-01..2026-01-01", "days long"),
        ("yesterday-ish", "is not a period"),
        # The ends of the calendar: the span before or after does not exist.
        ("9999-W52", "9999-W52 lies outside the calendar"),
        ("9999-12", "lies outside the calendar"),
        ("9999", "lies outside the calendar"),
        ("0001-01-01", "lies outside the calendar"),
        ("0001-01-01..0001-01-05", "lies outside the calendar"),
    ],
)
def test_unreadable_spans_say_why(text, reason):
    with pytest.raises(SpanError, match=reason):
        Span.parse(text)


@pytest.mark.parametrize(
    "query", [{"period": "9999-12-31"}, {"from": "9999-12-01", "to": "9999-12-31"}, {"period": "0001-W01"}]
)
def test_the_query_string_at_the_ends_of_the_calendar_is_a_span_error(query):
    qd = QueryDict(mutable=True)
    qd.update(query)
    with pytest.raises(SpanError, match="lies outside the calendar"):
        span_from_query(qd)


@pytest.mark.django_db
@pytest.mark.parametrize("period", ["9999-W52", "9999-12", "0001-01-01"])
def test_pages_answer_a_period_at_the_ends_of_the_calendar_without_a_server_error(client, cast, period):
    client.force_login(cast.manager_a)
    for url in ("/leaderboards/", "/dashboard/"):
        response = client.get(url, {"period": period}, follow=True)
        assert response.status_code in (200, 400), (url, response.status_code)
        assert "lies outside the calendar" in response.content.decode()


def test_previous_and_next_keep_the_kind_and_length():
    assert Span.parse("2026-Q1").previous() == Span.parse("2025-Q4")
    assert Span.parse("2026-03").previous() == Span.parse("2026-02")
    assert Span.parse("2026-W01").previous() == Span.parse("2025-W52")
    assert Span.parse("2026-03-01").previous() == Span.parse("2026-02-28")
    ranged = Span.parse("2026-11-03..2026-11-17")
    assert ranged.previous() == Span.parse("2026-10-19..2026-11-02")
    assert ranged.previous().next() == ranged


def test_presets_resolve_against_today():
    today = date(2026, 11, 30)  # a Monday
    resolved = {name: Span.preset(name, today).key for name, _label in PRESETS}
    assert resolved == {
        "today": "2026-11-30",
        "this-week": "2026-W49",
        "last-week": "2026-W48",
        "this-month": "2026-11",
        "last-month": "2026-10",
        "this-quarter": "2026-Q4",
        "last-quarter": "2026-Q3",
        "this-year": "2026",
        "last-year": "2025",
    }


def test_the_query_string_gives_the_span():
    today = date(2026, 11, 30)
    assert span_from_query(QueryDict(""), today=today) == Span.parse("2026-11")
    assert span_from_query(QueryDict("period=last-quarter"), today=today) == Span.parse("2026-Q3")
    assert span_from_query(QueryDict("period=2026-W40"), today=today) == Span.parse("2026-W40")
    assert (
        span_from_query(QueryDict("from=2026-11-02&to=2026-11-10"), today=today).key
        == "2026-11-02..2026-11-10"
    )
    with pytest.raises(SpanError, match="both"):
        span_from_query(QueryDict("from=2026-11-02"), today=today)


def test_elapsed_share():
    month = Span.parse("2026-11")
    assert month.elapsed_share(date(2026, 10, 31)) == 0
    assert month.elapsed_share(date(2026, 11, 15)) == pytest.approx(15 / 30)
    assert month.elapsed_share(date(2027, 1, 1)) == 1


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    st.integers(min_value=0, max_value=MAX_RANGE_DAYS - 1),
)
def test_any_range_reads_back_from_its_key(first, length):
    span = Span.between(first, first + timedelta(days=length))
    assert Span.parse(span.key) == span
    assert span.days == length + 1
    assert span.previous().end == span.first
    if span.period is not None:
        assert Span.of_period(Period.parse(span.key)) == span


# Years 2 to 9998: every span there has both neighbours (year 1 and 9999 are refused for that).
FIRST_DAY, LAST_DAY = date(2, 1, 1), date(9998, 12, 31)


def span_of_kind(day: date, kind: str, length: int) -> Span:
    if kind == DAY:
        return Span(day, day, DAY)
    if kind == WEEK:
        return Span.week_of(day)
    if kind == RANGE:
        return Span.between(day, min(day + timedelta(days=length), LAST_DAY))
    return Span.of_period(Period.containing(day, kind))


@given(
    day=st.dates(min_value=FIRST_DAY, max_value=LAST_DAY),
    kind=st.sampled_from([DAY, WEEK, *PeriodKind.values, RANGE]),
    length=st.integers(min_value=1, max_value=MAX_RANGE_DAYS - 1),
)
@example(day=FIRST_DAY, kind=WEEK, length=1)  # 0002-W01 starts on 0001-12-31
@example(day=date(999, 12, 31), kind=WEEK, length=1)
@example(day=LAST_DAY, kind=WEEK, length=1)  # 9998-12-31 is in 9998-W52
@example(day=FIRST_DAY, kind=RANGE, length=9)
def test_every_span_key_of_every_kind_reads_back_in_years_2_to_9998(day, kind, length):
    span = span_of_kind(day, kind, length)
    # Every year in a key is written with four digits (0002-W01, not 2-W01).
    assert re.fullmatch(r"\d{4}(-W\d{2}|-Q[1-4]|-\d{2}(-\d{2})?)?(\.\.\d{4}-\d{2}-\d{2})?", span.key), (
        span.key
    )
    assert Span.parse(span.key) == span


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"period": "0001-01-02"}, "0001-01-02: 0001-01-02 is before 2000-01-01"),
        ({"period": "1999"}, "1999: 1999-12-31 is before 2000-01-01"),
        ({"from": "0002-01-01", "to": "0002-01-05"}, "is before 2000-01-01"),
        ({"period": "9000-W10"}, "is too far in the future"),
    ],
)
def test_the_query_string_refuses_a_span_wholly_outside_the_calendar_window(query, reason):
    # 0001-01-02 was a 500 on the dashboard: its trend charts the months before year 1.
    with pytest.raises(SpanError, match=reason):
        span_from_query(query)


@pytest.mark.django_db
def test_a_span_across_the_earliest_date_is_read(settings):
    settings.SALESTRACK_EARLIEST_DATE = date(2020, 6, 1)
    assert span_from_query({"period": "2020"}) == Span.parse("2020")
