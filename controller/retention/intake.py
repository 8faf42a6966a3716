"""Taking a finished recording file into the vault: one policy whether the file comes
at the end of its call or is found by the orphan sweep.

* **taken**: moved in through the vault's checks, hashed, its row finished (a call's)
  or settled with a receipt (the sweep's); a call's whose caller objected meanwhile (C2),
  or that was declared private meanwhile (A2), is deleted at once, with its receipt
  (:mod:`controller.retention.unkept`);
* **unusable** (no audio, not a WAV): deleted with a receipt, its row ``failed``
  (:func:`~controller.retention.unusable.delete_unusable`);
* **refused** (a link or a foreign file planted in Asterisk's folder: someone may be
  reaching for a file elsewhere): left where it is, with one ``vault_refused`` alert a
  person must look at;
* **kept** (the vault full or unwritable): the file waits in Asterisk's folder, its row
  ``live``, until a sweep finds the vault taking it again;
* **lost**: the file is gone.
"""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum

from controller.clock import Clock
from controller.recordings import stereo
from controller.recordings.vault import (
    IncomingFile,
    LocalVault,
    VaultError,
    VaultRefused,
    VaultUnusable,
)
from controller.retention.unkept import delete_unkept_audio
from controller.retention.unusable import delete_unusable
from controller.store import SqliteStore, StoreThread
from controller.store.orphans import StuckRecording, SweptFile

log = logging.getLogger("reccontrol.recordings")

REFUSED_ALERT = "vault_refused"
"""One alert kind for a planted file, whoever found it."""


class Intake(StrEnum):
    TAKEN = "taken"
    UNUSABLE = "unusable"
    REFUSED = "refused"
    KEPT = "kept"
    LOST = "lost"


class VaultIntake:
    def __init__(self, *, vault: LocalVault, store: StoreThread[SqliteStore], clock: Clock) -> None:
        self._vault = vault
        self._store = store
        self._clock = clock
        self._refusals_alerted: set[str] = set()

    async def call_file(self, call_id: str, recording_id: str, name: str, fmt: str) -> Intake:
        """The file of a call's recording, once Asterisk finished it. Not taken, its row
        turns ``missing``, except a file the vault may take later (an alert on the
        call; the orphan sweep vaults it)."""
        try:
            taken = await asyncio.to_thread(stereo.adopt, self._vault, name, fmt)
        except VaultError as exc:
            log.error("recording %s: %s", recording_id, exc)
            file = self._vault.incoming_path(name, fmt).name
            intake = await self._not_taken(exc, recording_id, file)
            now = self._clock.now()
            if intake is Intake.KEPT:
                message = (
                    f"recording {recording_id} could not be vaulted ({exc}); kept in "
                    "Asterisk's folder until the vault takes it"
                )
                await self._store.run(lambda s: s.add_alert(call_id, "vault_failed", message, now))
            elif intake is not Intake.UNUSABLE:
                await self._store.run(lambda s: s.close_recording(recording_id, "missing", now))
            return intake
        now = self._clock.now()
        unkept = await self._store.run(
            lambda s: s.finish_recording(
                recording_id, str(taken.path), taken.duration_seconds, taken.sha256, now
            )
        )
        log.info("recording %s stored: %.1f s", recording_id, taken.duration_seconds)
        if unkept is not None:
            # The caller objected, or the agent declared the call private, while the file
            # was on its way (a segment ending as the key came, a two-channel recording's
            # halves): C2, A2, it goes at once.
            await delete_unkept_audio(self._store, self._vault, self._clock, unkept, call_id)
        return Intake.TAKEN

    async def orphan_file(self, row: StuckRecording, file: IncomingFile, *, keep: bool) -> Intake:
        """A file left with its row ``live`` by an interrupted call: vaulted, or deleted
        (``keep`` False: the caller objected, or the call is private), each with its
        receipt."""
        try:
            taken = await asyncio.to_thread(stereo.take_incoming, self._vault, file.file, keep=keep)
        except VaultError as exc:
            if not isinstance(exc, VaultRefused | VaultUnusable):
                log.error("orphan sweep: recording %s: %s", row.recording_id, exc)
            return await self._not_taken(exc, row.recording_id, file.file)
        path = str(taken.path) if keep else None
        swept = SweptFile(file.file, taken.sha256, taken.duration_seconds, path)
        now = self._clock.now()
        if keep:
            done = await self._store.run(lambda s: s.sweep_vaulted(row, swept, now))
        else:
            done = await self._store.run(lambda s: s.sweep_discarded(row, swept, now))
        log.warning(
            "recording %s was left live by an interrupted call: %s",
            row.recording_id,
            "moved into the vault" if keep else "deleted (the caller objected, or private)",
        )
        return Intake.TAKEN if done else Intake.LOST

    async def _not_taken(self, exc: VaultError, recording_id: str, file: str) -> Intake:
        if isinstance(exc, VaultUnusable):
            await delete_unusable(
                vault=self._vault,
                store=self._store,
                clock=self._clock,
                recording_id=recording_id,
                file=file,
                why=exc.reason,
            )
            return Intake.UNUSABLE
        if isinstance(exc, VaultRefused):
            await self.refused(file, f"recording {recording_id}: {exc}")
            return Intake.REFUSED
        return Intake.KEPT if exc.kept else Intake.LOST

    async def refused(self, file: str, why: str) -> None:
        """The ``vault_refused`` alert, once a file."""
        if file in self._refusals_alerted:
            return
        self._refusals_alerted.add(file)
        message = f"{why}: left untouched; check who put it there"
        log.error("ALERT: %s", message)
        now = self._clock.now()
        await self._store.run(lambda s: s.add_alert(None, REFUSED_ALERT, message, now))
