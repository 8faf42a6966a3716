"""What is kept about a data subject, a caller or an agent (C5, S9): their calls with
the recordings and sheets of each, the agent's sheets and private-call counts, and the
end of an erase.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.audit.chain import Entry, EntryDraft
from controller.store.access_log import append_entry
from controller.store.call_views import read_call_segments
from controller.store.parts import StorePart
from controller.store.recording_rows import RECORDING_COLUMNS, RECORDING_FROM, recording_from_row
from controller.store.records import RecordingRow
from controller.store.timestamps import to_text


@dataclass(frozen=True)
class CallRecord:
    """One call found for a data subject, with what is kept about it (C5)."""

    call: dict[str, Any]
    recordings: list[RecordingRow]
    sheet_ids: list[str]


class SubjectStore(StorePart):
    def calls_for_caller(
        self,
        caller_hash: str,
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> list[CallRecord]:
        """Every call from this caller HMAC in [start, end), with its recordings and sheets."""
        return self._call_records("caller_hash = ?", [caller_hash], start, end)

    def calls_for_agent(
        self,
        agent_id: str,
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> list[CallRecord]:
        """Every call this agent answered or was decided on, in [start, end), with its
        recordings and sheets (S9); a transferred call's later segments count (R3)."""
        return self._call_records(
            "(agent_id = ? OR id IN (SELECT call_id FROM decisions WHERE agent_id = ?) "
            "OR id IN (SELECT call_id FROM segment_decisions WHERE agent_id = ?))",
            [agent_id, agent_id, agent_id],
            start,
            end,
        )

    def agent_sheets_without_call(
        self, agent_id: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> list[tuple[str, str]]:
        """(id, service) of the agent's sheets that outlived their call's metadata (T5):
        they are still the agent's data (S9)."""
        clauses, params = ["employee_id = ?", "call_id IS NULL"], [agent_id]
        if start is not None:
            clauses.append("call_started_at >= ?")
            params.append(to_text(start))
        if end is not None:
            clauses.append("call_started_at < ?")
            params.append(to_text(end))
        where = " AND ".join(clauses)  # fixed clauses; every value is a parameter
        return [
            (row["id"], row["service"])
            for row in self.db.query(
                f"SELECT id, service FROM sheets WHERE {where} "  # noqa: S608
                "ORDER BY call_started_at, id",
                params,
            )
        ]

    def agent_private_counts(
        self, agent_id: str, first_day: str | None, last_day: str | None
    ) -> list[dict[str, Any]]:
        """The agent's private calls per day (A2: only a count is kept), days inclusive."""
        return list(
            self.db.query(
                "SELECT day, count FROM private_call_counts WHERE agent_id = ? "
                "AND day >= ? AND day <= ? ORDER BY day",
                [agent_id, first_day or "", last_day or "9999-12-31"],
            )
        )

    def _call_records(
        self,
        clause: str,
        params: list[str],
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> list[CallRecord]:
        # A call declared private is never found (A2): its row stays only until its
        # audio is deleted.
        clauses, values = [clause, "private = 0"], list(params)
        if start is not None:
            clauses.append("started_at >= ?")
            values.append(to_text(start))
        if end is not None:
            clauses.append("started_at < ?")
            values.append(to_text(end))
        found: list[CallRecord] = []
        where = " AND ".join(clauses)  # fixed clauses; every value is a parameter
        for call in self.db.query(
            f"SELECT * FROM calls WHERE {where} ORDER BY started_at, id",  # noqa: S608
            values,
        ):
            recordings = [
                recording_from_row(row)
                for row in self.db.query(
                    f"SELECT {RECORDING_COLUMNS} {RECORDING_FROM} WHERE r.call_id = ? "
                    "ORDER BY r.created_at",
                    [call["id"]],
                )
            ]
            sheet_ids = [
                row["id"]
                for row in self.db.query(
                    "SELECT id FROM sheets WHERE call_id = ? ORDER BY created_at", [call["id"]]
                )
            ]
            found.append(CallRecord(call, recordings, sheet_ids))
        return found

    def call_details(self, call_id: str) -> dict[str, Any]:
        """The decision and consent events of a call, for an export; a transferred
        call's segments, each with its agent, decision and recordings (R3)."""
        return {
            "decision": next(
                self.db.query("SELECT * FROM decisions WHERE call_id = ?", [call_id]), None
            ),
            "segments": read_call_segments(self.db, call_id),
            "consent_events": list(
                self.db.query(
                    "SELECT at, kind, key, announcement_version, phase FROM consent_events "
                    "WHERE call_id = ? ORDER BY id",
                    [call_id],
                )
            ),
        }

    def erase_subject_rows(
        self,
        call_ids: Sequence[str],
        sheet_ids: Sequence[str],
        entry: EntryDraft,
    ) -> Entry:
        """The end of an erase (C5), in one transaction: the sheets are deleted, the calls
        lose their caller HMAC (their counts stay for the sampling audit, P3), and the
        request is logged."""
        with self.transaction() as db:
            for sheet_id in sheet_ids:
                db.execute("DELETE FROM sheets WHERE id = ?", [sheet_id])
            for call_id in call_ids:
                db.execute("UPDATE calls SET caller_hash = NULL WHERE id = ?", [call_id])
            return append_entry(db, entry, self.audit_key)
