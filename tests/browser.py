"""A real browser for the tests: Debian's headless Chromium, driven by Playwright for Python.

tests/conftest.py loads this module as a plugin (`pytest_plugins = ["tests.browser"]`), so every test
can ask for a `Page` from the `browser_page` fixture (phone width, 390x844, unless a test passes another
viewport through indirect parametrization) and serve files with `serve_directory`:

    from tests.browser import serve_directory

    def test_home(browser_page: Page, tmp_path: Path) -> None:
        with serve_directory(site_dir) as base_url:
            browser_page.goto(f"{base_url}/index.html")

    @pytest.mark.parametrize("browser_page", [{"width": 1280, "height": 800}], indirect=True)
    def test_wide(browser_page: Page) -> None: ...

Playwright never downloads a browser here: it runs /usr/bin/chromium (`apt-get install chromium`).
Without it, or without the `playwright` package, the tests skip locally and fail when CI=true.
`screenshot_is_blank` decodes a PNG with the standard library and tells whether (almost) every pixel
has one colour.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import tempfile
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
PHONE_VIEWPORT = {"width": 390, "height": 844}
LAUNCH_TIMEOUT_MS = 20_000  # a cold start on a busy 2-core CI machine; a warm one takes about a second
ACTION_TIMEOUT_MS = 5_000  # every goto, click, wait and screenshot on the page
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine reaches no network: keep Chromium from trying on its own.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_unavailable_reason(executable: str = CHROMIUM) -> str | None:
    """Why a browser test cannot run here, or None when Playwright and Chromium are both present."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install -e '.[test]'"
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        return f"Chromium is not installed at {executable}: apt-get install chromium"
    return None


def require_browser(executable: str = CHROMIUM) -> None:
    """Skip the test when the browser is missing, but fail it under CI=true, where it must run."""
    reason = browser_unavailable_reason(executable)
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the browser tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh Chromium (own temporary profile) with one page; everything is closed afterwards.

    Parametrize indirectly with a viewport (`{"width": …, "height": …}`), and `"javascript": False` to
    browse as someone with JavaScript turned off."""
    require_browser()
    from playwright.sync_api import sync_playwright

    options = dict(getattr(request, "param", None) or {})
    javascript = bool(options.pop("javascript", True))
    viewport = options or dict(PHONE_VIEWPORT)
    with (
        tempfile.TemporaryDirectory(prefix="nansen-chromium-", ignore_cleanup_errors=True) as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=viewport,
            java_script_enabled=javascript,
            timeout=LAUNCH_TIMEOUT_MS,
        )
        try:
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve `root` over HTTP on 127.0.0.1 (a free port) in a thread; yields the base URL, no slash."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- PNG -----------------------------------------------------------------------------------------

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


def _png_pixels(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, bytes per pixel, unfiltered pixel bytes) of a non-interlaced 8/16-bit PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    position, idat, header = 8, [], None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour, _, _, interlace = header
    if depth not in (8, 16) or colour not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: bit depth {depth}, colour type {colour}, interlace {interlace}")
    bpp = _CHANNELS[colour] * depth // 8
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    out = bytearray(stride * height)
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = previous[i]
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + predictor) & 0xFF
        elif kind != 0:
            raise ValueError(f"bad PNG filter type {kind} in row {y}")
        out[y * stride : (y + 1) * stride] = line
        previous = bytes(line)
    return width, height, bpp, bytes(out)


def screenshot_is_blank(png_path: str | os.PathLike[str], tolerance: float = 0.0001) -> bool:
    """True when all pixels but a `tolerance` share of them have one colour (a page that shows nothing).

    At phone width 0.0001 is 33 pixels: a stray dot passes as blank, a two-letter word of body text
    (about 100 pixels) does not.
    """
    width, height, bpp, pixels = _png_pixels(Path(png_path).read_bytes())
    total = width * height
    if total == 0:
        return True
    counts = Counter(pixels[i : i + bpp] for i in range(0, len(pixels), bpp))
    _, dominant = counts.most_common(1)[0]
    return total - dominant <= tolerance * total
