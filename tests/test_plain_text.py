"""`crawlers.clean.plain`: crawled HTML as one line of the text a reader would see; plain text as it was."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawlers.clean import plain
from directory.fields import HIDDEN


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # block elements separate words; nh3 + unescape glued these together ("FreePress")
        ("<p>Free</p><p>Press</p>", "Free Press"),
        ("<h1>Exile</h1>media", "Exile media"),
        ("<div>one</div><div>two</div>", "one two"),
        ("Line<br>break", "Line break"),
        ("before<hr>after", "before after"),
        ("<dl><dt>term</dt><dd>meaning</dd></dl>", "term meaning"),
        ("<section>a</section><section>b</section>", "a b"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>", "a b c d"),
        ("<ul><li>one</li><li>two</li></ul>", "* one * two"),
        ("<ol><li>one</li><li>two</li></ol>", "1. one 2. two"),
        # inline elements do not: a highlight inside a word keeps the word whole
        ("<b>Free</b>dom", "Freedom"),
        ("Ex<span class='hl'>ile</span> media", "Exile media"),
        ("Nan<wbr>sen", "Nansen"),
        ("<a href='https://example.org/'>link</a> text", "link text"),
        # what a browser does not show, and nor do we
        ("<script>alert(1)</script>Hi", "Hi"),
        ("<style>p { color: red }</style>Hi", "Hi"),
        ("<span style='display:none'>hidden</span>shown", "shown"),
        ("<noscript>enable JavaScript</noscript>ok", "ok"),
        ("<template>t</template><iframe>f</iframe>ok", "ok"),
        ("<img src='x.png' alt='picture'>after", "after"),
        ("<!-- a note -->text", "text"),
        ("<html><head><title>T</title></head><body>Body</body></html>", "Body"),
        # character references are decoded once; what they spell is text, escaped wherever it is shown
        ("AT&amp;T", "AT&T"),
        ("Tom &amp; Jerry &copy; 2026", "Tom & Jerry © 2026"),
        ("&lt;script&gt; is text here", "<script> is text here"),
        # ... exactly once, as a browser shows them, in tables too (inscriptis alone decodes twice or thrice)
        ("AT&amp;amp;T", "AT&amp;T"),
        ("&amp;lt;b&amp;gt; is how to write <b>", "&lt;b&gt; is how to write"),
        ("<table><tr><td>A&amp;amp;B</td><td>C&amp;D</td></tr></table>", "A&amp;B C&D"),
        ("<pre>x &amp;amp; y</pre>", "x &amp; y"),
        ("&#60;script&#62;alert(1)&#60;/script&#62;", "<script>alert(1)</script>"),
        ("&copy 2026 &notit; &nbsp;x", "© 2026 ¬it; x"),
        # text that was plain already
        ("1 < 2", "1 < 2"),
        ("3 > 2 & 1 < 2", "3 > 2 & 1 < 2"),
        ("x <= y, <3 Nansen", "x <= y, <3 Nansen"),
        ("Медуза: «Новости» — 24/7", "Медуза: «Новости» — 24/7"),
        ("Пост <script>alert(1)</script> &amp; <b>жирный</b>", "Пост & жирный"),
        # ... except where a browser reads a tag, as it would on the page
        ("a<b matters", "a"),
        # white space, control characters, odd values
        ("  spaced \n\t out  ", "spaced out"),
        ("no\u00a0break", "no break"),
        ("x\x00y\x07z", "xyz"),
        ("x\ud800y", "x\ufffdy"),  # a lone surrogate is U+FFFD, as `directory.untrusted` stores it
        ("", ""),
        ("   ", ""),
        (None, ""),
        (2026, "2026"),
    ],
)
def test_plain(value: object, expected: str) -> None:
    assert plain(value) == expected


def test_the_limit_counts_the_collapsed_text_and_leaves_no_space_at_the_end() -> None:
    assert plain("<p>Free</p><p>Press</p>", 5) == "Free"
    assert plain("<p>Free</p><p>Press</p>", 7) == "Free Pr"
    assert plain("word " * 200) == ("word " * 100).rstrip()
    assert len(plain("x" * 1000)) == 500


_TEXT = st.characters(blacklist_characters="<&\ufeff", blacklist_categories=("Cs", "Cc"))


@given(st.text(alphabet=st.one_of(_TEXT, st.sampled_from(" \t\n\r\x0b\x0c\x1c\x85\u2028\u3000"))))
def test_text_without_markup_or_references_only_has_its_white_space_collapsed(text: str) -> None:
    expected = unicodedata.normalize("NFC", " ".join(text.split()))[:500].rstrip()
    assert plain(text) == (expected if HIDDEN.sub("", expected).strip() else "")  # nothing visible: no text


def test_a_title_no_one_can_see_is_no_title() -> None:
    from crawlers.clean import words

    assert plain("&#xfeff;&#xa0;&#x3000;") == "" and words("\u200b\u200e\u202e\u2066") == ""
    assert words("\U0001f468\u200d\U0001f469 ok") == "\U0001f468\u200d\U0001f469 ok"  # joiners inside text stay
