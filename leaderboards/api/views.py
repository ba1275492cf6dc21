"""The leaderboard API: parse the query string, call one selector, serialize."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboards.selectors import METRICS, leaderboard_for
from metrics.api.views import BAD_QUERY, SIGNED_OUT
from metrics.selectors import ScopeNotFound

from .serializers import LeaderboardQuerySerializer, LeaderboardRowSerializer


class LeaderboardApi(APIView):
    @extend_schema(
        operation_id="leaderboards_list",
        summary=_("Reps ranked by one metric across the company, a team or a territory"),
        description=_(
            "Ranked in the database; ties share a rank. Reps without a value (no attainment "
            "without a quota) are left out; the win rate ranks only reps with at least "
            "LEADERBOARD_MIN_CLOSED_DEALS closed deals. Visible to everyone signed in."
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
        metric = query.validated_data["metric"]
        try:
            rows = leaderboard_for(**query.validated_data)
        except ScopeNotFound as exc:
            raise NotFound() from exc
        context = {"request": request, "kind": METRICS[metric].kind}
        return Response(LeaderboardRowSerializer(rows, many=True, context=context).data)
