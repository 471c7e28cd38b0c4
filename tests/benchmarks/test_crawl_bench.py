"""Crawl 1,000 local sites (politeness delays off): pages per second against a plain asyncio fetch.

The sites are 1,000 loopback addresses (127.0.X.Y, one shared port) answered by a small asyncio HTTP
server in its own process. The crawl is the real `site` spider in its child process (robots.txt,
address guard, metadata extraction, one transaction per check), timed end to end with its peak
memory; the baseline, in the same run, fetches the same 1,000 pages with bare asyncio streams and
32 connections at a time. Medians of 3.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from crawlers.run import CrawlOptions
from directory.models import Entry, LinkCheck
from directory.store import Store
from tests.benchmarks.measure import run_measured
from tests.conftest import REPO

SITES = 1000
PAGE = (
    b"<!doctype html><html lang='en'><head><title>Site</title><meta name='description' content='A test site'>"
    b"<link rel='alternate' type='application/rss+xml' href='/feed.xml'></head><body><h1>Hello</h1>"
    + b"<p>Some text about an organization.</p>" * 40
    + b"</body></html>"
)


def hosts() -> list[str]:
    return [f"127.0.{10 + i // 250}.{1 + i % 250}" for i in range(SITES)]


def _serve(port: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1]
            body = b"User-agent: *\nAllow: /\n" if path == b"/robots.txt" else PAGE
            kind = b"text/plain" if path == b"/robots.txt" else b"text/html; charset=utf-8"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: "
                + kind
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, host=hosts(), port=port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


async def _fetch_all(urls: list[str], concurrency: int = 32) -> int:
    semaphore = asyncio.Semaphore(concurrency)

    async def fetch(url: str) -> int:
        host, port = url.split("//")[1].rstrip("/").split(":")
        async with semaphore:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = await reader.read()
            writer.close()
            return len(data)

    sizes = await asyncio.gather(*(fetch(url) for url in urls))
    return sum(1 for size in sizes if size > len(PAGE))


def _crawl(url: str) -> tuple[float, float]:
    options = CrawlOptions(
        url,
        "https://nansen.example.org/",
        ("127.0.0.0/8",),
        polite=False,
        overrides={"CONCURRENT_REQUESTS": 32, "LOG_LEVEL": "ERROR"},
    )
    command = [
        sys.executable,
        "-m",
        "crawlers.child",
        "site",
        "--options",
        json.dumps(
            options.__dict__ | {"allow_networks": list(options.allow_networks), "overrides": dict(options.overrides)}
        ),
    ]
    elapsed, peak, _, _ = run_measured(command, env=os.environ, cwd=REPO)
    return elapsed, peak


def test_crawl_1000_local_sites(store: Store, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.10.1", 0))
        port = probe.getsockname()[1]
    ready = multiprocessing.get_context("spawn").Event()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port, ready), daemon=True)
    server.start()
    try:
        assert ready.wait(30), "the benchmark web did not start"
        urls = [f"http://{host}:{port}/" for host in hosts()]
        now = dt.datetime.now(dt.UTC)
        with store.session() as session:
            session.execute(
                insert(Entry),
                [
                    {
                        "slug": f"site-{i}",
                        "kind": "ngo",
                        "name_en": f"Site {i}",
                        "name_ru": f"Сайт {i}",
                        "summary_en": "s",
                        "summary_ru": "с",
                        "website": url,
                        "other_domains": [],
                        "feeds": [],
                        "host_countries": ["GE"],
                        "countries_served": [],
                        "languages": ["ru"],
                        "topics": [],
                        "contact_other": [],
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, url in enumerate(urls)
                ],
            )
        baseline_runs, crawl_runs, memory = [], [], []
        for _ in range(3):
            started = time.perf_counter()
            assert asyncio.run(_fetch_all(urls)) == SITES
            baseline_runs.append(time.perf_counter() - started)
            seconds, peak = _crawl(store.url)
            crawl_runs.append(seconds)
            memory.append(peak)
        with store.session() as session:
            ok = session.scalar(select(func.count(LinkCheck.id)).where(LinkCheck.outcome == "ok"))
        assert ok == 3 * SITES
    finally:
        server.kill()
    baseline, crawl = statistics.median(baseline_runs), statistics.median(crawl_runs)
    print(f"\n[{store.engine.dialect.name}] {SITES} local sites, politeness off, medians of 3:")
    print(f"  plain asyncio fetch (baseline)   {baseline:6.2f} s  {SITES / baseline:7.0f} pages/s   1.00x")
    print(
        f"  nansen site crawl (child proc.)  {crawl:6.2f} s  {SITES / crawl:7.0f} pages/s  "
        f"{baseline / crawl:5.2f}x   peak {statistics.median(memory):.0f} MiB"
    )
    print(
        "  (the crawl also fetches robots.txt per site, checks addresses, extracts metadata and "
        "writes a link check per site)"
    )
