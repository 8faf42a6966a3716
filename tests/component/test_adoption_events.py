"""R1, A5, A2, C2: a restarted daemon adopts the calls a previous run left open beside
the events, not inside their handler: a protective key on a call already carried on acts
at once while the others are still being adopted, and a key on a call not yet adopted is
held for it and honoured, in order, once it is. Each call's recording, paused through the
restart, is discarded as its call is carried on (the caller may have objected unheard).
A call Asterisk could not say enough about is left for the next connection, untouched by
the resync meanwhile.

The fake ARI holds Asterisk's answers about the recordings behind a gate the test opens,
so "while the others are being adopted" is a state the test controls, not a race."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controller.ari.events import Event, StreamConnected, parse_event
from controller.ari.models import Application
from controller.records import CallStart, Decision
from controller.store import SqliteStore
from tests.component.fake_ari import channel, event
from tests.component.test_call_router import WAIT, Rig, WatchedAri, running_rig, until

STARTED = dt.datetime(2026, 12, 2, 8, 50, tzinfo=dt.UTC)
CALLS = 40
LIVE = "/ari/recordings/live/"


@dataclass
class GatedAri(WatchedAri):
    """Answers a live recording's state only once its name is let through: the adoption
    of those calls waits meanwhile."""

    through: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.opened = asyncio.Event()

    async def rest(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.path.startswith(LIVE):
            while request.path.removeprefix(LIVE) not in self.through:
                self.opened.clear()
                await self.opened.wait()
        return await super().rest(request)

    def let_through(self, *names: str) -> None:
        self.through.update(names)
        self.opened.set()


def call_id(n: int) -> str:
    return f"ad{n:014x}"


def name_of(n: int) -> str:
    return f"rec{n:04d}"


def left_open(store: SqliteStore) -> None:
    """Calls a killed daemon left open: bridged, recording, paused by the agent (A5).
    Each one is carried on, its recording discarded (C2)."""
    for n in range(CALLS):
        started = STARTED + dt.timedelta(seconds=n)
        start = CallStart(call_id(n), "sales", "inbound", started, None, f"caller-{n}")
        store.begin_call(start, "v1")
        decision = Decision(call_id(n), started, True, "sampled", 1.0, 0.0, True, "", "alice")
        store.record_decision(decision)
        store.open_recording(
            f"r{n}", call_id(n), name_of(n), "wav", ("quality",), started, 30, 1, "alice"
        )
        store.open_pause(f"p{n}", f"r{n}", call_id(n), "alice", "agent_key", started)


def asterisk_has_them(fake: GatedAri) -> None:
    channels: list[dict[str, Any]] = []
    bridges = []
    for n in range(CALLS):
        caller, agent = f"caller-{n}", f"rc-{call_id(n)}-agent"
        channels += [channel(caller), channel(agent, name=f"PJSIP/alice-{n:08x}")]
        bridges.append({"id": f"rc-{call_id(n)}", "channels": [caller, agent]})
        state = {"name": name_of(n), "format": "wav", "state": "paused"}
        fake.answers[("GET", LIVE + name_of(n))] = (200, state)
    fake.answers[("GET", "/ari/channels")] = (200, channels)
    fake.answers[("GET", "/ari/bridges")] = (200, bridges)
    fake.channel_ids = [ch["id"] for ch in channels]


def connected(fake: GatedAri) -> StreamConnected:
    state = Application("reccontrol", tuple(fake.channel_ids), ())
    return StreamConnected("StreamConnected", "reccontrol", "", 0.0, state=state, reconnect=False)


def key(n: int, digit: str) -> Event:
    agent = channel(f"rc-{call_id(n)}-agent", name=f"PJSIP/alice-{n:08x}")
    frame = event("ChannelDtmfReceived", channel=agent, digit=digit, duration_ms=100)
    return parse_event(frame, time.monotonic())


@dataclass
class Restarted:
    rig: Rig
    fake: GatedAri
    events: asyncio.Queue[Event]
    """Events in the order the websocket delivers them: one handled after the other."""


@pytest.fixture
async def restarted(tmp_path: Path) -> AsyncIterator[Restarted]:
    fake = GatedAri()
    async with running_rig(tmp_path, fake=fake) as rig:
        fake.registered = True
        await rig.store.run(left_open)
        asterisk_has_them(fake)
        events: asyncio.Queue[Event] = asyncio.Queue()

        async def websocket() -> None:
            # As the events loop does: the next event only once the handler returned.
            while True:
                await rig.router.handle(await events.get())

        reader = asyncio.create_task(websocket())
        try:
            yield Restarted(rig, fake, events)
        finally:
            fake.let_through(*(name_of(n) for n in range(CALLS)))
            reader.cancel()


def cancelled(fake: GatedAri, n: int) -> bool:
    return ("DELETE", LIVE + name_of(n)) in fake.paths()


def sound(n: int, k: int) -> tuple[str, str]:
    """The ``k``-th sound to call ``n``'s agent: the first is the refused sound of its
    recording discarded at the adoption, the next one a key's."""
    agent = f"rc-{call_id(n)}-agent"
    return ("POST", f"/ari/channels/{agent}/play/rc-{call_id(n)}-f{k}")


def answered_refused(fake: GatedAri, n: int) -> bool:
    """The adoption's discard is done: the cancel, then the refused sound (f1)."""
    return cancelled(fake, n) and sound(n, 1) in fake.paths()


def answered(fake: GatedAri, n: int) -> bool:
    return sound(n, 2) in fake.paths()


async def test_r1_a2_a_key_on_a_call_already_adopted_acts_while_the_others_are_adopted(
    restarted: Restarted,
) -> None:
    """R1, A2: the first call is carried on while Asterisk has not yet said anything of
    the other calls' recordings (its own discarded, C2); its agent's private key
    (``*7``) is answered there and then, before the adoption of the others ends. Inside
    the events handler, the key waited behind the whole adoption."""
    rig, fake = restarted.rig, restarted.fake
    fake.let_through(name_of(0))
    restarted.events.put_nowait(connected(fake))
    await until(lambda: call_id(0) in rig.router.calls and answered_refused(fake, 0))
    for digit in "*7":
        restarted.events.put_nowait(key(0, digit))
    await until(lambda: answered(fake, 0))
    # The others are still waiting for Asterisk: none carried on, none touched.
    assert not rig.router.adopted.is_set()
    assert sorted(rig.router.calls) == [call_id(0)]
    assert not any(cancelled(fake, n) for n in range(1, CALLS))

    fake.let_through(*(name_of(n) for n in range(CALLS)))
    await asyncio.wait_for(rig.router.adopted.wait(), WAIT)
    assert len(rig.router.calls) == CALLS


async def test_r1_a2_a5_a_key_on_a_call_not_yet_adopted_is_held_and_honoured_in_order(
    restarted: Restarted,
) -> None:
    """R1, A2, A5: a key on a call still being adopted is neither dropped nor applied
    before the restart set the call straight: once the call is carried on, its stored
    pause is applied again first, then its recording is cancelled (C2), and only then is
    the private key answered. Keys also bring their call ahead of the others still
    waiting."""
    rig, fake = restarted.rig, restarted.fake
    last = CALLS - 1
    restarted.events.put_nowait(connected(fake))
    await until(lambda: bool(rig.router.adoption.pending))
    for digit in "*7":
        restarted.events.put_nowait(key(last, digit))
    await until(lambda: restarted.events.empty() and call_id(last) in rig.router.adoption.pending)
    assert not cancelled(fake, last) and call_id(last) not in rig.router.calls

    # Asterisk answers for the held call and for the first one only: the worker freed by
    # the first takes the held call next, ahead of every other one still waiting.
    fake.let_through(name_of(last), name_of(0))
    await until(lambda: answered(fake, last))
    assert not any(call_id(n) in rig.router.calls for n in range(1, CALLS - 1))

    fake.let_through(*(name_of(n) for n in range(CALLS)))
    await asyncio.wait_for(rig.router.adopted.wait(), WAIT)
    paths = fake.paths()
    pause_again = paths.index(("POST", f"{LIVE}{name_of(last)}/pause"))
    assert pause_again < paths.index(("DELETE", LIVE + name_of(last)))
    assert paths.index(("DELETE", LIVE + name_of(last))) < paths.index(sound(last, 2))
    assert paths.count(("DELETE", LIVE + name_of(last))) == 1
    # Every recording discarded (C2); only the call whose key was pressed answered it.
    assert all(cancelled(fake, n) for n in range(CALLS))
    assert [n for n in range(CALLS) if answered(fake, n)] == [last]
    assert len(rig.router.calls) == CALLS


async def test_r1_a_call_left_for_the_next_connection_is_no_stranger_to_the_resync(
    restarted: Restarted,
) -> None:
    """R1: Asterisk fails to say what became of one call's recording (a 500, as when the
    link breaks mid-adoption): that call is left for the next connection, neither
    carried on nor ended, for ending it on a guess would cut it. The resync that follows
    the adoption must not take its channels for strangers either: its agent is not hung
    up, its caller not handed to the dialplan, while a real stranger is. At the next
    connection the call is carried on."""
    rig, fake = restarted.rig, restarted.fake
    fake.answers[("GET", LIVE + name_of(0))] = (500, {"message": "Internal Server Error"})
    stranger = channel("stranger-1")
    fake.answers[("GET", "/ari/channels/stranger-1")] = (
        200,
        {**stranger, "dialplan": {**stranger["dialplan"], "app_name": "Stasis"}},
    )
    fake.channel_ids.append("stranger-1")
    fake.let_through(*(name_of(n) for n in range(CALLS)))
    restarted.events.put_nowait(connected(fake))
    await fake.seen("POST", "/ari/channels/stranger-1/continue")
    assert call_id(0) not in rig.router.calls and len(rig.router.calls) == CALLS - 1
    assert not rig.router.adopted.is_set()
    its_channels = ("/ari/channels/caller-0/", f"/ari/channels/rc-{call_id(0)}-agent")
    assert [path for path in fake.paths() if path[1].startswith(its_channels)] == []

    fake.answers[("GET", LIVE + name_of(0))] = (200, {"name": name_of(0), "state": "paused"})
    state = Application("reccontrol", tuple(fake.channel_ids), ())
    again = StreamConnected("StreamConnected", "reccontrol", "", 0.0, state=state, reconnect=True)
    restarted.events.put_nowait(again)
    await asyncio.wait_for(rig.router.adopted.wait(), WAIT)
    assert call_id(0) in rig.router.calls


async def test_r1_a_call_left_for_the_next_connection_is_tried_again_while_none_comes(
    restarted: Restarted,
) -> None:
    """R1, A5, C2: Asterisk failed once to say what became of one call's recording, and
    the connection stays up: no next connection will come to adopt the call. Nobody
    would hear its agent's pause key for the rest of the call. The daemon tries the call
    again by itself and carries it on: its recording, paused through the restart, is
    discarded (its keys went unheard), and the adoption is complete."""
    rig, fake = restarted.rig, restarted.fake
    fake.answers[("GET", LIVE + name_of(0))] = (500, {"message": "Internal Server Error"})
    fake.let_through(*(name_of(n) for n in range(CALLS)))
    restarted.events.put_nowait(connected(fake))
    await until(lambda: len(rig.router.calls) == CALLS - 1 and rig.router.adoption.left_for_later)
    assert call_id(0) not in rig.router.calls and not cancelled(fake, 0)
    assert not rig.router.adopted.is_set()

    fake.answers[("GET", LIVE + name_of(0))] = (200, {"name": name_of(0), "state": "paused"})
    await asyncio.wait_for(rig.router.adopted.wait(), WAIT)
    assert call_id(0) in rig.router.calls
    await fake.seen("DELETE", LIVE + name_of(0))
    assert fake.paths().count(("GET", LIVE + name_of(0))) == 2
