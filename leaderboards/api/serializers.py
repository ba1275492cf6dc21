"""Input and output serializers of the leaderboard API."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from activities.models import ActivityType
from leaderboards.selectors import (
    ACTIVITY_TYPE_PREFIX,
    LEADERBOARD_SCOPES,
    METRICS,
    MONEY,
    UnknownMetric,
    metric_named,
)
from metrics.api.serializers import ScopedQuerySerializer, scope_field
from metrics.spans import Span, SpanError, within_window

CENT = Decimal("0.01")
METRIC_MAX_LENGTH = 40

METRIC_HELP = _(
    "What to rank reps by; activities = the number of logged activities of every type, "
    "activity:<id> = the number of one activity type's activities (ids from /api/v1/activity-types/)."
)
SPAN_HELP = _(
    "The days ranked, in the deployment's time zone: a calendar period 2026 (year), 2026-Q3 (quarter), "
    "2026-07 (month), an ISO week 2026-W48, a day 2026-11-30 or a range 2026-11-01..2026-11-20 "
    "(both days included). attainment needs a calendar period."
)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": METRIC_MAX_LENGTH,
        "oneOf": [
            {"type": "string", "enum": list(METRICS)},
            {"type": "string", "pattern": f"^{ACTIVITY_TYPE_PREFIX}[0-9]+$"},
        ],
    }
)
class LeaderboardMetricField(serializers.CharField):
    """One of METRICS, or `activity:<activity type id>` for one type's count (as the pages accept)."""

    def to_internal_value(self, data) -> str:
        name = super().to_internal_value(data)
        try:
            metric = metric_named(name)
        except UnknownMetric:
            if name.startswith(ACTIVITY_TYPE_PREFIX):
                reason = _(
                    "%(text)r is not a metric: write activity:<id> with an activity type's numeric id."
                )
            else:
                reason = _("%(text)r is not a metric: write one of %(names)s or activity:<id>.")
            raise serializers.ValidationError(
                reason % {"text": name, "names": ", ".join(METRICS)}, code="invalid_choice"
            ) from None
        # Retired types still rank (their activities stay counted); an id that never existed does not.
        if (
            metric.activity_type_id is not None
            and not ActivityType.objects.filter(pk=metric.activity_type_id).exists()
        ):
            raise serializers.ValidationError(
                _("There is no activity type %(id)s (see /api/v1/activity-types/).")
                % {"id": metric.activity_type_id},
                code="does_not_exist",
            )
        return name


class SpanField(serializers.CharField):
    """A span written as `Span.parse` reads it (a calendar period, an ISO week, a day or a range)."""

    def __init__(self, **kwargs):
        # 2026-11-01..2026-11-20 is 22 characters; a little room for spaces around the dots.
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("help_text", SPAN_HELP)
        super().__init__(**kwargs)
        # Validators run on the parsed Span; the length is checked on the text below instead.
        self.validators = [v for v in self.validators if not isinstance(v, MaxLengthValidator)]

    def to_internal_value(self, data) -> Span:
        text = super().to_internal_value(data)
        if len(text) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        try:
            # Also refuses the ends of the calendar, where the span before or after does not exist.
            span = within_window(Span.parse(text))
        except SpanError as exc:  # its message is translated and names the value and the reason
            raise serializers.ValidationError(str(exc), code="invalid") from exc
        return span

    def to_representation(self, value) -> str:
        return str(value)


class LeaderboardQuerySerializer(ScopedQuerySerializer):
    metric = LeaderboardMetricField(max_length=METRIC_MAX_LENGTH, help_text=METRIC_HELP)
    scope = scope_field(LEADERBOARD_SCOPES, help_text=_("company, team or territory."))
    period = SpanField()


@extend_schema_field(
    {
        "oneOf": [{"type": "string", "format": "decimal"}, {"type": "number"}, {"type": "integer"}],
        "description": (
            "Money as a decimal string with two places, fractions (0-1) as numbers, counts as integers."
        ),
    }
)
class LeaderboardValueField(serializers.Field):
    """The ranked value, written as its metric's kind (the `kind` in the serializer's context)."""

    def to_representation(self, value):
        if self.context["kind"] == MONEY:
            return str(Decimal(value).quantize(CENT))
        return value


class LeaderboardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text=_("Ties share a rank: 1, 2, 2, 4."))
    rep_id = serializers.IntegerField()
    rep = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    value = LeaderboardValueField()
    movement = serializers.IntegerField(
        allow_null=True,
        help_text=_(
            "The rank over the span just before (the previous month, quarter, year, week or day; "
            "for a range as many days ending the day before) minus this rank (positive = moved up); "
            "null when not ranked then, or when idle."
        ),
    )
    idle = serializers.BooleanField(
        help_text=_(
            "Nothing in this span nor the one before (a zero or no value in both): no movement, "
            "and never among the reps who need a push."
        )
    )
