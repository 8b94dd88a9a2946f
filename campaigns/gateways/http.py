"""The one module that opens sockets for the gateways.

Gateways are called synchronously (from Celery tasks), but they push many requests at once,
so each process runs one background asyncio loop in a daemon thread and every connection
lives on it; connections survive between batches. Two clients:

- `H2Connection`: a thin asyncio + h2 HTTP/2 client for APNs (many concurrent streams on
  one TLS connection; httpx reached ~1,000 requests/s here, too slow for APNs volumes).
- `HttpClient`: httpx's async client for the JSON / form APIs of FCM and the vendors.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import secrets
import ssl
import tempfile
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpx
from django.conf import settings
from hpack import Encoder, NeverIndexedHeaderTuple

from .base import GatewayError

logger = logging.getLogger(__name__)

T = TypeVar("T")

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0


def event_loop() -> asyncio.AbstractEventLoop:
    """This process's gateway loop (a new one after a fork: sockets are not shared)."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="gateway-loop", daemon=True)
            thread.start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the gateway loop and wait for its result."""
    future = asyncio.run_coroutine_threadsafe(coro, event_loop())
    return future.result(timeout)


def ssl_context(*, cert_pem: bytes | None = None, key_pem: bytes | None = None, http2: bool = False) -> ssl.SSLContext:
    """System CAs plus GATEWAY_CA_BUNDLE; optionally a client certificate (APNs cert auth)."""
    context = ssl.create_default_context()
    if settings.GATEWAY_CA_BUNDLE:
        context.load_verify_locations(cafile=settings.GATEWAY_CA_BUNDLE)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if http2:
        context.set_alpn_protocols(["h2"])
    if cert_pem is not None and key_pem is not None:
        _load_client_cert(context, cert_pem, key_pem)
    return context


def _load_client_cert(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    # ssl only loads certificates from files: write the key encrypted under a one-time
    # password, so the secret never touches the disk in clear, and delete the file at once.
    from cryptography.hazmat.primitives import serialization

    password = secrets.token_bytes(32)
    key = serialization.load_pem_private_key(key_pem, password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(cert_pem + b"\n" + encrypted)
        context.load_cert_chain(path, password=password)
    finally:
        os.unlink(path)


UNIQUE_HEADERS = frozenset({":path", "apns-id", "apns-collapse-id", "apns-expiration"})

# --- HTTP/2 ------------------------------------------------------------------------------


@dataclass
class H2Response:
    status: int
    headers: dict[str, str]
    body: bytes


class StreamFailed(Exception):
    """A stream did not complete. `sent` False: the server never processed it (safe to resend)."""

    def __init__(self, reason: str, *, sent: bool = True):
        self.reason = reason
        self.sent = sent
        super().__init__(reason)


class ConnectionRefusedByPeer(ConnectionError):
    """The server closed the connection before its HTTP/2 SETTINGS: with a client
    certificate this is how a refused certificate looks under TLS 1.3."""


class _Stream:
    __slots__ = ("future", "status", "headers", "body")

    def __init__(self, future: asyncio.Future):
        self.future = future
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()


class _PlainEncoder(Encoder):
    """HPACK without Huffman coding: pure-Python Huffman was a fifth of the client's CPU per
    request; the few extra bytes per header do not matter next to it."""

    def encode(self, headers, huffman: bool = False) -> bytes:  # type: ignore[override]
        return super().encode(headers, huffman=False)


class _ClientConnection(h2.connection.H2Connection):
    """h2 counts open streams by walking every stream it knows, for each new stream (O(n) per
    request). We already count our streams in flight; h2's walk (which also forgets closed
    streams) runs only when enough closed ones have piled up."""

    in_flight = 0  # streams opened and not yet finished, counting the one being opened

    @property
    def open_outbound_streams(self) -> int:
        if len(self.streams) > 2 * self.in_flight + 200:
            return super().open_outbound_streams
        return max(0, self.in_flight - 1)


class _H2Protocol(asyncio.Protocol):
    def __init__(self, max_streams: int):
        # We build well-formed lowercase headers ourselves: skip h2's per-header checks (CPU-bound).
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_inbound_headers=False,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self.conn = _ClientConnection(config=config)
        self.conn.encoder = _PlainEncoder()
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        self.max_streams = max_streams
        self.limit = 1  # until the server's SETTINGS arrive (APNs: 1 stream before a valid JWT)
        self.active = 0
        self.slot_waiters: collections.deque[asyncio.Future] = collections.deque()
        self.window_waiters: list[asyncio.Future] = []
        self.closed = False
        self.close_reason = ""
        self.ready = self.loop.create_future()
        self._flush_scheduled = False
        self.last_received = self.loop.time()
        self.timeouts = 0  # streams that timed out in a row (an answer resets it)
        self.pings: dict[bytes, asyncio.Future] = {}

    # transport callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.ENABLE_PUSH: 0}
        )
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(2**24)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.last_received = self.loop.time()
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._terminate(f"protocol error: {exc}")
            return
        for event in events:
            self._handle(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ssl.SSLError) and not self.ready.done():
            # A refused client certificate shows up here (TLS 1.3 alerts after the handshake).
            self.ready.set_exception(exc)
        self._terminate(f"connection lost: {exc}" if exc else "connection closed")

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                for name, value in event.headers:
                    if name == b":status":
                        stream.status = int(value)
                    else:
                        stream.headers[name.decode()] = value.decode()
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.body += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                self.timeouts = 0
                self._release()
                if not stream.future.done():
                    stream.future.set_result(H2Response(stream.status, stream.headers, bytes(stream.body)))
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                self._release()
                # REFUSED_STREAM: the server did not process it.
                refused = event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
                if not stream.future.done():
                    stream.future.set_exception(StreamFailed(f"stream reset {event.error_code!r}", sent=not refused))
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            changed = event.changed_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
            if changed is not None:
                self._set_limit(changed.new_value)
            elif not self.ready.done():
                self._set_limit(self.conn.remote_settings.max_concurrent_streams)
            if not self.ready.done():
                self.ready.set_result(True)
        elif isinstance(event, h2.events.PingAckReceived):
            waiter = self.pings.pop(event.ping_data, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(True)
        elif isinstance(event, h2.events.WindowUpdated):
            waiters, self.window_waiters = self.window_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            # GOAWAY: streams above last_stream_id were never processed; new requests reconnect.
            self.closed = True
            self.close_reason = f"GOAWAY {event.error_code!r}"
            last = event.last_stream_id or 0
            for stream_id in [sid for sid in self.streams if sid > last]:
                stream = self.streams.pop(stream_id)
                self._release()
                if not stream.future.done():
                    stream.future.set_exception(StreamFailed(self.close_reason, sent=False))

    def _set_limit(self, value: int) -> None:
        self.limit = max(1, min(self.max_streams, value if value is not None else self.max_streams))
        self._wake_slots()

    def _release(self) -> None:
        self.active -= 1
        self._wake_slots()
        if self.closed and not self.streams and self.transport is not None and not self.transport.is_closing():
            self.transport.close()  # a retired connection goes once its last stream is done

    def retire(self, reason: str) -> None:
        """No new stream on this connection (the next request opens another); it closes when the
        streams still on it are done."""
        self.closed = True
        self.close_reason = self.close_reason or reason
        if not self.streams and self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abandon(self, stream_id: int) -> None:
        """A stream we stopped waiting for (timeout): RST_STREAM(CANCEL) so the server drops it, and
        its slot is free at once."""
        if self.streams.pop(stream_id, None) is None:
            return
        self._release()
        try:
            self.conn.reset_stream(stream_id, error_code=h2.errors.ErrorCodes.CANCEL)
        except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
            pass
        self._flush()

    async def ping(self, timeout: float) -> bool:
        """PING the server; False when no ACK came within `timeout` (a silently dropped connection)."""
        if self.closed:
            return False
        data = secrets.token_bytes(8)
        waiter = self.loop.create_future()
        self.pings[data] = waiter
        try:
            self.conn.ping(data)
            self._flush()
            async with asyncio.timeout(timeout):
                return await waiter
        except (TimeoutError, h2.exceptions.ProtocolError):
            return False
        finally:
            self.pings.pop(data, None)

    def _wake_slots(self) -> None:
        while self.slot_waiters and self.active < self.limit:
            waiter = self.slot_waiters.popleft()
            if not waiter.done():
                self.active += 1
                waiter.set_result(None)

    def _terminate(self, reason: str) -> None:
        self.closed = True
        self.close_reason = self.close_reason or reason
        if not self.ready.done():
            self.ready.set_exception(StreamFailed(reason, sent=False))
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            if not stream.future.done():
                stream.future.set_exception(StreamFailed(reason, sent=True))
        for waiter in list(self.slot_waiters) + self.window_waiters:
            if not waiter.done():
                waiter.set_exception(StreamFailed(reason, sent=False))
        self.slot_waiters.clear()
        self.window_waiters = []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # writes are coalesced: many streams opened in one loop turn go out in one write
    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._deferred_flush)

    def _deferred_flush(self) -> None:
        self._flush_scheduled = False
        self._flush()

    async def request(self, headers: list[tuple[bytes, bytes]], body: bytes) -> H2Response:
        if self.closed:
            raise StreamFailed(self.close_reason, sent=False)
        if self.active < self.limit and not self.slot_waiters:
            self.active += 1
        else:
            waiter = self.loop.create_future()
            self.slot_waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._release()  # the slot was handed to us as we gave up
                else:
                    try:
                        self.slot_waiters.remove(waiter)
                    except ValueError:
                        pass
                raise
        if self.closed:
            self._release()
            raise StreamFailed(self.close_reason, sent=False)
        self.conn.in_flight = self.active
        stream_id = self.conn.get_next_available_stream_id()
        future = self.loop.create_future()
        self.streams[stream_id] = _Stream(future)
        self.conn.send_headers(stream_id, headers, end_stream=not body)
        view = memoryview(body)
        while view:
            window = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
            if window <= 0:
                self._flush()
                waiter = self.loop.create_future()
                self.window_waiters.append(waiter)
                await waiter
                continue
            chunk, view = view[:window], view[window:]
            self.conn.send_data(stream_id, bytes(chunk), end_stream=not view)
        self._schedule_flush()
        try:
            return await future
        except asyncio.CancelledError:
            # Timed out: reset the stream so it stops holding a slot here and work at the server.
            self.timeouts += 1
            self.abandon(stream_id)
            raise

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            try:
                self.conn.close_connection()
                self._flush()
            except h2.exceptions.ProtocolError:
                pass
            self.transport.close()
        self.closed = True


class H2Connection:
    """One reconnecting HTTP/2 connection to `base_url` (must run on the gateway loop)."""

    def __init__(self, base_url: str, context: ssl.SSLContext, *, max_streams: int = 500, timeout: float = 10.0):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 443
        self.authority = parts.netloc.encode()
        self.context = context
        self.max_streams = max_streams
        self.timeout = timeout
        self._protocol: _H2Protocol | None = None
        self._connecting: asyncio.Future | None = None

    async def _connected(self) -> _H2Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.closed and protocol.loop is asyncio.get_running_loop():
            idle = protocol.loop.time() - protocol.last_received
            if protocol.active or idle < settings.APNS_PING_IDLE_SECONDS:
                return protocol
            # Idle for a while: PING before use, so a connection dropped silently (a NAT, a load
            # balancer) is replaced now instead of timing out every request sent on it.
            if await protocol.ping(min(self.timeout, settings.APNS_PING_TIMEOUT)):
                return protocol
            logger.warning("HTTP/2 connection to %s did not answer a PING: replaced", self.host)
            protocol.retire("no PING answer")
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _connect(self) -> _H2Protocol:
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(
                lambda: _H2Protocol(self.max_streams), self.host, self.port, ssl=self.context, server_hostname=self.host
            ),
            self.timeout,
        )
        try:
            await asyncio.wait_for(protocol.ready, self.timeout)
        except StreamFailed as exc:
            raise ConnectionRefusedByPeer(exc.reason) from exc
        self._protocol = protocol
        return protocol

    async def request(self, method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes) -> H2Response:
        """Send one request; a request the server never processed is resent once on a new connection."""
        for attempt in range(2):
            protocol = await self._connected()
            wire = [
                (b":method", method.encode()),
                (b":scheme", b"https"),
                (b":authority", self.authority),
                NeverIndexedHeaderTuple(b":path", path.encode()),
            ]
            # Per-request values (apns-id, collapse id) are never indexed: they would only churn
            # the HPACK table and make every lookup in it slower.
            wire += [
                NeverIndexedHeaderTuple(name.encode(), value.encode())
                if name in UNIQUE_HEADERS
                else (name.encode(), value.encode())
                for name, value in headers
            ]
            wire.append((b"content-length", str(len(body)).encode()))
            try:
                # asyncio.timeout: no extra task per request as wait_for would create
                async with asyncio.timeout(self.timeout):
                    return await protocol.request(wire, body)
            except StreamFailed as exc:
                if exc.sent or attempt:
                    raise
            except TimeoutError:
                if protocol.timeouts >= settings.APNS_TIMEOUTS_BEFORE_RECONNECT and not protocol.closed:
                    logger.warning(
                        "HTTP/2 connection to %s: %d timeouts in a row, replaced", self.host, protocol.timeouts
                    )
                    protocol.retire("repeated timeouts")
                raise
        raise StreamFailed("unreachable", sent=False)

    def close(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None


# --- HTTP/1.1 JSON / form APIs ---------------------------------------------------------------


class HttpClient:
    """httpx's async client on the gateway loop, with connection errors turned into GatewayError."""

    def __init__(self, *, max_connections: int = 50):
        self.max_connections = max_connections
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is not loop:
            self._client = None  # made on another loop (before a fork): its sockets are not ours
        self._loop = loop
        if self._client is None:
            self._client = httpx.AsyncClient(
                verify=ssl_context(),
                timeout=settings.GATEWAY_TIMEOUT,
                limits=httpx.Limits(
                    max_connections=self.max_connections, max_keepalive_connections=self.max_connections
                ),
            )
        return self._client

    async def post(
        self,
        url: str,
        *,
        data: dict[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return await self._get().post(url, data=data, json=json, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise GatewayError(None, False, f"timeout: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise GatewayError(None, False, f"connection error: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def close(self) -> None:
        if self._client is not None:
            try:
                run(self.aclose(), timeout=5)
            except Exception:  # noqa: BLE001 - closing a dead client must not raise
                logger.debug("closing gateway client failed", exc_info=True)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from django.utils import timezone

    return max(0.0, (when - timezone.now()).total_seconds())
