"""Template filters for figures shown to users: money and durations, formatted for the locale."""

from decimal import Decimal, InvalidOperation

from django import template
from django.conf import settings
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

register = template.Library()

EMPTY = "—"

# The pipeline stages and activity types the default-data migration creates. They are
# rows an admin may rename, so only these exact names are translated; any other name
# shows as typed (and gettext never sees arbitrary text, e.g. "" which means the header).
DEFAULT_NAMES = frozenset(
    {
        gettext_noop("Lead"),
        gettext_noop("MQL"),
        gettext_noop("SQL"),
        gettext_noop("Proposal"),
        gettext_noop("Negotiation"),
        gettext_noop("Won"),
        gettext_noop("Lost"),
        gettext_noop("Call"),
        gettext_noop("Email"),
        gettext_noop("Client meeting"),
        gettext_noop("Demo"),
        gettext_noop("Sales prep"),
        gettext_noop("Internal meeting"),
        gettext_noop("Admin"),
        gettext_noop("Travel"),
        gettext_noop("Training"),
    }
)


@register.filter
def label(obj) -> str:
    """The display name of a stage or activity type, translated when it is a default one."""
    if obj is None:
        return EMPTY
    name = str(obj)
    return _(name) if name in DEFAULT_NAMES else name


@register.filter
def money(value, currency=None):
    """`1234567.5` → `1,234,567.50 USD` (en) or `1.234.567,50 USD` (de); empty → `—`."""
    if value is None or value == "":
        return EMPTY
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return EMPTY
    number = formats.number_format(amount, 2, force_grouping=True)
    # Translators: how an amount and its ISO currency code are written, e.g. "1,234.50 USD".
    return _("%(amount)s %(currency)s") % {
        "amount": number,
        "currency": currency or settings.SALESTRACK_CURRENCY,
    }


@register.filter
def minutes(value):
    """A duration in minutes, written for people: `45 min`, `1 h 30 min`."""
    if value in (None, ""):
        return EMPTY
    total = int(value)
    hours, rest = divmod(total, 60)
    if not hours:
        return ngettext("%(minutes)d min", "%(minutes)d min", rest) % {"minutes": rest}
    if not rest:
        return ngettext("%(hours)d h", "%(hours)d h", hours) % {"hours": hours}
    return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest}
