"""No audio of a call is kept, whenever the key came, when its caller objected (C2) or
its agent declared it private (A2).

The live (or paused) recording is the call's to cancel: ``DELETE``, first, at the key.
What this module deletes is the rest of the call's audio, already in the vault when the
key came: an earlier segment before a transfer (R3), a recording that ended (an
on-demand one, A4, or one replaced), a file whose take-in was under way. Each goes
through the one crash-safe deletion (:mod:`controller.retention.deletion`): condemned
with its reason's rule (:data:`RULES`), its data key and file destroyed, a receipt in
the access log. A legal hold on the call (T6) wins: its audio stays, and is deleted
once the hold is released.

Three moments ask for it, each safe alone:

* the key itself: the call's :class:`~controller.calls.commands.DeleteUnkeptAudio`, run
  behind the key's store write (the consent ledger's objection, the call marked
  private) on the store thread, so it finds every file taken in before that write;
* a take-in that finishes after that (:mod:`controller.retention.intake`): its store
  write reads the call in the same transaction, and deletes the file if the key came
  meanwhile;
* the daemon's start and each orphan sweep: a process killed between the key's write
  and the deletion leaves the call's files in the vault; the next one deletes them
  before it takes any call (R1). A deletion killed half-way is finished the same way.

What stays differs by reason. An objection keeps the consent ledger, the call and its
decisions: they are what proves it. A private call keeps nothing but its count: its
row stays, marked private and shown by no listing, only while its audio has not gone,
so that a daemon killed at any point still finds the files; it goes once they have.

Blocking work (files) runs on a worker thread, each store call queued on the store
thread (:class:`~controller.store.worker.FromAnotherThread`): never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from controller.clock import Clock
from controller.recordings.vault import LocalVault
from controller.records import Unkept
from controller.retention.deletion import Deletion, DeletionReport, Request, delete_recordings
from controller.retention.purge_store import PurgeStoreFromThread
from controller.stoppoints import stop_point
from controller.store import SqliteStore, StoreThread
from controller.store.records import RecordingRow
from controller.store.worker import FromAnotherThread

log = logging.getLogger("reccontrol.recordings")

OBJECTION_RULE = "C2: caller objected"
"""The rule a deletion receipt names for the audio of a call its caller objected to."""
PRIVATE_RULE = "A2: private call"
"""The rule a deletion receipt names for the audio of a call declared private."""
RULES = {Unkept.OBJECTED: OBJECTION_RULE, Unkept.PRIVATE: PRIVATE_RULE}
STOP_POINTS = {Unkept.OBJECTED: "objection-deleting", Unkept.PRIVATE: "private-deleting"}
"""Crash tests: the key's write stored, the call's files not yet deleted."""
WHY = {Unkept.OBJECTED: "the caller objected (C2)", Unkept.PRIVATE: "the call is private (A2)"}
SYSTEM = "system"


def unkept_deletions(reason: Unkept, rows: Sequence[RecordingRow]) -> list[Deletion]:
    rule = RULES[reason]
    request = Request(rule, SYSTEM, SYSTEM, rule)
    return [Deletion(row, request) for row in rows]


async def delete_unkept_audio(
    store: StoreThread[SqliteStore],
    vault: LocalVault,
    clock: Clock,
    reason: Unkept,
    call_id: str | None = None,
) -> DeletionReport:
    """Deletes the stored recordings of ``call_id`` if its audio may not be kept for
    ``reason``, or, with no call, of every such call (a start's pass, a sweep's); then a
    private call whose audio is gone is forgotten. Returns what the deletion did; a
    problem (a legal hold, a file that cannot be removed) is logged."""
    rows = await store.run(lambda s: s.unkept_recordings(reason, call_id))
    thread: FromAnotherThread[SqliteStore] = FromAnotherThread(store, asyncio.get_running_loop())
    remote = PurgeStoreFromThread(thread)

    def delete() -> tuple[DeletionReport, int]:
        report = DeletionReport()
        if rows:
            stop_point(STOP_POINTS[reason])
            report = delete_recordings(remote, vault, clock, unkept_deletions(reason, rows), SYSTEM)
        # After the files: a call whose audio is still there (held, on its way) stays.
        forgotten = remote.forget_private_calls(call_id) if reason is Unkept.PRIVATE else 0
        return report, forgotten

    if not rows and reason is not Unkept.PRIVATE:
        return DeletionReport()
    report, forgotten = await asyncio.to_thread(delete)
    where = f"call {call_id}" if call_id is not None else f"calls whose audio goes: {reason}"
    if report.deleted:
        log.info("%s: %d recording(s) deleted, %s", where, len(report.deleted), WHY[reason])
    if forgotten and call_id is None:
        log.info("%d private call(s) forgotten, their audio deleted (A2)", forgotten)
    for recording_id, reference in report.held.items():
        log.warning(
            "%s: recording %s kept: under the legal hold %s (T6)", where, recording_id, reference
        )
    for problem in report.problems:
        log.error("%s: %s", where, problem)
    return report


async def delete_all_unkept_audio(
    store: StoreThread[SqliteStore], vault: LocalVault, clock: Clock
) -> int:
    """Every reason's pass over every call (a start, a sweep): the recordings deleted.
    One reason failing does not keep the other from running."""
    deleted = 0
    for reason in Unkept:
        try:
            deleted += len((await delete_unkept_audio(store, vault, clock, reason)).deleted)
        except Exception as exc:  # the other reason's pass still runs; the next one retries
            log.error("ALERT: audio that may not be kept (%s) not deleted: %s", WHY[reason], exc)
    return deleted
