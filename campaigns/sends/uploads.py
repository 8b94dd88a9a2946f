"""Upload size limits enforced while the request streams in, not after it is stored."""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class SizeLimitHandler(FileUploadHandler):
    """Counts the bytes of each file as they arrive and stops the upload past `limit`.

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
    from django.core.files.uploadhandler import TemporaryFileUploadHandler

    request.upload_handlers = [SizeLimitHandler(request, limit), TemporaryFileUploadHandler(request)]
