"""The access log's storage (S2, S3, S7, T3): append and read back.

Every append runs inside ``BEGIN IMMEDIATE``, so the head it chains to cannot move
under it, even with the daemon and a CLI command writing to the same store. The key
start that keys the log is in :mod:`controller.store.access_log_keying`, the cut behind
a checkpoint in :mod:`controller.store.access_log_cut`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from controller.audit.chain import (
    GENESIS,
    Checkpoint,
    Entry,
    EntryDraft,
    Verdict,
    WitnessLine,
    canonical_json,
    check_witness,
    seal,
    verify,
)
from controller.audit.verification import conclude, prepare
from controller.secrets import Secret
from controller.store.access_log_keying import ensure_keyed, read_key_start
from controller.store.access_log_rows import (
    entry_from_row,
    locate_entry,
    read_checkpoints,
    read_head,
    require_head,
)
from controller.store.access_log_stream import stored_entries
from controller.store.access_log_walk import walk_stored
from controller.store.database import Database
from controller.store.parts import StorePart
from controller.store.timestamps import to_text


def append_entry(db: Database, draft: EntryDraft, key: Secret | None) -> Entry:
    """Appends one entry, keyed with ``key`` if given; the caller holds the write
    transaction."""
    if key is not None:
        ensure_keyed(db, key, draft.at)
    seq, prev_hash = require_head(db)
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


def append_system_entry(
    db: Database,
    key: Secret | None,
    *,
    at: dt.datetime,
    action: str,
    target: str,
    purpose: str,
    details: dict[str, Any],
    result: str = "ok",
) -> Entry:
    """Appends an entry the controller writes on its own, not for a person (a purge's
    receipt, a sweep's); the caller holds the write transaction."""
    return append_entry(
        db,
        EntryDraft(
            at=to_text(at),
            actor="system",
            role="system",
            action=action,
            target=target,
            purpose=purpose,
            result=result,
            details=details,
        ),
        key,
    )


class AccessLogStore(StorePart):
    def append_access(self, draft: EntryDraft) -> Entry:
        """Appends one entry to the access log, in its own transaction."""
        with self.transaction() as db:
            return append_entry(db, draft, self.audit_key)

    def entry_hash_at(self, seq: int) -> str | None:
        row = self.db.execute("SELECT hash FROM access_log WHERE seq = ?", [seq]).fetchone()
        return str(row[0]) if row else None

    def audit_head(self) -> tuple[int, str]:
        """The sequence number and hash of the last entry written (0 and zeros if none).
        Raises :class:`HeadMissing` if the head row was removed."""
        return require_head(self.db)

    def access_entries(self, after_seq: int = 0) -> Iterator[Entry]:
        for row in self.db.query(
            "SELECT * FROM access_log WHERE seq > ? ORDER BY seq", [after_seq]
        ):
            yield entry_from_row(row)

    def checkpoints(self) -> list[Checkpoint]:
        return read_checkpoints(self.db)

    def locate_entry(self, digest: str) -> int | None:
        return locate_entry(self.db, digest)

    def verify_access_log(
        self,
        key: Secret | None,
        anchor: str | None = None,
        witness: Sequence[WitnessLine] | None = None,
        retention_days: int | None = None,
        jobs: int = 1,
    ) -> Verdict:
        """Checks the whole chain from one consistent snapshot of the store, and against
        the ``witness`` lines if given (with ``retention_days``, a published head purged
        before its time is tampering). ``jobs`` > 1 lets a second process check half of
        a long chain (see :mod:`~controller.store.access_log_walk`)."""
        conn = self.db.conn
        conn.execute("BEGIN")
        try:
            checkpoints = self.checkpoints()
            recorded = read_head(self.db)
            if recorded is None:
                return Verdict(
                    False,
                    0,
                    0,
                    GENESIS,
                    None,
                    "the recorded head is missing (audit_head has no row): it was deleted, "
                    "so entries cut from the end could not be seen",
                )
            head = recorded
            verdict = self._verify_chain(checkpoints, key, head, anchor, jobs)
            if witness is None or not verdict.ok:
                return verdict
            problem, checked = check_witness(
                witness,
                key=key,
                head=head,
                checkpoints=checkpoints,
                hash_at=self.entry_hash_at,
                key_start=read_key_start(self.db),
                retention_days=retention_days,
            )
        finally:
            conn.execute("COMMIT")
        if problem is not None:
            return replace(verdict, ok=False, reason=f"witness: {problem}")
        note = f"witness: {checked} of {len(witness)} published heads found in the log"
        return replace(verdict, notes=(*verdict.notes, note))

    def _verify_chain(
        self,
        checkpoints: list[Checkpoint],
        key: Secret | None,
        head: tuple[int, str],
        anchor: str | None,
        jobs: int,
    ) -> Verdict:
        """The rows walked the fast way (tuples, in batches); at the first one that does
        not pass, the chain read again entry by entry, which names it and says why."""
        key_start = read_key_start(self.db)
        start = prepare(
            checkpoints=checkpoints,
            key=key,
            recorded_head=head,
            anchor=anchor,
            key_start=key_start,
        )
        if isinstance(start, Verdict):
            return start
        walked = walk_stored(self.db, start, key, anchor, head[0], jobs)
        if walked.clean:
            return conclude(start, walked, recorded_head=head, anchor=anchor)
        return verify(
            stored_entries(self.db),
            checkpoints=checkpoints,
            key=key,
            recorded_head=head,
            locate=self.locate_entry,
            anchor=anchor,
            key_start=key_start,
        )
