"""Dashboard rows -> the JSON plotly.js draws (static/js/charts.js), pure.

Plotly reads a subset of HTML in every label, tick, legend and hover text (<a href>, <b>,
<br>, entities) and TeX between dollar signs, so a name someone typed would become live
markup. Every user-entered text goes through `plotly_text`, which makes Plotly show it
exactly as typed.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.text import slugify
from django.utils.translation import gettext as _

from activities.templatetags.salestrack import label

from . import dashboard as data
from .spans import Span

# Plotly turns entities back into characters when it draws text, and only there: escaped
# this way, a tag is shown, not obeyed, and "$...$" is not taken for TeX.
_PLOTLY_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "$": "&#36;"})


def plotly_text(value) -> str:
    """A user-entered name as Plotly text that renders literally."""
    return str(value).translate(_PLOTLY_ESCAPES)


def chart_data(ref, span: Span, page, current: dict, today) -> dict:
    """Everything plotly.js needs, as plain JSON (the figures are built in static/js/charts.js),
    from a `metrics.screens.DashboardPage` being filled."""
    links = page.funnel_links
    return {
        "currency": settings.SALESTRACK_CURRENCY,
        "filename": slugify(f"{ref.name}-{span.key}") or "salestrack",
        "labels": {
            "revenue": _("Revenue"),
            "quota": _("Quota pace"),
            "projection": _("Projection pace"),
            "avg_deal_size": _("Average deal size"),
            "win_rate": _("Win rate"),
            "reached": _("Reached"),
            "leakage": _("Leakage"),
            "count": _("Activities"),
            "minutes": _("Minutes"),
            "selling": _("Selling"),
            "not_selling": _("Not selling"),
            "won": _("Deals won"),
            "empty": _("Nothing to show for this period."),
        },
        "pace": data.cumulative_revenue(ref, span, current, today),
        "trend": data.trend(ref, span),
        "funnel": [
            {
                "stage": plotly_text(label(step.stage)),
                "reached": step.reached,
                "leakage": step.leakage,
                "link": links.get(step.stage_id),
            }
            for step in page.funnel
        ],
        "mix": [
            {
                "name": plotly_text(label(row["name"])),
                "count": row["count"],
                "minutes": row["minutes"],
                "selling": row["is_selling"],
            }
            for row in page.mix
        ],
        "products": [
            {"name": plotly_text(row["name"]), "revenue": float(row["revenue"]), "won": row["won_count"]}
            for row in page.products
        ],
        "regions": [
            {"name": plotly_text(row["name"]), "revenue": float(row["revenue"] or 0)} for row in page.regions
        ],
    }
