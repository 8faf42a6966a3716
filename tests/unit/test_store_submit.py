"""Writes nobody awaits go to the store thread directly, in the order they were made,
behind everything queued before them (C4: an earlier objection is written before the
call's own lookup reads it); a failed one costs that write only (R1: the calls go on)."""

from __future__ import annotations

import threading
from pathlib import Path

from controller.store import SqliteStore, StoreThread
from tests.waiting import until


async def _thread(tmp_path: Path) -> StoreThread[SqliteStore]:
    thread: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(tmp_path / "store.sqlite3"), SqliteStore.close
    )
    await thread.start()
    return thread


async def test_c4_submitted_writes_run_in_order_before_a_later_read(tmp_path: Path) -> None:
    thread = await _thread(tmp_path)
    done: list[int] = []

    def write(index: int) -> None:
        thread.submit(lambda s: done.append(index))

    for index in range(50):
        write(index)
    assert await thread.run(lambda s: list(done)) == list(range(50))
    await thread.stop()


async def test_r1_a_failed_write_costs_that_write_only(tmp_path: Path) -> None:
    thread = await _thread(tmp_path)
    done: list[str] = []

    def broken(s: SqliteStore) -> None:
        raise ValueError("a write the store refuses")

    thread.submit(lambda s: done.append("before"))
    thread.submit(broken)
    thread.submit(lambda s: done.append("after"))
    assert await thread.run(lambda s: list(done)) == ["before", "after"]
    assert thread.queued == 0
    await thread.stop()


async def test_the_lag_counts_submitted_writes_until_they_ran(tmp_path: Path) -> None:
    """The store's lag behind the calls (/metrics) counts writes nobody awaits."""
    thread = await _thread(tmp_path)
    entered, released = threading.Event(), threading.Event()

    def slow(s: SqliteStore) -> None:
        entered.set()
        released.wait(timeout=30)

    thread.submit(slow)
    thread.submit(lambda s: None)
    await until(entered.is_set, "the store thread runs the slow write")
    assert thread.queued == 2
    released.set()
    await until(lambda: thread.queued == 0, "the writes ran")
    await thread.stop()


async def test_a_write_after_the_store_stopped_is_dropped_without_raising(
    tmp_path: Path,
) -> None:
    thread = await _thread(tmp_path)
    await thread.stop()
    thread.submit(lambda s: None)
    assert thread.queued == 0


async def test_c4_writes_submitted_while_the_thread_takes_earlier_ones_keep_their_order(
    tmp_path: Path,
) -> None:
    """The writes of a burst are taken by one job of the thread while the calls submit
    more: none is lost or overtaken, and a read queued after any of them sees it."""
    thread = await _thread(tmp_path)
    done: list[int] = []
    taking = threading.Event()

    def first(s: SqliteStore) -> None:
        taking.set()
        done.append(0)

    def write(index: int) -> None:
        thread.submit(lambda s: done.append(index))

    thread.submit(first)
    await until(taking.is_set, "the thread takes the first burst")
    submitted = 1
    for burst in range(200):
        for _ in range(burst % 7 + 1):
            write(submitted)
            submitted += 1
        if burst % 10 == 0:
            assert await thread.run(lambda s: list(done)) == list(range(submitted))
    assert await thread.run(lambda s: list(done)) == list(range(submitted))
    assert thread.queued == 0
    await thread.stop()
