"""No lost updates: an edit made from an older version of a deal or activity is refused, not saved over.

Two tabs of one rep: the second wins the deal at another amount; the first, still open on the
old version, is answered 409 with the current values and writes nothing. The API sends the
version as ETag; a stale If-Match is 412, a stale body version 409, neither works as before.
Two moves of one deal at once on PostgreSQL are serialised by the lock on its row and recorded
in order.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from activities import services
from activities.models import Activity, Deal, DealStageChange, Stage
from tests.api.conftest import log, open_deal, token_client
from tests.conftest import need
from tests.test_admin import form_errors, page_data, url

pytestmark = pytest.mark.django_db


def stage(name: str) -> Stage:
    return Stage.objects.get(name=name)


def edit_form_data(response) -> dict:
    """What the browser would post back from an edit page: every field as the page shows it."""
    form = response.context["form"]
    return {name: "" if form[name].value() is None else form[name].value() for name in form.fields}


class StaleFormTests:
    def test_a_stale_deal_form_answers_409_with_the_current_values_and_writes_nothing(self, cast, client):
        deal = open_deal(cast.rep_a1, name="Acme renewal", amount="5000.00")
        client.force_login(cast.rep_a1.user)
        first_tab = edit_form_data(client.get(reverse("deal_edit", args=[deal.pk])))
        assert first_tab["version"] == 1

        # The second tab wins the deal at another amount.
        won = {
            "to_stage": stage("Won").pk,
            "closed_on": timezone.localdate().isoformat(),
            "amount": "7500.00",
            "confirm": "on",
        }
        assert client.post(reverse("deal_move", args=[deal.pk]), won).status_code == 302

        first_tab["amount"] = "4000.00"
        response = client.post(reverse("deal_edit", args=[deal.pk]), first_tab)
        page = response.content.decode()
        assert response.status_code == 409
        assert "This deal changed since you opened it." in page and 'data-testid="stale-edit"' in page
        assert "7,500.00" in page and "Won" in page  # what it holds now
        deal.refresh_from_db()
        assert (deal.amount, deal.stage.name, deal.version) == (Decimal("7500.00"), "Won", 2)

        # The page now carries the current version: saving again replaces it, on purpose.
        again = edit_form_data(response)
        assert (again["version"], again["amount"]) == (2, "4000.00")
        assert client.post(reverse("deal_edit", args=[deal.pk]), again).status_code == 302
        deal.refresh_from_db()
        assert (deal.amount, deal.version) == (Decimal("4000.00"), 3)

    def test_a_stale_activity_form_answers_409_and_writes_nothing(self, cast, client):
        activity = log(cast.rep_a1, outcome="Left a message")
        client.force_login(cast.rep_a1.user)
        first_tab = edit_form_data(client.get(reverse("activity_edit", args=[activity.pk])))
        services.activity_update(activity=activity, outcome="Booked a demo")  # the other tab

        first_tab["outcome"] = "No answer"
        response = client.post(reverse("activity_edit", args=[activity.pk]), first_tab)
        assert response.status_code == 409
        assert "This activity changed since you opened it." in response.content.decode()
        assert "Booked a demo" in response.content.decode()
        activity.refresh_from_db()
        assert (activity.outcome, activity.version) == ("Booked a demo", 2)

    def test_a_form_without_a_version_saves_as_before(self, cast, client):
        deal = open_deal(cast.rep_a1, name="Old client")
        client.force_login(cast.rep_a1.user)
        data = edit_form_data(client.get(reverse("deal_edit", args=[deal.pk])))
        services.deal_update(deal=deal, name="Changed meanwhile")
        data.pop("version")
        assert client.post(reverse("deal_edit", args=[deal.pk]), data).status_code == 302
        deal.refresh_from_db()
        assert (deal.name, deal.version) == ("Old client", 3)


class StaleAdminTests:
    def test_a_stale_admin_change_form_is_refused_and_writes_nothing(self, cast, client):
        deal = open_deal(cast.rep_a1, amount="1000.00")
        client.force_login(cast.admin)
        address = url(Deal, "change", deal.pk)
        opened = page_data(client.get(address))
        assert opened["seen_version"] == 1
        services.deal_move_stage(deal=deal, to_stage=stage("Won"), by=cast.rep_a1.user, amount=Decimal("900"))

        for changes in ({"amount": "1500"}, {"stage": stage("Lost").pk}):
            response = client.post(address, {**opened, **changes})
            assert "This deal changed since you opened it" in " ".join(form_errors(response)["__all__"])
        deal.refresh_from_db()
        assert (deal.amount, deal.stage.name, deal.version) == (Decimal("900.00"), "Won", 2)
        # Opened again, it saves.
        response = client.post(address, {**page_data(client.get(address)), "amount": "1500"})
        assert response.status_code == 302
        deal.refresh_from_db()
        assert (deal.amount, deal.version) == (Decimal("1500.00"), 3)


class StaleApiTests:
    def test_etag_round_trip_and_a_stale_if_match_is_412(self, cast):
        deal = open_deal(cast.rep_a1, amount="1000.00")
        api = token_client(cast.rep_a1.user)
        url = f"/api/v1/deals/{deal.pk}/"
        read = api.get(url)
        assert read["ETag"] == '"1"' and read.json()["version"] == 1

        saved = api.patch(url, {"amount": "1200.00"}, format="json", HTTP_IF_MATCH=read["ETag"])
        assert saved.status_code == 200 and saved["ETag"] == '"2"' == api.get(url)["ETag"]

        stale = api.patch(url, {"amount": "900.00"}, format="json", HTTP_IF_MATCH=read["ETag"])
        assert stale.status_code == 412
        assert "version 2" in stale.json()["detail"] and stale["ETag"] == '"2"'
        for tag in ('W/"2"', "garbage", '"two"'):
            assert api.patch(url, {"amount": "900.00"}, format="json", HTTP_IF_MATCH=tag).status_code == 412
        deal.refresh_from_db()
        assert (deal.amount, deal.version) == (Decimal("1200.00"), 2)
        assert api.patch(url, {"amount": "900.00"}, format="json", HTTP_IF_MATCH="*").status_code == 200

    def test_a_stale_body_version_is_409_with_the_current_row(self, cast):
        activity = log(cast.rep_a1, outcome="first")
        api = token_client(cast.rep_a1.user)
        url = f"/api/v1/activities/{activity.pk}/"
        assert api.patch(url, {"outcome": "second", "version": 1}, format="json").status_code == 200
        stale = api.patch(url, {"outcome": "lost", "version": 1}, format="json")
        assert stale.status_code == 409
        assert list(stale.json()) == ["version", "current"]
        assert stale.json()["current"]["outcome"] == "second" and stale.json()["current"]["version"] == 2
        assert Activity.objects.get().outcome == "second"

    def test_no_header_and_no_version_saves_as_today(self, cast):
        deal = open_deal(cast.rep_a1)
        services.deal_update(deal=deal, name="Elsewhere")
        api = token_client(cast.rep_a1.user)
        response = api.put(
            f"/api/v1/deals/{deal.pk}/", {"name": "Mine", "amount": "10.00", "opened_on": str(deal.opened_on)}
        )
        assert response.status_code == 200 and response.json()["version"] == 3


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
class ConcurrentMoveTests:
    """Real PostgreSQL row locks between two connections (threads), so a transactional test; the
    pipeline's stages come back from the migrations' rows (serialized_rollback)."""

    def test_two_moves_of_one_deal_at_once_are_both_recorded_in_order(self, cast):
        need(
            connection.vendor == "postgresql",
            "row locks between connections need PostgreSQL (set DATABASE_URL)",
        )
        deal = open_deal(cast.rep_a1)
        first_moved, errors, waited = threading.Event(), [], {}

        def first():
            try:
                with transaction.atomic():
                    services.deal_move_stage(deal=deal, to_stage=stage("MQL"), by=cast.rep_a1.user)
                    first_moved.set()
                    time.sleep(0.5)  # holding the deal's row lock
            except Exception as exc:  # noqa: BLE001 (reported by the test below)
                errors.append(exc)
            finally:
                first_moved.set()
                connection.close()

        def second():
            try:
                first_moved.wait(10)
                started = time.monotonic()
                # From the caller's stale copy (still in Lead): the service starts from the stored row.
                services.deal_move_stage(deal=deal, to_stage=stage("SQL"), by=cast.rep_a1.user)
                waited["seconds"] = time.monotonic() - started
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        assert waited["seconds"] >= 0.4, waited  # the second move waited for the first's lock
        moves = [
            (change.from_stage and change.from_stage.name, change.to_stage.name)
            for change in DealStageChange.objects.filter(deal=deal).order_by("changed_at", "id")
        ]
        assert moves == [(None, "Lead"), ("Lead", "MQL"), ("MQL", "SQL")]
        deal.refresh_from_db()
        assert (deal.stage.name, deal.version) == ("SQL", 3)
        print(f"\ntwo moves at once: both recorded in order, the second waited {waited['seconds']:.2f} s")
