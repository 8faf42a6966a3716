"""What the store's domain parts need of a database: the narrow surface both backends
offer (sqlite-utils on SQLite, :mod:`controller.store.postgresql` on PostgreSQL).

SQL is written in SQLite's dialect with ``?`` placeholders; the PostgreSQL backend
rewrites it in one place (:mod:`controller.store.postgresql_dialect`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Table(Protocol):
    def insert(self, record: dict[str, Any]) -> object: ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        """``BEGIN`` (a consistent read snapshot), ``COMMIT``; or a statement whose rows
        are read as they come."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object:
        """One statement run for each row of parameters, in the current transaction."""
        ...


class Database(Protocol):
    @property
    def conn(self) -> Connection: ...

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Cursor: ...

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]: ...

    def table(self, table_name: str) -> Table: ...

    def table_names(self) -> list[str]: ...

    def close(self) -> None: ...
