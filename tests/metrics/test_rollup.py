"""The metrics engine against the independent pandas oracle, and its run guarantees.

Each dataset is randomised (tests/metrics/datagen.py) with the awkward cases of
PRODUCT.md: deals skipping stages, reopened deals, deals lost from every stage,
reps without quotas, periods with no closed deals, team quotas beside rep quotas.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from activities import services
from activities.models import Deal, Stage, Team
from metrics import jobs, rollup
from metrics.models import (
    ChangedDay,
    MetricRun,
    PeriodActivityImpact,
    PeriodActivityMix,
    PeriodFunnel,
    PeriodMetric,
    PeriodProduct,
    Quota,
    RepDayActivity,
    RepDayDeal,
    RepDayReach,
)
from metrics.periods import Period, PeriodKind
from tests import oracle
from tests.metrics.datagen import make_dataset

TZ = "Europe/Berlin"
SUMMARY_MODELS = (
    RepDayActivity,
    RepDayDeal,
    RepDayReach,
    PeriodMetric,
    PeriodActivityMix,
    PeriodFunnel,
    PeriodProduct,
    PeriodActivityImpact,
)


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = TZ


def _window():
    # Two full quarters ending before today, so every date lies in the past.
    today = timezone.localdate()
    end = Period.containing(today, PeriodKind.QUARTER).start - timedelta(days=1)
    start = Period.containing(end, PeriodKind.QUARTER).previous().start
    return start, end


def _periods(start: date, end: date) -> list[Period]:
    periods = []
    for kind in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR):
        period = Period.containing(start, kind)
        while period.start <= end:
            periods.append(period)
            period = period.next()
    return periods


def _backfill():
    return jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)


# --- comparing tables --------------------------------------------------------------

ENGINE_TABLES = {
    "metrics": (PeriodMetric, [c for c in oracle.METRIC_COLUMNS if c not in ("period",)]),
    "mix": (PeriodActivityMix, ["scope", "scope_id", "activity_type_id", "count", "minutes"]),
    "funnel": (PeriodFunnel, ["scope", "scope_id", "stage_id", "reached", "conversion", "leakage"]),
    "products": (PeriodProduct, ["scope", "scope_id", "product_id", "revenue", "won_count"]),
    "impact": (
        PeriodActivityImpact,
        ["scope", "scope_id", "activity_type_id", "corr_revenue", "corr_win_rate", "n_revenue", "n_win_rate"],
    ),
}
KEYS = {
    "metrics": ("scope", "scope_id"),
    "mix": ("scope", "scope_id", "activity_type_id"),
    "funnel": ("scope", "scope_id", "stage_id"),
    "products": ("scope", "scope_id", "product_id"),
    "impact": ("scope", "scope_id", "activity_type_id"),
}


def _same(engine_value, oracle_value) -> bool:
    if engine_value is None or oracle_value is None:
        return engine_value is None and oracle_value is None
    if isinstance(oracle_value, float) or isinstance(engine_value, float):
        return abs(float(engine_value) - float(oracle_value)) <= 1e-9 * max(1.0, abs(float(oracle_value)))
    if isinstance(oracle_value, Decimal) or isinstance(engine_value, Decimal):
        return Decimal(engine_value) == Decimal(oracle_value)
    return engine_value == oracle_value


def _oracle_rows(frame, columns, keys) -> dict:
    rows = {}
    for record in frame.to_dict("records"):
        value = {column: record[column] for column in columns}
        for column, item in value.items():
            if hasattr(item, "item"):
                value[column] = item.item()
            if isinstance(value[column], float) and value[column] != value[column]:
                value[column] = None
        rows[tuple(value[k] for k in keys)] = value
    return rows


def _engine_rows(model, columns, keys, period: Period) -> dict:
    queryset = model.objects.filter(period_kind=period.kind, period_start=period.start).values(*columns)
    return {tuple(row[k] for k in keys): row for row in queryset}


def assert_matches_oracle(period: Period) -> int:
    expected = oracle.compute(oracle.load_raw(), period, tz=TZ)
    compared = 0
    for table, (model, columns) in ENGINE_TABLES.items():
        keys = KEYS[table]
        want = _oracle_rows(getattr(expected, table), columns, keys)
        got = _engine_rows(model, columns, keys, period)
        assert set(got) == set(want), f"{table} {period}: rows differ: {set(got) ^ set(want)}"
        for key, row in want.items():
            for column in columns:
                assert _same(got[key][column], row[column]), (
                    f"{table} {period} {key} {column}: engine {got[key][column]!r} != oracle {row[column]!r}"
                )
                compared += 1
    return compared


def _dump() -> dict:
    """Every summary row, without ids and timestamps, for equality between runs."""
    dump = {}
    for model in SUMMARY_MODELS:
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("id", "computed_at")]
        dump[model.__name__] = sorted(model.objects.values_list(*fields), key=repr)
    return dump


# --- the figures ------------------------------------------------------------------


@pytest.mark.parametrize("seed", [11, 23, 37])
def test_every_metric_matches_the_oracle(db, seed):
    start, end = _window()
    make_dataset(seed=seed, reps=14, teams=3, start=start, end=end, deals=260, activities=1500, tz=TZ)
    # A team just set up: no reps yet, but its own quota already.
    new_team = Team.objects.create(name=f"New team {seed}")
    Quota.objects.create(team=new_team, period_kind="quarter", period_start=start, amount=Decimal("5000"))
    _backfill()
    compared = sum(assert_matches_oracle(period) for period in _periods(start, end))
    assert compared > 10_000


def test_a_period_with_nothing_closed_stores_null_ratios(db):
    start, end = _window()
    make_dataset(seed=5, reps=6, teams=2, start=start, end=end, deals=40, activities=200, tz=TZ)
    Deal.objects.filter(closed_on__isnull=False).update(closed_on=None, stage=Stage.objects.get(name="SQL"))
    _backfill()
    for period in _periods(start, end):
        assert_matches_oracle(period)
    company = PeriodMetric.objects.get(scope="company", period_kind="quarter", period_start=start)
    assert company.win_rate is None and company.avg_deal_size is None
    assert company.deals_won == 0 and company.revenue == 0


# --- run guarantees ---------------------------------------------------------------


def test_running_twice_gives_identical_tables(db):
    start, end = _window()
    make_dataset(seed=3, reps=8, teams=2, start=start, end=end, deals=120, activities=600, tz=TZ)
    _backfill()
    first = _dump()
    _backfill()
    assert _dump() == first
    assert sum(len(rows) for rows in first.values()) > 1000


def test_editing_an_old_deal_then_the_incremental_run_equals_a_full_backfill(
    django_capture_on_commit_callbacks, db
):
    start, end = _window()
    make_dataset(seed=8, reps=8, teams=2, start=start, end=end, deals=150, activities=600, tz=TZ)
    _backfill()
    assert not ChangedDay.objects.exists()

    # A deal won about three months ago is reopened, re-won with another amount and date.
    old = (
        Deal.objects.filter(stage__kind="won", closed_on__lte=end - timedelta(days=80)).order_by("id").first()
    )
    assert old is not None
    proposal, won = Stage.objects.get(name="Proposal"), Stage.objects.get(name="Won")
    services.deal_move_stage(deal=old, to_stage=proposal, by=None)
    services.deal_move_stage(
        deal=old,
        to_stage=won,
        by=None,
        closed_on=old.closed_on + timedelta(days=3),
        amount=Decimal("98765.43"),
    )
    marked = set(ChangedDay.objects.values_list("day", flat=True))
    assert old.closed_on in marked and old.opened_on in marked

    jobs.run_sync(
        kind=MetricRun.Kind.INCREMENTAL, days=jobs.days_to_refresh(include_yesterday=False), clear_marks=True
    )
    incremental = _dump()
    assert not ChangedDay.objects.exists()
    for model in SUMMARY_MODELS:
        model.objects.all().delete()
    _backfill()
    assert incremental == _dump()
    assert_matches_oracle(Period.containing(old.closed_on, PeriodKind.QUARTER))


def test_a_chunk_failing_midway_leaves_no_partial_rows_and_the_rerun_completes(db, monkeypatch):
    start, end = _window()
    make_dataset(seed=4, reps=8, teams=2, start=start, end=end, deals=120, activities=600, tz=TZ)
    _backfill()
    before = _dump()
    # The change: every activity gets longer, so every activity figure moves.
    from activities.models import Activity

    Activity.objects.update(duration_minutes=30)
    jobs.metrics_mark_changed(days=jobs.all_days())

    real_funnel = rollup._rollup_funnel
    calls = []

    def crash_after_metrics(period, *args):
        # By now this period's metric rows were rewritten in the chunk's transaction.
        assert PeriodMetric.objects.filter(period_kind=period.kind, period_start=period.start).exists()
        calls.append(period)
        raise RuntimeError("worker lost")

    monkeypatch.setattr(rollup, "_rollup_funnel", crash_after_metrics)
    run = jobs.run_sync(
        kind=MetricRun.Kind.NIGHTLY, days=jobs.days_to_refresh(include_yesterday=False), clear_marks=True
    )
    # Every period chunk failed twice (tried again once), was recorded, and the run still ended.
    periods = jobs.plan_for_days(jobs.all_days()).periods
    assert len(calls) == 2 * len(periods)
    assert run.status == MetricRun.Status.PARTIAL and "worker lost" in run.error
    assert run.problems.count() == len(periods) and "Traceback" not in run.error
    # The daily chunks committed (new); the failed periods kept every old row (nothing half-written).
    after_failure = _dump()
    for model in (PeriodMetric, PeriodActivityMix, PeriodFunnel, PeriodProduct, PeriodActivityImpact):
        assert after_failure[model.__name__] == before[model.__name__]
    assert after_failure["RepDayActivity"] != before["RepDayActivity"]
    assert ChangedDay.objects.count() == len(jobs.all_days()), "the marks must stay for the re-run"

    monkeypatch.setattr(rollup, "_rollup_funnel", real_funnel)
    jobs.run_sync(
        kind=MetricRun.Kind.NIGHTLY, days=jobs.days_to_refresh(include_yesterday=False), clear_marks=True
    )
    assert not ChangedDay.objects.exists()
    for period in _periods(start, end):
        assert_matches_oracle(period)


def test_a_change_marked_during_a_run_survives_it(db):
    start, end = _window()
    make_dataset(seed=9, reps=4, teams=1, start=start, end=end, deals=20, activities=60, tz=TZ)
    day = end - timedelta(days=5)
    jobs.metrics_mark_changed(days=[day])
    run_started = timezone.now()
    # Marked again after the run started: a newer edit the run did not see.
    ChangedDay.objects.filter(day=day).update(marked_at=run_started + timedelta(seconds=1))
    run = jobs.run_start(kind=MetricRun.Kind.INCREMENTAL, plan=jobs.plan_for_days([day]))
    jobs.run_finish(run_id=run.pk, cleared_before=run_started, cleared_days=[day])
    assert ChangedDay.objects.filter(day=day).exists()


def test_writes_mark_their_days_and_ask_for_a_refresh(django_capture_on_commit_callbacks, db):
    start, end = _window()
    make_dataset(seed=2, reps=3, teams=1, start=start, end=end, deals=10, activities=20, tz=TZ)
    deal = Deal.objects.filter(stage__kind="open").order_by("id").first()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.deal_update(deal=deal, amount=deal.amount + 1)
    assert callbacks, "a refresh is enqueued on commit"
    # Eager Celery ran the incremental job: the marks were consumed and a run recorded.
    assert MetricRun.objects.filter(kind=MetricRun.Kind.INCREMENTAL, status="succeeded").exists()
    assert not ChangedDay.objects.exists()


def test_a_broker_outage_does_not_fail_the_save(
    django_capture_on_commit_callbacks, db, settings, monkeypatch
):
    from metrics import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.run_incremental, "apply_async", broker_down)
    start, end = _window()
    make_dataset(seed=2, reps=3, teams=1, start=start, end=end, deals=10, activities=20, tz=TZ)
    deal = Deal.objects.filter(stage__kind="open").order_by("id").first()
    with django_capture_on_commit_callbacks(execute=True):
        services.deal_update(deal=deal, name="Renamed while Redis is down")
    assert Deal.objects.get(pk=deal.pk).name == "Renamed while Redis is down"
    assert ChangedDay.objects.exists(), "the nightly run will catch up from the marks"


def test_compute_metrics_command_backfills_and_records_the_run(db):
    from io import StringIO

    from django.core.management import call_command

    start, end = _window()
    make_dataset(seed=6, reps=5, teams=1, start=start, end=end, deals=40, activities=150, tz=TZ)
    out = StringIO()
    call_command("compute_metrics", "--all", stdout=out, stderr=StringIO())
    run = MetricRun.objects.get()
    assert run.kind == "backfill" and run.status == "succeeded" and run.rows_written > 0
    assert run.chunks_done == run.chunks_total
    assert "summary rows written" in out.getvalue()
    assert_matches_oracle(Period.containing(start, PeriodKind.QUARTER))


def test_compute_metrics_refuses_bad_dates(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="not a date"):
        call_command("compute_metrics", "--date", "2026-02-30")
    with pytest.raises(CommandError, match="before"):
        call_command("compute_metrics", "--since", "2026-03-01", "--until", "2026-02-01")


def test_the_nightly_beat_entry_points_at_the_task(db):
    from django_celery_beat.models import PeriodicTask

    from salestrack.celery import app

    entry = PeriodicTask.objects.get(task="metrics.run_nightly")
    assert entry.enabled
    assert (entry.crontab.hour, entry.crontab.minute) == ("1", "0")
    app.loader.import_default_modules()
    assert "metrics.run_nightly" in app.tasks


def test_periods_containing_lists_month_quarter_and_year():
    found = rollup.periods_containing([date(2026, 3, 31), date(2026, 4, 1)])
    assert sorted(str(p) for p in found) == ["2026", "2026-03", "2026-04", "2026-Q1", "2026-Q2"]


def test_moving_a_rep_to_another_team_in_admin_recomputes_every_period(
    db, rf, admin_user, django_capture_on_commit_callbacks
):
    from django.contrib import admin

    from activities.models import Rep

    start, end = _window()
    make_dataset(seed=12, reps=6, teams=2, start=start, end=end, deals=80, activities=300, tz=TZ)
    _backfill()
    rep = Rep.objects.filter(deals__stage__kind="won").order_by("id").first()
    other_team = Team.objects.exclude(pk=rep.team_id).filter(reps__isnull=False).first()

    model_admin = admin.site._registry[Rep]
    request = rf.post("/")
    request.user = admin_user
    form_class = model_admin.get_form(request, rep, change=True)
    data = {
        "user": rep.user_id,
        "team": other_team.pk,
        "territory": rep.territory_id or "",
        "is_active": "on" if rep.is_active else "",
        "hired_on": rep.hired_on or "",
    }
    form = form_class(data, instance=rep)
    assert form.is_valid(), form.errors
    with django_capture_on_commit_callbacks(execute=True):
        model_admin.save_model(request, form.save(commit=False), form, change=True)
    # The eager incremental run consumed the marks; every period now shows the move.
    assert not ChangedDay.objects.exists()
    for period in _periods(start, end):
        assert_matches_oracle(period)


def test_after_a_broker_outage_the_next_change_queues_a_run_again(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    from metrics import tasks

    real_apply_async = tasks.run_incremental.apply_async

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    start, end = _window()
    make_dataset(seed=2, reps=3, teams=1, start=start, end=end, deals=10, activities=20, tz=TZ)
    deal = Deal.objects.filter(stage__kind="open").order_by("id").first()
    monkeypatch.setattr(tasks.run_incremental, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        services.deal_update(deal=deal, name="While the broker is down")
    monkeypatch.setattr(tasks.run_incremental, "apply_async", real_apply_async)
    with django_capture_on_commit_callbacks(execute=True):
        services.deal_update(deal=deal, name="Broker back")
    assert MetricRun.objects.filter(kind=MetricRun.Kind.INCREMENTAL, status="succeeded").exists()
    assert not ChangedDay.objects.exists()
