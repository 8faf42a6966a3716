"""The orphan sweep: no recording stays outside the vault and its retention clock.

A crash, a lost event or a failed adoption can leave a file in Asterisk's recording
folder and its row ``live`` for good: a recording outside retention and outside the
audited door. At start-up and then periodically, each such file is vaulted (its row
keeps the retention its service gave it), or deleted when it must not exist (the caller
objected or the call is private, or no row owns it: a row never written), each with
a receipt in the access log and an alert. A row stuck ``live`` without a file turns
``missing``. Whatever is still being recorded is left alone. A recording in the vault
of a call whose caller objected or that was declared private, which a failed deletion
left there, is deleted (C2, A2, :mod:`controller.retention.unkept`), and a private call
whose audio is gone is forgotten.

Files are taken in as a call's own are (:mod:`controller.retention.intake`: the vault's
checks, a refused file left in place with a ``vault_refused`` alert).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from controller.ari.client import AriClient
from controller.ari.errors import AriError
from controller.clock import Clock
from controller.recordings.live import live_state
from controller.recordings.names import is_recording_file, whole_recording
from controller.recordings.stereo import pair_file, take_incoming
from controller.recordings.vault import IncomingFile, LocalVault, VaultError, VaultRefused
from controller.retention.intake import Intake, VaultIntake
from controller.retention.unkept import delete_all_unkept_audio
from controller.store import SqliteStore, StoreThread
from controller.store.orphans import StuckRecording, SweptFile

log = logging.getLogger("reccontrol.sweep")



@dataclass
class SweepPlan:
    vault: list[tuple[StuckRecording, IncomingFile]] = field(default_factory=list)
    discard: list[tuple[StuckRecording, IncomingFile]] = field(default_factory=list)
    missing: list[StuckRecording] = field(default_factory=list)
    unknown: list[IncomingFile] = field(default_factory=list)
    refused: list[IncomingFile] = field(default_factory=list)
    foreign: list[IncomingFile] = field(default_factory=list)


def plan_sweep(
    files: Iterable[IncomingFile], rows: Iterable[StuckRecording], busy: set[str]
) -> SweepPlan:
    """What to do with each file and stuck row. ``busy``: recording names still being
    recorded or handled by a call in progress."""
    plan = SweepPlan()
    by_name: dict[str, IncomingFile] = {}
    for file in files:
        if file.refused:
            plan.refused.append(file)
        elif not is_recording_file(file.stem):
            # Not named like a recording of ours: not ours to touch.
            plan.foreign.append(file)
        elif (name := whole_recording(file.stem)) not in busy:
            # The halves of a stereo recording are one file to the sweep: joined into
            # the vault or deleted together, never one without the other.
            pair = IncomingFile(pair_file(file.stem, file.suffix), name, file.suffix)
            by_name[name] = file if name == file.stem else pair
    for row in rows:
        if row.name in busy:
            continue
        owned = by_name.pop(row.name) if row.name in by_name else None
        if owned is None:
            plan.missing.append(row)
        elif row.objected:
            plan.discard.append((row, owned))
        else:
            plan.vault.append((row, owned))
    plan.unknown = sorted(by_name.values(), key=lambda f: f.file)
    return plan


@dataclass
class SweepReport:
    vaulted: int = 0
    discarded: int = 0
    missing: int = 0
    unknown_deleted: int = 0
    refused: int = 0
    unkept_deleted: int = 0
    """Recordings in the vault of calls whose caller objected (C2) or declared private
    (A2), deleted: a deletion the call could not finish."""
    deferred: bool = False
    """Asterisk could not say what is still recording: nothing was touched."""


BusyNames = Callable[[], set[str]]


SWEEP_JOB = "orphan-sweep"


class OrphanSweeper:
    def __init__(
        self,
        *,
        vault: LocalVault,
        store: StoreThread[SqliteStore],
        client: AriClient,
        clock: Clock,
        busy: BusyNames,
    ) -> None:
        self._vault = vault
        self._store = store
        self._client = client
        self._clock = clock
        self._busy = busy
        self._intake = VaultIntake(vault=vault, store=store, clock=clock)

    async def sweep(self) -> SweepReport:
        """One sweep; deferred to the next round while another node sweeps (N1)."""
        if not await self._store.run(lambda s: s.take_node_wide(SWEEP_JOB)):
            return SweepReport(deferred=True)
        try:
            return await self._sweep()
        finally:
            await self._store.run(lambda s: s.release_node_wide(SWEEP_JOB))

    async def _sweep(self) -> SweepReport:
        rows = await self._store.run(lambda s: s.stuck_live_recordings())
        files = await asyncio.to_thread(self._vault.incoming_files)
        busy = set(self._busy())
        candidates = {whole_recording(f.stem) for f in files if not f.refused}
        candidates |= {r.name for r in rows}
        report = SweepReport()
        try:
            busy |= await self._still_recording(candidates - busy)
            busy |= await self._on_live_channels(rows)
        except AriError as exc:
            log.warning("orphan sweep deferred: Asterisk unavailable (%s)", exc.error_id)
            report.deferred = True
            return report
        # What the calls in progress took on meanwhile is theirs too.
        busy |= self._busy()
        plan = plan_sweep(files, rows, busy)
        for row, file in plan.vault:
            report.vaulted += await self._intake.orphan_file(row, file, keep=True) is Intake.TAKEN
        for row, file in plan.discard:
            taken = await self._intake.orphan_file(row, file, keep=False)
            report.discarded += taken is Intake.TAKEN
        for row in plan.missing:
            report.missing += await self._missing(row)
        for file in plan.unknown:
            report.unknown_deleted += await self._delete_unknown(file)
        # After the stuck rows: a private call's last file settled, its row can go.
        report.unkept_deleted = await delete_all_unkept_audio(self._store, self._vault, self._clock)
        for file in plan.refused:
            report.refused += 1
            why = f"{file.file} in Asterisk's recording folder {file.refused}"
            await self._intake.refused(file.file, why)
        if plan.foreign:
            log.info(
                "orphan sweep: %d file(s) in Asterisk's folder are not named like reccontrol "
                "recordings; left alone",
                len(plan.foreign),
            )
        return report

    async def _still_recording(self, names: set[str]) -> set[str]:
        live = set()
        for name in sorted(names):
            if await live_state(self._client, name) is not None:
                live.add(name)
        return live

    async def _on_live_channels(self, rows: Iterable[StuckRecording]) -> set[str]:
        """Recordings of FastAGI calls whose caller is still on Asterisk: MixMonitor is
        no ARI recording, so its channel says whether the file may still grow; the
        call's hang-up hook takes it in."""
        watched = [row for row in rows if row.channel_id]
        if not watched:
            return set()
        up = {channel.id for channel in await self._client.list_channels()}
        return {row.name for row in watched if row.channel_id in up}

    async def _missing(self, row: StuckRecording) -> int:
        now = self._clock.now()
        if not await self._store.run(lambda s: s.sweep_missing(row, now)):
            return 0
        log.warning("recording %s was left live without a file: missing", row.recording_id)
        return 1

    async def _delete_unknown(self, file: IncomingFile) -> int:
        try:
            taken = await asyncio.to_thread(take_incoming, self._vault, file.file, keep=False)
        except VaultRefused as exc:
            await self._intake.refused(file.file, str(exc))
            return 0
        except VaultError as exc:
            log.error("orphan sweep: %s", exc)
            return 0
        swept = SweptFile(file.file, taken.sha256, taken.duration_seconds)
        now = self._clock.now()
        await self._store.run(lambda s: s.sweep_unknown(swept, now))
        log.warning("orphan sweep: deleted a recording file no row owns")
        return 1
