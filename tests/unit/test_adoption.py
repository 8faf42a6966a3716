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


def test_a_bridged_recording_call_is_carried_on_as_it_was_R1() -> None:
    """A recording paused through the whole restart is kept, paused; the agent's keys
    work again on the same recording (A5)."""
    result = adopted(open_call(recording=recording_row("agent_key")), view())
    machine = result.machine
    assert isinstance(machine, Call) and machine.direction == "inbound" and result.gone == []
    assert machine.recording is not None and machine.recording.state is RecState.ACTIVE
    assert machine.rec.pause is not None and machine.verdict is not None
    assert machine.verdict.record
    assert kinds(result.commands) == [
        "PauseRecording",
        "LookupObjection",
        "StartTimer",
        "Log",
        "Snoop",  # the whisper of the agent's tones, made again (A10)
        "AddAlert",
    ]
    assert of(result.commands, c.AddAlert)[0].kind == CARRIED_ON
    keys = [machine.handle(m.Dtmf(AGENT_LEG, k, 10 + i * 0.1), NOW) for i, k in enumerate("*3")]
    assert keys[-1][0] == c.ResumeRecording(NAME, mute=False)


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


def test_a_pause_the_store_knows_is_applied_again_first_A5() -> None:
    """The old process may have died between storing the pause and Asterisk's answer."""
    result = adopted(open_call(recording=recording_row("card")), view())
    assert result.commands[0] == c.PauseRecording(NAME, mute=False)
    pause = result.machine.rec.pause
    assert pause is not None and (pause.pause_id, pause.reason) == ("p1", "card")
    # Its start is kept: keys unheard after it began cannot have mattered (A5).
    assert pause.opened_at == NOW
    (timer,) = of(result.commands, c.StartTimer)
    assert timer.name == "pause" and timer.seconds == make_service().pause.card_max_seconds


def test_a_recording_asterisk_shows_paused_stays_paused_without_a_stored_pause() -> None:
    result = adopted(open_call(), view(recordings={NAME: "paused"}))
    (opened,) = of(result.commands, c.OpenPause)
    assert (opened.reason, opened.paused_by) == ("restart", "unknown")
    assert not of(result.commands, c.ResumeRecording)
    assert result.machine.rec.pause is not None


def test_a_recording_that_ended_meanwhile_is_vaulted_and_its_pause_closed() -> None:
    result = adopted(open_call(recording=recording_row("agent_key")), view(recordings={}))
    assert result.commands[:2] == [
        c.ClosePause("p1", c.PauseEnd.RECORDING_ENDED),
        c.TakeInRecording("r1", NAME, "wav", after_restart=True),
    ]
    assert result.machine.recording is not None
    assert result.machine.recording.state is RecState.DONE


def test_caller_in_the_payment_ivr_rejoins_the_agent_before_the_recording_resumes_M1() -> None:
    result = adopted(open_call(recording=recording_row("payment_ivr")), view(members=(AGENT_LEG,)))
    order = kinds(result.commands)
    assert order.index("AddToBridge") < order.index("ResumeRecording")
    assert c.StopHoldMusic(BRIDGE) in result.commands
    assert c.AddToBridge(BRIDGE, CALLER.id) in result.commands
    assert PAYMENT_INTERRUPTED in [a.kind for a in of(result.commands, c.AddAlert)]
    # Nothing is charged by the restarted controller.
    assert not of(result.commands, c.SubmitPayment)
    assert result.machine.payment is None and result.machine.rec.pause is None


def test_a_leg_asterisk_no_longer_has_is_reported_gone_and_the_call_winds_down() -> None:
    paused = open_call(recording=recording_row("agent_key"))
    result = adopted(paused, view(channels=(AGENT_CHANNEL,), members=(AGENT_LEG,)))
    assert result.gone == [CALLER.id]
    assert not of(result.commands, c.AddToBridge)
    down = result.machine.handle(m.ChannelGone(CALLER.id), NOW)
    assert c.StopRecording(NAME) in down and c.Hangup(AGENT_LEG) in down


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
    keys = [machine.handle(m.Dtmf("phone-1", k, 10 + i * 0.1), NOW) for i, k in enumerate("*3")]
    assert keys[-1][0] == c.ResumeRecording(NAME, mute=False)
    end = machine.handle(m.ChannelGone(CUSTOMER_LEG), NOW)
    assert c.StopRecording(NAME) in end


def test_released_rows_never_keep_a_recording_outside_the_vault_T4() -> None:
    """No bridge but a live recording (the old process died mid wind-down): the call is
    adopted so its machine stops and vaults the file (paused through the restart, so
    kept)."""
    paused = open_call(recording=recording_row("agent_key"))
    result = adopted(paused, view(channels=(), bridge=False, recordings={NAME: "recording"}))
    assert sorted(result.gone) == sorted([CALLER.id, AGENT_LEG])
    machine = result.machine
    out = machine.handle(m.ChannelGone(CALLER.id), NOW)
    assert c.StopRecording(NAME) in out
    assert machine.handle(m.RecordingEnded(NAME), NOW)[0] == c.TakeInRecording("r1", NAME, "wav")
