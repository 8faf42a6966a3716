"""What someone who can write the store file (and does not know the audit key) does to
the access log (S3, S7): open it with ``sqlite3``, drop the triggers, edit rows, and
re-chain them with the public hash function."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from controller.audit.chain import GENESIS, Checkpoint, entry_hash

COLUMNS = "seq, at, actor, role, action, target, purpose, result, details"


def attacker(path: Path | str) -> sqlite3.Connection:
    """The store file opened by someone who can write it, triggers dropped."""
    db = sqlite3.connect(path, isolation_level=None)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    return db


def rechain(db: sqlite3.Connection, from_seq: int) -> None:
    """Recomputes the SHA-256 chain from ``from_seq`` on, and the head, as the format is
    public. Without the key the MACs cannot be recomputed: they are left as they were."""
    prev = db.execute("SELECT hash FROM access_log WHERE seq = ?", [from_seq - 1]).fetchone()
    if prev is not None:
        prev_hash = prev[0]
    else:
        cut = db.execute(
            "SELECT through_hash FROM audit_checkpoints WHERE through_seq = ?", [from_seq - 1]
        ).fetchone()
        prev_hash = cut[0] if cut else GENESIS
    rows = db.execute(
        f"SELECT {COLUMNS} FROM access_log WHERE seq >= ? ORDER BY seq",  # noqa: S608
        [from_seq],
    ).fetchall()
    for seq, at, actor, role, action, target, purpose, result, details in rows:
        content = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "role": role,
            "action": action,
            "target": target,
            "purpose": purpose,
            "result": result,
            "details": json.loads(details),
            "prev_hash": prev_hash,
        }
        digest = entry_hash(content)
        db.execute(
            "UPDATE access_log SET prev_hash = ?, hash = ? WHERE seq = ?", [prev_hash, digest, seq]
        )
        prev_hash = digest
        db.execute("UPDATE audit_head SET seq = ?, hash = ?", [seq, digest])


def insert_checkpoint(db: sqlite3.Connection, checkpoint: Checkpoint) -> None:
    db.execute(
        "INSERT INTO audit_checkpoints (number, at, through_seq, through_hash, entries_cut, "
        "prev_digest, algorithm, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            checkpoint.number,
            checkpoint.at,
            checkpoint.through_seq,
            checkpoint.through_hash,
            checkpoint.entries_cut,
            checkpoint.prev_digest,
            checkpoint.algorithm,
            checkpoint.digest,
        ],
    )
