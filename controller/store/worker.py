"""One thread owns the store; the event loop hands it work and awaits the result.

SQLite calls can block for milliseconds (fsync, a busy lock). Asterisk drops an ARI
websocket whose writes block for more than 100 ms, so no SQLite call ever runs on the
event loop: they all queue here, in order, on a single thread.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from controller.stoppoints import stop_point

S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)
T = TypeVar("T")
log = logging.getLogger("reccontrol.store")
# Beyond SQLite's own busy_timeout: how often and how long a locked store is retried.
BUSY_RETRY = 0.1
MAX_BUSY_WAIT = 300.0


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


class StoreThread(Generic[S]):
    def __init__(self, open_store: Callable[[], S], close_store: Callable[[S], None]) -> None:
        self._open_store = open_store
        self._close_store = close_store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reccontrol-store")
        self._store: S | None = None
        # Each counter has one writer, the event loop or the store thread: none is lost.
        self._awaited = 0
        self._submitted = 0
        self._done = 0
        self._pending: deque[Callable[[S], object]] = deque()
        """Writes submitted and not taken by the thread yet (appended by the event loop,
        taken by the thread: a deque's append and popleft are atomic)."""
        self._drain_queued = False
        """A :meth:`_drain` is queued on the thread and has not started."""

    @property
    def queued(self) -> int:
        """Calls handed to the thread and not finished yet, the one running included:
        how far the store lags behind the calls (a figure of /metrics)."""
        return self._awaited + self._submitted - self._done

    async def start(self) -> None:
        """Opens the store on its thread; raises what opening raised."""
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(self._executor, self._open_store)

    def _call(self, fn: Callable[[S], T]) -> T:
        if self._store is None:
            raise RuntimeError("the store thread is not started")
        stop_point("store-write")
        since: float | None = None
        while True:
            try:
                return fn(self._store)
            except sqlite3.OperationalError as exc:
                # Another process holds the database (a backup, an admin's sqlite3
                # shell) past busy_timeout. Each store method is one transaction, rolled
                # back on error, so running it again is safe; the writes queued behind
                # it wait their turn in order, and none is lost.
                now = time.monotonic()
                if since is None:
                    since = now
                    log.warning("the store is locked by another process; writes wait")
                if not _is_busy(exc) or now - since >= MAX_BUSY_WAIT:
                    raise
                time.sleep(BUSY_RETRY)

    async def run(self, fn: Callable[[S], T]) -> T:
        """Runs ``fn(store)`` on the store thread and returns its result."""
        loop = asyncio.get_running_loop()
        self._awaited += 1
        try:
            return await loop.run_in_executor(self._executor, self._call, fn)
        finally:
            self._awaited -= 1

    def submit(self, fn: Callable[[S], object]) -> None:
        """Queues ``fn(store)`` behind everything queued so far, and waits for nothing: a
        write nobody awaits. No task or future on the event loop, which hands the calls'
        writes over several for each event; a failure is logged by the store thread.

        The writes wait in :attr:`_pending`, which one job of the thread empties
        (:meth:`_drain`): the executor's job (a future, its locks, a wake-up of the
        thread) costs the event loop about a hundred times an append, and is paid once
        per burst of writes rather than once per write. Their order is kept: a write
        is appended before any later :meth:`run` is queued, and a drain that has not
        yet started, or one queued now, is ahead of it on the thread."""
        self._submitted += 1
        self._pending.append(fn)
        if self._drain_queued:
            return
        self._drain_queued = True
        try:
            self._executor.submit(self._drain)
        except RuntimeError as exc:
            # The thread is shut down (the daemon is stopping): the writes are lost.
            self._drain_queued = False
            self._submitted -= len(self._pending)
            self._pending.clear()
            log.error("background work failed: %s: %s", type(exc).__name__, exc)

    def _drain(self) -> None:
        """On the store thread: the writes submitted so far, and any submitted while
        they run, in their order."""
        # Cleared first: a write submitted from now on queues a drain of its own, and
        # one submitted before is taken below (at worst the next drain finds none).
        self._drain_queued = False
        pending = self._pending
        while pending:
            self._call_alone(pending.popleft())

    def _call_alone(self, fn: Callable[[S], object]) -> None:
        try:
            self._call(fn)
        except Exception as exc:
            log.error("background work failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._done += 1

    async def stop(self) -> None:
        """Lets queued work finish, then closes the store and the thread."""
        loop = asyncio.get_running_loop()
        if self._store is not None:
            store = self._store
            await loop.run_in_executor(self._executor, self._close_store, store)
            self._store = None
        await loop.run_in_executor(None, self._executor.shutdown, True)


class FromAnotherThread(Generic[S_co]):
    """Runs functions of the store on its owner thread, from a blocking worker thread.

    For long jobs such as the purge: each call is one short transaction queued on the
    single writer thread between the call flow's writes, while the slow parts of the
    job (removing files) run on the worker and hold nothing up.
    """

    def __init__(self, thread: StoreThread[S_co], loop: asyncio.AbstractEventLoop) -> None:
        self._thread = thread
        self._loop = loop

    def call(self, fn: Callable[[S_co], T]) -> T:
        """``fn(store)`` on the store thread; blocks this thread until it is done."""
        return asyncio.run_coroutine_threadsafe(self._thread.run(fn), self._loop).result()
