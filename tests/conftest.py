"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.store import SqliteStore


@pytest.fixture
def fresh_db() -> Iterator[SqliteStore]:
    """An empty, fully migrated in-memory store."""
    store = SqliteStore.open(":memory:")
    yield store
    store.close()
