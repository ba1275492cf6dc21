"""The quota services: one quota per rep and period, all or nothing, with who changed it."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from activities.models import Team
from metrics import services
from metrics.models import Quota
from metrics.periods import Period
from tests.factories import RepFactory

Q3 = Period.parse("2026-Q3")


def amounts() -> dict:
    """Every quota row, as {(owner, kind, start): amount}."""
    return {(q.rep_id, q.team_id, q.period_kind, q.period_start): q.amount for q in Quota.objects.all()}


class QuotaSetForTeamRepsTests:
    def test_it_gives_every_active_rep_of_the_team_the_quota(self, cast):
        retired = RepFactory(team=cast.team_a, is_active=False)

        result = services.quota_set_for_team_reps(
            team=cast.team_a, period=Q3, amount=Decimal("30000"), by=cast.admin
        )

        quotas = Quota.objects.all()
        assert {q.rep for q in quotas} == {cast.rep_a1, cast.rep_a2}
        assert {(q.period_kind, q.period_start, q.amount) for q in quotas} == {
            ("quarter", Q3.start, Decimal("30000"))
        }
        assert not Quota.objects.filter(rep__in=[retired, cast.rep_b1]).exists()
        assert (result.created, result.updated, result.unchanged) == (2, 0, 0)

    def test_a_second_run_updates_the_same_rows(self, cast):
        services.quota_set_for_team_reps(team=cast.team_a, period=Q3, amount=Decimal("100"), by=cast.admin)
        first_ids = set(Quota.objects.values_list("pk", flat=True))

        result = services.quota_set_for_team_reps(
            team=cast.team_a, period=Q3, amount=Decimal("250"), by=cast.admin
        )

        assert set(Quota.objects.values_list("pk", flat=True)) == first_ids
        assert set(Quota.objects.values_list("amount", flat=True)) == {Decimal("250")}
        assert (result.created, result.updated, result.unchanged) == (0, 2, 0)

    def test_it_adds_the_quota_of_a_rep_who_joined_since(self, cast):
        services.quota_set_for_team_reps(team=cast.team_a, period=Q3, amount=Decimal("100"), by=cast.admin)
        newcomer = RepFactory(team=cast.team_a)

        result = services.quota_set_for_team_reps(
            team=cast.team_a, period=Q3, amount=Decimal("100"), by=cast.admin
        )

        assert Quota.objects.get(rep=newcomer).amount == Decimal("100")
        assert (result.created, result.updated, result.unchanged) == (1, 0, 2)

    def test_another_period_is_another_row(self, cast):
        services.quota_set_for_team_reps(team=cast.team_b, period=Q3, amount=Decimal("1"), by=cast.admin)
        services.quota_set_for_team_reps(
            team=cast.team_b, period=Period.parse("2026-07"), amount=Decimal("2"), by=cast.admin
        )

        assert sorted(Quota.objects.filter(rep=cast.rep_b1).values_list("period_kind", "amount")) == [
            ("month", Decimal("2")),
            ("quarter", Decimal("1")),
        ]

    def test_it_sets_the_team_quota_when_asked(self, cast):
        services.quota_set_for_team_reps(
            team=cast.team_a, period=Q3, amount=Decimal("10"), team_amount=Decimal("25"), by=cast.admin
        )

        assert Quota.objects.get(team=cast.team_a).amount == Decimal("25")
        assert Quota.objects.filter(rep__isnull=False).count() == 2

    def test_it_leaves_the_team_quota_alone_when_not_asked(self, cast):
        Quota.objects.create(
            team=cast.team_a, period_kind=Q3.kind, period_start=Q3.start, amount=Decimal("99")
        )

        services.quota_set_for_team_reps(team=cast.team_a, period=Q3, amount=Decimal("10"), by=cast.admin)

        assert Quota.objects.get(team=cast.team_a).amount == Decimal("99")

    def test_it_rejects_a_negative_amount_and_writes_nothing(self, cast):
        services.quota_set_for_team_reps(team=cast.team_a, period=Q3, amount=Decimal("100"), by=cast.admin)
        before = amounts()

        with pytest.raises(ValidationError) as excinfo:
            services.quota_set_for_team_reps(team=cast.team_a, period=Q3, amount=Decimal("-1"), by=cast.admin)

        assert "amount" in excinfo.value.message_dict
        assert amounts() == before

    def test_a_failure_on_the_team_quota_undoes_the_reps_quotas(self, cast):
        with pytest.raises(ValidationError) as excinfo:
            services.quota_set_for_team_reps(
                team=cast.team_a, period=Q3, amount=Decimal("10"), team_amount=Decimal("-5"), by=cast.admin
            )

        assert "amount" in excinfo.value.message_dict
        assert not Quota.objects.exists()

    def test_it_rejects_a_team_without_active_reps(self, cast):
        empty = Team.objects.create(name="Team Empty")
        RepFactory(team=empty, is_active=False)

        with pytest.raises(ValidationError) as excinfo:
            services.quota_set_for_team_reps(team=empty, period=Q3, amount=Decimal("10"), by=cast.admin)

        assert "no active reps" in excinfo.value.message_dict["team"][0]
        assert not Quota.objects.exists()

    def test_a_team_without_reps_can_still_get_its_own_quota(self, cast):
        empty = Team.objects.create(name="Team Empty")

        services.quota_set_for_team_reps(
            team=empty, period=Q3, amount=Decimal("10"), team_amount=Decimal("40"), by=cast.admin
        )

        assert list(Quota.objects.values_list("team", "amount")) == [(empty.pk, Decimal("40"))]

    def test_the_history_names_who_set_the_quota(self, cast):
        services.quota_set_for_team_reps(team=cast.team_a, period=Q3, amount=Decimal("100"), by=cast.admin)
        services.quota_set_for_team_reps(
            team=cast.team_a, period=Q3, amount=Decimal("120"), by=cast.manager_a
        )

        history = Quota.history.filter(rep=cast.rep_a1).order_by("history_date", "history_id")
        assert [(h.history_type, h.amount, h.history_user) for h in history] == [
            ("+", Decimal("100"), cast.admin),
            ("~", Decimal("120"), cast.manager_a),
        ]

    def test_an_unchanged_amount_adds_no_history(self, cast):
        services.quota_set_for_team_reps(team=cast.team_a, period=Q3, amount=Decimal("100"), by=cast.admin)
        services.quota_set_for_team_reps(team=cast.team_a, period=Q3, amount=Decimal("100.00"), by=cast.admin)

        assert Quota.history.count() == 2


class QuotaSetTests:
    def test_it_creates_then_updates_one_reps_quota(self, cast):
        period = Period.parse("2026")
        services.quota_set(rep=cast.rep_b1, period=period, amount=Decimal("5"), by=cast.admin)
        result = services.quota_set(rep=cast.rep_b1, period=period, amount=Decimal("6"), by=cast.admin)

        assert list(Quota.objects.values_list("rep", "period_kind", "amount")) == [
            (cast.rep_b1.pk, "year", Decimal("6"))
        ]
        assert result.updated == 1

    @pytest.mark.parametrize("owner", ["both", "neither"])
    def test_it_wants_exactly_one_owner(self, cast, owner):
        kwargs = {"rep": cast.rep_a1, "team": cast.team_a} if owner == "both" else {}

        with pytest.raises(ValidationError) as excinfo:
            services.quota_set(period=Q3, amount=Decimal("5"), by=cast.admin, **kwargs)

        assert "rep" in excinfo.value.message_dict
        assert not Quota.objects.exists()
