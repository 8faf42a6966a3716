"""The purge of what is kept about calls besides their recordings: a call's metadata
(T5), callers' objections (C4) and the counts of private calls (A2), each with a receipt
in the access log.
"""

from __future__ import annotations

import datetime as dt

from controller.stoppoints import stop_point
from controller.store.access_log import append_system_entry
from controller.store.parts import StorePart
from controller.store.timestamps import to_text


class MetadataPurgeStore(StorePart):
    # A call under a legal hold stays whatever its age (T6); the condition is part of the
    # deleting statement's transaction, so a hold placed meanwhile wins.
    _EXPIRED_CALLS = (
        "SELECT id FROM calls WHERE started_at < ? AND ended_at IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = calls.id) "
        "AND NOT EXISTS (SELECT 1 FROM legal_holds h "
        "WHERE h.call_id = calls.id AND h.released_at IS NULL) "
        "ORDER BY started_at, id"
    )

    def expired_call_count(self, cutoff: dt.datetime) -> tuple[int, int]:
        """(calls a purge would delete, expired calls kept because a recording of theirs
        is still there)."""
        expired = self.db.execute(
            f"SELECT COUNT(*) FROM ({self._EXPIRED_CALLS}) AS expired",  # noqa: S608
            [to_text(cutoff)],
        ).fetchone()[0]
        held = self.db.execute(
            "SELECT COUNT(*) FROM calls WHERE started_at < ? AND ended_at IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = calls.id) "
            "AND NOT EXISTS (SELECT 1 FROM legal_holds h "
            "WHERE h.call_id = calls.id AND h.released_at IS NULL)",
            [to_text(cutoff)],
        ).fetchone()[0]
        return int(expired), int(held)

    def expired_calls_on_hold(self, cutoff: dt.datetime) -> list[str]:
        """Expired calls kept because a legal hold stands on them (T6)."""
        return [
            str(row[0])
            for row in self.db.execute(
                "SELECT id FROM calls WHERE started_at < ? AND ended_at IS NOT NULL "
                "AND EXISTS (SELECT 1 FROM legal_holds h "
                "WHERE h.call_id = calls.id AND h.released_at IS NULL) "
                "ORDER BY started_at, id",
                [to_text(cutoff)],
            )
        ]

    def purge_calls(self, cutoff: dt.datetime, at: dt.datetime, rule: str, limit: int = 500) -> int:
        """Deletes up to ``limit`` expired calls (their decisions, consent events, pauses,
        alerts and payment outcomes go with them), with one receipt naming them, in one
        transaction. Returns how many went; call it again until 0."""
        with self.transaction() as db:
            ids = [
                str(row[0])
                for row in db.execute(
                    f"{self._EXPIRED_CALLS} LIMIT ?",
                    [to_text(cutoff), limit],
                ).fetchall()
            ]
            if not ids:
                return 0
            marks = ",".join("?" * len(ids))
            db.execute(f"DELETE FROM calls WHERE id IN ({marks})", ids)  # noqa: S608
            stop_point("purge-call-metadata")  # inside the transaction: a kill rolls it back
            append_system_entry(
                db,
                self.audit_key,
                at=at,
                action="call_delete",
                target=f"calls:{len(ids)}",
                purpose=f"retention: {rule}",
                details={"rule": rule, "calls": len(ids), "call_ids": ids},
            )
            return len(ids)

    def expired_objection_count(self, now: dt.datetime, cutoff: dt.datetime) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM objections WHERE expires_at <= ? OR last_at <= ?",
            [to_text(now), to_text(cutoff)],
        ).fetchone()
        return int(row[0])

    def purge_objections(self, now: dt.datetime, cutoff: dt.datetime, rule: str) -> int:
        """Deletes objections past their expiry (stored, or by the current rule), with one
        receipt, in one transaction."""
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM objections WHERE expires_at <= ? OR last_at <= ?",
                [to_text(now), to_text(cutoff)],
            )
            count = int(cursor.rowcount)
            if count:
                append_system_entry(
                    db,
                    self.audit_key,
                    at=now,
                    action="objection_delete",
                    target=f"objections:{count}",
                    purpose=f"retention: {rule}",
                    details={"rule": rule, "objections": count},
                )
            return count

    def expired_private_count_rows(self, before_day: str) -> int:
        """Rows of private-call counts for days before ``before_day`` (YYYY-MM-DD)."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM private_call_counts WHERE day < ?", [before_day]
        ).fetchone()
        return int(row[0])

    def purge_private_call_counts(self, before_day: str, at: dt.datetime, rule: str) -> int:
        """Deletes the private-call counts (A2) of days before ``before_day``, with one
        receipt, in one transaction. The receipt says how many rows and calls went, not
        whose: a count is all that is ever kept of a private call."""
        with self.transaction() as db:
            calls = db.execute(
                "SELECT COALESCE(SUM(count), 0) FROM private_call_counts WHERE day < ?",
                [before_day],
            ).fetchone()[0]
            cursor = db.execute("DELETE FROM private_call_counts WHERE day < ?", [before_day])
            rows = int(cursor.rowcount)
            if rows:
                append_system_entry(
                    db,
                    self.audit_key,
                    at=at,
                    action="private_count_delete",
                    target=f"private_call_counts:{rows}",
                    purpose=f"retention: {rule}",
                    details={
                        "rule": rule,
                        "rows": rows,
                        "private_calls": int(calls),
                        "before_day": before_day,
                    },
                )
            return rows
