"""Service errors as API errors: a Django ValidationError becomes 400 `{field: [messages]}`.

The services name model fields; the API names its own fields, so a few are renamed
(a move's `to_stage` is the request's `stage`), and the "already exists" violation of
the external-id constraints, which Django reports for the whole object, is put on
`external_id`, where the caller can act on it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import UniqueConstraint
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers
from rest_framework.settings import api_settings

from activities.models import Activity, Deal


def _external_id_messages() -> set[str]:
    messages = set()
    for model in (Activity, Deal):
        for constraint in model._meta.constraints:
            if isinstance(constraint, UniqueConstraint) and "external_id" in constraint.fields:
                messages.add(str(constraint.get_violation_error_message()))
    return messages


def error_dict(exc: DjangoValidationError, rename: dict[str, str] | None = None) -> dict[str, list[str]]:
    """The messages of a service's ValidationError, keyed by the API's field names."""
    rename = rename or {}
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in exc.messages]}
    external = _external_id_messages()
    errors: dict[str, list[str]] = {}
    for field, messages in exc.message_dict.items():
        for message in messages:
            if field == NON_FIELD_ERRORS:
                key = "external_id" if message in external else api_settings.NON_FIELD_ERRORS_KEY
            else:
                key = rename.get(field, field)
            errors.setdefault(key, []).append(message)
    return errors


def api_error(
    exc: DjangoValidationError, rename: dict[str, str] | None = None
) -> serializers.ValidationError:
    return serializers.ValidationError(error_dict(exc, rename))


class BodyTooLarge(exceptions.APIException):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413, naming the limit (Django alone would answer 400)."""

    status_code = 413
    default_code = "too_large"

    def __init__(self):
        super().__init__(
            _("The request body is larger than %(limit)s, the most this API accepts.")
            % {"limit": filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}
        )
