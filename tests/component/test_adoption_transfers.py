"""R1, R3, A7: a restarted daemon and the transfers of the calls it carries on, at moments
a real Asterisk cannot be made to hold on demand.

* A call carried on mid-transfer whose caller hung up while the daemon was down: who
  answered the transfer is asked of Asterisk on a task of its own. The call ends only
  once Asterisk said, naming the target as its agent, while the rest of the recovery
  (the resync releasing a channel nobody owns) never waits for that answer; Asterisk
  silent, the call ends anyway after a bounded wait, without knowing.
* A transfer made while its call is still being adopted: its ``StasisStart`` and the
  state changes of its channel wait for the call, as its keys do, and are handled once
  the call is carried on: the transfer is the call's, never a stranger handed back to
  the dialplan, and whoever answers is decided on.

The fake ARI holds back one answer (the transfer's channel, or the bridges the adoption
reads) until the test lets it go, so "while Asterisk has not answered" is a state the
test controls, not a race."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controller.ari.events import StreamConnected, parse_event
from controller.ari.models import Application
from controller.calls import transfer_routing
from controller.records import CallStart, Decision
from controller.store import SqliteStore
from tests.component.fake_ari import channel, event
from tests.component.test_call_router import WAIT, Rig, WatchedAri, running_rig
from tests.waiting import eventually

STARTED = dt.datetime(2026, 12, 2, 8, 50, tzinfo=dt.UTC)
CALL = "c0ffee0000000001"
CALLER = "caller-1"
AGENT = f"rc-{CALL}-agent"
NEAR = "xfer-near"
"""The transfer's ``Local …;1`` channel, in the call's bridge in place of Alice."""
FAR = "xfer-far"
"""Its ``;2`` half, which dialled Chloé."""
STRANGER = "stranger-1"
"""A channel in the application that no call owns: the resync hands it back."""
LOCAL = "Local/xfer-chloe@sim-00000001"
ANYTIME = [{"days": "daily", "from": "00:00", "to": "24:00"}]
CHLOE = {"chloe": {"name": "Chloé Roux", "endpoints": ["PJSIP/chloe"], "windows": ANYTIME}}


@dataclass
class HeldAri(WatchedAri):
    """Holds the answer to the requests on ``held`` (method, path) until
    :meth:`let_go`; :attr:`asked` is set once one of them arrived. A channel variable
    read is answered from :attr:`variables` (empty if not there)."""

    held: set[tuple[str, str]] = field(default_factory=set)
    variables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.asked = asyncio.Event()
        self.gone = asyncio.Event()

    async def rest(self, request: web.Request) -> web.StreamResponse:
        if (request.method, request.path) in self.held:
            self.asked.set()
            await self.gone.wait()
        if request.method == "GET" and request.path.endswith("/variable"):
            value = self.variables.get(request.query.get("variable", ""), "")
            return web.json_response({"value": value})
        return await super().rest(request)

    def let_go(self) -> None:
        self.gone.set()


def in_stasis(channel_id: str, name: str, state: str = "Up") -> dict[str, Any]:
    found = channel(channel_id, name=name)
    found["state"] = state
    found["dialplan"] = {**found["dialplan"], "app_name": "Stasis"}
    return found


def far_half() -> dict[str, Any]:
    found = channel(FAR, name=f"{LOCAL};2")
    found["state"] = "Up"
    found["dialplan"] = {**found["dialplan"], "app_name": "Dial"}
    return found


def left_open(store: SqliteStore) -> None:
    """The call a killed daemon left open: Alice's segment decided (not recorded)."""
    store.begin_call(CallStart(CALL, "sales", "inbound", STARTED, "caller-hash", CALLER), "v1")
    decision = Decision(CALL, STARTED, False, "not_sampled", 0.5, 0.9, True, "", "alice")
    store.record_decision(decision)


def asterisk_has(fake: HeldAri, channels: list[dict[str, Any]], bridged: list[str]) -> None:
    fake.answers[("GET", "/ari/channels")] = (200, channels)
    fake.answers[("GET", "/ari/bridges")] = (200, [{"id": f"rc-{CALL}", "channels": bridged}])
    for found in channels:
        fake.answers[("GET", f"/ari/channels/{found['id']}")] = (200, found)
    # On the far half: the channel Dial() reached is Chloé's phone (A7).
    fake.variables["DIALEDPEERNAME"] = "PJSIP/chloe-00000002"
    fake.channel_ids = [ch["id"] for ch in channels if ch["dialplan"].get("app_name") == "Stasis"]
    fake.registered = True


def connected(fake: HeldAri) -> StreamConnected:
    state = Application("reccontrol", tuple(fake.channel_ids), ())
    return StreamConnected("StreamConnected", "reccontrol", "", 0.0, state=state, reconnect=False)


@dataclass
class Restarted:
    rig: Rig
    fake: HeldAri
    store: Path

    def rows(self, query: str) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.store}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(query)]

    def call(self) -> dict[str, Any]:
        (row,) = self.rows("SELECT ended_at, agent_id FROM calls")
        return row

    async def ended(self) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            row = self.call()
            return row if row["ended_at"] is not None else None

        return await eventually(probe, "the call ended")

    def later_segments(self) -> list[dict[str, Any]]:
        return self.rows("SELECT segment, agent_id, record, reason FROM segment_decisions")

    async def send(self, kind: str, **fields: Any) -> None:
        await self.rig.router.handle(parse_event(event(kind, **fields), time.monotonic()))


@pytest.fixture
async def restarted(tmp_path: Path) -> AsyncIterator[Restarted]:
    fake = HeldAri()
    async with running_rig(tmp_path, fake=fake, more_agents=CHLOE) as rig:
        await rig.store.run(left_open)
        try:
            yield Restarted(rig, fake, tmp_path / "store.sqlite3")
        finally:
            fake.let_go()


def caller_gone_chloe_talking(fake: HeldAri) -> None:
    """What Asterisk has after the caller hung up while the daemon was down: the
    transfer's channel alone in the call's bridge, up (Chloé answered), its far half
    bridged with her; Alice's channel gone; a stranger in the application. Asterisk's
    answer about the transfer's channel is held back."""
    near = in_stasis(NEAR, f"{LOCAL};1")
    asterisk_has(fake, [near, far_half(), in_stasis(STRANGER, "PJSIP/trunk-00000009")], [NEAR])
    fake.held.add(("GET", f"/ari/channels/{NEAR}"))


async def test_r1_r3_a7_a_caller_gone_meanwhile_ends_the_call_once_asterisk_named_the_target(
    restarted: Restarted,
) -> None:
    """R1, R3, A7: the call is carried on with the transfer's channel as its agent leg,
    its caller gone. While Asterisk has not said who answered the transfer, the rest of
    the recovery goes on (the resync hands the stranger back to the dialplan) and the
    call stays open; once it says, Chloé's segment is decided with her id (not recorded:
    her keys went unheard), the call ends naming her, and her channel is hung up."""
    rig, fake = restarted.rig, restarted.fake
    caller_gone_chloe_talking(fake)
    await rig.router.handle(connected(fake))
    await fake.seen("POST", f"/ari/channels/{STRANGER}/continue")
    assert rig.router.adopted.is_set() and fake.asked.is_set()
    assert restarted.call()["ended_at"] is None

    fake.let_go()
    call = await restarted.ended()
    assert call["agent_id"] == "chloe"
    assert restarted.later_segments() == [
        {"segment": 2, "agent_id": "chloe", "record": 0, "reason": "keys_unheard"}
    ]
    await fake.seen("DELETE", f"/ari/channels/{NEAR}")


async def test_r1_r3_asterisk_silent_about_the_transfer_the_call_ends_in_bounded_time(
    restarted: Restarted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R1, R3: Asterisk never says who answered (the link cut again): once the bounded
    wait is over the call ends without knowing, nothing decided nor recorded for the
    party behind the transfer, and its channel is hung up: nothing is stranded."""
    monkeypatch.setattr(transfer_routing, "ASKING_SECONDS", 0.5)
    rig, fake = restarted.rig, restarted.fake
    caller_gone_chloe_talking(fake)
    await rig.router.handle(connected(fake))
    await restarted.ended()
    assert fake.asked.is_set()
    assert restarted.later_segments() == []
    await fake.seen("DELETE", f"/ari/channels/{NEAR}")


@pytest.mark.parametrize("bridged", [AGENT, NEAR], ids=["before-the-swap", "after-the-swap"])
async def test_r1_r3_a_transfer_made_while_its_call_is_adopted_waits_for_it(
    restarted: Restarted, bridged: str
) -> None:
    """R1, R3, A7: Alice transfers the caller to Chloé while her call is still being
    adopted (Asterisk has not yet said what bridges it has). The transfer's
    ``StasisStart`` and its channel's answer wait for the call like its keys: the
    transfer's channel is never handed to the dialplan as a stranger, and once the call
    is carried on Chloé's segment is decided with her id. Whether the adoption saw
    Alice's channel in the bridge or, already, the transfer's, nothing is refused."""
    rig, fake = restarted.rig, restarted.fake
    caller = in_stasis(CALLER, "PJSIP/trunk-00000001")
    alice = in_stasis(AGENT, "PJSIP/alice-00000001")
    near = in_stasis(NEAR, f"{LOCAL};1", state="Ring")
    asterisk_has(fake, [caller, alice, near, far_half()], [CALLER, bridged])
    fake.held.add(("GET", "/ari/bridges"))
    await rig.router.handle(connected(fake))
    await asyncio.wait_for(fake.asked.wait(), WAIT)
    assert CALL in rig.router.adoption.pending

    await restarted.send("StasisStart", channel=near, args=[], replace_channel=alice)
    await restarted.send("ChannelStateChange", channel={**near, "state": "Up"})
    assert CALL not in rig.router.calls

    fake.let_go()
    await asyncio.wait_for(rig.router.adopted.wait(), WAIT)

    async def decided() -> list[dict[str, Any]] | None:
        return restarted.rows("SELECT segment, agent_id FROM segment_decisions") or None

    assert await eventually(decided, "Chloé's segment decided") == [
        {"segment": 2, "agent_id": "chloe"}
    ]
    assert ("POST", f"/ari/channels/{NEAR}/continue") not in fake.paths()
    assert rig.router.refused == 0
