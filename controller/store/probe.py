"""A real write to the store, for /readyz (R4): does the database take a write now?

``BEGIN IMMEDIATE`` then ``ROLLBACK`` is not enough: in WAL mode a database opened
read-only, or on a file system remounted read-only, still grants the write lock, and
only writing a page fails. So the probe commits one: it rewrites the header's
``user_version`` with its own value (reccontrol keeps its schema version in
``schema_migrations`` and uses ``user_version`` for nothing). The rows stay as they were.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from controller.store.sqlite import BUSY_TIMEOUT_MS, SqliteStore

# A probe waits this long for a lock another process holds, not the store's usual
# BUSY_TIMEOUT_MS: it answers a monitoring request, and a store locked that long is
# already not ready.
PROBE_BUSY_MS = 500


@dataclass(frozen=True)
class WriteProbe:
    kind: str
    """``ok``, ``read-only``, ``locked`` or ``failed`` (an I/O error, a full disk...)."""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def _kind(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_READONLY"):
        return "read-only"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "locked"
    return "failed"


def probe_write(store: SqliteStore) -> WriteProbe:
    """Commits one header write; on the store's thread, between its other writes."""
    if store.backend != "sqlite":
        return _probe_transaction(store)
    conn = store.sqlite.conn
    conn.execute(f"PRAGMA busy_timeout = {PROBE_BUSY_MS}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        conn.execute(f"PRAGMA user_version = {int(version)}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        name = getattr(exc, "sqlite_errorname", "") or type(exc).__name__
        return WriteProbe(_kind(exc), f"{name}: {exc}")
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return WriteProbe("ok")


def _probe_transaction(store: SqliteStore) -> WriteProbe:
    """On a server store: one write transaction (the writers' lock taken and released)."""
    try:
        with store.transaction() as db:
            db.execute("SELECT 1").fetchone()
    except sqlite3.Error as exc:
        return WriteProbe("failed", f"{type(exc).__name__}: {exc}")
    return WriteProbe("ok")


def locked_elsewhere(path: Path) -> bool:
    """Whether another connection holds the SQLite store's write lock now: asked on a
    connection of its own, without waiting, when the store's thread is too busy to
    probe (its own work waits on that lock). A store that cannot be opened is not
    called locked: its probe will say what it is."""
    try:
        conn = sqlite3.connect(str(path), timeout=0, isolation_level=None)
    except sqlite3.Error:
        return False
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        return _kind(exc) == "locked"
    finally:
        conn.close()
    return False
