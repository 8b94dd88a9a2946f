"""A fake APNs: a real HTTP/2 TLS server (h2 on asyncio) in a thread on 127.0.0.1:0.

It checks what Apple checks (path, topic, push type, payload size, the client certificate
or the ES256 provider JWT), records every request and answers as scripted:

    fake.script["<token>"] = Answer(410, "Unregistered")
    fake.script["<token>"] = [Answer(429, "TooManyRequests", retry_after=1), Answer()]  # in turn, last sticks
    fake.script["<token>"] = Answer(delay=0.5)  # a slow answer (the stream stays open meanwhile)
    fake.next_answers.append(Answer(429, "TooManyRequests", retry_after=7))
"""

from __future__ import annotations

import asyncio
import collections
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
from hpack import Encoder, NeverIndexedHeaderTuple

from .pki import Pki


@dataclass(frozen=True)
class Answer:
    status: int = 200
    reason: str = ""
    retry_after: float | None = None
    delay: float = 0.0  # seconds before the answer is sent


@dataclass
class ApnsRequest:
    path: str
    token: str
    headers: dict[str, str]
    body: bytes
    auth: str  # "certificate" | "token"
    client_subject: str = ""
    at: float = field(default_factory=time.time)

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class _Stream:
    headers: list = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


class _PlainEncoder(Encoder):
    """No Huffman coding: it costs more CPU than anything else per response."""

    def encode(self, headers, huffman: bool = False) -> bytes:  # type: ignore[override]
        return super().encode(headers, huffman=False)


class _ServerProtocol(asyncio.Protocol):
    def __init__(self, fake: FakeApns):
        self.fake = fake
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(
                client_side=False,
                header_encoding=None,
                validate_inbound_headers=False,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
            )
        )
        self.conn.encoder = _PlainEncoder()
        self.streams: dict[int, _Stream] = {}
        self.transport: asyncio.Transport | None = None
        self.client_subject = ""
        self.client_topics: set[str] = set()
        self.stalled = False  # a connection dropped silently: reads everything, answers nothing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.fake.connections += 1
        self.fake.protocols.add(self)
        peer = transport.get_extra_info("peercert")
        if peer:
            for rdn in peer.get("subject", ()):
                for key, value in rdn:
                    if key == "userId":
                        self.client_topics.add(value)
                    if key == "commonName":
                        self.client_subject = value
        # Like APNs: a connection without a client certificate gets one stream until its
        # first valid provider token, then the full limit.
        self.token_pending = not self.client_topics
        self.conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1 if self.token_pending else self.fake.max_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**20,
            },
        )
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(2**24)
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        if self.stalled:
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = _Stream(headers=event.headers)
                if event.stream_ended:
                    self._respond(event.stream_id)
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._respond(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.fake.resets += 1
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.transport.close()
        data = self.conn.data_to_send()
        if data:
            self.transport.write(data)

    def _respond(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is None:
            return
        headers = {k.decode(): v.decode() for k, v in stream.headers}
        status, reason, extra, delay = self.fake.handle(self, headers, bytes(stream.body))
        if delay:
            asyncio.get_running_loop().call_later(delay, self._answer, stream_id, headers, status, reason, extra)
        else:
            self._answer(stream_id, headers, status, reason, extra)

    def _answer(self, stream_id: int, headers: dict, status: int, reason: str, extra: dict) -> None:
        if self.transport is None or self.transport.is_closing() or self.stalled:
            return
        try:
            self._send_answer(stream_id, headers, status, reason, extra)
        except h2.exceptions.StreamClosedError:
            return  # the client reset the stream (it gave up waiting): nothing to answer

    def _send_answer(self, stream_id: int, headers: dict, status: int, reason: str, extra: dict) -> None:
        if self.token_pending and status != 403 and headers.get("authorization"):
            self.token_pending = False
            self.fake.stream_limit_raised += 1
            self.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.fake.max_streams})
        apns_id = headers.get("apns-id") or str(uuid.uuid4())
        out = [(b":status", str(status).encode()), NeverIndexedHeaderTuple(b"apns-id", apns_id.encode())]
        out += [(k.encode(), v.encode()) for k, v in extra.items()]
        if status == 200:
            self.conn.send_headers(stream_id, out, end_stream=True)
        else:
            body = {"reason": reason}
            if status == 410:
                body["timestamp"] = int(time.time() * 1000)
            data = json.dumps(body).encode()
            out.append((b"content-type", b"application/json"))
            self.conn.send_headers(stream_id, out)
            self.conn.send_data(stream_id, data, end_stream=True)
        data = self.conn.data_to_send()
        if data:
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.streams.clear()
        self.fake.protocols.discard(self)

    def goaway(self) -> None:
        self.conn.close_connection()
        self.transport.write(self.conn.data_to_send())
        self.transport.close()


class FakeApns:
    """Start with `start()`, point APNS_*_URL at `url`, stop with `stop()`."""

    def __init__(
        self,
        pki: Pki,
        *,
        require_client_cert: bool = False,
        token_keys: dict[str, tuple[str, str]] | None = None,
        max_streams: int = 1000,
        record: bool = True,
    ):
        self.pki = pki
        self.require_client_cert = require_client_cert
        # key id -> (team id, public key PEM) of the .p8 keys the fake accepts
        self.token_keys = dict(token_keys or {})
        self.max_streams = max_streams
        self.record = record
        self.requests: list[ApnsRequest] = []
        self.script: dict[str, Answer] = {}
        self.next_answers: collections.deque[Answer] = collections.deque()
        self.count = 0
        self.connections = 0
        self.protocols: set[_ServerProtocol] = set()
        self.stream_limit_raised = 0
        self.resets = 0  # RST_STREAM frames received from clients
        self.seen_apns_ids: collections.Counter[str] = collections.Counter()
        self.count_ids = False
        self._valid_jwts: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # --- the APNs rules ---
    def handle(self, proto: _ServerProtocol, headers: dict[str, str], body: bytes) -> tuple[int, str, dict, float]:
        self.count += 1
        path = headers.get(":path", "")
        token = path.rsplit("/", 1)[-1] if path.startswith("/3/device/") else ""
        authorization = headers.get("authorization", "")
        auth = "token" if authorization else "certificate"
        if self.count_ids:
            self.seen_apns_ids[headers.get("apns-id", "")] += 1
        if self.record:
            self.requests.append(ApnsRequest(path, token, headers, body, auth, proto.client_subject))
        if headers.get(":method") != "POST":
            return 405, "MethodNotAllowed", {}, 0.0
        if not path.startswith("/3/device/"):
            return 404, "BadPath", {}, 0.0
        if not token:
            return 400, "MissingDeviceToken", {}, 0.0
        topic = headers.get("apns-topic", "")
        if authorization:
            problem = self._check_jwt(authorization)
            if problem:
                return 403, problem, {}, 0.0
            if not topic:
                return 400, "MissingTopic", {}, 0.0
        elif not proto.client_topics:
            return 403, "MissingProviderToken", {}, 0.0
        elif topic and topic not in proto.client_topics:
            return 400, "TopicDisallowed", {}, 0.0
        if not body:
            return 400, "PayloadEmpty", {}, 0.0
        if len(body) > 4096:
            return 413, "PayloadTooLarge", {}, 0.0
        if headers.get("apns-push-type", "alert") not in {"alert", "background", "voip", "liveactivity"}:
            return 400, "InvalidPushType", {}, 0.0
        answer = self.next_answers.popleft() if self.next_answers else self.script.get(token)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if answer is None:
            return 200, "", {}, 0.0
        extra = {"retry-after": str(answer.retry_after)} if answer.retry_after is not None else {}
        return answer.status, answer.reason, extra, answer.delay

    def _check_jwt(self, authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "MissingProviderToken"
        now = time.time()
        issued = self._valid_jwts.get(token)
        if issued is None:
            try:
                header = jwt.get_unverified_header(token)
                team_id, public_pem = self.token_keys[header.get("kid", "")]
                claims = jwt.decode(token, public_pem, algorithms=["ES256"], options={"verify_iat": False})
            except (KeyError, jwt.PyJWTError):
                return "InvalidProviderToken"
            if header.get("alg") != "ES256" or claims.get("iss") != team_id or "iat" not in claims:
                return "InvalidProviderToken"
            issued = float(claims["iat"])
            self._valid_jwts[token] = issued
        if now - issued > 3600:
            return "ExpiredProviderToken"
        return ""

    @property
    def jwts_seen(self) -> list[str]:
        return list(self._valid_jwts)

    # --- lifecycle ---
    def _context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.pki.server_cert_file, self.pki.server_key_file)
        context.set_alpn_protocols(["h2"])
        context.load_verify_locations(cafile=self.pki.ca_file)
        context.verify_mode = ssl.CERT_REQUIRED if self.require_client_cert else ssl.CERT_OPTIONAL
        return context

    def start(self) -> FakeApns:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                loop.create_server(lambda: _ServerProtocol(self), "127.0.0.1", 0, ssl=self._context())
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-apns", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def goaway(self) -> None:
        """Send GOAWAY on every open connection and close it (as APNs does when it recycles one)."""
        done = threading.Event()

        def run() -> None:
            for protocol in list(self.protocols):
                protocol.goaway()
            done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def stall(self) -> None:
        """Every connection open now stops answering (frames and PINGs), without closing: what a
        silently dropped connection looks like to the client. New connections answer."""
        done = threading.Event()

        def run() -> None:
            for protocol in list(self.protocols):
                protocol.stalled = True
            done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeApns:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_in_process(pki: Pki, *, require_client_cert: bool = False, token_keys=None, max_streams: int = 1000):
    """Run a fake APNs in a child process (its own GIL: benches measure the client, not the fake).

    Returns (process, url, stats): stats() asks the child for (requests, connections, duplicate apns-ids).
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    import types

    files = types.SimpleNamespace(
        ca_file=pki.ca_file, server_cert_file=pki.server_cert_file, server_key_file=pki.server_key_file
    )
    process = ctx.Process(
        target=_child_main, args=(child, files, require_client_cert, token_keys, max_streams), daemon=True
    )
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


def _child_main(conn, pki, require_client_cert, token_keys, max_streams) -> None:
    fake = FakeApns(
        pki, require_client_cert=require_client_cert, token_keys=token_keys, max_streams=max_streams, record=False
    )
    fake.count_ids = True
    fake.start()
    conn.send(fake.url)
    while True:
        command = conn.recv()
        if command == "stats":
            duplicates = sum(n - 1 for n in fake.seen_apns_ids.values() if n > 1)
            conn.send(
                {
                    "requests": fake.count,
                    "connections": fake.connections,
                    "duplicates": duplicates,
                    "cpu_seconds": time.process_time(),
                }
            )
        else:
            fake.stop()
            conn.send("stopped")
            return
