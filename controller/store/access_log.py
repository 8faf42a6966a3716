"""The access log's storage (S2, S3, S7, T3): append, read back, cut behind a checkpoint.

Every append runs inside ``BEGIN IMMEDIATE``, so the head it chains to cannot move
under it, even with the daemon and a CLI command writing to the same store.

The signed key start is written on its own only for a log that is still empty. An
existing log is switched over by a person (``reccontrol audit adopt-key``), after its
chain verifies; a keyed log that lost its key start is never keyed again silently: appends
stop with :class:`~controller.audit.errors.KeyStartMissing`, so whatever was changed
before the removal is not blessed by a fresh signature.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import sqlite_utils

from controller.audit.chain import (
    GENESIS,
    Checkpoint,
    Entry,
    EntryDraft,
    KeyStart,
    Verdict,
    WitnessLine,
    canonical_json,
    check_cut,
    check_witness,
    make_checkpoint,
    make_key_start,
    seal,
    verify,
)
from controller.audit.errors import AdoptRefused, CutRefused, HeadMissing, KeyStartMissing
from controller.secrets import Secret
from controller.stoppoints import stop_point
from controller.store.parts import StorePart
from controller.store.timestamps import to_text

# Entries cut (and re-checked) per checkpoint: under half a second of hashing.
CUT_BATCH = 5_000


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


def read_head(db: sqlite_utils.Database) -> tuple[int, str] | None:
    """The recorded head, or None when its row is gone (only tampering removes it)."""
    row = db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _head(db: sqlite_utils.Database) -> tuple[int, str]:
    head = read_head(db)
    if head is None:
        raise HeadMissing(
            "the access log's recorded head (audit_head) is missing: nothing can be logged "
            "until a person checks the store ('reccontrol audit verify')"
        )
    return head


def _is_empty(db: sqlite_utils.Database) -> bool:
    """Nothing was ever logged: no entry, no checkpoint, and the head at the start."""
    head = read_head(db)
    return (
        head is not None
        and head[0] == 0
        and db.execute("SELECT 1 FROM access_log LIMIT 1").fetchone() is None
        and db.execute("SELECT 1 FROM audit_checkpoints LIMIT 1").fetchone() is None
    )


def key_start_problem(db: sqlite_utils.Database, key: Secret | None) -> str | None:
    """Why this log cannot be written with ``key`` (S7), or None."""
    if key is None or read_key_start(db) is not None or _is_empty(db):
        return None
    keyed_before = (
        db.execute("SELECT 1 FROM access_log WHERE mac IS NOT NULL LIMIT 1").fetchone()
        is not None
    )
    why = (
        "it was removed (its entries carry MACs)"
        if keyed_before
        else "it was removed, or the log was written before the key was set (then switch "
        "it over with 'reccontrol audit adopt-key')"
    )
    return (
        "the access log holds entries but has no signed key start although "
        f"audit.checkpoint_key is configured: {why}. Nothing is logged, so no audited "
        "access is allowed, until a person checks it with 'reccontrol audit verify'"
    )


def _write_key_start(db: sqlite_utils.Database, key: Secret, at: str) -> KeyStart:
    head = _head(db)
    rows = list(db.query("SELECT * FROM audit_checkpoints ORDER BY number DESC LIMIT 1"))
    last = _checkpoint(rows[0]) if rows else None
    start = make_key_start(at, head, last, key)
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
    return start


def ensure_keyed(db: sqlite_utils.Database, key: Secret, at: str) -> None:
    """Makes sure the next entry is keyed (inside the caller's write transaction).

    A new, empty log gets its signed key start here. A log that holds anything and has
    no key start is refused (:class:`KeyStartMissing`): signing its present head would
    accept every change made to it so far; switching an old log over is
    :func:`adopt_key`, run by a person."""
    if db.execute("SELECT 1 FROM audit_key_start WHERE id = 1").fetchone():
        return
    if not _is_empty(db):
        _head(db)  # a missing head is the clearer error
        problem = key_start_problem(db, key)
        raise KeyStartMissing(problem or "the access log's key start is missing")
    _write_key_start(db, key, at)


def _all_entries(db: sqlite_utils.Database) -> Iterator[Entry]:
    for row in db.query("SELECT * FROM access_log ORDER BY seq"):
        yield _entry(row)


def adopt_key(
    db: sqlite_utils.Database,
    key: Secret,
    at: str,
    published_key_start: str | None = None,
) -> KeyStart:
    """Switches a log written without the key over to it: signs its present head, once
    its hash chain verifies (inside the caller's write transaction).

    Refused when the log is already keyed, when an entry already carries a MAC (it was
    keyed and its key start removed: adopting would hide what was changed since), when
    the witness published a key start (``published_key_start``), or when the chain is
    broken."""
    if read_key_start(db) is not None:
        raise AdoptRefused("the access log is already keyed: nothing to adopt")
    head = _head(db)
    if db.execute("SELECT 1 FROM access_log WHERE mac IS NOT NULL LIMIT 1").fetchone():
        raise AdoptRefused(
            "entries of the access log carry a MAC: it was keyed and its key start was "
            "removed; it is not re-keyed ('reccontrol audit verify' shows what is wrong)"
        )
    if published_key_start is not None:
        raise AdoptRefused(
            f"the witness published a key start ({published_key_start[:12]}…): the log "
            "was keyed and its key start was removed; it is not re-keyed"
        )
    checkpoints = [
        _checkpoint(row) for row in db.query("SELECT * FROM audit_checkpoints ORDER BY number")
    ]
    if any(cp.algorithm != "sha256" for cp in checkpoints):
        raise AdoptRefused(
            "a checkpoint of the access log is HMAC-signed: it was keyed and its key start "
            "was removed; it is not re-keyed"
        )
    verdict = verify(
        _all_entries(db),
        checkpoints=checkpoints,
        key=None,
        recorded_head=head,
        locate=lambda digest: _locate(db, digest),
    )
    if not verdict.ok:
        raise AdoptRefused(f"the access log is {verdict.describe()}: it is not keyed as it is")
    return _write_key_start(db, key, at)


def _locate(db: sqlite_utils.Database, digest: str) -> int | None:
    row = db.execute("SELECT seq FROM access_log WHERE hash = ?", [digest]).fetchone()
    return int(row[0]) if row else None


def append_entry(db: sqlite_utils.Database, draft: EntryDraft, key: Secret | None) -> Entry:
    """Appends one entry, keyed with ``key`` if given; the caller holds the write
    transaction."""
    if key is not None:
        ensure_keyed(db, key, draft.at)
    seq, prev_hash = _head(db)
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
        """Keys a new, empty log now, if a key is set; True if the log is keyed. Raises
        :class:`KeyStartMissing` for a keyed log that lost its key start."""
        key = self.audit_key
        if key is None:
            return False
        with self.transaction() as db:
            ensure_keyed(db, key, to_text(now))
        return True

    def adopt_audit_key(self, now: dt.datetime, published_key_start: str | None = None) -> KeyStart:
        """Switches an existing log written without the key over to it (S7); see
        :func:`adopt_key`."""
        key = self.audit_key
        if key is None:
            raise AdoptRefused("no audit key is configured (audit.checkpoint_key_env or _file)")
        with self.transaction() as db:
            return adopt_key(db, key, to_text(now), published_key_start)

    def access_log_problem(self) -> str | None:
        """Why the access log cannot be written now (a keyed log without its key start,
        or its head row gone), or None: for the health check."""
        if read_head(self.db) is None:
            return "the access log's recorded head (audit_head) is missing"
        return key_start_problem(self.db, self.audit_key)

    def audit_key_start(self) -> KeyStart | None:
        return read_key_start(self.db)

    def entry_hash_at(self, seq: int) -> str | None:
        row = self.db.execute("SELECT hash FROM access_log WHERE seq = ?", [seq]).fetchone()
        return str(row[0]) if row else None

    def audit_head(self) -> tuple[int, str]:
        """The sequence number and hash of the last entry written (0 and zeros if none).
        Raises :class:`HeadMissing` if the head row was removed."""
        return _head(self.db)

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
        retention_days: int | None = None,
    ) -> Verdict:
        """Checks the whole chain from one consistent snapshot of the store, and against
        the ``witness`` lines if given (with ``retention_days``, a published head purged
        before its time is tampering)."""
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
                witness,
                key=key,
                head=head,
                checkpoints=checkpoints,
                hash_at=self.entry_hash_at,
                key_start=self.audit_key_start(),
                retention_days=retention_days,
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
        self,
        before: dt.datetime,
        now: dt.datetime,
        key: Secret | None,
        rule: str,
        limit: int = CUT_BATCH,
    ) -> Checkpoint | None:
        """Deletes the entries written before ``before`` (the oldest run of them, at most
        ``limit``), behind a new checkpoint, and logs the cut. One transaction; None when
        nothing expired. Raises :class:`CutRefused` when what it would cut does not
        verify."""
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
            start = previous.through_seq if previous else 0
            if through <= start:
                return None
            cut_all = first_kept is None
            if through > start + max(1, limit):
                # Every entry cut is re-checked inside this write transaction: a bounded
                # batch keeps the call flow's writes from waiting on a year of backlog.
                through, cut_all = start + max(1, limit), False
            if key is not None:
                # Refuses a keyed log that lost its key start before anything is cut.
                ensure_keyed(db, key, to_text(now))
            problem = _cut_problem(db, previous, through, cut_all, key)
            if problem is not None:
                raise CutRefused(
                    f"the access log was not cut: {problem}; nothing was deleted, "
                    "check it with 'reccontrol audit verify'"
                )
            through_hash = str(
                db.execute("SELECT hash FROM access_log WHERE seq = ?", [through]).fetchone()[0]
            )
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


def _cut_problem(
    db: sqlite_utils.Database,
    previous: Checkpoint | None,
    through: int,
    cut_all: bool,
    key: Secret | None,
) -> str | None:
    """Why the entries up to ``through`` must not be sealed behind a checkpoint: each is
    re-hashed and MAC-checked, with the link to the first entry kept, before a signature
    vouches for them."""
    start = previous.through_seq if previous else 0
    rows = db.query(
        "SELECT * FROM access_log WHERE seq > ? AND seq <= ? ORDER BY seq", [start, through + 1]
    )
    entries = [_entry(row) for row in rows]
    checkpoints = [
        _checkpoint(row) for row in db.query("SELECT * FROM audit_checkpoints ORDER BY number")
    ]
    return check_cut(
        entries,
        checkpoints=checkpoints,
        key=key,
        key_start=read_key_start(db),
        head=_head(db) if cut_all else None,
    )
