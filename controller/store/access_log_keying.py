"""The access log's signed key start (S3, S7): from which entry on every entry carries
an HMAC under the audit key.

The signed key start is written on its own only for a log that is still empty. An
existing log is switched over by a person (``reccontrol audit adopt-key``), after its
chain verifies; a keyed log that lost its key start is never keyed again silently: appends
stop with :class:`~controller.audit.errors.KeyStartMissing`, so whatever was changed
before the removal is not blessed by a fresh signature.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from controller.audit.chain import Entry, KeyStart, make_key_start, verify
from controller.audit.errors import AccessLogError, AdoptRefused, HeadMissing, KeyStartMissing
from controller.secrets import Secret
from controller.store.access_log_rows import (
    entry_from_row,
    last_checkpoint,
    locate_entry,
    read_checkpoints,
    read_head,
    require_head,
)
from controller.store.database import Database
from controller.store.parts import StorePart
from controller.store.timestamps import to_text


def _key_start(row: dict[str, object]) -> KeyStart:
    return KeyStart(
        at=str(row["at"]),
        from_seq=int(str(row["from_seq"])),
        head_hash=str(row["head_hash"]),
        checkpoints=int(str(row["checkpoints"])),
        checkpoint_digest=str(row["checkpoint_digest"]),
        mac=str(row["mac"]),
    )


def read_key_start(db: Database) -> KeyStart | None:
    rows = list(db.query("SELECT * FROM audit_key_start WHERE id = 1"))
    return _key_start(rows[0]) if rows else None


def _is_empty(db: Database) -> bool:
    """Nothing was ever logged: no entry, no checkpoint, and the head at the start."""
    head = read_head(db)
    return (
        head is not None
        and head[0] == 0
        and db.execute("SELECT 1 FROM access_log LIMIT 1").fetchone() is None
        and db.execute("SELECT 1 FROM audit_checkpoints LIMIT 1").fetchone() is None
    )


def key_start_problem(db: Database, key: Secret | None) -> str | None:
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


def _write_key_start(db: Database, key: Secret, at: str) -> KeyStart:
    head = require_head(db)
    start = make_key_start(at, head, last_checkpoint(db), key)
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


def ensure_keyed(db: Database, key: Secret, at: str) -> None:
    """Makes sure the next entry is keyed (inside the caller's write transaction).

    A new, empty log gets its signed key start here. A log that holds anything and has
    no key start is refused (:class:`KeyStartMissing`): signing its present head would
    accept every change made to it so far; switching an old log over is
    :func:`adopt_key`, run by a person."""
    if db.execute("SELECT 1 FROM audit_key_start WHERE id = 1").fetchone():
        return
    if not _is_empty(db):
        require_head(db)  # a missing head is the clearer error
        problem = key_start_problem(db, key)
        raise KeyStartMissing(problem or "the access log's key start is missing")
    _write_key_start(db, key, at)


def _all_entries(db: Database) -> Iterator[Entry]:
    for row in db.query("SELECT * FROM access_log ORDER BY seq"):
        yield entry_from_row(row)


def adopt_key(
    db: Database,
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
    head = require_head(db)
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
    checkpoints = read_checkpoints(db)
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
        locate=lambda digest: locate_entry(db, digest),
    )
    if not verdict.ok:
        raise AdoptRefused(f"the access log is {verdict.describe()}: it is not keyed as it is")
    return _write_key_start(db, key, at)


class AuditKeyStore(StorePart):
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
        blocker = self.access_log_blocker()
        return None if blocker is None else str(blocker)

    def access_log_blocker(self) -> AccessLogError | None:
        """The same, typed: what an append would raise now, with its ``error_id``."""
        if read_head(self.db) is None:
            return HeadMissing("the access log's recorded head (audit_head) is missing")
        problem = key_start_problem(self.db, self.audit_key)
        return None if problem is None else KeyStartMissing(problem)

    def audit_key_start(self) -> KeyStart | None:
        return read_key_start(self.db)
