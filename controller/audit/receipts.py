"""The receipt of finished recording deletions (T4, S3): one access-log entry per batch.

A deletion's receipt names every recording the batch deleted, with what T4 asks of it:
what (recording, call, service), when (made, deletion started), the file's hash, and what
became of the file and its data key (S10). One entry for a batch rather than one per
recording: each entry is chained to the one before (its hash, its MAC), so entries are
sealed one after the other; a thousand recordings sealed once cost what one did.

A batch larger than :data:`RECEIPT_ROWS` gets a receipt per thousand recordings.

The entry's ``details`` hold the recordings as a table, its column names once::

    {"columns": ["recording_id", "call_id", "service", "sha256", "duration_seconds",
                 "created_at", "rule", "file", "key_destroyed", "deletion_started_at"],
     "recordings": [["0f3c...", "c-17...", "sales", "9a41...", 62.4,
                     "2026-01-04T09:12:00+00:00", "sales: 90 days", "deleted", true,
                     "2026-04-04T02:00:01+00:00"], ...],
     "finished_by": "system"}

``finished_by`` is there only when the run that finished the deletion is not the one that
asked for it (a purge finishing a deletion a person started). The entry's target is
``recording:<id>`` when it names one recording, ``recordings:<count>`` otherwise. Logs
written before this form hold one entry per recording, its fields at the top of
``details``: :func:`receipt_recordings` reads both.

Which entry names a given recording is kept in the store
(:meth:`~controller.store.lifecycle.LifecycleStore.receipt_of`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.audit.chain import Entry, EntryDraft

RECEIPT_ACTION = "delete"
RECEIPT_ROWS = 1000
"""Recordings a receipt names at most (some 250 kB of details): a larger batch gets
several receipts, so each stays quick to verify and readable on the DPO's page."""
RECEIPT_COLUMNS = (
    "recording_id",
    "call_id",
    "service",
    "sha256",
    "duration_seconds",
    "created_at",
    "rule",
    "file",
    "key_destroyed",
    "deletion_started_at",
)


def receipt_draft(
    rows: Sequence[Sequence[Any]],
    *,
    at: str,
    actor: str,
    role: str,
    purpose: str,
    finished_by: str,
) -> EntryDraft:
    """The receipt of the deletions in ``rows``, each a row of :data:`RECEIPT_COLUMNS`,
    asked by ``actor`` (in ``role``, for ``purpose``) and finished by ``finished_by``."""
    details: dict[str, Any] = {
        "columns": list(RECEIPT_COLUMNS),
        "recordings": [list(row) for row in rows],
    }
    if finished_by != actor:
        details["finished_by"] = finished_by
    target = f"recording:{rows[0][0]}" if len(rows) == 1 else f"recordings:{len(rows)}"
    return EntryDraft(
        at=at,
        actor=actor,
        role=role,
        action=RECEIPT_ACTION,
        target=target,
        purpose=purpose,
        result="ok",
        details=details,
    )


def receipt_recordings(details: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The recordings a receipt's ``details`` name, each as a dict of its columns (and
    ``finished_by`` when the receipt has one); a receipt written one per recording
    gives its one. Anything else gives none."""
    columns = details.get("columns")
    rows = details.get("recordings")
    extra = {"finished_by": details["finished_by"]} if "finished_by" in details else {}
    if isinstance(columns, list) and isinstance(rows, list):
        return [
            {**dict(zip(columns, row, strict=False)), **extra}
            for row in rows
            if isinstance(row, list)
        ]
    if "recording_id" in details:
        return [dict(details)]
    return []


def deleted_recording_ids(receipts: Sequence[Entry]) -> list[str]:
    """The recording ids ``receipts`` name, in order."""
    return [
        str(item.get("recording_id"))
        for entry in receipts
        for item in receipt_recordings(entry.details)
    ]
