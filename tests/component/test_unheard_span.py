"""What the daemon did not hear while its events websocket was down (R1), against the
fake ARI server: the stream says from when events were lost, the router makes every
recording that ran meanwhile safe, and channels that entered the application unseen are
released (a caller back to the dialplan, a leg of ours hung up)."""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from controller.ari import AriClient, EventStream
from controller.ari.events import Event, StreamConnected
from controller.ari.models import Application
from controller.calls import gap
from controller.calls.call import Call
from tests.component.fake_ari import FakeAri, channel, event
from tests.component.test_ari_client import next_event, settings_for
from tests.component.test_call_router import (
    CALLER,
    Rig,
    connected_and_recording,
    idle,
    only_call,
    rig,
    send,
    until,
)
from tests.waiting import DEFAULT_WITHIN

__all__ = ["rig"]


def in_stasis(channel_id: str) -> dict[str, Any]:
    parked = channel(channel_id)
    parked["dialplan"] |= {"app_name": "Stasis", "app_data": "reccontrol,inbound,sales"}
    return parked


def reconnected(channel_ids: list[str], blind_since: float | None) -> StreamConnected:
    state = Application("reccontrol", tuple(channel_ids), ())
    return StreamConnected(
        "StreamConnected",
        "reccontrol",
        "",
        time.monotonic(),
        state=state,
        reconnect=True,
        blind_since=blind_since,
    )


async def test_r1_stream_reports_the_blind_span_from_the_last_frame_read() -> None:
    fake = FakeAri()
    server = TestServer(fake.make_app())
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        client = AriClient(settings_for(str(server.make_url("")).rstrip("/")), session)
        stream = EventStream(client, rng=random.Random(3))
        events = aiter(stream)
        first = await next_event(events)
        assert isinstance(first, StreamConnected) and first.blind_since is None
        await fake.send(event("StasisStart", args=["inbound", "sales"], channel=channel("c1")))
        await next_event(events)
        last_frame = stream.last_frame
        await fake.drop()
        dropped = time.monotonic()
        again = await next_event(events)
        assert isinstance(again, StreamConnected) and again.reconnect
        # Counted from the last frame read, not from when the loss was noticed.
        assert again.blind_since == last_frame and last_frame <= dropped
        await stream.close()
    await server.close()


async def test_r1_reconnect_discards_a_recording_that_ran_unheard(rig: Rig) -> None:
    call_id, ctx, name = await connected_and_recording(rig)
    agent = f"rc-{call_id}-agent"
    rig.fake.answers[("GET", "/ari/channels")] = (200, [CALLER, channel(agent)])
    before = len(rig.fake.requests)
    blind_since = time.monotonic() - 3.0
    await rig.router.handle(reconnected(["caller-1", agent], blind_since))
    await rig.fake.seen("DELETE", f"/ari/recordings/live/{name}")
    await idle(ctx)
    calls = [
        (r.method, r.path)
        for r in rig.fake.requests[before:]
        if r.path not in ("/ari/channels", "/ari/applications/reccontrol", "/ari/asterisk/info")
    ]
    # The cancel goes first; then the refused sound to the agent only.
    assert calls[0] == ("DELETE", f"/ari/recordings/live/{name}")
    assert calls[1][1].startswith(f"/ari/channels/{agent}/play/")
    # Store writes are queued to the store thread, in the background.
    async with asyncio.timeout(DEFAULT_WITHIN):
        while True:
            summary = await rig.store.run(lambda s: s.call_summary(call_id))
            assert summary is not None
            if summary["alerts"]:
                break
    alerted = time.monotonic()
    assert [a["kind"] for a in summary["alerts"]] == ["keys_unheard"]
    # The span said runs from the last frame read to the moment the call heard of the
    # gap: 3 s, plus however long a loaded machine took to get there (never less).
    (span,) = re.findall(r"went unheard for (\d+\.\d) s", summary["alerts"][0]["message"])
    assert 3.0 <= float(span) <= alerted - blind_since + 0.05
    assert [r["state"] for r in summary["recordings"]] == ["discarded"]
    # The call goes on: the resync found both channels, nothing ended.
    assert call_id in rig.router.calls


async def test_r1_asterisk_restarted_in_the_gap_discards_nothing(rig: Rig) -> None:
    """Asterisk's own restart ended its calls and dropped the link: no key could be
    pressed, nothing recorded, while the daemon could not hear, so the file is kept (to
    be vaulted when the call ends) rather than discarded."""
    call_id, ctx, name = await connected_and_recording(rig)
    agent = f"rc-{call_id}-agent"
    info = ("GET", "/ari/asterisk/info")
    rig.fake.answers[info] = (200, {"status": {"startup_time": "2026-11-30T08:00:00"}})
    first = StreamConnected(
        "StreamConnected",
        "reccontrol",
        "",
        0.0,
        state=Application("reccontrol", ("caller-1", agent), ()),
        reconnect=False,
    )
    rig.fake.answers[("GET", "/ari/channels")] = (200, [CALLER, channel(agent)])
    await rig.router.handle(first)
    rig.fake.answers[info] = (200, {"status": {"startup_time": "2026-11-30T09:00:00"}})
    rig.fake.answers[("GET", "/ari/channels")] = (200, [])
    await rig.router.handle(reconnected([], time.monotonic() - 3.0))
    await idle(ctx)
    assert not any(r.method == "DELETE" and name in r.path for r in rig.fake.requests)
    summary = await rig.store.run(lambda s: s.call_summary(call_id))
    assert summary is not None
    assert "keys_unheard" not in [a["kind"] for a in summary["alerts"]]


async def test_r1_first_connection_has_nothing_unheard(rig: Rig) -> None:
    _, ctx, name = await connected_and_recording(rig)
    state = Application("reccontrol", ("caller-1",), ())
    first = StreamConnected("StreamConnected", "reccontrol", "", 0.0, state=state, reconnect=False)
    rig.fake.answers[("GET", "/ari/channels")] = (200, [CALLER])
    await rig.router.handle(first)
    await idle(ctx)
    assert not any(r.method == "DELETE" and name in r.path for r in rig.fake.requests)


async def test_r1_strangers_are_released_once_and_a_leg_of_ours_hung_up(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gap, "GRACE", 0.0)
    strangers = ["stranger-1", "rc-0123abcd-agent", "watched-only"]
    rig.fake.registered = True
    rig.fake.channel_ids = list(strangers)
    rig.fake.answers[("GET", "/ari/channels/stranger-1")] = (200, in_stasis("stranger-1"))
    # Listed in the application but running dialplan (a far half, say): not ours to move.
    rig.fake.answers[("GET", "/ari/channels/watched-only")] = (200, channel("watched-only"))
    rig.fake.answers[("GET", "/ari/channels")] = (200, [channel(i) for i in strangers])
    await rig.router.handle(reconnected(strangers, None))
    await rig.fake.seen("POST", "/ari/channels/stranger-1/continue")
    await rig.fake.seen("DELETE", "/ari/channels/rc-0123abcd-agent")
    variable = await rig.fake.seen("POST", "/ari/channels/stranger-1/variable")
    assert variable.query == {"variable": "RECCONTROL_RESULT", "value": "unhandled"}
    # Idempotent: once released they are no longer in the application; asking again
    # sends nothing to those channels.
    rig.fake.channel_ids = []
    task = rig.router.release_strangers(strangers)
    assert task is not None
    await task
    touched = [r.path for r in rig.fake.requests if "stranger-1" in r.path and r.method == "POST"]
    assert touched == ["/ari/channels/stranger-1/variable", "/ari/channels/stranger-1/continue"]
    watched = [(r.method, r.path) for r in rig.fake.requests if "watched-only" in r.path]
    assert watched == [("GET", "/ari/channels/watched-only")]


async def test_r1_release_in_progress_is_not_started_twice(rig: Rig) -> None:
    rig.fake.registered = True
    rig.fake.channel_ids = ["stranger-2"]
    rig.fake.answers[("GET", "/ari/channels/stranger-2")] = (200, in_stasis("stranger-2"))
    first = rig.router.release_strangers(["stranger-2"])
    assert first is not None
    assert rig.router.release_strangers(["stranger-2"]) is None
    await first
    continued = [r for r in rig.fake.requests if r.path == "/ari/channels/stranger-2/continue"]
    assert len(continued) == 1


async def test_r1_a_stranger_whose_stasis_start_follows_is_not_released(rig: Rig) -> None:
    """The application listing may already show a caller whose StasisStart is queued
    on the new connection: within the grace it becomes a call and is left to it."""
    rig.fake.registered = True
    rig.fake.channel_ids = ["caller-1"]
    task = rig.router.release_strangers(["caller-1"])
    assert task is not None
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    await asyncio.wait_for(task, DEFAULT_WITHIN)
    assert not any(r.path == "/ari/channels/caller-1/continue" for r in rig.fake.requests)
    assert len(rig.router.calls) == 1


async def test_r1_announcement_that_ended_during_the_gap_lets_the_call_go_on(rig: Rig) -> None:
    """Its PlaybackFinished was lost: Asterisk no longer has the playback, so the call
    takes it as finished and dials the agent instead of waiting in silence."""
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, ctx = only_call(rig)
    playback = f"rc-{call_id}-p1"
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/{playback}")
    rig.fake.answers[("GET", f"/ari/playbacks/{playback}")] = (404, {"message": "not found"})
    rig.fake.answers[("GET", "/ari/channels")] = (200, [CALLER])
    await rig.router.handle(reconnected(["caller-1"], time.monotonic() - 1.0))
    await rig.fake.seen("GET", f"/ari/playbacks/{playback}")
    originate = await rig.fake.seen("POST", "/ari/channels")
    assert originate.query["channelId"] == f"rc-{call_id}-agent"
    await idle(ctx)


async def test_r1_announcement_still_playing_after_the_gap_is_waited_for(rig: Rig) -> None:
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, ctx = only_call(rig)
    playback = f"rc-{call_id}-p1"
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/{playback}")
    rig.fake.answers[("GET", f"/ari/playbacks/{playback}")] = (200, {"id": playback})
    rig.fake.answers[("GET", "/ari/channels")] = (200, [CALLER])
    await rig.router.handle(reconnected(["caller-1"], time.monotonic() - 1.0))
    await rig.fake.seen("GET", f"/ari/playbacks/{playback}")
    await idle(ctx)
    await until(lambda: not rig.router.gap.busy)
    assert ("POST", "/ari/channels") not in rig.fake.paths()


async def test_r1_agent_who_answered_during_the_gap_is_connected(rig: Rig) -> None:
    """The agent's StasisStart was lost: the leg sits in the application, so the call
    takes it as answered and bridges, rather than giving up on the agent."""
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, ctx = only_call(rig)
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    await send(rig, "PlaybackFinished", playback={"id": f"rc-{call_id}-p1", "state": "done"})
    await rig.fake.seen("POST", "/ari/channels")
    agent = f"rc-{call_id}-agent"
    answered = in_stasis(agent)
    answered["name"] = "PJSIP/alice-00000001"
    rig.fake.answers[("GET", f"/ari/channels/{agent}")] = (200, answered)
    rig.fake.answers[("GET", "/ari/channels")] = (200, [CALLER, answered])
    await rig.router.handle(reconnected(["caller-1", agent], None))
    await rig.fake.seen("POST", f"/ari/bridges/rc-{call_id}/addChannel")
    await idle(ctx)
    assert isinstance(ctx.machine, Call) and ctx.machine.agent_leg.up
    assert ctx.machine.agent is not None and ctx.machine.agent.id == "alice"


async def test_r1_consumer_replaced_by_the_watchdog_reports_the_blind_span_too() -> None:
    """The watchdog cancels a consumer whose probe never came back: the next connection
    counts the gap from the last frame the old one read."""
    fake = FakeAri()
    server = TestServer(fake.make_app())
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        client = AriClient(settings_for(str(server.make_url("")).rstrip("/")), session)
        stream = EventStream(client, rng=random.Random(4))
        first: asyncio.Queue[Event] = asyncio.Queue()

        async def consume() -> None:
            async for event in stream:
                first.put_nowait(event)

        consumer = asyncio.create_task(consume())
        assert isinstance(await asyncio.wait_for(first.get(), DEFAULT_WITHIN), StreamConnected)
        await fake.send(event("StasisStart", args=["inbound", "sales"], channel=channel("c1")))
        await asyncio.wait_for(first.get(), DEFAULT_WITHIN)
        last_frame = stream.last_frame
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        events = aiter(stream)
        again = await next_event(events)
        assert isinstance(again, StreamConnected) and again.reconnect
        assert again.blind_since == last_frame
        await stream.close()
    await server.close()
