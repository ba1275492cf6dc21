"""The cells of a leaderboard row: the rep (with badges), the value and the movement.

Simple tags rather than template includes: a page lists up to a hundred rows (a TV, a
company's top), and an include per cell costs more than everything else on the page.
"""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from activities.templatetags.salestrack import EMPTY, money

register = template.Library()


@register.simple_tag
def rep_cell(row, board, link: bool = True) -> str:
    """The rep's name (a link to their dashboard when the viewer may open it) and their badges."""
    if link and row.rep_id in board.linkable:
        url = reverse("dashboard_scope", kwargs={"scope": "rep", "scope_id": row.rep_id})
        name = format_html('<a class="rep-name" href="{}">{}</a>', url, row.rep)
    else:
        name = format_html('<span class="rep-name">{}</span>', row.rep)
    quota_title = ""
    if board.quota_period:
        quota_title = _("Attainment of 100 %% or more in %(period)s") % {"period": board.quota_span.label}
    badges = format_html_join(
        "",
        ' <span class="badge badge-{}"{}>{}</span>',
        (
            (
                code,
                format_html(' title="{}"', quota_title) if code == "quota_reached" and quota_title else "",
                text,
            )
            for code, text in row.badge_list
        ),
    )
    return format_html("{}{}", name, badges)


def _amount(value, kind: str) -> str:
    """An amount in the metric's unit: money, a count, or (a fraction) percentage points."""
    if kind == "money":
        return money(value)
    if kind == "count":
        return intcomma(value)
    # Translators: a difference of percentages, e.g. "4.5 points" (already formatted).
    return _("%(value)s points") % {"value": template.defaultfilters.floatformat(float(value) * 100, 1)}


@register.simple_tag
def value_cell(row, kind: str) -> str:
    """The value as money, a count or a percentage; "—" when undefined."""
    if kind in ("money", "count"):
        return _amount(row.value, kind)
    if row.value is None:
        return EMPTY
    # Translators: a percentage, e.g. "33.3 %" (%(value)s is already formatted for the language).
    return _("%(value)s %%") % {"value": template.defaultfilters.floatformat(row.percent, 1)}


@register.simple_tag
def goal_bar(goal) -> str:
    """A bar of progress towards the quota, named "2,000.00 USD of 10,000.00 USD — 8,000.00 USD to go"."""
    if goal is None:
        return ""
    done, target = _amount(goal.done, "money"), _amount(goal.target, "money")
    if goal.to_go:
        text = _("%(done)s of %(target)s — %(to_go)s to go") % {
            "done": done,
            "target": target,
            "to_go": _amount(goal.to_go, "money"),
        }
    else:
        text = _("%(done)s of %(target)s — quota reached") % {"done": done, "target": target}
    low = format_html(' low="{}"', f"{goal.expected:f}") if goal.expected is not None else ""
    return format_html(
        '<meter class="goal{}" min="0" max="{}" value="{}"{} high="{}" optimum="{}" '
        'aria-label="{}" title="{}"></meter>',
        " behind" if goal.behind else "",
        f"{goal.target:f}",
        f"{goal.done:f}",
        low,
        f"{goal.target:f}",
        f"{goal.target:f}",
        text,
        text,
    )


@register.simple_tag
def standing_line(standing, kind: str) -> str:
    """ "You are #4 of 24 — 1,200.00 USD to #3" (the viewer's place, and what the next place takes)."""
    where = _("You are #%(rank)s of %(total)s") % {"rank": standing.row.rank, "total": standing.total}
    if standing.gap is None:
        return where
    # Translators: "You are #4 of 24" — "1,200.00 USD" to "#3".
    return _("%(where)s — %(gap)s to #%(rank)s") % {
        "where": where,
        "gap": _amount(standing.gap, kind),
        "rank": standing.ahead.rank,
    }


@register.simple_tag
def movement_cell(row) -> str:
    """▲ 3 / ▼ 2 / – / new, with the words for screen readers."""
    if row.idle:
        return format_html(
            '<span class="move same"><span aria-hidden="true">–</span>'
            '<span class="visually-hidden">{}</span></span>',
            _("Nothing in this period nor the one before"),
        )
    if row.movement is None:
        hidden = _("Not ranked in the previous period")
        return format_html(
            '<span class="move new" title="{}"><span aria-hidden="true">{}</span>'
            '<span class="visually-hidden">{}</span></span>',
            hidden,
            pgettext("leaderboard movement: not ranked before", "new"),
            hidden,
        )
    if row.movement > 0:
        css, arrow = "up", "▲"
        words = ngettext("Up %(places)s place", "Up %(places)s places", row.places) % {"places": row.places}
    elif row.movement < 0:
        css, arrow = "down", "▼"
        words = ngettext("Down %(places)s place", "Down %(places)s places", row.places) % {
            "places": row.places
        }
    else:
        return format_html(
            '<span class="move same"><span aria-hidden="true">–</span>'
            '<span class="visually-hidden">{}</span></span>',
            _("No change"),
        )
    return format_html(
        '<span class="move {}"><span aria-hidden="true">{} {}</span>'
        '<span class="visually-hidden">{}</span></span>',
        css,
        arrow,
        row.places,
        words,
    )
