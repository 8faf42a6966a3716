"""The purge (T4): deletes expired recordings, sheets, call metadata, private-call
counts and access-log entries.

Safe to kill at any point; the next run finishes the job:

- a recording is first *condemned* (row ``deleted`` plus a journal entry with the rule,
  in one transaction), then its file is removed through the vault and the folder synced,
  then the receipt is written and the row deleted (one transaction; one receipt names
  the batch's recordings). Rows left ``deleted`` by a killed run are finished first by
  the next one, and a recording is named in a receipt only by the transaction that
  deletes its row, so exactly once;
- so no row points to a missing file without being marked (``deleted`` or ``missing``),
  and no file outlives its expiry without a row that will purge it;
- sheets and log entries have no files: each of their purges is one transaction;
- a file in the vault that no row knows is reported, never deleted or kept silently;
- what a legal hold keeps (T6) is left alone, said in the output and in one ``hold_skip``
  entry of the access log per run; a hold past its review date raises an alert at
  every run until the DPO reviews or releases it.

Blocking code: run it in a worker thread or a CLI process, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from controller.audit.chain import EntryDraft
from controller.audit.errors import AccessLogError
from controller.clock import Clock
from controller.config.encryption import site_vault
from controller.config.model import Config
from controller.recordings.vault import LocalVault
from controller.retention.deletion import (
    Condemned,
    Deletion,
    DeletionReport,
    Request,
    condemn,
    delete_recordings,
    finish,
    outside_vault,
    remove,
)
from controller.retention.file_work import FILE_THREADS, FileWork, OwnedPaths, file_threads
from controller.retention.node_wide import node_wide
from controller.retention.plan import (
    Action,
    Expire,
    Finish,
    Held,
    RetentionRules,
    held_sheets,
    plan_sheets,
)
from controller.retention.purge_store import PurgeStore
from controller.retention.streaming import planned_batches, planned_count
from controller.secrets import Secret
from controller.stoppoints import stop_point
from controller.store.holds import Hold
from controller.store.lifecycle import FinishedDeletion
from controller.store.timestamps import to_text

SYSTEM = "system"
BATCH = 100
"""Recordings per batch in the daemon: each batch's two transactions run on the store
thread between the call flow's writes, so they stay short."""
CLI_BATCH = 5000
"""Recordings per batch in ``reccontrol purge``, a process of its own: fewer, larger
transactions (a million expired recordings are two hundred batches). Deleting a row
touches a page of each of its indexes keyed at random (its id, its name, its call), and
each transaction writes the pages it touched: five thousand rows touch few more pages
than a thousand would, and the purge of 100,000 went from 60 s to 46 s (its receipts,
a thousand recordings each, are unchanged). Larger still did not pay: with the batches
overlapped, 300,000 recordings purged in 93 s in batches of 5,000 and in 167 s in
batches of 20,000 (one run each, load average 8 to 10), for the same CPU time. Nor did
a larger SQLite page cache (512 MiB): it took half as much user CPU time again."""
LOG_CUT_ALERT = "access_log_cut_refused"
HOLD_REVIEW_ALERT = "legal_hold_review_overdue"
HOLD_RULE = "T6: legal hold"

log = logging.getLogger("reccontrol.purge")


@dataclass
class PurgeReport:
    dry_run: bool
    recordings_deleted: int = 0
    """Recordings named in the receipts written: expired recordings, and deletions an
    earlier run had started."""
    files_deleted: int = 0
    files_already_missing: int = 0
    deletions_resumed: int = 0
    sheets_deleted: int = 0
    calls_deleted: int = 0
    calls_held_by_recordings: int = 0
    """Expired calls kept because a recording of theirs is still there."""
    objections_deleted: int = 0
    private_counts_deleted: int = 0
    """Rows of private-call counts (one per agent and day) gone with their clock (A2)."""
    log_entries_cut: int = 0
    checkpoint: int | None = None
    marked_missing: list[str] = field(default_factory=list)
    unknown_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    planned: list[tuple[str, str]] = field(default_factory=list)
    """(recording id, rule) for every recording deletion planned: a dry run's list (a
    real run keeps none, its memory stays that of one batch)."""
    held: list[Held] = field(default_factory=list)
    """Expired recordings kept because a legal hold stands on their call (T6)."""
    sheets_held: list[str] = field(default_factory=list)
    calls_held: list[str] = field(default_factory=list)
    overdue_holds: list[str] = field(default_factory=list)
    """One message per legal hold past its review date (T6)."""

    @property
    def needs_attention(self) -> bool:
        """Files no row knows, files found missing, or legal holds past their review
        date: a person must look."""
        return bool(self.unknown_files or self.marked_missing or self.overdue_holds)

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
        lines.append(f"recordings kept past their expiry under a legal hold: {len(self.held)}")
        lines.append(
            f"summary sheets {verb}: {self.sheets_deleted}"
            + (
                f" ({len(self.sheets_held)} expired, kept under a legal hold)"
                if self.sheets_held
                else ""
            )
        )
        kept = []
        if self.calls_held_by_recordings:
            kept.append(f"{self.calls_held_by_recordings} expired, kept while a recording remains")
        if self.calls_held:
            kept.append(f"{len(self.calls_held)} expired, kept under a legal hold")
        lines.append(
            f"calls (metadata) {verb}: {self.calls_deleted}"
            + (f" ({'; '.join(kept)})" if kept else "")
        )
        lines.append(f"objections {verb}: {self.objections_deleted}")
        lines.append(f"private-call counts (agent-days) {verb}: {self.private_counts_deleted}")
        cut = "to cut" if self.dry_run else "cut"
        lines.append(
            f"access-log entries {cut}: {self.log_entries_cut}"
            + (f" (checkpoint {self.checkpoint})" if self.checkpoint else "")
        )
        missing = "found missing" if self.dry_run else "marked missing"
        lines.append(f"recordings {missing}: {len(self.marked_missing)}")
        lines.append(f"unknown files in the vault: {len(self.unknown_files)}")
        lines.append(f"legal holds past their review date: {len(self.overdue_holds)}")
        if self.interrupted:
            lines.append("stopped before the end; the next run carries on")
        return lines


class Purger:
    def __init__(
        self,
        store: PurgeStore,
        vault: LocalVault,
        rules: RetentionRules,
        clock: Clock,
        checkpoint_key: Secret | None,
        *,
        batch_size: int = BATCH,
        file_threads: int = FILE_THREADS,
        overlapped: bool = False,
        stop: threading.Event | None = None,
        timezone: dt.tzinfo = dt.UTC,
    ) -> None:
        self._store = store
        self._vault = vault
        self._rules = rules
        self._clock = clock
        self._key = checkpoint_key
        self._batch = max(1, batch_size)
        self._threads = file_threads
        self._overlap = overlapped
        self._stop = stop or threading.Event()
        self._tz = timezone

    def run(
        self,
        *,
        dry_run: bool = False,
        on_plan: Callable[[int], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> PurgeReport:
        report = PurgeReport(dry_run)
        problem = None if dry_run else self._store.access_log_problem()
        if problem is not None:
            # Every deletion leaves a receipt in the access log: none is done while the log
            # cannot take one.
            log.error("ALERT: purge not run: %s", problem)
            report.errors.append(f"purge not run: {problem}")
            return report
        now = self._clock.now()
        if on_plan is not None:
            on_plan(planned_count(self._store, self._rules, now))
        batches = planned_batches(self._store, self._rules, now, self._batch, report.held.extend)
        if dry_run:
            for batch in batches:
                report.planned += [(a.row.id, _rule(a)) for a in batch]
                report.recordings_deleted += len(batch)
                report.deletions_resumed += sum(isinstance(a, Finish) for a in batch)
        else:
            stop_point("purge-planned")
            with file_threads(self._threads) as files:
                if self._overlap:
                    self._delete_overlapped(batches, report, files, on_progress)
                else:
                    self._delete_in_turn(batches, report, files, on_progress)
        if self._stop.is_set():
            report.interrupted = True
            return report
        self._sheets(report)
        self._call_metadata(report)
        self._holds(report)
        self._access_log(report)
        self._scan(report)
        return report

    # -- recordings --------------------------------------------------------------------
    def _delete_in_turn(
        self,
        batches: Iterable[list[Action]],
        report: PurgeReport,
        files: FileWork,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        """One batch after the other, each through its three steps (the daemon's way:
        each step's transaction is short, between the call flow's writes)."""
        for batch in batches:
            if self._stop.is_set():
                return
            deletions = self._deletions(batch, report)
            done = delete_recordings(
                self._store, self._vault, self._clock, deletions, SYSTEM, files=files
            )
            self._count(batch, done, report)
            if on_progress is not None:
                on_progress(len(batch))

    def _delete_overlapped(
        self,
        batches: Iterable[list[Action]],
        report: PurgeReport,
        files: FileWork,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        """The batches' store work beside their file work (``reccontrol purge``): while
        the removal thread removes batch N's files, this thread reads and condemns batch
        N+1, then waits for batch N's files and finishes batch N while batch N+1's go.
        Each batch still takes its three steps in order (condemned, then its files
        removed and the folders synced, then its receipt and rows), which is all a kill
        at any point needs (:mod:`controller.retention.deletion`); the batches only no
        longer wait for each other's. At most two batches are condemned and not finished
        at a time; a kill leaves them to the next run, as it would one."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="purge-removal") as removal:
            pending: tuple[list[Action], Condemned, Future[list[FinishedDeletion]]] | None = None
            for batch in batches:
                if self._stop.is_set():
                    break
                condemned = condemn(
                    self._store, self._vault, self._clock, self._deletions(batch, report), files
                )
                # Queued behind the removal of the batch before, on the one removal thread.
                removing = removal.submit(remove, self._vault, condemned, files)
                if pending is not None:
                    self._finish(pending, report, on_progress)
                pending = (batch, condemned, removing)
            if pending is not None:
                self._finish(pending, report, on_progress)

    def _finish(
        self,
        pending: tuple[list[Action], Condemned, Future[list[FinishedDeletion]]],
        report: PurgeReport,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        batch, condemned, removing = pending
        done = finish(self._store, self._clock, condemned, removing.result(), SYSTEM)
        self._count(batch, done, report)
        if on_progress is not None:
            on_progress(len(batch))

    def _deletions(self, batch: Sequence[Action], report: PurgeReport) -> list[Deletion]:
        owned = OwnedPaths(self._vault)
        report.deletions_resumed += sum(
            isinstance(a, Finish) and (a.row.path is None or owned(Path(a.row.path)))
            for a in batch
        )
        return [
            Deletion(
                action.row,
                Request(action.rule, SYSTEM, SYSTEM, f"retention: {action.rule}")
                if isinstance(action, Expire)
                else None,
            )
            for action in batch
        ]

    def _count(self, batch: Sequence[Action], done: DeletionReport, report: PurgeReport) -> None:
        # A hold placed after the plan: the deletion step refused to condemn them.
        for action in batch:
            reference = done.held.get(action.row.id)
            if reference is not None and isinstance(action, Expire):
                report.held.append(Held(action.row, action.rule, reference))
        report.errors.extend(done.problems)
        report.files_deleted += done.files_deleted
        report.files_already_missing += done.files_already_missing
        report.recordings_deleted += len(done.deleted)

    # -- sheets and the access log -------------------------------------------------------
    def _sheets(self, report: PurgeReport) -> None:
        now = self._clock.now()
        rows = self._store.sheets_for_purge(now, now - dt.timedelta(days=self._rules.sheet_days))
        expired = plan_sheets(now, rows, self._rules)
        report.sheets_held = held_sheets(now, rows, self._rules)
        if report.dry_run:
            report.sheets_deleted = len(expired)
        elif expired:
            report.sheets_deleted = self._store.purge_sheets(expired, now)

    def _call_metadata(self, report: PurgeReport) -> None:
        """T5: calls and what hangs off them, then objections (C4), then private-call
        counts (A2). Each batch is one transaction with its receipt, so a kill between
        batches loses nothing."""
        now = self._clock.now()
        cutoff = self._rules.call_cutoff(now)
        objection_cutoff = self._rules.objection_cutoff(now)
        private_cutoff = self._rules.private_count_cutoff(now)
        expired, held = self._store.expired_call_count(cutoff)
        report.calls_held_by_recordings = held
        report.calls_held = self._store.expired_calls_on_hold(cutoff)
        if report.dry_run:
            report.calls_deleted = expired
            report.objections_deleted = self._store.expired_objection_count(now, objection_cutoff)
            report.private_counts_deleted = self._store.expired_private_count_rows(private_cutoff)
            return
        rule = self._rules.call_rule()
        while not self._stop.is_set():
            deleted = self._store.purge_calls(cutoff, now, rule, self._batch)
            report.calls_deleted += deleted
            if deleted == 0:
                break
        report.objections_deleted = self._store.purge_objections(
            now, objection_cutoff, self._rules.objection_rule()
        )
        if self._stop.is_set():
            return
        report.private_counts_deleted = self._store.purge_private_call_counts(
            private_cutoff, now, self._rules.private_count_rule()
        )

    # -- legal holds (T6) ----------------------------------------------------------------
    def _holds(self, report: PurgeReport) -> None:
        """What the holds kept goes into one access-log entry; each hold past its review
        date raises an alert, at every run until a person reviews or releases it."""
        now = self._clock.now()
        overdue = self._store.overdue_holds(now)
        report.overdue_holds = [overdue_message(h, self._tz) for h in overdue]
        if report.dry_run:
            return
        if report.held or report.sheets_held or report.calls_held:
            self._store.append_access(skip_entry(report, now))
        for hold in overdue:
            message = overdue_message(hold, self._tz)
            log.error("ALERT: %s", message)
            self._store.add_alert(hold.call_id, HOLD_REVIEW_ALERT, message, now)

    def _access_log(self, report: PurgeReport) -> None:
        now = self._clock.now()
        cutoff = self._rules.log_cutoff(now)
        if report.dry_run:
            report.log_entries_cut = self._store.expired_entry_count(cutoff)
            return
        rule = f"T3: audit.retention_days = {self._rules.log_days}"
        while not self._stop.is_set():
            try:
                checkpoint = self._store.cut_access_log(cutoff, now, self._key, rule)
            except AccessLogError as exc:
                # Sealing entries that do not verify would hide them behind a genuine
                # signature: nothing more is cut, and a person is told.
                message = f"{exc} ({exc.error_id})"
                log.error("ALERT: %s", message)
                self._store.add_alert(None, LOG_CUT_ALERT, message, now)
                report.errors.append(message)
                return
            if checkpoint is None:
                return
            report.log_entries_cut += checkpoint.entries_cut
            report.checkpoint = checkpoint.number

    # -- the vault against the store -----------------------------------------------------
    def _scan(self, report: PurgeReport) -> None:
        missing: list[str] = []
        owned = OwnedPaths(self._vault)
        for recording_id, path in self._store.stored_recording_paths():
            if not owned(Path(path)):
                problem = outside_vault(recording_id, self._vault)
                if problem not in report.errors:
                    report.errors.append(problem)
            elif not Path(path).is_file():
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


def overdue_message(hold: Hold, tz: dt.tzinfo) -> str:
    """The review date as the DPO typed it: a day in the site's time zone."""
    day = hold.review_by.astimezone(tz).date().isoformat()
    return (
        f"legal hold on call {hold.call_id} (reference {hold.reference}) is past its review "
        f"date {day}: review it ('reccontrol hold review') "
        "or release it ('reccontrol hold release')"
    )


def skip_entry(report: PurgeReport, now: dt.datetime) -> EntryDraft:
    """The access-log entry of one run's skips: what each hold kept past its expiry."""
    return EntryDraft(
        at=to_text(now),
        actor=SYSTEM,
        role=SYSTEM,
        action="hold_skip",
        target=f"recordings:{len(report.held)}",
        purpose=f"retention: {HOLD_RULE}",
        result="ok",
        details={
            "recordings": [
                {
                    "recording_id": h.row.id,
                    "call_id": h.row.call_id,
                    "rule": h.rule,
                    "reference": h.reference,
                }
                for h in report.held
            ],
            "sheets": report.sheets_held,
            "calls": report.calls_held,
        },
    )


def _rule(action: Action) -> str:
    if isinstance(action, Expire):
        return action.rule
    return action.row.condemned.rule if action.row.condemned else "unknown"


def run_purge(
    config: Config,
    clock: Clock,
    store: PurgeStore,
    *,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH,
    file_threads: int = FILE_THREADS,
    overlapped: bool = False,
) -> PurgeReport:
    """One purge. Blocking: the CLI runs it in its own process on the store it opened,
    the daemon on a worker thread with a store that forwards every call to the daemon's
    single store thread (:class:`~controller.retention.purge_store.PurgeStoreFromThread`)."""
    vault = site_vault(config.recordings).vault
    stop = stop or threading.Event()
    purger = Purger(
        store,
        vault,
        RetentionRules.from_config(config),
        clock,
        config.audit.checkpoint_key,
        batch_size=batch_size,
        file_threads=file_threads,
        overlapped=overlapped,
        stop=stop,
        timezone=config.timezone,
    )
    if dry_run:
        return purger.run(dry_run=True, on_plan=on_plan, on_progress=on_progress)
    # On a store several nodes share, one node purges at a time (N1).
    with node_wide(store, "purge", stop) as taken:
        if not taken:
            return PurgeReport(dry_run, interrupted=True)
        return purger.run(on_plan=on_plan, on_progress=on_progress)
