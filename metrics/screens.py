"""One selector per screen: everything a page shows, read in a fixed number of queries.

The views only parse the request, call one of these and render what it returns; what a
figure means is decided in metrics.dashboard, metrics.formulas and the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date

from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from activities import access
from activities import selectors as activity_selectors
from activities.models import Rep

from . import charts
from . import dashboard as data
from .alerts import alert_period, alerts_for, in_pace_grace
from .models import Scope
from .spans import Span

# The worst of each kind of alert a dashboard lists; the rest are counted.
ALERTS_SHOWN = 10


@dataclass
class DashboardPage:
    """One scope object's dashboard over one span (`span` None: the header only)."""

    ref: data.ScopeRef
    today: date
    options: dict
    freshness: data.Freshness
    can_refresh: bool
    span: Span | None = None
    previous_span: Span | None = None
    next_span: Span | None = None
    computed: bool = False
    # A period that is over, computed by a run since, with nothing in it: "no data", not "not computed".
    no_data: bool = False
    compared_span: Span | None = None
    compared_label: str = ""
    pace_grace: bool = False
    figures: dict = field(default_factory=dict)
    tiles: list = field(default_factory=list)
    funnel: list = field(default_factory=list)
    funnel_links: dict = field(default_factory=dict)
    mix: list = field(default_factory=list)
    impact: list = field(default_factory=list)
    impact_why: str = ""
    impact_min_reps: int = data.IMPACT_MIN_REPS
    products: list = field(default_factory=list)
    regions: list = field(default_factory=list)
    member_scope: str = ""
    members: list = field(default_factory=list)
    charts: dict = field(default_factory=dict)
    alerts: object = None
    rep: Rep | None = None
    today_activities: object = None
    open_deals: object = None

    def context(self) -> dict:
        """The template's variables (shallow: the rows stay the same objects)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def dashboard_for(*, viewer, scope: str, scope_id: int, span: Span | None, today: date) -> DashboardPage:
    """The dashboard of `scope`/`scope_id` over `span` as `viewer` may see it.

    ScopeNotFound when the scope object does not exist or is not the viewer's to see.
    """
    ref = data.scope_ref(viewer=viewer, scope=scope, scope_id=scope_id)
    page = DashboardPage(
        ref=ref,
        today=today,
        options=data.switcher_options(viewer=viewer, ref=ref),
        freshness=data.freshness(),
        can_refresh=access.is_manager(viewer) or access.is_admin(viewer),
    )
    if span is None:
        return page
    current, previous, computed = data.figures_pair(ref, span, today)
    page.span, page.previous_span, page.next_span = span, span.previous(), span.next()
    page.compared_span = data.comparison_span(span, today)
    page.compared_label = data.comparison_label(span, page.compared_span)
    page.computed, page.figures = computed, current
    computed_at = page.freshness.computed_at
    page.no_data = not computed and computed_at is not None and timezone.localdate(computed_at) > span.last
    page.pace_grace = in_pace_grace(alert_period(span, today), today)
    page.tiles = data.tiles(ref, span, current, previous, today)
    page.funnel = data.funnel(ref, span)
    page.funnel_links = _funnel_links(ref, span, page.funnel)
    page.mix = data.activity_mix(ref, span)
    page.impact, page.impact_why = data.activity_impact(ref, span)
    page.products = data.top_products(ref, span)
    page.regions = data.regional_sales(ref, span, viewer=viewer)
    page.member_scope, page.members = data.member_rows(ref, span, viewer=viewer, today=today)
    page.charts = charts.chart_data(ref, span, page, current, today)
    if ref.scope != Scope.REP and page.can_refresh:
        reps = access.visible_reps(viewer).filter(data.member_filter(ref, prefix=""), is_active=True)
        teams = access.visible_teams(viewer)
        if ref.scope == Scope.TEAM:
            teams = teams.filter(pk=ref.scope_id)
        elif ref.scope == Scope.TERRITORY:
            teams = teams.filter(territory_id=ref.scope_id)
        page.alerts = alerts_for(reps=reps, teams=teams, today=today, limit=ALERTS_SHOWN, span=span)
    if ref.scope == Scope.REP:
        page.rep = Rep.objects.select_related("user", "team").get(pk=ref.scope_id)
        page.today_activities = activity_selectors.activities_on_day(rep=page.rep)
        page.open_deals = activity_selectors.open_deals_of(rep=page.rep)
    return page


def _funnel_links(ref, span: Span, funnel) -> dict[int, str]:
    """Each open stage → the deal list showing the cohort's deals that leaked there."""
    base = {"opened_from": span.first.isoformat(), "opened_to": span.last.isoformat()}
    if ref.scope in (Scope.REP, Scope.TEAM, Scope.TERRITORY):
        base[ref.scope] = ref.scope_id
    url = reverse("deal_list")
    return {
        step.stage_id: f"{url}?{urlencode({**base, 'leaked_at': step.stage_id})}"
        for step in funnel
        if step.kind == "open"
    }
