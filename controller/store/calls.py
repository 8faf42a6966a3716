"""What a call writes as it runs, and what is read back about it: the call's row, its
decision (P3), consent events and objections (C1-C4), recordings, pauses (A5), alerts,
private-call counts (A2) and payment outcomes.

Each method is one transaction, so a crash never leaves half of a change behind.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from typing import Any

from controller.store.database import Database
from controller.store.open_calls import read_open_call, read_open_calls
from controller.store.parts import StorePart
from controller.store.recording_rows import IDS_PARAMETER, ids_parameter
from controller.store.records import (
    UNKNOWN_AGENT,
    CallStart,
    ConsentEvent,
    Decision,
    OpenCall,
    PaymentRecord,
    SamplingAudit,
    Unkept,
)
from controller.store.timestamps import to_text


class CallStore(StorePart):
    def begin_call(self, call: CallStart, announcement_version: str) -> None:
        with self.transaction() as db:
            db.table("calls").insert(
                {
                    "id": call.call_id,
                    "service": call.service,
                    "direction": call.direction,
                    "started_at": to_text(call.started_at),
                    "caller_hash": call.caller_hash,
                    "announcement_version": announcement_version,
                    "channel_id": call.channel_id,
                    "path": call.path,
                    "node": self.node,
                }
            )

    def announcement_heard(self, call_id: str) -> None:
        """The caller heard the announcement: a restarted controller must know it before
        deciding to record (C1)."""
        with self.transaction() as db:
            db.execute("UPDATE calls SET announcement_completed = 1 WHERE id = ?", [call_id])

    def record_decision(self, decision: Decision) -> None:
        """Segment 1's decision is the call's; a later segment's (after a transfer, R3)
        goes beside it, so the sampling audit still counts each call once."""
        with self.transaction() as db:
            _insert_decision(db, decision)
        self.figures.decisions[(decision.reason, decision.record)] += 1

    def add_consent_event(self, event: ConsentEvent) -> None:
        with self.transaction() as db:
            db.table("consent_events").insert(
                {
                    "call_id": event.call_id,
                    "at": to_text(event.at),
                    "kind": event.kind,
                    "key": event.key,
                    "announcement_version": event.announcement_version,
                    "phase": event.phase,
                }
            )

    def remember_objection(self, caller_hash: str, at: dt.datetime, days: int) -> None:
        """Remembers (or extends) a caller's objection for ``days`` days (C4)."""
        expires = to_text(at + dt.timedelta(days=days))
        with self.transaction() as db:
            db.execute(
                "INSERT INTO objections (caller_hash, first_at, last_at, expires_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (caller_hash) DO UPDATE SET "
                "last_at = excluded.last_at, expires_at = excluded.expires_at",
                [caller_hash, to_text(at), to_text(at), expires],
            )

    def carry_objection(self, earlier_hash: str, caller_hash: str) -> bool:
        """Moves an objection kept under a caller's earlier HMAC (an older rule for the
        number's form) to the current one, merged with any already there, so it is never
        lost to a change of form (C4). False when there was none."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT first_at, last_at, expires_at FROM objections WHERE caller_hash = ?",
                [earlier_hash],
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "INSERT INTO objections (caller_hash, first_at, last_at, expires_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (caller_hash) DO UPDATE SET "
                "first_at = min(first_at, excluded.first_at), "
                "last_at = max(last_at, excluded.last_at), "
                "expires_at = max(expires_at, excluded.expires_at)",
                [caller_hash, row[0], row[1], row[2]],
            )
            db.execute("DELETE FROM objections WHERE caller_hash = ?", [earlier_hash])
        return True

    def has_objection(self, caller_hash: str, now: dt.datetime) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM objections WHERE caller_hash = ? AND expires_at > ?",
            [caller_hash, to_text(now)],
        ).fetchone()
        return row is not None

    def open_recording(
        self,
        recording_id: str,
        call_id: str,
        name: str,
        fmt: str,
        purposes: tuple[str, ...],
        created_at: dt.datetime,
        retention_days: int,
        segment: int = 1,
        agent_id: str | None = None,
        decision: Decision | None = None,
    ) -> None:
        """Writes the recording's row before Asterisk creates the file, so no file on
        disk is ever unknown to the store. ``segment`` and ``agent_id``: the part of a
        transferred call it records, and whose agent (R3). ``decision``: the decision to
        record it, stored in the same transaction, so that a process killed at any point
        leaves both rows or neither (R1): a recording row without its decision would
        make a restarted controller take the call for one never decided."""
        with self.transaction() as db:
            if decision is not None:
                _insert_decision(db, decision)
            db.table("recordings").insert(
                {
                    "id": recording_id,
                    "call_id": call_id,
                    "name": name,
                    "format": fmt,
                    "purposes": json.dumps(list(purposes)),
                    "state": "live",
                    "created_at": to_text(created_at),
                    "expires_at": to_text(created_at + dt.timedelta(days=retention_days)),
                    "segment": segment,
                    "agent_id": agent_id,
                    "node": self.node,
                }
            )
        if decision is not None:
            self.figures.decisions[(decision.reason, decision.record)] += 1

    def close_recording(self, recording_id: str, state: str, at: dt.datetime) -> None:
        """Marks a live recording that left no file: ``discarded``, ``failed`` or
        ``missing``. A row already settled (vaulted by the orphan sweep, say) is left as
        it is: its file is in the vault."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE recordings SET state = ?, ended_at = ?, path = NULL "
                "WHERE id = ? AND state = 'live'",
                [state, to_text(at), recording_id],
            )
        if cursor.rowcount > 0:
            self.figures.recordings[state] += 1

    def finish_recording(
        self, recording_id: str, path: str, duration: float, sha256: str, at: dt.datetime
    ) -> Unkept | None:
        """The file is in the vault: the row turns ``stored``. Returns why the file may
        not be kept, read in the same transaction: the call's caller objected (C2) or
        the call was declared private (A2) while the file was on its way. It must then
        go (:mod:`controller.retention.unkept`); None: it is kept."""
        with self.transaction() as db:
            db.execute(
                "UPDATE recordings SET state = 'stored', path = ?, duration_seconds = ?, "
                "sha256 = ?, ended_at = ? WHERE id = ?",
                [path, duration, sha256, to_text(at), recording_id],
            )
            db.execute(
                "UPDATE calls SET recorded = 1 WHERE id = "
                "(SELECT call_id FROM recordings WHERE id = ?)",
                [recording_id],
            )
            found = db.execute(
                "SELECT c.private, EXISTS (SELECT 1 FROM consent_events e "
                "WHERE e.kind = 'opt_out' AND e.call_id = c.id) FROM calls c "
                "WHERE c.id = (SELECT call_id FROM recordings WHERE id = ?)",
                [recording_id],
            ).fetchone()
        self.figures.recordings["stored"] += 1
        if found is None:
            return None
        if found[0]:
            return Unkept.PRIVATE
        return Unkept.OBJECTED if found[1] else None

    def end_call(
        self,
        call_id: str,
        at: dt.datetime,
        outcome: str,
        agent_id: str | None,
        announcement_completed: bool,
        *,
        only_open: bool = False,
    ) -> bool:
        """Closes the call; returns whether the row changed. ``only_open``: not if it is
        closed already, by someone who knew better how it ended (a FastAGI call's hang-up
        hook), the check and the write being one transaction."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE calls SET ended_at = ?, outcome = ?, agent_id = ?, "
                "announcement_completed = ? WHERE id = ? AND (? = 0 OR ended_at IS NULL)",
                [to_text(at), outcome, agent_id, int(announcement_completed), call_id,
                 int(only_open)],
            )  # fmt: skip
        changed = cursor.rowcount > 0
        if changed:
            self.figures.calls_ended[outcome] += 1
        return changed

    def open_pause(
        self,
        pause_id: str,
        recording_id: str,
        call_id: str,
        paused_by: str,
        reason: str,
        at: dt.datetime,
    ) -> None:
        with self.transaction() as db:
            db.table("pauses").insert(
                {
                    "id": pause_id,
                    "recording_id": recording_id,
                    "call_id": call_id,
                    "paused_by": paused_by,
                    "reason": reason,
                    "started_at": to_text(at),
                }
            )

    def close_pause(self, pause_id: str, resumed_by: str, at: dt.datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE pauses SET ended_at = ?, resumed_by = ? WHERE id = ? AND ended_at IS NULL",
                [to_text(at), resumed_by, pause_id],
            )

    def add_alert(self, call_id: str | None, kind: str, message: str, at: dt.datetime) -> None:
        with self.transaction() as db:
            db.table("alerts").insert(
                {"call_id": call_id, "at": to_text(at), "kind": kind, "message": message}
            )

    def make_private(
        self, call_id: str, agent_id: str | None, day: str, discarded: Collection[str] = ()
    ) -> None:
        """Forgets a call declared private and counts it (A2), in one transaction.

        Everything but its audio goes at once: decisions, consent events, pauses,
        alerts, payments, masked spans, the caller's HMAC, and the rows of recordings
        with no file to keep (``discarded``: the live one the call cancels). Audio that
        reached the vault, or is on its way (a row still ``live``), keeps its row, and
        the call a row marked ``private`` that no listing shows, until that audio is
        deleted through the crash-safe deletion (:mod:`controller.retention.unkept`),
        which then forgets the call (:meth:`forget_private_calls`). A call with no such
        audio goes here. The private count is what stays."""
        with self.transaction() as db:
            for table in _PRIVATE_CALL_ROWS:
                db.execute(f"DELETE FROM {table} WHERE call_id = ?", [call_id])  # noqa: S608
            # The sheet outlives its call, as when the call's metadata expires (T5).
            db.execute("UPDATE sheets SET call_id = NULL WHERE call_id = ?", [call_id])
            db.execute(
                "DELETE FROM recordings WHERE call_id = ? AND (id IN "  # noqa: S608
                f"{IDS_PARAMETER} OR state NOT IN {_AUDIO_STATES})",
                [call_id, ids_parameter(discarded)],
            )
            db.execute(
                "UPDATE calls SET private = 1, caller_hash = NULL, agent_id = NULL, "
                "outcome = NULL WHERE id = ?",
                [call_id],
            )
            _forget_private(db, call_id)
            self._count_private(db, agent_id, day)

    def forget_private_calls(self, call_id: str | None = None) -> int:
        """The calls declared private (A2) whose audio is gone: their rows go, so only
        the count stays. ``call_id``: that one; None: every one (a start, a sweep).
        A call whose audio is still there (under a legal hold, T6, or on its way)
        stays. Returns how many went."""
        with self.transaction() as db:
            return _forget_private(db, call_id)

    def count_private_call(self, agent_id: str | None, day: str) -> None:
        with self.transaction() as db:
            self._count_private(db, agent_id, day)

    @staticmethod
    def _count_private(db: Database, agent_id: str | None, day: str) -> None:
        db.execute(
            "INSERT INTO private_call_counts (agent_id, day, count) VALUES (?, ?, 1) "
            "ON CONFLICT (agent_id, day) DO UPDATE SET count = private_call_counts.count + 1",
            [agent_id or UNKNOWN_AGENT, day],
        )

    def private_call_counts(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM private_call_counts ORDER BY day, agent_id"))

    def record_payment(self, payment: PaymentRecord) -> None:
        with self.transaction() as db:
            db.table("payments").insert(
                {
                    "id": payment.payment_id,
                    "call_id": payment.call_id,
                    "started_at": to_text(payment.started_at),
                    "ended_at": to_text(payment.ended_at),
                    "amount": payment.amount,
                    "currency": payment.currency,
                    "order_reference": payment.order_reference,
                    "status": payment.status,
                    "provider_reference": payment.provider_reference,
                    "attempts": payment.attempts,
                    "detail": payment.detail,
                }
            )

    def close_interrupted_calls(
        self, at: dt.datetime, keep: Collection[str] = (), only: Collection[str] | None = None
    ) -> int:
        """Closes calls left open by a daemon that stopped mid-call, but those in
        ``keep`` (carried on by this one). ``only``: the calls the restarted daemon
        looked at; a call begun since (over FastAGI, while the restart was under way)
        is not one of them and stays open."""
        kept = set(keep)
        looked_at = None if only is None else set(only)
        with self.transaction() as db:
            open_ids = [
                r[0]
                for r in db.execute(
                    # A private call's row is only its audio's, until deleted (A2).
                    "SELECT id FROM calls WHERE ended_at IS NULL AND node = ? AND private = 0",
                    [self.node],
                )
            ]
            closing = [
                call_id
                for call_id in open_ids
                if call_id not in kept and (looked_at is None or call_id in looked_at)
            ]
            for call_id in closing:
                db.execute(
                    "UPDATE calls SET ended_at = ?, outcome = 'interrupted' "
                    "WHERE id = ? AND ended_at IS NULL",
                    [to_text(at), call_id],
                )
        if closing:
            self.figures.calls_ended["interrupted"] += len(closing)
        return len(closing)

    def open_calls(self) -> list[OpenCall]:
        """Calls a previous run left open, with what carrying them on needs."""
        return read_open_calls(self.db, self.node)

    def open_call(self, call_id: str, *, ended_too: bool = False) -> OpenCall | None:
        """The call, with what its next step needs, while it is open (``ended_too``: or
        closed already)."""
        return read_open_call(self.db, call_id, ended_too=ended_too)

    def sampling_audit(self) -> list[SamplingAudit]:
        """Per service and configured rate: calls decided, draws made, calls sampled (P3)."""
        rows = self.db.query(
            "SELECT c.service AS service, d.rate AS rate, COUNT(*) AS calls, "
            "SUM(d.draw IS NOT NULL) AS draws, "
            "SUM(d.draw IS NOT NULL AND d.record = 1) AS sampled "
            "FROM decisions d JOIN calls c ON c.id = d.call_id "
            "GROUP BY c.service, d.rate ORDER BY c.service, d.rate"
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

    def call_ids(self) -> list[str]:
        return [row["id"] for row in self.db.query("SELECT id FROM calls ORDER BY rowid")]

    def call_summary(self, call_id: str) -> dict[str, Any] | None:
        """The stored facts of one call, for operators and tests."""
        call = next(
            self.db.query("SELECT * FROM calls WHERE id = ? AND private = 0", [call_id]), None
        )
        if call is None:
            return None
        call["decision"] = next(
            self.db.query("SELECT * FROM decisions WHERE call_id = ?", [call_id]), None
        )
        call["consent_events"] = list(
            self.db.query("SELECT * FROM consent_events WHERE call_id = ? ORDER BY id", [call_id])
        )
        call["recordings"] = list(
            self.db.query(
                "SELECT * FROM recordings WHERE call_id = ? ORDER BY segment, created_at, rowid",
                [call_id],
            )
        )
        call["segment_decisions"] = list(
            self.db.query(
                "SELECT * FROM segment_decisions WHERE call_id = ? ORDER BY segment", [call_id]
            )
        )
        call["pauses"] = list(
            self.db.query("SELECT * FROM pauses WHERE call_id = ? ORDER BY started_at", [call_id])
        )
        call["alerts"] = list(
            self.db.query("SELECT * FROM alerts WHERE call_id = ? ORDER BY id", [call_id])
        )
        call["payments"] = list(
            self.db.query("SELECT * FROM payments WHERE call_id = ? ORDER BY started_at", [call_id])
        )
        call["masked_spans"] = list(
            self.db.query(
                "SELECT * FROM masked_spans WHERE call_id = ? ORDER BY started_at", [call_id]
            )
        )
        return call


# What of a private call goes with the key: everything that hangs off it but its audio
# and the legal holds on it (T6), which the deletion of that audio reads.
_PRIVATE_CALL_ROWS = (
    "decisions",
    "segment_decisions",
    "consent_events",
    "pauses",
    "alerts",
    "payments",
    "masked_spans",
)
# A recording row in these states has a file in the vault, or one on its way.
_AUDIO_STATES = "('live', 'stored', 'deleted')"


def _forget_private(db: Database, call_id: str | None) -> int:
    only = "AND id = ? " if call_id is not None else ""
    cursor = db.execute(
        f"DELETE FROM calls WHERE private = 1 {only}AND NOT EXISTS "  # noqa: S608
        "(SELECT 1 FROM recordings r WHERE r.call_id = calls.id "
        f"AND r.state IN {_AUDIO_STATES})",
        [call_id] if call_id is not None else [],
    )
    return max(cursor.rowcount, 0)


def _insert_decision(db: Database, decision: Decision) -> None:
    """Segment 1's decision is the call's; a later segment's (R3) goes beside it."""
    later = decision.segment > 1
    db.table("segment_decisions" if later else "decisions").insert(
        {
            **({"segment": decision.segment} if later else {}),
            "call_id": decision.call_id,
            "decided_at": to_text(decision.decided_at),
            "record": int(decision.record),
            "reason": decision.reason,
            "rate": decision.rate,
            "draw": decision.draw,
            "in_window": int(decision.in_window),
            "window": decision.window,
            "agent_id": decision.agent_id,
        }
    )
