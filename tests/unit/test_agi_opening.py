"""The FastAGI call's opening, pure: at each dialplan hook it rebuilds the call from its
open row and runs the ARI path's decision and recording machines (P1, P3, A3, C1, C2,
C4); after a restart, a call whose caller is still up is left to its hooks, one whose
caller left has its file taken in (R1)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

from controller.calls import commands as c
from controller.calls.adoption import Released
from controller.calls.agi_opening import (
    AgiOpening,
    Connected,
    LeftRunning,
    OutboundAsk,
    OutboundRefusal,
    after_restart,
    not_answered,
    outbound_ask,
)
from controller.calls.parties import Outcome
from controller.calls.recording import RecState
from controller.config.model import Agent
from controller.config.service_model import Outbound, PauseSettings
from controller.records import OpenCall
from tests.factories import make_agent, make_service
from tests.unit.test_adoption import NAME, decision, plan, recording_row, view
from tests.unit.test_inbound_call import CALLER, NOW, SETTINGS, kinds, of

CALL = "c0ffee"


def fresh_call(**changes: object) -> OpenCall:
    """As the inbound script leaves it at hand-back: announced, no decision yet."""
    call = OpenCall(
        call_id=CALL, service="sales", direction="inbound", channel_id=CALLER.id,
        caller_hash="h1", announcement_completed=True, objected=False, notice_given=False,
        decision=None, has_recordings=False, recording=None, path="agi",
    )  # fmt: skip
    return dataclasses.replace(call, **changes)  # type: ignore[arg-type]


def connect(
    call: OpenCall,
    *,
    draw: float = 0.1,
    consent: str | None = "informed",
    agent: Agent | None = None,
    remembered: bool = False,
) -> tuple[AgiOpening, list[c.Command]]:
    rng = random.Random(1)
    rng.random = lambda: draw  # type: ignore[method-assign]
    opening = AgiOpening(call, make_service(), SETTINGS, rng)
    hook = Connected(call, opening.service, agent or make_agent(), consent, remembered)
    return opening, opening.connected(hook, NOW)


def test_p1_p3_t1_sampled_the_decision_row_then_the_recording_row_then_mixmonitor() -> None:
    _, commands = connect(fresh_call())
    assert kinds(commands)[:3] == ["RecordDecision", "OpenRecording", "StartRecording"]
    (row,) = of(commands, c.RecordDecision)
    assert (row.decision.record, row.decision.reason, row.decision.agent_id) == (
        True, "sampled", "alice",
    )  # fmt: skip
    (opened,) = of(commands, c.OpenRecording)
    assert opened.purposes == ("training", "quality") and opened.retention_days == 90
    assert len(opened.name) == 40 and opened.fmt == "wav"
    (start,) = of(commands, c.StartRecording)
    assert start.name == opened.name


def test_p1_not_sampled_no_recording() -> None:
    _, commands = connect(fresh_call(), draw=0.9)
    (row,) = of(commands, c.RecordDecision)
    assert row.decision.reason == "not_sampled"
    assert of(commands, c.OpenRecording) == [] and of(commands, c.StartRecording) == []


def test_c2_an_objection_stored_or_on_the_channel_is_not_recorded() -> None:
    for call, consent in ((fresh_call(objected=True), "informed"), (fresh_call(), "objected")):
        _, commands = connect(call, consent=consent)
        (row,) = of(commands, c.RecordDecision)
        assert row.decision.reason == "caller_objected" and of(commands, c.StartRecording) == []


def test_c4_a_remembered_objection_is_not_recorded() -> None:
    _, commands = connect(fresh_call(), remembered=True)
    (row,) = of(commands, c.RecordDecision)
    assert row.decision.reason == "remembered_objection"


def test_c1_unannounced_on_the_channel_or_in_the_row_is_not_recorded() -> None:
    for call, consent in (
        (fresh_call(), "unannounced"),
        (fresh_call(), None),
        (fresh_call(announcement_completed=False), "informed"),
    ):
        _, commands = connect(call, consent=consent)
        (row,) = of(commands, c.RecordDecision)
        assert row.decision.reason == "announcement_not_played", consent


def test_a3_a_protected_agent_or_an_unknown_channel_is_not_recorded() -> None:
    protected = make_agent(protected=True, protection_reason="staff representative")
    _, commands = connect(fresh_call(), agent=protected)
    assert of(commands, c.RecordDecision)[0].decision.reason == "protected_agent"
    opening = AgiOpening(fresh_call(), make_service(), SETTINGS, random.Random(1))
    hook = Connected(fresh_call(), opening.service, None, "informed", False)
    (row,) = of(opening.connected(hook, NOW), c.RecordDecision)
    assert row.decision.reason == "unknown_agent"


def test_a_call_decided_once_is_not_decided_again_by_a_second_agent() -> None:
    _, commands = connect(fresh_call(decision=decision()))
    assert kinds(commands) == ["Log"]


def test_a_refused_mixmonitor_closes_the_row_failed_with_an_alert() -> None:
    opening, commands = connect(fresh_call())
    (start,) = of(commands, c.StartRecording)
    failed = opening.start_failed(start.name, "agi-mixmonitor-refused")
    assert kinds(failed)[:2] == ["CloseRecording", "AddAlert"]
    assert of(failed, c.StartRecording) == []


def recording_call(**changes: object) -> OpenCall:
    row = recording_row()
    return fresh_call(decision=decision(), has_recordings=True, recording=row, **changes)


def hang_up(call: OpenCall, *, holds: bool, entry: bool) -> list[c.Command]:
    return AgiOpening(call, make_service(), SETTINGS, random.Random(1)).hung_up(
        holds_recording=holds, entry=entry
    )


def test_t1_the_agent_hanging_up_stops_the_recording_and_takes_the_file_in() -> None:
    commands = hang_up(recording_call(), holds=True, entry=False)
    assert commands == [c.StopRecording(NAME), c.TakeInRecording("r1", NAME, "wav")]


def test_the_caller_hanging_up_closes_the_call() -> None:
    assert hang_up(recording_call(), holds=False, entry=True) == [
        c.EndCall(CALL, "completed", "alice", True)
    ]
    assert hang_up(fresh_call(), holds=False, entry=True) == [
        c.EndCall(CALL, "caller_hung_up", None, True)
    ]


def test_c2_a_recording_of_a_caller_who_objected_leaves_no_file() -> None:
    commands = hang_up(recording_call(objected=True), holds=True, entry=False)
    assert kinds(commands) == ["CancelRecording", "CloseRecording", "DiscardIncoming"]
    assert of(commands, c.CloseRecording)[0].state == "discarded"


def test_r1_after_a_restart_a_caller_still_up_keeps_the_call_open() -> None:
    assert after_restart(recording_call(), True) == LeftRunning(CALL)
    assert plan(recording_call(), view(channels=(CALLER,), bridge=False)) == LeftRunning(CALL)


def test_r1_after_a_restart_a_caller_gone_has_the_file_taken_in_and_the_call_closed() -> None:
    result = plan(recording_call(), view(channels=(), bridge=False))
    assert isinstance(result, Released)
    assert result.commands[:2] == [
        c.TakeInRecording("r1", NAME, "wav"),
        c.EndCall(CALL, "interrupted", "alice", True),
    ]
    # The caller had objected: the file is deleted, never kept.
    objected = after_restart(recording_call(objected=True), False)
    assert isinstance(objected, list)
    assert kinds(objected)[:3] == ["CloseRecording", "DiscardIncoming", "EndCall"]


def test_the_rebuilt_recording_is_the_live_row() -> None:
    opening = AgiOpening(recording_call(), make_service(), SETTINGS, random.Random(1))
    assert opening.rec.recording is not None
    assert (opening.rec.recording.name, opening.rec.recording.state) == (NAME, RecState.ACTIVE)


# -- the agents' keys (A2, A4, A5) ---------------------------------------------------------
def keyed(
    call: OpenCall, script: str, *, objected: bool = False, holds: bool = True, **service: object
) -> list[c.Command]:
    opening = AgiOpening(call, make_service(**service), SETTINGS, random.Random(1))
    return opening.key(
        script, make_agent(), caller_objected=objected, now=NOW, holds_recording=holds
    )


def paused_call(reason: str = "agent_key") -> OpenCall:
    row = recording_row(pause=reason)
    return fresh_call(decision=decision(), has_recordings=True, recording=row)


def test_a5_the_pause_key_pauses_first_then_the_row_and_the_limit_as_on_the_ari_path() -> None:
    commands = keyed(recording_call(), "pause")
    assert commands[0] == c.PauseRecording(NAME, mute=False)
    (opened,) = of(commands, c.OpenPause)
    assert (opened.recording_id, opened.paused_by, opened.reason) == ("r1", "alice", "agent_key")
    assert c.StartTimer("pause", 120) in commands
    (feedback,) = of(commands, c.Play)
    assert feedback.media == "sound:beep"


def test_a5_in_silence_mode_the_pause_mutes() -> None:
    commands = keyed(recording_call(), "pause", pause=PauseSettings(mode="silence"))
    assert commands[0] == c.PauseRecording(NAME, mute=True)


def test_a5_a_second_pause_or_a_resume_with_nothing_paused_is_refused() -> None:
    for call, script in ((paused_call(), "pause"), (recording_call(), "resume")):
        commands = keyed(call, script)
        assert [type(x) for x in commands if not isinstance(x, c.Log)] == [c.Play]
        assert of(commands, c.Play)[0].media == "sound:beeperr"


def test_a5_the_resume_key_closes_the_stored_pause() -> None:
    commands = [x for x in keyed(paused_call(), "resume") if not isinstance(x, c.Play)]
    assert commands[:3] == [
        c.ResumeRecording(NAME, False),
        c.ClosePause("p1", c.PauseEnd.AGENT),
        c.CancelTimer("pause"),
    ]


def test_a5_the_pause_limit_resumes_with_the_forced_resume_row_and_an_alert() -> None:
    opening = AgiOpening(paused_call(), make_service(), SETTINGS, random.Random(1))
    commands = opening.pause_timer("p1", NOW)
    assert commands[:2] == [c.ResumeRecording(NAME, False), c.ClosePause("p1", c.PauseEnd.TIMEOUT)]
    (alert,) = of(commands, c.AddAlert)
    assert alert.kind == c.AlertKind.PAUSE_TIMEOUT
    # A timer of a pause that is over already (resumed, another one opened) does nothing.
    assert opening.pause_timer("p0", NOW) == []


def test_a5_r1_what_is_left_of_a_stored_pause_counts_from_its_stored_start() -> None:
    opening = AgiOpening(paused_call(), make_service(), SETTINGS, random.Random(1))
    assert opening.pause_left(NOW + dt.timedelta(seconds=100)) == 20.0
    assert opening.pause_left(NOW + dt.timedelta(seconds=500)) == 0.0
    assert AgiOpening(recording_call(), make_service(), SETTINGS, random.Random(1)).pause_left(
        NOW
    ) is None


def test_a2_the_private_key_cancels_first_then_counts_the_call() -> None:
    commands = keyed(paused_call(), "private")
    assert commands[0] == c.CancelRecording(NAME)
    (private,) = of(commands, c.MakePrivate)
    assert (private.call_id, private.agent_id) == (CALL, "alice")
    assert c.CancelTimer("pause") in commands


def test_a4_the_record_key_starts_for_mediation_unless_the_caller_objected() -> None:
    unsampled = fresh_call(decision=decision())
    commands = keyed(unsampled, "record")
    (opened,) = of(commands, c.OpenRecording)
    assert opened.purposes == ("mediation",) and of(commands, c.StartRecording)
    refused = keyed(unsampled, "record", objected=True)
    assert of(refused, c.OpenRecording) == [] and of(refused, c.Play)[0].media == "sound:beeperr"


def test_a5_a_key_before_the_call_was_decided_does_nothing() -> None:
    commands = keyed(fresh_call(), "pause")
    assert [type(x) for x in commands] == [c.Log]


def test_a5_a2_keys_from_a_channel_that_does_not_hold_the_recording_are_refused() -> None:
    """A second agent's channel (a transfer) has the keys but not the MixMonitor: a pause
    row from it would claim a pause the recording never took."""
    for script in ("pause", "private"):
        commands = keyed(recording_call(), script, holds=False)
        assert [type(x) for x in commands if not isinstance(x, c.Log)] == [c.Play]
        assert of(commands, c.Play)[0].media == "sound:beeperr"


def test_a5_a4_the_key_sound_plays_before_the_recording_starts_again() -> None:
    """MixMonitor records the agent's channel, ear included: the ok sound of a resume or
    of a record on demand plays before the recording (re)starts, so that it is not in
    the file, as it is in no bridge recording of the ARI path (A5, A4)."""
    resumed = keyed(paused_call(), "resume")
    started = keyed(fresh_call(decision=decision()), "record")
    for commands, start in ((resumed, c.ResumeRecording), (started, c.StartRecording)):
        actions = [type(x) for x in commands if isinstance(x, (c.Play, start))]
        assert actions == [c.Play, start], commands
    # A pause's sound still comes after the pause, which stays the first command.
    assert keyed(recording_call(), "pause")[0] == c.PauseRecording(NAME, mute=False)


# -- an agent's outbound call (C6) ------------------------------------------------------
def test_c6_an_outbound_ask_is_checked_as_on_the_ari_path() -> None:
    """A known service with an outbound section and a number of digits (an optional
    leading +); anything else is a typed refusal whose value is the dialplan's error id.
    A number that could add a second Dial() target is refused (A2, R2)."""
    sales = make_service(outbound=Outbound(dial="PJSIP/{number}@trunk"))
    services = {"sales": sales, "support": make_service(name="support")}
    ask = outbound_ask(services, "sales", "+33612345678")
    assert isinstance(ask, OutboundAsk)
    assert (ask.service, ask.number) == (sales, "+33612345678")
    assert "612345678" not in repr(ask)
    refusals = [
        outbound_ask(services, "nosuch", "0612345678"),
        outbound_ask(services, "support", "0612345678"),
        outbound_ask(services, "sales", ""),
        outbound_ask(services, "sales", "0612345678&Local/900@x"),
        outbound_ask(services, "sales", "06 12 34 56 78"),
    ]
    assert [r.value for r in refusals if isinstance(r, OutboundRefusal)] == [
        "unknown-service", "not-outbound", "bad-number", "bad-number", "bad-number",
    ]  # fmt: skip


def test_c6_an_outbound_call_nobody_decided_ends_with_dials_status() -> None:
    assert [
        not_answered(s) for s in ("BUSY", "NOANSWER", "CANCEL", "CONGESTION", "ANSWER", "", None)
    ] == [
        Outcome.BUSY, Outcome.NO_ANSWER, Outcome.AGENT_HUNG_UP, Outcome.FAILED,
        Outcome.COMPLETED, Outcome.AGENT_HUNG_UP, Outcome.AGENT_HUNG_UP,
    ]  # fmt: skip
    assert not_answered("SOMETHING-NEW") is Outcome.FAILED


def test_c6_the_agents_hang_up_closes_an_outbound_call_with_its_outcome() -> None:
    """The agent's channel is the one an outbound call began on: its end closes the
    row, decided (completed) or not (Dial()'s status); an inbound caller's, as before."""
    outbound = fresh_call(direction="outbound", announcement_completed=False)
    opening = AgiOpening(outbound, make_service(), SETTINGS, random.Random(1))
    (end,) = opening.hung_up(holds_recording=False, entry=True, dial_status="BUSY")
    assert isinstance(end, c.EndCall) and end.outcome is Outcome.BUSY
    inbound = AgiOpening(fresh_call(), make_service(), SETTINGS, random.Random(1))
    (end,) = inbound.hung_up(holds_recording=False, entry=True)
    assert isinstance(end, c.EndCall) and end.outcome is Outcome.CALLER_HUNG_UP


# -- the card key (M2) ------------------------------------------------------------------------
def test_m2_the_card_key_pauses_first_with_reason_card_and_its_own_limit() -> None:
    card = PauseSettings(max_seconds=60, card_max_seconds=45)
    commands = keyed(recording_call(), "card", pause=card)
    assert commands[0] == c.PauseRecording(NAME, mute=False)
    (opened,) = of(commands, c.OpenPause)
    assert (opened.paused_by, opened.reason) == ("alice", "card")
    assert c.StartTimer("pause", 45) in commands
    assert of(commands, c.Play)[0].media == "sound:beep"
    silence = keyed(recording_call(), "card", pause=PauseSettings(mode="silence"))
    assert silence[0] == c.PauseRecording(NAME, mute=True)


def test_m2_a_card_pause_refuses_the_resume_key_when_it_ends_by_timeout_only() -> None:
    refused = keyed(paused_call("card"), "resume", pause=PauseSettings(card_resume="timeout"))
    assert [type(x) for x in refused if not isinstance(x, c.Log)] == [c.Play]
    assert of(refused, c.Play)[0].media == "sound:beeperr"
    resumed = [x for x in keyed(paused_call("card"), "resume") if not isinstance(x, c.Play)]
    assert resumed[:2] == [c.ResumeRecording(NAME, False), c.ClosePause("p1", c.PauseEnd.AGENT)]


def test_m2_a_card_pause_at_its_limit_is_resumed_with_the_card_alert() -> None:
    card = make_service(pause=PauseSettings(max_seconds=600, card_max_seconds=30))
    opening = AgiOpening(paused_call("card"), card, SETTINGS, random.Random(1))
    commands = opening.pause_timer("p1", NOW)
    assert commands[:2] == [c.ResumeRecording(NAME, False), c.ClosePause("p1", c.PauseEnd.TIMEOUT)]
    (alert,) = of(commands, c.AddAlert)
    assert alert.kind == c.AlertKind.CARD_PAUSE_TIMEOUT and "30 s" in alert.message
    # After a restart, what is left is counted against the card's limit too.
    again = AgiOpening(paused_call("card"), card, SETTINGS, random.Random(1))
    assert again.pause_left(NOW + dt.timedelta(seconds=10)) == 20.0
