"""Whatever a feed holds, publishing goes on and writes nothing live: arbitrary Unicode titles, links and
summaries (lone surrogates, controls, markup, bidi overrides) go through the real feed parser, the store and
a full publish; every XML and JSON file then parses, and every HTML page holds only the elements and
attributes a benign build has, with no `on…` handler and no link but http(s) or relative."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import lxml.html
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from crawlers.clean import SUMMARY_TAGS
from crawlers.spiders.feeds import parse_feed
from directory import entries, posts
from directory.models import Post
from directory.store import Store
from publishing import site
from publishing.feeds import FeedSettings
from tests.conftest import entry_record

NASTY = [
    "\ud800", "\udfff", "\x00", "\x1b[2J", "\x1b]8;;http://evil.example/\x1b\\", "\x9b31m", "\ufffe", "\uffff",
    "\u202e", "\u2066", "\ufeff", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "]]>", "&", "&amp;",
    "&#1;", "&#x1b;", "<", ">", '"', "'", "\r\n", "<a href='javascript:alert(1)'>x</a>", "<!--", "<![CDATA[",
    "e\u0301", "𝕏", "<col>", "<svg onload=alert(1)>", "<style>*{}</style>", "<b><i>", "</p></div>",
]  # fmt: skip
TEXT = st.lists(st.one_of(st.text(max_size=20), st.sampled_from(NASTY)), max_size=8).map("".join)
LINK = st.one_of(
    TEXT,
    st.sampled_from(
        [
            "javascript:alert(1)", "data:text/html,<script>x</script>", "http://169.254.169.254/", "https://ok.example/a",
            "/relative\x1b", "https://ok.example/\u202egpj.exe", "http://[::1", "http://2852039166/", " https://x.org/",
        ]
    ),
    TEXT.map(lambda t: "https://ok.example/" + t),
)  # fmt: skip
ITEM = st.fixed_dictionaries(
    {"id": TEXT.filter(bool), "title": TEXT, "url": LINK, "content_html": TEXT, "date_published": TEXT},
    optional={"content_text": TEXT, "summary": TEXT},
)


def _shape(root: Path) -> tuple[set[str], set[str]]:
    """Every element and attribute name in the site's pages."""
    tags: set[str] = set()
    attributes: set[str] = set()
    for path in root.rglob("*.html"):
        for element in lxml.html.parse(str(path)).iter():
            if isinstance(element.tag, str):
                tags.add(element.tag)
                attributes.update(element.attrib)
    return tags, attributes


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(ITEM, min_size=1, max_size=6))
def test_any_feed_items_publish_and_every_file_parses(store: Store, tmp_path: Path, items: list[dict]) -> None:
    out = tmp_path / "public"
    feed_settings = site.SiteSettings(out, FeedSettings("https://n.example.org/", "n.example.org"))
    with store.session() as session:
        if entries.find_entry(session, "feedy") is None:
            entries.add_entry(session, entry_record("feedy"), entries.Actor("maintainer"))
            site.build(session, feed_settings)
            TAGS_AND_ATTRIBUTES.update(zip(("tags", "attributes"), _shape(out), strict=True))
        session.execute(delete(Post))
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": items}).encode()
    with store.session() as session:
        parsed = parse_feed(body, "application/feed+json", "https://feedy.example/feed.json", "ru")
        posts.store_posts(session, "feedy", "https://feedy.example/feed.json", parsed)
    with store.session() as session:
        report = site.build(session, feed_settings)
    assert not report.skipped  # what the store holds can always be written
    for path in out.rglob("*"):
        if path.suffix in (".atom", ".rss", ".opml"):
            ET.parse(path)
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".html":
            for element in lxml.html.parse(str(path)).iter():
                if not isinstance(element.tag, str):
                    continue
                assert element.tag in TAGS_AND_ATTRIBUTES["tags"] | SUMMARY_TAGS, (path, element.tag)
                for name, value in element.attrib.items():
                    assert name in TAGS_AND_ATTRIBUTES["attributes"], (path, name)
                    if name in ("href", "src", "action"):
                        assert value.split(":", 1)[0].lower() in ("http", "https") or ":" not in value.split("/")[0]


TAGS_AND_ATTRIBUTES: dict[str, set[str]] = {}
