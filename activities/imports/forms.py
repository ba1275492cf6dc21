"""The upload form of the import page: what the file holds, the file, an optional mapping, dry run."""

from __future__ import annotations

import json
from pathlib import Path

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from activities.models import ImportJob

from .uploads import MAX_MAPPING_BYTES, too_big_message

EXTENSIONS = (".csv", ".xlsx")


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"))
    file = forms.FileField(
        label=_("File"),
        help_text=_("A .csv (UTF-8) or .xlsx file whose first row names the columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(EXTENSIONS)}),
    )
    mapping = forms.FileField(
        label=_("Column mapping (optional)"),
        required=False,
        help_text=_(
            "When your columns differ from ours: a JSON object such as "
            '{"columns": {"Sales person": "rep"}, "date_format": "%d/%m/%Y"}.'
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )
    dry_run = forms.BooleanField(
        label=_("Dry run (check only)"),
        required=False,
        help_text=_("Check every row and show the report without writing anything."),
    )

    def __init__(self, *args, kinds: tuple[str, ...], refused: int | None = None, **kwargs):
        """`refused`: the limit the upload handler stopped the file at (it was not received)."""
        super().__init__(*args, **kwargs)
        # Only the kinds the viewer may import are offered, and only they are valid.
        self.fields["kind"].choices = [(kind, ImportJob.Kind(kind).label) for kind in kinds]
        self.refused = refused
        if refused is not None:
            self.fields["file"].required = False

    def clean_file(self):
        if self.refused is not None:
            raise forms.ValidationError(too_big_message(self.refused), code="too_big")
        upload = self.cleaned_data["file"]
        if Path(upload.name).suffix.lower() not in EXTENSIONS:
            raise forms.ValidationError(
                _("Only .csv and .xlsx files can be imported; “%(name)s” is neither."),
                code="extension",
                params={"name": upload.name},
            )
        limit = settings.SALESTRACK_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is %(size)s; files of at most %(limit)s can be uploaded."),
                code="too_big",
                params={"size": filesizeformat(upload.size), "limit": filesizeformat(limit)},
            )
        if upload.size == 0:
            raise forms.ValidationError(_("The file is empty."), code="empty")
        return upload

    def clean_mapping(self):
        upload = self.cleaned_data.get("mapping")
        if not upload:
            return None
        if upload.size > MAX_MAPPING_BYTES:
            raise forms.ValidationError(
                _("A mapping file is at most %(limit)s."),
                code="too_big",
                params={"limit": filesizeformat(MAX_MAPPING_BYTES)},
            )
        try:
            mapping = json.loads(upload.read().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(_("The mapping file is not UTF-8 text."), code="encoding") from exc
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                _("The mapping file is not valid JSON: %(reason)s (line %(line)s, column %(column)s)."),
                code="json",
                params={"reason": exc.msg, "line": exc.lineno, "column": exc.colno},
            ) from exc
        if not isinstance(mapping, dict):
            # Its keys and fields are checked by the import engine, against the kind of file.
            raise forms.ValidationError(
                _('The mapping must be a JSON object, e.g. {"columns": {"Sales person": "rep"}}.'),
                code="shape",
            )
        return mapping
