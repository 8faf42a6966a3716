"""What the store's parts share: the database and its one-transaction-per-method rule.

:class:`~controller.store.sqlite.SqliteStore` is assembled from these parts, so each
domain (access log, recording lifecycle, sheets) keeps its SQL in its own module.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from controller.secrets import Secret
from controller.store.database import Database
from controller.store.figures import StoreFigures


class StorePart:
    db: Database
    audit_key: Secret | None = None
    """The audit key: every access-log entry appended through this store is keyed."""
    node: str = "local"
    """The node this store speaks for (``store.node``, N1)."""
    figures: StoreFigures
    """What this store wrote since it was opened, for /metrics."""

    def transaction(self) -> AbstractContextManager[Database]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; provided by the store."""
        raise NotImplementedError
