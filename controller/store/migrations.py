"""Every schema change, in order. The only place the schema is defined.

A migration runs once, inside a transaction, and is recorded in ``schema_migrations``.
Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

from controller.store.masked_spans import create_masked_spans
from controller.store.migration import Migration as Migration
from controller.store.migration_steps import sql as _sql
from controller.store.migration_steps import statements as _statements
from controller.store.migrations_nodes import NODES
from controller.store.migrations_purge import (
    OBJECTIONS_INDEX,
    PRIVATE_CALLS,
    PURGE_LOOKUPS,
    RECEIPT_INDEX,
)

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


# Version 3: summary sheets (T2), the hash-chained access log and its checkpoints (S3, T3),
# and the journal that makes deleting a recording safe to interrupt (T4).
RETENTION_AND_AUDIT = _statements(
    """
    CREATE TABLE access_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        purpose TEXT NOT NULL,
        result TEXT NOT NULL CHECK (result IN ('ok', 'refused', 'error')),
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    )
    """,
    "CREATE INDEX access_log_at ON access_log (at)",
    # The head written with every append: catches entries cut from the end.
    """
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )
    """,
    "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')",
    """
    CREATE TABLE audit_checkpoints (
        number INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        through_seq INTEGER NOT NULL,
        through_hash TEXT NOT NULL,
        entries_cut INTEGER NOT NULL,
        prev_digest TEXT NOT NULL,
        algorithm TEXT NOT NULL CHECK (algorithm IN ('sha256', 'hmac-sha256')),
        digest TEXT NOT NULL
    )
    """,
    # Append-only: entries are never updated, and only entries a checkpoint covers may be
    # deleted. This guards against mistakes; tampering is caught by `audit verify`.
    """
    CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
    BEGIN
        SELECT RAISE(ABORT, 'the access log is append-only');
    END
    """,
    """
    CREATE TRIGGER access_log_delete_only_checkpointed BEFORE DELETE ON access_log
    WHEN OLD.seq > (SELECT COALESCE(MAX(through_seq), 0) FROM audit_checkpoints)
    BEGIN
        SELECT RAISE(ABORT, 'access-log entries are deleted only behind a checkpoint');
    END
    """,
    """
    CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    BEGIN
        SELECT RAISE(ABORT, 'checkpoints are append-only');
    END
    """,
    """
    CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    BEGIN
        SELECT RAISE(ABORT, 'checkpoints are append-only');
    END
    """,
    # A recording whose deletion has started (state 'deleted'): why, by whom, and whether
    # its file was there. The row goes, with this entry, once the file is gone and the
    # receipt is written.
    """
    CREATE TABLE recording_deletions (
        recording_id TEXT PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
        condemned_at TEXT NOT NULL,
        rule TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        purpose TEXT NOT NULL,
        file_present INTEGER NOT NULL,
        previous_state TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE sheets (
        id TEXT PRIMARY KEY,
        call_id TEXT REFERENCES calls (id) ON DELETE SET NULL,
        recording_id TEXT REFERENCES recordings (id) ON DELETE SET NULL,
        service TEXT NOT NULL,
        employee_id TEXT NOT NULL,
        employee_name TEXT NOT NULL,
        evaluator_id TEXT NOT NULL,
        evaluator_name TEXT NOT NULL,
        call_started_at TEXT NOT NULL,
        call_duration_seconds REAL,
        scores TEXT NOT NULL,
        free_text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1
    )
    """,
    "CREATE INDEX sheets_call ON sheets (call_id)",
    "CREATE INDEX sheets_recording ON sheets (recording_id)",
    "CREATE INDEX sheets_expires ON sheets (expires_at)",
    "CREATE INDEX recordings_created ON recordings (created_at)",
)


# Version 5: the keyed chain (S3). Entries carry an HMAC with the audit key; the key
# start, written once when the key is first used, says from which entry, and binds the
# head and the checkpoints that existed before it.
KEYED_AUDIT = _statements(
    "ALTER TABLE access_log ADD COLUMN mac TEXT",
    """
    CREATE TABLE audit_key_start (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at TEXT NOT NULL,
        from_seq INTEGER NOT NULL,
        head_hash TEXT NOT NULL,
        checkpoints INTEGER NOT NULL,
        checkpoint_digest TEXT NOT NULL,
        mac TEXT NOT NULL
    )
    """,
    """
    CREATE TRIGGER audit_key_start_no_update BEFORE UPDATE ON audit_key_start
    BEGIN
        SELECT RAISE(ABORT, 'the key start is written once');
    END
    """,
    """
    CREATE TRIGGER audit_key_start_no_delete BEFORE DELETE ON audit_key_start
    BEGIN
        SELECT RAISE(ABORT, 'the key start is written once');
    END
    """,
)


# Version 6: on outbound calls announced by the agent, the agent's "notice given" key is
# stored with the call's consent events (C6). SQLite cannot change a CHECK in place.
NOTICE_BY_AGENT = _statements(
    """
    CREATE TABLE consent_events_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('opt_out', 'full_notice', 'notice_given')),
        key TEXT NOT NULL,
        announcement_version TEXT NOT NULL,
        phase TEXT NOT NULL CHECK (phase IN ('announcement', 'conversation'))
    )
    """,
    "INSERT INTO consent_events_new SELECT id, call_id, at, kind, key, "
    "announcement_version, phase FROM consent_events",
    "DROP TABLE consent_events",
    "ALTER TABLE consent_events_new RENAME TO consent_events",
    "CREATE INDEX consent_events_call ON consent_events (call_id)",
)


# Version 7: what a restarted controller needs to carry a call on (R1): the channel the
# call came in on. ``announcement_completed`` is now written as soon as it is known.
CALL_CHANNEL = _statements("ALTER TABLE calls ADD COLUMN channel_id TEXT")


# Version 9: agents' rights (S9). A rectification note is the agent's word on a summary
# sheet, kept with it for its life: the cascade deletes the notes with their sheet, in
# the purge's or an erasure's own transaction. Agents' requests look calls and sheets up
# by agent.
AGENT_RIGHTS = _statements(
    """
    CREATE TABLE sheet_rectifications (
        id TEXT PRIMARY KEY,
        sheet_id TEXT NOT NULL REFERENCES sheets (id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        author TEXT NOT NULL CHECK (author IN ('agent', 'dpo')),
        entered_by TEXT NOT NULL,
        entered_by_name TEXT NOT NULL,
        entered_by_role TEXT NOT NULL,
        purpose TEXT NOT NULL,
        note TEXT NOT NULL
    )
    """,
    "CREATE INDEX sheet_rectifications_sheet ON sheet_rectifications (sheet_id, at)",
    "CREATE INDEX calls_agent ON calls (agent_id)",
    "CREATE INDEX decisions_agent ON decisions (agent_id)",
    "CREATE INDEX sheets_employee ON sheets (employee_id)",
)


# Version 10: legal holds (T6). A hold keeps a call's recordings, metadata and sheets past
# their expiry while a dispute runs. A released hold stays as a row (who released it,
# when) until the call's metadata goes; the access log keeps every step for longer.
# At most one hold stands on a call at a time.
LEGAL_HOLDS = _statements(
    """
    CREATE TABLE legal_holds (
        id TEXT PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        reason TEXT NOT NULL,
        reference TEXT NOT NULL,
        purpose TEXT NOT NULL,
        placed_by TEXT NOT NULL,
        placed_at TEXT NOT NULL,
        review_by TEXT NOT NULL,
        reviewed_at TEXT,
        released_by TEXT,
        released_at TEXT
    )
    """,
    "CREATE UNIQUE INDEX legal_holds_standing ON legal_holds (call_id) WHERE released_at IS NULL",
)


# Version 11: the configurations in force (D3). The daemon records each configuration it
# loads: its canonical text once, keyed by its SHA-256, and every load with its time, so
# an inspection can see which rules applied when.
CONFIG_HISTORY = _statements(
    """
    CREATE TABLE config_texts (
        sha256 TEXT PRIMARY KEY,
        yaml TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE config_loads (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        loaded_at TEXT NOT NULL,
        sha256 TEXT NOT NULL REFERENCES config_texts (sha256)
    )
    """,
    "CREATE INDEX config_loads_at ON config_loads (loaded_at)",
)


# Version 12: how each call reached the daemon, ARI (Stasis) or FastAGI; every call
# before this version came over ARI.
CALL_PATH = _statements(
    "ALTER TABLE calls ADD COLUMN path TEXT NOT NULL DEFAULT 'ari' CHECK (path IN ('ari', 'agi'))"
)


# Version 13: what the console's listings filter and sort on (S1, S2): calls newest first
# across services, pauses counted per call, the access log by actor or action.
CONSOLE_LOOKUPS = _statements(
    "CREATE INDEX calls_started ON calls (started_at, id)",
    "CREATE INDEX pauses_call ON pauses (call_id)",
    "CREATE INDEX access_log_actor ON access_log (actor, seq)",
    "CREATE INDEX access_log_action ON access_log (action, seq)",
)


# Version 14: transfers (R3). A call transferred from one agent to another is one call in
# segments: each recording row says which segment of its call it holds and whose agent
# it recorded; segment 1's decision stays in ``decisions`` (the sampling audit counts
# calls there), each later segment's decision, taken again for the agent who answered,
# is kept with its inputs in ``segment_decisions`` (P3).
SEGMENTS = _statements(
    "ALTER TABLE recordings ADD COLUMN segment INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE recordings ADD COLUMN agent_id TEXT",
    """
    CREATE TABLE segment_decisions (
        call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        segment INTEGER NOT NULL CHECK (segment > 1),
        decided_at TEXT NOT NULL,
        record INTEGER NOT NULL,
        reason TEXT NOT NULL,
        rate REAL NOT NULL,
        draw REAL,
        in_window INTEGER NOT NULL,
        window TEXT NOT NULL,
        agent_id TEXT,
        PRIMARY KEY (call_id, segment)
    )
    """,
    "CREATE INDEX segment_decisions_agent ON segment_decisions (agent_id)",
)


# Version 15: redaction (S11). A row per redaction under way, from before the new version
# is written until the old one is shredded: what a killed redaction left to finish (see
# controller/retention/redaction.py). Its history is in the access log, not here.
REDACTION_JOURNAL = _statements(
    "CREATE TABLE redactions_pending (id TEXT PRIMARY KEY, recording_id TEXT NOT NULL UNIQUE, "
    "name TEXT NOT NULL, step TEXT NOT NULL CHECK (step IN ('writing', 'switched')), "
    "old_path TEXT NOT NULL, old_sha256 TEXT, old_sealed INTEGER NOT NULL, new_path TEXT, "
    "new_sha256 TEXT, "
    "span TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL, purpose TEXT NOT NULL, "
    "started_at TEXT NOT NULL)"
)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "call flow", _sql(CALL_FLOW)),
    Migration(2, "agent controls: pauses, alerts, private-call counts", _sql(AGENT_CONTROLS)),
    Migration(3, "retention, summary sheets and access log", RETENTION_AND_AUDIT),
    Migration(4, "payment outcomes, without card data", _sql(PAYMENTS)),
    Migration(5, "keyed access-log chain", KEYED_AUDIT),
    Migration(6, "consent events: the agent's notice on outbound calls", NOTICE_BY_AGENT),
    Migration(7, "calls: the channel a restarted controller finds them by", CALL_CHANNEL),
    Migration(9, "agents' rights: sheet rectification notes, lookups by agent", AGENT_RIGHTS),
    Migration(10, "legal holds", LEGAL_HOLDS),
    Migration(11, "the configurations the daemon loaded", CONFIG_HISTORY),
    Migration(12, "calls: the path they came by, ARI or FastAGI", CALL_PATH),
    Migration(13, "console lookups: calls by start, pauses by call", CONSOLE_LOOKUPS),
    Migration(14, "transfers: recordings in segments, a decision per segment", SEGMENTS),
    Migration(15, "redaction: the journal of a redaction under way", REDACTION_JOURNAL),
    Migration(16, "assisted payments: where the caller keyed a card", create_masked_spans),
    Migration(17, "several nodes: the node of each call and recording", NODES),
    Migration(18, "purge lookups: recordings by node and age, spans by recording", PURGE_LOOKUPS),
    Migration(19, "deletion receipts: the receipt naming each deleted recording", RECEIPT_INDEX),
    Migration(20, "objections: the calls whose caller objected", OBJECTIONS_INDEX),
    Migration(21, "private calls: kept until their audio is deleted", PRIVATE_CALLS),
)
