"""Telegram: each update to one channel per language, exactly once, through aiogram, against a Bot
API stand-in on 127.0.0.1 that answers as the documented API does (pipeline/botapi.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from directory import entries, proposals, watch
from directory.models import utcnow
from directory.store import Store
from pipeline import config, jobs, runs
from pipeline.botapi import BotApi, parse_html
from publishing import telegram, telegram_ledger
from publishing.models import ChannelPost, ChannelStart
from publishing.telegram_ledger import TelegramError, TelegramSettings
from tests.conftest import Cli, entry_record, program_record

ME = entries.Actor("maintainer")
TOKEN = "123456:test-token"
CHATS = {"ru": "@nansen_ru", "en": "@nansen_en"}
SITE = "https://nansen.test/"


@pytest.fixture
def bot_api() -> Iterator[BotApi]:
    with BotApi(TOKEN, set(CHATS.values())) as api:
        yield api


def settings_for(api: BotApi, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "channels": CHATS,
        "site_url": SITE,
        "api_url": api.base_url,
        "interval": 0.0,
    }
    return TelegramSettings(**(values | overrides))


@pytest.fixture
def started(store: Store, bot_api: BotApi) -> Store:
    """Two entries in the directory, then the channels seen for the first time (nothing posted)."""
    with store.session() as session:
        entries.add_entry(session, entry_record(), ME)
        entries.add_entry(session, program_record(**{"program.state": "open", "program.state_since": None}), ME)
    report = telegram.post(store.session, settings_for(bot_api))
    assert [(c.chat, c.sent) for c in report.channels] == [("@nansen_ru", 0), ("@nansen_en", 0)]
    assert bot_api.posts == []
    return store


def _edit(store: Store, slug: str, changes: dict[str, Any]) -> None:
    with store.session() as session:
        entries.edit_entry(session, slug, changes, ME)


def _by_chat(api: BotApi) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for post in api.posts:
        found.setdefault(post.chat, []).append(post.text)
    return found


def test_a_new_channel_gets_what_happens_from_then_on_once_in_its_language(started: Store, bot_api: BotApi) -> None:
    _edit(started, "test-program", {"program.state": "paused", "program.state_since": "2026-11"})
    _edit(started, "test-org", {"website": "https://new.example.org"})
    report = telegram.post(started.session, settings_for(bot_api))
    assert [(c.chat, c.sent, c.stopped) for c in report.channels] == [("@nansen_ru", 2, None), ("@nansen_en", 2, None)]
    posts = _by_chat(bot_api)
    assert posts["@nansen_ru"][0] == (
        "[приостановлена] Тестовая гуманитарная виза: программа теперь приостановлена\n\n"
        "Состояние программы: приостановлена (с ноября 2026 года)"
    )
    assert posts["@nansen_en"][0].startswith("[paused] Test humanitarian visa: program is now paused")
    assert posts["@nansen_en"][1] == "Test Legal Aid: updated\n\nWebsite: https://new.example.org"
    # The title links to the entry's page in the channel's language.
    ru_html = next(p.html for p in bot_api.posts if p.chat == "@nansen_ru")
    assert '<a href="https://nansen.test/ru/entries/test-program.html">' in ru_html
    # Nothing new: a second run posts nothing; the ledger holds one sent row per update × channel.
    again = telegram.post(started.session, settings_for(bot_api))
    assert sum(c.sent for c in again.channels) == 0 and len(bot_api.posts) == 4
    with started.session() as session:
        rows = session.execute(select(ChannelPost.chat, ChannelPost.status, ChannelPost.message_id)).all()
    assert sorted((chat, status) for chat, status, _ in rows) == [
        ("@nansen_en", "sent"),
        ("@nansen_en", "sent"),
        ("@nansen_ru", "sent"),
        ("@nansen_ru", "sent"),
    ]
    assert all(message_id for _, _, message_id in rows)


def test_names_that_look_like_markup_stay_text(started: Store, bot_api: BotApi) -> None:
    """Telegram refuses a message whose HTML does not parse; aiogram's escaping keeps every name text."""
    _edit(started, "test-org", {"name.en": "Legal <b>Aid</b> & Co </a>", "summary.en": "x < y && z > w; &amp; stays"})
    telegram.post(started.session, settings_for(bot_api))
    english = _by_chat(bot_api)["@nansen_en"]
    assert english == ["Legal <b>Aid</b> & Co </a>: updated\n\nName: Legal <b>Aid</b> & Co </a>\n"
                       "Description: x < y && z > w; &amp; stays"]  # fmt: skip


def test_a_long_text_is_shortened_to_telegrams_limit(started: Store, bot_api: BotApi) -> None:
    warning = {
        "en": "Read this. " * 150,
        "ru": "Прочтите это. " * 130,
        "date": "2026-11",
        "source": "https://news.example.org/w",
    }
    _edit(started, "test-org", {"warnings": [warning, {**warning, "date": "2026-10"}, {**warning, "date": "2026-09"}]})
    telegram.post(started.session, settings_for(bot_api))
    (russian,) = _by_chat(bot_api)["@nansen_ru"]
    assert len(russian) == 4096 and russian.endswith("…")


def test_a_429_is_waited_out_as_telegram_asks(started: Store, bot_api: BotApi) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    bot_api.fail_next(429, "Too Many Requests: retry after 1", retry_after=1)
    report = telegram.post(started.session, settings_for(bot_api, channels={"ru": CHATS["ru"]}))
    assert (report.channels[0].sent, report.channels[0].waited, report.stopped) == (1, 1, [])
    sends = [r for r in bot_api.requests if r.method == "sendMessage"]
    assert len(sends) == 2 and sends[1].at - sends[0].at >= 1.0  # not before retry_after
    assert len(bot_api.posts) == 1


def test_a_429_longer_than_max_wait_is_remembered_and_the_run_after_it_posts(started: Store, bot_api: BotApi) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    bot_api.fail_next(429, "Too Many Requests: retry after 600", retry_after=600)
    report = telegram.post(started.session, settings_for(bot_api, max_wait=5))
    assert report.stopped == [] and [c.sent for c in report.channels] == [0, 1]  # the other channel went on
    waiting = report.channels[0].waiting
    assert waiting is not None and 590 < (waiting - utcnow()).total_seconds() <= 600
    with started.session() as session:
        row = session.scalars(select(ChannelPost).where(ChannelPost.language == "ru")).one()
        assert (row.status, row.attempts) == ("pending", 0)
    sends = len(bot_api.requests)
    meanwhile = telegram.post(started.session, settings_for(bot_api))  # within the wait: Telegram is not asked
    assert len(bot_api.requests) == sends and meanwhile.channels[0].waiting == waiting
    with started.session() as session:  # the wait is over
        session.execute(update(ChannelStart).values(wait_until=utcnow() - dt.timedelta(seconds=1)))
    later = telegram.post(started.session, settings_for(bot_api))
    assert [c.sent for c in later.channels] == [1, 0]
    assert Counter(p.chat for p in bot_api.posts) == Counter({"@nansen_ru": 1, "@nansen_en": 1})


@pytest.mark.parametrize("retry_after", [-1, 0, None])
def test_a_zero_negative_or_missing_retry_after_is_a_second(
    started: Store, bot_api: BotApi, retry_after: int | None
) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    bot_api.fail_next(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
    report = telegram.post(started.session, settings_for(bot_api, channels={"ru": CHATS["ru"]}))
    assert (report.channels[0].sent, report.channels[0].waited, report.stopped) == (1, 1, [])
    assert len([r for r in bot_api.requests if r.method == "sendMessage"]) == 2


def test_an_absurd_retry_after_parks_the_channel_for_a_day_at_most(started: Store, bot_api: BotApi) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    bot_api.fail_next(429, "Too Many Requests", retry_after=10**12)
    report = telegram.post(started.session, settings_for(bot_api, channels={"ru": CHATS["ru"]}, max_wait=5))
    waiting = report.channels[0].waiting
    assert waiting is not None and (waiting - utcnow()).total_seconds() <= 86_400


def test_a_slow_answer_is_charged_so_a_post_telegram_took_repeats_a_bounded_number_of_times(
    started: Store, bot_api: BotApi
) -> None:
    """The stand-in takes the post, then answers after the client gave up: each run may post it again
    (the documented window), but only `retry_attempts` times, then the row is `failed`."""
    _edit(started, "test-org", {"website": "https://new.example.org"})

    def slow(_send: int) -> bool:
        time.sleep(1.5)
        return False

    bot_api.on_send = slow
    impatient = settings_for(bot_api, channels={"ru": CHATS["ru"]}, timeout=0.5, retry_attempts=2)
    for expected in ("retry", "failed", "failed"):
        report = telegram.post(started.session, impatient)
        with started.session() as session:
            row = session.scalars(select(ChannelPost)).one()
        assert row.status == expected and row.last_error == "Telegram did not answer within 0.5 s"
    deadline = time.monotonic() + 30  # the stand-in records the second post once its slow answer is made
    while len(bot_api.posts) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(bot_api.posts) == 2 and report.stopped == []


def test_a_percent_encoded_token_in_an_answer_is_redacted_too(started: Store, bot_api: BotApi) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    bot_api.fail_next(404, "Not Found: /bot123456%3Atest-token/sendMessage")
    report = telegram.post(started.session, settings_for(bot_api, channels={"ru": CHATS["ru"]}))
    assert report.stopped == [
        "@nansen_ru: Telegram answered Not Found: /bot<token>/sendMessage: check NANSEN_TELEGRAM_API_URL and the token"
    ]


def test_a_5xx_charges_an_attempt_stops_the_channel_and_fails_after_the_limit(started: Store, bot_api: BotApi) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    only_ru = settings_for(bot_api, channels={"ru": CHATS["ru"]}, retry_attempts=2)
    bot_api.fail_next(502, "Bad Gateway")
    report = telegram.post(started.session, only_ru)
    assert report.stopped == ["@nansen_ru: Telegram failed: Bad Gateway; the next run resumes"]
    assert report.channels[0].retry == 1
    bot_api.fail_next(500, "Internal Server Error")
    report = telegram.post(started.session, only_ru)
    assert report.channels[0].failed == 1
    with started.session() as session:
        row = session.scalars(select(ChannelPost)).one()
        assert (row.status, row.attempts, row.last_error) == ("failed", 2, "Telegram failed: Internal Server Error")
    assert bot_api.posts == []


def test_a_5xx_then_success_posts_once(started: Store, bot_api: BotApi) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    _edit(started, "test-program", {"program.state": "closed", "program.state_since": "2026-11"})
    bot_api.fail_next(503, "Service Unavailable")
    first = telegram.post(started.session, settings_for(bot_api, channels={"en": CHATS["en"]}))
    assert (first.channels[0].sent, first.channels[0].retry) == (0, 1)
    second = telegram.post(started.session, settings_for(bot_api, channels={"en": CHATS["en"]}))
    assert second.channels[0].sent == 2
    assert [p.text.split("\n")[0] for p in bot_api.posts] == [
        "Test Legal Aid: updated",  # the oldest first, the retried one included
        "[closed] Test humanitarian visa: program is now closed",
    ]


@pytest.mark.parametrize(
    ("code", "description", "says"),
    [
        (400, "Bad Request: chat not found", "check the channel name"),
        (403, "Forbidden: bot is not a member of the channel chat", "administrator of the channel"),
        (401, "Unauthorized", "set NANSEN_TELEGRAM_TOKEN"),
        (400, "Bad Request: need administrator rights in the channel chat", "administrator of the channel"),
        (400, "Bad Request: not enough rights to send text messages to the chat", "administrator of the channel"),
        (404, "Not Found", "check NANSEN_TELEGRAM_API_URL and the token"),
    ],
)
def test_a_refused_channel_or_bot_stops_that_channel_and_loses_nothing(
    started: Store, bot_api: BotApi, code: int, description: str, says: str
) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    bot_api.fail_next(code, description)
    report = telegram.post(started.session, settings_for(bot_api))
    (stopped,) = report.stopped
    assert stopped.startswith("@nansen_ru: ") and description in stopped and says in stopped
    assert [c.sent for c in report.channels] == [0, 1]
    telegram.post(started.session, settings_for(bot_api))
    assert Counter(p.chat for p in bot_api.posts) == Counter({"@nansen_ru": 1, "@nansen_en": 1})


def test_an_answer_that_is_not_the_apis_json_costs_an_attempt_and_the_other_channel_goes_on(
    started: Store, bot_api: BotApi
) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    bot_api.fail_next(0, "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>")
    report = telegram.post(started.session, settings_for(bot_api))
    (stopped,) = report.stopped
    assert stopped.startswith("@nansen_ru: Telegram's answer could not be read") and "\n" not in stopped
    assert [c.sent for c in report.channels] == [0, 1]
    with started.session() as session:
        row = session.scalars(select(ChannelPost).where(ChannelPost.language == "ru")).one()
        assert (row.status, row.attempts) == ("retry", 1)
    telegram.post(started.session, settings_for(bot_api))
    assert Counter(p.chat for p in bot_api.posts) == Counter({"@nansen_ru": 1, "@nansen_en": 1})


def test_no_answer_costs_nothing_and_the_token_is_never_quoted(started: Store, bot_api: BotApi) -> None:
    """An outage (nothing listening, no DNS) must not fail posts one by one; aiogram's errors quote
    the request URL, which holds the token."""
    _edit(started, "test-org", {"website": "https://new.example.org"})
    closed = settings_for(bot_api, api_url="http://127.0.0.1:9", retry_attempts=1)
    for _ in range(3):
        report = telegram.post(started.session, closed)
        assert [line.split(": ", 1)[1][:29] for line in report.stopped] == ["Telegram could not be reached"] * 2
        assert TOKEN not in repr(report) and "123456" not in " ".join(report.stopped)
    with started.session() as session:
        rows = session.execute(select(ChannelPost.status, ChannelPost.attempts, ChannelPost.last_error)).all()
    assert {(status, attempts) for status, attempts, _ in rows} == {("pending", 0)}
    assert all(TOKEN not in (error or "") for _, _, error in rows)
    telegram.post(started.session, settings_for(bot_api))
    assert len(bot_api.posts) == 2


def test_a_channel_is_its_language_not_its_spelling(started: Store, bot_api: BotApi) -> None:
    """A mistyped channel name stops with what to change and loses nothing; once corrected, or
    respelled as its numeric id, what waited goes out, and nothing goes out twice."""
    bot_api.chats.add("-1001234567890")
    _edit(started, "test-org", {"website": "https://one.example.org"})
    typo = telegram.post(started.session, settings_for(bot_api, channels={"ru": "@nansen_rru"}))
    assert typo.stopped and "check the channel name" in typo.stopped[0]
    telegram.post(started.session, settings_for(bot_api, channels={"ru": CHATS["ru"]}))
    _edit(started, "test-org", {"website": "https://two.example.org"})
    telegram.post(started.session, settings_for(bot_api, channels={"ru": "-1001234567890"}))
    telegram.post(started.session, settings_for(bot_api, channels={"ru": CHATS["ru"]}))
    assert [(p.chat, p.text.rsplit("/", 1)[-1]) for p in bot_api.posts] == [
        ("@nansen_ru", "one.example.org"),
        ("-1001234567890", "two.example.org"),
    ]


def test_what_a_post_says(started: Store, bot_api: BotApi) -> None:
    """Nothing for the channel whose language did not change; the state the update set, even if it
    changed again before the post; a page change without the crawled diff."""
    _edit(started, "test-org", {"summary.en": "Lawyers for political prisoners, now also in Armenia."})
    _edit(started, "test-program", {"program.state": "closed", "program.state_since": "2026-10"})
    _edit(started, "test-program", {"program.state": "paused", "program.state_since": "2026-11"})
    url = "https://gov.example.org/visa"
    with started.session() as session:
        watch.record_page(session, "test-program", url, "Rules: apply at the embassy.", confirmed=False)
        assert watch.record_page(session, "test-program", url, "Apply via t.me/fake_bot.", confirmed=True) == "proposed"
        (proposal,) = proposals.list_proposals(session, status="pending")
        proposals.accept(session, [proposal.id], "maintainer")
    report = telegram.post(started.session, settings_for(bot_api))
    assert [(c.sent, c.skipped) for c in report.channels] == [(3, 1), (4, 0)]
    russian, english = _by_chat(bot_api)["@nansen_ru"], _by_chat(bot_api)["@nansen_en"]
    assert english[0].endswith("Description: Lawyers for political prisoners, now also in Armenia.")
    assert english[1] == (
        "[paused] Test humanitarian visa: program is now closed\n\nProgram state: closed (since October 2026)"
    )
    assert russian[0].startswith("[приостановлена] Тестовая гуманитарная виза: программа теперь закрыта\n\n")
    assert english[3] == (
        "[paused] Test humanitarian visa: the official page changed\n\n"
        "This program is paused.\nhttps://gov.example.org/visa"
    )
    assert not any("fake_bot" in post.text for post in bot_api.posts)


def test_a_message_telegram_refuses_fails_alone_and_the_run_goes_on(started: Store, bot_api: BotApi) -> None:
    _edit(started, "test-org", {"website": "https://new.example.org"})
    _edit(started, "test-program", {"program.state": "closed", "program.state_since": "2026-11"})
    bot_api.fail_next(400, "Bad Request: message is too long")
    report = telegram.post(started.session, settings_for(bot_api, channels={"ru": CHATS["ru"]}))
    assert (report.channels[0].failed, report.channels[0].sent, report.stopped) == (1, 1, [])
    with started.session() as session:
        failed = session.scalars(select(ChannelPost).where(ChannelPost.status == "failed")).one()
    assert failed.last_error == "Telegram refused the message: Bad Request: message is too long"
    with started.session() as session:  # `nansen telegram retry`: another start for what failed
        assert telegram_ledger.retry_failed(session) == 1
    assert telegram.post(started.session, settings_for(bot_api, channels={"ru": CHATS["ru"]})).channels[0].sent == 1


def test_posts_to_one_channel_are_spaced_by_the_interval(started: Store, bot_api: BotApi) -> None:
    for number in range(3):
        _edit(started, "test-org", {"website": f"https://new{number}.example.org"})
    telegram.post(started.session, settings_for(bot_api, channels={"ru": CHATS["ru"]}, interval=0.3))
    times = [p.at for p in bot_api.posts]
    assert len(times) == 3 and all(later - earlier >= 0.3 for earlier, later in itertools.pairwise(times))


def _post_in_child(store: Store, api: BotApi, interval: float, *, locked: bool = True) -> subprocess.Popen[bytes]:
    """`nansen telegram post` in its own process (`locked`), or the posting service alone, without
    the job lock, as a second scheduler on another machine would run it against the same ledger."""
    env = {
        "NANSEN_DATABASE_URL": store.url,
        "NANSEN_TELEGRAM_TOKEN": TOKEN,
        "NANSEN_TELEGRAM_CHANNEL_RU": CHATS["ru"],
        "NANSEN_TELEGRAM_CHANNEL_EN": CHATS["en"],
        "NANSEN_TELEGRAM_API_URL": api.base_url,
        "NANSEN_TELEGRAM_INTERVAL": str(interval),
        "NANSEN_SITE_URL": SITE,
    }
    service = (
        "from directory.store import Store; from pipeline import config; from pipeline.components import "
        "telegram_settings; from publishing import telegram; settings = config.load(); "
        "options = telegram_settings(settings); assert options is not None; "
        "report = telegram.post(Store(settings.database_url).session, options); assert not report.stopped, report"
    )
    command = ["nansen", "telegram", "post"] if locked else ["python", "-c", service]
    return subprocess.Popen(
        [str(Path(sys.executable).with_name(command[0])), *command[1:]],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_two_posters_at_once_post_each_update_once(started: Store, bot_api: BotApi) -> None:
    for number in range(8):
        _edit(started, "test-org", {"website": f"https://new{number}.example.org"})
    children = [_post_in_child(started, bot_api, 0.05, locked=False) for _ in range(2)]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, out + err
    texts = Counter((p.chat, p.text) for p in bot_api.posts)
    assert len(texts) == 16 and max(texts.values()) == 1


@pytest.mark.parametrize("seed", [1, 2])
def test_a_killed_poster_resumes_without_gaps_or_duplicates(started: Store, bot_api: BotApi, seed: int) -> None:
    """SIGKILL the posting process while its request is in flight (before Telegram takes it), several
    times; every update reaches every channel exactly once."""
    for number in range(6):
        _edit(started, "test-org", {"website": f"https://new{number}.example.org"})
    child: dict[str, subprocess.Popen[bytes]] = {}
    kills = set(random.Random(seed).sample(range(1, 14), 3))

    def kill(send: int) -> bool:
        if send in kills:
            kills.discard(send)
            os.kill(child["process"].pid, signal.SIGKILL)
            return True
        return False

    bot_api.on_send = kill
    runs = 0
    while True:
        runs += 1
        assert runs < 10, "the posting never completed"
        child["process"] = _post_in_child(started, bot_api, 0.0)
        out, err = child["process"].communicate(timeout=120)
        if child["process"].returncode == 0:
            break
        assert child["process"].returncode == -9, out + err
    assert runs == 4
    texts = Counter((p.chat, p.text) for p in bot_api.posts)
    assert len(texts) == 12 and max(texts.values()) == 1


def test_the_scheduled_job_is_recorded_and_skips_without_settings(
    started: Store, bot_api: BotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NANSEN_DATABASE_URL", started.url)
    assert jobs.execute("telegram", config.load()) == "skipped"
    assert config.load().jobs()["telegram"] == ""  # the scheduler does not run it every 10 minutes to skip
    _edit(started, "test-org", {"website": "https://new.example.org"})
    for name, value in {
        "NANSEN_TELEGRAM_TOKEN": TOKEN,
        "NANSEN_TELEGRAM_CHANNEL_RU": CHATS["ru"],
        "NANSEN_TELEGRAM_API_URL": bot_api.base_url,
        "NANSEN_TELEGRAM_INTERVAL": "0",
    }.items():
        monkeypatch.setenv(name, value)
    assert config.load().jobs()["telegram"] == "*/10 * * * *"
    assert jobs.execute("telegram", config.load()) == "ok"
    bot_api.fail_next(403, "Forbidden: bot was kicked from the channel chat")
    _edit(started, "test-org", {"website": "https://newer.example.org"})
    assert jobs.execute("telegram", config.load()) == "failed"
    assert len(bot_api.posts) == 1


def test_commands_and_their_one_line_errors(started: Store, bot_api: BotApi, cli: Cli) -> None:
    result = cli("telegram", "post")
    assert result.exit_code == 1 and result.output.startswith("Telegram is not configured")
    env = {
        "NANSEN_TELEGRAM_TOKEN": TOKEN,
        "NANSEN_TELEGRAM_CHANNEL_EN": CHATS["en"],
        "NANSEN_TELEGRAM_API_URL": bot_api.base_url,
        "NANSEN_TELEGRAM_INTERVAL": "0",
    }
    _edit(started, "test-org", {"website": "https://new.example.org"})
    result = cli("telegram", "post", env=env)
    assert (result.exit_code, result.output) == (0, "@nansen_en (en): sent 1, failed 0, to retry 0, skipped 0\n")
    result = cli("telegram", "status", "--format", "json", env=env)
    assert '"status": "sent"' in result.output
    assert cli("telegram", "retry", env=env).output == "0 failed posts are pending again\n"
    assert json.loads(cli("telegram", "status", "--format", "json", env=env).output)["failed"] == []
    result = cli("telegram", "post", env=env | {"NANSEN_TELEGRAM_CHANNEL_EN": "nansen en"})
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "expected @channelusername" in result.output
    result = cli("telegram", "post", env=env | {"NANSEN_TELEGRAM_TOKEN": "not a token"})
    assert result.exit_code == 1 and "not a token" in result.output
    result = cli("config", "check", env={"NANSEN_TELEGRAM_TOKEN": TOKEN})
    assert "telegram: NANSEN_TELEGRAM_TOKEN is set but no channel" in result.output
    with runs.job_lock(started, "telegram"):  # the scheduler is posting: one poster at a time
        result = cli("telegram", "post", env=env)
    assert (result.exit_code, result.output) == (
        1,
        "another Telegram run is in progress (scheduler or terminal): try again later\n",
    )
    result = cli("config", "check", env=env | {"NANSEN_TELEGRAM_API_URL": "https://api.telegram.org"})
    assert "site.url: http://127.0.0.1:8000/ is not public, yet Telegram posts link to it" in result.output
    assert cli("telegram", "retry", "--lang", "xx", env=env).exit_code == 2
    result = cli("config", "check", env={"NANSEN_TELEGRAM_INTERVAL": "-1"})
    assert "NANSEN_TELEGRAM_INTERVAL: '-1' must be 0 or more" in result.output


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"token": "123456"}, "not a token"),
        ({"channels": {"de": "@nansen_de"}}, "the languages are ru, en"),
        ({"channels": {"ru": "https://t.me/nansen"}}, "expected @channelusername"),
        ({"api_url": "api.telegram.org"}, "expected http(s)://"),
        ({"api_url": "http://127.0.0.1:99999"}, "Port out of range"),
        ({"api_url": "http://a..b"}, "is not a host name"),
        ({"token": "١٢٣:abc"}, "not a token"),
        ({"token": "123456:tok/../../x"}, "not a token"),
    ],
)
def test_settings_are_refused_with_the_reason(overrides: dict[str, Any], reason: str) -> None:
    values: dict[str, Any] = {"token": TOKEN, "channels": CHATS, "site_url": SITE}
    with pytest.raises(TelegramError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        TelegramSettings(**(values | overrides))


@pytest.mark.parametrize(
    ("markup", "fault"),
    [
        ("<b>ok</b> &amp; &lt; &#169; &#x41;", None),
        ('<a href="https://x.org/?a=1&b=2">link</a>', None),
        ("a < b", "reserved"),
        ("a & b", "reserved"),
        ("<script>x</script>", "Unsupported start tag"),
        ("<b>x", "Can't find end tag"),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("<a>x</a>", "href"),
    ],
)
def test_the_stand_in_parses_html_as_telegram_documents(markup: str, fault: str | None) -> None:
    if fault is None:
        parse_html(markup)
    else:
        with pytest.raises(ValueError, match=fault):
            parse_html(markup)
