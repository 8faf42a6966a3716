"""The access log's storage (S2, S3, T3): append, read back, cut behind a checkpoint.

Every append runs inside ``BEGIN IMMEDIATE``, so the head it chains to cannot move
under it, even with the daemon and a CLI command writing to the same store.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import sqlite_utils

from controller.audit.chain import (
    Checkpoint,
    Entry,
    EntryDraft,
    Verdict,
    canonical_json,
    make_checkpoint,
    seal,
    verify,
)
from controller.secrets import Secret
from controller.stoppoints import stop_point
from controller.store.parts import StorePart
from controller.store.timestamps import to_text


def _entry(row: dict[str, object]) -> Entry:
    return Entry(
        seq=int(str(row["seq"])),
        at=str(row["at"]),
        actor=str(row["actor"]),
        role=str(row["role"]),
        action=str(row["action"]),
        target=str(row["target"]),
        purpose=str(row["purpose"]),
        result=str(row["result"]),
        details=json.loads(str(row["details"])),
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
    )


def _checkpoint(row: dict[str, object]) -> Checkpoint:
    return Checkpoint(
        number=int(str(row["number"])),
        at=str(row["at"]),
        through_seq=int(str(row["through_seq"])),
        through_hash=str(row["through_hash"]),
        entries_cut=int(str(row["entries_cut"])),
        prev_digest=str(row["prev_digest"]),
        algorithm=str(row["algorithm"]),
        digest=str(row["digest"]),
    )


def append_entry(db: sqlite_utils.Database, draft: EntryDraft) -> Entry:
    """Appends one entry; the caller holds the write transaction."""
    row = db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    seq, prev_hash = int(row[0]), str(row[1])
    entry = seal(draft, seq + 1, prev_hash)
    db.execute(
        "INSERT INTO access_log (seq, at, actor, role, action, target, purpose, result, "
        "details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            entry.seq,
            entry.at,
            entry.actor,
            entry.role,
            entry.action,
            entry.target,
            entry.purpose,
            entry.result,
            canonical_json(entry.details).decode("utf-8"),
            entry.prev_hash,
            entry.hash,
        ],
    )
    db.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", [entry.seq, entry.hash])
    return entry


class AccessLogStore(StorePart):
    def append_access(self, draft: EntryDraft) -> Entry:
        """Appends one entry to the access log, in its own transaction."""
        with self.transaction() as db:
            return append_entry(db, draft)

    def audit_head(self) -> tuple[int, str]:
        """The sequence number and hash of the last entry written (0 and zeros if none)."""
        row = self.db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return int(row[0]), str(row[1])

    def access_entries(self, after_seq: int = 0) -> Iterator[Entry]:
        for row in self.db.query(
            "SELECT * FROM access_log WHERE seq > ? ORDER BY seq", [after_seq]
        ):
            yield _entry(row)

    def checkpoints(self) -> list[Checkpoint]:
        return [
            _checkpoint(row)
            for row in self.db.query("SELECT * FROM audit_checkpoints ORDER BY number")
        ]

    def locate_entry(self, digest: str) -> int | None:
        row = self.db.execute("SELECT seq FROM access_log WHERE hash = ?", [digest]).fetchone()
        return int(row[0]) if row else None

    def verify_access_log(self, key: Secret | None, anchor: str | None = None) -> Verdict:
        """Checks the whole chain from one consistent snapshot of the store."""
        conn = self.db.conn
        conn.execute("BEGIN")
        try:
            return verify(
                self.access_entries(),
                checkpoints=self.checkpoints(),
                key=key,
                recorded_head=self.audit_head(),
                locate=self.locate_entry,
                anchor=anchor,
            )
        finally:
            conn.execute("COMMIT")

    def expired_entry_count(self, before: dt.datetime) -> int:
        """How many entries a cut at ``before`` would remove (for a dry run)."""
        first_kept = self.db.execute(
            "SELECT MIN(seq) FROM access_log WHERE at >= ?", [to_text(before)]
        ).fetchone()[0]
        if first_kept is None:
            row = self.db.execute("SELECT COUNT(*) FROM access_log").fetchone()
        else:
            row = self.db.execute(
                "SELECT COUNT(*) FROM access_log WHERE seq < ?", [first_kept]
            ).fetchone()
        return int(row[0])

    def cut_access_log(
        self, before: dt.datetime, now: dt.datetime, key: Secret | None, rule: str
    ) -> Checkpoint | None:
        """Deletes the entries written before ``before`` (the oldest run of them), behind
        a new checkpoint, and logs the cut. One transaction; None when nothing expired."""
        with self.transaction() as db:
            first_kept = db.execute(
                "SELECT MIN(seq) FROM access_log WHERE at >= ?", [to_text(before)]
            ).fetchone()[0]
            if first_kept is None:
                last = db.execute("SELECT MAX(seq) FROM access_log").fetchone()[0]
                through = int(last) if last is not None else 0
            else:
                through = int(first_kept) - 1
            rows = list(db.query("SELECT * FROM audit_checkpoints ORDER BY number DESC LIMIT 1"))
            previous = _checkpoint(rows[0]) if rows else None
            if through <= (previous.through_seq if previous else 0):
                return None
            through_hash = db.execute(
                "SELECT hash FROM access_log WHERE seq = ?", [through]
            ).fetchone()[0]
            checkpoint = make_checkpoint(previous, to_text(now), through, through_hash, key)
            db.table("audit_checkpoints").insert(
                {
                    "number": checkpoint.number,
                    "at": checkpoint.at,
                    "through_seq": checkpoint.through_seq,
                    "through_hash": checkpoint.through_hash,
                    "entries_cut": checkpoint.entries_cut,
                    "prev_digest": checkpoint.prev_digest,
                    "algorithm": checkpoint.algorithm,
                    "digest": checkpoint.digest,
                }
            )
            db.execute("DELETE FROM access_log WHERE seq <= ?", [through])
            stop_point("purge-log-cut")  # inside the transaction: a kill here rolls it back
            append_entry(
                db,
                EntryDraft(
                    at=to_text(now),
                    actor="system",
                    role="system",
                    action="log_purge",
                    target=f"access_log:{through - checkpoint.entries_cut + 1}-{through}",
                    purpose=f"retention: {rule}",
                    result="ok",
                    details={
                        "checkpoint": checkpoint.number,
                        "through_seq": through,
                        "entries_cut": checkpoint.entries_cut,
                        "algorithm": checkpoint.algorithm,
                    },
                ),
            )
            return checkpoint
