"""The built site in a real browser, served by `nansen serve`, at phone width."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from directory import imports
from directory.store import Store, upgrade
from pipeline.config import MIGRATION_LOCATIONS
from publishing import site
from publishing.feeds import FeedSettings
from tests.browser import screenshot_is_blank
from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The seed data published and served by `nansen serve` in its own process."""
    root = tmp_path_factory.mktemp("site")
    store = Store(f"sqlite:///{root / 'nansen.db'}")
    upgrade(store.engine, locations=MIGRATION_LOCATIONS)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with store.session() as session:
        imports.import_paths(session, [REPO / "data"], "seed")
        site.build(session, site.SiteSettings(root / "public", FeedSettings(base, "nansen.example.org")))
    store.close()
    nansen = str(Path(sys.executable).with_name("nansen"))
    server = subprocess.Popen(
        [nansen, "serve", "--port", str(port), "--directory", str(root / "public")],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"{base}/", timeout=1).close()
                break
            except OSError as exc:
                if time.monotonic() > deadline or server.poll() is not None:
                    output = server.stdout.read() if server.stdout else ""
                    raise RuntimeError(f"nansen serve did not start: {output}") from exc
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_country_to_entry_to_feed_at_phone_width(served: str, browser_page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.goto(f"{served}/")
    page.get_by_role("link", name="по-русски").click()
    page.get_by_role("link", name="Грузия").first.click()
    assert page.locator("h1").inner_text() == "Грузия"
    assert page.url.endswith("/ru/countries/ge.html")
    page.locator(".card h3 a").first.click()
    assert "/ru/entries/" in page.url
    slug = page.url.rsplit("/", 1)[1].removesuffix(".html")
    feed = page.locator('link[rel="alternate"][type="application/atom+xml"]').get_attribute("href")
    assert feed and feed.endswith(f"/ru/feeds/entry/{slug}.atom")  # "follow this page" follows this entry
    follow = page.get_by_role("link", name="Следить за обновлениями этой карточки через ленту")
    href = follow.evaluate("a => a.href")
    assert href.endswith(f"/ru/feeds/entry/{slug}.atom")
    response = page.request.get(href)
    assert response.ok and b"<feed" in response.body()
    shot = tmp_path / "entry-phone.png"
    page.screenshot(path=str(shot), full_page=True)
    assert not screenshot_is_blank(shot)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"


def test_site_works_without_javascript(served: str, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.goto(f"{served}/en/index.html")
    assert page.locator("script").count() == 0
    page.get_by_role("link", name="Programs").first.click()
    assert "paused" in page.locator("main").inner_text()
