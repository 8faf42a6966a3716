"""A call's segments, as the console and the exports show them (R3).

A call an agent transferred is still one call: each agent who answered it has a segment,
with its own decision (taken again for that agent) and its own recordings. The store
keeps segment 1's decision in ``decisions`` and each later one's in
``segment_decisions``; each recording row says which segment it holds. This module turns
the store's summary of a call into the list of its segments, in order. A call never
transferred has one segment: the call itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any

from controller.logs import mask_digits

HIDDEN_RECORDINGS = ("deleted", "discarded")
"""Recording states the console does not list: nothing of them is left to show."""


def decision_view(decision: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored decision as the console shows it: its inputs, the window's text masked
    (a window's name is the admin's free text)."""
    if decision is None:
        return None
    return {
        "record": bool(decision["record"]),
        "reason": decision["reason"],
        "rate": decision["rate"],
        "draw": decision["draw"],
        "in_window": bool(decision["in_window"]),
        "window": mask_digits(decision["window"]),
        "decided_at": decision["decided_at"],
    }


def segment_of(recording: Mapping[str, Any]) -> int:
    """The segment a recording row holds: 1 for rows written before calls had segments."""
    value = recording.get("segment")
    return int(value) if value is not None else 1


def _first_agent(call: Mapping[str, Any]) -> str | None:
    decision = call.get("decision")
    if decision is not None and decision.get("agent_id"):
        return str(decision["agent_id"])
    agent = call.get("agent_id")
    return str(agent) if agent else None


def _agent_of(rows: Iterable[Mapping[str, Any]]) -> str | None:
    return next((str(r["agent_id"]) for r in rows if r.get("agent_id")), None)


def segments_of(call: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The call's segments in order: ``segment`` (1, 2, ...), ``agent``, ``started_at``,
    ``ended_at``, ``decision`` (as :func:`decision_view`) and ``recordings`` (the ids of
    the segment's recordings the console lists, oldest first).

    Segment 1 starts with the call; a later one when its agent answered and the decision
    was taken again (its decision's time, else its first recording's). Each ends where
    the next one starts; the last one with the call (None while it goes on)."""
    later = {int(d["segment"]): d for d in call.get("segment_decisions") or []}
    shown = sorted(
        (r for r in call.get("recordings") or [] if r["state"] not in HIDDEN_RECORDINGS),
        key=lambda r: (segment_of(r), r["created_at"], r["id"]),
    )
    numbers = sorted({1, *later, *(segment_of(r) for r in shown)})
    segments: list[dict[str, Any]] = []
    for number in numbers:
        recordings = [r for r in shown if segment_of(r) == number]
        decision = call.get("decision") if number == 1 else later.get(number)
        if number == 1:
            agent = _first_agent(call) or _agent_of(recordings)
            started = call["started_at"]
        else:
            agent = _agent_of([decision] if decision else []) or _agent_of(recordings)
            started = decision["decided_at"] if decision else None
            if started is None and recordings:
                started = recordings[0]["created_at"]
        segments.append(
            {
                "segment": number,
                "agent": agent,
                "started_at": started,
                "ended_at": None,
                "decision": decision_view(decision),
                "recordings": [r["id"] for r in recordings],
            }
        )
    for current, following in pairwise(segments):
        current["ended_at"] = following["started_at"]
    segments[-1]["ended_at"] = call.get("ended_at")
    return segments
