"""Upload size limits enforced while the request streams in, before the body is stored.

Every view that accepts a file is decorated with `upload_limit(bytes)`: the limit handler goes
in front of Django's own before anything reads the body (so before the CSRF check, which reads
request.POST), counts the bytes of the files as they arrive and stops the upload past the
limit. The rest of the body is drained, never stored; the view finds
`request.upload_too_large` set and answers with `too_large_message(limit)`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.files.uploadhandler import FileUploadHandler, StopUpload, TemporaryFileUploadHandler
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect


class SizeLimitHandler(FileUploadHandler):
    """Counts the bytes of the files as they arrive and stops the upload past `limit`.

    Placed first in request.upload_handlers; the view reads `request.upload_too_large`.
    """

    def __init__(self, request, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        request.upload_too_large = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # A declared body far over the limit is refused at its first chunk.
        if content_length and content_length > self.limit + 1024 * 1024:
            self.received = self.limit
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.request.upload_too_large = True
            # The rest of the body is drained, never stored, so the browser gets our answer.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


def limit_uploads(request, limit: int) -> None:
    """Stream files to disk (never memory) and stop them past `limit` bytes."""
    request.upload_too_large = False
    request.upload_limit = limit
    request.upload_handlers = [SizeLimitHandler(request, limit), TemporaryFileUploadHandler(request)]


def upload_limit(limit: int | Callable[[], int]):
    """Decorator of a view that accepts files: the limit is in place before the body is read.

    CSRF is still checked, after the handlers are set (csrf_exempt outside, csrf_protect inside).
    `limit` is a number of bytes or a callable giving it (read at request time, from settings).
    """

    def decorator(view):
        protected = csrf_protect(view)

        @wraps(view)
        def wrapper(request, *args, **kwargs):
            limit_uploads(request, limit() if callable(limit) else limit)
            return protected(request, *args, **kwargs)

        return csrf_exempt(wrapper)

    return decorator


def too_large(request) -> bool:
    return bool(getattr(request, "upload_too_large", False))


def too_large_message(request) -> str:
    return _("The upload is larger than %(size)s; nothing was stored.") % {
        "size": filesizeformat(getattr(request, "upload_limit", 0))
    }
