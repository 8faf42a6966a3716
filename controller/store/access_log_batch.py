"""Many access-log entries in one write (S3, S7, T4): the purge's receipts.

Each entry is sealed exactly as :func:`~controller.store.access_log.append_entry` seals
it (its own sequence number, the previous entry's hash, its MAC with the audit key):
appending a batch gives the same rows, byte for byte, as appending its entries one by one
in the same transaction. Only the writing is grouped: the head is read once, the rows go
in with one statement, and the recorded head is moved once, to the last entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlite_utils

from controller.audit.chain import Entry, EntryDraft, canonical_json, seal
from controller.secrets import Secret
from controller.store.access_log_keying import ensure_keyed
from controller.store.access_log_rows import require_head


def seal_all(
    drafts: Sequence[EntryDraft], head: tuple[int, str], key: Secret | None
) -> list[Entry]:
    """The entries that follow ``head``, each chained to the one before. Pure."""
    seq, prev_hash = head
    entries: list[Entry] = []
    for draft in drafts:
        entry = seal(draft, seq + 1, prev_hash, key)
        entries.append(entry)
        seq, prev_hash = entry.seq, entry.hash
    return entries


def append_entries(
    db: sqlite_utils.Database, drafts: Sequence[EntryDraft], key: Secret | None
) -> list[Entry]:
    """Appends ``drafts`` in order, keyed with ``key`` if given; the caller holds the
    write transaction (so the head cannot move under it)."""
    if not drafts:
        return []
    if key is not None:
        ensure_keyed(db, key, drafts[0].at)
    entries = seal_all(drafts, require_head(db), key)
    db.conn.executemany(
        "INSERT INTO access_log (seq, at, actor, role, action, target, purpose, result, "
        "details, prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.seq,
                e.at,
                e.actor,
                e.role,
                e.action,
                e.target,
                e.purpose,
                e.result,
                canonical_json(e.details).decode("utf-8"),
                e.prev_hash,
                e.hash,
                e.mac,
            )
            for e in entries
        ],
    )
    last = entries[-1]
    db.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", [last.seq, last.hash])
    return entries
