"""Every page fits the screen: a rep's phone, a manager's laptop, an admin's either.

The demo organisation is seeded and computed, then each role's pages are walked by
following their links (tests.e2e.crawl) at 390×844 and 1366×900. On every page nothing
may be wider than the viewport, and no table may run outside its card (a table that
does not fit scrolls inside the card on a phone; on a desktop it fits). The walk must
reach every page of the URL conf the role may open, so a new page is measured too.
"""

import re

import pytest
from django.core.management import call_command

from activities.demo import DEMO_PASSWORD, demo_seed
from activities.models import ImportJob
from tests.e2e.crawl import SCROLLING_JS, overflow, walk

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}

# The pages of the URL conf each role reaches by links, by URL name (tests.e2e.crawl.url_name).
EVERYONE = {
    "home",
    "dashboard",
    "dashboard_scope:rep",
    "dashboard_scope:team",
    "leaderboard",
    "leaderboard_tv",
    "activity_list",
    "deal_list",
    "deal_detail",
}
PAGES = {
    # A rep logs and edits their own work; a manager reads their team's.
    "rep": EVERYONE | {"activity_create", "activity_edit", "deal_create", "deal_edit", "deal_move"},
    "manager": EVERYONE | {"import_list", "import_detail", "dashboard_scope:territory"},
    "admin": EVERYONE
    | {
        "import_list",
        "import_detail",
        "dashboard_company",
        "dashboard_scope:territory",
        "admin:index",
    },
}


@pytest.fixture
def demo(db):
    summary = demo_seed(reps=8, days=45, seed=5)
    call_command("compute_metrics", "--all", verbosity=0)
    from django.contrib.auth import get_user_model

    manager = get_user_model().objects.get(username="manager")
    report = {"rows": 2, "created": 2, "updated": 0, "unchanged": 0, "errors": [], "warnings": []}
    ImportJob.objects.create(
        kind="activities",
        original_filename="week.csv",
        status=ImportJob.Status.SUCCEEDED,
        rows_done=2,
        rows_total=2,
        created_count=2,
        report=report,
        created_by=manager,
    )
    return summary


def _signed_in_page(browser, live_server, username, viewport):
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return context, page, errors


def _layout_problems(page, url):
    problems = overflow(page, url)
    if page.viewport_size["width"] >= 1280:
        problems += [f"table scrolls in its card: {what}" for what in page.evaluate(SCROLLING_JS)]
    return problems


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390x844", "1366x900"])
@pytest.mark.parametrize("role", ["rep", "manager", "admin"])
def test_no_page_a_role_reaches_is_wider_than_the_screen(browser, live_server, demo, role, viewport):
    context, page, errors = _signed_in_page(browser, live_server, role, viewport)
    try:
        # Admin pages are Django's own (responsive since Django 2); the walk opens one of each kind.
        result = walk(page, per_name=1, limit=70, check=_layout_problems)
    finally:
        context.close()

    assert not errors, errors
    failing = {url: status for url, status in result.statuses.items() if status >= 400}
    assert not failing, f"pages that answered an error: {failing}"
    missing = PAGES[role] - result.names
    assert not missing, f"the walk did not reach {sorted(missing)} (visited {sorted(result.names)})"
    assert not result.problems, "\n".join(
        f"{url}:\n  " + "\n  ".join(problems) for url, problems in result.problems.items()
    )


def test_a_rep_on_a_phone_sees_their_own_value_and_reaches_every_menu_item(browser, live_server, demo):
    context, page, errors = _signed_in_page(browser, live_server, "rep", PHONE)
    try:
        page.goto("/leaderboards/?metric=activities")
        own = page.locator("table.ranking tr[aria-current=true]")
        expect(own).to_have_count(1)
        value = own.locator("td.value")
        expect(value).to_be_visible()
        box = value.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        # The rank and the name stay on the same line as the value; team and movement go under.
        rank, name = own.locator("td.rank").bounding_box(), own.locator("td.rep").bounding_box()
        assert abs(rank["y"] - box["y"]) < 12 and abs(name["y"] - box["y"]) < 12, (rank, name, box)
        assert own.locator("td.team").bounding_box()["y"] > box["y"] + 5
        expect(page.locator(".standing")).to_contain_text(re.compile(r"You are #\d+ of \d+"))

        # The compact menu: closed, one button opens it, every item then fits on the screen.
        menu = page.get_by_role("button", name="Menu")
        expect(menu).to_have_attribute("aria-expanded", "false")
        deals = page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Deals")
        expect(deals).to_be_hidden()
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        for link in page.get_by_role("navigation", name="Main navigation").get_by_role("link").all():
            expect(link).to_be_visible()
            link_box = link.bounding_box()
            assert link_box["x"] + link_box["width"] <= PHONE["width"], link.inner_text()
        page.keyboard.press("Escape")
        expect(deals).to_be_hidden()
        menu.click()
        deals.click()
        page.wait_for_url(re.compile(r"/deals/$"))

        # The floating "Log activity" button leads to the form, and is not on the form itself.
        fab = page.get_by_test_id("log-fab")
        expect(fab).to_be_visible()
        fab.click()
        page.wait_for_url(re.compile(r"/activities/new/$"))
        expect(page.get_by_test_id("log-fab")).to_have_count(0)
    finally:
        context.close()
    assert not errors, errors


def test_on_a_laptop_the_menu_sits_in_the_bar_and_no_button_floats(browser, live_server, demo):
    context, page, errors = _signed_in_page(browser, live_server, "rep", LAPTOP)
    try:
        page.goto("/deals/")
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        nav = page.get_by_role("navigation", name="Main navigation")
        expect(nav.get_by_role("link", name="Deals")).to_be_visible()
        expect(page.get_by_test_id("log-fab")).to_be_hidden()
    finally:
        context.close()
    assert not errors, errors
