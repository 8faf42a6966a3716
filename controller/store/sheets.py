"""Summary sheets' storage (T2). Each write carries its access-log entry, in the same
transaction, so a sheet never changes without a trace."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from controller.audit.chain import Entry, EntryDraft
from controller.sheets import Rectification, Score, Sheet
from controller.store.access_log import append_entry
from controller.store.parts import StorePart
from controller.store.timestamps import from_text, to_text


class SheetConflict(Exception):
    """The sheet changed (or went) since it was read."""


def _rectification(row: dict[str, Any]) -> Rectification:
    return Rectification(
        id=row["id"],
        at=from_text(row["at"]),
        author=row["author"],
        entered_by=row["entered_by"],
        entered_by_name=row["entered_by_name"],
        entered_by_role=row["entered_by_role"],
        purpose=row["purpose"],
        note=row["note"],
    )


def _sheet(row: dict[str, Any], rectifications: tuple[Rectification, ...] = ()) -> Sheet:
    return Sheet(
        id=row["id"],
        call_id=row["call_id"],
        recording_id=row["recording_id"],
        service=row["service"],
        employee_id=row["employee_id"],
        employee_name=row["employee_name"],
        evaluator_id=row["evaluator_id"],
        evaluator_name=row["evaluator_name"],
        call_started_at=from_text(row["call_started_at"]),
        call_duration_seconds=row["call_duration_seconds"],
        scores=tuple(Score(**item) for item in json.loads(row["scores"])),
        free_text=row["free_text"],
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
        expires_at=from_text(row["expires_at"]),
        version=row["version"],
        rectifications=rectifications,
    )


def _scores(sheet: Sheet) -> str:
    return json.dumps([asdict(score) for score in sheet.scores], ensure_ascii=False)


class SheetStore(StorePart):
    def sheet(self, sheet_id: str) -> Sheet | None:
        rows = list(self.db.query("SELECT * FROM sheets WHERE id = ?", [sheet_id]))
        if not rows:
            return None
        notes = tuple(
            _rectification(row)
            for row in self.db.query(
                "SELECT * FROM sheet_rectifications WHERE sheet_id = ? ORDER BY at, rowid",
                [sheet_id],
            )
        )
        return _sheet(rows[0], notes)

    def call_facts(self, call_id: str) -> dict[str, Any] | None:
        """What a sheet copies from its call: service, agent, start, duration, and the
        recording it can link to."""
        rows = list(
            self.db.query(
                "SELECT id, service, agent_id, started_at, ended_at FROM calls WHERE id = ?",
                [call_id],
            )
        )
        if not rows:
            return None
        facts = rows[0]
        recording = self.db.execute(
            "SELECT id FROM recordings WHERE call_id = ? AND state = 'stored' "
            "ORDER BY created_at DESC LIMIT 1",
            [call_id],
        ).fetchone()
        facts["recording_id"] = recording[0] if recording else None
        return facts

    def recording_exists(self, recording_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM recordings WHERE id = ? AND state = 'stored'", [recording_id]
        ).fetchone()
        return row is not None

    def create_sheet(self, sheet: Sheet, entry: EntryDraft) -> Entry:
        with self.transaction() as db:
            db.table("sheets").insert(
                {
                    "id": sheet.id,
                    "call_id": sheet.call_id,
                    "recording_id": sheet.recording_id,
                    "service": sheet.service,
                    "employee_id": sheet.employee_id,
                    "employee_name": sheet.employee_name,
                    "evaluator_id": sheet.evaluator_id,
                    "evaluator_name": sheet.evaluator_name,
                    "call_started_at": to_text(sheet.call_started_at),
                    "call_duration_seconds": sheet.call_duration_seconds,
                    "scores": _scores(sheet),
                    "free_text": sheet.free_text,
                    "created_at": to_text(sheet.created_at),
                    "updated_at": to_text(sheet.updated_at),
                    "expires_at": to_text(sheet.expires_at),
                    "version": sheet.version,
                }
            )
            return append_entry(db, entry, self.audit_key)

    def update_sheet(self, sheet: Sheet, expected_version: int, entry: EntryDraft) -> Entry:
        """Saves an edited sheet if nobody changed it since ``expected_version``."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE sheets SET scores = ?, free_text = ?, updated_at = ?, version = ? "
                "WHERE id = ? AND version = ?",
                [
                    _scores(sheet),
                    sheet.free_text,
                    to_text(sheet.updated_at),
                    sheet.version,
                    sheet.id,
                    expected_version,
                ],
            )
            if cursor.rowcount != 1:
                raise SheetConflict(f"sheet {sheet.id} changed since it was read")
            return append_entry(db, entry, self.audit_key)

    def add_rectification(self, sheet_id: str, note: Rectification, entry: EntryDraft) -> Entry:
        """Attaches a rectification note to a sheet (S9), with its access-log entry, in one
        transaction. :class:`SheetConflict` if the sheet went meanwhile (purged, erased)."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM sheets WHERE id = ?", [sheet_id]).fetchone() is None:
                raise SheetConflict(f"sheet {sheet_id} is no longer kept")
            db.table("sheet_rectifications").insert(
                {
                    "id": note.id,
                    "sheet_id": sheet_id,
                    "at": to_text(note.at),
                    "author": note.author,
                    "entered_by": note.entered_by,
                    "entered_by_name": note.entered_by_name,
                    "entered_by_role": note.entered_by_role,
                    "purpose": note.purpose,
                    "note": note.note,
                }
            )
            return append_entry(db, entry, self.audit_key)
