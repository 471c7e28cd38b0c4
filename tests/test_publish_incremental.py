"""An incremental build (only the revisions above the manifest's mark) writes exactly what a full one does.

Each test builds a site, changes the directory, builds the same folder again (incremental) and a new
folder from nothing (full), and compares every file, the manifest included, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from directory import entries, imports, posts
from directory.store import Store
from publishing import site
from publishing.feeds import FeedSettings
from tests.conftest import REPO, entry_record

ME = entries.Actor("maintainer")


@pytest.fixture
def seeded(store: Store) -> Store:
    with store.session() as session:
        imports.import_paths(session, [REPO / "data"], "seed")
    return store


def build(store: Store, output: Path, limit: int = 50, page_size: int = 100) -> site.BuildReport:
    feeds = FeedSettings("https://nansen.example.org/", "nansen.example.org", limit)
    settings = site.SiteSettings(output, feeds, page_size)
    with store.session() as session:
        return site.build(session, settings)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def both_ways(
    store: Store, tmp_path: Path, change: Callable[[Session], object], limit: int = 50, page_size: int = 100
) -> site.BuildReport:
    """The report of the incremental build after `change`, once its files equal a full build's."""
    build(store, tmp_path / "incremental", limit, page_size)
    with store.session() as session:
        change(session)
    report = build(store, tmp_path / "incremental", limit, page_size)
    build(store, tmp_path / "full", limit, page_size)
    incremental, full = snapshot(tmp_path / "incremental"), snapshot(tmp_path / "full")
    assert sorted(incremental) == sorted(full)
    assert [path for path in full if incremental[path] != full[path]] == []
    return report


def test_an_edited_summary_rebuilds_only_that_entry(seeded: Store, tmp_path: Path) -> None:
    report = both_ways(
        seeded, tmp_path, lambda s: entries.edit_entry(s, "meduza", {"summary.en": "Now based in Riga."}, ME)
    )
    assert report.dirty == {"meduza"}
    assert {p for p in report.changed_paths if "/entries/" in p} == {"en/entries/meduza.html", "ru/entries/meduza.html"}
    assert "en/feeds/all.atom" in report.changed_paths and "en/feeds/entry/meduza.atom" in report.changed_paths


def test_an_entry_that_moves_country_leaves_one_feed_and_listing_for_another(seeded: Store, tmp_path: Path) -> None:
    report = both_ways(seeded, tmp_path, lambda s: entries.edit_entry(s, "meduza", {"host_countries": ["AM"]}, ME))
    assert report.dirty == {"meduza"}
    assert {"ru/feeds/country/am.atom", "ru/feeds/country/lv.atom", "ru/countries/lv.html"} <= set(report.changed_paths)


def test_a_minor_edit_a_new_entry_and_a_crawled_post_are_each_seen(seeded: Store, tmp_path: Path) -> None:
    def change(session: Session) -> None:
        entries.edit_entry(session, "ovd-info", {"summary.ru": "Поправка."}, ME, minor=True)
        entries.add_entry(session, entry_record("brand-new", host_countries=["IS"]), ME)
        post = posts.NewPost(
            "g1", "A post", "https://example.org/p/1", dt.datetime(2026, 11, 20, tzinfo=dt.UTC), "", ""
        )
        posts.store_posts(session, "meduza", "https://meduza.io/rss/all", [post])

    report = both_ways(seeded, tmp_path, change)
    assert report.dirty == {"ovd-info", "brand-new", "meduza"}
    assert "en/feeds/country/is.atom" in report.changed_paths  # a feed no build had before


def test_a_full_feed_that_loses_a_member_is_refilled_by_a_full_read(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        for n in range(25):
            entries.add_entry(session, entry_record(f"org-{n}"), ME)
    report = both_ways(store, tmp_path, lambda s: entries.edit_entry(s, "org-24", {"host_countries": ["AM"]}, ME), 5)
    assert report.dirty is None  # Georgia's feed kept 20 updates and lost one: the 21st was never kept


def test_nothing_changed_reads_no_revision_and_writes_nothing(seeded: Store, tmp_path: Path) -> None:
    report = both_ways(seeded, tmp_path, lambda s: None)
    assert report.dirty == set() and report.total_written == 0


def test_long_listings_are_paged_and_every_link_leads_to_a_page_in_both_languages(
    seeded: Store, tmp_path: Path
) -> None:
    report = both_ways(
        seeded, tmp_path, lambda s: entries.edit_entry(s, "meduza", {"host_countries": ["AM"]}, ME), 50, 3
    )
    assert report.dirty == {"meduza"}
    root = tmp_path / "full"
    with seeded.session() as session:
        media = {e.slug for e in entries.list_entries(session, entries.Filters(kind="media"))}
    for lang in ("ru", "en"):
        first = (root / lang / "kinds/media.html").read_text(encoding="utf-8")
        count = -(-len(media) // 3)
        assert f'<a href="../../{lang}/kinds/media/page-{count}.html">{count}</a>' in first
        listed = []
        for n in range(1, count + 1):
            page = root / lang / ("kinds/media.html" if n == 1 else f"kinds/media/page-{n}.html")
            listed += re.findall(r'<h3><a href="[./]*[a-z]{2}/entries/([a-z0-9-]+)\.html">', page.read_text("utf-8"))
        assert sorted(listed) == sorted(media)
    assert not (root / "ru/kinds/media" / f"page-{count + 1}.html").exists()
    broken = [
        (str(page.relative_to(root)), href)
        for page in root.rglob("*.html")
        for href in re.findall(r'href="([^"#?:]+)"', page.read_text(encoding="utf-8"))
        if not (page.parent / href).resolve().is_file()
    ]
    assert broken == []


def _truncate_a_shard(output: Path) -> None:
    shard = sorted((output / "search/terms").glob("*.json"))[0]
    shard.write_bytes(shard.read_bytes()[:100])


def _forget_an_entry_in_the_search_state(output: Path) -> None:
    manifest = json.loads((output / site.MANIFEST).read_text("utf-8"))
    del manifest["search"]["entries"]["meduza"]
    (output / site.MANIFEST).write_text(json.dumps(manifest), "utf-8")


def _garble_the_search_state(output: Path) -> None:
    manifest = json.loads((output / site.MANIFEST).read_text("utf-8"))
    manifest["search"]["entries"]["meduza"] = "zz"
    (output / site.MANIFEST).write_text(json.dumps(manifest), "utf-8")


def _point_an_entry_at_the_wrong_shard(output: Path) -> None:
    manifest = json.loads((output / site.MANIFEST).read_text("utf-8"))
    manifest["search"]["entries"]["meduza"] = "00"
    (output / site.MANIFEST).write_text(json.dumps(manifest), "utf-8")


def _drop_a_shard_from_the_manifest(output: Path) -> None:
    manifest = json.loads((output / site.MANIFEST).read_text("utf-8"))
    shard = int(manifest["search"]["entries"]["meduza"][:2], 16)
    del manifest["pages"][f"search/terms/{shard}.json"]
    (output / site.MANIFEST).write_text(json.dumps(manifest), "utf-8")


def _leave_a_shard_no_build_wrote(output: Path) -> None:
    (output / "search/terms/999.json").write_text('{"words": {"dsfake": {"meduza": 99}}, "stems": {}}', "utf-8")


def _lose_the_manifest_and_leave_a_stray_shard(output: Path) -> None:
    (output / site.MANIFEST).unlink()
    (output / "search/terms/999.json").write_text('{"words": {"meduza": {"ovd-info": 39}}, "stems": {}}', "utf-8")


@pytest.mark.parametrize(
    "damage",
    [
        _truncate_a_shard,
        _forget_an_entry_in_the_search_state,
        _garble_the_search_state,
        _lose_the_manifest_and_leave_a_stray_shard,
    ],
)
def test_a_damaged_search_index_is_built_again_whole(
    seeded: Store, tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    """Whatever happened to the index or the manifest between two builds, the next one (here after
    an edit to an entry) leaves the index a full build writes: the files' digests are checked, the
    kept state must fit the entries, and a full build sweeps what it did not write."""
    build(seeded, tmp_path / "incremental")
    damage(tmp_path / "incremental")
    with seeded.session() as session:
        entries.edit_entry(session, "meduza", {"name.en": "Meduza the Quokka"}, ME)
    build(seeded, tmp_path / "incremental")
    build(seeded, tmp_path / "full")
    incremental, full = snapshot(tmp_path / "incremental"), snapshot(tmp_path / "full")
    assert {p: c for p, c in incremental.items() if p.startswith("search/")} == {
        p: c for p, c in full.items() if p.startswith("search/")
    }


@pytest.mark.parametrize(
    "manifest",
    [[], None, "x", {"pages": []}, {"pages": {}, "state": 5}, {"pages": {"../victim.txt": "x", "/tmp/x": "y"}}],
)
def test_a_manifest_that_is_not_what_a_build_writes_is_not_trusted_nor_followed_outside(
    seeded: Store, tmp_path: Path, manifest: object
) -> None:
    """It costs a full build, never a traceback, and a path in it never leads out of the folder."""
    build(seeded, tmp_path / "site")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", "utf-8")
    (tmp_path / "site" / site.MANIFEST).write_text(json.dumps(manifest), "utf-8")
    build(seeded, tmp_path / "site")
    build(seeded, tmp_path / "full")
    assert victim.read_text("utf-8") == "precious"
    assert snapshot(tmp_path / "site") == snapshot(tmp_path / "full")
