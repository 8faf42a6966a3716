"""Reads the calls a previous run left open, for a restarted controller (R1)."""

from __future__ import annotations

import json
from typing import Any

from controller.store.database import Database
from controller.store.records import Decision, LiveRecordingRow, OpenCall
from controller.store.timestamps import from_text


def read_open_calls(db: Database, node: str) -> list[OpenCall]:
    """The calls ``node`` left open: another node's are that node's to adopt (N1). A
    private call's row is only kept for its audio's deletion (A2): never carried on."""
    calls = list(
        db.query(
            "SELECT * FROM calls WHERE ended_at IS NULL AND node = ? AND private = 0 "
            "ORDER BY started_at",
            [node],
        )
    )
    return [_open_call(db, row) for row in calls]


def read_open_call(
    db: Database, call_id: str, *, ended_too: bool = False
) -> OpenCall | None:
    """One call, if it is still open (``ended_too``: or closed already, for a recording
    that outlives its call's row)."""
    rows = db.query("SELECT * FROM calls WHERE id = ? AND private = 0", [call_id])
    return next((_open_call(db, row) for row in rows if ended_too or not row["ended_at"]), None)


def _open_call(db: Database, row: dict[str, Any]) -> OpenCall:
    call_id = row["id"]
    kinds = {
        k["kind"]
        for k in db.query("SELECT DISTINCT kind FROM consent_events WHERE call_id = ?", [call_id])
    }
    return OpenCall(
        call_id=call_id,
        service=row["service"],
        direction=row["direction"],
        channel_id=row["channel_id"],
        caller_hash=row["caller_hash"],
        announcement_completed=bool(row["announcement_completed"]),
        objected="opt_out" in kinds,
        notice_given="notice_given" in kinds,
        decision=_decision(db, call_id),
        has_recordings=any(
            db.query("SELECT 1 FROM recordings WHERE call_id = ? LIMIT 1", [call_id])
        ),
        recording=_live_recording(db, call_id),
        path=row["path"] or "ari",
        segment=_segment(db, call_id),
    )


def _segment(db: Database, call_id: str) -> int:
    """The call's latest segment (R3): a transfer opens one, whether or not it records."""
    row = db.execute(
        "SELECT max(coalesce((SELECT max(segment) FROM recordings WHERE call_id = ?), 1), "
        "coalesce((SELECT max(segment) FROM segment_decisions WHERE call_id = ?), 1))",
        [call_id, call_id],
    ).fetchone()
    return int(row[0]) if row and row[0] else 1


def _decision(db: Database, call_id: str) -> Decision | None:
    """The decision in force: the latest segment's (R3), or the call's."""
    later = "SELECT * FROM segment_decisions WHERE call_id = ? ORDER BY segment DESC"
    first = "SELECT *, 1 AS segment FROM decisions WHERE call_id = ?"
    for row in [*db.query(later, [call_id]), *db.query(first, [call_id])]:
        return Decision(
            call_id=call_id,
            decided_at=from_text(row["decided_at"]),
            record=bool(row["record"]),
            reason=row["reason"],
            rate=row["rate"],
            draw=row["draw"],
            in_window=bool(row["in_window"]),
            window=row["window"],
            agent_id=row["agent_id"],
            segment=row["segment"],
        )
    return None


def _live_recording(db: Database, call_id: str) -> LiveRecordingRow | None:
    rows = db.query(
        "SELECT id, name, format, purposes FROM recordings WHERE call_id = ? AND state = 'live' "
        "ORDER BY created_at DESC, rowid DESC LIMIT 1",
        [call_id],
    )
    for row in rows:
        pause = next(
            db.query(
                "SELECT id, reason, started_at FROM pauses "
                "WHERE recording_id = ? AND ended_at IS NULL ORDER BY started_at DESC LIMIT 1",
                [row["id"]],
            ),
            None,
        )
        return LiveRecordingRow(
            recording_id=row["id"],
            name=row["name"],
            format=row["format"],
            purposes=tuple(json.loads(row["purposes"])),
            pause_id=pause["id"] if pause else None,
            pause_reason=pause["reason"] if pause else None,
            pause_started=from_text(pause["started_at"]) if pause else None,
        )
    return None
