"""The journal of a redaction under way (S11) and the switch of a recording to its new
version. The steps themselves, with the vault, are in
:mod:`controller.retention.redaction`; each method here is one transaction.

A journal row lives from before the new version is written (``writing``) through the
switch of the recording row to the new file (``switched``, in the same transaction) to
the end, when the old version is shredded: the row goes and the access-log entry is
written, in one transaction, so the entry is written exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from controller.audit.chain import Entry, EntryDraft
from controller.store.access_log import append_entry
from controller.store.database import Database
from controller.store.parts import StorePart

_COLUMNS = (
    "id, recording_id, name, step, old_path, old_sha256, old_sealed, new_path, new_sha256, "
    "span, actor, role, purpose, started_at"
)


class RedactionConflict(Exception):
    """The redaction cannot go on: ``error_id`` says why (``redaction-under-way``,
    ``recording-changed``, ``recording-held``)."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


UNDER_WAY = "redaction-under-way"
CHANGED = "recording-changed"
HELD = "recording-held"


@dataclass(frozen=True)
class PendingRedaction:
    id: str
    recording_id: str
    name: str
    """The recording's name: every file of its versions starts with it."""
    step: str
    old_path: str
    old_sha256: str | None
    old_sealed: bool
    """The old version was sealed (S10): shredding it destroys its data key, so copies
    of it (backups) cannot be decrypted. A plaintext one is only removed."""
    new_path: str | None
    new_sha256: str | None
    span: str
    """The span silenced, ``from-to`` in seconds, as the access log shows it."""
    actor: str
    role: str
    purpose: str
    started_at: str


def _pending(row: tuple[object, ...]) -> PendingRedaction:
    names = [f.name for f in fields(PendingRedaction)]
    values: dict[str, object] = {
        n: None if v is None else str(v) for n, v in zip(names, row, strict=True)
    }
    values["old_sealed"] = bool(row[names.index("old_sealed")])
    return PendingRedaction(**values)  # type: ignore[arg-type]


class RedactionStore(StorePart):
    def begin_redaction(self, pending: PendingRedaction) -> None:
        """Journals a redaction before its new version is written. Raises
        :class:`RedactionConflict` when one is under way for the recording, when the
        recording is no longer the file read (deleted, another version), or when a
        legal hold now stands on its call."""
        with self.transaction() as db:
            self._check_current(db, pending.recording_id, pending.old_path)
            if db.execute(
                "SELECT 1 FROM redactions_pending WHERE recording_id = ?", [pending.recording_id]
            ).fetchone():
                raise RedactionConflict(
                    UNDER_WAY, f"a redaction of recording {pending.recording_id} is under way"
                )
            db.execute(
                f"INSERT INTO redactions_pending ({_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, 'writing', ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?)",
                [
                    pending.id,
                    pending.recording_id,
                    pending.name,
                    pending.old_path,
                    pending.old_sha256,
                    int(pending.old_sealed),
                    pending.span,
                    pending.actor,
                    pending.role,
                    pending.purpose,
                    pending.started_at,
                ],
            )

    def switch_version(self, redaction_id: str, new_path: str, new_sha256: str) -> None:
        """Points the recording at its new version, in the transaction that marks the
        journal ``switched``. Raises :class:`RedactionConflict` (nothing changed) when
        the journal row is gone, the recording changed or a hold now stands."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT recording_id, old_path FROM redactions_pending "
                "WHERE id = ? AND step = 'writing'",
                [redaction_id],
            ).fetchone()
            if row is None:
                raise RedactionConflict(CHANGED, "the redaction was abandoned meanwhile")
            recording_id, old_path = str(row[0]), str(row[1])
            self._check_current(db, recording_id, old_path)
            db.execute(
                "UPDATE recordings SET path = ?, sha256 = ? WHERE id = ?",
                [new_path, new_sha256, recording_id],
            )
            db.execute(
                "UPDATE redactions_pending SET step = 'switched', new_path = ?, new_sha256 = ? "
                "WHERE id = ?",
                [new_path, new_sha256, redaction_id],
            )

    def end_redaction(self, redaction_id: str, entry: EntryDraft) -> Entry | None:
        """Removes the journal row and appends its access-log entry, in one transaction;
        None (nothing written) when another run ended it first."""
        with self.transaction() as db:
            gone = db.execute("DELETE FROM redactions_pending WHERE id = ?", [redaction_id])
            if gone.rowcount == 0:
                return None
            return append_entry(db, entry, self.audit_key)

    def pending_redactions(self) -> list[PendingRedaction]:
        return [
            _pending(tuple(row))
            for row in self.db.execute(
                f"SELECT {_COLUMNS} FROM redactions_pending ORDER BY started_at, id"  # noqa: S608
            ).fetchall()
        ]

    def recording_paths(self) -> set[str]:
        """Every file a recording row or a redaction under way names."""
        rows = self.db.execute(
            "SELECT path FROM recordings WHERE path IS NOT NULL UNION "
            "SELECT old_path FROM redactions_pending UNION "
            "SELECT new_path FROM redactions_pending WHERE new_path IS NOT NULL"
        ).fetchall()
        return {str(row[0]) for row in rows}

    @staticmethod
    def _check_current(db: Database, recording_id: str, path: str) -> None:
        found = db.execute(
            "SELECT r.path, r.state, h.reference FROM recordings r "
            "LEFT JOIN legal_holds h ON h.call_id = r.call_id AND h.released_at IS NULL "
            "WHERE r.id = ?",
            [recording_id],
        ).fetchone()
        if found is None or found[1] != "stored" or found[0] != path:
            raise RedactionConflict(
                CHANGED, f"recording {recording_id} changed meanwhile (deleted or redacted)"
            )
        if found[2] is not None:
            raise RedactionConflict(
                HELD, f"recording {recording_id} is under a legal hold (reference {found[2]})"
            )
