"""One schema change: its version, its name and what it does to the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.store.database import Database


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Database], None]
