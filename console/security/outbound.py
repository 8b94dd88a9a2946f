"""The one guarded client for outbound requests a user can aim (callback URLs, URLs from uploads).

- Only http and https, no user name or password in the URL.
- The host is resolved once; every address it resolves to must be public: loopback, private,
  link-local, shared (CGNAT), multicast, reserved and cloud metadata addresses are refused,
  unless the operator lists their network in OUTBOUND_ALLOWED_NETWORKS (tests and the demo
  allow 127.0.0.0/8, where their fakes listen).
- The connection goes to the checked address (the host name is still sent as Host and as the
  TLS server name, so certificates are verified as usual): a name that resolves to something
  else a moment later (DNS rebinding) changes nothing.
- Redirects are never followed, so a redirect cannot lead to a refused address.
- Errors are reported without the network's own words (no port-scan oracle): "refused
  destination", "could not connect", "timed out", or the HTTP status of a public server.
"""

from __future__ import annotations

import http.client
import ipaddress
import select
import socket
import ssl
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services answer on these besides the link-local 169.254.169.254.
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_METADATA_NET = ipaddress.ip_network("169.254.169.254/32")
MAX_ANSWER_BYTES = 64 * 1024  # of an answer read before its connection is reused


class RefusedDestination(ValueError):
    """The URL may not be requested; `reason` is a short code, `message` says why to a person."""

    def __init__(self, reason: str, message):
        super().__init__(str(message))
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Destination:
    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for entry in settings.OUTBOUND_ALLOWED_NETWORKS:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return networks


def address_refused(address: IPAddress) -> bool:
    """True when the address is not a public one (and its network is not explicitly allowed)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES or (address.version == 4 and address in _METADATA_NET):
        return True
    if any(address.version == net.version and address in net for net in allowed_networks()):
        return False
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or address in METADATA_ADDRESSES
        or (address.version == 4 and address in _SHARED)
        or not address.is_global
    )


def check_url(url: str) -> tuple[str, str, int]:
    """The URL's own rules (no DNS): http(s), a host, no user info, a valid port. (scheme, host, port)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise RefusedDestination("scheme", _("The URL must start with http:// or https://."))
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise RefusedDestination("host", _("The URL has no host name."))
    if parts.username or parts.password:
        raise RefusedDestination("userinfo", _("The URL must not contain a user name or password."))
    if host in METADATA_HOSTS:
        raise RefusedDestination("metadata", _("The URL points at a cloud metadata service."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedDestination("port", _("The URL has an invalid port.")) from None
    return parts.scheme, host, port


def resolve(url: str) -> Destination:
    """Check the URL and resolve its host once; every address must be allowed. The first is used."""
    scheme, host, port = check_url(url)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError, OSError):
            raise RefusedDestination(
                "resolve", _("The host name %(host)s does not resolve.") % {"host": host}
            ) from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise RefusedDestination("resolve", _("The host name %(host)s does not resolve.") % {"host": host})
    for address in addresses:
        if address_refused(address):
            raise RefusedDestination(
                "address",
                _("The URL points at %(addr)s, a loopback, private, link-local or cloud metadata address.")
                % {"addr": address},
            )
    return Destination(url=url.strip(), scheme=scheme, host=host, port=port, address=addresses[0])


# Every printable ASCII character stays as it is in a request target; the rest is %-encoded.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_MAX_LINE = 65536
_MAX_HEADERS = 100


class _Connection:
    """One keep-alive HTTP/1.1 connection for small POSTs.

    A request goes out in one write (head and body together, TCP_NODELAY), and the answer's head
    is read by a small parser: per receipt this costs a fraction of http.client, which writes
    head and body in two segments and parses headers with the email package. Raises OSError
    (a timeout is a TimeoutError) or http.client.HTTPException as http.client would.
    """

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.reader = sock.makefile("rb")

    @classmethod
    def open(cls, address: str, port: int, *, timeout: float, tls: tuple[ssl.SSLContext, str] | None) -> _Connection:
        sock = socket.create_connection((address, port), timeout=timeout)  # the checked address
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:  # verified for the URL's host name (TLS server name and certificate)
                context, server_name = tls
                sock = context.wrap_socket(sock, server_hostname=server_name)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def still_open(self) -> bool:
        """An idle connection can be reused: nothing to read (a server that closed it would make
        its socket readable)."""
        try:
            readable, _w, _x = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def post(self, request: bytes) -> tuple[int, bool]:
        """Send a whole request; (the answer's status, whether the connection can be reused)."""
        self.sock.sendall(request)
        while True:
            version, status, headers = self._read_head()
            if not (100 <= status < 200) or status == 101:
                break  # 1xx interim answers (100 Continue) come before the real one
        reusable = self._skip_body(status, headers)
        if headers.get("connection", "").lower() == "close":
            reusable = False
        elif version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
            reusable = False
        return status, reusable

    def _readline(self) -> bytes:
        line = self.reader.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        return line

    def _read_head(self) -> tuple[str, int, dict[str, str]]:
        line = self._readline()
        if not line:
            raise http.client.RemoteDisconnected("Remote end closed connection without response")
        parts = line.decode("iso-8859-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
            raise http.client.BadStatusLine(repr(line[:80]))
        headers: dict[str, str] = {}
        for _count in range(_MAX_HEADERS + 1):
            line = self._readline()
            if line in (b"\r\n", b"\n", b""):
                return parts[0], int(parts[1]), headers
            name, _sep, value = line.decode("iso-8859-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")

    def _skip_body(self, status: int, headers: dict[str, str]) -> bool:
        """Read (and drop) the answer's body; False when the connection cannot be reused: the
        body ends with the connection, is longer than MAX_ANSWER_BYTES, or ended early."""
        if status in (204, 304):
            return True
        if "chunked" in headers.get("transfer-encoding", "").lower():
            total = 0
            while True:
                size_line = self._readline().split(b";", 1)[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise http.client.IncompleteRead(b"") from None
                if size == 0:
                    while self._readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return True
                total += size
                if total > MAX_ANSWER_BYTES:
                    return False
                if len(self.reader.read(size + 2)) < size + 2:
                    return False
        length = headers.get("content-length")
        if length is None:  # the body runs to the end of the connection: a bounded look, then drop it
            self.reader.read(MAX_ANSWER_BYTES + 1)
            return False
        try:
            size = int(length)
        except ValueError:
            return False
        if size < 0 or size > MAX_ANSWER_BYTES:
            return False  # a huge answer is not read
        return len(self.reader.read(size)) == size


class _Pool:
    """Idle keep-alive connections to one checked address; at most `maxsize` requests at once."""

    def __init__(self, connect, maxsize: int, host_header: str):
        self._connect = connect
        self._host = host_header
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(maxsize)
        self._closed = False

    def _take(self) -> _Connection:
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if connection.still_open():
                    return connection
                connection.close()
        return self._connect()

    def _give_back(self, connection: _Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()

    def post(self, target: str, body: bytes, headers: dict[str, str]) -> int:
        head = f"POST {target} HTTP/1.1\r\nHost: {self._host}\r\nContent-Length: {len(body)}\r\n"
        for name, value in headers.items():
            if any(c in value for c in "\r\n\0") or any(c in name for c in ":\r\n\0 "):
                raise ValueError(f"invalid header {name!r}")
            head += f"{name}: {value}\r\n"
        request = (head + "\r\n").encode("iso-8859-1") + body
        with self._slots:
            connection = self._take()
            try:
                status, reusable = connection.post(request)
            except BaseException:
                connection.close()
                raise
            if reusable:
                self._give_back(connection)
            else:
                connection.close()  # the server closes it, or more is left to read
            return status

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class Pools:
    """Keep-alive connection pools to checked addresses, one per (scheme, address, port, host name).

    A pool connects to the address `resolve()` checked; the host name is still sent as Host and
    as the TLS server name, and the certificate is verified for it. Thread-safe; a process keeps
    at most `limit` pools (the oldest is closed first). Each connection is a `_Connection`:
    receipts send one small POST each, so the client's own cost per POST is what counts.
    """

    def __init__(self, *, maxsize: int, timeout: float, limit: int = 256):
        self.maxsize = maxsize
        self.timeout = timeout
        self.limit = limit
        self._pools: OrderedDict[tuple, _Pool] = OrderedDict()
        self._lock = threading.Lock()

    def _new(self, dest: Destination) -> _Pool:
        address, port, timeout = str(dest.address), dest.port, self.timeout
        tls = (ssl.create_default_context(), dest.host) if dest.scheme == "https" else None

        def connect() -> _Connection:
            return _Connection.open(address, port, timeout=timeout, tls=tls)

        host = f"[{dest.host}]" if ":" in dest.host else dest.host
        default = 443 if dest.scheme == "https" else 80
        return _Pool(connect, self.maxsize, host if port == default else f"{host}:{port}")

    def get(self, dest: Destination) -> _Pool:
        key = (dest.scheme, dest.address, dest.port, dest.host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = self._new(dest)
                while len(self._pools) > self.limit:
                    self._pools.popitem(last=False)[1].close()
            return pool

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()


def describe_error(exc: Exception) -> str:
    """A failure in words that say nothing about the network behind the address."""
    if isinstance(exc, RefusedDestination):
        return f"refused destination ({exc.reason})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return "could not connect"


def request_target(url: str) -> str:
    """The path and query of `url` as a request line names them (what is not ASCII %-encoded)."""
    parts = urlsplit(url)
    return quote(urlunsplit(("", "", parts.path or "/", parts.query, "")), safe=_TARGET_SAFE)


def post_to(
    pools: Pools, destination: Destination, target: str, *, content: bytes, headers: dict[str, str] | None = None
) -> int:
    """POST to `target` (a `request_target`, to which only printable ASCII was added) at an
    address `resolve()` checked, through a pooled keep-alive connection; the HTTP status.

    For many POSTs to one URL: the URL is parsed once, not per POST."""
    if not (target.isascii() and target.isprintable()) or " " in target:
        raise ValueError("a request target is printable ASCII without spaces")
    return pools.get(destination).post(target, content, headers or {})


def post(
    pools: Pools,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str] | None = None,
    destination: Destination | None = None,
) -> int:
    """POST to the checked address of `url` through a pooled keep-alive connection; the HTTP status.

    `destination` is a `resolve()` of the same host done just before (a batch resolves once);
    without it the URL is resolved now. Never follows a redirect. Raises RefusedDestination for
    a refused URL, OSError or http.client.HTTPException for a failed connection.
    """
    return post_to(pools, destination or resolve(url), request_target(url), content=content, headers=headers)
