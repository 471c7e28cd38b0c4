"""The static search index: what a stem is posted with, and an update that writes what a full build would."""

from __future__ import annotations

import json
from pathlib import Path

from directory.search import Document
from publishing import search_index
from publishing.search_index import Card, Index

DOCUMENTS = {
    "ovd-info": Document("OVD-Info ОВД-Инфо ovd info", "Помощь политзаключённым и задержанным", "Human rights"),
    "meduza": Document("Meduza Медуза meduza", "Независимое издание в Риге", "Media Latvia"),
    "zzz": Document("Zymurgy", "Xylophones of the yak", "Quokka"),
}


def cards(documents: dict[str, Document]) -> dict[str, dict[str, Card]]:
    return {
        lang: {slug: Card(f"{slug} {lang}", d.summaries[:20]) for slug, d in documents.items()} for lang in ("ru", "en")
    }


def write(output: Path, index: Index) -> None:
    for path, content in index.files.items():
        (output / path).parent.mkdir(parents=True, exist_ok=True)
        (output / path).write_bytes(content)
    for path in {p.relative_to(output).as_posix() for p in output.rglob("*.json")} - index.paths.keys():
        (output / path).unlink()


def files(output: Path) -> dict[str, bytes]:
    return {p.relative_to(output).as_posix(): p.read_bytes() for p in sorted(output.rglob("*.json"))}


def test_each_word_is_posted_once_at_its_best_field_without_stopwords_or_single_letters() -> None:
    found = search_index.postings(Document("Политзаключённые", "политзаключённых и в the Riga", "Riga"))
    assert found == {"политзаключенные": 39, "политзаключенных": 20, "riga": 20}
    long_name = search_index.postings(Document("Czech Republic: a civil society programme", "", ""))
    assert found["политзаключенные"] > long_name["republic"] > search_index.SUMMARIES
    it_visa = search_index.postings(Document("Uzbekistan: IT visa", "It is for them", ""))
    assert set(it_visa) == {"uzbekistan", "it", "visa", "them"}  # a stopword only from the names


def test_a_word_is_in_the_shard_its_first_two_letters_choose_with_its_stem() -> None:
    index = search_index.build(DOCUMENTS, cards(DOCUMENTS))
    shard = json.loads(index.files[f"search/terms/{search_index.term_shard('политзаключенным')}.json"])
    assert shard["words"]["политзаключенным"] == {"ovd-info": 20}
    assert shard["stems"]["политзаключенным"] == "политзаключен"
    assert search_index.term_shard("политзаключенным") == search_index.term_shard("по")
    assert search_index.fnv1a("a") == 0xE40C292C  # the published FNV-1a 32 test vector


def test_an_update_writes_what_a_full_build_of_the_same_entries_would(tmp_path: Path) -> None:
    """An edited entry, one gone (the only one in its shards, which go too) and a new one."""
    first = search_index.build(DOCUMENTS, cards(DOCUMENTS))
    write(tmp_path / "updated", first)
    after = {
        "ovd-info": Document("OVD-Info ОВД-Инфо", "Помощь задержанным и их близким", "Human rights"),
        "meduza": DOCUMENTS["meduza"],
        "newcomer": Document("Ковчег Kovcheg", "Помощь уехавшим", "Armenia"),
    }
    dirty = {"ovd-info", "zzz", "newcomer"}
    updated = search_index.update(
        tmp_path / "updated", first, dirty, {s: after[s] for s in dirty & after.keys()}, cards(after)
    )
    write(tmp_path / "updated", updated)
    full = search_index.build(after, cards(after))
    write(tmp_path / "full", full)
    assert files(tmp_path / "updated") == files(tmp_path / "full")
    assert updated.paths == full.paths and updated.state == full.state
    zymurgy = f"search/terms/{search_index.term_shard('zymurgy')}.json"
    assert zymurgy in first.paths and zymurgy not in updated.paths


def test_only_an_index_kept_whole_for_the_same_entries_is_restored() -> None:
    index = search_index.build(DOCUMENTS, cards(DOCUMENTS))
    kept = json.loads(json.dumps(search_index.saved(index)))
    restored = search_index.restore({**index.paths, "en/index.html": "x"}, kept, DOCUMENTS)
    assert restored is not None and restored.paths == index.paths and restored.state == index.state
    entries = kept["entries"]
    for damaged in (
        {**kept, "version": search_index.VERSION + 1},
        None,
        {**kept, "entries": {**entries, "meduza": "zz"}},
        {**kept, "entries": {**entries, "meduza": 5}},
        {**kept, "entries": {**entries, "meduza": "0"}},
        {**kept, "entries": {slug: shards for slug, shards in entries.items() if slug != "meduza"}},
        {**kept, "entries": {}},
        {**kept, "entries": {**entries, "meduza": "00"}},  # well formed, but not where its words are
    ):
        assert search_index.restore(index.paths, damaged, DOCUMENTS) is None, damaged
    one_less = dict(list(index.paths.items())[1:])
    assert search_index.restore(one_less, kept, DOCUMENTS) is None


def test_a_file_changed_or_gone_since_it_was_written_is_noticed(tmp_path: Path) -> None:
    index = search_index.build(DOCUMENTS, cards(DOCUMENTS))
    write(tmp_path, index)
    assert search_index.intact(tmp_path, index)
    shard = tmp_path / "search/en/cards" / f"{search_index.card_shard('zzz')}.json"
    shard.write_bytes(shard.read_bytes().replace(b"zzz en", b"zzz EN"))
    assert not search_index.intact(tmp_path, index)
    shard.unlink()
    assert not search_index.intact(tmp_path, index)


def test_an_update_over_a_damaged_shard_asks_for_a_full_build(tmp_path: Path) -> None:
    first = search_index.build(DOCUMENTS, cards(DOCUMENTS))
    write(tmp_path, first)
    touched = f"search/terms/{search_index.term_shard('meduza')}.json"
    for damage in (b'{"words": {"meduza": {"meduza": 3', b'["meduza"]', b'{"words": {}, "stems": {}}'):
        (tmp_path / touched).write_bytes(damage)
        assert (
            search_index.update(tmp_path, first, {"meduza"}, {"meduza": DOCUMENTS["meduza"]}, cards(DOCUMENTS)) is None
        )
