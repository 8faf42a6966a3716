"""The recording decision once a call is bridged (P1-P4, A1, A3, A8, C1, C2, C4).

One pure step for the inbound and the outbound coordinator: the verdict, the decision
row stored with its inputs (P3), and, when the verdict says so, the recording's start.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from zoneinfo import ZoneInfo

from controller.calls import commands as c
from controller.calls.recording import RecordingControl
from controller.config.model import Agent, Service
from controller.policy import Reason, Verdict, decide
from controller.records import Decision


def decide_and_start(
    call_id: str,
    service: Service,
    agent: Agent | None,
    rec: RecordingControl,
    log: Callable[[str], c.Log],
    *,
    announced: bool,
    objected: bool,
    remembered_objection: bool,
    now: dt.datetime,
    timezone: ZoneInfo,
    rng: random.Random,
    staff_informed: dt.date | None,
    keys_unheard: bool = False,
    segment: int = 1,
    private_line: bool = False,
) -> tuple[Verdict, list[c.Command]]:
    """The verdict and its commands: the decision row first, then the recording's start
    (only after the announcement, C1) or a log line saying why nothing is recorded.
    ``keys_unheard``: the call's keys went unheard before now (C2: an opt-out key may
    have been lost), so nothing is recorded. ``segment``: the part of a transferred call
    decided (R3); ``private_line``: it reached an agent's private line (A2)."""
    if private_line:
        verdict = Verdict(False, Reason.PRIVATE_LINE, service.sampling_rate, None, False, "")
    elif keys_unheard and not objected:
        verdict = Verdict(False, Reason.KEYS_UNHEARD, service.sampling_rate, None, False, "")
    elif not announced and not objected:
        # Nothing may be recorded before the person heard that it might be (C1).
        verdict = Verdict(
            False, Reason.ANNOUNCEMENT_NOT_PLAYED, service.sampling_rate, None, False, ""
        )
    else:
        verdict = decide(
            service,
            agent,
            objected_now=objected,
            remembered_objection=remembered_objection,
            now=now,
            timezone=timezone,
            rng=rng,
            staff_informed=staff_informed,
        )
    decision = Decision(
        call_id=call_id,
        decided_at=now,
        record=verdict.record,
        reason=verdict.reason.value,
        rate=verdict.rate,
        draw=verdict.draw,
        in_window=verdict.in_window,
        window=verdict.window,
        agent_id=agent.id if agent else None,
        segment=segment,
    )
    if not verdict.record:
        return verdict, [c.RecordDecision(decision), log(f"not recorded: {verdict.reason.value}")]
    return verdict, [
        c.RecordDecision(decision),
        *rec.start(service.purposes),
        log(f"recording ({', '.join(service.purposes)})"),
    ]
