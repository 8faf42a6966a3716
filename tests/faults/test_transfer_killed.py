"""The daemon killed with SIGKILL in the middle of a blind transfer (R1, R3): after the
agent's phone sent its REFER and the daemon stopped the agent's segment, before the
target answered; restarted 1 s later, as systemd would.

Nothing may be stranded: the transfer's Local channel and the caller are carried on
(the target answers and talks with the caller), the transferring agent's channel goes,
and once the caller hangs up every invariant of ``tests/faults/invariants.py`` holds
(nothing of ours in Stasis, no bridge, no file left in Asterisk's folder, every
recording row final with its vault file and hash).

Whether the target answers before or after the restart is the test's choice, never a
race between a ring of a guessed length and the restart: Chloé's phone answers on cue
(:func:`tests.sip.scenarios.cue`), once the restarted daemon carried the call on, or
while the daemon is down, and the caller stays on the line until the test hangs up
once Chloé's segment is decided.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.ari import AriClient
from controller.calls.commands import AlertKind
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.faults.site import ANYTIME
from tests.faults.test_daemon_killed_calls import Killing, killing
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE
from tests.sip.media import tone
from tests.sip.sipp import Phone, Switchboard, sip_phones
from tests.waiting import eventually

CALLER_NUMBER = "+33611117777"
CHLOE_VOICE = 1300.0
CALL_ID = "CHANNEL(pjsip,call-id)"
"""The SIP Call-ID of a PJSIP channel: how the test names the call to Chloé's phone."""


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


@pytest.fixture
async def phones(asterisk: SandboxInstance, tmp_path: Path) -> AsyncIterator[Switchboard]:
    async with sip_phones(asterisk.sip_port, asterisk.phone_ports, tmp_path / "sipp") as board:
        yield board


CHLOE = {"chloe": {"name": "Chloé Roux", "endpoints": ["PJSIP/chloe"], "windows": ANYTIME}}


def rows(store: Path, query: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(query)]


async def stored(store: Path, query: str, what: str) -> dict[str, Any]:
    """The first row ``query`` finds, once there is one."""

    def first() -> dict[str, Any] | None:
        found = rows(store, query)
        return found[0] if found else None

    return await eventually(lambda: asyncio.to_thread(first), what)


NEAR = re.compile(r"Local/xfer-chloe@.*;1")
"""The transfer's Local channel in our bridge (its ``;2`` half dials Chloé)."""


async def channel_named(
    client: AriClient, name: str | re.Pattern[str], state: str | None = None
) -> str | None:
    """The id of the channel whose name begins with ``name`` (or matches it), in
    ``state``; None if there is none."""
    for channel in await client.list_channels():
        named = (
            name.fullmatch(channel.name) is not None
            if isinstance(name, re.Pattern)
            else channel.name.startswith(name)
        )
        if named and state in (None, channel.state):
            return channel.id
    return None


async def answer(client: AriClient, chloe: Phone) -> None:
    """Chloé's phone answers now: the cue names the call Asterisk rings her with."""
    ringing = await eventually(lambda: channel_named(client, "PJSIP/chloe-"), "Chloé rings")
    chloe.cue(await client.get_variable(ringing, CALL_ID))


async def answered_and_bridged(client: AriClient) -> None:
    """Asterisk reports Chloé's channel up and bridged (with the far half of the
    transfer's Local channel, whose near half in our bridge is up too)."""

    async def probe() -> bool | None:
        chloe = await channel_named(client, "PJSIP/chloe-", "Up")
        near = await channel_named(client, NEAR, "Up")
        bridges = await client.request("GET", "/bridges") or []
        bridged = any(chloe in b.get("channels", []) for b in bridges)
        return True if chloe and near and bridged else None

    await eventually(probe, "Chloé's channel up and bridged")


async def gone(client: AriClient, prefix: str, what: str) -> None:
    async def probe() -> bool | None:
        return True if await channel_named(client, prefix) is None else None

    await eventually(probe, what)


async def talking_until_hung_up(run: Killing) -> None:
    """Once Chloé's segment is decided, the caller and Chloé's transfer channel are the
    call's bridge; then the test hangs the caller up, and the call ends."""
    await stored(run.store, "SELECT 1 FROM segment_decisions WHERE segment = 2", "segment 2")
    call = await stored(run.store, "SELECT id, channel_id FROM calls", "the call")
    near = await channel_named(run.client, NEAR, "Up")
    bridge = await run.client.get_bridge(f"rc-{call['id']}")
    assert set(bridge.channels) == {call["channel_id"], near}
    await run.client.hangup(call["channel_id"])


def assert_carried_on(store: Path) -> None:
    """Alice's segment vaulted with its hash (the invariants checked the file); Chloé's
    decided with her id and not recorded, the caller's keys having gone unheard while
    the daemon was down; the call ended with Chloé as its agent."""
    (recording,) = rows(store, "SELECT segment, agent_id, state FROM recordings")
    assert recording == {"segment": 1, "agent_id": "alice", "state": "stored"}
    (later,) = rows(store, "SELECT segment, agent_id, record, reason FROM segment_decisions")
    assert later == {"segment": 2, "agent_id": "chloe", "record": 0, "reason": "keys_unheard"}
    (call,) = rows(store, "SELECT ended_at, agent_id FROM calls")
    assert call["ended_at"] is not None and call["agent_id"] == "chloe"


POINTS = ("did:StopRecording",)
CONFIG = {"target": "PJSIP/alice", "endpoint": "PJSIP/alice", "more_agents": CHLOE}


async def test_r1_r3_killed_between_the_refer_and_the_answer_nothing_is_stranded(
    site: SandboxSite, tmp_path: Path, phones: Switchboard
) -> None:
    """R1, R3: Alice transfers the caller to Chloé; the daemon is killed right after it
    asked Asterisk to stop Alice's segment, and restarted 1 s later. Chloé's phone
    answers once the restarted daemon carried the call on, and talks with the caller
    until they hang up; every phone's scenario ends well. Alice's segment is vaulted
    with its hash; Chloé's segment is decided with her id and not recorded, the
    caller's keys having gone unheard while the daemon was down."""
    async with killing("transfer", site, tmp_path, POINTS, **CONFIG) as run:
        await phones.transferring_agent("alice", [tone(AGENT_VOICE, 30000)], "xfer-chloe", 2000)
        chloe = await phones.agent("chloe", [tone(CHLOE_VOICE, 30000)], on_cue=True)
        trunk = await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], None)
        await run.kill_at_points()
        await run.restart()
        kind = AlertKind.CALL_CARRIED_ON.value
        await stored(run.store, f"SELECT 1 FROM alerts WHERE kind = '{kind}'", "carried on")  # noqa: S608
        await answer(run.client, chloe)
        await talking_until_hung_up(run)
        await trunk.finished(60)
        await run.settle()
        await phones.finished(10)
    assert_carried_on(run.store)


async def test_r1_r3_the_target_answering_while_the_daemon_is_down_is_carried_on(
    site: SandboxSite, tmp_path: Path, phones: Switchboard
) -> None:
    """R1, R3: killed at the same step, but Chloé answers while the daemon is down
    (after Alice's phone, told the transfer went through, hung up), and the daemon
    restarts only once Asterisk shows her channel up and bridged. The restarted daemon
    asks Asterisk who answered: the caller and Chloé keep talking, Alice's segment is
    vaulted with its hash, Chloé's segment is decided with her id and not recorded
    (her keys went unheard), and the call ends with Chloé as its agent."""
    async with killing("transfer-answered", site, tmp_path, POINTS, **CONFIG) as run:
        await phones.transferring_agent("alice", [tone(AGENT_VOICE, 30000)], "xfer-chloe", 2000)
        chloe = await phones.agent("chloe", [tone(CHLOE_VOICE, 30000)], on_cue=True)
        trunk = await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], None)
        await run.kill_at_points()
        await gone(run.client, "PJSIP/alice-", "Alice's phone hangs up after the transfer")
        await answer(run.client, chloe)
        await answered_and_bridged(run.client)
        await run.restart()
        await talking_until_hung_up(run)
        await trunk.finished(60)
        await run.settle()
        await phones.finished(10)
    assert_carried_on(run.store)


async def test_r1_r3_a7_a_caller_gone_while_the_daemon_is_down_ends_a_call_that_knows_the_target(
    site: SandboxSite, tmp_path: Path, phones: Switchboard
) -> None:
    """R1, R3, A7: killed at the same step; Chloé answers while the daemon is down, talks
    with the caller, and the caller hangs up before the restart. The restarted daemon
    asks Asterisk who answered before it ends the call: Chloé's segment is decided
    with her id (not recorded, her keys unheard), the call ends with her as its agent,
    her phone is hung up, and Alice's segment is vaulted with its hash."""
    async with killing("transfer-ended", site, tmp_path, POINTS, **CONFIG) as run:
        await phones.transferring_agent("alice", [tone(AGENT_VOICE, 30000)], "xfer-chloe", 2000)
        chloe = await phones.agent("chloe", [tone(CHLOE_VOICE, 30000)], on_cue=True)
        trunk = await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], None)
        await run.kill_at_points()
        await gone(run.client, "PJSIP/alice-", "Alice's phone hangs up after the transfer")
        await answer(run.client, chloe)
        await answered_and_bridged(run.client)
        call = await stored(run.store, "SELECT channel_id FROM calls", "the call")
        await run.client.hangup(call["channel_id"])
        await trunk.finished(60)
        await run.restart()
        await run.settle()
        await phones.finished(10)
    assert_carried_on(run.store)
