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
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
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


def _pinned(dest: Destination, url: str) -> tuple[str, dict[str, str], dict]:
    """The URL rewritten to the checked address, the Host header and the TLS server name."""
    parts = urlsplit(url)
    literal = f"[{dest.address}]" if dest.address.version == 6 else str(dest.address)
    default = 443 if dest.scheme == "https" else 80
    netloc = literal if dest.port == default else f"{literal}:{dest.port}"
    host_header = dest.host if dest.port == default else f"{dest.host}:{dest.port}"
    extensions = {"sni_hostname": dest.host} if dest.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": host_header}, extensions


def describe_error(exc: Exception) -> str:
    """A failure in words that say nothing about the network behind the address."""
    if isinstance(exc, RefusedDestination):
        return f"refused destination ({exc.reason})"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return "could not connect"


def post(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str] | None = None,
    destination: Destination | None = None,
) -> httpx.Response:
    """POST through `client` to the checked address of `url`; never redirects.

    `destination` is a `resolve()` of the same host done just before (a batch resolves once);
    without it the URL is resolved now. Raises RefusedDestination for a refused URL and
    httpx.HTTPError for a failed connection.
    """
    dest = destination or resolve(url)
    pinned, host, extensions = _pinned(dest, url)
    request = client.build_request(
        "POST", pinned, content=content, headers={**(headers or {}), **host}, extensions=extensions
    )
    return client.send(request, follow_redirects=False)
