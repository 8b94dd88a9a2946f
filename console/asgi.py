"""ASGI entry point: the console and both APIs, and the self-built channel's long-poll served
on the event loop (campaigns.delivery.longpoll) so idle polls hold no thread."""

import os

import django
from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse
from django.urls import set_script_prefix

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django.setup(set_prefix=False)


class Handler(ASGIHandler):
    """Django's ASGI handler, with a request's sync work done in one step on the process's one
    sync thread, as a sync worker does it: the request_started signal, the (sync) middleware
    chain and the view, and for a response already whole the request_finished signal (the
    database connection goes back to the pool before the answer is sent).

    Django's own handler starts a thread for each request (a thread-sensitive context of its
    own) and crosses between the event loop and that thread five times a request (the
    signals, the middleware, URL resolving, the view, closing): under 50 concurrent API calls
    a process switched between a dozen threads for the one core it had. All this project's
    views and middleware are sync, so nothing runs on the loop but reading the body and
    sending the answer. Streamed responses are sent and closed as Django does."""

    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP connections only, not {scope['type']}")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            try:
                await self.send_response(response, send)
            finally:
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response = error_response if request is None else self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size  # the ASGI server does its own chunking
        if not response.streaming:
            response.close()
        return response


django_application = Handler()

from campaigns.delivery import longpoll  # noqa: E402 - after Django is set up


async def application(scope, receive, send):
    if longpoll.handles(scope):
        return await longpoll.application(scope, receive, send)
    return await django_application(scope, receive, send)
