"""Django admin: every page opens for the admin, only for the admin, and writes keep the rules.

Forms are posted the way a browser would: start from the page the admin sees (its
initial values, inline management forms), change some fields, submit.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from activities import services
from activities.models import (
    Account,
    Activity,
    ActivityType,
    Deal,
    DealStageChange,
    Product,
    Rep,
    Stage,
    Team,
    Territory,
)
from metrics.models import ActivityTarget, Projection, Quota
from metrics.periods import Period, PeriodKind
from tests.conftest import PASSWORD
from tests.factories import AccountFactory, ActivityFactory, DealFactory, ProductFactory, RepFactory, stage

OUR_APPS = {"activities", "metrics"}
# What admins configure and correct by hand (summary tables are the engine's).
CONFIGURED = {
    get_user_model(),
    Territory,
    Team,
    Rep,
    Product,
    Account,
    Stage,
    Deal,
    DealStageChange,
    ActivityType,
    Activity,
    Quota,
    Projection,
    ActivityTarget,
}


# --- helpers ----------------------------------------------------------------


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _field_data(form, data: dict) -> None:
    for bound in form:
        value = bound.value()
        widget = bound.field.widget
        if isinstance(widget, forms.MultiWidget):
            for index, part in enumerate(widget.decompress(value)):
                data[f"{bound.html_name}_{index}"] = "" if part is None else part
        elif isinstance(bound.field, forms.BooleanField):
            if value:
                data[bound.html_name] = "on"
        elif isinstance(bound.field, forms.ModelMultipleChoiceField):
            data[bound.html_name] = [getattr(v, "pk", v) for v in (value or [])]
        elif value is not None:
            data[bound.html_name] = value


def page_data(response) -> dict:
    """What a browser would submit from an admin change or add page, untouched."""
    assert response.status_code == 200, response.status_code
    data: dict = {}
    _field_data(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _field_data(formset.management_form, data)
        for form in formset.initial_forms:
            _field_data(form, data)
    return data


def form_errors(response) -> dict:
    """Field errors of the main form (and `__all__`), as plain strings."""
    assert response.status_code == 200, "expected the form again, with errors"
    form = response.context["adminform"].form
    return {field: [str(m) for m in messages] for field, messages in form.errors.items()}


def submit(client, model, view: str, *args, changes: dict) -> object:
    """Open the page, change some fields, submit it."""
    address = url(model, view, *args)
    data = page_data(client.get(address))
    data.update(changes)
    return client.post(address, data)


@pytest.fixture
def admin_web(client, cast):
    client.force_login(cast.admin)
    return client


@pytest.fixture
def month():
    return Period.containing(timezone.localdate(), PeriodKind.MONTH)


def admin_request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def a_bit_of_everything(cast, month):
    """One row of every model, so list and change pages render real rows."""
    deal = services.deal_open(
        owner=cast.rep_a1,
        name="Fleet renewal",
        amount=Decimal("1000"),
        account=AccountFactory(),
        product=ProductFactory(),
        opened_on=timezone.localdate() - timedelta(days=10),
    )
    services.activity_log(rep=cast.rep_a1, type=ActivityType.objects.get(name="Call"), deal=deal)
    Quota.objects.create(rep=cast.rep_a1, period_kind=month.kind, period_start=month.start, amount=5000)
    Projection.objects.create(team=cast.team_a, period_kind=month.kind, period_start=month.start, amount=9000)
    ActivityTarget.objects.create(
        rep=cast.rep_a1,
        activity_type=ActivityType.objects.get(name="Call"),
        period_kind=month.kind,
        period_start=month.start,
        target_count=40,
    )


# --- every page opens for the admin, and only for the admin ------------------------


class PagesTests:
    def test_every_model_admins_configure_is_registered(self):
        missing = {model.__name__ for model in CONFIGURED if not admin.site.is_registered(model)}
        assert not missing

    def test_the_admin_role_opens_every_changelist_add_and_change_page_of_ours(self, admin_web, cast, month):
        a_bit_of_everything(cast, month)
        request = admin_request(cast.admin)
        opened = set()
        for model, model_admin in admin.site._registry.items():
            if model._meta.app_label not in OUR_APPS:
                continue
            assert admin_web.get(url(model, "changelist")).status_code == 200, model
            expected_add = 200 if model_admin.has_add_permission(request) else 403
            assert admin_web.get(url(model, "add")).status_code == expected_add, model
            obj = model._default_manager.first()
            if obj is not None:
                assert admin_web.get(url(model, "change", obj.pk)).status_code == 200, model
                opened.add(model)
        assert opened >= CONFIGURED

    def test_the_admin_role_gets_each_other_page_as_its_permissions_say(self, admin_web, cast):
        request = admin_request(cast.admin)
        for model, model_admin in admin.site._registry.items():
            if model._meta.app_label in OUR_APPS:
                continue
            can_view = model_admin.has_view_or_change_permission(request)
            can_add = model_admin.has_add_permission(request)
            assert admin_web.get(url(model, "changelist")).status_code == (200 if can_view else 403), model
            assert admin_web.get(url(model, "add")).status_code == (200 if can_add else 403), model

    def test_a_superuser_opens_every_changelist_and_add_page(self, client, cast, month):
        a_bit_of_everything(cast, month)
        root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
        client.force_login(root)
        request = admin_request(root)
        for model, model_admin in admin.site._registry.items():
            assert client.get(url(model, "changelist")).status_code == 200, model
            expected_add = 200 if model_admin.has_add_permission(request) else 403
            assert client.get(url(model, "add")).status_code == expected_add, model

    @pytest.mark.parametrize(
        ("model", "field", "term"),
        [
            (Deal, "owner", "Ana"),
            (Quota, "rep", "rep_a1"),
            (Quota, "team", "B"),
            (Team, "manager", "Mona"),
        ],
    )
    def test_autocomplete_finds_people_and_teams_by_name(self, admin_web, cast, model, field, term):
        response = admin_web.get(
            reverse("admin:autocomplete"),
            {
                "app_label": model._meta.app_label,
                "model_name": model._meta.model_name,
                "field_name": field,
                "term": term,
            },
        )

        assert response.status_code == 200
        assert len(response.json()["results"]) == 1

    def test_the_site_header_names_salestrack(self, admin_web):
        assert "salestrack administration" in admin_web.get(reverse("admin:index")).content.decode()

    @pytest.mark.parametrize("persona", ["rep_a1", "manager_a"])
    def test_it_refuses_admin_to_reps_and_managers(self, client, cast, persona):
        persona = getattr(cast, persona)
        client.force_login(getattr(persona, "user", persona))
        for address in (
            reverse("admin:index"),
            url(Deal, "changelist"),
            url(Quota, "add"),
            reverse("admin:metrics_quota_bulk"),
        ):
            response = client.get(address)
            assert response.status_code == 302, address
            assert response["Location"].startswith(reverse("admin:login"))

    def test_it_refuses_a_bulk_entry_post_to_a_manager(self, client, cast, month):
        client.force_login(cast.manager_a)
        client.post(
            reverse("admin:metrics_quota_bulk"),
            {"team": cast.team_a.pk, "period": str(month), "amount": "100"},
        )
        assert not Quota.objects.exists()


class ChangelistQueryTests:
    """Changelists cost the same number of queries however many rows they show."""

    @staticmethod
    def _rows(cast, count: int, offset: int) -> None:
        call = ActivityType.objects.get(name="Call")
        for i in range(count):
            rep = RepFactory(team=cast.team_a)
            deal = DealFactory(owner=rep)
            ActivityFactory(rep=rep, deal=deal, account=deal.account)
            DealStageChange.objects.create(
                deal=deal, to_stage=deal.stage, changed_at=timezone.now(), by=cast.admin
            )
            start = Period.parse(f"{2000 + offset + i}").start
            Quota.objects.create(rep=rep, period_kind="year", period_start=start, amount=1)
            Projection.objects.create(rep=rep, period_kind="year", period_start=start, amount=1)
            ActivityTarget.objects.create(
                rep=rep, activity_type=call, period_kind="year", period_start=start, target_count=1
            )
            Team.objects.create(name=f"Team {offset + i}", manager=cast.manager_a)
        # Every user also gets a group, so the roles column has something to show.
        for rep in Rep.objects.filter(user__groups__isnull=True):
            services.user_set_role(user=rep.user, role="rep")

    @pytest.mark.parametrize(
        "model",
        [Deal, Activity, DealStageChange, Rep, Team, get_user_model(), Quota, Projection, ActivityTarget],
    )
    def test_the_changelist_query_count_does_not_grow_with_rows(
        self, admin_web, cast, model, django_assert_max_num_queries
    ):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self._rows(cast, 2, offset=0)
        with CaptureQueriesContext(connection) as small:
            assert admin_web.get(url(model, "changelist")).status_code == 200
        self._rows(cast, 6, offset=10)
        with django_assert_max_num_queries(len(small.captured_queries)):
            assert admin_web.get(url(model, "changelist")).status_code == 200


# --- quotas -------------------------------------------------------------------


class QuotaBulkEntryTests:
    def bulk(self, client, follow=False, **data):
        return client.post(reverse("admin:metrics_quota_bulk"), data, follow=follow)

    def test_the_quota_changelist_links_to_bulk_entry(self, admin_web):
        page = admin_web.get(url(Quota, "changelist")).content.decode()
        assert reverse("admin:metrics_quota_bulk") in page

    def test_the_bulk_page_opens_inside_the_admin(self, admin_web, cast):
        response = admin_web.get(reverse("admin:metrics_quota_bulk"), {"team": cast.team_a.pk})
        assert response.status_code == 200
        assert "salestrack administration" in response.content.decode()
        assert response.context["form"]["team"].value() == str(cast.team_a.pk)

    def test_it_sets_the_quota_of_every_active_rep_of_the_team(self, admin_web, cast):
        retired = RepFactory(team=cast.team_a, is_active=False)
        response = self.bulk(admin_web, team=cast.team_a.pk, period="2026-Q3", amount="30000")

        assert response.status_code == 302
        quotas = Quota.objects.filter(period_kind="quarter", period_start="2026-07-01")
        assert {q.rep for q in quotas} == {cast.rep_a1, cast.rep_a2}
        assert all(q.amount == Decimal("30000") for q in quotas)
        assert not Quota.objects.filter(rep__in=[retired, cast.rep_b1]).exists()
        assert not Quota.objects.filter(team__isnull=False).exists()

    def test_a_second_run_updates_instead_of_duplicating(self, admin_web, cast):
        self.bulk(admin_web, team=cast.team_a.pk, period="2026-07", amount="1000")
        response = self.bulk(admin_web, team=cast.team_a.pk, period="2026-07", amount="1500", follow=True)

        assert Quota.objects.count() == 2
        assert set(Quota.objects.values_list("amount", flat=True)) == {Decimal("1500")}
        message = " ".join(str(m) for m in response.context["messages"])
        assert "0 created, 2 updated" in message

    def test_it_can_set_the_team_quota_too(self, admin_web, cast):
        self.bulk(admin_web, team=cast.team_b.pk, period="2026", amount="100000", team_amount="250000")

        assert Quota.objects.get(rep=cast.rep_b1, period_kind="year").amount == Decimal("100000")
        assert Quota.objects.get(team=cast.team_b, period_kind="year").amount == Decimal("250000")

    @pytest.mark.parametrize("period", ["2026-13", "2026-Q5", "26", "Q3", ""])
    def test_it_rejects_a_bad_period_and_writes_nothing(self, admin_web, cast, period):
        response = self.bulk(admin_web, team=cast.team_a.pk, period=period, amount="100")

        assert response.status_code == 200
        assert list(response.context["form"].errors) == ["period"]
        assert not Quota.objects.exists()

    def test_the_period_error_says_how_to_write_one(self, admin_web, cast):
        response = self.bulk(admin_web, team=cast.team_a.pk, period="July 2026", amount="100")
        assert "2026-Q3" in response.context["form"].errors["period"][0]

    def test_it_rejects_a_negative_amount_and_writes_nothing(self, admin_web, cast):
        response = self.bulk(admin_web, team=cast.team_a.pk, period="2026-07", amount="-1")

        assert list(response.context["form"].errors) == ["amount"]
        assert not Quota.objects.exists()

    def test_it_reports_a_team_without_active_reps_on_the_team_field(self, admin_web, cast):
        empty = Team.objects.create(name="Team Empty")
        response = self.bulk(admin_web, team=empty.pk, period="2026-07", amount="100")

        assert "no active reps" in response.context["form"].errors["team"][0]
        assert not Quota.objects.exists()

    def test_the_team_action_leads_to_bulk_entry_for_that_team(self, admin_web, cast):
        response = admin_web.post(
            url(Team, "changelist"), {"action": "set_quotas", "_selected_action": [cast.team_b.pk]}
        )
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('admin:metrics_quota_bulk')}?team={cast.team_b.pk}"


class QuotaFormTests:
    def add(self, client, **changes):
        return submit(client, Quota, "add", changes=changes)

    def test_it_adds_a_quota(self, admin_web, cast):
        response = self.add(
            admin_web, rep=cast.rep_a1.pk, period_kind="month", period_start="2026-07-01", amount="900"
        )
        assert response.status_code == 302
        assert Quota.objects.get().amount == Decimal("900")

    def test_it_names_the_amount_when_negative(self, admin_web, cast):
        response = self.add(
            admin_web, rep=cast.rep_a1.pk, period_kind="month", period_start="2026-07-01", amount="-5"
        )
        assert "amount" in form_errors(response)
        assert not Quota.objects.exists()

    def test_it_names_the_period_start_when_mid_month(self, admin_web, cast):
        response = self.add(
            admin_web, rep=cast.rep_a1.pk, period_kind="month", period_start="2026-07-15", amount="5"
        )
        assert "not the first day" in form_errors(response)["period_start"][0]
        assert not Quota.objects.exists()

    def test_it_names_the_rep_once_when_both_a_rep_and_a_team_are_chosen(self, admin_web, cast):
        response = self.add(
            admin_web,
            rep=cast.rep_a1.pk,
            team=cast.team_a.pk,
            period_kind="month",
            period_start="2026-07-01",
            amount="5",
        )
        errors = form_errors(response)
        assert errors["rep"] == ["Choose either a rep or a team, not both and not neither."]
        assert "__all__" not in errors
        assert not Quota.objects.exists()

    def test_it_rejects_a_duplicate_quota_with_a_clear_message(self, admin_web, cast):
        Quota.objects.create(rep=cast.rep_a1, period_kind="month", period_start="2026-07-01", amount=5)
        response = self.add(
            admin_web, rep=cast.rep_a1.pk, period_kind="month", period_start="2026-07-01", amount="7"
        )
        assert form_errors(response)["__all__"] == ["This rep already has one for this period."]
        assert Quota.objects.get().amount == Decimal("5")

    def test_its_history_records_the_admin_who_changed_it(self, admin_web, cast):
        quota = Quota.objects.create(
            rep=cast.rep_a1, period_kind="month", period_start="2026-07-01", amount=5
        )
        response = submit(admin_web, Quota, "change", quota.pk, changes={"amount": "8"})

        assert response.status_code == 302
        latest = quota.history.order_by("-history_date").first()
        assert latest.history_user == cast.admin
        assert latest.amount == Decimal("8")
        assert admin_web.get(reverse("admin:metrics_quota_history", args=[quota.pk])).status_code == 200

    def test_bulk_entry_history_records_the_admin_too(self, admin_web, cast):
        admin_web.post(
            reverse("admin:metrics_quota_bulk"), {"team": cast.team_a.pk, "period": "2026", "amount": "1"}
        )
        users = {h.history_user for h in Quota.history.all()}
        assert users == {cast.admin}

    def test_the_rep_page_edits_its_quotas_inline(self, admin_web, cast):
        address = url(Rep, "change", cast.rep_a1.pk)
        data = page_data(admin_web.get(address))
        data.update(
            {
                "quotas-0-period_kind": "quarter",
                "quotas-0-period_start": "2026-07-01",
                "quotas-0-amount": "12000",
            }
        )
        response = admin_web.post(address, data)

        assert response.status_code == 302
        quota = Quota.objects.get(rep=cast.rep_a1)
        assert (quota.period_kind, quota.amount) == ("quarter", Decimal("12000"))
        assert quota.history.get().history_user == cast.admin

    def test_the_team_page_rejects_two_inline_quotas_for_one_period(self, admin_web, cast):
        address = url(Team, "change", cast.team_a.pk)
        data = page_data(admin_web.get(address))
        data["quotas-TOTAL_FORMS"] = 2
        for i in (0, 1):
            data.update(
                {
                    f"quotas-{i}-period_kind": "month",
                    f"quotas-{i}-period_start": "2026-07-01",
                    f"quotas-{i}-amount": "10",
                }
            )
        response = admin_web.post(address, data)

        assert response.status_code == 200
        errors = [
            str(e)
            for inline in response.context["inline_admin_formsets"]
            for e in inline.formset.non_form_errors()
        ]
        assert "Two rows are for the same period; keep one." in errors
        assert not Quota.objects.exists()


# --- deals and activities go through the services -------------------------------------


@pytest.fixture
def deal(cast):
    return services.deal_open(
        owner=cast.rep_a1,
        name="Fleet renewal",
        amount=Decimal("1200"),
        opened_on=timezone.localdate() - timedelta(days=20),
        account=AccountFactory(),
    )


class DealAdminTests:
    def test_changing_the_stage_records_the_move(self, admin_web, cast, deal):
        response = submit(admin_web, Deal, "change", deal.pk, changes={"stage": stage("SQL").pk})

        assert response.status_code == 302
        deal.refresh_from_db()
        assert deal.stage == stage("SQL")
        move = deal.stage_changes.order_by("changed_at", "id").last()
        assert (move.from_stage, move.to_stage, move.by) == (stage("Lead"), stage("SQL"), cast.admin)

    def test_winning_sets_the_closing_date_and_records_the_move(self, admin_web, cast, deal):
        submit(admin_web, Deal, "change", deal.pk, changes={"stage": stage("Won").pk, "amount": "1500"})

        deal.refresh_from_db()
        assert (deal.stage, deal.closed_on, deal.amount) == (
            stage("Won"),
            timezone.localdate(),
            Decimal("1500"),
        )
        assert deal.stage_changes.filter(to_stage=stage("Won"), by=cast.admin).count() == 1

    def test_reopening_a_won_deal_clears_its_closing_date(self, admin_web, cast, deal):
        services.deal_move_stage(deal=deal, to_stage=stage("Won"), by=cast.rep_a1.user)
        submit(admin_web, Deal, "change", deal.pk, changes={"stage": stage("Negotiation").pk})

        deal.refresh_from_db()
        assert (deal.stage, deal.closed_on) == (stage("Negotiation"), None)

    def test_it_rejects_closing_before_opening_on_the_field_and_writes_nothing(self, admin_web, deal):
        before = deal.opened_on - timedelta(days=1)
        response = submit(
            admin_web, Deal, "change", deal.pk, changes={"stage": stage("Lost").pk, "closed_on": before}
        )

        assert "closed_on" in form_errors(response)
        deal.refresh_from_db()
        assert (deal.stage, deal.closed_on) == (stage("Lead"), None)
        assert deal.stage_changes.count() == 1

    def test_it_rejects_a_closing_date_alone(self, admin_web, deal):
        response = submit(admin_web, Deal, "change", deal.pk, changes={"closed_on": timezone.localdate()})

        assert "closed_on" in form_errors(response)
        deal.refresh_from_db()
        assert deal.closed_on is None

    def test_it_rejects_a_negative_amount_and_keeps_the_stage(self, admin_web, deal):
        response = submit(
            admin_web, Deal, "change", deal.pk, changes={"amount": "-1", "stage": stage("MQL").pk}
        )

        assert "amount" in form_errors(response)
        deal.refresh_from_db()
        assert (deal.amount, deal.stage) == (Decimal("1200"), stage("Lead"))
        assert deal.stage_changes.count() == 1

    def test_editing_details_leaves_the_stage_history_alone(self, admin_web, deal):
        submit(admin_web, Deal, "change", deal.pk, changes={"name": "Fleet renewal 2027"})

        deal.refresh_from_db()
        assert deal.name == "Fleet renewal 2027"
        assert deal.stage_changes.count() == 1

    def test_a_deal_added_in_admin_gets_its_first_stage_recorded(self, admin_web, cast):
        response = submit(
            admin_web,
            Deal,
            "add",
            changes={
                "name": "New fleet",
                "owner": cast.rep_a2.pk,
                "amount": "800",
                "revenue_type": Deal.RevenueType.ONE_TIME,
                "opened_on": timezone.localdate(),
                "source": "manual",
            },
        )

        assert response.status_code == 302
        deal = Deal.objects.get(name="New fleet")
        assert deal.stage == stage("Lead")
        (first,) = deal.stage_changes.all()
        assert (first.from_stage, first.to_stage, first.by) == (None, stage("Lead"), cast.admin)

    def test_it_rejects_adding_a_deal_for_an_inactive_rep(self, admin_web, cast):
        Rep.objects.filter(pk=cast.rep_a2.pk).update(is_active=False)
        response = submit(
            admin_web,
            Deal,
            "add",
            changes={
                "name": "New fleet",
                "owner": cast.rep_a2.pk,
                "amount": "800",
                "revenue_type": Deal.RevenueType.ONE_TIME,
                "opened_on": timezone.localdate(),
                "source": "manual",
            },
        )

        assert "owner" in form_errors(response)
        assert not Deal.objects.filter(name="New fleet").exists()
        assert not DealStageChange.objects.filter(deal__name="New fleet").exists()

    def test_the_stage_history_is_read_only(self, admin_web, deal):
        move = deal.stage_changes.get()
        response = admin_web.post(url(DealStageChange, "change", move.pk), {"to_stage": stage("Won").pk})

        assert response.status_code in (200, 403)
        move.refresh_from_db()
        assert move.to_stage == stage("Lead")
        assert admin_web.get(url(DealStageChange, "add")).status_code == 403

    def test_deleting_a_deal_in_admin_removes_it(self, admin_web, deal):
        response = admin_web.post(url(Deal, "delete", deal.pk), {"post": "yes"})

        assert response.status_code == 302
        assert not Deal.objects.filter(pk=deal.pk).exists()


class ActivityAdminTests:
    def test_it_rejects_linking_another_reps_deal_on_the_field(self, admin_web, cast, deal):
        activity = ActivityFactory(rep=cast.rep_a2)
        response = submit(admin_web, Activity, "change", activity.pk, changes={"deal": deal.pk})

        assert "deal" in form_errors(response)
        activity.refresh_from_db()
        assert activity.deal is None

    def test_it_edits_an_activity(self, admin_web, cast):
        activity = ActivityFactory(rep=cast.rep_a2, duration_minutes=15)
        response = submit(admin_web, Activity, "change", activity.pk, changes={"duration_minutes": 45})

        assert response.status_code == 302
        activity.refresh_from_db()
        assert activity.duration_minutes == 45

    def test_it_rejects_a_duration_over_a_day(self, admin_web, cast):
        activity = ActivityFactory(rep=cast.rep_a2, duration_minutes=15)
        response = submit(admin_web, Activity, "change", activity.pk, changes={"duration_minutes": 1441})

        assert "duration_minutes" in form_errors(response)
        activity.refresh_from_db()
        assert activity.duration_minutes == 15

    def test_it_logs_an_activity_for_a_rep(self, admin_web, cast):
        response = submit(
            admin_web,
            Activity,
            "add",
            changes={
                "rep": cast.rep_b1.pk,
                "type": ActivityType.objects.get(name="Demo").pk,
                "occurred_at_0": timezone.localdate().isoformat(),
                "occurred_at_1": "09:30:00",
                "duration_minutes": 60,
                "source": "manual",
            },
        )

        assert response.status_code == 302
        activity = Activity.objects.get(rep=cast.rep_b1)
        assert activity.duration_minutes == 60
        assert timezone.is_aware(activity.occurred_at)


# --- users --------------------------------------------------------------------------


class UserAdminTests:
    def test_the_user_list_shows_the_roles(self, admin_web, cast):
        page = admin_web.get(url(get_user_model(), "changelist")).content.decode()
        assert "manager" in page and "rep" in page

    def test_the_user_page_shows_the_rep_profile_inline(self, admin_web, cast):
        response = admin_web.get(url(get_user_model(), "change", cast.rep_a1.user.pk))
        formsets = [inline.formset for inline in response.context["inline_admin_formsets"]]
        assert [fs.model for fs in formsets] == [Rep]
        assert formsets[0].initial_forms[0].instance == cast.rep_a1

    def test_giving_a_user_a_rep_profile_makes_them_a_rep(self, admin_web, cast, django_user_model):
        newcomer = django_user_model.objects.create_user("newcomer", password=PASSWORD)
        address = url(get_user_model(), "change", newcomer.pk)
        data = page_data(admin_web.get(address))
        data.update({"rep-TOTAL_FORMS": 1, "rep-0-team": cast.team_b.pk, "rep-0-is_active": "on"})
        response = admin_web.post(address, data)

        assert response.status_code == 302
        assert Rep.objects.get(user=newcomer).team == cast.team_b
        assert set(newcomer.groups.values_list("name", flat=True)) == {"rep"}

    def test_adding_a_user_with_a_rep_profile_creates_a_rep(self, admin_web, cast):
        response = submit(
            admin_web,
            get_user_model(),
            "add",
            changes={
                "username": "rep_a3",
                "usable_password": "true",
                "password1": "a-long-new-password-42",
                "password2": "a-long-new-password-42",
                "rep-TOTAL_FORMS": 1,
                "rep-0-team": cast.team_a.pk,
                "rep-0-is_active": "on",
            },
        )

        assert response.status_code == 302
        rep = Rep.objects.get(user__username="rep_a3")
        assert rep.team == cast.team_a
        assert set(rep.user.groups.values_list("name", flat=True)) == {"rep"}

    def test_the_role_action_moves_a_user_to_another_role(self, admin_web, cast):
        admin_web.post(
            url(get_user_model(), "changelist"),
            {"action": "make_manager", "_selected_action": [cast.rep_a2.user.pk]},
        )
        assert set(cast.rep_a2.user.groups.values_list("name", flat=True)) == {"manager"}

    def test_an_admin_cannot_make_anyone_superuser(self, admin_web, cast):
        user = cast.rep_a1.user
        submit(admin_web, get_user_model(), "change", user.pk, changes={"is_superuser": "on"})

        user.refresh_from_db()
        assert not user.is_superuser

    def test_an_admin_cannot_change_a_superuser(self, admin_web, cast):
        root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
        response = admin_web.post(
            reverse("admin:auth_user_password_change", args=[root.pk]),
            {"password1": "a-new-password-42", "password2": "a-new-password-42"},
        )

        assert response.status_code == 403
        root.refresh_from_db()
        assert root.check_password(PASSWORD)
