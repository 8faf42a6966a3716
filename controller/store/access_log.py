"""The access log's storage (S2, S3, T3): append, read back, cut behind a checkpoint.

Every append runs inside ``BEGIN IMMEDIATE``, so the head it chains to cannot move
under it, even with the daemon and a CLI command writing to the same store.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import sqlite_utils

from controller.audit.chain import (
    Checkpoint,
    Entry,
    EntryDraft,
    KeyStart,
    Verdict,
    WitnessLine,
    canonical_json,
    check_witness,
    make_checkpoint,
    make_key_start,
    seal,
    verify,
)
from controller.secrets import Secret
from controller.stoppoints import stop_point
from controller.store.parts import StorePart
from controller.store.timestamps import to_text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _details(text: str) -> tuple[dict[str, Any], str | None]:
    """The stored details, or why they cannot be read back (reported, never raised)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return {}, f"not valid JSON ({str(exc)[:80]})"
    if not isinstance(value, dict):
        return {}, "not a JSON object"
    return value, None


def _entry(row: dict[str, object]) -> Entry:
    details, unreadable = _details(str(row["details"]))
    return Entry(
        seq=int(str(row["seq"])),
        at=str(row["at"]),
        actor=str(row["actor"]),
        role=str(row["role"]),
        action=str(row["action"]),
        target=str(row["target"]),
        purpose=str(row["purpose"]),
        result=str(row["result"]),
        details=details,
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
        mac=str(row["mac"]) if row.get("mac") is not None else None,
        unreadable=unreadable,
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


def _key_start(row: dict[str, object]) -> KeyStart:
    return KeyStart(
        at=str(row["at"]),
        from_seq=int(str(row["from_seq"])),
        head_hash=str(row["head_hash"]),
        checkpoints=int(str(row["checkpoints"])),
        checkpoint_digest=str(row["checkpoint_digest"]),
        mac=str(row["mac"]),
    )


def read_key_start(db: sqlite_utils.Database) -> KeyStart | None:
    rows = list(db.query("SELECT * FROM audit_key_start WHERE id = 1"))
    return _key_start(rows[0]) if rows else None


def ensure_keyed(db: sqlite_utils.Database, key: Secret, at: str) -> None:
    """Writes the signed key start if this log has none yet (inside the caller's write
    transaction): from the next entry on, every entry carries a MAC."""
    if db.execute("SELECT 1 FROM audit_key_start WHERE id = 1").fetchone():
        return
    row = db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    rows = list(db.query("SELECT * FROM audit_checkpoints ORDER BY number DESC LIMIT 1"))
    last = _checkpoint(rows[0]) if rows else None
    start = make_key_start(at, (int(row[0]), str(row[1])), last, key)
    db.execute(
        "INSERT INTO audit_key_start (id, at, from_seq, head_hash, checkpoints, "
        "checkpoint_digest, mac) VALUES (1, ?, ?, ?, ?, ?, ?)",
        [
            start.at,
            start.from_seq,
            start.head_hash,
            start.checkpoints,
            start.checkpoint_digest,
            start.mac,
        ],
    )


def append_entry(db: sqlite_utils.Database, draft: EntryDraft, key: Secret | None) -> Entry:
    """Appends one entry, keyed with ``key`` if given; the caller holds the write
    transaction."""
    if key is not None:
        ensure_keyed(db, key, draft.at)
    row = db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    seq, prev_hash = int(row[0]), str(row[1])
    entry = seal(draft, seq + 1, prev_hash, key)
    db.execute(
        "INSERT INTO access_log (seq, at, actor, role, action, target, purpose, result, "
        "details, prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            entry.mac,
        ],
    )
    db.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", [entry.seq, entry.hash])
    return entry


class AccessLogStore(StorePart):
    def append_access(self, draft: EntryDraft) -> Entry:
        """Appends one entry to the access log, in its own transaction."""
        with self.transaction() as db:
            return append_entry(db, draft, self.audit_key)

    def ensure_audit_keyed(self, now: dt.datetime) -> bool:
        """Switches the log to the keyed chain now, if a key is set; True if keyed."""
        key = self.audit_key
        if key is None:
            return False
        with self.transaction() as db:
            ensure_keyed(db, key, to_text(now))
        return True

    def audit_key_start(self) -> KeyStart | None:
        return read_key_start(self.db)

    def entry_hash_at(self, seq: int) -> str | None:
        row = self.db.execute("SELECT hash FROM access_log WHERE seq = ?", [seq]).fetchone()
        return str(row[0]) if row else None

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

    def verify_access_log(
        self,
        key: Secret | None,
        anchor: str | None = None,
        witness: Sequence[WitnessLine] | None = None,
    ) -> Verdict:
        """Checks the whole chain from one consistent snapshot of the store, and against
        the ``witness`` lines if given."""
        conn = self.db.conn
        conn.execute("BEGIN")
        try:
            checkpoints = self.checkpoints()
            head = self.audit_head()
            verdict = verify(
                self.access_entries(),
                checkpoints=checkpoints,
                key=key,
                recorded_head=head,
                locate=self.locate_entry,
                anchor=anchor,
                key_start=self.audit_key_start(),
            )
            if witness is None or not verdict.ok:
                return verdict
            problem, checked = check_witness(
                witness, key=key, head=head, checkpoints=checkpoints, hash_at=self.entry_hash_at
            )
        finally:
            conn.execute("COMMIT")
        if problem is not None:
            return replace(verdict, ok=False, reason=f"witness: {problem}")
        note = f"witness: {checked} of {len(witness)} published heads found in the log"
        return replace(verdict, notes=(*verdict.notes, note))

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
            if key is not None:
                # Before the checkpoint, so the key start counts it as signed.
                ensure_keyed(db, key, to_text(now))
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
                key,
            )
            return checkpoint
