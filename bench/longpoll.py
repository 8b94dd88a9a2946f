"""Self-built channel long-polls against the README's production command, started by this script.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<your db> CELERY_BROKER_URL=redis://127.0.0.1:6379/N \\
        python bench/longpoll.py --polls 5000 --wakes 1000

Starts `gunicorn -c python:console.gunicorn_conf console.asgi:application -k
uvicorn.workers.UvicornWorker -w WORKERS` with DEBUG off and a throwaway app with POLLS devices,
each with its device secret. Then:

- every device opens a signed long-poll at once (a connection each, waiting up to 120 s):
  prints polls accepted per second until every device is marked online;
- the server's CPU per second while they wait (no polling loop: it should be about zero);
- p50/p95 of a console page (the app overview, signed in) while they wait, against the same
  page before the polls;
- one push to WAKES of the waiting devices (one task; the engine's dispatch and chunk run in
  this process, as a worker runs them): prints wakes per second and p50/p95/max from the start
  of the dispatch to each device's answer.

Everything it created is deleted (but the audit rows, which cannot be: use a database of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from common import free_port, group_cpu_seconds, percentile, production_env, wait_until_up  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.delivery import dispatch  # noqa: E402
from campaigns.models import (  # noqa: E402
    Delivery,
    Device,
    Message,
    MessageState,
    PushTask,
    PushType,
    StatusEvent,
    TargetType,
    TaskStatus,
)
from console.models import App, Membership, Role  # noqa: E402
from tests.apiclient import hold_poll, signed_poll  # noqa: E402


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def page_timings(base: str, session: str, app: App, count: int) -> list[float]:
    timings = []
    with httpx.Client(base_url=base, cookies={"sessionid": session}, timeout=30) as web:
        for _ in range(count):
            started = time.monotonic()
            page = web.get(f"/apps/{app.app_key}/")
            timings.append(time.monotonic() - started)
            if page.status_code != 200:
                raise SystemExit(f"the console page answered {page.status_code}")
            time.sleep(0.02)
    return timings


def push_to(app: App, device_ids: list[str]) -> PushTask:
    task = PushTask.objects.create(
        app=app,
        name="bench long-poll",
        push_type=PushType.SIMPLE,
        source="console",
        status=TaskStatus.QUEUED,
        target_count=len(device_ids),
    )
    expires = timezone.now() + dt.timedelta(minutes=10)
    Message.objects.bulk_create(
        Message(
            app=app,
            task=task,
            customer_msg_id=f"lp-{task.pk}-{n}",
            push_type=PushType.SIMPLE,
            target_type=TargetType.DEVICE,
            target_id=device_id,
            title="Hello",
            body="World",
            payload={},
            expires_at=expires,
            state=MessageState.PENDING,
        )
        for n, device_id in enumerate(device_ids)
    )
    return task


def run_task(task: PushTask) -> None:
    """The dispatch and every chunk, as a worker runs them."""
    chunks = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunks_enqueued(chunks)
    for kwargs in chunks:
        dispatch.chunk_deliver(**kwargs)


def delete_data(app: App, user) -> None:
    for queryset in (
        StatusEvent.objects.filter(message__app=app),
        Delivery.objects.filter(message__app=app),
        Message.objects.filter(app=app),
        PushTask.objects.filter(app=app),
        Device.objects.filter(app=app),
    ):
        queryset._raw_delete(queryset.db)
    app.delete()
    user.delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polls", type=int, default=5000, help="devices holding a long-poll")
    parser.add_argument("--wakes", type=int, default=1000, help="waiting devices one push goes to")
    parser.add_argument("--workers", type=int, default=4, help="server worker processes (README: -w 4)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the polls' sockets, here and in the server
    if hard < args.polls * 2 + 200:
        raise SystemExit(f"open files are limited to {hard}: lower --polls")

    app = App.objects.create(name=f"bench long-poll {uuid.uuid4().hex[:6]}")
    user = get_user_model().objects.create_user(f"bench-lp-{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex)
    Membership.objects.create(user=user, app=app, role=Role.CHANNEL_ADMIN)
    ids = [f"lp-{i:06d}" for i in range(args.polls)]
    Device.objects.bulk_create(
        (Device(app=app, device_id=d, platform="android", client_secret=f"secret-{d}") for d in ids),
        batch_size=5000,
    )
    browser = Client()
    browser.force_login(user)
    session = browser.cookies["sessionid"].value

    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:console.gunicorn_conf", "console.asgi:application"]
    command += ["-k", "uvicorn.workers.UvicornWorker", "-b", f"127.0.0.1:{port}", "-w", str(args.workers)]
    command += ["--backlog", "8192"]
    env = production_env(ALLOWED_HOSTS="127.0.0.1,localhost", PUSHDECK_POLL_MAX_WAIT="120", LOG_LEVEL="WARNING")
    env.update(DB_POOL_SIZE=os.environ.get("DB_POOL_SIZE", "4"))
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    answers: dict[str, tuple[bytes, float]] = {}
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        wait_until_up(base)
        page_timings(base, session, app, 10)  # warm every worker a little
        load_before = os.getloadavg()[0]
        before = page_timings(base, session, app, 40)

        print(f"signing {args.polls} polls ...", flush=True)
        requests = {d: signed_poll(app.app_key, d, f"secret-{d}", 120) for d in ids}
        started = time.monotonic()
        # Kept: the loop holds its tasks only weakly.
        polls = [asyncio.run_coroutine_threadsafe(hold_poll(port, r, answers, d), loop) for d, r in requests.items()]
        online = Device.objects.filter(app=app, online=True)
        deadline = started + 120
        while online.count() < args.polls and time.monotonic() < deadline:
            time.sleep(0.1)
        held = online.count()
        assert len(polls) == args.polls
        accept_seconds = time.monotonic() - started
        early = len(answers)

        cpu_before = group_cpu_seconds(server.pid)
        time.sleep(5)
        idle_cpu = (group_cpu_seconds(server.pid) - cpu_before) / 5
        during = page_timings(base, session, app, 40)

        wake_ids = ids[: args.wakes]
        task = push_to(app, wake_ids)
        pushed = time.monotonic()
        run_task(task)
        dispatched = time.monotonic() - pushed
        deadline = time.monotonic() + 60
        while sum(1 for d in wake_ids if d in answers) < len(wake_ids) and time.monotonic() < deadline:
            time.sleep(0.01)
        woken = [answers[d][1] - pushed for d in wake_ids if d in answers and b'"messages"' in (answers[d][0] or b"")]
        others = len(answers) - len([d for d in wake_ids if d in answers]) - early
    finally:
        asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=10)
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    print()
    print(
        f"server: gunicorn -c python:console.gunicorn_conf console.asgi:application -k uvicorn.workers.UvicornWorker "
        f"-w {args.workers}; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"long-polls held: {held}/{args.polls} in {accept_seconds:.1f} s ({held / accept_seconds:,.0f} polls/s "
        f"accepted, signature checked, device marked online); answered before any message: {early}"
    )
    print(f"server CPU while {held} polls wait: {idle_cpu * 1000:.0f} ms per second")
    print(
        f"console page (app overview): p50 {percentile(before, 50) * 1000:.0f} ms, p95 "
        f"{percentile(before, 95) * 1000:.0f} ms without polls | p50 {percentile(during, 50) * 1000:.0f} ms, "
        f"p95 {percentile(during, 95) * 1000:.0f} ms with {held} waiting"
    )
    if woken:
        print(
            f"one push to {len(wake_ids)} waiting devices: {len(woken)} woken with their message, "
            f"{len(woken) / max(woken):,.0f} wakes/s; from the dispatch start p50 {percentile(woken, 50) * 1000:.0f} "
            f"ms, p95 {percentile(woken, 95) * 1000:.0f} ms, max {max(woken) * 1000:.0f} ms "
            f"(dispatch and chunk in this process took {dispatched * 1000:.0f} ms); other polls answered: {others}"
        )
    print(f"at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    delete_data(app, user)


if __name__ == "__main__":
    main()
