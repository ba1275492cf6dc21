"""The activities and deals API, and the organisation it refers to (read only).

Thin like the pages: rows are read through `activities.selectors` / `activities.access`
(visible_*), changed only through editable_* and the services, which validate and mark
the days the metrics engine must redo. A row the caller may not see answers 404; a row
they see but may not change (a manager looking at a rep's entry) answers 403.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from activities import access, querystring, selectors, services
from activities.models import ActivityType, Product, Source

from . import bulk
from .errors import BodyTooLarge, api_error
from .filters import MAX_ID, ActivityFilter, DealFilter, RepFilter, StableOrderingFilter, TeamFilter
from .permissions import IsRepForCreate
from .serializers import (
    AccountSerializer,
    ActivityBulkInputSerializer,
    ActivityInputSerializer,
    ActivitySerializer,
    ActivityTypeSerializer,
    ActivityUpdateSerializer,
    BulkErrorsSerializer,
    BulkInputSerializer,
    BulkResultsSerializer,
    DealBulkInputSerializer,
    DealInputSerializer,
    DealMoveSerializer,
    DealSerializer,
    DealStageChangeSerializer,
    DealUpdateSerializer,
    ProductSerializer,
    RepAssignmentSerializer,
    RepMoveSerializer,
    RepSerializer,
    StageSerializer,
    TeamSerializer,
    TerritorySerializer,
)
from .throttles import WriteThrottleMixin

BAD_INPUT = OpenApiResponse(
    description=_("Bad input: the body maps each field at fault to the reasons ({field: [messages]}).")
)
SIGNED_OUT_OR_REFUSED = OpenApiResponse(
    description=_("Not signed in, or not allowed (e.g. not the rep who owns the row, not an admin).")
)
NOT_FOUND = OpenApiResponse(description=_("No such row, or not yours to see."))
THROTTLED = OpenApiResponse(description=_("Too many writes; retry after the Retry-After seconds."))
WRITE_RESPONSES = {400: BAD_INPUT, 403: SIGNED_OUT_OR_REFUSED, 404: NOT_FOUND, 429: THROTTLED}
STALE_RESPONSES = {
    409: OpenApiResponse(
        description=_(
            "The body's version is not the row's any more: nothing was saved; "
            "the answer holds the current row."
        )
    ),
    412: OpenApiResponse(description=_("If-Match names another version than the row's: nothing was saved.")),
}
BULK_RESPONSES = {
    200: BulkResultsSerializer,
    400: OpenApiResponse(
        response=BulkErrorsSerializer,
        description=_("Nothing was written: every bad item with its index and {field: [messages]}."),
    ),
    403: SIGNED_OUT_OR_REFUSED,
    429: THROTTLED,
}


class Pagination(PageNumberPagination):
    """`?page=` and `?page_size=` as the pages read them: a page the list has, else 400 naming it."""

    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request):
        return self._read(
            querystring.positive_int,
            self.page_size_query_param,
            request.query_params.get(self.page_size_query_param),
            default=self.page_size,
            maximum=self.max_page_size,
        )

    def get_page_number(self, request, paginator):
        return self._read(querystring.page_number, request.query_params, paginator)

    @staticmethod
    def _read(parse, *args, **kwargs):
        try:
            return parse(*args, **kwargs)
        except querystring.QueryError as exc:
            raise ValidationError({exc.name: [str(exc)]}) from None


class _Base(viewsets.GenericViewSet):
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    lookup_value_regex = r"[0-9]+"

    def get_object(self):
        # An id beyond the database's integers names no row (and must not reach the database).
        if int(self.kwargs[self.lookup_url_kwarg or self.lookup_field]) > MAX_ID:
            raise NotFound()
        return super().get_object()

    def parse(self, serializer_class, **kwargs):
        try:
            data = self.request.data
        except RequestDataTooBig as exc:
            raise BodyTooLarge() from exc
        serializer = serializer_class(data=data, context=self.get_serializer_context(), **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def page(self, queryset, serializer_class):
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(serializer_class(page, many=True).data)


def etag(row) -> str:
    """A deal's or activity's entity tag: its version (bumped by every save through the services)."""
    return f'"{row.version}"'


def if_match_version(request) -> int | None:
    """The version an If-Match header names: None without the header (or with *), 0 for one that
    names no version of ours (so it matches none)."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    tag = raw.strip()
    if len(tag) > 2 and tag[0] == tag[-1] == '"' and tag[1:-1].isdigit():
        return int(tag[1:-1])
    return 0


class _WritableBase(WriteThrottleMixin, _Base):
    permission_classes = [IsAuthenticated, IsRepForCreate]
    editable = None  # access.editable_activities / editable_deals

    def editable_object(self):
        """A row the caller sees (else 404) and may change (else 403)."""
        row = self.get_object()
        if not type(self).editable(self.request.user).filter(pk=row.pk).exists():
            raise PermissionDenied(_("Only the rep who logged this may change it."))
        return row

    def rep(self):
        return access.rep_of(self.request.user)

    def save_versioned(self, write, output_class, *, body_version: int | None):
        """`write(version)` under the version the caller last read: If-Match's (412 when the row moved
        on) or else the body's `version` (409 with the current row); neither writes as before."""
        header = if_match_version(self.request)
        try:
            row = write(header if header is not None else body_version)
        except services.StaleVersion as exc:
            current = exc.current
            message = _(
                "This %(model)s changed since you read it: it is at version %(current)s now. "
                "Nothing was saved."
            ) % {"model": current._meta.verbose_name, "current": current.version}
            headers = {"ETag": etag(current)}
            if header is not None:
                return Response(
                    {"detail": message}, status=status.HTTP_412_PRECONDITION_FAILED, headers=headers
                )
            body = {"version": [message], "current": output_class(current).data}
            return Response(body, status=status.HTTP_409_CONFLICT, headers=headers)
        except DjangoValidationError as exc:
            raise api_error(exc) from exc
        return Response(output_class(row).data, headers={"ETag": etag(row)})


# --- activities -------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary=_("The activities you may see, newest first")),
    retrieve=extend_schema(summary=_("One activity"), responses={200: ActivitySerializer, 404: NOT_FOUND}),
    create=extend_schema(
        summary=_("Log an activity (reps only, for themselves)"),
        request=ActivityInputSerializer,
        responses={201: ActivitySerializer, **WRITE_RESPONSES},
    ),
    update=extend_schema(
        summary=_("Edit one of your activities"),
        request=ActivityUpdateSerializer,
        responses={200: ActivitySerializer, **WRITE_RESPONSES, **STALE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary=_("Edit some fields of one of your activities"),
        request=ActivityUpdateSerializer,
        responses={200: ActivitySerializer, **WRITE_RESPONSES, **STALE_RESPONSES},
    ),
    destroy=extend_schema(
        summary=_("Delete one of your activities"),
        responses={204: None, 403: SIGNED_OUT_OR_REFUSED, 404: NOT_FOUND, 429: THROTTLED},
    ),
)
@extend_schema(tags=["activities"])
class ActivityViewSet(_WritableBase):
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    ordering_fields = ["occurred_at", "duration_minutes", "created_at", "id"]
    ordering = ["-occurred_at", "-id"]
    editable = staticmethod(access.editable_activities)

    def get_queryset(self):
        return selectors.activity_list_for(viewer=self.request.user)

    def list(self, request):
        return self.page(self.get_queryset(), ActivitySerializer)

    def retrieve(self, request, pk=None):
        activity = self.get_object()
        return Response(ActivitySerializer(activity).data, headers={"ETag": etag(activity)})

    def create(self, request):
        data = self.parse(ActivityInputSerializer)
        data.pop("rep", None)
        data.setdefault("source", Source.API)
        try:
            activity = services.activity_log(rep=self.rep(), **data)
        except DjangoValidationError as exc:
            raise api_error(exc) from exc
        return Response(ActivitySerializer(activity).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        activity = self.editable_object()
        data = self.parse(ActivityUpdateSerializer, partial=partial)
        body_version = data.pop("version", None)
        return self.save_versioned(
            lambda version: services.activity_update(activity=activity, version=version, **data),
            ActivitySerializer,
            body_version=body_version,
        )

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        services.activity_delete(activity=self.editable_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary=_("Log or update up to 1000 activities, all or nothing"),
        description=_(
            "Each item is an activity as for POST /activities/. An item whose external_id (and "
            "source, api unless told) names one of your activities updates it; the others are "
            "created. On any error nothing is written and the answer lists every bad item."
        ),
        request=ActivityBulkInputSerializer,
        responses=BULK_RESPONSES,
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def bulk(self, request):
        items = self.parse(BulkInputSerializer)["items"]
        outcome = bulk.activities_bulk(user=request.user, items=items, context=self.get_serializer_context())
        if outcome.errors:
            return Response({"errors": outcome.errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"results": outcome.results})


# --- deals ------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary=_("The deals you may see, newest first")),
    retrieve=extend_schema(summary=_("One deal"), responses={200: DealSerializer, 404: NOT_FOUND}),
    create=extend_schema(
        summary=_("Open a deal (reps only, for themselves)"),
        request=DealInputSerializer,
        responses={201: DealSerializer, **WRITE_RESPONSES},
    ),
    update=extend_schema(
        summary=_("Edit one of your deals (not its stage: see move)"),
        request=DealUpdateSerializer,
        responses={200: DealSerializer, **WRITE_RESPONSES, **STALE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary=_("Edit some fields of one of your deals (not its stage: see move)"),
        request=DealUpdateSerializer,
        responses={200: DealSerializer, **WRITE_RESPONSES, **STALE_RESPONSES},
    ),
    destroy=extend_schema(
        summary=_("Delete one of your deals"),
        responses={204: None, 403: SIGNED_OUT_OR_REFUSED, 404: NOT_FOUND, 429: THROTTLED},
    ),
)
@extend_schema(tags=["deals"])
class DealViewSet(_WritableBase):
    serializer_class = DealSerializer
    filterset_class = DealFilter
    ordering_fields = ["opened_on", "closed_on", "expected_close_on", "amount", "name", "created_at", "id"]
    ordering = ["-opened_on", "-id"]
    editable = staticmethod(access.editable_deals)

    def get_queryset(self):
        return selectors.deal_list_for(viewer=self.request.user)

    def list(self, request):
        return self.page(self.get_queryset(), DealSerializer)

    def retrieve(self, request, pk=None):
        deal = self.get_object()
        return Response(DealSerializer(deal).data, headers={"ETag": etag(deal)})

    def create(self, request):
        data = self.parse(DealInputSerializer)
        data.pop("owner", None)
        data.setdefault("source", Source.API)
        try:
            deal = services.deal_open(owner=self.rep(), by=request.user, **data)
        except DjangoValidationError as exc:
            raise api_error(exc) from exc
        return Response(DealSerializer(deal).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        deal = self.editable_object()
        data = self.parse(DealUpdateSerializer, partial=partial)
        body_version = data.pop("version", None)
        return self.save_versioned(
            lambda version: services.deal_update(deal=deal, version=version, **data),
            DealSerializer,
            body_version=body_version,
        )

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        services.deal_delete(deal=self.editable_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary=_("Move one of your deals to another stage"),
        description=_(
            "Recorded in the deal's stage history, by you. Entering a won or lost stage sets "
            "closed_on (today unless given) and may confirm the final amount; moving back to an "
            "open stage reopens the deal."
        ),
        request=DealMoveSerializer,
        responses={200: DealSerializer, **WRITE_RESPONSES},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def move(self, request, pk=None):
        deal = self.editable_object()
        data = self.parse(DealMoveSerializer)
        try:
            deal = services.deal_move_stage(
                deal=deal,
                to_stage=data["stage"],
                by=request.user,
                closed_on=data.get("closed_on"),
                amount=data.get("amount"),
            )
        except DjangoValidationError as exc:
            raise api_error(exc, {"to_stage": "stage"}) from exc
        return Response(DealSerializer(deal).data)

    @extend_schema(
        summary=_("The stage history of a deal, oldest first"),
        responses={200: DealStageChangeSerializer(many=True), 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, pk=None):
        changes = selectors.deal_stage_history(deal=self.get_object())
        return Response(DealStageChangeSerializer(changes, many=True).data)

    @extend_schema(
        summary=_("Open or update up to 1000 deals, all or nothing"),
        description=_(
            "Each item is a deal as for POST /deals/. An item whose external_id (and source, api "
            "unless told) names one of your deals updates its details and, when its stage differs, "
            "moves it (with closed_on); the others are opened. On any error nothing is written "
            "and the answer lists every bad item."
        ),
        request=DealBulkInputSerializer,
        responses=BULK_RESPONSES,
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def bulk(self, request):
        items = self.parse(BulkInputSerializer)["items"]
        outcome = bulk.deals_bulk(user=request.user, items=items, context=self.get_serializer_context())
        if outcome.errors:
            return Response({"errors": outcome.errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"results": outcome.results})


# --- the organisation (read only) ------------------------------------------


class _ReadOnly(_Base, viewsets.ReadOnlyModelViewSet):
    ordering_fields = ["name", "id"]
    ordering = ["name", "id"]


@extend_schema(tags=["organisation"])
class RepViewSet(WriteThrottleMixin, _ReadOnly):
    """The reps you may see: yourself (a rep), your teams' reps (a manager), everyone (an admin)."""

    serializer_class = RepSerializer
    filterset_class = RepFilter
    ordering_fields = ["id", "hired_on"]
    ordering = None  # the model's: by name

    def get_queryset(self):
        return access.visible_reps(self.request.user)

    @extend_schema(
        summary=_("The rep's team history, oldest first: the teams the figures credit, from each day on"),
        responses={200: RepAssignmentSerializer(many=True), 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def assignments(self, request, pk=None):
        rep = self.get_object()
        history = rep.assignments.order_by(F("starts_on").asc(nulls_first=True))
        return Response(RepAssignmentSerializer(history, many=True).data)

    @extend_schema(
        summary=_("Move a rep to another team from a day on (admins only)"),
        description=_(
            "Credit at the time: periods before moved_on keep the rep's figures with the old team; "
            "from that day on they count for the new one. Without moved_on the move takes effect "
            "today. A move on a day that already has one corrects it. Answers the team history."
        ),
        request=RepMoveSerializer,
        responses={200: RepAssignmentSerializer(many=True), **WRITE_RESPONSES},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def move(self, request, pk=None):
        rep = self.get_object()
        if not access.is_admin(request.user):
            raise PermissionDenied(_("Only admins move reps to another team."))
        data = self.parse(RepMoveSerializer)
        moved = {"territory": data["territory"]} if "territory" in data else {}
        try:
            services.rep_move(
                rep=rep, team=data["team"], from_day=data.get("moved_on"), by=request.user, **moved
            )
        except DjangoValidationError as exc:
            raise api_error(exc, {"from_day": "moved_on"}) from exc
        return self.assignments(request, pk)


@extend_schema(tags=["organisation"])
class TeamViewSet(_ReadOnly):
    """The teams you may see: your own (a rep), those you manage (a manager), all (an admin)."""

    serializer_class = TeamSerializer
    filterset_class = TeamFilter

    def get_queryset(self):
        return access.visible_teams(self.request.user)


@extend_schema(tags=["organisation"])
class TerritoryViewSet(_ReadOnly):
    """The territories of the reps you may see (all for an admin)."""

    serializer_class = TerritorySerializer

    def get_queryset(self):
        return access.visible_territories(self.request.user)


@extend_schema(tags=["organisation"])
class AccountViewSet(_ReadOnly):
    """The customers: the company's shared list, for everyone signed in."""

    serializer_class = AccountSerializer

    def get_queryset(self):
        return access.selectable_accounts(self.request.user)


@extend_schema(tags=["organisation"])
class ProductViewSet(_ReadOnly):
    serializer_class = ProductSerializer

    def get_queryset(self):
        return Product.objects.all()


@extend_schema(tags=["organisation"])
class StageViewSet(_ReadOnly):
    """The pipeline stages in order."""

    serializer_class = StageSerializer
    ordering_fields = ["order", "id"]
    ordering = ["order"]

    def get_queryset(self):
        return selectors.stages_in_order()


@extend_schema(tags=["organisation"])
class ActivityTypeViewSet(_ReadOnly):
    """Every activity type, retired ones included (is_active false: no longer loggable)."""

    serializer_class = ActivityTypeSerializer
    ordering_fields = ["order", "name", "id"]
    ordering = ["order", "name"]

    def get_queryset(self):
        return ActivityType.objects.all()
