"""Refuse to fetch anything that is not on the public internet.

Crawled sites are untrusted: a redirect to 169.254.169.254 (a cloud metadata service), to a private
network or to this machine would turn the crawler into a way in. Every request, and so every redirect
hop (Scrapy sends a redirect's new request through the downloader middlewares again), is checked:
its host is resolved and refused when any address is not global, unless the address is inside a
network explicitly allowed (`NANSEN_CRAWL_ALLOW_NETWORKS`, e.g. 127.0.0.0/8 for the tests and demo).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import idna
from scrapy.exceptions import IgnoreRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class BlockedAddress(IgnoreRequest):
    """The request was refused before any connection was made."""


def parse_networks(text: str | Iterable[str] | None) -> tuple[Network, ...]:
    """CIDRs from a comma-separated string or a list; raises ValueError naming a bad one."""
    if not text:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    networks = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not a network in CIDR form (e.g. 127.0.0.0/8)") from exc
    return tuple(networks)


def category(address: Address) -> str | None:
    """Why an address is refused, or None for a public one."""
    if address in METADATA:
        return "cloud metadata"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_multicast or address.is_reserved or address.is_unspecified or not address.is_global:
        return "non-public"
    return None


# The last label of a host that spells an IPv4 address (WHATWG URL Standard, "ends in a number").
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


def ip_literal(host: str) -> Address | None:
    """The address `host` spells, in any spelling browsers and resolvers accept, or None for a name.

    Besides dotted decimal and IPv6 (brackets and a zone optional): one to four parts, each decimal,
    octal (`0251`) or hexadecimal (`0xa9`), the last filling the remaining bytes (`2852039166`,
    `169.254.43518`), with a trailing dot or not (WHATWG URL Standard §3.5, the IPv4 parser; the same
    forms `inet_aton(3)` reads), also percent-encoded or in full-width digits, as browsers read them.
    An IPv4-mapped or 6to4 IPv6 address is its IPv4 address.
    """
    host = _as_browsers_read(host).strip("[]").split("%", 1)[0].rstrip(".")
    address: Address
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address):
        return address.ipv4_mapped or address.sixtofour or address
    return address


def _as_browsers_read(host: str) -> str:
    """`host` as the WHATWG URL host parser reads it before looking for an address: percent-decoded,
    then mapped by UTS #46 (full-width digits are digits, "。" is a dot)."""
    host = unquote(host)
    try:
        return idna.uts46_remap(host, std3_rules=False, transitional=False)
    except (idna.IDNAError, ValueError):
        return host


def refusal(url: str, allowed: Sequence[Network] = ()) -> str | None:
    """Why a link to `url` must not be kept — its host is a non-public IP address outside `allowed`, or
    a name under `localhost`, which is this machine without any lookup (RFC 6761 §6.3) — or None.
    Other names are not resolved: this judges what a link says, `check_url` what a request reaches."""
    host = urlsplit(url).hostname or ""
    address = ip_literal(host) or (LOCALHOST if _is_localhost(host) else None)
    if address is None:
        return None
    reason = category(address)
    if reason is None or _inside(address, allowed):
        return None
    return f"{address} is a {reason} address"


# RFC 6761 §6.3: "localhost" and every name under it are this machine, resolved without DNS.
LOCALHOST = ipaddress.ip_address("127.0.0.1")


def _is_localhost(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _inside(address: Address, allowed: Sequence[Network]) -> bool:
    return any(address in network for network in allowed if address.version == network.version)


def resolve(host: str, port: int | None) -> list[Address]:
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}, key=str)


def check_url(url: str, allowed: Sequence[Network] = ()) -> None:
    """Raise BlockedAddress when `url` must not be fetched."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddress(f"blocked: {url} is not an http(s) URL")
    try:
        addresses = resolve(parts.hostname, parts.port)
    except (socket.gaierror, UnicodeError):
        return  # the download itself reports the DNS failure
    for address in addresses:
        reason = category(address)
        if reason and not _inside(address, allowed):
            raise BlockedAddress(f"blocked: {parts.hostname} resolves to {address}, a {reason} address")


class AddressGuardMiddleware:
    """Downloader middleware running `check_url` on every request, redirects and robots.txt included."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self.allowed = tuple(allowed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> AddressGuardMiddleware:
        return cls(parse_networks(crawler.settings.get("NANSEN_ALLOW_NETWORKS")))

    def process_request(self, request: Any, spider: Any = None) -> None:
        check_url(request.url, self.allowed)
