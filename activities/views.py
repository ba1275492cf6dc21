"""The rep web pages. Each view parses its input, calls one selector or service, and renders.

Rows are always looked up through `activities.access`: reading through
visible_*, changing through editable_*, so another person's id simply 404s.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from salestrack import spreadsheets

from . import access, exports, querystring, selectors, services
from .forms import (
    ActivityFilterForm,
    ActivityForm,
    DealFilterForm,
    DealForm,
    DealMoveForm,
    add_service_errors,
    stale_form,
    stale_values,
)

PAGE_SIZE = 25


def _rep_or_403(user, message: str):
    rep = access.rep_of(user)
    if rep is None:
        raise PermissionDenied(message)
    return rep


def _next_or(request, default: str) -> str:
    """Where to go after a successful POST: a safe `next` from the form, else `default`."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _stale(request, template: str, form, current, context: dict, extra_values=()):
    """409: the row changed since the form was opened. Nothing is written; the page shows the
    stored values (templates/activities/_stale.html) above the user's entries, which a second
    save then puts in their place."""
    context.update(form=form, stale_values=[*stale_values(form, current), *extra_values], stale=current)
    return render(request, template, context, status=409)


def _filtered(request, form_class, list_for):
    """The filter form of a list and the rows it selects; no rows when a filter is refused."""
    form = form_class(request.GET, viewer=request.user)
    if not form.is_valid():
        return form, None
    return form, list_for(viewer=request.user, filters=form.filters())


def _list_page(request, form_class, list_for, template: str):
    """A list page: the filters, one page of rows; a refused filter or page answers 400 naming it."""
    form, rows = _filtered(request, form_class, list_for)
    page = None
    if rows is not None:
        try:
            page = querystring.page_of(request.GET, rows, PAGE_SIZE)
        except querystring.QueryError as exc:
            form.add_error(None, str(exc))
    context = {
        "filter_form": form,
        "page": page,
        "show_rep": "rep" in form.fields,
        "query_errors": querystring.error_list(form),
    }
    return render(request, template, context, status=400 if form.errors else 200)


def _refused_export(form) -> HttpResponse:
    lines = [f"{label}: {message}" if label else message for label, message in querystring.error_list(form)]
    return HttpResponse("\n".join(lines), status=400, content_type="text/plain; charset=utf-8")


@require_GET
def home(request):
    user = request.user
    rep = access.rep_of(user)
    context = {"rep": rep, "is_manager": access.is_manager(user), "is_admin": access.is_admin(user)}
    if rep is not None:
        context.update(
            form=ActivityForm(rep=rep, user=user),
            today_activities=selectors.activities_on_day(rep=rep),
            open_deals=selectors.open_deals_of(rep=rep),
        )
    if context["is_manager"]:
        context.update(
            team_reps=selectors.team_reps_of(viewer=user),
            team_activities=selectors.latest_activities_of_team(viewer=user),
        )
    return render(request, "activities/home.html", context)


# --- activities -------------------------------------------------------------


@require_GET
def activity_list(request):
    return _list_page(
        request, ActivityFilterForm, selectors.activity_list_for, "activities/activity_list.html"
    )


@require_GET
def activity_export(request, fmt: str):
    """The activities of the list (same filters, same access rules), as CSV or XLSX."""
    form, activities = _filtered(request, ActivityFilterForm, selectors.activity_list_for)
    if activities is None:
        return _refused_export(form)
    return _export(exports.activity_sheet(activities), "activities", fmt)


@require_http_methods(["GET", "POST"])
def activity_create(request):
    rep = _rep_or_403(request.user, _("Only sales reps log activities, and your account has no rep profile."))
    if request.method == "POST":
        form = ActivityForm(request.POST, rep=rep, user=request.user)
    else:  # A deal page links here with ?deal=<id> to pre-select it.
        form = ActivityForm(rep=rep, user=request.user, initial={"deal": request.GET.get("deal")})
    if request.method == "POST" and form.is_valid():
        try:
            services.activity_log(rep=rep, **form.service_kwargs())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Activity logged."))
            return redirect(_next_or(request, "activity_list"))
    return render(request, "activities/activity_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
def activity_edit(request, pk: int):
    activity = get_object_or_404(
        access.editable_activities(request.user).select_related("deal", "type", "rep"), pk=pk
    )
    form = ActivityForm(
        request.POST if request.method == "POST" else None,
        rep=activity.rep,
        user=request.user,
        activity=activity,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.activity_update(
                activity=activity,
                version=form.cleaned_data["version"],
                **form.service_kwargs(changed_only=True),
            )
        except services.StaleVersion as exc:
            current = exc.current
            form = stale_form(
                ActivityForm, form, current, rep=current.rep, user=request.user, activity=current
            )
            return _stale(request, "activities/activity_form.html", form, current, {"activity": current})
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Activity saved."))
            return redirect(_next_or(request, "activity_list"))
    return render(request, "activities/activity_form.html", {"form": form, "activity": activity})


@require_http_methods(["GET", "POST"])
def activity_delete(request, pk: int):
    activity = get_object_or_404(access.editable_activities(request.user).select_related("type"), pk=pk)
    if request.method == "POST":
        services.activity_delete(activity=activity)
        messages.success(request, _("Activity deleted."))
        return redirect(_next_or(request, "activity_list"))
    return render(request, "activities/activity_confirm_delete.html", {"activity": activity})


# --- deals ------------------------------------------------------------------


@require_GET
def deal_list(request):
    return _list_page(request, DealFilterForm, selectors.deal_list_for, "activities/deal_list.html")


@require_GET
def deal_export(request, fmt: str):
    """The deals of the list (same filters, same access rules), as CSV or XLSX."""
    form, deals = _filtered(request, DealFilterForm, selectors.deal_list_for)
    if deals is None:
        return _refused_export(form)
    return _export(exports.deal_sheet(deals), "deals", fmt)


def _export(sheet, stem: str, fmt: str):
    if fmt == "csv":
        return spreadsheets.csv_response(sheet, filename=exports.filename(stem, fmt))
    if fmt == "xlsx":
        return spreadsheets.xlsx_response(sheet, filename=exports.filename(stem, fmt))
    raise Http404(_("Exports are CSV or XLSX."))


@require_http_methods(["GET", "POST"])
def deal_create(request):
    rep = _rep_or_403(request.user, _("Only sales reps open deals, and your account has no rep profile."))
    form = DealForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            deal = services.deal_open(owner=rep, by=request.user, **form.service_kwargs())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Deal opened."))
            return redirect("deal_detail", pk=deal.pk)
    return render(request, "activities/deal_form.html", {"form": form})


@require_GET
def deal_detail(request, pk: int):
    deal = get_object_or_404(
        access.visible_deals(request.user).select_related(*selectors.DEAL_RELATED), pk=pk
    )
    can_edit = deal.owner.user_id == request.user.pk
    return render(
        request,
        "activities/deal_detail.html",
        {
            "deal": deal,
            "can_edit": can_edit,
            "history": selectors.deal_stage_history(deal=deal),
            "activities": selectors.deal_activities(deal=deal),
            "other_stages": selectors.stages_in_order().exclude(pk=deal.stage_id) if can_edit else [],
        },
    )


@require_http_methods(["GET", "POST"])
def deal_edit(request, pk: int):
    deal = get_object_or_404(access.editable_deals(request.user), pk=pk)
    form = DealForm(request.POST if request.method == "POST" else None, user=request.user, deal=deal)
    if request.method == "POST" and form.is_valid():
        try:
            services.deal_update(deal=deal, version=form.cleaned_data["version"], **form.service_kwargs())
        except services.StaleVersion as exc:
            current = exc.current
            form = stale_form(DealForm, form, current, user=request.user, deal=current)
            stage = [(_("Stage"), current.stage), (_("Closed on"), current.closed_on)]
            return _stale(request, "activities/deal_form.html", form, current, {"deal": current}, stage)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Deal saved."))
            return redirect("deal_detail", pk=deal.pk)
    return render(request, "activities/deal_form.html", {"form": form, "deal": deal})


@require_http_methods(["GET", "POST"])
def deal_move(request, pk: int):
    deal = get_object_or_404(access.editable_deals(request.user).select_related("stage"), pk=pk)
    if request.method == "POST":
        form = DealMoveForm(request.POST, deal=deal)
    else:
        form = DealMoveForm(initial={"to_stage": request.GET.get("to")}, deal=deal)
    if request.method == "POST" and form.is_valid():
        try:
            moved = services.deal_move_stage(deal=deal, by=request.user, **form.service_kwargs())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, _("“%(deal)s” moved to %(stage)s.") % {"deal": moved, "stage": moved.stage}
            )
            return redirect("deal_detail", pk=deal.pk)
    return render(request, "activities/deal_move.html", {"form": form, "deal": deal})


@require_http_methods(["GET", "POST"])
def deal_delete(request, pk: int):
    deal = get_object_or_404(access.editable_deals(request.user), pk=pk)
    if request.method == "POST":
        services.deal_delete(deal=deal)
        messages.success(request, _("Deal deleted."))
        return redirect("deal_list")
    return render(request, "activities/deal_confirm_delete.html", {"deal": deal})
