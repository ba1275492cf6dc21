"""The one-day run's cost does not depend on how much history there is or how long its periods are.

A quarter is summed from its months and a year from its quarters (metrics.rollup.rollup_period), so
a one-day run reads that day's raw rows and one month of daily rows, then a few rows per scope
object for each level above. The number of SQL statements is pinned, and is the same whether
the database holds one year of history or three.
"""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities.models import Activity, Deal
from metrics import jobs, rollup
from metrics.models import MetricRun
from metrics.periods import Period, PeriodKind
from tests.metrics.datagen import make_dataset
from tests.metrics.test_rollup import TZ, _backfill, _dump

pytestmark = pytest.mark.django_db
DAILY_TABLES = ("metrics_repdayactivity", "metrics_repdaydeal", "metrics_repdayreach")
RAW_TABLES = ("activities_activity", "activities_deal", "activities_dealstagechange")


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = TZ


def _history() -> date:
    """A year of history ending last month; returns a day of its last month to run."""
    today = timezone.localdate()
    end = Period.containing(today, PeriodKind.MONTH).start - timedelta(days=1)
    start = date(end.year - 1, end.month, 1) + timedelta(days=31)
    make_dataset(seed=9, reps=6, teams=2, start=start, end=end, deals=160, activities=800, tz=TZ)
    _backfill()
    return end - timedelta(days=3)


def _older_copies(years: int) -> None:
    """The same reps' activities and deals again, `years` earlier, and all of it computed."""
    shift = timedelta(days=364 * years)
    activities = list(Activity.objects.filter(occurred_at__gte=timezone.now() - timedelta(days=400)))
    deals = list(Deal.objects.filter(opened_on__gte=timezone.localdate() - timedelta(days=400)))
    for activity in activities:
        activity.pk, activity.occurred_at, activity.deal_id = None, activity.occurred_at - shift, None
        activity.external_id = f"{activity.external_id}-{years}" if activity.external_id else ""
    for deal in deals:
        deal.pk = None
        deal.opened_on -= shift
        deal.closed_on = deal.closed_on - shift if deal.closed_on else None
        deal.expected_close_on = deal.expected_close_on - shift if deal.expected_close_on else None
        deal.external_id = f"{deal.external_id}-{years}" if deal.external_id else ""
    Activity.objects.bulk_create(activities)
    Deal.objects.bulk_create(deals)


def _one_day(day: date) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        jobs.run_sync(kind=MetricRun.Kind.NIGHTLY, days=[day])
    return [query["sql"] for query in queries.captured_queries]


# The statements of a one-day run with two teams: pinned, so that a change of the engine's cost
# shows here first (then measure it with bench/bench_metrics.py and update the figure).
ONE_DAY_STATEMENTS = {"sqlite": 142, "postgresql": 146}


def test_the_one_day_run_costs_the_same_statements_for_one_and_three_years(db):
    day = _history()
    one_year = _one_day(day)
    _older_copies(1)
    _older_copies(2)
    _backfill()
    assert jobs.data_span()[0] < day - timedelta(days=3 * 364)
    three_years = _one_day(day)
    assert len(three_years) == len(one_year)
    assert len(one_year) == ONE_DAY_STATEMENTS[connection.vendor], "\n".join(one_year)


def test_quarters_and_years_read_no_daily_or_raw_rows(db):
    day = _history()
    for kind in (PeriodKind.QUARTER, PeriodKind.YEAR):
        period = Period.containing(day, kind)
        with CaptureQueriesContext(connection) as queries:
            rollup.rollup_period(period)
        reads = " ".join(query["sql"] for query in queries.captured_queries).lower()
        assert not [table for table in DAILY_TABLES + RAW_TABLES[:1] if f'"{table}"' in reads], kind
    month = Period.containing(day, PeriodKind.MONTH)
    with CaptureQueriesContext(connection) as queries:
        rollup.rollup_period(month)
    assert "metrics_repdayactivity" in " ".join(q["sql"] for q in queries.captured_queries).lower()


def test_a_one_day_run_equals_a_full_backfill(db):
    day = _history()
    _one_day(day)
    after_one_day = _dump()
    _backfill()
    assert _dump() == after_one_day
