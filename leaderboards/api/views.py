"""The leaderboard API: parse the query string, call one selector, serialize."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboards.selectors import MetricUndefined, UnknownMetric, leaderboard_for, metric_named
from metrics.api.views import BAD_QUERY, SIGNED_OUT
from metrics.selectors import ScopeNotFound

from .serializers import LeaderboardQuerySerializer, LeaderboardRowSerializer


class LeaderboardApi(APIView):
    @extend_schema(
        operation_id="leaderboards_list",
        summary=_("Reps ranked by one metric across the company, a team or a territory"),
        description=_(
            "Ranked in the database; ties share a rank. The period is a calendar month, quarter or "
            "year, an ISO week, a day or a range of days; movement compares with the span just "
            "before of the same length. Reps without a value (no attainment without a quota) are "
            "left out; the win rate ranks only reps with at least LEADERBOARD_MIN_CLOSED_DEALS "
            "closed deals. Attainment is ranked over calendar periods only (400 otherwise). "
            "Visible to everyone signed in."
        ),
        parameters=[LeaderboardQuerySerializer],
        responses={
            200: LeaderboardRowSerializer(many=True),
            400: BAD_QUERY,
            403: SIGNED_OUT,
            404: OpenApiResponse(description=_("No such team or territory.")),
        },
        tags=["leaderboards"],
    )
    def get(self, request: Request) -> Response:
        query = LeaderboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        metric, span = query.validated_data["metric"], query.validated_data["period"]
        try:
            rows = leaderboard_for(**query.validated_data)
        except ScopeNotFound as exc:
            raise NotFound() from exc
        except UnknownMetric as exc:  # pragma: no cover - the serializer refuses these first
            raise ValidationError(
                {"metric": [gettext("This is not a metric a leaderboard can rank by.")]}
            ) from exc
        except MetricUndefined as exc:
            # As the page: quotas are per calendar period, so attainment over a week or a range has no board.
            raise ValidationError(
                {
                    "period": [
                        gettext(
                            "Quota attainment cannot be ranked over %(period)s: quotas are set per "
                            "calendar month, quarter and year. Choose a month, a quarter or a year."
                        )
                        % {"period": span.key}
                    ]
                }
            ) from exc
        context = {"request": request, "kind": metric_named(metric).kind}
        return Response(LeaderboardRowSerializer(rows, many=True, context=context).data)
