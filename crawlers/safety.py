"""Refuse to fetch anything that is not on the public internet.

Crawled sites are untrusted: a redirect to 169.254.169.254 (a cloud metadata service), to a private
network or to this machine would turn the crawler into a way in. Every request, and so every redirect
hop (Scrapy sends a redirect's new request through the downloader middlewares again), is checked:
its host is resolved and refused when any address is not global, unless the address is inside a
network explicitly allowed (`NANSEN_CRAWL_ALLOW_NETWORKS`, e.g. 127.0.0.0/8 for the tests and demo).

Names are looked up off the reactor thread, once per host per run, by `GuardedResolver`, installed as
the reactor's resolver: the connection uses exactly the addresses the guard judged, never a second
lookup's answer.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import idna
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IAddress, IHostnameResolver, IHostResolution
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from zope.interface import implementer

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


@functools.lru_cache(maxsize=4096)
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
    return _as_ipv4(address)


def _as_ipv4(address: Address) -> Address:
    """An IPv4-mapped or 6to4 IPv6 address as the IPv4 address it carries; any other as it is."""
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
    """The addresses `host` stands for: an IP literal is its own; a name is looked up (blocking)."""
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}, key=str)


def http_host(url: str) -> str:
    """The host of an http(s) URL; raises BlockedAddress for any other URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddress(f"blocked: {url} is not an http(s) URL")
    return parts.hostname


def judge(host: str, addresses: Iterable[Address], allowed: Sequence[Network] = ()) -> None:
    """Raise BlockedAddress when any address `host` resolved to is not public and outside `allowed`.

    An IPv4-mapped or 6to4 IPv6 address is judged as its IPv4 address, as `ip_literal` reads one."""
    for resolved in addresses:
        address = _as_ipv4(resolved)
        reason = category(address)
        if reason and not _inside(address, allowed):
            raise BlockedAddress(f"blocked: {host} resolves to {address}, a {reason} address")


def check_url(url: str, allowed: Sequence[Network] = ()) -> None:
    """Raise BlockedAddress when `url` must not be fetched (looking its host up, blocking)."""
    host = http_host(url)
    try:
        addresses = resolve(host, urlsplit(url).port)
    except (OSError, UnicodeError):
        return  # the download itself reports the DNS failure
    judge(host, addresses, allowed)


def _getaddrinfo(host: str) -> list[Address]:
    return resolve(host, None)


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        raise NotImplementedError("a lookup in progress cannot be cancelled")


@implementer(IHostnameResolver)
class GuardedResolver:
    """The reactor's name resolver for a crawl (Scrapy's `TWISTED_DNS_RESOLVER`): each host is looked up
    once per run (one child process), in the reactor's thread pool, and Twisted is given only addresses
    `judge` allows, so a connection goes exactly to an address the guard checked.

    A host with any refused address resolves to none, which Twisted reports as a DNS lookup error; the
    `AddressGuardMiddleware` asks first, through the same cache, and refuses the request with the reason.
    A name answering differently from one lookup to the next (DNS rebinding) cannot slip a private
    address between the check and the connection: there is one lookup. Failed lookups are not cached.

    `lookup(host)` is the blocking lookup (getaddrinfo); `run_blocking(f)` runs it off the reactor.
    """

    def __init__(
        self,
        reactor: Any,
        allowed: Sequence[Network] = (),
        *,
        lookup: Callable[[str], list[Address]] = _getaddrinfo,
        run_blocking: Callable[[Callable[[], list[Address]]], Deferred[list[Address]]] | None = None,
    ) -> None:
        self.reactor = reactor
        self.allowed = tuple(allowed)
        self.lookup = lookup
        self.run_blocking = run_blocking or self._in_thread
        self._known: dict[str, list[Address]] = {}
        self._waiting: dict[str, list[Deferred[list[Address]]]] = {}

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        return cls(reactor, parse_networks(crawler.settings.get("NANSEN_ALLOW_NETWORKS")))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def addresses(self, host: str) -> Deferred[list[Address]]:
        """`host`'s addresses; fails with BlockedAddress when `judge` refuses one, or with the lookup's
        error (`socket.gaierror`…)."""
        literal = ip_literal(host)
        if literal is not None:
            found = succeed([literal])
        elif host in self._known:
            found = succeed(self._known[host])
        else:
            found = self._look_up(host)
        return found.addCallback(self._judged, host)

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        """`IHostnameResolver`: the addresses `addresses(hostName)` gives, none when it fails."""
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        self.addresses(hostName).addBoth(_deliver, resolutionReceiver, portNumber, addressTypes)
        return resolution

    def _in_thread(self, work: Callable[[], list[Address]]) -> Deferred[list[Address]]:
        return deferToThreadPool(self.reactor, self.reactor.getThreadPool(), work)

    def _look_up(self, host: str) -> Deferred[list[Address]]:
        waiting: Deferred[list[Address]] = Deferred()
        first = host not in self._waiting
        self._waiting.setdefault(host, []).append(waiting)
        if first:
            self.run_blocking(functools.partial(self.lookup, host)).addBoth(self._found, host)
        return waiting

    def _found(self, result: list[Address] | Failure, host: str) -> None:
        if not isinstance(result, Failure):
            self._known[host] = result
        for waiting in self._waiting.pop(host):
            if isinstance(result, Failure):
                waiting.errback(result)
            else:
                waiting.callback(result)

    def _judged(self, addresses: list[Address], host: str) -> list[Address]:
        judge(host, addresses, self.allowed)
        return addresses


def _deliver(found: list[Address] | Failure, receiver: Any, port: int, types: Sequence[type[IAddress]] | None) -> None:
    """Hand `found` to a Twisted resolution receiver; a failure (refused, not found) is no address,
    which Twisted's HostnameEndpoint reports as a DNS lookup error."""
    for address in found if isinstance(found, list) else []:
        twisted = (
            IPv4Address("TCP", str(address), port) if address.version == 4 else IPv6Address("TCP", str(address), port)
        )
        if types is None or type(twisted) in types:
            receiver.addressResolved(twisted)
    receiver.resolutionComplete()


class AddressGuardMiddleware:
    """Downloader middleware refusing, with the reason, every request (redirects and robots.txt included)
    whose host `judge` refuses; the lookup is the run's `GuardedResolver`'s, the one the connection uses."""

    def __init__(self, allowed: Sequence[Network], resolver: GuardedResolver | None = None) -> None:
        self.allowed = tuple(allowed)
        self.resolver = resolver

    @classmethod
    def from_crawler(cls, crawler: Any) -> AddressGuardMiddleware:
        return cls(parse_networks(crawler.settings.get("NANSEN_ALLOW_NETWORKS")))

    async def process_request(self, request: Any, spider: Any = None) -> None:
        host = http_host(request.url)
        try:
            await maybe_deferred_to_future(self._resolver().addresses(host))
        except (OSError, UnicodeError):
            return  # the download itself reports the DNS failure

    def _resolver(self) -> GuardedResolver:
        """The reactor's resolver when it is a GuardedResolver (installed when the crawl starts, after this
        middleware is made), else one of this middleware's own."""
        if self.resolver is None:
            from twisted.internet import reactor  # noqa: PLC0415 (importing it installs a reactor)

            installed = getattr(reactor, "nameResolver", None)
            self.resolver = (
                installed if isinstance(installed, GuardedResolver) else GuardedResolver(reactor, self.allowed)
            )
        return self.resolver
