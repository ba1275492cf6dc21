"""The dashboards: one scope object (rep, team, territory, company) over one span.

Each view resolves what the viewer may see through `activities.access` (anything else is
a 404), reads the summary tables through `metrics.dashboard` in a fixed number of
queries, and renders; the charts are drawn in the browser by plotly.js from static/.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from activities import access
from activities import selectors as activity_selectors
from activities.models import Rep

from . import charts
from . import dashboard as data
from .alerts import alerts_for
from .models import Scope
from .selectors import ScopeNotFound, one_computed_state
from .spans import PRESETS, Span, SpanError, span_from_query

# The worst of each kind of alert a dashboard lists; the rest are counted.
ALERTS_SHOWN = 10


def dashboard_url(scope: str, scope_id: int, query: str = "") -> str:
    if scope == Scope.COMPANY:
        url = reverse("dashboard_company")
    else:
        url = reverse("dashboard_scope", kwargs={"scope": scope, "scope_id": scope_id})
    return f"{url}?{query}" if query else url


@require_GET
def dashboard_home(request):
    """Where "Dashboard" leads: an admin to the company, a manager to their team, a rep to their own."""
    user, query = request.user, request.GET.urlencode()
    if access.is_admin(user):
        return redirect(dashboard_url(Scope.COMPANY, 0, query))
    if access.is_manager(user):
        team_id = access.visible_teams(user).order_by("name").values_list("pk", flat=True).first()
        if team_id is not None:
            return redirect(dashboard_url(Scope.TEAM, team_id, query))
        return redirect(dashboard_url(Scope.COMPANY, 0, query))
    rep = access.rep_of(user)
    if rep is not None:
        return redirect(dashboard_url(Scope.REP, rep.pk, query))
    raise PermissionDenied(_("Your account has no role yet: ask an admin to give you one."))


def _span_links(span: Span, today) -> list[dict]:
    """The period picker: presets (canonical keys in the URL), the previous and next span."""
    links = []
    for name, title in PRESETS:
        preset = Span.preset(name, today)
        links.append({"key": preset.key, "label": title, "current": preset == span})
    return links


@require_GET
@one_computed_state
def dashboard(request, scope: str, scope_id: int):
    viewer = request.user
    try:
        ref = data.scope_ref(viewer=viewer, scope=scope, scope_id=scope_id)
    except ScopeNotFound:
        raise Http404(_("No such dashboard, or it is not yours to see.")) from None
    today = timezone.localdate()
    context = {
        "ref": ref,
        "today": today,
        "options": data.switcher_options(viewer=viewer, ref=ref),
        "freshness": data.freshness(),
        "can_refresh": access.is_manager(viewer) or access.is_admin(viewer),
    }
    try:
        span = span_from_query(request.GET, today=today)
    except SpanError as error:
        context.update(span=None, span_error=str(error), presets=_span_links(None, today))
        return render(request, "metrics/dashboard.html", context, status=400)

    current, previous, computed = data.figures_pair(ref, span)
    funnel = data.funnel(ref, span)
    impact, impact_why = data.activity_impact(ref, span)
    member_scope, members = data.member_rows(ref, span, viewer=viewer, today=today)
    context.update(
        span=span,
        previous_span=span.previous(),
        next_span=span.next(),
        presets=_span_links(span, today),
        computed=computed,
        figures=current,
        tiles=data.tiles(ref, span, current, previous, today),
        funnel=funnel,
        funnel_links=_funnel_links(ref, span, funnel),
        mix=data.activity_mix(ref, span),
        impact=impact,
        impact_why=impact_why,
        impact_min_reps=data.IMPACT_MIN_REPS,
        products=data.top_products(ref, span),
        regions=data.regional_sales(ref, span, viewer=viewer),
        member_scope=member_scope,
        members=members,
    )
    context["charts"] = charts.chart_data(ref, span, context, current, today)
    if ref.scope != Scope.REP and (access.is_manager(viewer) or access.is_admin(viewer)):
        reps = access.visible_reps(viewer).filter(data.member_filter(ref, prefix=""), is_active=True)
        teams = access.visible_teams(viewer)
        if ref.scope == Scope.TEAM:
            teams = teams.filter(pk=ref.scope_id)
        elif ref.scope == Scope.TERRITORY:
            teams = teams.filter(territory_id=ref.scope_id)
        context["alerts"] = alerts_for(reps=reps, teams=teams, today=today, limit=ALERTS_SHOWN)
    if ref.scope == Scope.REP:
        rep = Rep.objects.select_related("user", "team").get(pk=ref.scope_id)
        context.update(
            rep=rep,
            today_activities=activity_selectors.activities_on_day(rep=rep),
            open_deals=activity_selectors.open_deals_of(rep=rep),
        )
    return render(request, "metrics/dashboard.html", context)


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


@require_POST
def refresh(request):
    """A manager or admin asks for the figures to be brought up to date (the incremental run)."""
    if not (access.is_manager(request.user) or access.is_admin(request.user)):
        raise PermissionDenied(_("Only managers and admins can ask for a refresh."))
    from salestrack.outages import publish

    from .tasks import run_incremental

    pending = data.freshness().pending_days
    if not publish(run_incremental):
        messages.error(request, _("The refresh could not be queued: the job queue is unreachable."))
    else:
        if pending:
            messages.success(
                request,
                ngettext(
                    "Refresh queued: %(days)s changed day will be recomputed shortly.",
                    "Refresh queued: %(days)s changed days will be recomputed shortly.",
                    pending,
                )
                % {"days": pending},
            )
        else:
            messages.info(request, _("Refresh queued. Nothing has changed since the last run."))
    target = request.POST.get("next") or reverse("dashboard")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("dashboard")
    return redirect(target)
