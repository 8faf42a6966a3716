"""A call's segments, as the console shows them (R3).

A call an agent transferred is still one call: each agent who took it has a segment, with
its own decision (taken again for that agent) and its own recordings. The store reads
them in one place (:meth:`~controller.store.call_views.CallViewStore.call_segments`, the
exports' read too); this module adds what a page shows beside them: when each segment
began and ended, and only the recordings the page lists. A call never transferred has
one segment: the call itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def segments_of(
    call: Mapping[str, Any], stored: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The call's segments in order: ``segment`` (1, 2, ...), ``agent``, ``started_at``,
    ``ended_at``, ``decision`` (as :func:`decision_view`) and ``recordings`` (the ids of
    the segment's recordings the console lists, oldest first).

    ``call`` is the store's summary of the call, ``stored`` its segments as the store
    reads them (one per decision). A recording whose segment has no decision (yet) still
    shows, in a segment of its own, without a decision. Segment 1 starts with the call; a
    later one when its agent answered and the decision was taken again (else at its first
    recording). Each ends where the next one starts; the last one with the call (None
    while it goes on)."""
    decided = {int(s["segment"]): s for s in stored}
    shown = sorted(
        (r for r in call.get("recordings") or [] if r["state"] not in HIDDEN_RECORDINGS),
        key=lambda r: (r["created_at"], r["id"]),
    )
    numbers = sorted({1, *decided, *(segment_of(r) for r in shown)})
    segments: list[dict[str, Any]] = []
    for number in numbers:
        recordings = [r for r in shown if segment_of(r) == number]
        decision = decided.get(number)
        agent = decision.get("agent_id") if decision else None
        agent = agent or next((r["agent_id"] for r in recordings if r.get("agent_id")), None)
        if number == 1:
            agent = agent or call.get("agent_id")
            started = call["started_at"]
        elif decision is not None:
            started = decision["decided_at"]
        else:
            started = recordings[0]["created_at"] if recordings else None
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
