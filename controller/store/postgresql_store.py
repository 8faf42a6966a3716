"""The store on PostgreSQL (N1): the SQLite store's domain methods over
:class:`~controller.store.postgresql.PgDatabase`.

Opened only when ``store.url`` names a PostgreSQL server; ``psycopg`` (the
``postgresql`` extra) is imported then and only then.
"""

from __future__ import annotations

import re

from controller.secrets import Secret
from controller.store.database import Database
from controller.store.migrations import MIGRATIONS, Migration
from controller.store.node_locks import DEFAULT_NODE, job_lock
from controller.store.postgresql_migrations import (
    COMPATIBILITY,
    OVERRIDES,
    resync_identities,
)
from controller.store.sqlite import SqliteStore, StoreError


class PostgresStore(SqliteStore):
    backend = "postgresql"

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        password: Secret | None = None,
        migrate: bool = True,
        audit_key: Secret | None = None,
        node: str = DEFAULT_NODE,
    ) -> PostgresStore:
        """Connects to the server at ``url`` and applies pending migrations (one node at
        a time: the writers' lock is held by each migration's transaction)."""
        try:
            from controller.store.postgresql import PgDatabase
        except ImportError:
            raise StoreError(
                "store.url names a PostgreSQL server but psycopg is not installed; "
                "install reccontrol with its 'postgresql' extra"
            ) from None
        try:
            db = PgDatabase.connect(url, password.reveal() if password else None)
        except Exception as exc:  # psycopg's errors; the message never holds the password
            raise StoreError(
                f"cannot reach the PostgreSQL store at {safe_url(url)}: {_first_line(exc)}"
            ) from None
        store = cls(db, audit_key, node)
        if migrate:
            store.migrate()
        return store

    def migrate(self, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
        with self.transaction() as db:
            for statement in COMPATIBILITY:
                db.conn.execute(statement)
        return super().migrate(migrations)

    def apply_migration(self, migration: Migration, db: Database) -> None:
        OVERRIDES.get(migration.version, migration.apply)(db)
        resync_identities(db)

    def take_node_wide(self, job: str) -> bool:
        """A session-level advisory lock, tried (never waited for: the store thread
        carries the calls' writes and must not stall behind another node's purge)."""
        row = self.db.execute(f"SELECT pg_try_advisory_lock({job_lock(job)})").fetchone()
        return bool(row[0])

    def release_node_wide(self, job: str) -> None:
        self.db.execute(f"SELECT pg_advisory_unlock({job_lock(job)})").fetchone()

    def integrity_check(self) -> str:
        """PostgreSQL checks its pages itself; what is checked here is that the schema
        answers."""
        self.db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()
        return "ok"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def safe_url(url: str) -> str:
    """The URL with any ``user:password@`` masked, for messages."""
    return re.sub(r"//[^/@]*@", "//***@", url)
