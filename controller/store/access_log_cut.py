"""The access log's cut (T3): the entries past their retention are deleted behind a
signed checkpoint, after each of them is checked again, and the cut is logged.
"""

from __future__ import annotations

import datetime as dt

from controller.audit.chain import Checkpoint, check_cut, make_checkpoint
from controller.audit.errors import CutRefused
from controller.secrets import Secret
from controller.stoppoints import stop_point
from controller.store.access_log import append_system_entry
from controller.store.access_log_keying import ensure_keyed, read_key_start
from controller.store.access_log_rows import (
    entry_from_row,
    last_checkpoint,
    read_checkpoints,
    require_head,
)
from controller.store.database import Database
from controller.store.parts import StorePart
from controller.store.timestamps import to_text

# Entries cut (and re-checked) per checkpoint: under half a second of hashing.
CUT_BATCH = 5_000
CUT_TEXT = 16_000_000
"""Characters of details re-checked per checkpoint, at most: a purge's receipt names a
batch of recordings (a thousand rows, some 250 kB), so a count of entries alone would
let one checkpoint re-read gigabytes."""


class AccessLogCutStore(StorePart):
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
        text_limit: int = CUT_TEXT,
    ) -> Checkpoint | None:
        """Deletes the entries written before ``before`` (the oldest run of them, at most
        ``limit``, their details at most ``text_limit`` characters, one entry at least),
        behind a new checkpoint, and logs the cut. One transaction; None when nothing
        expired. Raises :class:`CutRefused` when what it would cut does not verify."""
        with self.transaction() as db:
            first_kept = db.execute(
                "SELECT MIN(seq) FROM access_log WHERE at >= ?", [to_text(before)]
            ).fetchone()[0]
            if first_kept is None:
                last = db.execute("SELECT MAX(seq) FROM access_log").fetchone()[0]
                through = int(last) if last is not None else 0
            else:
                through = int(first_kept) - 1
            previous = last_checkpoint(db)
            start = previous.through_seq if previous else 0
            if through <= start:
                return None
            cut_all = first_kept is None
            if through > start + max(1, limit):
                # Every entry cut is re-checked inside this write transaction: a bounded
                # batch keeps the call flow's writes from waiting on a year of backlog.
                through, cut_all = start + max(1, limit), False
            heavy = db.execute(
                "SELECT seq FROM (SELECT seq, SUM(length(details)) OVER (ORDER BY seq) AS total "
                "FROM access_log WHERE seq > ? AND seq <= ?) AS run WHERE total > ? "
                "ORDER BY seq LIMIT 1",
                [start, through, text_limit],
            ).fetchone()
            if heavy is not None:
                # The entries before the one that goes past the limit; at least one.
                through, cut_all = max(start + 1, int(heavy[0]) - 1), False
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
            # Which receipt named a deleted recording goes with the receipt (T4).
            db.execute("DELETE FROM deletion_receipts WHERE seq <= ?", [through])
            stop_point("purge-log-cut")  # inside the transaction: a kill here rolls it back
            append_system_entry(
                db,
                key,
                at=now,
                action="log_purge",
                target=f"access_log:{through - checkpoint.entries_cut + 1}-{through}",
                purpose=f"retention: {rule}",
                details={
                    "checkpoint": checkpoint.number,
                    "through_seq": through,
                    "entries_cut": checkpoint.entries_cut,
                    "algorithm": checkpoint.algorithm,
                },
            )
            return checkpoint


def _cut_problem(
    db: Database,
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
    entries = [entry_from_row(row) for row in rows]
    return check_cut(
        entries,
        checkpoints=read_checkpoints(db),
        key=key,
        key_start=read_key_start(db),
        head=require_head(db) if cut_all else None,
    )
