"""Recordings left behind by a crash or a lost event: rows stuck in ``live`` and files in
Asterisk's folder. Each settlement is one transaction: the row's final state, a receipt
in the access log and an alert row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from controller.store.access_log import append_system_entry
from controller.store.parts import StorePart
from controller.store.timestamps import to_text

SWEEP_PURPOSE = "retention: orphan sweep"
SWEEP_ALERT = "orphan_recording"
UNUSABLE_PURPOSE = "retention: no usable audio"
UNUSABLE_ALERT = "recording_unusable"


@dataclass(frozen=True)
class StuckRecording:
    """A recording row still ``live``."""

    recording_id: str
    call_id: str
    name: str
    fmt: str
    service: str
    objected: bool
    """The file must not be kept: the caller objected during the call (C2), or the
    call was declared private (A2)."""
    channel_id: str | None = None
    """For a FastAGI call still open, its caller's channel: MixMonitor may still be
    writing the file while that channel is up."""


@dataclass(frozen=True)
class SweptFile:
    file: str
    sha256: str
    duration_seconds: float
    path: str | None = None
    """Where the file now lies in the vault; None when it was deleted."""


class OrphanStore(StorePart):
    def stuck_live_recordings(self) -> list[StuckRecording]:
        rows = self.db.query(
            "SELECT r.id, r.call_id, r.name, r.format, c.service, "
            "(c.private = 1 OR EXISTS (SELECT 1 FROM consent_events e "
            "WHERE e.call_id = r.call_id AND e.kind = 'opt_out')) AS objected, "
            "CASE WHEN c.path = 'agi' AND c.ended_at IS NULL THEN c.channel_id END AS channel "
            "FROM recordings r JOIN calls c ON c.id = r.call_id "
            # Another node's live recordings are its Asterisk's, in progress there (N1).
            "WHERE r.state = 'live' AND r.node = ?",
            [self.node],
        )
        return [
            StuckRecording(
                r["id"],
                r["call_id"],
                r["name"],
                r["format"],
                r["service"],
                bool(r["objected"]),
                r["channel"],
            )
            for r in rows
        ]

    def discard_unusable(
        self, recording_id: str, swept: SweptFile, why: str, at: dt.datetime
    ) -> bool:
        """A recording file that held no readable audio (Asterisk died before writing
        any, or it is not a WAV) was deleted: the row turns ``failed``, with a receipt
        and an alert. False when the row was settled meanwhile."""
        with self.transaction() as db:
            found = list(
                db.query(
                    "SELECT r.call_id, c.service FROM recordings r JOIN calls c "
                    "ON c.id = r.call_id WHERE r.id = ? AND r.state = 'live'",
                    [recording_id],
                )
            )
            if not found:
                return False
            call_id = found[0]["call_id"]
            db.execute(
                "UPDATE recordings SET state = 'failed', path = NULL, ended_at = ? WHERE id = ?",
                [to_text(at), recording_id],
            )
            details: dict[str, Any] = {
                "recording_id": recording_id,
                "call_id": call_id,
                "service": found[0]["service"],
                "file": swept.file,
                "sha256": swept.sha256,
                "reason": why,
            }
            append_system_entry(
                db,
                self.audit_key,
                at=at,
                action="delete_unusable",
                target=f"recording:{recording_id}",
                purpose=UNUSABLE_PURPOSE,
                details=details,
            )
            db.table("alerts").insert(
                {
                    "call_id": call_id,
                    "at": to_text(at),
                    "kind": UNUSABLE_ALERT,
                    "message": f"recording {recording_id} held no usable audio ({why}): "
                    "its file was deleted",
                }
            )
        return True

    def sweep_vaulted(self, row: StuckRecording, swept: SweptFile, at: dt.datetime) -> bool:
        """The file is in the vault: the row turns ``stored`` (its retention clock was
        set when it opened, from its service). False when the row was settled meanwhile."""
        assert swept.path is not None
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE recordings SET state = 'stored', path = ?, duration_seconds = ?, "
                "sha256 = ?, ended_at = ? WHERE id = ? AND state = 'live'",
                [swept.path, swept.duration_seconds, swept.sha256, to_text(at), row.recording_id],
            )
            if cursor.rowcount != 1:
                return False
            self._settle(db, row, "sweep_vault", "ok", swept, at, "moved into the vault")
        return True

    def sweep_discarded(self, row: StuckRecording, swept: SweptFile, at: dt.datetime) -> bool:
        """The file must not exist (the caller objected): deleted, row ``discarded``."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE recordings SET state = 'discarded', path = NULL, ended_at = ? "
                "WHERE id = ? AND state = 'live'",
                [to_text(at), row.recording_id],
            )
            if cursor.rowcount != 1:
                return False
            self._settle(db, row, "sweep_delete", "ok", swept, at, "deleted: the caller objected")
        return True

    def sweep_missing(self, row: StuckRecording, at: dt.datetime) -> bool:
        """No file and nothing recording it any more: the row turns ``missing``."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE recordings SET state = 'missing', path = NULL, ended_at = ? "
                "WHERE id = ? AND state = 'live'",
                [to_text(at), row.recording_id],
            )
            if cursor.rowcount != 1:
                return False
            self._settle(db, row, "sweep_missing", "error", None, at, "no file was left")
        return True

    def sweep_unknown(self, swept: SweptFile, at: dt.datetime) -> None:
        """A file of ours that no row knows (its call was made private, or the daemon
        stopped before the row was written): no decision to keep it exists, so it went."""
        details: dict[str, Any] = {
            "file": swept.file,
            "sha256": swept.sha256,
            "duration_seconds": swept.duration_seconds,
            "rule": "no recording row",
        }
        with self.transaction() as db:
            append_system_entry(
                db,
                self.audit_key,
                at=at,
                action="sweep_delete",
                target=f"file:{swept.file}",
                purpose=SWEEP_PURPOSE,
                details=details,
            )
            db.table("alerts").insert(
                {
                    "call_id": None,
                    "at": to_text(at),
                    "kind": SWEEP_ALERT,
                    "message": f"deleted {swept.file} from Asterisk's recording folder: "
                    "no recording row owns it",
                }
            )

    def _settle(
        self,
        db: Any,
        row: StuckRecording,
        action: str,
        result: str,
        swept: SweptFile | None,
        at: dt.datetime,
        what: str,
    ) -> None:
        details: dict[str, Any] = {
            "recording_id": row.recording_id,
            "call_id": row.call_id,
            "service": row.service,
        }
        if swept is not None:
            details.update(
                file=swept.file, sha256=swept.sha256, duration_seconds=swept.duration_seconds
            )
        append_system_entry(
            db,
            self.audit_key,
            at=at,
            action=action,
            target=f"recording:{row.recording_id}",
            purpose=SWEEP_PURPOSE,
            result=result,
            details=details,
        )
        db.table("alerts").insert(
            {
                "call_id": row.call_id,
                "at": to_text(at),
                "kind": SWEEP_ALERT,
                "message": f"recording {row.recording_id} was left live by an interrupted "
                f"call: {what}",
            }
        )
