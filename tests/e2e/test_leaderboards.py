"""The leaderboards clicked through in headless chromium: the board, its exports and the TV mode.

A manager picks a metric and a period and downloads the board; the TV mode reloads by itself;
a rep sees everyone's ranking but may open only their own dashboard. Console errors fail a test
(tests/e2e/conftest.py); screenshots go to test-artifacts/e2e/.
"""

import csv
import io
import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from activities import services
from activities.models import ActivityType, Stage
from metrics import jobs
from metrics.models import MetricRun
from metrics.periods import Period, PeriodKind
from tests.conftest import PASSWORD
from tests.e2e.conftest import ARTIFACTS, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _close(rep, amount: str, day, stage: str = "Won"):
    services.deal_open(
        owner=rep,
        name=f"{stage} deal",
        amount=Decimal(amount),
        opened_on=day,
        stage=Stage.objects.get(name=stage),
        closed_on=day,
    )


@pytest.fixture
def sales(cast):
    """Last month: Bo sold most, Ana and Ari tie; Ari logged the most calls. The month before: Ari led."""
    month = Period.containing(timezone.localdate(), PeriodKind.MONTH).previous()
    day = month.start + timedelta(days=3)
    _close(cast.rep_b1, "3000.00", day)
    _close(cast.rep_a1, "1500.00", day)
    _close(cast.rep_a2, "1000.00", day)
    _close(cast.rep_a2, "500.00", day)
    _close(cast.rep_a2, "900.00", month.previous().start + timedelta(days=2))
    call = ActivityType.objects.get(name="Call")
    for _ in range(3):
        services.activity_log(
            rep=cast.rep_a2,
            type=call,
            occurred_at=timezone.make_aware(datetime.combine(day, time(10, 0))),
            duration_minutes=15,
        )
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)
    return month


def _ranked_names(page) -> list[str]:
    return page.locator("table.ranking tbody tr td.rep .rep-name").all_inner_texts()


def test_a_manager_picks_a_board_and_downloads_it(page, cast, sales):
    sign_in(page, "manager_a", PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Leaderboards").click()
    page.wait_for_url(re.compile(r"/leaderboards/$"))
    expect(page.get_by_role("heading", name="Leaderboards", level=1)).to_be_visible()

    controls = page.get_by_role("form", name="Choose a leaderboard")
    # Team and custom-range fields show only when they apply.
    expect(controls.get_by_label("Team")).to_be_hidden()
    expect(controls.get_by_label("From", exact=True)).to_be_hidden()
    controls.get_by_label("Rank by").select_option(label="Deals won")
    controls.get_by_label("Period").select_option(label="Last month")
    controls.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"metric=deals_won.*period=last-month"))
    expect(page.get_by_role("heading", level=2, name=re.compile("Deals won"))).to_be_visible()
    table = page.get_by_role("table", name=re.compile("Reps ranked by Deals won"))
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first).to_contain_text("Ari Two")  # two deals
    expect(table.locator("tbody tr").first.locator("td.rank")).to_have_text(re.compile(r"1"))

    # Revenue: Bo first, Ana and Ari share the second place; Ari fell from first.
    controls.get_by_label("Rank by").select_option(label="Revenue")
    controls.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"metric=revenue"))
    assert _ranked_names(page) == ["Bo Three", "Ana One", "Ari Two"] or _ranked_names(page) == [
        "Bo Three",
        "Ari Two",
        "Ana One",
    ]
    expect(page.locator("table.ranking tbody td.rank")).to_have_text(["1", "2", "2"])
    expect(page.locator("table.ranking tbody tr", has_text="Bo Three")).to_contain_text("3,000.00")
    expect(page.locator("table.ranking tbody tr", has_text="Ari Two")).to_contain_text("Down 1 place")
    # The manager may open the dashboards of team A's reps only.
    expect(page.locator("table.ranking").get_by_role("link", name="Ana One")).to_be_visible()
    expect(page.locator("table.ranking").get_by_role("link", name="Bo Three")).to_have_count(0)

    # Sorting by a column title reorders the rows.
    page.locator("table.ranking").get_by_role("button", name="Rep").click()
    assert _ranked_names(page) == ["Ana One", "Ari Two", "Bo Three"]

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Export CSV").click()
    download = csv_download.value
    assert download.suggested_filename == f"leaderboard-revenue-{sales}.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    table_rows = rows[rows.index(["Rank", "Rep", "Team", "Revenue", "Movement", "Badges"]) + 1 :]
    assert [(row[0], row[1], row[3]) for row in table_rows][:1] == [("1", "Bo Three", "3000.00")]
    assert sorted(row[1] for row in table_rows) == ["Ana One", "Ari Two", "Bo Three"]

    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Export XLSX").click()
    download = xlsx_download.value
    assert download.suggested_filename == f"leaderboard-revenue-{sales}.xlsx"
    sheet = load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active
    values = [row for row in sheet.iter_rows(values_only=True) if isinstance(row[0], int)]
    assert values[0][:2] == (1, "Bo Three") and values[0][3] == 3000

    # A custom range: choosing it shows the two dates.
    controls.get_by_label("Period").select_option(value="custom")
    expect(controls.get_by_label("From", exact=True)).to_be_visible()
    controls.get_by_label("From", exact=True).fill(sales.start.isoformat())
    controls.get_by_label("To", exact=True).fill((sales.start + timedelta(days=9)).isoformat())
    controls.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"period=custom"))
    expect(page.locator("table.ranking tbody tr").first).to_contain_text("Bo Three")


def test_the_tv_mode_reloads_by_itself(page, cast, sales):
    sign_in(page, "manager_a", PASSWORD)
    page.goto(f"/leaderboards/tv/?metric=revenue&period={sales}&refresh=10")
    expect(page.get_by_role("heading", level=1, name="Revenue")).to_be_visible()
    expect(page.get_by_role("navigation")).to_have_count(0)  # no chrome on the TV
    stamp = page.locator("time[data-updated-at]")
    first = stamp.get_attribute("datetime")
    expect(page.locator("table.tv-table tbody tr").first).to_contain_text("Bo Three")

    # Something changes meanwhile; the next refresh shows it without anyone touching the TV.
    _close(cast.rep_a1, "5000.00", sales.start + timedelta(days=5))
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)
    expect(stamp).not_to_have_attribute("datetime", first, timeout=30_000)
    expect(page.locator("table.tv-table tbody tr").first).to_contain_text("Ana One")
    assert page.locator("body").get_attribute("data-refreshed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "leaderboard_tv_after_refresh.png"), full_page=True)


def test_a_rep_sees_the_leaderboard_and_only_their_own_dashboard_link(page, cast, sales):
    sign_in(page, "rep_a1", PASSWORD)
    page.goto(f"/leaderboards/?metric=revenue&period={sales}")
    expect(page.locator("table.ranking tbody tr")).to_have_count(3)
    ranking = page.locator("table.ranking")
    expect(ranking.get_by_role("link", name="Ana One")).to_have_attribute(
        "href", f"/dashboard/rep/{cast.rep_a1.pk}/"
    )
    expect(ranking.get_by_role("link", name="Ari Two")).to_have_count(0)
    expect(ranking.get_by_role("link", name="Bo Three")).to_have_count(0)
    expect(page.get_by_role("heading", name="Best performers")).to_be_visible()
    expect(page.locator(".badge-top_activity").first).to_be_visible()
