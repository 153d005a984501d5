"""SSRF guard: which ``fhirServer`` a request may make the service call.

``fhirServer`` comes from the caller, and the service sends it the caller's access token. So:

- with trusted clients configured, it must be one of the calling client's ``fhir_servers`` (exact
  base URL, trailing slash ignored); in development mode, one of the settings' ``fhir_servers`` or a
  loopback server (today's rule);
- a URL with user info (``https://allowed@evil.test/``), another scheme than http(s), or no host is
  refused whatever the list says;
- every address the host resolves to must be public (``is_global``): private (RFC 1918, fc00::/7),
  link-local (169.254/16 with the cloud metadata address, fe80::/10), loopback, unspecified, shared
  and other special ranges are refused unless inside a network the client lists in
  ``private_networks`` (or loopback in development mode). IPv6 forms that carry an IPv4 address
  (IPv4-mapped ``::ffff:a.b.c.d``, SIIT ``::ffff:0:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
  ``64:ff9b::/96`` and ``64:ff9b:1::/48``, 6to4 ``2002::/16``) are judged as the IPv4 address they
  carry, and odd spellings (``http://2852039166/``) as what they resolve to;
- a URL the two parsers could read differently is refused before anything else: ``urllib.parse``
  (which judged it) and urllib3 (which ``requests`` connects with) disagree on ``http://OTHER\\@HOST/``,
  the first seeing HOST and the second OTHER. Backslashes, ``@``, whitespace and control characters
  are refused outright, and the scheme, host and port both parsers read must agree
  (``unambiguous_url``). The gateway applies this, and the address check, to every page it reads.

Limit (TOCTOU): the host is resolved here and again when the request is made; a DNS server that
answers differently the second time (DNS rebinding) is not caught. The exact base URL list is the
main defence; the address check is a second line against a listed name that points inwards.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from service.config import IpNetwork

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Characters on which URL parsers disagree about where the host ends (or that no valid URL holds).
AMBIGUOUS_URL_CHARACTERS = re.compile(r"[\\@\s\x00-\x1f\x7f]")
# IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at.
IPV4_CARRYING_NETWORKS = tuple(
    ipaddress.IPv6Network(prefix)
    for prefix in ("::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "::/96")
)


def normalised_base(url: str) -> str:
    return url.rstrip("/")


def url_origin(url: object) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an absolute http(s) URL both parsers read alike; None for anything else.

    ``requests`` connects where urllib3's ``parse_url`` says; ``urlsplit`` is what most checks use. A URL
    is usable only when it holds none of the characters they treat differently and they agree.
    """
    if not isinstance(url, str) or AMBIGUOUS_URL_CHARACTERS.search(url):
        return None
    try:
        split = urlsplit(url)
        split_port = split.port
        parsed = parse_url(url)
    except (ValueError, LocationParseError):
        return None
    default_port = {"http": 80, "https": 443}.get(split.scheme)
    if default_port is None or not split.hostname or not parsed.host:
        return None
    split_origin = (split.scheme, split.hostname.lower().strip("[]"), split_port or default_port)
    parsed_origin = ((parsed.scheme or "").lower(), parsed.host.lower().strip("[]"), parsed.port or default_port)
    return split_origin if split_origin == parsed_origin else None


def unambiguous_url(url: object) -> bool:
    """An absolute http(s) URL with a host, no user info, and read alike by urllib and urllib3."""
    return url_origin(url) is not None


def plain_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host and without user info (nor anything parsers read differently)."""
    return unambiguous_url(url)


def embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, SIIT, compatible, NAT64, 6to4), else None."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if address in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")):
        return None  # unspecified and loopback, not IPv4-compatible addresses
    if any(address in network for network in IPV4_CARRYING_NETWORKS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolved_addresses(host: str) -> list[IpAddress]:
    """Every address ``host`` resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    addresses: list[IpAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        addresses.append(embedded_ipv4(address) or address)
    return addresses


def address_allowed(address: IpAddress, private_networks: Iterable[IpNetwork], allow_loopback: bool) -> bool:
    if any(address.version == network.version and address in network for network in private_networks):
        return True
    if allow_loopback and address.is_loopback:
        return True
    return address.is_global and not address.is_multicast


def host_allowed(url: str, private_networks: Iterable[IpNetwork] = (), allow_loopback: bool = False) -> bool:
    """True when the URL is unambiguous and its host resolves, only to addresses this service may call."""
    found = url_origin(url)
    if found is None:
        return False
    host = found[1]
    addresses = resolved_addresses(host)
    networks = tuple(private_networks)
    return bool(addresses) and all(address_allowed(address, networks, allow_loopback) for address in addresses)


def fhir_server_allowed(
    url: str,
    allowed_bases: Iterable[str],
    private_networks: Iterable[IpNetwork] = (),
    allow_loopback: bool = False,
) -> bool:
    """A client's ``fhirServer``: on its list, well-formed, and resolving to addresses it may reach."""
    if not plain_http_url(url):
        return False
    if normalised_base(url) not in {normalised_base(base) for base in allowed_bases}:
        return False
    return host_allowed(url, private_networks, allow_loopback)


def development_server_allowed(url: str, listed: Iterable[str], allow_loopback: bool) -> bool:
    """Development mode: a server the operator listed, or (when allowed) one on loopback addresses only."""
    if not plain_http_url(url):
        return False
    if normalised_base(url) in {normalised_base(base) for base in listed}:
        return True
    found = url_origin(url)
    addresses = resolved_addresses(found[1]) if found else []
    return allow_loopback and bool(addresses) and all(address.is_loopback for address in addresses)


def development_host_allowed(url: str, listed: Iterable[str], allow_loopback: bool) -> bool:
    """Development mode, for every URL fetched (pages too): on the origin of a listed server, or (when
    allowed) on a host that resolves to loopback addresses only."""
    found = url_origin(url)
    if found is None:
        return False
    if found in {url_origin(base) for base in listed}:
        return True
    addresses = resolved_addresses(found[1])
    return allow_loopback and bool(addresses) and all(address.is_loopback for address in addresses)
