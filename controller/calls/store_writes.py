"""What each store command writes, matched exhaustively: one store method per command.
The executor queues the write to the store thread; nothing on the call's path waits for
it (an opened recording's row aside, see the executor)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import assert_never

from controller.calls import commands as c
from controller.store import SqliteStore

Write = Callable[[SqliteStore], object]


def write_of(command: c.Store, now: dt.datetime, objection_days: int) -> Write:
    """The store call for ``command``, stamped ``now``; a remembered objection lasts
    ``objection_days`` (C4)."""
    match command:
        case c.BeginCall(call=call, announcement_version=version):
            return lambda s: s.begin_call(call, version)
        case c.AnnouncementHeard(call_id=heard):
            return lambda s: s.announcement_heard(heard)
        case c.RecordDecision(decision=decision):
            return lambda s: s.record_decision(decision)
        case c.AddConsent(event=consent):
            return lambda s: s.add_consent_event(consent)
        case c.RememberObjection(caller_hash=hashed):
            return lambda s: s.remember_objection(hashed, now, objection_days)
        case c.CarryObjection(earlier_hash=earlier, caller_hash=hashed):
            return lambda s: s.carry_objection(earlier, hashed)
        case c.OpenRecording():
            o = command
            return lambda s: s.open_recording(
                o.recording_id, o.call_id, o.name, o.fmt, o.purposes, now, o.retention_days,
                o.segment, o.agent_id, o.decision,
            )  # fmt: skip
        case c.CloseRecording(recording_id=recording_id, state=state):
            return lambda s: s.close_recording(recording_id, state, now)
        case c.OpenPause():
            p = command
            return lambda s: s.open_pause(
                p.pause_id, p.recording_id, p.call_id, p.paused_by, p.reason, now
            )
        case c.ClosePause(pause_id=pause_id, resumed_by=resumed_by):
            return lambda s: s.close_pause(pause_id, resumed_by, now)
        case c.AddAlert(call_id=alert_call, kind=kind, message=message):
            return lambda s: s.add_alert(alert_call, kind, message, now)
        case c.MakePrivate(call_id=private_call, agent_id=agent_id, day=day, discarded=gone):
            return lambda s: s.make_private(private_call, agent_id, day, gone)
        case c.CountPrivateCall(agent_id=agent_id, day=day):
            return lambda s: s.count_private_call(agent_id, day)
        case c.RecordPayment(payment=payment):
            return lambda s: s.record_payment(payment)
        case c.OpenMaskedSpan():
            m = command
            return lambda s: s.open_masked_span(
                m.span_id, m.call_id, m.recording_id, m.payment_id, m.masked_by, now
            )
        case c.CloseMaskedSpan(span_id=span_id, ended_by=ended_by):
            return lambda s: s.close_masked_span(span_id, ended_by, now)
        case c.CloseMaskedSpans(call_id=masked_call, alert=alert):
            return lambda s: s.close_masked_spans(masked_call, alert, now)
        case c.EndCall():
            e = command
            return lambda s: s.end_call(
                e.call_id, now, e.outcome, e.agent_id, e.announcement_completed
            )
        case _:
            assert_never(command)


def with_decisions(commands: Sequence[c.Command]) -> list[c.Command]:
    """A decision to record followed by its recording's row become one write (R1): the
    row is written, and waited for, before Asterisk is asked for the file, while the
    decision's write is queued; apart, a process killed between the two left a live
    recording with no decision, which a restarted controller could not judge."""
    out: list[c.Command] = []
    for command in commands:
        previous = out[-1] if out else None
        if (
            isinstance(command, c.OpenRecording)
            and isinstance(previous, c.RecordDecision)
            and previous.decision.call_id == command.call_id
            and command.decision is None
        ):
            out[-1] = dataclasses.replace(command, decision=previous.decision)
        else:
            out.append(command)
    return out
