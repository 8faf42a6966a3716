"""The FastAGI ``inbound`` script when its store writes fail or the daemon stops in the
middle of one (R1, R2): the dialplan is told ``RECCONTROL_ERROR=store-failed`` and goes
on, and no call row is left open or half-written."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.agi.inbound import InboundScript
from controller.agi.server import AgiServer
from controller.clock import FixedClock
from controller.config import Config, load_config
from controller.config.model import AgiSettings
from controller.records import CallStart, ConsentEvent
from controller.store import SqliteStore, StoreThread
from tests.component.fake_agi import FakeAsterisk, header
from tests.integration.conftest import free_port
from tests.sites import ENV, write_site
from tests.waiting import DEFAULT_WITHIN

NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)
CALLER = "+33612345678"
UP = "200 result=6"
NINE = f"200 result={ord('9')} endpos=4000"
TO_THE_END = "200 result=0 endpos=16000"


class Faults:
    """What the store does on the writes a test picks, from its own thread."""

    def __init__(self) -> None:
        self.fail_begin = False
        self.fail_consent = False
        self.hold_begin = False
        self.begin_entered = threading.Event()
        self.begin_released = threading.Event()


def faulty_store(faults: Faults) -> type[SqliteStore]:
    class FaultyStore(SqliteStore):
        def begin_call(self, call: CallStart, announcement_version: str) -> None:
            if faults.fail_begin:
                raise sqlite3.DatabaseError("database disk image is malformed")
            if faults.hold_begin:
                faults.begin_entered.set()
                faults.begin_released.wait(DEFAULT_WITHIN)
            super().begin_call(call, announcement_version)

        def add_consent_event(self, event: ConsentEvent) -> None:
            if faults.fail_consent:
                raise sqlite3.DatabaseError("disk I/O error")
            super().add_consent_event(event)

    return FaultyStore


class Site:
    def __init__(self, config: Config, store: StoreThread[SqliteStore], faults: Faults) -> None:
        self.config = config
        self.store = store
        self.faults = faults
        script = InboundScript(config, store, FixedClock(NOW), random.Random(7))
        self.server = AgiServer(AgiSettings(port=free_port()), {"inbound": script})

    async def call(self, answers: dict[str, str | list[str]]) -> list[str]:
        asterisk = await FakeAsterisk.connect(self.server.port)
        await asterisk.send(header("inbound?service=sales", callerid=CALLER))
        await asterisk.serve(answers)
        return asterisk.commands

    async def calls(self) -> list[dict[str, Any]]:
        return await self.store.run(
            lambda s: [dict(r) for r in s.db.query("SELECT * FROM calls")]
        )


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    config = load_config(write_site(tmp_path), ENV)
    faults = Faults()
    store_type = faulty_store(faults)

    def open_store() -> SqliteStore:
        return store_type.open(config.store.path)

    store: StoreThread[SqliteStore] = StoreThread(open_store, SqliteStore.close)
    await store.start()
    site = Site(config, store, faults)
    await site.server.start()
    yield site
    faults.begin_released.set()
    await site.server.stop()
    await store.stop()


async def test_r2_a_failed_first_write_tells_the_dialplan_and_stores_nothing(site: Site) -> None:
    """The call row cannot be written: ``RECCONTROL_ERROR=store-failed`` and nothing else,
    so the dialplan carries on with no call id (unrecorded), and no row exists."""
    site.faults.fail_begin = True
    commands = await site.call({"CHANNEL STATUS": UP, "STREAM FILE": TO_THE_END})
    assert commands == ['SET VARIABLE "RECCONTROL_ERROR" "store-failed"']
    assert await site.calls() == []


async def test_r2_a_failed_write_during_the_announcement_closes_the_row(site: Site) -> None:
    """The opt-out key's consent row cannot be written: the same error for the dialplan,
    no consent variable (nothing to go on), and the call row closed ``interrupted``."""
    site.faults.fail_consent = True
    commands = await site.call({"CHANNEL STATUS": UP, "STREAM FILE": NINE})
    assert commands[-1] == 'SET VARIABLE "RECCONTROL_ERROR" "store-failed"'
    assert not [c for c in commands if "RECCONTROL_CONSENT" in c]
    (call,) = await site.calls()
    assert call["outcome"] == "interrupted" and call["ended_at"] is not None


async def test_r1_a_daemon_stopped_during_the_first_write_leaves_no_row_open(
    site: Site,
) -> None:
    """The server stops (the daemon's shutdown) while the call's first row is being
    written: the write lands, and the row is closed ``interrupted`` on the way out, not
    left open for the next start to find."""
    site.faults.hold_begin = True
    calling = asyncio.create_task(site.call({"CHANNEL STATUS": UP, "STREAM FILE": TO_THE_END}))
    entered = await asyncio.to_thread(site.faults.begin_entered.wait, DEFAULT_WITHIN)
    assert entered, "the inbound script did not reach its first write"
    # Released once stop() has cancelled the session (it does so before its first
    # await): the write then completes under a cancelled script.
    asyncio.get_running_loop().call_soon(site.faults.begin_released.set)
    await site.server.stop()
    commands = await calling
    assert commands == []
    (call,) = await site.calls()
    assert call["outcome"] == "interrupted" and call["ended_at"] is not None
    assert call["announcement_completed"] == 0
