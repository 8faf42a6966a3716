"""The purge (T4): deletes expired recordings, sheets and access-log entries.

Safe to kill at any point; the next run finishes the job:

- a recording is first *condemned* (row ``deleted`` plus a journal entry with the rule,
  in one transaction), then its file is removed through the vault and the folder synced,
  then the receipt is written and the row deleted (one transaction). Rows left
  ``deleted`` by a killed run are finished first by the next one, and a receipt is
  written only by the transaction that deletes the row, so exactly once;
- so no row points to a missing file without being marked (``deleted`` or ``missing``),
  and no file outlives its expiry without a row that will purge it;
- sheets and log entries have no files: each of their purges is one transaction;
- a file in the vault that no row knows is reported, never deleted or kept silently.

Blocking code: run it in a worker thread or a CLI process, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controller.clock import Clock
from controller.config.model import Config
from controller.recordings.vault import LocalVault, VaultError
from controller.retention.plan import (
    Action,
    Expire,
    Finish,
    RecordingRow,
    RetentionRules,
    plan_recordings,
    plan_sheets,
)
from controller.secrets import Secret
from controller.stoppoints import stop_point
from controller.store.lifecycle import Condemnation, FinishedDeletion
from controller.store.sqlite import SqliteStore

SYSTEM = "system"
BATCH = 100


@dataclass
class PurgeReport:
    dry_run: bool
    recordings_deleted: int = 0
    """Receipts written: expired recordings, and deletions an earlier run had started."""
    files_deleted: int = 0
    files_already_missing: int = 0
    deletions_resumed: int = 0
    sheets_deleted: int = 0
    log_entries_cut: int = 0
    checkpoint: int | None = None
    marked_missing: list[str] = field(default_factory=list)
    unknown_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    planned: list[tuple[str, str]] = field(default_factory=list)
    """(recording id, rule) for every recording deletion planned."""

    @property
    def needs_attention(self) -> bool:
        """Files no row knows, or files found missing: a person must look."""
        return bool(self.unknown_files or self.marked_missing)

    def summary(self) -> list[str]:
        verb = "to delete" if self.dry_run else "deleted"
        lines = [
            f"recordings {verb}: {self.recordings_deleted}"
            + (
                f" ({self.deletions_resumed} resumed from an earlier run)"
                if self.deletions_resumed
                else ""
            ),
        ]
        if not self.dry_run:
            lines.append(
                f"files removed: {self.files_deleted}, already missing: "
                f"{self.files_already_missing}"
            )
        lines.append(f"summary sheets {verb}: {self.sheets_deleted}")
        cut = "to cut" if self.dry_run else "cut"
        lines.append(
            f"access-log entries {cut}: {self.log_entries_cut}"
            + (f" (checkpoint {self.checkpoint})" if self.checkpoint else "")
        )
        missing = "found missing" if self.dry_run else "marked missing"
        lines.append(f"recordings {missing}: {len(self.marked_missing)}")
        lines.append(f"unknown files in the vault: {len(self.unknown_files)}")
        if self.interrupted:
            lines.append("stopped before the end; the next run carries on")
        return lines


class Purger:
    def __init__(
        self,
        store: SqliteStore,
        vault: LocalVault,
        rules: RetentionRules,
        clock: Clock,
        checkpoint_key: Secret | None,
        *,
        batch_size: int = BATCH,
        stop: threading.Event | None = None,
    ) -> None:
        self._store = store
        self._vault = vault
        self._rules = rules
        self._clock = clock
        self._key = checkpoint_key
        self._batch = max(1, batch_size)
        self._stop = stop or threading.Event()

    def plan(self) -> list[Action]:
        now = self._clock.now()
        rows = self._store.recordings_for_purge(now, self._rules.oldest_recording_horizon(now))
        return plan_recordings(now, rows, self._rules)

    def run(
        self,
        *,
        dry_run: bool = False,
        on_plan: Callable[[int], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> PurgeReport:
        report = PurgeReport(dry_run)
        actions = self.plan()
        report.planned = [
            (a.row.id, a.rule if isinstance(a, Expire) else _rule_of(a.row)) for a in actions
        ]
        if on_plan is not None:
            on_plan(len(actions))
        if dry_run:
            report.recordings_deleted = len(actions)
            report.deletions_resumed = sum(isinstance(a, Finish) for a in actions)
        else:
            stop_point("purge-planned")
            for start in range(0, len(actions), self._batch):
                if self._stop.is_set():
                    report.interrupted = True
                    return report
                batch = actions[start : start + self._batch]
                self._delete_batch(batch, report)
                if on_progress is not None:
                    on_progress(len(batch))
        if self._stop.is_set():
            report.interrupted = True
            return report
        self._sheets(report)
        self._access_log(report)
        self._scan(report)
        return report

    # -- recordings --------------------------------------------------------------------
    def _file_of(self, row: RecordingRow) -> Path | None:
        return Path(row.path) if row.path else None

    def _delete_batch(self, batch: Sequence[Action], report: PurgeReport) -> None:
        now = self._clock.now()
        condemn: list[Condemnation] = []
        doomed: list[RecordingRow] = []
        for action in batch:
            row = action.row
            path = self._file_of(row)
            if path is not None and not self._vault.owns(path):
                report.errors.append(_outside(row.id, self._vault))
                continue
            if isinstance(action, Expire):
                condemn.append(
                    Condemnation(
                        recording_id=row.id,
                        rule=action.rule,
                        actor=SYSTEM,
                        role=SYSTEM,
                        purpose=f"retention: {action.rule}",
                        file_present=path is not None and path.is_file(),
                    )
                )
            else:
                report.deletions_resumed += 1
            doomed.append(row)
        # Step 1: condemn, so a kill from here on leaves rows the next run finishes.
        if condemn:
            self._store.condemn_recordings(condemn, now)
            stop_point("purge-condemned")
        present = {c.recording_id: c.file_present for c in condemn}
        finished: list[FinishedDeletion] = []
        # Step 2: the files go.
        for index, row in enumerate(doomed):
            if index and index == len(doomed) // 2:
                stop_point("purge-mid-batch")
            try:
                outcome = self._remove_files(row, present.get(row.id))
            except (OSError, VaultError) as exc:
                report.errors.append(f"recording {row.id}: cannot remove its file: {exc}")
                continue
            if outcome == "deleted":
                report.files_deleted += 1
            elif outcome == "already missing":
                report.files_already_missing += 1
            finished.append(FinishedDeletion(row.id, outcome))
        self._vault.sync()
        stop_point("purge-files-removed")
        # Step 3: receipts, and the rows go.
        receipts = self._store.finish_deletions(finished, self._clock.now(), SYSTEM)
        report.recordings_deleted += len(receipts)

    def _remove_files(self, row: RecordingRow, present_now: bool | None) -> str:
        path = self._file_of(row)
        removed = False
        if path is not None:
            removed = self._vault.remove(path)
        # A file Asterisk left behind (the recording never reached the vault).
        removed = self._vault.discard_incoming(row.name, row.format) or removed
        if removed:
            return "deleted"
        if path is None:
            return "none"
        was_there = (
            present_now
            if present_now is not None
            else (row.condemned.file_present if row.condemned else False)
        )
        # Gone already: removed by the run that was interrupted, or missing before.
        return "deleted" if was_there else "already missing"

    # -- sheets and the access log -------------------------------------------------------
    def _sheets(self, report: PurgeReport) -> None:
        now = self._clock.now()
        rows = self._store.sheets_for_purge(now, now - dt.timedelta(days=self._rules.sheet_days))
        expired = plan_sheets(now, rows, self._rules)
        if report.dry_run:
            report.sheets_deleted = len(expired)
        elif expired:
            report.sheets_deleted = self._store.purge_sheets(expired, now)

    def _access_log(self, report: PurgeReport) -> None:
        now = self._clock.now()
        cutoff = self._rules.log_cutoff(now)
        if report.dry_run:
            report.log_entries_cut = self._store.expired_entry_count(cutoff)
            return
        rule = f"T3: audit.retention_days = {self._rules.log_days}"
        checkpoint = self._store.cut_access_log(cutoff, now, self._key, rule)
        if checkpoint is not None:
            report.log_entries_cut = checkpoint.entries_cut
            report.checkpoint = checkpoint.number

    # -- the vault against the store -----------------------------------------------------
    def _scan(self, report: PurgeReport) -> None:
        missing: list[str] = []
        for recording_id, path in self._store.stored_recording_paths():
            if not self._vault.owns(Path(path)):
                problem = _outside(recording_id, self._vault)
                if problem not in report.errors:
                    report.errors.append(problem)
            elif not self._vault.exists(Path(path)):
                missing.append(recording_id)
        if missing and not report.dry_run:
            missing = self._store.mark_missing(missing, self._clock.now())
        report.marked_missing = missing
        stop_point("purge-vault-scan")
        paths, names = self._store.known_recording_files()
        for file in self._vault.files():
            stem = file.name.removesuffix(".partial").rsplit(".", 1)[0]
            if str(file) not in paths and stem not in names:
                report.unknown_files.append(str(file))


def _outside(recording_id: str, vault: LocalVault) -> str:
    return (
        f"recording {recording_id}: its path is outside the vault folder ({vault.vault_dir}); "
        "left alone. Was recordings.vault_dir changed?"
    )


def _rule_of(row: RecordingRow) -> str:
    return row.condemned.rule if row.condemned else "unknown"


def run_purge(
    config: Config,
    clock: Clock,
    *,
    store: SqliteStore | None = None,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> PurgeReport:
    """One purge. Blocking: the CLI runs it in its own process, the daemon on a worker
    thread with ``store`` forwarding every call to the daemon's single store thread
    (:class:`~controller.store.worker.FromAnotherThread`). Without ``store`` it opens its
    own connection, for the CLI."""
    own = store is None
    db = SqliteStore.open(config.store.path) if store is None else store
    try:
        vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
        purger = Purger(
            db,
            vault,
            RetentionRules.from_config(config),
            clock,
            config.audit.checkpoint_key,
            stop=stop,
        )
        return purger.run(dry_run=dry_run, on_plan=on_plan, on_progress=on_progress)
    finally:
        if own:
            db.close()
