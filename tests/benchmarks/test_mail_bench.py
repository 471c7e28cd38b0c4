"""One edition to 100,000 subscribers in 50 segments, delivered to Postfix's `smtp-sink`: messages per second.

Targets (issue 13): at least 50% of `smtp-source`'s messages per second for the same message size, the
whole edition in under 2 minutes, and peak memory under 150 MiB and flat from 20,000 to 100,000 readers:
a first edition goes to 20,000 readers, then 80,000 more subscribe and the next edition goes to all
100,000 (NANSEN_BENCH_SUBSCRIBERS sets the larger number).

The sink is Postfix's `smtp-sink` (Debian's `postfix` package; Postfix itself never runs) on a free
loopback port, throwing every message away. The figure is the real `editions.send` — ledger rows for
the edition, then one transaction per message over one reused SMTP connection — timed once, end to end,
in its own process, with that process's peak memory (VmHWM). In the same run, medians of 3:

- naive: the loop one writes first — per subscriber, render the digest (Jinja2 + MJML) again and open a
  new SMTP connection for its one message — over the first 2,000 subscribers (every segment);
- built per message, no ledger: the message built by `build_message` for each reader, as `send` did
  before the segment's message was serialized once and spliced (one rendering per segment, one
  reused connection), over the same 2,000;
- ceiling: Postfix's `smtp-source` sending 20,000 messages of our median size to the same sink over one
  reused session, as `send` does (no pipelining on either side): what this machine and sink can take.

Subscribers are bulk-inserted (the benchmark measures sending, not signing up); the 60 entries whose
additions are the edition's news go through the curation service.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from directory import entries
from directory.models import utcnow
from directory.store import Store
from newsletter import editions
from newsletter import subscribers as subs
from newsletter.delivery import Outcome, PreparedMessage, SmtpSender, parse_smtp_url
from newsletter.digest import render_digest
from newsletter.models import Edition, Subscriber
from newsletter.tokens import Tokens
from tests.conftest import free_port

SUBSCRIBERS = int(os.environ.get("NANSEN_BENCH_SUBSCRIBERS", "100000"))
FIRST = min(20_000, SUBSCRIBERS)  # readers of the first edition, for the memory at two sizes
SAMPLE = 2_000  # naive and cached runs
CEILING = 20_000  # smtp-source messages
REPEATS = 3
COUNTRIES = ["GE", "AM", "KZ", "RS", "LV", "DE"]
KINDS = ["media", "ngo", "program"]
# 5 country choices x 5 kind choices x 2 languages = 50 segments, each with news.
COUNTRY_CHOICES: list[list[str]] = [[], ["GE"], ["DE"], ["LV"], ["AM", "KZ"]]
KIND_CHOICES: list[list[str]] = [[], ["media"], ["ngo"], ["program"], ["ngo", "program"]]
SEGMENTS = [
    (language, countries, kinds) for language in ("ru", "en") for countries in COUNTRY_CHOICES for kinds in KIND_CHOICES
]
REPO = Path(__file__).resolve().parents[2]


def settings() -> editions.NewsletterSettings:
    return editions.NewsletterSettings(
        site_url="https://nansen.example.org/",
        sender="Nansen <newsletter@nansen.example.org>",
        tokens=Tokens("x" * 32),
        message_domain="nansen.example.org",
    )


# ---------------------------------------------------------------------------------------------- the data


def populate(store: Store, count: int, start: int = 0) -> None:
    """60 new entries (the edition's news: 6 countries x 3 kinds) and `count` more active subscribers
    (numbered from `start`), spread round-robin over the 50 segments so that any prefix of them covers
    every segment."""
    from tests.conftest import entry_record, program_record

    actor = entries.Actor("bench", "bench")
    with store.session() as session:
        for i in range(60):
            country, kind = COUNTRIES[i % 6], KINDS[(i // 6) % 3]
            make = program_record if kind == "program" else entry_record
            overrides: dict[str, Any] = {
                "host_countries": [country],
                "website": f"https://org{i}-{start}.example.org",
                "name.en": f"Organization {i}/{start} in {country}",
                "name.ru": f"Организация {i}/{start} в {country}",
            }
            if kind != "program":
                overrides["kind"] = kind
            entries.add_entry(session, make(f"org-{i}-{start}", **overrides), actor)
    rng = random.Random(1922)
    now = utcnow()
    rows = []
    for i in range(start, start + count):
        language, countries, kinds = SEGMENTS[i % len(SEGMENTS)]
        rows.append(
            {
                "email": f"reader{i}@mail{rng.randrange(500)}.example.net",
                "key": secrets.token_hex(16),
                "language": language,
                "countries": countries,
                "kinds": kinds,
                "topics": [],
                "status": "active",
                "consent": {"method": "bench", "at": now.isoformat()},
                "created_at": now,
                "confirmed_at": now,
            }
        )
    with store.session() as session:
        for start in range(0, len(rows), 20_000):
            session.execute(insert(Subscriber), rows[start : start + 20_000])


# ---------------------------------------------------------------------------------------------- the sink


def _postfix_tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        pytest.skip(f"{name} not found: install Debian's postfix package (.ci/run does)")
    return path


@contextlib.contextmanager
def smtp_sink(log: Path) -> Iterator[tuple[int, Any]]:
    """(port, counter) of an smtp-sink on 127.0.0.1; counter() is the messages it has received so far."""
    port = free_port()
    command = [_postfix_tool("smtp-sink"), "-c"]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]  # smtp-sink refuses to keep root privileges
    command += [f"127.0.0.1:{port}", "1000"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"smtp-sink did not start: {log.read_text(errors='replace')}")

        def received() -> int:
            counts = re.findall(rb"mesg=(\d+)", log.read_bytes())  # -c: "sess=N quit=N mesg=N\r" per event
            return int(counts[-1]) if counts else 0

        yield port, received
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------- the runs


def run_send(url: str, port: int) -> dict[str, Any]:
    """`editions.send` in its own process: its figures, with that process's peak memory in MiB."""
    process = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.test_mail_bench", url, str(port)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    return json.loads(process.stdout.strip().splitlines()[-1])


def peak_mib() -> float:
    """This process's peak resident memory. Not ru_maxrss, whether from getrusage or from the parent's
    wait4: subprocess starts children with vfork, and exec then carries the parent's own peak RSS over
    into the child's ru_maxrss, so that figure would be max(pytest's peak, the child's). VmHWM belongs
    to the address space exec created."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(url: str, port: int) -> None:
    """The child side of `run_send`: one full edition; prints JSON as its last line."""
    store = Store(url)
    started_mib = peak_mib()
    first: list[float] = []

    def progress(done: int, total: int) -> None:
        if done == 1:
            first.append(time.perf_counter())

    started = time.perf_counter()
    report = editions.send(
        store.session, settings(), SmtpSender(parse_smtp_url(f"smtp://127.0.0.1:{port}")), on_progress=progress
    )
    seconds = time.perf_counter() - started
    store.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "first_message": (first[0] - started) if first else None,
                "sent": report.sent,
                "segments": report.segments,
                "status": report.status,
                "start_mib": started_mib,
                "peak_mib": peak_mib(),
            }
        )
    )


def sample(store: Store) -> tuple[Edition, list[Any], list[Subscriber]]:
    with store.session() as session:
        edition = session.scalar(select(Edition).order_by(Edition.number.desc()).limit(1))
        assert edition is not None
        updates = editions.edition_updates(session, edition)
        people = list(
            session.scalars(
                select(Subscriber).where(Subscriber.status == "active").order_by(Subscriber.id).limit(SAMPLE)
            )
        )
    return edition, updates, people


def run_naive(store: Store, port: int) -> float:
    """Seconds for the naive loop over the sample: render per subscriber, a new connection per message."""
    edition, updates, people = sample(store)
    config, url = settings(), f"smtp://127.0.0.1:{port}"
    started = time.perf_counter()
    for person in people:
        preferences = subs.preferences_of(person)
        chosen = [u for u in updates if editions.matches(u, preferences)]
        content = render_digest(
            chosen, person.language, site_url=config.site_url, number=edition.number, date=edition.created_at.date()
        )
        with SmtpSender(parse_smtp_url(url)) as sender:
            result = sender.send(editions.message_for(config, edition, person, content))
        assert result.outcome is Outcome.SENT, result
    return time.perf_counter() - started


def run_cached(store: Store, port: int) -> float:
    """Seconds for the per-message work `send` did before messages were spliced, without the database,
    over the sample: `build_message` per reader."""
    edition, updates, people = sample(store)
    config = settings()
    cache = editions.SegmentCache(updates, config, edition.number, edition.created_at.date())
    started = time.perf_counter()
    with SmtpSender(parse_smtp_url(f"smtp://127.0.0.1:{port}")) as sender:
        for person in people:
            content = cache.content(person.language, subs.preferences_of(person))
            assert content is not None
            result = sender.send(editions.message_for(config, edition, person, content))
            assert result.outcome is Outcome.SENT, result
    return time.perf_counter() - started


def message_sizes(store: Store) -> list[int]:
    """Bytes of the sample's messages as `send` puts them on the wire to a server with 8BITMIME (CRLF
    lines), in subscriber order."""
    edition, updates, people = sample(store)
    config = settings()
    cache = editions.SegmentCache(updates, config, edition.number, edition.created_at.date())
    sizes = []
    for person in people:
        template = cache.template(person.language, subs.preferences_of(person))
        assert template is not None
        message = editions.prepared_message(config, edition.number, person.key, person.email, template)
        assert isinstance(message, PreparedMessage)
        sizes.append(len(message.data))
    return sizes


def run_smtp_source(port: int, size: int) -> float:
    """Seconds for smtp-source to send CEILING messages of `size` payload bytes over one reused session."""
    command = [_postfix_tool("smtp-source"), "-s", "1", "-d", "-m", str(CEILING), "-l", str(size)]
    command += ["-f", "newsletter@nansen.example.org", "-t", "reader@example.net", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------- the test


def test_one_edition_to_subscribers_in_50_segments(store: Store, tmp_path: Path) -> None:
    populate(store, FIRST)
    with smtp_sink(tmp_path / "sink.log") as (port, received):
        first = run_send(store.url, port)
        assert first["sent"] == FIRST and first["status"] == "sent", first
        populate(store, SUBSCRIBERS - FIRST, start=FIRST)
        full = run_send(store.url, port)
        assert full["sent"] == SUBSCRIBERS and full["segments"] == len(SEGMENTS) and full["status"] == "sent", full
        naive = [run_naive(store, port) for _ in range(REPEATS)]
        cached = [run_cached(store, port) for _ in range(REPEATS)]
        sizes = message_sizes(store)
        size = int(statistics.median(sizes))
        ceiling = [run_smtp_source(port, size) for _ in range(REPEATS)]
        time.sleep(0.2)  # the sink updates its counter when a session ends
        expected = FIRST + SUBSCRIBERS + 2 * REPEATS * SAMPLE + REPEATS * CEILING
        assert received() == expected, (received(), expected)

    ours = SUBSCRIBERS / full["seconds"]
    naive_rate = SAMPLE / statistics.median(naive)
    cached_rate = SAMPLE / statistics.median(cached)
    ceiling_rate = CEILING / statistics.median(ceiling)
    growth = full["peak_mib"] - first["peak_mib"]
    print(
        f"\n[{store.engine.dialect.name}] one edition to {SUBSCRIBERS:,} subscribers in {len(SEGMENTS)} segments"
        f" -> smtp-sink on 127.0.0.1; messages {min(sizes):,}-{max(sizes):,} bytes, median {size:,}"
    )
    print(
        f"  {'':44}{'msgs/s':>8}  {'messages':>9}  {'seconds':>8}  {'peak MiB':>8}  {'vs ours':>7}\n"
        f"  {'editions.send (ledger, 1 connection; once)':44}{ours:8.0f}  {SUBSCRIBERS:9,}  {full['seconds']:8.1f}"
        f"  {full['peak_mib']:8.0f}  {1:7.2f}x\n"
        f"  {'editions.send, first edition (once)':44}{FIRST / first['seconds']:8.0f}  {FIRST:9,}"
        f"  {first['seconds']:8.1f}  {first['peak_mib']:8.0f}  {FIRST / first['seconds'] / ours:7.2f}x\n"
        f"  {'naive: render + connect per message':44}{naive_rate:8.0f}  {SAMPLE:9,}  {statistics.median(naive):8.2f}"
        f"  {'':8}  {naive_rate / ours:7.2f}x\n"
        f"  {'built per message (before), no ledger':44}{cached_rate:8.0f}  {SAMPLE:9,}"
        f"  {statistics.median(cached):8.2f}  {'':8}  {cached_rate / ours:7.2f}x\n"
        f"  {'smtp-source -s 1 -d -l ' + str(size) + ' (ceiling)':44}{ceiling_rate:8.0f}  {CEILING:9,}"
        f"  {statistics.median(ceiling):8.2f}  {'':8}  {ceiling_rate / ours:7.2f}x"
    )
    print(
        f"  editions.send ran once per edition, in its own process (peak = its VmHWM; {full['start_mib']:.0f} MiB"
        f" before sending); ledger written and first message out after {full['first_message']:.1f} s."
        f" The others are medians of {REPEATS}."
    )
    print(
        f"  targets: {ours / ceiling_rate:.0%} of smtp-source's msg/s (>= 50%: {_met(ours >= ceiling_rate / 2)});"
        f" {full['seconds']:.0f} s for {SUBSCRIBERS:,} (< 120 s: {_met(full['seconds'] < 120)});"
        f" peak {full['peak_mib']:.0f} MiB (< 150: {_met(full['peak_mib'] < 150)}),"
        f" {growth:+.1f} MiB from {FIRST:,} to {SUBSCRIBERS:,} readers"
    )
    assert ours > cached_rate > naive_rate
    assert full["peak_mib"] < 150 and growth < 10, (first, full)


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]))
