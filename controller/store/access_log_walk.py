"""The stored access log walked for verification (S3, S7): in this process, or split in
two halves, the later one walked by a second process.

A walk checks each entry's content against its hash and its MAC: hashing is most of the
time a million entries take, and each half can be checked on its own once the hash at
the seam is known. The second process reads its half from the same store file in its
own read transaction; it proves that a chain runs from the seam's hash, as this
process's snapshot stores it, to the recorded head. Appends after the snapshot are past
the head and not read; a purge that cut entries meanwhile, or anything else the second
process saw differently, makes its walk fail, and the verification then reads the
chain again here, the reference way: a split never changes a verdict.

Only a SQLite store in a file is split (the second process opens the file); a small
log, or PostgreSQL, is walked here in one go.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from controller.audit.verification import Start, Walked
from controller.audit.walk import joined, walk
from controller.secrets import Secret
from controller.store.access_log_stream import row_batches
from controller.store.database import Database

SPLIT_FROM = 100_000
"""Below this many entries a second process costs more to start than it saves."""


def store_file(db: Database) -> Path | None:
    """The SQLite file behind ``db``; None in memory or on PostgreSQL."""
    if not isinstance(db.conn, sqlite3.Connection):
        return None
    for _, name, path in db.conn.execute("PRAGMA database_list").fetchall():
        if name == "main" and path:
            return Path(path)
    return None


def walk_file(
    path: Path, start: Start, key_text: str | None, anchor: str | None, after: int, through: int
) -> Walked:
    """Walks entries ``after`` + 1 .. ``through`` of the store file at ``path``, from
    ``start``, in one read transaction: the second process's half. The audit key comes
    as its text: a :class:`Secret` refuses to be pickled, and this is the one place it
    must cross to another process, over the pipe between the two (never a command line,
    the environment or a file)."""
    key = Secret(key_text) if key_text is not None else None

    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        # A reader of a WAL store waits on no writer; should it fail all the same, the
        # chain is read again in the first process.
        conn.execute("BEGIN")
        return walk(row_batches(conn, after, through), start, key, anchor)
    finally:
        conn.close()


def walk_stored(
    db: Database,
    start: Start,
    key: Secret | None,
    anchor: str | None,
    head_seq: int,
    jobs: int = 1,
) -> Walked:
    """Walks the stored entries from ``start``, in ``jobs`` processes at most (two
    halves when ``jobs`` >= 2, the store is a file and the log is long). The caller holds
    the read transaction; ``head_seq`` is the recorded head's sequence number."""
    path = store_file(db)
    remaining = head_seq - start.expected + 1
    if jobs < 2 or path is None or remaining < SPLIT_FROM:
        return walk(row_batches(db.conn), start, key, anchor)
    seam = start.expected - 1 + remaining // 2
    row = db.conn.execute("SELECT hash FROM access_log WHERE seq = ?", [seam]).fetchone()
    if row is None:
        return Walked(False, 0, start.expected - 1, start.prev, start.anchor_found)
    later = replace(start, expected=seam + 1, prev=str(row[0]), anchor_found=False)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        key_text = key.reveal() if key is not None else None
        second_half: Future[Walked] = pool.submit(
            walk_file, path, later, key_text, anchor, seam, head_seq
        )
        first = walk(row_batches(db.conn, 0, seam), start, key, anchor)
        second = _result(second_half)
    beyond = db.conn.execute(
        "SELECT 1 FROM access_log WHERE seq > ? LIMIT 1", [head_seq]
    ).fetchone()
    if beyond is not None:
        # Entries past the recorded head: the reference reading says what they are.
        return Walked(False, first.count, first.head_seq, first.head_hash, first.anchor_found)
    return joined(first, second, (seam, later.prev))


def _result(future: Future[Walked]) -> Walked:
    """The second process's walk. Whatever went wrong there (it could not start, died,
    or could not read) passes nothing: the chain is then read again here, so a failure
    of the second process costs time, never a verdict."""
    try:
        return future.result()
    except Exception:  # the reference reading follows, whatever it was
        return Walked(False, 0, 0, "", False)
