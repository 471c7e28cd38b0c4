"""Publishing: feeds, OPML and the static site, built from a real database of seed data."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import feedparser
import pytest

from directory import entries, imports
from directory.store import Store
from publishing import site
from publishing.feeds import FeedSettings
from publishing.i18n import collation_key, partial_date
from tests.conftest import REPO, Cli, entry_record, program_record
from tests.feedcheck import assert_valid_feed

ME = entries.Actor("maintainer")
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def seeded(store: Store) -> Store:
    with store.session() as session:
        imports.import_paths(session, [REPO / "data"], "seed")
    return store


def settings(output: Path, limit: int = 50) -> site.SiteSettings:
    return site.SiteSettings(output, FeedSettings("https://nansen.example.org/", "nansen.example.org", limit))


def build(store: Store, output: Path, limit: int = 50) -> site.BuildReport:
    with store.session() as session:
        return site.build(session, settings(output, limit))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_builds_without_change_are_byte_identical_and_write_nothing(seeded: Store, tmp_path: Path) -> None:
    first = build(seeded, tmp_path / "a")
    assert first.total_written > 500
    second = build(seeded, tmp_path / "a")
    assert second.total_written == 0
    build(seeded, tmp_path / "b")
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_every_feed_parses_cleanly_with_stable_tag_ids(seeded: Store, tmp_path: Path) -> None:
    build(seeded, tmp_path)
    feeds = sorted(p for p in tmp_path.rglob("feeds/**/*.*") if p.suffix != ".opml")
    assert {p.suffix for p in feeds} == {".atom", ".rss", ".json"}
    for path in feeds:
        assert_valid_feed(path)
        if path.suffix == ".json":
            document = json.loads(path.read_text(encoding="utf-8"))
            assert document["version"] == "https://jsonfeed.org/version/1.1"
            continue
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        ids = [item.id for item in parsed.entries]
        lang = path.relative_to(tmp_path).parts[0]
        assert all(i.startswith(f"tag:nansen.example.org,2026:{lang}/update-") for i in ids), path
        assert len(ids) == len(set(ids))
        dates = [item.published_parsed for item in parsed.entries]
        assert dates == sorted(dates, reverse=True), f"{path}: not newest first"


def test_each_language_has_its_own_item_ids_and_one_id_per_update(seeded: Store, tmp_path: Path) -> None:
    """Feed readers merge items by id: a Russian and an English item with one id lose one of them."""
    build(seeded, tmp_path)

    def ids(path: str) -> dict[tuple[str, str], str]:
        return {(e.title, e.published): e.id for e in feedparser.parse((tmp_path / path).read_bytes()).entries}

    ru, en = ids("ru/feeds/all.atom"), ids("en/feeds/all.atom")
    assert len(set(ru.values())) == len(set(en.values())) == 50
    assert set(ru.values()).isdisjoint(en.values())
    georgia = ids("ru/feeds/country/ge.atom")
    shared = set(georgia) & set(ru)
    assert shared and all(georgia[key] == ru[key] for key in shared)


def test_every_entry_has_its_own_feeds_and_its_page_follows_them(seeded: Store, tmp_path: Path) -> None:
    build(seeded, tmp_path)
    with seeded.session() as session:
        slugs = [e.slug for e in entries.list_entries(session)]
        entries.edit_entry(session, "meduza", {"summary.en": "Reader-funded news site, based in Riga."}, ME)
    build(seeded, tmp_path)
    for lang in ("ru", "en"):
        for slug in slugs:
            for fmt in ("atom", "rss", "json", "opml"):
                assert (tmp_path / lang / "feeds" / "entry" / f"{slug}.{fmt}").exists(), (lang, slug, fmt)
    path = tmp_path / "en/feeds/entry/meduza.atom"
    assert_valid_feed(path)
    meduza = feedparser.parse(path.read_bytes())
    assert meduza.feed.title == "Nansen — Updates: Meduza"
    assert [e.title for e in meduza.entries] == ["Meduza: updated", "New in the directory: Meduza"]
    assert {link.href for e in meduza.entries for link in e.links} == {
        "https://nansen.example.org/en/entries/meduza.html"
    }
    page = (tmp_path / "ru/entries/meduza.html").read_text(encoding="utf-8")
    assert 'href="../../ru/feeds/entry/meduza.atom"' in page and 'type="application/atom+xml"' in page
    opml = ET.fromstring((tmp_path / "ru/feeds/entry/meduza.opml").read_bytes())
    assert [o.get("xmlUrl") for o in opml.iter("outline")] == [
        "https://nansen.example.org/ru/feeds/entry/meduza.atom",
        "https://meduza.io/rss/all",
        "https://meduza.io/rss/en/all",
        "https://meduza.io/rss/news",
    ]
    # A reader lists them by title: the organization's three feeds must not read alike.
    assert [o.get("title") for o in opml.iter("outline")] == [
        "Обновления: Медуза",
        "Медуза (meduza.io/rss/all)",
        "Медуза (meduza.io/rss/en/all)",
        "Медуза (meduza.io/rss/news)",
    ]
    # Autodiscovery names the feed after the page, not "Nansen updates" for every page.
    assert 'title="Медуза — Nansen (Atom)" href="../../ru/feeds/entry/meduza.atom"' in page


def test_names_are_the_ones_people_use_in_the_order_they_expect() -> None:
    from directory.names import country_name, language_name
    from publishing.i18n import collation_key

    assert [country_name(c, "ru") for c in ("RU", "GE", "EU")] == ["Россия", "Грузия", "Европейский союз"]
    assert [country_name(c, "en") for c in ("RU", "MD", "CZ")] == ["Russia", "Moldova", "Czechia"]
    assert (country_name("US", "ru"), country_name("US", "en")) == ("США", "United States")
    assert (language_name("be", "ru"), language_name("be", "en")) == ("белорусский", "Belarusian")
    names = ["Ёлкино", "Июнь", "Йемен", "Ершов", "Ель", "армения", "Австрия"]
    assert sorted(names, key=lambda n: collation_key(n, "ru")) == [
        "Австрия", "армения", "Ёлкино", "Ель", "Ершов", "Июнь", "Йемен"
    ]  # fmt: skip
    assert sorted(["Zambia", "Åland", "Austria", "Ägypten"], key=lambda n: collation_key(n, "en")) == [
        "Ägypten", "Åland", "Austria", "Zambia"
    ]  # fmt: skip


def test_a_country_page_leads_to_each_topic_and_kind_there_with_its_feed(seeded: Store, tmp_path: Path) -> None:
    build(seeded, tmp_path)
    with seeded.session() as session:
        expected = {e.slug for e in entries.list_entries(session, entries.Filters(country="GE", topic="legal-aid"))}
        media = {e.slug for e in entries.list_entries(session, entries.Filters(country="GE", kind="media"))}
    assert expected and media
    georgia = (tmp_path / "ru/countries/ge.html").read_text(encoding="utf-8")
    assert '<a href="../../ru/countries/ge/topics/legal-aid.html">Юридическая помощь</a>' in georgia
    assert '<a href="../../ru/countries/ge/kinds/media.html">Независимые СМИ в эмиграции</a>' in georgia
    page = (tmp_path / "ru/countries/ge/topics/legal-aid.html").read_text(encoding="utf-8")
    assert "<h1>Юридическая помощь — Грузия</h1>" in page
    listed = set(re.findall(r'href="\.\./\.\./\.\./\.\./ru/entries/([a-z0-9-]+)\.html"', page))
    assert listed == expected
    assert 'href="../../../../ru/feeds/country/ge/topic/legal-aid.atom"' in page
    feed = feedparser.parse((tmp_path / "en/feeds/country/ge/topic/legal-aid.atom").read_bytes())
    assert feed.feed.title == "Nansen — Legal aid — Georgia"
    assert {e.link.rsplit("/", 1)[1].removesuffix(".html") for e in feed.entries} <= expected
    empty = tmp_path / "ru/countries/ge/topics/lgbt.html"
    assert empty.exists() == any(
        "lgbt" in e.topics for e in _entries_in(seeded, "GE")
    )  # only combinations that have entries


def _entries_in(store: Store, country: str) -> list:
    with store.session() as session:
        return entries.list_entries(session, entries.Filters(country=country))


def test_the_feeds_page_is_grouped_and_sorted_by_name(seeded: Store, tmp_path: Path) -> None:
    build(seeded, tmp_path)
    page = (tmp_path / "ru/feeds.html").read_text(encoding="utf-8")
    headings = re.findall(r'<h2 id="feeds-\d+">([^<]+)</h2>', page)
    assert headings == ["Все обновления", "По видам", "По странам", "По темам", "По языкам"]
    countries = page.split(">По странам<", 1)[1].split("</ul>", 1)[0]
    names = re.findall(r"<li>([^:<]+):", countries)
    assert len(names) >= 30 and names == sorted(names, key=lambda name: collation_key(name, "ru"))
    assert "Россия" in names and "Российская Федерация" not in names
    assert "country/ge/topic/" not in page  # those are on the country's page


def test_a_feed_reader_subscribed_to_both_languages_keeps_every_item(seeded: Store, tmp_path: Path) -> None:
    """newsboat, subscribed to ru/feeds/all.atom and en/feeds/all.atom, keeps 50 + 50 items: with one id
    per update for both languages it merged them and dropped items."""
    import shutil
    import sqlite3
    import subprocess

    newsboat = shutil.which("newsboat")
    if newsboat is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but newsboat is not installed (.ci/run installs it)")
        pytest.skip("newsboat is not installed: apt-get install newsboat")
    build(seeded, tmp_path / "site")
    urls = tmp_path / "urls"
    urls.write_text(f"file://{tmp_path}/site/ru/feeds/all.atom\nfile://{tmp_path}/site/en/feeds/all.atom\n")
    cache = tmp_path / "cache.db"
    subprocess.run(
        [newsboat, "-u", str(urls), "-c", str(cache), "-x", "reload"],
        env={**os.environ, "HOME": str(tmp_path)},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with sqlite3.connect(cache) as db:
        kept = dict(db.execute("SELECT feedurl, count(*) FROM rss_item GROUP BY feedurl").fetchall())
    assert kept == {f"file://{tmp_path}/site/ru/feeds/all.atom": 50, f"file://{tmp_path}/site/en/feeds/all.atom": 50}


def test_feed_families_exist_in_both_languages(seeded: Store, tmp_path: Path) -> None:
    build(seeded, tmp_path)
    for lang in ("ru", "en"):
        for feed in ("all", "kind/media", "kind/program", "country/ge", "topic/political-prisoners", "language/be"):
            assert (tmp_path / lang / "feeds" / f"{feed}.atom").exists(), (lang, feed)
    georgia = feedparser.parse((tmp_path / "ru/feeds/country/ge.atom").read_bytes())
    assert georgia.feed.title == "Nansen — Обновления: Грузия"
    assert georgia.feed.language == "ru"
    self_links = [link.href for link in georgia.feed.links if link.rel == "self"]
    assert self_links == ["https://nansen.example.org/ru/feeds/country/ge.atom"]
    assert {item.link.rsplit("/", 1)[0] for item in georgia.entries} == {"https://nansen.example.org/ru/entries"}


def test_item_limit_and_paused_programs_say_so(seeded: Store, tmp_path: Path) -> None:
    build(seeded, tmp_path, limit=5)
    assert len(feedparser.parse((tmp_path / "en/feeds/all.atom").read_bytes()).entries) == 5
    with seeded.session() as session:
        [program, *_] = entries.list_entries(session, entries.Filters(kind="program", program_state="paused"))
        name, country = program.name_en, program.host_countries[0].lower()
    programs = feedparser.parse((tmp_path / f"en/feeds/country/{country}.rss").read_bytes())
    paused = [e for e in programs.entries if name in e.title]
    assert paused and paused[0].title.startswith("[paused] ")
    assert paused[0].summary.startswith("This program is paused.")
    russian = feedparser.parse((tmp_path / f"ru/feeds/country/{country}.atom").read_bytes())
    assert any(e.title.startswith("[приостановлена] ") for e in russian.entries)


def test_only_affected_files_are_rewritten_after_one_edit(seeded: Store, tmp_path: Path) -> None:
    build(seeded, tmp_path)
    with seeded.session() as session:
        entries.edit_entry(session, "meduza", {"summary.en": "Reader-funded news site, based in Riga."}, ME)
    report = build(seeded, tmp_path)
    changed = set(report.changed_paths)
    assert "en/entries/meduza.html" in changed and "en/feeds/all.atom" in changed
    assert "en/feeds/country/lv.atom" in changed and "en/feeds/kind/media.atom" in changed
    assert "en/entries/ovd-info.html" not in changed
    assert "en/feeds/kind/program.atom" not in changed and "en/feeds/country/ge.atom" not in changed
    # Meduza's pages and every listing and feed it is in (country, kind, topic, language and their
    # combinations, its own feed), the home page's latest updates, and the index chunks that hold it.
    assert len(changed) < 100
    assert len([p for p in changed if p.startswith("search/")]) <= 20 < report.unchanged["search"]
    assert report.unchanged["entries"] >= 180


def test_opml_groups_the_organizations_own_feeds_by_kind(seeded: Store, tmp_path: Path) -> None:
    build(seeded, tmp_path)
    root = ET.parse(tmp_path / "ru/organizations.opml").getroot()
    assert root.tag == "opml" and root.get("version") == "2.0"
    groups = root.find("body").findall("outline")
    assert [g.get("text") for g in groups] == ["Независимые СМИ в эмиграции"]
    urls = {o.get("xmlUrl") for o in groups[0]}
    assert "https://meduza.io/rss/all" in urls
    assert all(o.get("type") == "rss" for o in groups[0])


def test_pages_in_both_languages_with_translated_names(seeded: Store, tmp_path: Path) -> None:
    build(seeded, tmp_path)
    georgia = (tmp_path / "ru/countries/ge.html").read_text(encoding="utf-8")
    assert "<h1>Грузия</h1>" in georgia and 'lang="ru"' in georgia
    assert 'href="../../ru/feeds/country/ge.atom"' in georgia and 'type="application/atom+xml"' in georgia
    assert "<h1>Georgia</h1>" in (tmp_path / "en/countries/ge.html").read_text(encoding="utf-8")
    home = (tmp_path / "ru/index.html").read_text(encoding="utf-8")
    with seeded.session() as session:
        media = len(entries.list_entries(session, entries.Filters(kind="media")))
    assert f"{media} издани" in home and "организаци" in home
    assert "<script" not in home


def test_a_paused_program_says_so_at_the_top_of_its_page(store: Store, tmp_path: Path) -> None:
    paused = program_record(
        **{
            "program.state_since": "2025-07",
            "program.state_note.en": "New admissions were halted in July 2025.",
            "program.state_note.ru": "В июле 2025 года новые приёмы остановлены.",
        }
    )
    with store.session() as session:
        entries.add_entry(session, paused, ME)
    build(store, tmp_path)
    page = (tmp_path / "ru/entries/test-program.html").read_text(encoding="utf-8")
    main = " ".join(page.split('<main id="main">', 1)[1].split())
    assert main.startswith(
        '<article class="entry"> <p class="notice warning" role="status">'
        "<strong>Приостановлена с июля 2025 года.</strong> В июле 2025 года новые приёмы остановлены."
    )
    english = " ".join((tmp_path / "en/entries/test-program.html").read_text(encoding="utf-8").split())
    assert "<dd><p>paused, since July 2025</p></dd>" in english  # the note leads the page instead
    assert "<strong>Paused since July 2025.</strong> New admissions were halted in July 2025." in english


DESIGNATED = {
    "source": "https://example.org/about",
    "verified_at": "2026-11-20",
    "designations": [
        {
            "authority": "ru-minjust",
            "kind": "foreign-agent",
            "date": "2021-04-23",
            "source": "https://news.example.org/a",
        },
    ],
    "warnings": [
        {
            "en": "Donations from Russia are traced.",
            "ru": "Пожертвования из России отслеживают.",
            "date": "2025-03",
            "source": "https://news.example.org/w",
        }
    ],
}


def test_an_entry_page_leads_with_its_warnings_and_shows_designations_and_sources(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        entries.add_entry(session, entry_record(**DESIGNATED), ME)
    build(store, tmp_path)
    ru = " ".join((tmp_path / "ru/entries/test-org.html").read_text(encoding="utf-8").split())
    main = ru.split('<main id="main">', 1)[1]
    assert main.startswith(' <article class="entry"> <section class="notice warning" aria-labelledby="warnings">')
    assert '<p>Пожертвования из России отслеживают.</p><p class="meta">март 2025 г. · ' in main
    assert "<strong>иностранный агент</strong> — Министерство юстиции России, 23 апреля 2021" in main
    assert '<a href="https://news.example.org/a" rel="noopener noreferrer nofollow">news.example.org</a>' in main
    assert 'Источники: <a href="https://example.org/about" rel="noopener noreferrer nofollow">example.org</a>' in main
    assert "Последняя проверка: 20 ноября 2026" in main or "20 ноября 2026" in main
    explained = (tmp_path / "ru/designations.html").read_text(encoding="utf-8")
    section = explained.split('id="designation-foreign-agent"', 1)[1].split("</section>", 1)[0]
    assert "ru/entries/test-org.html" in section
    assert "test-org" not in explained.split('id="designation-undesirable"', 1)[1]
    listing = (tmp_path / "en/countries/ge.html").read_text(encoding="utf-8")
    assert '<p class="badge warning">foreign agent</p>' in listing


def test_a_designation_added_in_an_edit_is_news_in_both_languages(cli: Cli, tmp_path: Path) -> None:
    assert cli("import", str(_yaml(tmp_path, entry_record()))).exit_code == 0
    designation = {**DESIGNATED["designations"][0], "date": (dt.date.today() - dt.timedelta(days=3)).isoformat()}
    result = cli(
        "entries", "edit", "test-org", "--set", f"designations={json.dumps([designation])}", "--reason", "listed"
    )
    assert result.exit_code == 0, result.output
    assert cli("publish", "--output", str(tmp_path / "site")).exit_code == 0
    for lang, title in (
        ("en", "Test Legal Aid: designated as foreign agent"),
        ("ru", "Тестовая юридическая помощь: новый статус — «иностранный агент»"),
    ):
        newest = feedparser.parse((tmp_path / "site" / lang / "feeds/all.atom").read_bytes()).entries[0]
        assert newest.title == title
        assert newest.tags[0].term == "designation"
    lifted = {**designation, "lifted": dt.date.today().isoformat()[:7]}
    assert cli("entries", "edit", "test-org", "--set", f"designations={json.dumps([lifted])}").exit_code == 0
    assert cli("publish", "--output", str(tmp_path / "site")).exit_code == 0
    newest = feedparser.parse((tmp_path / "site/en/feeds/all.atom").read_bytes()).entries[0]
    assert newest.title == "Test Legal Aid: designation as foreign agent lifted"
    assert f"(lifted {partial_date(lifted['lifted'], 'en')})" in newest.summary


def _yaml(folder: Path, record: dict) -> Path:
    import yaml

    from directory import fields as F

    path = folder / "entry.yaml"
    path.write_text(yaml.safe_dump(F.nest(record), allow_unicode=True), encoding="utf-8")
    return path


def test_hostile_content_is_escaped_in_pages_and_feeds(store: Store, tmp_path: Path) -> None:
    hostile = entry_record(
        "hostile",
        **{"name.en": 'Evil <script>alert("x")</script>', "summary.en": "<img src=x onerror=alert(1)> <b>bold</b>"},
    )
    with store.session() as session:
        entries.add_entry(session, hostile, ME)
    build(store, tmp_path)
    page = (tmp_path / "en/entries/hostile.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "<img" not in page
    assert "Evil &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    atom = (tmp_path / "en/feeds/all.atom").read_text(encoding="utf-8")
    assert "<script>" not in atom and "&lt;script&gt;" in atom
    item = feedparser.parse(atom.encode()).entries[0]
    assert item.title == 'New in the directory: Evil <script>alert("x")</script>'  # text, not markup
    assert item.title_detail.type == "text/plain"


def test_publish_command_reports_what_changed(cli: Cli, tmp_path: Path) -> None:
    assert cli("import", str(REPO / "data")).exit_code == 0
    result = cli("publish", "--output", str(tmp_path / "public"))
    assert result.exit_code == 0, result.output
    assert "files written, 0 unchanged" in result.output
    again = cli("publish", "--output", str(tmp_path / "public"))
    assert " 0 files written" in again.output


def test_every_interface_string_is_translated() -> None:
    """The Russian catalog covers every msgid in the templates and code (extracted afresh here)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    method_map = [(f"{package}/**.py", "python") for package in ("publishing", "newsletter")] + [
        (f"{package}/templates/**.html", "jinja2") for package in ("publishing", "newsletter")
    ]
    options = {
        f"{package}/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
        for package in ("publishing", "newsletter")
    }
    found = {m[2] if isinstance(m[2], str) else m[2][0] for m in extract_from_dir(REPO, method_map, options)}
    assert len(found) > 50
    with (REPO / "publishing/locale/ru/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po, locale="ru")
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in catalog
        if m.id and m.string and all(m.string if isinstance(m.string, tuple) else [m.string])
    }
    assert sorted(found - translated) == []


def test_the_organizations_posts_feed_escapes_crawled_text(store: Store, tmp_path: Path) -> None:
    import datetime as dt

    from directory import posts

    with store.session() as session:
        entries.add_entry(session, entry_record("poster"), ME)
        posts.store_posts(
            session,
            "poster",
            "https://example.org/feed",
            [
                posts.NewPost(
                    "g1",
                    'Title <script>alert("t")</script>',
                    "https://example.org/p/1",
                    dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
                    "<p>Clean <b>summary</b></p>",
                    "ru",
                ),
            ],
        )
    build(store, tmp_path)
    atom = (tmp_path / "ru/feeds/organizations.atom").read_text(encoding="utf-8")
    assert "<script>" not in atom and "&lt;script&gt;" in atom
    [item] = feedparser.parse(atom.encode()).entries
    assert item.title == 'Title <script>alert("t")</script>' and item.link == "https://example.org/p/1"
    assert item.author == "Тестовая юридическая помощь"
    assert_valid_feed(tmp_path / "ru/feeds/organizations.atom")
    assert_valid_feed(tmp_path / "en/feeds/organizations.rss")
    page = (tmp_path / "en/entries/poster.html").read_text(encoding="utf-8")
    assert "Title &lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in page and "<script>" not in page


def test_two_publishes_into_one_folder_at_once_both_succeed(seeded: Store, tmp_path: Path) -> None:
    """A second process doing the same job: `nansen publish` twice at once into an empty folder (a
    maintainer beside the scheduler). Each writes through its own temporary files, so neither takes
    the other's, both exit 0, and what is left is a whole site with no temporary file."""
    import os
    import subprocess

    from tests.test_senders import NANSEN

    env = {**os.environ, "NANSEN_DATABASE_URL": seeded.url}
    for round_ in range(3):
        output = tmp_path / f"public-{round_}"
        runs = [
            subprocess.Popen([NANSEN, "publish", "--output", str(output)], env=env, cwd=REPO, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        for run in runs:
            _, stderr = run.communicate(timeout=300)
            assert run.returncode == 0, stderr.decode()
        assert not [p for p in output.rglob("*") if p.name.endswith(".tmp")]
        for path in output.rglob("*.atom"):
            ET.parse(path)
