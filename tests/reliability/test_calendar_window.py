"""One calendar window for every date, whoever writes it: services (forms, admin), API, imports, demo.

A typo such as 0226-11-01 once became a period nobody could print ('1-01' is not a period) and
stopped every run for the whole company. It is now refused where it is typed, naming the field.
"""

import io
from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from activities import rules, services
from activities.imports import run_import
from activities.models import Activity, ActivityType, Deal
from metrics import services as metric_services
from metrics.models import Quota
from metrics.periods import Period
from tests.api.conftest import token_client
from tests.imports.helpers import csv_bytes

TYPO = "0226-11-01"


@pytest.fixture
def call():
    return ActivityType.objects.get(name="Call")


class ServiceTests:
    def test_a_deal_opened_before_the_earliest_date_is_refused_naming_the_field(self, cast):
        with pytest.raises(ValidationError) as caught:
            services.deal_open(owner=cast.rep_a1, name="Typo", amount=10, opened_on=date(226, 11, 1))
        assert list(caught.value.message_dict) == ["opened_on"]
        assert "2000-01-01" in caught.value.message_dict["opened_on"][0]
        assert not Deal.objects.exists()

    def test_the_earliest_date_itself_is_accepted_and_the_day_before_is_not(self, cast, call):
        services.deal_open(owner=cast.rep_a1, name="First", amount=10, opened_on=date(2000, 1, 1))
        moment = timezone.make_aware(datetime(1999, 12, 31, 12))
        with pytest.raises(ValidationError) as caught:
            services.activity_log(rep=cast.rep_a1, type=call, occurred_at=moment)
        assert "occurred_at" in caught.value.message_dict
        services.activity_log(rep=cast.rep_a1, type=call, occurred_at=moment + timedelta(days=1))
        assert Activity.objects.count() == 1

    def test_an_expected_close_and_a_closing_day_are_held_to_the_same_window(self, cast):
        with pytest.raises(ValidationError) as caught:
            services.deal_open(
                owner=cast.rep_a1,
                name="X",
                amount=1,
                opened_on=date(2026, 1, 5),
                expected_close_on=date(1, 1, 1),
            )
        assert "expected_close_on" in caught.value.message_dict

    def test_the_window_follows_the_setting(self, cast, settings):
        settings.SALESTRACK_EARLIEST_DATE = date(2020, 1, 1)
        assert rules.day_problem(date(2019, 12, 31))
        assert rules.day_problem(date(2020, 1, 1)) is None
        with pytest.raises(ValidationError):
            services.deal_open(owner=cast.rep_a1, name="X", amount=1, opened_on=date(2019, 6, 1))

    def test_a_quota_for_a_period_before_the_window_is_refused(self, cast):
        with pytest.raises(ValidationError) as caught:
            metric_services.quota_set(
                period=Period.parse("0226-Q4"), amount=10, by=cast.admin, rep=cast.rep_a1
            )
        assert "period" in caught.value.message_dict
        assert not Quota.objects.exists()


class ApiTests:
    def test_the_api_refuses_a_year_one_deal_with_400_on_the_field(self, cast):
        response = token_client(cast.rep_a1.user).post(
            "/api/v1/deals/", {"name": "Typo", "amount": "10.00", "opened_on": TYPO}, format="json"
        )
        assert response.status_code == 400
        assert "opened_on" in response.json()
        assert not Deal.objects.exists()


class ImportTests:
    def test_an_import_row_before_the_window_is_refused_naming_row_and_column(self, cast):
        header = ["external_id", "owner", "amount", "stage", "opened_on"]
        rows = [["OK", "rep_a1", "5", "Lead", "2026-02-01"], ["T", "rep_a1", "5", "Lead", TYPO]]
        report = run_import("deals", io.BytesIO(csv_bytes(header, rows)), filename="deals.csv", by=cast.admin)
        assert [(e.row, e.column) for e in report.errors] == [(3, "opened_on")]
        assert "earliest" in report.errors[0].reason
        assert not Deal.objects.exists(), "all or nothing"

    def test_an_activity_import_with_a_year_one_moment_is_refused(self, cast):
        header = ["external_id", "rep", "type", "occurred_at", "duration_minutes"]
        rows = [["A1", "rep_a1", "Call", "0001-01-01 10:00", "5"]]
        report = run_import(
            "activities", io.BytesIO(csv_bytes(header, rows)), filename="a.csv", by=cast.admin
        )
        assert [(e.row, e.column) for e in report.errors] == [(2, "occurred_at")]
        assert not Activity.objects.exists()


class DemoTests:
    def test_seed_demo_refuses_history_before_the_window(self, db, settings):
        settings.SALESTRACK_EARLIEST_DATE = timezone.localdate() - timedelta(days=10)
        with pytest.raises(CommandError, match="too early"):
            call_command("seed_demo", "--reps", "2", "--days", "30", "--seed", "1", verbosity=0)
