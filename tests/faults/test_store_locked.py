"""The store locked by another process for 10 s, twice SQLite's busy_timeout (R1, A5):
the agent's keys still pause and resume the recording at once (the REST call never
waits for the store), the writes queue and land afterwards in order, and no row is lost."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from controller.ari.errors import AriError
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, Switchboard
from controller.sandbox import SandboxInstance
from tests.faults.site import direct_client, fault_config, invariants
from tests.waiting import eventually, until

CALLER_NUMBER = "+33611119999"
LOCKED_FOR = 10.0
# Started before the call (a Python start-up takes longer than an agent's keys), it
# locks the store when told to and holds it until its stdin closes.
HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
sys.stdin.readline()
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
db.execute("ROLLBACK")
"""


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def test_r1_a5_keys_work_and_no_row_is_lost_while_the_store_is_locked(
    site: SandboxSite,
) -> None:
    config = load_config(fault_config(site, target="Local/alice-pause@sim-agent"))
    daemon = RunningDaemon(config)
    await daemon.start()
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_LOCK,
        str(config.store.path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        async with aiohttp.ClientSession() as session:
            client = direct_client(site.instance, session)
            checks = invariants(site, client)
            await Switchboard(site.instance, session).call("sales", "c-talk-14", CALLER_NUMBER)
            # The recording is starting; the agent keys *2 two seconds after answering.
            await until(lambda: bool(daemon.calls.recordings_in_hand()), "recording")
            (name,) = daemon.calls.recordings_in_hand()

            async def state_is(wanted: str) -> bool | None:
                try:
                    live = await client.get_live_recording(name)
                except AriError:
                    return None
                return True if live.state == wanted else None

            # The daemon names the recording, commits its row, and only then asks Asterisk
            # to record: a lock taken before that commit holds the recording itself back
            # past both keys. The lock comes once Asterisk records.
            await eventually(lambda: state_is("recording"), "recording in Asterisk")
            holder.stdin.write(b"lock\n")
            await holder.stdin.drain()
            assert (await holder.stdout.readline()).strip() == b"locked"
            loop = asyncio.get_running_loop()
            locked_at = loop.time()

            # Asterisk itself says the recording paused (*2), then resumed (*3), both
            # while the store is locked.
            await eventually(lambda: state_is("paused"), "paused in Asterisk")
            await eventually(lambda: state_is("recording"), "resumed in Asterisk")
            keyed = loop.time() - locked_at
            assert keyed < LOCKED_FOR, "the keys came after the lock; nothing was proven"
            await asyncio.sleep(LOCKED_FOR - keyed)
            holder.stdin.close()
            await holder.wait()
            (call,) = await daemon.wait_for_calls(1, within=60)
            await checks.hold_within(5.0)
        reaction = list(daemon.calls.reaction_times_ms)
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await daemon.stop()
    print(f"measured pause_ms={reaction[0]:.2f} resumed_within_lock_at={keyed:.2f}s")
    # One pause, taken on the hot path while the store was locked (its timing is
    # bench's: reaction).
    assert len(reaction) == 1
    (pause,) = call["pauses"]
    assert (pause["paused_by"], pause["resumed_by"]) == ("alice", "agent")
    assert call["decision"]["record"] == 1
    assert [r["state"] for r in call["recordings"]] == ["stored"]
    assert call["outcome"] == "caller_hung_up" and call["agent_id"] == "alice"
