"""Real Celery worker processes of this project, for the tests and the bench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def start_worker(
    env: dict[str, str],
    *,
    queues: str = "dispatch,default",
    pool: str = "prefork",
    concurrency: int | None = None,
    hostname: str = "",
    loglevel: str = "WARNING",
    heartbeat: bool = False,
    **popen: Any,
) -> subprocess.Popen:
    """Start `celery -A console worker` on `queues` from the repository root; `popen` goes to Popen."""
    command = [sys.executable, "-m", "celery", "-A", "console", "worker", "-Q", queues]
    if hostname:
        command += ["-n", hostname]
    if concurrency is not None:
        command += ["-c", str(concurrency)]
    command += ["-P", pool, "--without-gossip", "--without-mingle"]
    if not heartbeat:
        command.append("--without-heartbeat")
    command += ["-l", loglevel]
    return subprocess.Popen(command, cwd=ROOT, env=env, **popen)
