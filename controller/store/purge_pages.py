"""The purge's recordings, a page at a time (T1, T4): the plan streamed, so a million
expired recordings cost the memory of one batch, never of all of them.

Two passes, each in the order the recordings were made, by keyset (``created_at``, then
``id``: no ``OFFSET``, whose cost grows with every page): first the deletions an earlier
run (or an erasure) started, then the recordings that have expired. Whether one has
expired is decided here the way :func:`controller.retention.plan.recording_expiry`
decides it (its stored expiry, or its service's current ``retention_days`` counted from
its creation, whichever comes first), so a page holds only what the purge acts on or
reports as held (T6); the planner looks at each row again all the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from controller.store.parts import StorePart
from controller.store.recording_rows import RECORDING_COLUMNS, RECORDING_FROM, recording_from_row
from controller.store.records import RecordingRow
from controller.store.timestamps import to_text

Cursor = tuple[str, str]
"""Where a pass stands: the (``created_at``, ``id``) of the last row handed out, as stored."""


@dataclass(frozen=True)
class PurgePage:
    rows: list[RecordingRow]
    cursor: Cursor | None
    """Give it back for the next page; None: the pass is over."""


def expired_condition(
    now: dt.datetime, cutoffs: Mapping[str, dt.datetime]
) -> tuple[str, list[str]]:
    """SQL (over ``r`` and its call ``c``) true for a recording that has expired at
    ``now``: its stored expiry passed, or it was created before its service's cutoff
    (``now`` minus the service's ``retention_days``). Pure."""
    params = [to_text(now)]
    if not cutoffs:
        return "r.expires_at <= ?", params
    cases = []
    for service, cutoff in sorted(cutoffs.items()):
        cases.append("WHEN ? THEN ?")
        params += [service, to_text(cutoff)]
    # No cutoff for a service the configuration no longer names: its stored expiry alone.
    by_service = f"CASE c.service {' '.join(cases)} ELSE '' END"
    return f"(r.expires_at <= ? OR r.created_at <= {by_service})", params


class PurgePages(StorePart):
    def purge_page(
        self,
        now: dt.datetime,
        cutoffs: Mapping[str, dt.datetime],
        *,
        finishing: bool,
        after: Cursor | None,
        limit: int,
    ) -> PurgePage:
        """Up to ``limit`` recordings of this node after ``after``: being deleted
        (``finishing``), or expired and not being deleted (those under a legal hold
        included, for the purge to report them)."""
        params: list[str]
        if finishing:
            where, params = "r.state = 'deleted'", []
        else:
            expired, params = expired_condition(now, cutoffs)
            where = f"r.state != 'deleted' AND {expired}"
        if after is not None:
            where += " AND (r.created_at, r.id) > (?, ?)"
            params += [after[0], after[1]]
        rows = list(
            self.db.query(
                f"SELECT {RECORDING_COLUMNS} {RECORDING_FROM} WHERE r.node = ? AND {where} "
                "ORDER BY r.created_at, r.id LIMIT ?",
                [self.node, *params, max(1, limit)],
            )
        )
        if not rows:
            return PurgePage([], None)
        last = rows[-1]
        cursor = (str(last["created_at"]), str(last["id"]))
        return PurgePage([recording_from_row(row) for row in rows], cursor)

    def purge_count(self, now: dt.datetime, cutoffs: Mapping[str, dt.datetime]) -> int:
        """How many recordings of this node the purge would delete now: the length of
        its progress bar."""
        expired, params = expired_condition(now, cutoffs)
        row = self.db.execute(
            "SELECT COUNT(*) FROM recordings r JOIN calls c ON c.id = r.call_id "  # noqa: S608
            "LEFT JOIN legal_holds h ON h.call_id = r.call_id AND h.released_at IS NULL "
            f"WHERE r.node = ? AND (r.state = 'deleted' OR ({expired} AND h.reference IS NULL))",
            [self.node, *params],
        ).fetchone()
        return int(row[0])
