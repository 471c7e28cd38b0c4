"""A fixture web for the crawler tests: the synthetic sites of `tests/fixtures/web/sites.py`, served over real
HTTP on loopback, so spiders meet real sockets, redirects across hosts, timeouts and refused connections.

Each site listens on its own address, 127.0.0.2, 127.0.0.3, … (Linux routes all of 127/8 to lo), all on one
port chosen free at start, so every site is a separate host: a 301 from one to another is a move to a new
domain. One thread accepts for every site; each request gets a daemon thread, and every answer carries
Content-Length and `Connection: close` — an HTTP/1.1 status line without keep-alive, so Twisted's connection
pool never reuses a socket the server is about to drop. Starting all the sites takes a few milliseconds, so
the `fixture_web` fixture is function-scoped: every test starts from the declared state.

    pytest_plugins = ["tests.fixtureweb"]  # in the test module, or once in tests/conftest.py

    def test_feed(fixture_web: FixtureWeb) -> None:
        fixture_web.url("feed-rss20", "/feed.xml")  # http://127.0.0.8:41234/feed.xml
        ...
        assert fixture_web.hits("feed-rss20", "/feed.xml") == 1
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import re
import selectors
import socket
import socketserver
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

from tests.fixtures.web.sites import SITES
from tests.fixtures.web.spec import HTML, NOT_FOUND, TEXT, Hit, Response, Site

FIRST_HOST = 2  # 127.0.0.1 stays free for everything else on the machine
CHUNK = 64 * 1024
IDLE_TIMEOUT = 10.0  # seconds a connected client may stay silent before its thread gives up
BIND_ATTEMPTS = 5  # the shared port may be taken on a later address; then start over on a new one
_TEMPLATE = re.compile(rb"\{\{(base|path|site:[A-Za-z0-9_.-]+)\}\}")


class Headers(dict[str, str]):
    """Request headers keyed case-insensitively, as HTTP means them: Twisted, urllib and tests spell names
    differently, and `requests(site)[0].headers["If-None-Match"]` should work whatever the client sent."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for name, value in items:
            key = name.lower()
            super().__setitem__(key, f"{self[key]}, {value}" if key in self else value)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


class RecordedRequest(NamedTuple):
    """One request as the site saw it; `path` keeps the query string."""

    method: str
    path: str
    headers: Headers


class _SiteServer(ThreadingHTTPServer):
    """One site's listening socket; the handler asks `web` what to answer for `site`."""

    daemon_threads = True  # a handler stuck on a slow client must never keep the test process alive

    def __init__(self, address: tuple[str, int], web: FixtureWeb, site: str) -> None:
        self.web = web
        self.site = site
        super().__init__(address, _Handler)
        self.timeout = 0.0  # handle_request() is only called when the selector saw a connection waiting

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the address with getfqdn(): a reverse DNS lookup per site, which
        # on a machine without DNS can take seconds. The name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (the 1 s timeout on the slow site, a crawler's size limit) are normal here;
        # anything else is a bug in the fixture web, kept for the fixture to fail the test with.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        self.web.errors.append(f"{self.site}: {traceback.format_exc()}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "NansenFixtureWeb/1.0"
    timeout = IDLE_TIMEOUT
    server: _SiteServer

    def setup(self) -> None:
        super().setup()
        self.server.web._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.web._untrack(self.connection)

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self.server.web._answer(self, with_body=True)

    def do_HEAD(self) -> None:
        self.server.web._answer(self, with_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: `requests()` is the log the tests read."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _not_modified(request: Headers, etag: str, last_modified: datetime) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; only without it does If-Modified-Since count."""
    if "If-None-Match" in request:
        candidates = [tag.strip().removeprefix("W/") for tag in request["If-None-Match"].split(",")]
        return "*" in candidates or etag in candidates
    if "If-Modified-Since" in request:
        try:
            since = parsedate_to_datetime(request["If-Modified-Since"])
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return last_modified <= since
    return False


class FixtureWeb:
    """The fixture web: start it (or use it as a context manager), point crawlers at `url(site, path)`.

    Mutable state — pages changed with `set_page`, delays, hit counts, recorded requests — belongs to this
    instance; `reset()` restores the declared state without restarting the servers.
    """

    def __init__(self, sites: Mapping[str, Site] | None = None) -> None:
        self.sites: dict[str, Site] = dict(SITES if sites is None else sites)
        if len(self.sites) > 255 - FIRST_HOST:
            raise ValueError("127.0.0.0/8 has room for 253 fixture sites after 127.0.0.1")
        self.addresses = {name: f"127.0.0.{FIRST_HOST + i}" for i, name in enumerate(self.sites)}
        self.port = 0
        self.errors: list[str] = []  # tracebacks from inside the server; the pytest fixture fails on any
        self._servers: dict[str, _SiteServer] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._accepting: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        # Declared content counts as a day old, so a change made during a test is always newer.
        self._declared_modified = _utc_now().replace(microsecond=0) - timedelta(days=1)
        self._overrides: dict[tuple[str, str], Response] = {}
        self._delays: dict[str, float] = {}
        self._hits: Counter[tuple[str, str]] = Counter()
        self._requests: dict[str, list[RecordedRequest]] = {}
        self._last_modified: dict[tuple[str, str], datetime] = {}
        self.reset()

    # -- the API the tests use ------------------------------------------------------------------------------

    def url(self, site: str, path: str = "/") -> str:
        """The absolute URL of `path` on `site`, e.g. http://127.0.0.5:41234/feed.xml."""
        return f"{self.base(site)}{path if path.startswith('/') else '/' + path}"

    def base(self, site: str) -> str:
        """The site's root without a trailing slash: what `{{base}}` becomes in bodies."""
        return f"http://{self.host(site)}:{self.port}"

    def host(self, site: str) -> str:
        """The site's host, its own 127.0.0.N, as `urlsplit(url).hostname` reports it."""
        self._check(site)
        return self.addresses[site]

    def hits(self, site: str, path: str) -> int:
        """How many requests reached `path` on `site` (query strings ignored, /robots.txt counted like any)."""
        self._check(site)
        with self._lock:
            return self._hits[(site, path)]

    def requests(self, site: str) -> list[RecordedRequest]:
        """Every request `site` received, in order, with its headers: for asserting what a crawler sent."""
        self._check(site)
        with self._lock:
            return list(self._requests[site])

    def set_page(
        self, site: str, path: str, body: bytes | str, content_type: str | None = HTML, status: int = 200
    ) -> None:
        """Serve `body` at `path` from now on (templates apply): a programme page v1 → v2, a feed with a new
        item. On a conditional site the ETag follows the body and Last-Modified moves forward."""
        self._check(site)
        with self._lock:
            self._overrides[(site, path)] = Response(status, body, content_type)
            # Whole seconds, as HTTP dates carry: two changes within one second still move it forward.
            previous = self._last_modified.get((site, path), self._declared_modified)
            self._last_modified[(site, path)] = max(_utc_now().replace(microsecond=0), previous + timedelta(seconds=1))

    def set_delay(self, site: str, seconds: float) -> None:
        """Hold back `site`'s answers (all but robots.txt) this long; 0 answers at once."""
        self._check(site)
        with self._lock:
            self._delays[site] = seconds

    def reset(self) -> None:
        """Back to the declared state: declared pages and delays, no hits, no recorded requests or errors."""
        with self._lock:
            self._overrides.clear()
            self._delays = {name: site.delay for name, site in self.sites.items()}
            self._hits.clear()
            self._requests = {name: [] for name in self.sites}
            self._last_modified.clear()
            self.errors.clear()

    def start(self) -> FixtureWeb:
        """Bind every listening site on one free port and start accepting."""
        if self._accepting is not None:
            raise RuntimeError("FixtureWeb already started")
        for attempt in range(BIND_ATTEMPTS):
            try:
                self._bind_all()
                break
            except OSError as exc:
                self._close_servers()
                if exc.errno != errno.EADDRINUSE or attempt == BIND_ATTEMPTS - 1:
                    raise
        self._accepting = threading.Thread(target=self._accept_loop, name="fixture-web", daemon=True)
        self._accepting.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake the slow sites' waits and cut open connections; returns at once."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        self._close_servers()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._wake_reader.close()
        self._wake_writer.close()

    def __enter__(self) -> FixtureWeb:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------------------------------------

    def _check(self, site: str) -> None:
        if site not in self.sites:
            raise KeyError(f"no fixture site {site!r}; known: {', '.join(self.sites)}")

    def _bind_all(self) -> None:
        port = 0
        for name, site in self.sites.items():
            if site.listening:
                server = _SiteServer((self.addresses[name], port), self, name)
                self._servers[name] = server
                port = server.server_port
        self.port = port

    def _close_servers(self) -> None:
        for server in self._servers.values():
            server.server_close()
        self._servers.clear()

    def _accept_loop(self) -> None:
        """One thread accepts for every site; ThreadingMixIn hands each connection its own thread."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_reader, selectors.EVENT_READ)
            for server in self._servers.values():
                selector.register(server, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if isinstance(key.fileobj, _SiteServer) and not self._stopping.is_set():
                        key.fileobj.handle_request()

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _expand(self, data: bytes, site: str, request_path: str, *, with_path: bool) -> bytes:
        """Fill in `{{base}}`, `{{site:NAME}}` and (headers only) `{{path}}`; see tests/fixtures/web/spec.py."""

        def replace(match: re.Match[bytes]) -> bytes:
            name = match.group(1).decode()
            if name == "base":
                return self.base(site).encode()
            if name == "path":
                return request_path.encode() if with_path else match.group(0)
            return self.base(name.removeprefix("site:")).encode()

        return _TEMPLATE.sub(replace, data) if b"{{" in data else data

    def _answer(self, handler: _Handler, *, with_body: bool) -> None:
        site_name = handler.server.site
        site = self.sites[site_name]
        path = urlsplit(handler.path).path or "/"
        request_headers = Headers(handler.headers.items())
        now = _utc_now()
        with self._lock:
            self._hits[(site_name, path)] += 1
            count = self._hits[(site_name, path)]
            self._requests[site_name].append(RecordedRequest(handler.command, handler.path, request_headers))
            response = self._overrides.get((site_name, path))
            delay = self._delays[site_name]
            last_modified = self._last_modified.get((site_name, path), self._declared_modified)
        if response is None:
            if path == "/robots.txt" and site.robots is not None:
                response = Response(200, site.robots, TEXT)
            else:
                response = site.pages.get(path) or site.fallback or NOT_FOUND
        if delay and path != "/robots.txt" and self._stopping.wait(delay):
            handler.close_connection = True  # stopped while waiting: hang up without an answer
            return

        body = response.body(Hit(count, now)) if callable(response.body) else response.body
        payload = self._expand(
            body.encode() if isinstance(body, str) else body, site_name, handler.path, with_path=False
        )
        status = response.status
        headers = [
            (name, self._expand(value.encode(), site_name, handler.path, with_path=True).decode())
            for name, value in response.headers
        ]
        if response.content_type is not None:
            headers.append(("Content-Type", response.content_type))
        if site.conditional and status == 200:
            etag = f'"{hashlib.sha256(payload).hexdigest()[:20]}"'
            headers += [("ETag", etag), ("Last-Modified", format_datetime(last_modified, usegmt=True))]
            if _not_modified(request_headers, etag, last_modified):
                status, payload = 304, b""
                headers = [(name, value) for name, value in headers if name != "Content-Type"]
        if site.gzip and status == 200:
            headers.append(("Vary", "Accept-Encoding"))
            if "gzip" in request_headers.get("Accept-Encoding", ""):
                payload = gzip.compress(payload, mtime=0)
                headers.append(("Content-Encoding", "gzip"))

        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        if status != 304:  # a 304 has no body, and its Content-Length would have to be the 200's
            handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        if with_body:
            view = memoryview(payload)
            for start in range(0, len(view), CHUNK):
                handler.wfile.write(view[start : start + CHUNK])


@pytest.fixture
def fixture_web() -> Iterator[FixtureWeb]:
    """A started fixture web for one test; fails the test if the server itself raised anything."""
    with FixtureWeb() as web:
        yield web
        errors = list(web.errors)
    if errors:
        pytest.fail("the fixture web raised while serving:\n" + "\n".join(errors))
