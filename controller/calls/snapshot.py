"""A bridged inbound call as a snapshot, and the call carried on from one: what a
restarted controller needs to adopt calls that were in progress, pure.

Only a call bridged to its agent and outside the payment IVR has a snapshot: a call
still in its announcement or dialling, or in the payment IVR (the card data are gone
with the old process), goes back to the dialplan instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls.announcement import Stage
from controller.calls.conversation import CallSettings
from controller.calls.inbound import InboundCall, Phase
from controller.calls.recording import RecordingSnapshot
from controller.config.model import Agent, Service
from controller.policy import Verdict


@dataclass(frozen=True)
class CallSnapshot:
    """What carrying a call on needs, rebuilt from the store (call, decision, recording
    and pause rows) once Asterisk confirms both channels, the bridge and the live
    recording."""

    call_id: str
    service: Service
    caller: Channel
    caller_hash: str | None
    agent: Agent | None
    announcement_completed: bool
    objected: bool
    verdict: Verdict | None
    recording: RecordingSnapshot


def snapshot(call: InboundCall) -> CallSnapshot:
    if call.phase is not Phase.CONNECTED or call.payment is not None or call.private:
        raise ValueError(
            f"call {call.call_id}: only a bridged call outside the payment IVR can be "
            f"carried on (phase {call.phase.value})"
        )
    return CallSnapshot(
        call.call_id,
        call.service,
        call.caller,
        call.caller_hash,
        call.agent,
        call.announcement_completed,
        call.objected,
        call.verdict,
        call.rec.snapshot(),
    )


def resume(
    snap: CallSnapshot, *, settings: CallSettings, rng: random.Random
) -> tuple[InboundCall, list[c.Command]]:
    """The call, bridged again, and what to do first: look the caller's objection up
    again (until it answers, on-demand recording is refused) and restart the pause
    timer, at its full length, if a pause was open."""
    call = InboundCall(
        call_id=snap.call_id,
        service=snap.service,
        caller=snap.caller,
        caller_hash=snap.caller_hash,
        settings=settings,
        rng=rng,
        recording=snap.recording,
    )
    call.phase = Phase.CONNECTED
    call.agent_originated = call.agent_channel_up = True
    call.talk.agent = snap.agent
    call.notice.stage = Stage.OVER
    call.notice.completed = snap.announcement_completed
    call.notice.objected = snap.objected
    call.verdict = snap.verdict
    commands: list[c.Command] = []
    if snap.caller_hash:
        commands.append(c.LookupObjection(snap.caller_hash))
    commands += call.rec.restart_timer()
    commands.append(
        c.Log("info", f"call {snap.call_id} ({snap.service.name}): carried on after a restart")
    )
    return call, commands
