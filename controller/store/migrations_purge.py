"""Versions 18 to 21 of the schema: what a purge of a million recordings reads, writes
and deletes without scanning (T4), and what the deletion of a call's audio that may not
be kept (C2, A2) looks for. Listed in :data:`controller.store.migrations.MIGRATIONS`.

- the purge reads a node's recordings a page at a time, in the order they were made
  (:mod:`controller.store.purge_pages`): an index in that order, so a page costs its own
  rows, not a sort of every candidate;
- deleting a recording sets ``masked_spans.recording_id`` to NULL (its foreign key): an
  index on it, so each deletion does not read the whole table;
- version 19: which deletion receipt names a recording (:data:`RECEIPT_INDEX`).
"""

from __future__ import annotations

from controller.store.migration_steps import statements

PURGE_LOOKUPS = statements(
    "CREATE INDEX recordings_by_node_created ON recordings (node, created_at, id)",
    "CREATE INDEX masked_spans_recording ON masked_spans (recording_id)",
)

# Version 19: a deletion receipt names a whole batch of recordings (T4,
# controller/audit/receipts.py). Which receipt names a recording is kept here, written in
# the transaction that writes the receipt, so "when was recording X deleted, and with
# which hash?" is one lookup, not a search of the log; the rows go with the entries when
# the access log is cut (T3), hence the index on ``seq``.
RECEIPT_INDEX = statements(
    "CREATE TABLE deletion_receipts (recording_id TEXT NOT NULL, seq INTEGER NOT NULL, "
    "PRIMARY KEY (recording_id, seq))",
    "CREATE INDEX deletion_receipts_seq ON deletion_receipts (seq)",
)

# Version 20: the calls whose caller objected (C2). At each start and each sweep round the
# daemon looks for audio of such calls left in the vault (controller/retention/objection.py);
# the ledger holds every call's consent events, so the objections alone are indexed, and
# that look reads them, not the ledger.
OBJECTIONS_INDEX = statements(
    "CREATE INDEX consent_events_opt_out ON consent_events (call_id) WHERE kind = 'opt_out'",
)

# Version 21: a call declared private (A2) whose audio had reached the vault (an earlier
# segment, an on-demand recording that ended, a file on its way) keeps its row, marked
# ``private``, until that audio is deleted through the crash-safe deletion: the rows are
# what lets a daemon killed half-way find the files and finish (controller/retention/
# unkept.py). Listings never show such a call; once its audio is gone, its row goes. The
# index holds the few calls in that state, not every call.
PRIVATE_CALLS = statements(
    "ALTER TABLE calls ADD COLUMN private INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX calls_private ON calls (id) WHERE private = 1",
)
