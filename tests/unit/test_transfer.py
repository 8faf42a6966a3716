"""A blind transfer, pure (R3): recognising the transfer's channel, and the call that
takes it, driven message by message with a fixed clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from types import SimpleNamespace
from typing import Any, cast

import pytest

from controller.ari.events import ChannelVarset, parse_event
from controller.ari.models import CallerId, Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.context import CallContext
from controller.calls.transfer import (
    TRANSFERER_TIMER,
    TransferAnnounced,
    TransferAnswered,
    TransferOnward,
    TransferStarted,
    far_half,
    target_of,
    transfer_of,
)
from controller.calls.transfer_routing import TransferRouting
from controller.config.model import Agent
from controller.records import CallStart, Decision
from controller.store import SqliteStore
from tests.factories import make_agent, make_service
from tests.unit import test_adoption as adoption
from tests.unit.test_inbound_call import AGENT_CHANNEL, CALLER, NOW, Driver, kinds, of

LOCAL = "Local/xfer-chloe@sim-sip-phone-0000001a;1"
CHLOE = make_agent(id="chloe", name="Chloé Roux", endpoints=("PJSIP/chloe",))
BRUNO = make_agent(id="bruno", name="Bruno Petit", endpoints=("PJSIP/bruno",), protected=True)


def channel(channel_id: str, name: str, state: str = "Down") -> Channel:
    return Channel(channel_id, name, state, CallerId("", ""), CallerId("", ""), "fr", "", "")


def calls_of_agent(channel_id: str) -> str | None:
    return "c0ffee" if channel_id == AGENT_CHANNEL.id else None


# -- recognising the transfer's channel ----------------------------------------------------
def test_r3_the_local_channel_replacing_an_agent_leg_is_that_calls_transfer() -> None:
    started = transfer_of((), channel("xfer-1", LOCAL), AGENT_CHANNEL, calls_of_agent)
    assert started == TransferStarted("xfer-1", AGENT_CHANNEL.id, "xfer-chloe")


@pytest.mark.parametrize(
    ("args", "name", "replaced"),
    [
        (("inbound", "sales"), LOCAL, AGENT_CHANNEL),  # the dialplan's own call
        ((), LOCAL, None),  # nothing replaced
        ((), LOCAL, channel("someone-else", "PJSIP/dave-00000001")),  # no call's agent
        ((), "PJSIP/chloe-00000003", AGENT_CHANNEL),  # not a Local ;1 half
        ((), "Local/xfer-chloe@sim-sip-phone-0000001a;2", AGENT_CHANNEL),
    ],
    ids=["arguments", "no-replace", "not-an-agent-leg", "not-local", "far-half"],
)
def test_r2_r3_anything_else_is_not_a_transfer(
    args: tuple[str, ...], name: str, replaced: Channel | None
) -> None:
    assert transfer_of(args, channel("xfer-1", name), replaced, calls_of_agent) is None


def test_r3_target_and_far_half_are_read_from_the_local_channels_name() -> None:
    assert target_of(LOCAL) == "xfer-chloe"
    assert far_half(LOCAL) == "Local/xfer-chloe@sim-sip-phone-0000001a;2"
    assert target_of("PJSIP/alice-00000001") == far_half("PJSIP/alice-00000001") == ""


# -- the call that takes it ----------------------------------------------------------------
def transferred(draw: float = 0.25) -> Driver:
    """A recorded call, answered by Alice, who has just transferred it."""
    d = Driver(service=make_service(sampling_rate=0.5))
    d.call.rng = _Draws(draw)
    d.connect()
    assert d.call.rec.live
    d.send(m.RecordingStarted(d.call.rec.recording.name))  # type: ignore[union-attr]
    return d


class _Draws(random.Random):
    def __init__(self, draw: float) -> None:
        super().__init__(0)
        self.draw = draw

    def random(self) -> float:
        return self.draw


def start(d: Driver) -> list[c.Command]:
    return d.send(TransferStarted("xfer-1", AGENT_CHANNEL.id, "xfer-chloe"))


def test_r3_the_agents_segment_stops_and_is_vaulted_nothing_while_the_target_rings() -> None:
    d = transferred()
    first = d.call.rec.recording
    assert first is not None
    out = start(d)
    assert of(out, c.StopRecording) == [c.StopRecording(first.name)]
    assert not of(out, c.StartRecording) and not of(out, c.Hangup)
    assert d.call.agent_channel_id == "xfer-1" and d.call.agent is None
    # The first segment's end: its file is taken in, though a second may be running.
    assert d.send(m.RecordingEnded(first.name)) == [
        c.TakeInRecording(first.recording_id, first.name, "wav")
    ]


def test_r3_a_recordable_agent_answering_gets_a_second_segment_with_the_calls_draw() -> None:
    d = transferred(draw=0.25)
    start(d)
    d.call.rng = _Draws(0.99)  # a fresh draw would refuse: the call's stands (P1, P3)
    out = d.send(TransferAnswered("xfer-1", CHLOE))
    (decision,) = of(out, c.RecordDecision)
    assert decision.decision.segment == 2 and decision.decision.agent_id == "chloe"
    assert (decision.decision.record, decision.decision.reason) == (True, "sampled")
    assert decision.decision.draw == 0.25
    (opened,) = of(out, c.OpenRecording)
    assert (opened.segment, opened.agent_id) == (2, "chloe")
    assert of(out, c.StartTimer) == [c.StartTimer(TRANSFERER_TIMER, 3.0)]
    # Chloé's keys are hers now; Alice's channel is let go after the grace.
    paused = d.send(m.Dtmf("xfer-1", "*")) + d.send(m.Dtmf("xfer-1", "2"))
    assert kinds(paused)[0] == "PauseRecording"
    assert of(d.send(m.TimerFired(TRANSFERER_TIMER)), c.Hangup) == [c.Hangup(AGENT_CHANNEL.id)]
    # Alice's channel ending is not the call's end.
    assert d.send(m.ChannelGone(AGENT_CHANNEL.id)) == []
    assert d.call.phase.value == "connected"


@pytest.mark.parametrize(
    ("agent", "private_line", "reason"),
    [
        (BRUNO, False, "protected_agent"),
        (None, False, "unknown_agent"),
        (CHLOE, True, "private_line"),
    ],
    ids=["protected", "unknown", "private-line"],
)
def test_r3_a3_a7_a2_nothing_is_recorded_for_a_protected_unknown_or_private_target(
    agent: object, private_line: bool, reason: str
) -> None:
    d = transferred()
    start(d)
    out = d.send(TransferAnswered("xfer-1", agent, private_line))  # type: ignore[arg-type]
    (decision,) = of(out, c.RecordDecision)
    assert (decision.decision.segment, decision.decision.record) == (2, False)
    assert decision.decision.reason == reason
    assert not of(out, c.OpenRecording) and not of(out, c.StartRecording)


def test_r3_c2_an_objection_before_the_transfer_still_stands() -> None:
    d = transferred()
    d.send(m.Dtmf(d.call.caller.id, "9"))
    start(d)
    out = d.send(TransferAnswered("xfer-1", CHLOE))
    (decision,) = of(out, c.RecordDecision)
    assert (decision.decision.record, decision.decision.reason) == (False, "caller_objected")


def test_r3_a2_a_call_declared_private_stays_private_after_the_transfer() -> None:
    d = transferred()
    d.send(m.Dtmf(AGENT_CHANNEL.id, "*"))
    d.send(m.Dtmf(AGENT_CHANNEL.id, "7"))
    assert d.call.private
    start(d)
    out = d.send(TransferAnswered("xfer-1", CHLOE))
    assert not of(out, c.RecordDecision) and not of(out, c.OpenRecording)


def test_r3_r1_a_call_ending_while_the_target_rings_leaves_no_leg_behind() -> None:
    d = transferred()
    start(d)
    out = d.send(m.ChannelGone(d.call.caller.id))
    hung_up = {cmd.channel_id for cmd in of(out, c.Hangup)}
    assert hung_up == {AGENT_CHANNEL.id, "xfer-1"}
    assert "DestroyBridge" in kinds(out)


def test_r3_an_answer_for_another_channel_or_told_twice_does_nothing() -> None:
    d = transferred()
    start(d)
    assert d.send(TransferAnswered("someone-else", CHLOE)) == []
    assert of(d.send(TransferAnswered("xfer-1", CHLOE)), c.RecordDecision)
    assert d.send(TransferAnswered("xfer-1", CHLOE)) == []


def test_r3_a_transfer_of_a_channel_that_is_not_the_agents_is_ignored() -> None:
    d = transferred()
    out = d.send(TransferStarted("xfer-1", "caller-1", "xfer-chloe"))
    assert kinds(out) == ["Log"] and d.call.agent_channel_id == AGENT_CHANNEL.id
    assert d.call.rec.live


# -- the segments in the store -------------------------------------------------------------
def transferred_rows(store: SqliteStore) -> None:
    """Call c1: Alice's segment recorded, then Chloé's after a transfer; call c2,
    never transferred."""
    now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    later = now + dt.timedelta(seconds=30)
    store.begin_call(CallStart("c1", "sales", "inbound", now, "h1", "chan-1"), "v1")
    store.record_decision(Decision("c1", now, True, "sampled", 0.5, 0.1, True, "w", "alice"))
    store.open_recording("r1", "c1", "a" * 40, "wav", ("quality",), now, 90, 1, "alice")
    store.close_recording("r1", "failed", later)
    store.record_decision(
        Decision("c1", later, True, "sampled", 0.5, 0.1, True, "w2", "chloe", segment=2)
    )
    store.open_recording("r2", "c1", "b" * 40, "wav", ("quality",), later, 90, 2, "chloe")
    store.begin_call(CallStart("c2", "sales", "inbound", now, "h2", "chan-2"), "v1")
    store.record_decision(Decision("c2", now, False, "not_sampled", 0.5, 0.9, True, "w", "bruno"))


def test_r3_p3_each_segment_is_stored_with_its_agent_decision_and_recordings(
    fresh_db: SqliteStore,
) -> None:
    """The call's decision stays the call's (the sampling audit counts it once); each
    later segment's is kept with its inputs; one store read gives the call's segments."""
    transferred_rows(fresh_db)
    (c1,) = [a for a in fresh_db.sampling_audit() if a.service == "sales"]
    assert c1.calls == 2
    segments = fresh_db.call_segments("c1")
    assert [(s["segment"], s["agent_id"], s["record"], s["recording_ids"]) for s in segments] == [
        (1, "alice", True, ["r1"]),
        (2, "chloe", True, ["r2"]),
    ]
    assert segments[1]["window"] == "w2" and segments[1]["draw"] == 0.1
    assert [s["segment"] for s in fresh_db.call_segments("c2")] == [1]
    summary = fresh_db.call_summary("c1")
    assert summary is not None
    assert [(r["segment"], r["agent_id"]) for r in summary["recordings"]] == [
        (1, "alice"),
        (2, "chloe"),
    ]
    assert fresh_db.call_details("c1")["segments"] == segments


def test_r3_r1_a_restarted_controller_reads_the_latest_segment_and_its_decision(
    fresh_db: SqliteStore,
) -> None:
    transferred_rows(fresh_db)
    first = next(call for call in fresh_db.open_calls() if call.call_id == "c1")
    assert first.segment == 2
    assert first.decision is not None
    assert (first.decision.segment, first.decision.agent_id) == (2, "chloe")


def test_r3_s9_an_agent_who_took_a_transferred_call_finds_it(fresh_db: SqliteStore) -> None:
    transferred_rows(fresh_db)
    found = fresh_db.calls_for_agent("chloe", None, None)
    assert [record.call["id"] for record in found] == ["c1"]
    (record,) = found
    assert [(r.segment, r.agent_id) for r in record.recordings] == [(1, "alice"), (2, "chloe")]


# -- carried on by a restarted controller (R1) ---------------------------------------------
def test_r3_r1_a_call_adopted_mid_transfer_follows_the_local_channel_and_records_no_more() -> None:
    """Killed between the REFER and the target's answer: Asterisk shows the transfer's
    Local channel in the call's bridge, the agent's channel out of it. The restarted
    controller carries the call on with the Local channel as its agent leg, takes the
    stopped segment's file into the vault and hangs the transferring agent's channel up;
    when the target answers, who it is is stored with the segment's decision: not
    recorded, the caller's keys having gone unheard."""
    local = channel("xfer-1", LOCAL, "Ringing")
    asterisk = adoption.view(
        channels=(CALLER, AGENT_CHANNEL, local),
        members=(CALLER.id, "xfer-1"),
        recordings={},
    )
    plan = adoption.adopted(adoption.open_call(), asterisk)
    call = plan.machine
    assert call.agent_channel_id == "xfer-1" and plan.gone == []
    assert c.TakeInRecording("r1", adoption.NAME, "wav", after_restart=True) in plan.commands
    assert c.Hangup(adoption.AGENT_LEG) in plan.commands
    assert not of(plan.commands, c.AddToBridge)

    out = call.handle(TransferAnswered("xfer-1", CHLOE), NOW)
    (decided,) = of(out, c.RecordDecision)
    assert (decided.decision.segment, decided.decision.agent_id) == (2, "chloe")
    assert (decided.decision.record, decided.decision.reason) == (False, "keys_unheard")
    # The agent's channel ending now is not the call's end; the caller's is.
    assert call.handle(m.ChannelGone(adoption.AGENT_LEG), NOW) == []
    ended = call.handle(m.ChannelGone(CALLER.id), NOW)
    assert c.Hangup("xfer-1") in ended


def test_r3_a3_transferred_on_by_the_agent_who_took_it_the_next_party_is_decided_anew() -> None:
    """Chloé, who took the transfer, transfers the call on from her phone: the same
    Local channel stays in the bridge, the party behind it dials again. Her segment's
    recording stops; Bruno, protected, answering gets segment 3, not recorded."""
    d = transferred()
    start(d)
    d.send(TransferAnswered("xfer-1", CHLOE))
    chloes = d.call.rec.recording
    assert chloes is not None
    assert d.send(TransferOnward("someone-else")) == []
    out = d.send(TransferOnward("xfer-1"))
    assert of(out, c.StopRecording) == [c.StopRecording(chloes.name)]
    assert d.call.agent is None and not d.call.agent_leg.up
    assert d.send(TransferOnward("xfer-1")) == [], "a dial while it rings is no new transfer"
    decided = d.send(TransferAnswered("xfer-1", BRUNO))
    (decision,) = of(decided, c.RecordDecision)
    assert (decision.decision.segment, decision.decision.agent_id) == (3, "bruno")
    assert (decision.decision.record, decision.decision.reason) == (False, "protected_agent")
    assert not of(decided, c.StartRecording)


def test_r3_s8_a_supervisor_listening_stops_at_the_transfer() -> None:
    """S8: listening follows who may be recorded; while the target rings nobody talks
    with the caller, so the listening's snoop on the transferring agent is cut."""
    d = transferred()
    listening = d.send(m.ListenRequested("sam", "PJSIP/sam"))
    assert of(listening, c.Snoop), listening
    out = start(d)
    assert kinds(out)[0] == "CutSnoop"


# -- where the transfer's events go --------------------------------------------------------
class _Asterisk:
    """What the routing asks Asterisk: the far half's id once watched, who answered."""

    def __init__(self, behind: Agent | None) -> None:
        self.behind = behind
        self.watched: list[str] = []

    async def watch(self, name: str) -> str | None:
        self.watched.append(name)
        return "far-1"

    async def agent_behind(self, far_name: str) -> Agent | None:
        return self.behind


class _Directory:
    def __init__(self, private_line: str = "") -> None:
        self.private_line = private_line

    def agent_for_channel(self, name: str) -> Agent | None:
        return {"PJSIP/chloe": CHLOE, "PJSIP/bruno": BRUNO}.get(name.rsplit("-", 1)[0])

    def agent_for_private_line(self, number: str) -> Agent | None:
        return CHLOE if number == self.private_line else None


def routing(private_line: str = "") -> tuple[TransferRouting, list[m.Message]]:
    d = transferred()
    ctx = CallContext(d.call)
    fed: list[m.Message] = []

    def feed(call_id: str, message: m.Message) -> None:
        fed.append(message)
        d.send(message)

    async def urgent(call_id: str, message: m.Message) -> None:
        feed(call_id, message)

    executor = SimpleNamespace(asterisk=_Asterisk(CHLOE))
    owners = {AGENT_CHANNEL.id: "c0ffee", CALLER.id: "c0ffee"}
    route = TransferRouting(
        {"c0ffee": ctx},
        owners,
        feed,
        urgent,
        cast(Any, executor),
        cast(Any, _Directory(private_line)),
    )
    return route, fed


async def test_r3_the_router_hands_the_transfer_to_its_call_and_hears_who_answers() -> None:
    route, fed = routing()
    assert not await route.entered(("inbound", "sales"), channel("x", LOCAL), AGENT_CHANNEL)
    assert await route.entered((), channel("xfer-1", LOCAL), AGENT_CHANNEL)
    assert fed == [TransferStarted("xfer-1", AGENT_CHANNEL.id, "xfer-chloe")]
    await asyncio.sleep(0)  # the far half is watched on a task of its own
    far = channel("far-1", far_half(LOCAL), "Up")
    route.dialled(far, channel("p-1", "PJSIP/chloe-00000004"), "ANSWER")
    assert fed[1:] == [TransferAnswered("xfer-1", CHLOE, False)]
    route.dialled(far, channel("p-2", "PJSIP/bruno-00000005"), "")
    route.dialled(far, channel("p-2", "PJSIP/bruno-00000005"), "ANSWER")
    assert fed[2:] == [TransferOnward("xfer-1"), TransferAnswered("xfer-1", BRUNO, False)]
    # A dial from a channel nobody watches is nobody's transfer.
    route.dialled(channel("other", "Local/x@y-00000009;2"), channel("p", "PJSIP/chloe-1"), "")
    assert len(fed) == 4


async def test_r3_the_router_tells_the_call_of_an_attended_transfer_of_its_caller() -> None:
    """R3: ``ATTENDEDTRANSFER`` set on a call's channel (Asterisk begins an attended
    transfer, before its swap) is told to that call; other variables, and channels of no
    call, are not."""
    route, fed = routing()

    async def varset(channel_id: str, variable: str) -> None:
        raw = {"id": channel_id, "name": "PJSIP/trunk-00000000", "state": "Up"}
        event = parse_event(
            {"type": "ChannelVarset", "application": "a", "channel": raw,
             "variable": variable, "value": "PJSIP/alice-00000001"}, 1.0,
        )  # fmt: skip
        assert isinstance(event, ChannelVarset)
        await route.event(event)

    await varset(CALLER.id, "BRIDGEPEER")
    await varset("someone-else", "ATTENDEDTRANSFER")
    assert fed == []
    await varset(CALLER.id, "ATTENDEDTRANSFER")
    assert fed == [TransferAnnounced(CALLER.id)]


async def test_r3_a2_a_transfer_to_a_private_line_is_said_so_whichever_event_comes_first() -> None:
    route, fed = routing(private_line="xfer-chloe")
    assert await route.entered((), channel("xfer-1", LOCAL), AGENT_CHANNEL)
    await asyncio.sleep(0)
    far = channel("far-1", far_half(LOCAL), "Up")
    route.dialled(far, channel("p-1", "PJSIP/chloe-00000004"), "ANSWER")
    assert fed[1:] == [TransferAnswered("xfer-1", CHLOE, True)]
    await route.state_changed(channel("xfer-1", LOCAL, "Up"))
    await asyncio.sleep(0)
    assert len(fed) == 2, "answered once"
