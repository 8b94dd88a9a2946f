"""The README's production web command as a fleet of API callers meets it: keep-alive
connections spread over every worker, and an app's configuration changed anywhere applies to
the next signed call in every worker (what each process keeps of an app, console.appcache)."""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

from console.keys import generate_rsa_pair
from console.models import KeyConfig
from tests.apiclient import SignedClient, enable_server_api

from .conftest import subprocess_env, wait_until
from .test_ops import _gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _workers(master: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{master}\n" in status:
                children.append(int(entry.name))
    return children


def _owners(port: int, client_ports: set[int], pids: list[int]) -> Counter:
    """How many of the connections from `client_ports` to `port` each process holds."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) in client_ports:
            inodes.add(inode)
    owners: Counter = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                owners[pid] += 1
    return owners


def test_keep_alive_connections_are_spread_over_every_worker(tmp_path):
    """40 clients connect at once and keep their connections: each of the 3 workers holds some,
    none most. (With the one socket gunicorn shares, the worker that woke first took them all.)"""
    server, port = _gunicorn(tmp_path, subprocess_env(tmp_path, production=True), workers=3)
    clients = []
    try:
        assert wait_until(lambda: _up(f"http://127.0.0.1:{port}"), timeout=60), (tmp_path / "gunicorn.log").read_text()
        assert wait_until(lambda: len(_workers(server.pid)) == 3, timeout=30)
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        owners = _owners(port, {c.getsockname()[1] for c in clients}, _workers(server.pid))
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.wait(timeout=20)
    assert sum(owners.values()) == 40, owners
    assert len(owners) == 3 and max(owners.values()) <= 24, owners


def _signed(app, private_pem: str) -> dict[str, str]:
    body = b"{}"
    signer = SignedClient(None, app, private_pem=private_pem)
    headers = signer.headers("POST", "/api/v1/ping", body)
    return {key[5:].replace("_", "-").title(): value for key, value in headers.items()}


def test_a_changed_app_configuration_applies_to_the_next_call_in_every_worker(tmp_path, app):
    private_pem = enable_server_api(app)
    server, port = _gunicorn(tmp_path, subprocess_env(tmp_path, production=True), workers=2)
    base = f"http://127.0.0.1:{port}"

    def codes(pem: str, calls: int = 12) -> set[int]:
        # A connection each, so the calls reach both workers.
        answers = set()
        for _ in range(calls):
            with httpx.Client(base_url=base, timeout=10) as web:
                reply = web.post("/api/v1/ping", content=b"{}", headers=_signed(app, pem))
                answers.add(json.loads(reply.content)["resultCode"])
        return answers

    try:
        assert wait_until(lambda: _up(base), timeout=60), (tmp_path / "gunicorn.log").read_text()
        assert codes(private_pem) == {100}  # every worker has read the app now
        config = KeyConfig.objects.get(app=app)
        config.api_enabled = False
        config.save()
        assert codes(private_pem) == {3032}
        new_private, new_public = generate_rsa_pair()
        config.api_enabled, config.customer_public_key = True, new_public
        config.save()
        assert codes(private_pem) == {-1}  # the old key no longer signs
        assert codes(new_private) == {100}
        app.delete()
        assert codes(new_private) == {3007}  # an app deleted is unknown at once
    finally:
        server.terminate()
        server.wait(timeout=20)
