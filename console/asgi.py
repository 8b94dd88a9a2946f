"""ASGI entry point: the console and both APIs, and the self-built channel's long-poll served
on the event loop (campaigns.delivery.longpoll) so idle polls hold no thread."""

import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django.setup(set_prefix=False)


class Handler(ASGIHandler):
    """Django's ASGI handler, running every request's middleware and view on the process's one
    sync thread, as a sync worker would. Django's own starts a thread for each request (a
    thread-sensitive context of its own): under 50 concurrent API calls a process switched
    between a dozen threads for the one core it has, and every thread set up its own
    thread-locals (the broker producer, ...) again."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP connections only, not {scope['type']}")
        await self.handle(scope, receive, send)


django_application = Handler()

from campaigns.delivery import longpoll  # noqa: E402 - after Django is set up


async def application(scope, receive, send):
    if longpoll.handles(scope):
        return await longpoll.application(scope, receive, send)
    return await django_application(scope, receive, send)
