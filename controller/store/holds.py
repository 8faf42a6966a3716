"""Legal holds' storage (T6). Each change carries its access-log entry in the same
transaction, so a hold never starts, moves or ends without a trace.

A hold stands on a call: while it stands, the purge keeps the call's recordings, its
metadata and its summary sheets past their expiry, and no deletion may condemn its
recordings (the check is inside the condemning transaction, see
:meth:`~controller.store.lifecycle.LifecycleStore.condemn_recordings`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any

from controller.audit.chain import EntryDraft
from controller.store.access_log import append_entry
from controller.store.parts import StorePart
from controller.store.timestamps import from_text, to_text


class HoldConflict(Exception):
    """The hold cannot be placed or changed as asked."""

    def __init__(self, error_id: str, message: str) -> None:
        self.error_id = error_id
        super().__init__(message)


@dataclass(frozen=True)
class Hold:
    id: str
    call_id: str
    service: str | None
    reason: str
    reference: str
    purpose: str
    placed_by: str
    placed_at: dt.datetime
    review_by: dt.datetime
    reviewed_at: dt.datetime | None
    released_by: str | None
    released_at: dt.datetime | None

    @property
    def standing(self) -> bool:
        return self.released_at is None

    def overdue(self, now: dt.datetime) -> bool:
        return self.standing and self.review_by <= now


@dataclass(frozen=True)
class NewHold:
    id: str
    call_id: str
    reason: str
    reference: str
    purpose: str
    placed_by: str
    placed_at: dt.datetime
    review_by: dt.datetime


@dataclass(frozen=True)
class PlacedHold:
    hold: Hold
    recordings: list[str]
    """The call's recordings the hold keeps."""
    already_deleting: list[str]
    """Recordings whose deletion had started before the hold: they cannot be kept."""


_COLUMNS = "h.*, c.service AS service"
_FROM = "FROM legal_holds h LEFT JOIN calls c ON c.id = h.call_id"


def _optional(text: str | None) -> dt.datetime | None:
    return from_text(text) if text else None


def _hold(row: dict[str, Any]) -> Hold:
    return Hold(
        id=row["id"],
        call_id=row["call_id"],
        service=row["service"],
        reason=row["reason"],
        reference=row["reference"],
        purpose=row["purpose"],
        placed_by=row["placed_by"],
        placed_at=from_text(row["placed_at"]),
        review_by=from_text(row["review_by"]),
        reviewed_at=_optional(row["reviewed_at"]),
        released_by=row["released_by"],
        released_at=_optional(row["released_at"]),
    )


class HoldStore(StorePart):
    def standing_hold(self, call_id: str) -> Hold | None:
        rows = list(
            self.db.query(
                f"SELECT {_COLUMNS} {_FROM} WHERE h.call_id = ? AND h.released_at IS NULL",
                [call_id],
            )
        )
        return _hold(rows[0]) if rows else None

    def holds(self, *, include_released: bool = False) -> list[Hold]:
        where = "" if include_released else "WHERE h.released_at IS NULL"
        return [
            _hold(row)
            for row in self.db.query(
                f"SELECT {_COLUMNS} {_FROM} {where} ORDER BY h.review_by, h.placed_at"
            )
        ]

    def overdue_holds(self, now: dt.datetime) -> list[Hold]:
        """Standing holds whose review date has come: each needs a person (T6)."""
        return [
            _hold(row)
            for row in self.db.query(
                f"SELECT {_COLUMNS} {_FROM} WHERE h.released_at IS NULL AND h.review_by <= ? "
                "ORDER BY h.review_by",
                [to_text(now)],
            )
        ]

    def place_hold(self, new: NewHold, entry: EntryDraft) -> PlacedHold:
        """Places the hold and logs it, in one transaction. Raises :class:`HoldConflict`
        when the call is gone (or declared private: A2, its audio being deleted) or
        already held."""
        with self.transaction() as db:
            found = db.execute(
                "SELECT 1 FROM calls WHERE id = ? AND private = 0", [new.call_id]
            ).fetchone()
            if found is None:
                raise HoldConflict("hold-no-such-call", f"no call {new.call_id}")
            try:
                db.execute(
                    "INSERT INTO legal_holds (id, call_id, reason, reference, purpose, "
                    "placed_by, placed_at, review_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        new.id,
                        new.call_id,
                        new.reason,
                        new.reference,
                        new.purpose,
                        new.placed_by,
                        to_text(new.placed_at),
                        to_text(new.review_by),
                    ],
                )
            except sqlite3.IntegrityError:
                # The partial unique index: one standing hold per call.
                raise HoldConflict(
                    "hold-already-placed",
                    f"call {new.call_id} is already under a legal hold; "
                    "change its review date with 'hold review' instead",
                ) from None
            recordings: list[str] = []
            deleting: list[str] = []
            for row in db.execute(
                "SELECT id, state FROM recordings WHERE call_id = ? ORDER BY created_at, id",
                [new.call_id],
            ):
                (deleting if row[1] == "deleted" else recordings).append(str(row[0]))
            details = dict(entry.details)
            details.update(
                {
                    "hold_id": new.id,
                    "recordings": recordings,
                    "already_deleting": deleting,
                }
            )
            append_entry(db, _with(entry, details), self.audit_key)
        hold = self.standing_hold(new.call_id)
        assert hold is not None  # written above, in this thread
        return PlacedHold(hold, recordings, deleting)

    def release_hold(self, call_id: str, at: dt.datetime, entry: EntryDraft) -> Hold | None:
        """Ends the standing hold and logs it, in one transaction; None if none stood."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT id FROM legal_holds WHERE call_id = ? AND released_at IS NULL", [call_id]
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE legal_holds SET released_at = ?, released_by = ? WHERE id = ?",
                [to_text(at), entry.actor, row[0]],
            )
            append_entry(db, _with(entry, {**entry.details, "hold_id": row[0]}), self.audit_key)
            hold_id = str(row[0])
        return next(h for h in self.holds(include_released=True) if h.id == hold_id)

    def review_hold(
        self, call_id: str, review_by: dt.datetime, at: dt.datetime, entry: EntryDraft
    ) -> Hold | None:
        """Sets a new review date on the standing hold and logs it, in one transaction;
        None if none stood."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT id, review_by FROM legal_holds WHERE call_id = ? AND released_at IS NULL",
                [call_id],
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE legal_holds SET review_by = ?, reviewed_at = ? WHERE id = ?",
                [to_text(review_by), to_text(at), row[0]],
            )
            details = {**entry.details, "hold_id": row[0], "previous_review_by": row[1]}
            append_entry(db, _with(entry, details), self.audit_key)
        return self.standing_hold(call_id)


def _with(entry: EntryDraft, details: dict[str, Any]) -> EntryDraft:
    return dataclasses.replace(entry, details=details)
