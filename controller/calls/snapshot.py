"""A bridged call as a snapshot, and the call carried on from one: what a restarted
controller needs to adopt calls that were in progress (R1), pure.

Only a bridged call has a snapshot: a call still in its announcement or dialling goes
back to the dialplan instead (:mod:`controller.calls.adoption`). A payment under way is
not part of it: the card data went with the old process.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls.announcement import Stage
from controller.calls.conversation import CallSettings
from controller.calls.inbound import InboundCall, Phase
from controller.calls.outbound import OutboundCall
from controller.calls.outbound import Phase as OutboundPhase
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
    snap: CallSnapshot,
    *,
    settings: CallSettings,
    rng: random.Random,
    now: dt.datetime | None = None,
) -> tuple[InboundCall, list[c.Command]]:
    """The call, bridged again, and what to do first: look the caller's objection up
    again (until it answers, on-demand recording is refused), restart the pause timer,
    at its full length, if a pause was open, and decide now if the old process never
    did (``now`` given)."""
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
    if now is not None:
        commands += call.maybe_decide(now)
    return call, commands


@dataclass(frozen=True)
class OutboundSnapshot:
    """An outbound call bridged to its customer (C6), rebuilt like :class:`CallSnapshot`."""

    call_id: str
    service: Service
    agent_channel: Channel
    agent: Agent | None
    customer_hash: str | None
    notice_completed: bool
    objected: bool
    verdict: Verdict | None
    recording: RecordingSnapshot


def resume_outbound(
    snap: OutboundSnapshot, *, settings: CallSettings, rng: random.Random, now: dt.datetime
) -> tuple[OutboundCall, list[c.Command]]:
    """As :func:`resume`, for an outbound call."""
    outbound = snap.service.outbound
    assert outbound is not None, "only a service with an outbound section has outbound calls"
    call = OutboundCall(
        call_id=snap.call_id,
        service=snap.service,
        outbound=outbound,
        agent_channel=snap.agent_channel,
        agent=snap.agent,
        number=None,
        customer_hash=snap.customer_hash,
        settings=settings,
        rng=rng,
        recording=snap.recording,
    )
    call.phase = OutboundPhase.CONNECTED
    call.customer_up = True
    call.notice.stage = Stage.OVER
    call.notice.completed = snap.notice_completed
    call.notice.objected = snap.objected
    call.verdict = snap.verdict
    commands: list[c.Command] = []
    if snap.customer_hash:
        commands.append(c.LookupObjection(snap.customer_hash))
    commands += call.rec.restart_timer()
    commands.append(
        c.Log(
            "info",
            f"call {snap.call_id} ({snap.service.name}, outbound): carried on after a restart",
        )
    )
    return call, commands + call.maybe_decide(now)
