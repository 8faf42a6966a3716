"""What the purge needs from the store, and the same calls made from a worker thread.

The daemon runs the purge on a thread of its own, while only the store thread may touch
SQLite. :class:`PurgeStoreFromThread` implements :class:`PurgeStore` by queueing each call
on the store thread and waiting for it: each is one short transaction between the call
flow's writes, while the slow parts (removing files) hold nothing up. mypy checks that it
offers every method the purge uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from controller.audit.chain import Checkpoint, Entry, EntryDraft
from controller.retention.deletion import DeletionStore
from controller.retention.streaming import PageStore
from controller.secrets import Secret
from controller.store.holds import Hold
from controller.store.lifecycle import Condemnation, CondemnOutcome, FinishedDeletion
from controller.store.purge_pages import Cursor, PurgePage
from controller.store.records import SheetRow
from controller.store.worker import FromAnotherThread


class PurgeStore(DeletionStore, PageStore, Protocol):
    def stored_recording_paths(self) -> list[tuple[str, str]]: ...

    def known_recording_files(self) -> tuple[set[str], set[str]]: ...

    def mark_missing(self, recording_ids: Iterable[str], at: dt.datetime) -> list[str]: ...

    def sheets_for_purge(self, now: dt.datetime, created_before: dt.datetime) -> list[SheetRow]: ...

    def purge_sheets(self, expired: Sequence[tuple[str, str]], at: dt.datetime) -> int: ...

    def expired_entry_count(self, before: dt.datetime) -> int: ...

    def access_log_problem(self) -> str | None: ...

    def cut_access_log(
        self, before: dt.datetime, now: dt.datetime, key: Secret | None, rule: str
    ) -> Checkpoint | None:
        """One batch; None when nothing (more) expired."""
        ...

    def expired_call_count(self, cutoff: dt.datetime) -> tuple[int, int]: ...

    def add_alert(self, call_id: str | None, kind: str, message: str, at: dt.datetime) -> None: ...

    def purge_calls(
        self, cutoff: dt.datetime, at: dt.datetime, rule: str, limit: int = 500
    ) -> int: ...

    def expired_calls_on_hold(self, cutoff: dt.datetime) -> list[str]: ...

    def overdue_holds(self, now: dt.datetime) -> list[Hold]: ...

    def append_access(self, draft: EntryDraft) -> Entry: ...

    def expired_objection_count(self, now: dt.datetime, cutoff: dt.datetime) -> int: ...

    def purge_objections(self, now: dt.datetime, cutoff: dt.datetime, rule: str) -> int: ...

    def expired_private_count_rows(self, before_day: str) -> int: ...

    def purge_private_call_counts(self, before_day: str, at: dt.datetime, rule: str) -> int: ...

    def forget_private_calls(self, call_id: str | None = None) -> int: ...

    def take_node_wide(self, job: str) -> bool: ...

    def release_node_wide(self, job: str) -> None: ...


class PurgeStoreFromThread:
    """A :class:`PurgeStore` for a worker thread: every call runs on the store thread."""

    def __init__(self, remote: FromAnotherThread[PurgeStore]) -> None:
        self._remote = remote

    def purge_page(
        self,
        now: dt.datetime,
        cutoffs: Mapping[str, dt.datetime],
        *,
        finishing: bool,
        after: Cursor | None,
        limit: int,
    ) -> PurgePage:
        return self._remote.call(
            lambda s: s.purge_page(now, cutoffs, finishing=finishing, after=after, limit=limit)
        )

    def purge_count(self, now: dt.datetime, cutoffs: Mapping[str, dt.datetime]) -> int:
        return self._remote.call(lambda s: s.purge_count(now, cutoffs))

    def stored_recording_paths(self) -> list[tuple[str, str]]:
        return self._remote.call(lambda s: s.stored_recording_paths())

    def known_recording_files(self) -> tuple[set[str], set[str]]:
        return self._remote.call(lambda s: s.known_recording_files())

    def mark_missing(self, recording_ids: Iterable[str], at: dt.datetime) -> list[str]:
        ids = list(recording_ids)
        return self._remote.call(lambda s: s.mark_missing(ids, at))

    def sheets_for_purge(self, now: dt.datetime, created_before: dt.datetime) -> list[SheetRow]:
        return self._remote.call(lambda s: s.sheets_for_purge(now, created_before))

    def purge_sheets(self, expired: Sequence[tuple[str, str]], at: dt.datetime) -> int:
        return self._remote.call(lambda s: s.purge_sheets(expired, at))

    def expired_entry_count(self, before: dt.datetime) -> int:
        return self._remote.call(lambda s: s.expired_entry_count(before))

    def access_log_problem(self) -> str | None:
        return self._remote.call(lambda s: s.access_log_problem())

    def cut_access_log(
        self, before: dt.datetime, now: dt.datetime, key: Secret | None, rule: str
    ) -> Checkpoint | None:
        return self._remote.call(lambda s: s.cut_access_log(before, now, key, rule))

    def expired_call_count(self, cutoff: dt.datetime) -> tuple[int, int]:
        return self._remote.call(lambda s: s.expired_call_count(cutoff))

    def add_alert(self, call_id: str | None, kind: str, message: str, at: dt.datetime) -> None:
        self._remote.call(lambda s: s.add_alert(call_id, kind, message, at))

    def purge_calls(self, cutoff: dt.datetime, at: dt.datetime, rule: str, limit: int = 500) -> int:
        return self._remote.call(lambda s: s.purge_calls(cutoff, at, rule, limit))

    def expired_calls_on_hold(self, cutoff: dt.datetime) -> list[str]:
        return self._remote.call(lambda s: s.expired_calls_on_hold(cutoff))

    def overdue_holds(self, now: dt.datetime) -> list[Hold]:
        return self._remote.call(lambda s: s.overdue_holds(now))

    def append_access(self, draft: EntryDraft) -> Entry:
        return self._remote.call(lambda s: s.append_access(draft))

    def expired_objection_count(self, now: dt.datetime, cutoff: dt.datetime) -> int:
        return self._remote.call(lambda s: s.expired_objection_count(now, cutoff))

    def purge_objections(self, now: dt.datetime, cutoff: dt.datetime, rule: str) -> int:
        return self._remote.call(lambda s: s.purge_objections(now, cutoff, rule))

    def expired_private_count_rows(self, before_day: str) -> int:
        return self._remote.call(lambda s: s.expired_private_count_rows(before_day))

    def purge_private_call_counts(self, before_day: str, at: dt.datetime, rule: str) -> int:
        return self._remote.call(lambda s: s.purge_private_call_counts(before_day, at, rule))

    def forget_private_calls(self, call_id: str | None = None) -> int:
        return self._remote.call(lambda s: s.forget_private_calls(call_id))

    def take_node_wide(self, job: str) -> bool:
        return self._remote.call(lambda s: s.take_node_wide(job))

    def release_node_wide(self, job: str) -> None:
        self._remote.call(lambda s: s.release_node_wide(job))

    def condemn_recordings(self, items: Sequence[Condemnation], at: dt.datetime) -> CondemnOutcome:
        return self._remote.call(lambda s: s.condemn_recordings(items, at))

    def finish_deletions(
        self, items: Sequence[FinishedDeletion], at: dt.datetime, finished_by: str
    ) -> list[Entry]:
        return self._remote.call(lambda s: s.finish_deletions(items, at, finished_by))
