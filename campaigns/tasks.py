"""Celery discovers tasks here; each area of the campaigns app defines its own."""

from .delivery.tasks import *  # noqa: F403
from .reports.tasks import *  # noqa: F403
from .retention import purge_old_messages  # noqa: F401
from .sends.tasks import *  # noqa: F403
