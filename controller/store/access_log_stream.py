"""The access log read back for verification, one row at a time (S3, S7).

Re-hashing an entry means its canonical JSON: read back the usual way, each entry's
details are parsed and serialised again, which is most of the time a verification of a
million entries takes. Here SQLite builds each entry's canonical text itself, from the
stored columns and the stored details text (which the store wrote as canonical JSON), so
Python only hashes it.

A match proves the stored columns are the ones that were sealed: the quoted strings
delimit themselves, so equal bytes mean equal fields, and the details text is then the
canonical JSON the entry was sealed with. Anything else (an edited entry, details that
are not canonical JSON, a character SQLite quotes differently) falls back to the full
reading of :func:`~controller.store.access_log_rows.entry_from_row`, so the verdict is
the one the full reading gives, only reached faster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from controller.audit.chain import Entry, entry_hash
from controller.audit.walk import Row
from controller.store.access_log_rows import entry_from_row
from controller.store.database import Connection, Database


def _quoted(column: str) -> str:
    return f"json_quote({column})"


# The keys in canonical order (sorted), as the sealing writes them: see
# controller.audit.entries._content.
CANONICAL_TEXT = (
    "'{\"action\":' || " + _quoted("action") + " || ',\"actor\":' || " + _quoted("actor")
    + " || ',\"at\":' || " + _quoted("at") + " || ',\"details\":' || details"
    + " || ',\"prev_hash\":' || " + _quoted("prev_hash")
    + " || ',\"purpose\":' || " + _quoted("purpose")
    + " || ',\"result\":' || " + _quoted("result")
    + " || ',\"role\":' || " + _quoted("role")
    + " || ',\"seq\":' || seq || ',\"target\":' || " + _quoted("target") + " || '}'"
)


class StoredEntry:
    """What verification reads of one stored entry: its place in the chain, its hash and
    MAC, and whether its content matches its hash."""

    __slots__ = ("_db", "_entry", "hash", "mac", "matches", "prev_hash", "seq")

    def __init__(
        self,
        db: Database,
        seq: int,
        prev_hash: str,
        digest: str,
        mac: str | None,
        canonical: str | None,
    ) -> None:
        self._db = db
        self._entry: Entry | None = None
        self.seq = seq
        self.prev_hash = prev_hash
        self.hash = digest
        self.mac = mac
        self.matches = (
            canonical is not None
            and hashlib.sha256(canonical.encode("utf-8")).hexdigest() == digest
        )

    def _full(self) -> Entry:
        if self._entry is None:
            row = next(iter(self._db.query("SELECT * FROM access_log WHERE seq = ?", [self.seq])))
            self._entry = entry_from_row(row)
        return self._entry

    @property
    def unreadable(self) -> str | None:
        """Why the stored details cannot be read back; never when the content matched."""
        return None if self.matches else self._full().unreadable

    def content_matches(self) -> bool:
        return self.matches or entry_hash(self._full().content()) == self.hash


def stored_entries(db: Database, after_seq: int = 0) -> Iterator[StoredEntry]:
    """Every entry after ``after_seq``, in sequence order, streamed."""
    rows: Any = db.conn.execute(
        f"SELECT seq, prev_hash, hash, mac, {CANONICAL_TEXT} FROM access_log "  # noqa: S608
        "WHERE seq > ? ORDER BY seq",
        [after_seq],
    )
    for seq, prev_hash, digest, mac, canonical in rows:
        yield StoredEntry(db, int(seq), str(prev_hash), str(digest), mac, canonical)


BATCH = 5_000
"""Rows per read of :func:`row_batches` at most: a few megabytes of ordinary entries, so
memory stays flat."""
BATCH_TEXT = 16_000_000
"""Characters of canonical text per read, about: a purge's receipt names a thousand
recordings (some 250 kB), so the rows of a read follow the size of those just read."""
FIRST_BATCH = 50
"""Rows of the first read, before any size is known."""


def row_batches(
    conn: Connection, after_seq: int = 0, through_seq: int | None = None
) -> Iterator[list[Row]]:
    """The entries after ``after_seq`` (up to ``through_seq``), in sequence order, as
    plain tuples with their canonical text (see :data:`~controller.audit.walk.Row`), a
    batch at a time: each read starts after the last sequence number read, on the
    primary key, the same on both backends; each reads as many rows as
    :data:`BATCH_TEXT` holds of the size of the rows just read."""
    bound = "" if through_seq is None else " AND seq <= ?"
    extra: list[Any] = [] if through_seq is None else [through_seq]
    sql = (
        f"SELECT seq, prev_hash, hash, mac, {CANONICAL_TEXT} FROM access_log "  # noqa: S608
        f"WHERE seq > ?{bound} ORDER BY seq LIMIT ?"
    )
    last, limit = after_seq, min(FIRST_BATCH, BATCH)
    while True:
        batch: list[Row] = list(conn.execute(sql, [last, *extra, limit]).fetchall())
        if not batch:
            return
        yield batch
        if len(batch) < limit:
            return
        last = int(batch[-1][0])
        text = sum(len(row[4] or "") for row in batch) or 1
        limit = max(1, min(BATCH, BATCH_TEXT * len(batch) // text))
