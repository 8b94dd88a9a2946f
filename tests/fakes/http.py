"""Base of the HTTP/1.1 fakes (FCM, vendors): a threaded server on 127.0.0.1:0 that records
every request and answers through `handle()`; tests script answers with `fail_next()`."""

from __future__ import annotations

import collections
import json
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes/str as is
    headers: dict[str, str] | None = None


class ManyClientsServer(ThreadingHTTPServer):
    # The default listen backlog of 5 resets connections when a gateway opens many at once.
    request_queue_size = 256
    daemon_threads = True


class FakeHttpServer(ABC):
    """Subclasses implement `handle(request) -> Reply`; `send_paths` are the scripted ones."""

    send_paths: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self.answers: list[tuple[HttpRequest, Reply]] = []  # every request with the answer it got
        self.next_replies: collections.deque[Reply] = collections.deque()
        self.invalid_tokens: set[str] = set()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """The next send request gets this HTTP answer."""
        self.next_replies.append(Reply(status, body, headers))

    def requests_to(self, suffix: str) -> list[HttpRequest]:
        return [r for r in self.requests if urlsplit(r.path).path.endswith(suffix)]

    @abstractmethod
    def handle(self, request: HttpRequest) -> Reply:
        """The answer to one request (subclasses speak their service's protocol)."""

    def _dispatch(self, request: HttpRequest) -> Reply:
        with self.lock:
            self.requests.append(request)
            scripted = self.next_replies and any(urlsplit(request.path).path.endswith(p) for p in self.send_paths)
            reply = self.next_replies.popleft() if scripted else None
        reply = reply or self.handle(request)
        with self.lock:
            self.answers.append((request, reply))
        return reply

    def answers_to(self, suffix: str) -> list[Reply]:
        """The answers given to the requests whose path ends with `suffix`, in order."""
        with self.lock:
            return [reply for request, reply in self.answers if urlsplit(request.path).path.endswith(suffix)]

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = fake._dispatch(HttpRequest(self.command, self.path, headers, body))
                data = reply.body
                content_type = "application/json"
                if data is None:
                    data = b""
                elif isinstance(data, (dict, list)):
                    data = json.dumps(data).encode()
                elif isinstance(data, str):
                    data = data.encode()
                    content_type = "text/plain"
                self.send_response(reply.status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                for name, value in (reply.headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_POST = _serve
            do_GET = _serve

        self._server = ManyClientsServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
