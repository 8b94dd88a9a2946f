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
from urllib.parse import urlsplit, urlunsplit

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


class _TlsConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, verified for the URL's host name (TLS server name and certificate)."""

    def __init__(self, address: str, port: int, *, server_name: str, timeout: float, context: ssl.SSLContext):
        super().__init__(address, port, timeout=timeout, context=context)
        self.server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP to the checked address
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection can be reused: connected, and nothing to read (a server that
    closed it would make its socket readable)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _w, _x = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class _Pool:
    """Idle keep-alive connections to one checked address; at most `maxsize` requests at once."""

    def __init__(self, connect, maxsize: int):
        self._connect = connect
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(maxsize)
        self._closed = False

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if _still_open(connection):
                    return connection
                connection.close()
        return self._connect()

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()

    def post(self, target: str, body: bytes, headers: dict[str, str]) -> int:
        with self._slots:
            connection = self._take()
            try:
                connection.request("POST", target, body=body, headers=headers)
                response = connection.getresponse()
                response.read(MAX_ANSWER_BYTES + 1)  # an answer is not used; a huge one is not read
            except BaseException:
                connection.close()
                raise
            if response.will_close or not response.isclosed():
                connection.close()  # the server closes it, or more is left to read
            else:
                self._give_back(connection)
            return response.status

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
    at most `limit` pools (the oldest is closed first). Built on the standard library's
    http.client: per POST it costs less than half the CPU of urllib3's pools, and receipts send
    one POST each.
    """

    def __init__(self, *, maxsize: int, timeout: float, limit: int = 256):
        self.maxsize = maxsize
        self.timeout = timeout
        self.limit = limit
        self._pools: OrderedDict[tuple, _Pool] = OrderedDict()
        self._lock = threading.Lock()

    def _new(self, dest: Destination) -> _Pool:
        address, timeout = str(dest.address), self.timeout
        if dest.scheme == "https":
            context = ssl.create_default_context()  # verifies the certificate for server_name

            def connect() -> http.client.HTTPConnection:
                return _TlsConnection(address, dest.port, server_name=dest.host, timeout=timeout, context=context)

        else:

            def connect() -> http.client.HTTPConnection:
                return http.client.HTTPConnection(address, dest.port, timeout=timeout)

        return _Pool(connect, self.maxsize)

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
    dest = destination or resolve(url)
    parts = urlsplit(url)
    default = 443 if dest.scheme == "https" else 80
    host_header = dest.host if dest.port == default else f"{dest.host}:{dest.port}"
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return pools.get(dest).post(target, content, {**(headers or {}), "Host": host_header})
