"""What a restarted controller does with each call a previous run left open (R1): the
pure plan from the store's rows and Asterisk's view."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.ari.models import Bridge, Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.adoption import (
    CARRIED_ON,
    PAYMENT_INTERRUPTED,
    Adopted,
    AsteriskView,
    Plan,
    Released,
    plan_call,
)
from controller.calls.call import Call
from controller.calls.recording import KEYS_UNHEARD, RecState
from controller.config.model import Agent
from controller.config.service_model import Outbound, Service
from controller.store.records import Decision, LiveRecordingRow, OpenCall
from tests.factories import make_agent, make_service
from tests.unit.test_inbound_call import AGENT_CHANNEL, CALLER, NOW, SETTINGS, kinds, of

CALL = "c0ffee"
BRIDGE = f"rc-{CALL}"
AGENT_LEG = f"rc-{CALL}-agent"
CUSTOMER_LEG = f"rc-{CALL}-customer"
NAME = "f" * 40


@dataclass
class Directory:
    services: Mapping[str, Service] = field(
        default_factory=lambda: {
            "sales": make_service(
                outbound=Outbound(dial="PJSIP/{number}@trunk", caller_id="+33100000000")
            )
        }
    )
    agents: Mapping[str, Agent] = field(default_factory=lambda: {"alice": make_agent()})

    def agent_for_channel(self, channel_name: str) -> Agent | None:
        return self.agents["alice"] if "alice" in channel_name else None


def decision(record: bool = True) -> Decision:
    reason = "sampled" if record else "not_sampled"
    return Decision(CALL, NOW, record, reason, 0.5, 0.1, True, "office", "alice")


def recording_row(pause: str | None = None) -> LiveRecordingRow:
    pause_id, started = ("p1", NOW) if pause else (None, None)
    return LiveRecordingRow("r1", NAME, "wav", ("quality",), pause_id, pause, started)


def open_call(**changes: object) -> OpenCall:
    call = OpenCall(
        call_id=CALL,
        service="sales",
        direction="inbound",
        channel_id=CALLER.id,
        caller_hash="h1",
        announcement_completed=True,
        objected=False,
        notice_given=False,
        decision=decision(),
        has_recordings=True,
        recording=recording_row(),
    )
    return dataclasses.replace(call, **changes)  # type: ignore[arg-type]


def view(
    *,
    channels: tuple[Channel, ...] = (CALLER, AGENT_CHANNEL),
    members: tuple[str, ...] = (CALLER.id, AGENT_LEG),
    bridge: bool = True,
    recordings: Mapping[str, str] | None = None,
) -> AsteriskView:
    bridges = {BRIDGE: Bridge(BRIDGE, "simple_bridge", "mixing", members)} if bridge else {}
    return AsteriskView(
        {ch.id: ch for ch in channels},
        frozenset(ch.id for ch in channels),
        bridges,
        {NAME: "recording"} if recordings is None else recordings,
    )


def plan(call: OpenCall, asterisk: AsteriskView) -> Plan:
    return plan_call(
        call, asterisk, config=Directory(), settings=SETTINGS, rng=random.Random(1), now=NOW
    )


def adopted(call: OpenCall, asterisk: AsteriskView) -> Adopted:
    result = plan(call, asterisk)
    assert isinstance(result, Adopted), result
    return result


def test_a_call_paused_through_the_restart_is_carried_on_its_recording_discarded_R1_C2() -> None:
    """The caller may have objected while the daemon was down: a recording paused through
    the whole restart is discarded too (DELETE, not stop), its pause closed as discarded,
    and nothing resumes or starts again; the call itself carries on (R1, A5, A4)."""
    result = adopted(open_call(recording=recording_row("agent_key")), view())
    machine = result.machine
    assert isinstance(machine, Call) and machine.direction == "inbound" and result.gone == []
    assert machine.recording is not None and machine.recording.state is RecState.DISCARDED
    assert machine.rec.pause is None and machine.verdict is not None
    order = kinds(result.commands)
    # The stored pause applied again first (idempotent), then the cancel.
    assert order[:2] == ["PauseRecording", "CancelRecording"]
    assert c.CloseRecording("r1", c.Closed.DISCARDED) in result.commands
    assert c.ClosePause("p1", c.PauseEnd.DISCARDED) in result.commands
    assert not of(result.commands, c.StopRecording) and not of(result.commands, c.StartTimer)
    assert "Snoop" in order  # the whisper of the agent's tones, made again (A10)
    alerts = [a.kind for a in of(result.commands, c.AddAlert)]
    assert alerts == [KEYS_UNHEARD, CARRIED_ON]
    keys = [machine.handle(m.Dtmf(AGENT_LEG, k, 10 + i * 0.1), NOW) for i, k in enumerate("*3")]
    assert not of(keys[-1], c.ResumeRecording)
    machine.handle(m.ObjectionKnown(False), NOW)
    keys = [machine.handle(m.Dtmf(AGENT_LEG, k, 20 + i * 0.1), NOW) for i, k in enumerate("*1")]
    assert not of(keys[-1], c.StartRecording)


def test_a_recording_that_ran_while_the_daemon_was_down_is_discarded_first_R1_A2_C2() -> None:
    """The restart is a gap in the events like an ARI cut: a key to pause, to make the
    call private or to object may have gone unheard, so a recording not paused through
    the whole gap is discarded, the cancel first, with a keys_unheard alert."""
    result = adopted(open_call(), view())
    discarded = c.CloseRecording("r1", c.Closed.DISCARDED)
    assert result.commands[:2] == [c.CancelRecording(NAME), discarded]
    alerts = [a.kind for a in of(result.commands, c.AddAlert)]
    assert alerts == [KEYS_UNHEARD, CARRIED_ON]
    assert of(result.commands, c.Play)[0].channel_id == AGENT_LEG  # the refused sound
    assert result.machine.recording is not None and not result.machine.recording.live
    # Nothing starts again by itself: the call may have been made private meanwhile.
    assert not of(result.commands, c.StartRecording)


def test_a_pause_the_store_knows_is_applied_again_first_then_discarded_A5_C2() -> None:
    """The old process may have died between storing the pause and Asterisk's answer:
    the pause goes first, then the recording, paused or not, is discarded (C2)."""
    result = adopted(open_call(recording=recording_row("card")), view())
    assert result.commands[:2] == [c.PauseRecording(NAME, mute=False), c.CancelRecording(NAME)]
    assert c.ClosePause("p1", c.PauseEnd.DISCARDED) in result.commands
    assert result.machine.rec.pause is None and not of(result.commands, c.StartTimer)


def test_a_recording_asterisk_shows_paused_without_a_stored_pause_is_discarded_C2() -> None:
    result = adopted(open_call(), view(recordings={NAME: "paused"}))
    (opened,) = of(result.commands, c.OpenPause)
    assert (opened.reason, opened.paused_by) == ("restart", "unknown")
    assert c.CancelRecording(NAME) in result.commands
    assert c.ClosePause(opened.pause_id, c.PauseEnd.DISCARDED) in result.commands
    assert not of(result.commands, c.ResumeRecording)
    assert result.machine.rec.pause is None


def test_a_recording_that_ended_meanwhile_is_vaulted_and_its_pause_closed() -> None:
    result = adopted(open_call(recording=recording_row("agent_key")), view(recordings={}))
    assert result.commands[:2] == [
        c.ClosePause("p1", c.PauseEnd.RECORDING_ENDED),
        c.TakeInRecording("r1", NAME, "wav", after_restart=True),
    ]
    assert result.machine.recording is not None
    assert result.machine.recording.state is RecState.DONE


def test_caller_in_the_payment_ivr_rejoins_the_agent_its_recording_discarded_M1_C2() -> None:
    """The caller rejoins the agent; the payment's pause never ends in a resume: the
    recording went first, as the caller's keys went unheard (C2)."""
    result = adopted(open_call(recording=recording_row("payment_ivr")), view(members=(AGENT_LEG,)))
    order = kinds(result.commands)
    assert order.index("CancelRecording") < order.index("AddToBridge")
    assert "ResumeRecording" not in order
    assert c.ClosePause("p1", c.PauseEnd.DISCARDED) in result.commands
    assert c.StopHoldMusic(BRIDGE) in result.commands
    assert c.AddToBridge(BRIDGE, CALLER.id) in result.commands
    assert PAYMENT_INTERRUPTED in [a.kind for a in of(result.commands, c.AddAlert)]
    # Nothing is charged by the restarted controller.
    assert not of(result.commands, c.SubmitPayment)
    assert result.machine.payment is None and result.machine.rec.pause is None


def test_a_payment_pause_found_with_the_caller_back_in_the_bridge_still_alerts_M1() -> None:
    """The old process put the caller back and died before closing the payment's pause:
    the recording goes (C2), the alert about the payment's unknown outcome stays."""
    result = adopted(open_call(recording=recording_row("payment_ivr")), view())
    assert c.CancelRecording(NAME) in result.commands
    assert PAYMENT_INTERRUPTED in [a.kind for a in of(result.commands, c.AddAlert)]
    assert not of(result.commands, c.AddToBridge)


def test_a_leg_asterisk_no_longer_has_is_reported_gone_and_the_call_winds_down() -> None:
    paused = open_call(recording=recording_row("agent_key"))
    result = adopted(paused, view(channels=(AGENT_CHANNEL,), members=(AGENT_LEG,)))
    assert result.gone == [CALLER.id]
    assert not of(result.commands, c.AddToBridge)
    assert c.CancelRecording(NAME) in result.commands
    down = result.machine.handle(m.ChannelGone(CALLER.id), NOW)
    assert c.Hangup(AGENT_LEG) in down and not of(down, c.StopRecording)


def test_a_decision_to_record_without_its_recording_row_starts_nothing_after_the_gap_R1() -> None:
    """The old process died before its recording's row was written: no recording starts
    after the restart, as none does after an ARI cut (the call may have been made
    private meanwhile)."""
    result = adopted(open_call(recording=None, has_recordings=False), view())
    assert not of(result.commands, c.OpenRecording) and not of(result.commands, c.StartRecording)


def test_a_call_bridged_before_its_decision_is_decided_once_adopted_P1_C1() -> None:
    """Decided once carried on, and not recorded: an opt-out key may have gone unheard
    while the daemon was down (C2), as after an ARI cut."""
    result = adopted(
        open_call(recording=None, has_recordings=False, decision=None, caller_hash=None),
        view(),
    )
    (recorded,) = of(result.commands, c.RecordDecision)
    assert recorded.decision.record is False and recorded.decision.reason == "keys_unheard"


def test_without_the_announcement_heard_nothing_is_recorded_C1() -> None:
    result = adopted(
        open_call(
            recording=None,
            has_recordings=False,
            decision=None,
            caller_hash=None,
            announcement_completed=False,
        ),
        view(),
    )
    (recorded,) = of(result.commands, c.RecordDecision)
    assert recorded.decision.record is False and not of(result.commands, c.StartRecording)


def test_a_call_that_never_reached_its_agent_goes_back_to_the_dialplan() -> None:
    ringing = dataclasses.replace(AGENT_CHANNEL, state="Ringing")
    result = plan(
        open_call(recording=None, has_recordings=False, decision=None),
        view(channels=(CALLER, ringing), bridge=False),
    )
    assert isinstance(result, Released)
    assert result.commands[0] == c.EndCall(CALL, "handed_back", None, True)
    assert c.Hangup(AGENT_LEG) in result.commands
    # Asterisk holds the continue until the announcement ends: stopped first.
    order = result.commands
    assert order.index(c.StopPlayback(f"rc-{CALL}-p1")) < order.index(
        c.ContinueInDialplan(CALLER.id)
    )


def test_a_call_whose_caller_is_gone_too_is_just_closed() -> None:
    result = plan(
        open_call(recording=None, has_recordings=False, decision=None),
        view(channels=(), bridge=False),
    )
    assert isinstance(result, Released)
    assert kinds(result.commands) == ["EndCall", "Log"]
    assert result.commands[0] == c.EndCall(CALL, "interrupted", None, True)


def test_a_call_of_a_service_no_longer_configured_is_released() -> None:
    result = plan(open_call(service="gone"), view())
    assert isinstance(result, Released)
    assert c.StopRecording(NAME) in result.commands
    assert c.DestroyBridge(BRIDGE) in result.commands
    assert "no longer configured" in result.why


def test_an_outbound_call_is_carried_on_C6() -> None:
    agent_phone = dataclasses.replace(
        AGENT_CHANNEL, id="phone-1", name="Local/alice-phone@sim-outphone-00000003;2"
    )
    customer = dataclasses.replace(CALLER, id=CUSTOMER_LEG)
    result = adopted(
        open_call(direction="outbound", channel_id="phone-1", recording=recording_row("agent_key")),
        view(channels=(agent_phone, customer), members=("phone-1", CUSTOMER_LEG)),
    )
    machine = result.machine
    assert isinstance(machine, Call) and machine.direction == "outbound" and result.gone == []
    assert machine.agent is not None and machine.agent.id == "alice"
    # Paused through the restart, discarded all the same (C2): nothing to resume.
    assert c.CancelRecording(NAME) in result.commands
    keys = [machine.handle(m.Dtmf("phone-1", k, 10 + i * 0.1), NOW) for i, k in enumerate("*3")]
    assert not of(keys[-1], c.ResumeRecording)
    end = machine.handle(m.ChannelGone(CUSTOMER_LEG), NOW)
    assert not of(end, c.StopRecording)


def test_released_rows_never_keep_a_recording_outside_the_vault_T4_C2() -> None:
    """No bridge but a live recording (the old process died mid wind-down): the call is
    adopted so its machine deals with the file. Paused through the restart, it is
    discarded all the same (the caller may have objected before leaving, C2): cancelled,
    so Asterisk deletes it, its row closed; nothing left to vault."""
    paused = open_call(recording=recording_row("agent_key"))
    result = adopted(paused, view(channels=(), bridge=False, recordings={NAME: "recording"}))
    assert sorted(result.gone) == sorted([CALLER.id, AGENT_LEG])
    assert c.CancelRecording(NAME) in result.commands
    assert c.CloseRecording("r1", c.Closed.DISCARDED) in result.commands
    machine = result.machine
    out = machine.handle(m.ChannelGone(CALLER.id), NOW)
    assert not of(out, c.StopRecording)
    assert not of(machine.handle(m.RecordingEnded(NAME), NOW), c.TakeInRecording)
