"""activities.access: who may see and edit which rows, over the fixed cast of personas."""

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser

from activities import access, services
from activities.models import Team
from tests.factories import AccountFactory, ActivityFactory, DealFactory, RepFactory


def pks(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


@pytest.fixture
def world(cast):
    """Two activities and one deal for each rep of the cast."""
    rows = SimpleNamespace(activities={}, deals={})
    for name in ("rep_a1", "rep_a2", "rep_b1"):
        rep = getattr(cast, name)
        rows.activities[name] = {ActivityFactory(rep=rep).pk, ActivityFactory(rep=rep).pk}
        rows.deals[name] = {DealFactory(owner=rep).pk}
    rows.all_activities = set().union(*rows.activities.values())
    rows.all_deals = set().union(*rows.deals.values())
    return rows


def activities_of(world, *names) -> set[int]:
    return set().union(*(world.activities[name] for name in names))


def deals_of(world, *names) -> set[int]:
    return set().union(*(world.deals[name] for name in names))


class RepAccessTests:
    def test_a_rep_sees_only_their_own_activities_and_deals(self, cast, world):
        user = cast.rep_a1.user
        assert pks(access.visible_activities(user)) == activities_of(world, "rep_a1")
        assert pks(access.visible_deals(user)) == deals_of(world, "rep_a1")

    def test_a_rep_does_not_see_a_teammate(self, cast, world):
        user = cast.rep_a1.user
        assert not pks(access.visible_activities(user)) & activities_of(world, "rep_a2")
        assert not pks(access.visible_deals(user)) & deals_of(world, "rep_a2")
        assert pks(access.visible_reps(user)) == {cast.rep_a1.pk}

    def test_a_rep_edits_only_their_own_rows(self, cast, world):
        user = cast.rep_b1.user
        assert pks(access.editable_activities(user)) == activities_of(world, "rep_b1")
        assert pks(access.editable_deals(user)) == deals_of(world, "rep_b1")

    def test_a_rep_sees_their_own_team_only(self, cast):
        assert pks(access.visible_teams(cast.rep_a1.user)) == {cast.team_a.pk}


class ManagerAccessTests:
    def test_a_manager_sees_their_teams_reps_and_not_another_team(self, cast, world):
        user = cast.manager_a
        assert pks(access.visible_activities(user)) == activities_of(world, "rep_a1", "rep_a2")
        assert pks(access.visible_deals(user)) == deals_of(world, "rep_a1", "rep_a2")
        assert pks(access.visible_reps(user)) == {cast.rep_a1.pk, cast.rep_a2.pk}
        assert pks(access.visible_teams(user)) == {cast.team_a.pk}

    def test_the_other_manager_sees_only_team_b(self, cast, world):
        user = cast.manager_b
        assert pks(access.visible_activities(user)) == activities_of(world, "rep_b1")
        assert pks(access.visible_deals(user)) == deals_of(world, "rep_b1")
        assert pks(access.visible_reps(user)) == {cast.rep_b1.pk}

    def test_a_manager_edits_nothing(self, cast, world):
        assert not access.editable_activities(cast.manager_a).exists()
        assert not access.editable_deals(cast.manager_a).exists()

    def test_a_manager_of_two_teams_sees_both(self, cast, world):
        cast.team_b.manager = cast.manager_a
        cast.team_b.save()
        user = cast.manager_a
        assert pks(access.visible_activities(user)) == world.all_activities
        assert pks(access.visible_teams(user)) == {cast.team_a.pk, cast.team_b.pk}
        assert not access.visible_reps(cast.manager_b).exists()

    def test_a_manager_who_is_also_a_rep_sees_own_and_team_rows_but_edits_only_own(self, cast, world):
        # A player-coach: manages team A, sells in team B.
        own = RepFactory(user=cast.manager_a, team=cast.team_b)
        own_activity = ActivityFactory(rep=own).pk
        own_deal = DealFactory(owner=own).pk
        user = cast.manager_a

        assert access.role_of(user) == "manager"
        assert pks(access.visible_activities(user)) == activities_of(world, "rep_a1", "rep_a2") | {
            own_activity
        }
        assert pks(access.visible_deals(user)) == deals_of(world, "rep_a1", "rep_a2") | {own_deal}
        assert pks(access.visible_reps(user)) == {cast.rep_a1.pk, cast.rep_a2.pk, own.pk}
        assert pks(access.editable_activities(user)) == {own_activity}
        assert pks(access.editable_deals(user)) == {own_deal}
        # Selling in team B does not open team B's other reps.
        assert not pks(access.visible_activities(user)) & activities_of(world, "rep_b1")

    def test_a_rep_named_as_team_manager_without_the_manager_role_gains_nothing(self, cast, world):
        # The manager field alone (e.g. a slip in admin) must not widen a rep's view.
        Team.objects.filter(pk=cast.team_b.pk).update(manager=cast.rep_a1.user)
        user = cast.rep_a1.user
        assert access.role_of(user) == "rep"
        assert pks(access.visible_activities(user)) == activities_of(world, "rep_a1")
        assert pks(access.visible_deals(user)) == deals_of(world, "rep_a1")
        assert pks(access.visible_reps(user)) == {cast.rep_a1.pk}
        assert pks(access.visible_teams(user)) == {cast.team_a.pk}

    def test_a_rep_moved_to_another_team_moves_to_that_teams_manager(self, cast, world):
        cast.rep_a2.team = cast.team_b
        cast.rep_a2.save()

        assert pks(access.visible_activities(cast.manager_a)) == activities_of(world, "rep_a1")
        assert pks(access.visible_deals(cast.manager_a)) == deals_of(world, "rep_a1")
        # Their history goes with them.
        assert pks(access.visible_activities(cast.manager_b)) == activities_of(world, "rep_b1", "rep_a2")
        assert pks(access.visible_deals(cast.manager_b)) == deals_of(world, "rep_b1", "rep_a2")
        # The rep keeps their own rows.
        assert pks(access.visible_activities(cast.rep_a2.user)) == activities_of(world, "rep_a2")

    def test_an_inactive_rep_stays_visible_to_their_manager(self, cast, world):
        cast.rep_a2.is_active = False
        cast.rep_a2.save()
        user = cast.manager_a
        assert cast.rep_a2.pk in pks(access.visible_reps(user))
        assert activities_of(world, "rep_a2") <= pks(access.visible_activities(user))
        assert deals_of(world, "rep_a2") <= pks(access.visible_deals(user))

    def test_a_manager_who_loses_the_role_loses_the_team(self, cast, world):
        user = cast.manager_a
        services.user_set_role(user=user, role="rep")
        assert not access.visible_activities(user).exists()
        assert not access.visible_teams(user).exists()


class AdminAccessTests:
    def test_an_admin_sees_everything(self, cast, world):
        user = cast.admin
        assert pks(access.visible_activities(user)) == world.all_activities
        assert pks(access.visible_deals(user)) == world.all_deals
        assert pks(access.visible_reps(user)) == {cast.rep_a1.pk, cast.rep_a2.pk, cast.rep_b1.pk}
        assert pks(access.visible_teams(user)) == {cast.team_a.pk, cast.team_b.pk}

    def test_an_admin_edits_in_django_admin_not_in_the_forms(self, cast, world):
        assert not access.editable_activities(cast.admin).exists()
        assert not access.editable_deals(cast.admin).exists()

    def test_a_superuser_without_any_group_counts_as_admin(self, cast, world, django_user_model):
        root = django_user_model.objects.create_superuser("root", "root@example.com", "x-long-password")
        assert not root.groups.exists()
        assert access.is_admin(root)
        assert access.role_of(root) == "admin"
        assert pks(access.visible_activities(root)) == world.all_activities
        assert pks(access.visible_deals(root)) == world.all_deals


class OutsiderAccessTests:
    @pytest.fixture
    def nobody(self, django_user_model):
        return django_user_model.objects.create_user("nobody", "nobody@example.com", "x-long-password")

    def test_a_user_without_any_role_sees_nothing(self, cast, world, nobody):
        assert access.role_of(nobody) is None
        for queryset in (
            access.visible_activities(nobody),
            access.visible_deals(nobody),
            access.visible_reps(nobody),
            access.visible_teams(nobody),
            access.editable_activities(nobody),
            access.editable_deals(nobody),
        ):
            assert not queryset.exists()

    def test_a_staff_user_without_a_role_is_not_an_admin(self, cast, world, nobody):
        nobody.is_staff = True
        nobody.save()
        assert access.role_of(nobody) is None
        assert not access.visible_activities(nobody).exists()

    @pytest.mark.parametrize("user", [AnonymousUser(), None], ids=["anonymous", "none"])
    def test_a_signed_out_visitor_sees_nothing(self, cast, world, user):
        assert access.role_of(user) is None
        assert access.rep_of(user) is None
        for queryset in (
            access.visible_activities(user),
            access.visible_deals(user),
            access.visible_reps(user),
            access.visible_teams(user),
            access.editable_activities(user),
            access.editable_deals(user),
            access.selectable_accounts(user),
        ):
            assert not queryset.exists()

    def test_every_signed_in_user_picks_from_the_shared_accounts(self, cast, nobody):
        account = AccountFactory(name="Globex")
        for user in (cast.rep_a1.user, cast.manager_b, cast.admin, nobody):
            assert account.pk in pks(access.selectable_accounts(user))


class RoleOfTests:
    def test_each_persona_has_its_role(self, cast):
        assert access.role_of(cast.admin) == "admin"
        assert access.role_of(cast.manager_a) == "manager"
        assert access.role_of(cast.manager_b) == "manager"
        for rep in (cast.rep_a1, cast.rep_a2, cast.rep_b1):
            assert access.role_of(rep.user) == "rep"

    def test_a_rep_profile_alone_makes_a_rep(self, cast, django_user_model):
        rep = RepFactory(team=cast.team_a)
        assert not rep.user.groups.exists()
        assert access.role_of(rep.user) == "rep"
        assert access.rep_of(rep.user) == rep

    def test_the_highest_role_wins(self, cast):
        cast.admin.groups.add(*cast.manager_a.groups.all())
        cast.admin.__dict__.pop("_salestrack_groups", None)
        assert access.role_of(cast.admin) == "admin"
