"""The SQLite store (embedded default), through sqlite-utils.

A :class:`SqliteStore` belongs to one thread: the daemon reaches it only through
:class:`~controller.store.worker.StoreThread`. Each domain method is one transaction,
so a crash never leaves half of a change behind.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from controller.store.migrations import MIGRATIONS, Migration


class StoreError(Exception):
    error_id = "store-error"


def to_text(moment: dt.datetime) -> str:
    """Timestamps are stored as UTC ISO 8601 text, so they sort as text."""
    if moment.tzinfo is None:
        raise ValueError("store timestamps must be timezone-aware")
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def from_text(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


class SqliteStore:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: Path | str, *, migrate: bool = True) -> SqliteStore:
        """Opens (and creates) the database in WAL mode and applies pending migrations."""
        if str(path) == ":memory:":
            db = sqlite_utils.Database(memory=True)
        else:
            path = Path(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
                conn = sqlite3.connect(str(path), isolation_level=None)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open the store at {path}: {exc}") from None
            db = sqlite_utils.Database(conn)
            db.enable_wal()
            # The store holds caller HMACs and the access log: owner and group only.
            path.chmod(0o640)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 5000")
        store = cls(db)
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # -- migrations ------------------------------------------------------------------
    def schema_version(self) -> int:
        if not self.db["schema_migrations"].exists():
            return 0
        row = self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def migrate(self, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
        """Applies the migrations not applied yet, each in its own transaction."""
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = self.schema_version()
        known = max((m.version for m in migrations), default=0)
        if current > known:
            raise StoreError(
                f"the store is at schema version {current}, newer than this reccontrol "
                f"knows ({known}); upgrade reccontrol"
            )
        applied = []
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version <= current:
                continue
            with self.transaction() as db:
                migration.apply(db)
                db.table("schema_migrations").insert(
                    {
                        "version": migration.version,
                        "name": migration.name,
                        "applied_at": to_text(dt.datetime.now(dt.UTC)),
                    }
                )
            applied.append(migration.version)
        return applied

    def integrity_check(self) -> str:
        row = self.db.execute("PRAGMA integrity_check").fetchone()
        return str(row[0])
