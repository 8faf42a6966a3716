"""What a schema migration is, and the two ways one is written: a script of statements
split on ';', or statements given one by one (for those that contain ';' themselves,
such as triggers). The migrations themselves are in :mod:`controller.store.migrations`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.store.database import Database


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Database], None]


def sql_script(script: str) -> Callable[[Database], None]:
    def apply(db: Database) -> None:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)

    return apply


def statements(*steps: str) -> Callable[[Database], None]:
    """Like :func:`sql_script`, for statements that contain ';' themselves (triggers)."""

    def apply(db: Database) -> None:
        for statement in steps:
            db.execute(statement)

    return apply
