"""The one crash-safe way to delete recordings (T4, C5), for the purge and for people.

Three steps, each safe to interrupt (see :mod:`controller.store.lifecycle`):

1. *condemn*: the rows turn ``deleted`` with a journal entry naming the rule, who asked,
   why, and whether the file was there, in one transaction;
2. the files go, through the vault, and the folder is synced: a sealed file's data key
   is destroyed first (S10), so its copies in backups can no longer be decrypted;
3. *finish*: the receipt in the access log, one entry naming every recording of the
   batch (:mod:`controller.audit.receipts`), and the rows go, in one transaction, only
   for rows still ``deleted``, so each recording is named by one receipt, once.

Steps 1 and 3 are one transaction for the whole batch, whatever its size; the files of
step 2 are looked at and removed by a few threads at once (:mod:`controller.retention.file_work`),
the folder synced once after them.

A row that an earlier run condemned (``Deletion.request is None``) skips step 1. A path
outside the vault is never touched: it is reported and its row left alone. A recording
whose call is under a legal hold (T6) is not condemned by step 1, which reads the hold
inside its transaction, and so never reaches steps 2 and 3: it is reported as held.

Blocking code: run it in a worker thread or a CLI process, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from controller.audit.chain import Entry
from controller.audit.receipts import deleted_recording_ids
from controller.clock import Clock
from controller.recordings.vault import LocalVault
from controller.retention.file_work import FileWork, OwnedPaths
from controller.retention.shredding import Key, Removal, destroy_keys, read_key, remove_files
from controller.stoppoints import stop_point
from controller.store.lifecycle import Condemnation, CondemnOutcome, FinishedDeletion
from controller.store.records import RecordingRow


class DeletionStore(Protocol):
    """The part of the store a deletion needs."""

    def condemn_recordings(
        self, items: Sequence[Condemnation], at: dt.datetime
    ) -> CondemnOutcome: ...

    def finish_deletions(
        self, items: Sequence[FinishedDeletion], at: dt.datetime, finished_by: str
    ) -> list[Entry]: ...


@dataclass(frozen=True)
class Request:
    """Why a recording is deleted and who asked: it goes into the receipt."""

    rule: str
    actor: str
    role: str
    purpose: str


@dataclass(frozen=True)
class Deletion:
    row: RecordingRow
    request: Request | None
    """None: an earlier run condemned the row; this run only finishes it."""


@dataclass
class DeletionReport:
    receipts: list[Entry] = field(default_factory=list)
    """The receipts written, each naming several recordings (:attr:`deleted`)."""
    files_deleted: int = 0
    files_already_missing: int = 0
    problems: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)
    """Recording id -> legal hold reference: not deleted, a hold stands (T6)."""

    @property
    def deleted(self) -> list[str]:
        """The recordings deleted: those the receipts name."""
        return deleted_recording_ids(self.receipts)


def outside_vault(recording_id: str, vault: LocalVault) -> str:
    return (
        f"recording {recording_id}: its path is outside the vault folder ({vault.vault_dir}); "
        "left alone, not deleted. Was recordings.vault_dir changed?"
    )


def delete_recordings(
    store: DeletionStore,
    vault: LocalVault,
    clock: Clock,
    deletions: Sequence[Deletion],
    finished_by: str,
    *,
    files: FileWork | None = None,
) -> DeletionReport:
    """Runs the three steps for a batch; returns the receipts and what went wrong.
    ``files``: how the files are looked at and removed (a few threads for the purge;
    one by one, in this thread, by default)."""
    work = files or FileWork()
    batch = condemn(store, vault, clock, deletions, work)
    return finish(store, clock, batch, remove(vault, batch, work), finished_by)


@dataclass
class Condemned:
    """A batch after step 1: what steps 2 and 3 need."""

    report: DeletionReport
    doomed: list[RecordingRow]
    """The rows whose files step 2 removes and whose deletion step 3 finishes."""
    headers: dict[str, Key]
    """Recording id -> its file's data key, read before step 1."""
    present: dict[str, bool]
    """Recording id -> whether its file was there when step 1 condemned it."""


def condemn(
    store: DeletionStore,
    vault: LocalVault,
    clock: Clock,
    deletions: Sequence[Deletion],
    work: FileWork,
) -> Condemned:
    """Step 1 for a batch: its paths checked, its files' headers read, its rows
    condemned. Store work, with the header reads on ``work``'s threads."""
    report = DeletionReport()
    owned = OwnedPaths(vault)
    condemn: list[Deletion] = []
    doomed: list[RecordingRow] = []
    for item in deletions:
        row = item.row
        if row.path is not None and not owned(row.path):
            report.problems.append(outside_vault(row.id, vault))
            continue
        # A row already ``deleted`` keeps the journal entry of the run that condemned it.
        if item.request is not None and row.state != "deleted":
            condemn.append(item)
        doomed.append(row)
    # Condemned, so a kill from here on leaves rows the next purge finishes. Each file's
    # header is read once, here: whether the file is there (for the journal) and its
    # data key (for step 2).
    present: dict[str, bool] = {}
    headers: dict[str, Key] = {}
    if condemn:
        read = work.map(read_key, [item.row.path for item in condemn])
        headers = {item.row.id: key for item, key in zip(condemn, read, strict=True)}
        there = [key is not None for key in read]
        condemned = store.condemn_recordings(
            [_condemnation(item, present) for item, present in zip(condemn, there, strict=True)],
            clock.now(),
        )
        stop_point("deletion-condemned")
        # Held since the plan: the hold wins, its file is not touched.
        report.held = dict(condemned.held)
        doomed = [row for row in doomed if row.id not in report.held]
        present = {
            item.row.id: file_present
            for item, file_present in zip(condemn, there, strict=True)
            if item.row.id not in report.held
        }
    return Condemned(report, doomed, headers, present)


def remove(vault: LocalVault, batch: Condemned, work: FileWork) -> list[FinishedDeletion]:
    """Step 2 for a condemned batch: the files go, their data keys first, all of the
    batch's at once (S10); then the files, half of them, a stop point, then the other
    half; then the vault's folder is synced. File work alone, no store: the purge of
    ``reccontrol purge`` runs it beside the store work of the batches before and after.
    Returns what step 3 writes into the receipt."""
    doomed, report = batch.doomed, batch.report
    keys = destroy_keys(vault, doomed, work, batch.headers)
    half = len(doomed) // 2
    outcomes = remove_files(vault, doomed[:half], keys[:half], work)
    if half:
        stop_point("deletion-mid-batch")
    outcomes += remove_files(vault, doomed[half:], keys[half:], work)
    finished: list[FinishedDeletion] = []
    for row, outcome in zip(doomed, outcomes, strict=True):
        if isinstance(outcome, Exception):
            report.problems.append(f"recording {row.id}: cannot remove its file: {outcome}")
            continue
        file, key_destroyed = _file_outcome(row, outcome, batch.present.get(row.id))
        if file == "deleted":
            report.files_deleted += 1
        elif file == "already missing":
            report.files_already_missing += 1
        finished.append(FinishedDeletion(row.id, file, key_destroyed))
    vault.sync()
    stop_point("deletion-files-removed")
    return finished


def finish(
    store: DeletionStore,
    clock: Clock,
    batch: Condemned,
    finished: Sequence[FinishedDeletion],
    finished_by: str,
) -> DeletionReport:
    """Step 3, once step 2 is over for the batch: receipts, and the rows go."""
    batch.report.receipts = store.finish_deletions(finished, clock.now(), finished_by)
    return batch.report


def _condemnation(item: Deletion, file_present: bool) -> Condemnation:
    request = item.request
    assert request is not None
    return Condemnation(
        recording_id=item.row.id,
        rule=request.rule,
        actor=request.actor,
        role=request.role,
        purpose=request.purpose,
        file_present=file_present,
    )


def _file_outcome(
    row: RecordingRow, removal: Removal, present_now: bool | None
) -> tuple[str, bool | None]:
    """What happened to the recording's file, and whether its data key is destroyed."""
    if removal.removed:
        return "deleted", removal.sealed
    if row.path is None:
        return "none", False
    was_there = (
        present_now
        if present_now is not None
        else (row.condemned.file_present if row.condemned else False)
    )
    # Gone already: removed by the run that was interrupted (which destroyed its key
    # first, if it had one: which, the file no longer says), or missing before.
    return ("deleted", None) if was_there else ("already missing", False)
