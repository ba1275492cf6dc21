"""Bulk writes of the API: many activities or deals in one request, all or nothing.

Each item goes through the same services as a single write
(`services.activity_upsert` / `deal_upsert`). An item with an `external_id` (and
`source`, `api` unless told) that names one of the caller's own rows updates it, so
posting the same batch twice writes nothing the second time. Every item is tried, so
the answer lists every bad one; any error rolls the whole batch back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from activities import access, services
from activities.models import Source

from .errors import error_dict
from .serializers import ActivityInputSerializer, DealInputSerializer


@dataclass
class BulkOutcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


class _Rollback(Exception):
    pass


def _identity(data: dict, seen: set, editable) -> tuple[str, str, object]:
    """The item's source and external id, and the caller's row they name (None: a new row)."""
    source = data.pop("source", Source.API)
    external_id = data.pop("external_id", "")
    if not external_id:
        return source, external_id, None
    if (source, external_id) in seen:
        raise ValidationError({"external_id": _("This external id appears twice in this request.")})
    seen.add((source, external_id))
    return source, external_id, editable.filter(source=source, external_id=external_id).first()


def _activity_upsert(*, user, rep, data: dict, seen: set):
    data.pop("rep", None)
    source, external_id, existing = _identity(data, seen, access.editable_activities(user))
    return services.activity_upsert(
        existing=existing,
        rep=rep,
        source=source,
        external_id=external_id,
        fields=data,
        updatable=ActivityInputSerializer.UPDATABLE,
    )


def _deal_upsert(*, user, rep, data: dict, seen: set):
    data.pop("owner", None)
    source, external_id, existing = _identity(data, seen, access.editable_deals(user))
    try:
        return services.deal_upsert(
            existing=existing,
            owner=rep,
            by=user,
            source=source,
            external_id=external_id,
            fields=data,
            updatable=DealInputSerializer.UPDATABLE,
        )
    except ValidationError as exc:
        # The field of the request is `stage`, the move's is `to_stage`.
        raise ValidationError(error_dict(exc, {"to_stage": "stage"})) from exc


def _bulk(*, user, items: list, serializer_class, upsert, context: dict) -> BulkOutcome:
    rep = access.rep_of(user)
    outcome = BulkOutcome()
    seen: set = set()
    try:
        with transaction.atomic():
            for index, item in enumerate(items):
                parsed = serializer_class(data=item, context=context)
                if not parsed.is_valid():
                    outcome.errors.append({"index": index, "errors": parsed.errors})
                    continue
                try:
                    row, status = upsert(user=user, rep=rep, data=dict(parsed.validated_data), seen=seen)
                except ValidationError as exc:
                    outcome.errors.append({"index": index, "errors": error_dict(exc)})
                    continue
                outcome.results.append({"index": index, "id": row.pk, "status": status})
            if outcome.errors:
                raise _Rollback
    except _Rollback:
        outcome.results = []
    return outcome


def activities_bulk(*, user, items: list, context: dict) -> BulkOutcome:
    return _bulk(
        user=user,
        items=items,
        serializer_class=ActivityInputSerializer,
        upsert=_activity_upsert,
        context=context,
    )


def deals_bulk(*, user, items: list, context: dict) -> BulkOutcome:
    return _bulk(
        user=user, items=items, serializer_class=DealInputSerializer, upsert=_deal_upsert, context=context
    )
