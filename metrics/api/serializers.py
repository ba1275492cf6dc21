"""Input (query string) and output serializers of the metrics API. No logic beyond parsing and shaping."""

from __future__ import annotations

from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from metrics.models import MONEY, Scope
from metrics.periods import Period
from metrics.selectors import COMPANY_ID
from metrics.spans import window_problem

PERIOD_HELP = _(
    "A calendar period in the deployment's time zone: 2026 (year), 2026-Q3 (quarter), 2026-07 (month)."
)


class PeriodField(serializers.CharField):
    """A period written `2026`, `2026-Q3` or `2026-07`, parsed into a `Period`."""

    default_error_messages = {
        "out_of_range": _("%(text)s lies outside the calendar this API counts in."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 16)
        kwargs.setdefault("help_text", PERIOD_HELP)
        super().__init__(**kwargs)
        # Validators run on the parsed Period; the length is checked on the text below instead.
        self.validators = [v for v in self.validators if not isinstance(v, MaxLengthValidator)]

    def to_internal_value(self, data) -> Period:
        text = super().to_internal_value(data)
        if len(text) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        try:
            period = Period.parse(text)
        except ValueError as exc:  # its message is translated and names the accepted forms
            raise serializers.ValidationError(str(exc)) from exc
        try:
            # The leaderboard compares with the previous period; both neighbours must exist.
            period.previous(), period.next()
        except (ValueError, OverflowError):
            # Not self.fail(): DRF fills its messages with str.format, these use %-placeholders.
            raise serializers.ValidationError(
                self.error_messages["out_of_range"] % {"text": text}, code="out_of_range"
            ) from None
        problem = window_problem(period.start, period.last_day)
        if problem:
            raise serializers.ValidationError(f"{text}: {problem}", code="out_of_range")
        return period

    def to_representation(self, value) -> str:
        return str(value)


class MoneyField(serializers.DecimalField):
    """Money as a decimal string with two places ("1234.50")."""

    def __init__(self, **kwargs):
        super().__init__(
            max_digits=MONEY["max_digits"],
            decimal_places=MONEY["decimal_places"],
            coerce_to_string=True,
            read_only=True,
            **kwargs,
        )


def scope_field(scopes=Scope, **kwargs) -> serializers.ChoiceField:
    choices = [(scope.value, scope.label) for scope in scopes]
    return serializers.ChoiceField(choices=choices, **kwargs)


class ScopedQuerySerializer(serializers.Serializer):
    """`scope` (and `id`, required except for the company) and `period`."""

    scope = scope_field(help_text=_("rep, team, territory or company."))
    id = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text=_("The rep, team or territory id; leave it out for the company."),
    )
    period = PeriodField()

    def validate(self, attrs):
        if attrs["scope"] == Scope.COMPANY:
            if attrs.get("id", COMPANY_ID) != COMPANY_ID:
                raise serializers.ValidationError({"id": _("The company has no id: leave id out.")})
            attrs["scope_id"] = COMPANY_ID
        else:
            if "id" not in attrs:
                raise serializers.ValidationError(
                    {
                        "id": _("This parameter is required for the scope %(scope)s.")
                        % {"scope": attrs["scope"]}
                    }
                )
            attrs["scope_id"] = attrs["id"]
        attrs.pop("id", None)
        return attrs


class MetricsQuerySerializer(serializers.Serializer):
    scope = scope_field(help_text=_("rep, team, territory or company."))
    period = PeriodField()


class FunnelQuerySerializer(ScopedQuerySerializer):
    pass


class MetricRowSerializer(serializers.Serializer):
    """The figures of one rep for one period; null means undefined (never 0)."""

    scope = scope_field()
    id = serializers.IntegerField(source="scope_id")
    name = serializers.CharField()
    period = serializers.CharField(help_text=PERIOD_HELP)
    revenue = MoneyField()
    deals_won = serializers.IntegerField()
    deals_lost = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True, help_text=_("won / (won + lost), 0 to 1."))
    avg_deal_size = MoneyField(allow_null=True)
    quota = MoneyField(allow_null=True)
    attainment = serializers.FloatField(allow_null=True, help_text=_("revenue / quota; 1.0 = 100 %."))
    projection = MoneyField(allow_null=True)
    weighted_pipeline = MoneyField()
    selling_time_share = serializers.FloatField(allow_null=True)
    activity_count = serializers.IntegerField()
    activity_minutes = serializers.IntegerField()
    selling_minutes = serializers.IntegerField()
    deals_opened = serializers.IntegerField()
    pipeline_created = MoneyField()
    computed_at = serializers.DateTimeField(
        help_text=_(
            "When the engine last changed this row's figures (a run that finds them unchanged keeps it)."
        )
    )


class GroupMetricRowSerializer(MetricRowSerializer):
    """A team, territory or the company: a rep's figures plus how many of its reps reach quota."""

    reps_with_quota = serializers.IntegerField(allow_null=True)
    reps_at_quota = serializers.IntegerField(allow_null=True)
    reps_at_quota_share = serializers.FloatField(
        allow_null=True, help_text=_("Reps at or above quota / reps with a quota, 0 to 1.")
    )


class FunnelStageSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    stage_id = serializers.IntegerField()
    stage = serializers.CharField(source="stage.name")
    reached = serializers.IntegerField()
    conversion = serializers.FloatField(allow_null=True, help_text=_("reached(next) / reached(this)."))
    leakage = serializers.FloatField(allow_null=True, help_text=_("1 - conversion."))
