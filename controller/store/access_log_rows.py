"""How the access log's rows read back (S2, S3): entries, checkpoints and the recorded
head.

Reading an entry never raises on its stored details: details that cannot be read back
are reported with the entry, so the verification names the entry instead of stopping.
"""

from __future__ import annotations

import json
from typing import Any

from controller.audit.chain import Checkpoint, Entry
from controller.audit.errors import HeadMissing
from controller.store.database import Database


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


def entry_from_row(row: dict[str, object]) -> Entry:
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


def checkpoint_from_row(row: dict[str, object]) -> Checkpoint:
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


def read_checkpoints(db: Database) -> list[Checkpoint]:
    """Every checkpoint, oldest first."""
    return [
        checkpoint_from_row(row)
        for row in db.query("SELECT * FROM audit_checkpoints ORDER BY number")
    ]


def last_checkpoint(db: Database) -> Checkpoint | None:
    rows = list(db.query("SELECT * FROM audit_checkpoints ORDER BY number DESC LIMIT 1"))
    return checkpoint_from_row(rows[0]) if rows else None


def locate_entry(db: Database, digest: str) -> int | None:
    """The sequence number of the entry with hash ``digest``, or None."""
    row = db.execute("SELECT seq FROM access_log WHERE hash = ?", [digest]).fetchone()
    return int(row[0]) if row else None


def read_head(db: Database) -> tuple[int, str] | None:
    """The recorded head, or None when its row is gone (only tampering removes it)."""
    row = db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def require_head(db: Database) -> tuple[int, str]:
    """The recorded head; :class:`HeadMissing` when its row is gone."""
    head = read_head(db)
    if head is None:
        raise HeadMissing(
            "the access log's recorded head (audit_head) is missing: nothing can be logged "
            "until a person checks the store ('reccontrol audit verify')"
        )
    return head
