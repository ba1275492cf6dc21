"""The leaderboard's query: which metric, which span of days, which reps.

One GET form read by the page, its TV mode and its exports, so the three accept the same
query string. Every parameter is optional (the defaults give this month's revenue across
the company); a bad one becomes an error on the field it names.
"""

from __future__ import annotations

import contextlib

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from activities import querystring
from activities.models import Team, Territory
from metrics.models import Scope
from metrics.spans import PRESETS, Span, SpanError, span_from_query

from .selectors import leaderboard_metric_choices

CUSTOM = "custom"
DEFAULTS = {"metric": "revenue", "period": "this-month", "scope": Scope.COMPANY}
# The shortest self-refresh the TV mode accepts (seconds); also what `?refresh=` may go down to.
MIN_REFRESH_SECONDS = 10


class DateInput(forms.TextInput):
    input_type = "date"


class LeaderboardQueryForm(forms.Form):
    metric = forms.ChoiceField(label=_("Rank by"))
    period = forms.CharField(label=_("Period"), widget=forms.Select)
    scope = forms.ChoiceField(
        label=_("Across"),
        choices=[
            (Scope.COMPANY, _("The company")),
            (Scope.TEAM, _("A team")),
            (Scope.TERRITORY, _("A territory")),
        ],
    )
    team = forms.IntegerField(label=_("Team"), required=False, widget=forms.Select)
    territory = forms.IntegerField(label=_("Territory"), required=False, widget=forms.Select)

    def __init__(self, query, *args, **kwargs):
        # A parameter left out (or empty) takes its default; the others are read as given.
        given = {key: value for key, value in query.items() if value.strip()}
        self.given = set(given)
        data = {**DEFAULTS, **given}
        super().__init__(data, *args, **kwargs)
        # `from` is a keyword in Python: these two are added by name.
        self.fields["from"] = forms.CharField(label=_("From"), required=False, widget=DateInput)
        self.fields["to"] = forms.CharField(label=_("To"), required=False, widget=DateInput)
        self.fields["metric"].choices = leaderboard_metric_choices()
        period_choices = [(key, label) for key, label in PRESETS]
        chosen = data.get("period", "")
        if chosen and chosen != CUSTOM and chosen not in dict(PRESETS):
            # A span from a link (2026-07, 2026-W48): offer it by its name.
            with contextlib.suppress(SpanError):
                period_choices.append((chosen, Span.parse(chosen).label))
        period_choices.append((CUSTOM, _("Custom range…")))
        self.fields["period"].widget.choices = period_choices
        self.fields["team"].widget.choices = [("", "—"), *Team.objects.values_list("pk", "name")]
        self.fields["territory"].widget.choices = [("", "—"), *Territory.objects.values_list("pk", "name")]

    def clean(self):
        cleaned = super().clean()
        scope = cleaned.get("scope")
        for needed in (Scope.TEAM, Scope.TERRITORY):
            if scope == needed and cleaned.get(needed) is None and needed not in self.errors:
                self.add_error(
                    needed,
                    gettext("Choose a team.") if needed == Scope.TEAM else gettext("Choose a territory."),
                )
        cleaned["span"] = self._span(cleaned)
        return cleaned

    def _span(self, cleaned) -> Span | None:
        period = cleaned.get("period") or ""
        first, last = (cleaned.get("from") or "").strip(), (cleaned.get("to") or "").strip()
        # A range without a period is a custom range too (links written by hand, the TV mode).
        if period == CUSTOM or ((first or last) and "period" not in self.given):
            if not first:
                self.add_error("from", gettext("A custom range needs a first day."))
            if not last:
                self.add_error("to", gettext("A custom range needs a last day."))
            if not (first and last):
                return None
            try:
                return span_from_query({"from": first, "to": last})
            except SpanError as exc:
                self.add_error("from", str(exc))
                return None
        try:
            return span_from_query({"period": period})
        except SpanError as exc:
            self.add_error("period", str(exc))
            return None

    def query(self) -> dict:
        """The keyword arguments of `leaderboard_page_for` (call after is_valid())."""
        scope = self.cleaned_data["scope"]
        return {
            "metric": self.cleaned_data["metric"],
            "span": self.cleaned_data["span"],
            "scope": scope,
            "scope_id": self.cleaned_data.get(scope) if scope != Scope.COMPANY else None,
        }

    def error_list(self) -> list[tuple[str, str]]:
        """(field label, message) for every error, for the summary above the form and for exports."""
        return querystring.error_list(self)


class TvQueryForm(LeaderboardQueryForm):
    """The TV mode also takes `refresh`: seconds between reloads, down to MIN_REFRESH_SECONDS."""

    refresh = forms.IntegerField(
        label=_("Refresh every (seconds)"),
        required=False,
        min_value=MIN_REFRESH_SECONDS,
        max_value=24 * 60 * 60,
    )

    def refresh_seconds(self) -> int:
        return self.cleaned_data.get("refresh") or settings.LEADERBOARD_TV_REFRESH_SECONDS
