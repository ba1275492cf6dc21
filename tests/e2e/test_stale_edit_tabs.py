"""Two tabs of one rep in a real browser: a stale edit form is answered with the current values.

The first tab opens the deal's edit page; the second wins the deal at another amount; the first
saves its old page: 409, "This deal changed since you opened it", the won amount shown, nothing
written. Saving that page again replaces the values on purpose.
"""

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from activities import services
from activities.models import Deal, Stage
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


CONFLICT_LOG = "Failed to load resource: the server responded with a status of 409 (Conflict)"


@pytest.fixture
def tabs(browser, live_server):
    """Two tabs of one browser; console errors fail the test, but for the 409 it expects."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    errors = []
    pages = []
    for _ in range(2):
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        pages.append(tab)
    yield pages
    context.close()
    assert [error for error in errors if not error.startswith(CONFLICT_LOG)] == []


def test_a_stale_tab_gets_the_current_values_and_overwrites_nothing(tabs, cast):
    deal = services.deal_open(owner=cast.rep_a1, name="Acme renewal", amount=Decimal("5000"))
    first, second = tabs
    sign_in(first, "rep_a1", PASSWORD)
    first.wait_for_url(re.compile(r"/$"))
    first.goto(f"/deals/{deal.pk}/edit/")

    second.goto(f"/deals/{deal.pk}/move/?to={Stage.objects.get(name='Won').pk}")
    second.get_by_label("Final amount", exact=True).fill("7500")
    second.get_by_label("I confirm the closing date and the amount.").check()
    second.get_by_role("button", name="Move", exact=True).click()
    second.wait_for_url(re.compile(rf"/deals/{deal.pk}/$"))

    first.get_by_label("Amount").fill("4000")
    with first.expect_response(lambda r: r.request.method == "POST") as answer:
        first.get_by_role("button", name="Save").click()
    assert answer.value.status == 409
    notice = first.get_by_test_id("stale-edit")
    expect(notice).to_contain_text("This deal changed since you opened it.")
    expect(notice).to_contain_text("7,500.00")
    expect(notice).to_contain_text("Won")
    expect(first.get_by_label("Amount")).to_have_value("4000")  # the entries are kept
    deal.refresh_from_db()
    assert (deal.amount, deal.stage.name, deal.closed_on) == (Decimal("7500"), "Won", timezone.localdate())

    first.get_by_role("button", name="Save").click()
    first.wait_for_url(re.compile(rf"/deals/{deal.pk}/$"))
    assert Deal.objects.get(pk=deal.pk).amount == Decimal("4000")
