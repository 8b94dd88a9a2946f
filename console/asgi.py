"""ASGI entry point: the console and both APIs, and the self-built channel's long-poll served
on the event loop (campaigns.delivery.longpoll) so idle polls hold no thread."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django_application = get_asgi_application()

from campaigns.delivery import longpoll  # noqa: E402 - after Django is set up


async def application(scope, receive, send):
    if longpoll.handles(scope):
        return await longpoll.application(scope, receive, send)
    return await django_application(scope, receive, send)
