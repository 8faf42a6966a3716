"""The event router and the command executor together, against the fake ARI server, a
real store and a real vault: ARI events in, REST calls and store rows out."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from controller.ari.client import AriClient
from controller.ari.events import StreamConnected, parse_event
from controller.ari.models import Application
from controller.calls.executor import CommandExecutor
from controller.calls.inbound import InboundCall
from controller.calls.messages import CHANNELS_LOST
from controller.calls.router import CallContext, EventRouter
from controller.clock import ShiftedClock
from controller.recordings import LocalVault
from controller.secrets import Secret
from controller.store import SqliteStore, StoreThread
from tests.component.fake_ari import PASSWORD, FakeAri, Seen, channel, event
from tests.sites import ENV, load_site, site_config, write_site
from tests.waiting import eventually

# A Wednesday, 10:00 in Paris: inside Alice's published period.
OFFICE_HOURS = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
WAIT = 5.0


@dataclass
class WatchedAri(FakeAri):
    """The fake ARI server, with a way to wait for a request instead of sleeping."""

    def __post_init__(self) -> None:
        self.arrived = asyncio.Event()

    async def rest(self, request: web.Request) -> web.StreamResponse:
        response = await super().rest(request)
        self.arrived.set()
        return response

    async def seen(self, method: str, path: str) -> Seen:
        async def found() -> Seen:
            while True:
                for request in self.requests:
                    if request.method == method and request.path == path:
                        return request
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(found(), WAIT)

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests if r.path != "/ari/events"]


class AlwaysDrawn(random.Random):
    """Every sampling draw records; ids still come from a seeded generator."""

    def random(self) -> float:
        return 0.0


@dataclass
class Rig:
    fake: WatchedAri
    router: EventRouter
    executor: CommandExecutor
    store: StoreThread[SqliteStore]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    fake = WatchedAri()
    server = TestServer(fake.make_app())
    await server.start_server()
    data = site_config(tmp_path)
    data["ari"]["url"] = str(server.make_url("")).rstrip("/")
    config = load_site(write_site(tmp_path, data))
    # The fake server checks its own password, not the site's.
    config = dataclasses.replace(
        config, ari=dataclasses.replace(config.ari, password=Secret(PASSWORD, "env:TEST"))
    )
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path), SqliteStore.close
    )
    await store.start()
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    vault.prepare()
    config.recordings.asterisk_dir.mkdir(exist_ok=True)
    clock = ShiftedClock(OFFICE_HOURS)
    async with aiohttp.ClientSession() as session:
        client = AriClient(config.ari, session)
        executor = CommandExecutor(
            config=config, client=client, store=store, vault=vault, clock=clock
        )
        router = EventRouter(config=config, executor=executor, clock=clock, rng=AlwaysDrawn(7))
        try:
            yield Rig(fake, router, executor, store)
        finally:
            await router.close(grace=1.0)
            await executor.close(grace=1.0)
            await store.stop()
    await server.close()


async def send(rig: Rig, kind: str, **fields: Any) -> None:
    await rig.router.handle(parse_event(event(kind, **fields), time.monotonic()))


async def until(condition: Callable[[], bool]) -> None:
    """Lets the calls' tasks run until ``condition`` holds (never a fixed sleep)."""

    async def poll() -> None:
        # Not a timed wait: each turn just lets the other tasks take one step.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), WAIT)


def only_call(rig: Rig) -> tuple[str, CallContext]:
    [(call_id, ctx)] = rig.router.calls.items()
    return call_id, ctx


async def idle(ctx: CallContext) -> None:
    await until(lambda: ctx.queue.empty() and not ctx.lock.locked())


CALLER = channel("caller-1", number="0612345678")


async def connected_and_recording(rig: Rig) -> tuple[str, CallContext, str]:
    """Drives a call through the announcement to a bridged, recorded conversation."""
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, ctx = only_call(rig)
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    await send(rig, "PlaybackFinished", playback={"id": f"rc-{call_id}-p1", "state": "done"})
    await rig.fake.seen("POST", "/ari/channels")
    agent = channel(f"rc-{call_id}-agent", name="PJSIP/alice-00000001")
    await send(rig, "StasisStart", channel=agent, args=["agent", call_id])
    record = await rig.fake.seen("POST", f"/ari/bridges/rc-{call_id}/record")
    name = record.query["name"]
    await send(rig, "RecordingStarted", recording={"name": name, "state": "recording"})
    await idle(ctx)
    return call_id, ctx, name


# -- router ----------------------------------------------------------------------------
async def test_inbound_call_is_answered_then_announced_C1(rig: Rig) -> None:
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, _ = only_call(rig)
    play = await rig.fake.seen("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    assert play.query["media"] == "sound:reccontrol/fr/announce"
    paths = rig.fake.paths()
    assert paths.index(("POST", "/ari/channels/caller-1/answer")) < paths.index(
        ("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    )
    # Nothing is dialled, bridged or recorded before the announcement ends (C1).
    assert not any(path.startswith("/ari/bridges") for _, path in paths)


async def test_unknown_service_goes_back_to_the_dialplan_unrecorded(rig: Rig) -> None:
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "no-such-service"])
    # Handled inline: both requests are done when the handler returns.
    assert rig.fake.paths() == [
        ("POST", "/ari/channels/caller-1/variable"),
        ("POST", "/ari/channels/caller-1/continue"),
    ]
    assert rig.fake.requests[0].query == {"variable": "RECCONTROL_RESULT", "value": "unhandled"}
    assert rig.router.calls == {}


async def test_agent_channel_for_a_finished_call_is_hung_up(rig: Rig) -> None:
    await send(rig, "StasisStart", channel=channel("stray"), args=["agent", "0123456789abcdef"])
    assert rig.fake.paths() == [("DELETE", "/ari/channels/stray")]


async def test_private_outbound_call_is_counted_and_continued_A2(rig: Rig) -> None:
    private = channel("priv-1", name="PJSIP/alice-00000009")
    await send(rig, "StasisStart", channel=private, args=["private-outbound"])
    assert rig.fake.paths() == [("POST", "/ari/channels/priv-1/continue")]
    assert rig.router.calls == {}


async def test_opt_out_key_discards_inline_in_the_event_handler_C2(rig: Rig) -> None:
    """The hot-path rule: the discard's REST call is done when the key's event handler
    returns, without waiting for the call's task; its reaction time is measured."""
    _, ctx, name = await connected_and_recording(rig)
    before = len(rig.fake.requests)
    await send(rig, "ChannelDtmfReceived", channel=CALLER, digit="9", duration_ms=100)
    after = [(r.method, r.path) for r in rig.fake.requests[before:]]
    assert after[0] == ("DELETE", f"/ari/recordings/live/{name}")
    assert len(rig.executor.reaction_times_ms) == 1
    assert 0 <= rig.executor.reaction_times_ms[0] < 1000
    assert ctx.machine.recording is not None and ctx.machine.recording.state == "discarded"


async def test_caller_hang_up_stops_the_recording_and_ends_the_call(rig: Rig) -> None:
    call_id, _, name = await connected_and_recording(rig)
    await send(rig, "StasisEnd", channel=CALLER)
    await rig.fake.seen("POST", f"/ari/recordings/live/{name}/stop")
    await rig.fake.seen("DELETE", f"/ari/channels/rc-{call_id}-agent")
    await rig.fake.seen("DELETE", f"/ari/bridges/rc-{call_id}")
    await send(rig, "StasisEnd", channel=channel(f"rc-{call_id}-agent"))
    await send(rig, "RecordingFinished", recording={"name": name, "state": "done"})
    await until(lambda: rig.router.calls == {})
    # Events for a forgotten call reach nothing.
    await send(rig, "ChannelDtmfReceived", channel=CALLER, digit="9", duration_ms=100)
    assert rig.executor.reaction_times_ms == []


async def test_refused_originate_hands_the_caller_back(rig: Rig) -> None:
    """A REST failure comes back to the call as a message: here the agent cannot be
    dialled, so the caller goes on through the dialplan, unrecorded."""
    rig.fake.answers[("POST", "/ari/channels")] = (500, {"message": "Allocation failed"})
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, _ = only_call(rig)
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    await send(rig, "PlaybackFinished", playback={"id": f"rc-{call_id}-p1", "state": "done"})
    await rig.fake.seen("POST", "/ari/channels/caller-1/continue")
    variable = await rig.fake.seen("POST", "/ari/channels/caller-1/variable")
    assert variable.query["value"] == "unhandled"
    await until(lambda: rig.router.calls == {})


async def test_reconnect_ends_calls_whose_channels_vanished(rig: Rig) -> None:
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, _ = only_call(rig)
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    await rig.router.handle(_stream_connected([]))
    await until(lambda: rig.router.calls == {})


async def test_r1_resync_spares_an_agent_leg_not_dialled_yet(rig: Rig) -> None:
    """R1: a reconnect during the announcement. The agent leg is not dialled yet, so
    Asterisk lists no such channel; it must not be declared gone, or the agent answering
    later would be left alone in Stasis."""
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, ctx = only_call(rig)
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    rig.fake.answers[("GET", "/ari/channels")] = (200, [CALLER])
    await rig.router.handle(_stream_connected(["caller-1"]))
    await rig.fake.seen("GET", "/ari/channels")
    await idle(ctx)
    assert call_id in rig.router.calls and isinstance(ctx.machine, InboundCall)
    assert not ctx.machine.agent_gone and not ctx.machine.caller_gone


async def test_r1_resync_ends_nothing_when_asterisk_cannot_list_channels(rig: Rig) -> None:
    """Absent from the application is not gone from Asterisk: without GET /channels the
    resync cannot tell, so no call is ended on a guess."""
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, ctx = only_call(rig)
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    rig.fake.answers[("GET", "/ari/channels")] = (500, {"message": "boom"})
    await rig.router.handle(_stream_connected([]))
    await idle(ctx)
    assert call_id in rig.router.calls and isinstance(ctx.machine, InboundCall)
    assert not ctx.machine.caller_gone


async def test_r1_every_channel_gone_at_a_resync_is_a_lost_call(rig: Rig) -> None:
    """R1: every channel of the call vanished while the daemon could not hear Asterisk
    (it was killed and started again): nobody hung up, the call was lost."""
    _, ctx, _ = await connected_and_recording(rig)
    rig.fake.answers[("GET", "/ari/channels")] = (200, [])
    await rig.router.handle(_stream_connected([]))
    await idle(ctx)
    assert isinstance(ctx.machine, InboundCall)
    assert ctx.machine.caller_gone and ctx.machine.agent_gone
    assert ctx.machine.outcome == CHANNELS_LOST


async def test_r1_caller_gone_at_a_resync_while_the_agent_stays_hung_up(rig: Rig) -> None:
    call_id, ctx, _ = await connected_and_recording(rig)
    agent = channel(f"rc-{call_id}-agent", name="PJSIP/alice-00000001")
    rig.fake.answers[("GET", "/ari/channels")] = (200, [agent])
    await rig.router.handle(_stream_connected([agent["id"]]))
    await idle(ctx)
    assert isinstance(ctx.machine, InboundCall)
    assert ctx.machine.caller_gone and ctx.machine.outcome == "caller_hung_up"


def _stream_connected(channel_ids: list[str]) -> StreamConnected:
    state = Application("reccontrol", tuple(channel_ids), ())
    return StreamConnected("StreamConnected", "reccontrol", "", 0.0, state=state, reconnect=True)


async def test_c4_objection_kept_under_an_earlier_form_still_stops_recording(rig: Rig) -> None:
    """C4: releases that hashed a bare international caller id as it came
    (``447911123456``) kept its objection under that HMAC; the caller's next call, now
    hashed as ``+447911123456``, still finds it and is not recorded."""
    key = ENV["RECCONTROL_HMAC_KEY"].encode()
    earlier = hmac.new(key, b"447911123456", hashlib.sha256).hexdigest()
    objected_at = OFFICE_HOURS - dt.timedelta(days=30)
    await rig.store.run(lambda s: s.remember_objection(earlier, objected_at, 365))

    caller = channel("caller-44", number="447911123456")
    await send(rig, "StasisStart", channel=caller, args=["inbound", "sales"])
    call_id, _ = only_call(rig)
    await rig.fake.seen("POST", f"/ari/channels/caller-44/play/rc-{call_id}-p1")
    await send(rig, "PlaybackFinished", playback={"id": f"rc-{call_id}-p1", "state": "done"})
    await rig.fake.seen("POST", "/ari/channels")
    agent = channel(f"rc-{call_id}-agent", name="PJSIP/alice-00000001")
    await send(rig, "StasisStart", channel=agent, args=["agent", call_id])

    async def decided() -> dict[str, Any] | None:
        summary = await rig.store.run(lambda s: s.call_summary(call_id))
        return summary["decision"] if summary and summary["decision"] else None

    decision = await eventually(decided, "the recording decision")
    assert (decision["record"], decision["reason"]) == (0, "remembered_objection")
    assert not any(path.endswith("/record") for _, path in rig.fake.paths())
