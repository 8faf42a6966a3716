"""Every schema change, in order. The only place the schema is defined.

A migration runs once, inside a transaction, and is recorded in ``schema_migrations``.
Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[sqlite_utils.Database], None]


def _sql(script: str) -> Callable[[sqlite_utils.Database], None]:
    def apply(db: sqlite_utils.Database) -> None:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)

    return apply


CALL_FLOW = """
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    started_at TEXT NOT NULL,
    ended_at TEXT,
    agent_id TEXT,
    caller_hash TEXT,
    announcement_version TEXT,
    announcement_completed INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    recorded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX calls_service_started ON calls (service, started_at);
CREATE INDEX calls_caller_hash ON calls (caller_hash);

CREATE TABLE decisions (
    call_id TEXT PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    decided_at TEXT NOT NULL,
    record INTEGER NOT NULL,
    reason TEXT NOT NULL,
    rate REAL NOT NULL,
    draw REAL,
    in_window INTEGER NOT NULL,
    window TEXT NOT NULL,
    agent_id TEXT
);

CREATE TABLE consent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('opt_out', 'full_notice')),
    key TEXT NOT NULL,
    announcement_version TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('announcement', 'conversation'))
);
CREATE INDEX consent_events_call ON consent_events (call_id);

CREATE TABLE objections (
    caller_hash TEXT PRIMARY KEY,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    name TEXT NOT NULL UNIQUE,
    path TEXT,
    format TEXT NOT NULL,
    duration_seconds REAL,
    sha256 TEXT,
    purposes TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('live', 'stored', 'discarded', 'failed', 'deleted',
                                         'missing')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX recordings_call ON recordings (call_id);
CREATE INDEX recordings_expires ON recordings (state, expires_at)
"""

AGENT_CONTROLS = """
CREATE TABLE pauses (
    id TEXT PRIMARY KEY,
    recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    paused_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    resumed_by TEXT
);
CREATE INDEX pauses_recording ON pauses (recording_id);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT REFERENCES calls (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);

CREATE TABLE private_call_counts (
    agent_id TEXT NOT NULL,
    day TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (agent_id, day)
)
"""

PAYMENTS = """
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    order_reference TEXT NOT NULL,
    status TEXT NOT NULL,
    provider_reference TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX payments_call ON payments (call_id)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "call flow", _sql(CALL_FLOW)),
    Migration(2, "agent controls: pauses, alerts, private-call counts", _sql(AGENT_CONTROLS)),
    # Version 3 is the retention and audit schema.
    Migration(4, "payment outcomes, without card data", _sql(PAYMENTS)),
)
