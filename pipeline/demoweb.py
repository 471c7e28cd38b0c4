"""A local stand-in for the seed entries' websites, for `make demo` (this machine has no internet).

Each entry gets a small site under http://127.0.0.1:PORT/<slug>/ made from its own data: a home page
with its title, description, OpenGraph and JSON-LD, a feed for outlets that have one, and a rules
page for programs. One site has moved for good to another host (127.0.0.2), so the crawl has
something to propose; one is gone (404). Everything is generated here, nothing is copied from the
real sites.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import threading
from collections.abc import Mapping, Sequence
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class DemoWeb:
    def __init__(self, entries: Sequence[Mapping[str, Any]], *, moved: str, gone: str) -> None:
        self.entries = {e["slug"]: e for e in entries}
        self.moved, self.gone = moved, gone
        self.servers: list[ThreadingHTTPServer] = []

    def start(self) -> DemoWeb:
        web = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = web.respond(self.headers.get("Host", ""), self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        main = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = main.server_address[1]
        other = ThreadingHTTPServer(("127.0.0.2", self.port), Handler)
        for server in (main, other):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def url(self, slug: str, path: str = "", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{slug}/{path}"

    # -- content

    def respond(self, host: str, path: str) -> tuple[int, dict[str, str], bytes]:
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"
        slug, _, rest = path.strip("/").partition("/")
        entry = self.entries.get(slug)
        if entry is None or slug == self.gone:
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        if slug == self.moved and not host.startswith("127.0.0.2"):
            return 301, {"Location": self.url(slug, rest, host="127.0.0.2")}, b""
        if rest == "feed.xml":
            return 200, {"Content-Type": "application/rss+xml; charset=utf-8"}, self.feed(entry)
        if rest == "rules":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, self.rules(entry)
        return 200, {"Content-Type": "text/html; charset=utf-8"}, self.home(entry)

    def home(self, entry: Mapping[str, Any]) -> bytes:
        e = html.escape
        name, summary = entry["name"]["ru"], entry["summary"]["ru"]
        organization = {
            "@context": "https://schema.org",
            "@type": "Organization",
            "name": entry["name"]["en"],
            "url": self.url(entry["slug"]),
        }
        feed = (
            f'<link rel="alternate" type="application/rss+xml" href="{self.url(entry["slug"], "feed.xml")}">'
            if entry.get("feeds")
            else ""
        )
        return (
            f'<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>{e(name)}</title>'
            f'<meta name="description" content="{e(summary)}"><meta property="og:title" content="{e(name)}">'
            f'{feed}<script type="application/ld+json">{json.dumps(organization, ensure_ascii=False)}</script>'
            f"</head><body><h1>{e(name)}</h1><p>{e(summary)}</p>"
            f'<a href="{self.url(entry["slug"], "contact")}">Контакты</a></body></html>'
        ).encode()

    def feed(self, entry: Mapping[str, Any]) -> bytes:
        e = html.escape
        now = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
        items = "".join(
            f"<item><title>{e(entry['name']['ru'])}: демонстрационная публикация {n}</title>"
            f"<link>{self.url(entry['slug'], f'posts/{n}')}</link><guid>{self.url(entry['slug'], f'posts/{n}')}</guid>"
            f"<pubDate>{format_datetime(now - dt.timedelta(days=n))}</pubDate>"
            f"<description>Текст публикации {n} — создан для демонстрации.</description></item>"
            for n in (1, 2)
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{e(entry['name']['ru'])}</title><link>{self.url(entry['slug'])}</link>"
            f"<description>Демо</description><language>ru</language>{items}</channel></rss>"
        ).encode()

    def rules(self, entry: Mapping[str, Any]) -> bytes:
        e = html.escape
        program = entry.get("program") or {}
        eligibility = (program.get("eligibility") or {}).get("en") or entry["summary"]["en"]
        return (
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(entry['name']['en'])}</title>"
            f"</head><body><nav>Home · About · Contact</nav><main><h1>{e(entry['name']['en'])}</h1>"
            f"<p>{e(entry['summary']['en'])}</p><p>Who qualifies: {e(eligibility)}</p></main>"
            "<footer>Demo page generated for Nansen</footer></body></html>"
        ).encode()
