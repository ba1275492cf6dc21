"""Turn one cell (text from a CSV, or a typed value from a spreadsheet) into a Python value.

Each parser raises ValueError with a message fit to show the user.
"""

from __future__ import annotations

import contextlib
import math
import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext as _

from activities import rules

NOON = time(12, 0)
TRUE = {"1", "true", "yes", "y", "t", "active", "x"}
FALSE = {"0", "false", "no", "n", "f", "inactive", ""}


def is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def text(value, *, max_length: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets store ids like 1042 as 1042.0
    result = str(value).strip()
    if "\x00" in result:
        raise ValueError(_("contains a NUL character (code 0), which text cannot hold"))
    if max_length is not None and len(result) > max_length:
        raise ValueError(_("longer than %(max)s characters") % {"max": max_length})
    return result


def parse_date(value, fmt: str | None = None) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = text(value)
    try:
        if fmt:
            return datetime.strptime(raw, fmt).date()
        if len(raw) > 10:  # "2026-07-14 00:00:00", as some exports write dates
            return datetime.fromisoformat(raw).date()
        return date.fromisoformat(raw)
    except ValueError:
        expected = fmt or "YYYY-MM-DD"
        raise ValueError(_("not a date (expected %(format)s)") % {"format": expected}) from None


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_datetime(value, date_fmt: str | None = None, datetime_fmt: str | None = None, tz=None) -> datetime:
    """A timezone-aware datetime; a date alone means noon local time (the middle of the working day)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, NOON)
    else:
        raw = text(value)
        moment = None
        if datetime_fmt:
            with contextlib.suppress(ValueError):
                moment = datetime.strptime(raw, datetime_fmt)
        if moment is None and date_fmt:
            with contextlib.suppress(ValueError):
                moment = datetime.combine(datetime.strptime(raw, date_fmt).date(), NOON)
        if moment is None and not datetime_fmt:
            try:
                if _DATE_ONLY.match(raw):
                    moment = datetime.combine(date.fromisoformat(raw), NOON)
                else:
                    moment = datetime.fromisoformat(raw)
            except ValueError:
                pass
        if moment is None:
            expected = datetime_fmt or "YYYY-MM-DD HH:MM, or YYYY-MM-DD"
            raise ValueError(_("not a date and time (expected %(format)s)") % {"format": expected})
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = timezone.make_aware(moment, tz)
    return moment


def parse_decimal(
    value, *, places: int = rules.AMOUNT_DECIMAL_PLACES, max_digits: int = rules.AMOUNT_MAX_DIGITS
) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(_("not a number"))
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(_("not a number"))
        # Spreadsheet floats carry binary noise (0.1 + 0.2); round them to cents.
        number = Decimal(str(value)).quantize(Decimal(1).scaleb(-places))
    else:
        raw = text(value).replace(" ", "").replace("\u00a0", "")
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise ValueError(_("not a number (write 1234.50, without thousands separators)")) from None
        if not number.is_finite():
            raise ValueError(_("not a number"))
        if -number.as_tuple().exponent > places:
            raise ValueError(_("more than %(places)s decimal places") % {"places": places})
    if number < 0:
        raise ValueError(_("cannot be negative"))
    if number.adjusted() >= max_digits - places:
        raise ValueError(_("too large"))
    return number


def parse_int(value) -> int:
    if isinstance(value, bool):
        raise ValueError(_("not a whole number"))
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(_("not a whole number"))
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(text(value))
    except ValueError:
        raise ValueError(_("not a whole number")) from None


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    raw = text(value).lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise ValueError(_("not yes or no (write yes/no, true/false or 1/0)"))


def parse_choice(value, choices) -> str:
    """A value of a TextChoices by its value or its label, any case; hyphens count as underscores."""
    raw = text(value).lower()
    for choice in choices:
        if raw in (choice.value, choice.value.replace("_", "-"), str(choice.label).lower()):
            return choice.value
    raise ValueError(_("not one of %(choices)s") % {"choices": ", ".join(choice.value for choice in choices)})


def noon(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, NOON))
