"""Domain records the store reads and writes, and the call machines return in their
commands. No SQL here, and nothing that loads it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

UNKNOWN_AGENT = "unknown"
"""Whom a private call is counted for when Asterisk named no configured agent (A2)."""


class Unkept(StrEnum):
    """Why no audio of a call may be kept, whenever it reached the vault: each reason
    has its rule in :mod:`controller.retention.unkept`."""

    OBJECTED = "objected"
    """The caller objected (C2)."""
    PRIVATE = "private"
    """The agent declared the call private (A2)."""


@dataclass(frozen=True)
class CallStart:
    call_id: str
    service: str
    direction: str
    started_at: dt.datetime
    caller_hash: str | None
    channel_id: str | None = None
    """The channel the call came in on: the caller's (inbound) or the agent's
    (outbound). A restarted controller finds the call in Asterisk by it."""
    path: str = "ari"
    """How the call reached the daemon: ``ari`` (``Stasis()``) or ``agi`` (FastAGI)."""


@dataclass(frozen=True)
class Decision:
    """Why a call was or was not recorded, with every input (P3)."""

    call_id: str
    decided_at: dt.datetime
    record: bool
    reason: str
    rate: float
    draw: float | None
    in_window: bool
    window: str
    agent_id: str | None
    segment: int = 1
    """Which part of a transferred call it decides (R3): 1 until the first transfer."""


@dataclass(frozen=True)
class ConsentEvent:
    call_id: str
    at: dt.datetime
    kind: str
    """``opt_out``, ``full_notice`` or ``notice_given`` (the agent's key, C6)."""
    key: str
    announcement_version: str
    phase: str
    """``announcement`` or ``conversation``: when the key was pressed."""


@dataclass(frozen=True)
class SamplingAudit:
    """Configured against achieved sampling rate for one service (P3)."""

    service: str
    configured_rate: float
    calls: int
    """Calls that reached a decision."""
    draws: int
    """Calls that could be recorded, so the random draw was made."""
    sampled: int

    @property
    def achieved_rate(self) -> float:
        return self.sampled / self.draws if self.draws else 0.0


@dataclass(frozen=True)
class PaymentRecord:
    """The outcome of one pass through the payment IVR. Never any card data."""

    payment_id: str
    call_id: str
    started_at: dt.datetime
    ended_at: dt.datetime
    amount: str
    currency: str
    order_reference: str
    status: str
    provider_reference: str
    attempts: int
    detail: str


# -- a recording's life after the call (T1, T2, T4) ------------------------------------
@dataclass(frozen=True)
class Condemned:
    """A recording whose deletion has started: its file may or may not be gone yet."""

    rule: str
    actor: str
    role: str
    purpose: str
    file_present: bool
    condemned_at: dt.datetime


@dataclass(frozen=True)
class RecordingRow:
    id: str
    call_id: str
    service: str
    name: str
    format: str
    path: str | None
    state: str
    sha256: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    condemned: Condemned | None = None
    hold: str | None = None
    """The reference of the legal hold standing on the recording's call (T6), if any."""
    segment: int = 1
    """The part of its call it holds: one more after each transfer (R3)."""
    agent_id: str | None = None
    """The agent of that part, as identified (A7)."""


@dataclass(frozen=True)
class SheetRow:
    id: str
    created_at: dt.datetime
    expires_at: dt.datetime
    hold: str | None = None
    """The reference of the legal hold standing on the sheet's call (T6), if any."""


@dataclass(frozen=True)
class LiveRecordingRow:
    """A recording row still ``live``, with its open pause if any."""

    recording_id: str
    name: str
    format: str
    purposes: tuple[str, ...]
    pause_id: str | None
    pause_reason: str | None
    pause_started: dt.datetime | None = None


@dataclass(frozen=True)
class OpenCall:
    """A call a previous run left open (R1): what the store knows of it, for a
    restarted controller to carry it on or end it safely."""

    call_id: str
    service: str
    direction: str
    channel_id: str | None
    caller_hash: str | None
    announcement_completed: bool
    objected: bool
    notice_given: bool
    decision: Decision | None
    has_recordings: bool
    """Any recording row at all, live or settled."""
    recording: LiveRecordingRow | None
    """The newest live recording; older ones of the call are settled already or left to
    the orphan sweep."""
    path: str = "ari"
    """``ari`` or ``agi`` (see :class:`CallStart`)."""
    segment: int = 1
    """The call's latest segment (R3): 1 until a transfer; its decision is ``decision``."""
