"""The address guard's lookups: once per host per run, off the reactor, and the connection goes where
the guard looked (no second lookup for a rebinding name to answer differently)."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure

from crawlers import safety
from crawlers.run import CrawlOptions
from directory import entries
from directory.store import Store
from tests.conftest import REPO, entry_record
from tests.fixtureweb import FixtureWeb

LOOPBACK = safety.parse_networks("127.0.0.0/8")


class Answers:
    """A stand-in for getaddrinfo: `answers[name]` in turn, one per lookup (the last repeats)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[safety.Address]:
        turn = self.asked.count(host)
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host}: Name or service not known")
        found = self.answers[host]
        return [ipaddress.ip_address(found[min(turn, len(found) - 1)])]


def now(work: Callable[[], list[safety.Address]]) -> Deferred[list[safety.Address]]:
    return maybeDeferred(work)


def result(deferred: Deferred[Any]) -> Any:
    found: list[Any] = []
    deferred.addBoth(found.append)
    assert found, "the lookup should have finished"
    return found[0]


class Receiver:
    """A Twisted IResolutionReceiver keeping what it was told."""

    def __init__(self) -> None:
        self.addresses: list[Any] = []
        self.complete = False

    def resolutionBegan(self, resolution: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        self.complete = True


def test_each_name_is_looked_up_once_and_a_rebinding_name_keeps_its_first_answer() -> None:
    lookup = Answers({"rebind.test": ["127.0.0.5", "169.254.169.254"]})
    resolver = safety.GuardedResolver(None, LOOPBACK, lookup=lookup, run_blocking=now)
    assert [str(a) for a in result(resolver.addresses("rebind.test"))] == ["127.0.0.5"]
    receiver = Receiver()
    resolver.resolveHostName(receiver, "rebind.test", 8080)
    assert receiver.complete and receiver.addresses == [IPv4Address("TCP", "127.0.0.5", 8080)]
    assert lookup.asked == ["rebind.test"]


def test_refused_addresses_reach_neither_the_guard_nor_the_connection() -> None:
    lookup = Answers({"inside.test": ["10.0.0.7"], "mapped.test": ["::ffff:169.254.169.254"]})
    resolver = safety.GuardedResolver(None, LOOPBACK, lookup=lookup, run_blocking=now)
    refused = result(resolver.addresses("inside.test"))
    assert isinstance(refused, Failure) and refused.check(safety.BlockedAddress)
    assert "inside.test resolves to 10.0.0.7, a private address" in str(refused.value)
    for host in ("inside.test", "mapped.test", "169.254.169.254", "2852039166"):
        receiver = Receiver()
        resolver.resolveHostName(receiver, host, 80)
        assert receiver.complete and receiver.addresses == [], host  # Twisted: DNSLookupError, no connection


def test_failed_lookups_are_not_kept() -> None:
    lookup = Answers({})
    resolver = safety.GuardedResolver(None, LOOPBACK, lookup=lookup, run_blocking=now)
    for _ in range(2):
        assert result(resolver.addresses("gone.test")).check(OSError)
    assert lookup.asked == ["gone.test", "gone.test"]


def _crawl_with_dns(store: Store, tmp_path: Path, answers: dict[str, list[str]], allow: str) -> list[str]:
    """Run the site crawl under tests.stub_dns with `answers`; returns the names it looked up."""
    (tmp_path / "dns.json").write_text(json.dumps(answers))
    log = tmp_path / "lookups.log"
    opts = CrawlOptions(
        store.url, "https://nansen.example.org/", (allow,), polite=False, overrides={"RETRY_ENABLED": 0}
    )
    payload = opts.__dict__ | {"allow_networks": list(opts.allow_networks), "overrides": dict(opts.overrides)}
    env = {"NANSEN_TEST_DNS": str(tmp_path / "dns.json"), "NANSEN_TEST_DNS_LOG": str(log)}
    command = [sys.executable, "-m", "tests.stub_dns", "crawlers.child", "site", "--options", json.dumps(payload)]
    done = subprocess.run(command, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return log.read_text().split() if log.exists() else []


def test_a_rebinding_name_is_fetched_from_the_address_the_guard_checked(
    store: Store, fixture_web: FixtureWeb, tmp_path: Path
) -> None:
    good, other = fixture_web.host("good-org"), fixture_web.host("minimal")
    with store.session() as session:
        site = entry_record("rebind", website=f"http://rebind.test:{fixture_web.port}/")
        entries.add_entry(session, site, entries.Actor("maintainer"))
    # Only good-org's address is allowed; a second lookup would answer minimal's, which is not.
    asked = _crawl_with_dns(store, tmp_path, {"rebind.test": [good, other]}, f"{good}/32")
    assert asked == ["rebind.test"]
    assert fixture_web.hits("good-org", "/") == 1 and fixture_web.hits("good-org", "/robots.txt") == 1
    assert fixture_web.hits("minimal", "/") == 0 and fixture_web.hits("minimal", "/robots.txt") == 0


@pytest.mark.parametrize("answer", ["127.0.0.1", "10.0.0.1", "169.254.169.254"])
def test_a_name_answering_a_refused_address_is_blocked_with_the_reason(
    store: Store, fixture_web: FixtureWeb, tmp_path: Path, answer: str
) -> None:
    from directory.models import LinkCheck

    with store.session() as session:
        site = entry_record("inside", website=f"http://inside.test:{fixture_web.port}/")
        entries.add_entry(session, site, entries.Actor("maintainer"))
    _crawl_with_dns(store, tmp_path, {"inside.test": [answer]}, f"{fixture_web.host('good-org')}/32")
    with store.session() as session:
        [check] = session.query(LinkCheck).all()
        assert check.error is not None and f"blocked: inside.test resolves to {answer}" in check.error
