"""A recording's life after the call: access, crash-safe deletion, data-subject queries
(T1, T4, C5, S9).

Deleting a recording takes three steps, each safe to interrupt:

1. :meth:`condemn_recordings`: the row turns ``deleted`` and a ``recording_deletions``
   entry records the rule, who asked, why, and whether the file was there;
2. the caller removes the file through the vault;
3. :meth:`finish_deletions`: the receipt goes into the access log and the row goes, in
   one transaction, only for rows still ``deleted``, so a receipt is written once.

A run killed after step 1 or 2 leaves ``deleted`` rows, which the next purge finishes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from controller.audit.chain import Entry, EntryDraft
from controller.stoppoints import stop_point
from controller.store.access_log import append_entry
from controller.store.parts import StorePart
from controller.store.records import Condemned, RecordingRow, SheetRow
from controller.store.timestamps import from_text, to_text

_RECORDING_COLUMNS = (
    "r.id AS id, r.call_id AS call_id, c.service AS service, r.name AS name, "
    "r.format AS format, r.path AS path, r.state AS state, r.sha256 AS sha256, "
    "r.created_at AS created_at, r.expires_at AS expires_at, r.duration_seconds AS duration, "
    "d.rule AS d_rule, d.actor AS d_actor, d.role AS d_role, d.purpose AS d_purpose, "
    "d.file_present AS d_file_present, d.condemned_at AS d_condemned_at, "
    "h.reference AS h_reference"
)
# At most one standing hold per call (a unique index), so the join adds no rows.
_RECORDING_FROM = (
    "FROM recordings r JOIN calls c ON c.id = r.call_id "
    "LEFT JOIN recording_deletions d ON d.recording_id = r.id "
    "LEFT JOIN legal_holds h ON h.call_id = r.call_id AND h.released_at IS NULL"
)


def _recording(row: dict[str, Any]) -> RecordingRow:
    condemned = None
    if row["d_rule"] is not None:
        condemned = Condemned(
            rule=row["d_rule"],
            actor=row["d_actor"],
            role=row["d_role"],
            purpose=row["d_purpose"],
            file_present=bool(row["d_file_present"]),
            condemned_at=from_text(row["d_condemned_at"]),
        )
    return RecordingRow(
        id=row["id"],
        call_id=row["call_id"],
        service=row["service"],
        name=row["name"],
        format=row["format"],
        path=row["path"],
        state=row["state"],
        sha256=row["sha256"],
        created_at=from_text(row["created_at"]),
        expires_at=from_text(row["expires_at"]),
        condemned=condemned,
        hold=row["h_reference"],
    )


@dataclass(frozen=True)
class Condemnation:
    """Start deleting one recording: the rule (or request) and who asked, for the receipt."""

    recording_id: str
    rule: str
    actor: str
    role: str
    purpose: str
    file_present: bool


@dataclass(frozen=True)
class CondemnOutcome:
    condemned: list[str]
    held: dict[str, str]
    """Recording id -> reference of the legal hold that kept it from being condemned (T6)."""


@dataclass(frozen=True)
class FinishedDeletion:
    recording_id: str
    file: str
    """What happened to the file: ``deleted``, ``already missing`` or ``none`` (the
    recording never kept a file)."""


@dataclass(frozen=True)
class CallRecord:
    """One call found for a data subject, with what is kept about it (C5)."""

    call: dict[str, Any]
    recordings: list[RecordingRow]
    sheet_ids: list[str]


class LifecycleStore(StorePart):
    # -- reading -----------------------------------------------------------------------
    def recording(self, recording_id: str) -> RecordingRow | None:
        rows = list(
            self.db.query(
                f"SELECT {_RECORDING_COLUMNS} {_RECORDING_FROM} WHERE r.id = ?", [recording_id]
            )
        )
        return _recording(rows[0]) if rows else None

    def recordings_for_purge(self, now: dt.datetime, horizon: dt.datetime) -> list[RecordingRow]:
        """Rows being deleted, rows whose stored expiry has passed, and rows created before
        ``horizon`` (which may have expired under a shorter service rule)."""
        return [
            _recording(row)
            for row in self.db.query(
                f"SELECT {_RECORDING_COLUMNS} {_RECORDING_FROM} "
                "WHERE r.state = 'deleted' OR r.expires_at <= ? OR r.created_at <= ? "
                "ORDER BY r.created_at, r.id",
                [to_text(now), to_text(horizon)],
            )
        ]

    def stored_recording_paths(self) -> list[tuple[str, str]]:
        """(id, path) of every recording that should have a file in the vault."""
        return [
            (row["id"], row["path"])
            for row in self.db.query(
                "SELECT id, path FROM recordings WHERE state = 'stored' AND path IS NOT NULL"
            )
        ]

    def known_recording_files(self) -> tuple[set[str], set[str]]:
        """Every path and every name the store knows, in any state."""
        paths: set[str] = set()
        names: set[str] = set()
        for row in self.db.query("SELECT name, path FROM recordings"):
            names.add(row["name"])
            if row["path"]:
                paths.add(row["path"])
        return paths, names

    def sheets_for_purge(self, now: dt.datetime, created_before: dt.datetime) -> list[SheetRow]:
        return [
            SheetRow(
                row["id"],
                from_text(row["created_at"]),
                from_text(row["expires_at"]),
                row["h_reference"],
            )
            for row in self.db.query(
                "SELECT s.id AS id, s.created_at AS created_at, s.expires_at AS expires_at, "
                "h.reference AS h_reference FROM sheets s LEFT JOIN legal_holds h "
                "ON h.call_id = s.call_id AND h.released_at IS NULL "
                "WHERE s.expires_at <= ? OR s.created_at <= ? ORDER BY s.created_at",
                [to_text(now), to_text(created_before)],
            )
        ]

    # -- deleting recordings -------------------------------------------------------------
    def condemn_recordings(self, items: Sequence[Condemnation], at: dt.datetime) -> CondemnOutcome:
        """Step 1 of a deletion, for a batch, in one transaction. Rows already being
        deleted are left as they are. A recording whose call is under a legal hold is
        not condemned (T6): the hold is read here, inside the transaction, so a hold
        placed after the purge planned still wins."""
        condemned: list[str] = []
        held: dict[str, str] = {}
        with self.transaction() as db:
            for item in items:
                row = db.execute(
                    "SELECT r.state, h.reference FROM recordings r LEFT JOIN legal_holds h "
                    "ON h.call_id = r.call_id AND h.released_at IS NULL WHERE r.id = ?",
                    [item.recording_id],
                ).fetchone()
                if row is None or row[0] == "deleted":
                    continue
                if row[1] is not None:
                    held[item.recording_id] = str(row[1])
                    continue
                db.execute(
                    "INSERT INTO recording_deletions (recording_id, condemned_at, rule, actor, "
                    "role, purpose, file_present, previous_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        item.recording_id,
                        to_text(at),
                        item.rule,
                        item.actor,
                        item.role,
                        item.purpose,
                        int(item.file_present),
                        row[0],
                    ],
                )
                db.execute(
                    "UPDATE recordings SET state = 'deleted' WHERE id = ?", [item.recording_id]
                )
                condemned.append(item.recording_id)
        return CondemnOutcome(condemned, held)

    def finish_deletions(
        self, items: Sequence[FinishedDeletion], at: dt.datetime, finished_by: str
    ) -> list[Entry]:
        """Step 3, for a batch, in one transaction: a receipt per recording in the access
        log (id, file hash, time, rule) and the row deleted. Rows no longer ``deleted``
        (finished by another run) are skipped, so each receipt is written once."""
        receipts: list[Entry] = []
        with self.transaction() as db:
            for item in items:
                rows = list(
                    db.query(
                        f"SELECT {_RECORDING_COLUMNS} {_RECORDING_FROM} WHERE r.id = ?",
                        [item.recording_id],
                    )
                )
                if not rows or rows[0]["state"] != "deleted" or rows[0]["d_rule"] is None:
                    continue
                row = rows[0]
                details: dict[str, Any] = {
                    "recording_id": row["id"],
                    "call_id": row["call_id"],
                    "service": row["service"],
                    "sha256": row["sha256"],
                    "duration_seconds": row["duration"],
                    "created_at": row["created_at"],
                    "rule": row["d_rule"],
                    "file": item.file,
                    "deletion_started_at": row["d_condemned_at"],
                }
                if finished_by != row["d_actor"]:
                    details["finished_by"] = finished_by
                receipts.append(
                    append_entry(
                        db,
                        EntryDraft(
                            at=to_text(at),
                            actor=row["d_actor"],
                            role=row["d_role"],
                            action="delete",
                            target=f"recording:{row['id']}",
                            purpose=row["d_purpose"],
                            result="ok",
                            details=details,
                        ),
                        self.audit_key,
                    )
                )
                db.execute("DELETE FROM recordings WHERE id = ?", [row["id"]])
        return receipts

    def mark_missing(self, recording_ids: Iterable[str], at: dt.datetime) -> list[str]:
        """Stored recordings whose file is gone turn ``missing``, each with an access-log
        entry, in one transaction. Returns the ids actually marked."""
        marked: list[str] = []
        with self.transaction() as db:
            for recording_id in recording_ids:
                cursor = db.execute(
                    "UPDATE recordings SET state = 'missing' WHERE id = ? AND state = 'stored'",
                    [recording_id],
                )
                if cursor.rowcount != 1:
                    continue
                marked.append(recording_id)
                append_entry(
                    db,
                    EntryDraft(
                        at=to_text(at),
                        actor="system",
                        role="system",
                        action="file_missing",
                        target=f"recording:{recording_id}",
                        purpose="retention: vault check",
                        result="error",
                        details={"recording_id": recording_id},
                    ),
                    self.audit_key,
                )
        return marked

    def purge_sheets(self, expired: Sequence[tuple[str, str]], at: dt.datetime) -> int:
        """Deletes expired sheets with a receipt each, in one transaction. A sheet whose
        call came under a legal hold since the plan stays (T6)."""
        count = 0
        with self.transaction() as db:
            for sheet_id, rule in expired:
                cursor = db.execute(
                    "DELETE FROM sheets WHERE id = ? AND NOT EXISTS (SELECT 1 FROM legal_holds h "
                    "WHERE h.call_id = sheets.call_id AND h.released_at IS NULL)",
                    [sheet_id],
                )
                if cursor.rowcount != 1:
                    continue
                count += 1
                append_entry(
                    db,
                    EntryDraft(
                        at=to_text(at),
                        actor="system",
                        role="system",
                        action="sheet_delete",
                        target=f"sheet:{sheet_id}",
                        purpose=f"retention: {rule}",
                        result="ok",
                        details={"sheet_id": sheet_id, "rule": rule},
                    ),
                    self.audit_key,
                )
        return count

    # -- call metadata and objections (T5, C4) ---------------------------------------------
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
            f"SELECT COUNT(*) FROM ({self._EXPIRED_CALLS})",  # noqa: S608
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
            append_entry(
                db,
                EntryDraft(
                    at=to_text(at),
                    actor="system",
                    role="system",
                    action="call_delete",
                    target=f"calls:{len(ids)}",
                    purpose=f"retention: {rule}",
                    result="ok",
                    details={"rule": rule, "calls": len(ids), "call_ids": ids},
                ),
                self.audit_key,
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
                append_entry(
                    db,
                    EntryDraft(
                        at=to_text(now),
                        actor="system",
                        role="system",
                        action="objection_delete",
                        target=f"objections:{count}",
                        purpose=f"retention: {rule}",
                        result="ok",
                        details={"rule": rule, "objections": count},
                    ),
                    self.audit_key,
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
                append_entry(
                    db,
                    EntryDraft(
                        at=to_text(at),
                        actor="system",
                        role="system",
                        action="private_count_delete",
                        target=f"private_call_counts:{rows}",
                        purpose=f"retention: {rule}",
                        result="ok",
                        details={
                            "rule": rule,
                            "rows": rows,
                            "private_calls": int(calls),
                            "before_day": before_day,
                        },
                    ),
                    self.audit_key,
                )
            return rows

    # -- data subjects (C5) ----------------------------------------------------------------
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
        recordings and sheets (S9)."""
        return self._call_records(
            "(agent_id = ? OR id IN (SELECT call_id FROM decisions WHERE agent_id = ?))",
            [agent_id, agent_id],
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
        clauses, values = [clause], list(params)
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
                _recording(row)
                for row in self.db.query(
                    f"SELECT {_RECORDING_COLUMNS} {_RECORDING_FROM} WHERE r.call_id = ? "
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
        """The decision and consent events of a call, for an export."""
        return {
            "decision": next(
                self.db.query("SELECT * FROM decisions WHERE call_id = ?", [call_id]), None
            ),
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
