"""The fiscal calendar in the engine: quarters and years of a fiscal year starting in April, and
a change of the setting, which recomputes every period."""

from datetime import timedelta

import pytest
from django.utils import timezone

from metrics import jobs
from metrics.models import EngineCalendar, MetricRun, PeriodMetric
from metrics.periods import Period, PeriodKind
from tests.metrics.datagen import make_dataset
from tests.metrics.test_rollup import TZ, _backfill, _dump, assert_matches_oracle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = TZ


def _window():
    """Two full fiscal quarters ending before today."""
    today = timezone.localdate()
    end = Period.containing(today, PeriodKind.QUARTER).start - timedelta(days=1)
    start = Period.containing(end, PeriodKind.QUARTER).previous().start
    return start, end


def _fiscal_periods(start, end):
    periods = []
    for kind in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR):
        period = Period.containing(start, kind)
        while period.start <= end:
            periods.append(period)
            period = period.next()
    return periods


@pytest.mark.parametrize(("month", "seed"), [(4, 3), (10, 8)])
def test_every_metric_matches_the_oracle_in_a_fiscal_calendar(settings, month, seed):
    settings.SALESTRACK_FISCAL_YEAR_START_MONTH = month
    start, end = _window()
    make_dataset(seed=seed, reps=10, teams=3, start=start, end=end, deals=200, activities=1000, tz=TZ)
    _backfill()
    periods = _fiscal_periods(start, end)
    assert {p.start.month for p in periods if p.kind == PeriodKind.YEAR} == {month}
    compared = sum(assert_matches_oracle(period) for period in periods)
    assert compared > 1000
    quarter_starts = set(
        PeriodMetric.objects.filter(period_kind=PeriodKind.QUARTER).values_list(
            "period_start__month", flat=True
        )
    )
    assert quarter_starts <= {(month - 1 + 3 * n) % 12 + 1 for n in range(4)}


def test_changing_the_fiscal_month_recomputes_every_period(settings):
    start, end = _window()
    make_dataset(seed=4, reps=8, teams=2, start=start, end=end, deals=150, activities=700, tz=TZ)
    _backfill()
    assert EngineCalendar.objects.get().fiscal_year_start_month == 1

    settings.SALESTRACK_FISCAL_YEAR_START_MONTH = 7
    # An incremental run with nothing marked finds the change itself.
    run = jobs.run_sync(kind=MetricRun.Kind.INCREMENTAL, days=jobs.days_to_refresh(include_yesterday=False))
    assert run.status == MetricRun.Status.SUCCEEDED
    assert EngineCalendar.objects.get().fiscal_year_start_month == 7
    years = set(
        PeriodMetric.objects.filter(period_kind=PeriodKind.YEAR).values_list("period_start", flat=True)
    )
    assert years and all((day.month, day.day) == (7, 1) for day in years)
    quarters = PeriodMetric.objects.filter(period_kind=PeriodKind.QUARTER).values_list(
        "period_start", flat=True
    )
    assert all(day.month in (1, 4, 7, 10) for day in quarters)
    after_change = _dump()
    _backfill()  # the same figures as computed from scratch in the new calendar
    assert _dump() == after_change
    for period in _fiscal_periods(start, end):
        assert_matches_oracle(period)
    # Running again changes nothing more.
    assert jobs.follow_the_fiscal_calendar() == []
