"""The agent's pause key through the router and the executor, against the fake ARI
(A5, M2): the pause is sent before the call's machine hears the key, as a bare client
sends it, and from the events stream's first look at the frame when the call armed it;
the machine then hears the key and whatever came for the call meanwhile, in that order;
a pause Asterisk refuses, or never answers, goes back to the call as any failed request
does, and the pause's limit still resumes the recording."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controller.ari.events import ChannelDtmfReceived, Event, StreamConnected
from controller.ari.stream import EventStream, FirstLook
from controller.calls import messages as m
from controller.calls.router import CallContext
from tests.component.fake_ari import Seen, event
from tests.component.test_call_router import (
    Rig,
    WatchedAri,
    connected_and_recording,
    idle,
    running_rig,
    send,
    stored_call,
    until,
)

LIVE = "/ari/recordings/live/"


@dataclass
class KeyedAri(WatchedAri):
    """The fake ARI, telling a test each request as it arrives (before it is answered),
    and leaving the requests to ``hung`` paths without an answer."""

    arriving: list[Callable[[Seen], None]] = field(default_factory=list)
    hung: set[str] = field(default_factory=set)

    async def rest(self, request: web.Request) -> web.StreamResponse:
        if request.path in self.hung:
            self.requests.append(Seen(request.method, request.path, dict(request.query), ""))
            await asyncio.Event().wait()
        for hook in self.arriving:
            hook(Seen(request.method, request.path, dict(request.query), ""))
        return await super().rest(request)


@dataclass
class Keyed:
    rig: Rig
    fake: KeyedAri
    call_id: str
    ctx: CallContext
    name: str

    @property
    def agent(self) -> dict[str, Any]:
        return {"id": f"rc-{self.call_id}-agent", "name": "PJSIP/alice-00000001", "state": "Up"}

    async def key(self, digit: str) -> None:
        await send(self.rig, "ChannelDtmfReceived", channel=self.agent, digit=digit, duration_ms=90)


@asynccontextmanager
async def keyed(tmp_path: Path, **changes: Any) -> AsyncIterator[Keyed]:
    fake = KeyedAri()
    async with running_rig(tmp_path, fake=fake, **changes) as rig:
        call_id, ctx, name = await connected_and_recording(rig)
        yield Keyed(rig, fake, call_id, ctx, name)


@pytest.fixture
async def call(tmp_path: Path) -> AsyncIterator[Keyed]:
    async with keyed(tmp_path) as running:
        yield running


async def test_a5_m2_the_pause_leaves_before_the_call_hears_its_key(call: Keyed) -> None:
    """The pause's POST is the first request of the key, sent while the call's machine
    has not heard the key yet (no pause open in it); then the rest of the key's batch:
    the pause row, the agent's tone. Its time from the key is measured."""
    await call.key("*")
    await idle(call.ctx)
    before = len(call.fake.requests)
    open_at_the_post: list[object] = []

    def at_pause(seen: Seen) -> None:
        if seen.path.endswith("/pause"):
            open_at_the_post.append(call.ctx.machine.rec.pause)

    call.fake.arriving.append(at_pause)
    await call.key("2")
    first = call.fake.requests[before]
    assert (first.method, first.path) == ("POST", f"{LIVE}{call.name}/pause")
    assert open_at_the_post == [None]
    assert call.rig.executor.reaction_times_ms.count == 1
    await idle(call.ctx)
    after = [(r.method, r.path) for r in call.fake.requests[before:]]
    assert [p for p in after if p[1].startswith(LIVE)] == [("POST", f"{LIVE}{call.name}/pause")]
    assert any(path.endswith("/play") or "/play/" in path for _, path in after[1:])
    (pause,) = (await stored_call(call.rig, call.call_id))["pauses"]
    assert pause["reason"] == "agent_key"


async def test_a5_m2_s8_what_comes_for_the_call_while_its_pause_is_sent_is_heard_after_the_key(
    call: Keyed,
) -> None:
    """A supervisor asking to listen while the pause is on its way is heard after the
    key, as when the machine ran first: the call is paused, so the listening is refused
    and nothing snoops on the agent (S8)."""
    await call.key("*")
    await idle(call.ctx)

    def listen_meanwhile(seen: Seen) -> None:
        if seen.path.endswith("/pause"):
            call.rig.router.feed(call.call_id, m.ListenRequested("mleroy", "PJSIP/sup-mleroy"))

    call.fake.arriving.append(listen_meanwhile)
    await call.key("2")
    await idle(call.ctx)
    assert not any("/snoop/" in path and "snoop1" in path for _, path in call.fake.paths())
    assert call.ctx.machine.listening.session is None
    # The resume key is heard as usual afterwards.
    await call.key("*")
    await call.key("3")
    await call.fake.seen("DELETE", f"{LIVE}{call.name}/pause")


@pytest.mark.parametrize("answer", ["refused", "no answer"])
async def test_a5_m2_a_pause_asterisk_fails_goes_back_to_the_call_and_its_limit_still_resumes(
    tmp_path: Path, answer: str
) -> None:
    """A pause Asterisk answers 500 to, or never answers within the request timeout,
    is a failed request for the call as before: no reaction time, the rest of the key's
    batch runs (the pause row and its limit), and at the limit the recording is resumed
    with a pause_timeout alert (A5, M2)."""
    changes: dict[str, Any] = {"sales": {"pause": {"max_seconds": 5}}}
    if answer == "no answer":
        changes["ari"] = {"request_timeout": 0.5}
    async with keyed(tmp_path, **changes) as running:
        pause_path = f"{LIVE}{running.name}/pause"
        if answer == "refused":
            running.fake.answers[("POST", pause_path)] = (500, {"message": "Internal error"})
        else:
            running.fake.hung.add(pause_path)
        await running.key("*")
        await running.key("2")
        assert running.rig.executor.reaction_times_ms.count == 0
        await idle(running.ctx)
        (pause,) = (await stored_call(running.rig, running.call_id))["pauses"]
        assert pause["reason"] == "agent_key"
        running.fake.hung.clear()
        await running.fake.seen("DELETE", pause_path)
        await until(lambda: running.ctx.machine.rec.pause is None)
        await idle(running.ctx)
        stored = await stored_call(running.rig, running.call_id)
        (pause,) = stored["pauses"]
        assert pause["resumed_by"] == "timeout"
        assert [a["kind"] for a in stored["alerts"]] == ["pause_timeout"]


@asynccontextmanager
async def streamed(call: Keyed, look: FirstLook | None = None) -> AsyncIterator[list[Event]]:
    """The call's events from here on come through a real events stream whose first look
    is the router's (or ``look``), as in the daemon; yields the events the router was
    handed."""
    stream = EventStream(call.rig.client)
    stream.first_look = look or call.rig.router.first_look
    handed: list[Event] = []

    async def consume() -> None:
        async for ev in stream:
            if isinstance(ev, StreamConnected):
                continue  # no resync here: the call's channels are the fake's to make up
            handed.append(ev)
            await call.rig.router.handle(ev)

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(call.fake.connected.wait(), 10)
    try:
        yield handed
    finally:
        await stream.close()
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)


def dtmf_frame(call: Keyed, digit: str) -> dict[str, Any]:
    return event("ChannelDtmfReceived", channel=call.agent, digit=digit, duration_ms=90)


async def test_a5_m2_an_armed_pause_leaves_from_the_first_look_and_its_key_is_heard_once(
    call: Keyed,
) -> None:
    """Over the events stream: the ``*`` arms the call; the ``2``'s pause is asked of
    Asterisk from the stream's first look, before the key's event reaches the router,
    which then leaves it alone: one pause, one pause row, one reaction time."""
    async with streamed(call) as handed:
        await call.fake.send(dtmf_frame(call, "*"))
        await until(lambda: len(handed) == 1)
        await idle(call.ctx)
        assert call.ctx.machine.armed is not None
        before = len(call.fake.requests)
        keys_handed_at_the_post: list[int] = []

        def at_pause(seen: Seen) -> None:
            if seen.path.endswith("/pause"):
                keys_handed_at_the_post.append(len(handed))

        call.fake.arriving.append(at_pause)
        await call.fake.send(dtmf_frame(call, "2"))
        await until(lambda: len(handed) == 2)
        await idle(call.ctx)
        assert isinstance(handed[1], ChannelDtmfReceived) and handed[1].digit == "2"
        assert keys_handed_at_the_post == [1]  # the 2's event came after its pause
        after = [(r.method, r.path) for r in call.fake.requests[before:]]
        assert after[0] == ("POST", f"{LIVE}{call.name}/pause")
        assert [p for p in after if p[1].startswith(LIVE)] == [after[0]]
        assert call.rig.executor.reaction_times_ms.count == 1
        (pause,) = (await stored_call(call.rig, call.call_id))["pauses"]
        assert pause["reason"] == "agent_key"
        # The resume key goes the usual way, through the event.
        await call.fake.send(dtmf_frame(call, "*"))
        await call.fake.send(dtmf_frame(call, "3"))
        await call.fake.seen("DELETE", f"{LIVE}{call.name}/pause")


async def test_a5_m2_r2_the_first_look_leaves_every_other_frame_to_its_event(call: Keyed) -> None:
    """Another application's key, a frame whose channel is no string, a key the call did
    not arm, a caller's key: nothing is sent from the first look (R2: another
    application's frame is refused by the router, as before)."""
    look = call.rig.router.first_look
    await call.key("*")
    await idle(call.ctx)
    now = call.ctx.machine.armed.since if call.ctx.machine.armed else 0.0
    two = dtmf_frame(call, "2")
    assert look(two | {"application": "someone-else"}, now) is None
    assert look(two | {"channel": {"id": ["not", "a", "string"]}}, now) is None
    assert look(two | {"digit": 2}, now) is None
    assert look(dtmf_frame(call, "3"), now) is None
    caller = event("ChannelDtmfReceived", channel={"id": "caller-1"}, digit="2", duration_ms=90)
    assert look(caller, now) is None
    assert look(two, now + 5.0) is None  # past the inter-digit timeout: the event decides
    assert look(event("StasisStart", channel=call.agent, args=["agent"]), now) is None
    ahead = look(two, now)
    assert ahead is not None
    await ahead
    assert (await stored_call(call.rig, call.call_id))["pauses"] != []


async def test_a5_a_first_look_that_fails_leaves_the_frame_to_its_event(call: Keyed) -> None:
    """Whatever the first look does, the frame's event still reaches the router: a look
    that raises is logged, and the key is handled from its event as before."""

    def broken(data: dict[str, Any], received: float) -> None:
        raise RuntimeError("broken look")

    async with streamed(call, broken) as handed:
        await call.fake.send(dtmf_frame(call, "*"))
        await call.fake.send(dtmf_frame(call, "2"))
        await until(lambda: len(handed) == 2)
        await call.fake.seen("POST", f"{LIVE}{call.name}/pause")
