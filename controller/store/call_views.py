"""What the console reads about calls (S1, S2, P3): a filtered, paged listing of calls,
the sampling counts per service and day, and pages of the access log, newest first.

Each is a set-based query the indexes of migration 13 serve; the gate that decides who
may read what is :mod:`controller.access.calls`. Nothing here returns a caller number:
the calls table holds only the caller's HMAC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.audit.chain import Entry
from controller.store.access_log_rows import entry_from_row
from controller.store.database import Database
from controller.store.parts import StorePart
from controller.store.timestamps import to_text

NO_PAYMENT = "none"
"""The payment filter for calls that never reached the payment IVR."""


@dataclass(frozen=True)
class CallFilters:
    """What a listing of calls is narrowed to; None leaves a filter out."""

    service: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    agent: str | None = None
    reason: str | None = None
    recorded: bool | None = None
    """With (True) or without (False) a recording that can be listened to."""
    paused: bool | None = None
    payment: str | None = None
    """A payment status (``approved``, ``declined``...), or :data:`NO_PAYMENT`."""


@dataclass(frozen=True)
class Cursor:
    """Where a page of calls starts: after the call (started_at, id), in listing order."""

    started_at: str
    call_id: str


@dataclass(frozen=True)
class CallListing:
    rows: list[dict[str, Any]]
    total: int
    next: Cursor | None
    """Where the next page starts, or None on the last page."""
    total_capped: bool = False
    """More than :data:`TOTAL_CAP` calls pass the filters: ``total`` is the cap."""


@dataclass(frozen=True)
class LogFilters:
    actor: str | None = None
    action: str | None = None
    actions: tuple[str, ...] | None = None
    """Any of these actions (the deletion receipts, say)."""
    target_prefix: str | None = None
    result: str | None = None


# One row per call: the decision's record and reason, the recordings that can be listened
# to, the pauses counted and the last payment's status. Never the caller's HMAC in full.
_LISTING_COLUMNS = (
    "c.id AS id, c.service AS service, c.direction AS direction, "
    "c.started_at AS started_at, c.ended_at AS ended_at, "
    "COALESCE(c.agent_id, d.agent_id) AS agent_id, c.caller_hash AS caller_hash, "
    "d.record AS record, d.reason AS reason, "
    "(SELECT group_concat(r.id) FROM recordings r "
    " WHERE r.call_id = c.id AND r.state = 'stored') AS recording_ids, "
    "(SELECT COUNT(*) FROM pauses p WHERE p.call_id = c.id) AS pauses, "
    "(SELECT y.status FROM payments y WHERE y.call_id = c.id "
    " ORDER BY y.started_at DESC, y.id DESC LIMIT 1) AS payment"
)
_LISTING_FROM = "FROM calls c LEFT JOIN decisions d ON d.call_id = c.id"


# With many calls to show (more than the count goes to), the agent and the scope filters
# are written as a test of each call the listing walks in its order (newest first, on
# calls_started) rather than as a set gathered from their indexes and sorted: the planner
# uses no index for a CASE, so the walk stops once the page is full. Gathering an agent's
# or two services' calls would read them all (half a million of ten million for one
# agent of twenty); the walk reads a few pages' worth. With fewer, they are gathered,
# which reads only theirs.
_AGENT_TESTED = (
    "(CASE WHEN c.agent_id = ? THEN 1 "
    "WHEN EXISTS (SELECT 1 FROM decisions a WHERE a.call_id = c.id AND a.agent_id = ?) THEN 1 "
    "WHEN EXISTS (SELECT 1 FROM segment_decisions s WHERE s.call_id = c.id "
    "AND s.agent_id = ?) THEN 1 ELSE 0 END) = 1"
)


def listing_where(
    scope: Sequence[str] | None, filters: CallFilters, *, walked: bool = False
) -> tuple[list[str], list[Any]]:
    """The WHERE clauses (fixed text) and their parameters for a listing; with
    ``walked``, the agent, scope, recording, pause and payment filters as tests of each
    call (see :data:`_AGENT_TESTED`). A call declared private is never listed (A2): its
    row stays only until its audio is deleted."""
    clauses: list[str] = ["c.private = 0"]
    params: list[Any] = []
    if scope is not None:
        services = f"c.service IN ({', '.join('?' for _ in scope) or 'NULL'})"
        clauses.append(f"(CASE WHEN {services} THEN 1 ELSE 0 END) = 1" if walked else services)
        params += list(scope)
    if filters.service is not None:
        clauses.append("c.service = ?")
        params.append(filters.service)
    if filters.start is not None:
        clauses.append("c.started_at >= ?")
        params.append(to_text(filters.start))
    if filters.end is not None:
        clauses.append("c.started_at < ?")
        params.append(to_text(filters.end))
    if filters.agent is not None:
        # The agent who answered, or the one a decision named (a transferred call has one
        # per segment, R3): each side has its index, so no call is scanned.
        clauses.append(
            _AGENT_TESTED
            if walked
            else "(c.agent_id = ? OR c.id IN (SELECT call_id FROM decisions WHERE agent_id = ?) "
            "OR c.id IN (SELECT call_id FROM segment_decisions WHERE agent_id = ?))"
        )
        params += [filters.agent, filters.agent, filters.agent]
    if filters.reason is not None:
        clauses.append("d.reason = ?")
        params.append(filters.reason)
    # Calls with a recording, a pause or a payment are gathered from those rows (by their
    # call_id) when few, tested one by one as the listing walks when many; calls without
    # are tested one by one (most calls have none, so the page fills at once).
    if filters.recorded is not None:
        exists = "EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = c.id AND r.state = 'stored')"
        gathered = "c.id IN (SELECT call_id FROM recordings WHERE state = 'stored')"
        clauses.append(
            (exists if walked else gathered) if filters.recorded else f"NOT {exists}"
        )
    if filters.paused is not None:
        exists = "EXISTS (SELECT 1 FROM pauses p WHERE p.call_id = c.id)"
        gathered = "c.id IN (SELECT call_id FROM pauses)"
        clauses.append((exists if walked else gathered) if filters.paused else f"NOT {exists}")
    if filters.payment == NO_PAYMENT:
        clauses.append("NOT EXISTS (SELECT 1 FROM payments y WHERE y.call_id = c.id)")
    elif filters.payment is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM payments y WHERE y.call_id = c.id AND y.status = ?)"
            if walked
            else "c.id IN (SELECT call_id FROM payments WHERE status = ?)"
        )
        params.append(filters.payment)
    return clauses, params


def read_call_segments(db: Database, call_id: str) -> list[dict[str, Any]]:
    """A call as its segments, in order (R3): one per agent who took it, the first
    from the call's decision, one more per transfer answered. Each holds its
    ``segment`` number, ``agent_id``, its decision with every input (P3) and the ids
    of its recordings (``recording_ids``, those of the segment in creation order).
    A call never transferred has one segment; one never decided, none."""
    decided = (
        "SELECT 1 AS segment, decided_at, record, reason, rate, draw, in_window, window, "
        "agent_id FROM decisions WHERE call_id = ? UNION ALL "
        "SELECT segment, decided_at, record, reason, rate, draw, in_window, window, "
        "agent_id FROM segment_decisions WHERE call_id = ? ORDER BY segment"
    )
    segments = [dict(row) for row in db.query(decided, [call_id, call_id])]
    recordings: dict[int, list[str]] = {}
    for row in db.query(
        "SELECT id, segment FROM recordings WHERE call_id = ? ORDER BY created_at, rowid",
        [call_id],
    ):
        recordings.setdefault(row["segment"], []).append(row["id"])
    for segment in segments:
        segment["record"] = bool(segment["record"])
        segment["in_window"] = bool(segment["in_window"])
        segment["recording_ids"] = recordings.get(segment["segment"], [])
    return segments


TOTAL_CAP = 10_000
"""How far a listing counts the calls that pass its filters. Counting every one of ten
million calls would take longer than the page itself; past this, "10,000+" says enough
to a person paging through them."""


def _where(clauses: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


class CallViewStore(StorePart):
    def call_listing(
        self,
        scope: Sequence[str] | None,
        filters: CallFilters,
        after: Cursor | None,
        size: int,
    ) -> CallListing:
        """The calls in ``scope`` (None: every service) that pass ``filters``, newest
        first (started_at, then id, both descending: a stable order), ``size`` at most,
        after ``after``; with the total that passes the filters."""
        clauses, params = listing_where(scope, filters)
        # Fixed clauses; every value is a parameter. Only the reason filter reads the
        # decision: without it the count reads the calls alone.
        counted = _LISTING_FROM if filters.reason is not None else "FROM calls c"
        total = self.db.execute(
            # PostgreSQL names every subquery in FROM: "passing".
            f"SELECT COUNT(*) FROM (SELECT 1 {counted} {_where(clauses)} LIMIT ?) "  # noqa: S608
            "AS passing",
            [*params, TOTAL_CAP + 1],
        ).fetchone()[0]
        if int(total) > TOTAL_CAP:
            clauses, params = listing_where(scope, filters, walked=True)
        if after is not None:
            clauses = [*clauses, "(c.started_at < ? OR (c.started_at = ? AND c.id < ?))"]
            params = [*params, after.started_at, after.started_at, after.call_id]
        # The page's calls are chosen first, by id; its columns (recordings, pauses,
        # payment: a subquery each) are then read for those calls alone, not for every
        # call sorted on the way to the page.
        rows = list(
            self.db.query(
                f"SELECT {_LISTING_COLUMNS} {_LISTING_FROM} WHERE c.id IN "
                f"(SELECT c.id {counted} {_where(clauses)} "
                "ORDER BY c.started_at DESC, c.id DESC LIMIT ?) "
                "ORDER BY c.started_at DESC, c.id DESC",
                [*params, size + 1],
            )
        )
        more = len(rows) > size
        rows = rows[:size]
        last = rows[-1] if rows else None
        cursor = Cursor(last["started_at"], last["id"]) if more and last is not None else None
        return CallListing(rows, min(int(total), TOTAL_CAP), cursor, int(total) > TOTAL_CAP)

    def call_segments(self, call_id: str) -> list[dict[str, Any]]:
        """See :func:`read_call_segments`: the console's and the exports' one read."""
        return read_call_segments(self.db, call_id)

    def call_sheets(self, call_id: str) -> list[dict[str, Any]]:
        """The summary sheets written about a call: id, evaluator, dates and deadline."""
        return list(
            self.db.query(
                "SELECT id, evaluator_id, employee_id, created_at, updated_at, expires_at "
                "FROM sheets WHERE call_id = ? ORDER BY created_at, id",
                [call_id],
            )
        )

    def sampling_by_day(
        self, services: Sequence[str], days: Sequence[tuple[str, dt.datetime, dt.datetime]]
    ) -> list[dict[str, Any]]:
        """Per (day, service): calls decided, calls a draw was made for (eligible), calls
        the draw sampled, and the sum of the rates the eligible calls were drawn at (P3).
        ``days`` are (label, start, end) in the site's time zone, so a day is the site's
        day, daylight saving time included."""
        if not services or not days:
            return []
        values = ", ".join("(?, ?, ?)" for _ in days)
        params: list[Any] = []
        for label, start, end in days:
            params += [label, to_text(start), to_text(end)]
        params += list(services)
        marks = ", ".join("?" for _ in services)
        return list(
            self.db.query(
                f"WITH days (day, lo, hi) AS (VALUES {values}) "  # noqa: S608
                "SELECT days.day AS day, c.service AS service, COUNT(*) AS calls, "
                "SUM(d.draw IS NOT NULL) AS eligible, "
                "SUM(d.draw IS NOT NULL AND d.record = 1) AS recorded, "
                "TOTAL(CASE WHEN d.draw IS NOT NULL THEN d.rate END) AS rate_sum "
                "FROM days JOIN calls c ON c.started_at >= days.lo AND c.started_at < days.hi "
                "JOIN decisions d ON d.call_id = c.id "
                f"WHERE c.service IN ({marks}) "
                "GROUP BY days.day, c.service ORDER BY days.day, c.service",
                params,
            )
        )

    def access_log_page(
        self, filters: LogFilters, before_seq: int | None, size: int
    ) -> tuple[list[Entry], int | None]:
        """Entries that pass ``filters``, newest first, ``size`` at most, before
        ``before_seq``; and the sequence number the next page starts before (None on the
        last page)."""
        clauses: list[str] = []
        params: list[Any] = []
        if filters.actor is not None:
            clauses.append("actor = ?")
            params.append(filters.actor)
        if filters.action is not None:
            clauses.append("action = ?")
            params.append(filters.action)
        if filters.actions is not None:
            clauses.append(f"action IN ({', '.join('?' for _ in filters.actions) or 'NULL'})")
            params += list(filters.actions)
        if filters.target_prefix:
            clauses.append("substr(target, 1, ?) = ?")
            params += [len(filters.target_prefix), filters.target_prefix]
        if filters.result is not None:
            clauses.append("result = ?")
            params.append(filters.result)
        if before_seq is not None:
            clauses.append("seq < ?")
            params.append(before_seq)
        rows = list(
            self.db.query(
                f"SELECT * FROM access_log {_where(clauses)} "  # noqa: S608
                "ORDER BY seq DESC LIMIT ?",
                [*params, size + 1],
            )
        )
        entries = [entry_from_row(row) for row in rows[:size]]
        more = len(rows) > size and entries
        return entries, (entries[-1].seq if more else None)


__all__ = ["NO_PAYMENT", "CallFilters", "CallListing", "CallViewStore", "Cursor", "LogFilters"]
