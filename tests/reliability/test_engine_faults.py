"""The metrics engine under faults: a poisoned day, stale marks, a dead run, two runs at once.

A poisoned day is made for real: a database trigger refuses the daily rows of one day, as a
bad row or a corrupt page would. Everything else of the run must still complete and commit,
the slice is tried again and recorded in words, its marks stay, and once the fault is gone
the next run catches up to exactly what a clean backfill computes.
"""

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from metrics import jobs
from metrics.models import ChangedDay, MetricRun, MetricRunProblem, RepDayActivity
from tests.metrics.datagen import make_dataset
from tests.metrics.test_rollup import SUMMARY_MODELS, _backfill, _dump, _window

TZ = "UTC"


def _poison(day: date) -> None:
    """From now on the database refuses every daily activity row of `day`."""
    table = RepDayActivity._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION poison_day() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.day = DATE '{day.isoformat()}' THEN "
                "RAISE EXCEPTION 'disk page of % unreadable', NEW.day; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER poison_day BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION poison_day()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER poison_day BEFORE INSERT ON {table} WHEN NEW.day = '{day.isoformat()}' "
                "BEGIN SELECT RAISE(ABORT, 'disk page unreadable'); END"
            )


def _cure() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER poison_day ON {RepDayActivity._meta.db_table}")
            cursor.execute("DROP FUNCTION poison_day()")
        else:
            cursor.execute("DROP TRIGGER poison_day")


def _a_day_with_activities() -> date:
    from activities.models import Activity

    first = Activity.objects.order_by("occurred_at").values_list("occurred_at", flat=True)[20]
    return timezone.localtime(first).date()


def _clean_backfill() -> dict:
    for model in SUMMARY_MODELS:
        model.objects.all().delete()
    _backfill()
    return _dump()


@pytest.fixture
def dataset(db, settings):
    settings.TIME_ZONE = TZ
    start, end = _window()
    make_dataset(seed=5, reps=6, teams=2, start=start, end=end, deals=80, activities=500, tz=TZ)
    return start, end


def test_a_poisoned_day_stops_only_its_own_slice_and_the_next_run_catches_up(dataset):
    start, end = dataset
    _backfill()
    # Every day changes; one of them cannot be written.
    from activities.models import Activity

    Activity.objects.update(duration_minutes=17)
    jobs.metrics_mark_changed(days=jobs.all_days())
    poisoned = _a_day_with_activities()
    _poison(poisoned)

    run = jobs.run_sync(
        kind=MetricRun.Kind.NIGHTLY, days=jobs.days_to_refresh(include_yesterday=False), clear_marks=True
    )

    assert run.status == MetricRun.Status.PARTIAL
    problems = list(MetricRunProblem.objects.filter(run=run))
    # Only the daily chunk holding the poisoned day failed, tried twice.
    assert problems and all(p.first_day <= poisoned <= p.last_day for p in problems)
    assert all(p.attempts == jobs.CHUNK_ATTEMPTS for p in problems)
    assert all("unreadable" in p.message and "Traceback" not in p.message for p in problems)
    assert run.chunks_done == run.chunks_total, "every other chunk still ran"
    # The other days were computed: the new durations are in their rows; the failed slices
    # kept their old rows whole (their chunk rolled back).
    failed = [(p.first_day, p.last_day, p.slice) for p in problems]
    for row in RepDayActivity.objects.all():
        inside = any(first <= row.day <= last for first, last, _ in failed)
        if not inside:
            assert row.minutes == 17 * row.count
    assert RepDayActivity.objects.filter(day=poisoned).exists(), "the old rows of the poisoned day stay"
    # The marks of the failed slice stay, the others are gone.
    kept = set(ChangedDay.objects.values_list("day", flat=True))
    assert poisoned in kept
    assert all(any(p.first_day <= day <= p.last_day for p in problems) for day in kept)

    # The fault goes away; the next ordinary run completes and equals a clean backfill.
    _cure()
    again = jobs.run_sync(
        kind=MetricRun.Kind.NIGHTLY, days=jobs.days_to_refresh(include_yesterday=False), clear_marks=True
    )
    assert again.status == MetricRun.Status.SUCCEEDED, again.error
    assert not ChangedDay.objects.exists()
    caught_up = _dump()
    assert caught_up == _clean_backfill()
    print(
        f"poisoned {poisoned}: {len(problems)} of {run.chunks_total} chunks failed after "
        f"{jobs.CHUNK_ATTEMPTS} attempts each, the other {run.chunks_total - len(problems)} committed; "
        f"{len(kept)} marks kept; the next run caught up to a clean backfill"
    )


def test_the_command_names_the_slices_it_could_not_compute_and_fails(dataset, capsys):
    _poison(_a_day_with_activities())
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="could not be computed"):
        call_command("compute_metrics", "--all", verbosity=0)
    err = capsys.readouterr().err
    assert "Not computed: daily figures of" in err
    assert "unreadable" in err and "Traceback" not in err
    assert MetricRun.objects.get().status == MetricRun.Status.PARTIAL


def test_marks_of_days_whose_rows_are_gone_or_outside_the_calendar_never_fail_a_run(dataset):
    _backfill()
    deal = __import__("activities.models", fromlist=["Deal"]).Deal.objects.first()
    gone_day = deal.opened_on
    deal.delete()
    now = timezone.now()
    # A mark of a deleted row's day, and marks left by rows from before the calendar window
    # (year 1 and a 0226 typo, as an old version accepted them).
    for day in (gone_day, date(1, 1, 1), date(226, 11, 1), date(9999, 12, 31)):
        ChangedDay.objects.create(day=day, marked_at=now)

    run = jobs.run_sync(
        kind=MetricRun.Kind.NIGHTLY, days=jobs.days_to_refresh(include_yesterday=True), clear_marks=True
    )

    assert run.status == MetricRun.Status.SUCCEEDED, run.error
    assert not ChangedDay.objects.exists()
    assert _dump() == _clean_backfill()


def test_one_run_at_a_time_a_second_declines_or_waits(dataset):
    plan = jobs.plan_for_days(jobs.all_days())
    first = jobs.run_start(kind=MetricRun.Kind.MANUAL, plan=plan)
    with pytest.raises(jobs.RunInProgress, match=f"#{first.pk}"):
        jobs.run_start(kind=MetricRun.Kind.MANUAL, plan=plan)
    # Waiting gives up after its time, the lock still with the first.
    with pytest.raises(jobs.RunInProgress):
        jobs.run_start(kind=MetricRun.Kind.MANUAL, plan=plan, wait=0.3)
    assert MetricRun.objects.filter(status=MetricRun.Status.RUNNING).count() == 1
    # Only its owner's compare-and-set releases it.
    assert jobs.run_finish(run_id=first.pk)
    assert not jobs.run_finish(run_id=first.pk), "a second release changes nothing"
    second = jobs.run_start(kind=MetricRun.Kind.MANUAL, plan=plan)
    assert second.pk != first.pk


def test_a_run_that_stopped_giving_signs_of_life_is_ended_and_frees_the_lock(dataset):
    plan = jobs.plan_for_days(jobs.all_days())
    dead = jobs.run_start(kind=MetricRun.Kind.NIGHTLY, plan=plan)
    # Its worker died an hour ago, after one chunk.
    MetricRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    live = MetricRun.objects.create(
        kind=MetricRun.Kind.MANUAL, status=MetricRun.Status.SUCCEEDED, started_at=timezone.now()
    )

    assert jobs.metrics_housekeeping(dispatch=lambda: None)["ended"] == 1
    dead.refresh_from_db()
    assert dead.status == MetricRun.Status.FAILED and "no chunk finished since" in dead.error
    live.refresh_from_db()
    assert live.status == MetricRun.Status.SUCCEEDED
    # A chunk of the dead run still in flight writes nothing.
    with pytest.raises(jobs.RunEnded):
        jobs.chunk_days(
            run_id=dead.pk, first_day=plan.day_chunks[0][0], last_day=plan.day_chunks[0][1], rep_ids=None
        )
    assert not RepDayActivity.objects.exists()
    # And the next run takes the lock and completes.
    assert (
        jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True).status
        == "succeeded"
    )


def test_a_new_run_ends_a_dead_one_by_itself_rather_than_waiting_for_housekeeping(dataset, settings):
    plan = jobs.plan_for_days(jobs.all_days())
    dead = jobs.run_start(kind=MetricRun.Kind.NIGHTLY, plan=plan)
    MetricRun.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=settings.SALESTRACK_METRICS_RUN_STALE_MINUTES + 1)
    )
    run = jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)
    assert run.status == MetricRun.Status.SUCCEEDED
    dead.refresh_from_db()
    assert dead.status == MetricRun.Status.FAILED


def test_housekeeping_asks_for_a_run_when_marks_waited_and_nothing_runs(dataset):
    asked = []
    jobs.metrics_mark_changed(days=[dataset[0]])
    assert jobs.metrics_housekeeping(dispatch=lambda: asked.append(1)) == {"ended": 0, "queued": False}
    ChangedDay.objects.update(marked_at=timezone.now() - timedelta(minutes=10))
    assert jobs.metrics_housekeeping(dispatch=lambda: asked.append(1)) == {"ended": 0, "queued": True}
    jobs.run_start(kind=MetricRun.Kind.MANUAL, plan=jobs.plan_for_days([dataset[0]]))
    assert jobs.metrics_housekeeping(dispatch=lambda: asked.append(1))["queued"] is False
    assert asked == [1]


def test_pages_say_plainly_which_figures_are_stale_and_since_when(cast, client):
    from activities.models import ActivityType
    from activities.services import activity_log

    moment = timezone.now() - timedelta(days=2)
    activity_log(rep=cast.rep_a1, type=ActivityType.objects.get(name="Call"), occurred_at=moment)
    day = timezone.localtime(moment).date()
    _poison(day)
    run = jobs.run_sync(
        kind=MetricRun.Kind.NIGHTLY, days=jobs.days_to_refresh(include_yesterday=False), clear_marks=True
    )
    assert run.status == MetricRun.Status.PARTIAL

    client.force_login(cast.manager_a)
    for url in ("/dashboard/company/", f"/dashboard/team/{cast.team_a.pk}/", "/leaderboards/"):
        page = client.get(url).content.decode()
        assert 'data-testid="stale-figures"' in page, url
        assert "not updated since" in page and "are not in the figures yet" in page, url
    # Once the fault is gone and a run completes, the notes go.
    _cure()
    jobs.run_sync(
        kind=MetricRun.Kind.NIGHTLY, days=jobs.days_to_refresh(include_yesterday=False), clear_marks=True
    )
    page = client.get("/dashboard/company/").content.decode()
    assert 'data-testid="stale-figures"' not in page and 'data-testid="pending-changes"' not in page
