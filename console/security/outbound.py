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

import ipaddress
import socket
import ssl
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import urllib3
from django.conf import settings
from django.utils.translation import gettext_lazy as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services answer on these besides the link-local 169.254.169.254.
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_METADATA_NET = ipaddress.ip_network("169.254.169.254/32")


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


class Pools:
    """Keep-alive connection pools to checked addresses, one per (scheme, address, port, host name).

    A pool connects to the address `resolve()` checked; the host name is still sent as Host and
    as the TLS server name, and the certificate is verified for it. Thread-safe; a process keeps
    at most `limit` pools (the oldest is closed first).
    """

    def __init__(self, *, maxsize: int, timeout: float, limit: int = 256):
        self.maxsize = maxsize
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.limit = limit
        self._pools: OrderedDict[tuple, urllib3.HTTPConnectionPool] = OrderedDict()
        self._lock = threading.Lock()

    def _new(self, dest: Destination) -> urllib3.HTTPConnectionPool:
        common = dict(port=dest.port, maxsize=self.maxsize, block=True, timeout=self.timeout, retries=False)
        if dest.scheme == "https":
            return urllib3.HTTPSConnectionPool(
                str(dest.address),
                server_hostname=dest.host,
                assert_hostname=dest.host,
                cert_reqs="CERT_REQUIRED",
                ssl_context=ssl.create_default_context(),
                **common,
            )
        return urllib3.HTTPConnectionPool(str(dest.address), **common)

    def get(self, dest: Destination) -> urllib3.HTTPConnectionPool:
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
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "could not connect"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
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
    a refused URL and urllib3.exceptions.HTTPError for a failed connection.
    """
    dest = destination or resolve(url)
    parts = urlsplit(url)
    default = 443 if dest.scheme == "https" else 80
    host_header = dest.host if dest.port == default else f"{dest.host}:{dest.port}"
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    response = pools.get(dest).urlopen(
        "POST",
        target,
        body=content,
        headers={**(headers or {}), "Host": host_header},
        retries=False,
        redirect=False,
        assert_same_host=False,
        preload_content=True,
    )
    return response.status
