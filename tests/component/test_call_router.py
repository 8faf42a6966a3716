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
from contextlib import asynccontextmanager
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
from controller.calls.asterisk_view import AsteriskView
from controller.calls.call import Call
from controller.calls.executor import CommandExecutor
from controller.calls.messages import CHANNELS_LOST, ListenRequested, PaymentRequested
from controller.calls.router import CallContext, EventRouter
from controller.clock import ShiftedClock
from controller.demo.payment_api import PaymentApi, make_certificates
from controller.payments.gateway import PaymentGateway
from controller.recordings import LocalVault
from controller.records import CallStart
from controller.secrets import Secret
from controller.store import SqliteStore, StoreThread
from tests.component.fake_ari import PASSWORD, FakeAri, Seen, channel, event
from tests.sites import ENV, load_site, site_config, write_site
from tests.waiting import DEFAULT_WITHIN, eventually

# A Wednesday, 10:00 in Paris: inside Alice's published period.
OFFICE_HOURS = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
WAIT = DEFAULT_WITHIN


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
    client: AriClient


@asynccontextmanager
async def running_rig(
    tmp_path: Path,
    payment_api: PaymentApi | None = None,
    fake: WatchedAri | None = None,
    more_agents: dict[str, Any] | None = None,
    sales: dict[str, Any] | None = None,
    ari: dict[str, Any] | None = None,
) -> AsyncIterator[Rig]:
    """The router and executor against the fake ARI (``fake``, or a new one); with
    ``payment_api``, the sales service takes payments through that API; with
    ``more_agents``, the site has those agents beside Alice; ``sales`` and ``ari``:
    settings of the sales service and of the ARI section changed."""
    fake = fake if fake is not None else WatchedAri()
    server = TestServer(fake.make_app())
    await server.start_server()
    data = site_config(tmp_path)
    data["ari"]["url"] = str(server.make_url("")).rstrip("/")
    data["agents"].update(more_agents or {})
    data["services"]["sales"].update(sales or {})
    data["ari"].update(ari or {})
    if payment_api is not None:
        prompts = {
            name: f"reccontrol/fr/pay-{name}"
            for name in ("number", "expiry", "cvv", "invalid", "approved", "declined")
        }
        prompts["unavailable"] = "reccontrol/fr/pay-unavailable"
        data["payment"] = {"api_url": payment_api.url, "prompts": prompts, "timeout": 2}
        data["payment"]["ca_bundle"] = str(payment_api.certificates.ca)
        data["services"]["sales"]["payments"] = True
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
        gateway = (
            PaymentGateway(config.payment, session) if config.payment is not None else None
        )
        executor = CommandExecutor(
            config=config, client=client, store=store, vault=vault, clock=clock, gateway=gateway
        )
        router = EventRouter(config=config, executor=executor, clock=clock, rng=AlwaysDrawn(7))
        try:
            yield Rig(fake, router, executor, store, client)
        finally:
            await router.close(grace=1.0)
            await executor.close(grace=1.0)
            await store.stop()
    await server.close()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path) as running:
        yield running


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
    """The agent leg the controller dialled for a call that is over: its id is the one
    the controller chose for it, so hanging it up hangs up nothing else."""
    stray = channel("rc-0123456789abcdef-agent")
    await send(rig, "StasisStart", channel=stray, args=["agent", "0123456789abcdef"])
    assert rig.fake.paths() == [("DELETE", "/ari/channels/rc-0123456789abcdef-agent")]


async def settled(rig: Rig) -> None:
    """Until the router's checks with Asterisk (a refused channel's release) are done."""
    await until(lambda: not rig.router.gap.busy)


def touching(rig: Rig, channel_id: str) -> list[tuple[str, str]]:
    """The REST calls made on a channel."""
    prefix = f"/ari/channels/{channel_id}"
    return [(m, p) for m, p in rig.fake.paths() if p == prefix or p.startswith(prefix + "/")]


@pytest.mark.parametrize(
    "args",
    [["agent", "0123456789abcdef"], ["inbound", "sales"], ["outbound", "sales", "0612345678"]],
    ids=["agent", "inbound", "outbound"],
)
async def test_r2_stasis_start_for_another_application_makes_no_rest_call(
    rig: Rig, args: list[str]
) -> None:
    """R2: a StasisStart whose ``application`` is not ours (a forged or misdirected
    frame) made the daemon hang up the channel it named, answer it, or dial for it. It
    is now counted and nothing is asked of Asterisk at all."""
    victim = channel("1733490000.42", name="PJSIP/bob-00000007", number="0698765432")
    frame = event("StasisStart", channel=victim, args=args) | {"application": "other-app"}
    await rig.router.handle(parse_event(frame, time.monotonic()))
    await settled(rig)
    assert rig.fake.paths() == []
    assert rig.router.calls == {} and rig.router.refused == 1


async def test_r2_forged_stasis_start_naming_a_channel_not_ours_never_hangs_it_up(
    rig: Rig,
) -> None:
    """R2: with a call in progress, a StasisStart as the call's "agent" naming another
    channel made the call hang that channel up (by id, whatever it was); one naming the
    caller's channel as a new inbound call took it over. Neither reaches the channel
    now: it is counted, and let go only if Asterisk lists it in the application (here
    it does not)."""
    rig.fake.registered = True
    call_id, ctx, _ = await connected_and_recording(rig)
    before = len(rig.fake.requests)
    victim = channel("1733490000.42", name="PJSIP/bob-00000007")
    await send(rig, "StasisStart", channel=victim, args=["agent", call_id])
    await send(rig, "StasisStart", channel=CALLER, args=["agent", call_id])
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    agent_leg = channel(f"rc-{call_id}-agent")
    await send(rig, "StasisStart", channel=agent_leg, args=["outbound", "sales", "0612345678"])
    await settled(rig)
    await idle(ctx)
    # Only Asterisk's list of the application's channels was read; the victim, the
    # caller and the agent leg were left alone (no hang-up, no answer, no dial).
    later = [(r.method, r.path) for r in rig.fake.requests[before:]]
    assert later == [("GET", "/ari/applications/reccontrol")], later
    assert list(rig.router.calls) == [call_id] and not ctx.finished
    assert rig.router.refused == 4


async def test_r2_refused_channel_really_in_the_application_goes_back_to_the_dialplan(
    rig: Rig,
) -> None:
    """R2: a real channel sent into the application with arguments naming a leg it is
    not (a dialplan mistake) is not left in Stasis: once Asterisk confirms it sits in
    the application it goes back to the dialplan, unrecorded, never hung up."""
    stranger = channel("1733490000.43")
    rig.fake.registered = True
    rig.fake.channel_ids = ["1733490000.43"]
    rig.fake.answers[("GET", "/ari/channels/1733490000.43")] = (
        200,
        stranger | {"dialplan": {"app_name": "Stasis", "context": "x", "exten": "s"}},
    )
    await send(rig, "StasisStart", channel=stranger, args=["agent", "0123456789abcdef"])
    await settled(rig)
    assert touching(rig, "1733490000.43") == [
        ("GET", "/ari/channels/1733490000.43"),
        ("POST", "/ari/channels/1733490000.43/variable"),
        ("POST", "/ari/channels/1733490000.43/continue"),
    ]


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
    assert rig.executor.reaction_times_ms.count == 1
    assert 0 <= next(iter(rig.executor.reaction_times_ms)) < 1000
    assert ctx.machine.recording is not None and ctx.machine.recording.state == "discarded"


async def stored_call(rig: Rig, call_id: str) -> dict[str, Any]:
    found = await rig.store.run(lambda s: s.call_summary(call_id))
    assert found is not None, f"no row for call {call_id}"
    return found


async def test_caller_hang_up_stops_the_recording_and_ends_the_call(rig: Rig) -> None:
    call_id, _, name = await connected_and_recording(rig)
    await send(rig, "StasisEnd", channel=CALLER)
    await rig.fake.seen("POST", f"/ari/recordings/live/{name}/stop")
    await rig.fake.seen("DELETE", f"/ari/channels/rc-{call_id}-agent")
    await rig.fake.seen("DELETE", f"/ari/bridges/rc-{call_id}")
    await send(rig, "StasisEnd", channel=channel(f"rc-{call_id}-agent"))
    await send(rig, "RecordingFinished", recording={"name": name, "state": "done"})
    await until(lambda: rig.router.calls == {})
    # The caller's own channel is gone already: only the agent's leg is hung up.
    assert ("DELETE", "/ari/channels/caller-1") not in rig.fake.paths()
    stored = await stored_call(rig, call_id)
    assert stored["outcome"] == "caller_hung_up" and stored["ended_at"] is not None
    # Events for a forgotten call reach nothing.
    await send(rig, "ChannelDtmfReceived", channel=CALLER, digit="9", duration_ms=100)
    assert rig.executor.reaction_times_ms.count == 0


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
    """R1: the caller's channel is gone from Asterisk at a reconnect, during the
    announcement: the call is ended and stored as lost, nothing is dialled for it and no
    channel is hung up (there is none left to hang up)."""
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, _ = only_call(rig)
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    rig.fake.answers[("GET", "/ari/channels")] = (200, [])
    await rig.router.handle(_stream_connected([]))
    await until(lambda: rig.router.calls == {})
    paths = rig.fake.paths()
    assert ("POST", "/ari/channels") not in paths, "an agent was dialled for a lost call"
    assert [p for m, p in paths if m == "DELETE" and p.startswith("/ari/channels")] == []
    stored = await stored_call(rig, call_id)
    assert stored["outcome"] == CHANNELS_LOST and stored["ended_at"] is not None


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
    assert call_id in rig.router.calls and isinstance(ctx.machine, Call)
    assert not ctx.machine.agent_leg.gone and not ctx.machine.caller.gone


async def test_r1_resync_ends_nothing_when_asterisk_cannot_list_channels(rig: Rig) -> None:
    """Absent from the application is not gone from Asterisk: without GET /channels the
    resync cannot tell, so no call is ended on a guess."""
    await send(rig, "StasisStart", channel=CALLER, args=["inbound", "sales"])
    call_id, ctx = only_call(rig)
    await rig.fake.seen("POST", f"/ari/channels/caller-1/play/rc-{call_id}-p1")
    rig.fake.answers[("GET", "/ari/channels")] = (500, {"message": "boom"})
    await rig.router.handle(_stream_connected([]))
    await idle(ctx)
    assert call_id in rig.router.calls and isinstance(ctx.machine, Call)
    assert not ctx.machine.caller.gone


async def test_r1_every_channel_gone_at_a_resync_is_a_lost_call(rig: Rig) -> None:
    """R1: every channel of the call vanished while the daemon could not hear Asterisk
    (it was killed and started again): nobody hung up, the call was lost."""
    _, ctx, _ = await connected_and_recording(rig)
    rig.fake.answers[("GET", "/ari/channels")] = (200, [])
    await rig.router.handle(_stream_connected([]))
    await idle(ctx)
    assert isinstance(ctx.machine, Call)
    assert ctx.machine.caller.gone and ctx.machine.agent_leg.gone
    assert ctx.machine.outcome == CHANNELS_LOST


async def test_r1_caller_gone_at_a_resync_while_the_agent_stays_hung_up(rig: Rig) -> None:
    call_id, ctx, _ = await connected_and_recording(rig)
    agent = channel(f"rc-{call_id}-agent", name="PJSIP/alice-00000001")
    rig.fake.answers[("GET", "/ari/channels")] = (200, [agent])
    await rig.router.handle(_stream_connected([agent["id"]]))
    await idle(ctx)
    assert isinstance(ctx.machine, Call)
    assert ctx.machine.caller.gone and ctx.machine.outcome == "caller_hung_up"


def _stream_connected(channel_ids: list[str]) -> StreamConnected:
    state = Application("reccontrol", tuple(channel_ids), ())
    return StreamConnected("StreamConnected", "reccontrol", "", 0.0, state=state, reconnect=True)


# -- the payment API's answer (M1) -------------------------------------------------------
CARD_KEYS = "4556737586899855#" + "1228" + "737#"


async def test_m1_r2_payment_api_answering_100000_deep_returns_the_caller_as_unavailable(
    tmp_path: Path,
) -> None:
    """M1, R2: a payment API answering ``[[[[...]]]]`` 100,000 deep raised RecursionError
    in the gateway's task: the call never heard an outcome and the caller stayed in the
    IVR. Now the payment is stored ``unavailable`` with why, the caller hears it and goes
    back to the agent's bridge."""
    api = PaymentApi(make_certificates(tmp_path / "certs"))
    await api.start()
    api.raw_answer = "[" * 100_000 + "]" * 100_000
    try:
        async with running_rig(tmp_path / "site", api) as rig:
            call_id, ctx, _ = await connected_and_recording(rig)
            rig.router.feed(call_id, PaymentRequested("42.50", "ORDER-7"))
            await rig.fake.seen("POST", f"/ari/bridges/rc-{call_id}/removeChannel")
            for key in CARD_KEYS:
                await send(rig, "ChannelDtmfReceived", channel=CALLER, digit=key, duration_ms=90)
            # The result prompt: the first playback on the caller after the card.
            result = await until_played(rig, "sound:reccontrol/fr/pay-unavailable")
            await send(rig, "PlaybackFinished", playback={"id": result, "state": "done"})
            added = await rig.fake.seen("POST", f"/ari/bridges/rc-{call_id}/addChannel")
            assert added.query["channel"] == "caller-1"
            await idle(ctx)
            rows = await rig.store.run(
                lambda s: s.db.execute("SELECT status, detail FROM payments").fetchall()
            )
            assert [tuple(row) for row in rows] == [
                ("unavailable", "HTTP 200, answer over 64 KiB")
            ]
            assert len(api.received) == 1
    finally:
        await api.stop()


async def until_played(rig: Rig, media: str) -> str:
    """The playback id of the first ``media`` played on the caller."""
    found: list[str] = []

    def played() -> bool:
        for request in rig.fake.requests:
            if request.path.startswith("/ari/channels/caller-1/play/"):
                if request.query.get("media") == media:
                    found.append(request.path.rsplit("/", 1)[1])
                    return True
        return False

    await until(played)
    return found[0]


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


async def test_r1_a_fastagi_call_begun_while_the_restart_looks_at_asterisk_stays_open(
    rig: Rig,
) -> None:
    """The FastAGI server answers before ARI is connected: a call may begin while the
    restarted daemon is still judging what the previous run left open. Only the calls
    it looked at are closed; the new one goes on (its hooks need its open row)."""
    started = dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.UTC)
    old = CallStart("0ld0ld0ld0ld0ld0", "sales", "inbound", started, None, "1.1", path="agi")
    new = CallStart("0e30e30e30e30e30", "sales", "inbound", started, None, "1.2", path="agi")
    await rig.store.run(lambda s: s.begin_call(old, "v1"))
    asterisk = rig.executor.asterisk
    look = asterisk.lists

    async def view_while_a_call_begins() -> AsteriskView | None:
        await rig.store.run(lambda s: s.begin_call(new, "v1"))
        return await look()

    asterisk.lists = view_while_a_call_begins  # type: ignore[method-assign]
    rig.fake.answers[("GET", "/ari/channels")] = (200, [])  # the old call's caller left
    rig.fake.answers[("GET", "/ari/bridges")] = (200, [])
    app = {"name": "reccontrol", "channel_ids": [], "bridge_ids": [], "endpoint_ids": []}
    rig.fake.answers[("GET", "/ari/applications/reccontrol")] = (200, app | {"device_names": []})
    await rig.router.adopt_open_calls()

    async def open_ids() -> list[str]:
        return await rig.store.run(lambda s: [c.call_id for c in s.open_calls()])

    async def settled() -> list[str] | None:
        ids = await open_ids()
        return ids if old.call_id not in ids else None

    assert await eventually(settled, "the old call closed") == [new.call_id]


# -- live listening (S8) ---------------------------------------------------------------
async def test_s8_a_listening_channel_of_a_call_that_is_over_is_hung_up_not_continued(
    rig: Rig,
) -> None:
    """S8: a snoop or a supervisor's phone entering the application is never taken for
    a call, nor sent on through the dialplan: one of a call that is over is hung up."""
    snoop = channel("rc-0123456789abcdef-snoop1", name="Snoop/rc-0123456789abcdef-agent-0001")
    await send(rig, "StasisStart", channel=snoop, args=["listening", "0123456789abcdef", "snoop"])
    assert rig.fake.paths() == [("DELETE", "/ari/channels/rc-0123456789abcdef-snoop1")]
    assert rig.router.calls == {}


async def test_s8_listening_legs_join_their_bridge_and_the_supervisor_hanging_up_ends_it(
    rig: Rig,
) -> None:
    """S8: the snoop and the supervisor's phone go into the listening's own bridge as they
    enter; the supervisor hanging up ends the listening (the snoop first), not the call;
    the board shows the call as listened to meanwhile."""
    call_id, ctx, _ = await connected_and_recording(rig)
    rig.router.feed(call_id, ListenRequested("mleroy", "PJSIP/sup-mleroy"))
    snoop, listener = f"rc-{call_id}-snoop1", f"rc-{call_id}-listener1"
    await rig.fake.seen("POST", f"/ari/channels/rc-{call_id}-agent/snoop/{snoop}")
    await until(lambda: any(r.query.get("channelId") == listener for r in rig.fake.requests))
    dialled = [r.query for r in rig.fake.requests if r.query.get("channelId") == listener]
    assert [(q["endpoint"], q["appArgs"]) for q in dialled] == [
        ("PJSIP/sup-mleroy", f"listening,{call_id},listener")
    ]
    await send(rig, "StasisStart", channel=channel(snoop), args=["listening", call_id, "snoop"])
    await send(
        rig, "StasisStart", channel=channel(listener), args=["listening", call_id, "listener"]
    )
    add = f"/ari/bridges/rc-{call_id}-listen1/addChannel"
    await until(lambda: len([r for r in rig.fake.requests if r.path == add]) == 2)
    assert [r.query["channel"] for r in rig.fake.requests if r.path == add] == [snoop, listener]
    assert [line.listened for line in rig.router.live.snapshot()] == [True]
    await send(rig, "StasisEnd", channel=channel(listener))
    await rig.fake.seen("DELETE", f"/ari/bridges/rc-{call_id}-listen1")
    await idle(ctx)
    paths = rig.fake.paths()
    await until(lambda: ("DELETE", f"/ari/channels/{snoop}") in rig.fake.paths())
    paths = rig.fake.paths()
    assert ("DELETE", f"/ari/channels/{listener}") in paths
    # The call goes on, recorded.
    assert call_id in rig.router.calls and ("DELETE", f"/ari/channels/{CALLER['id']}") not in paths
    assert [line.listened for line in rig.router.live.snapshot()] == [False]


async def test_r3_a3_a_transfer_stops_the_agents_segment_inline_in_the_event_handler(
    rig: Rig,
) -> None:
    """R3, A3: the party Asterisk swaps in for the agent may answer at once (an
    auto-answering phone, a protected agent's among them): the agent's segment stops
    from the transfer's own event handler, like a protective key, never behind the
    call's queue. Its stop is done when the handler returns."""
    call_id, _, name = await connected_and_recording(rig)
    before = len(rig.fake.requests)
    local = channel("xfer-1", name="Local/xfer-bruno@sim-sip-phone-00000007;1")
    await send(
        rig, "StasisStart", channel=local, args=[], replace_channel=channel(f"rc-{call_id}-agent")
    )
    after = [(r.method, r.path) for r in rig.fake.requests[before:]]
    assert after[:1] == [("POST", f"/ari/recordings/live/{name}/stop")]
