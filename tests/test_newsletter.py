"""The newsletter end to end: double opt-in over HTTP, editions by segment over real SMTP, one-click
unsubscribe, forgetting, and exactly-once delivery when the sender is killed."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from directory import entries
from directory.store import Store
from newsletter import editions
from newsletter import subscribers as subs
from newsletter.delivery import SmtpSender, parse_smtp_url
from newsletter.editions import NewsletterSettings
from newsletter.models import Count, Delivery, Subscriber
from newsletter.tokens import Tokens
from newsletter.web import Endpoints, create_app
from tests.conftest import entry_record, program_record
from tests.mailsink import Sink

ME = entries.Actor("maintainer")
SECRET = "test-secret-0123456789abcdef"
SITE = "https://nansen.test/"


def settings(**overrides: Any) -> NewsletterSettings:
    return NewsletterSettings(
        site_url=SITE,
        sender="Nansen <newsletter@nansen.test>",
        tokens=Tokens(SECRET),
        message_domain="nansen.test",
        unsubscribe_mailto="unsubscribe@nansen.test",
        **overrides,
    )


def client(store: Store, smtp_url: str) -> Any:
    from starlette.testclient import TestClient

    def send_mail(message: Any) -> Any:
        with SmtpSender(parse_smtp_url(smtp_url), retries=0) as sender:
            return sender.send(message)  # the endpoints' outbox retries what did not leave

    return TestClient(create_app(None, Endpoints(settings(), store.session, send_mail)))


def mailed(web: Any) -> None:
    """Wait for the confirmation mails: the endpoints send them after answering."""
    assert web.app.state.endpoints.outbox.wait_idle(30)


def press(web: Any, page: Any, **fields: Any) -> Any:
    """Press the button of a page reached from a link: its form's hidden fields (the token and the
    page's proof), plus `fields`; with `action`, the form that has that hidden action."""
    forms = re.findall(r'<form method="post" action="([^"]+)">(.*?)</form>', page.text, re.S)
    for action, body in forms:
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', body))
        if hidden.get("action") == fields.get("action"):
            return web.post(html.unescape(action), data={**hidden, **fields})
    raise AssertionError("no such form")


def link(message: Any, path: str) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"{re.escape(SITE)}{path}\?token=[^\s>)\"']+", text).group(0).removeprefix(SITE.rstrip("/"))


def subscribe(web: Any, email: str, lang: str, **extra: Any) -> Any:
    return web.post("/subscribe", data={"email": email, "lang": lang, **extra})


def test_double_opt_in_editions_by_segment_and_one_click_unsubscribe(store: Store, mail_sink: tuple[Sink, str]) -> None:
    sink, smtp = mail_sink
    web = client(store, smtp)
    first = subscribe(web, "Anna@Example.org", "ru", country="GE")
    assert first.status_code == 200 and "проверьте почту" in first.text
    assert subscribe(web, "bob@example.org", "en").status_code == 200
    assert subscribe(web, "carol@example.org", "en").status_code == 200  # never confirms
    bot = subscribe(web, "victim@example.org", "en", website="http://spam.example")
    assert bot.status_code == 200 and "check your inbox" in bot.text
    assert subscribe(web, "bad-address", "en").status_code == 400
    mailed(web)
    assert sorted(m["To"] for m in sink.messages) == ["anna@example.org", "bob@example.org", "carol@example.org"]
    [to_anna] = sink.to("anna@example.org")
    assert to_anna["Subject"] == "Подтвердите подписку на «Нансен»"
    for address in ("anna@example.org", "bob@example.org"):
        page = web.get(link(sink.to(address)[0], "confirm"))  # shows the button; a scanner confirms nobody
        assert page.status_code == 200
        assert press(web, page).status_code == 200
    again = subscribe(web, "anna@example.org", "ru", country="GE")  # active already: same answer, no mail
    assert again.text.replace("anna", "") == first.text.replace("anna", "")
    mailed(web)
    assert len(sink.to("anna@example.org")) == 1
    with store.session() as session:
        assert {s.email: s.status for s in subs.listing(session)} == {
            "anna@example.org": "active",
            "bob@example.org": "active",
            "carol@example.org": "pending",
        }
        assert "victim@example.org" not in {s.email for s in subs.listing(session)}

    sink.messages.clear()
    with store.session() as session:
        entries.add_entry(session, program_record("ge-visa", host_countries=["GE"]), ME)
        entries.add_entry(session, entry_record("lv-media", kind="media", host_countries=["LV"]), ME)
    report = editions.send(store.session, settings(), SmtpSender(parse_smtp_url(smtp)))
    assert (report.edition, report.status, report.sent) == (1, "sent", 2)
    [anna] = sink.to("anna@example.org")
    [bob] = sink.to("bob@example.org")
    assert "Нансен" in anna["Subject"] and "Nansen" in bob["Subject"]
    anna_text = anna.get_body(("plain",)).get_content()
    assert "ge-visa" in anna_text and "lv-media" not in anna_text
    assert "lv-media" in bob.get_body(("plain",)).get_content()
    assert bob["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert bob["Message-ID"].endswith("@nansen.test>") and "bob" not in bob["Message-ID"]
    one_click = re.search(r"<(http[^>]+)>", bob["List-Unsubscribe"]).group(1).removeprefix(SITE.rstrip("/"))
    assert web.get(one_click).status_code == 200  # a GET shows a button; a link scanner unsubscribes nobody
    with store.session() as session:
        assert subs.find(session, "bob@example.org").status == "active"
    assert web.post(one_click, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with store.session() as session:
        assert subs.find(session, "bob@example.org").status == "unsubscribed"

    sink.messages.clear()
    with store.session() as session:
        entries.edit_entry(session, "ge-visa", {"program.state": "open"}, ME)
    report = editions.send(store.session, settings(), SmtpSender(parse_smtp_url(smtp)))
    assert (report.edition, report.sent) == (2, 1)
    assert [m["To"] for m in sink.messages] == ["anna@example.org"]
    assert editions.send(store.session, settings(), SmtpSender(parse_smtp_url(smtp))).edition is None  # nothing due


def test_preferences_and_delete_my_data(store: Store, mail_sink: tuple[Sink, str]) -> None:
    sink, smtp = mail_sink
    web = client(store, smtp)
    subscribe(web, "dana@example.org", "en")
    mailed(web)
    press(web, web.get(link(sink.messages[0], "confirm")))
    with store.session() as session:
        key = subs.find(session, "dana@example.org").key
    token = settings().tokens.make("preferences", key)
    form = web.get(f"/preferences?token={token}")
    assert form.status_code == 200 and "Delete my data" in form.text
    saved = press(web, form, lang="ru", country=["GE", "AM"], kind="program")
    assert saved.status_code == 200
    with store.session() as session:
        dana = subs.find(session, "dana@example.org")
        assert (dana.language, dana.countries, dana.kinds) == ("ru", ["GE", "AM"], ["program"])
    assert web.get(f"/preferences?token={token}x").status_code == 400
    confirm_token = settings().tokens.make("confirm", key)
    assert web.get(f"/unsubscribe?token={confirm_token}").status_code == 400  # a token for another purpose
    assert press(web, web.get(f"/preferences?token={token}"), action="delete").status_code == 200
    with store.session() as session:
        assert subs.find(session, "dana@example.org") is None
        assert session.get(Count, "forgotten").value == 1
    assert web.get(f"/preferences?token={token}").status_code == 400  # the key is gone with the person


def test_approval_holds_a_draft_and_csv_import_is_all_or_nothing(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        report = subs.import_csv(
            session,
            "email,language,countries\na@x.org,ru,GE\nbad,ru,\nb@x.org,de,\n",
            source="people.csv",
            note="paper form",
        )
        assert report.problems == [
            "people.csv:3: 'bad' is not an email address: An email address must have an @-sign.",
            "people.csv:4: 'de' is not a newsletter language (ru or en)",
        ]
    with store.session() as session:
        assert subs.listing(session) == []
        report = subs.import_csv(
            session, "email,language,countries\na@x.org,ru,GE | AM\n", source="p.csv", note="paper form"
        )
        assert (report.added, report.problems) == (1, [])
        entries.add_entry(session, program_record("ge-visa", host_countries=["GE"]), ME)
    maildir = tmp_path / "maildir"
    from newsletter.delivery import MaildirSender

    held = editions.send(store.session, settings(require_approval=True), MaildirSender(maildir))
    assert held.status == "waiting for approval"
    with store.session() as session:
        editions.approve(session, "maintainer")
    sent = editions.send(store.session, settings(require_approval=True), MaildirSender(maildir))
    assert (sent.status, sent.sent) == ("sent", 1)
    assert len(list((maildir / "new").iterdir())) == 1


def test_a_451_is_retried_in_the_next_run_and_a_550_bounces(store: Store, mail_sink: tuple[Sink, str]) -> None:
    sink, smtp = mail_sink
    with store.session() as session:
        for address in ("one@example.org", "two@example.org"):
            subs.add_confirmed(session, address, "en", subs.Preferences(), note="test")
        entries.add_entry(session, entry_record("org"), ME)
    sink.on_data = lambda n: "451 4.3.0 Try again later" if n == 1 else None
    sender = SmtpSender(parse_smtp_url(smtp), sleep=lambda seconds: None)

    async def handle_RCPT(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address == "two@example.org":
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    sink.handle_RCPT = handle_RCPT  # type: ignore[attr-defined]
    first = editions.send(store.session, settings(), sender)
    assert (first.sent, first.bounced, first.retry, first.status) == (0, 1, 1, "sending")
    second = editions.send(store.session, settings(), sender)
    assert (second.sent, second.bounced, second.retry, second.status) == (1, 0, 0, "sent")
    assert [m["To"] for m in sink.messages] == ["one@example.org"]
    with store.session() as session:
        assert subs.find(session, "two@example.org").status == "bounced"
        attempts = dict(session.execute(select(Subscriber.email, Delivery.attempts).join(Delivery)).all())
    assert attempts["one@example.org"] == 2


def _send_in_child(store: Store, smtp: str) -> subprocess.Popen[bytes]:
    env = {
        "NANSEN_DATABASE_URL": store.url,
        "NANSEN_SECRET": SECRET,
        "NANSEN_SMTP_URL": smtp,
        "NANSEN_SITE_URL": SITE,
        "NANSEN_SENDER": "Nansen <newsletter@nansen.test>",
        "NANSEN_ACTOR": "test",
    }
    import os

    return subprocess.Popen(
        [str(Path(sys.executable).with_name("nansen")), "newsletter", "send"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_killed_sender_resumes_exactly_once(store: Store, mail_sink: tuple[Sink, str], seed: int) -> None:
    """SIGKILL the sending process between messages (at MAIL FROM of the next one, once the previous
    row is committed) and inside the SMTP transaction (at DATA, before the server accepts), several
    times; every subscriber ends with the edition exactly once.

    The kill at MAIL FROM waits for the previous row's commit (`Sink.recorded`), which must come
    without the server's answer."""
    import random

    sink, smtp = mail_sink
    rng = random.Random(seed)
    people = [f"reader{i:02d}@example.org" for i in range(30)]
    with store.session() as session:
        for i, address in enumerate(people):
            subs.add_confirmed(session, address, "ru" if i % 2 else "en", subs.Preferences(), note="test")
        entries.add_entry(session, entry_record("org"), ME)
    child: dict[str, Any] = {}
    kills_at_mail = set(rng.sample(range(2, 60), 3))
    kills_at_data = set(rng.sample(range(2, 60), 3))
    sink.on_mail = sink.killer(lambda: child["process"].pid, kills_at_mail, "421 4.3.0 Closing", sink.recorded(store))
    sink.on_data = sink.killer(lambda: child["process"].pid, kills_at_data, "451 4.3.0 Not accepted")
    runs = 0
    while True:
        runs += 1
        assert runs < 15, "the edition never completed"
        child["process"] = _send_in_child(store, smtp)
        out, err = child["process"].communicate(timeout=60)
        if child["process"].returncode == 0:
            assert b"edition 1: sent" in out, out + err
            break
        assert child["process"].returncode == -9, err
    received = Counter(m["To"] for m in sink.messages)
    assert received == Counter({address: 1 for address in people})
    assert runs >= 2
    ids = Counter(m["Message-ID"] for m in sink.messages)
    assert max(ids.values()) == 1
    with store.session() as session:
        assert session.scalar(select(func.count(Delivery.id)).where(Delivery.status == "sent")) == len(people)


def test_subscriber_cli(cli: Any, tmp_path: Path) -> None:
    env = {"NANSEN_SECRET": SECRET}
    assert (
        cli(
            "subscribers", "add", "x@example.org", "--lang", "en", "--confirmed", "--note", "phone call", env=env
        ).exit_code
        == 0
    )
    assert cli("subscribers", "add", "y@example.org", "--lang", "xx", "--confirmed", "--note", "n").exit_code == 1
    listed = json.loads(cli("subscribers", "list", "--format", "json").output)
    assert [(s["email"], s["status"], s["consent"]) for s in listed] == [
        ("x@example.org", "active", "added by a maintainer: phone call")
    ]
    bad = tmp_path / "people.csv"
    bad.write_text("email,language\nz@example.org,ru\nnope,en\n", encoding="utf-8")
    result = cli("subscribers", "import", str(bad), "--note", "form")
    assert result.exit_code == 1 and f"{bad}:3:" in result.output
    assert len(json.loads(cli("subscribers", "list", "--format", "json").output)) == 1
    assert cli("subscribers", "forget", "x@example.org").exit_code == 0
    stats = json.loads(cli("subscribers", "stats", "--format", "json").output)
    assert (stats["subscribers"], stats["forgotten"]) == (0, 1)


def test_an_unreachable_server_stops_the_run_and_it_resumes_later(store: Store, mail_sink: tuple[Sink, str]) -> None:
    import socket

    sink, smtp = mail_sink
    with store.session() as session:
        for i in range(6):
            subs.add_confirmed(session, f"r{i}@example.org", "en", subs.Preferences(), note="test")
        entries.add_entry(session, entry_record("org"), ME)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    waits: list[float] = []
    down = SmtpSender(parse_smtp_url(f"smtp://127.0.0.1:{closed}"), sleep=waits.append)
    report = editions.send(store.session, settings(), down)
    assert report.status.startswith("stopped: the SMTP server is unreachable (connecting: ")
    assert report.retry == 0 and waits == [1, 4, 16]  # one reader's retries, not every reader's
    with store.session() as session:  # nobody is charged an attempt for the server being away
        assert set(session.scalars(select(Delivery.attempts))) == {0}
    report = editions.send(store.session, settings(), SmtpSender(parse_smtp_url(smtp)))
    assert (report.status, report.sent) == ("sent", 6)
    assert sorted(m["To"] for m in sink.messages) == [f"r{i}@example.org" for i in range(6)]


def test_sent_editions_are_archived_on_the_site_without_personal_links(store: Store, tmp_path: Path) -> None:
    from newsletter.delivery import MaildirSender
    from pipeline import jobs
    from publishing import site
    from publishing.feeds import FeedSettings

    with store.session() as session:
        subs.add_confirmed(session, "a@example.org", "ru", subs.Preferences(), note="test")
        entries.add_entry(session, program_record("ge-visa", host_countries=["GE"]), ME)
    assert editions.send(store.session, settings(), MaildirSender(tmp_path / "mail")).status == "sent"
    public = tmp_path / "public"
    with store.session() as session:
        written = jobs.archive_editions(session, settings(), public)
        jobs.build_site(session, site.SiteSettings(public, FeedSettings(SITE, "nansen.test")))
    assert {p.relative_to(public).as_posix() for p in written} == {"ru/newsletter/1.html", "en/newsletter/1.html"}
    edition = (public / "ru/newsletter/1.html").read_text(encoding="utf-8")
    assert "token=" not in edition and "nansen.invalid" not in edition and f"{SITE}subscribe?lang=ru" in edition
    index = (public / "ru/newsletter/index.html").read_text(encoding="utf-8")
    assert 'href="1.html"' in index and "Рассылка «Нансена» №1" in index
    assert 'newsletter/index.html">Рассылка<' in (public / "ru/index.html").read_text(encoding="utf-8")


def test_newsletter_commands_from_sign_up_to_archive(
    cli: Any, store: Store, mail_sink: tuple[Sink, str], tmp_path: Path
) -> None:
    """Every mail command of the README, through the CLI, against a real SMTP server."""
    sink, smtp = mail_sink
    env = {"NANSEN_SECRET": SECRET, "NANSEN_SMTP_URL": smtp, "NANSEN_SITE_URL": SITE}
    added = cli("subscribers", "add", "anna@example.org", "--lang", "ru", "--country", "GE", env=env)
    assert added.exit_code == 0 and "confirmation mail sent to anna@example.org" in added.output
    assert [m["To"] for m in sink.messages] == ["anna@example.org"]
    assert cli("subscribers", "add", "b@example.org", "--lang", "en", "--confirmed", "--note", "meetup").exit_code == 0
    with store.session() as session:
        entries.add_entry(session, program_record("ge-visa", host_countries=["GE"]), ME)

    preview = cli("newsletter", "preview", "--lang", "en", "--output", str(tmp_path / "preview"), env=env)
    assert preview.exit_code == 0 and "edition 1" in preview.output
    assert "token=PREVIEW" in (tmp_path / "preview" / "edition-1-en.html").read_text(encoding="utf-8")
    dry = cli("newsletter", "send", "--dry-run", str(tmp_path / "maildir"), env=env)
    assert "1 messages written" in dry.output and len(sink.messages) == 1
    (tmp_path / "empty").mkdir()  # a folder made for it beforehand becomes the Maildir
    dry = cli("newsletter", "send", "--dry-run", str(tmp_path / "empty"), env=env)
    assert "1 messages written" in dry.output and len(list((tmp_path / "empty" / "new").glob("*.eml"))) == 1
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "letter.txt").write_text("mine", encoding="utf-8")
    refused = cli("newsletter", "send", "--dry-run", str(tmp_path / "papers"), env=env)
    assert (refused.exit_code, refused.stderr) == (
        1,
        f"{tmp_path / 'papers'} holds other files and is not a Maildir: give a new or empty folder\n",
    )
    assert [p.name for p in (tmp_path / "papers").iterdir()] == ["letter.txt"]

    held = {**env, "NANSEN_NEWSLETTER_REQUIRE_APPROVAL": "true"}
    assert "approved by tester" in cli("newsletter", "approve", env=held).output
    sent = cli("newsletter", "send", env=held)
    assert sent.exit_code == 0 and "edition 1: sent; sent 1" in sent.output
    assert [m["To"] for m in sink.messages] == ["anna@example.org", "b@example.org"]
    assert "nothing due: no updates since the last edition" in cli("newsletter", "send", env=env).output
    archive = cli("newsletter", "archive", "--output", str(tmp_path / "public"), env=env)
    assert "archive: 2 files written" in archive.output

    exported = tmp_path / "people.csv"
    assert cli("subscribers", "export", "--output", str(exported)).exit_code == 0
    assert exported.stat().st_mode & 0o777 == 0o600 and "b@example.org" in exported.read_text(encoding="utf-8")
    assert cli("subscribers", "remove", "b@example.org").output == "unsubscribed b@example.org\n"
    again = cli("subscribers", "remove", "b@example.org")
    assert (again.exit_code, again.output) == (1, "b@example.org is not an active or pending subscriber\n")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "NANSEN_SECRET is not set: it signs the confirm and unsubscribe links (use a long random value)\n"),
        (
            {"NANSEN_SECRET": SECRET},
            "NANSEN_SMTP_URL is not set (e.g. smtp://user:password@relay.example.org:587?starttls=1)\n",
        ),
        (
            {"NANSEN_SECRET": SECRET, "NANSEN_SMTP_URL": "smtp://relay.example.org:587?starttls=maybe"},
            None,
        ),
    ],
)
def test_a_missing_or_wrong_mail_setting_is_one_line(cli: Any, env: dict[str, str], message: str | None) -> None:
    result = cli("newsletter", "send", env={"NANSEN_SECRET": "", "NANSEN_SMTP_URL": "", **env})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.splitlines()) == 1
    if message is not None:
        assert result.output == message
    else:
        assert result.output.startswith("NANSEN_SMTP_URL: ")
