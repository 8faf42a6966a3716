"""The store on PostgreSQL, for several nodes sharing one store (N1).

:class:`PostgresStore` runs the very domain methods of the SQLite store over a
:class:`PgDatabase`: the same narrow surface as sqlite-utils (``execute``, ``query``,
``table(...).insert``), SQL rewritten by :mod:`controller.store.postgresql_dialect`.
Like the SQLite store it belongs to one thread and is reached through
:class:`~controller.store.worker.StoreThread`.

Every write transaction first takes one transaction-level advisory lock: writers are
serialised across nodes as SQLite's ``BEGIN IMMEDIATE`` serialises them across
processes, so a domain method that reads then writes (the access log's head, a hold)
stays correct when two nodes run it at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Loader
from psycopg.rows import dict_row

from controller.store.postgresql_dialect import insert_statement, to_postgresql

# The advisory lock every write transaction takes (an arbitrary constant of the
# product's own: advisory locks are keyed by number, database-wide).
WRITER_LOCK = 0x7265_6363_0001
# The column every PostgreSQL table carries to mirror SQLite's hidden rowid.
HIDDEN_COLUMNS = frozenset({"rowid"})


class _NumericLoader(Loader):
    """SUM over integers is NUMERIC in PostgreSQL, an integer in SQLite: read whole
    numbers back as int and the others as float, as the SQLite store returns them."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode("ascii")
        whole = text.lstrip("-").isdigit()
        return int(text) if whole else float(text)


def _parameters(values: Sequence[Any] | None) -> list[Any]:
    # SQLite stores booleans as integers in the INTEGER columns they are written to.
    return [int(v) if isinstance(v, bool) else v for v in values or ()]


def _as_sqlite_error(exc: psycopg.Error) -> sqlite3.Error:
    """The error as the sqlite3 module's DB-API class of the same kind, so the domain
    parts, written once, catch one family of errors whatever the backend."""
    diag = exc.diag.message_primary or str(exc)
    if isinstance(exc, pg_errors.CheckViolation):
        return sqlite3.IntegrityError(f"CHECK constraint failed: {diag}")
    if isinstance(exc, pg_errors.UniqueViolation):
        return sqlite3.IntegrityError(f"UNIQUE constraint failed: {diag}")
    if isinstance(exc, pg_errors.NotNullViolation):
        return sqlite3.IntegrityError(f"NOT NULL constraint failed: {diag}")
    if isinstance(exc, pg_errors.ForeignKeyViolation):
        return sqlite3.IntegrityError(f"FOREIGN KEY constraint failed: {diag}")
    if isinstance(exc, (psycopg.IntegrityError, pg_errors.RaiseException)):
        return sqlite3.IntegrityError(diag)
    if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.DeadlockDetected):
        return sqlite3.OperationalError(f"database is locked: {diag}")
    if isinstance(exc, psycopg.OperationalError):
        return sqlite3.OperationalError(diag)
    return sqlite3.DatabaseError(diag)


class _Cursor:
    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class _Table:
    def __init__(self, db: PgDatabase, name: str) -> None:
        self._db, self._name = db, name

    def insert(self, record: dict[str, Any]) -> object:
        columns = list(record)
        self._db.run(insert_statement(self._name, columns), [record[c] for c in columns])
        return self


class _RawConnection:
    """``BEGIN`` and ``COMMIT`` as the store issues them on SQLite's connection. A plain
    ``BEGIN`` there is a consistent snapshot for reading: REPEATABLE READ here.
    ``BEGIN IMMEDIATE`` takes the database's write lock: here the writers' advisory lock,
    held until the transaction ends."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object:
        statement = to_postgresql(sql)
        for values in parameters:
            self._db.run(statement, values)
        return None

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Cursor:
        if parameters:
            cursor = self._db.run(to_postgresql(sql), parameters)
            assert isinstance(cursor, _Cursor)
            return cursor
        statement = " ".join(sql.split()).upper()
        if statement in ("BEGIN", "BEGIN DEFERRED"):
            return self._raw("BEGIN ISOLATION LEVEL REPEATABLE READ")
        if statement in ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"):
            self._raw("BEGIN")
            try:
                return self._raw(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")
            except sqlite3.Error:
                self._raw("ROLLBACK")
                raise
        if statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            return self._raw(sql)
        cursor = self._db.run(to_postgresql(sql), [])
        assert isinstance(cursor, _Cursor)
        return cursor

    def _raw(self, sql: str) -> _Cursor:
        cursor = self._db.run(sql, [], raw=True)
        assert isinstance(cursor, _Cursor)
        return cursor


def _open(conninfo: str, password: str | None) -> psycopg.Connection[Any]:
    conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10, password=password or None)
    conn.adapters.register_loader("numeric", _NumericLoader)
    return conn


class PgDatabase:
    """One psycopg connection in autocommit mode, as the SQLite store opens its own:
    a statement outside a transaction commits by itself.

    A connection the server dropped (a restart, a fail-over) is opened again at the next
    statement outside a transaction; a transaction it cut fails as a whole, and the store
    method that ran it raises, as on any store error."""

    def __init__(self, conninfo: str, password: str | None) -> None:
        self._conninfo, self._password = conninfo, password
        self._conn = _open(conninfo, password)
        self._in_transaction = False

    @classmethod
    def connect(cls, conninfo: str, password: str | None) -> PgDatabase:
        return cls(conninfo, password)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn.closed and not self._in_transaction:
            self._conn = _open(self._conninfo, self._password)
        return self._conn

    @property
    def conn(self) -> _RawConnection:
        return _RawConnection(self)

    def run(
        self, sql: str, values: Sequence[Any], *, raw: bool = False, dicts: bool = False
    ) -> _Cursor | list[dict[str, Any]]:
        """Runs one statement (already in PostgreSQL's dialect when ``raw``)."""
        keyword = sql.strip().upper() if raw else ""
        if keyword == "ROLLBACK" and self._conn.closed:
            # The server cut the transaction with the connection: nothing to undo.
            self._in_transaction = False
            return _Cursor([], -1)
        if keyword in ("COMMIT", "ROLLBACK"):
            self._in_transaction = False
        try:
            result = self._run(sql, values, raw=raw, dicts=dicts)
            if keyword.startswith("BEGIN"):
                self._in_transaction = True
            return result
        except psycopg.OperationalError as exc:
            if not self._conn.closed or self._in_transaction:
                raise _as_sqlite_error(exc) from exc
            # A statement on its own (or a BEGIN) on a dropped connection: once more, on
            # a new one.
            try:
                result = self._run(sql, values, raw=raw, dicts=dicts)
                if keyword.startswith("BEGIN"):
                    self._in_transaction = True
                return result
            except psycopg.Error as again:
                raise _as_sqlite_error(again) from again
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc

    def _run(
        self, sql: str, values: Sequence[Any], *, raw: bool, dicts: bool
    ) -> _Cursor | list[dict[str, Any]]:
        conn = self._connection()
        if dicts:
            with conn.cursor(row_factory=dict_row) as by_name:
                by_name.execute(sql, _parameters(values))
                found = by_name.fetchall() if by_name.description is not None else []
            return [{k: v for k, v in r.items() if k not in HIDDEN_COLUMNS} for r in found]
        with conn.cursor() as cursor:
            if raw:
                cursor.execute(sql.encode())
            else:
                cursor.execute(sql, _parameters(values))
            rows = cursor.fetchall() if cursor.description is not None else []
            return _Cursor(list(rows), cursor.rowcount)

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _Cursor:
        cursor = self.run(to_postgresql(sql), parameters or [])
        assert isinstance(cursor, _Cursor)
        return cursor

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        rows = self.run(to_postgresql(sql), params or [], dicts=True)
        assert isinstance(rows, list)
        yield from rows

    def table(self, table_name: str) -> _Table:
        return _Table(self, table_name)

    def table_names(self) -> list[str]:
        rows = self.run(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name",
            [],
            dicts=True,
        )
        assert isinstance(rows, list)
        return [str(r["table_name"]) for r in rows]

    def has_table(self, name: str) -> bool:
        return name in self.table_names()

    def close(self) -> None:
        self._conn.close()
