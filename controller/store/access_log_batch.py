"""Many access-log entries in one write (S3, S7, T4): the purge's receipts.

Each entry is sealed exactly as :func:`~controller.store.access_log.append_entry` seals
it (its own sequence number, the previous entry's hash, its MAC with the audit key):
appending a batch gives the same rows, byte for byte, as appending its entries one by one
in the same transaction. Only the writing is grouped: the head is read once, the rows go
in with one statement, and the recorded head is moved once, to the last entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from json.encoder import encode_basestring

from controller.audit.chain import Entry, EntryDraft, canonical_json, entry_mac, seal
from controller.secrets import Secret
from controller.store.access_log_keying import ensure_keyed
from controller.store.access_log_rows import require_head
from controller.store.database import Database


def canonical_text(seq: int, draft: EntryDraft, prev_hash: str, details: str) -> str:
    """``canonical_json`` of the entry's content, written out key by key (sorted) around
    ``details``, its details' canonical JSON: the details are serialised once, for the
    hash and the stored row alike. :func:`seal_all` checks it against the reference."""
    return (
        f'{{"action":{_text(draft.action)},"actor":{_text(draft.actor)},'
        f'"at":{_text(draft.at)},"details":{details},"prev_hash":{_text(prev_hash)},'
        f'"purpose":{_text(draft.purpose)},"result":{_text(draft.result)},'
        f'"role":{_text(draft.role)},"seq":{int(seq)},"target":{_text(draft.target)}}}'
    )


def _text(value: object) -> str:
    # What json.dumps(value, ensure_ascii=False) gives a string, without its overhead.
    if isinstance(value, str):
        return encode_basestring(value)
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def seal_all(
    drafts: Sequence[EntryDraft], head: tuple[int, str], key: Secret | None
) -> list[tuple[Entry, str]]:
    """The entries that follow ``head``, each chained to the one before, with their
    details' canonical JSON text. Pure. Each is what :func:`seal` gives; the first of a
    batch is sealed both ways and, should they differ, the batch is sealed by
    :func:`seal` alone."""
    seq, prev_hash = head
    sealed: list[tuple[Entry, str]] = []
    for index, draft in enumerate(drafts):
        details = canonical_json(draft.details).decode("utf-8")
        text = canonical_text(seq + 1, draft, prev_hash, details)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        entry = Entry(
            seq=seq + 1,
            at=draft.at,
            actor=draft.actor,
            role=draft.role,
            action=draft.action,
            target=draft.target,
            purpose=draft.purpose,
            result=draft.result,
            details=dict(draft.details),
            prev_hash=prev_hash,
            hash=digest,
            mac=entry_mac(key, digest) if key is not None else None,
        )
        if index == 0 and entry != seal(draft, seq + 1, prev_hash, key):
            return _sealed_one_by_one(drafts, head, key)
        sealed.append((entry, details))
        seq, prev_hash = entry.seq, entry.hash
    return sealed


def _sealed_one_by_one(
    drafts: Sequence[EntryDraft], head: tuple[int, str], key: Secret | None
) -> list[tuple[Entry, str]]:
    seq, prev_hash = head
    sealed: list[tuple[Entry, str]] = []
    for draft in drafts:
        entry = seal(draft, seq + 1, prev_hash, key)
        sealed.append((entry, canonical_json(entry.details).decode("utf-8")))
        seq, prev_hash = entry.seq, entry.hash
    return sealed


def append_entries(
    db: Database, drafts: Sequence[EntryDraft], key: Secret | None
) -> list[Entry]:
    """Appends ``drafts`` in order, keyed with ``key`` if given; the caller holds the
    write transaction (so the head cannot move under it)."""
    if not drafts:
        return []
    if key is not None:
        ensure_keyed(db, key, drafts[0].at)
    sealed = seal_all(drafts, require_head(db), key)
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
                details,
                e.prev_hash,
                e.hash,
                e.mac,
            )
            for e, details in sealed
        ],
    )
    entries = [e for e, _ in sealed]
    last = entries[-1]
    db.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", [last.seq, last.hash])
    return entries
