"""The database itself refuses bad rows, even from code that bypasses the services."""

from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from activities.models import Activity, ActivityType, Deal, Source, Stage
from metrics.models import ActivityTarget, Projection, Quota
from tests.factories import ActivityFactory, DealFactory, stage

JAN = date(2026, 1, 1)


@contextmanager
def refused():
    """Expect the database to refuse the write; the savepoint keeps the test's transaction usable."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


def deal_row(owner, **fields) -> Deal:
    """An unsaved deal with every required field, for bulk_create."""
    values = {
        "name": "Raw deal",
        "owner": owner,
        "amount": Decimal("10"),
        "stage": stage("Lead"),
        "opened_on": JAN,
    }
    values.update(fields)
    return Deal(**values)


def message_dict(instance) -> dict:
    with pytest.raises(ValidationError) as excinfo:
        instance.full_clean()
    return excinfo.value.message_dict


class DealConstraintTests:
    def test_the_amount_cannot_be_negative(self, cast):
        with refused():
            DealFactory(owner=cast.rep_a1, amount=Decimal("-0.01"))
        with refused():
            Deal.objects.bulk_create([deal_row(cast.rep_a1, amount=Decimal("-1"))])
        deal = DealFactory(owner=cast.rep_a1, amount=Decimal("0"))
        with refused():
            Deal.objects.filter(pk=deal.pk).update(amount=Decimal("-5"))
        deal.refresh_from_db()
        assert deal.amount == 0

    def test_a_deal_cannot_close_before_it_opened(self, cast):
        with refused():
            deal_row(cast.rep_a1, stage=stage("Won"), closed_on=JAN - timedelta(days=1)).save()
        deal = DealFactory(owner=cast.rep_a1, opened_on=JAN, stage=stage("Won"), closed_on=JAN)
        with refused():
            Deal.objects.filter(pk=deal.pk).update(closed_on=JAN - timedelta(days=1))
        with refused():
            Deal.objects.filter(pk=deal.pk).update(opened_on=JAN + timedelta(days=1))
        deal.refresh_from_db()
        assert deal.closed_on == deal.opened_on == JAN

    def test_external_id_is_unique_per_source(self, cast):
        DealFactory(owner=cast.rep_a1, source=Source.CRM, external_id="OPP-1")
        with refused():
            DealFactory(owner=cast.rep_a2, source=Source.CRM, external_id="OPP-1")
        with refused():
            Deal.objects.bulk_create(
                [
                    deal_row(cast.rep_a1, source=Source.API, external_id="X"),
                    deal_row(cast.rep_a2, source=Source.API, external_id="X"),
                ]
            )
        DealFactory(owner=cast.rep_a1, source=Source.ECOMMERCE, external_id="OPP-1")
        assert Deal.objects.filter(external_id="OPP-1").count() == 2

    def test_many_deals_may_have_an_empty_external_id(self, cast):
        Deal.objects.bulk_create([deal_row(cast.rep_a1, source=Source.CRM, external_id="") for _ in range(3)])
        assert Deal.objects.filter(source=Source.CRM, external_id="").count() == 3

    def test_full_clean_names_the_amount(self, cast):
        errors = message_dict(deal_row(cast.rep_a1, amount=Decimal("-1")))
        assert "amount" in errors

    def test_full_clean_reports_closing_before_opening(self, cast):
        # A check constraint spans two fields, so Django reports it for the row as a whole.
        errors = message_dict(deal_row(cast.rep_a1, closed_on=JAN - timedelta(days=1)))
        assert errors[NON_FIELD_ERRORS] == ["A deal cannot close before it was opened."]

    def test_full_clean_reports_a_taken_external_id(self, cast):
        DealFactory(owner=cast.rep_a1, source=Source.CRM, external_id="OPP-9")
        errors = message_dict(deal_row(cast.rep_a2, source=Source.CRM, external_id="OPP-9"))
        assert errors[NON_FIELD_ERRORS] == ["A deal with this external id already exists."]


class ActivityConstraintTests:
    @pytest.mark.parametrize("minutes", [0, 1441])
    def test_the_duration_lies_within_one_day(self, cast, minutes):
        with refused():
            ActivityFactory(rep=cast.rep_a1, duration_minutes=minutes)
        with refused():
            Activity.objects.bulk_create([ActivityFactory.build(rep=cast.rep_a1, duration_minutes=minutes)])
        activity = ActivityFactory(rep=cast.rep_a1, duration_minutes=30)
        with refused():
            Activity.objects.filter(pk=activity.pk).update(duration_minutes=minutes)
        activity.refresh_from_db()
        assert activity.duration_minutes == 30

    @pytest.mark.parametrize("minutes", [1, 1440])
    def test_the_limits_of_a_day_are_allowed(self, cast, minutes):
        assert ActivityFactory(rep=cast.rep_a1, duration_minutes=minutes).pk

    def test_external_id_is_unique_per_source(self, cast):
        ActivityFactory(rep=cast.rep_a1, source=Source.CRM, external_id="ACT-1")
        with refused():
            ActivityFactory(rep=cast.rep_a1, source=Source.CRM, external_id="ACT-1")
        ActivityFactory(rep=cast.rep_a1, source=Source.API, external_id="ACT-1")
        ActivityFactory.create_batch(3, rep=cast.rep_a1, source=Source.CRM, external_id="")
        assert Activity.objects.filter(source=Source.CRM, external_id="").count() == 3

    def test_an_activity_type_default_duration_lies_within_one_day(self, db):
        with refused():
            ActivityType.objects.create(name="Marathon", default_duration=1441)
        with refused():
            ActivityType.objects.create(name="Blink", default_duration=0)

    def test_full_clean_names_the_duration(self, cast):
        errors = message_dict(ActivityFactory.build(rep=cast.rep_a1, duration_minutes=1441))
        assert "duration_minutes" in errors


class StageConstraintTests:
    @pytest.mark.parametrize("probability", ["-0.001", "1.001", "1.5"])
    def test_the_win_probability_lies_between_zero_and_one(self, db, probability):
        with refused():
            Stage.objects.create(name="Odd", order=60, win_probability=Decimal(probability))
        with refused():
            Stage.objects.filter(name="SQL").update(win_probability=Decimal(probability))
        assert Stage.objects.get(name="SQL").win_probability == Decimal("0.4")

    @pytest.mark.parametrize("probability", ["0", "1"])
    def test_zero_and_one_are_allowed(self, db, probability):
        assert Stage.objects.create(name="Edge", order=60, win_probability=Decimal(probability)).pk

    def test_full_clean_names_the_win_probability(self, db):
        errors = message_dict(Stage(name="Odd", order=60, win_probability=Decimal("1.5")))
        assert "win_probability" in errors


@pytest.mark.parametrize("model", [Quota, Projection], ids=["quota", "projection"])
class TargetConstraintTests:
    def test_one_per_rep_and_period(self, cast, model):
        model.objects.create(rep=cast.rep_a1, period_kind="month", period_start=JAN, amount=100)
        with refused():
            model.objects.create(rep=cast.rep_a1, period_kind="month", period_start=JAN, amount=200)
        # The quarter starting the same day is another period; another rep is another owner.
        model.objects.create(rep=cast.rep_a1, period_kind="quarter", period_start=JAN, amount=300)
        model.objects.create(rep=cast.rep_a2, period_kind="month", period_start=JAN, amount=100)

    def test_one_per_team_and_period(self, cast, model):
        model.objects.create(team=cast.team_a, period_kind="year", period_start=JAN, amount=100)
        with refused():
            model.objects.bulk_create(
                [model(team=cast.team_a, period_kind="year", period_start=JAN, amount=1)]
            )
        model.objects.create(team=cast.team_b, period_kind="year", period_start=JAN, amount=100)

    def test_either_a_rep_or_a_team(self, cast, model):
        with refused():
            model.objects.create(
                rep=cast.rep_a1, team=cast.team_a, period_kind="month", period_start=JAN, amount=1
            )
        with refused():
            model.objects.create(period_kind="month", period_start=JAN, amount=1)
        row = model.objects.create(rep=cast.rep_a1, period_kind="month", period_start=JAN, amount=1)
        with refused():
            model.objects.filter(pk=row.pk).update(team=cast.team_a)

    def test_the_amount_cannot_be_negative(self, cast, model):
        with refused():
            model.objects.create(rep=cast.rep_a1, period_kind="month", period_start=JAN, amount=Decimal("-1"))

    def test_full_clean_names_the_owner_and_the_period_start(self, cast, model):
        assert "rep" in message_dict(model(period_kind="month", period_start=JAN, amount=1))
        assert "rep" in message_dict(
            model(rep=cast.rep_a1, team=cast.team_a, period_kind="month", period_start=JAN, amount=1)
        )
        errors = message_dict(
            model(rep=cast.rep_a1, period_kind="quarter", period_start=date(2026, 2, 1), amount=1)
        )
        assert "period_start" in errors
        assert "amount" in message_dict(
            model(rep=cast.rep_a1, period_kind="month", period_start=JAN, amount=-1)
        )

    def test_full_clean_reports_a_second_row_for_the_same_period(self, cast, model):
        model.objects.create(rep=cast.rep_a1, period_kind="month", period_start=JAN, amount=100)
        errors = message_dict(model(rep=cast.rep_a1, period_kind="month", period_start=JAN, amount=5))
        assert errors[NON_FIELD_ERRORS] == ["This rep already has one for this period."]


class ActivityTargetConstraintTests:
    def test_one_per_rep_type_and_period(self, cast):
        call, email = ActivityType.objects.get(name="Call"), ActivityType.objects.get(name="Email")
        fields = {"rep": cast.rep_a1, "period_kind": "month", "period_start": JAN, "target_count": 40}
        ActivityTarget.objects.create(activity_type=call, **fields)
        with refused():
            ActivityTarget.objects.create(activity_type=call, **fields)
        ActivityTarget.objects.create(activity_type=email, **fields)
