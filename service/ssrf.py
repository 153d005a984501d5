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
  ``private_networks`` (or loopback in development mode). IPv4-mapped IPv6 addresses are judged as
  the IPv4 address they carry, and odd spellings (``http://2852039166/``) as what they resolve to.

Limit (TOCTOU): the host is resolved here and again when the request is made; a DNS server that
answers differently the second time (DNS rebinding) is not caught. The exact base URL list is the
main defence; the address check is a second line against a listed name that points inwards.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from service.config import IpNetwork

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def normalised_base(url: str) -> str:
    return url.rstrip("/")


def plain_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host and without user info."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc


def resolved_addresses(host: str) -> list[IpAddress]:
    """Every address ``host`` resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    addresses: list[IpAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        addresses.append(address)
    return addresses


def address_allowed(address: IpAddress, private_networks: Iterable[IpNetwork], allow_loopback: bool) -> bool:
    if any(address.version == network.version and address in network for network in private_networks):
        return True
    if allow_loopback and address.is_loopback:
        return True
    return address.is_global and not address.is_multicast


def host_allowed(url: str, private_networks: Iterable[IpNetwork] = (), allow_loopback: bool = False) -> bool:
    """True when the URL's host resolves, and only to addresses this service may call."""
    host = urlsplit(url).hostname or ""
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
    addresses = resolved_addresses(urlsplit(url).hostname or "")
    return allow_loopback and bool(addresses) and all(address.is_loopback for address in addresses)
