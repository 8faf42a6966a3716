"""A daemon killed mid-call and restarted carries the call on (R1): the rebuilt call
ends at hang-up and nothing of ours is left in Asterisk. The restart is a gap in the
events, as an ARI cut is: a recording that ran while the daemon was down is discarded,
since a key to pause it or to make the call private may have gone unheard (A2, A5);
one paused through the whole gap is discarded too, as the caller may have objected
unheard (C2, ``test_daemon_killed_calls.py``)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.ari import AriClient
from controller.ari.errors import AriNotFound
from controller.demo.site import SandboxSite, Switchboard
from controller.sandbox import SandboxInstance
from tests.faults.daemon import DaemonProcess
from tests.faults.site import direct_client, fault_config, invariants
from tests.waiting import eventually

CALLER_NUMBER = "+33611116666"
RESTART_AFTER = 1.0  # seconds, as systemd's RestartSec=1


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def rows(store: Path, sql: str) -> list[dict[str, Any]]:
    # Read-write: a read-only reader may not see what a killed process left in the WAL.
    with sqlite3.connect(store, timeout=10) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql)]


async def press(client: AriClient, gate: str, keys: str) -> None:
    """The gated agent script presses ``keys`` now."""
    await client.request(
        "POST", "/asterisk/variable", params={"variable": f"SIM_KEYS_{gate}", "value": keys}
    )


async def live_state(client: AriClient, name: str) -> str | None:
    try:
        return (await client.get_live_recording(name)).state
    except AriNotFound:
        return None


async def test_r1_a_recording_running_through_a_kill_is_discarded_the_call_carried_on_A2(
    site: SandboxSite, tmp_path: Path
) -> None:
    """Killed right after the recording started, restarted 1 s later: the recording
    that ran while nobody heard the agent's keys is cancelled (alert ``keys_unheard``),
    the call goes on bridged, the agent's *2 finds nothing to pause, and the caller's
    hang-up ends the call."""
    gate = f"a{tmp_path.name[-6:]}".replace("-", "").replace("_", "")
    config = fault_config(site, target=f"Local/alice-waitkeys-{gate}@sim-agent")
    store = site.workdir / "reccontrol.sqlite3"
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    async with aiohttp.ClientSession() as session:
        client = direct_client(site.instance, session)
        checks = invariants(site, client)
        await daemon.start(fault_point="after:RecordingStarted")
        try:
            await daemon.wait_for("ARI events: connected")
            caller = await Switchboard(site.instance, session).call(
                "sales", "c-talk-60", CALLER_NUMBER
            )
            await daemon.frozen_at("after:RecordingStarted")
            await daemon.kill()
            await asyncio.sleep(RESTART_AFTER)
            loop = asyncio.get_running_loop()
            restarted = loop.time()
            await daemon.start()
            await daemon.wait_for("carried on after a restart")
            adopted = loop.time() - restarted
            (recording,) = rows(store, "SELECT name FROM recordings")
            name = recording["name"]

            async def cancelled() -> bool | None:
                return await live_state(client, name) is None or None

            await eventually(cancelled, "the recording that ran unheard is cancelled")
            await press(client, gate, "*2")
            await client.hangup(caller.id)
            await checks.hold_within(5.0)
        finally:
            await daemon.stop()
    (call,) = rows(store, "SELECT * FROM calls")
    assert call["outcome"] == "caller_hung_up" and call["ended_at"]
    (discarded,) = rows(store, "SELECT * FROM recordings")
    assert discarded["state"] == "discarded"
    assert rows(store, "SELECT * FROM pauses") == [], "nothing left to pause"
    kinds = [a["kind"] for a in rows(store, "SELECT kind FROM alerts")]
    assert kinds == ["keys_unheard", "call_carried_on"]
    print(f"measured adoption_seconds={adopted:.2f}")


async def test_r1_an_outbound_call_is_carried_on_after_a_kill_C6(
    site: SandboxSite, tmp_path: Path
) -> None:
    """The same for a call an agent placed (C6): after the restart the recording that
    ran unheard is discarded, and the customer's hang-up ends the agent's leg."""
    gate = f"o{tmp_path.name[-6:]}".replace("-", "").replace("_", "")
    outbound = {"outbound": {"dial": "Local/{number}@sim-customer-stays", "ring_timeout": 5}}
    config = fault_config(site, target="Local/alice-talk@sim-agent", sales=outbound)
    store = site.workdir / "reccontrol.sqlite3"
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    async with aiohttp.ClientSession() as session:
        client = direct_client(site.instance, session)
        checks = invariants(site, client)
        await daemon.start(fault_point="after:RecordingStarted")
        try:
            await daemon.wait_for("ARI events: connected")
            await Switchboard(site.instance, session).dial_out(
                "alice", "sales", "0612345678", f"alice-waitkeys-{gate}"
            )
            await daemon.frozen_at("after:RecordingStarted")
            await daemon.kill()
            await asyncio.sleep(RESTART_AFTER)
            await daemon.start()
            await daemon.wait_for("carried on after a restart")
            (call,) = rows(store, "SELECT id FROM calls")
            (recording,) = rows(store, "SELECT name FROM recordings")
            name = recording["name"]

            async def cancelled() -> bool | None:
                return await live_state(client, name) is None or None

            await eventually(cancelled, "the recording that ran unheard is cancelled")
            await client.hangup(f"rc-{call['id']}-customer")
            await checks.hold_within(5.0)
        finally:
            await daemon.stop()
    (ended,) = rows(store, "SELECT * FROM calls")
    assert (ended["direction"], ended["outcome"]) == ("outbound", "customer_hung_up")
    (discarded,) = rows(store, "SELECT * FROM recordings")
    assert discarded["state"] == "discarded"
    kinds = [a["kind"] for a in rows(store, "SELECT kind FROM alerts")]
    assert kinds == ["keys_unheard", "call_carried_on"]


@pytest.mark.parametrize("point", ["did:OpenRecording", "did:StartRecording"])
async def test_r1_killed_around_the_recording_row_every_row_ends_right_A2(
    site: SandboxSite, tmp_path: Path, point: str
) -> None:
    """R1, A2: killed once the recording's row is stored, before Asterisk was asked for
    the file (``did:OpenRecording``) or once it was (``did:StartRecording``), the
    restarted daemon carries the call on and the row ends ``discarded`` with its
    decision beside it: never ``missing`` (a file lost), never a row without a decision.
    Nothing of the file is kept: keys went unheard while the daemon was down."""
    config = fault_config(site, target="Local/alice-talk@sim-agent")
    store = site.workdir / "reccontrol.sqlite3"
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    async with aiohttp.ClientSession() as session:
        client = direct_client(site.instance, session)
        checks = invariants(site, client)
        await daemon.start(fault_point=point)
        try:
            await daemon.wait_for("ARI events: connected")
            caller = await Switchboard(site.instance, session).call(
                "sales", "c-talk-60", CALLER_NUMBER
            )
            await daemon.frozen_at(point)
            await daemon.kill()
            await asyncio.sleep(RESTART_AFTER)
            await daemon.start()
            await daemon.wait_for("carried on after a restart")

            async def settled() -> list[dict[str, Any]] | None:
                found = rows(store, "SELECT state FROM recordings")
                return found if found and found[0]["state"] != "live" else None

            await eventually(settled, "the recording's row settled")
            await client.hangup(caller.id)
            await checks.hold_within(5.0)
        finally:
            await daemon.stop()
    (recording,) = rows(store, "SELECT call_id, state FROM recordings")
    assert recording["state"] == "discarded"
    decisions = rows(store, "SELECT call_id, record FROM decisions")
    assert decisions == [{"call_id": recording["call_id"], "record": 1}]
