"""Read-only metrics API: parse the query string, call one selector, serialize. One class per operation."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics.models import Scope
from metrics.selectors import ScopeNotFound, funnel_for, metric_rows_for

from .serializers import (
    FunnelQuerySerializer,
    FunnelStageSerializer,
    GroupMetricRowSerializer,
    MetricRowSerializer,
    MetricsQuerySerializer,
)

BAD_QUERY = OpenApiResponse(
    description=_("A parameter is missing or wrong: the body maps each parameter to the reasons.")
)
SIGNED_OUT = OpenApiResponse(description=_("Not signed in (session) and no valid token."))


def row_serializer_for(scope: str) -> type[MetricRowSerializer]:
    return MetricRowSerializer if scope == Scope.REP else GroupMetricRowSerializer


class MetricsApi(APIView):
    @extend_schema(
        operation_id="metrics_list",
        summary=_("Metrics of every rep, team or territory you may see, or of the company"),
        description=_(
            "One object per scope object the caller may see, ordered by name. Money is a decimal "
            "string with two places; fractions are 0-1 and null where undefined. A period not "
            "computed yet gives an empty list."
        ),
        parameters=[MetricsQuerySerializer],
        responses={
            200: PolymorphicProxySerializer(
                component_name="MetricRowByScope",
                serializers={scope: row_serializer_for(scope) for scope in Scope.values},
                resource_type_field_name="scope",
                many=True,
            ),
            400: BAD_QUERY,
            403: SIGNED_OUT,
        },
        tags=["metrics"],
    )
    def get(self, request: Request) -> Response:
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = metric_rows_for(viewer=request.user, **query.validated_data)
        return Response(row_serializer_for(query.validated_data["scope"])(rows, many=True).data)


class FunnelApi(APIView):
    @extend_schema(
        operation_id="funnel_list",
        summary=_("The funnel of one rep, team, territory or the company"),
        description=_(
            "The funnel stages in order, for the deals opened in the period. 404 when the object "
            "does not exist or the caller may not see it. A period not computed yet gives an empty list."
        ),
        parameters=[FunnelQuerySerializer],
        responses={
            200: FunnelStageSerializer(many=True),
            400: BAD_QUERY,
            403: SIGNED_OUT,
            404: OpenApiResponse(description=_("No such object, or not yours to see.")),
        },
        tags=["metrics"],
    )
    def get(self, request: Request) -> Response:
        query = FunnelQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            stages = funnel_for(viewer=request.user, **query.validated_data)
        except ScopeNotFound as exc:
            raise NotFound() from exc
        return Response(FunnelStageSerializer(stages, many=True).data)
