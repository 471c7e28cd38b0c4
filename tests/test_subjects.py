"""Everything a reader gets is in their language, and arrives as it was written: subject lines survive
header folding, the confirmation mail comes from the catalogued templates, and no msgid in Python is
hidden from the extractor that the untranslated-string test relies on."""

from __future__ import annotations

import ast
import datetime as dt
import re
import tempfile
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from newsletter import editions
from newsletter.delivery import MaildirSender
from newsletter.digest import DATE_PATTERN, DigestContent, digest_subject, render_confirmation
from newsletter.editions import NewsletterSettings
from newsletter.models import Edition, Subscriber
from newsletter.tokens import Tokens

REPO = Path(__file__).resolve().parent.parent
SITE = "https://nansen.test/"
NEWSLETTER = NewsletterSettings(
    site_url=SITE,
    sender="Nansen <newsletter@nansen.test>",
    tokens=Tokens("test-secret-0123456789abcdef"),
    message_domain="nansen.test",
    unsubscribe_mailto="unsubscribe@nansen.test",
)


def on_the_wire(message: EmailMessage, *, headers_only: bool = False) -> EmailMessage:
    """`message` as a reader's mail client gets it: serialized exactly as the senders do, parsed back."""
    with tempfile.TemporaryDirectory() as directory, MaildirSender(Path(directory) / "mail") as sender:
        sender.send(message)
        [written] = (Path(directory) / "mail" / "new").glob("*.eml")
        parsed = BytesParser(policy=default).parsebytes(written.read_bytes(), headersonly=headers_only)
    assert isinstance(parsed, EmailMessage)
    return parsed


def digest_message(subject: str, *, to: str = "reader@example.org", lang: str = "ru") -> EmailMessage:
    """One reader's digest with `subject`, built as `newsletter send` builds it."""
    content = DigestContent(subject=subject, html="<p>news</p>", text="news")
    reader = Subscriber(email=to, key="k" * 32, language=lang)
    return editions.message_for(NEWSLETTER, Edition(number=12), reader, content)


# --------------------------------------------------------------------------- subjects survive folding

LETTERS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
}
SEPARATORS = st.sampled_from([" ", " ", " ", " — ", ": ", ", ", " №", " · ", " «", "» "])


@st.composite
def subjects(draw: Any, script: str) -> str:
    """A subject of 1 to 200 characters: words of `script` and digits, with spaces, em dashes and the
    punctuation of our subjects between them; trimmed, as a subject line is."""
    letters = LETTERS[script]
    length = draw(st.integers(min_value=1, max_value=200))
    words = st.text(alphabet=letters + "0123456789", min_size=1, max_size=14)
    text = ""
    while len(text) < length:
        text += draw(words) + draw(SEPARATORS)
    text = text[:length]
    if text[-1] == " ":
        text = text[:-1] + draw(st.sampled_from(letters))
    return text


def check_subject(subject: str, to: str) -> None:
    assert 1 <= len(subject) <= 200 and subject == subject.strip()
    assert on_the_wire(digest_message(subject, to=to), headers_only=True)["Subject"] == subject


@pytest.mark.parametrize("to", ["reader@example.org", "читатель@example.org"], ids=["ascii", "smtputf8"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=subjects("cyrillic"))
@example(subject="Нансен №1: 22 обновления — 29 ноября 2026")  # arrived as "обновления— 29 ноября"
@example(subject="Нансен №1: 10 обновлений — 29 ноября 2026")
def test_cyrillic_subjects_survive_folding(subject: str, to: str) -> None:
    check_subject(subject, to)


@pytest.mark.parametrize("to", ["reader@example.org", "читатель@example.org"], ids=["ascii", "smtputf8"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=subjects("latin"))
@example(subject="Nansen №12: 4 updates — 23 November 2026")
def test_latin_subjects_survive_folding(subject: str, to: str) -> None:
    check_subject(subject, to)


def test_every_digest_subject_arrives_as_written() -> None:
    """The digest's subjects for editions 1 and 12 with 0-40 updates, in both languages, in the
    month with the longest name in Russian and one with a short one."""
    dates = [dt.date(2026, 11, 29), dt.date(2026, 9, 30)]
    wrong = []
    for lang in ("ru", "en"):
        for number in (1, 12):
            for count in range(41):
                for date in dates:
                    subject = digest_subject(
                        lang, number=number, count=count, date=format_date(date, DATE_PATTERN, locale=lang)
                    )
                    received = on_the_wire(digest_message(subject, lang=lang), headers_only=True)["Subject"]
                    if received != subject:
                        wrong.append((subject, received))
    assert wrong == []


def test_subject_examples_are_the_digest_s_own() -> None:
    """The examples above are subjects the digest really writes."""
    date = format_date(dt.date(2026, 11, 29), DATE_PATTERN, locale="ru")
    assert digest_subject("ru", number=1, count=22, date=date) == "Нансен №1: 22 обновления — 29 ноября 2026"
    assert digest_subject("ru", number=1, count=10, date=date) == "Нансен №1: 10 обновлений — 29 ноября 2026"


# --------------------------------------------------------------------------- the confirmation mail

CONFIRM_URL = "https://nansen.test/confirm?token=abc.def-ghi&lang={lang}"


def visible_text(html: str) -> str:
    """What a reader sees of an HTML part: no tags, attributes or URLs."""
    body = re.sub(r"(?s)<head>.*?</head>|<[^>]+>", " ", html)
    return " ".join(re.sub(r"https?://\S+", " ", body).split())


def test_the_russian_confirmation_mail_is_russian_and_the_english_one_english() -> None:
    ru = render_confirmation("ru", confirm_url=CONFIRM_URL.format(lang="ru"))
    assert ru.subject == "Подтвердите подписку на «Нансен»"
    assert ru.text == (
        "Кто-то — надеемся, вы — попросил присылать рассылку «Нансена» на этот\n"
        "адрес.\n"
        "\n"
        "Чтобы подтвердить подписку, откройте эту ссылку (она действует семь\n"
        "дней):\n"
        "https://nansen.test/confirm?token=abc.def-ghi&lang=ru\n"
        "\n"
        "Если это были не вы, просто не обращайте внимания на это письмо: без\n"
        "подтверждения мы больше ничего не пришлём.\n"
    )
    assert '<html lang="ru"' in ru.html
    assert (
        '<a href="https://nansen.test/confirm?token=abc.def-ghi&amp;lang=ru" style="display:inline-block;'
        "padding:10px 18px;border-radius:4px;background-color:#0b57a4;color:#ffffff;font-weight:700;"
        'text-decoration:none;">Подтвердить подписку</a>'
    ) in ru.html
    for part in (ru.subject, ru.text, visible_text(ru.html)):
        assert re.findall(r"[A-Za-z]+", re.sub(r"https?://\S+", "", part)) == []

    en = render_confirmation("en", confirm_url=CONFIRM_URL.format(lang="en"))
    assert en.subject == "Confirm your subscription to Nansen"
    assert ">Confirm my subscription</a>" in en.html
    assert visible_text(en.html) == (
        "Someone, hopefully you, asked to receive the Nansen newsletter at this address. "
        "To confirm, open this link (it is valid for seven days): Confirm my subscription "
        "If it was not you, ignore this message: without confirmation you will get nothing more from us."
    )
    for part in (en.subject, en.text, visible_text(en.html)):
        assert re.findall(r"[а-яА-ЯёЁ]+", part) == []


def test_the_confirmation_mail_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="no confirmation mail in 'de'"):
        render_confirmation("de", confirm_url=CONFIRM_URL)
    with pytest.raises(ValueError, match="not an http"):
        render_confirmation("ru", confirm_url="javascript:alert(1)")


def confirmation(lang: str) -> EmailMessage:
    from newsletter.web import confirmation_message

    reader = Subscriber(email="anna@example.org", key="k" * 32, language=lang)
    return on_the_wire(confirmation_message(NEWSLETTER, reader))


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_confirmation_mail_as_sent_is_all_in_the_reader_s_language(lang: str) -> None:
    message = confirmation(lang)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    other = r"[A-Za-z]+" if lang == "ru" else r"[а-яА-ЯёЁ]+"
    for part in (message["Subject"], re.sub(r"https?://\S+", "", text), visible_text(html)):
        assert re.findall(other, part) == []


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_confirmation_mail_as_sent_comes_from_the_templates(lang: str) -> None:
    message = confirmation(lang)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [url] = re.findall(r"https://nansen\.test/confirm\?\S+", text)
    expected = render_confirmation(lang, confirm_url=url)
    assert message["Subject"] == expected.subject
    assert text == expected.text
    assert message.get_body(("html",)).get_content() == expected.html  # type: ignore[union-attr]


# --------------------------------------------------------------------------- no msgid hidden from Babel

TRANSLATING = {"_", "gettext", "ngettext", "gettext_for", "ngettext_for", "N_", "t"}  # t: our local alias


def msgids_in_python() -> dict[str, str]:
    """msgid -> where, for every string literal given to a translating function in publishing/ and
    newsletter/ (gettext_for's second argument, ngettext_for's second and third)."""
    found = {}
    for package in ("publishing", "newsletter"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name not in TRANSLATING:
                    continue
                args = node.args[1:] if name.endswith("_for") else node.args
                for arg in args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found[arg.value] = f"{path.relative_to(REPO)}:{arg.lineno}"
    return found


def test_every_msgid_in_python_is_seen_by_the_extractor_the_catalog_test_uses() -> None:
    """tests/test_publish.py checks the catalog against what Babel extracts with its default keywords.
    On Python 3.11 Babel cannot see a `_()` inside an f-string, and it never sees the literal given to
    `gettext_for(lang, "...")`: such a string would reach readers untranslated with that test green."""
    from babel.messages.extract import extract_from_dir

    method_map = [(f"{package}/**.py", "python") for package in ("publishing", "newsletter")]
    extracted = set()
    for _file, _line, message, *_rest in extract_from_dir(REPO, method_map):
        extracted |= {message} if isinstance(message, str) else set(message)
    in_python = msgids_in_python()
    assert len(in_python) > 40
    assert {msgid: where for msgid, where in in_python.items() if msgid not in extracted} == {}
