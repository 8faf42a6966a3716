"""Export zips (S2, C5, S9): recordings with their call, decision, consent events and
sheets (with their rectification notes).

The caller of :meth:`Exporter.write_zip` has already checked and will log the access;
this module only writes the file. Blocking (SQLite, files).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from controller.access.errors import AccessFailed
from controller.clock import Clock
from controller.recordings.vault import LocalVault, VaultError, copy_hashed
from controller.sheets import Sheet
from controller.store.records import RecordingRow
from controller.store.subjects import CallRecord
from controller.store.timestamps import to_text

CALL_FIELDS = (
    "id",
    "service",
    "direction",
    "started_at",
    "ended_at",
    "outcome",
    "recorded",
    "announcement_version",
    "announcement_completed",
)


class ExportStore(Protocol):
    """The part of the store an export reads."""

    def call_details(self, call_id: str) -> dict[str, Any]: ...

    def sheet(self, sheet_id: str) -> Sheet | None: ...


@dataclass(frozen=True)
class ExportResult:
    path: Path
    calls: int
    recordings: int
    sheets: int
    problems: list[str] = field(default_factory=list)


class Exporter:
    def __init__(
        self, store: ExportStore, vault: LocalVault, clock: Clock, controller_name: str
    ) -> None:
        self._store = store
        self._vault = vault
        self._clock = clock
        self._controller = controller_name

    def write_zip(
        self,
        output: Path,
        calls: Sequence[CallRecord],
        request: Mapping[str, Any],
        requested_by: str,
        purpose: str,
        sheets_without_call: Sequence[str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ExportResult:
        """Writes the zip next to ``output`` and links it into place, mode 0600.

        The export folder may be writable by others: the temporary file gets a name
        nobody can guess and is created new (``O_EXCL|O_NOFOLLOW``), so a planted file or
        symlink is never written through, and the final name is never overwritten."""
        if os.path.lexists(output):
            raise AccessFailed(f"{output} already exists; not overwritten")
        partial = output.with_name(f".{output.name}.{secrets.token_hex(8)}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        problems: list[str] = []
        documents: list[dict[str, Any]] = []
        recordings = sheets = 0
        try:
            with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
                for record in calls:
                    doc, found, written = self._call(archive, record, problems)
                    recordings += found
                    sheets += written
                    documents.append(doc)
                loose = [d for d in map(self._sheet, sheets_without_call or ()) if d is not None]
                sheets += len(loose)
                metadata = {
                    "generated_at": to_text(self._clock.now()),
                    "controller": self._controller,
                    "requested_by": requested_by,
                    "purpose": purpose,
                    "request": dict(request),
                    "calls": documents,
                    **({"sheets_without_call": loose} if sheets_without_call is not None else {}),
                    **dict(extra or {}),
                    "problems": problems,
                }
                archive.writestr(
                    "metadata.json", json.dumps(metadata, ensure_ascii=False, indent=2, default=str)
                )
                raw.flush()
                os.fsync(raw.fileno())
            _publish(partial, output)
        finally:
            partial.unlink(missing_ok=True)
        return ExportResult(output, len(calls), recordings, sheets, problems)

    def _call(
        self, archive: zipfile.ZipFile, record: CallRecord, problems: list[str]
    ) -> tuple[dict[str, Any], int, int]:
        """One call's document; adds its files to the archive. Returns the document, the
        number of recording files and of sheets written."""
        call_id = record.call["id"]
        doc: dict[str, Any] = {
            "call": {key: record.call.get(key) for key in CALL_FIELDS},
            **self._store.call_details(call_id),
            "recordings": [],
            "sheets": [],
        }
        recordings = sheets = 0
        for row in record.recordings:
            entry = self._recording(archive, row, problems)
            recordings += entry["file"] is not None
            doc["recordings"].append(entry)
        for sheet_id in record.sheet_ids:
            sheet = self._sheet(sheet_id)
            if sheet is not None:
                doc["sheets"].append(sheet)
                sheets += 1
        return doc, recordings, sheets

    def _sheet(self, sheet_id: str) -> dict[str, Any] | None:
        """A sheet as JSON, with its rectification notes (S9); None if it went meanwhile."""
        sheet = self._store.sheet(sheet_id)
        if sheet is None:
            return None
        document: dict[str, Any] = json.loads(json.dumps(asdict(sheet), default=str))
        return document

    def _recording(
        self, archive: zipfile.ZipFile, row: RecordingRow, problems: list[str]
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": row.id,
            "state": row.state,
            "format": row.format,
            "sha256": row.sha256,
            "created_at": to_text(row.created_at),
            "expires_at": to_text(row.expires_at),
            "segment": row.segment,
            "agent_id": row.agent_id,
            "file": None,
            "sha256_matches": None,
        }
        if row.state != "stored" or not row.path:
            return entry
        name = f"recordings/{row.id}.{row.format if row.format != 'wav16' else 'wav'}"
        try:
            # Opened and checked before the archive entry exists: a refused file (a link
            # planted in the vault, say) leaves nothing of itself in the zip.
            with (
                self._vault.reader(Path(row.path)) as source,
                archive.open(name, "w") as out,
            ):
                digest = copy_hashed(source, out, Path(row.path).name)
        except VaultError as exc:
            problems.append(f"recording {row.id}: {exc.error_id}: {exc}")
            return entry
        entry["file"] = name
        entry["sha256_matches"] = digest == row.sha256
        if digest != row.sha256:
            problems.append(f"recording {row.id}: the file does not match its recorded hash")
        return entry


def _publish(partial: Path, output: Path) -> None:
    """Gives the finished file its name, failing rather than replacing anything there."""
    try:
        os.link(partial, output, follow_symlinks=False)
    except FileExistsError:
        raise AccessFailed(f"{output} already exists; not overwritten") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        # A file system without hard links: rename, after checking again.
        if os.path.lexists(output):
            raise AccessFailed(f"{output} already exists; not overwritten") from None
        os.rename(partial, output)
