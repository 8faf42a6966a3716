"""/healthz is liveness, /readyz readiness (R4), on the real daemon application against
a fake ARI: ready only while the events websocket is connected now (not merely once
since start) and the store takes a real write."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from controller.store import SqliteStore
from controller.web.keys import STORE
from tests.component.daemon_rig import running


def read_only(store: SqliteStore, on: bool) -> None:
    store.db.execute(f"PRAGMA query_only = {int(on)}")


async def test_r4_websocket_down_now_is_not_ready_although_it_was_connected_before(
    tmp_path: Path,
) -> None:
    """R4: the daemon connected once, then Asterisk went away and refuses the events
    websocket. /readyz answers 503 ``ari-disconnected`` (a past connection is not
    enough), /healthz still answers 200 (the process lives; restarting it would not bring
    Asterisk back) and tells a signed-in person ``ari_connected: false``. Asterisk back,
    ready again."""
    async with running(tmp_path) as rig:
        assert await rig.ready() == {"status": "ready"}
        rig.fake.events_refused = True
        await rig.fake.drop()
        assert await rig.not_ready() == ["ari-disconnected"]
        public = await rig.client.get("/healthz")
        assert public.status == 200 and await public.json() == {"status": "ok"}
        figures = await rig.figures()
        assert (figures["ari_connected"], figures["ari_connections"]) == (False, 1)
        rig.fake.events_refused = False
        assert await rig.ready() == {"status": "ready"}
        assert (await rig.figures())["ari_connections"] == 2


async def test_r4_a_store_that_refuses_writes_is_not_ready(tmp_path: Path) -> None:
    """R4: the daemon's database stops taking writes (SQLite's query_only, as a file
    system remounted read-only answers): /readyz answers 503 ``store-read-only``, and
    200 again once it takes writes."""
    async with running(tmp_path) as rig:
        await rig.ready()
        await rig.app[STORE].run(lambda store: read_only(store, True))
        assert await rig.not_ready() == ["store-read-only"]
        _, body = await rig.readiness()
        # What SQLite said is for the daemon's log, not for whoever asks.
        assert "SQLITE" not in str(body) and "readonly database" not in str(body)
        await rig.app[STORE].run(lambda store: read_only(store, False))
        await rig.ready()


async def test_r4_a_store_locked_by_another_process_is_not_ready(tmp_path: Path) -> None:
    """R4: another process (an admin's sqlite3 shell, a stuck backup) holds the store's
    write lock: /readyz answers 503 ``store-locked`` within its bound instead of waiting,
    and 200 once the lock is let go."""
    async with running(tmp_path) as rig:
        await rig.ready()
        other = sqlite3.connect(rig.config.store.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            assert await rig.not_ready() == ["store-locked"]
        finally:
            other.execute("ROLLBACK")
            other.close()
        await rig.ready()


def _write(store: SqliteStore) -> None:
    with store.transaction() as db:
        db.execute("SELECT 1")


async def test_r4_a_store_locked_while_its_thread_waits_on_that_lock_is_named_locked(
    tmp_path: Path,
) -> None:
    """R4: another process holds the store's write lock and a write of the daemon's own
    is queued ahead of the probe, waiting on that lock: the probe cannot run in time,
    and /readyz still names the cause a person can act on, ``store-locked`` (not
    ``store-not-answering``), then 200 once the lock is let go and the write went
    through."""
    async with running(tmp_path) as rig:
        await rig.ready()
        other = sqlite3.connect(rig.config.store.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            queued = asyncio.ensure_future(rig.app[STORE].run(_write))
            assert await rig.not_ready() == ["store-locked"]
        finally:
            other.execute("ROLLBACK")
            other.close()
        await queued
        await rig.ready()
