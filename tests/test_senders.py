"""Several senders on one database, and an SMTP server that answers like real ones do.

Real processes (`nansen newsletter send`, `nansen schedule`) against a real aiosmtpd server, on SQLite
and PostgreSQL: every address gets the edition once, whatever runs at the same time. Then the server
answers per case (452 forever for one reader, 451 to everyone, 554 at the end of DATA, 550 at RCPT,
421 in the middle of a run): the right readers are marked, the edition reaches a final state within
the limits, and the next edition is made and sent.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update

from directory import entries
from directory.models import utcnow
from directory.store import CLAIM_LEASE, Store
from newsletter import editions
from newsletter import subscribers as subs
from newsletter.delivery import SmtpSender, parse_smtp_url
from newsletter.editions import NewsletterSettings
from newsletter.models import Delivery, Edition, Subscriber
from newsletter.tokens import Tokens
from tests.conftest import REPO, entry_record
from tests.mailsink import Sink

NANSEN = str(Path(sys.executable).with_name("nansen"))
SECRET = "test-secret-0123456789abcdef"
ME = entries.Actor("maintainer")
READERS = 2000


def settings(**overrides: Any) -> NewsletterSettings:
    values: dict[str, Any] = {
        "site_url": "https://nansen.test/",
        "sender": "Nansen <newsletter@nansen.test>",
        "tokens": Tokens(SECRET),
        "message_domain": "nansen.test",
    }
    return NewsletterSettings(**(values | overrides))


def add_readers(store: Store, count: int) -> list[str]:
    """`count` active readers in a few segments, and one entry: an edition with news for all of them."""
    people = [f"r{i:04d}@example.org" for i in range(count)]
    now = utcnow()
    with store.session() as session:
        session.execute(
            insert(Subscriber),
            [
                {
                    "email": address,
                    "key": f"k{i:04d}" + "x" * 40,
                    "language": ("ru", "en")[i % 2],
                    "countries": [],
                    "kinds": [],
                    "topics": [],
                    "status": "active",
                    "consent": {"method": "test"},
                    "created_at": now,
                    "confirmed_at": now,
                }
                for i, address in enumerate(people)
            ],
        )
        entries.add_entry(session, entry_record("org"), ME)
    return people


def sender(smtp: str) -> SmtpSender:
    return SmtpSender(parse_smtp_url(smtp), sleep=_never_sleep)


def _never_sleep(seconds: float) -> None:
    raise AssertionError(f"the sender slept {seconds} s: a refusal must not be waited out per reader")


def statuses(store: Store) -> dict[str, str]:
    with store.session() as session:
        return dict(session.execute(select(Subscriber.email, Delivery.status).join(Delivery)).all())


# --------------------------------------------------------------------------- several senders at once


def _env(store: Store, smtp: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    off = {f"NANSEN_SCHEDULE_{job}": "off" for job in ("FEEDS", "SITE", "WATCH", "PUBLISH")}
    return {
        **os.environ,
        **off,
        "NANSEN_DATABASE_URL": store.url,
        "NANSEN_SECRET": SECRET,
        "NANSEN_SMTP_URL": smtp,
        "NANSEN_SITE_URL": "https://nansen.test/",
        "NANSEN_PUBLIC_DIR": str(tmp_path / "public"),
        "NANSEN_CONFIG": str(_empty_config(tmp_path)),
        "NANSEN_ACTOR": "test",
        **extra,
    }


def _empty_config(tmp_path: Path) -> Path:
    """A configuration file with nothing in it: the working directory's nansen.toml is not read."""
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


def _every_address_once(sink: Sink, people: list[str], store: Store) -> None:
    received = Counter(str(m["To"]) for m in sink.messages)
    twice = [address for address, n in received.items() if n > 1]
    assert twice == [], f"{len(twice)} readers got the edition more than once"
    assert sorted(received) == people
    assert set(statuses(store).values()) == {"sent"}


@pytest.mark.parametrize("senders", [2, 3])
def test_concurrent_sends_deliver_each_message_once(
    store: Store, mail_sink: tuple[Sink, str], tmp_path: Path, senders: int
) -> None:
    sink, smtp = mail_sink
    people = add_readers(store, READERS)
    env = _env(store, smtp, tmp_path)
    processes = [
        subprocess.Popen(
            [NANSEN, "newsletter", "send"], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(senders)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, (out + err).decode(errors="replace")[-2000:]
        assert b"Traceback" not in err
    _every_address_once(sink, people, store)
    sent = [int(out.split(b"; sent ")[1].split(b",")[0]) for out, _ in outputs if b"; sent " in out]
    assert sum(sent) == READERS  # the work was shared, not repeated


def test_the_scheduler_and_a_manual_send_deliver_each_message_once(
    store: Store, mail_sink: tuple[Sink, str], tmp_path: Path
) -> None:
    sink, smtp = mail_sink
    people = add_readers(store, READERS)
    env = _env(store, smtp, tmp_path, NANSEN_SCHEDULE_NEWSLETTER="* * * * * *", NANSEN_MISFIRE_GRACE="5")
    log = tmp_path / "scheduler.log"
    with log.open("ab") as output:
        scheduler = subprocess.Popen([NANSEN, "schedule"], env=env, cwd=REPO, stdout=output, stderr=output)
    try:
        _wait(lambda: sink.messages != [] or "Scheduler started" in log.read_text(errors="replace"), 120, log)
        manual = subprocess.run([NANSEN, "newsletter", "send"], env=env, cwd=REPO, capture_output=True, timeout=600)
        assert manual.returncode == 0, (manual.stdout + manual.stderr).decode(errors="replace")[-2000:]
        _wait(lambda: set(statuses(store).values()) == {"sent"}, 600, log)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=120) == 0, log.read_text(errors="replace")[-3000:]
    _every_address_once(sink, people, store)


def _wait(condition: Callable[[], bool], seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


def test_senders_started_at_the_same_instant_make_one_edition(store: Store) -> None:
    """The race of creation: four senders released together; one edition, each reader once, no error."""
    people = add_readers(store, 30)
    recorders = [_Recorder() for _ in range(4)]
    gate = threading.Barrier(len(recorders))
    failures: list[BaseException] = []

    def run(recorder: _Recorder) -> None:
        try:
            gate.wait()
            editions.send(store.session, settings(), recorder)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in recorders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert sorted(address for r in recorders for address in r.sent) == people
    with store.session() as session:
        assert list(session.execute(select(Edition.number, Edition.status))) == [(1, "sent")]


class _Recorder:
    """A sender that accepts everything (for tests that are about the ledger, not SMTP)."""

    sent: list[str]

    def __init__(self) -> None:
        self.sent = []

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None

    def send(self, message: Any, *, ready: Any = None) -> Any:
        from newsletter.delivery import Outcome, PreparedMessage, Result, Withdrawn

        if ready is not None and not ready():
            raise Withdrawn("withdrawn")
        self.sent.append(message.recipient if isinstance(message, PreparedMessage) else str(message["To"]))
        return Result(Outcome.SENT, 250, "250 OK", 1)


class _FailsOnThird(_Recorder):
    """Accepts two messages, then raises what no server answer is: an error of the program's own."""

    def send(self, message: Any, *, ready: Any = None) -> Any:
        if len(self.sent) == 2:
            raise ValueError("not a message to send")
        return super().send(message, ready=ready)


def test_an_error_of_ours_while_a_message_is_out_leaves_no_row_held(store: Store) -> None:
    """The sender raises in its thread while the next row is claimed: the run ends with the error, the
    two sent rows are recorded, and neither the failed row nor the next one is left `sending`."""
    add_readers(store, 6)
    failing = _FailsOnThird()
    with pytest.raises(ValueError, match="not a message to send"):
        editions.send(store.session, settings(), failing)
    assert len(failing.sent) == 2
    assert Counter(statuses(store).values()) == {"sent": 2, "pending": 4}


# --------------------------------------------------------------------------- the server answers per case


def test_no_message_ends_before_the_one_before_it_is_recorded(
    store: Store, mail_sink: tuple[Sink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages are transmitted while the one before is recorded, but the server receives a message's
    end of data only once every message it accepted before is committed `sent`: at most one delivered
    message is ever unrecorded. Checked by the server itself, at each end of data, with each record
    made slower than a message, as on a busy database."""
    sink, smtp = mail_sink
    people = add_readers(store, 40)
    early: list[tuple[int, int]] = []
    record = editions._Ledger.record

    def slow(ledger: Any, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.02)
        record(ledger, *args, **kwargs)

    monkeypatch.setattr(editions._Ledger, "record", slow)

    def check(n: int) -> None:
        with store.session() as session:
            recorded = len(session.scalars(select(Delivery.id).where(Delivery.status == "sent")).all())
        if recorded != n - 1:
            early.append((n, recorded))

    sink.on_data = check
    report = editions.send(store.session, settings(), sender(smtp))
    assert (report.status, report.sent) == ("sent", len(people))
    assert early == []


def test_a_record_that_fails_withdraws_the_message_in_flight(
    store: Store, mail_sink: tuple[Sink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third outcome cannot be written (an error of ours): the fourth message, already transmitted,
    is withdrawn before its end of data, so the server delivers three; the rows not sent go back."""
    sink, smtp = mail_sink
    add_readers(store, 8)
    record = editions._Ledger.record
    calls: list[int] = []

    def failing(ledger: Any, delivery_id: int, *args: Any, **kwargs: Any) -> None:
        calls.append(delivery_id)
        if len(calls) == 3:
            raise RuntimeError("the disk is full")
        record(ledger, delivery_id, *args, **kwargs)

    monkeypatch.setattr(editions._Ledger, "record", failing)
    with pytest.raises(RuntimeError, match="the disk is full"):
        editions.send(store.session, settings(), sender(smtp))
    time.sleep(0.2)  # the server notices the connection closed mid-message
    assert [m["To"] for m in sink.messages] == ["r0000@example.org", "r0001@example.org", "r0002@example.org"]
    assert sink.data_count == 3
    rows = statuses(store)
    assert Counter(rows.values()) == {"sent": 2, "sending": 1, "pending": 5}  # the third: the lease tells


def test_a_mailbox_full_forever_ends_as_failed_and_does_not_block_the_next_edition(
    store: Store, mail_sink: tuple[Sink, str]
) -> None:
    sink, smtp = mail_sink
    people = add_readers(store, 5)
    full = people[2]

    async def handle_RCPT(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address == full:
            return "452 4.2.2 Mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    sink.handle_RCPT = handle_RCPT  # type: ignore[attr-defined]
    limits = settings(retry_attempts=3)
    first = editions.send(store.session, limits, sender(smtp))
    assert (first.edition, first.status, first.sent, first.retry) == (1, "sending", 4, 1)
    with store.session() as session:  # news arrives while edition 1 still retries one reader
        entries.add_entry(session, entry_record("second-org"), ME)
    second = editions.send(store.session, limits, sender(smtp))
    assert (second.edition, second.sent, second.retry) == (2, 4, 2)  # edition 2 went out; edition 1 waits on one
    runs = 2
    while editions.send(store.session, limits, sender(smtp)).status != "sent":
        runs += 1
        assert runs < 10, "an edition never reached a final state"
    with store.session() as session:
        states = dict(session.execute(select(Edition.number, Edition.status)).all())
        rows = session.execute(
            select(Delivery.status, Delivery.attempts, Delivery.last_error)
            .join(Subscriber)
            .where(Subscriber.email == full)
        ).all()
        reader = subs.find(session, full)
    assert states == {1: "sent", 2: "sent"}
    assert [(r.status, r.attempts) for r in rows] == [("failed", 3), ("failed", 3)]
    assert all("4.2.2" in (r.last_error or "") for r in rows)
    assert reader.status == "active"  # a full mailbox is not a bounce
    assert Counter(str(m["To"]) for m in sink.messages) == {p: 2 for p in people if p != full}


def test_a_relay_that_defers_everyone_stops_the_run_and_it_resumes(store: Store, mail_sink: tuple[Sink, str]) -> None:
    sink, smtp = mail_sink
    people = add_readers(store, 40)
    sink.on_data = lambda n: "451 4.7.1 Rate limited, try again later"
    stopped = editions.send(store.session, settings(), sender(smtp))
    assert stopped.stopped and "refused for now" in stopped.status and "4.7.1" in stopped.status
    assert (stopped.sent, stopped.retry) == (0, editions.TEMPORARY_LIMIT)
    assert Counter(statuses(store).values()) == {"pending": 40 - editions.TEMPORARY_LIMIT, "retry": 3}
    sink.on_data = None
    resumed = editions.send(store.session, settings(), sender(smtp))
    assert (resumed.status, resumed.sent) == ("sent", 40)
    assert sorted(str(m["To"]) for m in sink.messages) == people


def test_content_rejected_at_end_of_data_stops_the_run_and_marks_nobody(
    store: Store, mail_sink: tuple[Sink, str]
) -> None:
    sink, smtp = mail_sink
    people = add_readers(store, 10)
    sink.on_data = lambda n: "554 5.7.1 Message content rejected"
    stopped = editions.send(store.session, settings(), sender(smtp))
    assert stopped.stopped and "554 5.7.1 Message content rejected" in stopped.status
    assert (stopped.sent, stopped.bounced) == (0, 0)
    assert set(statuses(store).values()) == {"pending"}
    with store.session() as session:
        assert {s.status for s in subs.active(session)} == {"active"} and len(subs.active(session)) == 10
    sink.on_data = None  # the content was fixed, or the relay's filter was
    assert editions.send(store.session, settings(), sender(smtp)).sent == 10
    assert sorted(str(m["To"]) for m in sink.messages) == people


def test_a_550_at_rcpt_bounces_that_reader_only(store: Store, mail_sink: tuple[Sink, str]) -> None:
    sink, smtp = mail_sink
    people = add_readers(store, 4)
    gone = people[1]

    async def handle_RCPT(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address == gone:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    sink.handle_RCPT = handle_RCPT  # type: ignore[attr-defined]
    report = editions.send(store.session, settings(), sender(smtp))
    assert (report.status, report.sent, report.bounced) == ("sent", 3, 1)
    with store.session() as session:
        assert subs.find(session, gone).status == "bounced"
        entries.add_entry(session, entry_record("second-org"), ME)
    nxt = editions.send(store.session, settings(), sender(smtp))
    assert (nxt.edition, nxt.status, nxt.sent) == (2, "sent", 3)  # the bounced reader is not written to again


def test_a_421_in_the_middle_of_a_run_charges_nobody_and_the_next_run_completes(
    store: Store, mail_sink: tuple[Sink, str]
) -> None:
    sink, smtp = mail_sink
    people = add_readers(store, 12)
    # From the 5th transaction the server is going down: 421 on the reused connection (taken for an idle
    # timeout: one fresh connection) and again on the fresh one: the run must end, charging nobody.
    sink.on_mail = lambda n: "421 4.3.2 Service shutting down" if n >= 5 else None
    stopped = editions.send(store.session, settings(), sender(smtp))
    assert stopped.stopped and "asks to wait" in stopped.status and stopped.sent == 4
    with store.session() as session:
        assert session.scalar(select(Delivery.attempts).where(Delivery.status != "sent").limit(1)) == 0
    sink.on_mail = None
    assert editions.send(store.session, settings(), sender(smtp)).status == "sent"
    assert sorted(str(m["To"]) for m in sink.messages) == people


def test_rows_still_open_after_the_retry_days_are_failed_and_the_edition_ends(store: Store) -> None:
    add_readers(store, 3)
    recorder = _Recorder()
    with store.session() as session:
        edition = editions.create_due(session, settings(), now=utcnow() - dt.timedelta(days=4))
        assert edition is not None
        editions.prepare_deliveries(session, settings(), edition)
        session.execute(update(Delivery).values(status="retry", attempts=1))
    report = editions.send(store.session, settings(retry_days=3), recorder)
    assert recorder.sent == [] and report.edition is None
    with store.session() as session:
        assert set(session.scalars(select(Delivery.status))) == {"failed"}
        assert session.scalar(select(Edition.status)) == "sent"


def test_a_row_claimed_by_a_process_that_died_is_taken_over(store: Store) -> None:
    """A sender killed between the claim and the outcome leaves its row `sending`: the next run sends it."""
    add_readers(store, 3)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with store.session() as session:
        edition = editions.create_due(session, settings())
        assert edition is not None
        editions.prepare_deliveries(session, settings(), edition)
        first = session.scalar(select(Delivery.id).order_by(Delivery.id).limit(1))
        host = __import__("socket").gethostname()
        session.execute(
            update(Delivery)
            .where(Delivery.id == first)
            .values(status="sending", claimed_by=f"{host}:{dead.stdout.strip()}", claimed_at=utcnow())
        )
        other = session.scalar(select(Delivery.id).order_by(Delivery.id.desc()).limit(1))
        session.execute(  # a live sender on another machine: its fresh claim is respected
            update(Delivery)
            .where(Delivery.id == other)
            .values(status="sending", claimed_by="elsewhere:1", claimed_at=utcnow())
        )
    recorder = _Recorder()
    report = editions.send(store.session, settings(), recorder)
    assert len(recorder.sent) == 2 and report.status == "sending"
    with store.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == other)
            .values(claimed_at=utcnow() - CLAIM_LEASE - dt.timedelta(seconds=1))
        )
    assert editions.send(store.session, settings(), recorder).status == "sent"
    assert len(recorder.sent) == 3


def test_relay_access_denied_at_rcpt_stops_the_run_and_marks_nobody(store: Store, mail_sink: tuple[Sink, str]) -> None:
    """A relay that refuses us answers at RCPT with a policy code: it is about us, not the readers."""
    sink, smtp = mail_sink

    async def handle_RCPT(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return f"554 5.7.1 <{address}>: Relay access denied"

    sink.handle_RCPT = handle_RCPT  # type: ignore[attr-defined]
    add_readers(store, 30)
    report = editions.send(store.session, settings(), sender(smtp))
    assert report.stopped and "Relay access denied" in report.status and report.bounced == 0
    assert set(statuses(store).values()) == {"pending"}
    with store.session() as session:
        assert len(subs.active(session)) == 30


def test_readers_refused_for_good_one_after_another_are_given_back(store: Store, mail_sink: tuple[Sink, str]) -> None:
    """A relay that refuses everyone with a code that looks personal (550 5.1.1) must not wipe the list:
    after ten in a row the run stops and those ten are active and unsent again."""
    sink, smtp = mail_sink
    people = add_readers(store, 30)
    dead = people[3]

    async def handle_RCPT(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address == dead or sink.mail_count > 5:  # one real dead address, then the relay breaks
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    sink.handle_RCPT = handle_RCPT  # type: ignore[attr-defined]
    report = editions.send(store.session, settings(), sender(smtp))
    assert report.stopped and f"{editions.BOUNCE_LIMIT} readers in a row" in report.status
    with store.session() as session:
        bounced = sorted(s.email for s in session.scalars(select(Subscriber).where(Subscriber.status == "bounced")))
    assert bounced == [dead]  # the one before a success stays; the streak of ten was given back
    assert Counter(statuses(store).values()) == {"sent": 4, "bounced": 1, "pending": 25}
    with store.session() as session:  # nor is any of the ten charged an attempt for the relay's refusal
        pending = session.scalars(select(Delivery.attempts).where(Delivery.status == "pending")).all()
    assert set(pending) == {0}


def test_claims_of_a_batch_stay_inside_their_lease_when_the_server_slows_down(
    store: Store, mail_sink: tuple[Sink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fast start makes batches of 16 rows; then every MAIL takes 0.3 s, so a batch takes 4.8 s
    against a lease of 2 s. The claims still waiting are renewed: at every MAIL, no row this run holds
    is older than its lease, so no second sender could take one over and send it too."""
    lease = dt.timedelta(seconds=2)
    monkeypatch.setattr(editions, "CLAIM_LEASE", lease)
    sink, smtp = mail_sink
    people = add_readers(store, 40)
    ages: list[float] = []

    def slow(n: int) -> None:
        if n > 15:
            time.sleep(0.3)
            with store.session() as session:
                claimed = session.scalars(select(Delivery.claimed_at).where(Delivery.status == "sending")).all()
            ages.append(max((utcnow() - at).total_seconds() for at in claimed if at is not None))

    sink.on_mail = slow
    report = editions.send(store.session, settings(), sender(smtp))
    assert (report.status, report.sent) == ("sent", len(people))
    assert len(ages) == len(people) - 15 and max(ages) < lease.total_seconds()


@pytest.mark.only_on("postgresql")  # a session the server ends
def test_a_ledger_connection_ended_after_a_250_is_replaced_and_the_outcome_recorded(
    store: Store, mail_sink: tuple[Sink, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server accepts the fifth message and, in that instant, PostgreSQL ends the sender's ledger
    session (a restart, a failover, an idle timeout): the outcome is written on a new connection, so
    nobody gets the edition twice and no row is left `sending`."""
    sink, smtp = mail_sink
    people = add_readers(store, 12)
    pids: list[int] = []
    opened = editions.ledger_connection

    @contextmanager
    def recorded_pid(engine: Any) -> Iterator[Any]:
        with opened(engine) as connection:
            pids.append(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar())
            connection.commit()
            yield connection

    def end_session(n: int) -> None:
        if n == 5:
            with store.engine.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[-1]})
                admin.commit()

    monkeypatch.setattr(editions, "ledger_connection", recorded_pid)
    sink.on_data = end_session
    report = editions.send(store.session, settings(), sender(smtp))
    assert (report.status, report.sent) == ("sent", len(people))
    _every_address_once(sink, people, store)


@pytest.mark.only_on("sqlite")  # SQLite's busy timeout
def test_a_ledger_write_busy_past_its_timeout_after_a_250_is_tried_again(
    tmp_path: Path, mail_sink: tuple[Sink, str], monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """Another process holds SQLite's write lock for 1.5 s right after the server accepts the fifth
    message, past a busy timeout of 1 s: the outcome is written on the next try, not lost."""
    import sqlite3

    from directory import store as directory_store
    from pipeline.config import MIGRATION_LOCATIONS

    monkeypatch.setattr(directory_store, "SQLITE_BUSY_SECONDS", 1)
    db = Store(database_url, create=True)
    directory_store.upgrade(db.engine, locations=MIGRATION_LOCATIONS)
    sink, smtp = mail_sink
    people = add_readers(db, 12)
    path = database_url.removeprefix("sqlite:///")

    def hold_the_lock(n: int) -> None:
        if n == 5:
            locker = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            locker.execute("BEGIN IMMEDIATE")
            threading.Timer(1.5, lambda: (locker.execute("COMMIT"), locker.close())).start()

    sink.on_data = hold_the_lock
    try:
        report = editions.send(db.session, settings(), sender(smtp))
        assert (report.status, report.sent) == ("sent", len(people))
        _every_address_once(sink, people, db)
    finally:
        db.close()
