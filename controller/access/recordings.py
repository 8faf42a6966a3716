"""Recordings through the gate (S1, S2): listen, download, export one as a zip, delete one
before its expiry. Deletion is the purge's crash-safe protocol, asked by a person."""

from __future__ import annotations

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
from controller.recordings.vault import LocalVault, VaultError, VaultFileRefused
from controller.retention.deletion import Deletion, Request, delete_recordings
from controller.store.records import RecordingRow
from controller.store.sqlite import SqliteStore
from controller.store.subjects import CallRecord


@dataclass(frozen=True)
class RecordingHandle:
    """What a transport needs to serve a recording: stream ``path`` through the vault."""

    recording_id: str
    path: Path
    format: str
    sha256: str | None
    duration_seconds: float | None


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
            raise AccessFailed(f"recording {row.id}: its file is missing")
        try:
            # The vault's checks before the access is logged as served; the transport
            # opens the file through the vault again, so a file swapped meanwhile is
            # refused there too.
            with self._vault.reader(path):
                pass
        except VaultFileRefused as exc:
            details = {"reason": exc.error_id, "problem": exc.problem}
            self._gate.log(person, action, target, stated, "error", details)
            raise AccessFailed(f"recording {row.id}: {exc.error_id}: {exc}") from None
        except VaultError as exc:
            self._gate.log(person, action, target, stated, "error", {"reason": "file unreadable"})
            raise AccessFailed(f"recording {row.id}: {exc}") from None
        self._gate.log(person, action, target, stated, "ok", {"service": row.service})
        return RecordingHandle(row.id, path, row.format, row.sha256, None)

    def _call_row(self, call_id: str) -> dict[str, Any]:
        summary = self._store.call_summary(call_id) or {"id": call_id}
        return {k: v for k, v in summary.items() if k not in ("recordings", "consent_events")}
