"""How a migration of :mod:`controller.store.migrations` runs its SQL."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def sql(script: str) -> Callable[[sqlite_utils.Database], None]:
    """A script of statements separated by ';'."""

    def apply(db: sqlite_utils.Database) -> None:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)

    return apply


def statements(*each: str) -> Callable[[sqlite_utils.Database], None]:
    """Like :func:`sql`, for statements that contain ';' themselves (triggers)."""

    def apply(db: sqlite_utils.Database) -> None:
        for statement in each:
            db.execute(statement)

    return apply
