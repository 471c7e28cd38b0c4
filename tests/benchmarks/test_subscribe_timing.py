"""The subscribe form answers in the same time whatever the address's state (issue: under 5 ms apart).

What a prober on another machine sees: the app under uvicorn, the client in another process (so the
server's background work cannot slow the client's own reading of the answer), 50 posts of each kind
interleaved (the order flips every round), each sent once the server is idle; medians compared. A
wall-clock figure, so it lives here (`make bench`), not in `make test`; the structural reason it holds
(no database or mail work in the request) is tested there.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from directory.store import Store
from newsletter import subscribers as subs
from newsletter.web import create_app
from tests.mailsink import Sink
from tests.test_endpoints import endpoints, served, wait_for

PROBE = """
import hashlib, sys, time, httpx
with httpx.Client(base_url=sys.argv[1], timeout=30) as client:
    for line in sys.stdin:
        started = time.perf_counter()
        answer = client.post("/subscribe", data={"email": line.strip(), "lang": "en", "country": "GE"})
        elapsed = time.perf_counter() - started
        print(elapsed, answer.status_code, hashlib.sha256(answer.content).hexdigest(), flush=True)
"""


def test_subscribe_takes_the_same_time_for_new_and_active_addresses(store: Store, mail_sink: tuple[Sink, str]) -> None:
    """What a prober on another machine sees: the app under uvicorn, the client in another process (so
    the server's background work cannot slow the client's own reading of the answer), 50 posts of each
    kind interleaved (the order flips every round), each sent once the server is idle, medians compared.
    Whatever differs between the two kinds happens after the answer has left."""
    sink, smtp = mail_sink
    with store.session() as session:
        for i in range(50):
            subs.add_confirmed(session, f"active{i}@example.org", "en", subs.Preferences(), note="test")
    app = endpoints(store, smtp)
    times: dict[str, list[float]] = {"new": [], "active": []}
    answers: dict[str, set[tuple[str, str]]] = {"new": set(), "active": set()}
    warm = [("warm", f"warm{i}@example.org") for i in range(5)]  # templates, validator, connections
    rounds = [[("new", f"new{i}@example.org"), ("active", f"active{i}@example.org")] for i in range(50)]
    order = warm + [post for i, pair in enumerate(rounds) for post in (pair if i % 2 else pair[::-1])]
    with served(create_app(None, app), log_level="warning") as base:
        probe = subprocess.Popen(
            [sys.executable, "-c", PROBE, base], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert probe.stdin is not None and probe.stdout is not None
        try:
            for n, (kind, address) in enumerate(order, 1):
                probe.stdin.write(address + "\n")
                probe.stdin.flush()
                elapsed, code, digest = probe.stdout.readline().split()
                wait_for(lambda n=n: app.outbox.taken >= n)  # queued after the answer left
                assert app.outbox.wait_idle(30)
                if kind != "warm":
                    times[kind].append(float(elapsed))
                    answers[kind].add((code, digest))
        finally:
            probe.stdin.close()
            probe.wait(30)
    assert answers["new"] == answers["active"] == {("200", next(iter(answers["new"]))[1])}
    new, active = statistics.median(times["new"]), statistics.median(times["active"])
    print(
        f"\nsubscribe form, median of 50 each: new address {new * 1000:.2f} ms, active address "
        f"{active * 1000:.2f} ms (difference {abs(new - active) * 1000:.2f} ms, ratio {new / active:.2f})"
    )
    assert abs(new - active) < 0.005, f"median new {new * 1000:.2f} ms, active {active * 1000:.2f} ms"
    received = {m["To"] for m in sink.messages}
    assert {f"new{i}@example.org" for i in range(50)} <= received
    assert not any(address.startswith("active") for address in received)
