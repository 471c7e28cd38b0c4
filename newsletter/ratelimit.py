"""Rate limits for the public endpoints: token buckets in memory, per client and for everyone."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """The shape of a token bucket: up to `burst` requests at once, refilled at `per_second`."""

    burst: float
    per_second: float


PER_CLIENT = Rate(burst=20, per_second=1 / 20)  # a meetup behind one address signs up; a script does not
OVERALL = Rate(burst=100, per_second=1 / 2)  # at most ~1,800 confirmation mails an hour, whoever asks


class _Bucket:
    def __init__(self, rate: Rate, now: float) -> None:
        self.rate, self.tokens, self.stamp = rate, float(rate.burst), now

    def level(self, now: float) -> float:
        self.tokens = min(float(self.rate.burst), self.tokens + (now - self.stamp) * self.rate.per_second)
        self.stamp = now
        return self.tokens


def client_key(host: str) -> str:
    """Whom a per-client limit counts: an IPv4 address, or an IPv6 /64 (one home or one server)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class RateLimiter:
    """Token buckets in memory, one per client and one for everyone: a request passes when both have
    a token, and then takes one from each. Full buckets are forgotten when the table grows past
    `max_clients` (a full bucket is the same as no bucket), then the least recently used ones."""

    def __init__(
        self,
        per_client: Rate = PER_CLIENT,
        overall: Rate = OVERALL,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.per_client = per_client
        self._clock = clock
        self._overall = _Bucket(overall, clock())
        self._clients: OrderedDict[str, _Bucket] = OrderedDict()
        self._max_clients = max_clients
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        key = client_key(client)
        with self._lock:
            now = self._clock()
            bucket = self._clients.get(key)
            if bucket is None:
                if len(self._clients) >= self._max_clients:
                    self._prune(now)
                bucket = self._clients[key] = _Bucket(self.per_client, now)
            self._clients.move_to_end(key)
            if bucket.level(now) < 1 or self._overall.level(now) < 1:
                return False
            bucket.tokens -= 1
            self._overall.tokens -= 1
            return True

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._clients.items() if b.level(now) >= b.rate.burst]:
            del self._clients[key]
        while len(self._clients) >= self._max_clients:
            self._clients.popitem(last=False)
