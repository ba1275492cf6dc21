"""The dashboards: one scope object (rep, team, territory, company) over one span.

Each view parses the request, calls the screen's one selector (`metrics.screens`: what the
viewer may see through `activities.access`, anything else a 404; the summary tables in a
fixed number of queries) and renders; the charts are drawn in the browser by plotly.js from
static/.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from activities import access

from . import dashboard as data
from .models import Scope
from .screens import dashboard_for
from .selectors import ScopeNotFound, one_computed_state
from .spans import PRESETS, Span, SpanError, span_from_query


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
    today = timezone.localdate()
    try:
        span, span_error = span_from_query(request.GET, today=today), None
    except SpanError as error:
        span, span_error = None, str(error)
    try:
        page = dashboard_for(viewer=request.user, scope=scope, scope_id=scope_id, span=span, today=today)
    except ScopeNotFound:
        raise Http404(_("No such dashboard, or it is not yours to see.")) from None
    context = {**page.context(), "presets": _span_links(span, today)}
    if span_error is not None:
        context["span_error"] = span_error
        return render(request, "metrics/dashboard.html", context, status=400)
    return render(request, "metrics/dashboard.html", context)


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
