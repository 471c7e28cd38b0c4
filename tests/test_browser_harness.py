"""The browser harness itself: real Chromium, a real HTTP server on 127.0.0.1, real screenshots.

`browser_page` comes from tests/browser.py, which tests/conftest.py loads with `pytest_plugins`.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser import require_browser, screenshot_is_blank, serve_directory

if TYPE_CHECKING:
    from playwright.sync_api import Page

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Start</title></head>
<body style="margin:0;font-family:sans-serif">
<p style="padding:1rem"><a id="next" href="second.html">Go to the second page</a></p>
</body></html>
"""

SECOND = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Second</title></head>
<body style="margin:0;font-family:sans-serif">
<header style="background:#1d3557;color:#fff;padding:1rem"><h1>Second page</h1></header>
<p style="padding:1rem">Exile media, NGOs and host-country programs.</p>
</body></html>
"""

EMPTY = '<!doctype html><html><head><meta charset="utf-8"></head><body style="background:#fff"></body></html>'


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(INDEX, encoding="utf-8")
    (root / "second.html").write_text(SECOND, encoding="utf-8")
    (root / "empty.html").write_text(EMPTY, encoding="utf-8")
    return root


def test_follows_a_link_and_screenshots_at_phone_width(browser_page: Page, site: Path, tmp_path: Path) -> None:
    with serve_directory(site) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        browser_page.goto(f"{base_url}/index.html")
        browser_page.click("#next")
        browser_page.wait_for_url(f"{base_url}/second.html")
        assert browser_page.locator("h1").inner_text() == "Second page"

        shot = tmp_path / "second.png"
        browser_page.screenshot(path=str(shot))
        assert browser_page.viewport_size == {"width": 390, "height": 844}
        assert struct.unpack(">II", shot.read_bytes()[16:24]) == (390, 844)
        assert screenshot_is_blank(shot) is False

        browser_page.goto(f"{base_url}/empty.html")
        empty = tmp_path / "empty.png"
        browser_page.screenshot(path=str(empty))
        assert screenshot_is_blank(empty) is True


@pytest.mark.parametrize("browser_page", [{"width": 1024, "height": 600}], indirect=True)
def test_viewport_can_be_chosen(browser_page: Page) -> None:
    assert browser_page.evaluate("[innerWidth, innerHeight]") == [1024, 600]


def _png(width: int, height: int, dark: set[tuple[int, int]]) -> bytes:
    """An 8-bit RGB PNG, white but for black pixels at `dark`, unfiltered (filter type 0)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(
        b"\x00" + b"".join(b"\x00\x00\x00" if (x, y) in dark else b"\xff\xff\xff" for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_blank_means_almost_every_pixel_has_one_colour(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(_png(100, 100, set()))
    assert screenshot_is_blank(path)
    path.write_bytes(_png(100, 100, {(0, 0)}))  # 1 of 10,000 pixels: a speck
    assert screenshot_is_blank(path)
    path.write_bytes(_png(100, 100, {(x, y) for x in range(10) for y in range(2)}))  # 20 pixels: something
    assert not screenshot_is_blank(path)


def test_missing_browser_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        require_browser(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_browser(missing)
