"""How a migration of :mod:`controller.store.migrations` runs its SQL."""

from __future__ import annotations

from collections.abc import Callable

from controller.store.database import Database


def sql(script: str) -> Callable[[Database], None]:
    """A script of statements separated by ';'."""

    def apply(db: Database) -> None:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)

    return apply


def statements(*each: str) -> Callable[[Database], None]:
    """Like :func:`sql`, for statements that contain ';' themselves (triggers)."""

    def apply(db: Database) -> None:
        for statement in each:
            db.execute(statement)

    return apply
