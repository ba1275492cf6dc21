"""Uploads over the limit are refused while they stream in, not after they have arrived.

`LimitedUploadHandler` (settings.FILE_UPLOAD_HANDLERS) writes each uploaded file to a
temporary file, as Django's own handler does, and stops reading the request:

- before the first file, when the request announces (Content-Length) more than a file of
  SALESTRACK_IMPORT_MAX_BYTES and a mapping file can take: only the fields sent before the
  file (the CSRF token, the kind) are read;
- as soon as one file passes SALESTRACK_IMPORT_MAX_BYTES: the bytes after it are never read
  and the partial temporary file is deleted.

The request then carries `upload_refused` (the limit in bytes) and no file, and the view
answers 413 with `too_big_message()`; nothing of a refused upload is stored.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

# What a request may hold besides the file: the mapping file (see forms.MAX_MAPPING_BYTES),
# the other fields and the multipart boundaries.
MAX_MAPPING_BYTES = 256 * 1024
OVERHEAD_BYTES = MAX_MAPPING_BYTES + 64 * 1024


def upload_limit() -> int:
    return settings.SALESTRACK_IMPORT_MAX_BYTES


def too_big_message(limit: int) -> str:
    return _("The file is larger than %(limit)s, the largest file that can be uploaded.") % {
        "limit": filesizeformat(limit)
    }


def upload_refused(request) -> int | None:
    """The limit an upload of `request` was refused for (reading request.FILES first), or None."""
    request.FILES  # noqa: B018 (parses the body, which runs the handler)
    return getattr(request, "upload_refused", None)


class LimitedUploadHandler(TemporaryFileUploadHandler):
    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.limit = upload_limit()
        self.announced_too_big = content_length is not None and content_length > self.limit + OVERHEAD_BYTES

    def new_file(self, *args, **kwargs):
        if self.announced_too_big:
            self._refuse()
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.upload_interrupted()
            self._refuse()
        return super().receive_data_chunk(raw_data, start)

    def _refuse(self):
        if self.request is not None:
            self.request.upload_refused = self.limit
        # connection_reset: Django must not read (exhaust) the rest of the body.
        raise StopUpload(connection_reset=True)
