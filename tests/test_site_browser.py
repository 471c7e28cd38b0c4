"""The built site in a real browser, served by `nansen serve`, at phone width."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
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
from tests.conftest import REPO, free_port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The seed data published and served by `nansen serve` in its own process."""
    root = tmp_path_factory.mktemp("site")
    store = Store(f"sqlite:///{root / 'nansen.db'}", create=True)
    upgrade(store.engine, locations=MIGRATION_LOCATIONS)
    port = free_port()
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


def test_what_is_there_for_me_in_this_country(served: str, browser_page) -> None:  # type: ignore[no-untyped-def]
    """Home → a country → one topic there: the question people ask, answered without JavaScript."""
    page = browser_page
    page.goto(f"{served}/ru/index.html")
    page.get_by_role("link", name="Грузия").first.click()
    page.get_by_role("navigation", name="Что есть для меня в этой стране?").get_by_role(
        "link", name="Юридическая помощь"
    ).click()
    assert page.locator("h1").inner_text() == "Юридическая помощь — Грузия"
    assert page.url.endswith("/ru/countries/ge/topics/legal-aid.html")
    assert page.locator(".card").count() >= 1
    feed = page.locator('link[rel="alternate"][type="application/atom+xml"]').get_attribute("href")
    assert feed and feed.endswith("/ru/feeds/country/ge/topic/legal-aid.atom")


@pytest.mark.parametrize(
    ("lang", "query", "expected"),
    [
        ("ru", "политзаключённые", {"memorial-political-prisoners", "ovd-info", "politzek-me", "dissidentby"}),
        ("en", "visa Georgia", {"ge-visa-free-stay"}),
        ("en", "Медуза", {"meduza"}),  # a name in the other language finds it too
        ("en", "IT visa", {"uz-it-visa"}),  # a stopword in a name is still what is asked for
        ("ru", "безвизов Груз", {"ge-visa-free-stay"}),  # words still being typed
    ],
)
def test_search_finds_the_entries_people_ask_for(  # type: ignore[no-untyped-def]
    served: str, browser_page, lang: str, query: str, expected: set[str]
) -> None:
    page = browser_page
    page.goto(f"{served}/{lang}/search/index.html")
    page.locator("#search-input").fill(query)
    page.locator(".result a").first.wait_for(timeout=10_000)
    links = page.locator(".result a").evaluate_all("links => links.map(a => a.href)")
    found = [link.rsplit("/", 1)[1].removesuffix(".html") for link in links[:5]]
    message = page.locator("#search-message").inner_text()
    assert message.startswith({"ru": "Найдено: ", "en": "Found: "}[lang]), message  # no «3 результатов»
    assert all(f"/{lang}/entries/" in link for link in links), links
    assert expected & set(found), found


# Runs in the search page with the page's own search.js: every entry searched for by its name in
# each language, and every word of the index searched for alone.
RECALL = """async () => {
  const load = path => fetch("../../" + path).then(response => response.status === 404 ? {} : response.json());
  const stopwords = new Set(document.getElementById("search").dataset.stopwords.split(" "));
  const finder = new NansenSearch.Finder(load, stopwords);
  const names = [], lost = [], ranks = [];
  for (const lang of ["ru", "en"]) {
    for (let n = 0; n < 64; n++) {
      for (const [slug, card] of Object.entries(await load(`search/${lang}/cards/${n}.json`))) {
        const found = (await finder.find(card[0])) || [];
        names.push(card[0]);
        ranks.push(found.indexOf(slug));
      }
    }
  }
  const sizes = {};
  for (let n = 0; n < 256; n++) {
    const shard = await load(`search/terms/${n}.json`);
    for (const [word, postings] of Object.entries(shard.words || {})) {
      const found = new Set((await finder.find(word)) || []);
      const missed = Object.keys(postings).filter(slug => !found.has(slug));
      if (missed.length) lost.push([word, missed]);
      sizes[word] = found.size;
    }
  }
  return {names, ranks, sizes, lost};
}"""


def test_every_entry_is_found_by_its_name_and_every_indexed_word_finds_all_its_entries(  # type: ignore[no-untyped-def]
    served: str, browser_page
) -> None:
    """And a word finds nothing more than the entries with a word of its stem, as the database search."""
    page = browser_page
    page.goto(f"{served}/en/search/index.html")
    result = page.evaluate(RECALL)
    unfound = [name for name, rank in zip(result["names"], result["ranks"], strict=True) if rank < 0]
    assert len(result["names"]) > 400 and len(result["sizes"]) > 5000
    assert unfound == [] and result["lost"] == []
    # A word's stem-mates are those of its shard: a stem under two letters («ее» → «е») can have others.
    of_stem: dict[tuple[int, str], set[str]] = {}
    stem_of: dict[str, tuple[int, str]] = {}
    for n in range(256):
        try:
            with urllib.request.urlopen(f"{served}/search/terms/{n}.json") as response:
                shard = json.load(response)
        except urllib.error.HTTPError:
            continue
        for word, postings in shard["words"].items():
            stem_of[word] = (n, shard["stems"].get(word, word))
            of_stem.setdefault(stem_of[word], set()).update(postings)
    stopwords = set(page.locator("#search").get_attribute("data-stopwords").split())  # type: ignore[union-attr]
    wider = {w: n for w, n in result["sizes"].items() if w not in stopwords and n != len(of_stem[stem_of[w]])}
    assert wider == {}
    first = sum(1 for rank in result["ranks"] if rank == 0) / len(result["ranks"])
    assert first > 0.95, first  # the entry called what was asked for comes first


def test_a_search_is_a_link_and_shows_ten_results_at_a_time(served: str, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.goto(f"{served}/en/search/index.html?q=visa")
    assert page.locator("#search-input").input_value() == "visa"
    page.locator(".result a").first.wait_for(timeout=10_000)
    total = int(page.locator("#search-message").inner_text().removeprefix("Found: ").split(",")[0])
    assert total > 10 and page.locator(".result").count() == 10
    page.get_by_role("button", name="More results").click()
    page.locator(".result").nth(10).wait_for(timeout=10_000)
    assert page.evaluate("document.activeElement.textContent") == page.locator(".result a").nth(10).inner_text()
    page.locator("#search-input").fill("визы")
    page.wait_for_url("**/search/index.html?q=*")
    assert page.locator("#search-message").inner_text().startswith("Found: ")


def test_a_query_is_shown_as_typed_and_kept_in_the_address_even_when_sent_at_once(  # type: ignore[no-untyped-def]
    served: str, browser_page
) -> None:
    page = browser_page
    page.goto(f"{served}/ru/search/index.html")
    page.locator("#search-input").fill("Медуза $& $` <b>")
    page.locator("#search-input").press("Enter")  # before the 150 ms pause after typing
    page.wait_for_url("**/search/index.html?q=*")
    page.locator(".result a").first.wait_for(timeout=10_000)
    message = page.locator("#search-message").inner_text()
    assert re.fullmatch(r"Найдено: [1-9]\d* по запросу «Медуза \$& \$` <b>»", message), message
    assert "q=" in (page.locator("a.switch").get_attribute("href") or "")


def test_a_result_carries_the_warnings_a_listing_shows(served: str, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.goto(f"{served}/en/search/index.html?q=Nemtsov Foundation")
    page.locator(".result a").first.wait_for(timeout=10_000)
    first = page.locator(".result").first
    assert (first.locator("a").get_attribute("href") or "").endswith("/en/entries/nemtsov-foundation.html")
    assert first.locator(".badge.warning").all_inner_texts() == ["undesirable organization"]


def test_a_search_that_cannot_load_its_index_says_so(served: str, browser_page) -> None:  # type: ignore[no-untyped-def]
    """As from file://, where the browser refuses every fetch: not «Found: 0»."""
    page = browser_page
    page.route("**/search/terms/**", lambda route: route.abort())
    page.goto(f"{served}/en/search/index.html?q=meduza")
    page.get_by_text("Search could not load its index").wait_for(timeout=10_000)
    assert page.locator(".result").count() == 0


@pytest.mark.parametrize("browser_page", [{"javascript": False}], indirect=True)
def test_without_javascript_the_search_page_says_how_to_browse(served: str, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.goto(f"{served}/ru/search/index.html")
    assert page.get_by_text("Для поиска нужен JavaScript").is_visible()
    page.get_by_role("link", name="по стране, а в ней — по теме или виду организаций").click()
    assert page.url.endswith("/ru/countries/index.html")
