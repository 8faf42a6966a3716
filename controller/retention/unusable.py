"""A recording file with no usable audio in it (Asterisk died before writing any, or
it is not a WAV at all) is not kept: there is nothing to keep, and a file the vault
cannot read must not stay in Asterisk's folder outside retention. It is deleted through
the vault's checks, with a receipt in the access log and an alert on its call."""

from __future__ import annotations

import asyncio
import logging

from controller.clock import Clock
from controller.recordings import LocalVault, VaultError, stereo
from controller.store import SqliteStore, StoreThread
from controller.store.orphans import SweptFile

log = logging.getLogger("reccontrol.recordings")


async def delete_unusable(
    *,
    vault: LocalVault,
    store: StoreThread[SqliteStore],
    clock: Clock,
    recording_id: str,
    file: str,
    why: str,
) -> bool:
    """Deletes ``file`` of Asterisk's folder and settles its row ``failed``. False when
    the file could not be deleted (it stays, for the next sweep) or the row was settled
    meanwhile."""
    try:
        # A two-channel recording's halves go together (R5).
        taken = await asyncio.to_thread(stereo.take_incoming, vault, file, keep=False)
    except VaultError as exc:
        log.error("recording %s: an unusable file could not be deleted: %s", recording_id, exc)
        return False
    swept = SweptFile(file, taken.sha256, 0.0)
    now = clock.now()
    done = await store.run(lambda s: s.discard_unusable(recording_id, swept, why, now))
    log.error("ALERT: recording %s held no usable audio (%s): deleted", recording_id, why)
    return bool(done)
