"""The subscription endpoints against what really happens to them: mail scanners that GET and HEAD every
link, readers who press the buttons, mail clients' RFC 8058 one-click POST, people who probe the
subscribe form for who is subscribed, parallel posts, a relay that is down, and both languages.

Every test runs on SQLite and PostgreSQL, with a real aiosmtpd server; some run the app under uvicorn
and talk to it with httpx over TCP.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox
import re
import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import lxml.html
import pytest
from sqlalchemy import event, select, text
from starlette.testclient import TestClient

from directory import entries
from directory.store import Store
from newsletter import editions
from newsletter import subscribers as subs
from newsletter.delivery import MaildirSender, Outcome, Result, SmtpSender, parse_smtp_url
from newsletter.editions import NewsletterSettings
from newsletter.models import Count, Subscriber
from newsletter.ratelimit import Rate, RateLimiter, client_key
from newsletter.tokens import Tokens
from newsletter.web import Endpoints, create_app
from tests.conftest import entry_record, free_port
from tests.mailsink import Sink, serving

ME = entries.Actor("maintainer")
SECRET = "test-secret-0123456789abcdef"
SITE = "https://nansen.test/"
UNLIMITED = {"per_client": Rate(10_000, 10_000), "overall": Rate(10_000, 10_000)}


def settings() -> NewsletterSettings:
    return NewsletterSettings(
        site_url=SITE,
        sender="Nansen <newsletter@nansen.test>",
        tokens=Tokens(SECRET),
        message_domain="nansen.test",
        unsubscribe_mailto="unsubscribe@nansen.test",
    )


def smtp_send(url: str, attempts: list[Outcome] | None = None) -> Callable[[EmailMessage], Result]:
    """What `nansen serve` should pass: one attempt per call, its `Result` returned (the outbox retries)."""

    def send(message: EmailMessage) -> Result:
        with SmtpSender(parse_smtp_url(url), retries=0) as sender:
            result = sender.send(message)
        if attempts is not None:
            attempts.append(result.outcome)
        return result

    return send


def endpoints(store: Store, smtp_url: str, **options: Any) -> Endpoints:
    return Endpoints(settings(), store.session, smtp_send(smtp_url), **{**UNLIMITED, **options})


def dump(store: Store) -> list[Any]:
    """Every column of every subscriber and every anonymous count: what a click may change."""
    with store.session() as session:
        people = [tuple(row) for row in session.execute(select(Subscriber.__table__).order_by(Subscriber.id))]
        counts = [tuple(row) for row in session.execute(select(Count.__table__).order_by(Count.name))]
    return [people, counts]


def status(store: Store, address: str) -> tuple[str, str | None] | None:
    with store.session() as session:
        subscriber = subs.find(session, address)
        if subscriber is None:
            return None
        return subscriber.status, (subscriber.consent or {}).get("method")


def links_of(message: EmailMessage) -> list[str]:
    """Every http(s) link a scanner would find: in the text and HTML parts and the List-Unsubscribe header."""
    found = re.findall(r"<(https?://[^>]+)>", message.get("List-Unsubscribe", ""))
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            found += re.findall(r"https?://\S+", part.get_content())
        elif part.get_content_type() == "text/html":
            found += lxml.html.fromstring(part.get_content()).xpath("//a/@href")
    return sorted({url for url in found if url.startswith(("http://", "https://"))})


def path_of(url: str) -> str:
    """An absolute link of the site as a path for the app (the entries' pages answer 404 here)."""
    assert url.startswith(SITE), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def form(page: str, target: str, **match: str) -> tuple[str, dict[str, Any]]:
    """The action and the fields of the page's form posting to `target` (whose fields match `match`),
    as a browser would submit it: hidden fields, checked boxes and radios."""
    for candidate in lxml.html.fromstring(page).forms:
        if urlsplit(candidate.action or "").path != target:
            continue
        fields: dict[str, Any] = {}
        for element in candidate.inputs:
            kind = element.get("type", "text")
            if kind in ("checkbox", "radio") and not element.checked:
                continue
            if kind in ("hidden", "checkbox", "radio"):
                fields.setdefault(element.name, []).append(element.value)
        fields = {name: values[0] if len(values) == 1 else values for name, values in fields.items()}
        if all(fields.get(k) == v for k, v in match.items()):
            return candidate.action, fields
    raise AssertionError(f"no form posting to {target} with {match} in the page")


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def scan(web: Any, urls: list[str]) -> None:
    """What a mail scanner does: GET and HEAD every link, following redirects."""
    for url in urls:
        if url.startswith(SITE):
            assert web.get(path_of(url)).status_code in (200, 404)
            assert web.head(path_of(url)).status_code in (200, 404)


# --------------------------------------------------------------------------- links do nothing by being opened


def test_scanners_change_nothing_only_the_buttons_and_one_click_do(
    store: Store, mail_sink: tuple[Sink, str], tmp_path: Path
) -> None:
    sink, smtp = mail_sink
    app = endpoints(store, smtp)
    with TestClient(create_app(None, app)) as web:
        assert web.post("/subscribe", data={"email": "anna@example.org", "lang": "ru"}).status_code == 200
        assert app.outbox.wait_idle(20)
        [confirmation] = sink.to("anna@example.org")
        urls = links_of(confirmation)
        assert any("/confirm?" in u for u in urls) and any("/unsubscribe?" in u for u in urls)
        before = dump(store)
        scan(web, urls)
        assert dump(store) == before and status(store, "anna@example.org") == ("pending", None)

        [confirm_url] = [u for u in urls if "/confirm?" in u]
        page = web.get(path_of(confirm_url))
        assert page.status_code == 200 and "Подтвердить подписку" in page.text
        action, fields = form(page.text, "/confirm")
        assert "token" in fields and "proof" in fields and "token=" not in action
        # Without the page's proof, or with a proof made for another link or another button: nothing.
        assert web.post(action, data={"token": fields["token"]}).status_code == 403
        unsubscribe_page = web.get(path_of(next(u for u in urls if "/unsubscribe?" in u))).text
        _, other = form(unsubscribe_page, "/unsubscribe")
        assert web.post(action, data={**fields, "proof": other["proof"]}).status_code == 403
        assert web.post(action, data={**fields, "proof": fields["proof"] + "x"}).status_code == 403
        assert dump(store) == before
        confirmed = web.post(action, data=fields)
        assert confirmed.status_code == 200 and "подписка подтверждена" in confirmed.text
        assert status(store, "anna@example.org") == ("active", "double opt-in")

        with store.session() as session:
            for address in ("bob@example.org", "carol@example.org"):
                subs.add_confirmed(session, address, "en", subs.Preferences(), note="test")
            entries.add_entry(session, entry_record("org"), ME)
        assert editions.send(store.session, settings(), MaildirSender(tmp_path / "mail")).sent == 3
        digests = {
            m["To"]: m
            for m in (
                message_from_bytes(raw.as_bytes(), policy=policy.default)
                for raw in mailbox.Maildir(tmp_path / "mail", create=False)
            )
        }
        assert set(digests) == {"anna@example.org", "bob@example.org", "carol@example.org"}
        before = dump(store)
        for digest in digests.values():
            urls = links_of(digest)  # type: ignore[arg-type]
            assert any("/preferences?" in u for u in urls) and any("/unsubscribe?" in u for u in urls)
            assert any("/entries/" in u for u in urls)
            scan(web, urls)
        assert dump(store) == before

        def page_of(address: str, kind: str) -> str:
            [url] = {u for u in links_of(digests[address]) if f"/{kind}?" in u}  # type: ignore[arg-type]
            page = web.get(path_of(url))
            assert page.status_code == 200
            return page.text

        # Preferences: the Save button changes them, and only it.
        action, fields = form(page_of("anna@example.org", "preferences"), "/preferences", lang="ru")
        assert web.post(action, data={**fields, "lang": "en", "country": "GE"}).status_code == 200
        with store.session() as session:
            anna = subs.find(session, "anna@example.org")
            assert (anna.language, anna.countries, anna.status) == ("en", ["GE"], "active")
        # Unsubscribe with the page's button.
        action, fields = form(page_of("bob@example.org", "unsubscribe"), "/unsubscribe")
        assert web.post(action, data=fields).status_code == 200
        assert status(store, "bob@example.org")[0] == "unsubscribed"  # type: ignore[index]
        # RFC 8058: the mail client's POST to the List-Unsubscribe URL acts at once, without a page.
        carol = digests["carol@example.org"]
        assert carol["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        one_click = re.search(r"<(https?://[^>]+)>", carol["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
        answer = web.post(
            path_of(one_click),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (answer.status_code, answer.text) == (200, "unsubscribed\n")
        assert status(store, "carol@example.org")[0] == "unsubscribed"  # type: ignore[index]
        # Delete my data: the second button of the preferences page, with its own proof.
        page = page_of("anna@example.org", "preferences")
        _, save = form(page, "/preferences", lang="en")
        action, delete = form(page, "/preferences", action="delete")
        assert web.post(action, data={**delete, "proof": save["proof"]}).status_code == 403  # a Save proof
        assert status(store, "anna@example.org") is not None
        deleted = web.post(action, data=delete)
        assert deleted.status_code == 200 and "Your data has been deleted." in deleted.text
        assert status(store, "anna@example.org") is None
        assert web.get(path_of(confirm_url)).status_code == 400  # the person is gone, and so is the link


def test_head_and_get_answer_without_acting_and_other_methods_are_refused(
    store: Store, mail_sink: tuple[Sink, str]
) -> None:
    _sink, smtp = mail_sink
    with store.session() as session:
        signup = subs.request_subscription(session, "dana@example.org", "en", subs.Preferences())
        key = signup.subscriber.key  # type: ignore[union-attr]
    tokens = settings().tokens
    before = dump(store)
    with TestClient(create_app(None, endpoints(store, smtp))) as web:
        for purpose in ("confirm", "unsubscribe", "preferences"):
            url = f"/{purpose}?token={tokens.make(purpose, key)}"
            head = web.head(url)
            assert (head.status_code, head.content) == (200, b"")
            assert head.headers["Cache-Control"] == "no-store"
            assert web.get(url).status_code == 200
            assert web.put(url, data={"List-Unsubscribe": "One-Click"}).status_code == 405
            assert web.delete(url).status_code == 405
        # The one-click body sent to another link, or with a bad token, does nothing either.
        confirm_url = f"/confirm?token={tokens.make('confirm', key)}"
        assert web.post(confirm_url, data={"List-Unsubscribe": "One-Click"}).status_code == 400
        bad = web.post("/unsubscribe?token=forged", data={"List-Unsubscribe": "One-Click"})
        assert (bad.status_code, bad.text) == (400, "invalid link\n")
    assert dump(store) == before


# --------------------------------------------------------------------------- the reader's language


def test_pages_speak_the_readers_language(store: Store, mail_sink: tuple[Sink, str]) -> None:
    sink, smtp = mail_sink
    tokens = settings().tokens
    app = endpoints(store, smtp)
    words = {
        "ru": {
            "confirm": ["Подтвердите подписку", "Подтвердить подписку", "нажмите кнопку"],
            "unsubscribe": ["Рассылок от «Нансена» вы больше не получите", "Отписаться"],
            "preferences": ["Ваша рассылка", "Удалить мои данные"],
            "done": "Вы отписались",
            "invalid": "Эта ссылка больше не действует",
        },
        "en": {
            "confirm": ["Confirm your subscription", "Confirm my subscription", "press the button"],
            "unsubscribe": ["You will receive no more newsletters", "Unsubscribe"],
            "preferences": ["Your newsletter", "Delete my data"],
            "done": "You are unsubscribed",
            "invalid": "This link is not valid any more",
        },
    }
    with TestClient(create_app(None, app)) as web:
        for lang in ("ru", "en"):
            assert web.post("/subscribe", data={"email": f"{lang}@example.org", "lang": lang}).status_code == 200
        assert app.outbox.wait_idle(20)
        for lang, other in (("ru", "en"), ("en", "ru")):
            [mail] = sink.to(f"{lang}@example.org")
            [confirm_url] = [u for u in links_of(mail) if "/confirm?" in u]
            assert confirm_url.endswith(f"&lang={lang}")
            with store.session() as session:
                key = subs.find(session, f"{lang}@example.org").key  # type: ignore[union-attr]
            pages = {
                "confirm": web.get(f"/confirm?token={tokens.make('confirm', key)}&lang={other}"),  # the token wins
                "unsubscribe": web.get(f"/unsubscribe?token={tokens.make('unsubscribe', key)}"),
                "preferences": web.get(f"/preferences?token={tokens.make('preferences', key)}"),
            }
            for name, page in pages.items():
                assert page.status_code == 200 and f'<html lang="{lang}">' in page.text
                for text in words[lang][name]:
                    assert text in page.text, (lang, name, text)
                for text in words[other][name][:1]:
                    assert text not in page.text
            action, fields = form(pages["unsubscribe"].text, "/unsubscribe")
            assert words[lang]["done"] in web.post(action, data=fields).text
            # A link that is broken or expired: the language the link (or the form) names.
            for url in (f"/unsubscribe?token=forged&lang={lang}", f"/confirm?token=expired&lang={lang}"):
                page = web.get(url)
                assert page.status_code == 400 and words[lang]["invalid"] in page.text
            assert words[lang]["invalid"] in web.post(f"/confirm?lang={lang}", data={"token": "x"}).text
        assert words["ru"]["invalid"] in web.get("/unsubscribe?token=forged").text  # nothing known: Russian


# --------------------------------------------------------------------------- the subscribe form tells nothing


def test_the_subscribe_request_does_no_database_or_mail_work(store: Store, mail_sink: tuple[Sink, str]) -> None:
    """Why new and active addresses take the same time: the request itself runs no SQL statement and
    sends no mail; all of it happens in the outbox's thread after the answer. (The timing itself, medians
    over 50 posts of each kind, is measured by `make bench`: tests/benchmarks/test_subscribe_timing.py.)"""
    sink, smtp = mail_sink
    with store.session() as session:
        subs.add_confirmed(session, "active@example.org", "en", subs.Preferences(), note="test")
    app = endpoints(store, smtp)
    threads: list[str] = []

    def record(*_: Any) -> None:
        threads.append(threading.current_thread().name)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        with TestClient(create_app(None, app)) as web:
            answers = {
                address: web.post("/subscribe", data={"email": address, "lang": "en"})
                for address in ("new@example.org", "active@example.org", "new@example.org")
            }
            assert app.outbox.wait_idle(30)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert len({(a.status_code, a.text) for a in answers.values()}) == 1
    assert threads and set(threads) == {"nansen-outbox"}  # every statement ran in the outbox, none in a request
    assert [m["To"] for m in sink.messages] == ["new@example.org"]


@contextlib.contextmanager
def served(app: Any, log_level: str = "debug") -> Iterator[str]:
    """The app under uvicorn on 127.0.0.1, logging everything it logs (access log included)."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def assert_not_logged(caplog: pytest.LogCaptureFixture, *addresses: str) -> None:
    """No record of ours, Starlette's or uvicorn's names an address (aiosmtpd, the relay's side, may)."""
    records = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert records, "nothing was captured: the check would be empty"
    for record in records:
        text = record.getMessage() + (record.exc_text or "") + str(record.exc_info or "")
        for address in addresses:
            assert address.split("@")[0] not in text, (record.name, text)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # the root: ours, Starlette's, uvicorn's, httpx's (SQLAlchemy keeps WARNING)
    return caplog


def test_parallel_posts_for_one_new_address_make_one_row_and_one_mail(
    store: Store, mail_sink: tuple[Sink, str], all_logs: pytest.LogCaptureFixture
) -> None:
    """20 posts at once through one server, then 20 more split over two servers sharing the database
    (as two processes would): one row, one mail, every answer 200 and alike, no address in the logs."""
    sink, smtp = mail_sink

    def post_all(bases: list[str], address: str, n: int = 20) -> list[tuple[int, str]]:
        barrier = threading.Barrier(n)
        answers: list[tuple[int, str]] = []

        def post(base: str) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                barrier.wait()
                answer = client.post("/subscribe", data={"email": address, "lang": "ru"})
                answers.append((answer.status_code, answer.text))

        threads = [threading.Thread(target=post, args=(bases[i % len(bases)],)) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        return answers

    one = endpoints(store, smtp)
    with served(create_app(None, one)) as base:
        answers = post_all([base], "zoe@example.org")
        assert one.outbox.wait_idle(30)
    second_store = Store(store.url)  # another process's connections
    try:
        two = [one, endpoints(second_store, smtp)]
        with served(create_app(None, two[0])) as base_a, served(create_app(None, two[1])) as base_b:
            answers += post_all([base_a, base_b], "yan@example.org")
            assert all(app.outbox.wait_idle(30) for app in two)
    finally:
        second_store.close()
    assert len(answers) == 40 and {code for code, _ in answers} == {200}
    assert len({text for _, text in answers}) == 1
    with store.session() as session:
        rows = session.scalars(select(Subscriber.email).order_by(Subscriber.email)).all()
    assert rows == ["yan@example.org", "zoe@example.org"]
    assert sorted(m["To"] for m in sink.messages) == ["yan@example.org", "zoe@example.org"]
    assert_not_logged(all_logs, "zoe@example.org", "yan@example.org")


def test_another_writer_adding_the_same_address_is_exists_not_an_error(
    store: Store, mail_sink: tuple[Sink, str], all_logs: pytest.LogCaptureFixture
) -> None:
    """Another process (`nansen subscribers add`, a second server) adds the address and has not committed
    when the web's request is handled: on PostgreSQL our INSERT waits, then meets the unique constraint;
    on SQLite our write waits for theirs. Either way: one row, no error, no second mail within the hour."""
    sink, smtp = mail_sink
    app = endpoints(store, smtp)
    postgresql = store.engine.dialect.name == "postgresql"

    def waits_for(pid: int) -> bool:
        with store.engine.connect() as connection:
            query = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
            return bool(connection.execute(query, {"pid": pid}).scalar())

    with TestClient(create_app(None, app)) as web:
        with store.session() as other:
            assert subs.request_subscription(other, "max@example.org", "en", subs.Preferences()).send_confirmation
            assert web.post("/subscribe", data={"email": "max@example.org", "lang": "en"}).status_code == 200
            if postgresql:
                pid = other.execute(text("SELECT pg_backend_pid()")).scalar()
                wait_for(lambda: waits_for(pid))  # our INSERT waits for theirs
            else:
                time.sleep(0.5)
        assert app.outbox.wait_idle(40)
    with store.session() as session:
        assert session.scalars(select(Subscriber.email)).all() == ["max@example.org"]
    assert sink.messages == []  # the other process mails its own confirmation
    ours = [r for r in all_logs.records if r.name == "newsletter.web"]
    assert not [r for r in ours if r.levelno >= logging.WARNING]
    assert any("met another one" in r.getMessage() for r in ours) is postgresql
    assert_not_logged(all_logs, "max@example.org")


def test_a_relay_that_is_down_delays_the_mail_and_never_the_answer(
    store: Store, all_logs: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    attempts: list[Outcome] = []
    app = Endpoints(
        settings(),
        store.session,
        smtp_send(f"smtp://127.0.0.1:{port}", attempts),
        mail_backoff=(0.2, 0.4, 0.8, 1.6, 3.2),
        **UNLIMITED,
    )
    with store.session() as session:
        subs.add_confirmed(session, "old@example.org", "ru", subs.Preferences(), note="test")
    sink = Sink()
    with served(create_app(None, app)) as base, httpx.Client(base_url=base, timeout=30) as web:
        answer = web.post("/subscribe", data={"email": "eve@example.org", "lang": "ru"})
        same = web.post("/subscribe", data={"email": "old@example.org", "lang": "ru"})
        assert (answer.status_code, answer.text) == (same.status_code, same.text) == (200, same.text)
        wait_for(lambda: Outcome.RETRY in attempts)
        assert sink.messages == []
        with serving(sink, port):  # the relay comes back
            wait_for(lambda: sink.to("eve@example.org"))
            assert app.outbox.wait_idle(30)
            # Asked again within the hour: the mail left once, so no second one.
            web.post("/subscribe", data={"email": "eve@example.org", "lang": "ru"})
            assert app.outbox.wait_idle(30)
    assert [m["To"] for m in sink.messages] == ["eve@example.org"]
    assert attempts[-1] is Outcome.SENT and attempts.count(Outcome.SENT) == 1
    assert status(store, "eve@example.org") == ("pending", None)
    assert_not_logged(all_logs, "eve@example.org", "old@example.org")


def test_a_mail_that_never_left_does_not_use_up_the_hour(store: Store, all_logs: pytest.LogCaptureFixture) -> None:
    port = free_port()
    attempts: list[Outcome] = []
    app = Endpoints(
        settings(),
        store.session,
        smtp_send(f"smtp://127.0.0.1:{port}", attempts),
        mail_backoff=(0.05, 0.05),
        **UNLIMITED,
    )
    with TestClient(create_app(None, app)) as web:
        assert web.post("/subscribe", data={"email": "fay@example.org", "lang": "en"}).status_code == 200
        assert app.outbox.wait_idle(30)
        assert attempts == [Outcome.RETRY] * 3  # given up after the back-off
        with store.session() as session:
            assert subs.find(session, "fay@example.org").confirmation_sent_at is None  # type: ignore[union-attr]
        sink = Sink()
        with serving(sink, port):
            assert web.post("/subscribe", data={"email": "fay@example.org", "lang": "en"}).status_code == 200
            assert app.outbox.wait_idle(30)
    assert [m["To"] for m in sink.messages] == ["fay@example.org"]
    assert_not_logged(all_logs, "fay@example.org")


def test_rate_limits_per_client_and_overall_tell_nothing(store: Store, mail_sink: tuple[Sink, str]) -> None:
    _sink, smtp = mail_sink
    with store.session() as session:
        subs.add_confirmed(session, "kept@example.org", "en", subs.Preferences(), note="test")
    app = endpoints(store, smtp, per_client=Rate(3, 1e-9), overall=Rate(5, 1e-9))
    asgi = create_app(None, app)
    with TestClient(asgi, client=("203.0.113.7", 50000)) as first:
        second = TestClient(asgi, client=("2001:db8::1", 50000))
        same_net = TestClient(asgi, client=("2001:db8::ffff", 50000))  # the same IPv6 /64
        for i in range(3):
            assert first.post("/subscribe", data={"email": f"a{i}@example.org", "lang": "en"}).status_code == 200
        refused = [
            first.post("/subscribe", data={"email": address, "lang": "en"})
            for address in ("new@example.org", "kept@example.org")
        ]
        assert {(r.status_code, r.text, r.headers["Retry-After"]) for r in refused} == {(429, refused[0].text, "60")}
        assert "Too many requests" in refused[0].text and "example.org" not in refused[0].text
        assert second.post("/subscribe", data={"email": "b0@example.org", "lang": "en"}).status_code == 200
        assert same_net.post("/subscribe", data={"email": "b1@example.org", "lang": "en"}).status_code == 200
        assert second.post("/subscribe", data={"email": "b2@example.org", "lang": "en"}).status_code == 429  # all 5
        assert app.outbox.wait_idle(20)
    with store.session() as session:
        recorded = set(session.scalars(select(Subscriber.email)))
    assert recorded == {
        "kept@example.org",
        "a0@example.org",
        "a1@example.org",
        "a2@example.org",
        "b0@example.org",
        "b1@example.org",
    }


def test_token_buckets_refill_and_group_ipv6_networks() -> None:
    now = [0.0]
    limits = RateLimiter(Rate(2, 1.0), Rate(3, 0.5), clock=lambda: now[0], max_clients=2)
    assert [limits.allow("192.0.2.1") for _ in range(3)] == [True, True, False]
    assert limits.allow("192.0.2.2") is True
    assert limits.allow("192.0.2.3") is False  # everyone's bucket is empty
    now[0] = 2.0  # one token back overall, two for each client
    assert limits.allow("192.0.2.1") is True and limits.allow("192.0.2.1") is False
    assert client_key("2001:db8:0:0:1::1") == client_key("2001:db8::9") == "2001:db8::/64"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1" and client_key("testclient") == "testclient"
    now[0] = 100.0
    for i in range(5):  # the table stays bounded
        limits.allow(f"198.51.100.{i}")
    assert len(limits._clients) <= 2


def test_the_honeypot_and_a_bad_address_record_nothing(store: Store, mail_sink: tuple[Sink, str]) -> None:
    sink, smtp = mail_sink
    app = endpoints(store, smtp)
    with TestClient(create_app(None, app)) as web:
        bot = web.post("/subscribe", data={"email": "victim@example.org", "lang": "en", "website": "x"})
        human = web.post("/subscribe", data={"email": "human@example.org", "lang": "en"})
        assert (bot.status_code, bot.text) == (human.status_code, human.text)
        assert web.post("/subscribe", data={"email": "not-an-address", "lang": "en"}).status_code == 400
        assert app.outbox.wait_idle(20)
    assert [m["To"] for m in sink.messages] == ["human@example.org"]
    assert status(store, "victim@example.org") is None
