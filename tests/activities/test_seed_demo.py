"""`manage.py seed_demo` and the demo generator behind it (activities.demo)."""

import hashlib
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Window
from django.db.models.functions import Lag, TruncDate
from django.http import HttpRequest
from django.test import override_settings
from django.utils import timezone

from activities import services
from activities.access import is_admin, is_manager, role_of, visible_deals, visible_reps
from activities.demo import DEMO_EMAIL_DOMAIN, DEMO_PASSWORD, demo_seed
from activities.management.commands.seed_demo import Command as SeedDemoCommand
from activities.models import (
    Account,
    Activity,
    ActivityType,
    Deal,
    DealStageChange,
    Product,
    Rep,
    Source,
    Stage,
    Team,
    Territory,
)
from metrics.models import ActivityTarget, Projection, Quota
from metrics.periods import Period
from tests.conftest import PASSWORD

User = get_user_model()
TODAY = date(2026, 3, 18)  # a Wednesday; fixed so that no test depends on the day it runs
SMALL = {"reps": 6, "days": 30, "today": TODAY}
SIGN_IN_LINE = re.compile(r"^  (\S+)\s+(\S+)\s+/\s+(\S+)$", re.MULTILINE)


def digest() -> str:
    """A hash of every row, by natural keys only: no ids, no created/updated stamps, no salts."""

    def rows(queryset, *fields):
        return sorted(queryset.values_list(*fields), key=repr)

    content = [
        rows(Territory.objects, "name"),
        rows(Team.objects, "name", "manager__username", "territory__name"),
        rows(
            User.objects,
            "username",
            "email",
            "first_name",
            "last_name",
            "is_staff",
            "is_superuser",
            "is_active",
        ),
        rows(User.groups.through.objects, "user__username", "group__name"),
        rows(Rep.objects, "user__username", "team__name", "territory__name", "is_active", "hired_on"),
        rows(Product.objects, "name", "category", "list_price"),
        rows(Account.objects, "name", "region__name", "segment", "sector"),
        rows(
            Deal.objects,
            "external_id",
            "name",
            "owner__user__username",
            "account__name",
            "product__name",
            "amount",
            "revenue_type",
            "source",
            "stage__name",
            "opened_on",
            "expected_close_on",
            "closed_on",
        ),  # fmt: skip
        rows(
            DealStageChange.objects,
            "deal__external_id",
            "changed_at",
            "from_stage__name",
            "to_stage__name",
            "by__username",
        ),  # fmt: skip
        rows(
            Activity.objects,
            "rep__user__username",
            "occurred_at",
            "type__name",
            "duration_minutes",
            "deal__external_id",
            "account__name",
            "outcome",
            "notes",
            "source",
            "external_id",
        ),  # fmt: skip
        *(
            rows(model.objects, "rep__user__username", "team__name", "period_kind", "period_start", "amount")
            for model in (Quota, Projection)
        ),
        rows(
            ActivityTarget.objects,
            "rep__user__username",
            "team__name",
            "activity_type__name",
            "period_kind",
            "period_start",
            "target_count",
        ),  # fmt: skip
    ]
    return hashlib.sha256(repr(content).encode()).hexdigest()


def counts() -> dict[str, int]:
    models = [Territory, Team, User, Rep, Product, Account, Deal, DealStageChange, Activity]
    models += [Quota, Projection, ActivityTarget, Quota.history.model, ActivityTarget.history.model]
    return {model.__name__: model.objects.count() for model in models}


def snapshot(*querysets) -> list:
    return [sorted(qs.values_list(), key=repr) for qs in querysets]


def stored() -> list:
    """The timed rows as the database holds them (strings on SQLite), not as the ORM reads them back."""
    tables = [
        (Activity, ["occurred_at", "duration_minutes", "outcome", "notes", "source", "external_id"]),
        (DealStageChange, ["changed_at"]),
    ]
    result = []
    with connection.cursor() as cursor:
        for model, columns in tables:
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(model._meta.db_table)}")
            result.append(sorted(cursor.fetchall(), key=repr))
    return result


def seed_in_throwaway_transaction(*, read=digest, **kwargs):
    with transaction.atomic():
        demo_seed(**kwargs)
        result = read()
        transaction.set_rollback(True)
    return result


class TestDeterminism:
    def test_the_same_arguments_give_the_same_rows(self, db):
        first = seed_in_throwaway_transaction(seed=7, **SMALL)
        assert not Deal.objects.exists()  # the database is fresh again

        demo_seed(seed=7, **SMALL)

        assert Deal.objects.exists() and Activity.objects.exists()
        assert digest() == first

    def test_another_seed_gives_other_rows(self, db):
        assert seed_in_throwaway_transaction(seed=7, **SMALL) != seed_in_throwaway_transaction(
            seed=8, **SMALL
        )

    def test_another_day_gives_other_rows(self, db):
        later = {**SMALL, "today": TODAY + timedelta(days=1)}
        assert seed_in_throwaway_transaction(seed=7, **SMALL) != seed_in_throwaway_transaction(
            seed=7, **later
        )

    @override_settings(TIME_ZONE="America/Sao_Paulo")
    def test_the_fast_sqlite_lane_writes_what_bulk_create_writes(self, db):
        def read():
            return digest(), stored()

        raw = seed_in_throwaway_transaction(seed=5, raw_inserts=True, read=read, **SMALL)
        orm = seed_in_throwaway_transaction(seed=5, raw_inserts=False, read=read, **SMALL)
        assert raw[1][0] and raw[1][1]
        assert raw == orm


class TestRunningTwice:
    def test_a_second_run_replaces_the_first_and_leaves_other_rows_alone(self, cast):
        call = ActivityType.objects.get(name="Call")
        own_deal = services.deal_open(
            owner=cast.rep_a1, name="Real deal", amount=Decimal("500"), by=cast.admin
        )
        own_activity = services.activity_log(rep=cast.rep_a1, type=call, deal=own_deal)
        real_rows = (
            Territory.objects.all(),
            Team.objects.all(),
            User.objects.all(),
            Rep.objects.all(),
            Deal.objects.all(),
            DealStageChange.objects.all(),
            Activity.objects.all(),
        )
        before = snapshot(*real_rows)

        demo_seed(seed=3, **SMALL)
        after_first = counts()
        demo_seed(seed=3, **SMALL)

        assert counts() == after_first
        assert after_first["Deal"] > 1 and after_first["Activity"] > 1
        survivors = [
            qs.filter(pk__in=[row[0] for row in rows]) for qs, rows in zip(real_rows, before, strict=True)
        ]
        assert snapshot(*survivors) == before
        assert Deal.objects.filter(pk=own_deal.pk, owner=cast.rep_a1).exists()
        assert Activity.objects.filter(pk=own_activity.pk, deal=own_deal).exists()
        assert (
            User.objects.filter(email__endswith=f"@{DEMO_EMAIL_DOMAIN}").count() == 6 + 2
        )  # six reps, one manager, one admin
        self._assert_no_duplicates()

    @staticmethod
    def _assert_no_duplicates():
        def repeated(queryset, *fields):
            return queryset.values(*fields).annotate(n=Count("pk")).filter(n__gt=1)

        assert not repeated(Deal.objects.exclude(external_id=""), "external_id").exists()
        assert not repeated(User.objects.exclude(email=""), "email").exists()
        assert not repeated(Activity.objects, "rep", "occurred_at").exists()
        assert not repeated(DealStageChange.objects, "deal", "changed_at").exists()

    def test_it_keeps_a_demo_account_that_real_deals_use_and_clears_what_demo_reps_logged(self, cast):
        demo_seed(seed=3, **SMALL)
        account = Account.objects.filter(deals__source=Source.DEMO).first()
        real = services.deal_open(owner=cast.rep_b1, name="Real deal", amount=Decimal("900"), account=account)
        demo_rep = Rep.objects.get(user__username="rep")
        services.activity_log(
            rep=demo_rep, type=ActivityType.objects.get(name="Email"), notes="typed in the UI"
        )

        demo_seed(seed=3, **SMALL)

        real.refresh_from_db()
        assert real.account == account
        assert Account.objects.filter(name=account.name).count() == 1
        assert not Activity.objects.filter(notes="typed in the UI").exists()

    def test_it_leaves_no_history_rows_behind(self, db):
        demo_seed(seed=3, **SMALL)
        quota = Quota.objects.filter(rep__isnull=False).first()
        quota.amount += 1
        quota.save()  # an admin edit: one history row
        assert Quota.history.count() == 1

        demo_seed(seed=3, **SMALL)

        assert Quota.history.count() == 0


@pytest.fixture
def seeded(db):
    # A non-UTC zone, so that "working hours in TIME_ZONE" is a real check.
    with override_settings(TIME_ZONE="Asia/Seoul"):
        demo_seed(reps=9, days=75, seed=11, today=TODAY)
        yield


@pytest.mark.usefixtures("seeded")
class TestRowsRespectTheRules:
    def test_a_sample_of_every_kind_of_row_passes_full_clean_and_the_service_rules(self):
        for model in (
            Territory, Team, User, Rep, Product, Account, Deal, DealStageChange, Activity,
            Quota, Projection, ActivityTarget,
        ):  # fmt: skip
            rows = list(model.objects.order_by("pk"))
            assert rows, model.__name__
            for row in rows[:: max(1, len(rows) // 40)]:
                row.full_clean()
        for deal in list(Deal.objects.order_by("pk"))[::7]:
            assert services._deal_rules(deal) == {}
        for activity in list(Activity.objects.order_by("pk"))[::50]:
            assert services._activity_rules(activity) == {}

    def test_deals_close_after_they_open_and_only_in_won_or_lost_stages(self):
        closed = [Stage.Kind.WON, Stage.Kind.LOST]
        assert not Deal.objects.filter(closed_on__lt=F("opened_on")).exists()
        assert not Deal.objects.filter(stage__kind__in=closed, closed_on__isnull=True).exists()
        assert not Deal.objects.filter(stage__kind=Stage.Kind.OPEN, closed_on__isnull=False).exists()
        assert not Deal.objects.filter(amount__lt=0).exists()
        assert not Deal.objects.filter(expected_close_on__lt=F("opened_on")).exists()
        assert not Deal.objects.filter(Q(opened_on__gte=TODAY) | Q(closed_on__gte=TODAY)).exists()
        assert set(Deal.objects.values_list("source", flat=True)) == {Source.DEMO}

    def test_each_deal_history_starts_when_it_opened_and_ends_in_its_stage(self):
        changes = DealStageChange.objects.filter(deal=OuterRef("pk"))
        first = changes.order_by("changed_at", "pk").annotate(day=TruncDate("changed_at"))
        last = changes.order_by("-changed_at", "-pk").annotate(day=TruncDate("changed_at"))
        deals = Deal.objects.annotate(
            first_from=Subquery(first.values("from_stage")[:1]),
            first_day=Subquery(first.values("day")[:1]),
            last_to=Subquery(last.values("to_stage")[:1]),
            last_day=Subquery(last.values("day")[:1]),
        )
        assert deals.exists()
        assert not deals.filter(first_day__isnull=True).exists()
        assert not deals.filter(first_from__isnull=False).exists()
        assert not deals.exclude(first_day=F("opened_on")).exists()
        assert not deals.exclude(last_to=F("stage")).exists()
        assert not deals.filter(closed_on__isnull=False).exclude(last_day=F("closed_on")).exists()

    def test_stage_changes_follow_each_other_in_time(self):
        in_order = DealStageChange.objects.annotate(
            previous_at=Window(Lag("changed_at"), partition_by="deal", order_by=["changed_at", "pk"]),
            previous_to=Window(Lag("to_stage"), partition_by="deal", order_by=["changed_at", "pk"]),
        )
        steps = in_order.filter(previous_at__isnull=False)
        assert steps.exists()
        assert not steps.filter(changed_at__lte=F("previous_at")).exists()
        assert not steps.exclude(from_stage=F("previous_to")).exists()
        assert not DealStageChange.objects.exclude(by=F("deal__owner__user")).exists()
        midnight = timezone.make_aware(datetime.combine(TODAY, time(0)))
        assert not DealStageChange.objects.filter(changed_at__gte=midnight).exists()

    def test_the_pipeline_has_a_bit_of_everything(self):
        for stage in Stage.objects.exclude(kind=Stage.Kind.WON):
            assert DealStageChange.objects.filter(to_stage=stage).exists(), stage
        assert Deal.objects.filter(stage__kind=Stage.Kind.WON).exists()
        assert Deal.objects.filter(stage__kind=Stage.Kind.OPEN).exists()
        losses_from = set(
            DealStageChange.objects.filter(to_stage__kind=Stage.Kind.LOST).values_list(
                "from_stage", flat=True
            )
        )
        assert len(losses_from) >= 3  # lost from several stages, not just one

    def test_activities_fall_on_working_days_in_working_hours_of_the_time_zone(self):
        with timezone.override("Asia/Seoul"):
            assert not Activity.objects.filter(occurred_at__week_day__in=[1, 7]).exists()
            assert not Activity.objects.filter(
                Q(occurred_at__hour__lt=7) | Q(occurred_at__hour__gt=18)
            ).exists()
            assert Activity.objects.filter(occurred_at__hour=8).exists()  # and not all shifted by a zone
        midnight = timezone.make_aware(
            datetime.combine(TODAY, time(0)), timezone=timezone.get_fixed_timezone(540)
        )
        assert not Activity.objects.filter(occurred_at__gte=midnight).exists()

    def test_activities_respect_durations_and_link_only_their_reps_deals(self):
        assert not Activity.objects.filter(Q(duration_minutes__lt=1) | Q(duration_minutes__gt=1440)).exists()
        assert not Activity.objects.filter(deal__isnull=False).exclude(deal__owner=F("rep")).exists()
        assert not Activity.objects.filter(deal__isnull=False).exclude(account=F("deal__account")).exists()
        assert Activity.objects.filter(deal__isnull=False).exists()
        assert set(Activity.objects.values_list("source", flat=True)) == {Source.DEMO}
        used = set(Activity.objects.values_list("type__name", flat=True))
        assert used == set(ActivityType.objects.values_list("name", flat=True))

    def test_targets_start_on_the_first_day_of_their_period(self):
        for model in (Quota, Projection, ActivityTarget):
            rows = list(model.objects.values_list("period_kind", "period_start"))
            assert rows, model.__name__
            assert all(Period.is_period_start(start, kind) for kind, start in rows)
        assert Quota.objects.filter(team__isnull=False).exists()
        assert Projection.objects.filter(team__isnull=False).exists()
        with_quota = Quota.objects.filter(rep__isnull=False).values("rep")
        assert Rep.objects.exclude(pk__in=with_quota).exists()  # some reps have no quota
        assert not Quota.objects.filter(amount__lte=0).exists()

    def test_some_reps_left_and_the_rest_are_active(self):
        assert Rep.objects.filter(is_active=False).count() == 1
        assert Rep.objects.filter(is_active=True).count() == 8


class TestCommand:
    def run(self, *args, **options) -> str:
        out = StringIO()
        call_command("seed_demo", "--reps=6", "--days=30", "--quiet", *args, stdout=out, **options)
        return out.getvalue()

    def test_the_printed_sign_ins_work_and_carry_their_roles(self, client, db):
        output = self.run()

        sign_ins = SIGN_IN_LINE.findall(output)
        assert [role for role, _username, _password in sign_ins] == ["admin", "manager", "rep"]
        for role, username, password in sign_ins:
            assert password == DEMO_PASSWORD
            # A request, because django-axes counts every sign-in against the address it came from.
            assert client.login(request=HttpRequest(), username=username, password=password), username
            assert role_of(User.objects.get(username=username)) == role
            client.logout()
        admin = User.objects.get(username=sign_ins[0][1])
        assert is_admin(admin) and admin.is_staff
        manager = User.objects.get(username=sign_ins[1][1])
        rep = Rep.objects.get(user__username=sign_ins[2][1])
        assert is_manager(manager) and rep.team.manager == manager
        assert rep in visible_reps(manager)

    def test_the_summary_counts_what_was_written(self, db):
        output = self.run()

        first_line = output.splitlines()[0]
        numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", first_line)]
        assert numbers == [Rep.objects.count(), Team.objects.count(), Activity.objects.count(),
                           Deal.objects.count(), 30]  # fmt: skip
        assert first_line.startswith("Demo data ready: 6 reps in 1 team, ")

    def test_the_demo_rep_sees_only_their_own_deals(self, db):
        output = self.run()

        rep_user = User.objects.get(username=SIGN_IN_LINE.findall(output)[2][1])
        own = Deal.objects.filter(owner__user=rep_user)
        assert own.exists() and Deal.objects.exclude(owner__user=rep_user).exists()
        assert set(visible_deals(rep_user)) == set(own)

    def test_it_picks_other_sign_in_names_when_real_users_have_them(self, client, cast):
        output = self.run()

        admin_name = SIGN_IN_LINE.findall(output)[0][1]
        assert admin_name != "admin"
        assert client.login(request=HttpRequest(), username=admin_name, password=DEMO_PASSWORD)
        assert client.login(
            request=HttpRequest(), username="admin", password=PASSWORD
        )  # the real admin is untouched
        assert User.objects.get(username="admin").email == "admin@example.com"

    @override_settings(SALESTRACK_ENV="production")
    def test_it_refuses_to_run_in_production_without_force(self, db):
        with pytest.raises(CommandError, match="production"):
            self.run()
        assert not Rep.objects.exists()

        self.run("--force")
        assert Rep.objects.count() == 6

    def test_it_rejects_a_number_of_reps_below_one(self, db):
        with pytest.raises(CommandError, match="reps"):
            call_command("seed_demo", "--reps=0", "--quiet", stdout=StringIO())

    def test_its_help_lists_the_options(self):
        parser = SeedDemoCommand().create_parser("manage.py", "seed_demo")
        text = parser.format_help()
        assert "demo organisation" in text
        for option in ("--reps", "--days", "--seed", "--quiet", "--force"):
            assert option in text

    def test_quiet_shows_no_progress_and_otherwise_it_does(self, db, capsys):
        self.run()
        assert capsys.readouterr().err == ""

        call_command("seed_demo", "--reps=6", "--days=30", stdout=StringIO())
        assert "Simulating activities" in capsys.readouterr().err
