"""What an inspection reads from the store over a period (D3), and the history of the
configurations in force that the daemon writes when it loads one."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from controller.audit.chain import Entry
from controller.store.access_log_rows import entry_from_row
from controller.store.parts import StorePart
from controller.store.records import SamplingAudit
from controller.store.timestamps import to_text

# The access-log actions that delete something and are its receipt: the purge's (T4, T5),
# the sweep's, and a deletion or an erasure asked by a person or a data subject (C5).
DELETION_ACTIONS = (
    "delete",
    "sheet_delete",
    "call_delete",
    "objection_delete",
    "private_count_delete",
    "log_purge",
    "file_missing",
    "sweep_delete",
    "delete_unusable",
    "subject_erase",
)


@dataclass(frozen=True)
class ConfigLoad:
    loaded_at: str
    sha256: str


def config_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class InspectionStore(StorePart):
    def record_config_load(self, text: str, at: dt.datetime) -> str:
        """Records that the configuration ``text`` (canonical YAML) came into force at
        ``at``; its text is stored once. Returns its SHA-256."""
        digest = config_sha256(text)
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO config_texts (sha256, yaml) VALUES (?, ?)", [digest, text]
            )
            db.execute(
                "INSERT INTO config_loads (loaded_at, sha256) VALUES (?, ?)",
                [to_text(at), digest],
            )
        return digest

    def configs_in_force(self, start: dt.datetime, end: dt.datetime) -> list[ConfigLoad]:
        """The loads that governed [start, end): the last one before ``start`` (in force
        when the period began) and every one inside it."""
        first, last = to_text(start), to_text(end)
        before = self.db.execute(
            "SELECT loaded_at, sha256 FROM config_loads WHERE loaded_at < ? "
            "ORDER BY loaded_at DESC, id DESC LIMIT 1",
            [first],
        ).fetchall()
        during = self.db.execute(
            "SELECT loaded_at, sha256 FROM config_loads WHERE loaded_at >= ? AND loaded_at < ? "
            "ORDER BY loaded_at, id",
            [first, last],
        ).fetchall()
        return [ConfigLoad(str(at), str(digest)) for at, digest in (*before, *during)]

    def config_text(self, digest: str) -> str | None:
        row = self.db.execute("SELECT yaml FROM config_texts WHERE sha256 = ?", [digest]).fetchone()
        return str(row[0]) if row else None

    def access_entries_between(self, start: dt.datetime, end: dt.datetime) -> list[Entry]:
        return [
            entry_from_row(row)
            for row in self.db.query(
                "SELECT * FROM access_log WHERE at >= ? AND at < ? ORDER BY seq",
                [to_text(start), to_text(end)],
            )
        ]

    def alerts_between(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT id, call_id, at, kind, message FROM alerts WHERE at >= ? AND at < ? "
                "ORDER BY at, id",
                [to_text(start), to_text(end)],
            )
        )

    def sampling_audit_between(self, start: dt.datetime, end: dt.datetime) -> list[SamplingAudit]:
        """Like ``sampling_audit``, for the decisions taken in [start, end) (P3)."""
        rows = self.db.query(
            "SELECT c.service AS service, d.rate AS rate, COUNT(*) AS calls, "
            "SUM(d.draw IS NOT NULL) AS draws, "
            "SUM(d.draw IS NOT NULL AND d.record = 1) AS sampled "
            "FROM decisions d JOIN calls c ON c.id = d.call_id "
            "WHERE d.decided_at >= ? AND d.decided_at < ? "
            "GROUP BY c.service, d.rate ORDER BY c.service, d.rate",
            [to_text(start), to_text(end)],
        )
        return [
            SamplingAudit(
                service=row["service"],
                configured_rate=row["rate"],
                calls=row["calls"],
                draws=row["draws"] or 0,
                sampled=row["sampled"] or 0,
            )
            for row in rows
        ]

    def holds_between(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """The legal holds that stood at some moment of [start, end) (T6): placed before
        its end and not released before its start."""
        return list(
            self.db.query(
                "SELECT * FROM legal_holds WHERE placed_at < ? "
                "AND (released_at IS NULL OR released_at >= ?) ORDER BY placed_at, id",
                [to_text(end), to_text(start)],
            )
        )
