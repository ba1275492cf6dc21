"""The dashboards: the figures on the page, who may see which, the drill-downs and the query budget.

Figures are compared with the independent oracle (tests/oracle.py) or with pandas over the raw
rows, never with numbers read back from the engine's tables. The page is read as a browser
gets it: the tiles' and tables' `data-value` attributes of the HTML.
"""

from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities.models import Rep, Stage, Team
from metrics import jobs
from metrics.models import ChangedDay, MetricRun
from metrics.periods import Period, PeriodKind
from metrics.spans import Span
from tests import oracle
from tests.conftest import PASSWORD
from tests.factories import ActivityFactory
from tests.metrics.datagen import make_dataset

TZ = "Europe/Berlin"
# The team dashboard's query budget, whatever the number of reps (session, user, scope,
# figures, charts, tables, alerts, freshness).
MAX_QUERIES = 32


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = TZ


def backfill():
    return jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=jobs.all_days(), clear_marks=True)


def url(scope: str, scope_id: int, **query) -> str:
    path = (
        reverse("dashboard_company")
        if scope == "company"
        else reverse("dashboard_scope", kwargs={"scope": scope, "scope_id": scope_id})
    )
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


class Page(HTMLParser):
    """What a dashboard shows: tiles (key → data-value, the reason shown for a "—"), member
    rows, funnel links."""

    def __init__(self, html: str):
        super().__init__()
        self.tiles: dict[str, str] = {}
        self.tile_titles: dict[str, str] = {}
        self.members: dict[int, list[str]] = {}
        self.funnel_links: dict[int, str] = {}
        self._tile = self._member = self._stage = self._why = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-tile" in attrs:
            self._tile = attrs["data-tile"]
        elif self._tile and "tile-value" in (attrs.get("class") or ""):
            self.tiles[self._tile] = attrs.get("data-value", "")
            self.tile_titles.setdefault(self._tile, "")
        elif self._tile and "tile-why" in (attrs.get("class") or ""):
            self._why = self._tile
        if tag == "tr" and "data-member" in attrs:
            self._member = int(attrs["data-member"])
            self.members[self._member] = []
        elif tag == "td" and self._member is not None:
            self.members[self._member].append(attrs.get("data-value", ""))
        if tag == "tr" and "data-stage" in attrs:
            self._stage = int(attrs["data-stage"])
        elif tag == "a" and self._stage is not None:
            self.funnel_links[self._stage] = attrs["href"]

    def handle_data(self, data):
        if self._why:
            self.tile_titles[self._why] += data

    def handle_endtag(self, tag):
        if tag == "p":
            self._why = None
        if tag == "article":
            self._tile = None
        if tag == "tr":
            self._member = self._stage = None


def get_page(client, path: str) -> Page:
    response = client.get(path)
    assert response.status_code == 200, response.content[:500]
    return Page(response.content.decode())


def money(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def fraction(text: str) -> float | None:
    return float(text) if text else None


def expected_money(value) -> Decimal | None:
    return None if value is None else oracle.money(Decimal(value))


def _window():
    today = timezone.localdate()
    end = Period.containing(today, PeriodKind.QUARTER).start - timedelta(days=1)
    return Period.containing(end, PeriodKind.QUARTER).start, end


@pytest.fixture
def dataset(db, django_user_model):
    start, end = _window()
    data = make_dataset(seed=43, reps=10, teams=3, start=start, end=end, deals=220, activities=900, tz=TZ)
    backfill()
    data["admin"] = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    data["raw"] = oracle.load_raw()
    data["month"] = Period.containing(end, PeriodKind.MONTH)
    data["quarter"] = Period.containing(start, PeriodKind.QUARTER)
    return data


def assert_tiles_match(page: Page, want: dict, *, with_quota_share: bool) -> None:
    assert money(page.tiles["revenue"]) == expected_money(want["revenue"])
    assert money(page.tiles["avg_deal_size"]) == expected_money(want["avg_deal_size"])
    assert money(page.tiles["weighted_pipeline"]) == expected_money(want["weighted_pipeline"])
    for key in ("attainment", "win_rate", "selling_time_share"):
        if want[key] is None:
            assert page.tiles[key] == "", key
            assert page.tile_titles[key], f"an undefined {key} says why"
        else:
            assert fraction(page.tiles[key]) == pytest.approx(float(want[key])), key
    if with_quota_share:
        share = want["reps_at_quota_share"]
        assert fraction(page.tiles["reps_at_quota_share"]) == (
            None if share is None else pytest.approx(share)
        )
    else:
        assert "reps_at_quota_share" not in page.tiles


def test_team_dashboard_figures_match_the_oracle(dataset, client):
    period = dataset["month"]
    expected = oracle.compute(dataset["raw"], period, tz=TZ)
    team = Team.objects.get(pk=dataset["teams"][0])
    client.force_login(team.manager)
    page = get_page(client, url("team", team.pk, period=str(period)))

    want = expected.metric("team", team.pk)
    assert_tiles_match(page, want, with_quota_share=True)
    # The period is over: pace = attainment ÷ 1.
    if want["attainment"] is not None:
        assert fraction(page.tiles["pace"]) == pytest.approx(float(want["attainment"]))

    # The rep table: exactly the team's reps, each with the oracle's figures.
    team_reps = set(dataset["raw"].reps[dataset["raw"].reps.team_id == team.pk].id)
    assert set(page.members) == team_reps
    for rep_id, cells in page.members.items():
        rep = expected.metric("rep", rep_id)
        revenue, quota, attainment = money(cells[1]), money(cells[2]), fraction(cells[3])
        assert revenue == expected_money(rep["revenue"])
        assert quota == expected_money(rep["quota"])
        assert attainment == (None if rep["attainment"] is None else pytest.approx(float(rep["attainment"])))
        assert int(cells[5]) == rep["deals_won"]


def test_company_dashboard_figures_match_the_oracle(dataset, client):
    period = dataset["quarter"]
    expected = oracle.compute(dataset["raw"], period, tz=TZ)
    client.force_login(dataset["admin"])
    page = get_page(client, url("company", 0, period=str(period)))
    assert_tiles_match(page, expected.metric("company", 0), with_quota_share=True)
    assert set(page.members) == set(dataset["teams"])  # the company lists its teams
    for team_id, cells in page.members.items():
        assert money(cells[1]) == expected_money(expected.metric("team", team_id)["revenue"])


def test_rep_dashboard_figures_match_the_oracle(dataset, client):
    period = dataset["month"]
    expected = oracle.compute(dataset["raw"], period, tz=TZ)
    rep = Rep.objects.select_related("user").get(pk=dataset["reps"][1])
    client.force_login(rep.user)
    page = get_page(client, url("rep", rep.pk, period=str(period)))
    assert_tiles_match(page, expected.metric("rep", rep.pk), with_quota_share=False)
    assert page.members == {}


def raw_week_figures(raw: oracle.Raw, rep_ids: set[int], span: Span) -> dict:
    """Revenue, win rate, average deal size and time selling of these reps over the span, by pandas."""
    kinds = dict(zip(raw.stages.id, raw.stages.kind, strict=True))
    deals = raw.deals[raw.deals.owner_id.isin(rep_ids)].copy()
    deals["kind"] = deals.stage_id.map(kinds)
    closed = deals[deals.closed_on.map(lambda day: day is not None and span.first <= day <= span.last)]
    won, lost = closed[closed.kind == "won"], closed[closed.kind == "lost"]
    revenue = sum(won.amount, Decimal("0"))
    activities = raw.activities[raw.activities.rep_id.isin(rep_ids)].copy()
    activities["day"] = activities.occurred_at.map(lambda moment: timezone.localtime(moment).date())
    activities = activities[(activities.day >= span.first) & (activities.day <= span.last)]
    selling_ids = set(raw.activity_types[raw.activity_types.is_selling.astype(bool)].id)
    minutes = int(activities.duration_minutes.sum()) if len(activities) else 0
    selling = int(activities[activities.type_id.isin(selling_ids)].duration_minutes.sum()) if minutes else 0
    return {
        "revenue": revenue,
        "won": len(won),
        "win_rate": len(won) / (len(won) + len(lost)) if len(won) + len(lost) else None,
        "avg_deal_size": oracle.money(revenue / len(won)) if len(won) else None,
        "selling_time_share": selling / minutes if minutes else None,
    }


def test_a_week_and_a_custom_range_add_up_the_daily_rows(dataset, client):
    raw = dataset["raw"]
    client.force_login(dataset["admin"])
    # The busiest week of the data set, then a range across a month's end.
    month = dataset["month"]
    spans = [
        Span.week_of(month.start + timedelta(days=10)),
        Span.parse(f"{month.start - timedelta(days=9)}..{month.start + timedelta(days=12)}"),
    ]
    assert [span.kind for span in spans] == ["week", "range"]
    for span in spans:
        for team_id in dataset["teams"]:
            rep_ids = set(raw.reps[raw.reps.team_id == team_id].id)
            want = raw_week_figures(raw, rep_ids, span)
            page = get_page(client, url("team", team_id, period=span.key))
            assert money(page.tiles["revenue"]) == oracle.money(want["revenue"])
            assert money(page.tiles["avg_deal_size"]) == want["avg_deal_size"]
            for key in ("win_rate", "selling_time_share"):
                assert fraction(page.tiles[key]) == (None if want[key] is None else pytest.approx(want[key]))
            # Quotas are per calendar period: undefined here, and the tile says why.
            assert page.tiles["attainment"] == "" and "calendar" in page.tile_titles["attainment"]
            assert set(page.members) == rep_ids
            for rep_id, cells in page.members.items():
                assert money(cells[1]) == oracle.money(raw_week_figures(raw, {rep_id}, span)["revenue"])


def reach_of_deals(raw: oracle.Raw, rep_ids: set[int], first, last) -> dict[int, tuple[set, bool]]:
    """For each deal of these reps opened in [first, last]: the stages it reached, and whether it is won."""
    stages = raw.stages.sort_values("order", kind="stable")
    kind_of = dict(zip(stages.id, stages.kind, strict=True))
    order_of = dict(zip(stages.id, stages.order, strict=True))
    open_ids = list(stages[stages.kind == "open"].id)
    history: dict[int, list[int]] = {}
    for change in raw.stage_changes.itertuples(index=False):
        history.setdefault(change.deal_id, []).append(change.to_stage_id)
    opened = raw.deals[
        raw.deals.owner_id.isin(rep_ids) & raw.deals.opened_on.map(lambda day: first <= day <= last)
    ]
    return {
        deal.id: (
            oracle._reach(deal, kind_of, order_of, history.get(deal.id, []), open_ids),
            kind_of[deal.stage_id] == "won",
        )
        for deal in opened.itertuples(index=False)
    }


def test_a_range_funnel_follows_the_reach_rule(dataset, client):
    raw = dataset["raw"]
    team_id = dataset["teams"][1]
    rep_ids = set(raw.reps[raw.reps.team_id == team_id].id)
    span = Span.parse(
        f"{dataset['quarter'].start + timedelta(days=3)}..{dataset['quarter'].start + timedelta(days=50)}"
    )
    reach = reach_of_deals(raw, rep_ids, span.first, span.last)
    client.force_login(dataset["admin"])
    response = client.get(url("team", team_id, period=span.key))
    steps = response.context["funnel"]
    for step in steps:
        assert step.reached == sum(1 for stages, _won in reach.values() if step.stage_id in stages), (
            step.stage
        )
    assert len(steps) == Stage.objects.exclude(kind="lost").count()


def test_a_funnel_stage_leads_to_the_deals_that_leaked_there(dataset, client):
    raw = dataset["raw"]
    period = dataset["quarter"]
    team = Team.objects.get(pk=dataset["teams"][0])
    rep_ids = set(raw.reps[raw.reps.team_id == team.pk].id)
    reach = reach_of_deals(raw, rep_ids, period.start, period.last_day)
    order_of = dict(zip(raw.stages.id, raw.stages.order, strict=True))
    client.force_login(team.manager)
    page = get_page(client, url("team", team.pk, period=str(period)))
    open_stages = list(Stage.objects.filter(kind="open").order_by("order"))
    assert set(page.funnel_links) == {stage.pk for stage in open_stages}
    checked = 0
    for stage in open_stages:
        link = page.funnel_links[stage.pk]
        assert parse_qs(urlparse(link).query)["leaked_at"] == [str(stage.pk)]
        response = client.get(link)
        assert response.status_code == 200
        listed = {deal.pk for deal in response.context["page"].paginator.object_list}
        leaked = {
            deal_id
            for deal_id, (stages, won) in reach.items()
            if not won and stages and max(order_of[s] for s in stages) == stage.order
        }
        assert listed == leaked, stage.name
        checked += len(listed)
    assert checked > 0


# --- access ------------------------------------------------------------------------------


def test_everyone_lands_on_their_own_dashboard(cast, client):
    for user, target in (
        (cast.admin, reverse("dashboard_company")),
        (cast.manager_a, url("team", cast.team_a.pk)),
        (cast.rep_a1.user, url("rep", cast.rep_a1.pk)),
    ):
        client.force_login(user)
        response = client.get(reverse("dashboard") + "?period=2026-Q1")
        assert response.status_code == 302
        assert response["Location"] == target + ("&" if "?" in target else "?") + "period=2026-Q1"


def test_nobody_opens_a_dashboard_that_is_not_theirs(cast, client):
    refused = {
        cast.rep_a1.user: [("rep", cast.rep_a2.pk), ("rep", cast.rep_b1.pk), ("team", cast.team_b.pk)],
        cast.manager_a: [("rep", cast.rep_b1.pk), ("team", cast.team_b.pk)],
    }
    allowed = {
        cast.rep_a1.user: [("rep", cast.rep_a1.pk), ("team", cast.team_a.pk)],
        cast.manager_a: [("rep", cast.rep_a1.pk), ("rep", cast.rep_a2.pk), ("team", cast.team_a.pk)],
        cast.admin: [("rep", cast.rep_b1.pk), ("team", cast.team_b.pk), ("company", 0)],
    }
    for user, targets in refused.items():
        client.force_login(user)
        for scope, scope_id in targets:
            assert client.get(url(scope, scope_id)).status_code == 404, (user, scope, scope_id)
    for user, targets in allowed.items():
        client.force_login(user)
        for scope, scope_id in targets:
            assert client.get(url(scope, scope_id)).status_code == 200, (user, scope, scope_id)
    client.force_login(cast.admin)
    assert client.get(url("rep", 999_999)).status_code == 404
    assert client.get("/dashboard/galaxy/1/").status_code == 404


def test_a_team_dashboard_lists_only_the_reps_the_viewer_may_see(cast, client):
    # Both reps of team A have figures for the month; rep a1 sees only their own row.
    yesterday = timezone.localdate() - timedelta(days=1)
    for rep in (cast.rep_a1, cast.rep_a2):
        ActivityFactory(rep=rep, occurred_at=timezone.now() - timedelta(days=1))
    backfill()
    month = str(Period.containing(yesterday, PeriodKind.MONTH))
    client.force_login(cast.manager_a)
    managed = client.get(url("team", cast.team_a.pk, period=month)).context["members"]
    assert sorted(row["scope_id"] for row in managed) == sorted([cast.rep_a1.pk, cast.rep_a2.pk])
    client.force_login(cast.rep_a1.user)
    response = client.get(url("team", cast.team_a.pk, period=month))
    assert [row["scope_id"] for row in response.context["members"]] == [cast.rep_a1.pk]
    assert response.context.get("alerts") is None  # alerts are for managers


def test_signed_out_visitors_are_sent_to_sign_in(client, cast):
    for path in (reverse("dashboard"), url("team", cast.team_a.pk), reverse("dashboard_company")):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.post(reverse("metrics_refresh")).status_code == 302


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("period=2026-13", "is not a period"),
        ("from=2026-11-20&to=2026-11-02", "ends"),
        ("from=2026-11-02", "both"),
        ("from=2026-02-30&to=2026-03-02", "is not a date"),
    ],
)
def test_a_bad_period_is_a_clear_400(cast, client, query, reason):
    client.force_login(cast.manager_a)
    response = client.get(url("team", cast.team_a.pk) + "?" + query)
    assert response.status_code == 400
    text = response.content.decode()
    assert reason in text and "Period" in text


def test_an_undefined_figure_shows_a_dash_with_the_reason(cast, client):
    client.force_login(cast.rep_a1.user)
    response = client.get(url("rep", cast.rep_a1.pk, period="2026-10"))
    page = Page(response.content.decode())
    assert page.tiles["attainment"] == "" and "quota" in page.tile_titles["attainment"]
    assert page.tiles["win_rate"] == "" and "closed" in page.tile_titles["win_rate"]
    assert "—" in response.content.decode()


# --- freshness and refresh ---------------------------------------------------------------------


def test_the_page_says_when_figures_were_computed_and_a_manager_can_refresh(cast, client):
    client.force_login(cast.manager_a)
    response = client.get(url("team", cast.team_a.pk))
    assert response.context["freshness"].computed_at is None
    assert "not computed yet" in response.content.decode()

    # A change marks its day; the refresh runs the incremental job (eager in tests) and clears it.
    yesterday = timezone.localdate() - timedelta(days=1)
    jobs.metrics_mark_changed(days=[yesterday])
    ActivityFactory(rep=cast.rep_a1)
    assert ChangedDay.objects.exists()
    response = client.post(reverse("metrics_refresh"), {"next": url("team", cast.team_a.pk)}, follow=True)
    assert response.status_code == 200
    assert "Refresh queued" in response.content.decode()
    assert not ChangedDay.objects.exists()
    run = MetricRun.objects.get()
    assert run.kind == MetricRun.Kind.INCREMENTAL and run.status == MetricRun.Status.SUCCEEDED
    assert response.context["freshness"].computed_at == run.finished_at


def test_only_managers_and_admins_refresh(cast, client):
    client.force_login(cast.rep_a1.user)
    assert client.post(reverse("metrics_refresh")).status_code == 403
    client.force_login(cast.manager_a)
    assert client.get(reverse("metrics_refresh")).status_code == 405
    response = client.post(reverse("metrics_refresh"), {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")


# --- the query budget ----------------------------------------------------------------------------


def _queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("period", ["month", "week"])
def test_the_number_of_queries_does_not_grow_with_the_reps(
    db, django_user_model, client, period, django_assert_max_num_queries
):
    start, end = _window()
    small = make_dataset(seed=5, reps=4, teams=2, start=start, end=end, deals=40, activities=120, tz=TZ)
    large = make_dataset(seed=6, reps=24, teams=2, start=start, end=end, deals=200, activities=600, tz=TZ)
    backfill()
    admin = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(admin)
    key = (
        str(Period.containing(end, PeriodKind.MONTH))
        if period == "month"
        else Span.week_of(end - timedelta(days=8)).key
    )
    counts = {}
    for name, data in (("small", small), ("large", large)):
        team_id, rep_id = data["teams"][0], data["reps"][0]
        counts[name] = [
            _queries(client, url("team", team_id, period=key)),
            _queries(client, url("rep", rep_id, period=key)),
            _queries(client, url("company", 0, period=key)),
        ]
    assert counts["small"] == counts["large"]
    with django_assert_max_num_queries(MAX_QUERIES):
        client.get(url("team", large["teams"][0], period=key))
