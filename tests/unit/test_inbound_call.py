"""The inbound call state machine, driven message by message with a fixed clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from controller.ari.models import CallerId, Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.call import ENDING_TIMER, Call, Phase
from controller.calls.call_settings import CallSettings
from controller.calls.inbound import AGENT_TIMER, inbound_cast
from controller.config.model import Agent
from controller.config.service_model import PaymentPrompts, PaymentSettings, Service
from controller.payments.charge import ChargeResult
from controller.records import Unkept
from tests.factories import STAFF_INFORMED, make_agent, make_service

T = TypeVar("T", bound=c.Command)
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)  # Wednesday 10:00 in Paris
SETTINGS = CallSettings(ZoneInfo("Europe/Paris"), "wav", staff_informed=STAFF_INFORMED)
CALLER = Channel(
    "caller-1",
    "Local/c@sim-caller-00000001;1",
    "Up",
    CallerId("", "0612345678"),
    CallerId("", ""),
    "fr",
    "reccontrol-inbound",
    "sales",
)
AGENT_CHANNEL = Channel(
    "rc-c0ffee-agent",
    "Local/alice@sim-agent-00000002;1",
    "Up",
    CallerId("", ""),
    CallerId("", ""),
    "fr",
    "",
    "",
)


def kinds(commands: list[c.Command]) -> list[str]:
    return [type(cmd).__name__ for cmd in commands]


def of(commands: list[c.Command], kind: type[T]) -> list[T]:
    return [cmd for cmd in commands if isinstance(cmd, kind)]


class Driver:
    def __init__(
        self,
        service: Service | None = None,
        seed: int = 1,
        hashed: str | None = "h1",
        settings: CallSettings = SETTINGS,
    ) -> None:
        cast = inbound_cast(
            call_id="c0ffee",
            service=service or make_service(sampling_rate=0.999),
            caller=CALLER,
            caller_hash=hashed,
        )
        self.call = Call(cast=cast, settings=settings, rng=random.Random(seed))
        self.now = NOW
        self.log: list[c.Command] = []

    def start(self) -> list[c.Command]:
        out = self.call.start(self.now)
        self.log += out
        return out

    def send(self, message: m.Message) -> list[c.Command]:
        out = self.call.handle(message, self.now)
        self.log += out
        return out

    def finish_announcement(self) -> list[c.Command]:
        return self.send(m.PlaybackDone(self.call.playback_id))

    def connect(self, agent: Agent | None = None) -> list[c.Command]:
        self.start()
        self.send(m.ObjectionKnown(False))
        self.finish_announcement()
        return self.send(m.AgentAnswered(AGENT_CHANNEL, agent or make_agent()))


def test_announcement_first_then_agent_then_recording() -> None:
    """The caller hears the announcement before anything is dialled or recorded (C1)."""
    d = Driver()
    start = d.start()
    assert kinds(start) == ["Answer", "BeginCall", "LookupObjection", "Play"]
    play = of(start, c.Play)[0]
    assert play.media == "sound:reccontrol/fr/announce" and play.lang == "fr"
    begin = of(start, c.BeginCall)[0]
    assert begin.call.caller_hash == "h1" and begin.announcement_version == "v1"

    assert d.send(m.ObjectionKnown(False)) == []
    dial = d.finish_announcement()
    assert kinds(dial) == ["AnnouncementHeard", "Ring", "Originate", "StartTimer"]
    originate = of(dial, c.Originate)[0]
    assert originate.endpoint == "Local/alice@sim-agent"
    assert originate.app_args == "agent,c0ffee" and originate.ring_timeout == 20

    connected = d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    assert kinds(connected) == [
        "CancelTimer",
        "CreateBridge",
        "AddToBridge",
        "AddToBridge",
        "Log",
        "Log",
        "RecordDecision",
        "OpenRecording",
        "StartRecording",
        "Log",
        "Snoop",  # the whisper of the agent's tones (A10)
    ]
    logs = of(connected, c.Log)
    assert [log.level for log in logs] == ["info", "debug", "info"]
    assert "alice" not in logs[0].message and "alice" in logs[1].message
    decision = of(connected, c.RecordDecision)[0].decision
    assert decision.record and decision.reason == "sampled" and decision.agent_id == "alice"
    assert decision.draw is not None and decision.rate == 0.999
    start_rec = of(connected, c.StartRecording)[0]
    opened = of(connected, c.OpenRecording)[0]
    assert start_rec.name == opened.name and len(start_rec.name) == 40
    assert opened.purposes == ("training", "quality") and opened.retention_days == 90


def test_recording_never_starts_before_the_announcement_ends() -> None:
    """Nothing is recorded before the announcement has been heard (C1)."""
    d = Driver()
    d.start()
    d.send(m.ObjectionKnown(False))
    # Whatever arrives during the announcement, nothing records.
    d.send(m.Dtmf(CALLER.id, "5"))
    d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    assert of(d.log, c.StartRecording) == [] and of(d.log, c.Originate) == []


def test_full_hangup_sequence_adopts_the_file() -> None:
    d = Driver()
    d.connect()
    name = of(d.log, c.StartRecording)[0].name
    d.send(m.RecordingStarted(name))
    gone = d.send(m.ChannelGone(CALLER.id))
    assert kinds(gone) == [
        "Log",
        "StopRecording",
        "Hangup",
        "DestroyBridge",
        "StartTimer",
        "CutSnoop",
    ]
    assert of(gone, c.Hangup)[0].channel_id == AGENT_CHANNEL.id
    assert d.send(m.RecordingEnded(name)) == [
        c.TakeInRecording(of(d.log, c.OpenRecording)[0].recording_id, name, "wav")
    ]
    end = d.send(m.ChannelGone(AGENT_CHANNEL.id))
    assert kinds(end) == ["CancelTimer", "EndCall", "Finished"]
    assert of(end, c.EndCall)[0] == c.EndCall("c0ffee", "caller_hung_up", "alice", True)
    assert d.call.phase is Phase.ENDED
    assert d.send(m.ChannelGone(CALLER.id)) == []


def test_agent_hangs_up_first() -> None:
    d = Driver()
    d.connect()
    name = of(d.log, c.StartRecording)[0].name
    gone = d.send(m.ChannelGone(AGENT_CHANNEL.id))
    assert of(gone, c.Hangup) == [c.Hangup(CALLER.id)]
    d.send(m.ChannelGone(CALLER.id))
    end = d.send(m.RecordingEnded(name))
    assert of(end, c.EndCall)[0].outcome == "agent_hung_up"


def test_opt_out_during_announcement() -> None:
    """The opt-out key during the announcement: no recording, objection stored (C2)."""
    d = Driver()
    d.start()
    out = d.send(m.Dtmf(CALLER.id, "9"))
    assert kinds(out) == ["StopPlayback", "AddConsent", "RememberObjection", "Log"]
    consent = of(out, c.AddConsent)[0].event
    assert (consent.kind, consent.key, consent.phase, consent.announcement_version) == (
        "opt_out",
        "9",
        "announcement",
        "v1",
    )
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()
    connected = d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    decision = of(connected, c.RecordDecision)[0].decision
    assert not decision.record and decision.reason == "caller_objected"
    assert of(d.log, c.StartRecording) == []
    # The call itself goes on: the caller still reaches the agent.
    assert of(connected, c.AddToBridge)


def test_opt_out_mid_call_discards_first() -> None:
    """The opt-out key mid-call discards the live recording before anything else; the
    call's audio already in the vault goes after the objection is in the ledger (C2)."""
    d = Driver()
    d.connect()
    name = of(d.log, c.StartRecording)[0].name
    d.send(m.RecordingStarted(name))
    out = d.send(m.Dtmf(CALLER.id, "9"))
    assert out[0] == c.CancelRecording(name)
    assert kinds(out) == [
        "CancelRecording",
        "CloseRecording",
        "AddConsent",
        "RememberObjection",
        "Log",
        "DeleteUnkeptAudio",
    ]
    assert of(out, c.DeleteUnkeptAudio) == [c.DeleteUnkeptAudio(d.call.call_id, Unkept.OBJECTED)]
    assert of(out, c.CloseRecording)[0].state == "discarded"
    assert of(out, c.AddConsent)[0].event.phase == "conversation"
    # Pressing again changes nothing; the end never adopts a discarded file.
    assert d.send(m.Dtmf(CALLER.id, "9")) == []
    d.send(m.ChannelGone(CALLER.id))
    ended = d.send(m.RecordingEnded(name))
    assert of(ended, c.TakeInRecording) == []
    assert of(ended, c.DiscardIncoming) == [c.DiscardIncoming(name, "wav")]
    assert of(d.log, c.StopRecording) == []


def test_opt_out_while_the_recording_is_still_starting() -> None:
    d = Driver()
    d.connect()
    name = of(d.log, c.StartRecording)[0].name
    out = d.send(m.Dtmf(CALLER.id, "9"))
    assert out[0] == c.CancelRecording(name)


def test_agent_keys_do_not_count_as_caller_keys() -> None:
    d = Driver()
    d.connect()
    assert d.send(m.Dtmf(AGENT_CHANNEL.id, "9")) == []


def test_full_notice_then_back_to_the_flow() -> None:
    """The full-notice key plays the notice, then the call goes on (C3)."""
    d = Driver()
    d.start()
    out = d.send(m.Dtmf(CALLER.id, "0"))
    assert kinds(out) == ["StopPlayback", "AddConsent"]
    assert of(out, c.AddConsent)[0].event.kind == "full_notice"
    notice = d.finish_announcement()
    assert kinds(notice) == ["Play"]
    assert of(notice, c.Play)[0].media == "sound:reccontrol/fr/notice"
    assert d.call.phase is Phase.FULL_NOTICE
    # The opt-out key works during the notice too.
    assert kinds(d.send(m.Dtmf(CALLER.id, "9")))[0] == "StopPlayback"
    dial = d.finish_announcement()
    assert "Originate" in kinds(dial)


def test_remembered_objection_stops_recording() -> None:
    """A remembered objection stops the recording of a later call (C4)."""
    d = Driver()
    d.start()
    d.send(m.ObjectionKnown(True))
    d.finish_announcement()
    out = d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    assert of(out, c.RecordDecision)[0].decision.reason == "remembered_objection"
    assert of(out, c.StartRecording) == []


def test_decision_waits_for_the_objection_lookup() -> None:
    d = Driver()
    d.start()
    d.finish_announcement()
    out = d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    assert of(out, c.RecordDecision) == []
    out = d.send(m.ObjectionKnown(False))
    assert of(out, c.RecordDecision)[0].decision.reason == "sampled"


def test_anonymous_caller_needs_no_lookup() -> None:
    d = Driver(hashed=None)
    assert "LookupObjection" not in kinds(d.start())
    d.finish_announcement()
    out = d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    assert of(out, c.RecordDecision)[0].decision.record


def test_unsampled_call_is_not_recorded_and_says_why() -> None:
    """An unsampled call is stored with the decision and why (P3)."""
    d = Driver(service=make_service(sampling_rate=0.001))
    out = d.connect()
    decision = of(out, c.RecordDecision)[0].decision
    assert not decision.record and decision.reason == "not_sampled" and decision.draw is not None
    assert of(out, c.StartRecording) == []


def test_protected_agent_and_unknown_agent() -> None:
    """Protected agents, and agents not known, are never recorded (A3)."""
    d = Driver()
    out = d.connect(make_agent(protected=True, protection_reason="staff representative"))
    assert of(out, c.RecordDecision)[0].decision.reason == "protected_agent"
    d = Driver()
    d.start()
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()
    out = d.send(m.AgentAnswered(AGENT_CHANNEL, None))
    assert of(out, c.RecordDecision)[0].decision.reason == "unknown_agent"


def test_no_agent_answers_in_time() -> None:
    d = Driver()
    d.start()
    d.finish_announcement()
    out = d.send(m.TimerFired(AGENT_TIMER))
    assert kinds(out) == ["CancelTimer", "Hangup", "Log", "Play"]
    assert of(out, c.Play)[0].media == "sound:sorry"
    end = d.finish_announcement()
    assert kinds(end) == ["Hangup", "EndCall", "Finished"]
    assert of(end, c.EndCall)[0].outcome == "no_agent"
    assert of(d.log, c.RecordDecision) == [] and of(d.log, c.StartRecording) == []
    # An agent who answers after all is hung up.
    assert d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent())) == []


def test_agent_channel_fails_before_answer() -> None:
    d = Driver()
    d.start()
    d.finish_announcement()
    out = d.send(m.ChannelGone("rc-c0ffee-agent"))
    assert kinds(out) == ["CancelTimer", "Log", "Play"]


def test_originate_refused_hands_the_caller_back() -> None:
    d = Driver()
    d.start()
    dial = d.finish_announcement()
    out = d.send(m.CommandFailed(of(dial, c.Originate)[0], "ari-bad-request", 400))
    assert kinds(out) == ["Log", "CancelTimer", "ContinueInDialplan", "EndCall", "Finished"]
    assert of(out, c.EndCall)[0].outcome == "handed_back"


def test_r2_dialling_asterisk_answers_late_is_bridged_and_recorded() -> None:
    """R2, C1: on a loaded Asterisk the agent's dialling may get no answer in time and
    still be carried out; the agent's leg then answers into the application. The call
    waits for it, instead of handing the caller back unrecorded while that leg rings."""
    d = Driver()
    d.start()
    d.send(m.ObjectionKnown(False))
    dial = d.finish_announcement()
    out = d.send(m.CommandFailed(of(dial, c.Originate)[0], "ari-unavailable", None))
    assert kinds(out) == ["Log"] and of(out, c.Log)[0].level is c.Level.WARNING
    assert d.call.phase is Phase.DIALING
    connected = d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    assert "CreateBridge" in kinds(connected) and "StartRecording" in kinds(connected)
    assert of(connected, c.Hangup) == [] and of(connected, c.ContinueInDialplan) == []


def test_r2_dialling_never_answered_hands_the_caller_back_when_the_dial_timer_fires() -> None:
    """R2: the dialling got no answer and the agent's leg never showed: at the dial timer
    the caller goes on through the dialplan, and the leg is hung up should it exist."""
    d = Driver()
    d.start()
    dial = d.finish_announcement()
    d.send(m.CommandFailed(of(dial, c.Originate)[0], "ari-unavailable", None))
    out = d.send(m.TimerFired(AGENT_TIMER))
    assert of(out, c.Hangup) == [c.Hangup(AGENT_CHANNEL.id)]
    assert c.ContinueInDialplan(CALLER.id) in out and of(out, c.Play) == []
    assert of(out, c.EndCall)[0].outcome == "handed_back"
    # Answering after that is too late: the leg is let go.
    assert d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent())) == []


def test_bridge_failure_hands_the_caller_back_and_discards() -> None:
    d = Driver()
    connected = d.connect()
    name = recording_name(d)
    add = of(connected, c.AddToBridge)[1]
    out = d.send(m.CommandFailed(add, "ari-unprocessable", 422))
    assert kinds(out)[:3] == ["Log", "CancelRecording", "CloseRecording"]
    assert of(out, c.CancelRecording)[0].name == name
    assert of(out, c.Hangup) == [c.Hangup(AGENT_CHANNEL.id)]
    assert "DestroyBridge" in kinds(out) and "ContinueInDialplan" in kinds(out)


def test_caller_hangs_up_during_announcement() -> None:
    d = Driver()
    d.start()
    out = d.send(m.ChannelGone(CALLER.id))
    assert kinds(out) == ["Log", "EndCall", "Finished"]
    assert of(out, c.EndCall)[0].outcome == "caller_hung_up"
    assert of(out, c.EndCall)[0].announcement_completed is False


def test_caller_hangs_up_while_agent_rings() -> None:
    d = Driver()
    d.start()
    d.finish_announcement()
    out = d.send(m.ChannelGone(CALLER.id))
    assert kinds(out) == ["Hangup", "CancelTimer", "Log", "EndCall", "Finished"]
    assert of(out, c.Hangup)[0].channel_id == "rc-c0ffee-agent"


def test_recording_that_fails_to_start() -> None:
    d = Driver()
    d.connect()
    start = of(d.log, c.StartRecording)[0]
    out = d.send(m.CommandFailed(start, "ari-conflict", 409))
    # R1: an alert on the call at once, and one retry with a new file.
    assert kinds(out) == ["CloseRecording", "AddAlert", "Log", "OpenRecording", "StartRecording"]
    assert of(out, c.CloseRecording)[0].state == "failed"
    alert = of(out, c.AddAlert)[0]
    assert alert.kind == "recording_failed" and alert.call_id == "c0ffee"
    assert "409" in alert.message and "retrying once" in alert.message
    retry = of(out, c.StartRecording)[0]
    assert retry.name != start.name
    out = d.send(m.CommandFailed(retry, "ari-conflict", 409))
    assert kinds(out) == ["CloseRecording", "AddAlert", "Log"]
    assert "goes on unrecorded" in of(out, c.AddAlert)[0].message
    # The call goes on; hang-up ends it without trying to stop or adopt anything.
    d.send(m.ChannelGone(CALLER.id))
    end = d.send(m.ChannelGone(AGENT_CHANNEL.id))
    assert of(d.log, c.StopRecording) == [] and of(d.log, c.TakeInRecording) == []
    assert of(end, c.EndCall)[0].outcome == "caller_hung_up"


def test_recording_failed_event() -> None:
    d = Driver()
    d.connect()
    name = of(d.log, c.StartRecording)[0].name
    out = d.send(m.RecordingEnded(name, failed=True, cause="disk full"))
    assert of(out, c.CloseRecording)[0].state == "failed"
    assert of(out, c.DiscardIncoming)[0].name == name
    (alert,) = of(out, c.AddAlert)
    assert alert.kind == "recording_failed" and "disk full" in alert.message
    # Retried once: the new recording runs, and a hang-up vaults it as usual.
    retry = of(out, c.StartRecording)[0]
    assert d.send(m.RecordingStarted(retry.name)) == []
    d.send(m.ChannelGone(CALLER.id))
    d.send(m.ChannelGone(AGENT_CHANNEL.id))
    end = d.send(m.RecordingEnded(retry.name))
    assert [a.name for a in of(end, c.TakeInRecording)] == [retry.name]


def test_r1_recording_that_ends_by_itself_mid_call_is_alerted_and_retried_once() -> None:
    """Asterisk reports a folder it cannot write as a recording finished at once."""
    d = Driver()
    d.connect()
    first = of(d.log, c.StartRecording)[0]
    d.send(m.RecordingStarted(first.name))
    out = d.send(m.RecordingEnded(first.name))
    assert kinds(out) == ["TakeInRecording", "AddAlert", "Log", "OpenRecording", "StartRecording"]
    assert "ended by itself" in of(out, c.AddAlert)[0].message
    second = of(out, c.StartRecording)[0]
    d.send(m.RecordingStarted(second.name))
    out = d.send(m.RecordingEnded(second.name))
    assert kinds(out) == ["TakeInRecording", "AddAlert", "Log"]
    assert "goes on unrecorded" in of(out, c.AddAlert)[0].message
    assert of(d.log, c.Hangup) == []


def test_r1_no_retry_while_paused() -> None:
    """A new file would record what the open pause keeps out."""
    d = Driver()
    d.connect()
    first = of(d.log, c.StartRecording)[0]
    d.send(m.RecordingStarted(first.name))
    for key in "*2":
        d.send(m.Dtmf(AGENT_CHANNEL.id, key, 0.0))
    assert of(d.log, c.PauseRecording)
    out = d.send(m.RecordingEnded(first.name, failed=True, cause="write error"))
    assert "StartRecording" not in kinds(out)
    assert "ClosePause" in kinds(out)
    assert "goes on unrecorded" in of(out, c.AddAlert)[0].message


def test_announcement_that_cannot_play_means_no_recording() -> None:
    d = Driver()
    d.start()
    d.send(m.ObjectionKnown(False))
    out = d.send(m.PlaybackDone(d.call.playback_id, failed=True))
    assert "Originate" in kinds(out)
    out = d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    assert of(out, c.RecordDecision)[0].decision.reason == "announcement_not_played"


def test_ending_timer_finishes_a_call_whose_events_were_lost() -> None:
    d = Driver()
    d.connect()
    d.send(m.ChannelGone(CALLER.id))
    out = d.send(m.TimerFired(ENDING_TIMER))
    assert kinds(out) == ["TakeInRecording", "Log", "EndCall", "Finished"]


def test_seeded_machines_are_reproducible() -> None:
    """Draws come from the injected random source (P4)."""
    a, b = Driver(seed=9), Driver(seed=9)
    assert a.connect() == b.connect()


# -- agent keys ------------------------------------------------------------------------
def agent_keys(d: Driver, keys: str, start: float = 100.0) -> list[c.Command]:
    out: list[c.Command] = []
    for i, key in enumerate(keys):
        out += d.send(m.Dtmf(AGENT_CHANNEL.id, key, start + i * 0.2))
    return out


def recording_name(d: Driver) -> str:
    return of(d.log, c.StartRecording)[-1].name


def test_pause_goes_out_first_then_resume() -> None:
    """Pause and resume keys; the pause reaches Asterisk first (A5)."""
    d = Driver()
    d.connect()
    name = recording_name(d)
    out = agent_keys(d, "*2")
    assert out[0] == c.PauseRecording(name, mute=False)
    assert kinds(out) == ["PauseRecording", "OpenPause", "StartTimer", "Play", "Log"]
    opened = of(out, c.OpenPause)[0]
    assert (opened.paused_by, opened.reason) == ("alice", "agent_key")
    assert of(out, c.StartTimer)[0].seconds == 120
    feedback = of(out, c.Play)[0]
    assert feedback.channel_id == AGENT_CHANNEL.id and feedback.media == "sound:beep"
    out = agent_keys(d, "*3", start=200)
    assert kinds(out) == ["ResumeRecording", "ClosePause", "CancelTimer", "Play", "Log"]
    assert of(out, c.ClosePause)[0] == c.ClosePause(opened.pause_id, c.PauseEnd.AGENT)


def test_silence_mode_mutes() -> None:
    from controller.config.service_model import PauseSettings

    d = Driver(service=make_service(sampling_rate=0.999, pause=PauseSettings("silence", 60)))
    d.connect()
    out = agent_keys(d, "*2")
    assert out[0] == c.PauseRecording(recording_name(d), mute=True)
    assert agent_keys(d, "*3", start=200)[0] == c.ResumeRecording(recording_name(d), mute=True)


def test_pause_timeout_resumes_and_alerts() -> None:
    """A pause past the maximum resumes by itself and leaves an alert (A5)."""
    d = Driver()
    d.connect()
    agent_keys(d, "*2")
    out = d.send(m.TimerFired("pause"))
    assert kinds(out) == [
        "ResumeRecording",
        "ClosePause",
        "CancelTimer",
        "Play",
        "Log",
        "AddAlert",
        "Log",
    ]
    assert of(out, c.ClosePause)[0].resumed_by == "timeout"
    assert of(out, c.AddAlert)[0].kind == "pause_timeout"
    # A late resume key has nothing to resume.
    assert kinds(agent_keys(d, "*3", start=300)) == ["Play"]


def test_a5_s8_pause_without_recording_writes_nothing_and_holds_listeners_out() -> None:
    """Nothing recorded to pause: no pause row, no REST call; the key is taken for the
    live listening (S8), which the agent hears."""
    d = Driver(service=make_service(sampling_rate=0.001))
    d.connect()
    out = agent_keys(d, "*2")
    assert [x for x in out if not isinstance(x, c.Log)] == [
        c.Play(AGENT_CHANNEL.id, "sound:beep", "rc-c0ffee-f1")
    ]


def test_random_digits_change_nothing() -> None:
    d = Driver()
    d.connect()
    before = len(d.log)
    assert agent_keys(d, "5#4**") == []
    assert len(d.log) == before


def test_keys_typed_too_slowly_do_nothing() -> None:
    d = Driver()
    d.connect()
    assert d.send(m.Dtmf(AGENT_CHANNEL.id, "*", 100.0)) == []
    assert d.send(m.Dtmf(AGENT_CHANNEL.id, "2", 103.0)) == []


def test_private_discards_first_and_forgets_the_call() -> None:
    """The private key discards first; only a count is kept (A2)."""
    d = Driver()
    d.connect()
    name = recording_name(d)
    d.send(m.RecordingStarted(name))
    out = agent_keys(d, "*7")
    assert out[0] == c.CancelRecording(name)
    private = of(out, c.MakePrivate)[0]
    recording_id = of(d.log, c.OpenRecording)[0].recording_id
    assert private == c.MakePrivate("c0ffee", "alice", "2026-12-02", (recording_id,))
    # What of the call reached the vault goes behind the key's write (A2).
    assert of(out, c.DeleteUnkeptAudio) == [c.DeleteUnkeptAudio("c0ffee", Unkept.PRIVATE)]
    assert kinds(out).index("DeleteUnkeptAudio") > kinds(out).index("MakePrivate")
    d.send(m.ChannelGone(CALLER.id))
    end = d.send(m.RecordingEnded(name))
    assert of(end, c.DiscardIncoming) == [c.DiscardIncoming(name, "wav")]
    end += d.send(m.ChannelGone(AGENT_CHANNEL.id))
    assert of(end, c.EndCall) == [] and kinds(end)[-1] == "Finished"
    assert of(d.log, c.TakeInRecording) == []
    # Nothing more can be started on a private call.
    assert kinds(agent_keys(d, "*1", start=400)) == []


def test_private_while_paused_cancels_the_pause_timer() -> None:
    d = Driver()
    d.connect()
    agent_keys(d, "*2")
    out = agent_keys(d, "*7", start=150)
    assert kinds(out)[:2] == ["CancelRecording", "CancelTimer"]


def test_on_demand_recording_of_an_unsampled_call() -> None:
    """An agent records an unsampled call for mediation, marked with that purpose (A4)."""
    d = Driver(service=make_service(sampling_rate=0.001))
    d.connect()
    assert of(d.log, c.StartRecording) == []
    out = agent_keys(d, "*1")
    opened = of(out, c.OpenRecording)[0]
    assert opened.purposes == ("mediation",)
    assert kinds(out)[:2] == ["OpenRecording", "StartRecording"]
    # Already recording: a second *1 is refused.
    assert of(agent_keys(d, "*1", start=200), c.Play)[0].media == "sound:beeperr"


def test_on_demand_refused_after_objection() -> None:
    """On-demand recording is refused once the caller objected (A4)."""
    d = Driver(service=make_service(sampling_rate=0.001))
    d.start()
    d.send(m.Dtmf(CALLER.id, "9"))
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()
    d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    out = agent_keys(d, "*1")
    assert of(out, c.StartRecording) == []
    assert of(out, c.Play)[0].media == "sound:beeperr"
    assert "caller_objected" in of(out, c.Log)[0].message


@pytest.mark.parametrize("informed", [dt.date(2026, 12, 3), None], ids=["later", "absent"])
def test_a8_a4_nothing_recorded_before_the_staff_representatives_are_informed(
    informed: dt.date | None,
) -> None:
    """Before the day the staff representatives were informed (or with no such day), a
    sampled call is not recorded, its decision says why, and the agent's start key is
    refused (A8, A4)."""
    settings = dataclasses.replace(SETTINGS, staff_informed=informed)
    d = Driver(service=make_service(sampling_rate=0.999), settings=settings)
    d.connect()
    (decision,) = of(d.log, c.RecordDecision)
    assert not decision.decision.record
    assert decision.decision.reason == "staff_not_informed"
    assert of(d.log, c.StartRecording) == []
    out = agent_keys(d, "*1")
    assert of(out, c.StartRecording) == []
    assert of(out, c.Play)[0].media == "sound:beeperr"
    assert "staff_not_informed" in of(out, c.Log)[0].message


def test_on_demand_refused_for_protected_agent_and_outside_windows() -> None:
    """On-demand recording still respects protection and the agent's periods (A1, A3, A4)."""
    d = Driver(service=make_service(sampling_rate=0.001))
    d.connect(make_agent(protected=True, protection_reason="x"))
    assert "protected_agent" in of(agent_keys(d, "*1"), c.Log)[0].message
    d = Driver(service=make_service(sampling_rate=0.001))
    d.now = dt.datetime(2026, 12, 6, 10, tzinfo=dt.UTC)  # a Sunday
    d.connect()
    assert "outside_agent_window" in of(agent_keys(d, "*1"), c.Log)[0].message


def test_opt_out_while_paused_closes_the_pause() -> None:
    d = Driver()
    d.connect()
    agent_keys(d, "*2")
    out = d.send(m.Dtmf(CALLER.id, "9"))
    assert kinds(out)[:4] == ["CancelRecording", "CloseRecording", "ClosePause", "CancelTimer"]
    assert of(out, c.ClosePause)[0].resumed_by == "discarded"


def test_hangup_while_paused_closes_the_pause() -> None:
    d = Driver()
    d.connect()
    agent_keys(d, "*2")
    out = d.send(m.ChannelGone(CALLER.id))
    assert of(out, c.ClosePause)[0].resumed_by == "call_end"


# -- payments --------------------------------------------------------------------------
PAY_PROMPTS = PaymentPrompts("p-num", "p-exp", "p-cvv", "p-bad", "p-ok", "p-no", "p-down")
PAYMENT = PaymentSettings("https://pay.example/v1", PAY_PROMPTS, currency="EUR")
CARD_KEYS = "4556737586899855#" + "1228" + "737#"


def paying_driver(**service_changes: Any) -> Driver:
    settings = dataclasses.replace(SETTINGS, payment=PAYMENT)
    service = make_service(sampling_rate=0.999, payments=True, **service_changes)
    d = Driver(service=service, settings=settings)
    return d


def caller_keys(d: Driver, keys: str) -> list[c.Command]:
    out: list[c.Command] = []
    for key in keys:
        out += d.send(m.Dtmf(CALLER.id, key, 500.0))
    return out


def start_ivr(d: Driver) -> list[c.Command]:
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    first = agent_keys(d, "*8")
    return first + d.send(m.PaymentDetails("42.50", "ORDER-7"))


def test_payment_key_pauses_first_then_moves_the_caller() -> None:
    """The payment key pauses the recording before the caller hears the IVR (M1)."""
    d = paying_driver()
    d.connect()
    name = recording_name(d)
    out = agent_keys(d, "*8")
    assert out[0] == c.PauseRecording(name, mute=False)
    assert kinds(out) == ["PauseRecording", "OpenPause", "FetchPaymentDetails", "Log"]
    assert of(out, c.OpenPause)[0].reason == "payment_ivr"
    out = d.send(m.PaymentDetails("42.50", "ORDER-7"))
    assert kinds(out)[:4] == ["RemoveFromBridge", "StartHoldMusic", "Play", "StartTimer"]
    assert of(out, c.RemoveFromBridge)[0].channel_id == CALLER.id
    assert of(out, c.StartHoldMusic)[0].bridge_id == "rc-c0ffee"
    assert of(out, c.Play)[0].channel_id == CALLER.id and "p-num" in of(out, c.Play)[0].media


def test_full_payment_returns_the_caller_and_resumes() -> None:
    d = paying_driver()
    start_ivr(d)
    out = caller_keys(d, CARD_KEYS)
    submit = of(out, c.SubmitPayment)
    assert len(submit) == 1
    request = submit[0].request
    assert request.amount == Decimal("42.50") and request.order_reference == "ORDER-7"
    assert "4556" not in repr(out)
    # The caller's 9 was a card digit, not an objection.
    assert of(d.log, c.AddConsent) == []
    done = d.send(m.PaymentDone(ChargeResult("approved", "PAY-1", 1, "HTTP 200", 80.0)))
    record = of(done, c.RecordPayment)[0].payment
    assert (record.status, record.amount, record.provider_reference) == (
        "approved",
        "42.50",
        "PAY-1",
    )
    result_play = next(p for p in of(done, c.Play) if p.channel_id == CALLER.id)
    assert result_play.media == "sound:p-ok"
    assert [p.media for p in of(done, c.Play) if p.channel_id == AGENT_CHANNEL.id] == ["sound:beep"]
    back = d.send(m.PlaybackDone(result_play.playback_id))
    assert kinds(back)[:4] == ["StopHoldMusic", "AddToBridge", "ResumeRecording", "ClosePause"]
    assert of(back, c.ClosePause)[0].resumed_by == "payment"
    assert d.call.payment is None


def test_m1_r2_payment_api_silent_past_its_grace_returns_the_caller_to_the_agent() -> None:
    """M1, R2: with the card sent and no answer, the payment timer returns the caller
    to the agent: failure prompt to the caller, refusal tone to the agent, then back
    in the bridge and the recording resumed."""
    d = paying_driver()
    start_ivr(d)
    out = caller_keys(d, CARD_KEYS)
    assert len(of(out, c.SubmitPayment)) == 1
    fired = d.send(m.TimerFired("payment-entry"))
    assert of(fired, c.RecordPayment)[0].payment.status == "unknown"
    result_play = next(p for p in of(fired, c.Play) if p.channel_id == CALLER.id)
    assert result_play.media == "sound:p-down"
    agent_tone = [p.media for p in of(fired, c.Play) if p.channel_id == AGENT_CHANNEL.id]
    assert agent_tone == [f"sound:{d.call.settings.agent_keys.refused_sound}"]
    back = d.send(m.PlaybackDone(result_play.playback_id))
    assert kinds(back)[:4] == ["StopHoldMusic", "AddToBridge", "ResumeRecording", "ClosePause"]
    assert d.call.payment is None
    # The answer that finally comes is stored nowhere a second time.
    late = d.send(m.PaymentDone(ChargeResult("approved", "PAY-1", 1, "HTTP 200", 9000.0)))
    assert of(late, c.RecordPayment) == [] and of(late, c.AddToBridge) == []


def test_payment_refused_without_amount() -> None:
    d = paying_driver()
    d.connect()
    agent_keys(d, "*8")
    out = d.send(m.PaymentDetails("", "ORDER-7"))
    assert kinds(out)[:2] == ["ResumeRecording", "ClosePause"]
    assert of(out, c.Play)[0].media == "sound:beeperr"
    assert of(out, c.RemoveFromBridge) == []


@pytest.mark.parametrize("amount", ["0", "-3", "12.345", "abc", "99999999"])
def test_payment_refused_for_bad_amounts(amount: str) -> None:
    d = paying_driver()
    d.connect()
    agent_keys(d, "*8")
    assert of(d.send(m.PaymentDetails(amount, "ORDER-7")), c.RemoveFromBridge) == []


@pytest.mark.parametrize("order", ["4111111111111111", "CMD-4111-1111-1111-1111"])
def test_medium6_order_reference_holding_a_card_number_is_refused(order: str) -> None:
    """Medium 6 (PCI DSS 3.4): the order reference is stored with the payment outcome,
    so one that holds a card number is refused before anything is stored."""
    d = paying_driver()
    d.connect()
    agent_keys(d, "*8")
    out = d.send(m.PaymentDetails("42.50", order))
    assert of(out, c.RemoveFromBridge) == [] and of(out, c.RecordPayment) == []
    assert kinds(out)[:2] == ["ResumeRecording", "ClosePause"]


def test_payment_not_enabled_for_the_service() -> None:
    d = Driver(settings=dataclasses.replace(SETTINGS, payment=PAYMENT))
    d.connect()
    out = agent_keys(d, "*8")
    assert of(out, c.PauseRecording) == [] and of(out, c.Play)[0].media == "sound:beeperr"


def test_caller_hangs_up_mid_ivr_sends_nothing() -> None:
    d = paying_driver()
    start_ivr(d)
    caller_keys(d, "45567")
    out = d.send(m.ChannelGone(CALLER.id))
    assert of(out, c.SubmitPayment) == []
    assert of(out, c.RecordPayment)[0].payment.status == "abandoned"
    assert of(out, c.StopRecording)


def test_agent_cannot_resume_during_the_payment() -> None:
    d = paying_driver()
    start_ivr(d)
    assert of(agent_keys(d, "*3", start=300), c.ResumeRecording) == []


def test_api_unavailable_still_brings_the_caller_back() -> None:
    d = paying_driver()
    start_ivr(d)
    caller_keys(d, CARD_KEYS)
    done = d.send(m.PaymentDone(ChargeResult("unavailable", "", 2, "no answer in time", 1.0)))
    play = next(p for p in of(done, c.Play) if p.channel_id == CALLER.id)
    assert play.media == "sound:p-down"
    back = d.send(m.PlaybackDone(play.playback_id))
    assert "ResumeRecording" in kinds(back)


def test_card_pause_and_its_resume_rule() -> None:
    """The manual card pause, and its forced resume after a timeout (M2)."""
    from controller.config.service_model import PauseSettings

    d = Driver(
        service=make_service(
            sampling_rate=0.999, pause=PauseSettings(card_max_seconds=60, card_resume="timeout")
        )
    )
    d.connect()
    out = agent_keys(d, "*5")
    assert out[0] == c.PauseRecording(recording_name(d), mute=False)
    assert of(out, c.OpenPause)[0].reason == "card"
    assert of(out, c.StartTimer)[0].seconds == 60
    assert of(agent_keys(d, "*3", start=200), c.ResumeRecording) == []
    out = d.send(m.TimerFired("pause"))
    assert of(out, c.AddAlert)[0].kind == "card_pause_timeout"
    assert "ResumeRecording" in kinds(out)
