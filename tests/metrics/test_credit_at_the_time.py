"""Credit at the time: a rep's move to another team from a day changes only the periods from that
day on (PRODUCT.md, "Credit at the time"), in the engine, the leaderboard, admin and the API."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from activities import services
from activities.models import ActivityType, Rep, RepAssignment, Stage, Team, Territory
from leaderboards.selectors import leaderboard_for
from metrics import jobs, rollup
from metrics.models import ChangedDay, MetricRun, PeriodMetric
from metrics.periods import Period, PeriodKind
from tests.metrics.datagen import make_dataset
from tests.metrics.test_rollup import SUMMARY_MODELS, TZ, _backfill, _periods, _window, assert_matches_oracle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = TZ


def _rows_of(periods) -> dict:
    """Every period table's rows of these periods, without ids and timestamps."""
    dump = {}
    for model in SUMMARY_MODELS:
        if not hasattr(model, "period_start"):
            continue
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("id", "computed_at")]
        for period in periods:
            rows = model.objects.filter(period_kind=period.kind, period_start=period.start)
            dump[(model.__name__, str(period))] = sorted(rows.values_list(*fields), key=repr)
    return dump


def _daily_rows_before(day: date) -> dict:
    dump = {}
    for model in SUMMARY_MODELS:
        if hasattr(model, "period_start"):
            continue
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        dump[model.__name__] = sorted(model.objects.filter(day__lt=day).values_list(*fields), key=repr)
    return dump


def _run_marked():
    days = list(ChangedDay.objects.values_list("day", flat=True))
    return jobs.run_sync(kind=MetricRun.Kind.INCREMENTAL, days=days, clear_marks=True)


def _mover():
    """A rep with won deals on both sides of the middle of the window, and a team to move to."""
    start, end = _window()
    make_dataset(seed=5, reps=8, teams=3, start=start, end=end, deals=160, activities=900, tz=TZ)
    _backfill()
    middle = start + (end - start) / 2
    rep = (
        Rep.objects.filter(deals__stage__kind=Stage.Kind.WON, deals__closed_on__gt=middle)
        .filter(deals__stage__kind=Stage.Kind.WON, deals__closed_on__lt=middle)
        .order_by("id")
        .first()
    )
    other = Team.objects.exclude(pk=rep.team_id).order_by("id").first()
    return start, end, rep, other


def test_a_move_from_a_day_leaves_every_earlier_period_byte_identical(db):
    start, end, rep, other = _mover()
    # The move is from the first day of the window's second quarter.
    moved_on = Period.containing(end, PeriodKind.QUARTER).start
    periods = _periods(start, end)
    earlier = [p for p in periods if p.last_day < moved_on]
    later = [p for p in periods if p.last_day >= moved_on]
    before_earlier, before_later = _rows_of(earlier), _rows_of(later)
    daily_before = _daily_rows_before(moved_on)
    last_quarter = Period.containing(start, PeriodKind.QUARTER)
    board_before = leaderboard_for(metric="revenue", period=last_quarter, scope="team", scope_id=rep.team_id)
    old_team = rep.team_id

    services.rep_move(rep=rep, team=other, from_day=moved_on)
    assert not ChangedDay.objects.filter(day__lt=moved_on).exists()
    _run_marked()

    assert _rows_of(earlier) == before_earlier
    assert _daily_rows_before(moved_on) == daily_before
    board_after = leaderboard_for(metric="revenue", period=last_quarter, scope="team", scope_id=old_team)
    assert [(r.rep_id, r.rank, r.value) for r in board_after] == [
        (r.rep_id, r.rank, r.value) for r in board_before
    ]
    assert _rows_of(later) != before_later  # the second quarter (and the year) moved with the rep
    for period in periods:
        assert_matches_oracle(period)
    # The rep ranks in the new team's board of the second quarter, not in the old one's.
    second = Period.containing(end, PeriodKind.QUARTER)
    new_board = leaderboard_for(metric="revenue", period=second, scope="team", scope_id=other.pk)
    old_board = leaderboard_for(metric="revenue", period=second, scope="team", scope_id=old_team)
    assert rep.pk in [r.rep_id for r in new_board] and rep.pk not in [r.rep_id for r in old_board]


def test_after_a_move_an_incremental_run_equals_a_full_backfill(db):
    start, end, rep, other = _mover()
    services.rep_move(rep=rep, team=other, from_day=start + timedelta(days=40))
    _run_marked()
    incremental = _rows_of(_periods(start, end))
    _backfill()
    assert _rows_of(_periods(start, end)) == incremental


def _all_rows_with_stamps() -> dict:
    """Every period row with its id and computed_at: a row rewritten (even to the same figures)
    would show here."""
    return {
        model.__name__: sorted(model.objects.values_list(*[f.attname for f in model._meta.concrete_fields]))
        for model in SUMMARY_MODELS
        if hasattr(model, "period_start") and model.__name__ != "PeriodActivityImpact"
    }


def test_one_reps_saves_rebuild_only_their_slices_and_equal_a_full_backfill(db):
    """An activity saved before a rep's move and a deal won after it: the incremental run, as the
    Celery task plans it, rebuilds that rep's daily rows and only the period rows of that rep,
    both of their teams, territories and the company; every other row is left alone (not even
    rewritten), and the tables equal a full backfill."""
    start, end, rep, other = _mover()
    old_team = rep.team
    moved_on = start + timedelta(days=100)
    services.rep_move(rep=rep, team=other, from_day=moved_on)
    _run_marked()
    assert not ChangedDay.objects.exists()
    untouched_rep = Rep.objects.exclude(pk=rep.pk).exclude(team__in=[old_team, other]).order_by("id").first()
    stamps_before = _all_rows_with_stamps()

    call = ActivityType.objects.order_by("id").first()
    before_move = timezone.make_aware(datetime.combine(moved_on - timedelta(days=9), time(11)))
    services.activity_log(rep=rep, type=call, occurred_at=before_move, duration_minutes=47)
    deal = services.deal_open(
        owner=rep, name="After the move", amount=Decimal("4321.09"), opened_on=moved_on + timedelta(days=3)
    )
    won = Stage.objects.get(name="Won")
    services.deal_move_stage(deal=deal, to_stage=won, by=None, closed_on=moved_on + timedelta(days=20))
    days = jobs.days_to_refresh(include_yesterday=False)
    reps = jobs.marked_reps(days)
    assert reps and all(ids == [rep.pk] for ids in reps.values()) and set(reps) == set(days)
    plan = jobs.plan_for_days(days, reps)
    assert set(plan.period_reps) == set(plan.periods) and all(c[2] == [rep.pk] for c in plan.day_chunks)
    assert {old_team.pk, other.pk} <= set(rollup.slices_of_reps(plan.periods[-1], [rep.pk]).teams)

    jobs.run_sync(kind=MetricRun.Kind.INCREMENTAL, days=days, clear_marks=True, reps=reps)
    assert not ChangedDay.objects.exists()
    after = _all_rows_with_stamps()
    for name, rows in after.items():
        # An untouched rep's rows are the very rows from before (same ids, same computed_at).
        of_other = [r for r in rows if r[1:3] == ("rep", untouched_rep.pk)]
        assert of_other and of_other == [
            r for r in stamps_before[name] if r[1:3] == ("rep", untouched_rep.pk)
        ], name
    changed = {r[1:5] for name in after for r in set(after[name]) - set(stamps_before[name])}
    assert ("rep", rep.pk) in {c[:2] for c in changed} and ("team", old_team.pk) in {c[:2] for c in changed}
    assert ("team", other.pk) in {c[:2] for c in changed} and ("company", 0) in {c[:2] for c in changed}
    assert {c[:2] for c in changed} <= {
        ("rep", rep.pk),
        ("team", old_team.pk),
        ("team", other.pk),
        ("company", 0),
        *(("territory", t) for t in Territory.objects.values_list("pk", flat=True)),
    }
    incremental = _rows_of(_periods(start, end))
    daily = _daily_rows_before(end + timedelta(days=400))
    _backfill()
    assert _rows_of(_periods(start, end)) == incremental
    assert _daily_rows_before(end + timedelta(days=400)) == daily
    for period in _periods(start, end):
        assert_matches_oracle(period)


def test_team_revenue_is_split_at_the_day_of_the_move(db):
    start, end, rep, other = _mover()
    year = Period.containing(end, PeriodKind.YEAR)
    moved_on = start + (end - start) / 2
    old_team = rep.team_id
    won = rep.deals.filter(
        stage__kind=Stage.Kind.WON, closed_on__gte=year.start, closed_on__lte=year.last_day
    )
    before = sum((d.amount for d in won if d.closed_on < moved_on), Decimal("0"))
    after = sum((d.amount for d in won if d.closed_on >= moved_on), Decimal("0"))
    assert before and after

    def team_revenue(team_id):
        return PeriodMetric.objects.get(
            scope="team", scope_id=team_id, period_kind=year.kind, period_start=year.start
        ).revenue

    old_before, new_before = team_revenue(old_team), team_revenue(other.pk)
    services.rep_move(rep=rep, team=other, from_day=moved_on)
    _run_marked()
    assert team_revenue(old_team) == old_before - after
    assert team_revenue(other.pk) == new_before + after
    rep_row = PeriodMetric.objects.get(
        scope="rep", scope_id=rep.pk, period_kind=year.kind, period_start=year.start
    )
    assert rep_row.revenue == before + after  # the rep's own figures do not move


# --- the service ------------------------------------------------------------------------------------


def test_a_move_records_the_history_and_keeps_the_current_team(cast):
    today = timezone.localdate()
    services.rep_move(rep=cast.rep_a1, team=cast.team_b, from_day=today - timedelta(days=30), by=cast.admin)
    rep = Rep.objects.get(pk=cast.rep_a1.pk)
    assert (rep.team, rep.territory) == (cast.team_b, cast.team_b.territory)
    history = [(a.team, a.starts_on, a.recorded_by) for a in rep.assignments.all()]
    assert history == [(cast.team_a, None, None), (cast.team_b, today - timedelta(days=30), cast.admin)]
    # Back to A from ten days ago, then a correction of that day: the same row, now to B's territory.
    services.rep_move(rep=rep, team=cast.team_a, from_day=today - timedelta(days=10))
    services.rep_move(
        rep=rep, team=cast.team_a, territory=cast.territory_south, from_day=today - timedelta(days=10)
    )
    rep.refresh_from_db()
    assert (rep.team, rep.territory) == (cast.team_a, cast.territory_south)
    assert rep.assignments.count() == 3
    # Moving to where the rep already is changes nothing.
    assert services.rep_move(rep=rep, team=cast.team_a, territory=cast.territory_south) is None
    assert rep.assignments.count() == 3


def test_a_backdated_move_before_a_later_one_keeps_the_later_one(cast):
    today = timezone.localdate()
    services.rep_move(rep=cast.rep_a1, team=cast.team_b, from_day=today - timedelta(days=5))
    services.rep_move(rep=cast.rep_a1, team=cast.team_b, from_day=today - timedelta(days=50))
    days = list(cast.rep_a1.assignments.values_list("starts_on", "team__name"))
    assert days == [
        (None, "Team A"),
        (today - timedelta(days=50), "Team B"),
        (today - timedelta(days=5), "Team B"),
    ]
    assert Rep.objects.get(pk=cast.rep_a1.pk).team == cast.team_b


@pytest.mark.parametrize(
    ("offset", "reason"), [(1, "today or on an earlier day"), (None, "before 2000-01-01")]
)
def test_a_move_day_in_the_future_or_before_the_window_is_refused(cast, offset, reason):
    day = timezone.localdate() + timedelta(days=offset) if offset else date(1999, 12, 31)
    with pytest.raises(ValidationError) as refused:
        services.rep_move(rep=cast.rep_a1, team=cast.team_b, from_day=day)
    assert reason in refused.value.message_dict["from_day"][0]
    assert Rep.objects.get(pk=cast.rep_a1.pk).team == cast.team_a
    assert not RepAssignment.objects.filter(rep=cast.rep_a1, starts_on__isnull=False).exists()


# --- the API and admin ------------------------------------------------------------------------------


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_moves_a_rep_through_the_api(cast):
    day = timezone.localdate() - timedelta(days=3)
    url = f"/api/v1/reps/{cast.rep_a1.pk}/move/"
    response = _client(cast.admin).post(
        url, {"team": cast.team_b.pk, "moved_on": day.isoformat()}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert [(row["team"], row["starts_on"]) for row in response.json()] == [
        (cast.team_a.pk, None),
        (cast.team_b.pk, day.isoformat()),
    ]
    assert ChangedDay.objects.filter(day=day).exists()
    history = _client(cast.manager_b).get(f"/api/v1/reps/{cast.rep_a1.pk}/assignments/")
    assert history.status_code == 200 and len(history.json()) == 2


def test_the_api_refuses_a_move_by_a_manager_a_bad_day_and_a_rep_out_of_scope(cast):
    url = f"/api/v1/reps/{cast.rep_a1.pk}/move/"
    body = {"team": cast.team_b.pk}
    refused = _client(cast.manager_a).post(url, body, content_type="application/json")
    assert refused.status_code == 403
    future = (timezone.localdate() + timedelta(days=1)).isoformat()
    bad = _client(cast.admin).post(url, {**body, "moved_on": future}, content_type="application/json")
    assert bad.status_code == 400 and "today or on an earlier day" in bad.json()["moved_on"][0]
    # A manager of another team gets "not found", as for a rep that does not exist.
    hidden = _client(cast.manager_b).get(f"/api/v1/reps/{cast.rep_a1.pk}/assignments/")
    missing = _client(cast.manager_b).get("/api/v1/reps/999999/assignments/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert Rep.objects.get(pk=cast.rep_a1.pk).team == cast.team_a


def test_the_admin_form_moves_a_rep_from_the_day_given(cast):
    day = timezone.localdate() - timedelta(days=20)
    client = _client(cast.admin)
    url = f"/admin/activities/rep/{cast.rep_a1.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and "Team history" in page.content.decode()
    data = {
        "user": cast.rep_a1.user_id,
        "team": cast.team_b.pk,
        "territory": cast.territory_south.pk,
        "is_active": "on",
        "hired_on": "",
        "moved_on": day.isoformat(),
    }
    response = client.post(url, _inline_management(client, url, data))
    assert response.status_code == 302, _form_errors(response)
    assert list(cast.rep_a1.assignments.values_list("starts_on", "team")) == [
        (None, cast.team_a.pk),
        (day, cast.team_b.pk),
    ]


def _inline_management(client, url, data: dict) -> dict:
    """The inline formsets' hidden fields (management forms, ids of the rows shown), read off the page."""
    import re

    page = client.get(url).content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="([\w-]+-[\w-]+)" value="([^"]*)"', page))
    return {**hidden, **{k: v for k, v in data.items() if not k.endswith("_FORMS")}}


def _form_errors(response) -> str:
    context = response.context
    errors = [context["adminform"].form.errors]
    errors += [f.formset.errors + f.formset.non_form_errors() for f in context["inline_admin_formsets"]]
    return repr(errors)
