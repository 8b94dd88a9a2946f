"""The self-built channel under the production command: 2,000 idle long-polls hold no worker.

The README's ASGI server runs as a deployed process. 2,000 devices each hold a signed poll;
meanwhile console pages still answer quickly, and a new push reaches its waiting device
within a second (woken through Redis, not found by a polling loop).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from django.test import Client

from campaigns.models import Device
from tests.apiclient import hold_poll, signed_poll
from tests.delivery.conftest import make_task, run_task

from .conftest import ROOT, free_port, subprocess_env, wait_until

POLLS = 2000


def production_server(env: dict, port: int, log) -> subprocess.Popen:
    """The README's production web command (two workers on this 2-core machine)."""
    command = [sys.executable, "-m", "gunicorn", "-c", "python:console.gunicorn_conf", "console.asgi:application"]
    command += ["-k", "uvicorn.workers.UvicornWorker"]
    command += ["-b", f"127.0.0.1:{port}", "-w", "2", "--backlog", "4096"]
    # A session of its own, so the test can end the master and every worker together.
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def answer_json(raw: bytes) -> dict:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_2000_idle_long_polls_leave_the_console_fast_and_a_push_wakes_its_device(app, channel_admin, tmp_path):
    Device.objects.bulk_create(
        Device(app=app, device_id=f"lp-{i:05d}", platform="android", client_secret=f"lp-secret-{i}")
        for i in range(POLLS)
    )
    browser = Client()
    browser.force_login(channel_admin)
    session = browser.cookies["sessionid"].value
    # With the README's pool of database connections: a poll must hand its connection back
    # before it waits, or a process serves DB_POOL_SIZE polls and then nothing.
    env = subprocess_env(tmp_path, production=True, PUSHDECK_POLL_MAX_WAIT="120", LOG_LEVEL="WARNING", DB_POOL_SIZE="4")
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = production_server(env, port, log)
    base = f"http://127.0.0.1:{port}"
    answers: dict[str, tuple[bytes | None, float]] = {}
    # The polls run on an event loop of their own thread: the test thread may already have one
    # running (the browser tests' Playwright), and its own work here is blocking anyway.
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, name="long-polls", daemon=True)
    runner.start()
    tasks = []
    try:
        assert wait_until(lambda: _up(base), timeout=60), (tmp_path / "server.log").read_text()[-3000:]
        baseline = p95(console_timings(base, session, app, 20))
        requests = {f"lp-{i:05d}": signed_poll(app.app_key, f"lp-{i:05d}", f"lp-secret-{i}", 120) for i in range(POLLS)}
        tasks = [
            asyncio.run_coroutine_threadsafe(hold_poll(port, body, answers, key), loop)
            for key, body in requests.items()
        ]
        # Every poll got past its signature check and now waits (its device marked seen once).
        deadline = time.monotonic() + 90
        while Device.objects.filter(app=app, online=True).count() < POLLS and time.monotonic() < deadline:
            time.sleep(0.5)
        assert Device.objects.filter(app=app, online=True).count() == POLLS
        assert not answers, f"{len(answers)} polls answered before any message: {list(answers.values())[:1]}"

        # Idle polls cost the server nothing: no polling loop, no query, no write. Measured once the
        # last polls have settled (the count above can be reached while their answers still go out).
        time.sleep(2)
        before = server_cpu_seconds(server.pid)
        time.sleep(3)
        assert server_cpu_seconds(server.pid) - before < 0.2

        # Console pages answer while the 2,000 polls wait.
        waiting = p95(console_timings(base, session, app, 40))
        # Under 200 ms; on a machine busy with other work, no slower than half again the same page
        # without the polls, measured just before.
        assert waiting < max(0.2, 1.5 * baseline), f"console p95 {waiting:.3f}s, {baseline:.3f}s without polls"

        # A new push reaches its waiting device in under a second; the others keep waiting.
        run_task(make_task(app, ["lp-00042"]))
        pushed = time.monotonic()
        deadline = pushed + 5
        while "lp-00042" not in answers and time.monotonic() < deadline:
            time.sleep(0.02)
        raw, at = answers["lp-00042"]
        body = answer_json(raw)
        assert body["resultCode"] == 100 and len(body["messages"]) == 1
        assert at - pushed < 1.0, f"woken after {at - pushed:.2f}s"
        time.sleep(0.5)
        assert set(answers) == {"lp-00042"}
    finally:
        for task in tasks:
            task.cancel()
        time.sleep(0.5)
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=10)
        loop.close()
        server.terminate()
        try:
            # Workers finish their open long-polls within gunicorn's graceful timeout (30 s).
            server.wait(timeout=45)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        try:
            os.killpg(server.pid, signal.SIGKILL)  # no worker outlives the test
        except ProcessLookupError:
            pass
        log.close()


def p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


def server_cpu_seconds(master: int) -> float:
    """User + system CPU of the server's worker processes so far."""
    total = 0
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    for pid in [master, *children]:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def console_timings(base: str, session: str, app, count: int) -> list[float]:
    """Seconds each of `count` fetches of the app overview page took (signed in)."""
    timings = []
    with httpx.Client(base_url=base, cookies={"sessionid": session}, timeout=10) as web:
        for _ in range(count):
            started = time.monotonic()
            page = web.get(f"/apps/{app.app_key}/")
            timings.append(round(time.monotonic() - started, 3))
            assert page.status_code == 200 and app.name in page.text
            time.sleep(0.01)
    return timings


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
