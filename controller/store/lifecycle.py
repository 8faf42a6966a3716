"""A recording's life after the call: access and crash-safe deletion (T1, T4).

Deleting a recording takes three steps, each safe to interrupt:

1. :meth:`condemn_recordings`: the row turns ``deleted`` and a ``recording_deletions``
   entry records the rule, who asked, why, and whether the file was there;
2. the caller removes the file through the vault;
3. :meth:`finish_deletions`: the receipt goes into the access log and the row goes, in
   one transaction, only for rows still ``deleted``, so a recording is named by one
   receipt, once (a receipt names a batch: :mod:`controller.audit.receipts`).

A run killed after step 1 or 2 leaves ``deleted`` rows, which the next purge finishes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from controller.audit.chain import Entry
from controller.audit.receipts import RECEIPT_ACTION, RECEIPT_ROWS, receipt_draft
from controller.store.access_log import append_system_entry
from controller.store.access_log_batch import append_entries
from controller.store.access_log_rows import entry_from_row
from controller.store.parts import StorePart
from controller.store.recording_rows import (
    IDS_PARAMETER,
    RECORDING_COLUMNS,
    RECORDING_FROM,
    ids_parameter,
    recording_from_row,
)
from controller.store.records import RecordingRow, SheetRow, Unkept
from controller.store.timestamps import from_text, to_text


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
    key_destroyed: bool | None = False
    """S10: the file was sealed and its data key is destroyed, so no copy of it (a
    backup) can be decrypted; None when not known (an interrupted run removed it)."""


# The hold standing on a recording's call, if any (T6).
STANDING_HOLD = "LEFT JOIN legal_holds h ON h.call_id = r.call_id AND h.released_at IS NULL"


class LifecycleStore(StorePart):
    # -- reading -----------------------------------------------------------------------
    def recording(self, recording_id: str) -> RecordingRow | None:
        rows = list(
            self.db.query(
                f"SELECT {RECORDING_COLUMNS} {RECORDING_FROM} WHERE r.id = ?", [recording_id]
            )
        )
        return recording_from_row(rows[0]) if rows else None

    def stored_recording_paths(self) -> list[tuple[str, str]]:
        """(id, path) of every recording that should have a file in the vault."""
        return [
            (row["id"], row["path"])
            for row in self.db.query(
                "SELECT id, path FROM recordings "
                "WHERE state = 'stored' AND path IS NOT NULL AND node = ?",
                [self.node],
            )
        ]

    def unkept_recordings(self, reason: Unkept, call_id: str | None = None) -> list[RecordingRow]:
        """The recordings of this node, stored or being deleted, of a call whose audio
        may not be kept for ``reason``: of ``call_id``, or of every call. None is kept:
        each is deleted (:mod:`controller.retention.unkept`).

        Led by the few calls concerned, each found by its own index: the ledger's
        objections (C2), the calls marked private (A2); each finds its call's recordings
        by their call index. SQLite would rather take an index on the node or the state,
        which holds every recording of the node: the ``CROSS JOIN`` keeps those calls
        outside, and ``|| ''`` keeps those two indexes out of the search (the same SQL
        on PostgreSQL, whose planner weighs the tables itself)."""
        only = _UNKEPT_ONE[reason] if call_id is not None else ""
        # The pass over every call (a start's, each sweep's) leaves a call under a legal
        # hold alone (T6): the hold was reported when the key or the take-in asked, and
        # the pass would find the same audio every round. Released, the next pass takes
        # it; a deletion already under way (``deleted``) is finished whatever comes.
        unheld = "" if call_id is not None else _UNHELD
        query = (
            f"SELECT {RECORDING_COLUMNS} FROM ({_UNKEPT_CALLS[reason]} {only}) o "  # noqa: S608
            f"CROSS JOIN {RECORDING_FROM.removeprefix('FROM ')} "
            "WHERE r.call_id = o.call_id AND r.state || '' IN ('stored', 'deleted') "
            f"AND r.node || '' = ? {unheld}ORDER BY r.created_at, r.id"
        )
        params = [call_id, self.node] if call_id is not None else [self.node]
        return [recording_from_row(row) for row in self.db.query(query, params)]

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
        placed after the purge planned still wins.

        A few statements per batch, whatever its size: the journal entries of the
        recordings asked for alike (same rule, person, purpose, file there or not: one
        group for a purge's batch of one service) go in with one INSERT ... SELECT, and
        the rows turn ``deleted`` with one UPDATE."""
        held: dict[str, str] = {}
        groups: dict[tuple[str, str, str, str, bool], list[str]] = {}
        with self.transaction() as db:
            found = {
                row[0]: (row[1], row[2])
                for row in db.execute(
                    f"SELECT r.id, r.state, h.reference FROM recordings r {STANDING_HOLD} "  # noqa: S608
                    f"WHERE r.id IN {IDS_PARAMETER}",
                    [ids_parameter(item.recording_id for item in items)],
                )
            }
            seen: set[str] = set()
            condemned: list[str] = []
            for item in items:
                state, reference = found.get(item.recording_id, ("deleted", None))
                if state == "deleted" or item.recording_id in seen:
                    continue
                if reference is not None:
                    held[item.recording_id] = str(reference)
                    continue
                seen.add(item.recording_id)
                condemned.append(item.recording_id)
                key = (item.rule, item.actor, item.role, item.purpose, item.file_present)
                groups.setdefault(key, []).append(item.recording_id)
            at_text = to_text(at)
            for (rule, actor, role, purpose, file_present), ids in groups.items():
                # previous_state is the row's state as it stands: read in this statement,
                # before the UPDATE below turns it ``deleted``.
                db.execute(
                    "INSERT INTO recording_deletions (recording_id, condemned_at, rule, actor, "  # noqa: S608
                    "role, purpose, file_present, previous_state) "
                    "SELECT r.id, ?, ?, ?, ?, ?, ?, r.state FROM recordings r "
                    f"WHERE r.id IN {IDS_PARAMETER}",
                    [at_text, rule, actor, role, purpose, int(file_present), ids_parameter(ids)],
                )
            if condemned:
                db.execute(
                    f"UPDATE recordings SET state = 'deleted' WHERE id IN {IDS_PARAMETER}",  # noqa: S608
                    [ids_parameter(condemned)],
                )
        return CondemnOutcome(condemned, held)

    def finish_deletions(
        self, items: Sequence[FinishedDeletion], at: dt.datetime, finished_by: str
    ) -> list[Entry]:
        """Step 3, for a batch, in one transaction: the receipt in the access log, one
        entry naming every recording of the batch asked for alike (same person, role and
        purpose: one for a purge's batch of one rule), a thousand at most (see
        :mod:`controller.audit.receipts`), which receipt names each recording, and the
        rows deleted. Rows no longer ``deleted`` (finished by another run) are skipped,
        so each recording is named by one receipt, once."""
        with self.transaction() as db:
            outcome = {item.recording_id: item for item in items}
            groups: dict[tuple[str, str, str], list[list[Any]]] = {}
            for row in db.execute(
                f"SELECT {_RECEIPT_COLUMNS} {_RECEIPT_FROM} "
                f"WHERE r.id IN {IDS_PARAMETER} AND r.state = 'deleted'",
                [ids_parameter(outcome)],
            ):
                (recording_id, call_id, service, sha256, duration, created_at) = row[:6]
                (rule, actor, role, purpose, condemned_at) = row[6:]
                done = outcome[recording_id]
                groups.setdefault((actor, role, purpose), []).append(
                    [
                        recording_id,
                        call_id,
                        service,
                        sha256,
                        duration,
                        created_at,
                        rule,
                        done.file,
                        done.key_destroyed,
                        condemned_at,
                    ]
                )
            at_text = to_text(at)
            named = [
                (asked, rows[start : start + RECEIPT_ROWS])
                for asked, rows in groups.items()
                for start in range(0, len(rows), RECEIPT_ROWS)
            ]
            drafts = [
                receipt_draft(
                    rows,
                    at=at_text,
                    actor=actor,
                    role=role,
                    purpose=purpose,
                    finished_by=finished_by,
                )
                for (actor, role, purpose), rows in named
            ]
            receipts = append_entries(db, drafts, self.audit_key)
            finished: list[str] = []
            for entry, (_, rows) in zip(receipts, named, strict=True):
                ids = [row[0] for row in rows]
                finished += ids
                db.execute(
                    "INSERT INTO deletion_receipts (recording_id, seq) "
                    "SELECT value, ? FROM json_each(?)",
                    [entry.seq, ids_parameter(ids)],
                )
            if finished:
                db.execute(
                    f"DELETE FROM recordings WHERE id IN {IDS_PARAMETER}",  # noqa: S608
                    [ids_parameter(finished)],
                )
        return receipts

    def deletion_receipt(self, seq: int) -> Entry | None:
        """The deletion receipt numbered ``seq`` (T4); None when there is none."""
        rows = list(
            self.db.query(
                "SELECT * FROM access_log WHERE seq = ? AND action = ?", [seq, RECEIPT_ACTION]
            )
        )
        return entry_from_row(rows[0]) if rows else None

    def receipt_of(self, recording_id: str) -> Entry | None:
        """The receipt naming a deleted recording (T4): when it was deleted, under which
        rule, with which file hash; None when no receipt names it (never deleted, or its
        receipt was cut from the access log with its retention, T3)."""
        rows = list(
            self.db.query(
                "SELECT a.* FROM deletion_receipts d JOIN access_log a ON a.seq = d.seq "
                "WHERE d.recording_id = ? ORDER BY d.seq DESC LIMIT 1",
                [recording_id],
            )
        )
        return entry_from_row(rows[0]) if rows else None

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
                append_system_entry(
                    db,
                    self.audit_key,
                    at=at,
                    action="file_missing",
                    target=f"recording:{recording_id}",
                    purpose="retention: vault check",
                    result="error",
                    details={"recording_id": recording_id},
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
                append_system_entry(
                    db,
                    self.audit_key,
                    at=at,
                    action="sheet_delete",
                    target=f"sheet:{sheet_id}",
                    purpose=f"retention: {rule}",
                    details={"sheet_id": sheet_id, "rule": rule},
                )
        return count



# The calls whose audio may not be kept, for each reason, and the test naming one of them.
_UNKEPT_CALLS = {
    Unkept.OBJECTED: "SELECT DISTINCT e.call_id AS call_id FROM consent_events e "
    "WHERE e.kind = 'opt_out'",
    Unkept.PRIVATE: "SELECT p.id AS call_id FROM calls p WHERE p.private = 1",
}
_UNKEPT_ONE = {Unkept.OBJECTED: "AND e.call_id = ?", Unkept.PRIVATE: "AND p.id = ?"}
_UNHELD = (
    "AND (r.state = 'deleted' OR NOT EXISTS (SELECT 1 FROM legal_holds h "
    "WHERE h.call_id = r.call_id AND h.released_at IS NULL)) "
)


# What a receipt says of each recording (controller/audit/receipts.py), read with its
# deletion's journal entry: only the rows still ``deleted``.
_RECEIPT_COLUMNS = (
    "r.id, r.call_id, c.service, r.sha256, r.duration_seconds, r.created_at, "
    "d.rule, d.actor, d.role, d.purpose, d.condemned_at"
)
_RECEIPT_FROM = (
    "FROM recordings r JOIN calls c ON c.id = r.call_id "
    "JOIN recording_deletions d ON d.recording_id = r.id"
)
