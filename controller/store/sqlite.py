"""The SQLite store (embedded default), through sqlite-utils.

A :class:`SqliteStore` belongs to one thread: the daemon reaches it only through
:class:`~controller.store.worker.StoreThread`. Each domain method is one transaction,
so a crash never leaves half of a change behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from controller.filemodes import make_private_folder
from controller.secrets import Secret
from controller.store.access_log import AccessLogStore
from controller.store.access_log_cut import AccessLogCutStore
from controller.store.access_log_keying import AuditKeyStore
from controller.store.call_views import CallViewStore
from controller.store.calls import CallStore
from controller.store.database import Database
from controller.store.figures import StoreFigures
from controller.store.holds import HoldStore
from controller.store.inspection import InspectionStore
from controller.store.lifecycle import LifecycleStore
from controller.store.masked_spans import MaskedSpanStore
from controller.store.metadata_purge import MetadataPurgeStore
from controller.store.migrations import MIGRATIONS, Migration
from controller.store.node_locks import DEFAULT_NODE, NodeStore
from controller.store.orphans import OrphanStore
from controller.store.purge_pages import PurgePages
from controller.store.redactions import RedactionStore
from controller.store.sheets import SheetStore
from controller.store.subjects import SubjectStore
from controller.store.timestamps import from_text as from_text  # re-exported
from controller.store.timestamps import to_text


class StoreError(Exception):
    error_id = "store-error"


class SchemaTooNewError(StoreError):
    """The store was migrated by a newer reccontrol: running against it could corrupt it."""


STORE_FILE_MODE = 0o600
# How long a write waits for a lock another process holds before SQLite gives up (the
# store thread then retries, see controller/store/worker.py).
BUSY_TIMEOUT_MS = 5000
# The companions SQLite creates beside the database in WAL mode.
STORE_COMPANIONS = ("-wal", "-shm")


def make_private_files(path: Path) -> None:
    """Creates the database file 0600 before SQLite opens it (no moment where it is
    readable by others), and narrows a file an older reccontrol left 0640, with its
    -wal and -shm, to 0600: owner only."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    os.close(os.open(path, flags, STORE_FILE_MODE))
    for candidate in (path, *(path.with_name(path.name + s) for s in STORE_COMPANIONS)):
        with contextlib.suppress(FileNotFoundError):
            candidate.chmod(STORE_FILE_MODE)


class SqliteStore(
    CallStore,
    CallViewStore,
    AccessLogStore,
    AuditKeyStore,
    AccessLogCutStore,
    HoldStore,
    LifecycleStore,
    PurgePages,
    MetadataPurgeStore,
    SubjectStore,
    OrphanStore,
    RedactionStore,
    SheetStore,
    InspectionStore,
    NodeStore,
    MaskedSpanStore,
):
    """The store; also the type the rest of reccontrol knows it by, whatever the backend
    (:class:`~controller.store.postgresql_store.PostgresStore` runs the same domain
    methods on PostgreSQL)."""

    backend = "sqlite"

    def __init__(
        self, db: Database, audit_key: Secret | None = None, node: str = DEFAULT_NODE
    ) -> None:
        self.db: Database = db
        self.audit_key = audit_key
        self.node = node
        self.figures = StoreFigures()

    @property
    def sqlite(self) -> sqlite_utils.Database:
        """The sqlite-utils database itself, for what only SQLite has (a file copy for
        backups, WAL, bulk loading in benchmarks)."""
        if not isinstance(self.db, sqlite_utils.Database):
            raise StoreError(f"this needs the SQLite store; the store here is {self.backend}")
        return self.db

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        migrate: bool = True,
        audit_key: Secret | None = None,
        node: str = DEFAULT_NODE,
    ) -> SqliteStore:
        """Opens (and creates) the database in WAL mode and applies pending migrations.
        With ``audit_key`` every access-log entry it appends is keyed (S3)."""
        if str(path) == ":memory:":
            db = sqlite_utils.Database(memory=True)
        else:
            path = Path(path)
            try:
                make_private_folder(path.parent)
                make_private_files(path)
                conn = sqlite3.connect(str(path), isolation_level=None)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open the store at {path}: {exc}") from None
            db = sqlite_utils.Database(conn)
            # SQLite gives the -wal and -shm files the database file's mode, so they are
            # created 0600 as well.
            db.enable_wal()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        store = cls(db, audit_key, node)
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
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
        if "schema_migrations" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def migrate(self, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
        """Applies the migrations not applied yet, in version order, each in its own
        transaction."""
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in self.db.execute("SELECT version FROM schema_migrations")}
        known = {m.version for m in migrations}
        unknown = sorted(done - known)
        if unknown:
            raise SchemaTooNewError(
                f"the store has schema version {unknown[-1]}, which this reccontrol does not "
                f"know (it knows up to {max(known, default=0)}): it was written by a newer "
                "reccontrol. Upgrade reccontrol, or restore a backup taken before the upgrade; "
                "nothing was changed"
            )
        applied = []
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in done:
                continue
            with self.transaction() as db:
                self.apply_migration(migration, db)
                db.table("schema_migrations").insert(
                    {
                        "version": migration.version,
                        "name": migration.name,
                        "applied_at": to_text(dt.datetime.now(dt.UTC)),
                    }
                )
            applied.append(migration.version)
        return applied

    def apply_migration(self, migration: Migration, db: Database) -> None:
        migration.apply(db)

    def integrity_check(self) -> str:
        row = self.db.execute("PRAGMA integrity_check").fetchone()
        return str(row[0])
