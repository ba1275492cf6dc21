"""How every list, export, dashboard and API list reads its query string: days, ids, pages, ordering.

A value that cannot be read is refused with the parameter's name and the reason (a 400),
never passed on to the database to fail there: the pages show it beside the filter, the
API answers DRF's {parameter: [reasons]}. Days keep to the calendar window of
`activities.rules`, so no filter asks the database for a day it cannot hold.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.paginator import Page, Paginator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import rules

DATE_FORMAT = "%Y-%m-%d"
# The largest id a database integer holds (bigint); a larger one names no row.
MAX_ID = 2**63 - 1
# More digits than any page number or id can have: refused before int() reads them.
MAX_DIGITS = 19


class QueryError(ValueError):
    """A parameter that cannot be read: `name` is the parameter, the message says why."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def day_problem(day) -> str | None:
    """Why a day in a filter is refused: outside the window a target's period may start in
    (the earliest date to the planning horizon), the widest any row of the site can reach."""
    return rules.period_problem(day)


class QueryDateField(forms.DateField):
    """A day written YYYY-MM-DD inside the calendar window (the filters of pages and the API)."""

    default_error_messages = {"invalid": _("Write a day as YYYY-MM-DD, for example 2026-11-30.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", [DATE_FORMAT])
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, str) and len(value.strip()) > len("YYYY-MM-DD"):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)

    def validate(self, value):
        super().validate(value)
        problem = day_problem(value) if value is not None else None
        if problem:
            raise forms.ValidationError(problem, code="out_of_range")


class QueryIdField(forms.IntegerField):
    """A row id: a whole number from 1 to the database's largest integer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    default_error_messages = {"too_long": _("No id is that long: an id has at most %(digits)s digits.")}

    def to_python(self, value):
        if isinstance(value, str) and len(value.strip()) > MAX_DIGITS:
            raise forms.ValidationError(
                self.error_messages["too_long"], code="too_long", params={"digits": MAX_DIGITS}
            )
        return super().to_python(value)


def positive_int(name: str, text: str | None, *, default: int, maximum: int | None = None) -> int:
    """A whole number from 1 (to `maximum`) written in the query string; `default` when left out."""
    text = (text or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS or int(text) < 1:
        raise QueryError(name, gettext("%(name)s must be a whole number from 1.") % {"name": name})
    if maximum is not None and int(text) > maximum:
        raise QueryError(name, gettext("%(name)s can be at most %(max)s.") % {"name": name, "max": maximum})
    return int(text)


def page_number(query, paginator: Paginator, *, name: str = "page") -> int:
    """The page `?page=` asks for (the first when left out, `last` for the last); QueryError
    for anything else than a page the list has."""
    text = (query.get(name) or "").strip()
    if text == "last":
        return paginator.num_pages
    number = positive_int(name, text, default=1)
    if number > paginator.num_pages:
        raise QueryError(
            name,
            gettext("There is no page %(number)s: the last page is %(last)s.")
            % {"number": number, "last": paginator.num_pages},
        )
    return number


def page_of(query, object_list, per_page: int) -> Page:
    paginator = Paginator(object_list, per_page)
    return paginator.page(page_number(query, paginator))


def ordering_terms(text: str | None, allowed) -> list[str]:
    """The fields of `?ordering=a,-b`, each one of `allowed` (a leading - sorts descending)."""
    terms = [term.strip() for term in (text or "").split(",") if term.strip()]
    unknown = [term for term in terms if term.removeprefix("-") not in allowed]
    if unknown:
        raise QueryError(
            "ordering",
            gettext("%(terms)s: sort by %(allowed)s (a leading - sorts descending).")
            % {"terms": ", ".join(repr(term[:40]) for term in unknown[:3]), "allowed": ", ".join(allowed)},
        )
    return terms


def error_list(form: forms.Form) -> list[tuple[str, str]]:
    """(field label, message) for every error of a query form (the label is empty for an error
    of the whole query, whose message names its parameter): the summary above a page's
    filters, and the lines of a refused export."""
    labels = {name: str(field.label or name) for name, field in form.fields.items()}
    return [
        ("" if name == NON_FIELD_ERRORS else labels.get(name, name), str(message))
        for name, messages in form.errors.items()
        for message in messages
    ]
