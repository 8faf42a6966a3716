"""A bridged call carried on from its snapshot, as a restarted controller will: the
rebuilt call behaves like the one it replaces (R1). The restart is a gap in the events
in which the caller may have objected unheard: its recording, paused or not, is
discarded and nothing more is recorded (C2; see test_adoption.py)."""

from __future__ import annotations

import random

import pytest

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.call import Call, Phase
from controller.calls.recording import PAUSE_TIMER, RecState
from tests.unit.test_inbound_call import (
    AGENT_CHANNEL,
    CALLER,
    SETTINGS,
    Driver,
    agent_keys,
    kinds,
    of,
    recording_name,
)


def carried_on(d: Driver) -> tuple[Call, list[c.Command]]:
    return Call.resumed(d.call.snapshot(), settings=SETTINGS, rng=random.Random(2), now=d.now)


def test_resumed_call_discards_its_paused_recording_and_ends_cleanly_C2() -> None:
    d = Driver()
    d.connect()
    name = recording_name(d)
    d.send(m.RecordingStarted(name))
    opened_pause = of(agent_keys(d, "*2"), c.OpenPause)[0]
    call, first = carried_on(d)
    opened = of(d.log, c.OpenRecording)[0]
    assert first[:4] == [
        c.CancelRecording(name),
        c.CloseRecording(opened.recording_id, c.Closed.DISCARDED),
        c.ClosePause(opened_pause.pause_id, c.PauseEnd.DISCARDED),
        c.CancelTimer(PAUSE_TIMER),
    ]
    assert not of(first, c.StartTimer)
    assert call.phase is Phase.CONNECTED and call.recording is not None
    assert call.recording.name == name and call.recording.state is RecState.DISCARDED
    gone = call.handle(m.ChannelGone(CALLER.id), d.now)
    assert kinds(gone) == ["Log", "Hangup", "DestroyBridge", "StartTimer", "CutSnoop"]
    assert not of(call.handle(m.RecordingEnded(name), d.now), c.TakeInRecording)
    end = call.handle(m.ChannelGone(AGENT_CHANNEL.id), d.now)
    assert of(end, c.EndCall) == [c.EndCall("c0ffee", "caller_hung_up", "alice", True)]


def test_resumed_call_does_not_decide_twice_P1() -> None:
    d = Driver()
    d.connect()
    call, _ = carried_on(d)
    assert call.handle(m.ObjectionKnown(False), d.now) == []


def test_opt_out_after_a_restart_is_still_stored_C2() -> None:
    """The recording went at the restart; the objection heard afterwards still goes
    into the consent ledger, and cancels nothing twice."""
    d = Driver()
    d.connect()
    name = recording_name(d)
    d.send(m.RecordingStarted(name))
    agent_keys(d, "*2")
    call, first = carried_on(d)
    assert first[0] == c.CancelRecording(name)
    out = call.handle(m.Dtmf(CALLER.id, "9"), d.now)
    assert not of(out, c.CancelRecording)
    assert of(out, c.AddConsent)[0].event.phase == "conversation"


def test_an_open_pause_never_resumes_after_a_restart_A5_C2() -> None:
    d = Driver()
    d.connect()
    name = recording_name(d)
    d.send(m.RecordingStarted(name))
    agent_keys(d, "*2")
    call, first = carried_on(d)
    assert c.StartTimer(PAUSE_TIMER, 120) not in first
    out: list[c.Command] = call.handle(m.TimerFired(PAUSE_TIMER), d.now)
    for i, key in enumerate("*3"):
        out += call.handle(m.Dtmf(AGENT_CHANNEL.id, key, 300 + i * 0.2), d.now)
    assert not of(out, c.ResumeRecording) and not of(out, c.ClosePause)
    assert call.recording is not None and call.recording.name == name
    assert not call.recording.live


def test_on_demand_is_refused_after_a_restart_even_once_the_lookup_answers_A4_C2() -> None:
    """The objection lookup answering "no objection on file" does not undo the restart's
    gap: the caller may have objected meanwhile, so nothing is recorded on demand."""
    from tests.factories import make_service

    d = Driver(service=make_service(sampling_rate=0.001))
    d.connect()
    call, _ = carried_on(d)

    def star_one(start: float) -> list[c.Command]:
        out: list[c.Command] = []
        for i, key in enumerate("*1"):
            out += call.handle(m.Dtmf(AGENT_CHANNEL.id, key, start + i * 0.2), d.now)
        return out

    assert of(star_one(100), c.StartRecording) == []
    call.handle(m.ObjectionKnown(False), d.now)
    refused = star_one(200)
    assert of(refused, c.StartRecording) == [] and of(refused, c.Play)[0].media == "sound:beeperr"


@pytest.mark.parametrize("stage", ["announcing", "dialing", "payment"])
def test_only_a_bridged_call_outside_the_payment_ivr_has_a_snapshot(stage: str) -> None:
    from tests.unit.test_inbound_call import paying_driver

    d = paying_driver() if stage == "payment" else Driver()
    d.start()
    if stage != "announcing":
        d.send(m.ObjectionKnown(False))
        d.finish_announcement()
    if stage == "payment":
        d.send(m.AgentAnswered(AGENT_CHANNEL, None))
        agent_keys(d, "*8")
    with pytest.raises(ValueError, match="only a bridged call"):
        d.call.snapshot()
