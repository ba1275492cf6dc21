"""The leaderboard pages: the board, its full-screen TV mode and its CSV / XLSX exports.

All three read the same query string through LeaderboardQueryForm and call one selector,
`leaderboard_page_for`. A bad parameter answers 400 naming the field and the reason; an
unknown team or territory answers 404. Every signed-in user sees every board.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from activities import access
from metrics.dashboard import freshness
from metrics.selectors import ScopeNotFound, one_computed_state
from salestrack import spreadsheets

from .forms import LeaderboardQueryForm, TvQueryForm
from .selectors import (
    BADGES,
    COUNT,
    FRACTION,
    MONEY,
    Leaderboard,
    UnknownMetric,
    leaderboard_page_for,
    standing_of,
)

EXPORT_FORMATS = ("csv", "xlsx")
# A company of a thousand reps: the page lists the top PAGE_ROWS (and the viewer's own row
# if it is further down) unless asked for all; a TV shows what fits a screen. Exports have all.
PAGE_ROWS = 50
TV_ROWS = 25


def _board(request, form: LeaderboardQueryForm) -> Leaderboard | None:
    """The board the form asks for; None (and errors on the form) when it cannot be read."""
    if not form.is_valid():
        return None
    try:
        return leaderboard_page_for(viewer=request.user, **form.query())
    except ScopeNotFound as exc:
        raise Http404(_("No such team or territory.")) from exc
    except UnknownMetric:
        form.add_error("metric", _("This is not a metric a leaderboard can rank by."))
        return None


def _shown_rows(board: Leaderboard | None, own, limit: int | None) -> tuple[list, int | None]:
    """The rows a page lists: the first `limit` (all if None), and the viewer's own row (`own`,
    their Rep or None) after them if it is further down (its rep id is returned too)."""
    if board is None:
        return [], None
    if limit is None or len(board.rows) <= limit:
        return board.rows, None
    rows = board.rows[:limit]
    pinned = [row for row in board.rows[limit:] if own is not None and row.rep_id == own.pk]
    return rows + pinned, (own.pk if pinned else None)


def _context(request, form, board, *, tv: bool = False) -> dict:
    limit = TV_ROWS if tv else PAGE_ROWS
    query = request.GET.copy()
    show_all = query.pop("all", None) == ["1"]
    own = access.rep_of(request.user)
    rows, pinned_rep_id = _shown_rows(board, own, None if show_all else limit)
    all_query = query.copy()
    all_query["all"] = "1"
    query = query.urlencode()
    return {
        "form": form,
        "board": board,
        "rows": rows,
        "pinned_rep_id": pinned_rep_id,
        # The viewer's own row is marked wherever it is, and the page says where they stand.
        "own_rep_id": own.pk if own is not None else None,
        "standing": None if tv else standing_of(board, own.pk if own is not None else None),
        "rows_hidden": (len(board.rows) - len(rows)) if board else 0,
        "all_query": f"?{all_query.urlencode()}",
        "errors": form.error_list() if board is None else [],
        "badge_labels": BADGES,
        "query": f"?{query}" if query else "",
        "MONEY": MONEY,
        "COUNT": COUNT,
        "FRACTION": FRACTION,
        "freshness": freshness(),
    }


@require_GET
@one_computed_state
def leaderboard(request):
    form = LeaderboardQueryForm(request.GET)
    board = _board(request, form)
    return render(
        request,
        "leaderboards/leaderboard.html",
        _context(request, form, board),
        status=200 if board is not None else 400,
    )


@require_GET
@one_computed_state
def leaderboard_tv(request):
    form = TvQueryForm(request.GET)
    board = _board(request, form)
    context = _context(request, form, board, tv=True)
    context["refresh_seconds"] = form.refresh_seconds() if board is not None else None
    return render(request, "leaderboards/tv.html", context, status=200 if board is not None else 400)


@require_GET
@one_computed_state
def leaderboard_export(request, fmt):
    if fmt not in EXPORT_FORMATS:
        raise Http404(_("Leaderboards export as CSV or XLSX."))
    form = LeaderboardQueryForm(request.GET)
    board = _board(request, form)
    if board is None:
        lines = [f"{label}: {message}" for label, message in form.error_list()]
        return HttpResponse("\n".join(lines), status=400, content_type="text/plain; charset=utf-8")
    if board.undefined:
        return HttpResponse(
            _("Quota attainment is defined for calendar months, quarters and years only."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    sheet = leaderboard_sheet(board)
    filename = f"{_file_stem(board)}.{fmt}"
    if fmt == "csv":
        return spreadsheets.csv_response(sheet, filename=filename)
    return spreadsheets.xlsx_response(sheet, filename=filename)


# --- the export's table -------------------------------------------------------------------------

_COLUMN_KINDS = {MONEY: spreadsheets.MONEY, COUNT: spreadsheets.INTEGER, FRACTION: spreadsheets.PERCENT}


def leaderboard_sheet(board: Leaderboard) -> spreadsheets.Sheet:
    """The rows of the page (rank, rep, team, value, movement, badges) under what they are."""
    metric_label = str(board.metric.label)
    value_title = metric_label + (" (%)" if board.metric.kind == FRACTION else "")
    preamble = [
        (_("Leaderboard"), board.scope_name),
        (_("Metric"), metric_label),
        (_("Period"), board.span.label),
        (_("Period key"), board.span.key),
        (_("First day"), board.span.first),
        (_("Last day"), board.span.last),
    ]
    if board.min_closed_deals is not None:
        preamble.append((_("Minimum closed deals"), board.min_closed_deals))
    preamble.append((_("Generated"), board.generated_at))
    columns = [
        spreadsheets.Column(_("Rank"), spreadsheets.INTEGER),
        spreadsheets.Column(_("Rep")),
        spreadsheets.Column(_("Team")),
        spreadsheets.Column(value_title, _COLUMN_KINDS[board.metric.kind]),
        spreadsheets.Column(_("Movement"), spreadsheets.INTEGER),
        spreadsheets.Column(_("Badges")),
    ]
    rows = (
        (
            row.rank,
            row.rep,
            row.team,
            row.value,
            row.movement,
            ", ".join(str(BADGES[code]) for code in row.badges),
        )
        for row in board.rows
    )
    return spreadsheets.Sheet(title=_("Leaderboard"), columns=columns, rows=rows, preamble=preamble)


def _file_stem(board: Leaderboard) -> str:
    """leaderboard-revenue-2026-11, leaderboard-activity-3-call-2026-W48, …-2026-11-01_2026-11-15."""
    metric = board.metric.name.replace("_", "-").replace(":", "-")
    if board.metric.activity_type_id is not None and slugify(board.metric.label):
        metric = f"{metric}-{slugify(board.metric.label)}"
    scope = "" if board.scope_id is None else f"-{board.scope}-{board.scope_id}"
    return f"leaderboard-{metric}{scope}-{board.span.key.replace('..', '_')}"
