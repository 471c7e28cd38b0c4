"""Work taken off the request path: jobs run one at a time by one background thread, with back-off."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

log = logging.getLogger(__name__)


class Job(Protocol):
    """Work for the outbox. `what` names it in logs, which must never name a person."""

    what: ClassVar[str]

    def step(self) -> bool | None:
        """True: done; False: failed for good; None: try again later."""
        ...

    def give_up(self) -> None:
        """Called once when the job will not be tried again (failed, out of attempts, or shut down)."""
        ...


MAIL_BACKOFF = (5.0, 30.0, 120.0, 600.0)  # five attempts over about 13 minutes


class Outbox:
    """Jobs taken off the request path, run one at a time by one background thread.

    A job whose `step` answers None (or raises) runs again after `backoff[i]` seconds, then is given
    up after the last. The queue is in memory: `close` (at shutdown) runs what is due, then gives up
    the rest. The thread starts with the app, or at the first `put` if the app was not started.
    """

    def __init__(
        self, backoff: Sequence[float] = MAIL_BACKOFF, *, limit: int = 1000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.backoff = tuple(backoff)
        self.limit = limit
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, int, Job]] = []  # (due, order, attempts so far, job)
        self._order = itertools.count()
        self._busy = 0
        self.taken = 0  # jobs accepted since the start (retries not counted)
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._cond:
            self._closed = False
            self._ensure_thread()

    def put(self, job: Job, *, over_limit: bool = False) -> bool:
        """Queue `job` now; False when the queue is full (unless `over_limit`) or closed."""
        with self._cond:
            if self._closed or (len(self._heap) >= self.limit and not over_limit):
                return False
            self._push(0.0, 0, job)
            self.taken += 1
            self._ensure_thread()
            return True

    def has_room(self) -> bool:
        with self._cond:
            return not self._closed and len(self._heap) < self.limit

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or running (retries included); False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking jobs, run those already due (for up to `timeout` s), and give up the rest."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._cond:
            left = [job for *_, job in self._heap]
            self._heap.clear()
            self._cond.notify_all()
        if left:
            log.warning("%d queued job(s) given up at shutdown", len(left))
        for job in left:
            self._give_up(job)

    def _push(self, delay: float, attempts: int, job: Job) -> None:
        heapq.heappush(self._heap, (self._clock() + delay, next(self._order), attempts, job))
        self._cond.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="nansen-outbox", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                item = self._next()
                if item is None:
                    self._thread = None
                    self._cond.notify_all()
                    return
                self._busy += 1
            try:
                self._run(*item[2:])
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _next(self) -> tuple[float, int, int, Job] | None:
        while True:
            now = self._clock()
            if self._heap and self._heap[0][0] <= now:
                return heapq.heappop(self._heap)
            if self._closed:
                return None
            self._cond.wait(self._heap[0][0] - now if self._heap else None)

    def _run(self, attempts: int, job: Job) -> None:
        attempts += 1
        try:
            outcome = job.step()
        except Exception as exc:  # the text may quote an address: only the kind is logged
            log.warning("%s failed (%s)", job.what, type(exc).__name__)
            outcome = None
        if outcome is None:
            with self._cond:
                if attempts <= len(self.backoff) and not self._closed:
                    delay = self.backoff[attempts - 1]
                    log.warning("%s: attempt %d of %d did not succeed; next in %g s", job.what, attempts,
                                len(self.backoff) + 1, delay)  # fmt: skip
                    self._push(delay, attempts, job)
                    return
            log.warning("%s given up after %d attempt(s)", job.what, attempts)
        elif outcome is False:
            log.warning("%s was refused for good", job.what)
        if outcome is not True:
            self._give_up(job)

    @staticmethod
    def _give_up(job: Job) -> None:
        try:
            job.give_up()
        except Exception as exc:
            log.warning("giving up %s failed (%s)", job.what, type(exc).__name__)
