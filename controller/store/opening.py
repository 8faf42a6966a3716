"""Opens the store the configuration names: the SQLite file (``store.path``) or the
PostgreSQL server several nodes share (``store.url``, N1)."""

from __future__ import annotations

from controller.config.model import StoreSettings
from controller.secrets import Secret
from controller.store.sqlite import SqliteStore


def open_configured(
    settings: StoreSettings, *, audit_key: Secret | None = None, migrate: bool = True
) -> SqliteStore:
    """The configured store, migrated unless ``migrate`` is False. Raises
    :class:`~controller.store.sqlite.StoreError` with a clear sentence when it cannot."""
    if settings.url:
        from controller.store.postgresql_store import PostgresStore

        return PostgresStore.connect(
            settings.url,
            password=settings.password,
            migrate=migrate,
            audit_key=audit_key,
            node=settings.node,
        )
    return SqliteStore.open(settings.path, migrate=migrate, audit_key=audit_key, node=settings.node)


def describe(settings: StoreSettings) -> str:
    """Where the store is, for messages (never a password)."""
    if settings.url:
        from controller.store.postgresql_store import safe_url

        return safe_url(settings.url)
    return str(settings.path)
