"""Keys the daemon could not hear (R1, A2, A5, C2, R3): the ARI events websocket was down
or deaf, so a pause, private or opt-out key pressed meanwhile never took effect. On the
safe side of C2 (the caller may have objected unheard) the call keeps no audio: its
recording, running or paused throughout, is discarded, the cancel first, with an alert
and the refused sound to the agent; nothing is recorded afterwards, not on demand, not
in a later segment after a transfer; a call not decided yet is not recorded."""

from __future__ import annotations

import datetime as dt

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.recording import KEYS_UNHEARD, PAUSE_TIMER
from controller.calls.transfer import TransferAnswered, TransferStarted
from tests.factories import make_agent, make_service
from tests.unit import test_outbound_call as outbound
from tests.unit.test_inbound_call import (
    AGENT_CHANNEL,
    CALLER,
    NOW,
    Driver,
    agent_keys,
    kinds,
    of,
    recording_name,
)

BLIND = dt.timedelta(seconds=3)


def recording_inbound() -> Driver:
    d = Driver()
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    return d


def test_r1_a2_running_recording_is_discarded_first_with_an_alert_and_the_refused_sound() -> None:
    d = recording_inbound()
    name = recording_name(d)
    opened = of(d.log, c.OpenRecording)[0]
    d.now = NOW + dt.timedelta(minutes=1)
    out = d.send(m.KeysUnheard(d.now - BLIND))
    assert out[0] == c.CancelRecording(name)
    assert kinds(out) == ["CancelRecording", "CloseRecording", "AddAlert", "Log", "Play", "Log"]
    assert of(out, c.CloseRecording) == [c.CloseRecording(opened.recording_id, c.Closed.DISCARDED)]
    (alert,) = of(out, c.AddAlert)
    assert alert.kind == KEYS_UNHEARD == "keys_unheard" and alert.call_id == "c0ffee"
    assert "3.0 s" in alert.message and opened.recording_id in alert.message
    assert of(out, c.Log)[0].level == "warning"
    assert of(out, c.Play) == [c.Play(AGENT_CHANNEL.id, "sound:beeperr", "rc-c0ffee-f1")]
    assert d.call.recording is not None and not d.call.recording.live


def test_r1_c2_nothing_starts_again_and_the_agents_keys_record_nothing_after_the_gap() -> None:
    d = recording_inbound()
    d.send(m.KeysUnheard(d.now - BLIND))
    # Asterisk's answer to the cancel: no retry, whatever the call's state.
    ended = d.send(m.RecordingEnded(recording_name(d)))
    assert not of(ended, c.StartRecording)
    # A pause key now has nothing to pause, as on any unrecorded call: no pause row, it
    # only keeps live listeners out (S8).
    assert kinds(agent_keys(d, "*2", start=300)) == ["Play", "Log"]


def test_r1_c2_a4_on_demand_recording_is_refused_after_the_gap() -> None:
    """The caller may have objected while the keys went unheard: the agent's request to
    record for mediation is refused for the rest of the call, with the refused sound."""
    d = Driver(service=make_service(sampling_rate=0.001))
    d.connect()
    assert d.call.verdict is not None and not d.call.verdict.record
    d.send(m.KeysUnheard(d.now - BLIND))
    out = agent_keys(d, "*1", start=400)
    assert not of(out, c.OpenRecording) and not of(out, c.StartRecording)
    assert of(out, c.Play) == [c.Play(AGENT_CHANNEL.id, "sound:beeperr", "rc-c0ffee-f1")]
    assert d.call.recording is None


def test_r1_c2_a5_recording_paused_throughout_is_discarded_and_never_resumes() -> None:
    """Paused before the gap and still paused: nothing was recorded meanwhile, but the
    caller may have objected, and an objection keeps no audio of the call, the part
    before the pause included (C2). Cancelled (DELETE, not stop), its row and its pause
    closed as discarded, its timer cancelled: nothing resumes it."""
    d = recording_inbound()
    opened = of(d.log, c.OpenRecording)[0]
    pause = of(agent_keys(d, "*2"), c.OpenPause)[0]
    d.now = NOW + dt.timedelta(seconds=30)
    out = d.send(m.KeysUnheard(d.now - BLIND))
    assert out[0] == c.CancelRecording(recording_name(d)) and not of(out, c.StopRecording)
    assert c.CloseRecording(opened.recording_id, c.Closed.DISCARDED) in out
    assert c.ClosePause(pause.pause_id, c.PauseEnd.DISCARDED) in out
    assert c.CancelTimer(PAUSE_TIMER) in out
    assert of(out, c.AddAlert)[0].kind == KEYS_UNHEARD
    assert of(out, c.Play) == [c.Play(AGENT_CHANNEL.id, "sound:beeperr", "rc-c0ffee-f2")]
    assert d.call.rec.pause is None
    # The pause's limit, or the agent's resume key, finds nothing to resume.
    assert not of(d.send(m.TimerFired(PAUSE_TIMER)), c.ResumeRecording)
    assert not of(agent_keys(d, "*3", start=300), c.ResumeRecording)
    assert not of(agent_keys(d, "*1", start=400), c.StartRecording)


def test_r1_a5_pause_opened_inside_the_gap_does_not_protect_the_recording() -> None:
    """A pause that began after the gap's start (here: the key came in just before the
    socket was found dead, after the last frame the gap is counted from) proves nothing
    about the audio before it: discarded, and the pause closed."""
    d = recording_inbound()
    opened = of(agent_keys(d, "*2"), c.OpenPause)[0]
    out = d.send(m.KeysUnheard(d.now - dt.timedelta(milliseconds=1)))
    assert out[0] == c.CancelRecording(recording_name(d))
    assert c.ClosePause(opened.pause_id, c.PauseEnd.DISCARDED) in out
    assert c.CancelTimer(PAUSE_TIMER) in out
    assert d.call.rec.pause is None


def test_r1_c2_call_not_decided_when_keys_went_unheard_is_never_recorded() -> None:
    """The gap covered the announcement: the caller may have pressed the opt-out key
    unheard, so the decision, when it comes, is not to record (C2)."""
    d = Driver()
    d.start()
    out = d.send(m.KeysUnheard(NOW - BLIND))
    assert kinds(out) == ["Log"]
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()
    connected = d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    (decision,) = of(connected, c.RecordDecision)
    assert not decision.decision.record and decision.decision.reason == "keys_unheard"
    assert decision.decision.draw is None
    assert not of(connected, c.StartRecording)


def test_r1_c2_outbound_call_not_decided_yet_is_never_recorded() -> None:
    d = outbound.Driver()
    d.answered()
    d.send(m.KeysUnheard(outbound.NOW - BLIND))
    connected = d.send(m.PlaybackDone(d.call.notice.playback_id))
    (decision,) = of(connected, c.RecordDecision)
    assert decision.decision.reason == "keys_unheard" and not of(connected, c.StartRecording)


def test_r1_nothing_to_discard_once_private() -> None:
    d = recording_inbound()
    agent_keys(d, "*7")
    assert kinds(d.send(m.KeysUnheard(NOW - BLIND))) == ["Log"]


def test_r1_a_sequence_begun_before_the_gap_is_not_completed_after_it() -> None:
    d = recording_inbound()
    d.send(m.Dtmf(AGENT_CHANNEL.id, "*", 100.0))
    d.send(m.KeysUnheard(NOW - BLIND))
    # "2" right after: alone it is no sequence, so nothing happens.
    assert d.send(m.Dtmf(AGENT_CHANNEL.id, "2", 100.1)) == []


def test_r1_no_refused_sound_to_an_agent_already_gone() -> None:
    d = recording_inbound()
    d.call.agent_leg = d.call.agent_leg.ended()
    out = d.send(m.KeysUnheard(NOW - BLIND))
    assert out[0] == c.CancelRecording(recording_name(d)) and not of(out, c.Play)


def test_r1_outbound_call_discards_through_the_same_conversation() -> None:
    d = outbound.Driver()
    connected = d.connected()
    name = of(connected, c.StartRecording)[0].name
    d.send(m.RecordingStarted(name))
    out = d.send(m.KeysUnheard(outbound.NOW - BLIND))
    assert out[0] == c.CancelRecording(name)
    assert of(out, c.AddAlert)[0].kind == KEYS_UNHEARD
    assert of(out, c.Play)[0].channel_id == outbound.PHONE.id


def test_r1_c2_outbound_call_paused_throughout_is_discarded() -> None:
    d = outbound.Driver()
    connected = d.connected()
    name = of(connected, c.StartRecording)[0].name
    for i, key in enumerate("*2"):
        d.send(m.Dtmf(outbound.PHONE.id, key, 100 + i * 0.2))
    assert d.call.rec.pause is not None
    later = outbound.NOW + dt.timedelta(seconds=10)
    out = d.call.handle(m.KeysUnheard(later - BLIND), later)
    assert out[0] == c.CancelRecording(name)
    assert d.call.rec.pause is None and d.call.recording is not None
    assert not d.call.recording.live


def test_r1_the_same_answer_told_twice_changes_nothing() -> None:
    """After a reconnect the router may tell a call of an answer its StasisStart then
    repeats: the agent must not be hung up as a late answer."""
    d = recording_inbound()
    assert d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent())) == []
    o = outbound.Driver()
    o.connected()
    assert o.send(m.CustomerAnswered(outbound.CUSTOMER)) == []


def test_r1_unanswered_leg_is_the_one_dialled() -> None:
    d = Driver()
    d.start()
    assert d.call.unanswered_leg is None
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()
    assert d.call.unanswered_leg == AGENT_CHANNEL.id
    d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    assert d.call.unanswered_leg is None
    o = outbound.Driver()
    o.start()
    assert o.call.unanswered_leg == outbound.CUSTOMER_ID
    o.send(m.CustomerAnswered(outbound.CUSTOMER))
    assert o.call.unanswered_leg is None


def test_r1_agent_leg_lost_unseen_while_dialling_hands_the_caller_back() -> None:
    """Found gone at a resync, the agent's leg may have answered into an application with
    no websocket (Asterisk hangs it up): the caller goes on through the dialplan rather
    than hearing that no agent answered. A hang-up that was seen still means no agent."""
    d = Driver()
    d.start()
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()
    out = d.send(m.ChannelGone(AGENT_CHANNEL.id, unseen=True))
    assert c.ContinueInDialplan(CALLER.id) in out and d.call.outcome == "handed_back"
    seen = Driver()
    seen.start()
    seen.send(m.ObjectionKnown(False))
    seen.finish_announcement()
    assert seen.send(m.ChannelGone(AGENT_CHANNEL.id)) and seen.call.outcome == "no_agent"


def test_r1_customer_leg_lost_unseen_while_dialling_hands_the_agent_back() -> None:
    o = outbound.Driver()
    o.start()
    out = o.send(m.ChannelGone(outbound.CUSTOMER_ID, unseen=True))
    assert c.ContinueInDialplan(outbound.PHONE.id) in out
    assert o.call.outcome == "handed_back" and kinds(out)[-2:] == ["EndCall", "Finished"]


def test_r1_c2_r3_a_call_transferred_after_the_gap_records_no_new_segment() -> None:
    """Decided (and recorded) before the gap, transferred live after it: the agent who
    answers gets no recording, and the segment's decision row says why (R3)."""
    d = recording_inbound()
    d.send(m.KeysUnheard(d.now - BLIND))
    d.send(TransferStarted("xfer-1", AGENT_CHANNEL.id, "xfer-chloe"))
    out = d.send(TransferAnswered("xfer-1", make_agent(id="chloe", name="Chloé Roux")))
    (decision,) = of(out, c.RecordDecision)
    assert decision.decision.segment == 2 and decision.decision.agent_id == "chloe"
    assert (decision.decision.record, decision.decision.reason) == (False, "keys_unheard")
    assert not of(out, c.OpenRecording) and not of(out, c.StartRecording)


def test_r1_r3_a_gap_while_the_target_rings_still_counts_for_its_segment() -> None:
    d = recording_inbound()
    d.send(TransferStarted("xfer-1", AGENT_CHANNEL.id, "xfer-chloe"))
    assert not d.call.rec.live
    d.send(m.KeysUnheard(d.now - BLIND))
    out = d.send(TransferAnswered("xfer-1", make_agent(id="chloe", name="Chloé Roux")))
    (decision,) = of(out, c.RecordDecision)
    assert (decision.decision.record, decision.decision.reason) == (False, "keys_unheard")
