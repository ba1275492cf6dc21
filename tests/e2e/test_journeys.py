"""The foundation's user journeys, clicked through the real pages in headless chromium.

Each test signs in as one persona of `tests.conftest.Cast` and does what that
person does in a day: a rep logs and wins, a manager looks but cannot touch, an
admin sets quotas. The live server runs in another thread, so the tests are
transactional; `serialized_rollback` brings back the rows the data migrations
made (pipeline stages, activity types, role groups) that the flush between
transactional tests removes.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from activities import services
from activities.models import Activity, ActivityType, Deal, DealStageChange, Stage
from metrics.models import Quota
from metrics.periods import Period
from tests.conftest import PASSWORD
from tests.e2e.conftest import goto_not_found, sign_in
from tests.factories import AccountFactory, ProductFactory

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

DEAL_URL = re.compile(r"/deals/(\d+)/$")


def _deal_pk(page) -> int:
    match = DEAL_URL.search(page.url)
    assert match, f"not on a deal page: {page.url}"
    return int(match.group(1))


def _sign_in_home(page, username):
    sign_in(page, username, PASSWORD)
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _expect_not_found(page, path):
    response = goto_not_found(page, path)
    assert response.status == 404, f"{path} answered {response.status}"
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


# --- 1. rep ---------------------------------------------------------------------


def test_a_rep_logs_an_activity_and_wins_a_deal_through_the_forms(page, cast):
    account = AccountFactory(name="Acme Logistics")
    product = ProductFactory(name="Fleet tracker")
    meeting = ActivityType.objects.get(name="Client meeting")

    _sign_in_home(page, "rep_a1")

    # The quick log form: picking a type fills in its usual duration (app.js).
    quick_log = page.locator("form", has=page.get_by_role("button", name="Log activity"))
    duration = quick_log.get_by_label("Duration (minutes)")
    expect(duration).to_have_value("15")  # Call, the first type, as the server pre-fills it
    quick_log.get_by_label("Type").select_option(label="Client meeting")
    expect(duration).to_have_value(str(meeting.default_duration))
    quick_log.get_by_label("Outcome").fill("Agreed on a pilot")
    quick_log.get_by_role("button", name="Log activity").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_role("status")).to_contain_text("Activity logged.")
    today = page.locator("section", has=page.get_by_role("heading", name="Today's activities"))
    expect(today.get_by_role("row", name=re.compile("Agreed on a pilot"))).to_contain_text("Client meeting")

    # Open a deal.
    page.get_by_role("link", name="Open a deal").click()
    page.wait_for_url(re.compile(r"/deals/new/$"))
    page.get_by_label("Name").fill("Acme fleet rollout")
    page.get_by_label("Account").select_option(label="Acme Logistics")
    page.get_by_label("Product").select_option(label="Fleet tracker")
    page.get_by_label("Amount").fill("12500")
    page.get_by_role("button", name="Open deal").click()
    page.wait_for_url(DEAL_URL)
    deal_pk = _deal_pk(page)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Acme fleet rollout")
    expect(heading).to_contain_text("Lead")

    # Advance it through two stages from the deal page.
    for stage_name in ("MQL", "SQL"):
        page.get_by_role("button", name=stage_name, exact=True).click()
        expect(page.get_by_role("status")).to_contain_text(f"moved to {stage_name}")
        expect(heading).to_contain_text(stage_name)

    # Win it: the confirmation page asks for the closing date and the final amount.
    page.get_by_role("link", name="Mark as Won…").click()
    page.wait_for_url(re.compile(rf"/deals/{deal_pk}/move/\?to=\d+$"))
    expect(page.get_by_label("Move to stage")).to_have_value(str(Stage.objects.get(name="Won").pk))
    closing = page.get_by_role("group", name="Closing the deal")
    expect(closing).to_be_visible()
    expect(closing.get_by_label("Closing date", exact=True)).to_have_value(timezone.localdate().isoformat())
    expect(closing.get_by_label("Final amount", exact=True)).to_have_value("12500.00")
    closing.get_by_label("Final amount", exact=True).fill("13000")
    closing.get_by_label("I confirm the closing date and the amount.").check()
    page.get_by_role("button", name="Move", exact=True).click()
    page.wait_for_url(DEAL_URL)

    expect(heading).to_contain_text("Won")
    expect(page.get_by_role("status")).to_contain_text("moved to Won")
    expect(page.locator("ol.timeline > li")).to_have_text(
        [
            re.compile(r"Opened in Lead\s+by Ana One"),
            re.compile(r"Lead → MQL\s+by Ana One"),
            re.compile(r"MQL → SQL\s+by Ana One"),
            re.compile(r"SQL → Won\s+by Ana One"),
        ]
    )
    expect(page.get_by_role("definition").filter(has_text="13,000.00")).to_have_count(1)

    deal = Deal.objects.get(pk=deal_pk)
    assert deal.owner == cast.rep_a1
    assert (deal.account, deal.product) == (account, product)
    assert deal.stage.name == "Won"
    assert deal.closed_on == timezone.localdate()
    assert deal.amount == Decimal("13000.00")
    changes = DealStageChange.objects.filter(deal=deal).order_by("changed_at", "pk")
    assert [(c.from_stage and c.from_stage.name, c.to_stage.name) for c in changes] == [
        (None, "Lead"),
        ("Lead", "MQL"),
        ("MQL", "SQL"),
        ("SQL", "Won"),
    ]
    assert {c.by for c in changes} == {cast.rep_a1.user}
    activity = Activity.objects.get(rep=cast.rep_a1)
    assert (activity.type, activity.duration_minutes, activity.outcome) == (meeting, 60, "Agreed on a pilot")


# --- 2. manager -----------------------------------------------------------------


def test_a_manager_sees_the_team_entries_but_cannot_change_them(page, cast):
    call = ActivityType.objects.get(name="Call")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    entries = {}
    for rep, tag in ((cast.rep_a1, "a1"), (cast.rep_a2, "a2"), (cast.rep_b1, "b1")):
        entries[tag] = (
            services.activity_log(rep=rep, type=call, occurred_at=an_hour_ago, outcome=f"Outcome of {tag}"),
            services.deal_open(owner=rep, name=f"Deal of {tag}", amount=Decimal("5000"), by=rep.user),
        )
    a1_activity, a1_deal = entries["a1"]

    _sign_in_home(page, "manager_a")

    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Activities").click()
    page.wait_for_url(re.compile(r"/activities/$"))
    activity_rows = page.get_by_role("table")
    expect(activity_rows).to_contain_text("Outcome of a1")
    expect(activity_rows).to_contain_text("Outcome of a2")
    expect(activity_rows).to_contain_text("Ana One")
    expect(activity_rows).to_contain_text("Ari Two")
    expect(activity_rows).not_to_contain_text("Outcome of b1")
    expect(activity_rows).not_to_contain_text("Bo Three")
    # Read only: no edit or delete links on the team's entries.
    expect(activity_rows.get_by_role("link", name="Edit")).to_have_count(0)

    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Deals").click()
    page.wait_for_url(re.compile(r"/deals/$"))
    deal_rows = page.get_by_role("table")
    expect(deal_rows.get_by_role("link", name="Deal of a1")).to_be_visible()
    expect(deal_rows.get_by_role("link", name="Deal of a2")).to_be_visible()
    expect(deal_rows).not_to_contain_text("Deal of b1")
    expect(page.get_by_role("link", name="Open a deal")).to_have_count(0)

    deal_rows.get_by_role("link", name="Deal of a1").click()
    page.wait_for_url(re.compile(rf"/deals/{a1_deal.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Deal of a1")
    expect(page.get_by_text("Opened in Lead")).to_be_visible()
    main = page.get_by_role("main")
    expect(main.get_by_role("link", name="Edit")).to_have_count(0)
    expect(main.get_by_role("link", name="Delete")).to_have_count(0)
    expect(main.get_by_role("link", name=re.compile(r"^Mark as"))).to_have_count(0)
    expect(main.get_by_role("button")).to_have_count(0)  # no stage buttons at all
    expect(main.get_by_role("link", name="Log an activity")).to_have_count(0)

    _expect_not_found(page, f"/deals/{a1_deal.pk}/edit/")
    _expect_not_found(page, f"/deals/{a1_deal.pk}/move/")
    _expect_not_found(page, f"/activities/{a1_activity.pk}/edit/")

    a1_deal.refresh_from_db()
    assert a1_deal.stage.name == "Lead"
    assert DealStageChange.objects.filter(deal=a1_deal).count() == 1


# --- 3. admin -------------------------------------------------------------------


def test_an_admin_sets_team_quotas_in_bulk_and_the_quota_history_names_her(page, cast):
    q3 = Period.parse("2026-Q3")

    _sign_in_home(page, "admin")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    page.get_by_role("link", name="Quotas", exact=True).first.click()
    page.wait_for_url(re.compile(r"/admin/metrics/quota/$"))

    # (a) One quota for every rep of Team A, from the bulk entry page.
    page.get_by_role("link", name="Set quotas for a team's reps").click()
    page.wait_for_url(re.compile(r"/admin/metrics/quota/bulk/$"))
    page.get_by_label(re.compile(r"^Team:?$")).select_option(label="Team A")
    page.get_by_label("Period").fill("2026-Q3")
    page.get_by_label("Quota per rep").fill("50000")
    page.get_by_role("button", name="Set quotas").click()
    page.wait_for_url(re.compile(r"/admin/metrics/quota/\?"))
    expect(page.locator("ul.messagelist")).to_contain_text("2 created")

    quotas = Quota.objects.filter(period_kind=q3.kind, period_start=q3.start)
    assert {(q.rep, q.amount) for q in quotas} == {
        (cast.rep_a1, Decimal("50000.00")),
        (cast.rep_a2, Decimal("50000.00")),
    }

    # (b) Edit one of them in the change form; its history names the admin.
    a1_quota = quotas.get(rep=cast.rep_a1)
    page.get_by_role("link", name="Ana One").click()
    page.wait_for_url(re.compile(rf"/admin/metrics/quota/{a1_quota.pk}/change/"))
    page.get_by_label("Amount").fill("55000")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/metrics/quota/(\?.*)?$"))
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")
    a1_quota.refresh_from_db()
    assert a1_quota.amount == Decimal("55000.00")

    page.goto(f"/admin/metrics/quota/{a1_quota.pk}/change/")
    page.get_by_role("link", name="History").click()
    page.wait_for_url(re.compile(rf"/admin/metrics/quota/{a1_quota.pk}/history/$"))
    history = page.locator("#change-history tbody tr")
    expect(history).to_have_count(2)
    changed = history.filter(has_text="Changed")
    expect(changed).to_contain_text("Ada Admin")
    expect(changed).to_contain_text("55000")
    expect(history.filter(has_text="Created")).to_contain_text("Ada Admin")
    assert [h.history_user for h in a1_quota.history.all()] == [cast.admin, cast.admin]


# --- 4. refusal -----------------------------------------------------------------


def test_a_rep_typing_another_reps_deal_url_gets_not_found(page, cast):
    theirs = services.deal_open(owner=cast.rep_b1, name="Beta secret deal", amount=Decimal("9000"))

    _sign_in_home(page, "rep_a1")
    _expect_not_found(page, f"/deals/{theirs.pk}/")
    expect(page.get_by_role("main")).not_to_contain_text("Beta secret deal")


def test_a_signed_out_visitor_opening_deals_lands_on_sign_in(page, cast):
    page.goto("/deals/")
    page.wait_for_url(re.compile(r"/accounts/login/\?next=/deals/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("link", name="Deals")).to_have_count(0)

    # Signing in from there goes on to the page asked for.
    page.get_by_label("Username").fill("rep_a1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/deals/$"))
    expect(page.get_by_role("heading", name="Deals", level=1)).to_be_visible()


# --- 5. phone -------------------------------------------------------------------


def test_the_log_form_fits_a_phone_screen_without_sideways_scrolling(page, cast):
    services.deal_open(
        owner=cast.rep_a1,
        name="A deal with a rather long name to stretch the select box",
        amount=Decimal("1000"),
        account=AccountFactory(name="An account whose name is also longer than usual"),
    )
    _sign_in_home(page, "rep_a1")
    page.set_viewport_size({"width": 390, "height": 844})
    quick_log = page.locator("form", has=page.get_by_role("button", name="Log activity"))
    expect(quick_log).to_be_visible()
    expect(quick_log.get_by_label("Type")).to_be_in_viewport()
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"the page is {scroll_width}px wide on a {inner_width}px screen"
    box = quick_log.get_by_role("button", name="Log activity").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= inner_width
