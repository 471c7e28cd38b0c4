"""Refuse to fetch anything that is not on the public internet.

Crawled sites are untrusted: a redirect to 169.254.169.254 (a cloud metadata service), to a private
network or to this machine would turn the crawler into a way in. Every request, and so every redirect
hop (Scrapy sends a redirect's new request through the downloader middlewares again), is checked:
its host is resolved and refused when any address is not global, unless the address is inside a
network explicitly allowed (`NANSEN_CRAWL_ALLOW_NETWORKS`, e.g. 127.0.0.0/8 for the tests and demo).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

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


def resolve(host: str, port: int | None) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
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
        if reason and not any(address in network for network in allowed if address.version == network.version):
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
