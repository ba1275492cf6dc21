"""Input and output serializers of the leaderboard API."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leaderboards.selectors import LEADERBOARD_SCOPES, METRICS, MONEY
from metrics.api.serializers import PeriodField, ScopedQuerySerializer, scope_field

CENT = Decimal("0.01")


class LeaderboardQuerySerializer(ScopedQuerySerializer):
    metric = serializers.ChoiceField(
        choices=list(METRICS),
        help_text=_("What to rank reps by; activities = the number of logged activities."),
    )
    scope = scope_field(LEADERBOARD_SCOPES, help_text=_("company, team or territory."))
    period = PeriodField()


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
            "Previous period's rank minus this rank (positive = moved up); null when not ranked then."
        ),
    )
