"""The admin site: Django's, refusing what it cannot read instead of answering 500.

A NUL character in a query string reaches a lookup PostgreSQL refuses ("A string literal
cannot contain NUL"), in the project's changelists and in those of the libraries (axes, beat,
tokens) alike: every admin view answers such a request 400, naming the parameter.

Django's date hierarchy turns `?<field>__year=…&…__month=…&…__day=…` into a range without
checking the year fits (a huge one is an OverflowError, 9999 a ValueError on the year after).
Here the day is read first and must lie in the calendar window of activities.rules, as every
other date of the site; if not, Django's own answer to a bad lookup follows (a redirect to
`?e=1`, then its "Database error" page), never a 500.
"""

from __future__ import annotations

import calendar
from datetime import date
from functools import wraps

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.http import HttpResponseBadRequest
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from metrics.spans import window_problem


class CalendarChangeList(ChangeList):
    def get_filters(self, request):
        if self.date_hierarchy:
            hierarchy_problem(request.GET, self.date_hierarchy)
        return super().get_filters(request)


def hierarchy_problem(query, field: str) -> None:
    """Raise IncorrectLookupParameters, with the reason, if the date hierarchy's day is not one."""
    year, month, day = (
        (query.getlist(f"{field}__{part}") or [None])[-1] for part in ("year", "month", "day")
    )
    if year is None:
        return
    try:
        first = date(int(year), int(month or 1), int(day or 1))
    except (ValueError, OverflowError) as exc:
        raise IncorrectLookupParameters(exc) from exc
    if day:
        last = first
    elif month:
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    else:
        last = first.replace(month=12, day=31)
    problem = window_problem(first, last)
    if problem:
        raise IncorrectLookupParameters(problem)


class CalendarChangeListMixin:
    """For a ModelAdmin with a date_hierarchy."""

    def get_changelist(self, request, **kwargs):
        return CalendarChangeList


class SalestrackAdminSite(AdminSite):
    site_header = gettext_lazy("salestrack administration")
    site_title = gettext_lazy("salestrack administration")
    index_title = gettext_lazy("Configuration and data")

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def refusing_nul(request, *args, **kwargs):
            name = next((key for key, value in request.GET.lists() if "\x00" in key + "".join(value)), None)
            if name is not None:
                message = _("%(parameter)s: null characters are not allowed.") % {
                    "parameter": name.replace("\x00", "") or "?"
                }
                return HttpResponseBadRequest(render_to_string("400.html", {"message": message}, request))
            return inner(request, *args, **kwargs)

        return refusing_nul


class SalestrackAdminConfig(AdminConfig):
    """django.contrib.admin with SalestrackAdminSite as `admin.site` (INSTALLED_APPS)."""

    default_site = "salestrack.admin_site.SalestrackAdminSite"
