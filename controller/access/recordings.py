"""Recordings through the gate (S1, S2): listen, download, export one as a zip, delete one
before its expiry. Deletion is the purge's crash-safe protocol, asked by a person."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.access.errors import AccessFailed
from controller.access.export import Exporter, ExportResult
from controller.access.gate import Gate, clean_id
from controller.audit.chain import Entry
from controller.clock import Clock
from controller.config.model import Person
from controller.logs import mask_digits
from controller.recordings.vault import LocalVault, VaultError, VaultFileRefused, copy_hashed
from controller.retention.deletion import Deletion, Request, delete_recordings
from controller.store.records import RecordingRow
from controller.store.sqlite import SqliteStore
from controller.store.subjects import CallRecord

FileIdentity = tuple[int, int, int, int]
"""Device, inode, size and modification time (ns) of an opened file."""


def identity(info: os.stat_result) -> FileIdentity:
    """What tells one file from another put in its place, or from itself rewritten."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@dataclass(frozen=True)
class RecordingHandle:
    """What a transport needs to serve a recording: stream ``path`` through the vault.
    ``file`` is the identity of the file whose hash was checked when the access was
    granted: a transport that opens the file again serves it only while it is still
    that same file."""

    recording_id: str
    path: Path
    format: str
    sha256: str | None
    duration_seconds: float | None
    file: FileIdentity | None = None


FILE_MISSING = "file-missing"
FILE_CHANGED = "file-changed"
"""The vault file is not the one whose hash was recorded (or checked at the grant)."""


class _Discard:
    def write(self, data: bytes, /) -> int:
        return len(data)


def delete_on_request(
    store: SqliteStore,
    vault: LocalVault,
    clock: Clock,
    person: Person,
    purpose: str,
    rows: Sequence[RecordingRow],
    rule: str,
) -> tuple[list[Entry], list[str], dict[str, str]]:
    """The purge's crash-safe deletion (condemn, remove, receipt), asked by a person who
    has passed the gate: the receipts, the problems, and the recordings a legal hold kept
    (id -> the hold's reference)."""
    request = Request(rule, person.id, person.role, purpose)
    done = delete_recordings(store, vault, clock, [Deletion(r, request) for r in rows], person.id)
    return done.receipts, done.problems, done.held


def held_reason(reference: str) -> str:
    return (
        f"under a legal hold (reference {reference}): kept for a legal claim "
        "(GDPR Art. 17(3)(e)) until the DPO releases it"
    )


class RecordingAccess:
    def __init__(
        self,
        gate: Gate,
        store: SqliteStore,
        vault: LocalVault,
        clock: Clock,
        exporter: Exporter,
    ) -> None:
        self._gate = gate
        self._store = store
        self._vault = vault
        self._clock = clock
        self._exporter = exporter

    def listen(self, person: Person, purpose: str, recording_id: str) -> RecordingHandle:
        return self._serve(person, "listen", purpose, recording_id)

    def download(self, person: Person, purpose: str, recording_id: str) -> RecordingHandle:
        return self._serve(person, "download", purpose, recording_id)

    def export(self, person: Person, purpose: str, recording_id: str, output: Path) -> ExportResult:
        """A zip of one recording and its metadata (for mediation, say)."""
        stated, row = self._recording(person, "export", purpose, recording_id)
        target = f"recording:{row.id}"
        self._gate.no_card_in_file_name(person, "export", target, stated, output)
        record = CallRecord(self._call_row(row.call_id), [row], [])
        result = self._exporter.write_zip(
            output, [record], {"recording_id": row.id}, person.id, stated
        )
        self._gate.log(
            person,
            "export",
            target,
            stated,
            "ok" if not result.problems else "error",
            {"file": mask_digits(output.name), "problems": result.problems},
        )
        return result

    def delete(self, person: Person, purpose: str, recording_id: str) -> Entry:
        """Deletes one recording before its expiry; returns the receipt."""
        stated, row = self._recording(person, "delete", purpose, recording_id)
        target = f"recording:{row.id}"
        if row.hold is not None:
            raise self._gate.refuse(person, "delete", target, stated, held_reason(row.hold))
        rule = f"deleted on request by {person.id}"
        receipts, problems, held = delete_on_request(
            self._store, self._vault, self._clock, person, stated, [row], rule
        )
        if row.id in held:
            # Placed between the read above and the deletion's own check.
            raise self._gate.refuse(person, "delete", target, stated, held_reason(held[row.id]))
        if problems or not receipts:
            self._gate.log(
                person, "delete", f"recording:{row.id}", stated, "error", {"problems": problems}
            )
            raise AccessFailed("; ".join(problems) or f"recording {row.id} was not deleted")
        return receipts[0]

    def _recording(
        self, person: Person, action: str, purpose: str, recording_id: str
    ) -> tuple[str, RecordingRow]:
        target = f"recording:{clean_id(recording_id)}"
        stated = self._gate.check(person, action, target, purpose)
        row = self._store.recording(recording_id)
        if row is None or row.state in ("deleted", "discarded", "failed"):
            raise self._gate.missing(person, action, target, stated, "no such recording")
        self._gate.scope(person, action, target, stated, row.service, hide_as="no such recording")
        return stated, row

    def _serve(
        self, person: Person, action: str, purpose: str, recording_id: str
    ) -> RecordingHandle:
        stated, row = self._recording(person, action, purpose, recording_id)
        target = f"recording:{row.id}"
        path = Path(row.path) if row.path else None
        if row.state != "stored" or path is None or not self._vault.exists(path):
            self._gate.log(person, action, target, stated, "error", {"reason": "file missing"})
            raise AccessFailed(f"recording {row.id}: its file is missing", error_id=FILE_MISSING)
        try:
            # The vault's checks, and the recorded hash, before the access is logged as
            # served: a file swapped in the vault is refused here, and the log never
            # says "ok" for a file that is not the one recorded. The transport opens
            # the file through the vault again and serves it only while it is this file.
            # Hashing here holds the store thread for the file's read: about 4 ms for
            # a five-minute call, 0.1 s for 100 MiB.
            with self._vault.reader(path) as source:
                file = identity(os.fstat(source.fileno()))
                digest = copy_hashed(source, _Discard(), path.name) if row.sha256 else None
        except VaultFileRefused as exc:
            details = {"reason": exc.error_id, "problem": exc.problem}
            self._gate.log(person, action, target, stated, "error", details)
            raise AccessFailed(
                f"recording {row.id}: {exc.error_id}: {exc}", error_id=exc.error_id
            ) from None
        except VaultError as exc:
            self._gate.log(person, action, target, stated, "error", {"reason": "file unreadable"})
            raise AccessFailed(f"recording {row.id}: {exc}", error_id=exc.error_id) from None
        if digest is not None and digest != row.sha256:
            self._gate.log(person, action, target, stated, "error", {"reason": FILE_CHANGED})
            raise AccessFailed(
                f"recording {row.id}: its file does not match the recorded hash",
                error_id=FILE_CHANGED,
            )
        self._gate.log(person, action, target, stated, "ok", {"service": row.service})
        return RecordingHandle(row.id, path, row.format, row.sha256, None, file)

    def _call_row(self, call_id: str) -> dict[str, Any]:
        summary = self._store.call_summary(call_id) or {"id": call_id}
        return {k: v for k, v in summary.items() if k not in ("recordings", "consent_events")}
