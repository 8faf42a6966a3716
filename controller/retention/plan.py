"""Retention planning (T1-T3). Pure: rows and the time in, actions out; no I/O.

Three clocks, all in UTC:

- a recording expires at the earlier of the expiry stored when it was opened and its
  creation plus its service's current ``retention_days`` (so lowering a service's
  retention applies to recordings already kept, raising it never extends them);
- a summary sheet expires the same way against ``sheets.retention_days`` (<= 365);
- an access-log entry expires ``audit.retention_days`` (<= 365) after it was written;
- call metadata (a call, its decision, consent events, pauses, alerts, payment outcomes)
  expires ``privacy.call_metadata_days`` (<= 365) after the call started, once no
  recording of the call is left (T5);
- a day's count of an agent's private calls (A2) expires on the same clock, once the
  whole day, in the site's time zone, is older than ``privacy.call_metadata_days``;
- an objection expires at the earlier of the expiry stored when it was made and its
  last renewal plus the current ``privacy.objection_memory_days`` (C4, T5).

A legal hold on a call (T6) stops every clock of what belongs to the call: its
recordings, its summary sheets and its metadata stay while the hold stands. A recording
whose deletion had already started before the hold is finished all the same: its file
may be half gone, and the hold was placed knowing it (the DPO is told).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.config.model import MAX_CALL_METADATA_DAYS, Config
from controller.store.records import Condemned, RecordingRow, SheetRow


@dataclass(frozen=True)
class RetentionRules:
    service_days: Mapping[str, int]
    sheet_days: int
    log_days: int
    call_days: int = MAX_CALL_METADATA_DAYS
    objection_days: int = 365
    timezone: dt.tzinfo = dt.UTC
    """The site's, in which private-call counts are kept per day."""

    @classmethod
    def from_config(cls, config: Config) -> RetentionRules:
        return cls(
            service_days={name: s.retention_days for name, s in config.services.items()},
            sheet_days=config.sheets.retention_days,
            log_days=config.audit.retention_days,
            call_days=config.privacy.call_metadata_days,
            objection_days=config.privacy.objection_memory_days,
            timezone=config.timezone,
        )

    def call_cutoff(self, now: dt.datetime) -> dt.datetime:
        """Calls started before this have expired (T5)."""
        return now - dt.timedelta(days=self.call_days)

    def call_rule(self) -> str:
        return f"T5: privacy.call_metadata_days = {self.call_days}"

    def private_count_cutoff(self, now: dt.datetime) -> str:
        """Private-call counts of days before this one (YYYY-MM-DD, local) have expired:
        the last call a day's count may hold is older than the call clock (A2, T5)."""
        return self.call_cutoff(now).astimezone(self.timezone).date().isoformat()

    def private_count_rule(self) -> str:
        return f"A2, T5: privacy.call_metadata_days = {self.call_days}"

    def objection_cutoff(self, now: dt.datetime) -> dt.datetime:
        """Objections last renewed before this have expired (C4)."""
        return now - dt.timedelta(days=self.objection_days)

    def objection_rule(self) -> str:
        return f"C4: privacy.objection_memory_days = {self.objection_days}"

    def service_cutoffs(self, now: dt.datetime) -> dict[str, dt.datetime]:
        """Per service, recordings created before this have expired under its rule (the
        store's half of :func:`recording_expiry`, for reading only what has expired)."""
        return {name: now - dt.timedelta(days=days) for name, days in self.service_days.items()}

    def log_cutoff(self, now: dt.datetime) -> dt.datetime:
        """Access-log entries written before this have expired (T3)."""
        return now - dt.timedelta(days=self.log_days)


@dataclass(frozen=True)
class Expire:
    """Start deleting a recording that has expired under ``rule``."""

    row: RecordingRow
    rule: str


@dataclass(frozen=True)
class Finish:
    """Finish a deletion that an earlier run (or an erase) started."""

    row: RecordingRow


@dataclass(frozen=True)
class Held:
    """An expired recording kept under the legal hold ``reference`` (T6)."""

    row: RecordingRow
    rule: str
    reference: str


Action = Expire | Finish

__all__ = [
    "Action",
    "Condemned",
    "Expire",
    "Finish",
    "Held",
    "RecordingRow",
    "RetentionRules",
    "SheetRow",
    "held_recordings",
    "held_sheets",
    "plan_recordings",
    "plan_sheets",
    "recording_expiry",
    "sheet_expiry",
]


def recording_expiry(row: RecordingRow, rules: RetentionRules) -> tuple[dt.datetime, str]:
    """When the recording expires, and the rule that says so."""
    days = rules.service_days.get(row.service)
    if days is not None:
        by_service = row.created_at + dt.timedelta(days=days)
        if by_service <= row.expires_at:
            return by_service, f"T1: services.{row.service}.retention_days = {days}"
    kept = (row.expires_at - row.created_at).days
    return row.expires_at, f"T1: expiry set when recorded ({kept} days, service {row.service})"


def plan_recordings(
    now: dt.datetime, rows: Iterable[RecordingRow], rules: RetentionRules
) -> list[Action]:
    """Deletions in progress first, then expired recordings, oldest first."""
    finishing: list[Action] = []
    expiring: list[tuple[dt.datetime, Action]] = []
    for row in rows:
        if row.state == "deleted":
            finishing.append(Finish(row))
            continue
        expiry, rule = recording_expiry(row, rules)
        if expiry <= now and row.hold is None:
            expiring.append((expiry, Expire(row, rule)))
    expiring.sort(key=lambda item: (item[0], item[1].row.id))
    return finishing + [action for _, action in expiring]


def held_recordings(
    now: dt.datetime, rows: Iterable[RecordingRow], rules: RetentionRules
) -> list[Held]:
    """Expired recordings the purge keeps because a legal hold stands on their call."""
    held = []
    for row in rows:
        if row.state == "deleted" or row.hold is None:
            continue
        expiry, rule = recording_expiry(row, rules)
        if expiry <= now:
            held.append(Held(row, rule, row.hold))
    return held


def sheet_expiry(row: SheetRow, rules: RetentionRules) -> tuple[dt.datetime, str]:
    by_rule = row.created_at + dt.timedelta(days=rules.sheet_days)
    if by_rule <= row.expires_at:
        return by_rule, f"T2: sheets.retention_days = {rules.sheet_days}"
    kept = (row.expires_at - row.created_at).days
    return row.expires_at, f"T2: expiry set when written ({kept} days)"


def plan_sheets(
    now: dt.datetime, rows: Iterable[SheetRow], rules: RetentionRules
) -> list[tuple[str, str]]:
    """(sheet id, rule) for every expired sheet not under a legal hold."""
    expired = []
    for row in rows:
        expiry, rule = sheet_expiry(row, rules)
        if expiry <= now and row.hold is None:
            expired.append((row.id, rule))
    return expired


def held_sheets(now: dt.datetime, rows: Iterable[SheetRow], rules: RetentionRules) -> list[str]:
    """Expired sheets kept because a legal hold stands on their call (T6)."""
    return [row.id for row in rows if row.hold is not None and sheet_expiry(row, rules)[0] <= now]
