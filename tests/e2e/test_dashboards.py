"""The dashboards in headless chromium: a manager's morning, a rep's own page, phones.

The data set is the metrics tests' generator (a past quarter of deals and activities),
rolled up by the engine; the pages are clicked through as a user would.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from activities.models import Rep, Team
from metrics import jobs
from metrics.models import MetricRun
from metrics.periods import Period, PeriodKind
from tests.conftest import PASSWORD
from tests.e2e.conftest import ARTIFACTS, goto_not_found, sign_in
from tests.metrics.datagen import make_dataset

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def quarter_of_data():
    today = timezone.localdate()
    end = Period.containing(today, PeriodKind.QUARTER).start - timedelta(days=1)
    start = Period.containing(end, PeriodKind.QUARTER).start
    data = make_dataset(seed=11, reps=9, teams=2, start=start, end=end, deals=160, activities=700, tz="UTC")
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)
    users = get_user_model().objects
    for user in users.filter(pk__in=data["managers"]) | users.filter(rep__pk__in=data["reps"]):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    data["quarter"] = Period.containing(start, PeriodKind.QUARTER)
    return data


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def expect_chart(page, name):
    """plotly.js drew the chart: its SVG is in the chart's box."""
    expect(page.locator(f'[data-chart="{name}"] svg.main-svg').first).to_be_attached()


def test_a_manager_reads_the_team_dashboard_and_drills_down(page, quarter_of_data):
    team = Team.objects.select_related("manager").get(pk=quarter_of_data["teams"][0])
    quarter = quarter_of_data["quarter"]
    sign_in(page, team.manager.username, PASSWORD)
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(re.compile(rf"/dashboard/team/{team.pk}/"))
    expect(page.get_by_test_id("dashboard-title")).to_have_text(team.name)
    expect(page.locator("html[data-charts-ready=true]")).to_be_attached()

    # Last quarter holds the data: every chart draws, the tiles have figures.
    page.get_by_role("link", name="Last quarter").click()
    page.wait_for_url(re.compile(rf"period={quarter}"))
    expect(page.get_by_test_id("span-label")).to_have_text(
        f"Q{(quarter.start.month - 1) // 3 + 1} {quarter.start.year}"
    )
    for name in ("pace", "trend-month", "trend-quarter", "funnel", "mix", "products", "regions"):
        expect_chart(page, name)
    revenue = page.locator('[data-tile="revenue"] .tile-value')
    assert revenue.get_attribute("data-value") not in ("", "0", "0.00")
    expect(page.locator(".modebar-btn[data-title='Download plot as a PNG']").first).to_be_attached()
    # Offline: no toolbar button sends a chart to Plotly's cloud or Chart Studio.
    titles = page.locator(".modebar-btn").evaluate_all("els => els.map(e => e.dataset.title || '')")
    assert "Download plot as a PNG" in titles
    assert not [t for t in titles if "Share" in t or "Chart Studio" in t or "cloud" in t.lower()], titles
    shot(page, "team-quarter")

    # The rep table is sortable; its first rep leads to the rep's dashboard for the same period.
    table = page.get_by_test_id("member-table")
    table.get_by_role("columnheader", name="Revenue").click()
    values = table.locator("tbody tr td:nth-child(2)").evaluate_all("els => els.map(e => e.dataset.value)")
    assert [float(v) for v in values] == sorted(float(v) for v in values)
    first_rep = table.locator("tbody tr").first
    rep_name = first_rep.locator("td a").inner_text()
    first_rep.locator("td a").click()
    page.wait_for_url(re.compile(rf"/dashboard/rep/\d+/\?period={quarter}"))
    expect(page.get_by_test_id("dashboard-title")).to_have_text(rep_name)
    expect_chart(page, "pace")

    # The scope picker goes back up to the team, keeping the period.
    page.locator("#scope-select").select_option(label=team.name)
    page.wait_for_url(re.compile(rf"/dashboard/team/{team.pk}/\?period={quarter}"))

    # A month in the quarter, then a custom range (figures added up from the daily tables).
    page.goto(f"/dashboard/team/{team.pk}/?period={quarter}")
    page.fill("input[name=from]", quarter.start.isoformat())
    page.fill("input[name=to]", (quarter.start + timedelta(days=20)).isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"from="))
    expect(page.locator('[data-tile="attainment"] .tile-value')).to_have_text("—")
    expect_chart(page, "pace")

    # A funnel stage leads to the deals that leaked there.
    page.goto(f"/dashboard/team/{team.pk}/?period={quarter}")
    page.get_by_test_id("funnel-table").get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"/deals/\?.*leaked_at="))
    expect(page.get_by_role("heading", name="Deals")).to_be_visible()
    expect(page.get_by_test_id("leaked-filter")).to_be_visible()

    # From the dashboard to the leaderboard of the same quarter, and its export.
    page.get_by_role("link", name="Leaderboards").click()
    page.wait_for_url(re.compile(r"/leaderboards/"))
    page.goto(f"/leaderboards/?metric=revenue&period={quarter}&scope=company")
    expect(page.locator("table.ranking tbody tr").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert str(quarter) in exported and "Rank" in exported
    shot(page, "leaderboard-quarter")

    # Another team's dashboard does not exist for this manager.
    other = quarter_of_data["teams"][1]
    response = goto_not_found(page, f"/dashboard/team/{other}/")
    assert response.status == 404


def test_a_manager_asks_for_a_refresh(page, quarter_of_data):
    team = Team.objects.select_related("manager").get(pk=quarter_of_data["teams"][0])
    sign_in(page, team.manager.username, PASSWORD)
    page.goto(f"/dashboard/team/{team.pk}/")
    expect(page.get_by_test_id("freshness")).to_contain_text("Figures computed")
    page.get_by_test_id("refresh").click()
    expect(page.get_by_role("status").filter(has_text="Refresh queued")).to_be_visible()


def test_a_rep_sees_their_own_dashboard_on_a_phone_and_no_one_elses(page, quarter_of_data):
    rep = Rep.objects.select_related("user").get(pk=quarter_of_data["reps"][0])
    other = Rep.objects.exclude(pk=rep.pk).first()
    quarter = quarter_of_data["quarter"]
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, rep.user.username, PASSWORD)
    page.goto(f"/dashboard/?period={quarter}")
    page.wait_for_url(re.compile(rf"/dashboard/rep/{rep.pk}/\?period={quarter}"))
    expect(page.get_by_role("heading", name="Today's activity log")).to_be_visible()
    expect(page.get_by_role("heading", name="Open deals")).to_be_visible()
    expect_chart(page, "pace")
    width = page.locator('[data-chart="pace"] svg.main-svg').first.evaluate(
        "svg => svg.getBoundingClientRect().width"
    )
    assert width <= 390, "the chart fits a phone's width"
    shot(page, "rep-phone")
    response = goto_not_found(page, f"/dashboard/rep/{other.pk}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
