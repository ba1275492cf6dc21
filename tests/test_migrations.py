"""Migrations match the models and leave a fresh database ready to use."""

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.management import call_command

from activities.models import ActivityType, Stage

pytestmark = pytest.mark.django_db


def test_the_models_need_no_new_migration():
    out = StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, stdout=out, stderr=out)
    except SystemExit:
        pytest.fail(f"a model change has no migration yet:\n{out.getvalue()}")


def test_the_default_pipeline_exists_in_order():
    open_stages = Stage.objects.filter(kind=Stage.Kind.OPEN).order_by("order")
    assert [s.name for s in open_stages] == ["Lead", "MQL", "SQL", "Proposal", "Negotiation"]
    assert Stage.objects.get(name="Won").kind == Stage.Kind.WON
    assert Stage.objects.get(name="Lost").kind == Stage.Kind.LOST
    assert Stage.objects.count() == 7


def test_closed_stages_come_after_the_open_ones_and_chances_grow_along_the_pipeline():
    stages = list(Stage.objects.order_by("order"))
    kinds = [s.kind for s in stages]
    assert kinds[:5] == [Stage.Kind.OPEN] * 5
    assert set(kinds[5:]) == {Stage.Kind.WON, Stage.Kind.LOST}
    chances = [s.win_probability for s in stages[:5]]
    assert chances == sorted(chances)
    assert all(0 <= c <= 1 for c in chances)
    assert Stage.objects.get(name="Won").win_probability == 1
    assert Stage.objects.get(name="Lost").win_probability == 0


def test_the_default_activity_types_exist_split_into_selling_and_not():
    selling = set(ActivityType.objects.filter(is_selling=True).values_list("name", flat=True))
    other = set(ActivityType.objects.filter(is_selling=False).values_list("name", flat=True))
    assert selling == {"Call", "Email", "Client meeting", "Demo"}
    assert other == {"Sales prep", "Internal meeting", "Admin", "Travel", "Training"}
    for kind in ActivityType.objects.all():
        assert kind.is_active
        assert 1 <= kind.default_duration <= 1440


def test_the_defaults_migration_can_run_again_without_duplicates():
    defaults = importlib.import_module("activities.migrations.0002_default_pipeline_and_activity_types")
    before = (Stage.objects.count(), ActivityType.objects.count())
    defaults.create_defaults(apps, None)
    assert (Stage.objects.count(), ActivityType.objects.count()) == before


def test_the_three_role_groups_exist():
    assert set(Group.objects.filter(name__in=["rep", "manager", "admin"]).values_list("name", flat=True)) == {
        "rep",
        "manager",
        "admin",
    }


def test_a_rep_may_log_activities_and_work_deals_but_not_configure(cast):
    user = cast.rep_a1.user
    for perm in (
        "activities.add_activity",
        "activities.change_activity",
        "activities.delete_activity",
        "activities.add_deal",
        "activities.change_deal",
        "activities.add_dealstagechange",
        "activities.view_stage",
    ):
        assert user.has_perm(perm), perm
    for perm in (
        "activities.change_dealstagechange",
        "activities.add_stage",
        "activities.change_activitytype",
        "activities.change_rep",
        "metrics.add_quota",
        "metrics.view_quota",
    ):
        assert not user.has_perm(perm), perm


def test_a_manager_watches_but_does_not_change(cast):
    user = cast.manager_a
    for perm in (
        "activities.view_activity",
        "activities.view_deal",
        "activities.view_rep",
        "metrics.view_quota",
    ):
        assert user.has_perm(perm), perm
    for perm in (
        "activities.change_deal",
        "activities.add_activity",
        "activities.delete_deal",
        "metrics.change_quota",
        "activities.change_stage",
    ):
        assert not user.has_perm(perm), perm


def test_an_admin_configures_everything_of_salestrack(cast):
    user = cast.admin
    for perm in (
        "metrics.change_quota",
        "metrics.add_projection",
        "metrics.add_activitytarget",
        "activities.add_stage",
        "activities.change_activitytype",
        "activities.change_deal",
        "activities.add_team",
        "activities.change_rep",
    ):
        assert user.has_perm(perm), perm
    # Permissions themselves stay with superusers.
    assert not user.has_perm("auth.change_group")


def test_existing_reps_get_their_team_from_the_start_and_daily_rows_their_credit(cast):
    """The data steps of activities 0008 and metrics 0011, run on rows from before them."""
    from activities.models import RepAssignment
    from metrics.models import RepDayActivity

    RepAssignment.objects.all().delete()  # as before 0008: reps without a history
    call = ActivityType.objects.first()
    row = RepDayActivity(rep=cast.rep_b1, day="2026-01-05", activity_type=call, count=2, minutes=30)
    row.team_id, row.territory_id = cast.team_a.pk, None  # as before 0011: no credit yet
    row.save()
    importlib.import_module("activities.migrations.0008_rep_assignments").one_assignment_per_rep(apps, None)
    importlib.import_module("metrics.migrations.0011_credit_at_the_time").credit_current_teams(apps, None)
    history = RepAssignment.objects.order_by("rep_id").values_list(
        "rep_id", "team_id", "territory_id", "starts_on"
    )
    assert list(history) == [
        (rep.pk, rep.team_id, rep.territory_id, None) for rep in (cast.rep_a1, cast.rep_a2, cast.rep_b1)
    ]
    row.refresh_from_db()
    assert (row.team_id, row.territory_id) == (cast.team_b.pk, cast.rep_b1.territory_id)
