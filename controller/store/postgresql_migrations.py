"""The schema migrations PostgreSQL runs differently.

Every migration of :mod:`controller.store.migrations` runs on PostgreSQL through the
dialect rewrite (types, placeholders), except those below: SQLite's triggers become
trigger functions. Each override keeps the version and the effect of its SQLite twin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from controller.store.database import Database
from controller.store.migrations import RETENTION_AND_AUDIT
from controller.store.postgresql_dialect import quote_name

GENESIS_HASH = "0" * 64


def _refusal(function: str, message: str, *, when: str = "TRUE", row: str = "NEW") -> str:
    """A trigger function that refuses the change with ``message`` when ``when`` holds."""
    return (
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF {when} THEN RAISE EXCEPTION '{message}'; END IF; RETURN {row}; END $$"
    )


def _trigger(name: str, moment: str, table: str, function: str) -> str:
    return f"CREATE TRIGGER {name} {moment} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()"


def _is_trigger(statement: str) -> bool:
    return statement.lstrip().upper().startswith("CREATE TRIGGER")


def _retention_and_audit(db: Database) -> None:
    """Version 3: the same tables as on SQLite; the append-only rules as trigger
    functions (S3)."""
    recorder = _Recorder()
    # Only ``execute`` is called by a migration of statements.
    RETENTION_AND_AUDIT(cast(Database, recorder))
    for statement in recorder.statements:
        if not _is_trigger(statement):
            db.execute(statement)
    for statement in (
        _refusal("access_log_no_update", "the access log is append-only"),
        _trigger("access_log_no_update", "BEFORE UPDATE", "access_log", "access_log_no_update"),
        _refusal(
            "access_log_delete_only_checkpointed",
            "access-log entries are deleted only behind a checkpoint",
            when="OLD.seq > (SELECT COALESCE(MAX(through_seq), 0) FROM audit_checkpoints)",
            row="OLD",
        ),
        _trigger(
            "access_log_delete_only_checkpointed",
            "BEFORE DELETE",
            "access_log",
            "access_log_delete_only_checkpointed",
        ),
        _refusal("audit_checkpoints_append_only", "checkpoints are append-only"),
        _trigger(
            "audit_checkpoints_no_update",
            "BEFORE UPDATE",
            "audit_checkpoints",
            "audit_checkpoints_append_only",
        ),
        _trigger(
            "audit_checkpoints_no_delete",
            "BEFORE DELETE",
            "audit_checkpoints",
            "audit_checkpoints_append_only",
        ),
    ):
        db.execute(statement)


def _keyed_audit(db: Database) -> None:
    """Version 5: the keyed chain (S3); the key start is written once."""
    db.execute("ALTER TABLE access_log ADD COLUMN mac TEXT")
    db.execute(
        """
        CREATE TABLE audit_key_start (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            at TEXT NOT NULL,
            from_seq INTEGER NOT NULL,
            head_hash TEXT NOT NULL,
            checkpoints INTEGER NOT NULL,
            checkpoint_digest TEXT NOT NULL,
            mac TEXT NOT NULL
        )
        """
    )
    db.execute(_refusal("audit_key_start_written_once", "the key start is written once"))
    for name, moment in (
        ("audit_key_start_no_update", "BEFORE UPDATE"),
        ("audit_key_start_no_delete", "BEFORE DELETE"),
    ):
        db.execute(_trigger(name, moment, "audit_key_start", "audit_key_start_written_once"))


class _Recorder:
    """Collects the statements a SQLite migration would run, to replay them selectively."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str, parameters: object = None) -> None:
        self.statements.append(sql)


# What SQLite's SQL expects of the engine, defined before the migrations (idempotent):
# SQLite sums comparisons as integers, ``SUM(draw IS NOT NULL)``; with no row or only
# NULLs the sum is NULL, as there.
COMPATIBILITY = (
    "CREATE OR REPLACE FUNCTION reccontrol_sum_boolean(bigint, boolean) RETURNS bigint "
    "LANGUAGE sql IMMUTABLE AS "
    "'SELECT CASE WHEN $2 IS NULL THEN $1 ELSE COALESCE($1, 0) + $2::int END'",
    "CREATE OR REPLACE AGGREGATE sum(boolean) "
    "(SFUNC = reccontrol_sum_boolean, STYPE = bigint)",
)


def resync_identities(db: Database) -> None:
    """After a migration: each generated key column continues after the largest key its
    table holds. SQLite takes the largest rowid plus one; a PostgreSQL sequence does not
    see rows copied in with their keys (a table rebuilt, version 6), and would hand out
    a key already taken."""
    columns = db.query(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for column in list(columns):
        table = quote_name(str(column["table_name"]))
        name = quote_name(str(column["column_name"]))
        db.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX({name}), 0) + 1, false) "  # noqa: S608 - quoted names
            f"FROM {table}",
            [table, str(column["column_name"])],
        )


OVERRIDES: dict[int, Callable[[Database], None]] = {
    3: _retention_and_audit,
    5: _keyed_audit,
}
