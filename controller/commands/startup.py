"""What ``reccontrol run`` does before the daemon starts: the store's pending
migrations are applied, and a store newer than this reccontrol is refused."""

from __future__ import annotations

import logging
from pathlib import Path

from controller.cli_support import EXIT_REFUSED, fail
from controller.config.model import StoreSettings
from controller.store.opening import describe, open_configured
from controller.store.sqlite import SchemaTooNewError, StoreError

log = logging.getLogger("reccontrol.store")


def upgrade_at_start(where: Path | StoreSettings) -> list[int]:
    """Applies the migrations the store lacks and logs them; exits with a clear message
    (status 4) when the store's schema is newer than this reccontrol knows."""
    settings = where if isinstance(where, StoreSettings) else StoreSettings(where)
    path = describe(settings)
    try:
        store = open_configured(settings, migrate=False)
    except StoreError as exc:
        fail(str(exc))
    try:
        before = store.schema_version()
        applied = store.migrate()
        after = store.schema_version()
    except SchemaTooNewError as exc:
        fail(f"store at {path}: {exc}", EXIT_REFUSED)
    except StoreError as exc:
        fail(f"store at {path}: {exc}")
    finally:
        store.close()
    if applied:
        log.info(
            "store at %s: schema upgraded from version %d to %d (migrations %s)",
            path,
            before,
            after,
            ", ".join(str(v) for v in applied),
        )
    else:
        log.info("store at %s: schema version %d, up to date", path, after)
    return applied
