"""No audio of a call whose caller objected is kept (C2), whenever the key came.

The live (or paused) recording is the call's to cancel: ``DELETE``, first, at the key.
What this module deletes is the rest of the call's audio, already in the vault when the
key came: an earlier segment before a transfer (R3), a recording that ended and was
replaced, a file whose take-in was under way. Each goes through the one crash-safe
deletion (:mod:`controller.retention.deletion`): condemned with the rule
:data:`OBJECTION_RULE`, its data key and file destroyed, a receipt in the access log.

Three moments ask for it, each safe alone:

* the objection itself: the call's :class:`~controller.calls.commands.DeleteObjectedAudio`,
  run behind the consent ledger's write on the store thread, so it finds every file
  taken in before the objection was stored;
* a take-in that finishes after that (:mod:`controller.retention.intake`): its store
  write reads the ledger in the same transaction, and deletes the file if the caller
  objected meanwhile;
* the daemon's start: a process killed between the ledger's write and the deletion
  leaves objected calls' files in the vault; the next one deletes them before it takes
  any call (R1). A deletion killed half-way is finished the same way.

Blocking work (files) runs on a worker thread, each store call queued on the store
thread (:class:`~controller.store.worker.FromAnotherThread`): never on the event loop.

The consent ledger, the call and its decisions stay: they are what proves the objection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from controller.clock import Clock
from controller.recordings.vault import LocalVault
from controller.retention.deletion import Deletion, DeletionReport, Request, delete_recordings
from controller.retention.purge_store import PurgeStoreFromThread
from controller.stoppoints import stop_point
from controller.store import SqliteStore, StoreThread
from controller.store.records import RecordingRow
from controller.store.worker import FromAnotherThread

log = logging.getLogger("reccontrol.recordings")

OBJECTION_RULE = "C2: caller objected"
"""The rule a deletion receipt names for the audio of a call its caller objected to."""
SYSTEM = "system"


def objection_deletions(rows: Sequence[RecordingRow]) -> list[Deletion]:
    request = Request(OBJECTION_RULE, SYSTEM, SYSTEM, OBJECTION_RULE)
    return [Deletion(row, request) for row in rows]


async def delete_objected_audio(
    store: StoreThread[SqliteStore],
    vault: LocalVault,
    clock: Clock,
    call_id: str | None = None,
) -> DeletionReport:
    """Deletes the stored recordings of ``call_id`` if its caller objected, or, with no
    call, of every call whose caller objected (the start-up's pass). Returns what the
    deletion did; a problem (a legal hold, a file that cannot be removed) is logged."""
    rows = await store.run(lambda s: s.objected_recordings(call_id))
    if not rows:
        return DeletionReport()
    thread: FromAnotherThread[SqliteStore] = FromAnotherThread(store, asyncio.get_running_loop())
    remote = PurgeStoreFromThread(thread)

    def delete() -> DeletionReport:
        # Crash tests: the objection is in the ledger, its call's files not yet deleted.
        stop_point("objection-deleting")
        return delete_recordings(remote, vault, clock, objection_deletions(rows), SYSTEM)

    report = await asyncio.to_thread(delete)
    where = f"call {call_id}" if call_id is not None else "calls whose caller objected"
    if report.deleted:
        log.info(
            "%s: %d recording(s) deleted, the caller objected (C2)", where, len(report.deleted)
        )
    for recording_id, reference in report.held.items():
        log.warning(
            "%s: recording %s kept: under the legal hold %s (T6)", where, recording_id, reference
        )
    for problem in report.problems:
        log.error("%s: %s", where, problem)
    return report
