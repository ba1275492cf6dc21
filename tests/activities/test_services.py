"""The write services of activities: defaults, field errors, and nothing half-written."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone

from activities import access, services
from activities.models import Activity, ActivityType, Deal, DealStageChange, Rep, Source
from tests.factories import AccountFactory, ActivityFactory, stage

OPEN_STAGES = ["Lead", "MQL", "SQL", "Proposal", "Negotiation"]


def activity_type(name: str) -> ActivityType:
    return ActivityType.objects.get(name=name)


def rows() -> tuple[int, int, int]:
    """Everything the services under test may write, counted."""
    return Activity.objects.count(), Deal.objects.count(), DealStageChange.objects.count()


def open_deal(owner: Rep, **kwargs) -> Deal:
    kwargs.setdefault("name", "Fleet renewal")
    kwargs.setdefault("amount", Decimal("1200.00"))
    return services.deal_open(owner=owner, **kwargs)


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


@pytest.fixture
def today():
    return timezone.localdate()


class ActivityLogTests:
    def test_it_fills_in_now_and_the_type_default_duration(self, cast):
        prep = ActivityType.objects.create(name="Territory planning", default_duration=37)
        before = timezone.now()
        activity = services.activity_log(rep=cast.rep_a1, type=prep)
        after = timezone.now()

        activity.refresh_from_db()
        assert before <= activity.occurred_at <= after
        assert timezone.is_aware(activity.occurred_at)
        assert activity.duration_minutes == 37
        assert activity.rep == cast.rep_a1
        assert activity.source == Source.MANUAL

    def test_it_keeps_what_the_rep_entered(self, cast):
        when = timezone.now() - timedelta(days=2, hours=3)
        activity = services.activity_log(
            rep=cast.rep_a1,
            type=activity_type("Call"),
            occurred_at=when,
            duration_minutes=42,
            outcome="Booked a demo",
            notes="Wants a quote by Friday",
        )
        activity.refresh_from_db()
        assert activity.occurred_at == when
        assert activity.duration_minutes == 42
        assert activity.outcome == "Booked a demo"

    @pytest.mark.parametrize("minutes", [1, 1440])
    def test_it_accepts_the_limits_of_a_day(self, cast, minutes):
        activity = services.activity_log(
            rep=cast.rep_a1, type=activity_type("Travel"), duration_minutes=minutes
        )
        assert Activity.objects.get(pk=activity.pk).duration_minutes == minutes

    @pytest.mark.parametrize("minutes", [0, 1441, 5000])
    def test_it_rejects_a_duration_outside_one_day(self, cast, minutes):
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            services.activity_log(rep=cast.rep_a1, type=activity_type("Call"), duration_minutes=minutes)
        assert "duration_minutes" in errors_of(excinfo)
        assert rows() == before

    @pytest.mark.parametrize("ahead", [timedelta(days=3), timedelta(days=400)])
    def test_it_rejects_a_date_far_in_the_future(self, cast, ahead):
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            services.activity_log(
                rep=cast.rep_a1, type=activity_type("Call"), occurred_at=timezone.now() + ahead
            )
        assert "occurred_at" in errors_of(excinfo)
        assert "future" in " ".join(errors_of(excinfo)["occurred_at"])
        assert rows() == before

    def test_it_makes_a_naive_time_aware_in_the_deployment_time_zone(self, cast):
        naive = datetime(2025, 3, 4, 9, 30)
        activity = services.activity_log(rep=cast.rep_a1, type=activity_type("Call"), occurred_at=naive)
        activity.refresh_from_db()
        assert timezone.is_aware(activity.occurred_at)
        assert timezone.localtime(activity.occurred_at).replace(tzinfo=None) == naive

    def test_it_rejects_an_inactive_type(self, cast):
        retired = ActivityType.objects.create(name="Fax", is_active=False)
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            services.activity_log(rep=cast.rep_a1, type=retired)
        assert "type" in errors_of(excinfo)
        assert rows() == before

    def test_it_rejects_linking_another_reps_deal(self, cast):
        theirs = open_deal(cast.rep_b1)
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            services.activity_log(rep=cast.rep_a1, type=activity_type("Call"), deal=theirs)
        assert "deal" in errors_of(excinfo)
        assert rows() == before

    def test_it_links_an_own_deal_and_takes_its_account(self, cast):
        account = AccountFactory(name="Acme")
        deal = open_deal(cast.rep_a1, account=account)
        activity = services.activity_log(rep=cast.rep_a1, type=activity_type("Demo"), deal=deal)
        activity.refresh_from_db()
        assert activity.deal == deal
        assert activity.account == account

    def test_it_reports_every_bad_field_at_once(self, cast):
        theirs = open_deal(cast.rep_b1)
        with pytest.raises(ValidationError) as excinfo:
            services.activity_log(
                rep=cast.rep_a1,
                type=activity_type("Call"),
                duration_minutes=0,
                occurred_at=timezone.now() + timedelta(days=30),
                deal=theirs,
            )
        assert {"duration_minutes", "occurred_at", "deal"} <= set(errors_of(excinfo))

    def test_it_rejects_a_second_row_with_the_same_external_id(self, cast):
        services.activity_log(
            rep=cast.rep_a1, type=activity_type("Call"), source=Source.CRM, external_id="CRM-1"
        )
        before = rows()
        with pytest.raises(ValidationError):
            services.activity_log(
                rep=cast.rep_a1, type=activity_type("Call"), source=Source.CRM, external_id="CRM-1"
            )
        assert rows() == before
        services.activity_log(
            rep=cast.rep_a1, type=activity_type("Call"), source=Source.API, external_id="CRM-1"
        )


BAD_ACTIVITY_CHANGES = {
    "zero-minutes": lambda cast: {"duration_minutes": 0},
    "over-a-day": lambda cast: {"duration_minutes": 1441},
    "far-future": lambda cast: {"occurred_at": timezone.now() + timedelta(days=30)},
    "another-reps-deal": lambda cast: {"deal": open_deal(cast.rep_b1)},
}


class ActivityUpdateTests:
    def test_it_changes_the_fields_it_is_given(self, cast):
        activity = ActivityFactory(rep=cast.rep_a1, duration_minutes=15)
        updated = services.activity_update(
            activity=activity, duration_minutes=25, notes="Longer than planned"
        )
        activity.refresh_from_db()
        assert (activity.duration_minutes, activity.notes) == (25, "Longer than planned")
        assert updated.duration_minutes == 25

    @pytest.mark.parametrize("bad", BAD_ACTIVITY_CHANGES)
    def test_on_error_it_leaves_the_row_unchanged(self, cast, bad):
        activity = ActivityFactory(rep=cast.rep_a1, duration_minutes=15, notes="original")
        change = BAD_ACTIVITY_CHANGES[bad](cast)
        stored_before = Activity.objects.filter(pk=activity.pk).values().get()

        with pytest.raises(ValidationError) as excinfo:
            services.activity_update(activity=activity, notes="changed", **change)

        assert set(change) <= set(errors_of(excinfo))
        assert Activity.objects.filter(pk=activity.pk).values().get() == stored_before
        # The caller's object is not half-changed either.
        assert activity.notes == "original"
        assert activity.duration_minutes == 15

    def test_it_refuses_to_move_an_activity_to_another_rep(self, cast):
        activity = ActivityFactory(rep=cast.rep_a1)
        with pytest.raises(TypeError):
            services.activity_update(activity=activity, rep=cast.rep_b1)
        activity.refresh_from_db()
        assert activity.rep == cast.rep_a1

    def test_it_still_edits_an_old_entry_whose_type_was_retired_since(self, cast):
        fax = ActivityType.objects.create(name="Fax")
        activity = services.activity_log(rep=cast.rep_a1, type=fax)
        fax.is_active = False
        fax.save()

        services.activity_update(activity=activity, notes="Sent the signed order")

        activity.refresh_from_db()
        assert activity.notes == "Sent the signed order"

    def test_it_rejects_switching_to_a_retired_type(self, cast):
        fax = ActivityType.objects.create(name="Fax", is_active=False)
        activity = ActivityFactory(rep=cast.rep_a1)
        with pytest.raises(ValidationError) as excinfo:
            services.activity_update(activity=activity, type=fax)
        assert "type" in errors_of(excinfo)
        activity.refresh_from_db()
        assert activity.type.name == "Call"

    def test_delete_removes_the_row(self, cast):
        activity = ActivityFactory(rep=cast.rep_a1)
        services.activity_delete(activity=activity)
        assert not Activity.objects.filter(pk=activity.pk).exists()


class DealOpenTests:
    def test_it_opens_in_the_first_open_stage_today_and_records_it(self, cast, today):
        before = timezone.now()
        deal = open_deal(cast.rep_a1, by=cast.rep_a1.user)

        deal.refresh_from_db()
        assert deal.stage.name == "Lead"
        assert deal.opened_on == today
        assert deal.closed_on is None
        [change] = DealStageChange.objects.filter(deal=deal)
        assert change.from_stage is None
        assert change.to_stage.name == "Lead"
        assert change.by == cast.rep_a1.user
        assert before <= change.changed_at <= timezone.now()

    def test_it_opens_in_a_given_stage(self, cast, today):
        deal = open_deal(cast.rep_a1, stage=stage("SQL"), opened_on=today - timedelta(days=10))
        [change] = deal.stage_changes.all()
        assert (change.from_stage, change.to_stage.name) == (None, "SQL")

    def test_it_records_an_imported_deal_that_is_already_won(self, cast, today):
        deal = open_deal(
            cast.rep_a1,
            stage=stage("Won"),
            opened_on=today - timedelta(days=40),
            closed_on=today - timedelta(days=5),
            source=Source.CRM,
            external_id="CRM-7",
        )
        deal.refresh_from_db()
        assert deal.closed_on == today - timedelta(days=5)
        assert deal.stage_changes.get().to_stage.name == "Won"

    def test_it_rejects_a_negative_amount(self, cast):
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            open_deal(cast.rep_a1, amount=Decimal("-0.01"))
        assert "amount" in errors_of(excinfo)
        assert rows() == before

    def test_it_accepts_a_zero_amount(self, cast):
        assert open_deal(cast.rep_a1, amount=Decimal("0")).amount == 0

    def test_it_rejects_closing_before_opening(self, cast, today):
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            open_deal(
                cast.rep_a1,
                stage=stage("Won"),
                opened_on=today - timedelta(days=5),
                closed_on=today - timedelta(days=6),
            )
        assert "closed_on" in errors_of(excinfo)
        assert rows() == before

    def test_it_rejects_a_closed_stage_without_closing_date(self, cast):
        with pytest.raises(ValidationError) as excinfo:
            open_deal(cast.rep_a1, stage=stage("Lost"))
        assert "closed_on" in errors_of(excinfo)

    def test_it_rejects_a_closing_date_on_an_open_deal(self, cast, today):
        with pytest.raises(ValidationError) as excinfo:
            open_deal(cast.rep_a1, opened_on=today - timedelta(days=3), closed_on=today)
        assert "closed_on" in errors_of(excinfo)

    def test_it_rejects_an_expected_close_before_opening(self, cast, today):
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            open_deal(cast.rep_a1, opened_on=today, expected_close_on=today - timedelta(days=1))
        assert "expected_close_on" in errors_of(excinfo)
        assert rows() == before

    def test_it_accepts_an_expected_close_exactly_five_years_ahead(self, cast):
        deal = open_deal(cast.rep_a1, opened_on=date(2024, 3, 1), expected_close_on=date(2029, 3, 1))
        deal.refresh_from_db()
        assert deal.expected_close_on == date(2029, 3, 1)

    def test_it_rejects_an_expected_close_more_than_five_years_ahead(self, cast):
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            open_deal(cast.rep_a1, opened_on=date(2025, 6, 10), expected_close_on=date(2030, 6, 11))
        assert "expected_close_on" in errors_of(excinfo)
        assert rows() == before

    def test_it_rejects_an_expected_close_far_ahead_of_a_leap_day_opening(self, cast):
        leap_day = date(2024, 2, 29)
        with pytest.raises(ValidationError) as excinfo:
            open_deal(cast.rep_a1, opened_on=leap_day, expected_close_on=date(2029, 3, 1))
        assert "expected_close_on" in errors_of(excinfo)
        open_deal(cast.rep_a1, opened_on=leap_day, expected_close_on=date(2029, 2, 28))

    def test_it_rejects_an_opening_date_far_in_the_future(self, cast, today):
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            open_deal(cast.rep_a1, opened_on=today + timedelta(days=60))
        assert "opened_on" in errors_of(excinfo)
        assert rows() == before

    def test_it_rejects_an_inactive_owner(self, cast):
        cast.rep_a2.is_active = False
        cast.rep_a2.save()
        with pytest.raises(ValidationError) as excinfo:
            open_deal(cast.rep_a2)
        assert "owner" in errors_of(excinfo)

    def test_external_id_is_unique_per_source(self, cast):
        open_deal(cast.rep_a1, source=Source.CRM, external_id="OPP-1")
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            open_deal(cast.rep_a2, source=Source.CRM, external_id="OPP-1")
        assert "external id already exists" in str(excinfo.value)
        assert rows() == before

        # The same id coming from another system is another deal.
        other = open_deal(cast.rep_a1, source=Source.ECOMMERCE, external_id="OPP-1")
        assert other.pk

    def test_many_deals_may_have_no_external_id(self, cast):
        for _ in range(3):
            open_deal(cast.rep_a1, source=Source.CRM, external_id="")
        assert Deal.objects.filter(source=Source.CRM, external_id="").count() == 3


class DealMoveStageTests:
    def test_each_move_is_recorded_in_order(self, cast, today):
        deal = open_deal(cast.rep_a1, opened_on=today - timedelta(days=20), by=cast.rep_a1.user)
        path = ["MQL", "SQL", "Proposal", "Negotiation", "Won"]
        for name in path:
            deal = services.deal_move_stage(deal=deal, to_stage=stage(name), by=cast.rep_a1.user)

        changes = list(DealStageChange.objects.filter(deal=deal).order_by("changed_at", "id"))
        assert [(c.from_stage and c.from_stage.name, c.to_stage.name) for c in changes] == [
            (None, "Lead"),
            ("Lead", "MQL"),
            ("MQL", "SQL"),
            ("SQL", "Proposal"),
            ("Proposal", "Negotiation"),
            ("Negotiation", "Won"),
        ]
        assert {c.by for c in changes} == {cast.rep_a1.user}
        stamps = [c.changed_at for c in changes]
        assert stamps == sorted(stamps)
        deal.refresh_from_db()
        assert deal.stage.name == "Won"

    def test_it_records_who_moved_it_and_when(self, cast, today):
        deal = open_deal(cast.rep_a1, opened_on=today - timedelta(days=20))
        when = timezone.now() - timedelta(hours=5)
        services.deal_move_stage(deal=deal, to_stage=stage("MQL"), by=cast.admin, changed_at=when)
        change = deal.stage_changes.get(to_stage__name="MQL")
        assert (change.by, change.changed_at, change.from_stage.name) == (cast.admin, when, "Lead")

    def test_winning_closes_today_by_default(self, cast, today):
        deal = open_deal(cast.rep_a1, opened_on=today - timedelta(days=20))
        services.deal_move_stage(deal=deal, to_stage=stage("Won"), by=cast.rep_a1.user)
        deal.refresh_from_db()
        assert deal.closed_on == today
        assert deal.amount == Decimal("1200.00")

    def test_winning_takes_the_given_closing_date_and_confirms_the_amount(self, cast, today):
        deal = open_deal(cast.rep_a1, opened_on=today - timedelta(days=20))
        services.deal_move_stage(
            deal=deal,
            to_stage=stage("Won"),
            by=cast.rep_a1.user,
            closed_on=today - timedelta(days=2),
            amount=Decimal("1100.50"),
        )
        deal.refresh_from_db()
        assert deal.closed_on == today - timedelta(days=2)
        assert deal.amount == Decimal("1100.50")

    @pytest.mark.parametrize("from_stage", OPEN_STAGES)
    def test_a_deal_can_be_lost_from_every_open_stage(self, cast, today, from_stage):
        deal = open_deal(cast.rep_a1, stage=stage(from_stage), opened_on=today - timedelta(days=9))
        services.deal_move_stage(deal=deal, to_stage=stage("Lost"), by=cast.rep_a1.user)
        deal.refresh_from_db()
        assert deal.stage.name == "Lost"
        assert deal.closed_on == today
        last = deal.stage_changes.order_by("-changed_at", "-id").first()
        assert (last.from_stage.name, last.to_stage.name) == (from_stage, "Lost")

    def test_reopening_clears_the_closing_date(self, cast, today):
        deal = open_deal(cast.rep_a1, opened_on=today - timedelta(days=20))
        services.deal_move_stage(deal=deal, to_stage=stage("Lost"), by=cast.rep_a1.user)
        services.deal_move_stage(deal=deal, to_stage=stage("Negotiation"), by=cast.rep_a1.user)
        deal.refresh_from_db()
        assert deal.stage.name == "Negotiation"
        assert deal.closed_on is None
        assert deal.stage_changes.count() == 3

    def test_reopening_with_a_closing_date_is_rejected(self, cast, today):
        deal = open_deal(cast.rep_a1, opened_on=today - timedelta(days=20))
        services.deal_move_stage(deal=deal, to_stage=stage("Lost"), by=cast.rep_a1.user)
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            services.deal_move_stage(deal=deal, to_stage=stage("SQL"), by=cast.rep_a1.user, closed_on=today)
        assert "closed_on" in errors_of(excinfo)
        assert rows() == before
        deal.refresh_from_db()
        assert deal.stage.name == "Lost"

    def test_it_rejects_moving_to_the_stage_it_is_in(self, cast):
        deal = open_deal(cast.rep_a1)
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            services.deal_move_stage(deal=deal, to_stage=stage("Lead"), by=cast.rep_a1.user)
        assert "to_stage" in errors_of(excinfo)
        assert rows() == before

    def test_it_rejects_closing_before_opening_and_writes_nothing(self, cast, today):
        deal = open_deal(cast.rep_a1, opened_on=today - timedelta(days=3))
        stored_before = Deal.objects.filter(pk=deal.pk).values().get()
        before = rows()

        with pytest.raises(ValidationError) as excinfo:
            services.deal_move_stage(
                deal=deal, to_stage=stage("Won"), by=cast.rep_a1.user, closed_on=today - timedelta(days=4)
            )

        assert "closed_on" in errors_of(excinfo)
        assert rows() == before
        assert Deal.objects.filter(pk=deal.pk).values().get() == stored_before

    def test_it_rejects_a_negative_confirmed_amount(self, cast, today):
        deal = open_deal(cast.rep_a1, opened_on=today - timedelta(days=3))
        before = rows()
        with pytest.raises(ValidationError) as excinfo:
            services.deal_move_stage(
                deal=deal, to_stage=stage("Won"), by=cast.rep_a1.user, amount=Decimal("-5")
            )
        assert "amount" in errors_of(excinfo)
        assert rows() == before
        deal.refresh_from_db()
        assert (deal.stage.name, deal.amount, deal.closed_on) == ("Lead", Decimal("1200.00"), None)

    def test_it_rejects_a_closing_date_far_in_the_future(self, cast, today):
        deal = open_deal(cast.rep_a1, opened_on=today - timedelta(days=3))
        with pytest.raises(ValidationError) as excinfo:
            services.deal_move_stage(
                deal=deal, to_stage=stage("Won"), by=cast.rep_a1.user, closed_on=today + timedelta(days=90)
            )
        assert "closed_on" in errors_of(excinfo)


class DealUpdateTests:
    def test_it_rejects_changing_the_stage_outside_deal_move_stage(self, cast):
        deal = open_deal(cast.rep_a1)
        with pytest.raises(TypeError):
            services.deal_update(deal=deal, stage=stage("Won"))
        assert deal.stage_changes.count() == 1

    def test_on_error_it_leaves_the_row_unchanged(self, cast):
        deal = open_deal(cast.rep_a1)
        stored_before = Deal.objects.filter(pk=deal.pk).values().get()
        with pytest.raises(ValidationError) as excinfo:
            services.deal_update(deal=deal, name="Bigger fleet", amount=Decimal("-1"))
        assert "amount" in errors_of(excinfo)
        assert Deal.objects.filter(pk=deal.pk).values().get() == stored_before


class UserSetRoleTests:
    def roles_of(self, user) -> set[str]:
        return set(user.groups.filter(name__in=access.ROLES).values_list("name", flat=True))

    def test_it_puts_the_user_in_exactly_one_role(self, cast):
        user = cast.rep_a1.user
        assert self.roles_of(user) == {"rep"}
        services.user_set_role(user=user, role="manager")
        assert self.roles_of(user) == {"manager"}
        services.user_set_role(user=user, role="admin")
        assert self.roles_of(user) == {"admin"}

    def test_it_keeps_groups_that_are_not_roles(self, cast):
        coaches = Group.objects.create(name="coaches")
        user = cast.rep_a1.user
        user.groups.add(coaches)
        services.user_set_role(user=user, role="manager")
        assert set(user.groups.values_list("name", flat=True)) == {"coaches", "manager"}

    def test_the_new_role_applies_at_once_to_the_same_user_object(self, cast):
        user = cast.rep_a1.user
        assert access.role_of(user) == "rep"
        services.user_set_role(user=user, role="manager")
        assert access.role_of(user) == "manager"

    def test_admins_get_staff_status_to_open_django_admin(self, cast):
        user = cast.manager_a
        services.user_set_role(user=user, role="admin")
        user.refresh_from_db()
        assert user.is_staff

    def test_a_demoted_admin_loses_staff_status(self, cast):
        user = cast.admin
        assert get_user_model().objects.get(pk=user.pk).is_staff
        services.user_set_role(user=user, role="rep")
        user.refresh_from_db()
        assert not user.is_staff
        assert access.role_of(user) == "rep"

    def test_it_rejects_an_unknown_role(self, cast):
        with pytest.raises(ValidationError) as excinfo:
            services.user_set_role(user=cast.rep_a1.user, role="owner")
        assert "role" in errors_of(excinfo)
        assert self.roles_of(cast.rep_a1.user) == {"rep"}


class RepCreateTests:
    def test_it_creates_a_user_with_the_rep_role_and_a_profile(self, cast):
        rep = services.rep_create(
            username="rep_a3", team=cast.team_a, password="s3cret-enough-pass", first_name="Al"
        )
        rep.refresh_from_db()
        assert rep.team == cast.team_a
        assert rep.territory == cast.territory_north
        assert rep.is_active
        assert rep.user.check_password("s3cret-enough-pass")
        assert access.role_of(get_user_model().objects.get(username="rep_a3")) == "rep"

    def test_without_a_password_the_user_cannot_sign_in_yet(self, cast):
        rep = services.rep_create(username="rep_a4", team=cast.team_a)
        assert not rep.user.has_usable_password()

    def test_it_takes_an_explicit_territory(self, cast):
        rep = services.rep_create(username="rep_a5", team=cast.team_a, territory=cast.territory_south)
        assert rep.territory == cast.territory_south

    def test_it_rejects_a_taken_username_and_writes_nothing(self, cast):
        users, reps = get_user_model().objects.count(), Rep.objects.count()
        with pytest.raises(ValidationError) as excinfo:
            services.rep_create(username="rep_a1", team=cast.team_b)
        assert "username" in errors_of(excinfo)
        assert (get_user_model().objects.count(), Rep.objects.count()) == (users, reps)

    def test_it_rejects_a_malformed_email_and_writes_nothing(self, cast):
        users = get_user_model().objects.count()
        with pytest.raises(ValidationError) as excinfo:
            services.rep_create(username="rep_x", team=cast.team_a, email="not-an-address")
        assert "email" in errors_of(excinfo)
        assert get_user_model().objects.count() == users
