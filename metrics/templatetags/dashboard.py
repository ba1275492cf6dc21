"""Filters for the dashboards: figures by kind, changes against the previous period, "—" for undefined."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.conf import settings
from django.utils import formats
from django.utils.translation import gettext as _

from activities.templatetags.salestrack import EMPTY, money
from metrics.models import Scope

register = template.Library()


@register.filter
def figure(value, kind: str) -> str:
    """A figure written for its kind: money with its currency, a fraction as a percentage, a count."""
    if value is None or value == "":
        return EMPTY
    if kind == "money":
        return money(value)
    if kind == "money-whole":  # tiles: no cents, so the figure fits
        number = formats.number_format(round(Decimal(str(value))), 0, force_grouping=True)
        return _("%(amount)s %(currency)s") % {"amount": number, "currency": settings.SALESTRACK_CURRENCY}
    if kind == "fraction":
        return _("%(percent)s %%") % {
            "percent": formats.number_format(float(value) * 100, 1, force_grouping=True)
        }
    return formats.number_format(value, 0, force_grouping=True)


@register.filter
def delta(value, kind: str) -> str:
    """A change: percentage points for fractions, a relative change otherwise, always signed."""
    if value is None:
        return EMPTY
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    number = formats.number_format(abs(value), 1, force_grouping=True)
    if kind == "fraction":
        return _("%(sign)s%(points)s pp") % {"sign": sign, "points": number}
    return _("%(sign)s%(percent)s %%") % {"sign": sign, "percent": number}


@register.filter
def delta_class(value) -> str:
    if value is None or abs(value) < 0.05:
        return "flat"
    return "up" if value > 0 else "down"


@register.filter
def raw_value(value) -> str:
    """The value for data-value attributes (sorting, tests): unlocalized; "" when undefined."""
    if value is None or value == "":
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return repr(float(value)) if isinstance(value, float) else str(value)


@register.filter
def correlation(value) -> str:
    if value is None:
        return EMPTY
    return formats.number_format(value, 2)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def scope_label(scope: str) -> str:
    return Scope(scope).label if scope in Scope.values else scope
