"""The pages under their Content-Security-Policy in headless chromium, with hostile names.

Every dashboard draws its Plotly charts, the leaderboards and TV mode, the admin and the API
docs page work, with no CSP violation (a `securitypolicyviolation` listener on every page)
and no console error (tests/e2e/conftest.py). Names typed by users that Plotly would read as
markup (a link, bold, a line break, TeX) are drawn as the text they are.
"""

from datetime import datetime, time
from decimal import Decimal

import pytest
from django.utils import timezone

from activities import services
from activities.models import ActivityType, Product, Stage
from metrics import jobs
from metrics.models import MetricRun
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

LINK = '<a href="https://example.com">x</a>'
BOLD_STAGE = "<b>Pitch</b><br>now"
TEX_TYPE = "$Demo$ & <i>co</i>"
TERRITORY = "North <sup>1</sup>"

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  var where = (event.blockedURI || "inline") + " " + event.sourceFile;
  window.__cspViolations.push(event.violatedDirective + " " + where);
});
"""


@pytest.fixture
def hostile(cast):
    """Rep A1 won a deal today of a product named like a link; a stage and a type named like markup."""
    today = timezone.localdate()
    product = Product.objects.create(name=LINK)
    Stage.objects.filter(name="Proposal").update(name=BOLD_STAGE)
    ActivityType.objects.filter(name="Call").update(name=TEX_TYPE)
    cast.territory_north.name = TERRITORY
    cast.territory_north.save()
    services.deal_open(
        owner=cast.rep_a1,
        name="Won deal",
        amount=Decimal("1200.00"),
        opened_on=today,
        stage=Stage.objects.get(name="Won"),
        closed_on=today,
        product=product,
    )
    services.deal_open(
        owner=cast.rep_a1,
        name="Open deal",
        amount=Decimal("800.00"),
        opened_on=today,
        stage=Stage.objects.get(name=BOLD_STAGE),
    )
    services.activity_log(
        rep=cast.rep_a1,
        type=ActivityType.objects.get(name=TEX_TYPE),
        occurred_at=timezone.make_aware(datetime.combine(today, time(0, 5))),
        duration_minutes=15,
    )
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)
    return cast


def _open(page, path):
    response = page.goto(path)
    assert response.ok, (path, response.status)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy, (path, policy)
    page.wait_for_load_state("load")
    return response


def _violations(page):
    return page.evaluate("window.__cspViolations || []")


def _chart_text(page, name):
    return page.locator(f'[data-chart="{name}"] svg.main-svg').first.text_content()


def test_the_dashboards_leaderboards_admin_and_api_docs_work_under_the_policy(page, hostile):
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, "manager_a", PASSWORD)
    visited = []
    for path in (
        f"/dashboard/team/{hostile.team_a.pk}/",
        f"/dashboard/rep/{hostile.rep_a1.pk}/",
    ):
        _open(page, path)
        expect(page.locator("html[data-charts-ready=true]")).to_be_attached()
        for name in ("pace", "funnel", "mix", "products"):
            expect(page.locator(f'[data-chart="{name}"] svg.main-svg').first).to_be_attached()
        # Plotly's own rules come from our stylesheet, not an inline <style> (they lay out the modebar).
        assert page.locator("style[id^='plotly.js-style']").count() == 0
        position = page.locator(".modebar").first.evaluate("e => getComputedStyle(e).position")
        assert position == "absolute"
        assert _violations(page) == [], path
        visited.append(path)
    for path in ("/leaderboards/", "/leaderboards/tv/"):
        _open(page, path)
        assert _violations(page) == [], path
        visited.append(path)

    page.context.clear_cookies()
    sign_in(page, "admin", PASSWORD)
    _open(page, "/admin/activities/deal/")
    expect(page.locator("#result_list")).to_be_visible()
    _open(page, "/admin/activities/deal/add/")
    expect(page.locator("#deal_form")).to_be_visible()
    _open(page, "/dashboard/company/0/")
    expect(page.locator('[data-chart="regions"] svg.main-svg').first).to_be_attached()
    _open(page, "/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("salestrack API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert _violations(page) == []
    print(f"\n{len(visited) + 5} pages under the policy: 0 CSP violations, 0 console errors")


def test_names_that_look_like_markup_are_drawn_as_text(page, hostile):
    sign_in(page, "rep_a1", PASSWORD)
    _open(page, f"/dashboard/rep/{hostile.rep_a1.pk}/")
    expect(page.locator("html[data-charts-ready=true]")).to_be_attached()

    products = page.locator('[data-chart="products"]')
    expect(products.locator("svg.main-svg").first).to_be_attached()
    assert LINK in _chart_text(page, "products")
    assert products.locator("svg a").count() == 0  # no live link in the chart

    # Plotly would draw <b> as a bold tspan and <br> as a second line: the tick is one plain text.
    tick = page.locator('[data-chart="funnel"] g.ytick text', has_text="Pitch")
    expect(tick).to_have_text(BOLD_STAGE)
    assert tick.locator("tspan").count() == 0

    tick = page.locator('[data-chart="mix"] g.ytick text', has_text="Demo")
    expect(tick).to_have_text(TEX_TYPE)  # not TeX, no italic
    assert tick.locator("tspan").count() == 0

    # The hover label shows the name as typed too.
    products.locator("g.point path").first.hover(force=True)  # Plotly listens on the drag layer above
    hover = page.locator(".hoverlayer .hovertext").first
    expect(hover).to_contain_text(LINK)
    assert page.locator(".hoverlayer a").count() == 0
    print(f"\n{LINK!r}, {BOLD_STAGE!r} and {TEX_TYPE!r} drawn as text: 0 links, 0 bold, 0 line breaks")
