"""Run the same thing in several threads released at one moment (each with its own database connection)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def at_the_same_moment(work: Callable[[], object], times: int = 2) -> list:
    """What `work` returned in each of `times` threads started together by a barrier."""
    from django.db import connection

    barrier = threading.Barrier(times)
    results: list = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
