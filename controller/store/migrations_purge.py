"""Version 18 of the schema: what a purge of a million recordings reads and deletes
without scanning (T4). Listed in :data:`controller.store.migrations.MIGRATIONS`.

- the purge reads a node's recordings a page at a time, in the order they were made
  (:mod:`controller.store.purge_pages`): an index in that order, so a page costs its own
  rows, not a sort of every candidate;
- deleting a recording sets ``masked_spans.recording_id`` to NULL (its foreign key): an
  index on it, so each deletion does not read the whole table.
"""

from __future__ import annotations

from controller.store.migration_steps import statements

PURGE_LOOKUPS = statements(
    "CREATE INDEX recordings_by_node_created ON recordings (node, created_at, id)",
    "CREATE INDEX masked_spans_recording ON masked_spans (recording_id)",
)
