"""The crawl's item writer (`crawlers.pipelines.GroupWriter`): a process of its own, group commits, and
an item that cannot be stored costs only itself."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select, text

from crawlers.items import SiteItem
from crawlers.pipelines import GroupWriter, NotWritten
from directory import entries
from directory.health import Check, HealthRules
from directory.models import LinkCheck
from directory.store import Store
from tests.conftest import children_of, command_of, entry_record

ME = entries.Actor("tester", "tester")


def checks(store: Store) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(select(LinkCheck.url, func.count()).group_by(LinkCheck.url)).all()
    return {url: count for url, count in rows}


async def write_all(writer: GroupWriter, items: list[SiteItem]) -> list[Any]:
    return await asyncio.gather(*(writer.write(item) for item in items), return_exceptions=True)


def test_items_queued_together_are_written_and_a_bad_one_costs_only_itself(store: Store) -> None:
    with store.session() as session:
        for n in range(5):
            entries.add_entry(session, entry_record(f"org-{n}", website=f"https://org{n}.example.org/"), ME)
    items = [SiteItem(f"org-{n}", Check(url=f"https://org{n}.example.org/", status_code=200)) for n in range(5)]
    items.insert(2, SiteItem("no-such-entry", Check(url="https://gone.example.org/", status_code=200)))
    writer = GroupWriter(store.url, HealthRules())
    try:
        results = asyncio.run(write_all(writer, items))
    finally:
        writer.close()
    failed = results.pop(2)
    assert isinstance(failed, NotWritten) and "no-such-entry" in str(failed)
    assert results == [[("nansen/proposals", 0), ("nansen/checks/ok", 1)]] * 5
    assert checks(store) == {f"https://org{n}.example.org/": 1 for n in range(5)}


def test_ctrl_c_reaching_the_writer_process_stops_nothing(store: Store) -> None:
    """A terminal's Ctrl-C goes to the whole process group: the writer ignores it, and the crawl, which
    shuts down on it, still gets every item written."""
    with store.session() as session:
        for n in range(2):
            entries.add_entry(session, entry_record(f"org-{n}", website=f"https://org{n}.example.org/"), ME)
    items = [SiteItem(f"org-{n}", Check(url=f"https://org{n}.example.org/", status_code=200)) for n in range(2)]
    writer = GroupWriter(store.url, HealthRules())
    try:
        asyncio.run(write_all(writer, items[:1]))  # the writer process is running now
        [process] = [pid for pid in children_of(os.getpid()) if b"spawn_main" in command_of(pid)]
        os.kill(process, signal.SIGINT)
        assert asyncio.run(write_all(writer, items[1:])) == [[("nansen/proposals", 0), ("nansen/checks/ok", 1)]]
    finally:
        writer.close()
    assert checks(store) == {f"https://org{n}.example.org/": 1 for n in range(2)}


@pytest.mark.only_on("postgresql")  # a session ended by the server; SQLite has none
def test_an_item_whose_connection_the_server_ended_is_written_on_a_new_one(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL ends the writer's session while its insert waits on a lock (a restart, an admin's
    pg_terminate_backend): the item is tried once more on a new connection, and stored."""
    from crawlers import pipelines

    with store.session() as session:
        entries.add_entry(session, entry_record("org", website="https://org.example.org/"), ME)
    monkeypatch.setattr(pipelines, "_writer", (Store(store.url), HealthRules()))
    item = SiteItem("org", Check(url="https://org.example.org/", status_code=200))
    with store.engine.connect() as locker, store.engine.connect() as admin:
        locker.execute(text("LOCK TABLE link_checks IN ACCESS EXCLUSIVE MODE"))
        with ThreadPoolExecutor(1) as pool:
            written = pool.submit(pipelines._write_batch, [item])
            waiting = _blocked_by(admin, locker)
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": waiting})
            _blocked_by(admin, locker)  # the second try, on a new connection, waits in turn
            locker.rollback()
            assert written.result(timeout=30) == [[("nansen/proposals", 0), ("nansen/checks/ok", 1)]]
    assert checks(store) == {"https://org.example.org/": 1}


def _blocked_by(admin: Any, locker: Any) -> int:
    """The pid of the session waiting on `locker`'s lock (10 s at most)."""
    holder = locker.execute(text("SELECT pg_backend_pid()")).scalar()
    for _ in range(200):
        waiting = admin.execute(
            text("SELECT pid FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"), {"holder": holder}
        ).scalar()
        admin.commit()
        if waiting is not None:
            return int(waiting)
        time.sleep(0.05)
    raise AssertionError("no session waited on the lock")
