"""The self-built channel's long-poll as a bare ASGI endpoint (console.asgi routes its path here).

Signature, limits and input are checked by the same code as every client call (`poll_prepare`,
in the thread pool); then the poll waits on its device's wake-up on the event loop, holding
no thread, no database connection and no worker while it is idle. Thousands of idle polls
cost one Redis subscription per process.
"""

from __future__ import annotations

import io
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest

from campaigns.codes import ApiCode
from console.apisign import api_response

from . import selfbuilt
from .device_api import PollTicket, poll_prepare

logger = logging.getLogger(__name__)

PATH = "/api/v1/client/poll"


def handles(scope: dict) -> bool:
    return scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST"


async def _body(receive) -> bytes | None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            chunks = [b"x" * (limit + 1)]  # the signed pipeline refuses it with 413
            if not message.get("more_body"):
                break
            continue
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def application(scope, receive, send) -> None:
    body = await _body(receive)
    if body is None:
        return
    request = ASGIRequest(scope, io.BytesIO(body))
    in_pool = sync_to_async(thread_sensitive=False)
    prepared = await in_pool(selfbuilt.released(poll_prepare))(request)
    if isinstance(prepared, PollTicket):
        try:
            messages = await selfbuilt.device_poll_async(device=prepared.device, wait=prepared.wait)
            response = api_response(ApiCode.SUCCESS, messages=messages)
        except Exception:
            logger.exception("long-poll failed")
            response = api_response(ApiCode.SYSTEM_ERROR, "internal error")
    else:
        response = prepared
    response["Content-Length"] = str(len(response.content))
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
