"""The agent's hold (A9), driven message by message on the pure call machine: the phone's
hold pauses the recording first and plays music to the caller alone; taking the call
back resumes it; what the agent paused stays paused; ``hold: record`` keeps recording."""

from __future__ import annotations

import random

from controller.ari.events import ChannelHold, parse_event
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.call import Call
from controller.calls.transfer import TransferAnnounced, TransferStarted
from controller.config.service_model import PauseSettings
from controller.payments.charge import ChargeResult
from tests.factories import make_service
from tests.unit.test_inbound_call import (
    AGENT_CHANNEL,
    CALLER,
    CARD_KEYS,
    SETTINGS,
    Driver,
    agent_keys,
    caller_keys,
    kinds,
    of,
    paying_driver,
    recording_name,
    start_ivr,
)

HELD = m.Hold(AGENT_CHANNEL.id, True, "default")
TAKEN_BACK = m.Hold(AGENT_CHANNEL.id, False)


def recorded(mode: str = "pause", **changes: object) -> Driver:
    d = Driver(service=make_service(sampling_rate=0.999, hold=mode, **changes))
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    return d


def test_a9_hold_pauses_first_music_to_the_caller_alone_then_unhold_resumes() -> None:
    """A9: the phone's hold pauses the recording before anything else (the pause row says
    ``hold``, with the pause timer), and the caller alone hears music on hold; taking the
    call back stops the music and resumes the recording, ending the row as the agent's."""
    d = recorded()
    name = recording_name(d)
    out = d.send(HELD)
    assert out[0] == c.PauseRecording(name, mute=False)
    assert kinds(out) == ["PauseRecording", "StartHoldMusic", "OpenPause", "StartTimer", "Log"]
    assert of(out, c.StartHoldMusic)[0] == c.StartHoldMusic("rc-c0ffee", "default", CALLER.id)
    opened = of(out, c.OpenPause)[0]
    assert (opened.paused_by, opened.reason) == ("alice", "hold")
    # No key sound: the held phone does not play it.
    assert of(out, c.Play) == []

    back = d.send(TAKEN_BACK)
    assert kinds(back) == [
        "StopHoldMusic", "ResumeRecording", "ClosePause", "CancelTimer", "Log", "Log"
    ]  # fmt: skip
    assert of(back, c.StopHoldMusic)[0] == c.StopHoldMusic("rc-c0ffee", CALLER.id)
    assert of(back, c.ResumeRecording)[0] == c.ResumeRecording(name, mute=False)
    assert of(back, c.ClosePause)[0] == c.ClosePause(opened.pause_id, c.PauseEnd.AGENT)


def test_a9_in_silence_mode_the_hold_mutes() -> None:
    d = recorded(pause=PauseSettings("silence", 60))
    assert d.send(HELD)[0] == c.PauseRecording(recording_name(d), mute=True)
    assert of(d.send(TAKEN_BACK), c.ResumeRecording)[0].mute is True


def test_a9_with_hold_record_the_recording_goes_on_and_only_the_music_plays() -> None:
    d = recorded("record")
    out = d.send(HELD)
    assert kinds(out) == ["StartHoldMusic", "Log"]
    assert "hold: record" in of(out, c.Log)[0].message
    assert kinds(d.send(TAKEN_BACK)) == ["StopHoldMusic", "Log"]


def test_a9_a_hold_during_the_agents_pause_does_not_resume_it_on_unhold() -> None:
    """A9, A5: what the agent paused with *2 stays paused when the call is taken back;
    the agent's *3 resumes it afterwards, as always."""
    d = recorded()
    agent_keys(d, "*2")
    out = d.send(HELD)
    assert kinds(out) == ["StartHoldMusic", "Log"]
    back = d.send(TAKEN_BACK)
    assert kinds(back) == ["StopHoldMusic", "Log"]
    assert of(d.log, c.ClosePause) == []
    assert kinds(agent_keys(d, "*3", start=300))[:2] == ["ResumeRecording", "ClosePause"]


def test_a9_the_resume_key_during_a_hold_is_refused() -> None:
    """A9: while held, *3 cannot bring the held agent's room into the file."""
    d = recorded()
    d.send(HELD)
    out = agent_keys(d, "*3")
    assert of(out, c.ResumeRecording) == []
    assert of(out, c.Play)[0].media == "sound:beeperr"


def test_a9_a_hold_past_the_pause_maximum_stays_paused_with_an_alert() -> None:
    """A9: a hold longer than pause.max_seconds is not resumed by the pause timer (that
    would record the held agent's room); a supervisor gets an alert."""
    d = recorded()
    d.send(HELD)
    out = d.send(m.TimerFired("pause"))
    assert kinds(out) == ["AddAlert", "Log"]
    alert = of(out, c.AddAlert)[0]
    assert alert.kind == c.AlertKind.PAUSE_TIMEOUT and "hold" in alert.message
    assert of(d.send(TAKEN_BACK), c.ResumeRecording) != []


def test_a9_told_twice_does_nothing_more() -> None:
    d = recorded()
    d.send(HELD)
    assert d.send(HELD) == []
    d.send(TAKEN_BACK)
    assert d.send(TAKEN_BACK) == []


def test_a9_the_callers_hold_leaves_the_recording_alone() -> None:
    d = recorded()
    out = d.send(m.Hold(CALLER.id, True, "default"))
    assert kinds(out) == ["Log"]
    assert kinds(d.send(m.Hold(CALLER.id, False))) == ["Log"]


def test_a9_a_recording_started_during_a_hold_is_paused_at_once() -> None:
    """A9: the on-demand key pressed while held starts a file that is paused in the same
    batch: nothing of the held agent's room reaches it."""
    d = Driver(service=make_service(sampling_rate=0.001, purposes=("mediation",)))
    d.connect()
    assert of(d.log, c.StartRecording) == []
    d.send(HELD)
    out = agent_keys(d, "*1")
    started = of(out, c.StartRecording)[0]
    assert kinds(out)[-3:] == ["PauseRecording", "OpenPause", "StartTimer"]
    assert of(out, c.PauseRecording)[0].name == started.name


def test_a9_private_during_a_hold_discards_and_unhold_resumes_nothing() -> None:
    d = recorded()
    d.send(HELD)
    agent_keys(d, "*7")
    back = d.send(TAKEN_BACK)
    assert kinds(back) == ["StopHoldMusic", "Log"]


def test_a9_no_payment_while_on_hold() -> None:
    d = paying_driver()
    d.connect()
    d.send(HELD)
    out = agent_keys(d, "*8")
    assert of(out, c.RemoveFromBridge) == []
    assert "on hold" in of(out, c.Log)[0].message


def test_a9_a_hold_during_the_payment_waits_for_the_caller_back() -> None:
    """A9, M1: the agent holds while the caller is in the payment IVR: the payment's pause
    and the IVR go on untouched; once the caller is back, the hold's pause and music
    follow in the same batch, and taking the call back resumes the recording."""
    d = paying_driver()
    start_ivr(d)
    assert kinds(d.send(HELD)) == ["Log"]
    caller_keys(d, CARD_KEYS)
    done = d.send(m.PaymentDone(ChargeResult("approved", "PAY-1", 1, "HTTP 200", 80.0)))
    result = next(p for p in of(done, c.Play) if p.channel_id == CALLER.id)
    back = d.send(m.PlaybackDone(result.playback_id))
    assert kinds(back)[:4] == ["StopHoldMusic", "AddToBridge", "ResumeRecording", "ClosePause"]
    assert kinds(back)[-4:] == ["PauseRecording", "StartHoldMusic", "OpenPause", "StartTimer"]
    assert of(back, c.OpenPause)[0].reason == "hold"
    assert of(back, c.StartHoldMusic)[-1].channel_id == CALLER.id
    assert kinds(d.send(TAKEN_BACK))[:2] == ["StopHoldMusic", "ResumeRecording"]


def test_a9_the_events_parse_into_hold_and_unhold() -> None:
    channel = {"id": "ch-1", "name": "PJSIP/alice-00000001", "state": "Up"}
    held = parse_event(
        {"type": "ChannelHold", "application": "a", "channel": channel, "musicclass": "jazz"}, 1.0
    )
    back = parse_event({"type": "ChannelUnhold", "application": "a", "channel": channel}, 2.0)
    assert isinstance(held, ChannelHold) and isinstance(back, ChannelHold)
    assert (held.channel.id, held.held, held.music_class) == ("ch-1", True, "jazz")
    assert (back.held, back.music_class) == (False, "")


def carried_on(d: Driver) -> Call:
    call, _ = Call.resumed(d.call.snapshot(), settings=SETTINGS, rng=random.Random(2), now=d.now)
    return call


def test_a9_r1_c2_a_hold_carried_over_a_restart_stops_its_music_on_unhold_nothing_resumes() -> None:
    """A9, R1, C2: the daemon restarted during a hold: the caller, on hold, may have
    objected unheard, so its recording, paused for the hold, is discarded; the unhold
    the new process hears still stops the music the old one started, and resumes
    nothing."""
    d = recorded()
    name = recording_name(d)
    opened = of(d.send(HELD), c.OpenPause)[0]
    call, first = Call.resumed(
        d.call.snapshot(), settings=SETTINGS, rng=random.Random(2), now=d.now
    )
    assert first[0] == c.CancelRecording(name)
    assert c.ClosePause(opened.pause_id, c.PauseEnd.DISCARDED) in first
    assert call.handle(m.TimerFired("pause"), d.now) == []
    back = call.handle(TAKEN_BACK, d.now)
    assert back[0] == c.StopHoldMusic("rc-c0ffee", CALLER.id)
    assert not of(back, c.ResumeRecording) and not of(back, c.ClosePause)


def test_a9_r1_with_hold_record_a_restart_during_a_hold_still_stops_the_music() -> None:
    d = recorded("record")
    d.send(HELD)
    call = carried_on(d)
    assert kinds(call.handle(TAKEN_BACK, d.now)) == ["StopHoldMusic", "Log"]
    assert call.handle(TAKEN_BACK, d.now) == []


def test_a9_r3_a_transfer_from_hold_stops_the_music_and_the_new_agent_holds_afresh() -> None:
    """A9, R3: phones hold the caller before a blind transfer; the transfer ends the
    hold with the agent's segment: the caller's music stops (the caller goes on to the
    target), the old agent's later unhold changes nothing, and the new agent's own hold
    (on the transfer's channel) plays music again."""
    d = recorded()
    d.send(HELD)
    started = d.send(TransferStarted("xfer-1", AGENT_CHANNEL.id, "xfer-chloe"))
    assert c.StopHoldMusic("rc-c0ffee", CALLER.id) in started
    assert of(started, c.ClosePause)[0].resumed_by == c.PauseEnd.TRANSFER
    assert d.send(TAKEN_BACK) == []
    assert of(d.send(m.Hold("xfer-1", True)), c.StartHoldMusic) == [
        c.StartHoldMusic("rc-c0ffee", "default", CALLER.id)
    ]


def test_a9_r3_the_attended_transfers_unhold_is_paused_again_before_the_swap() -> None:
    """A9, R3: at the phone's REFER Asterisk takes the caller off hold itself (the
    recording resumes) and, about 500 ms before it swaps the consultation's party into
    the bridge, announces the attended transfer on the caller's channel: the hold's
    pause is put back at once, first, so the new party's first frame (mixed before the
    controller hears of the swap) reaches a paused recording; the transfer ends the
    segment and that pause with it."""
    d = recorded()
    name = recording_name(d)
    d.send(HELD)
    assert of(d.send(TAKEN_BACK), c.ResumeRecording) == [c.ResumeRecording(name, mute=False)]
    out = d.send(TransferAnnounced(CALLER.id))
    assert out[0] == c.PauseRecording(name, mute=False)
    opened = of(out, c.OpenPause)[0]
    assert (opened.paused_by, opened.reason) == ("alice", "hold")
    assert of(out, c.StartHoldMusic) == []  # the caller is no longer on hold
    ended = d.send(TransferStarted("xfer-1", AGENT_CHANNEL.id, "xfer-chloe"))
    assert of(ended, c.StopRecording) == [c.StopRecording(name)]
    assert of(ended, c.ClosePause) == [c.ClosePause(opened.pause_id, c.PauseEnd.TRANSFER)]


def test_a9_r3_the_transfers_announcement_changes_nothing_else() -> None:
    """A9, R3: with ``hold: record`` the recording goes on; a pause already open (the
    agent's) stays as it is; an announcement on another channel than the caller's (the
    caller transferring the agent) leaves the recording alone."""
    d = recorded(mode="record")
    assert d.send(TransferAnnounced(CALLER.id)) == []
    d = recorded()
    assert d.send(TransferAnnounced(AGENT_CHANNEL.id)) == []
    agent_keys(d, "*2")
    assert d.call.rec.pause is not None and d.call.rec.pause.reason == c.PauseReason.AGENT_KEY
    assert d.send(TransferAnnounced(CALLER.id)) == []
