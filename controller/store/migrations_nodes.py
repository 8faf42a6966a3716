"""Version 17 of the schema: several nodes on one store (N1). Each call and each
recording names the node that made it: a restarted node adopts only its own calls, and
a recording's file is in that node's vault. Rows from before were the one node's, whose
name is "local". Listed in :data:`controller.store.migrations.MIGRATIONS`."""

from __future__ import annotations

from controller.store.migration_steps import statements

NODES = statements(
    "ALTER TABLE calls ADD COLUMN node TEXT NOT NULL DEFAULT 'local'",
    "ALTER TABLE recordings ADD COLUMN node TEXT NOT NULL DEFAULT 'local'",
    "CREATE INDEX calls_open_by_node ON calls (node, ended_at)",
    "CREATE INDEX recordings_by_node ON recordings (node, state)",
)
