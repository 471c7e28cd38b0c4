"""The email digest: rendered once per segment (Jinja2 → MJML → HTML, and plain text), personalized per subscriber."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from directory import entries
from directory.store import Store
from newsletter import digest
from newsletter.digest import PREFERENCES_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, personalize, render_digest
from publishing import updates
from publishing.updates import EntryView, Update, _Change
from tests.browser import screenshot_is_blank
from tests.conftest import entry_record, program_record

if TYPE_CHECKING:
    from playwright.sync_api import Page

ME = entries.Actor("maintainer")
SITE = "https://nansen.example.org"
DATE = dt.date(2026, 11, 23)
UNSUBSCRIBE = "https://nansen.example.org/unsubscribe?token=abc.DEF-123&lang=ru"
PREFERENCES = "https://nansen.example.org/preferences?token=abc.DEF-123&lang=ru"


# --------------------------------------------------------------------------- building updates


def _view(slug: str, kind: str, name_en: str, name_ru: str, *, state: str | None = None) -> EntryView:
    return EntryView(
        slug=slug,
        kind=kind,
        name={"en": name_en, "ru": name_ru},
        host_countries=("DE",) if kind == "program" else ("GE",),
        countries_served=("RU", "BY"),
        languages=("ru", "en"),
        topics=("visas-residence",) if kind == "program" else ("legal-aid",),
        status="active",
        program_state=state,
        program_state_since="2025-08-01" if state else None,
    )


def _added(number: int, entry: EntryView, summary_en: str, summary_ru: str) -> Update:
    created = json.dumps({"summary": {"en": summary_en, "ru": summary_ru}}, ensure_ascii=False)
    return Update(
        id=f"update-{number}",
        time=dt.datetime(2026, 11, 20, 9, number % 60, tzinfo=dt.UTC),
        kind="added",
        entry=entry,
        changes=(_Change("created", None, created),),
    )


def _website_changed(number: int, entry: EntryView, old: str, new: str) -> Update:
    return Update(
        id=f"update-{number}",
        time=dt.datetime(2026, 11, 21, 9, number % 60, tzinfo=dt.UTC),
        kind="changed",
        entry=entry,
        changes=(_Change("website", json.dumps(old), json.dumps(new)),),
    )


def sample_updates() -> list[Update]:
    """A week as subscribers would see it: one of each kind, a paused program, a long URL."""
    paused = _view(
        "de-humanitarian-visa", "program", "German humanitarian visa", "Гуманитарная виза Германии", state="paused"
    )
    legal = _view("test-legal-aid", "ngo", "Test Legal Aid", "Тестовая юридическая помощь")
    media = _view("test-media", "media", "Test Exile Daily", "Тестовая газета в изгнании")
    return [
        _added(
            1,
            media,
            "An independent newsroom that moved abroad.\nIt publishes daily in Russian.",
            "Независимая редакция, которая переехала за границу.\nВыходит каждый день по-русски.",
        ),
        _added(
            2,
            legal,
            "Lawyers who defend political prisoners and their families.",
            "Юристы, которые защищают политзаключённых и их семьи.",
        ),
        _website_changed(
            3,
            legal,
            "https://example.org",
            "https://new.example.org/a/very/long/path/that/would/overflow/a/phone/screen/if/it/could/not/break",
        ),
        _added(
            4,
            paused,
            "A national visa for people at risk.\n\nApplications are reviewed one by one.",
            "Национальная виза для людей в опасности.\n\nЗаявления рассматривают по одному.",
        ),
    ]


def many_updates(count: int) -> list[Update]:
    entry = _view("test-legal-aid", "ngo", "Test Legal Aid", "Тестовая юридическая помощь")
    return [_added(i, entry, "Summary.", "Описание.") for i in range(count)]


def render(items: list[Update], lang: str = "ru") -> digest.DigestContent:
    return render_digest(items, lang, site_url=SITE + "/", number=12, date=DATE)


class _Resources(HTMLParser):
    """Every attribute that makes a client fetch or follow something, and every tag seen."""

    ATTRIBUTES = frozenset({"href", "src", "srcset", "background", "poster", "action", "data", "formaction"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.other: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in self.ATTRIBUTES and value is not None:
                if tag == "a" and name == "href":
                    self.links.append(value)
                else:
                    self.other.append((tag, name, value))


def resources(html: str) -> _Resources:
    parser = _Resources()
    parser.feed(html)
    parser.close()
    return parser


# --------------------------------------------------------------------------- content and languages


@pytest.fixture
def week(store: Store) -> list[Update]:
    """Real updates from a real database: two entries added, then a program paused and a website changed."""
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
        entries.add_entry(session, program_record(**{"program.state": "open", "program.state_since": None}), ME)
    with store.session() as session:
        entries.edit_entry(
            session, "test-program", {"program.state": "paused", "program.state_since": "2025-08-01"}, ME
        )
        entries.edit_entry(session, "test-org", {"website": "https://new.example.org"}, ME)
    with store.session() as session:
        return updates.collect(session)


def test_both_languages_from_real_updates(week: list[Update]) -> None:
    assert len(week) == 4
    ru = render(week, "ru")
    en = render(week, "en")
    assert ru.subject == "Нансен №12: 4 обновления — 23 ноября 2026"
    assert en.subject == "Nansen №12: 4 updates — 23 November 2026"

    assert '<html lang="ru"' in ru.html and '<html lang="en"' in en.html
    assert "Нансен №12 · 23 ноября 2026" in ru.html and "Nansen №12 · 23 November 2026" in en.html
    assert "С прошлого выпуска — 4 обновления по выбранным вами странам" in ru.html
    for part in (ru.html, ru.text):
        assert "Программы принимающих стран" in part and "Организации и инициативы" in part
        assert "Новое в каталоге: Тестовая юридическая помощь" in part
        assert "Юристы, которые защищают политзаключённых" in part
        assert "Сайт: https://new.example.org" in part
        assert "Отписаться" in part and "Изменить подписку" in part
        assert "Host-country programs" not in part and "Unsubscribe" not in part
    for part in (en.html, en.text):
        assert "Host-country programs" in part and "Organizations and initiatives" in part
        assert "New in the directory: Test Legal Aid" in part and "Website: https://new.example.org" in part
        assert "Unsubscribe" in part and "Change your subscription" in part
    assert f"{SITE}/ru/entries/test-org.html" in ru.html and f"{SITE}/en/entries/test-org.html" in en.html
    assert "<title>Нансен №12: 4 обновления — 23 ноября 2026</title>" in ru.html


@pytest.mark.parametrize(
    ("count", "subject", "intro"),
    [
        (1, "Нансен №12: 1 обновление — 23 ноября 2026", "С прошлого выпуска — 1 обновление"),
        (2, "Нансен №12: 2 обновления — 23 ноября 2026", "С прошлого выпуска — 2 обновления"),
        (5, "Нансен №12: 5 обновлений — 23 ноября 2026", "С прошлого выпуска — 5 обновлений"),
        (11, "Нансен №12: 11 обновлений — 23 ноября 2026", "С прошлого выпуска — 11 обновлений"),
        (21, "Нансен №12: 21 обновление — 23 ноября 2026", "С прошлого выпуска — 21 обновление "),
    ],
)
def test_russian_plural_forms(count: int, subject: str, intro: str) -> None:
    content = render(many_updates(count), "ru")
    assert content.subject == subject
    assert intro in content.html and intro in " ".join(content.text.split())


@pytest.mark.parametrize(("count", "subject"), [(1, "1 update —"), (2, "2 updates —"), (21, "21 updates —")])
def test_english_plural_forms(count: int, subject: str) -> None:
    content = render(many_updates(count), "en")
    assert content.subject == f"Nansen №12: {subject} 23 November 2026"


def test_sections_in_order_programs_first_and_only_when_not_empty() -> None:
    content = render(sample_updates(), "en")
    headings = ["Host-country programs", "Organizations and initiatives", "Exile media"]
    for part in (content.html, content.text):
        positions = [part.index(h) for h in headings]
        assert positions == sorted(positions)
    # Updates keep their order inside a section.
    assert content.text.index("New in the directory: Test Legal Aid") < content.text.index("Test Legal Aid: updated")

    only_media = render([sample_updates()[0]], "en")
    for part in (only_media.html, only_media.text):
        assert "Exile media" in part
        assert "Host-country programs" not in part and "Organizations and initiatives" not in part


def test_an_empty_digest_says_nothing_changed() -> None:
    content = render([], "ru")
    assert content.subject == "Нансен №12: 0 обновлений — 23 ноября 2026"
    assert "ничего не изменилось" in content.html and "ничего не изменилось" in content.text
    assert "Программы принимающих стран" not in content.html


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="no digest in 'de'"):
        render_digest([], "de", site_url=SITE, number=1, date=DATE)


# --------------------------------------------------------------------------- no tracking, safe content


def test_links_go_only_to_our_site_or_the_subscriber_pages() -> None:
    content = render(sample_updates(), "ru")
    found = resources(content.html)
    assert found.links, "the digest links to its entries"
    assert found.other == []  # no src, background, srcset… at all
    assert "img" not in found.tags and "<img" not in content.html
    assert "link" not in found.tags and "@import" not in content.html and "googleapis" not in content.html
    assert not re.search(r"url\(", content.html)
    for href in found.links:
        assert href.startswith(f"{SITE}/ru/") or href in (UNSUBSCRIBE_PLACEHOLDER, PREFERENCES_PLACEHOLDER), href
    assert f"{SITE}/ru/entries/de-humanitarian-visa.html" in found.links
    assert f"{SITE}//" not in content.html  # the site URL's trailing slash is not doubled
    # The placeholders survive MJML unchanged, as hrefs.
    assert found.links.count(UNSUBSCRIBE_PLACEHOLDER) == 1 and found.links.count(PREFERENCES_PLACEHOLDER) == 1

    mine = personalize(content, unsubscribe_url=UNSUBSCRIBE, preferences_url=PREFERENCES)
    links = resources(mine.html).links
    assert all(href.startswith(f"{SITE}/ru/") or href in (UNSUBSCRIBE, PREFERENCES) for href in links)
    assert UNSUBSCRIBE in links and PREFERENCES in links  # unescaped by the parser: `&amp;` in the HTML


def test_every_url_in_the_text_part_is_ours_or_from_the_update() -> None:
    content = render(sample_updates(), "en")
    urls = re.findall(r"https?://\S+", content.text)
    ours = [u for u in urls if u.startswith(f"{SITE}/en/") or u in (UNSUBSCRIBE_PLACEHOLDER, PREFERENCES_PLACEHOLDER)]
    # The one other URL is the new website named in an update's text, shown as text.
    assert sorted(set(urls) - set(ours)) == [
        "https://new.example.org/a/very/long/path/that/would/overflow/a/phone/screen/if/it/could/not/break"
    ]


def test_hostile_content_is_escaped(store: Store) -> None:
    hostile = entry_record(
        "hostile",
        **{
            "name.en": 'Evil <script>alert("x")</script>',
            "summary.en": "<img src=x onerror=alert(1)> <b>bold</b>\n<a href='https://evil.example'>click</a>",
        },
    )
    with store.session() as session:
        entries.add_entry(session, hostile, ME)
    with store.session() as session:
        found = updates.collect(session)
    content = render(found, "en")
    assert "<script>" not in content.html and "<img" not in content.html and "<b>" not in content.html
    assert "Evil &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in content.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in content.html
    assert "https://evil.example" not in resources(content.html).links
    assert all(href.startswith(SITE) or "nansen.invalid" in href for href in resources(content.html).links)
    # The plain-text part is text: the title reads as written.
    assert 'New in the directory: Evil <script>alert("x")</script>' in content.text


def test_a_paused_program_says_so_in_both_parts(week: list[Update]) -> None:
    for lang, notice, since in (
        ("ru", "Приостановлена с 1 августа 2025 года.", "Прежде чем на это рассчитывать, уточните у властей страны."),
        ("en", "Paused since 1 August 2025.", "Check with the authorities before you rely on it."),
    ):
        content = render(week, lang)
        assert f"<strong>{notice}</strong> {since}" in content.html
        text = " ".join(content.text.split())
        assert f"! {notice} {since}" in text
        # Two updates of the paused program (added, then paused): the notice is on both; none on the NGO.
        assert content.html.count(notice) == 2

    open_program = render([_added(1, _view("p", "program", "Open visa", "Открытая виза", state="open"), "x", "x")])
    assert "риостановлена" not in open_program.html and "акрыта" not in open_program.html


def test_a_closed_organization_says_so(store: Store) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
    with store.session() as session:
        entries.close_entry(session, "test-org", ME, reason="announced its closure")
    with store.session() as session:
        found = updates.collect(session)
    content = render(found, "ru")
    assert "<strong>Эта организация закрылась.</strong>" in content.html
    assert content.text.count("  ! Эта организация закрылась.") == 2  # on the closure and on the older news


def test_the_text_part_is_laid_out_for_reading() -> None:
    content = render(sample_updates(), "ru")
    lines = content.text.splitlines()
    heading = "Нансен №12 · 23 ноября 2026"
    assert lines[0] == heading and lines[1] == "=" * len(heading)
    section = lines.index("Программы принимающих стран")
    assert lines[section + 1] == "-" * len("Программы принимающих стран")
    item = lines.index("* Новое в каталоге: Тестовая газета в изгнании")
    assert lines[item + 1 : item + 4] == [
        "  Независимая редакция, которая переехала за границу.",
        "  Выходит каждый день по-русски.",
        f"  {SITE}/ru/entries/test-media.html",
    ]
    assert all(len(line) <= 72 or "://" in line for line in lines), "wrapped, except lines holding a URL"
    assert "<" not in content.text.replace("<script>", "")  # no markup leaked in
    assert f"Отписаться: {UNSUBSCRIBE_PLACEHOLDER}" in content.text
    assert f"Изменить подписку: {PREFERENCES_PLACEHOLDER}" in content.text


# --------------------------------------------------------------------------- personalization


def test_personalize_fills_every_placeholder_in_both_parts() -> None:
    content = render(sample_updates(), "ru")
    assert UNSUBSCRIBE_PLACEHOLDER in content.text and PREFERENCES_PLACEHOLDER in content.text
    mine = personalize(content, unsubscribe_url=UNSUBSCRIBE, preferences_url=PREFERENCES)
    for part in (mine.html, mine.text):
        assert "nansen.invalid" not in part
    assert mine.html.count(UNSUBSCRIBE.replace("&", "&amp;")) == content.html.count(UNSUBSCRIBE_PLACEHOLDER)
    assert mine.html.count(PREFERENCES.replace("&", "&amp;")) == content.html.count(PREFERENCES_PLACEHOLDER)
    assert "token=abc.DEF-123&lang" not in mine.html  # escaped in HTML…
    assert f"Отписаться: {UNSUBSCRIBE}" in mine.text  # …and as written in plain text
    assert mine.subject == content.subject
    assert "nansen.invalid" in content.html  # the shared rendering is left as it was

    other = personalize(content, unsubscribe_url=f"{SITE}/u/other", preferences_url=f"{SITE}/p/other")
    assert f"{SITE}/u/other" in other.html and UNSUBSCRIBE.replace("&", "&amp;") not in other.html


def test_personalize_refuses_what_is_not_a_web_address() -> None:
    content = render(many_updates(1), "en")
    with pytest.raises(ValueError, match="not an http"):
        personalize(content, unsubscribe_url="javascript:alert(1)", preferences_url=PREFERENCES)


def test_render_once_personalize_many_is_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    items = many_updates(30) + sample_updates()
    started = time.perf_counter()
    content = render(items, "ru")
    rendered = time.perf_counter() - started

    # Personalizing never renders: break both renderers and it still works.
    import mjml

    def no_rendering(*args: object, **kwargs: object) -> None:
        raise AssertionError("personalize rendered the digest again")

    monkeypatch.setattr(mjml, "mjml2html", no_rendering)
    monkeypatch.setattr(digest, "_environment", no_rendering)
    started = time.perf_counter()
    for number in range(10_000):
        mine = personalize(
            content, unsubscribe_url=f"{SITE}/u/{number}?t=x&y", preferences_url=f"{SITE}/p/{number}?t=x&y"
        )
    personalized = time.perf_counter() - started
    print(f"\nrender: {rendered * 1000:.1f} ms, {len(content.html)} bytes; 10,000 personalize: {personalized:.3f} s")
    assert f"{SITE}/u/9999?t=x&amp;y" in mine.html
    assert personalized < 1.0


# --------------------------------------------------------------------------- in a real browser


@pytest.mark.parametrize("browser_page", [{"width": 375, "height": 800}, {"width": 800, "height": 800}], indirect=True)
def test_the_digest_reads_well_on_a_phone_and_a_desktop(browser_page: Page, tmp_path: Path) -> None:
    content = personalize(render(sample_updates(), "ru"), unsubscribe_url=UNSUBSCRIBE, preferences_url=PREFERENCES)
    width = browser_page.viewport_size["width"] if browser_page.viewport_size else 0
    page_file = tmp_path / "digest.html"
    page_file.write_text(content.html, encoding="utf-8")
    requests: list[str] = []
    browser_page.on("request", lambda request: requests.append(request.url))
    browser_page.goto(page_file.as_uri())

    screenshot = tmp_path / f"digest-{width}.png"
    browser_page.screenshot(path=str(screenshot), full_page=True)
    assert not screenshot_is_blank(screenshot)
    assert requests == [page_file.as_uri()]  # opening it fetches nothing else
    scroll_width = browser_page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width + 4
    assert browser_page.get_by_text("Приостановлена с 1 августа 2025 года.").is_visible()
    assert browser_page.get_by_role("heading", level=1).inner_text() == "Нансен №12 · 23 ноября 2026"
    assert browser_page.get_by_role("link", name="Отписаться").get_attribute("href") == UNSUBSCRIBE
