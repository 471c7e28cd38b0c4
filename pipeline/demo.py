"""`make demo`: Nansen's main job end to end on a fresh machine, in `demo-output/`.

A SQLite database, the curated data from `data/`, a local stand-in web for the entries' sites
(pipeline.demoweb, on 127.0.0.1 — there is no internet here), a local SMTP sink that writes a
maildir and a stand-in for Telegram's Bot API (pipeline.botapi) with a Russian and an English
channel. Four readers subscribe through the real endpoints and confirm from the mail they get; the
channels are started (they get what happens from then on); then one cycle runs — crawl (site,
feeds, watch), publish, Telegram, newsletter — exactly as the scheduler would. A maintainer then
accepts the crawler's proposal for a site that moved, and that change is posted to both channels.
Everything started here is stopped before it ends.
"""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import socket
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from starlette.testclient import TestClient
from typer.testing import CliRunner

from directory import entries, exports, fields
from directory.store import Store
from newsletter.web import Endpoints, create_app
from pipeline import config, jobs
from pipeline.botapi import BotApi
from pipeline.cli import app
from pipeline.components import mail_sender, newsletter_settings
from pipeline.demoweb import DemoWeb

REPO = Path(__file__).resolve().parent.parent
OUTPUT = Path(os.environ.get("NANSEN_DEMO_OUTPUT") or REPO / "demo-output").resolve()
READERS: tuple[tuple[str, str, list[str]], ...] = (
    ("anna@example.org", "ru", ["GE"]),
    ("boris@example.org", "ru", []),
    ("clara@example.org", "en", []),
    ("dan@example.org", "en", ["DE", "PL"]),
)
TELEGRAM_TOKEN = "100000:demo-token-not-for-production-use"
CHANNELS = {"ru": "@nansen_demo_ru", "en": "@nansen_demo_en"}


class MaildirSink:
    """aiosmtpd handler: every accepted message goes into a maildir, as a mail client would see it."""

    def __init__(self, path: Path) -> None:
        self.box = mailbox.Maildir(path, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.add(envelope.original_content)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(args: list[str], *, show: bool = True) -> str:

    result = CliRunner().invoke(app, args, env={"COLUMNS": "120"})
    if show:
        print(f"\n$ nansen {' '.join(repr(a) if ' ' in a else a for a in args)}")
        print(result.output, end="")
    if result.exit_code != 0:
        raise SystemExit(f"demo step failed: nansen {' '.join(args)}\n{result.output}")
    return result.output


def _write_config(smtp_port: int, telegram_api: str) -> Path:
    path = OUTPUT / "nansen.toml"
    path.write_text(
        "# The demo's configuration: the same file a real installation uses (secrets stay in the environment).\n"
        f'[database]\nurl = "sqlite:///{OUTPUT / "nansen.db"}"\n'
        f'[site]\nurl = "http://127.0.0.1:8000/"\npublic_dir = "{OUTPUT / "public"}"\n'
        '[crawl]\ncontact_url = "https://nansen.example.org/contact"\nallow_networks = "127.0.0.0/8"\npolite = false\n'
        f'[newsletter]\nsender = "Nansen <newsletter@nansen.example.org>"\nsmtp_url = "smtp://127.0.0.1:{smtp_port}"\n'
        f'[telegram]\nchannel_ru = "{CHANNELS["ru"]}"\nchannel_en = "{CHANNELS["en"]}"\napi_url = "{telegram_api}"\n'
        "interval = 0  # the stand-in has no rate limit; Telegram's channels take about 20 posts a minute\n"
        '[schedule]\nnewsletter = "* * * * *"\n',
        encoding="utf-8",
    )
    return path


def _point_at_demo_web(web: Any) -> int:
    """Minor edits (history, not news): the demo database's entries use the local stand-in sites."""

    store = Store(config.load().database_url)
    actor = entries.Actor("demo", "demo")
    changed = 0
    try:
        with store.session() as session:
            for entry in entries.list_entries(session):
                updates: dict[str, Any] = {"website": web.url(entry.slug)}
                if entry.feeds:
                    updates["feeds"] = [web.url(entry.slug, "feed.xml")]
                if entry.kind == "program":
                    updates["program.official_url"] = web.url(entry.slug, "rules")
                    updates["watch.selector"] = "main"
                entries.edit_entry(
                    session,
                    entry.slug,
                    updates,
                    actor,
                    minor=True,
                    reason="demo: the entries' sites are simulated on 127.0.0.1",
                )
                changed += 1
    finally:
        store.close()
    return changed


def _subscribe_readers(box_path: Path) -> None:
    """Through the real endpoints: subscribe, then open the confirmation link from the mail and press
    the page's button (opening the link alone confirms nothing)."""

    settings = config.load()
    store = Store(settings.database_url)

    def send_mail(message: Any) -> Any:
        with mail_sender(settings, retries=0) as sender:
            return sender.send(message)

    try:
        endpoints = Endpoints(newsletter_settings(settings), store.session, send_mail)
        with TestClient(create_app(None, endpoints)) as web:
            for address, lang, countries in READERS:
                web.post("/subscribe", data={"email": address, "lang": lang, "country": countries})
            endpoints.outbox.wait_idle(60)  # the confirmations are sent after the answers
            box = mailbox.Maildir(box_path, create=False)
            for _, raw in box.items():
                message = message_from_bytes(raw.as_bytes(), policy=policy.default)
                body = message.get_body(("plain",))
                text = body.get_content() if body is not None else ""
                link = re.search(r"http://127\.0\.0\.1:8000(/confirm\?token=\S+)", text)
                if link:
                    page = web.get(link.group(1))
                    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
                    web.post("/confirm", data=hidden)
    finally:
        store.close()


def _show_posts(bot_api: BotApi) -> None:
    """What the channels' readers would see: the posts the Bot API stand-in recorded."""
    print(f"\nposted to Telegram (recorded by the stand-in): {len(bot_api.posts)}")
    for post in bot_api.posts:
        print(f"  --- {post.chat}, message {post.message_id}")
        print("\n".join(f"  {line}" for line in post.text.splitlines()))


def main() -> None:

    started = time.monotonic()
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir()
    smtp_port = _free_port()
    bot_api = BotApi(TELEGRAM_TOKEN, set(CHANNELS.values())).start()
    os.environ["NANSEN_CONFIG"] = str(_write_config(smtp_port, bot_api.base_url))
    os.environ.setdefault("NANSEN_SECRET", "demo-secret-not-for-production-use")
    os.environ["NANSEN_TELEGRAM_TOKEN"] = TELEGRAM_TOKEN
    os.environ["NANSEN_ACTOR"] = "demo"
    for name in ("NANSEN_DATABASE_URL", "NANSEN_SMTP_URL", "NANSEN_PUBLIC_DIR", "NANSEN_SITE_URL"):
        os.environ.pop(name, None)

    sink = Controller(MaildirSink(OUTPUT / "mail"), hostname="127.0.0.1", port=smtp_port)
    sink.start()
    web = None
    try:
        _cli(["init"])
        _cli(["import", str(REPO / "data")])

        store = Store(config.load().database_url)
        with store.session() as session:
            records = [fields.nest(r) for r in exports.export_records(session)]
        store.close()
        web = DemoWeb(records, moved="bumaga", gone="the-new-times").start()
        print(
            f"\ndemo web: {len(records)} stand-in sites on http://127.0.0.1:{web.port}/ "
            f"({_point_at_demo_web(web)} entries pointed at it); SMTP sink on 127.0.0.1:{smtp_port}"
        )
        _subscribe_readers(OUTPUT / "mail")
        confirmations = len(mailbox.Maildir(OUTPUT / "mail", create=False))
        print(f"{len(READERS)} readers subscribed and confirmed ({confirmations} confirmation mails)")
        print(f"\nTelegram stand-in on {bot_api.base_url}: the channels start after the latest change")
        _cli(["telegram", "post"])
        print("\none cycle (what the scheduler runs):")
        outcomes = jobs.cycle(config.load(), on_step=lambda job, outcome: print(f"  {job}: {outcome}"))
        if "failed" in outcomes.values():
            _cli(["runs", "--limit", "5"])
            raise SystemExit("a job of the cycle failed")
        _cli(["runs", "--limit", "5"])
        _cli(["review"])
        print("\na maintainer accepts the proposal for the site that moved; the change is news:")
        _cli(["review", "accept", "--entry", "bumaga", "--field", "website", "--reason", "demo: moved"])
        _cli(["telegram", "post"])
        _show_posts(bot_api)
        _cli(["publish"])
        _cli(["stats"])
        _cli(["subscribers", "stats"])
    finally:
        if web is not None:
            web.stop()
        sink.stop()
        bot_api.stop()

    public = OUTPUT / "public"
    box = mailbox.Maildir(OUTPUT / "mail", create=False)
    subjects = [message_from_bytes(m.as_bytes(), policy=policy.default)["Subject"] or "" for _, m in box.items()]
    confirmations = sum(1 for subject in subjects if "Confirm" in subject or "Подтвердите" in subject)
    editions = len(subjects) - confirmations
    env = (
        f"NANSEN_CONFIG={OUTPUT / 'nansen.toml'} NANSEN_SECRET={os.environ['NANSEN_SECRET']} "
        f"NANSEN_TELEGRAM_TOKEN={TELEGRAM_TOKEN}"
    )
    sink_port = config.load().newsletter.smtp_url.get_secret_value().rsplit(":", 1)[1]  # type: ignore[union-attr]
    print(f"\nDone in {time.monotonic() - started:.0f} s; nothing is left running. Look at:")
    print(f"  the site            {public / 'ru' / 'index.html'}  ({public / 'en' / 'index.html'})")
    print(
        f"  the feeds           {public / 'ru' / 'feeds' / 'all.atom'}, "
        f"{public / 'ru' / 'feeds' / 'organizations.atom'}"
    )
    print(f"  the OPML            {public / 'ru' / 'organizations.opml'}")
    print(
        f"  delivered emails    {OUTPUT / 'mail' / 'new'}/ ({len(subjects)} messages: {confirmations} subscription "
        f"confirmations, {editions} newsletter editions)"
    )
    print(f"  the Telegram posts  {len(bot_api.posts)} recorded by the stand-in (shown above)")
    print(f"  the review queue    {env} .venv/bin/nansen review")
    print(f"  the configuration   {OUTPUT / 'nansen.toml'} ({env} .venv/bin/nansen config check)")
    print("  the site with its subscription form, in two terminals:")
    print(
        f"    .venv/bin/python -m aiosmtpd -n -l 127.0.0.1:{sink_port} -c aiosmtpd.handlers.Mailbox {OUTPUT / 'mail'}"
    )
    print(f"    {env} .venv/bin/nansen serve")


if __name__ == "__main__":
    main()
