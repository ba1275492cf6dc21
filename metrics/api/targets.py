"""Quotas and projections over the API: everyone signed in reads those of the reps and teams
they may see; only admins write.

Periods are written `2026`, `2026-Q3` or `2026-07`, in and out. POST sets the figure of one
rep or team for one period (creating it, or updating the one already there, like the admin's
bulk entry); PUT/PATCH change the amount of a row; DELETE removes it. Every write marks the
period for the metrics engine, as admin does.
"""

from __future__ import annotations

from functools import partial

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from activities import access
from activities.api.errors import api_error
from activities.api.filters import IdFilter
from activities.api.permissions import IsAdminOrReadOnly
from activities.api.serializers import ScopedPrimaryKeyField
from activities.api.throttles import WriteThrottleMixin
from activities.api.views import BAD_INPUT, NOT_FOUND, SIGNED_OUT_OR_REFUSED, THROTTLED, _Base
from activities.models import Rep, Team
from activities.rules import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from metrics.models import Projection, Quota
from metrics.periods import Period
from metrics.services import target_delete, target_set
from metrics.spans import window_problem

from .serializers import PERIOD_HELP, PeriodField

# --- serializers ----------------------------------------------------------------


class TargetInputSerializer(serializers.Serializer):
    rep = ScopedPrimaryKeyField(
        scope=access.visible_reps, queryset=Rep.objects.all(), required=False, allow_null=True
    )
    team = ScopedPrimaryKeyField(
        scope=access.visible_teams, queryset=Team.objects.all(), required=False, allow_null=True
    )
    period = PeriodField()
    amount = serializers.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, help_text=_("Not negative.")
    )

    def validate(self, attrs):
        if (attrs.get("rep") is None) == (attrs.get("team") is None):
            raise serializers.ValidationError(
                {"rep": [_("Choose either a rep or a team, not both and not neither.")]}
            )
        return attrs


class TargetAmountSerializer(serializers.Serializer):
    """An edit changes the amount; the rep or team and the period stay (delete and set anew to move one)."""

    amount = serializers.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, help_text=_("Not negative.")
    )

    def validate(self, attrs):
        fixed = [name for name in ("rep", "team", "period") if name in self.initial_data]
        if fixed:
            raise serializers.ValidationError(
                {name: [_("This cannot change; delete the row and set a new one.")] for name in fixed}
            )
        return attrs


@extend_schema_field({"type": "string", "pattern": r"^\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"})
class PeriodOutField(serializers.Field):
    def to_representation(self, value) -> str:
        return str(value)


class TargetSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    rep = serializers.IntegerField(source="rep_id", read_only=True, allow_null=True)
    team = serializers.IntegerField(source="team_id", read_only=True, allow_null=True)
    period = PeriodOutField(read_only=True, help_text=PERIOD_HELP)
    amount = serializers.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, read_only=True
    )


class QuotaSerializer(TargetSerializer):
    pass


class ProjectionSerializer(TargetSerializer):
    amount = serializers.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS,
        decimal_places=AMOUNT_DECIMAL_PLACES,
        read_only=True,
        help_text=_("The forecast revenue."),
    )


# --- filters --------------------------------------------------------------------


class PeriodFormField(forms.CharField):
    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        if len(text) > 16:
            raise forms.ValidationError(_("Write 2026 (year), 2026-Q3 (quarter) or 2026-07 (month)."))
        try:
            period = Period.parse(text)
        except ValueError as exc:
            # The reason quotes the text, which may hold a %: passed as a parameter, never formatted.
            raise forms.ValidationError("%(reason)s", params={"reason": str(exc)}) from exc
        problem = window_problem(period.start, period.last_day)
        if problem:
            raise forms.ValidationError("%(text)s: %(reason)s", params={"text": text, "reason": problem})
        return period


@extend_schema_field({"type": "string", "pattern": r"^\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"})
class PeriodFilter(django_filters.Filter):
    field_class = PeriodFormField

    def filter(self, qs, value):
        if value is None:
            return qs
        return qs.filter(period_kind=value.kind, period_start=value.start)


class TargetFilter(django_filters.FilterSet):
    rep = IdFilter(field_name="rep_id")
    team = IdFilter(field_name="team_id")
    period = PeriodFilter(label=PERIOD_HELP)

    class Meta:
        fields = ["rep", "team", "period"]


class QuotaFilter(TargetFilter):
    class Meta(TargetFilter.Meta):
        model = Quota


class ProjectionFilter(TargetFilter):
    class Meta(TargetFilter.Meta):
        model = Projection


# --- views ----------------------------------------------------------------------

WRITE_RESPONSES = {400: BAD_INPUT, 403: SIGNED_OUT_OR_REFUSED, 404: NOT_FOUND, 429: THROTTLED}


def _target_schema(serializer, *, list_summary, create_summary):
    return extend_schema_view(
        list=extend_schema(summary=list_summary),
        retrieve=extend_schema(responses={200: serializer, 404: NOT_FOUND}),
        create=extend_schema(
            summary=create_summary,
            description=_(
                "Creates the row (201), or updates the amount of the one already set for that rep "
                "or team and period (200)."
            ),
            request=TargetInputSerializer,
            responses={201: serializer, 200: serializer, **WRITE_RESPONSES},
        ),
        update=extend_schema(request=TargetAmountSerializer, responses={200: serializer, **WRITE_RESPONSES}),
        partial_update=extend_schema(
            request=TargetAmountSerializer, responses={200: serializer, **WRITE_RESPONSES}
        ),
        destroy=extend_schema(
            responses={204: None, 403: SIGNED_OUT_OR_REFUSED, 404: NOT_FOUND, 429: THROTTLED}
        ),
    )


class _TargetViewSet(WriteThrottleMixin, _Base):
    permission_classes = [IsAuthenticated, IsAdminOrReadOnly]
    ordering_fields = ["period_start", "amount", "id"]
    ordering = ["-period_start", "period_kind", "id"]
    model = None
    setter = None

    def get_queryset(self):
        user = self.request.user
        return self.model.objects.filter(
            Q(rep__in=access.visible_reps(user).values("pk"))
            | Q(team__in=access.visible_teams(user).values("pk"))
        )

    def list(self, request):
        return self.page(self.get_queryset(), self.serializer_class)

    def retrieve(self, request, pk=None):
        return Response(self.serializer_class(self.get_object()).data)

    def create(self, request):
        data = self.parse(TargetInputSerializer)
        try:
            row, created = type(self).setter(
                period=data["period"],
                amount=data["amount"],
                by=request.user,
                rep=data.get("rep"),
                team=data.get("team"),
            )
        except DjangoValidationError as exc:
            raise api_error(exc, {"period_start": "period", "period_kind": "period"}) from exc
        return Response(
            self.serializer_class(row).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    def update(self, request, pk=None, partial=False):
        row = self.get_object()
        amount = self.parse(TargetAmountSerializer, partial=partial).get("amount", row.amount)
        try:
            row, _created = type(self).setter(
                period=row.period, amount=amount, by=request.user, rep=row.rep, team=row.team
            )
        except DjangoValidationError as exc:
            raise api_error(exc) from exc
        return Response(self.serializer_class(row).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        target_delete(row=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@_target_schema(
    QuotaSerializer,
    list_summary=_("The quotas of the reps and teams you may see"),
    create_summary=_("Set the quota of a rep or team for a period (admins)"),
)
@extend_schema(tags=["targets"])
class QuotaViewSet(_TargetViewSet):
    serializer_class = QuotaSerializer
    filterset_class = QuotaFilter
    model = Quota
    setter = staticmethod(partial(target_set, Quota))  # writes: metrics.services


@_target_schema(
    ProjectionSerializer,
    list_summary=_("The projections of the reps and teams you may see"),
    create_summary=_("Set the projection of a rep or team for a period (admins)"),
)
@extend_schema(tags=["targets"])
class ProjectionViewSet(_TargetViewSet):
    serializer_class = ProjectionSerializer
    filterset_class = ProjectionFilter
    model = Projection
    setter = staticmethod(partial(target_set, Projection))
