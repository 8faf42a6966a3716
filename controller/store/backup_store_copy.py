"""The backup's store copy: taken online with SQLite's backup API from a read-only
connection (the daemon goes on writing meanwhile), and read back without writing to it:
its schema version, access-log head, vault rows and a digest of each table's rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from controller.store.backup_files import BackupError, create_private_file
from controller.store.backup_manifest import TableDigest, digested_tables


def _sqlite_uri(path: Path) -> str:
    """A read-only URI for ``path``: its ``?``, ``#`` or ``%`` are escaped, not read as
    URI syntax."""
    return f"{path.absolute().as_uri()}?mode=ro"


def _check_live_store(live: Path) -> None:
    """The store copied must be the site's own file: SQLite follows links, so a link
    planted at ``store.path`` would have another database copied out."""
    try:
        info = os.lstat(live)
    except FileNotFoundError:
        raise BackupError(f"no store at {live}") from None
    if stat.S_ISLNK(info.st_mode):
        raise BackupError(f"the store {live} is a symbolic link; not copied")
    if not stat.S_ISREG(info.st_mode):
        raise BackupError(f"the store {live} is not a regular file; not copied")
    folder_owner = os.stat(live.parent).st_uid
    if info.st_uid != folder_owner:
        raise BackupError(
            f"the store {live} belongs to uid {info.st_uid}, not to the owner of its folder "
            f"(uid {folder_owner}); not copied"
        )


def copy_store(live: Path, target: Path) -> None:
    """SQLite's online backup, from a read-only connection: it never writes to the live
    store and sees one committed state of it."""
    _check_live_store(live)
    try:
        source = sqlite3.connect(_sqlite_uri(live), uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open the store at {live}: {exc}") from None
    os.close(create_private_file(target))
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
        # One self-contained file: no -wal or -shm beside it.
        destination.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the store at {live}: {exc}") from None
    finally:
        destination.close()
        source.close()


@contextlib.contextmanager
def _read_only(store_copy: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(_sqlite_uri(store_copy), uri=True)
    try:
        yield conn
    finally:
        conn.close()


def file_rows(store_copy: Path) -> dict[str, dict[str, Any]]:
    """Vault file name -> recording row, from the backup's snapshot."""
    with _read_only(store_copy) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT id, path, sha256, state FROM recordings WHERE path IS NOT NULL"
        ).fetchall()
    return {Path(row["path"]).name: dict(row) for row in rows}


def snapshot_facts(store_copy: Path) -> tuple[int, tuple[int, str]]:
    """Schema version and access-log head of a store copy, read without writing to it."""
    try:
        with _read_only(store_copy) as conn:
            version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
            head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"the store copy cannot be read: {exc}") from None
    return int(version or 0), (int(head[0]), str(head[1])) if head else (0, "")


def _row_bytes(columns: list[str], row: tuple[Any, ...]) -> bytes:
    """One row in a canonical form: column names and values, bytes as hex."""
    pairs = [[name, {"blob": v.hex()} if isinstance(v, bytes) else v] for name, v in zip(
        columns, row, strict=True
    )]
    return json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def table_digest(conn: sqlite3.Connection, table: str) -> TableDigest:
    """SHA-256 of a table's rows in primary-key order (every column as a tie-break):
    it depends on the rows only, not on how the file stores them."""
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    if not info:
        raise sqlite3.OperationalError(f"no table {table}")
    columns = [str(col[1]) for col in info]
    keys = [str(col[1]) for col in sorted(info, key=lambda c: c[5]) if col[5] > 0]
    order = ", ".join(f'"{name}"' for name in keys + columns)
    digest = hashlib.sha256()
    rows = 0
    # Names from DIGESTED_SINCE and the table's own schema, never from input.
    for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}'):  # noqa: S608
        digest.update(_row_bytes(columns, row))
        rows += 1
    return TableDigest(rows, digest.hexdigest())


def table_digests(store_copy: Path, schema_version: int) -> dict[str, TableDigest]:
    """The digest of each table a store at ``schema_version`` has, of those digested."""
    try:
        with _read_only(store_copy) as conn:
            return {t: table_digest(conn, t) for t in digested_tables(schema_version)}
    except sqlite3.Error as exc:
        raise BackupError(f"the store copy cannot be read: {exc}") from None
