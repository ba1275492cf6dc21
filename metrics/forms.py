"""Admin forms for the targets (quotas, projections, activity targets)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from activities.models import Team
from activities.rules import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS

from .periods import Period

PERIOD_HELP = _("Write 2026 for a year, 2026-Q3 for a quarter or 2026-07 for a month.")


class PeriodField(forms.Field):
    """A calendar period written as `2026`, `2026-Q3` or `2026-07`; cleans to a Period."""

    widget = forms.TextInput(attrs={"size": 8, "placeholder": "2026-Q3"})
    default_error_messages = {
        "invalid": _("“%(value)s” is not a period. Write 2026 (year), 2026-Q3 (quarter) or 2026-07 (month)."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", PERIOD_HELP)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, Period):
            return value
        text = str(value).strip()
        try:
            return Period.parse(text.upper())
        except ValueError:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": text}
            ) from None

    def prepare_value(self, value):
        return str(value) if isinstance(value, Period) else value


class QuotaBulkForm(forms.Form):
    """One quota for every active rep of a team, and optionally the team's own."""

    required_css_class = "required"

    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.order_by("name"))
    period = PeriodField(label=_("Period"))
    amount = forms.DecimalField(
        label=_("Quota per rep"),
        min_value=Decimal("0"),
        max_digits=AMOUNT_MAX_DIGITS,
        decimal_places=AMOUNT_DECIMAL_PLACES,
        help_text=_("Every active rep of the team gets this quota for the period."),
    )
    team_amount = forms.DecimalField(
        label=_("Team quota"),
        required=False,
        min_value=Decimal("0"),
        max_digits=AMOUNT_MAX_DIGITS,
        decimal_places=AMOUNT_DECIMAL_PLACES,
        help_text=_(
            "Optional: the team's own quota for the period. "
            "Leave it empty and the team's quota is the sum of its reps' quotas."
        ),
    )


def drop_repeated_non_field_errors(form) -> None:
    """Drop form-wide errors that a field already shows.

    A model rule often exists twice, as a clean() or service check naming its field
    and as a database constraint (whose message names no field): say it once, on
    the field.
    """
    if NON_FIELD_ERRORS not in form._errors:
        return
    on_fields = {
        str(message)
        for field, errors in form._errors.items()
        if field != NON_FIELD_ERRORS
        for message in errors
    }
    remaining = [m for m in form._errors[NON_FIELD_ERRORS] if str(m) not in on_fields]
    if remaining:
        form._errors[NON_FIELD_ERRORS] = form.error_class(remaining, error_class="nonfield")
    else:
        del form._errors[NON_FIELD_ERRORS]


class PeriodTargetAdminForm(forms.ModelForm):
    """The admin form of quotas, projections and activity targets.

    The model's clean() and its database constraint both reject "both a rep and a
    team" (or neither); the message is shown once, on the rep field.
    """

    def _post_clean(self):
        super()._post_clean()
        drop_repeated_non_field_errors(self)


class PeriodTargetInlineFormSet(forms.BaseInlineFormSet):
    """Inline rows of one rep or team: two rows for the same period are one too many.

    The database constraint would catch it only after the first row is saved, as a
    crash; here it is a clear error on the form.
    """

    key_fields = ("period_kind", "period_start")

    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            key = tuple(form.cleaned_data.get(name) for name in self.key_fields)
            if None in key:
                continue
            if key in seen:
                raise ValidationError(_("Two rows are for the same period; keep one."), code="duplicate")
            seen.add(key)
