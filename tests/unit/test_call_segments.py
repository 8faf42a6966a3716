"""R3: a transferred call is shown as one call in segments, one per agent who took it,
each with its own decision and recordings (controller.access.segments), from the store's
summary of the call and its segments as the store reads them."""

from __future__ import annotations

from typing import Any

from controller.access.segments import segments_of

STARTED = "2026-03-02T09:30:00+00:00"
TRANSFERRED = "2026-03-02T09:32:10+00:00"
ENDED = "2026-03-02T09:35:00+00:00"


def decided(segment: int, agent: str | None, at: str, record: bool, reason: str) -> dict[str, Any]:
    """A segment as the store reads it (``call_segments``)."""
    return {
        "segment": segment,
        "agent_id": agent,
        "decided_at": at,
        "record": record,
        "reason": reason,
        "rate": 0.5,
        "draw": 0.1,
        "in_window": True,
        "window": "office",
        "recording_ids": [],
    }


def recording(rid: str, created: str, state: str = "stored", **more: Any) -> dict[str, Any]:
    return {"id": rid, "created_at": created, "state": state} | more


def call(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "started_at": STARTED,
        "ended_at": ENDED,
        "agent_id": "chloe",
        "recordings": [recording("r1", STARTED)],
    }
    return base | fields


def test_r3_a_call_never_transferred_is_one_segment_the_call_itself() -> None:
    """R3: one decision, a recording without a segment column (a row from before
    transfers): one segment, the call's agent, times, decision and recording."""
    (only,) = segments_of(call(), [decided(1, "alice", STARTED, True, "sampled")])
    assert only == {
        "segment": 1,
        "agent": "alice",
        "started_at": STARTED,
        "ended_at": ENDED,
        "decision": {
            "record": True,
            "reason": "sampled",
            "rate": 0.5,
            "draw": 0.1,
            "in_window": True,
            "window": "office",
            "decided_at": STARTED,
        },
        "recordings": ["r1"],
    }


def test_r3_a_transferred_call_lists_each_agent_segment_in_order() -> None:
    """R3: Alice's segment ends when Chloé's begins (her decision, taken again when she
    answered); each segment has its own recordings; a discarded one is not listed."""
    transferred = call(
        recordings=[
            recording("r2", "2026-03-02T09:32:11+00:00", segment=2, agent_id="chloe"),
            recording("r1", STARTED, segment=1, agent_id="alice"),
            recording("gone", STARTED, state="discarded", segment=1),
        ]
    )
    stored = [
        decided(1, "alice", STARTED, True, "sampled"),
        decided(2, "chloe", TRANSFERRED, True, "sampled"),
    ]
    first, second = segments_of(transferred, stored)
    assert (first["segment"], first["agent"], first["recordings"]) == (1, "alice", ["r1"])
    assert (first["started_at"], first["ended_at"]) == (STARTED, TRANSFERRED)
    assert (second["segment"], second["agent"], second["recordings"]) == (2, "chloe", ["r2"])
    assert (second["started_at"], second["ended_at"]) == (TRANSFERRED, ENDED)
    assert second["decision"] is not None and second["decision"]["decided_at"] == TRANSFERRED


def test_r3_a_segment_not_recorded_still_shows_with_its_refusal() -> None:
    """R3: transferred to a protected agent: the second segment has its decision (not
    recorded, and why) and no recording; a third segment back to Alice records again."""
    third_at = "2026-03-02T09:34:00+00:00"
    transferred = call(
        recordings=[
            recording("r1", STARTED, segment=1, agent_id="alice"),
            recording("r3", "2026-03-02T09:34:01+00:00", segment=3, agent_id="alice"),
        ]
    )
    stored = [
        decided(1, "alice", STARTED, True, "sampled"),
        decided(2, "bruno", TRANSFERRED, False, "protected_agent"),
        decided(3, "alice", third_at, True, "sampled"),
    ]
    segments = segments_of(transferred, stored)
    assert [(s["segment"], s["agent"], s["recordings"]) for s in segments] == [
        (1, "alice", ["r1"]),
        (2, "bruno", []),
        (3, "alice", ["r3"]),
    ]
    assert segments[1]["decision"]["record"] is False
    assert segments[1]["decision"]["reason"] == "protected_agent"
    assert [s["ended_at"] for s in segments] == [TRANSFERRED, third_at, ENDED]


def test_r3_a_segment_without_a_decision_takes_its_recording_and_a_call_in_progress() -> None:
    """R3: no decision stored at all, and a recording of segment 2: segment 1 is the
    call's (its agent), segment 2 is shown from its recording, without a decision; a
    call still going on has no end."""
    at = "2026-03-02T09:33:00+00:00"
    segments = segments_of(
        call(ended_at=None, recordings=[recording("r2", at, segment=2, agent_id="bruno")]), []
    )
    assert [(s["segment"], s["agent"], s["decision"]) for s in segments] == [
        (1, "chloe", None),
        (2, "bruno", None),
    ]
    assert [(s["started_at"], s["ended_at"]) for s in segments] == [(STARTED, at), (at, None)]
