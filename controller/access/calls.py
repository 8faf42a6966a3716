"""Calls through the gate (S1, S2, P3): the listing a supervisor or a quality analyst
searches, one call's page, and the sampling report; for the DPO, the access log and its
deletion receipts. Each answer, and each refusal, is one access-log entry.

What leaves here never holds a caller number: the store keeps only the caller's HMAC,
and a call shows its short form (:func:`caller_tag`), enough to see that two calls came
from one caller, never to find the number back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.access.call_filters import (
    FilterError,
    PageRequest,
    check_call_filters,
    check_report_range,
    cursor_text,
    day_start,
    described,
)
from controller.access.errors import AccessRefused
from controller.access.gate import Gate, clean_id
from controller.access.segments import HIDDEN_RECORDINGS, decision_view, segment_of, segments_of
from controller.audit.chain import Entry
from controller.config.governance_model import ALL_SERVICES
from controller.config.model import Config, Person
from controller.logs import mask_digits
from controller.retention.plan import RetentionRules, recording_expiry, sheet_expiry
from controller.store.call_views import CallFilters, LogFilters
from controller.store.inspection import DELETION_ACTIONS
from controller.store.records import RecordingRow, SheetRow
from controller.store.sqlite import SqliteStore
from controller.store.timestamps import from_text, to_text

CALLER_TAG_LENGTH = 10
NO_SUCH_CALL = "no such call"


def caller_tag(caller_hash: str | None) -> str | None:
    """The short form of the caller's HMAC: hex, so never a number."""
    return None if not caller_hash else caller_hash[:CALLER_TAG_LENGTH]


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round(
        (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds(), 3
    )


def listing_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One call of a listing, as the console and the API show it."""
    decision = None
    if row["reason"] is not None:
        decision = {"record": bool(row["record"]), "reason": row["reason"]}
    return {
        "id": row["id"],
        "service": row["service"],
        "direction": row["direction"],
        "started_at": row["started_at"],
        "duration_seconds": seconds_between(row["started_at"], row["ended_at"]),
        "agent": row["agent_id"],
        "decision": decision,
        "recordings": sorted((row["recording_ids"] or "").split(","))
        if row["recording_ids"]
        else [],
        "pauses": int(row["pauses"]),
        "payment": row["payment"],
        "caller": caller_tag(row["caller_hash"]),
    }


def view_of(
    call: Mapping[str, Any],
    sheets: list[dict[str, Any]],
    metadata_days: int,
    hold: Any,
    segments: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Everything the call's page shows, from the store's summary of the call and its
    segments as the store reads them (R3)."""
    decision = call["decision"]
    started = dt.datetime.fromisoformat(call["started_at"])
    return {
        "id": call["id"],
        "service": call["service"],
        "direction": call["direction"],
        "path": call.get("path", "ari"),
        "started_at": call["started_at"],
        "ended_at": call["ended_at"],
        "duration_seconds": seconds_between(call["started_at"], call["ended_at"]),
        "outcome": call["outcome"],
        "agent": call["agent_id"] or (decision["agent_id"] if decision else None),
        "caller": caller_tag(call["caller_hash"]),
        "announcement": {
            "version": call["announcement_version"],
            "completed": bool(call["announcement_completed"]),
        },
        "decision": decision_view(decision),
        "consent_events": [
            {k: e[k] for k in ("at", "kind", "key", "phase", "announcement_version")}
            for e in call["consent_events"]
        ],
        "pauses": [
            {
                "id": p["id"],
                "recording_id": p["recording_id"],
                "started_at": p["started_at"],
                "ended_at": p["ended_at"],
                "paused_by": p["paused_by"],
                "resumed_by": p["resumed_by"],
                "reason": mask_digits(p["reason"]),
            }
            for p in call["pauses"]
        ],
        "payments": [
            {k: y[k] for k in ("started_at", "ended_at", "status", "attempts")}
            for y in call["payments"]
        ],
        "recordings": [
            {
                "id": r["id"],
                "state": r["state"],
                "format": r["format"],
                "duration_seconds": r["duration_seconds"],
                "created_at": r["created_at"],
                "expires_at": r["expires_at"],
                "listenable": r["state"] == "stored",
                "segment": segment_of(r),
                "agent": r.get("agent_id"),
            }
            for r in sorted(call["recordings"], key=lambda r: (r["created_at"], r["id"]))
            if r["state"] not in HIDDEN_RECORDINGS
        ],
        # A transferred call is one call in segments, one per agent who answered (R3).
        "segments": segments_of(call, segments),
        "sheets": [
            {
                "id": s["id"],
                "evaluator": s["evaluator_id"],
                "created_at": s["created_at"],
                "updated_at": s["updated_at"],
                "expires_at": s["expires_at"],
            }
            for s in sheets
        ],
        # The call's row goes this long after it started, once no recording of it is
        # left and no legal hold stands (T5, T6).
        "metadata_expires_at": (started + dt.timedelta(days=metadata_days)).isoformat(),
        "hold": None
        if hold is None
        else {"reference": hold.reference, "review_by": hold.review_by.isoformat()},
    }


def with_deadlines(view: dict[str, Any], service: str, rules: RetentionRules) -> None:
    """Each recording's and sheet's deadline as the purge applies it (T1, T2): the
    earlier of the date set when it was written and what the configuration says now,
    with the rule that sets it."""
    for rec in view["recordings"]:
        row = RecordingRow(
            rec["id"], view["id"], service, "", rec["format"], None, rec["state"], None,
            from_text(rec["created_at"]), from_text(rec["expires_at"]),
        )  # fmt: skip
        expiry, rule = recording_expiry(row, rules)
        rec["expires_at"], rec["retention_rule"] = to_text(expiry), rule
    for sheet in view["sheets"]:
        expiry, rule = sheet_expiry(
            SheetRow(sheet["id"], from_text(sheet["created_at"]), from_text(sheet["expires_at"])),
            rules,
        )
        sheet["expires_at"], sheet["retention_rule"] = to_text(expiry), rule


def entry_view(entry: Entry) -> dict[str, Any]:
    """An access-log entry as the DPO reads it (the hashes are for ``audit verify``)."""
    return {key: value for key, value in entry.content().items() if key != "prev_hash"}


@dataclass(frozen=True)
class CallPage:
    calls: list[dict[str, Any]]
    total: int
    next: str | None
    """The cursor of the next page (``after=``), or None on the last page."""
    total_capped: bool = False
    """More calls pass the filters than ``total``, which is the count's cap."""

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "total": self.total,
            "total_capped": self.total_capped,
            "next": self.next,
        }


@dataclass(frozen=True)
class LogPage:
    entries: list[dict[str, Any]]
    next: int | None
    """The ``before=`` of the next page, or None on the last page."""

    def to_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "next": self.next}


class CallAccess:
    def __init__(self, gate: Gate, store: SqliteStore, config: Config) -> None:
        self._gate = gate
        self._store = store
        self._config = config

    def _bad(
        self, person: Person, action: str, target: str, stated: str, exc: FilterError
    ) -> AccessRefused:
        return self._gate.refuse(person, action, target, stated, str(exc), error_id=exc.error_id)

    def calls_list(
        self, person: Person, purpose: str, filters: CallFilters, page: PageRequest
    ) -> CallPage:
        stated = self._gate.check(person, "list", "calls", purpose)
        try:
            check_call_filters(filters)
        except FilterError as exc:
            raise self._bad(person, "list", "calls", stated, exc) from None
        if filters.service is not None:
            self._gate.scope(person, "list", "calls", stated, filters.service)
        scope = None if ALL_SERVICES in person.services else list(person.services)
        listing = self._store.call_listing(scope, filters, page.after, page.size)
        rows = [listing_row(row) for row in listing.rows]
        details: dict[str, Any] = {
            "filters": described(filters),
            "rows": len(rows),
            "total": listing.total,
        }
        if listing.total_capped:
            details["total_capped"] = True
        self._gate.log(person, "list", "calls", stated, "ok", details)
        return CallPage(rows, listing.total, cursor_text(listing.next), listing.total_capped)

    def call_view(self, person: Person, purpose: str, call_id: str) -> dict[str, Any]:
        """One call, or the same refusal (``not-found``) whether it does not exist or is
        outside the person's services: its existence is not told."""
        target = f"call:{clean_id(call_id)}"
        stated = self._gate.check(person, "view", target, purpose)
        call = self._store.call_summary(call_id)
        if call is None:
            raise self._gate.missing(person, "view", target, stated, NO_SUCH_CALL)
        self._gate.scope(person, "view", target, stated, str(call["service"]), hide_as=NO_SUCH_CALL)
        view = view_of(
            call,
            self._store.call_sheets(call_id),
            self._config.privacy.call_metadata_days,
            self._store.standing_hold(call_id),
            self._store.call_segments(call_id),
        )
        with_deadlines(view, str(call["service"]), RetentionRules.from_config(self._config))
        self._gate.log(person, "view", target, stated, "ok", {"service": call["service"]})
        return view

    def sampling_report(
        self, person: Person, purpose: str, first: dt.date, last: dt.date
    ) -> list[dict[str, Any]]:
        """Per service the person sees, per day from ``first`` to ``last`` (both
        included, days of the site's time zone): the configured rate, the calls
        decided, those eligible (a draw was made), those the draw recorded, and the rate
        achieved (P3). The configured rate of a day is the mean of the rates its draws
        were made at (the rate in force, even on a day the configuration changed), or
        the configured one when no draw was made."""
        stated = self._gate.check(person, "report", "sampling", purpose)
        try:
            check_report_range(first, last)
        except FilterError as exc:
            raise self._bad(person, "report", "sampling", stated, exc) from None
        tz = self._config.timezone
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        bounds = [
            (d.isoformat(), day_start(d, tz), day_start(d + dt.timedelta(days=1), tz)) for d in days
        ]
        services = sorted(name for name in self._config.services if person.sees(name))
        counted = {
            (row["service"], row["day"]): row
            for row in self._store.sampling_by_day(services, bounds)
        }
        report = [
            {
                "service": name,
                "days": [
                    day_row(
                        d.isoformat(),
                        counted.get((name, d.isoformat())),
                        self._config.services[name].sampling_rate,
                    )
                    for d in days
                ],
            }
            for name in services
        ]
        details = {"from": first.isoformat(), "to": last.isoformat(), "services": services}
        self._gate.log(person, "report", "sampling", stated, "ok", details)
        return report

    def access_log_page(
        self, person: Person, purpose: str, filters: LogFilters, before: int | None, size: int
    ) -> LogPage:
        """The access log, newest first (S2, S3): what each person did, and what was
        refused. Reading it is itself logged."""
        return self._log_page(person, purpose, "access_log", filters, before, size)

    def purge_receipts(
        self, person: Person, purpose: str, before: int | None, size: int
    ) -> LogPage:
        """The receipts of every deletion, newest first: the purge's, the sweep's, and
        those asked by a person or a data subject (T4, T5, C5)."""
        return self._log_page(
            person, purpose, "receipts", LogFilters(actions=DELETION_ACTIONS), before, size
        )

    def deletion_receipt(
        self, person: Person, purpose: str, *, seq: int | None, recording_id: str | None
    ) -> LogPage:
        """One recording deletion's receipt in full (T4): the one numbered ``seq``, or
        the one naming ``recording_id`` ("when was this recording deleted, under which
        rule, with which hash?"). Empty when there is none. Reading it is logged."""
        stated = self._gate.check(person, "audit_read", "receipts", purpose)
        if recording_id is not None:
            entry = self._store.receipt_of(recording_id)
        else:
            entry = self._store.deletion_receipt(seq) if seq is not None else None
        asked = {
            k: mask_digits(str(v))
            for k, v in (("seq", seq), ("recording_id", recording_id))
            if v is not None
        }
        details = {"filters": asked, "entries": int(entry is not None)}
        self._gate.log(person, "audit_read", "receipts", stated, "ok", details)
        return LogPage([entry_view(entry)] if entry is not None else [], None)

    def _log_page(
        self,
        person: Person,
        purpose: str,
        target: str,
        filters: LogFilters,
        before: int | None,
        size: int,
    ) -> LogPage:
        stated = self._gate.check(person, "audit_read", target, purpose)
        entries, after = self._store.access_log_page(filters, before, size)
        asked = {
            k: mask_digits(str(v))
            for k, v in (
                ("actor", filters.actor),
                ("action", filters.action),
                ("target", filters.target_prefix),
                ("result", filters.result),
            )
            if v is not None
        }
        details = {"filters": asked, "entries": len(entries)}
        self._gate.log(person, "audit_read", target, stated, "ok", details)
        return LogPage([entry_view(e) for e in entries], after)


def day_row(day: str, counted: Mapping[str, Any] | None, configured: float) -> dict[str, Any]:
    """One day of a service in the sampling report."""
    calls = int(counted["calls"]) if counted else 0
    eligible = int(counted["eligible"] or 0) if counted else 0
    recorded = int(counted["recorded"] or 0) if counted else 0
    rate = float(counted["rate_sum"]) / eligible if counted and eligible else configured
    return {
        "day": day,
        "configured_rate": round(rate, 4),
        "calls": calls,
        "eligible": eligible,
        "recorded": recorded,
        "achieved_rate": round(recorded / eligible, 4) if eligible else None,
    }
