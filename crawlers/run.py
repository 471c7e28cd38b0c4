"""Run a crawl in a child process, so it can run again and again from one long-lived process.

Twisted's reactor cannot be restarted, so a scheduler that called Scrapy in-process would crawl once
and then fail with ReactorNotRestartable. Each crawl is therefore `python -m crawlers.child` in a
child process: it reports progress and a summary as JSON lines on stdout, and if it dies (or is
killed), everything it had written stays written and the next crawl picks up from there. This
module is the parent's side and never loads Scrapy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("site", "feeds", "watch")


@dataclass(frozen=True)
class Failure:
    """Something the crawl itself failed at (not a finding about a site): which entry, if known, and what."""

    entry: str | None
    error: str

    def __str__(self) -> str:
        return f"{self.entry or 'crawl'}: {self.error}"


@dataclass
class CrawlSummary:
    """What a crawl did. `errors` counts findings (`dns`, `http-404`, `robots`…) and failures
    (`failed`: each of `failures`; `crawl-failed`: the child exited non-zero); `ok` is False on a failure."""

    kind: str
    targets: int = 0
    pages: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    proposals: int = 0
    posts: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    returncode: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failures


@dataclass(frozen=True)
class CrawlOptions:
    database_url: str
    contact_url: str
    allow_networks: tuple[str, ...] = ()
    polite: bool = True
    dead_after_failures: int = 3
    dead_after_days: int = 7
    overrides: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- the parent side


def run_crawl(
    kind: str,
    options: CrawlOptions,
    *,
    entry: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
) -> CrawlSummary:
    """Crawl in a child process and return its summary (also when the child failed or was killed)."""
    if kind not in KINDS:
        raise ValueError(f"unknown crawl {kind!r} (expected one of {', '.join(KINDS)})")
    command = [
        sys.executable,
        "-m",
        "crawlers.child",
        kind,
        "--options",
        json.dumps(
            options.__dict__ | {"allow_networks": list(options.allow_networks), "overrides": dict(options.overrides)}
        ),
    ]
    if entry:
        command += ["--entry", entry]
    summary = CrawlSummary(kind)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        for line in child.stdout:
            event = _event(line)
            if event.get("event") == "start":
                summary.targets = event["total"]
            elif event.get("event") == "progress" and on_progress:
                on_progress(event["done"], event["total"])
            elif event.get("event") == "summary":
                _fill(summary, event["stats"])
            elif event.get("event") == "failure":
                summary.failures.append(Failure(event.get("entry"), str(event.get("error", ""))))
                summary.errors["failed"] += 1
        stderr = child.stderr.read() if child.stderr else ""
        summary.returncode = child.wait(timeout=timeout)
    if summary.returncode != 0:
        summary.errors["crawl-failed"] += 1
        summary.stats["stderr"] = stderr[-2000:]
        if summary.returncode < 0:  # what a process's last words say is not why a signal ended it
            said = f"killed by {signal.Signals(-summary.returncode).name}"
        else:
            said = (stderr.strip().splitlines()[-1:] or [f"exit status {summary.returncode}"])[0][:500]
        summary.failures.append(Failure(entry, f"the crawl process failed: {said}"))
    return summary


def _event(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _fill(summary: CrawlSummary, stats: Mapping[str, Any]) -> None:
    summary.stats = dict(stats)
    summary.pages = int(stats.get("response_received_count", 0))
    summary.proposals = int(stats.get("nansen/proposals", 0))
    summary.posts = int(stats.get("nansen/posts_new", 0))
    for key, value in stats.items():
        if key.startswith("nansen/errors/"):
            summary.errors[key.removeprefix("nansen/errors/")] += int(value)
