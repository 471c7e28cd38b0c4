"""Accessibility: axe-core, run in Debian's Chromium, finds no serious or critical violation on the site.

The seed data is published once per module (as tests/test_site_browser.py does) and served on loopback.
Each of the pages people land on — home, a country, a country × topic, an entry, the feeds page and the
search page, in Russian and English — is opened in the `browser_page` fixture at phone width, axe-core
is injected from the npm package pinned in tests/axe/package-lock.json, and every violation whose impact
is serious or critical fails the test with its rule, impact, help and one line per failing element.
Moderate and minor findings are not asserted on.

The search page is checked as people see it: once its script has shown the search box, again with results on
screen, and as it reads with JavaScript off. The home page is also checked at a desktop width.

axe-core is installed by `make test` (`npm ci --prefix tests/axe`). Without it (or without Chromium)
these tests skip locally with the reason, and fail under CI=true, where everything must run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from directory import imports
from directory.store import Store, upgrade
from pipeline.config import MIGRATION_LOCATIONS
from publishing import site
from publishing.feeds import FeedSettings
from tests.browser import serve_directory
from tests.conftest import REPO

if TYPE_CHECKING:
    from playwright.sync_api import Page

AXE_DIR = REPO / "tests" / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
WIDE_VIEWPORT = {"width": 1280, "height": 800}

# The pages people land on, by name: what each case is called and where it is under /<lang>/.
PAGES = {
    "home": "index.html",
    "country": "countries/ge.html",
    "country-topic": "countries/ge/topics/legal-aid.html",
    "entry": "entries/nemtsov-foundation.html",  # warnings and designations lead it, sources follow
    "feeds": "feeds.html",
    "search": "search/index.html",
}
SEARCH_INPUT = "#search-input"
SEARCH_RESULT = ".result a"
# A query with several results in each language, so the result list and its "More results" button show.
QUERIES = {"ru": "политзаключённые", "en": "visa"}
SCRIPT_ELEMENT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)

# Runs in the page: axe over the whole document, violations only, reduced to what a failure message
# needs (the full result holds the DOM's HTML for every node).
RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map(v => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({
      target: n.target,
      impact: n.impact,
      summary: [...n.any, ...n.all, ...n.none].map(check => check.message).filter(Boolean).join(" / "),
    })),
  }));
}"""


def axe_unavailable_reason(script: Path = AXE_SCRIPT) -> str | None:
    """Why axe-core cannot be injected here, or None when its script is installed."""
    if script.is_file():
        return None
    if shutil.which("npm") is None:
        return "npm is not installed (apt-get install nodejs npm), so axe-core cannot be installed"
    return f"axe-core is not installed at {script}: npm ci --prefix tests/axe --no-audit --no-fund (make test runs it)"


@pytest.fixture(scope="module")
def axe_script() -> Path:
    """The axe-core script to inject; skips the test locally without it, fails it under CI=true.

    Tests name it before `served`, so a machine without axe-core skips before the site is built."""
    reason = axe_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the accessibility tests cannot run: {reason}")
        pytest.skip(reason)
    return AXE_SCRIPT


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The seed data published with its search index, served over HTTP on 127.0.0.1; yields the base URL."""
    root = tmp_path_factory.mktemp("a11y-site")
    public = root / "public"
    public.mkdir()
    store = Store(f"sqlite:///{root / 'nansen.db'}", create=True)
    try:
        upgrade(store.engine, locations=MIGRATION_LOCATIONS)
        with serve_directory(public) as base:
            with store.session() as session:
                imports.import_paths(session, [REPO / "data"], "seed")
                site.build(session, site.SiteSettings(public, FeedSettings(f"{base}/", "nansen.example.org")))
            yield base
    finally:
        store.close()


def violations(page: Page, script: Path) -> list[dict[str, Any]]:
    """axe-core's violations on the page as loaded now (every impact), reduced by RUN_AXE."""
    page.add_script_tag(path=str(script))
    return list(page.evaluate(RUN_AXE))


def blocking_report(url: str, found: list[dict[str, Any]]) -> str:
    """The serious and critical violations in `found`, one rule per paragraph and one line per element
    (its CSS target and what axe says is wrong with it); an empty string when there are none."""
    lines = []
    for violation in found:
        if violation["impact"] not in BLOCKING:
            continue
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {violation['helpUrl']}")
        for node in violation["nodes"]:
            target = " >> ".join(json.dumps(part, ensure_ascii=False) for part in node["target"])
            lines.append(f"    {target}: {node['summary']}")
    if not lines:
        return ""
    return f"axe-core finds serious or critical violations on {url}:\n" + "\n".join(lines)


def assert_accessible(page: Page, script: Path) -> None:
    """Fail with every serious or critical axe violation on the page as it is now."""
    report = blocking_report(page.url, violations(page, script))
    assert not report, report


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_or_critical_violation(
    axe_script: Path, served: str, browser_page: Page, name: str, lang: str
) -> None:
    """Each page people land on, at phone width; the search page once its search box is on screen."""
    browser_page.goto(f"{served}/{lang}/{PAGES[name]}")
    if name == "search":
        browser_page.locator(SEARCH_INPUT).wait_for(state="visible")
    assert_accessible(browser_page, axe_script)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_search_results_have_no_serious_or_critical_violation(
    axe_script: Path, served: str, browser_page: Page, lang: str
) -> None:
    """The search page with a query typed and its results listed, which is what a searcher reads."""
    browser_page.goto(f"{served}/{lang}/{PAGES['search']}")
    browser_page.locator(SEARCH_INPUT).fill(QUERIES[lang])
    browser_page.locator(SEARCH_RESULT).first.wait_for(state="visible", timeout=10_000)
    assert_accessible(browser_page, axe_script)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_search_without_javascript_has_no_serious_or_critical_violation(
    axe_script: Path, served: str, browser_page: Page, lang: str
) -> None:
    """With JavaScript off the search page explains how to browse instead; that page must pass too.

    axe-core itself needs JavaScript (it waits on timers, which never fire with scripts disabled), so
    the page is served without its `<script>` elements instead: what a browser with JavaScript off
    renders, since the page has no `<noscript>` that would differ."""
    url = f"{served}/{lang}/{PAGES['search']}"
    html = browser_page.request.get(url).text()
    assert "<script" in html and "<noscript" not in html
    browser_page.route(url, lambda route: route.fulfill(body=SCRIPT_ELEMENT.sub("", html), content_type="text/html"))
    browser_page.goto(url)
    assert browser_page.locator("#no-search").is_visible()
    assert not browser_page.locator(SEARCH_INPUT).is_visible()
    assert_accessible(browser_page, axe_script)


@pytest.mark.parametrize("browser_page", [WIDE_VIEWPORT], indirect=True)
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_home_at_desktop_width_has_no_serious_or_critical_violation(
    axe_script: Path, served: str, browser_page: Page, lang: str
) -> None:
    """The home page at 1280 px, where the header and the country columns are laid out differently."""
    browser_page.goto(f"{served}/{lang}/{PAGES['home']}")
    assert_accessible(browser_page, axe_script)


def test_the_report_names_rule_impact_help_and_each_failing_element() -> None:
    """A failure must say what to fix and where; moderate and minor findings are left out of it."""
    found = [
        {
            "id": "color-contrast",
            "impact": "serious",
            "help": "Elements must meet minimum color contrast ratio thresholds",
            "helpUrl": "https://dequeuniversity.com/rules/axe/4.14/color-contrast",
            "nodes": [
                {"target": [".meta"], "impact": "serious", "summary": "Element has insufficient color contrast"},
                {"target": ["#search", "input"], "impact": "serious", "summary": "contrast of 3.1"},
            ],
        },
        {"id": "region", "impact": "moderate", "help": "Content in landmarks", "helpUrl": "", "nodes": []},
    ]
    report = blocking_report("http://127.0.0.1/ru/index.html", found)
    lines = report.splitlines()
    assert lines[0] == "axe-core finds serious or critical violations on http://127.0.0.1/ru/index.html:"
    assert lines[1].startswith("color-contrast (serious): Elements must meet minimum color contrast")
    assert lines[2:] == [
        '    ".meta": Element has insufficient color contrast',
        '    "#search" >> "input": contrast of 3.1',
    ]
    assert "region" not in report
    assert blocking_report("http://127.0.0.1/", found[1:]) == ""
