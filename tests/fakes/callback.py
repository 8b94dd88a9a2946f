"""A customer's receipt endpoint for the benches: HTTP/1.1 keep-alive on asyncio, in its own process.

It reads each POST, checks the `sign` parameter against the console's public key, and counts
receipts (valid, invalid, distinct msgIds). Optional `delay` seconds before each answer.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from urllib.parse import parse_qs, urlsplit


class _Stats:
    def __init__(self):
        self.received = 0
        self.valid = 0
        self.invalid = 0
        self.msg_ids: set[str] = set()

    def as_dict(self) -> dict:
        return {"received": self.received, "valid": self.valid, "invalid": self.invalid, "distinct": len(self.msg_ids)}


async def _serve(conn, public_pem: str, delay: float) -> None:
    from console.keys import rsa_verify

    stats = _Stats()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                raw = await reader.readexactly(length)
                sign = parse_qs(urlsplit(target).query).get("sign", [""])[0]
                stats.received += 1
                if rsa_verify(public_pem, raw, sign):
                    stats.valid += 1
                    stats.msg_ids.add(json.loads(raw)["msgId"])
                    status = b"200 OK"
                else:
                    stats.invalid += 1
                    status = b"400 Bad Request"
                if delay:
                    await asyncio.sleep(delay)
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    conn.send(f"http://127.0.0.1:{port}/receipts?customer=bench")
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "stop":
            break
        conn.send(stats.as_dict())
    server.close()


def _child_main(conn, public_pem: str, delay: float) -> None:
    import os
    import sys

    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    asyncio.run(_serve(conn, public_pem, delay))


def serve_in_process(public_pem: str, *, delay: float = 0.0):
    """(process, url, stats): stats() returns the child's counters; stats.stop() ends it."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_child_main, args=(child, public_pem, delay), daemon=True)
    process.start()
    url = parent.recv()

    def stats() -> dict:
        parent.send("stats")
        return parent.recv()

    def stop() -> None:
        parent.send("stop")
        process.join(5)

    stats.stop = stop  # type: ignore[attr-defined]
    return process, url, stats
