"""What a restarted controller does with each call a previous run left open (R1), pure.

The store says what the old process knew (the call, its decision, its live recording
and open pause); Asterisk says what is still there (channels, the application's
channels, bridges, live recordings). From both, each call is either:

* **adopted** (carried on): it has a bridge (the agent answered), so its call is
  rebuilt in the state Asterisk shows (recording, paused, or not recording) and carries
  on: agent keys work again, hang-ups end it. The restart was a gap in the events,
  under the rule of an ARI cut (:meth:`~controller.calls.call.Call.resumed`): the
  caller may have pressed the opt-out key unheard, so its recording, running or paused
  through the restart, is discarded (C2) and nothing more of the call is recorded. A
  leg Asterisk no longer has is reported gone right after, so the call winds down the
  usual way; or
  A call whose agent had transferred it (R3) is carried on with the transfer's Local
  channel as its agent leg: the transferring agent's channel is let go, whoever
  answers is asked of Asterisk, and nothing more is recorded (the keys went unheard);
* **released**: it never reached its agent (announcement, dialling). The agent leg
  being dialled is hung up and the caller handed back to the dialplan
  (``RECCONTROL_RESULT=unhandled``), whose fallback carries the call on unrecorded.

On the safe side whenever the two disagree: a recording Asterisk shows paused stays
paused even if the store has no pause; a pause the store knows is applied again even
if Asterisk shows the recording running (a lost REST call); both first, before the
discard. A caller found out of the bridge (the payment IVR, whose card data went with
the old process) is put back with the agent; nothing of the payment is resumed (M1).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from controller.ari.models import Bridge, Channel
from controller.calls import commands as c
from controller.calls.agi_opening import LeftRunning, after_restart
from controller.calls.asterisk_view import AsteriskView
from controller.calls.call import Call
from controller.calls.call_settings import CallSettings
from controller.calls.ids import (
    agent_leg,
    bridge_id,
    caller_playbacks,
    customer_leg,
    new_id,
)
from controller.calls.recording import Pause, Recording, RecordingSnapshot, RecState
from controller.calls.snapshot import CallSnapshot
from controller.calls.transfer import far_half
from controller.config.model import Agent, Service
from controller.config.service_model import payment_mode
from controller.policy import Reason, Verdict
from controller.records import Decision, OpenCall

PAYMENT_INTERRUPTED = c.AlertKind.PAYMENT_INTERRUPTED
"""Alert kind: the controller restarted while the caller was in the payment IVR."""
CARRIED_ON = c.AlertKind.CALL_CARRIED_ON
"""Alert kind: a call was carried on by a restarted controller; what it did meanwhile
(keys pressed while it was down) was not seen."""
# Live recording states in which Asterisk still writes (or holds) the file.
_LIVE = ("queued", "recording", "paused")

__all__ = [
    "Adopted",
    "AsteriskView",
    "Directory",
    "LeftRunning",
    "Plan",
    "Released",
    "plan_call",
]


class Directory(Protocol):
    """What adoption needs of the configuration (a :class:`Config` is one)."""

    @property
    def services(self) -> Mapping[str, Service]: ...

    @property
    def agents(self) -> Mapping[str, Agent]: ...

    def agent_for_channel(self, channel_name: str) -> Agent | None: ...


@dataclass
class Adopted:
    machine: Call
    commands: list[c.Command]
    gone: list[str] = field(default_factory=list)
    """Legs Asterisk no longer has: reported to the machine once it runs."""


@dataclass
class Released:
    commands: list[c.Command]
    why: str


Plan = Adopted | Released | LeftRunning


def plan_call(
    call: OpenCall,
    view: AsteriskView,
    *,
    config: Directory,
    settings: CallSettings,
    rng: random.Random,
    now: dt.datetime,
) -> Plan:
    if call.path == "agi":
        # The site's dialplan holds the call: its channels are never touched.
        up = call.channel_id is not None and call.channel_id in view.channels
        kept = after_restart(call, up)
        if isinstance(kept, LeftRunning):
            return kept
        return Released(kept, "its caller left while the daemon was away")
    service = config.services.get(call.service)
    bridge = view.bridges.get(bridge_id(call.call_id))
    if service is None:
        return _release(call, view, bridge, f"its service {call.service!r} is no longer configured")
    if bridge is None and call.recording is None:
        return _release(call, view, None, "it had not reached its agent")
    if call.direction == "outbound" and service.outbound is None:
        return _release(call, view, bridge, "its service no longer has an outbound section")
    return _carry_on(call, service, view, bridge, config, settings, rng, now)


# -- released ----------------------------------------------------------------------------
def _release(call: OpenCall, view: AsteriskView, bridge: Bridge | None, why: str) -> Released:
    """Nothing is stranded: our own legs are hung up, the channel the call came in on
    goes back to the dialplan (unrecorded), a bridge and a live recording are ended (the
    orphan sweep then vaults or deletes the file with its receipt)."""
    ours = [agent_leg(call.call_id), customer_leg(call.call_id)]
    entry = call.channel_id
    handed_back = entry is not None and entry in view.channels
    agent_id = call.decision.agent_id if call.decision else None
    commands: list[c.Command] = [
        # First: the row is closed before anything can fail.
        c.EndCall(
            call.call_id,
            "handed_back" if handed_back else "interrupted",
            agent_id,
            call.announcement_completed,
        ),
    ]
    if call.recording is not None and call.recording.name in view.recordings:
        commands.append(c.StopRecording(call.recording.name))
    commands += [c.Hangup(leg) for leg in ours if leg in view.channels]
    if bridge is not None:
        commands.append(c.DestroyBridge(bridge.id))
    if handed_back and entry is not None:
        # Asterisk holds a channel's continue until its playback ends: stop what the
        # old process may have left playing (announcement, notice, waiting tone).
        playing = caller_playbacks(call.call_id, call.direction)
        commands += [c.StopPlayback(playback) for playback in playing]
        commands.append(c.ContinueInDialplan(entry))
    then = "handed back to the dialplan, unrecorded" if handed_back else "ended"
    commands.append(c.Log(c.Level.WARNING, f"call {call.call_id}: {then} after a restart: {why}"))
    return Released(commands, why)


# -- carried on -------------------------------------------------------------------------
def _carry_on(
    call: OpenCall,
    service: Service,
    view: AsteriskView,
    bridge: Bridge | None,
    config: Directory,
    settings: CallSettings,
    rng: random.Random,
    now: dt.datetime,
) -> Adopted:
    outbound = call.direction == "outbound"
    dialled = customer_leg(call.call_id) if outbound else agent_leg(call.call_id)
    entry = _channel(view, call.channel_id or _other_member(bridge, dialled))
    agent_channel = entry if outbound else view.channels.get(dialled)
    heard_until = _heard_until(call)
    recording, fixes = _recording(call, service, view, rng, heard_until or now)
    snap = CallSnapshot(
        call_id=call.call_id,
        direction=call.direction,
        service=service,
        entry=entry,
        caller_hash=call.caller_hash,
        agent=_agent(call.decision, agent_channel, config),
        notice_completed=call.announcement_completed or call.notice_given,
        objected=call.objected,
        verdict=_verdict(call.decision),
        recording=recording,
        heard_until=heard_until,
    )
    # Read before the machine discards the recording and its pause (C2).
    paying = recording.pause is not None and recording.pause.reason == c.PauseReason.PAYMENT_IVR
    machine, first = Call.resumed(snap, settings=settings, rng=rng, now=now)
    machine.rec.segment = call.segment
    moved = _transfer_leg(view, bridge, {entry.id, dialled})
    if moved is not None:
        first += machine.carried_on_transfer(moved)
    gone = [leg for leg in machine.channel_ids if leg not in view.channels]
    commands = [*fixes, *first, *_rejoin(machine, bridge, gone, paying)]
    return Adopted(machine, [*commands, _carried_on(call.call_id)], gone)


def _transfer_leg(view: AsteriskView, bridge: Bridge | None, ours: set[str]) -> Channel | None:
    """A transfer's ``Local …;1`` channel in the call's bridge, in the application, in
    place of the agent (R3): the agent transferred the call before the restart."""
    for member in bridge.channels if bridge is not None else ():
        channel = view.channels.get(member)
        if member in ours or channel is None or member not in view.in_application:
            continue
        if far_half(channel.name):
            return channel
    return None


def _heard_until(call: OpenCall) -> dt.datetime | None:
    """The last moment the store shows the old process heard the call: its decision, or
    the pause it opened after."""
    pause = call.recording.pause_started if call.recording is not None else None
    decided = call.decision.decided_at if call.decision is not None else None
    known = [moment for moment in (decided, pause) if moment is not None]
    return max(known) if known else None


def _recording(
    call: OpenCall,
    service: Service,
    view: AsteriskView,
    rng: random.Random,
    heard_until: dt.datetime,
) -> tuple[RecordingSnapshot, list[c.Command]]:
    """The live recording as Asterisk has it, and what setting it straight takes (the
    protective command first)."""
    row = call.recording
    if row is None:
        return RecordingSnapshot(None, None), []
    state = view.recordings.get(row.name)
    if state not in _LIVE:
        # It ended while nobody listened (its bridge went), or never started (the old
        # process died between its row and asking Asterisk): whatever was written goes to
        # the vault now; an open pause ends with it.
        rec = Recording(row.recording_id, row.name, RecState.DONE, row.purposes)
        take_in = c.TakeInRecording(row.recording_id, row.name, row.format, after_restart=True)
        commands: list[c.Command] = [take_in]
        if row.pause_id is not None:
            commands.insert(0, c.ClosePause(row.pause_id, c.PauseEnd.RECORDING_ENDED))
        return RecordingSnapshot(rec, None), commands
    rec = Recording(row.recording_id, row.name, RecState.ACTIVE, row.purposes)
    if row.pause_id is not None and row.pause_reason is not None:
        mute = service.pause.mode == "silence" and state != "paused"
        pause = Pause(row.pause_id, row.pause_reason, mute, row.pause_started)
        # Applied again, idempotent: the old process may have died before its REST call.
        return RecordingSnapshot(rec, pause), [c.PauseRecording(row.name, mute)]
    if state == "paused":
        # Paused in Asterisk but no pause stored (the process died between the two):
        # it stays paused, under the usual time limit. The old process paused it, so it
        # was paused by the time it stopped hearing the call.
        pause = Pause(new_id(rng), c.PauseReason.RESTART, False, heard_until)
        restart = c.PauseReason.RESTART
        opened = c.OpenPause(pause.pause_id, row.recording_id, call.call_id, "unknown", restart)
        return RecordingSnapshot(rec, pause), [opened]
    return RecordingSnapshot(rec, None), []


def _rejoin(
    machine: Call, bridge: Bridge | None, gone: list[str], paying: bool
) -> list[c.Command]:
    """Both parties back in the bridge. A caller found out of it was in the payment IVR
    (or on the way; ``paying``: the store has the payment's pause): the hold music
    stops, the caller rejoins the agent, and only then may the payment's pause end (M1);
    a recording discarded at the restart has none left. Nothing if a party is gone: the
    call ends."""
    # First: a caller muted while keying a card (M4) is heard again, even by a call
    # about to end (its agent gone).
    commands = _unmasked(machine) if machine.caller.id not in gone else []
    if gone:
        return commands
    caller, agent = machine.caller.id, machine.agent_leg.id
    members = set(bridge.channels) if bridge is not None else set()
    if bridge is None:
        commands.append(c.CreateBridge(machine.bridge_id))
    if agent not in members:
        commands.append(c.AddToBridge(machine.bridge_id, agent))
    caller_out = caller not in members
    if caller_out:
        commands += [c.StopHoldMusic(machine.bridge_id), c.AddToBridge(machine.bridge_id, caller)]
    pause = machine.rec.pause
    if pause is not None and pause.reason == c.PauseReason.PAYMENT_IVR:
        commands += machine.talk.resume(c.PauseEnd.PAYMENT, feedback=False)
    if caller_out or paying:
        message = (
            "the controller restarted while the caller was in the payment IVR: the caller "
            "is back with the agent; nothing was charged by the restarted controller, and "
            "a payment already sent has an unknown outcome: check it with the provider"
        )
        commands += [
            machine.talk.feedback(False),
            c.AddAlert(machine.call_id, PAYMENT_INTERRUPTED, message),
        ]
    return commands


def _unmasked(machine: Call) -> list[c.Command]:
    """M4: on a service whose payments keep the caller with the agent, the old process
    may have died while the caller keyed a card, muted towards the call: the caller is
    heard again (harmless if not muted), and a masked span left open is closed with an
    alert. The card data went with the old process: nothing is charged."""
    if payment_mode(machine.settings.payment, machine.service) != "assisted":
        return []
    message = (
        "the controller restarted while the caller keyed a card with the agent: the caller "
        "is heard again and nothing was charged; a payment already sent has an unknown "
        "outcome: check it with the provider"
    )
    return [c.UnmuteCaller(machine.caller.id), c.CloseMaskedSpans(machine.call_id, message)]


def _carried_on(call_id: str) -> c.AddAlert:
    return c.AddAlert(
        call_id,
        CARRIED_ON,
        "carried on by a restarted controller; keys pressed while it was down were not seen",
    )


# -- small readers -----------------------------------------------------------------------
def _channel(view: AsteriskView, channel_id: str | None) -> Channel:
    found = view.channels.get(channel_id or "")
    return found if found is not None else Channel.parse({"id": channel_id or ""})


def _other_member(bridge: Bridge | None, ours: str) -> str | None:
    """The one member of the bridge that is not our own leg (rows written before the
    store kept the channel)."""
    others = [m for m in (bridge.channels if bridge else ()) if m != ours]
    return others[0] if len(others) == 1 else None


def _agent(decision: Decision | None, channel: Channel | None, config: Directory) -> Agent | None:
    if decision is not None and decision.agent_id:
        agent = config.agents.get(decision.agent_id)
        if agent is not None:
            return agent
    return config.agent_for_channel(channel.name) if channel is not None else None


def _verdict(decision: Decision | None) -> Verdict | None:
    if decision is None:
        return None
    try:
        reason = Reason(decision.reason)
    except ValueError:
        # A reason this version does not know: the verdict stands, under a known name.
        reason = Reason.SAMPLED if decision.record else Reason.NOT_SAMPLED
    return Verdict(
        decision.record, reason, decision.rate, decision.draw, decision.in_window, decision.window
    )
