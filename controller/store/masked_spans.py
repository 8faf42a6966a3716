"""The masked spans of agent-assisted payments (M4): when a caller keyed a card with the
agent on the line, who started it and what ended it. The recording is not paused
through a span (no pause row): the file runs on without the caller's voice, and this
row is how an audit tells that stretch from a silent caller. Never any card data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from controller.store.database import Database
from controller.store.parts import StorePart
from controller.store.timestamps import to_text

PAYMENT_INTERRUPTED = "payment_interrupted"
"""The alert kind a restart leaves when it finds a span open (as for the payment IVR)."""


def create_masked_spans(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE masked_spans (
            id TEXT PRIMARY KEY,
            call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            recording_id TEXT REFERENCES recordings (id) ON DELETE SET NULL,
            payment_id TEXT NOT NULL,
            masked_by TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            ended_by TEXT
        )
        """
    )
    db.execute("CREATE INDEX masked_spans_call ON masked_spans (call_id)")


class MaskedSpanStore(StorePart):
    def open_masked_span(
        self,
        span_id: str,
        call_id: str,
        recording_id: str | None,
        payment_id: str,
        masked_by: str,
        at: dt.datetime,
    ) -> None:
        with self.transaction() as db:
            db.table("masked_spans").insert(
                {
                    "id": span_id,
                    "call_id": call_id,
                    "recording_id": recording_id,
                    "payment_id": payment_id,
                    "masked_by": masked_by,
                    "started_at": to_text(at),
                    "ended_at": None,
                    "ended_by": None,
                }
            )

    def close_masked_span(self, span_id: str, ended_by: str, at: dt.datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE masked_spans SET ended_at = ?, ended_by = ? "
                "WHERE id = ? AND ended_at IS NULL",
                [to_text(at), ended_by, span_id],
            )

    def close_masked_spans(self, call_id: str, alert: str, at: dt.datetime) -> int:
        """Closes the call's open spans (a restart found them), ended by ``restart``, and
        leaves ``alert`` on the call if there was one. How many were open."""
        with self.transaction() as db:
            closed = db.execute(
                "UPDATE masked_spans SET ended_at = ?, ended_by = 'restart' "
                "WHERE call_id = ? AND ended_at IS NULL",
                [to_text(at), call_id],
            ).rowcount
            if closed:
                row = {"call_id": call_id, "at": to_text(at), "kind": PAYMENT_INTERRUPTED}
                db.table("alerts").insert({**row, "message": alert})
        return int(closed)

    def masked_spans(self, call_id: str) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT * FROM masked_spans WHERE call_id = ? ORDER BY started_at, rowid",
                [call_id],
            )
        )
