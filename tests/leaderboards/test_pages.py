"""The leaderboard page (/leaderboards/) and its TV mode (/leaderboards/tv/).

Figures on the page are compared with a ranking computed here from the summary tables' rows
(PeriodMetric, PeriodActivityMix), never with numbers copied from the code under test.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activities.models import ActivityType, Rep
from activities.templatetags.salestrack import money
from leaderboards.selectors import METRICS, activity_metric_name
from metrics.models import PeriodActivityMix, PeriodMetric, Scope
from metrics.periods import Period, PeriodKind
from metrics.spans import Span
from tests.conftest import PASSWORD
from tests.factories import ActivityFactory, RepFactory
from tests.leaderboards.test_leaderboard_api import TZ, backfill, berlin, close, noon  # noqa: F401
from tests.leaderboards.test_leaderboard_api import board as api_board  # noqa: F401 (a fixture)
from tests.metrics.datagen import make_dataset

URL = "/leaderboards/"
TV_URL = "/leaderboards/tv/"

ROW = re.compile(
    r'<tr data-rep-id="(?P<rep>\d+)".*?<td class="num rank" data-sort-value="(?P<rank>\d+)">.*?'
    r'<td class="num value" data-sort-value="(?P<value>[^"]*)">(?P<shown>.*?)</td>.*?'
    r'<td class="num movement" data-sort-value="(?P<movement>-?\d*)">',
    re.S,
)


@pytest.fixture
def board(api_board):  # noqa: F811 (the imported fixture, by name)
    """The hand-made board of the API tests: two months of sales for the cast plus Cy Four."""
    return api_board


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def get(user, status: int = 200, url: str = URL, **params):
    response = client_for(user).get(url, params)
    assert response.status_code == status, response.content.decode()[:2000]
    return response


def page_rows(response) -> list[dict]:
    """The ranked table's rows as the page shows them."""
    return [
        {
            "rep_id": int(match["rep"]),
            "rank": int(match["rank"]),
            "value": match["value"],
            "shown": html_lib.unescape(re.sub(r"<[^>]+>", "", match["shown"])).strip(),
            "movement": int(match["movement"]) if match["movement"] else None,
        }
        for match in ROW.finditer(response.content.decode())
    ]


def text_of(response) -> str:
    text = html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))
    return text.replace(" :", ":")


# --- against the summary tables ---------------------------------------------------------------------


def expected_from_summary_tables(metric: str, period: Period, rep_ids: set[int], minimum: int) -> dict:
    """rep id -> (rank, value), ranked here from the rep rows of PeriodMetric / PeriodActivityMix."""
    rows = PeriodMetric.objects.filter(
        scope=Scope.REP, period_kind=period.kind, period_start=period.start, scope_id__in=rep_ids
    )
    values = {}
    if metric.startswith("activity:"):
        counts = dict(
            PeriodActivityMix.objects.filter(
                scope=Scope.REP,
                period_kind=period.kind,
                period_start=period.start,
                activity_type_id=int(metric.split(":")[1]),
            ).values_list("scope_id", "count")
        )
        values = {row.scope_id: float(counts.get(row.scope_id, 0)) for row in rows}
    else:
        column = METRICS[metric].field
        for row in rows:
            value = getattr(row, column)
            if value is None or (metric == "win_rate" and row.deals_won + row.deals_lost < minimum):
                continue
            values[row.scope_id] = float(value)
    return {rep: (1 + sum(1 for v in values.values() if v > value), value) for rep, value in values.items()}


def test_the_page_shows_the_ranking_of_the_summary_tables(db, django_user_model, settings):
    settings.LEADERBOARD_MIN_CLOSED_DEALS = 3
    today = timezone.localdate()
    end = Period.containing(today, PeriodKind.QUARTER).start - timedelta(days=1)
    start = Period.containing(end, PeriodKind.QUARTER).start
    data = make_dataset(seed=17, reps=12, teams=3, start=start, end=end, deals=250, activities=900, tz=TZ)
    backfill()
    admin = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    quarter = Period.containing(end, PeriodKind.QUARTER)
    month = Period.containing(end, PeriodKind.MONTH)
    call = ActivityType.objects.get(name="Call")
    team_id = data["teams"][1]
    boards = [
        ({"scope": "company"}, set(Rep.objects.values_list("pk", flat=True))),
        (
            {"scope": "team", "team": team_id},
            set(Rep.objects.filter(team_id=team_id).values_list("pk", flat=True)),
        ),
    ]
    checked = 0
    for period in (quarter, month):
        for metric in [*METRICS, activity_metric_name(call.pk)]:
            for params, rep_ids in boards:
                response = get(admin, metric=metric, period=str(period), **params)
                shown = page_rows(response)
                want = expected_from_summary_tables(metric, period, rep_ids, 3)
                assert {row["rep_id"]: row["rank"] for row in shown} == {k: v[0] for k, v in want.items()}
                for row in shown:
                    assert float(row["value"]) == pytest.approx(want[row["rep_id"]][1]), (metric, row)
                    checked += 1
                assert [row["rank"] for row in shown] == sorted(row["rank"] for row in shown)
    assert checked > 200


# --- what the page shows ----------------------------------------------------------------------------


class PageTests:
    def test_it_ranks_with_ties_and_formats_money(self, board):
        response = get(board.cast.rep_a1.user, metric="revenue", period=board.this)
        rows = page_rows(response)
        assert [(row["rank"], row["rep_id"]) for row in rows][:1] == [(1, board.cast.rep_b1.pk)]
        assert [row["rank"] for row in rows] == [1, 2, 2, 4]
        assert [row["shown"] for row in rows] == [
            "2,000.00 USD",
            "1,000.00 USD",
            "1,000.00 USD",
            "500.00 USD",
        ]
        assert "Revenue · October" in text_of(response) or str(Span.parse(board.this).label) in text_of(
            response
        )

    def test_numbers_follow_the_language(self, board):
        client = client_for(board.cast.admin)
        response = client.get(URL, {"metric": "revenue", "period": board.this}, HTTP_ACCEPT_LANGUAGE="de")
        assert [row["shown"] for row in page_rows(response)][0] == "2.000,00 USD"
        response = client.get(
            URL, {"metric": "selling_time_share", "period": board.this}, HTTP_ACCEPT_LANGUAGE="de"
        )
        assert [row["shown"] for row in page_rows(response)] == ["100,0 %", "100,0 %", "50,0 %"]

    def test_fractions_show_as_percentages_and_counts_as_counts(self, board):
        response = get(board.cast.admin, metric="selling_time_share", period=board.this)
        assert [row["shown"] for row in page_rows(response)] == ["100.0 %", "100.0 %", "50.0 %"]
        response = get(board.cast.admin, metric="activities", period=board.this)
        assert [row["shown"] for row in page_rows(response)] == ["4", "4", "1", "0"]

    def test_movement_arrows_have_accessible_text(self, board):
        response = get(board.cast.admin, metric="revenue", period=board.this)
        rows = {row["rep_id"]: row["movement"] for row in page_rows(response)}
        assert rows[board.cast.rep_b1.pk] == 3 and rows[board.cast.rep_a2.pk] == -1
        text = text_of(response)
        assert "▲ 3" in text and "Up 3 places" in text
        assert "▼ 1" in text and "Down 1 place" in text

    def test_movement_of_a_rep_not_ranked_before(self, board):
        response = get(board.cast.admin, metric="attainment", period=board.this)
        assert "Not ranked in the previous period" in text_of(response)

    def test_best_and_worst_performers_and_badges(self, board):
        response = get(board.cast.admin, metric="revenue", period=board.this)
        content = response.content.decode()
        best = content[content.index('id="best-title"') : content.index('id="worst-title"')]
        worst = content[content.index('id="worst-title"') : content.index('id="badges-title"')]
        assert re.findall(r'class="rep-name"[^>]*>([^<]+)<', best) == ["Bo Three", "Ana One", "Ari Two"]
        assert re.findall(r'class="rep-name"[^>]*>([^<]+)<', worst) == ["Cy Four"]
        board_ = response.context["board"]
        badges = {row.rep: row.badges for row in board_.rows}
        # Bo: attainment 200 % this month and the biggest rise (4th -> 1st); Ana and Ari: 4 activities each.
        assert badges == {
            "Bo Three": ("quota_reached", "most_improved"),
            "Ana One": ("top_activity",),
            "Ari Two": ("top_activity",),
            "Cy Four": (),
        }
        assert content.count('class="badge badge-quota_reached"') >= 2  # in the table and the podium

    def test_win_rate_says_how_many_closed_deals_count(self, board, settings):
        settings.LEADERBOARD_MIN_CLOSED_DEALS = 3
        response = get(board.cast.admin, metric="win_rate", period=board.this)
        text = text_of(response)
        assert "Only reps with at least 3 closed deals are ranked by win rate." in text
        # Bo closed 2, Ari 1.
        assert "2 reps closed fewer and are not shown." in text
        assert [row["rep_id"] for row in page_rows(response)] == [board.cast.rep_a1.pk, board.cy.pk]

    def test_attainment_over_a_week_says_why_there_is_no_table(self, board):
        response = get(board.cast.admin, metric="attainment", period="this-week")
        assert page_rows(response) == []
        assert "quotas are set per calendar month, quarter and year" in text_of(response)

    def test_one_activity_types_count(self, board):
        call = ActivityType.objects.get(name="Call")
        response = get(board.cast.admin, metric=activity_metric_name(call.pk), period=board.this)
        assert [(row["rank"], row["shown"]) for row in page_rows(response)] == [
            (1, "4"),
            (2, "3"),
            (3, "1"),
            (4, "0"),
        ]
        assert "Call · " in text_of(response)

    def test_a_custom_range_and_a_week(self, board):
        this = Period.parse(board.this)
        first, last = this.start, this.start + timedelta(days=10)
        response = get(board.cast.admin, metric="revenue", period="custom", **{"from": first, "to": last})
        assert [row["rank"] for row in page_rows(response)] == [1, 2, 2, 4]
        # A range without `period` is a custom range too.
        response = get(board.cast.admin, metric="revenue", **{"from": first, "to": last})
        assert response.context["board"].span == Span.between(first, last)
        week = Span.week_of(this.start + timedelta(days=4))
        response = get(board.cast.admin, metric="revenue", period=week.key)
        assert response.context["board"].span == week

    def test_defaults_are_this_months_revenue_across_the_company(self, cast):
        response = get(cast.rep_a1.user)
        board = response.context["board"]
        assert board.metric.name == "revenue" and board.scope == "company"
        assert board.span == Span.preset("this-month")

    def test_team_and_territory_boards(self, board):
        response = get(
            board.cast.admin, metric="revenue", period=board.this, scope="team", team=board.cast.team_a.pk
        )
        assert {row["rep_id"] for row in page_rows(response)} == {board.cast.rep_a1.pk, board.cast.rep_a2.pk}
        assert "Team A" in response.context["board"].scope_name
        south = board.cast.territory_south
        response = get(
            board.cast.admin, metric="revenue", period=board.this, scope="territory", territory=south.pk
        )
        assert {row["rep_id"] for row in page_rows(response)} == set(
            Rep.objects.filter(territory=south).values_list("pk", flat=True)
        )

    def test_the_page_offers_tv_mode_and_exports_with_the_same_query(self, board):
        response = get(board.cast.admin, metric="deals_won", period=board.this)
        content = response.content.decode()
        for name in ("leaderboard_tv",):
            assert f'href="{reverse(name)}?metric=deals_won&amp;period={board.this}"' in content
        assert f'href="/leaderboards/export.csv?metric=deals_won&amp;period={board.this}"' in content
        assert f'href="/leaderboards/export.xlsx?metric=deals_won&amp;period={board.this}"' in content


class AccessTests:
    @pytest.mark.parametrize("url", [URL, TV_URL, "/leaderboards/export.csv", "/leaderboards/export.xlsx"])
    def test_signed_out_goes_to_sign_in(self, board, url):
        response = Client().get(url, {"period": board.this})
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")

    def test_every_signed_in_user_sees_every_rep(self, board):
        for user in (board.cast.rep_b1.user, board.cast.manager_a, board.cast.admin):
            assert len(page_rows(get(user, metric="revenue", period=board.this))) == 4

    def test_names_link_to_the_dashboards_the_viewer_may_open(self, board):
        cast = board.cast

        def linked(user):
            content = get(user, metric="revenue", period=board.this).content.decode()
            return {int(rep) for rep in re.findall(r'href="/dashboard/rep/(\d+)/"', content)}

        assert linked(cast.rep_a1.user) == {cast.rep_a1.pk}  # a rep opens only their own
        assert linked(cast.manager_a) == {cast.rep_a1.pk, cast.rep_a2.pk}
        assert linked(cast.admin) == {cast.rep_a1.pk, cast.rep_a2.pk, cast.rep_b1.pk, board.cy.pk}
        content = get(cast.rep_a1.user, metric="revenue", period=board.this).content.decode()
        assert (
            f'href="{reverse("dashboard_scope", kwargs={"scope": "rep", "scope_id": cast.rep_a1.pk})}"'
            in content
        )


class BadInputTests:
    @pytest.mark.parametrize(
        "params,label,reason",
        [
            ({"metric": "height"}, "Rank by", "height is not one of the available choices"),
            ({"metric": "activity:987654"}, "Rank by", "not one of the available choices"),
            ({"period": "2026-13"}, "Period", "is not a period"),
            ({"period": "2026-W60"}, "Period", "is not a period"),
            ({"period": "custom", "from": "2026-11-10", "to": "2026-11-01"}, "From", "ends"),
            ({"period": "custom", "from": "2026-11-01"}, "To", "needs a last day"),
            ({"period": "custom", "from": "yesterday", "to": "2026-11-01"}, "From", "is not a date"),
            ({"scope": "rep"}, "Across", "not one of the available choices"),
            ({"scope": "team"}, "Team", "Choose a team"),
            ({"scope": "territory", "territory": "north"}, "Territory", "whole number"),
        ],
    )
    def test_it_names_the_field_and_the_reason_with_400(self, cast, params, label, reason):
        response = get(cast.rep_a1.user, status=400, **params)
        alert = text_of(response)
        assert f"{label}: " in alert and reason in alert

    def test_an_unknown_team_or_territory_is_404(self, cast):
        get(cast.rep_a1.user, status=404, scope="team", team=987654)
        get(cast.rep_a1.user, status=404, scope="territory", territory=987654)

    def test_the_tv_mode_refuses_a_refresh_under_ten_seconds(self, cast):
        response = get(cast.admin, status=400, url=TV_URL, refresh=3)
        assert "Refresh every (seconds): " in text_of(response)
        assert "data-tv-refresh" not in response.content.decode()


class TvModeTests:
    def test_it_has_its_own_dark_full_screen_page_without_the_navigation(self, board):
        response = get(board.cast.rep_a1.user, url=TV_URL, metric="revenue", period=board.this)
        content = response.content.decode()
        assert 'class="tv"' in content and "tv-body" in content
        assert "mainnav" not in content and "Sign out" not in content
        assert list(re.findall(r'<td class="num rank">(\d+)</td>', content)) == [
            "1",
            "2",
            "2",
            "4",
        ]

    def test_it_refreshes_itself_every_configured_seconds(self, board, settings):
        settings.LEADERBOARD_TV_REFRESH_SECONDS = 120
        content = get(board.cast.admin, url=TV_URL, period=board.this).content.decode()
        assert 'data-tv-refresh="120"' in content
        assert '<meta http-equiv="refresh" content="120">' in content  # without JavaScript
        assert "js/leaderboards.js" in content
        assert "Refreshes every 120 seconds" in text_of(get(board.cast.admin, url=TV_URL, period=board.this))

    def test_refresh_may_be_lowered_down_to_ten_seconds(self, board):
        content = get(board.cast.admin, url=TV_URL, period=board.this, refresh=10).content.decode()
        assert 'data-tv-refresh="10"' in content

    def test_it_shows_when_it_was_last_updated(self, board):
        before = timezone.now().replace(microsecond=0)
        content = get(board.cast.admin, url=TV_URL, period=board.this).content.decode()
        stamp = re.search(r'<time data-updated-at datetime="([^"]+)"', content)[1]
        from datetime import datetime

        assert datetime.fromisoformat(stamp) >= before

    def test_a_preset_rolls_over_with_the_calendar(self, board):
        response = get(board.cast.admin, url=TV_URL, period="this-month")
        assert response.context["board"].span == Span.preset("this-month")
        # The way back (and every reload) keeps the preset, not the month it meant when opened.
        assert 'href="/leaderboards/?period=this-month"' in response.content.decode()


# --- query budget -----------------------------------------------------------------------------------

BUDGET = 17  # the board, its scope and metric pickers, the freshness note (two), the viewer's own rep


def _add_reps(team, count: int, days) -> None:
    for _ in range(count):
        rep = RepFactory(team=team)
        for day in days:
            ActivityFactory(rep=rep, occurred_at=noon(day))
            close(rep, "100.00", day)


@pytest.mark.parametrize(
    "url,params",
    [
        (URL, {"metric": "revenue"}),
        (URL, {"metric": "win_rate", "scope": "team"}),
        (URL, {"metric": "activities", "period": "week"}),
        (URL, {"metric": "call", "period": "week", "scope": "territory"}),
        (TV_URL, {"metric": "avg_deal_size"}),
        (TV_URL, {"metric": "selling_time_share", "period": "week"}),
    ],
)
def test_a_page_costs_the_same_queries_for_n_and_3n_reps(
    cast, url, params, django_assert_max_num_queries, settings
):
    settings.LEADERBOARD_MIN_CLOSED_DEALS = 1
    this = Period.containing(timezone.localdate(), PeriodKind.MONTH).previous()
    days = [this.start + timedelta(days=2), this.previous().start + timedelta(days=2)]
    query = dict(params, period=str(this))
    if params.get("period") == "week":
        query["period"] = Span.week_of(days[0]).key
    if params["metric"] == "call":
        query["metric"] = activity_metric_name(ActivityType.objects.get(name="Call").pk)
    if params.get("scope") == "team":
        query["team"] = cast.team_a.pk
    if params.get("scope") == "territory":
        query["territory"] = cast.territory_north.pk
    client = client_for(cast.rep_b1.user)
    sizes = []
    for added in (4, 8):  # N = 4 + the cast, then 3N
        _add_reps(cast.team_a, added, days)
        backfill()
        with django_assert_max_num_queries(BUDGET):
            response = client.get(url, query)
        assert response.status_code == 200
        sizes.append(len(response.context["board"].rows))
    assert sizes[1] > sizes[0]


def test_a_long_board_lists_the_top_then_the_viewers_own_row_and_can_show_all(board, monkeypatch):
    """A company of a thousand reps: the top of the board, the viewer's place, and "Show all"."""
    from leaderboards import views

    monkeypatch.setattr(views, "PAGE_ROWS", 2)
    params = {"metric": "revenue", "period": board.this, "scope": "company"}
    everyone = page_rows(get(board.cast.admin, **params, all="1"))
    assert [row["rank"] for row in everyone] == [1, 2, 2, 4]

    response = get(board.cy.user, **params)
    rows = page_rows(response)
    # The top two, then Cy's own row (ranked 4th), marked as theirs.
    assert [row["rep_id"] for row in rows] == [everyone[0]["rep_id"], everyone[1]["rep_id"], board.cy.pk]
    assert re.search(rf'<tr data-rep-id="{board.cy.pk}" class="[^"]*\bown\b', response.content.decode())
    assert "Showing 3 of 4 reps." in text_of(response)
    assert "all=1" in response.content.decode()

    # An admin (no row of their own) sees the top two only; the export always has every row.
    assert [row["rep_id"] for row in page_rows(get(board.cast.admin, **params))] == [
        row["rep_id"] for row in everyone[:2]
    ]
    export = get(board.cast.admin, url="/leaderboards/export.csv", **params)
    assert b"".join(export.streaming_content).decode("utf-8-sig").count("\n") >= 4 + 1


def test_the_tv_lists_what_fits_a_screen(board, monkeypatch):
    from leaderboards import views

    monkeypatch.setattr(views, "TV_ROWS", 3)
    response = get(board.cast.rep_a1.user, url=TV_URL, metric="revenue", period=board.this, scope="company")
    assert response.content.decode().count('<td class="num rank">') == 3


def test_a_rep_sees_their_own_row_marked_and_what_the_next_place_takes(board):
    """The viewer's row is marked wherever it is (not only when pinned below the top), and the page
    says "You are #k of n — <gap> to #j", the gap being the next higher rank's value minus theirs."""
    params = {"metric": "revenue", "period": board.this, "scope": "company"}
    everyone = page_rows(get(board.cast.admin, **params, all="1"))
    response = get(board.cy.user, **params)
    html = response.content.decode()
    mine = next(row for row in everyone if row["rep_id"] == board.cy.pk)
    assert re.search(rf'<tr data-rep-id="{board.cy.pk}" class="[^"]*\bown\b[^"]*" aria-current="true"', html)
    assert html.count('aria-current="true"') == 1
    ahead = max((row for row in everyone if row["rank"] < mine["rank"]), key=lambda row: row["rank"])
    gap = Decimal(ahead["value"]) - Decimal(mine["value"])
    standing = response.context["standing"]
    assert (standing.row.rank, standing.total, standing.ahead.rank) == (
        mine["rank"],
        len(everyone),
        ahead["rank"],
    )
    assert standing.gap == gap > 0
    line = html_lib.unescape(re.search(r'data-testid="standing"[^>]*>(.*?)</p>', html, re.S)[1])
    expected = f"You are #{mine['rank']} of {len(everyone)} — {money(gap)} to #{ahead['rank']}"
    assert " ".join(line.split()) == " ".join(expected.split())

    # The top rep is told their place only; an admin, on no board, gets no line.
    top = get(Rep.objects.get(pk=everyone[0]["rep_id"]).user, **params)
    assert top.context["standing"].gap is None
    assert 'data-testid="standing"' in top.content.decode() and " to #" not in text_of(top)
    assert get(board.cast.admin, **params).context["standing"] is None
